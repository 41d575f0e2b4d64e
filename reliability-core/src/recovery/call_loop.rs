//! One call's recovery as the method's loop sees it: [`Recovery`], the
//! boxed driving state made on the first failure, and the helpers the loop
//! calls for a step, an argument and a refusal.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::classify::ErrorCategory;
use crate::record::call::Call;
use crate::record::registry::Recovering;
use crate::record::site::CallSite;
use crate::recovery::driver::{Driver, Next, Op};
use crate::recovery::limit::{admits, Caller, Gates, Permits};
use crate::recovery::limits::{Limits, Refused};
use crate::recovery::strategy::{RecoveryMeta, StrategyConfig};
use crate::recovery::verdict::Verdict;

/// One call's recovery, driven by a loop in the method's own body (the
/// expansion of one example is `docs/ARCHITECTURE.md`'s "The path of one
/// call", checked against the macro's snapshot test):
///
/// ```text
/// let call = start!(…);                        // the call site and the timed call
/// let mut recovery = Recovery::new(&call);     // reads the site's description: nothing taken yet
/// let ended = loop {                           // async: `recovery.wait().await` first
///     let value;
///     match recovery.op() {                    // sync: admission and backoff wait here
///         Op::Attempt => value = /* the body */,
///         Op::Fallback => value = step(&recovery, || /* the fallback */),
///         Op::Refused(refused) => value = /* the refusal as the error type */,
///         _ => break recovery.ended(),         // ended without another value: the last one
///     }
///     if let Some(ended) = recovery.report(judge!(value), value) { break ended }
/// };
/// recovery.finish(&call, ended)
/// ```
///
/// The loop is in the method itself, not in a closure, so the body can use
/// `&mut self` on every attempt and an async method's future stays `Send`.
///
/// Everything that differs between methods is in the site's
/// [`RecoveryMeta`]: which limits the call passes, which strategies run,
/// their settings. Recovery costs nothing until an attempt fails: the first
/// attempt runs after the limits' fast paths, its value stays in the
/// method's own locals, and `report` of a success is a test and a `break`.
/// The driver, its clock readings and the recovery session are made only
/// when the first attempt fails or a limit refuses the call.
#[doc(hidden)]
pub struct Recovery<R> {
    pub(crate) site: &'static CallSite,
    /// When the call started, in call-clock ticks: what the first attempt took
    /// counts toward `max_elapsed` once a driver is made.
    call_start: u64,
    /// The call has its limits still to pass, before its first attempt
    /// (or, async, a refusal from its wait still to act on).
    admitting: bool,
    /// What refused an async call while it waited for its limits.
    refused_waiting: Option<Refused>,
    /// Everything recovery needs once it runs; `None` on the success path.
    /// Dropped before the places: a step still running ends first.
    pub(super) driving: Option<Box<Driving<R>>>,
    /// The places this call holds until it ends (dropped with the recovery:
    /// on return, panic or cancellation alike).
    permits: Permits,
}

/// A wait of an async call for its limits or its backoff, boxed.
type WaitFor<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// What [`Recovery::wait`] awaits: nothing (ready at its first poll), or
/// the boxed wait for the call's limits or its backoff.
#[doc(hidden)]
#[must_use = "a wait does nothing unless awaited"]
pub struct Wait<'a>(Option<WaitFor<'a>>);

impl Future for Wait<'_> {
    type Output = ();

    #[inline(always)]
    fn poll(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        match &mut self.0 {
            None => std::task::Poll::Ready(()),
            Some(wait) => wait.as_mut().poll(cx),
        }
    }
}

impl std::fmt::Debug for Wait<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Wait").field(&self.0.is_some()).finish()
    }
}

/// A call's recovery once it runs: the driver, what it asked for, and the
/// last value an operation produced (the caller's, if the recovery ends
/// without another).
pub(super) struct Driving<R> {
    pub(super) driver: Driver,
    pub(super) next: Next,
    last: Option<Ended<R>>,
    /// The value reported next is a timed-out attempt's.
    pub(super) timed_out: bool,
}

