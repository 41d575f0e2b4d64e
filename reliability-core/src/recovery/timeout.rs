//! `timeout`: one attempt of an `async fn` against a delay of the clock.
//!
//! The attempt's future and a [`Delay`] are polled in turn inside one
//! future, so it works on any executor, and under a
//! [`ManualClock`](crate::ManualClock) made with held delays a test fires
//! the timeout by advancing the clock. When the delay wins, the attempt's
//! future is dropped there and then (not when the combinator is), and the
//! output is a [`TimedOut`] the driver turns into the method's error.
//!
//! The delay is only asked of the clock when the attempt first returns
//! `Pending` (for what is left of the timeout since the attempt started), so
//! an attempt that completes on its first poll never touches the timer, and
//! does not move a [`ManualClock`](crate::ManualClock). Under a manual clock
//! without held delays, a delay is over as soon as it is made, so an attempt
//! that is pending on its first poll times out at once.
//!
//! A timeout of `Duration::MAX` never ends: no delay is asked for at all, so
//! an attempt without a timeout (a hedged leg of a method without one) puts
//! nothing in the timer's queue.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::classify::refused::TimedOut;
use crate::record::clock::{Clock, Delay};

/// Runs `attempt` for at most `after` on `clock`; see [`Timeout`].
///
/// The timeout counts from now, when the combinator is made: make it where
/// the attempt starts.
pub fn timeout<'a, F: Future>(
    component: &'static str,
    after: Duration,
    clock: &'a dyn Clock,
    attempt: F,
) -> Timeout<'a, F> {
    Timeout {
        attempt: Some(attempt),
        started: clock.now(),
        clock,
        delay: None,
        timed_out: TimedOut::new(component, after),
    }
}

/// The future [`timeout`] returns: the attempt's output, or [`TimedOut`]
/// once the delay is over first (the attempt's future is dropped then).
///
/// The attempt is polled before the delay, so an attempt that is ready when
/// the delay also is wins.
#[must_use = "futures do nothing unless polled"]
pub struct Timeout<'a, F> {
    /// `None` once it finished or was dropped for running late.
    attempt: Option<F>,
    clock: &'a dyn Clock,
    started: Instant,
    /// Made when the attempt is first pending.
    delay: Option<Delay>,
    timed_out: TimedOut,
}

impl<F> fmt::Debug for Timeout<'_, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timeout")
            .field("component", &self.timed_out.component())
            .field("after", &self.timed_out.after())
            .field("running", &self.attempt.is_some())
            .finish()
    }
}

