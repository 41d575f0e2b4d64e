//! A component: the call sites that report under one name, and its health.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant, SystemTime};

use once_cell::sync::OnceCell;
use parking_lot::{Mutex, RwLock};

use crate::classify::ErrorCategory;
use crate::export::snapshot::{ComponentSnapshot, MethodSnapshot, RecoveryStats, StrategyStats};
use crate::health::{evaluate, ComponentHealth, Thresholds, Totals, Window};
use crate::record::site::{CallSite, SiteReading};
use crate::recovery::budget::BudgetState;
use crate::recovery::circuit::{CircuitBreaker, CircuitState};
use crate::recovery::history::{RecoveryOutcome, RecoverySession};
use crate::recovery::strategy::{CircuitConfig, RetryBudget, Strategy, StrategySet};
use crate::runtime::events::ReliabilityEvent;

/// A strategy that failed this many times in a row is passed over...
const FAILING_RUN: u32 = 10;
/// ...except every this many times, so that its record can recover.
const FAILING_PROBE_EVERY: u32 = 10;

#[derive(Debug, Default, Clone, Copy)]
struct StrategyRecord {
    attempts: u64,
    successes: u64,
    failed_in_a_row: u32,
    passed_over: u32,
}

#[derive(Debug)]
struct RecoveryState {
    budget: BudgetState,
    strategies: [StrategyRecord; Strategy::ALL.len()],
    sessions: u64,
    recovered: u64,
    escalated: u64,
    /// Retries that the empty retry budget refused.
    budget_exhausted: u64,
}

#[derive(Debug)]
struct Detail {
    /// Set at run time; wins over the attribute's.
    runtime_thresholds: Option<Thresholds>,
    /// From the first attribute that set any.
    attribute_thresholds: Option<Thresholds>,
    last_error: Option<Box<str>>,
    last_failure_at: Option<SystemTime>,
    window: Window,
}

#[derive(Debug)]
pub(crate) struct ComponentState {
    pub(crate) name: &'static str,
    consecutive_failures: AtomicU64,
    sites: RwLock<Vec<&'static CallSite>>,
    detail: Mutex<Detail>,
    breaker: OnceCell<CircuitBreaker>,
    categories: [AtomicU64; ErrorCategory::ALL.len()],
    needs_attention: AtomicBool,
    recovery: Mutex<RecoveryState>,
}

impl ComponentState {
    pub(crate) fn new(name: &'static str) -> Self {
        ComponentState {
            name,
            consecutive_failures: AtomicU64::new(0),
            sites: RwLock::new(Vec::new()),
            detail: Mutex::new(Detail {
                runtime_thresholds: None,
                attribute_thresholds: None,
                last_error: None,
                last_failure_at: None,
                window: Window::new(Instant::now()),
            }),
            breaker: OnceCell::new(),
            categories: [const { AtomicU64::new(0) }; ErrorCategory::ALL.len()],
            needs_attention: AtomicBool::new(false),
            recovery: Mutex::new(RecoveryState {
                budget: BudgetState::new(Instant::now()),
                strategies: [StrategyRecord::default(); Strategy::ALL.len()],
                sessions: 0,
                recovered: 0,
                escalated: 0,
                budget_exhausted: 0,
            }),
        }
    }

    /// The component's circuit breaker, made with `config` on first use.
    pub(crate) fn breaker(&self, config: &CircuitConfig) -> &CircuitBreaker {
        self.breaker.get_or_init(|| CircuitBreaker::new(*config))
    }

    pub(crate) fn circuit_changed(&self, state: CircuitState) {
        crate::manager::manager().emit(|| ReliabilityEvent::CircuitChanged {
            component: self.name.to_owned(),
            state,
        });
    }

    pub(crate) fn record_category(&self, category: ErrorCategory) {
        self.categories[category as usize].fetch_add(1, Relaxed);
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
        self.sites
            .read()
            .iter()
            .map(|site| site.read_counts().calls())
            .sum()
    }

    pub(crate) fn retry_budget_available(&self, budget: &RetryBudget, now: Instant) -> bool {
        let calls = self.calls_so_far();
        self.recovery.lock().budget.available(budget, now, calls)
    }