impl<R> Driving<R> {
    fn new(driver: Driver, next: Next) -> Box<Self> {
        Box::new(Driving {
            driver,
            next,
            last: None,
            timed_out: false,
        })
    }

    /// The operation asked for (the one whose value is reported next).
    fn current(&self) -> Op {
        match self.next {
            Next::Run(op) => op,
            Next::Done | Next::Wait(_) => Op::End,
        }
    }

    /// The next operation, after sleeping out a backoff (an async call has
    /// awaited [`Recovery::wait`] first, so it never sleeps here).
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
pub(crate) fn meta_of(site: &'static CallSite) -> &'static RecoveryMeta {
    site.meta().recovery.unwrap_or(&NO_RECOVERY)
}

impl<R> Recovery<R> {
    /// Starts a call's recovery: nothing is taken yet; the first
    /// [`op`](Self::op) (sync) or [`wait`](Self::wait) (async) passes the
    /// limits the site's description names.
    #[inline(always)]
    pub fn new(call: &Call) -> Self {
        let site = call.site();
        Recovery {
            site,
            call_start: call.started(),
            admitting: admits(meta_of(site)),
            refused_waiting: None,
            driving: None,
            permits: Permits::default(),
        }
    }

    /// The operation to perform: the attempt until recovery runs. A sync
    /// call passes its limits and sleeps out a backoff here, blocking its
    /// thread.
    #[inline(always)]
    pub fn op(&mut self) -> Op {
        if self.admitting {
            self.admitting = false;
            let admitted = match self.refused_waiting.take() {
                Some(refused) => Err(refused),
                None => Gates::of(self.site, self.meta()).admit(self.caller(), &mut self.permits),
            };
            if let Err(refused) = admitted {
                self.refuse(refused);
            }
        }
        match &mut self.driving {
            None => Op::Attempt,
            Some(driving) => driving.next_op(),
        }
    }

    /// What an async call must wait for before its next operation, ready at
    /// once when there is nothing: its limits before the first attempt, when their fast paths
    /// did not let it in, and a backoff after a failure. Boxed and made only
    /// then, so the method's future keeps a pointer for it rather than the
    /// wait's state. Dropped while it waits, it gives back what it took.
    #[inline(always)]
    pub fn wait(&mut self) -> Wait<'_> {
        if self.admitting {
            return Wait(self.admit_or_wait());
        }
        if matches!(&self.driving, Some(driving) if matches!(driving.next, Next::Wait(_))) {
            return Wait(Some(self.backoff()));
        }
        Wait(None)
    }

    /// The limits' fast paths, inline; if one of them makes the call wait,
    /// the rest as a boxed future. A refusal while waiting is left for
    /// [`op`](Self::op), which the loop calls next.
    #[inline(always)]
    fn admit_or_wait(&mut self) -> Option<WaitFor<'_>> {
        self.admitting = false;
        let gates = Gates::of(self.site, self.meta());
        match gates.admit_now(self.caller(), &mut self.permits) {
            Some(Ok(())) => None,
            Some(Err(refused)) => {
                self.refuse(refused);
                None
            }
            None => Some(self.wait_for_limits(gates)),
        }
    }

    #[cold]
    #[inline(never)]
    fn wait_for_limits(&mut self, gates: &'static Gates) -> WaitFor<'_> {
        let caller = self.caller();
        let Recovery {
            permits,
            refused_waiting,
            admitting,
            ..
        } = self;
        Box::pin(async move {
            if let Err(refused) = gates.admit_async(caller, permits).await {
                *refused_waiting = Some(refused);
                *admitting = true;
            }
        })
    }

    /// The value the operation produced, and how it went: the call's end
    /// when nothing follows it.
    #[inline(always)]
    pub fn report(&mut self, verdict: Verdict, value: R) -> Option<Ended<R>> {
        if self.driving.is_none() && verdict.is_success() {
            if let Some(circuit) = self.permits.circuit.take() {
                circuit.succeeded();
            }
            return Some(Ended { value, verdict });
        }
        self.report_to_driver(verdict, value)
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
            // produces one (an attempt, the fallback, or the refusal).
            None => unreachable!("reliability: recovery ended without a value"),
        }
    }

