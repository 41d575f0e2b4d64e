//! Whose series: how a component and its instances share the figures, so
//! that each count is exported once, at the level its setting exports it.

use std::borrow::Cow;

use crate::export::instance_methods::{CallCounts, SummedCalls};
use crate::export::instance_series::InstanceSeries;
use crate::export::series::Id;
use crate::export::snapshot::{
    ComponentSnapshot, InstanceSnapshot, MethodSnapshot, RecoveryStats, RejectedCalls,
    StrategyStats,
};
use crate::health::ComponentHealth;

/// Whose series: a component, or one of its instances. Every count is
/// exported once, at the finest level the component's
/// [`InstanceSeries`] exports it: an instance speaks for its own calls
/// (summed over its methods by default, per method with `per_method`), and
/// for its latency, panics, timeouts, hedges, recovery and rejections only
/// when its setting exports them; the component speaks for the rest (its
/// methods without `self`, and whatever its instances do not export). So
/// summed over `component_id`, the counters give the component's totals
/// exactly.
pub(crate) struct Party<'a> {
    pub(crate) health: &'a ComponentHealth,
    /// Its methods; none for an instance whose setting exports its sums
    /// alone, whose methods stay as they were read.
    pub(crate) methods: Cow<'a, [MethodSnapshot]>,
    /// Instances only: their calls summed over their methods.
    pub(crate) summed: Option<SummedCalls>,
    /// Completed calls per method for its histogram, when they differ from
    /// `successes + failures` (a component that counts its instances'
    /// latency but not their calls).
    pub(crate) latency_counts: Option<Vec<u64>>,
    pub(crate) strategies: Cow<'a, [StrategyStats]>,
    pub(crate) recovery: RecoveryStats,
    pub(crate) rejected_by: RejectedCalls,
    pub(crate) in_flight: u64,
    /// Components only: the monitor tracks no instance's uptime.
    pub(crate) uptime: Option<f64>,
    /// Instances only: which of their series the component exports.
    pub(crate) instance: Option<InstanceSeries>,
    /// Families whose per-method series carry the component's own share
    /// alone (its instances export theirs): a method with no call of its
    /// own has none of them.
    pub(crate) own_share: OwnShare,
}

/// Which per-method figures a component with instances exports for its own
/// share only.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct OwnShare {
    pub(crate) calls: bool,
    pub(crate) detail: bool,
    pub(crate) latency: bool,
}

impl OwnShare {
    pub(crate) fn of(&self, family: Id) -> bool {
        match family {
            Id::Calls => self.calls,
            Id::Panics | Id::Timeouts | Id::Hedges => self.detail,
            Id::CallDuration | Id::CallDurationQuantile => self.latency,
            _ => false,
        }
    }
}

impl<'a> Party<'a> {
    pub(crate) fn instance(i: &'a InstanceSnapshot, series: InstanceSeries) -> Self {
        let methods: &[MethodSnapshot] = if series.is_default() { &[] } else { &i.methods };
        Party {
            health: &i.health,
            methods: Cow::Borrowed(methods),
            summed: Some(i.methods.summed_calls()),
            latency_counts: None,
            strategies: Cow::Borrowed(&i.strategies),
            recovery: i.recovery.clone(),
            rejected_by: i.rejected_by,
            in_flight: i.in_flight,
            uptime: None,
            instance: Some(series),
            own_share: OwnShare::default(),
        }
    }

