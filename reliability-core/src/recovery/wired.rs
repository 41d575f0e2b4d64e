//! The attribute's `timeout`, `bulkhead`, `rate_limit` and `hedge`, wired
//! into one call's [`Recovery`]: admission before the first attempt (rate
//! limit, then bulkhead, then the circuit), the per-attempt timeout of an
//! `async fn`, hedging, and the value a refusal turns into.
//!
//! A method whose attribute sets none of them never reaches this file: the
//! expansion calls [`Recovery::new`] and writes no timeout.

use std::future::Future;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::classify::refused::TimedOut;
use crate::classify::ErrorCategory;
use crate::record::call::Call;
use crate::record::clock::Clock;
use crate::record::clock_cell::ClockCell;
use crate::record::site::{CallSite, SiteMeta};
use crate::recovery::bulkhead::BulkheadPermit;
use crate::recovery::driver::{Driver, Driving, Failure, Recovery, Verdict};
use crate::recovery::limits::{LimitSlots, Limits, Refused, RejectReason};
use crate::recovery::rate_limit::RateLimiter;
use crate::recovery::timeout::Timeout;
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
            .current_clock();
        let component = self.site.meta().component;
        crate::recovery::timeout::timeout(component, self.after, clock, attempt).await
    }
}

/// What a call with limits took on their fast paths, right after reading
/// the clock: what [`Recovery::admit`] (or [`Recovery::admit_now`]) does
/// not take again. A bulkhead place in it is given back if it is dropped.
#[doc(hidden)]
#[derive(Debug)]
#[must_use = "dropping an admission gives its place back and refuses nothing"]
pub struct Admission(Taken);

#[derive(Debug)]
enum Taken {
    /// Every limit of the site let the call in; the bulkhead's place, if
    /// the component has one.
    All(Option<BulkheadPermit<'static>>),
    /// Not all: the rate limit's token is taken if `token` (or there is
    /// none), the rest is left to the whole paths.
    Part { token: bool },
}

impl Call {
    /// [`Call::start`] for a sync method with a `bulkhead` or a
    /// `rate_limit`, whose token and place are taken on their fast paths
    /// as soon as the clock is read, before the guard and the recovery are
    /// written: a compare-and-swap waits until every store before it has
    /// reached the cache, and with those stores ahead of it a call took
    /// 4 ns more (same-process A/B: two raw reads and one compare-and-swap
    /// after twelve stores, 38.4 ns; before them, 34.1 ns).
    #[inline(always)]
    pub fn start_admitted(site: &'static CallSite) -> (Call, Admission) {
        Call::start_then(site, true, |start| Admission(Taken::fast(site, start)))
    }

    /// [`Call::start_admitted`] for an `async fn` (see
    /// [`Recovery::admit_now`]).
    #[inline(always)]
    pub fn start_async_admitted(site: &'static CallSite) -> (Call, Admission) {
        Call::start_then(site, false, |start| Admission(Taken::fast(site, start)))
    }
}

impl Taken {
    #[inline(always)]
    fn fast(site: &'static CallSite, start: u64) -> Self {
        let Some(slots) = site.limit_slots().get() else {
            return Taken::Part { token: false };
        };
        if let Some(limiter) = slots.rate_limiter {
            if slots.clock.installed_clock().is_some() || !limiter.try_take_on_call_clock(start) {
                return Taken::Part { token: false };
            }
        }
        match slots.bulkhead {
            None => Taken::All(None),
            Some(bulkhead) => match bulkhead.try_acquire_unqueued() {
                Some(place) => Taken::All(Some(place)),
                None => Taken::Part { token: true },
            },
        }
    }
}

impl<R> Recovery<R> {
    /// A call's recovery before its admission: what
    /// [`admit`](Recovery::admit) then admits, in place.
    #[inline(always)]
    pub fn unadmitted(call: &Call) -> Self {
        Recovery::unchecked(call)
    }

    /// Admits the call behind its rate limit and bulkhead, each waiting up
    /// to its `max_wait` (a sync caller blocks its thread), then asks the
    /// circuit as [`Recovery::new`] does. `admission` is what
    /// [`Call::start_admitted`] already took.
    ///
    /// In place, inlined, with the limits' whole paths and every refusal
    /// out of line: a recovery made and admitted in one function and then
    /// moved into the caller's variable was copied with a `memcpy` of its
    /// 176 bytes (7 % of a bulkhead's success path in a profile).
    #[inline(always)]
    pub fn admit(&mut self, admission: Admission) {
        if self.admit_limits(admission) {
            self.check_circuit();
        }
    }

    /// [`admit`](Recovery::admit) for a method whose attribute has no
    /// `circuit_breaker`: the expansion knows, so the call does not load
    /// the site's configuration to find out (two dependent loads on every
    /// call).
    #[inline(always)]
    pub fn admit_without_circuit(&mut self, admission: Admission) {
        self.admit_limits(admission);
    }

    /// The rate limit, then the bulkhead: `false` if either refused.
    #[inline(always)]
    fn admit_limits(&mut self, admission: Admission) -> bool {
        match admission.0 {
            Taken::All(place) => {
                if let Some(place) = place {
                    self.hold(place);
                }
                true
            }
            Taken::Part { token } => self.admit_rest(token),
        }
    }

