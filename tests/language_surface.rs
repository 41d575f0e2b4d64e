//! Every shape of method the attribute must accept: each compiles, behaves as
//! written and is counted once per call.

mod common;

use std::fmt::Display;
use std::pin::Pin;
use std::sync::Arc;

use common::{block_on, counts};
use reliability_core::reliable;

#[derive(Clone, Default)]
struct Receivers {
    value: u32,
}

#[reliable(component = "surface_receivers")]
impl Receivers {
    fn by_ref(&self) -> u32 {
        self.value
    }

    fn by_mut(&mut self) -> u32 {
        self.value += 1;
        self.value
    }

    fn by_value(self) -> u32 {
        self.value
    }

    fn by_mut_value(mut self) -> u32 {
        self.value *= 10;
        self.value
    }

    fn boxed(self: Box<Self>) -> u32 {
        self.value
    }

    fn shared(self: Arc<Self>) -> u32 {
        self.value
    }

    fn pinned(self: Pin<&mut Self>) -> u32 {
        let this = self.get_mut();
        this.value += 100;
        this.value
    }

    fn associated(seed: u32) -> Self {
        Receivers { value: seed }
    }
}

#[test]
fn every_receiver_kind() {
    let mut r = Receivers::associated(1);
    assert_eq!(r.by_ref(), 1);
    assert_eq!(r.by_mut(), 2);
    assert_eq!(r.clone().by_value(), 2);
    assert_eq!(r.clone().by_mut_value(), 20);
    assert_eq!(Box::new(r.clone()).boxed(), 2);
    assert_eq!(Arc::new(r.clone()).shared(), 2);
    assert_eq!(Pin::new(&mut r).pinned(), 102);
    for name in [
        "by_ref",
        "by_mut",
        "by_value",
        "by_mut_value",
        "boxed",
        "shared",
        "pinned",
        "associated",
    ] {
        assert_eq!(counts("surface_receivers", name), (1, 1, 0), "{name}");
    }
}

struct Generic<T> {
    items: Vec<T>,
}

#[reliable(component = "surface_generics")]
impl<T> Generic<T>
where
    T: Clone + Display,
{
    fn show<U: Display>(&self, prefix: U) -> String {
        self.items
            .iter()
            .map(|item| format!("{prefix}{item}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn first<'a>(&'a self, fallback: &'a T) -> &'a T {
        self.items.first().unwrap_or(fallback)
    }

    fn last(&self) -> Option<&T> {
        self.items.last()
    }

    fn slot(&mut self, index: usize) -> &mut T {
        &mut self.items[index]
    }

    fn sum(&self, extra: impl IntoIterator<Item = u32>) -> u32 {
        extra.into_iter().sum::<u32>() + self.items.len() as u32
    }

    fn evens(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.items.len()).filter(|i| i % 2 == 0)
    }
}

#[test]
fn generics_lifetimes_and_impl_trait() {
    let mut g = Generic {
        items: vec![1u8, 2, 3],
    };
    assert_eq!(g.show("#"), "#1,#2,#3");
    assert_eq!(g.show('>'), ">1,>2,>3");
    assert_eq!(*g.first(&9), 1);
    assert_eq!(g.last(), Some(&3));
    *g.slot(0) = 7;
    assert_eq!(g.items[0], 7);
    assert_eq!(g.sum([10, 20]), 33);
    assert_eq!(g.evens().collect::<Vec<_>>(), vec![0, 2]);
    // Two monomorphizations of `show` share one call site.
    assert_eq!(counts("surface_generics", "show"), (2, 2, 0));
    for name in ["first", "last", "slot", "sum", "evens"] {
        assert_eq!(counts("surface_generics", name), (1, 1, 0), "{name}");
    }
}

struct Patterns;

#[reliable(component = "surface_patterns")]
impl Patterns {
    fn tuple(&self, (a, b): (u8, u8)) -> u8 {
        a + b
    }

    fn ignored(&self, _: u8) -> &'static str {
        "ignored"
    }

    fn mutable(&self, mut x: u32) -> u32 {
        x += 1;
        x
    }

    fn destructured(&self, Receivers { value }: Receivers) -> u32 {
        value
    }
}

#[test]
fn pattern_arguments() {
    assert_eq!(Patterns.tuple((2, 3)), 5);
    assert_eq!(Patterns.ignored(1), "ignored");
    assert_eq!(Patterns.mutable(41), 42);
    assert_eq!(Patterns.destructured(Receivers { value: 8 }), 8);
    for name in ["tuple", "ignored", "mutable", "destructured"] {
        assert_eq!(counts("surface_patterns", name), (1, 1, 0), "{name}");
    }
}

