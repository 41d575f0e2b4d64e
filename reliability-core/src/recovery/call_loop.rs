//! One call's recovery as the method's loop sees it: [`Recovery`] (made
//! by `new`, asked for the next `op`, told each value by `report`, and
//! ended by `finish`), the boxed driving state made on the first failure,
//! and the helpers the loop calls for an argument and a refusal.

use std::future::Future;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::time::Duration;

use crate::classify::ErrorCategory;
use crate::record::call::Call;
use crate::record::registry::Recovering;
use crate::record::site::CallSite;
use crate::recovery::bulkhead::BulkheadPermit;
use crate::recovery::circuit::{CircuitBreaker, CircuitState};
use crate::recovery::driver::{Driver, Next, Op};
use crate::recovery::limits::{Limits, Refused};
use crate::recovery::strategy::{RecoveryMeta, Strategy, StrategyConfig};
use crate::recovery::verdict::Verdict;
use crate::runtime::registry::runtime;

/// One call's recovery, driven by a loop in the method's own body:
///
/// ```text
/// let call = start!(…);                          // the call site and the timed call
/// let mut recovery = Recovery::with_circuit(&call); // with a circuit breaker: one load of its state
/// let ended = loop {
///     if recovery.waiting() {                    // only after a failure: sit out the backoff
///         if let Some(ended) = recovery.sleep() { break ended }   // `.delay().await` when async
///     }
///     let value = match recovery.op() {
///         Op::Attempt => /* the body */,
///         Op::Repair => {
///             let repair = /* the repair method */;
///             if let Some(ended) = recovery.repaired(judge!(repair)) { break ended }
///             continue
///         }
///         Op::Alternative(0) => /* an alternative */,
///         Op::Fallback => /* the fallback */,
///         _ => reject(component),                // an open circuit's error
///     };
///     if let Some(ended) = recovery.report(judge!(value), value) { break ended }
/// };
/// recovery.finish(&mut call, ended)             // async: finish_in_place(&call, ended)
/// ```
///
/// The loop is in the method itself, not in a closure, so the body can use
/// `&mut self` on every attempt and an async method's future stays `Send`.
///
/// Recovery costs nothing until an attempt fails: the first attempt runs
/// like a method without recovery (with a circuit breaker, after one check
/// that it is closed), its value stays in the method's own locals, and
/// `report` of a success is a test and a `break`. The driver, its clock
/// readings and the recovery session are made only when the first attempt
/// fails, or when the circuit is not closed.
#[doc(hidden)]
pub struct Recovery<R> {
    pub(super) site: &'static CallSite,
    /// The component's breaker, when the method has one and it was closed
    /// at the start: the first attempt's success is counted there.
    breaker: Option<&'static CircuitBreaker>,
    /// When the call started, in call-clock ticks: what the first attempt took
    /// counts toward `max_elapsed` once a driver is made.
    call_start: u64,
    /// Everything recovery needs once it runs; `None` on the success path.
    /// (Both slots are emptied by hand, see `Drop`.)
    pub(super) driving: ManuallyDrop<Option<Box<Driving<R>>>>,
    /// The bulkhead place this call holds until it ends (dropped with the
    /// recovery: on return, panic or cancellation alike).
    pub(super) permit: ManuallyDrop<Option<BulkheadPermit<'static>>>,
}

impl<R> Drop for Recovery<R> {
    #[inline(always)]
    fn drop(&mut self) {
        self.empty_slots();
    }
}

/// A call's recovery once it runs: the driver, what it asked for, and the
/// last value an operation produced (the caller's, if the recovery ends
/// without another).
pub(super) struct Driving<R> {
    pub(super) driver: Driver,
    pub(super) next: Next,
    last: Option<Ended<R>>,
    /// What refused the call, when the next operation is `Reject`.
    pub(super) refused: Refused,
    /// The value reported next is a timed-out attempt's.
    pub(super) timed_out: bool,
}

impl<R> Driving<R> {
    pub(super) fn new(driver: Driver, next: Next) -> Box<Self> {
        Box::new(Driving {
            driver,
            next,
            last: None,
            refused: Refused::CircuitOpen,
            timed_out: false,
        })
    }

    /// The operation asked for (the one whose value is reported next).
    fn current(&self) -> Op {
        match self.next {
            Next::Run(op) => op,
            Next::Done => Op::End,
            Next::Wait(_) => Op::Reject,
        }
    }

