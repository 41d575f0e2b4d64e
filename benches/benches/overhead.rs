//! The cost of instrumenting one call, side by side in one run: a plain
//! method, the limit (two raw clock reads, nothing stored), hand-written
//! floors (two clock reads, two relaxed adds), `#[reliable]` plain and with
//! the full recovery chain, tracing's `#[instrument]` and autometrics; then
//! two and four threads on one method, the failure path, snapshots and async
//! calls.
//!
//! Every variant has the same body (`body`), is `#[inline(never)]`, and sees
//! its input and output through `black_box`. A global tracing subscriber
//! (`tracing_subscriber::registry()`) and the autometrics exporter are
//! installed before anything is measured, so every bench runs in the same
//! process state.

use std::fmt;
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed, Ordering::SeqCst};
use std::sync::OnceLock;
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::{Duration, Instant};

use autometrics::autometrics;
use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion};
use reliability_core::{manager, reliable, Classify, Outcome};

/// The body every variant runs: a few cycles of arithmetic.
#[inline(always)]
fn body(x: u64) -> u64 {
    x.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17) ^ x
}

/// The base input; each call xors in its iteration number, so nothing is hoisted.
const INPUT: u64 = 0x1234_5678;

// ---------------------------------------------------------------- subjects

/// Variant 1: no instrumentation.
struct Plain;

impl Plain {
    #[inline(never)]
    fn compute(&self, x: u64) -> u64 {
        body(x)
    }
}

/// A control for the floor: its two clock reads without its shared counters.
/// On two threads it shows what the machine itself does to two threads
/// reading the clock at once.
struct ClocksOnly;

impl ClocksOnly {
    #[inline(never)]
    fn compute(&self, x: u64) -> u64 {
        let start = Instant::now();
        let ret = body(x);
        let end = Instant::now();
        ret ^ (end.duration_since(start).as_nanos() as u64 & 1)
    }
}

/// The clock `#[reliable]` times calls with: quanta's raw counter.
fn raw_clock() -> &'static quanta::Clock {
    static CLOCK: OnceLock<quanta::Clock> = OnceLock::new();
    CLOCK.get_or_init(quanta::Clock::new)
}

/// The limit: the body between two raw counter reads, nothing stored. No
/// instrumentation that times a call can be cheaper.
struct LimitRaw;

impl LimitRaw {
    #[inline(never)]
    fn compute(&self, x: u64) -> u64 {
        let clock = raw_clock();
        let start = clock.raw();
        let ret = body(x);
        let end = clock.raw();
        ret ^ (end.wrapping_sub(start) & 1)
    }
}

/// The limit plus two relaxed atomic adds: what counting with shared
/// atomics costs on top of the clock.
struct LimitRawAdds;

static LIMIT_CALLS: AtomicU64 = AtomicU64::new(0);
static LIMIT_TICKS: AtomicU64 = AtomicU64::new(0);

impl LimitRawAdds {
    #[inline(never)]
    fn compute(&self, x: u64) -> u64 {
        let clock = raw_clock();
        let start = clock.raw();
        let ret = body(x);
        let end = clock.raw();
        LIMIT_CALLS.fetch_add(1, Relaxed);
        LIMIT_TICKS.fetch_add(end.wrapping_sub(start), Relaxed);
        ret
    }
}

/// The floor of a bulkhead or a rate limit on a success: the limit's two
/// raw reads and one compare-and-swap on a shared counter (taking a place,
/// or a token), which nothing that caps calls across threads can skip.
struct LimitRawCas;

static LIMIT_TAKEN: AtomicU64 = AtomicU64::new(0);

impl LimitRawCas {
    #[inline(never)]
    fn compute(&self, x: u64) -> u64 {
        let clock = raw_clock();
        let start = clock.raw();
        let taken = LIMIT_TAKEN.load(Relaxed);
        let _ = LIMIT_TAKEN.compare_exchange(taken, taken + 1, SeqCst, Relaxed);
        let ret = body(x);
        let end = clock.raw();
        black_box(end.wrapping_sub(start));
        ret
    }
}