    /// What the fast paths did not take: the rate limit's token unless
    /// `token`, then the bulkhead's place, each waiting up to its
    /// `max_wait`; `false` if either refused. Also the first call of the
    /// site, which finds its limits.
    #[inline(never)]
    fn admit_rest(&mut self, token: bool) -> bool {
        let slots = self.limit_slots();
        if let Some(limiter) = slots.rate_limiter {
            if !token && !self.take_token(limiter, slots.clock) {
                return false;
            }
        }
        if let Some(bulkhead) = slots.bulkhead {
            match bulkhead.acquire() {
                Ok(permit) => self.hold(permit),
                Err(full) => {
                    self.refuse(Refused::BulkheadFull(full));
                    return false;
                }
            }
        }
        true
    }

    /// Takes a token of the rate limit, waiting for one up to its
    /// `max_wait`; `false` if the call is refused.
    #[inline(never)]
    fn take_token(&mut self, limiter: &RateLimiter, clocks: &ClockCell) -> bool {
        let acquired = match clocks.installed_clock() {
            None => limiter.acquire_on_call_clock(self.call_start()),
            Some(clock) => limiter.acquire(clock),
        };
        match acquired {
            Ok(()) => true,
            Err(refused) => {
                self.refuse(Refused::RateLimited(refused));
                false
            }
        }
    }

    /// [`admit`](Recovery::admit) for an `async fn`, as far as it goes
    /// without waiting: `None` once the call is admitted or refused,
    /// otherwise what [`admit_async`](Recovery::admit_async) must still
    /// take. Not itself a future: a call let in on the fast paths writes
    /// no future's state.
    #[inline(always)]
    pub fn admit_now(&mut self, admission: Admission) -> Option<Admission> {
        match admission.0 {
            Taken::All(place) => {
                if let Some(place) = place {
                    self.hold(place);
                }
                self.check_circuit();
                None
            }
            rest => Some(Admission(rest)),
        }
    }

    /// The rest of an `async fn`'s admission after
    /// [`admit_now`](Recovery::admit_now): the waits are delays of the
    /// clock, which do not block the executor; a caller dropped while it
    /// waits gives its token and its place back. Also the site's first
    /// call, which finds its limits.
    pub async fn admit_async(&mut self, rest: Admission) {
        let token = match rest.0 {
            Taken::Part { token } => token,
            all => {
                let _ = self.admit_now(Admission(all));
                return;
            }
        };
        let slots = self.limit_slots();
        if let (Some(limiter), false) = (slots.rate_limiter, token) {
            let acquired = match slots.clock.installed_clock() {
                None => limiter.acquire_async_on_call_clock(self.call_start()).await,
                Some(clock) => limiter.acquire_async(clock).await,
            };
            if let Err(refused) = acquired {
                self.refuse(Refused::RateLimited(refused));
                return;
            }
        }
        if let Some(bulkhead) = slots.bulkhead {
            // Uncontended, a place is taken without asking for the clock.
            let acquired = match bulkhead.try_acquire_unqueued() {
                Some(permit) => Ok(permit),
                None => bulkhead.acquire_async(slots.clock.current_clock()).await,
            };
            match acquired {
                Ok(permit) => self.hold(permit),
                Err(full) => {
                    self.refuse(Refused::BulkheadFull(full));
                    return;
                }
            }
        }
        self.check_circuit();
    }

    /// The component's bulkhead and rate limiter, through the site's slot:
    /// a load once it is set. Borrowed, not copied: the copy to the stack
    /// and the load of its rate-limit field right after were a
    /// store-forwarding stall (6 % of a bulkhead call's samples).
    #[inline]
    fn limit_slots(&self) -> &'static LimitSlots {
        match self.site.limit_slots().get() {
            Some(slots) => slots,
            None => self.find_limits(),
        }
    }