    /// The next operation, after sleeping out a backoff (an async call has
    /// awaited [`Recovery::delay`] first, so it never sleeps here).
    #[inline(never)]
    fn next_op(&mut self) -> Op {
        while let Next::Wait(delay) = self.next {
            self.driver.clock.sleep(delay);
            self.next = self.driver.after_wait(delay);
        }
        self.current()
    }
}

/// The value a call ends with, and how it went.
#[doc(hidden)]
pub struct Ended<R> {
    value: R,
    verdict: Verdict,
}

impl<R> std::fmt::Debug for Ended<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ended")
            .field("success", &self.verdict.is_success())
            .finish_non_exhaustive()
    }
}

impl<R> std::fmt::Debug for Recovery<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recovery")
            .field("site", self.site)
            .field("driving", &self.driving.is_some())
            .finish_non_exhaustive()
    }
}

/// The recovery of a call site whose attribute configured none: no strategy.
static NO_RECOVERY: RecoveryMeta = RecoveryMeta {
    config: StrategyConfig::new(),
    repair: None,
    alternatives: &[],
    fallback: None,
    budget: None,
    limits: Limits::new(),
};

/// What the attribute of `site` configured.
#[inline(always)]
fn meta_of(site: &'static CallSite) -> &'static RecoveryMeta {
    site.meta().recovery.unwrap_or(&NO_RECOVERY)
}

/// The component's breaker, through the site's slot: a load once it is set.
#[inline(always)]
fn breaker_of(site: &'static CallSite) -> &'static CircuitBreaker {
    match site.breaker_slot().get() {
        Some(breaker) => breaker,
        None => find_breaker(site),
    }
}

#[cold]
#[inline(never)]
fn find_breaker(site: &'static CallSite) -> &'static CircuitBreaker {
    let config = meta_of(site).config.circuit();
    site.breaker_slot()
        .get_or_init(|| runtime().state_of(site.component()).breaker(&config))
}

impl<R> Recovery<R> {
    /// Starts a call's recovery. Without a circuit breaker, or with a closed
    /// one (one load of its state), the first attempt runs on the plain
    /// path; an open or half-open circuit makes the driver at once, which
    /// grants a probe or refuses the call.
    ///
    /// Built in one expression, in place: filling it in field by field and
    /// then moving it cost a store-forwarding stall on every call (15 % of
    /// the samples of the success path with the full strategy list).
    #[inline(always)]
    pub fn new(call: &Call) -> Self {
        if meta_of(call.site())
            .config
            .strategies()
            .contains(Strategy::CircuitBreaker)
        {
            Recovery::with_circuit(call)
        } else {
            Recovery::unchecked(call)
        }
    }

    /// [`new`](Self::new) for a method whose attribute has
    /// `circuit_breaker`: the expansion knows, so the call goes straight to
    /// the breaker through the site's slot, without loading the site's
    /// configuration to find out: two dependent loads (two cache lines of
    /// the configuration) fewer ahead of the state's. They held 10 % of the
    /// samples of the method in `call/reliable_recovery`, but with every
    /// line in L1 the bench gains under 0.1 ns: the saving is the lines a
    /// program whose configuration is not cached does not fetch.
    #[inline(always)]
    pub fn with_circuit(call: &Call) -> Self {
        let breaker = breaker_of(call.site());
        if breaker.state() != CircuitState::Closed {
            return Recovery::from_the_start(call);
        }
        Recovery {
            site: call.site(),
            breaker: Some(breaker),
            call_start: call.started(),
            driving: ManuallyDrop::new(None),
            permit: ManuallyDrop::new(None),
        }
    }

    /// [`new`](Self::new) for a method whose attribute has no
    /// `circuit_breaker`: the expansion knows, so the call does not load
    /// the site's configuration to find out (two dependent loads, about
    /// 15 % of the samples of `limits/recovery`'s method).
    #[inline(always)]
    pub fn without_circuit(call: &Call) -> Self {
        Recovery::unchecked(call)
    }

    /// The recovery of a call whose circuit is not closed: the driver is
    /// made at once and grants a probe or refuses the call.
    #[cold]
    #[inline(never)]
    fn from_the_start(call: &Call) -> Self {
        let mut this = Recovery::unchecked(call);
        this.drive_from_the_start();
        this
    }

    /// The recovery before any check of the circuit or the limits.
    #[inline(always)]
    pub(super) fn unchecked(call: &Call) -> Self {
        Recovery {
            site: call.site(),
            breaker: None,
            call_start: call.started(),
            driving: ManuallyDrop::new(None),
            permit: ManuallyDrop::new(None),
        }
    }

    /// When the call started, in call-clock ticks.
    #[inline(always)]
    pub(super) fn call_start(&self) -> u64 {
        self.call_start
    }

    /// What the attribute configured.
    #[inline(always)]
    pub(super) fn meta(&self) -> &'static RecoveryMeta {
        meta_of(self.site)
    }

    /// An open or half-open circuit makes the driver, which grants a probe
    /// or refuses the call.
    pub(super) fn check_circuit(&mut self) {
        let strategies = self.meta().config.strategies();
        if strategies.contains(Strategy::CircuitBreaker) {
            let breaker = breaker_of(self.site);
            if breaker.state() == CircuitState::Closed {
                self.breaker = Some(breaker);
            } else {
                self.drive_from_the_start();
            }
        }
    }

    /// Runs a step of this call's recovery that calls another method of the
    /// component (the repair method, an alternative, the fallback): its
    /// failure is that method's, not another failure in a row of the
    /// component, which counts this call once, when it ends.
    #[inline]
    pub fn step<T>(&self, call: impl FnOnce() -> T) -> T {
        self.site.component().recovering(call)
    }

    /// [`step`](Self::step) for an async method's future.
    #[inline]
    pub fn step_async<F: std::future::Future>(&self, future: F) -> Recovering<F> {
        self.site.component().recovering_future(future)
    }

    /// How long the call has run so far.
    fn took(&self) -> Duration {
        Duration::from_nanos(crate::record::clock::nanos_since(self.call_start))
    }

    #[cold]
    #[inline(never)]
    fn drive_from_the_start(&mut self) {
        let (mut driver, now) = Driver::new(self.site, self.meta(), Duration::ZERO);
        let next = driver.admit(None, Duration::ZERO, now);
        *self.driving = Some(Driving::new(driver, next));
    }

    /// The recovery's driving state, made now if the first attempt is
    /// still under way (as if the driver had admitted it).
    pub(super) fn driving_or_start(&mut self) -> &mut Driving<R> {
        let (site, meta) = (self.site, self.meta());
        let took = self.took();
        self.driving.get_or_insert_with(|| {
            let (driver, _) = Driver::new(site, meta, took);
            Driving::new(driver, Next::Run(Op::Attempt))
        })
    }

    /// A first attempt that succeeded with the circuit closed: counted by
    /// the circuit without reading the clock (it is read only if this
    /// success still leaves the failure rate over the limit).
    #[inline(always)]
    fn circuit_success(&self, breaker: &'static CircuitBreaker) {
        let site = self.site;
        let now = || {
            runtime()
                .state_of(site.component())
                .env()
                .policy
                .clock()
                .now()
        };
        breaker.record_normal_success(now, |state| {
            runtime().state_of(site.component()).circuit_changed(state)
        });
    }

    /// Whether a backoff is to be waited out before the next operation:
    /// never before the first attempt fails.
    #[inline(always)]
    pub fn waiting(&self) -> bool {
        matches!(&*self.driving, Some(driving) if matches!(driving.next, Next::Wait(_)))
    }

    /// Waits out the backoff of an async call without blocking the thread:
    /// a delay of the clock, awaited.
    ///
    /// Boxed, and made only while a backoff is pending: the method's own
    /// future then keeps a pointer for it rather than the wait's state,
    /// which every call of the method would carry and move.
    pub fn delay(&mut self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        let waiting = self.driving.as_mut().map(|driving| {
            let Driving { driver, next, .. } = &mut **driving;
            (driver, next)
        });
        Box::pin(async move {
            let Some((driver, next)) = waiting else {
                return;
            };
            while let Next::Wait(delay) = *next {
                let wait = driver.clock.delay(delay);
                if wait.is_unavailable() {
                    // Retrying at once would hammer the component, and
                    // waiting would never end: the recovery fails.
                    *next = driver.no_timer();
                    break;
                }
                wait.await;
                *next = driver.after_wait(delay);
            }
        })
    }

    /// The operation to perform: the attempt until recovery runs. A sync
    /// call sleeps out a backoff here.
    #[inline(always)]
    pub fn op(&mut self) -> Op {
        match &mut *self.driving {
            None => Op::Attempt,
            Some(driving) => driving.next_op(),
        }
    }

    /// The last value, for the caller: the recovery ended without another
    /// ([`Op::End`]).
    #[cold]
    pub fn ended(&mut self) -> Ended<R> {
        match self
            .driving
            .as_mut()
            .and_then(|driving| driving.last.take())
        {
            Some(ended) => ended,
            // The driver ends only after a value: the first operation always
            // produces one (an attempt, the fallback, or the rejection).
            None => unreachable!("reliability: recovery ended without a value"),
        }
    }

    /// The value the operation produced, and how it went: the call's end
    /// when nothing follows it.
    #[inline(always)]
    pub fn report(&mut self, verdict: Verdict, value: R) -> Option<Ended<R>> {
        if self.driving.is_none() && verdict.is_success() {
            if let Some(breaker) = self.breaker {
                self.circuit_success(breaker);
            }
            return Some(Ended { value, verdict });
        }
        self.report_to_driver(verdict, value)
    }

    /// The value of the one operation of a call that cannot run again
    /// (no retry, repair, alternative or fallback is configured): the
    /// call's end, whatever it was. Inlined: out of line, the call to it
    /// held 6 % of the samples of `limits/recovery`.
    #[inline(always)]
    pub fn report_once(&mut self, verdict: Verdict, value: R) -> Ended<R> {
        match self.report(verdict, value) {
            Some(ended) => ended,
            // Without anything to run again, the driver ends after the
            // first value: the attempt's, or the refusal's.
            None => unreachable!("reliability: a recovery without re-runs asked for another run"),
        }
    }

    /// A failure, or a value while recovery runs: the driver decides.
    #[cold]
    #[inline(never)]
    fn report_to_driver(&mut self, mut verdict: Verdict, value: R) -> Option<Ended<R>> {
        if let Some(driving) = self.driving.as_mut().filter(|driving| driving.timed_out) {
            driving.timed_out = false;
            if let Some(failure) = &mut verdict.0 {
                failure.category = ErrorCategory::Timeout;
            }
        }
        let next = self.drive(&verdict);
        let ended = Ended { value, verdict };
        match (&mut *self.driving, next) {
            (Some(driving), Next::Run(_) | Next::Wait(_)) => {
                driving.next = next;
                driving.last = Some(ended);
                None
            }
            _ => Some(ended),
        }
    }

    /// Hands the value of the pending operation to the driver, made now if
    /// this is the first attempt's failure (one clock reading for both).
    pub(super) fn drive(&mut self, verdict: &Verdict) -> Next {
        match &mut *self.driving {
            Some(driving) => {
                let op = driving.current();
                driving.driver.after_value(op, verdict)
            }
            None => {
                let (mut driver, now) = Driver::new(self.site, self.meta(), self.took());
                let next = driver.after_value_at(Op::Attempt, verdict, now);
                *self.driving = Some(Driving::new(driver, next));
                next
            }
        }
    }

    /// How the repair method went.
    pub fn repaired(&mut self, verdict: Verdict) {
        if let Some(driving) = self.driving.as_mut() {
            driving.next = driving.driver.after_repair(&verdict);
        }
    }

    /// Drops what the slots hold: the driving state (a probe still
    /// outstanding counts as failed), then the bulkhead place.
    #[cold]
    #[inline(never)]
    fn drop_slots(&mut self) {
        drop(self.driving.take());
        drop(self.permit.take());
    }

    /// Two tests when both slots are empty, inlined: the drop glue of the
    /// boxed driving state (the driver, the session, the last value) is
    /// not, and a call to it on every success showed in profiles.
    #[inline(always)]
    fn empty_slots(&mut self) {
        if self.driving.is_some() || self.permit.is_some() {
            self.drop_slots();
        }
    }

    /// A success's bulkhead place, given back inline (a plain store and a
    /// load, where the out-of-line `drop_slots` cost more than both). Only
    /// methods with limits call this: inlined into `Drop`, the same code
    /// cost every method with a recovery loop 1 ns (same-process A/B).
    #[inline(always)]
    fn leave_bulkhead(&mut self) {
        if self.driving.is_none() && self.permit.is_some() {
            drop(self.permit.take());
        }
    }

    /// The value for the caller, with the call reported as it ended: the
    /// guard is reported where it lies (see [`Call::finish_in_frame`]), not
    /// moved in.
    ///
    /// By reference: taking the recovery by value, to empty its slots here
    /// and forget it, moved it out of the frame first, and the move right
    /// after the loop's stores cost `call/reliable_recovery` 4 ns
    /// (same-process A/B).
    #[inline(always)]
    pub fn finish(&self, call: &mut Call, ended: Ended<R>) -> R {
        call.finish_in_frame(ended.verdict.observed());
        ended.value
    }

    /// [`finish`](Self::finish) for an async call: the guard is reported
    /// where it lies in the method's future (see [`Call::finish_in_place`]),
    /// and its drop then only loads one flag.
    ///
    /// Moving the 32-byte guard out of the future into `finish`, right after
    /// the poll stored its one-byte flags, was a store-forwarding stall:
    /// 19 % of the samples of `async/reliable_recovery`, on the load of the
    /// copy.
    #[inline(always)]
    pub fn finish_in_place(&self, call: &Call, ended: Ended<R>) -> R {
        call.finish_in_place(ended.verdict.observed());
        ended.value
    }

    /// [`finish`](Self::finish) for a sync method with a `bulkhead` or a
    /// `rate_limit`: a success gives its place back here, inline, and
    /// every slot is left empty, so the expansion then forgets the
    /// recovery, whose drop re-read both slots after the leave's compiler
    /// fence (same-process A/B: a rate-limited call 42.1 to 41.7 ns, a
    /// bulkhead's 43.5 to 43.6 ns, both less than moving code alone can
    /// change them).
    #[inline(always)]
    pub fn finish_admitted(&mut self, call: &mut Call, ended: Ended<R>) -> R {
        call.finish_in_frame(ended.verdict.observed());
        if self.driving.is_none() {
            if let Some(place) = self.permit.take() {
                drop(place);
            }
        } else {
            self.drop_slots();
        }
        ended.value
    }

    /// [`finish_in_place`](Self::finish_in_place) for an `async fn` with a
    /// `bulkhead` or a `rate_limit`.
    #[inline(always)]
    pub fn finish_in_place_admitted(&mut self, call: &Call, ended: Ended<R>) -> R {
        call.finish_in_place(ended.verdict.observed());
        self.leave_bulkhead();
        ended.value
    }
}

/// A method argument that recovery passes again on each attempt.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` must be `Clone`: recovery passes this argument again on every retry, alternative and fallback",
    label = "not `Clone`",
    note = "add `#[reliable(no_recovery)]` to the method to keep the instrumentation without recovery"
)]
pub trait RerunArgument {
    /// A copy for the next attempt.
    fn again(&self) -> Self;
}

