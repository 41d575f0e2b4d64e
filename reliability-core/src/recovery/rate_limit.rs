//! `rate_limit`: a token bucket per component, `per_second` tokens a second
//! and at most `burst` at once.
//!
//! Kept as one number, the bucket's "theoretical arrival time" (the
//! generic cell rate algorithm): the moment the bucket would be full again
//! if no call came. A call at `now` may go when that moment is no more than
//! `burst - 1` intervals ahead of `now`, and pushes it one interval on. So a
//! call is one read of the clock and one compare-and-swap, no lock, and
//! the refusal knows exactly how long until the next token.
//!
//! A call allowed to wait (`max_wait`) reserves the token it will use and
//! sleeps (sync) or awaits a delay (async) until it is due, both on the
//! injectable [`Clock`]; a waiting async call that is dropped gives its
//! token back.
//!
//! While the component's clock is the system clock, the attribute's
//! admission takes its time from the call clock instead, measured from the
//! same origin: the reading the call started with, so admission reads no
//! clock at all (`Instant::now()` behind a `dyn Clock` costs about three
//! raw reads). The token is taken as of the call's start, a few
//! nanoseconds earlier. A bucket first read that way counts in the call
//! clock's own ticks (split until a unit is at most a nanosecond), so the
//! reading needs no conversion; one first read on a [`Clock`] counts
//! nanoseconds, exactly what a test's manual clock advances by.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::token_bucket::TokenBucket;
use crate::classify::refused::RateLimited;
use crate::record::clock::{self as call_clock, Clock, Delay, SystemClock};

const NANOS_PER_SECOND: u64 = 1_000_000_000;

/// How many calls of a component a second, how many at once, and how long
/// a call may wait for its token.
///
/// # Default
///
/// `burst = per_second` (one second's worth; a `burst` of 0 counts as 1),
/// `max_wait = 0`: a call that finds the bucket empty is refused at once.
/// `per_second` has no default; `0` refuses every call.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use reliability_core::limit::RateLimitConfig;
///
/// const MAILER: RateLimitConfig = RateLimitConfig::new(100)
///     .with_burst(20)
///     .with_max_wait(Duration::from_millis(10));
/// assert_eq!(MAILER.burst(), 20);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RateLimitConfig {
    per_second: u32,
    burst: u32,
    max_wait: Duration,
}

impl RateLimitConfig {
    /// `per_second` calls a second on average; the defaults above.
    pub const fn new(per_second: u32) -> Self {
        RateLimitConfig {
            per_second,
            burst: per_second,
            max_wait: Duration::ZERO,
        }
    }

    /// How many calls may go at once after a quiet spell.
    #[must_use]
    pub const fn with_burst(mut self, burst: u32) -> Self {
        self.burst = burst;
        self
    }

    /// How long a call may wait for its token before it is refused.
    #[must_use]
    pub const fn with_max_wait(mut self, max_wait: Duration) -> Self {
        self.max_wait = max_wait;
        self
    }

    /// Calls a second, on average.
    pub const fn per_second(&self) -> u32 {
        self.per_second
    }

    /// Calls at once after a quiet spell.
    pub const fn burst(&self) -> u32 {
        self.burst
    }

    /// How long a call may wait for its token.
    pub const fn max_wait(&self) -> Duration {
        self.max_wait
    }

    /// Nanoseconds between two tokens; `None` when no token ever comes.
    const fn interval(&self) -> Option<u64> {
        match self.per_second {
            0 => None,
            n => Some(NANOS_PER_SECOND / n as u64),
        }
    }
}

/// A component's token bucket. A plain value: whoever owns one (a
/// component, or later an instance) scopes the limit.
///
/// `const`-constructible, so it can live in a `static`. Times are read from
/// the clock the caller passes; the first one seen is the bucket's origin,
/// and the bucket starts full.
pub struct RateLimiter {
    /// When the bucket would be full again, in the origin's units, and the
    /// inlined path's interval and tolerance in whole ticks once the bucket
    /// counts them (its first caller read the call clock, which counts at
    /// 1 GHz or more): the inlined path reads them beside the bucket, not
    /// through the origin.
    bucket: TokenBucket,
    origin: OnceLock<Origin>,
    component: &'static str,
    config: RateLimitConfig,
    refused: AtomicU64,
}