/// Variant 2, the floor: what any latency-and-count instrumentation must do at the
/// least, written by hand with the standard library's clock.
struct FloorStd;

static FLOOR_STD_CALLS: AtomicU64 = AtomicU64::new(0);
static FLOOR_STD_NANOS: AtomicU64 = AtomicU64::new(0);

impl FloorStd {
    #[inline(never)]
    fn compute(&self, x: u64) -> u64 {
        let start = Instant::now();
        let ret = body(x);
        let end = Instant::now();
        FLOOR_STD_CALLS.fetch_add(1, Relaxed);
        FLOOR_STD_NANOS.fetch_add(end.duration_since(start).as_nanos() as u64, Relaxed);
        ret
    }
}

/// Variant 2b: the same floor with `quanta`, the clock of the `metrics` ecosystem.
struct FloorQuanta;

static FLOOR_QUANTA_CALLS: AtomicU64 = AtomicU64::new(0);
static FLOOR_QUANTA_NANOS: AtomicU64 = AtomicU64::new(0);

impl FloorQuanta {
    #[inline(never)]
    fn compute(&self, x: u64) -> u64 {
        let start = quanta::Instant::now();
        let ret = body(x);
        let end = quanta::Instant::now();
        FLOOR_QUANTA_CALLS.fetch_add(1, Relaxed);
        FLOOR_QUANTA_NANOS.fetch_add(end.duration_since(start).as_nanos() as u64, Relaxed);
        ret
    }
}

/// Variant 3: `#[reliable]`, success path.
struct Reliable;

#[reliable(component = "bench_reliable")]
impl Reliable {
    #[inline(never)]
    fn compute(&self, x: u64) -> u64 {
        body(x)
    }
}

/// Variant 3a: `#[reliable]` bound to an instance (issue 11): the call finds
/// the instance's own site through the value's `Instance`.
struct ReliableInstance {
    reliability: reliability_core::Instance,
}

#[reliable(component = "bench_instance", instance = reliability)]
impl ReliableInstance {
    #[inline(never)]
    fn compute(&self, x: u64) -> u64 {
        body(x)
    }
}

/// Variant 3b: `#[reliable]` with the full strategy list the README leads
/// with, success path (nothing fails, so no recovery should run).
struct Recovering;

#[reliable(
    component = "bench_recovering",
    strategies = [retry, network, circuit_breaker, fallback],
    fallback = spare
)]
impl Recovering {
    #[inline(never)]
    fn compute(&self, x: u64) -> Result<u64, FetchError> {
        Ok(body(x))
    }

    fn spare(&self, x: u64) -> Result<u64, FetchError> {
        Ok(x)
    }
}

/// Variant 4: tracing's `#[instrument]`, in its cheapest form (no field recorded),
/// under a `tracing_subscriber::registry()` installed as the global default.
struct Traced;

impl Traced {
    #[inline(never)]
    #[tracing::instrument(skip_all)]
    fn compute(&self, x: u64) -> u64 {
        body(x)
    }
}

/// Variant 5: autometrics on the impl (its default backend, prometheus-client).
struct Autometrics;

#[autometrics]
impl Autometrics {
    #[inline(never)]
    fn compute(&self, x: u64) -> u64 {
        body(x)
    }
}

/// Variant 7, the failure path: an error with a category, escalated (no retry, no sleep).
#[derive(Debug, Classify)]
enum FetchError {
    #[category(network)]
    Refused,
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("connection refused")
    }
}

impl std::error::Error for FetchError {}

struct Failing;

#[reliable(component = "bench_failing", strategies = [escalate])]
impl Failing {
    #[inline(never)]
    fn compute(&self, x: u64) -> Result<u64, FetchError> {
        let value = body(x);
        if value != x {
            Err(FetchError::Refused)
        } else {
            Ok(value)
        }
    }
}

/// Variant 9: async, plain and instrumented.
struct AsyncPlain;

impl AsyncPlain {
    #[inline(never)]
    async fn compute(&self, x: u64) -> u64 {
        body(x)
    }
}

struct AsyncReliable;

#[reliable(component = "bench_async")]
impl AsyncReliable {
    #[inline(never)]
    async fn compute(&self, x: u64) -> u64 {
        body(x)
    }
}

