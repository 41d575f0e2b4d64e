//! A component's runtime state: its health inputs, circuit breaker, retry
//! budget and recovery records, over the call sites' shared record. It is
//! handed what it needs (the record, the environment) when it is made.

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::OnceLock;
use std::time::Instant;

use once_cell::race::OnceBox;
use parking_lot::Mutex;

use crate::recovery::bulkhead::{Bulkhead, BulkheadConfig};
use crate::recovery::rate_limit::{RateLimitConfig, RateLimiter};

use super::env::Env;
use super::events::{BorrowedEvent, ReliabilityEvent};
use crate::classify::ErrorCategory;
use crate::health::{evaluate, mean, rate, ComponentHealth, Thresholds, Totals, Window};
use crate::record::registry::ComponentRecord;
use crate::record::site::SiteReading;
use crate::recovery::budget::BudgetState;
use crate::recovery::circuit::{CircuitBreaker, CircuitState};
use crate::recovery::history::{RecoveryOutcome, SessionRecord};
use crate::recovery::strategy::{CircuitConfig, RetryBudget, Strategy, StrategySet};

/// A strategy that failed this many times in a row is passed over...
const FAILING_RUN: u32 = 10;
/// ...except every this many times, so that its record can recover.
const FAILING_PROBE_EVERY: u32 = 10;

/// How one strategy has fared on a component.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct StrategyRecord {
    pub(crate) attempts: u64,
    pub(crate) successes: u64,
    failed_in_a_row: u32,
    passed_over: u32,
}

/// How a component's recovery sessions ended.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct SessionCounts {
    pub(crate) sessions: u64,
    pub(crate) recovered: u64,
    pub(crate) escalated: u64,
    /// Retries that the empty retry budget refused.
    pub(crate) budget_exhausted: u64,
}

#[derive(Debug)]
struct RecoveryState {
    /// Made on the first retry: 2 KiB that most instances never need.
    budget: Option<Box<BudgetState>>,
    strategies: [StrategyRecord; Strategy::ALL.len()],
    sessions: SessionCounts,
}

impl RecoveryState {
    fn budget(&mut self, now: Instant) -> &mut BudgetState {
        self.budget
            .get_or_insert_with(|| Box::new(BudgetState::new(now)))
    }

    fn new() -> Self {
        RecoveryState {
            budget: None,
            strategies: [StrategyRecord::default(); Strategy::ALL.len()],
            sessions: SessionCounts::default(),
        }
    }
}

#[derive(Debug)]
struct Detail {
    /// Set at run time; wins over the attribute's.
    runtime_thresholds: Option<Thresholds>,
    window: Window,
}

/// Everything a component's call sites and recovery have counted, read at
/// one moment; `export::snapshot` shapes it for readers.
#[derive(Debug)]
pub(crate) struct ComponentReading {
    pub(crate) name: &'static str,
    /// The instance's id, on an instance's reading.
    pub(crate) instance: Option<&'static str>,
    /// On a component's reading: its instances', in the order they were made.
    pub(crate) instances: Vec<ComponentReading>,
    pub(crate) health: ComponentHealth,
    /// Per method, sorted by name; sites that share a name are merged.
    pub(crate) methods: Vec<(&'static str, SiteReading)>,
    /// Failures by category, in `ErrorCategory::ALL` order.
    pub(crate) categories: [u64; ErrorCategory::ALL.len()],
    /// Per strategy, in `Strategy::ALL` order.
    pub(crate) strategies: [StrategyRecord; Strategy::ALL.len()],
    pub(crate) sessions: SessionCounts,
    pub(crate) rejected: u64,
    /// Of those, by the bulkhead and by the rate limit.
    pub(crate) rejected_by_limits: [u64; 2],
    /// Calls inside the bulkhead now.
    pub(crate) in_flight: u64,
}

#[derive(Debug)]
pub(crate) struct ComponentState {
    record: &'static ComponentRecord,
    /// On an instance's state: its component's, whose thresholds it shares.
    parent: Option<&'static ComponentState>,
    env: &'static Env,
    detail: Mutex<Detail>,
    breaker: OnceLock<CircuitBreaker>,
    /// Made from the first configuration seen, as the breaker is; owned
    /// here, so the limits are per component (per instance: owned there).
    /// Boxed: every instance's state has this field, and one pointer is
    /// all that one without a bulkhead carries.
    bulkhead: OnceBox<Bulkhead>,
    rate_limiter: OnceLock<RateLimiter>,
    /// Per method: refusals by the limits, timeouts and hedges. Counted
    /// here rather than in the call sites: all of them are off the
    /// success path, and a site's counters fit its cache lines exactly.
    limit_counts: Mutex<Vec<(&'static str, LimitCounts)>>,
    needs_attention: AtomicBool,
    recovery: Mutex<RecoveryState>,
}

impl ComponentState {
    #[cfg(test)]
    pub(crate) fn new(record: &'static ComponentRecord, env: &'static Env) -> Self {
        Self::with_parent(record, None, env)
    }