/// The moment the bucket first saw, on both clocks it can be read with,
/// and the unit the bucket counts in from then on.
#[derive(Debug, Clone, Copy)]
struct Origin {
    /// On the clock of the first caller.
    at: Instant,
    /// The call clock's raw counter then.
    ticks: u64,
    /// The call clock's nanoseconds per 2^32 ticks.
    scale: u64,
    unit: Unit,
    /// Units between two tokens; `None` when none ever comes. Worked out
    /// once: a 64-bit division on every call cost more than the rest of
    /// the arithmetic.
    interval: Option<u64>,
    /// How far ahead of now `full_at` may be for a call to go: `burst - 1`
    /// intervals.
    tolerance: u64,
    /// The configuration's `max_wait` in units.
    max_wait: u64,
}

/// What the bucket counts in, chosen by its first caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    /// Nanoseconds, when a [`Clock`] came first: what a test's manual
    /// clock advances by is then exactly what the bucket sees.
    Nanos,
    /// The call clock's ticks, `2^shift` units to a tick so that a unit is
    /// at most a nanosecond, when the call clock came first (the system
    /// clock): a reading shifted is the time in units, counted from the
    /// counter's zero (the same in every thread; a unit of at least half a
    /// nanosecond lasts 292 years in 64 bits). Converting a call's start
    /// reading to nanoseconds since the origin would take a 128-bit
    /// multiplication and its saturation on every call.
    Ticks { shift: u32 },
}

impl Origin {
    /// An origin on a [`Clock`]: the bucket counts nanoseconds.
    fn on_clock(at: Instant, config: &RateLimitConfig) -> Self {
        Origin::new(at, call_clock::now(), Counting::Nanos, config)
    }

    /// An origin on the call clock, at the reading `ticks`: the bucket
    /// counts fractions of its ticks.
    fn on_call_clock(ticks: u64, config: &RateLimitConfig) -> Self {
        Origin::new(Instant::now(), ticks, Counting::Ticks, config)
    }

    fn new(at: Instant, ticks: u64, counting: Counting, config: &RateLimitConfig) -> Self {
        let scale = call_clock::nanos_per_2_32_ticks().max(1);
        let unit = match counting {
            Counting::Nanos => Unit::Nanos,
            Counting::Ticks => Unit::for_scale(scale),
        };
        let mut origin = Origin {
            at,
            ticks,
            scale,
            unit,
            interval: None,
            tolerance: 0,
            max_wait: 0,
        };
        let burst = u64::from(config.burst.max(1));
        origin.interval = match (config.interval(), unit) {
            (None, _) => None,
            (Some(nanos), Unit::Nanos) => Some(nanos),
            (Some(_), Unit::Ticks { .. }) => {
                let per_second = origin.units_of(Duration::from_secs(1));
                Some(per_second / u64::from(config.per_second))
            }
        };
        origin.tolerance = origin
            .interval
            .map_or(0, |interval| interval.saturating_mul(burst - 1));
        origin.max_wait = origin.units_of(config.max_wait);
        origin
    }

    /// The bucket's time at the call clock's reading `ticks`.
    fn units_at_ticks(&self, ticks: u64) -> u64 {
        match self.unit {
            Unit::Ticks { shift } => ticks << shift,
            Unit::Nanos => self.nanos_to(ticks),
        }
    }

    /// The bucket's time at `now`, on the origin's `Instant` clock.
    fn units_at(&self, now: Instant) -> u64 {
        let since = self.units_of(now.saturating_duration_since(self.at));
        match self.unit {
            Unit::Ticks { .. } => self.units_at_ticks(self.ticks).saturating_add(since),
            Unit::Nanos => since,
        }
    }

    /// The interval and tolerance in whole ticks, for the inlined path, if
    /// the bucket counts them.
    fn in_whole_ticks(&self) -> Option<(u64, u64)> {
        match (self.unit, self.interval) {
            (Unit::Ticks { shift: 0 }, Some(interval)) if interval > 0 => {
                Some((interval, self.tolerance))
            }
            _ => None,
        }
    }

    /// Nanoseconds from the origin to a call clock reading; 0 before it.
    fn nanos_to(&self, ticks: u64) -> u64 {
        let scaled = u128::from(ticks.saturating_sub(self.ticks)) * u128::from(self.scale);
        u64::try_from(scaled >> 32).unwrap_or(u64::MAX)
    }

    /// `duration` in units, rounded down.
    fn units_of(&self, duration: Duration) -> u64 {
        match self.unit {
            Unit::Nanos => nanos(duration),
            Unit::Ticks { shift } => {
                let units = (duration.as_nanos() << (32 + shift)) / u128::from(self.scale);
                u64::try_from(units).unwrap_or(u64::MAX)
            }
        }
    }