struct AsyncRecovering;

#[reliable(
    component = "bench_async_recovering",
    strategies = [retry, network, circuit_breaker, fallback],
    fallback = spare
)]
impl AsyncRecovering {
    #[inline(never)]
    async fn compute(&self, x: u64) -> Result<u64, FetchError> {
        Ok(body(x))
    }

    async fn spare(&self, x: u64) -> Result<u64, FetchError> {
        Ok(x)
    }
}

// ---------------------------------------------------------------- limits

/// The error of the `limits` benches: what a refusal turns into (never
/// reached here, as nothing is ever refused).
#[derive(Debug)]
enum LimitError {
    Refused,
}

impl fmt::Display for LimitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("refused")
    }
}

impl From<reliability_core::BulkheadFull> for LimitError {
    fn from(_: reliability_core::BulkheadFull) -> Self {
        LimitError::Refused
    }
}

impl From<reliability_core::RateLimited> for LimitError {
    fn from(_: reliability_core::RateLimited) -> Self {
        LimitError::Refused
    }
}

/// The `limits` rows: the same `Result` method without a limit, with the
/// recovery loop and no limit, behind a bulkhead that is never full, and
/// behind a rate limit that never runs dry.
struct Limited;

#[reliable(component = "bench_limits")]
impl Limited {
    #[inline(never)]
    fn unlimited(&self, x: u64) -> Result<u64, LimitError> {
        Ok(body(x))
    }

    /// The recovery loop without a limit: what a bulkhead or a rate limit
    /// adds to it is theirs.
    #[inline(never)]
    #[reliable(strategies = [escalate])]
    fn recovering(&self, x: u64) -> Result<u64, LimitError> {
        Ok(body(x))
    }

    #[inline(never)]
    #[reliable(bulkhead(max_concurrent = 64))]
    fn bulkhead(&self, x: u64) -> Result<u64, LimitError> {
        Ok(body(x))
    }
}

struct RateLimitedCalls;

#[reliable(component = "bench_rate_limit")]
impl RateLimitedCalls {
    #[inline(never)]
    #[reliable(rate_limit(per_second = 1_000_000_000, burst = 1_000_000_000))]
    fn compute(&self, x: u64) -> Result<u64, LimitError> {
        Ok(body(x))
    }
}

/// The `async fn` twins of [`Limited`] and [`RateLimitedCalls`], for the
/// `limits_extra/async_…` rows.
struct AsyncLimited;

#[reliable(component = "bench_async_limits")]
impl AsyncLimited {
    #[inline(never)]
    async fn unlimited(&self, x: u64) -> Result<u64, LimitError> {
        Ok(body(x))
    }

    #[inline(never)]
    #[reliable(bulkhead(max_concurrent = 64))]
    async fn bulkhead(&self, x: u64) -> Result<u64, LimitError> {
        Ok(body(x))
    }
}

struct AsyncRateLimited;

#[reliable(component = "bench_async_rate_limit")]
impl AsyncRateLimited {
    #[inline(never)]
    #[reliable(rate_limit(per_second = 1_000_000_000, burst = 1_000_000_000))]
    async fn compute(&self, x: u64) -> Result<u64, LimitError> {
        Ok(body(x))
    }
}

/// Makes a future that never waits and polls it to completion, without a
/// runtime. The future is made where it is pinned: passed in by value, it
/// was copied into place right before its poll, and the copy's wide loads
/// of the fields just stored stalled (store forwarding) — a cost of this
/// harness, not of the future, and one only the futures too large for the
/// copy to be optimised out paid (not `async/plain`).
#[inline(never)]
fn poll_ready<F: Future>(make: impl FnOnce() -> F) -> F::Output {
    let mut future = pin!(make());
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(value) => value,
        Poll::Pending => unreachable!("the bench futures never wait"),
    }
}

// ---------------------------------------------------------------- set-up

/// What every bench shares: installed once, before the first measurement.
fn install_globals() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        tracing::subscriber::set_global_default(tracing_subscriber::registry())
            .expect("no other global subscriber");
        autometrics::prometheus_exporter::init();
    });
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .without_plots()
}