struct Flow;

#[derive(Debug, PartialEq)]
struct ParseFailed(String);

impl Display for ParseFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot parse `{}`", self.0)
    }
}

impl From<std::num::ParseIntError> for ParseFailed {
    fn from(error: std::num::ParseIntError) -> Self {
        ParseFailed(error.to_string())
    }
}

#[reliable(component = "surface_flow")]
impl Flow {
    fn question_mark(&self, text: &str) -> Result<u32, ParseFailed> {
        let n: u32 = text.parse()?;
        Ok(n * 2)
    }

    fn early_return(&self, n: u32) -> u32 {
        if n > 10 {
            return 10;
        }
        n
    }

    fn converted(&self) -> Box<dyn std::error::Error + Send + Sync> {
        "converted".into()
    }

    fn collected(&self) -> Vec<u32> {
        (1..=3).collect()
    }

    fn boxed_closure(&self) -> Box<dyn Fn(u8) -> u8> {
        Box::new(|x| x + 1)
    }

    #[allow(clippy::only_used_in_recursion)]
    fn factorial(&self, n: u64) -> u64 {
        if n <= 1 {
            1
        } else {
            n * self.factorial(n - 1)
        }
    }

    fn diverges(&self) -> ! {
        panic!("never returns")
    }
}

#[test]
fn question_mark_early_return_and_recursion() {
    assert_eq!(Flow.question_mark("21"), Ok(42));
    assert_eq!(
        Flow.question_mark("x"),
        Err(ParseFailed("invalid digit found in string".into()))
    );
    assert_eq!(counts("surface_flow", "question_mark"), (2, 1, 1));
    assert_eq!(Flow.early_return(50), 10);
    assert_eq!(Flow.early_return(5), 5);
    assert_eq!(counts("surface_flow", "early_return"), (2, 2, 0));
    assert_eq!(Flow.converted().to_string(), "converted");
    assert_eq!(Flow.collected(), vec![1, 2, 3]);
    assert_eq!(Flow.boxed_closure()(1), 2);
    assert_eq!(Flow.factorial(5), 120);
    assert_eq!(counts("surface_flow", "factorial"), (5, 5, 0));
    let panic = std::panic::catch_unwind(|| Flow.diverges());
    assert!(panic.is_err());
    let diverged = common::method("surface_flow", "diverges");
    assert_eq!(
        (diverged.calls, diverged.failures, diverged.panics),
        (1, 1, 1)
    );
}

struct Qualifiers;

#[reliable(component = "surface_qualifiers")]
impl Qualifiers {
    /// # Safety
    /// `ptr` must point at a live `u32`.
    unsafe fn read(&self, ptr: *const u32) -> u32 {
        *ptr
    }

    extern "C" fn c_abi(&self, x: i32) -> i32 {
        x * 2
    }

    #[inline]
    fn inlined(&self) -> u8 {
        1
    }

    #[must_use]
    fn must_use(&self) -> u8 {
        2
    }

    #[cfg(not(any()))]
    fn configured_in(&self) -> u8 {
        3
    }

    #[cfg(any())]
    fn configured_out(&self) -> u8 {
        compile_error!("configured out")
    }

    const fn constant(&self) -> u8 {
        4
    }

    #[reliable(skip)]
    fn skipped(&self) -> u8 {
        5
    }
}

#[test]
fn qualifiers_and_attributes() {
    let value = 7u32;
    // SAFETY: `value` is a live u32.
    assert_eq!(unsafe { Qualifiers.read(&value) }, 7);
    assert_eq!(Qualifiers.c_abi(4), 8);
    assert_eq!(Qualifiers.inlined(), 1);
    assert_eq!(Qualifiers.must_use(), 2);
    assert_eq!(Qualifiers.configured_in(), 3);
    const FOUR: u8 = Qualifiers.constant();
    assert_eq!(FOUR, 4);
    assert_eq!(Qualifiers.skipped(), 5);
    for name in ["read", "c_abi", "inlined", "must_use", "configured_in"] {
        assert_eq!(counts("surface_qualifiers", name), (1, 1, 0), "{name}");
    }
    let component = reliability_core::snapshot();
    let component = component.component("surface_qualifiers").unwrap();
    for absent in ["constant", "skipped", "configured_out"] {
        assert!(
            component.method(absent).is_none(),
            "{absent} is not instrumented"
        );
    }
}