    /// `units` as a duration, rounded up: a caller that waits that long
    /// finds what it waited for.
    fn duration_of(&self, units: u64) -> Duration {
        match self.unit {
            Unit::Nanos => Duration::from_nanos(units),
            Unit::Ticks { shift } => {
                let one = 1_u128 << (32 + shift);
                let nanos = (u128::from(units) * u128::from(self.scale)).div_ceil(one);
                Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
            }
        }
    }
}

/// Which [`Unit`] an origin is made for.
#[derive(Debug, Clone, Copy)]
enum Counting {
    Nanos,
    Ticks,
}

impl Unit {
    /// Ticks of `scale` nanoseconds per 2^32, split until a unit is at
    /// most a nanosecond (a counter at 24 MHz keeps 42 ns ticks; a
    /// time-stamp counter at a few GHz is used as it is).
    fn for_scale(scale: u64) -> Self {
        let mut shift = 0;
        while shift < 31 && scale >> shift > 1 << 32 {
            shift += 1;
        }
        Unit::Ticks { shift }
    }
}

/// Where a caller's time comes from.
#[derive(Debug, Clone, Copy)]
enum TimeSource<'a> {
    /// A [`Clock`], waited on too.
    Clock(&'a dyn Clock),
    /// The call clock while the system clock is in use, read when the call
    /// started (raw ticks): waits are the system clock's.
    Call(u64),
}

impl TimeSource<'_> {
    /// The bucket's origin (which this reading sets if it is the first)
    /// and the time now in its units.
    #[inline]
    fn now(self, limiter: &RateLimiter) -> (&Origin, u64) {
        let config = &limiter.config;
        match self {
            TimeSource::Clock(clock) => {
                let now = clock.now();
                let origin = limiter.origin.get_or_init(|| Origin::on_clock(now, config));
                (origin, origin.units_at(now))
            }
            TimeSource::Call(at) => {
                let origin = limiter.origin.get_or_init(|| {
                    let origin = Origin::on_call_clock(at, config);
                    if let Some((interval, tolerance)) = origin.in_whole_ticks() {
                        limiter.bucket.open_inline(interval, tolerance);
                    }
                    origin
                });
                (origin, origin.units_at_ticks(at))
            }
        }
    }

    fn sleep(self, duration: Duration) {
        match self {
            TimeSource::Clock(clock) => clock.sleep(duration),
            TimeSource::Call(_) => SystemClock.sleep(duration),
        }
    }

    fn delay(self, duration: Duration) -> Delay {
        match self {
            TimeSource::Clock(clock) => clock.delay(duration),
            TimeSource::Call(_) => SystemClock.delay(duration),
        }
    }
}

impl fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiter")
            .field("component", &self.component)
            .field("config", &self.config)
            .field("refused", &self.refused())
            .finish()
    }
}

impl RateLimiter {
    /// A full bucket for `component`.
    pub const fn new(component: &'static str, config: RateLimitConfig) -> Self {
        RateLimiter {
            bucket: TokenBucket::new(),
            origin: OnceLock::new(),
            component,
            config,
            refused: AtomicU64::new(0),
        }
    }

    /// Its settings.
    pub const fn config(&self) -> RateLimitConfig {
        self.config
    }

    /// Calls refused since the bucket was made.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Takes a token if there is one at `now`; otherwise says how long
    /// until there is (`Duration::MAX` when `per_second` is 0). Never
    /// waits, and does not count a refusal.
    pub fn try_acquire(&self, now: Instant) -> Result<(), Duration> {
        let origin = self
            .origin
            .get_or_init(|| Origin::on_clock(now, &self.config));
        self.reserve(origin, origin.units_at(now), 0).map(drop)
    }

    /// Takes a token, sleeping on `clock` up to `max_wait` for it.
    pub fn acquire(&self, clock: &dyn Clock) -> Result<(), RateLimited> {
        self.acquire_from(TimeSource::Clock(clock))
    }

    /// Takes a token if one is free as of `started` (the call clock's
    /// reading at the call's start) and nobody races for it: the success
    /// path of [`acquire_on_call_clock`](Self::acquire_on_call_clock),
    /// inlined. `false` leaves the bucket as it was: the caller then takes
    /// the whole path, which sets the origin, waits, retries a lost race,
    /// refuses, or converts the reading for a bucket that counts
    /// nanoseconds or fractions of a tick, or has a zero interval.
    #[inline(always)]
    pub(crate) fn try_take_on_call_clock(&self, started: u64) -> bool {
        self.bucket.try_take_inline(started)
    }

