//! Combinators around an attempt's future: its timeout and its hedge, and
//! the value a refusal or a timeout turns into. Free functions over a
//! call's [`Recovery`], which the expansion calls by path.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::classify::refused::TimedOut;
use crate::classify::ErrorCategory;
use crate::record::clock::Clock;
use crate::record::site::CallSite;
use crate::recovery::call_loop::Recovery;
use crate::recovery::timeout::Timeout;
use crate::recovery::verdict::{Failure, Verdict};
use crate::runtime::events::ReliabilityEvent;
use crate::runtime::registry::runtime;

/// Runs `attempt` for at most the method's `timeout`, on the component's
/// clock; its future is dropped when the time is up. The future does not
/// borrow the recovery, so the body is free to run beside it.
pub fn timeout<R, F: Future>(
    recovery: &Recovery<R>,
    attempt: F,
) -> impl Future<Output = Result<F::Output, TimedOut>> {
    let site = recovery.site;
    let after = recovery.meta().limits.timeout.unwrap_or(Duration::MAX);
    async move {
        let clock = runtime()
            .state_of(site.component())
            .env()
            .policy
            .current_clock();
        let component = site.meta().component;
        crate::recovery::timeout::timeout(component, after, clock, attempt).await
    }
}

/// The attempt's value, or the error its timeout turns into.
pub fn timed<R: Refusable<TimedOut>>(
    recovery: &mut Recovery<R>,
    attempt: Result<R, TimedOut>,
) -> R {
    match attempt {
        Ok(value) => value,
        Err(timed_out) => {
            recovery.note_timeout(&timed_out);
            R::refused(timed_out)
        }
    }
}

/// The attempt's value; `None` when it timed out, for a method with a
/// fallback (the error type need not hold a `TimedOut`): the failure is
/// reported without a value, and the fallback gives one.
pub fn timed_value<R>(recovery: &mut Recovery<R>, attempt: Result<R, TimedOut>) -> Option<R> {
    match attempt {
        Ok(value) => Some(value),
        Err(timed_out) => {
            recovery.note_timeout(&timed_out);
            recovery.report_without_value(timed_out.to_string());
            None
        }
    }
}

/// The value of a hedge without a timeout, which never times out.
pub fn untimed<R>(attempt: Result<R, TimedOut>) -> R {
    match attempt {
        Ok(value) => value,
        Err(_) => unreachable!("reliability: a hedge without a timeout timed out"),
    }
}

/// A `Result` whose error can be built from the refusal `X`.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "the error type of `{Self}` needs a `From<{X}>`",
    label = "this option returns an error built from `{X}` when there is no `fallback`",
    note = "add a variant holding `{X}` with a `From` impl, or configure a `fallback`"
)]
pub trait Refusable<X> {
    /// `Err(E::from(refusal))`.
    fn refused(refusal: X) -> Self;
}

impl<T, E: From<X>, X> Refusable<X> for Result<T, E> {
    fn refused(refusal: X) -> Self {
        Err(E::from(refusal))
    }
}

/// The error a refusal by the bulkhead or rate limit returns.
#[inline]
pub fn refuse<X, R: Refusable<X>>(refusal: X) -> R {
    R::refused(refusal)
}

/// An alternative's future, as hedging runs it beside the attempt.
pub type HedgeFuture<'a, R> = Pin<Box<dyn Future<Output = R> + Send + 'a>>;

/// An alternative's future, boxed for [`hedge`].
#[inline]
pub fn hedge_future<'a, R>(future: impl Future<Output = R> + Send + 'a) -> HedgeFuture<'a, R> {
    Box::pin(future)
}

/// Runs the first attempt with the alternatives started beside it when it
/// is slow (see [`hedge`](crate::limit::hedge)), each leg under the method's
/// `timeout` if it has one: the first `Ok`, or, when all failed, the last
/// error, with the alternatives counted as tried so that the chain goes on
/// to the fallback or escalation. When every leg failed and the last to
/// fail timed out, the outcome is that [`TimedOut`], for [`timed`] or
/// [`timed_value`], which count it; every other timed-out leg is counted
/// here.
///
/// A later attempt (a retry), or one of a method with no p95 yet under
/// `after = "p95"`, runs alone: its alternatives are not even made.
pub async fn hedge<'a, T, E, F, A>(
    recovery: &mut Recovery<Result<T, E>>,
    first: F,
    alternatives: impl FnOnce() -> A,
) -> Result<Result<T, E>, TimedOut>
where
    F: Future<Output = Result<T, E>>,
    A: IntoIterator<Item = HedgeFuture<'a, Result<T, E>>>,
{
    let site = recovery.site;
    let limits = &recovery.meta().limits;
    let timeout = limits.timeout.unwrap_or(Duration::MAX);
    let hedged = match (limits.hedge, recovery.driving.is_none()) {
        (Some(config), true) => config
            .delay(recent_p95(site))
            .map(|after| (after, config.max_extra() as usize)),
        _ => None,
    };
    if hedged.is_none() && timeout == Duration::MAX {
        return Ok(first.await);
    }
    let component = site.meta().component;
    let state = runtime().state_of(site.component());
    let clock = state.env().policy.current_clock();
    let Some((after, max_extra)) = hedged else {
        return crate::recovery::timeout::timeout(component, timeout, clock, first).await;
    };
    // Steps of this call's recovery: their failures are theirs, not more
    // failures in a row of the component (see `step`).
    let record = site.component();
    let alternatives: Vec<_> = alternatives().into_iter().collect();
    let count = alternatives.len();
    // Made when started, so that each leg's timeout counts from then.
    let next = alternatives.into_iter().map(|alternative| {
        Leg::new(
            component,
            timeout,
            clock,
            record.recovering_future(alternative),
        )
    });
    let first = Leg::new(component, timeout, clock, first);
    let outcome = crate::recovery::hedge::hedge(first, next, Some(after), max_extra, clock).await;
    recovery.note_hedge(outcome.hedged, outcome.won_by_hedge);
    let tried = outcome.started.saturating_sub(1).min(count);
    if let Some((_, value)) = outcome.winner {
        for error in &outcome.errors {
            if let LegError::TimedOut(timed_out) = error {
                recovery.count_timeout(timed_out);
            }
        }
        return Ok(Ok(value));
    }
    recovery.note_alternatives_tried(u32::try_from(tried).unwrap_or(u32::MAX));
    let mut errors = outcome.errors;
    let last = errors.pop();
    for error in &errors {
        if let LegError::TimedOut(timed_out) = error {
            recovery.count_timeout(timed_out);
        }
    }
    match last {
        Some(LegError::Failed(error)) => Ok(Err(error)),
        Some(LegError::TimedOut(timed_out)) => Err(timed_out),
        // `hedge` ends with a winner or with every error.
        None => unreachable!("reliability: a hedge ended without a value"),
    }
}