impl<T: Clone> RerunArgument for T {
    #[inline(always)]
    fn again(&self) -> Self {
        self.clone()
    }
}

/// The argument again, for another attempt.
#[doc(hidden)]
#[inline(always)]
pub fn rerun_arg<T: RerunArgument>(value: &T) -> T {
    value.again()
}

/// A `Result` whose error an open circuit can produce.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`circuit_breaker` without a `fallback` needs the error type to implement `From<reliability_core::CircuitOpen>`",
    label = "an open circuit returns an error built from `CircuitOpen`",
    note = "add a variant holding `CircuitOpen` with a `From` impl, or configure a `fallback`"
)]
pub trait Rejectable {
    /// The value an open circuit returns.
    fn rejected(component: &'static str) -> Self;
}

impl<T, E: From<crate::classify::refused::CircuitOpen>> Rejectable for Result<T, E> {
    fn rejected(component: &'static str) -> Self {
        Err(E::from(crate::classify::refused::CircuitOpen::new(
            component,
        )))
    }
}

/// The error an open circuit returns for `component`.
#[doc(hidden)]
pub fn reject<R: Rejectable>(component: &'static str) -> R {
    R::rejected(component)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::site::SiteMeta;

    #[test]
    fn an_async_recovery_finished_in_place_is_one_success_and_its_drops_report_nothing() {
        static META: SiteMeta = SiteMeta {
            component: "call_loop_tests_in_place",
            method: "m",
            thresholds: None,
            recovery: None,
            may_cancel: true,
        };
        static SITE: CallSite = CallSite::new(&META);
        let call = Call::start_async(&SITE);
        let mut recovery = Recovery::new(&call);
        assert!(matches!(recovery.op(), Op::Attempt));
        let ended = match recovery.report(Verdict(None), 7) {
            Some(ended) => ended,
            None => panic!("a first success ends the call"),
        };
        assert_eq!(recovery.finish_in_place(&call, ended), 7);
        drop(recovery);
        drop(call);
        let reading = SITE.read();
        let counts = (
            reading.successes,
            reading.failures,
            reading.panics,
            reading.cancelled,
        );
        assert_eq!(counts, (1, 0, 0, 0));
    }
}