    /// [`acquire`](Self::acquire) while the system clock is in use, as of
    /// `started`, the call clock's reading at the call's start.
    #[inline]
    pub(crate) fn acquire_on_call_clock(&self, started: u64) -> Result<(), RateLimited> {
        self.acquire_from(TimeSource::Call(started))
    }

    #[inline]
    fn acquire_from(&self, time: TimeSource<'_>) -> Result<(), RateLimited> {
        let (origin, now) = time.now(self);
        match self.reserve(origin, now, origin.max_wait) {
            Ok(wait) => {
                if !wait.is_zero() {
                    time.sleep(wait);
                }
                Ok(())
            }
            Err(retry_after) => Err(self.refuse(retry_after)),
        }
    }

    /// Takes a token, awaiting a delay of `clock` up to `max_wait` for it,
    /// without blocking the executor's thread. Dropping the future while it
    /// waits gives the token back.
    pub fn acquire_async<'a>(&'a self, clock: &'a dyn Clock) -> RateLimitAcquire<'a> {
        self.acquire_async_from(TimeSource::Clock(clock))
    }

    /// [`acquire_async`](Self::acquire_async) while the system clock is in
    /// use, as of `started`, the call clock's reading at the call's start.
    pub(crate) fn acquire_async_on_call_clock(&self, started: u64) -> RateLimitAcquire<'_> {
        self.acquire_async_from(TimeSource::Call(started))
    }

    fn acquire_async_from<'a>(&'a self, time: TimeSource<'a>) -> RateLimitAcquire<'a> {
        RateLimitAcquire {
            limiter: self,
            time,
            waiting: None,
            done: false,
        }
    }

    /// Reserves the next token if it is due within `max_wait` of `now`
    /// (both in the origin's units): `Ok(how long until it is due)`, or
    /// `Err(how long until a token would be due at once)`.
    fn reserve(&self, origin: &Origin, now: u64, max_wait: u64) -> Result<Duration, Duration> {
        let Some(interval) = origin.interval else {
            return Err(Duration::MAX);
        };
        self.bucket
            .reserve(now, interval, origin.tolerance, max_wait)
            .map(|wait| origin.duration_of(wait))
            .map_err(|wait| origin.duration_of(wait))
    }

    /// Gives back a reserved token that will not be used.
    fn give_back(&self) {
        if let Some(interval) = self.origin.get().and_then(|origin| origin.interval) {
            self.bucket.give_back(interval);
        }
    }

    fn refuse(&self, retry_after: Duration) -> RateLimited {
        self.refused.fetch_add(1, Ordering::Relaxed);
        RateLimited::new(self.component, self.config.per_second, retry_after)
    }
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// The future of [`RateLimiter::acquire_async`].
#[must_use = "futures do nothing unless polled"]
pub struct RateLimitAcquire<'a> {
    limiter: &'a RateLimiter,
    time: TimeSource<'a>,
    /// The delay until the reserved token is due.
    waiting: Option<Delay>,
    done: bool,
}

impl fmt::Debug for RateLimitAcquire<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimitAcquire")
            .field("component", &self.limiter.component)
            .field("waiting", &self.waiting.is_some())
            .field("done", &self.done)
            .finish()
    }
}

impl Future for RateLimitAcquire<'_> {
    type Output = Result<(), RateLimited>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.done {
            return Poll::Pending;
        }
        if self.waiting.is_none() {
            let limiter = self.limiter;
            let (origin, now) = self.time.now(limiter);
            match limiter.reserve(origin, now, origin.max_wait) {
                Ok(wait) if wait.is_zero() => {
                    self.done = true;
                    return Poll::Ready(Ok(()));
                }
                Ok(wait) => self.waiting = Some(self.time.delay(wait)),
                Err(retry_after) => {
                    self.done = true;
                    return Poll::Ready(Err(limiter.refuse(retry_after)));
                }
            }
        }
        let Some(delay) = self.waiting.as_mut() else {
            return Poll::Pending;
        };
        if Pin::new(delay).poll(cx).is_pending() {
            return Poll::Pending;
        }
        self.waiting = None;
        self.done = true;
        Poll::Ready(Ok(()))
    }
}

