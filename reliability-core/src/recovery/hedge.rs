//! `hedge`: alternatives run side by side with a slow attempt instead of
//! after it fails.
//!
//! [`hedge`] polls the first future and, once it has run `after` without an
//! `Ok`, starts the next one beside it (up to `max_extra` extra at once),
//! all inside one future: no task is spawned, so it works on any executor
//! and the futures may borrow. The first `Ok` wins and the others are
//! dropped there and then (the losers). A failure while others still run
//! only waits for them; when nothing runs any more, the next future starts
//! at once, as alternatives do without hedging. When every one has failed,
//! all their errors are returned, so the chain can go on to the fallback.
//!
//! The next futures are made one at a time, when started, by `next()` on an
//! iterator; they are `Unpin` (a `Pin<Box<dyn Future>>` is), so the only
//! allocations are theirs, and a small `Vec` of them, on the hedging path.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::record::clock::{Clock, Delay};

/// When a hedge starts: a fixed delay, or the method's own recent p95.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HedgeAfter {
    /// After this long without an `Ok`.
    Fixed(Duration),
    /// After the method's recent 95th-percentile latency: only calls slower
    /// than 19 in 20 are hedged. No hedge until the method has a p95.
    RecentP95,
}

/// When to start the next alternative beside a slow attempt, and how many
/// may run beside it.
///
/// # Default
///
/// `max_extra = 1`. `after` has no default.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use reliability_core::{limit::HedgeAfter, limit::HedgeConfig};
///
/// const SEARCH: HedgeConfig = HedgeConfig::new(HedgeAfter::Fixed(Duration::from_millis(50)));
/// assert_eq!(SEARCH.delay(None), Some(Duration::from_millis(50)));
/// let adaptive = HedgeConfig::new(HedgeAfter::RecentP95).with_max_extra(2);
/// assert_eq!(adaptive.delay(None), None, "no p95 yet: no hedge");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HedgeConfig {
    after: HedgeAfter,
    max_extra: u32,
}

impl HedgeConfig {
    /// Hedges `after`; the defaults above.
    pub const fn new(after: HedgeAfter) -> Self {
        HedgeConfig {
            after,
            max_extra: 1,
        }
    }

    /// How many alternatives may run beside the attempt at once (0: none,
    /// so alternatives only run one after another).
    #[must_use]
    pub const fn with_max_extra(mut self, max_extra: u32) -> Self {
        self.max_extra = max_extra;
        self
    }

    /// When a hedge starts.
    pub const fn after(&self) -> HedgeAfter {
        self.after
    }

    /// How many alternatives may run beside the attempt at once.
    pub const fn max_extra(&self) -> u32 {
        self.max_extra
    }

    /// The delay to hedge after for one call, given the method's recent
    /// p95 if it has one; `None` means do not hedge this call.
    pub const fn delay(&self, recent_p95: Option<Duration>) -> Option<Duration> {
        match self.after {
            HedgeAfter::Fixed(after) => Some(after),
            HedgeAfter::RecentP95 => recent_p95,
        }
    }
}

/// Runs `first`, and the futures `next` makes beside it when it is slow;
/// see [`Hedge`].
///
/// `after: None` never hedges (the next futures then only start one after
/// another, as each fails). The hedge delay counts from the latest start.
pub fn hedge<'a, F, I, T, E>(
    first: F,
    next: I,
    after: Option<Duration>,
    max_extra: usize,
    clock: &'a dyn Clock,
) -> Hedge<'a, F, I, E>
where
    F: Future<Output = Result<T, E>>,
    I: Iterator,
    I::Item: Future<Output = Result<T, E>> + Unpin,
{
    Hedge {
        first: Some(first),
        next: Some(next),
        running: Vec::new(),
        started: 1,
        hedged: 0,
        after: after.filter(|_| max_extra > 0),
        max_extra,
        clock,
        timer: None,
        due: false,
        errors: Vec::new(),
        done: false,
    }
}