    pub(crate) fn withdraw_retry(&self, budget: &RetryBudget, now: Instant) {
        let calls = self.calls_so_far();
        self.recovery.lock().budget.try_withdraw(budget, now, calls);
    }

    pub(crate) fn record_budget_exhausted(&self) {
        self.recovery.lock().budget_exhausted += 1;
    }

    pub(crate) fn finish_session(&self, session: &RecoverySession) {
        {
            let mut recovery = self.recovery.lock();
            recovery.sessions += 1;
            match session.outcome {
                RecoveryOutcome::Recovered => recovery.recovered += 1,
                RecoveryOutcome::Escalated => recovery.escalated += 1,
                RecoveryOutcome::Failed => {}
            }
        }
        if session.outcome == RecoveryOutcome::Escalated {
            self.needs_attention.store(true, Relaxed);
        }
        crate::manager::manager().emit(|| {
            let (component, method) = (self.name.to_owned(), session.method.clone());
            let attempts = session.steps.last().map_or(1, |s| s.attempt);
            match session.outcome {
                RecoveryOutcome::Escalated => ReliabilityEvent::Escalated {
                    component,
                    method,
                    category: session.category,
                    error: session.error.clone(),
                },
                RecoveryOutcome::Recovered => ReliabilityEvent::Recovered {
                    component,
                    method,
                    strategy: session.recovered_by,
                    attempts,
                },
                RecoveryOutcome::Failed => ReliabilityEvent::RecoveryFailed {
                    component,
                    method,
                    category: session.category,
                    error: session.error.clone(),
                },
            }
        });
    }

    pub(crate) fn acknowledge(&self) -> bool {
        self.needs_attention.swap(false, Relaxed)
    }

    /// Health from the counters alone (no histogram): for decisions on the failure path.
    pub(crate) fn quick_health(&self, defaults: &Thresholds, now: Instant) -> ComponentHealth {
        let mut all = SiteReading::empty();
        for site in self.sites.read().iter() {
            let counts = site.read_counts();
            all.successes += counts.successes;
            all.failures += counts.failures;
            all.cancelled += counts.cancelled;
            all.nanos += counts.nanos;
        }
        self.health(&all, defaults, now)
    }

    pub(crate) fn attach(&self, site: &'static CallSite) {
        if let Some(thresholds) = site.meta().thresholds {
            let mut detail = self.detail.lock();
            if detail.attribute_thresholds.is_none() {
                detail.attribute_thresholds = Some(thresholds);
            }
        }
        self.sites.write().push(site);
    }

    pub(crate) fn set_thresholds(&self, thresholds: Thresholds) {
        self.detail.lock().runtime_thresholds = Some(thresholds);
    }

    #[inline(always)]
    pub(crate) fn record_success(&self) {
        // A read in the common case: the line is only written after a failure.
        if self.consecutive_failures.load(Relaxed) != 0 {
            self.consecutive_failures.store(0, Relaxed);
        }
    }

    /// Takes back `count` failures from the run of consecutive failures.
    pub(crate) fn forgive_failures(&self, count: u64) {
        if count > 0 {
            let _ = self
                .consecutive_failures
                .fetch_update(Relaxed, Relaxed, |n| Some(n.saturating_sub(count)));
        }
    }

    pub(crate) fn record_failure(&self, text: Box<str>, at: SystemTime) {
        self.consecutive_failures.fetch_add(1, Relaxed);
        let mut detail = self.detail.lock();
        detail.last_error = Some(text);
        detail.last_failure_at = Some(at);
    }

