//! The limits a call passes before its first attempt (the rate limit, the bulkhead, the circuit),
//! each behind [`Limit`]; an attempt's timeout and hedge are combinators around its future.
//!
//! Taking a place returns a permit or a [`Refused`]; dropping the permit
//! gives the place back, on every exit (a return, a panic, a dropped
//! future), with no bookkeeping elsewhere. The fast path of each limit is
//! inlined; waiting, refusing and the site's first call are out of line.
//! A call passes them in this order: the rate limit, so that a call it
//! refuses never holds a place; the bulkhead, so that a half-open probe is
//! only let through by a call that will run; the circuit.

mod attempt;
mod bulkhead;
mod circuit;
pub(crate) mod gates;
mod rate;

use std::future::Future;

use crate::record::clock_cell::ClockCell;
use crate::record::site::{CallSite, SiteMeta};
use crate::recovery::limits::{Limits, Refused};
use crate::recovery::strategy::{RecoveryMeta, Strategy};
use crate::runtime::component::ComponentState;
use crate::runtime::registry::runtime;

pub use attempt::{
    hedge, hedge_future, refuse, timed, timed_value, timeout, untimed, HedgeFuture, Refusable,
};
pub(crate) use circuit::CircuitPermit;
pub(crate) use gates::{BulkheadLimit, CircuitLimit, Gates, RateLimit};

/// One admission interface for every limit a call passes.
pub(crate) trait Limit {
    /// The place the call holds; dropping it gives the place back.
    type Permit;

    /// Takes a place, blocking the thread up to the limit's `max_wait`.
    fn acquire(&self, caller: Caller) -> Result<Self::Permit, Refused>;

    /// Takes a place, awaiting the clock's delays up to the limit's
    /// `max_wait`; a future dropped while it waits takes nothing.
    fn acquire_async(
        &self,
        caller: Caller,
    ) -> impl Future<Output = Result<Self::Permit, Refused>> + Send + '_;
}

/// The call asking a limit for a place.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Caller {
    /// Its site, whose component a limit reports to.
    pub(crate) site: &'static CallSite,
    /// Its start in call-clock ticks, for a limit that counts time from it
    /// instead of reading the clock again.
    pub(crate) start: u64,
}

/// The places one call holds until it ends: dropped with the call's
/// recovery.
#[derive(Debug, Default)]
pub(crate) struct Permits {
    /// The rate limit's token is taken (spent: nothing to give back).
    pub(crate) token: bool,
    pub(crate) bulkhead: Option<crate::recovery::bulkhead::BulkheadPermit<'static>>,
    pub(crate) circuit: Option<CircuitPermit>,
}

/// Whether a call of a method with this recovery passes a limit before its
/// first attempt.
#[inline(always)]
pub(crate) fn admits(meta: &RecoveryMeta) -> bool {
    let limits = &meta.limits;
    limits.bulkhead.is_some()
        || limits.rate_limit.is_some()
        || meta.config.strategies().contains(Strategy::CircuitBreaker)
}