/// What a [`Hedge`] ends with.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HedgeOutcome<T, E> {
    /// The first `Ok`, with the index of the future that returned it (0 for
    /// the first, then in the order they started); `None` if all failed.
    pub winner: Option<(usize, T)>,
    /// The errors of the futures that failed, in the order they failed.
    pub errors: Vec<E>,
    /// Futures started, the first included.
    pub started: usize,
    /// Of those, started by the hedge delay while another was running.
    pub hedged: usize,
    /// Whether the winner was one of the `hedged` (a hedge won); the other
    /// hedged ones lost (`reliability_hedges_total{result}`).
    pub won_by_hedge: bool,
    /// Futures dropped unfinished because another won.
    pub losers: usize,
}

impl<T, E> HedgeOutcome<T, E> {
    /// The winner's value, or every error.
    pub fn into_result(self) -> Result<T, Vec<E>> {
        match self.winner {
            Some((_, value)) => Ok(value),
            None => Err(self.errors),
        }
    }
}

/// The future [`hedge`] returns.
#[must_use = "futures do nothing unless polled"]
pub struct Hedge<'a, F, I: Iterator, E> {
    /// `None` once it finished or was dropped.
    first: Option<F>,
    /// `None` once it has nothing more to make.
    next: Option<I>,
    /// The futures made by `next` that still run: index, started by the
    /// hedge delay, future.
    running: Vec<(usize, bool, I::Item)>,
    started: usize,
    hedged: usize,
    after: Option<Duration>,
    max_extra: usize,
    clock: &'a dyn Clock,
    /// The hedge delay, counting from the latest start.
    timer: Option<Delay>,
    /// The hedge delay is over, but every place beside the first was taken.
    due: bool,
    errors: Vec<E>,
    done: bool,
}

impl<F, I: Iterator, E> fmt::Debug for Hedge<'_, F, I, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hedge")
            .field("running", &self.in_flight())
            .field("started", &self.started)
            .field("failed", &self.errors.len())
            .field("after", &self.after)
            .field("max_extra", &self.max_extra)
            .finish()
    }
}

impl<F, I: Iterator, E> Hedge<'_, F, I, E> {
    fn in_flight(&self) -> usize {
        usize::from(self.first.is_some()) + self.running.len()
    }
}

impl<F, I, T, E> Future for Hedge<'_, F, I, E>
where
    F: Future<Output = Result<T, E>>,
    I: Iterator,
    I::Item: Future<Output = Result<T, E>> + Unpin,
{
    type Output = HedgeOutcome<T, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: `first` is structurally pinned: it is only polled in place
        // and dropped in place (by assigning `None`), never moved, and
        // `Hedge` has no `Drop` impl. No other field is ever pinned (the
        // running futures are `Unpin`).
        let this = unsafe { self.get_unchecked_mut() };
        if this.done {
            return Poll::Pending;
        }
        loop {
            if let Some(first) = this.first.as_mut() {
                // SAFETY: see above.
                let first = unsafe { Pin::new_unchecked(first) };
                if let Poll::Ready(result) = first.poll(cx) {
                    this.first = None;
                    match result {
                        Ok(value) => return Poll::Ready(this.finish(Some((0, value)), false)),
                        Err(error) => this.errors.push(error),
                    }
                }
            }
            let mut at = 0;
            while at < this.running.len() {
                let (index, by_hedge, future) = &mut this.running[at];
                let (index, by_hedge) = (*index, *by_hedge);
                match Pin::new(future).poll(cx) {
                    Poll::Pending => at += 1,
                    Poll::Ready(result) => {
                        this.running.remove(at);
                        match result {
                            Ok(value) => {
                                return Poll::Ready(this.finish(Some((index, value)), by_hedge))
                            }
                            Err(error) => this.errors.push(error),
                        }
                    }
                }
            }
            let in_flight = this.in_flight();
            if in_flight == 0 {
                // Nothing runs: the next one starts at once, unhedged.
                if !this.start_next(false) {
                    return Poll::Ready(this.finish(None, false));
                }
                continue;
            }
            if this.next.is_none() || this.after.is_none() {
                return Poll::Pending;
            }
            if this.due {
                if in_flight <= this.max_extra && this.start_next(true) {
                    continue;
                }
                // Every place is taken: the next failure frees one.
                return Poll::Pending;
            }
            let (clock, after) = (this.clock, this.after);
            let timer = this
                .timer
                .get_or_insert_with(|| clock.delay(after.unwrap_or_default()));
            if Pin::new(timer).poll(cx).is_pending() {
                return Poll::Pending;
            }
            this.timer = None;
            this.due = true;
        }
    }
}