    /// Reads every call site once and derives the methods and the health from that reading.
    pub(crate) fn snapshot(&self, defaults: &Thresholds, now: Instant) -> ComponentSnapshot {
        let sites: Vec<&'static CallSite> = self.sites.read().clone();
        // Several sites may share a method name (two impl blocks); they are merged.
        let mut methods: Vec<(&'static str, SiteReading)> = Vec::new();
        for site in sites {
            let reading = site.read();
            let name = site.meta().method;
            match methods.iter_mut().find(|(n, _)| *n == name) {
                Some((_, merged)) => merged.merge(&reading),
                None => methods.push((name, reading)),
            }
        }
        methods.sort_by_key(|(name, _)| *name);
        let mut all = SiteReading::empty();
        for (_, reading) in &methods {
            all.merge(reading);
        }
        let health = self.health(&all, defaults, now);
        let failures_by_category: BTreeMap<ErrorCategory, u64> = ErrorCategory::ALL
            .into_iter()
            .map(|category| (category, self.categories[category as usize].load(Relaxed)))
            .filter(|(_, count)| *count > 0)
            .collect();
        let (strategies, recovery) = {
            let state = self.recovery.lock();
            let strategies = Strategy::ALL
                .into_iter()
                .filter_map(|strategy| {
                    let record = state.strategies[strategy.index()];
                    (record.attempts > 0).then(|| StrategyStats {
                        strategy,
                        attempts: record.attempts,
                        successes: record.successes,
                        success_rate: rate(record.successes, record.attempts),
                    })
                })
                .collect();
            let recovery = RecoveryStats {
                sessions: state.sessions,
                recovered: state.recovered,
                escalated: state.escalated,
                success_rate: rate(state.recovered, state.sessions),
                budget_exhausted: state.budget_exhausted,
            };
            (strategies, recovery)
        };
        ComponentSnapshot {
            name: self.name.to_owned(),
            health,
            methods: methods
                .into_iter()
                .map(|(name, reading)| MethodSnapshot::from_reading(name, reading))
                .collect(),
            failures_by_category,
            strategies,
            recovery,
            rejected: all.rejected,
            uptime: 1.0,
        }
    }

    fn health(&self, all: &SiteReading, defaults: &Thresholds, now: Instant) -> ComponentHealth {
        let totals = Totals {
            completed: all.successes + all.failures,
            successes: all.successes,
            nanos: all.nanos,
        };
        let consecutive = self.consecutive_failures.load(Relaxed);
        let (window, thresholds, last_error, last_failure_at) = {
            let mut detail = self.detail.lock();
            let thresholds = detail
                .runtime_thresholds
                .or(detail.attribute_thresholds)
                .unwrap_or(*defaults);
            let window = detail.window.advance(now, totals, thresholds.window());
            (
                window,
                thresholds,
                detail.last_error.as_deref().map(str::to_owned),
                detail.last_failure_at,
            )
        };
        let (status, reason) = evaluate(&thresholds, consecutive, window);
        let recovery_attempts = self
            .recovery
            .lock()
            .strategies
            .iter()
            .map(|record| record.attempts)
            .sum();
        ComponentHealth {
            component: self.name.to_owned(),
            status,
            reason,
            calls: totals.completed + all.cancelled,
            successes: all.successes,
            failures: all.failures,
            success_rate: rate(window.successes, window.completed),
            window_calls: window.completed,
            consecutive_failures: consecutive,
            mean_latency: mean(window.nanos, window.completed),
            last_error,
            last_failure_at,
            needs_attention: self.needs_attention.load(Relaxed),
            recovery_attempts,
            circuit: self.breaker.get().map(CircuitBreaker::state),
        }
    }

    pub(crate) fn reset(&self) {
        for site in self.sites.read().iter() {
            site.reset();
        }
        self.consecutive_failures.store(0, Relaxed);
        {
            let mut detail = self.detail.lock();
            detail.last_error = None;
            detail.last_failure_at = None;
            detail.window = Window::new(Instant::now());
        }
        for counter in &self.categories {
            counter.store(0, Relaxed);
        }
        self.needs_attention.store(false, Relaxed);
        if let Some(breaker) = self.breaker.get() {
            breaker.reset();
        }
        let mut recovery = self.recovery.lock();
        recovery.budget = BudgetState::new(Instant::now());
        recovery.strategies = [StrategyRecord::default(); Strategy::ALL.len()];
        recovery.sessions = 0;
        recovery.recovered = 0;
        recovery.escalated = 0;
        recovery.budget_exhausted = 0;
    }
}

/// `part / whole`, or 1 when nothing was counted.
pub(crate) fn rate(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        1.0
    } else {
        part as f64 / whole as f64
    }
}

pub(crate) fn mean(nanos: u64, count: u64) -> Duration {
    Duration::from_nanos(nanos.checked_div(count).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_strategy_that_keeps_failing_is_passed_over_but_probed() {
        let component = ComponentState::new("component_tests_failing");
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
}
