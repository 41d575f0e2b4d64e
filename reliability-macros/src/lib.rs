//! The `#[reliable]` attribute. Depend on `reliability-core`, which re-exports it.
//!
//! One file per phase, as thiserror's impl crate: `attr` parses the
//! options (every error carries the span of the token at fault), `ast` is the
//! typed model of the impl block, `valid` holds every check and builds the
//! model, `expand` generates code from the model and cannot fail, and
//! `fallback` emits the user's code unchanged next to the errors.
//! `naming` and `duration` hold small parsers; `classify` is the derive.

mod ast;
mod attr;
mod classify;
mod duration;
mod expand;
mod fallback;
#[cfg(test)]
mod fuzz;
mod names;
mod naming;
#[cfg(test)]
mod snapshot;
#[cfg(test)]
mod token_count;
mod valid;

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;

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
/// # Recovery
///
/// | option | meaning |
/// |---|---|
/// | `strategies = [...]` | any of `retry`, `network`, `repair`, `alternatives`, `fallback`, `circuit_breaker`, `escalate` |
/// | `max_attempts = 3` | attempts of the call itself, the first included (`retry`, `network`) |
/// | `backoff = exponential` | or `linear`, `constant` (`retry`; `network` is always exponential) |
/// | `base_delay = "100ms"`, `max_delay = "5s"` | the first delay and the cap |
/// | `jitter = true` | full jitter for `retry` (`network` always jitters) |
/// | `max_elapsed = "30s"` | no retry starts later than this after the call began |
/// | `repair = method` | for validation errors: `self.method()`, then one more attempt |
/// | `alternatives = [a, b]` | methods with the same arguments and return type, tried in order |
/// | `fallback = method` | called with the same arguments when the rest failed |
/// | `open_after = 5`, `failure_rate = 0.5`, `window = 20`, `min_calls = 10`, `cool_down = "30s"`, `half_open_probes = 1` | the circuit breaker |
/// | `retry_budget(ratio = 0.2, per_second = 10, window = "10s")` | retries allowed per component (impl block only) |
///
/// Naming a `repair` method, `alternatives` or a `fallback` enables that
/// strategy. The chain is fixed: circuit check → attempt → repair →
/// retries → alternatives → fallback → escalate; permanent errors skip the
/// retries. Recovery applies to the methods that return a `Result` (other
/// than the repair, alternative and fallback methods themselves); it needs
/// `&self` or `&mut self`. When the body may run again (`retry`, `network`,
/// `repair`) or its arguments go to another method (`alternatives`,
/// `fallback`), the arguments must be `Clone`: each attempt gets a copy
/// (a `&mut` argument is reborrowed), since the body may consume it. With
/// only `circuit_breaker` and `escalate`, the body runs at most once and
/// takes the arguments as they are. `circuit_breaker` without a `fallback`
/// needs the error type to implement `From<reliability_core::CircuitOpen>`.
/// A name that does not exist or does not fit is a compile error at the name.
/// A `fallback` or `alternatives` set on the impl block stands in for each
/// method that takes as many arguments and is `async` alike; the compiler
/// checks the types, so `io::Result<u8>` and `std::io::Result<u8>` agree.
///
/// Recovery costs nothing until an attempt fails: the first attempt runs as
/// it would without recovery (with a circuit breaker, after a check that it
/// is closed); the recovery driver, its clock readings and the recovery
/// session are made only after a failure, or when the circuit is not closed.
///
/// # Limits
///
/// | option | meaning |
/// |---|---|
/// | `timeout = "2s"` | `async fn` only, per attempt: a late attempt's future is dropped and the attempt fails with category `timeout` (`E::from(reliability_core::TimedOut)` without a `fallback`) |
/// | `bulkhead(max_concurrent = 8, max_wait = "50ms")` | at most that many calls of the component inside at once; a caller waits up to `max_wait` for a place, then is refused (`E::from(BulkheadFull)` or the `fallback`) |
/// | `rate_limit(per_second = 100, burst = 20, max_wait = "0ms")` | a token bucket for the component's calls (`E::from(RateLimited)` or the `fallback` past it) |
/// | `hedge(after = "50ms", max_extra = 1)` | `async fn` with `alternatives`: the next alternative starts beside a slow first attempt (`after = "p95"`: the method's own recent p95); the first `Ok` wins; with a `timeout`, each of them gets one of its own |
///
/// Each may be set on the impl block or on a method. `bulkhead` and
/// `rate_limit` are per component: its methods share one bulkhead and one
/// bucket, made from the settings of the first method called. So the
/// methods of one attribute must agree on them: a method whose
/// `bulkhead(...)` or `rate_limit(...)` differs from another's (defaults
/// filled in) is a compile error at its option. Methods of one component
/// in different impl blocks are checked at run time: the first call of a
/// method whose settings differ from the component's logs a `tracing`
/// warning (target `reliability`) naming the method and both settings, and
/// the component's are used.
///
/// # Options on a method
///
/// | option | meaning |
/// |---|---|
/// | `#[reliable(skip)]` | leave this method as it is |
/// | `#[reliable(no_recovery)]` | instrument it, without recovery |
/// | `#[reliable(strategies = [...], max_attempts = 2, ...)]` | this method's recovery, over the impl's |
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
///
/// A sync `#[track_caller]` method has its body written in place instead, so
/// `Location::caller()` in it is the method's caller (a closure cannot carry
/// `#[track_caller]` on stable Rust); its `return`s and its `?`s on a
/// `Result` or `Option` return type become breaks out of the body. A body
/// with a macro that might return (not one of std's), `?` on another type,
/// or an `impl Trait` return type keeps the closure.
///
/// With `#[async_trait]`, in either order, the future is what is timed and
/// judged: when `#[async_trait]` runs first, a method whose body is
/// `Box::pin(async move { … })` and whose return type names the future's
/// `Output` is instrumented as the `async fn` it was.
#[proc_macro_attribute]
pub fn reliable(args: TokenStream, item: TokenStream) -> TokenStream {
    reliable_impl(args.into(), item.into()).into()
}