impl<F, I, T, E> Hedge<'_, F, I, E>
where
    I: Iterator,
    I::Item: Future<Output = Result<T, E>>,
{
    /// Starts the next future, if there is one; the hedge delay then counts
    /// from now.
    fn start_next(&mut self, by_hedge: bool) -> bool {
        let Some(future) = self.next.as_mut().and_then(Iterator::next) else {
            self.next = None;
            return false;
        };
        self.running.push((self.started, by_hedge, future));
        self.started += 1;
        self.hedged += usize::from(by_hedge);
        self.timer = None;
        self.due = false;
        true
    }

    fn finish(&mut self, winner: Option<(usize, T)>, won_by_hedge: bool) -> HedgeOutcome<T, E> {
        let losers = self.in_flight();
        // The losers are dropped now, not when the hedge is.
        self.first = None;
        self.running.clear();
        self.next = None;
        self.timer = None;
        self.done = true;
        HedgeOutcome {
            winner,
            errors: std::mem::take(&mut self.errors),
            started: self.started,
            hedged: self.hedged,
            won_by_hedge,
            losers,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use std::sync::Arc;
    use std::task::Waker;

    use parking_lot::Mutex;

    use super::*;
    use crate::clock::{ManualClock, SystemClock};
    use crate::recovery::test_support::{block_on, never, CountingWaker, DropFlag};

    const AFTER: Duration = Duration::from_millis(50);
    const MS: Duration = Duration::from_millis(1);

    type Next<'a> = Pin<Box<dyn Future<Output = Result<u32, String>> + Send + 'a>>;

    /// Where a test puts the result a [`gate`] future is to finish with.
    type Slot = Arc<Mutex<Option<Result<u32, String>>>>;

    /// A future that finishes when the test fills its slot.
    fn gate() -> (Slot, Next<'static>) {
        let slot = Arc::new(Mutex::new(None));
        let inside = Arc::clone(&slot);
        let future = std::future::poll_fn(move |_| match inside.lock().take() {
            Some(result) => Poll::Ready(result),
            None => Poll::Pending,
        });
        (slot, Box::pin(future))
    }

    /// The next futures, each counted when made.
    fn counted<'a>(
        made: &'a AtomicUsize,
        futures: Vec<Next<'a>>,
    ) -> impl Iterator<Item = Next<'a>> + 'a {
        futures.into_iter().inspect(move |_| {
            made.fetch_add(1, SeqCst);
        })
    }

    fn poll<F: Future>(future: Pin<&mut F>, waker: &Waker) -> Poll<F::Output> {
        future.poll(&mut Context::from_waker(waker))
    }

    #[test]
    fn a_slow_primary_is_hedged_by_a_fast_alternative_which_wins() {
        let clock = ManualClock::new().with_held_delays(true);
        let made = AtomicUsize::new(0);
        let (flag, primary_dropped) = DropFlag::new();
        let fast: Next<'_> = Box::pin(async { Ok(2) });
        let (wakes, waker) = CountingWaker::new();
        let mut hedge = std::pin::pin!(hedge(
            never::<Result<u32, String>>(flag),
            counted(&made, vec![fast]),
            Some(AFTER),
            1,
            &clock,
        ));
        assert!(poll(hedge.as_mut(), &waker).is_pending());
        clock.advance(AFTER - MS);
        assert!(poll(hedge.as_mut(), &waker).is_pending());
        assert_eq!(made.load(SeqCst), 0, "hedged before `after`");
        clock.advance(MS);
        assert_eq!(wakes.wakes(), 1, "the hedge delay did not wake the task");
        let Poll::Ready(outcome) = poll(hedge.as_mut(), &waker) else {
            panic!("the fast alternative did not win");
        };
        assert_eq!(
            outcome,
            HedgeOutcome {
                winner: Some((1, 2)),
                errors: vec![],
                started: 2,
                hedged: 1,
                won_by_hedge: true,
                losers: 1,
            }
        );
        assert!(
            primary_dropped.load(SeqCst),
            "the losing primary still runs"
        );
    }

    #[test]
    fn a_primary_that_finishes_in_time_never_starts_an_alternative() {
        let clock = ManualClock::new().with_held_delays(true);
        let made = AtomicUsize::new(0);
        let (_, unused) = gate();
        let outcome = block_on(hedge(
            async { Ok::<u32, String>(1) },
            counted(&made, vec![unused]),
            Some(AFTER),
            1,
            &clock,
        ));
        assert_eq!(outcome.winner, Some((0, 1)));
        assert_eq!((outcome.started, outcome.hedged, outcome.losers), (1, 0, 0));
        assert_eq!(made.load(SeqCst), 0);
        assert_eq!(clock.held_delays(), 0);
    }

    #[test]
    fn a_failure_while_another_runs_waits_for_it() {
        let clock = ManualClock::new().with_held_delays(true);
        let (primary, primary_future) = gate();
        let (alternative, alternative_future) = gate();
        let mut hedge = std::pin::pin!(hedge(
            primary_future,
            vec![alternative_future].into_iter(),
            Some(AFTER),
            1,
            &clock,
        ));
        let waker = Waker::noop();
        assert!(poll(hedge.as_mut(), waker).is_pending());
        clock.advance(AFTER);
        assert!(poll(hedge.as_mut(), waker).is_pending());
        *alternative.lock() = Some(Err("alternative down".into()));
        assert!(
            poll(hedge.as_mut(), waker).is_pending(),
            "gave up while the primary still ran"
        );
        *primary.lock() = Some(Ok(1));
        let Poll::Ready(outcome) = poll(hedge.as_mut(), waker) else {
            panic!("the primary's late success was missed");
        };
        assert_eq!(outcome.winner, Some((0, 1)));
        assert_eq!(outcome.errors, ["alternative down"]);
        assert_eq!((outcome.started, outcome.hedged, outcome.losers), (2, 1, 0));
        assert!(!outcome.won_by_hedge, "the hedge lost");
    }

    #[test]
    fn an_early_failure_starts_the_next_at_once_unhedged() {
        let clock = ManualClock::new().with_held_delays(true);
        let outcome = block_on(hedge(
            async { Err::<u32, _>("primary down".to_string()) },
            vec![Box::pin(async { Ok(3_u32) }) as Next<'_>].into_iter(),
            Some(AFTER),
            1,
            &clock,
        ));
        assert_eq!(outcome.winner, Some((1, 3)));
        assert_eq!(outcome.errors, ["primary down"]);
        assert_eq!((outcome.started, outcome.hedged, outcome.losers), (2, 0, 0));
        assert!(
            !outcome.won_by_hedge,
            "an alternative after a failure is no hedge"
        );
    }

    #[test]
    fn when_every_one_fails_every_error_is_returned_in_order() {
        let clock = ManualClock::new();
        let fail =
            |message: &'static str| Box::pin(async move { Err(message.to_string()) }) as Next<'_>;
        let outcome = block_on(hedge(
            async { Err::<u32, _>("primary".to_string()) },
            vec![fail("first alternative"), fail("second alternative")].into_iter(),
            Some(AFTER),
            1,
            &clock,
        ));
        assert_eq!(outcome.started, 3);
        assert_eq!(
            outcome.into_result(),
            Err(vec![
                "primary".to_string(),
                "first alternative".to_string(),
                "second alternative".to_string()
            ])
        );
    }

    #[test]
    fn max_extra_caps_the_futures_running_beside_the_first() {
        let clock = ManualClock::new().with_held_delays(true);
        let made = AtomicUsize::new(0);
        let (first_extra, first_extra_future) = gate();
        let (_, second_extra_future) = gate();
        let (_, primary) = gate();
        let mut hedge = std::pin::pin!(hedge(
            primary,
            counted(&made, vec![first_extra_future, second_extra_future]),
            Some(AFTER),
            1,
            &clock,
        ));
        let waker = Waker::noop();
        assert!(poll(hedge.as_mut(), waker).is_pending());
        clock.advance(AFTER);
        assert!(poll(hedge.as_mut(), waker).is_pending());
        assert_eq!(made.load(SeqCst), 1);
        clock.advance(AFTER * 10);
        assert!(poll(hedge.as_mut(), waker).is_pending());
        assert_eq!(
            made.load(SeqCst),
            1,
            "more than `max_extra` beside the first"
        );
        // A failure frees a place; the hedge is overdue, so the next starts.
        *first_extra.lock() = Some(Err("extra down".into()));
        assert!(poll(hedge.as_mut(), waker).is_pending());
        assert_eq!(made.load(SeqCst), 2);
    }

    #[test]
    fn without_a_delay_alternatives_only_follow_failures() {
        let clock = ManualClock::new().with_held_delays(true);
        let made = AtomicUsize::new(0);
        let (_, unused) = gate();
        let (primary, primary_future) = gate();
        let config = HedgeConfig::new(HedgeAfter::RecentP95);
        let mut hedge = std::pin::pin!(hedge(
            primary_future,
            counted(&made, vec![unused]),
            config.delay(None),
            1,
            &clock,
        ));
        let waker = Waker::noop();
        assert!(poll(hedge.as_mut(), waker).is_pending());
        clock.advance(Duration::from_secs(60));
        assert!(poll(hedge.as_mut(), waker).is_pending());
        assert_eq!((made.load(SeqCst), clock.held_delays()), (0, 0));
        *primary.lock() = Some(Err("down".into()));
        assert!(poll(hedge.as_mut(), waker).is_pending());
        assert_eq!(made.load(SeqCst), 1, "a failure still moves on");
    }

    #[test]
    fn the_p95_decides_the_delay_when_known() {
        let config = HedgeConfig::new(HedgeAfter::RecentP95).with_max_extra(2);
        assert_eq!(config.delay(Some(80 * MS)), Some(80 * MS));
        assert_eq!(config.max_extra(), 2);
        const FIXED: HedgeConfig = HedgeConfig::new(HedgeAfter::Fixed(AFTER));
        assert_eq!(FIXED.delay(Some(80 * MS)), Some(AFTER));
        assert_eq!(FIXED.max_extra(), 1);
    }

    #[test]
    fn the_real_clock_hedges_on_a_bare_executor() {
        let (flag, primary_dropped) = DropFlag::new();
        let outcome = block_on(hedge(
            never::<Result<u32, String>>(flag),
            vec![Box::pin(async { Ok(2_u32) }) as Next<'_>].into_iter(),
            Some(10 * MS),
            1,
            &SystemClock,
        ));
        assert_eq!(outcome.winner, Some((1, 2)));
        assert!(primary_dropped.load(SeqCst));
    }

    #[test]
    fn a_slow_primary_is_hedged_on_tokio_with_the_manual_clock() {
        let clock = ManualClock::new().with_held_delays(true);
        let (flag, primary_dropped) = DropFlag::new();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let outcome = runtime.block_on(async {
            let alternative: Next<'_> = Box::pin(async {
                tokio::task::yield_now().await;
                Ok(2)
            });
            let hedged = hedge(
                never::<Result<u32, String>>(flag),
                vec![alternative].into_iter(),
                Some(AFTER),
                1,
                &clock,
            );
            let advance = async {
                while clock.held_delays() == 0 {
                    tokio::task::yield_now().await;
                }
                clock.advance(AFTER);
            };
            tokio::join!(hedged, advance).0
        });
        assert_eq!(outcome.winner, Some((1, 2)));
        assert_eq!(outcome.losers, 1);
        assert!(primary_dropped.load(SeqCst));
    }

    #[test]
    fn the_hedge_future_is_send_when_its_futures_are() {
        let (_, primary) = gate();
        let (_, next) = gate();
        crate::recovery::test_support::assert_send(&hedge(
            primary,
            vec![next].into_iter(),
            Some(AFTER),
            1,
            &SystemClock,
        ));
    }
}