/// The parts of a call's recovery that only the timeout and the hedge use.
impl<R> Recovery<R> {
    /// An attempt ran past its timeout: counted, and its failure's category
    /// is `timeout` whatever the error type makes of it.
    #[cold]
    fn note_timeout(&mut self, timed_out: &TimedOut) {
        self.driving_or_start().timed_out = true;
        self.count_timeout(timed_out);
    }

    /// Counts an attempt (or a hedged leg) that ran past its timeout, and
    /// says so to the listeners.
    #[cold]
    fn count_timeout(&self, timed_out: &TimedOut) {
        let meta = self.site.meta();
        let component = runtime().state_of(self.site.component());
        component.count_limit(meta.method, |counts| counts.timeouts += 1);
        component.env().emit(|| ReliabilityEvent::TimedOut {
            component: meta.component.to_owned(),
            instance: component.instance_owned(),
            method: meta.method.to_owned(),
            after: timed_out.after(),
        });
    }

    /// A hedge ran: `hedged` futures started beside the attempt, and
    /// whether one of them won (the others lost: they failed, or were
    /// dropped unfinished).
    #[cold]
    fn note_hedge(&mut self, hedged: usize, won_by_hedge: bool) {
        if hedged == 0 {
            return;
        }
        let won = u64::from(won_by_hedge);
        let lost = (hedged as u64).saturating_sub(won);
        let meta = self.site.meta();
        let component = runtime().state_of(self.site.component());
        component.count_limit(meta.method, |counts| {
            counts.hedges_won += won;
            counts.hedges_lost += lost;
        });
        component.env().emit(|| ReliabilityEvent::Hedged {
            component: meta.component.to_owned(),
            instance: component.instance_owned(),
            method: meta.method.to_owned(),
            hedged: u32::try_from(hedged).unwrap_or(u32::MAX),
            won_by_hedge,
        });
    }

    /// The hedge ran `tried` alternatives and all failed: the driver that
    /// takes the attempt's failure does not run them again.
    #[cold]
    fn note_alternatives_tried(&mut self, tried: u32) {
        let driving = self.driving_or_start();
        for _ in 0..tried {
            driving.driver.context.note_alternative();
        }
    }

    /// A failed attempt that produced no value for the caller: the last
    /// value stays the caller's, if the recovery ends here.
    #[cold]
    fn report_without_value(&mut self, text: String) {
        self.driving_or_start().timed_out = false;
        let verdict = Verdict(Some(Box::new(Failure {
            text,
            category: ErrorCategory::Timeout,
            retry_after: None,
        })));
        let next = self.drive(&verdict);
        if let Some(driving) = self.driving.as_mut() {
            driving.next = next;
        }
    }
}

/// How one leg of a hedge failed: with the method's error, or by running
/// past its timeout.
enum LegError<E> {
    Failed(E),
    TimedOut(TimedOut),
}

/// One leg of a hedge under its timeout: [`Timeout`]'s two layers of
/// `Result` as one, so that [`hedge`](crate::limit::hedge) sees a failure either
/// way. `Unpin` when the leg's future is, as the alternatives' boxes are.
struct Leg<'a, F>(Pin<Box<Timeout<'a, F>>>);

impl<'a, F: Future> Leg<'a, F> {
    /// The leg's timeout counts from now.
    fn new(component: &'static str, after: Duration, clock: &'a dyn Clock, future: F) -> Self {
        Leg(Box::pin(crate::recovery::timeout::timeout(
            component, after, clock, future,
        )))
    }
}

impl<T, E, F: Future<Output = Result<T, E>>> Future for Leg<'_, F> {
    type Output = Result<T, LegError<E>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.0.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(Ok(value))) => Poll::Ready(Ok(value)),
            Poll::Ready(Ok(Err(error))) => Poll::Ready(Err(LegError::Failed(error))),
            Poll::Ready(Err(timed_out)) => Poll::Ready(Err(LegError::TimedOut(timed_out))),
        }
    }
}

/// The method's recent 95th-percentile latency, once it has enough calls
/// for one (20: one in twenty is then slower).
fn recent_p95(site: &'static CallSite) -> Option<Duration> {
    let reading = site.read();
    let completed: u64 = reading.buckets.iter().sum();
    (completed >= 20).then(|| {
        Duration::from_nanos(crate::record::histogram::quantile(
            &reading.buckets,
            completed,
            0.95,
            reading.max_nanos,
        ))
    })
}