    /// The state of an instance of `parent`'s component (`None`: of a component).
    pub(crate) fn with_parent(
        record: &'static ComponentRecord,
        parent: Option<&'static ComponentState>,
        env: &'static Env,
    ) -> Self {
        let now = Instant::now();
        ComponentState {
            record,
            parent,
            env,
            detail: Mutex::new(Detail {
                runtime_thresholds: None,
                window: Window::new(now),
            }),
            breaker: OnceLock::new(),
            bulkhead: OnceBox::new(),
            rate_limiter: OnceLock::new(),
            limit_counts: Mutex::new(Vec::new()),
            needs_attention: AtomicBool::new(false),
            recovery: Mutex::new(RecoveryState::new()),
        }
    }

    pub(crate) fn name(&self) -> &'static str {
        self.record.name
    }

    /// The instance's id, on an instance's state.
    pub(crate) fn instance(&self) -> Option<&'static str> {
        self.record.instance_id
    }

    /// The id in events: the instance's, as an owned string.
    pub(crate) fn instance_owned(&self) -> Option<String> {
        self.instance().map(str::to_owned)
    }

    pub(crate) fn record(&self) -> &'static ComponentRecord {
        self.record
    }

    pub(crate) fn env(&self) -> &'static Env {
        self.env
    }

    /// The component's circuit breaker, made with `config` on first use.
    pub(crate) fn breaker(&self, config: &CircuitConfig) -> &CircuitBreaker {
        self.breaker.get_or_init(|| CircuitBreaker::new(*config))
    }

    /// The component's bulkhead, made with `config` on first use.
    pub(crate) fn bulkhead(&self, config: &BulkheadConfig) -> &Bulkhead {
        self.bulkhead
            .get_or_init(|| Box::new(Bulkhead::new(self.name(), *config)))
    }

    /// The component's rate limiter, made with `config` on first use.
    pub(crate) fn rate_limiter(&self, config: &RateLimitConfig) -> &RateLimiter {
        self.rate_limiter
            .get_or_init(|| RateLimiter::new(self.name(), *config))
    }

    /// Counts something the limits did to a call of `method`.
    #[cold]
    pub(crate) fn count_limit(&self, method: &'static str, count: impl FnOnce(&mut LimitCounts)) {
        let mut counts = self.limit_counts.lock();
        match counts.iter_mut().find(|(name, _)| *name == method) {
            Some((_, counted)) => count(counted),
            None => {
                let mut counted = LimitCounts::default();
                count(&mut counted);
                counts.push((method, counted));
            }
        }
    }

    pub(crate) fn circuit_changed(&self, state: CircuitState) {
        self.env.emit(|| ReliabilityEvent::CircuitChanged {
            component: self.name().to_owned(),
            instance: self.instance_owned(),
            state,
        });
    }

    pub(crate) fn record_strategy(&self, strategy: Strategy, success: bool) {
        let mut recovery = self.recovery.lock();
        let record = &mut recovery.strategies[strategy.index()];
        record.attempts += 1;
        if success {
            record.successes += 1;
            record.failed_in_a_row = 0;
        } else {
            record.failed_in_a_row += 1;
        }
    }

    /// The strategies that keep failing here, to be passed over this time.
    pub(crate) fn failing_strategies(&self) -> StrategySet {
        let mut recovery = self.recovery.lock();
        let mut failing = StrategySet::EMPTY;
        for strategy in Strategy::ALL {
            let record = &mut recovery.strategies[strategy.index()];
            if record.failed_in_a_row >= FAILING_RUN {
                record.passed_over += 1;
                if !record.passed_over.is_multiple_of(FAILING_PROBE_EVERY) {
                    failing = failing.with(strategy);
                }
            }
        }
        failing
    }

    fn calls_so_far(&self) -> u64 {
        self.record
            .sites()
            .iter()
            .map(|site| site.read_counts().calls())
            .sum()
    }

    pub(crate) fn retry_budget_available(&self, budget: &RetryBudget, now: Instant) -> bool {
        let calls = self.calls_so_far();
        self.recovery
            .lock()
            .budget(now)
            .available(budget, now, calls)
    }

    pub(crate) fn withdraw_retry(&self, budget: &RetryBudget, now: Instant) {
        let calls = self.calls_so_far();
        self.recovery
            .lock()
            .budget(now)
            .try_withdraw(budget, now, calls);
    }

    pub(crate) fn record_budget_exhausted(&self) {
        self.recovery.lock().sessions.budget_exhausted += 1;
    }

    /// Counts a finished recovery session, flags an escalation, emits its
    /// event and keeps it in the history.
    pub(crate) fn finish_session(&self, session: SessionRecord) {
        {
            let counts = &mut self.recovery.lock().sessions;
            counts.sessions += 1;
            match session.outcome {
                RecoveryOutcome::Recovered => counts.recovered += 1,
                RecoveryOutcome::Escalated => counts.escalated += 1,
                RecoveryOutcome::Failed => {}
            }
        }
        if session.outcome == RecoveryOutcome::Escalated {
            self.needs_attention.store(true, Relaxed);
        }
        let (component, method) = (self.name(), session.method);
        let instance = self.instance();
        let event = match session.outcome {
            RecoveryOutcome::Escalated => BorrowedEvent::Escalated {
                component,
                instance,
                method,
                category: session.category,
                error: &session.error,
            },
            RecoveryOutcome::Recovered => BorrowedEvent::Recovered {
                component,
                instance,
                method,
                strategy: session.recovered_by,
                attempts: session.steps.last().and_then(|s| s.attempt).unwrap_or(1),
            },
            RecoveryOutcome::Failed => BorrowedEvent::RecoveryFailed {
                component,
                instance,
                method,
                category: session.category,
                error: &session.error,
            },
        };
        self.env.listeners.emit_borrowed(event);
        self.env.push_session(session);
    }

    pub(crate) fn acknowledge(&self) -> bool {
        self.needs_attention.swap(false, Relaxed)
    }

    pub(crate) fn set_thresholds(&self, thresholds: Thresholds) {
        self.detail.lock().runtime_thresholds = Some(thresholds);
    }

    /// Health from the counters alone (no histogram): for decisions on the failure path.
    pub(crate) fn quick_health(&self, now: Instant) -> ComponentHealth {
        let mut all = SiteReading::empty();
        for site in self.record.sites() {
            let counts = site.read_counts();
            all.successes += counts.successes;
            all.failures += counts.failures;
            all.cancelled += counts.cancelled;
            all.nanos += counts.nanos;
        }
        self.health(&all, now)
    }

    /// Reads every call site once and derives the methods and the health
    /// from that reading. A component's reading counts its instances'
    /// (`instances`, read just before) once each, beside its own sites.
    pub(crate) fn read(&self, now: Instant, instances: Vec<ComponentReading>) -> ComponentReading {
        let mut sums = InstanceSums::default();
        for instance in &instances {
            sums.add(instance);
        }
        let mut reading = self.read_summed(now, sums);
        reading.instances = instances;
        reading
    }

    /// [`read`](Self::read) from the sum of the instances' readings rather
    /// than the readings themselves; the reading lists no instance.
    pub(crate) fn read_summed(&self, now: Instant, sums: InstanceSums) -> ComponentReading {
        self.read_summed_into(now, sums, Vec::new())
    }

    /// [`read_summed`](Self::read_summed) over `room`, an earlier reading's
    /// methods, whose histograms and error texts a reader of many
    /// instances hands from one reading to the next.
    pub(crate) fn read_summed_into(
        &self,
        now: Instant,
        sums: InstanceSums,
        mut room: Vec<(&'static str, SiteReading)>,
    ) -> ComponentReading {
        // Several sites may share a method name (two impl blocks); they are merged.
        let sites = self.record.sites();
        let mut methods = Vec::with_capacity(sites.len().max(sums.methods.len()));
        for site in sites {
            let mut reading = room.pop().map_or_else(SiteReading::empty, |(_, r)| r);
            site.read_into(&mut reading);
            merge_method(&mut methods, site.meta().method, Cow::Owned(reading));
        }
        for (name, counted) in self.limit_counts.lock().iter() {
            if let Some((_, reading)) = methods.iter_mut().find(|(n, _)| n == name) {
                reading.rejected_bulkhead = counted.rejected_bulkhead;
                reading.rejected_rate_limit = counted.rejected_rate_limit;
                reading.timeouts = counted.timeouts;
                reading.hedges_won = counted.hedges_won;
                reading.hedges_lost = counted.hedges_lost;
            }
        }
        let (mut strategies, mut sessions) = {
            let state = self.recovery.lock();
            (state.strategies, state.sessions)
        };
        let mut in_flight = self.bulkhead.get().map_or(0, |b| b.in_flight() as u64);
        for (name, reading) in sums.methods {
            merge_method(&mut methods, name, Cow::Owned(reading));
        }
        for (mine, theirs) in strategies.iter_mut().zip(&sums.strategies) {
            mine.attempts += theirs.attempts;
            mine.successes += theirs.successes;
        }
        sessions.sessions += sums.sessions.sessions;
        sessions.recovered += sums.sessions.recovered;
        sessions.escalated += sums.sessions.escalated;
        sessions.budget_exhausted += sums.sessions.budget_exhausted;
        in_flight += sums.in_flight;
        let instances_need_attention = sums.need_attention;
        methods.sort_by_key(|(name, _)| *name);
        let mut all = SiteReading::empty();
        for (_, reading) in &methods {
            all.merge_counts(reading);
        }
        let mut health = self.health(&all, now);
        health.needs_attention |= instances_need_attention;
        health.recovery_attempts = strategies.iter().map(|record| record.attempts).sum();
        ComponentReading {
            name: self.name(),
            instance: self.instance(),
            instances: Vec::new(),
            health,
            methods,
            categories: self.record.categories(),
            strategies,
            sessions,
            rejected: all.rejected,
            rejected_by_limits: [all.rejected_bulkhead, all.rejected_rate_limit],
            in_flight,
        }
    }

    fn health(&self, all: &SiteReading, now: Instant) -> ComponentHealth {
        let totals = Totals {
            completed: all.successes + all.failures,
            successes: all.successes,
            nanos: all.nanos,
        };
        let consecutive = self.record.consecutive_failures();
        let (window, thresholds) = {
            let mut detail = self.detail.lock();
            let thresholds = detail
                .runtime_thresholds
                .or_else(|| self.parent.and_then(|p| p.detail.lock().runtime_thresholds))
                .or_else(|| self.record.attribute_thresholds())
                .unwrap_or_else(|| self.env.policy.thresholds());
            let window = detail.window.advance(now, totals, thresholds.window());
            (window, thresholds)
        };
        let (status, reason) = evaluate(&thresholds, consecutive, window);
        let recovery_attempts = self
            .recovery
            .lock()
            .strategies
            .iter()
            .map(|record| record.attempts)
            .sum();
        let last = self.record.last_failure();
        ComponentHealth {
            component: self.name().to_owned(),
            instance: self.instance_owned(),
            status,
            reason,
            calls: totals.completed + all.cancelled,
            successes: all.successes,
            failures: all.failures,
            success_rate: rate(window.successes, window.completed),
            window_calls: window.completed,
            consecutive_failures: consecutive,
            mean_latency: mean(window.nanos, window.completed),
            last_error: last.error.as_deref().map(str::to_owned),
            last_failure_at: last.at,
            needs_attention: self.needs_attention.load(Relaxed),
            recovery_attempts,
            circuit: self.breaker.get().map(CircuitBreaker::state),
        }
    }

    pub(crate) fn reset(&self) {
        self.record.reset();
        let now = Instant::now();
        self.detail.lock().window = Window::new(now);
        self.needs_attention.store(false, Relaxed);
        if let Some(breaker) = self.breaker.get() {
            breaker.reset();
        }
        *self.recovery.lock() = RecoveryState::new();
        self.limit_counts.lock().clear();
    }
}

