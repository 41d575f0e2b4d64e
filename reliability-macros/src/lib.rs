//! The `#[reliable]` attribute. Depend on `reliability-core`, which re-exports it.
//!
//! One file per phase: `attr` parses and checks the options (every error
//! carries the span of the token at fault), `expand` generates code and
//! cannot fail, `naming` and `duration` hold the small parsers both use.

mod attr;
mod duration;
mod expand;
mod naming;

use proc_macro::TokenStream;

/// Instruments every method of an `impl` block: each call's latency and
/// outcome are reported to the global manager of `reliability_core`.
///
/// ```
/// use reliability_core::reliable;
///
/// struct Cache;
///
/// #[reliable(component = "model_cache", thresholds(max_consecutive_failures = 5))]
/// impl Cache {
///     fn get(&self, key: &str) -> Result<String, std::io::Error> {
///         Ok(key.to_uppercase())
///     }
///
///     #[reliable(skip)]
///     fn len(&self) -> usize {
///         0
///     }
/// }
///
/// assert_eq!(Cache.get("a").unwrap(), "A");
/// let snap = reliability_core::snapshot();
/// assert_eq!(snap.component("model_cache").unwrap().method("get").unwrap().calls, 1);
/// ```
///
/// # Options on the impl block
///
/// | option | meaning |
/// |---|---|
/// | `component = "name"` | the component the methods report to; by default the self type's name in snake case (`HttpClient<T>` → `http_client`) |
/// | `thresholds(...)` | this component's health thresholds: `max_consecutive_failures = 3`, `min_success_rate = 0.5`, `degraded_success_rate = 0.9`, `slow_call = "5s"`, `window = "60s"`, `min_calls = 5` (the defaults) |
/// | `crate = path` | where `reliability_core` is, when it is renamed or re-exported |
///
/// Durations are strings of a number and a unit: `ns`, `us`, `ms`, `s`, `m`, `h`
/// (`"250ms"`, `"1.5s"`); they are checked at compile time.
///
/// # Options on a method
///
/// | option | meaning |
/// |---|---|
/// | `#[reliable(skip)]` | leave this method as it is |
///
/// A `const fn` is left as it is too: it cannot read a clock.
///
/// # What each call records
///
/// A method whose return value is a `Result` fails when it returns `Err`; the
/// error's `Display` text (or `Debug`, or its type name) is kept. Any other
/// method succeeds when it returns. A panic is recorded as a failure and keeps
/// unwinding. An `async fn` whose future is dropped before completing counts
/// as cancelled.
///
/// The body runs in a `move` closure (an `async move` block for an `async fn`)
/// that carries the signature's return type, so `return`, `?` and inference
/// from the return type work as written. A return type with `impl Trait` in it
/// cannot be written on a closure: such a body must determine its own type
/// (a closure returned as `impl Fn(u8) -> u8` needs its parameter types).
#[proc_macro_attribute]
pub fn reliable(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::expand(args.into(), item.into()).into()
}
