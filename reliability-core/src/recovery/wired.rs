//! The attribute's `timeout`, `bulkhead`, `rate_limit` and `hedge`, wired
//! into one call's [`Recovery`]: admission before the first attempt (rate
//! limit, then bulkhead, then the circuit), the per-attempt timeout of an
//! `async fn`, hedging, and the value a refusal turns into.
//!
//! A method whose attribute sets none of them never reaches this file: the
//! expansion calls [`Recovery::new`] and writes no timeout.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::classify::refused::TimedOut;
use crate::classify::ErrorCategory;
use crate::record::call::Call;
use crate::record::site::CallSite;
use crate::recovery::bulkhead::BulkheadPermit;
use crate::recovery::driver::{Driver, Driving, Failure, Recovery, Verdict};
use crate::recovery::limits::{Limits, Refused, RejectReason};
use crate::runtime::events::ReliabilityEvent;
use crate::runtime::registry::runtime;

/// The per-attempt timeout of one call: `Copy`, so an attempt's future
/// does not borrow the call's [`Recovery`] across its `.await`.
#[doc(hidden)]
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    site: &'static CallSite,
    after: Duration,
}

impl Deadline {
    /// Runs `attempt` for at most the method's `timeout`, on the
    /// component's clock; its future is dropped when the time is up.
    pub async fn run<F: Future>(self, attempt: F) -> Result<F::Output, TimedOut> {
        let clock = runtime()
            .state_of(self.site.component())
            .env()
            .policy
            .clock();
        let component = self.site.meta().component;
        crate::recovery::timeout::timeout(component, self.after, &*clock, attempt).await
    }
}

impl<R> Recovery<R> {
    /// Starts a call's recovery behind its rate limit and bulkhead, each
    /// waiting up to its `max_wait` (a sync caller blocks its thread), then
    /// asks the circuit as [`Recovery::new`] does.
    pub fn admit(call: &Call) -> Self {
        let mut this = Recovery::unchecked(call);
        let state = runtime().state_of(this.site().component());
        let limits = this.limits();
        if let Some(config) = limits.rate_limit {
            let clock = state.env().policy.clock();
            if let Err(refused) = state.rate_limiter(&config).acquire(&*clock) {
                this.refuse(Refused::RateLimited(refused));
                return this;
            }
        }
        if let Some(config) = limits.bulkhead {
            match state.bulkhead(&config).acquire() {
                Ok(permit) => this.hold(permit),
                Err(full) => {
                    this.refuse(Refused::BulkheadFull(full));
                    return this;
                }
            }
        }
        this.check_circuit();
        this
    }

    /// [`Recovery::admit`] for an `async fn`: the waits are delays of the
    /// clock, which do not block the executor; a caller dropped while it
    /// waits gives its token and its place back.
    pub async fn admit_async(call: &Call) -> Self {
        let mut this = Recovery::unchecked(call);
        let state = runtime().state_of(this.site().component());
        let limits = this.limits();
        if let Some(config) = limits.rate_limit {
            let clock = state.env().policy.clock();
            let acquired = state.rate_limiter(&config).acquire_async(&*clock).await;
            if let Err(refused) = acquired {
                this.refuse(Refused::RateLimited(refused));
                return this;
            }
        }
        if let Some(config) = limits.bulkhead {
            let clock = state.env().policy.clock();
            let acquired = state.bulkhead(&config).acquire_async(&*clock).await;
            match acquired {
                Ok(permit) => this.hold(permit),
                Err(full) => {
                    this.refuse(Refused::BulkheadFull(full));
                    return this;
                }
            }
        }
        this.check_circuit();
        this
    }

    /// The attempt's timeout.
    #[inline]
    pub fn deadline(&self) -> Deadline {
        Deadline {
            site: self.site(),
            after: self.limits().timeout.unwrap_or(Duration::MAX),
        }
    }

    /// The attempt's value, or the error its timeout turns into.
    pub fn timed(&mut self, attempt: Result<R, TimedOut>) -> R
    where
        R: Refusable<TimedOut>,
    {
        match attempt {
            Ok(value) => value,
            Err(timed_out) => {
                self.note_timeout(&timed_out);
                R::refused(timed_out)
            }
        }
    }

    /// The attempt's value; `None` when it timed out, for a method with a
    /// fallback (the error type need not hold a `TimedOut`): the failure is
    /// reported without a value, and the fallback gives one.
    #[inline]
    pub fn timed_value(&mut self, attempt: Result<R, TimedOut>) -> Option<R> {
        match attempt {
            Ok(value) => Some(value),
            Err(timed_out) => {
                self.note_timeout(&timed_out);
                self.report_without_value(timed_out.to_string());
                None
            }
        }
    }
}