/// One call of a variant, as the benches see it.
fn call<R>(f: impl Fn(u64) -> R) -> impl FnMut() -> R {
    let mut i = 0u64;
    move || {
        i = i.wrapping_add(1);
        f(black_box(INPUT ^ i))
    }
}

// ---------------------------------------------------------------- benches

fn clocks(c: &mut Criterion) {
    install_globals();
    let mut group = c.benchmark_group("clock");
    group.bench_function("std_instant_now", |b| b.iter(Instant::now));
    group.bench_function("quanta_instant_now", |b| b.iter(quanta::Instant::now));
    // The cheapest read quanta offers: the raw counter, scaled later.
    let clock = quanta::Clock::new();
    group.bench_function("quanta_clock_raw", |b| b.iter(|| clock.raw()));
    group.finish();
}

fn single_thread(c: &mut Criterion) {
    install_globals();
    let mut group = c.benchmark_group("call");
    group.bench_function("plain", |b| b.iter(call(|x| Plain.compute(x))));
    group.bench_function("limit_raw", |b| b.iter(call(|x| LimitRaw.compute(x))));
    group.bench_function("limit_raw_adds", |b| {
        b.iter(call(|x| LimitRawAdds.compute(x)))
    });
    group.bench_function("limit_raw_cas", |b| {
        b.iter(call(|x| LimitRawCas.compute(x)))
    });
    group.bench_function("clocks_only", |b| b.iter(call(|x| ClocksOnly.compute(x))));
    group.bench_function("floor_std", |b| b.iter(call(|x| FloorStd.compute(x))));
    group.bench_function("floor_quanta", |b| b.iter(call(|x| FloorQuanta.compute(x))));
    group.bench_function("reliable", |b| b.iter(call(|x| Reliable.compute(x))));
    let instance = ReliableInstance {
        reliability: reliability_core::Instance::new("bench-1"),
    };
    group.bench_function("reliable_instance", |b| {
        b.iter(call(|x| instance.compute(x)))
    });
    group.bench_function("reliable_recovery", |b| {
        b.iter(call(|x| Recovering.compute(x).unwrap_or_default()))
    });
    group.bench_function("tracing", |b| b.iter(call(|x| Traced.compute(x))));
    group.bench_function("autometrics", |b| b.iter(call(|x| Autometrics.compute(x))));
    group.finish();
}

/// The CPU time the calling thread has used (Linux, glibc or musl).
fn thread_cpu_time() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec; the clock id is a constant
    // every Linux kernel since 2.6.12 supports.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    assert_eq!(status, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

/// Runs `iters` calls on each of `threads` threads at once and returns the
/// CPU time of the thread that used the most, so criterion reports the cost
/// of one call on one thread while the others call too. CPU time, not wall
/// time: four threads on two vCPUs take turns, and wall time would count a
/// thread's wait for a CPU as the cost of its calls (the same holds for a
/// machine shared with other jobs). The threads meet at a barrier so that
/// their loops overlap from the first call.
fn on_threads(threads: usize, iters: u64, f: impl Fn(u64) -> u64 + Sync) -> Duration {
    let arrived = AtomicUsize::new(0);
    thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let (arrived, f) = (&arrived, &f);
                scope.spawn(move || {
                    arrived.fetch_add(1, Relaxed);
                    while arrived.load(Relaxed) < threads {
                        // More threads than CPUs: let the others arrive.
                        thread::yield_now();
                    }
                    let start = thread_cpu_time();
                    for i in 0..iters {
                        black_box(f(black_box(INPUT ^ i)));
                    }
                    thread_cpu_time() - start
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().expect("bench thread panicked"))
            .max()
            .unwrap_or_default()
    })
}

/// The reference for the benches with several threads: the same variants,
/// measured the same way (CPU time, `on_threads`) on one thread.
fn one_thread(c: &mut Criterion) {
    install_globals();
    let mut group = c.benchmark_group("call_1_thread");
    bench_on_threads(&mut group, 1, "plain", |x| Plain.compute(x));
    bench_on_threads(&mut group, 1, "limit_raw", |x| LimitRaw.compute(x));
    bench_on_threads(&mut group, 1, "limit_raw_adds", |x| LimitRawAdds.compute(x));
    bench_on_threads(&mut group, 1, "reliable", |x| Reliable.compute(x));
    bench_on_threads(&mut group, 1, "reliable_recovery", |x| {
        Recovering.compute(x).unwrap_or_default()
    });
    group.finish();
}

