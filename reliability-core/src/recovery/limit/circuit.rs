//! The circuit behind [`Limit`]: closed, a probe, or `CircuitOpen`. A probe
//! whose permit drops unreported (a panic, a dropped future) counts as a
//! failed probe, so the circuit does not stay half open.

use std::time::Instant;

use super::gates::CircuitLimit;
use super::{Caller, Limit};
use crate::record::site::CallSite;
use crate::recovery::circuit::{CircuitBreaker, CircuitState, Permit};
use crate::recovery::limits::Refused;
use crate::runtime::component::ComponentState;
use crate::runtime::registry::runtime;

/// Leave to run one attempt: what the circuit counts the attempt's outcome
/// as. Dropped unreported, a probe counts as failed.
#[derive(Debug)]
pub(crate) struct CircuitPermit {
    breaker: &'static CircuitBreaker,
    site: &'static CallSite,
    permit: Permit,
}

impl CircuitLimit {
    pub(crate) fn new(breaker: &'static CircuitBreaker) -> Self {
        CircuitLimit { breaker }
    }

    /// Asks the circuit at `now`: the slow path, taken when the circuit is
    /// not closed, and by a retry, which has read the clock already.
    pub(crate) fn acquire_at(
        &self,
        site: &'static CallSite,
        now: Instant,
    ) -> Result<CircuitPermit, Refused> {
        let component = component(site);
        match self
            .breaker
            .acquire(now, |state| component.circuit_changed(state))
        {
            Permit::Rejected => Err(Refused::CircuitOpen),
            permit => Ok(CircuitPermit {
                breaker: self.breaker,
                site,
                permit,
            }),
        }
    }

    #[cold]
    #[inline(never)]
    fn acquire_slow(&self, site: &'static CallSite) -> Result<CircuitPermit, Refused> {
        self.acquire_at(site, now(site))
    }

    /// [`acquire`](Limit::acquire) into the call's slot: closed, the permit
    /// is written where it is kept, not returned through the stack and
    /// copied (a wide load of two fresh narrow stores, which stalls).
    #[inline(always)]
    pub(crate) fn admit(
        &self,
        caller: Caller,
        slot: &mut Option<CircuitPermit>,
    ) -> Result<(), Refused> {
        if self.breaker.state() == CircuitState::Closed {
            *slot = Some(CircuitPermit {
                breaker: self.breaker,
                site: caller.site,
                permit: Permit::Normal,
            });
            return Ok(());
        }
        self.admit_slow(caller.site, slot)
    }

    #[cold]
    #[inline(never)]
    fn admit_slow(
        &self,
        site: &'static CallSite,
        slot: &mut Option<CircuitPermit>,
    ) -> Result<(), Refused> {
        *slot = Some(self.acquire_slow(site)?);
        Ok(())
    }
}

/// The component's state, for its clock and its listeners: found only off
/// the closed circuit's path.
fn component(site: &'static CallSite) -> &'static ComponentState {
    runtime().state_of(site.component())
}

fn now(site: &'static CallSite) -> Instant {
    component(site).env().policy.current_clock().now()
}

impl Limit for CircuitLimit {
    type Permit = CircuitPermit;

    /// Closed, the permit is one load of the state: no clock is read.
    #[inline(always)]
    fn acquire(&self, caller: Caller) -> Result<CircuitPermit, Refused> {
        if self.breaker.state() == CircuitState::Closed {
            return Ok(CircuitPermit {
                breaker: self.breaker,
                site: caller.site,
                permit: Permit::Normal,
            });
        }
        self.acquire_slow(caller.site)
    }

    /// The circuit never waits.
    async fn acquire_async(&self, caller: Caller) -> Result<CircuitPermit, Refused> {
        self.acquire(caller)
    }
}

impl CircuitPermit {
    /// The attempt succeeded: with the circuit closed, counted without
    /// reading the clock (it is read only if the failure rate still calls
    /// for opening).
    #[inline(always)]
    pub(crate) fn succeeded(self) {
        if self.permit == Permit::Normal {
            let site = self.site;
            self.breaker.record_normal_success(
                || now(site),
                |state| component(site).circuit_changed(state),
            );
        } else {
            self.record(true, None);
        }
    }

    /// The attempt ended `at` (read here when `None`); `answered`: it
    /// succeeded, or failed in a way that says the component is up.
    #[cold]
    pub(crate) fn record(mut self, answered: bool, at: Option<Instant>) {
        let (site, permit) = (self.site, self.permit);
        // Reported: the drop has nothing left to count.
        self.permit = Permit::Normal;
        let at = at.unwrap_or_else(|| now(site));
        let component = component(site);
        self.breaker.record(permit, answered, at, |state| {
            component.circuit_changed(state)
        });
    }
}

impl Drop for CircuitPermit {
    #[inline]
    fn drop(&mut self) {
        if self.permit.is_probe() {
            let component = component(self.site);
            self.breaker
                .record(self.permit, false, now(self.site), |state| {
                    component.circuit_changed(state)
                });
        }
    }
}