    /// `c` alone when it has no instances; else its figures less what its
    /// instances export (its state gauges stay its own).
    pub(crate) fn component(c: &'a ComponentSnapshot) -> Self {
        let mut party = Party {
            health: &c.health,
            methods: Cow::Borrowed(&c.methods),
            summed: None,
            latency_counts: None,
            strategies: Cow::Borrowed(&c.strategies),
            recovery: c.recovery.clone(),
            rejected_by: c.rejected_by,
            in_flight: c.in_flight,
            uptime: Some(c.uptime),
            instance: None,
            own_share: OwnShare::default(),
        };
        if c.instances.is_empty() {
            return party;
        }
        let series = c.instance_series;
        let share = OwnShare {
            calls: true,
            detail: series.per_method,
            latency: series.latency,
        };
        party.own_share = share;
        if !share.latency {
            party.latency_counts = Some(c.methods.iter().map(completed).collect());
        }
        let methods = party.methods.to_mut();
        // Instances name methods in the order of their component's: a
        // cursor finds each without a search from the start.
        for i in &c.instances {
            let mut at = 0;
            if share.detail || share.latency {
                for theirs in i.methods.iter() {
                    if let Some(index) = find_from(methods, &mut at, &theirs.name) {
                        subtract_method(&mut methods[index], theirs, share);
                    }
                }
            } else {
                // Calls alone: the instance's methods need not be shaped.
                i.methods.each_calls(|name, theirs| {
                    if let Some(index) = find_from(methods, &mut at, name) {
                        subtract_calls(&mut methods[index], &theirs);
                    }
                });
            }
            party.in_flight = party.in_flight.saturating_sub(i.in_flight);
            if !series.per_method {
                continue;
            }
            let strategies = party.strategies.to_mut();
            for theirs in &i.strategies {
                if let Some(mine) = strategies
                    .iter_mut()
                    .find(|s| s.strategy == theirs.strategy)
                {
                    mine.attempts = mine.attempts.saturating_sub(theirs.attempts);
                    mine.successes = mine.successes.saturating_sub(theirs.successes);
                }
            }
            let r = &mut party.recovery;
            r.sessions = r.sessions.saturating_sub(i.recovery.sessions);
            r.recovered = r.recovered.saturating_sub(i.recovery.recovered);
            r.escalated = r.escalated.saturating_sub(i.recovery.escalated);
            r.budget_exhausted = r
                .budget_exhausted
                .saturating_sub(i.recovery.budget_exhausted);
            let by = &mut party.rejected_by;
            by.circuit_open = by.circuit_open.saturating_sub(i.rejected_by.circuit_open);
            by.bulkhead_full = by.bulkhead_full.saturating_sub(i.rejected_by.bulkhead_full);
            by.rate_limited = by.rate_limited.saturating_sub(i.rejected_by.rate_limited);
        }
        party
    }

    /// Whether this party's methods are identities of their own: a
    /// component's always, an instance's only with `per_method`.
    pub(crate) fn has_method_identities(&self) -> bool {
        self.instance.is_none_or(|s| s.per_method)
    }
}

/// The index of the method called `name`, looked for from `at` first, and
/// `at` moved past it.
fn find_from(methods: &[MethodSnapshot], at: &mut usize, name: &str) -> Option<usize> {
    let found = methods[*at..]
        .iter()
        .position(|m| m.name == name)
        .map(|p| *at + p)
        .or_else(|| methods.iter().position(|m| m.name == name))?;
    *at = found + 1;
    Some(found)
}

/// A method's completed calls: its histogram's count.
pub(crate) fn completed(m: &MethodSnapshot) -> u64 {
    m.successes + m.failures
}

/// `mine -= theirs`, for the counters `share` says the instance exports
/// itself (a method's percentiles are not additive: the component's stay
/// as they are).
fn subtract_method(mine: &mut MethodSnapshot, theirs: &MethodSnapshot, share: OwnShare) {
    if share.calls {
        subtract_calls(mine, &CallCounts::of_snapshot(theirs));
    }
    if share.detail {
        mine.panics = mine.panics.saturating_sub(theirs.panics);
        mine.rejected = mine.rejected.saturating_sub(theirs.rejected);
        mine.timeouts = mine.timeouts.saturating_sub(theirs.timeouts);
        mine.hedges_won = mine.hedges_won.saturating_sub(theirs.hedges_won);
        mine.hedges_lost = mine.hedges_lost.saturating_sub(theirs.hedges_lost);
    }
    if share.latency {
        mine.total_latency = mine.total_latency.saturating_sub(theirs.total_latency);
        for (mine, theirs) in mine.latency_buckets.iter_mut().zip(&theirs.latency_buckets) {
            *mine = mine.saturating_sub(*theirs);
        }
    }
}

/// `mine -= theirs` for the calls.
fn subtract_calls(mine: &mut MethodSnapshot, theirs: &CallCounts) {
    mine.calls = mine.calls.saturating_sub(theirs.calls);
    mine.successes = mine.successes.saturating_sub(theirs.successes);
    mine.failures = mine.failures.saturating_sub(theirs.failures);
    mine.cancelled = mine.cancelled.saturating_sub(theirs.cancelled);
    mine.attempts = mine.attempts.saturating_sub(theirs.attempts);
}