impl Gates {
    /// The gates of `site`: a load once they are found.
    #[inline(always)]
    pub(crate) fn of(site: &'static CallSite, meta: &'static RecoveryMeta) -> &'static Gates {
        match site.gates().get() {
            Some(gates) => gates,
            None => Gates::find(site, meta),
        }
    }

    #[cold]
    #[inline(never)]
    fn find(site: &'static CallSite, meta: &'static RecoveryMeta) -> &'static Gates {
        site.gates().get_or_init(|| {
            let state: &'static ComponentState = runtime().state_of(site.component());
            let clock: &'static ClockCell = state.env().policy.clock_cell();
            let limits: &Limits = &meta.limits;
            let gates = Gates {
                rate_limit: limits
                    .rate_limit
                    .map(|config| RateLimit::new(state.rate_limiter(&config), clock)),
                bulkhead: limits
                    .bulkhead
                    .map(|config| BulkheadLimit::new(state.bulkhead(&config), clock)),
                circuit: meta
                    .config
                    .strategies()
                    .contains(Strategy::CircuitBreaker)
                    .then(|| CircuitLimit::new(state.breaker(&meta.config.circuit()))),
            };
            // Methods of one impl are checked at compile time; those of
            // different impls of one component only here, once per site.
            let ours = (limits.bulkhead, gates.bulkhead.map(|b| b.config()));
            if let (Some(ours), Some(kept)) = ours {
                if kept != ours {
                    warn_limit_ignored(site.meta(), "bulkhead", &kept, &ours);
                }
            }
            let ours = (limits.rate_limit, gates.rate_limit.map(|r| r.config()));
            if let (Some(ours), Some(kept)) = ours {
                if kept != ours {
                    warn_limit_ignored(site.meta(), "rate_limit", &kept, &ours);
                }
            }
            gates
        })
    }

    /// Passes the rate limit, the bulkhead and the circuit, blocking the
    /// thread while a limit makes the call wait; the places taken go into
    /// `permits` (a refusal by a later limit leaves them held).
    #[inline(always)]
    pub(crate) fn admit(&self, caller: Caller, permits: &mut Permits) -> Result<(), Refused> {
        if let Some(rate) = &self.rate_limit {
            rate.acquire(caller)?;
        }
        if let Some(bulkhead) = &self.bulkhead {
            permits.bulkhead = Some(bulkhead.acquire(caller)?);
        }
        if let Some(circuit) = &self.circuit {
            circuit.admit(caller, &mut permits.circuit)?;
        }
        Ok(())
    }

    /// [`admit`](Self::admit) as far as the limits' fast paths go, for an
    /// `async fn`: `None` when a limit would make the call wait, and then
    /// [`admit_async`](Self::admit_async) takes what is still missing. A
    /// call let in here makes no future.
    #[inline(always)]
    pub(crate) fn admit_now(
        &self,
        caller: Caller,
        permits: &mut Permits,
    ) -> Option<Result<(), Refused>> {
        if let Some(rate) = &self.rate_limit {
            if !rate.taken_inline(caller) {
                return None;
            }
            permits.token = true;
        }
        if let Some(bulkhead) = &self.bulkhead {
            permits.bulkhead = Some(bulkhead.taken_inline()?);
        }
        if let Some(circuit) = &self.circuit {
            if let Err(refused) = circuit.admit(caller, &mut permits.circuit) {
                return Some(Err(refused));
            }
        }
        Some(Ok(()))
    }

    /// [`admit`](Self::admit) for an `async fn`, after
    /// [`admit_now`](Self::admit_now): the waits are delays of the clock,
    /// awaited; a future dropped while it waits gives back what it took.
    pub(crate) async fn admit_async(
        &self,
        caller: Caller,
        permits: &mut Permits,
    ) -> Result<(), Refused> {
        if let (Some(rate), false) = (&self.rate_limit, permits.token) {
            rate.acquire_async(caller).await?;
            permits.token = true;
        }
        if let (Some(bulkhead), None) = (&self.bulkhead, &permits.bulkhead) {
            permits.bulkhead = Some(bulkhead.acquire_async(caller).await?);
        }
        if let Some(circuit) = &self.circuit {
            circuit.admit(caller, &mut permits.circuit)?;
        }
        Ok(())
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::recovery::bulkhead::BulkheadConfig;
    use crate::recovery::circuit::{CircuitConfig, CircuitState};
    use crate::recovery::strategy::StrategyConfig;
    use crate::recovery::test_support::block_on;

    fn caller(site: &'static CallSite) -> Caller {
        Caller {
            site,
            start: crate::record::clock::now(),
        }
    }

    #[test]
    fn a_dropped_permit_gives_its_bulkhead_place_back() {
        static META: RecoveryMeta = RecoveryMeta {
            config: StrategyConfig::new().with_strategy(Strategy::Escalate),
            repair: None,
            alternatives: &[],
            fallback: None,
            budget: None,
            limits: Limits::new().with_bulkhead(BulkheadConfig::new(1)),
        };
        static SITE_META: SiteMeta = SiteMeta {
            component: "limit_tests_bulkhead",
            method: "m",
            thresholds: None,
            recovery: Some(&META),
            may_cancel: false,
        };
        static SITE: CallSite = CallSite::new(&SITE_META);
        assert!(admits(&META));
        let gates = Gates::of(&SITE, &META);
        let mut first = Permits::default();
        assert!(gates.admit(caller(&SITE), &mut first).is_ok());
        let mut second = Permits::default();
        let refused = gates.admit(caller(&SITE), &mut second);
        assert!(
            matches!(refused, Err(Refused::BulkheadFull(_))),
            "{refused:?}"
        );
        drop(first);
        let mut third = Permits::default();
        assert!(block_on(gates.admit_async(caller(&SITE), &mut third)).is_ok());
        assert!(third.bulkhead.is_some());
    }

    #[test]
    fn a_probe_dropped_unreported_opens_the_circuit_again() {
        static META: RecoveryMeta = RecoveryMeta {
            config: StrategyConfig::new()
                .with_strategy(Strategy::CircuitBreaker)
                .with_circuit(
                    CircuitConfig::new()
                        .with_open_after(Some(1))
                        .with_cool_down(Duration::ZERO),
                ),
            repair: None,
            alternatives: &[],
            fallback: None,
            budget: None,
            limits: Limits::new(),
        };
        static SITE_META: SiteMeta = SiteMeta {
            component: "limit_tests_probe",
            method: "m",
            thresholds: None,
            recovery: Some(&META),
            may_cancel: false,
        };
        static SITE: CallSite = CallSite::new(&SITE_META);
        let gates = Gates::of(&SITE, &META);
        let circuit = gates.circuit.expect("the method has a circuit breaker");
        let mut permits = Permits::default();
        assert!(gates.admit(caller(&SITE), &mut permits).is_ok());
        let closed = permits.circuit.take().expect("a closed circuit's permit");
        closed.record(false, None);
        assert_eq!(circuit.breaker.state(), CircuitState::Open);
        // Cooled down at once: the next call is the half-open probe.
        let mut probe = Permits::default();
        assert!(gates.admit(caller(&SITE), &mut probe).is_ok());
        assert_eq!(circuit.breaker.state(), CircuitState::HalfOpen);
        drop(probe);
        assert_eq!(circuit.breaker.state(), CircuitState::Open);
    }
}