trait Store {
    type Key;
    const CAPACITY: usize;
    fn put(&mut self, key: Self::Key) -> Result<usize, String>;
    fn capacity(&self) -> usize {
        Self::CAPACITY
    }
}

#[derive(Default)]
struct MemoryStore {
    keys: Vec<String>,
}

#[reliable(component = "surface_trait_impl")]
impl Store for MemoryStore {
    type Key = String;
    const CAPACITY: usize = 2;

    fn put(&mut self, key: String) -> Result<usize, String> {
        if self.keys.len() == Self::CAPACITY {
            return Err(format!("store full, cannot put `{key}`"));
        }
        self.keys.push(key);
        Ok(self.keys.len())
    }
}

#[test]
fn trait_impl_with_associated_items() {
    let mut store = MemoryStore::default();
    assert_eq!(store.put("a".into()), Ok(1));
    assert_eq!(store.put("b".into()), Ok(2));
    assert!(store.put("c".into()).is_err());
    assert_eq!(store.capacity(), 2);
    let put = common::method("surface_trait_impl", "put");
    assert_eq!((put.calls, put.successes, put.failures), (3, 2, 1));
    assert_eq!(
        put.last_error.as_deref(),
        Some("store full, cannot put `c`")
    );
}

trait AsyncSource {
    async fn fetch(&self, name: &str) -> Result<String, String>;
}

struct AsyncThing {
    prefix: String,
}

#[reliable(component = "surface_async")]
impl AsyncThing {
    async fn inherent(&self, n: u32) -> u32 {
        common::YieldOnce::default().await;
        n + 1
    }

    async fn with_question_mark(&self, text: &str) -> Result<u32, std::num::ParseIntError> {
        common::YieldOnce::default().await;
        let n: u32 = text.parse()?;
        Ok(n)
    }

    async fn borrowing<'a>(&'a self, suffix: &'a str) -> String {
        format!("{}{suffix}", self.prefix)
    }
}

#[reliable(component = "surface_async")]
impl AsyncSource for AsyncThing {
    async fn fetch(&self, name: &str) -> Result<String, String> {
        common::YieldOnce::default().await;
        if name.is_empty() {
            return Err("empty name".to_owned());
        }
        Ok(format!("{}{name}", self.prefix))
    }
}

#[test]
fn async_methods_inherent_and_in_trait_impls() {
    let thing = AsyncThing {
        prefix: "p-".into(),
    };
    assert_eq!(block_on(thing.inherent(1)), 2);
    assert_eq!(block_on(thing.with_question_mark("5")), Ok(5));
    assert!(block_on(thing.with_question_mark("x")).is_err());
    assert_eq!(block_on(thing.borrowing("s")), "p-s");
    assert_eq!(block_on(thing.fetch("m")), Ok("p-m".to_owned()));
    assert_eq!(block_on(thing.fetch("")), Err("empty name".to_owned()));
    assert_eq!(counts("surface_async", "inherent"), (1, 1, 0));
    assert_eq!(counts("surface_async", "with_question_mark"), (2, 1, 1));
    assert_eq!(counts("surface_async", "borrowing"), (1, 1, 0));
    assert_eq!(counts("surface_async", "fetch"), (2, 1, 1));
}

#[test]
fn instrumented_futures_stay_send() {
    fn assert_send<T: Send>(value: T) -> T {
        value
    }
    let thing = AsyncThing {
        prefix: String::new(),
    };
    assert_eq!(block_on(assert_send(thing.inherent(0))), 1);
}

struct TokioThing;

#[reliable(component = "surface_tokio")]
impl TokioThing {
    async fn fetch(&self, name: &str) -> Result<String, String> {
        tokio::task::yield_now().await;
        Ok(format!("t-{name}"))
    }
}

#[tokio::test]
async fn async_methods_on_tokio() {
    let thing = Arc::new(TokioThing);
    let spawned = {
        let thing = Arc::clone(&thing);
        tokio::spawn(async move { thing.fetch("x").await })
    };
    assert_eq!(spawned.await.unwrap(), Ok("t-x".to_owned()));
    assert_eq!(thing.fetch("y").await, Ok("t-y".to_owned()));
    assert_eq!(counts("surface_tokio", "fetch"), (2, 2, 0));
}