/// `#[reliable]` on `proc_macro2` tokens: parse and check, then generate, or
/// leave the code as written next to the errors.
fn reliable_impl(args: TokenStream2, input: TokenStream2) -> TokenStream2 {
    let mut imp = match valid::impl_block(&args, input.clone()) {
        Ok(imp) => imp,
        Err(error) => return fallback::with_errors(input, Some(error)),
    };
    let (model, errors) = valid::model(args, &mut imp);
    match &model {
        Some(model) => expand::impl_block(&mut imp, model),
        None => fallback::strip(&mut imp),
    }
    fallback::with_errors(imp, errors)
}

/// Implements `Classify` for an error type: the category of each variant
/// (or of the struct), and the field that holds how long the other side asked
/// us to wait. Use it as `reliability_core::Classify`.
///
/// ```
/// use std::time::Duration;
/// use reliability_core::{Classify, ErrorCategory};
///
/// #[derive(Debug, Classify)]
/// #[category(unknown)] // for the variants without a category of their own
/// enum FetchError {
///     #[category(timeout)]
///     TimedOut,
///     #[category(resource_exhausted)]
///     Throttled {
///         #[retry_after]
///         wait: Duration,
///     },
///     #[category(source)]
///     Io(std::io::Error),
///     Other(String),
/// }
///
/// assert_eq!(FetchError::TimedOut.category(), ErrorCategory::Timeout);
/// let throttled = FetchError::Throttled { wait: Duration::from_secs(2) };
/// assert_eq!(throttled.category(), ErrorCategory::ResourceExhausted);
/// assert_eq!(throttled.retry_after(), Some(Duration::from_secs(2)));
/// let refused = FetchError::Io(std::io::ErrorKind::ConnectionRefused.into());
/// assert_eq!(refused.category(), ErrorCategory::Network);
/// assert_eq!(FetchError::Other("?".into()).category(), ErrorCategory::Unknown);
/// ```
///
/// # Attributes
///
/// | attribute | on | meaning |
/// |---|---|---|
/// | `#[category(network)]` | a variant, the enum, the struct | the category, by its snake_case name: `network`, `timeout`, `validation`, `configuration`, `permission`, `not_found`, `resource_exhausted`, `system`, `unknown`; on the enum, the default for variants that have none |
/// | `#[category(source)]` | a variant or struct with exactly one field | the field's classification: its `Classify` impl if it has one, else its `source()` chain (an `io::Error` by its kind), else keywords in its text |
/// | `#[retry_after]` | one field of a variant or struct | a `Duration` or `Option<Duration>` that `retry_after()` returns |
/// | `#[category(crate = path)]` | the enum, the struct (alone or after the category: `#[category(network, crate = path)]`) | the path to `reliability_core` the impl is written against, as `#[reliable(crate = path)]`: for a crate that reaches the runtime through a re-export |
///
/// Without `#[retry_after]`, a `source` variant forwards its field's
/// `retry_after()`, and any other returns `None`. Generics and where clauses
/// are kept; for a `source` field whose type is a type parameter, the
/// parameter's bounds decide how it is read (`T: Classify` delegates to it,
/// `T: Error` walks its chain, no bound gives `Unknown`).
#[proc_macro_derive(Classify, attributes(category, retry_after))]
pub fn derive_classify(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    classify::derive(&input).into()
}