/// The parts of a call's recovery that only the limits use.
impl<R> Recovery<R> {
    pub(super) fn site(&self) -> &'static CallSite {
        self.site
    }

    pub(super) fn limits(&self) -> &'static Limits {
        &self.meta().limits
    }

    pub(super) fn hold(&mut self, permit: BulkheadPermit<'static>) {
        *self.permit = Some(permit);
    }

    /// The rate limit or the bulkhead refused the call.
    #[cold]
    #[inline(never)]
    pub(super) fn refuse(&mut self, refused: Refused) {
        let (reason, text) = match refused {
            Refused::RateLimited(e) => (RejectReason::RateLimited, e.to_string()),
            Refused::BulkheadFull(e) => (RejectReason::BulkheadFull, e.to_string()),
            Refused::CircuitOpen => (RejectReason::CircuitOpen, String::new()),
        };
        let (mut driver, now) = Driver::new(self.site, self.meta(), Duration::ZERO);
        let next = driver.refused(reason, text, now);
        let mut driving = Driving::new(driver, next);
        driving.refused = refused;
        *self.driving = Some(driving);
    }

    /// What refused the call, for the error of the `Reject` operation.
    #[inline]
    pub fn refusal(&self) -> Refused {
        self.driving
            .as_ref()
            .map_or(Refused::CircuitOpen, |driving| driving.refused)
    }

    /// An attempt ran past its timeout: counted, and its failure's category
    /// is `timeout` whatever the error type makes of it.
    #[cold]
    pub(super) fn note_timeout(&mut self, timed_out: &TimedOut) {
        self.driving_or_start().timed_out = true;
        let meta = self.site.meta();
        let component = runtime().state_of(self.site.component());
        component.count_limit(meta.method, |counts| counts.timeouts += 1);
        component.env().emit(|| ReliabilityEvent::TimedOut {
            component: meta.component.to_owned(),
            method: meta.method.to_owned(),
            after: timed_out.after(),
        });
    }

    /// Whether no attempt has been made yet but the first.
    #[inline]
    pub(super) fn is_first_attempt(&self) -> bool {
        self.driving.is_none()
    }

    /// A hedge ran: `hedged` futures started beside the attempt, and
    /// whether one of them won (the others lost: they failed, or were
    /// dropped unfinished).
    #[cold]
    pub(super) fn note_hedge(&mut self, hedged: usize, won_by_hedge: bool) {
        if hedged == 0 {
            return;
        }
        let won = u64::from(won_by_hedge);
        let lost = hedged as u64 - won;
        let meta = self.site.meta();
        let component = runtime().state_of(self.site.component());
        component.count_limit(meta.method, |counts| {
            counts.hedges_won += won;
            counts.hedges_lost += lost;
        });
        component.env().emit(|| ReliabilityEvent::Hedged {
            component: meta.component.to_owned(),
            method: meta.method.to_owned(),
            hedged: hedged as u32,
            won_by_hedge,
        });
    }

    /// The hedge ran `tried` alternatives and all failed: the driver that
    /// takes the attempt's failure does not run them again.
    #[cold]
    pub(super) fn note_alternatives_tried(&mut self, tried: u32) {
        let driving = self.driving_or_start();
        for _ in 0..tried {
            driving.driver.context.note_alternative();
        }
    }

    /// A failed attempt that produced no value for the caller: the last
    /// value stays the caller's, if the recovery ends here ([`Op::End`](crate::recovery::driver::Op::End)).
    #[cold]
    pub(super) fn report_without_value(&mut self, text: String) {
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
#[doc(hidden)]
#[inline]
pub fn refuse<X, R: Refusable<X>>(refusal: X) -> R {
    R::refused(refusal)
}

/// An alternative's future, as hedging runs it beside the attempt.
#[doc(hidden)]
pub type HedgeFuture<'a, R> = Pin<Box<dyn Future<Output = R> + Send + 'a>>;

/// An alternative's future, boxed for [`Recovery::hedge`].
#[doc(hidden)]
#[inline]
pub fn hedge_future<'a, R>(future: impl Future<Output = R> + Send + 'a) -> HedgeFuture<'a, R> {
    Box::pin(future)
}

impl<T, E> Recovery<Result<T, E>> {
    /// Runs the first attempt with the alternatives started beside it when
    /// it is slow (see [`hedge`](crate::hedge)): the first `Ok`, or, when
    /// all failed, the last error, with the alternatives counted as tried so
    /// that the chain goes on to the fallback or escalation.
    ///
    /// A later attempt (a retry), or one of a method with no p95 yet under
    /// `after = "p95"`, runs alone: its alternatives are not even made.
    pub async fn hedge<'a, F, A>(
        &mut self,
        first: F,
        alternatives: impl FnOnce() -> A,
    ) -> Result<T, E>
    where
        F: Future<Output = Result<T, E>>,
        A: IntoIterator<Item = HedgeFuture<'a, Result<T, E>>>,
    {
        let (Some(config), true) = (self.limits().hedge, self.is_first_attempt()) else {
            return first.await;
        };
        let site = self.site();
        let Some(after) = config.delay(recent_p95(site)) else {
            return first.await;
        };
        let state = runtime().state_of(site.component());
        let clock = state.env().policy.clock();
        let after = Some(after);
        // Steps of this call's recovery: their failures are theirs, not
        // more failures in a row of the component (see `Recovery::step`).
        let record = site.component();
        let alternatives: Vec<_> = alternatives()
            .into_iter()
            .map(|alternative| record.recovering_future(alternative))
            .collect();
        let count = alternatives.len();
        let outcome = crate::recovery::hedge::hedge(
            first,
            alternatives.into_iter(),
            after,
            config.max_extra() as usize,
            &*clock,
        )
        .await;
        self.note_hedge(outcome.hedged, outcome.won_by_hedge);
        let tried = outcome.started.saturating_sub(1).min(count);
        match outcome.winner {
            Some((_, value)) => Ok(value),
            None => {
                self.note_alternatives_tried(tried as u32);
                match outcome.errors.into_iter().last() {
                    Some(error) => Err(error),
                    // `hedge` ends with a winner or with every error.
                    None => unreachable!("reliability: a hedge ended without a value"),
                }
            }
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