impl Drop for RateLimitAcquire<'_> {
    fn drop(&mut self) {
        if self.waiting.is_some() {
            self.limiter.give_back();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::task::Waker;
    use std::thread;

    use super::*;
    use crate::recovery::test_support::{block_on, CountingWaker};
    use crate::ManualClock;

    const MS: Duration = Duration::from_millis(1);

    fn five_a_second_burst_two() -> RateLimitConfig {
        RateLimitConfig::new(5).with_burst(2)
    }

    fn poll<F: Future + Unpin>(future: &mut F, waker: &Waker) -> Poll<F::Output> {
        Pin::new(future).poll(&mut Context::from_waker(waker))
    }

    #[test]
    fn the_config_is_built_in_const_context_with_its_defaults() {
        const CONFIG: RateLimitConfig = RateLimitConfig::new(100);
        assert_eq!(CONFIG.per_second(), 100);
        assert_eq!(CONFIG.burst(), 100);
        assert_eq!(CONFIG.max_wait(), Duration::ZERO);
        let tuned = CONFIG.with_burst(20).with_max_wait(50 * MS);
        assert_eq!((tuned.burst(), tuned.max_wait()), (20, 50 * MS));
        static LIMITER: RateLimiter = RateLimiter::new("mailer", CONFIG);
        assert_eq!(LIMITER.refused(), 0);
    }

    #[test]
    fn back_to_back_calls_at_five_a_second_with_a_burst_of_two_let_two_through() {
        let clock = ManualClock::new();
        let limiter = RateLimiter::new("mailer", five_a_second_burst_two());
        let results: Vec<_> = (0..5).map(|_| limiter.try_acquire(clock.now())).collect();
        assert_eq!(
            results,
            [Ok(()), Ok(()), Err(200 * MS), Err(200 * MS), Err(200 * MS)]
        );
        clock.advance(50 * MS);
        assert_eq!(limiter.try_acquire(clock.now()), Err(150 * MS));
        clock.advance(149 * MS);
        assert_eq!(limiter.try_acquire(clock.now()), Err(MS));
        clock.advance(MS);
        assert_eq!(
            limiter.try_acquire(clock.now()),
            Ok(()),
            "200 ms after: one more"
        );
        assert_eq!(limiter.try_acquire(clock.now()), Err(200 * MS));
    }

    #[test]
    fn a_quiet_spell_refills_the_bucket_up_to_the_burst_only() {
        let clock = ManualClock::new();
        let limiter = RateLimiter::new("mailer", five_a_second_burst_two());
        assert!(limiter.try_acquire(clock.now()).is_ok());
        clock.advance(Duration::from_secs(10));
        let passed = (0..5)
            .filter(|_| limiter.try_acquire(clock.now()).is_ok())
            .count();
        assert_eq!(passed, 2);
    }

    #[test]
    fn the_sync_acquire_sleeps_on_the_clock_for_a_token_due_within_max_wait() {
        let clock = ManualClock::new();
        let limiter = RateLimiter::new("mailer", five_a_second_burst_two().with_max_wait(200 * MS));
        for _ in 0..3 {
            assert_eq!(limiter.acquire(&clock), Ok(()));
        }
        assert_eq!(clock.slept(), 200 * MS, "only the third call waited");
        assert_eq!(limiter.refused(), 0);
    }

    #[test]
    fn the_sync_acquire_refuses_a_token_due_after_max_wait_and_says_when() {
        let clock = ManualClock::new();
        let limiter = RateLimiter::new("mailer", five_a_second_burst_two().with_max_wait(100 * MS));
        assert!(limiter.acquire(&clock).is_ok());
        assert!(limiter.acquire(&clock).is_ok());
        let refused = limiter.acquire(&clock).unwrap_err();
        assert_eq!(refused, RateLimited::new("mailer", 5, 200 * MS));
        assert_eq!(clock.slept(), Duration::ZERO, "a refusal does not wait");
        assert_eq!(limiter.refused(), 1);
    }

    #[test]
    fn no_rate_refuses_every_call_and_a_zero_burst_counts_as_one() {
        let clock = ManualClock::new();
        let never = RateLimiter::new("mailer", RateLimitConfig::new(0));
        assert_eq!(never.try_acquire(clock.now()), Err(Duration::MAX));
        let one = RateLimiter::new("mailer", RateLimitConfig::new(5).with_burst(0));
        assert_eq!(one.try_acquire(clock.now()), Ok(()));
        assert_eq!(one.try_acquire(clock.now()), Err(200 * MS));
    }

    #[test]
    fn on_the_call_clock_back_to_back_calls_take_the_burst_and_the_refusal_says_when() {
        let limiter = RateLimiter::new("mailer", five_a_second_burst_two());
        assert_eq!(limiter.acquire_on_call_clock(call_clock::now()), Ok(()));
        assert_eq!(limiter.acquire_on_call_clock(call_clock::now()), Ok(()));
        let refused = limiter
            .acquire_on_call_clock(call_clock::now())
            .unwrap_err();
        // The next token is 200 ms after the first call, less what the
        // calls took.
        assert!(refused.retry_after() <= 200 * MS);
        assert!(refused.retry_after() > 100 * MS, "{refused:?}");
        assert_eq!(limiter.refused(), 1);
    }

    #[test]
    fn the_origin_converts_call_clock_readings_as_the_call_clock_does() {
        let start = call_clock::now();
        let origin = Origin::new(
            Instant::now(),
            start,
            Counting::Nanos,
            &five_a_second_burst_two(),
        );
        assert_eq!(origin.nanos_to(start), 0);
        assert_eq!(
            origin.nanos_to(start.saturating_sub(1_000)),
            0,
            "before the origin"
        );
        // A minute and an hour of ticks, however many the counter makes.
        for nanos in [60_000_000_000_u64, 3_600_000_000_000] {
            let ticks = (u128::from(nanos) << 32) / u128::from(origin.scale);
            let end = start + u64::try_from(ticks).unwrap();
            let ours = origin.nanos_to(end);
            let theirs = call_clock::nanos_between(start, end);
            assert!(
                ours.abs_diff(theirs) <= nanos / 1_000_000,
                "{ours} vs {theirs}"
            );
            assert!(
                ours.abs_diff(nanos) <= nanos / 1_000_000,
                "{ours} vs {nanos}"
            );
        }
    }

    /// Call clock ticks that last at least `duration`, for a bucket that
    /// counts them.
    fn ticks_in(origin: &Origin, duration: Duration) -> u64 {
        let ticks = (duration.as_nanos() << 32).div_ceil(u128::from(origin.scale));
        u64::try_from(ticks).unwrap()
    }

    #[test]
    fn a_bucket_first_read_on_the_call_clock_counts_its_ticks_to_the_nanosecond() {
        let limiter = RateLimiter::new("mailer", five_a_second_burst_two());
        let start = call_clock::now();
        assert_eq!(limiter.acquire_on_call_clock(start), Ok(()));
        let origin = *limiter.origin.get().unwrap();
        assert!(matches!(origin.unit, Unit::Ticks { .. }), "{origin:?}");
        assert_eq!(limiter.acquire_on_call_clock(start), Ok(()));
        let near = |got: Duration, want: Duration| {
            assert!(
                got <= want && want - got <= Duration::from_micros(1),
                "{got:?} vs {want:?}"
            );
        };
        near(
            limiter
                .acquire_on_call_clock(start)
                .unwrap_err()
                .retry_after(),
            200 * MS,
        );
        let later = start + ticks_in(&origin, 50 * MS);
        near(
            limiter
                .acquire_on_call_clock(later)
                .unwrap_err()
                .retry_after(),
            150 * MS,
        );
        // One interval after the start, one more token, on the inlined path.
        let next = start + ticks_in(&origin, 200 * MS);
        let inlined = limiter.try_take_on_call_clock(next);
        assert_eq!(inlined, matches!(origin.unit, Unit::Ticks { shift: 0 }));
        if !inlined {
            assert_eq!(limiter.acquire_on_call_clock(next), Ok(()));
        }
        assert!(!limiter.try_take_on_call_clock(next));
        near(
            limiter
                .acquire_on_call_clock(next)
                .unwrap_err()
                .retry_after(),
            200 * MS,
        );
        assert_eq!(limiter.refused(), 3);
    }

    #[test]
    fn a_unit_of_ticks_is_at_most_a_nanosecond_and_durations_round_trip() {
        let per_2_32 = |nanos_per_tick: f64| (nanos_per_tick * 4_294_967_296.0) as u64;
        // A time-stamp counter at 2.8 GHz, a clock counting nanoseconds, a
        // 24 MHz counter.
        assert_eq!(
            Unit::for_scale(per_2_32(1.0 / 2.8)),
            Unit::Ticks { shift: 0 }
        );
        assert_eq!(Unit::for_scale(1 << 32), Unit::Ticks { shift: 0 });
        assert_eq!(
            Unit::for_scale(per_2_32(1000.0 / 24.0)),
            Unit::Ticks { shift: 6 }
        );
        for scale in [per_2_32(1.0 / 2.8), per_2_32(1000.0 / 24.0)] {
            let origin = Origin {
                scale,
                unit: Unit::for_scale(scale),
                ..Origin::new(
                    Instant::now(),
                    0,
                    Counting::Ticks,
                    &five_a_second_burst_two(),
                )
            };
            for duration in [MS, Duration::from_secs(3600), Duration::from_nanos(1)] {
                let back = origin.duration_of(origin.units_of(duration));
                assert!(back <= duration && duration - back <= Duration::from_nanos(1));
            }
        }
    }

    #[test]
    fn a_counter_slower_than_a_nanosecond_counts_fractions_of_a_tick_on_the_whole_path() {
        // A 24 MHz counter: 42 ns ticks, 64 units to a tick.
        let scale = (1000.0 / 24.0 * 4_294_967_296.0) as u64;
        let limiter = RateLimiter::new("mailer", five_a_second_burst_two());
        let origin = Origin {
            scale,
            unit: Unit::for_scale(scale),
            ..Origin::new(
                Instant::now(),
                1_000,
                Counting::Ticks,
                &five_a_second_burst_two(),
            )
        };
        let origin = Origin {
            interval: Some(origin.units_of(200 * MS)),
            tolerance: origin.units_of(200 * MS),
            ..origin
        };
        limiter.origin.set(origin).unwrap();
        let at = |duration: Duration| 1_000 + ticks_in(&origin, duration);
        assert!(!limiter.try_take_on_call_clock(at(Duration::ZERO)));
        assert_eq!(limiter.acquire_on_call_clock(at(Duration::ZERO)), Ok(()));
        assert_eq!(limiter.acquire_on_call_clock(at(Duration::ZERO)), Ok(()));
        let refused = limiter.acquire_on_call_clock(at(50 * MS)).unwrap_err();
        let early = (150 * MS)
            .checked_sub(refused.retry_after())
            .expect("a refusal after 50 ms says at most 150 ms");
        assert!(early <= Duration::from_nanos(42), "{refused:?}");
        assert_eq!(limiter.acquire_on_call_clock(at(200 * MS)), Ok(()));
        assert!(limiter.acquire_on_call_clock(at(200 * MS)).is_err());
        assert_eq!(limiter.refused(), 2);
    }

    #[test]
    fn a_bucket_first_read_on_a_clock_counts_nanoseconds_and_leaves_the_inlined_path() {
        let limiter = RateLimiter::new("mailer", five_a_second_burst_two());
        assert_eq!(limiter.acquire(&SystemClock), Ok(()));
        assert_eq!(limiter.origin.get().unwrap().unit, Unit::Nanos);
        let started = call_clock::now();
        assert!(!limiter.try_take_on_call_clock(started));
        assert_eq!(limiter.acquire_on_call_clock(started), Ok(()));
        assert!(limiter.acquire_on_call_clock(started).is_err());
    }

    #[test]
    fn the_inlined_path_takes_only_a_free_token_and_otherwise_changes_nothing() {
        let limiter = RateLimiter::new("mailer", five_a_second_burst_two());
        let started = call_clock::now();
        // No origin yet: the whole path sets it.
        assert!(!limiter.try_take_on_call_clock(started));
        assert_eq!(limiter.acquire_on_call_clock(started), Ok(()));
        assert!(limiter.try_take_on_call_clock(started));
        let full_at = limiter.bucket.full_at();
        assert!(!limiter.try_take_on_call_clock(started));
        assert_eq!(limiter.bucket.full_at(), full_at);
        assert_eq!(limiter.refused(), 0);
        let refused = limiter.acquire_on_call_clock(started).unwrap_err();
        assert!(refused.retry_after() > 100 * MS, "{refused:?}");
        let never = RateLimiter::new("mailer", RateLimitConfig::new(0));
        assert!(never.acquire_on_call_clock(started).is_err());
        assert!(!never.try_take_on_call_clock(started));
    }

    #[test]
    fn the_call_clock_and_a_clock_measure_from_one_origin() {
        let limiter = RateLimiter::new("mailer", five_a_second_burst_two());
        assert_eq!(limiter.acquire(&SystemClock), Ok(()));
        assert_eq!(limiter.acquire_on_call_clock(call_clock::now()), Ok(()));
        assert!(limiter.acquire(&SystemClock).is_err());
        assert!(limiter.acquire_on_call_clock(call_clock::now()).is_err());
    }

    /// How many of 8 threads' 100 tries each `take` let through.
    fn race(take: impl Fn() -> bool + Sync) -> usize {
        thread::scope(|scope| {
            let racers: Vec<_> = (0..8)
                .map(|_| scope.spawn(|| (0..100).filter(|_| take()).count()))
                .collect();
            racers.into_iter().map(|r| r.join().unwrap()).sum()
        })
    }

    #[test]
    fn racing_threads_take_exactly_the_burst() {
        let now = Instant::now();
        let limiter = RateLimiter::new("mailer", RateLimitConfig::new(1).with_burst(20));
        assert_eq!(race(|| limiter.try_acquire(now).is_ok()), 20);
    }

    #[test]
    fn racing_threads_on_the_call_clock_take_exactly_the_burst() {
        let started = call_clock::now();
        let limiter = RateLimiter::new("mailer", RateLimitConfig::new(1).with_burst(20));
        // The first call of each thread may set the origin; the rest race
        // on the inlined path and the whole one.
        let passed = race(|| {
            limiter.try_take_on_call_clock(started)
                || limiter.acquire_on_call_clock(started).is_ok()
        });
        assert_eq!(passed, 20);
        assert_eq!(limiter.refused(), 800 - 20);
    }

    #[test]
    fn an_async_caller_waits_for_its_token_without_blocking() {
        let clock = ManualClock::new().with_held_delays(true);
        let limiter = RateLimiter::new(
            "mailer",
            five_a_second_burst_two().with_max_wait(Duration::from_secs(1)),
        );
        assert_eq!(block_on(limiter.acquire_async(&clock)), Ok(()));
        assert_eq!(block_on(limiter.acquire_async(&clock)), Ok(()));
        let (wakes, waker) = CountingWaker::new();
        let mut third = limiter.acquire_async(&clock);
        assert!(poll(&mut third, &waker).is_pending());
        clock.advance(199 * MS);
        assert!(poll(&mut third, &waker).is_pending());
        clock.advance(MS);
        assert_eq!(wakes.wakes(), 1);
        assert_eq!(poll(&mut third, &waker), Poll::Ready(Ok(())));
    }

    #[test]
    fn an_async_caller_past_max_wait_is_refused_at_once() {
        let clock = ManualClock::new().with_held_delays(true);
        let limiter = RateLimiter::new("mailer", five_a_second_burst_two().with_max_wait(100 * MS));
        block_on(async {
            assert!(limiter.acquire_async(&clock).await.is_ok());
            assert!(limiter.acquire_async(&clock).await.is_ok());
            assert_eq!(
                limiter.acquire_async(&clock).await,
                Err(RateLimited::new("mailer", 5, 200 * MS))
            );
        });
        assert_eq!(clock.held_delays(), 0);
    }

    #[test]
    fn a_cancelled_async_waiter_gives_its_token_back() {
        let clock = ManualClock::new().with_held_delays(true);
        let limiter = RateLimiter::new(
            "mailer",
            five_a_second_burst_two().with_max_wait(Duration::from_secs(1)),
        );
        assert!(limiter.try_acquire(clock.now()).is_ok());
        assert!(limiter.try_acquire(clock.now()).is_ok());
        let mut cancelled = limiter.acquire_async(&clock);
        assert!(poll(&mut cancelled, Waker::noop()).is_pending());
        drop(cancelled);
        // The token it had reserved is the next one.
        clock.advance(200 * MS);
        assert_eq!(limiter.try_acquire(clock.now()), Ok(()));
        assert_eq!(limiter.try_acquire(clock.now()), Err(200 * MS));
    }

    #[test]
    fn waiting_async_callers_on_tokio_go_one_interval_apart() {
        let clock = Arc::new(ManualClock::new().with_held_delays(true));
        let limiter = RateLimiter::new(
            "mailer",
            five_a_second_burst_two().with_max_wait(Duration::from_secs(1)),
        );
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let start = clock.now();
        let finished = runtime.block_on(async {
            let caller = || async {
                limiter.acquire_async(&*clock).await.unwrap();
                clock.now() - start
            };
            let advance = async {
                while clock.held_delays() < 3 {
                    tokio::task::yield_now().await;
                }
                for _ in 0..3 {
                    clock.advance(200 * MS);
                    tokio::task::yield_now().await;
                }
            };
            let (a, b, c, d, e, ()) =
                tokio::join!(caller(), caller(), caller(), caller(), caller(), advance);
            [a, b, c, d, e]
        });
        assert_eq!(
            finished,
            [Duration::ZERO, Duration::ZERO, 200 * MS, 400 * MS, 600 * MS]
        );
    }

    #[test]
    fn the_acquire_future_is_send() {
        let clock = ManualClock::new();
        let limiter = RateLimiter::new("mailer", five_a_second_burst_two());
        crate::recovery::test_support::assert_send(&limiter.acquire_async(&clock));
    }
}