fn two_threads(c: &mut Criterion) {
    install_globals();
    let mut group = c.benchmark_group("call_2_threads");
    bench_on_threads(&mut group, 2, "plain", |x| Plain.compute(x));
    bench_on_threads(&mut group, 2, "limit_raw", |x| LimitRaw.compute(x));
    bench_on_threads(&mut group, 2, "limit_raw_adds", |x| LimitRawAdds.compute(x));
    bench_on_threads(&mut group, 2, "floor_quanta", |x| FloorQuanta.compute(x));
    bench_on_threads(&mut group, 2, "reliable", |x| Reliable.compute(x));
    bench_on_threads(&mut group, 2, "reliable_recovery", |x| {
        Recovering.compute(x).unwrap_or_default()
    });
    bench_on_threads(&mut group, 2, "autometrics", |x| Autometrics.compute(x));
    group.finish();
}

fn four_threads(c: &mut Criterion) {
    install_globals();
    let mut group = c.benchmark_group("call_4_threads");
    bench_on_threads(&mut group, 4, "plain", |x| Plain.compute(x));
    bench_on_threads(&mut group, 4, "limit_raw", |x| LimitRaw.compute(x));
    bench_on_threads(&mut group, 4, "limit_raw_adds", |x| LimitRawAdds.compute(x));
    bench_on_threads(&mut group, 4, "reliable", |x| Reliable.compute(x));
    bench_on_threads(&mut group, 4, "reliable_recovery", |x| {
        Recovering.compute(x).unwrap_or_default()
    });
    group.finish();
}

fn bench_on_threads(
    group: &mut BenchmarkGroup<'_, WallTime>,
    threads: usize,
    name: &str,
    f: impl Fn(u64) -> u64 + Sync + Copy,
) {
    group.bench_function(name, |b| {
        b.iter_custom(|iters| on_threads(threads, iters, f))
    });
}

fn failure(c: &mut Criterion) {
    install_globals();
    let mut group = c.benchmark_group("failure");
    group.bench_function("reliable_escalate", |b| {
        b.iter(call(|x| Failing.compute(x).is_err()))
    });
    group.finish();
}

/// The success path of a bulkhead and of a rate limit, beside the same
/// method without either (issue 12: each adds at most ~15 ns).
fn limits(c: &mut Criterion) {
    install_globals();
    let mut group = c.benchmark_group("limits");
    group.bench_function("none", |b| {
        b.iter(call(|x| Limited.unlimited(x).unwrap_or_default()))
    });
    group.bench_function("recovery", |b| {
        b.iter(call(|x| Limited.recovering(x).unwrap_or_default()))
    });
    group.bench_function("bulkhead", |b| {
        b.iter(call(|x| Limited.bulkhead(x).unwrap_or_default()))
    });
    group.bench_function("rate_limit", |b| {
        b.iter(call(|x| RateLimitedCalls.compute(x).unwrap_or_default()))
    });
    group.finish();
}

/// What each limit (with the recovery loop it brings) adds to the same
/// method without it, paired (see [`paired_extra`]): the rows
/// `limits/…` are measured seconds apart, and on a shared VM their
/// difference moved by more than the 15 ns it is held to (+8 to +19 ns
/// for one build in three runs).
fn limits_extra(c: &mut Criterion) {
    install_globals();
    let mut group = c.benchmark_group("limits_extra");
    // A sample runs both methods but reports the difference: criterion
    // would stretch a 2 s measurement to about 10 s.
    group.measurement_time(Duration::from_millis(600));
    let none = |x| Limited.unlimited(x).unwrap_or_default();
    group.bench_function("bulkhead", |b| {
        paired_extra(b, |x| Limited.bulkhead(x).unwrap_or_default(), none)
    });
    group.bench_function("rate_limit", |b| {
        paired_extra(b, |x| RateLimitedCalls.compute(x).unwrap_or_default(), none)
    });
    let none = |x| poll_ready(|| AsyncLimited.unlimited(x)).unwrap_or_default();
    group.bench_function("async_bulkhead", |b| {
        paired_extra(
            b,
            |x| poll_ready(|| AsyncLimited.bulkhead(x)).unwrap_or_default(),
            none,
        )
    });
    group.bench_function("async_rate_limit", |b| {
        paired_extra(
            b,
            |x| poll_ready(|| AsyncRateLimited.compute(x)).unwrap_or_default(),
            none,
        )
    });
    group.finish();
}