    #[cold]
    #[inline(never)]
    fn find_limits(&self) -> &'static LimitSlots {
        let (site, limits) = (self.site(), self.limits());
        site.limit_slots().get_or_init(|| {
            let state = runtime().state_of(site.component());
            let slots = LimitSlots {
                bulkhead: limits.bulkhead.map(|config| state.bulkhead(&config)),
                rate_limiter: limits.rate_limit.map(|config| state.rate_limiter(&config)),
                clock: state.env().policy.clock_cell(),
            };
            // Methods of one impl are checked at compile time; those of
            // different impls of one component only here, once per site.
            let meta = site.meta();
            if let (Some(ours), Some(bulkhead)) = (limits.bulkhead, slots.bulkhead) {
                if bulkhead.config() != ours {
                    warn_limit_ignored(meta, "bulkhead", &bulkhead.config(), &ours);
                }
            }
            if let (Some(ours), Some(limiter)) = (limits.rate_limit, slots.rate_limiter) {
                if limiter.config() != ours {
                    warn_limit_ignored(meta, "rate_limit", &limiter.config(), &ours);
                }
            }
            slots
        })
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
        // Set, not assigned through: the slot is empty, and its drop glue
        // would be inlined on every admission for nothing.
        self.permit = ManuallyDrop::new(Some(permit));
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
        self.count_timeout(timed_out);
    }

    /// Counts an attempt (or a hedged leg) that ran past its timeout, and
    /// says so to the listeners.
    #[cold]
    pub(super) fn count_timeout(&self, timed_out: &TimedOut) {
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
            instance: component.instance_owned(),
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

/// A method's `bulkhead` or `rate_limit` differs from the one its
/// component already has (made from another method's settings): said once
/// per method, as this method's settings are ignored.
#[cold]
fn warn_limit_ignored(
    meta: &SiteMeta,
    limit: &str,
    kept: &dyn std::fmt::Debug,
    ignored: &dyn std::fmt::Debug,
) {
    tracing::warn!(
        target: "reliability",
        component = meta.component,
        method = meta.method,
        limit,
        kept = ?kept,
        ignored = ?ignored,
        "the `{limit}` of `{}::{}` differs from the one its component has, made from \
         another method's settings: this method's are ignored; give the component's \
         methods the same settings",
        meta.component,
        meta.method,
    );
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
    /// it is slow (see [`hedge`](crate::limit::hedge)): the first `Ok`, or, when
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
        match self.hedge_legs(first, alternatives, Duration::MAX).await {
            Ok(result) => result,
            // A leg without a timeout never times out.
            Err(_) => unreachable!("reliability: a hedge without a timeout timed out"),
        }
    }

    /// [`hedge`](Self::hedge) with the method's `timeout` on each leg: the
    /// attempt and each alternative get the whole timeout from when they
    /// start. A leg that runs past it is dropped and fails as a timeout (and,
    /// if it was a hedge, as a lost one); the first `Ok` still wins. When
    /// every leg failed and the last to fail timed out, the outcome is that
    /// [`TimedOut`], for [`timed`](Recovery::timed) or
    /// [`timed_out`](Recovery::timed_out), which count it; every other
    /// timed-out leg is counted here.
    pub async fn hedge_timed<'a, F, A>(
        &mut self,
        first: F,
        alternatives: impl FnOnce() -> A,
    ) -> Result<Result<T, E>, TimedOut>
    where
        F: Future<Output = Result<T, E>>,
        A: IntoIterator<Item = HedgeFuture<'a, Result<T, E>>>,
    {
        let after = self.limits().timeout.unwrap_or(Duration::MAX);
        self.hedge_legs(first, alternatives, after).await
    }

    /// The hedge, each leg under a timeout of `timeout` (`Duration::MAX`:
    /// none).
    async fn hedge_legs<'a, F, A>(
        &mut self,
        first: F,
        alternatives: impl FnOnce() -> A,
        timeout: Duration,
    ) -> Result<Result<T, E>, TimedOut>
    where
        F: Future<Output = Result<T, E>>,
        A: IntoIterator<Item = HedgeFuture<'a, Result<T, E>>>,
    {
        let site = self.site();
        let hedged = match (self.limits().hedge, self.is_first_attempt()) {
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
            return match Leg::new(component, timeout, clock, first).await {
                Ok(value) => Ok(Ok(value)),
                Err(LegError::Failed(error)) => Ok(Err(error)),
                Err(LegError::TimedOut(timed_out)) => Err(timed_out),
            };
        };
        // Steps of this call's recovery: their failures are theirs, not
        // more failures in a row of the component (see `Recovery::step`).
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
        let outcome =
            crate::recovery::hedge::hedge(first, next, Some(after), max_extra, clock).await;
        self.note_hedge(outcome.hedged, outcome.won_by_hedge);
        let tried = outcome.started.saturating_sub(1).min(count);
        if let Some((_, value)) = outcome.winner {
            for error in &outcome.errors {
                if let LegError::TimedOut(timed_out) = error {
                    self.count_timeout(timed_out);
                }
            }
            return Ok(Ok(value));
        }
        self.note_alternatives_tried(tried as u32);
        let mut errors = outcome.errors;
        let last = errors.pop();
        for error in &errors {
            if let LegError::TimedOut(timed_out) = error {
                self.count_timeout(timed_out);
            }
        }
        match last {
            Some(LegError::Failed(error)) => Ok(Err(error)),
            Some(LegError::TimedOut(timed_out)) => Err(timed_out),
            // `hedge` ends with a winner or with every error.
            None => unreachable!("reliability: a hedge ended without a value"),
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
struct Leg<'a, F>(Timeout<'a, F>);

impl<'a, F: Future> Leg<'a, F> {
    /// The leg's timeout counts from now.
    fn new(component: &'static str, after: Duration, clock: &'a dyn Clock, future: F) -> Self {
        Leg(crate::recovery::timeout::timeout(
            component, after, clock, future,
        ))
    }
}

impl<T, E, F: Future<Output = Result<T, E>>> Future for Leg<'_, F> {
    type Output = Result<T, LegError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: the only field is pinned with `Leg`: it is never moved out,
        // and `Leg` has no `Drop` impl.
        let timed = unsafe { self.map_unchecked_mut(|leg| &mut leg.0) };
        match timed.poll(cx) {
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