/// What a component's instances add to its reading, summed one instance at
/// a time: a snapshot keeps no instance's reading longer than it takes to
/// shape it.
#[derive(Debug, Default)]
pub(crate) struct InstanceSums {
    methods: Vec<(&'static str, SiteReading)>,
    strategies: [StrategyRecord; Strategy::ALL.len()],
    sessions: SessionCounts,
    in_flight: u64,
    need_attention: bool,
}

impl InstanceSums {
    /// Adds one instance's reading.
    pub(crate) fn add(&mut self, instance: &ComponentReading) {
        for (name, reading) in &instance.methods {
            merge_method(&mut self.methods, name, Cow::Borrowed(reading));
        }
        for (mine, theirs) in self.strategies.iter_mut().zip(&instance.strategies) {
            mine.attempts += theirs.attempts;
            mine.successes += theirs.successes;
        }
        self.sessions.sessions += instance.sessions.sessions;
        self.sessions.recovered += instance.sessions.recovered;
        self.sessions.escalated += instance.sessions.escalated;
        self.sessions.budget_exhausted += instance.sessions.budget_exhausted;
        self.in_flight += instance.in_flight;
        self.need_attention |= instance.health.needs_attention;
    }
}

/// Adds `reading` to the method called `name` in `methods`, or adds the method.
fn merge_method(
    methods: &mut Vec<(&'static str, SiteReading)>,
    name: &'static str,
    reading: Cow<'_, SiteReading>,
) {
    // The names come from the sites' static metadata: the same text is
    // usually the same pointer.
    let same = |n: &str| std::ptr::eq(n, name) || n == name;
    match methods.iter_mut().find(|(n, _)| same(n)) {
        Some((_, merged)) => merged.merge(&reading),
        None => methods.push((name, reading.into_owned())),
    }
}

/// What the limits did to one method's calls.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct LimitCounts {
    pub(crate) rejected_bulkhead: u64,
    pub(crate) rejected_rate_limit: u64,
    pub(crate) timeouts: u64,
    pub(crate) hedges_won: u64,
    pub(crate) hedges_lost: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::outcome::ErrorText;

    fn component(name: &'static str) -> ComponentState {
        let text: &'static ErrorText = Box::leak(Box::default());
        let record = Box::leak(Box::new(ComponentRecord::new(name, text)));
        ComponentState::new(record, Box::leak(Box::default()))
    }

    #[test]
    fn a_strategy_that_keeps_failing_is_passed_over_but_probed() {
        let component = component("component_tests_failing");
        for _ in 0..FAILING_RUN - 1 {
            component.record_strategy(Strategy::Retry, false);
        }
        assert!(component.failing_strategies().is_empty());
        component.record_strategy(Strategy::Retry, false);
        let passed_over = (0..FAILING_PROBE_EVERY)
            .filter(|_| component.failing_strategies().contains(Strategy::Retry))
            .count() as u32;
        assert_eq!(
            passed_over,
            FAILING_PROBE_EVERY - 1,
            "one decision in ten probes it"
        );
        // One success clears the record.
        component.record_strategy(Strategy::Retry, true);
        assert!(component.failing_strategies().is_empty());
    }

    #[test]
    fn a_component_built_on_its_own_keeps_its_sessions_in_its_own_history() {
        let component = component("component_tests_history");
        let session = SessionRecord {
            component: "component_tests_history",
            instance: None,
            method: "get",
            category: ErrorCategory::Network,
            error: "reset".into(),
            steps: Default::default(),
            outcome: RecoveryOutcome::Escalated,
            recovered_by: None,
            started_at: std::time::SystemTime::now(),
            duration: Default::default(),
            id: 0,
        };
        component.finish_session(session);
        assert_eq!(component.env().sessions().len(), 1);
        let reading = component.read(Instant::now(), Vec::new());
        assert_eq!(reading.sessions.escalated, 1);
        assert!(reading.health.needs_attention);
        assert!(component.acknowledge());
        assert!(!component.acknowledge());
    }
}