/// Calls of one method in a row in [`paired_extra`].
const PAIRED_CHUNK: u64 = 1_000;

/// What `with` costs per call more than `without`: the two run in
/// alternating chunks of [`PAIRED_CHUNK`] calls (which goes first
/// alternating too), and an iteration's time is one call of `with` less
/// one of `without`, so both halves of a sample see the same machine. A
/// sample that comes out at or below zero, which only a disturbed one
/// does, counts as 1 ns in all: criterion refuses a sample of zero, and
/// with it the whole row (so no row pairs two methods that differ by about
/// a nanosecond).
fn paired_extra(
    b: &mut criterion::Bencher<'_>,
    with: impl Fn(u64) -> u64,
    without: impl Fn(u64) -> u64,
) {
    let (mut with, mut without) = (call(with), call(without));
    let chunk = |f: &mut dyn FnMut() -> u64, n: u64| {
        let start = Instant::now();
        for _ in 0..n {
            black_box(f());
        }
        i128::try_from(start.elapsed().as_nanos()).unwrap_or(i128::MAX)
    };
    b.iter_custom(|iters| {
        let (mut extra, mut done, mut first) = (0_i128, 0, true);
        while done < iters {
            let n = PAIRED_CHUNK.min(iters - done);
            extra += if first {
                chunk(&mut with, n) - chunk(&mut without, n)
            } else {
                -chunk(&mut without, n) + chunk(&mut with, n)
            };
            (done, first) = (done + n, !first);
        }
        Duration::from_nanos(u64::try_from(extra.max(1)).unwrap_or(u64::MAX))
    });
}

const COMPONENTS: usize = 100;
const METHODS: usize = 10;

fn snapshots(c: &mut Criterion) {
    install_globals();
    for component in 0..COMPONENTS {
        for method in 0..METHODS {
            manager().record(
                &format!("bench_component_{component:03}"),
                &format!("method_{method}"),
                Outcome::Success,
                Duration::from_micros((component * METHODS + method) as u64 + 1),
            );
        }
    }
    let snapshot = reliability_core::snapshot();
    let methods: usize = snapshot
        .components
        .iter()
        .map(|component| component.methods.len())
        .sum();
    eprintln!(
        "snapshot: {} components, {methods} methods",
        snapshot.components.len()
    );
    let mut group = c.benchmark_group("snapshot_1000_methods");
    group.bench_function("snapshot", |b| b.iter(reliability_core::snapshot));
    group.bench_function("to_prometheus", |b| {
        b.iter(|| black_box(&snapshot).to_prometheus())
    });
    group.finish();
}

fn asynchronous(c: &mut Criterion) {
    install_globals();
    let mut group = c.benchmark_group("async");
    group.bench_function("plain", |b| {
        b.iter(call(|x| poll_ready(|| AsyncPlain.compute(x))))
    });
    group.bench_function("reliable", |b| {
        b.iter(call(|x| poll_ready(|| AsyncReliable.compute(x))))
    });
    group.bench_function("reliable_recovery", |b| {
        b.iter(call(|x| {
            poll_ready(|| AsyncRecovering.compute(x)).unwrap_or_default()
        }))
    });
    group.finish();
}

// The snapshots run first, so that they see the 1,000 methods they register
// and no other.
criterion_group! {
    name = benches;
    config = config();
    targets = snapshots, clocks, single_thread, one_thread, two_threads, four_threads, failure, asynchronous, limits, limits_extra
}
criterion_main!(benches);