impl<F: Future> Future for Timeout<'_, F> {
    type Output = Result<F::Output, TimedOut>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: `attempt` is structurally pinned: it is never moved, only
        // polled in place and dropped in place (by assigning `None`), and
        // `Timeout` has no `Drop` impl. The other fields are `Unpin` and
        // never pinned.
        let this = unsafe { self.get_unchecked_mut() };
        let Some(attempt) = this.attempt.as_mut() else {
            // Polled again after it completed: nothing more will come.
            return Poll::Pending;
        };
        // SAFETY: see above; `attempt` lives in the pinned `Timeout`.
        let attempt = unsafe { Pin::new_unchecked(attempt) };
        if let Poll::Ready(output) = attempt.poll(cx) {
            this.attempt = None;
            // Let go of the timer at once (a held delay leaves its clock).
            this.delay = None;
            return Poll::Ready(Ok(output));
        }
        if this.timed_out.after() == Duration::MAX {
            return Poll::Pending;
        }
        let delay = this.delay.get_or_insert_with(|| {
            let spent = this.clock.now().saturating_duration_since(this.started);
            this.clock
                .delay(this.timed_out.after().saturating_sub(spent))
        });
        if Pin::new(delay).poll(cx).is_ready() {
            // Dropped here, before the caller hears of the timeout.
            this.attempt = None;
            return Poll::Ready(Err(this.timed_out));
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
    use std::sync::Arc;
    use std::task::Waker;
    use std::time::Instant;

    use super::*;
    use crate::clock::{ManualClock, SystemClock};
    use crate::recovery::test_support::{block_on, never, CountingWaker, DropFlag};

    const TWO_SECONDS: Duration = Duration::from_secs(2);

    #[test]
    fn a_never_completing_attempt_times_out_when_the_clock_passes_the_timeout() {
        let clock = ManualClock::new().with_held_delays(true);
        let (flag, dropped) = DropFlag::new();
        let (wakes, waker) = CountingWaker::new();
        let mut cx = Context::from_waker(&waker);
        let mut future = Box::pin(timeout("search", TWO_SECONDS, &clock, never::<u32>(flag)));

        assert!(future.as_mut().poll(&mut cx).is_pending());
        clock.advance(TWO_SECONDS - Duration::from_millis(1));
        assert_eq!(wakes.wakes(), 0, "woken before the timeout");
        assert!(future.as_mut().poll(&mut cx).is_pending());
        assert!(!dropped.load(SeqCst));

        clock.advance(Duration::from_millis(1));
        assert_eq!(wakes.wakes(), 1, "the clock did not wake the timeout");
        let output = future.as_mut().poll(&mut cx);
        assert_eq!(
            output,
            Poll::Ready(Err(TimedOut::new("search", TWO_SECONDS)))
        );
        assert!(
            dropped.load(SeqCst),
            "the attempt must be dropped when it times out, not later"
        );
        assert!(future.as_mut().poll(&mut cx).is_pending(), "fused");
    }

    #[test]
    fn an_attempt_that_finishes_in_time_keeps_its_output_and_frees_the_timer() {
        let clock = ManualClock::new().with_held_delays(true);
        let released = Arc::new(AtomicBool::new(false));
        let attempt = {
            let released = Arc::clone(&released);
            std::future::poll_fn(move |cx| {
                if released.load(SeqCst) {
                    Poll::Ready("done")
                } else {
                    cx.waker().wake_by_ref();
                    Poll::Pending
                }
            })
        };
        let mut cx = Context::from_waker(Waker::noop());
        let mut future = Box::pin(timeout("search", TWO_SECONDS, &clock, attempt));
        assert!(future.as_mut().poll(&mut cx).is_pending());
        assert_eq!(clock.held_delays(), 1);
        clock.advance(Duration::from_secs(1));
        released.store(true, SeqCst);
        assert_eq!(future.as_mut().poll(&mut cx), Poll::Ready(Ok("done")));
        assert_eq!(clock.held_delays(), 0, "the timer outlived the attempt");
    }

    #[test]
    fn an_attempt_ready_on_its_first_poll_never_asks_for_a_delay() {
        // An unheld manual delay would be over, and move the clock, as soon
        // as it is made.
        let clock = ManualClock::new();
        let start = clock.now();
        let output = block_on(timeout("search", TWO_SECONDS, &clock, async { 7 }));
        assert_eq!(output, Ok(7));
        assert_eq!(clock.now(), start, "the ready attempt moved the clock");
    }

    #[test]
    fn the_delay_is_what_is_left_of_the_timeout_since_the_attempt_started() {
        let clock = ManualClock::new();
        let start = clock.now();
        let mut future = Box::pin(timeout(
            "search",
            TWO_SECONDS,
            &clock,
            never::<()>(DropFlag::new().0),
        ));
        clock.advance(Duration::from_millis(500));
        let mut cx = Context::from_waker(Waker::noop());
        assert_eq!(
            future.as_mut().poll(&mut cx),
            Poll::Ready(Err(TimedOut::new("search", TWO_SECONDS)))
        );
        assert_eq!(clock.now() - start, TWO_SECONDS);
    }

    #[test]
    fn an_endless_timeout_never_asks_for_a_delay() {
        let clock = ManualClock::new().with_held_delays(true);
        let mut cx = Context::from_waker(Waker::noop());
        let mut future = Box::pin(timeout(
            "search",
            Duration::MAX,
            &clock,
            never::<()>(DropFlag::new().0),
        ));
        assert!(future.as_mut().poll(&mut cx).is_pending());
        assert_eq!(
            clock.held_delays(),
            0,
            "a delay that can never end was made"
        );
        clock.advance(Duration::from_secs(3600));
        assert!(future.as_mut().poll(&mut cx).is_pending());
    }

    #[test]
    fn the_real_clock_times_out_on_a_bare_executor() {
        let after = Duration::from_millis(20);
        let (flag, dropped) = DropFlag::new();
        let start = Instant::now();
        let output = block_on(timeout("search", after, &SystemClock, never::<()>(flag)));
        assert_eq!(output, Err(TimedOut::new("search", after)));
        assert!(start.elapsed() >= after);
        assert!(dropped.load(SeqCst));
    }

    #[test]
    fn a_never_completing_attempt_times_out_on_tokio_with_the_manual_clock() {
        let clock = ManualClock::new().with_held_delays(true);
        let (flag, dropped) = DropFlag::new();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let output = runtime.block_on(async {
            let attempt = timeout("search", TWO_SECONDS, &clock, never::<u8>(flag));
            let advance = async {
                // Let the timeout register its delay, then pass it.
                while clock.held_delays() == 0 {
                    tokio::task::yield_now().await;
                }
                clock.advance(TWO_SECONDS);
            };
            tokio::join!(attempt, advance).0
        });
        assert_eq!(output, Err(TimedOut::new("search", TWO_SECONDS)));
        assert!(dropped.load(SeqCst));
    }

    #[test]
    fn a_spawned_timeout_fires_on_tokio_with_the_real_clock() {
        let after = Duration::from_millis(20);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let (flag, dropped) = DropFlag::new();
        let output = runtime.block_on(async {
            tokio::spawn(timeout("search", after, &SystemClock, never::<()>(flag)))
                .await
                .unwrap()
        });
        assert_eq!(output, Err(TimedOut::new("search", after)));
        assert!(dropped.load(SeqCst));
    }

    #[test]
    fn the_timeout_future_is_send_when_the_attempt_is() {
        crate::recovery::test_support::assert_send(&timeout(
            "search",
            TWO_SECONDS,
            &SystemClock,
            async { 1 },
        ));
    }
}