    /// How the repair method went.
    pub fn repaired(&mut self, verdict: Verdict) {
        if let Some(driving) = self.driving.as_mut() {
            driving.next = driving.driver.after_repair(&verdict);
        }
    }

    /// The value for the caller, with the call reported as it ended; the
    /// places the call held are given back after it, when the recovery
    /// drops. Both are left where they lie: moving the guard or the
    /// recovery right after the loop's stores stalls the store buffer.
    #[inline(always)]
    pub fn finish(&mut self, call: &Call, ended: Ended<R>) -> R {
        call.finish_in_place(ended.verdict.observed());
        ended.value
    }

    /// What the attribute configured.
    #[inline(always)]
    pub(crate) fn meta(&self) -> &'static RecoveryMeta {
        meta_of(self.site)
    }

    /// This call, as a limit sees it.
    #[inline(always)]
    fn caller(&self) -> Caller {
        Caller {
            site: self.site,
            start: self.call_start,
        }
    }

    /// How long the call has run so far.
    fn took(&self) -> Duration {
        Duration::from_nanos(crate::record::clock::nanos_since(self.call_start))
    }

    /// A driver for this call, holding the circuit's leave for the first
    /// attempt; also returns now.
    fn make_driver(&mut self) -> (Driver, std::time::Instant) {
        let (mut driver, now) = Driver::new(self.site, self.meta(), self.took());
        driver.circuit = self.permits.circuit.take();
        (driver, now)
    }

    /// The recovery's driving state, made now if the first attempt is
    /// still under way (as if the driver had admitted it).
    pub(super) fn driving_or_start(&mut self) -> &mut Driving<R> {
        if self.driving.is_none() {
            let (driver, _) = self.make_driver();
            self.driving = Some(Driving::new(driver, Next::Run(Op::Attempt)));
        }
        match self.driving.as_mut() {
            Some(driving) => driving,
            None => unreachable!("reliability: the driving state was just made"),
        }
    }

    /// A limit refused the call before its first attempt.
    #[cold]
    #[inline(never)]
    fn refuse(&mut self, refused: Refused) {
        let (mut driver, now) = Driver::new(self.site, self.meta(), Duration::ZERO);
        let next = driver.refused(refused, now);
        self.driving = Some(Driving::new(driver, next));
    }

    /// Waits out the backoff of an async call: a delay of the clock, boxed,
    /// so that the method's future keeps a pointer for it rather than the
    /// wait's state, which every call would carry.
    #[cold]
    fn backoff(&mut self) -> WaitFor<'_> {
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
        match (&mut self.driving, next) {
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
        match &mut self.driving {
            Some(driving) => {
                let op = driving.current();
                driving.driver.after_value(op, verdict)
            }
            None => {
                let (mut driver, now) = self.make_driver();
                let next = driver.after_value_at(Op::Attempt, verdict, now);
                self.driving = Some(Driving::new(driver, next));
                next
            }
        }
    }
}

/// Runs a step of a call's recovery that calls another method of the
/// component (the repair method, an alternative, the fallback): its failure
/// is that method's, not another failure in a row of the component, which
/// counts this call once, when it ends.
#[doc(hidden)]
#[inline]
pub fn step<R, T>(recovery: &Recovery<R>, call: impl FnOnce() -> T) -> T {
    recovery.site.component().recovering(call)
}

/// [`step`] for an async method's future.
#[doc(hidden)]
#[inline]
pub fn step_async<R, F: Future>(recovery: &Recovery<R>, future: F) -> Recovering<F> {
    recovery.site.component().recovering_future(future)
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
    fn a_finished_recovery_is_one_success_and_its_drops_report_nothing() {
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
        assert_eq!(recovery.finish(&call, ended), 7);
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
