//! The global manager: the registry of components and the entry points that read it.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use once_cell::sync::Lazy;
use parking_lot::{Mutex, RwLock};

use crate::classify::{classify_chain, ErrorCategory};
use crate::export::report::{write_atomically, ReliabilityReport, ReportError};
use crate::export::snapshot::MetricsSnapshot;
use crate::health::{ComponentHealth, ThresholdError, Thresholds};
use crate::monitor::{HealthTransition, MonitorConfig, MonitorState, Running};
use crate::record::call::{Call, Observed};
use crate::record::clock::{Clock, SystemClock};
use crate::record::outcome::{ErrorRef, Outcome, RecordOutcome};
use crate::record::site::{CallSite, SiteMeta};
use crate::recovery::history::{History, RecoverySession, DEFAULT_HISTORY_CAPACITY};
use crate::recovery::plan::{select_strategy, RecoveryContext, RecoveryPlan};
use crate::recovery::strategy::{RetryBudget, Strategy, StrategyConfig};
use crate::runtime::component::ComponentState;
use crate::runtime::events::{Listeners, ReliabilityEvent, Subscription};

/// The process-wide registry of components, their call sites and their health.
///
/// Reach it with [`manager()`]. Instrumented methods register themselves on
/// their first call; nothing has to be set up.
pub struct ReliabilityManager {
    components: RwLock<Registry>,
    /// Call sites made at run time for [`observe`] and [`record`](Self::record).
    dynamic_sites: RwLock<HashMap<String, HashMap<String, &'static CallSite>>>,
    thresholds: RwLock<Thresholds>,
    clock: RwLock<Arc<dyn Clock>>,
    retry_budget: RwLock<RetryBudget>,
    default_strategies: RwLock<StrategyConfig>,
    history: Mutex<History>,
    /// xorshift64* state for jitter.
    jitter: Mutex<u64>,
    listeners: Listeners,
    monitor_state: Mutex<MonitorState>,
    monitor: Mutex<Option<Running>>,
    /// Serializes report exports, so the last one written wins whole.
    exporting: Mutex<()>,
    error_text: RwLock<ErrorTextPolicy>,
}

/// What is kept of an error's text.
enum ErrorTextPolicy {
    Keep,
    Redact(Arc<dyn Fn(&str) -> String + Send + Sync>),
    Drop,
}

#[derive(Default)]
struct Registry {
    by_name: HashMap<&'static str, &'static ComponentState>,
}

impl fmt::Debug for ReliabilityManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&str> = self.components.read().by_name.keys().copied().collect();
        names.sort_unstable();
        f.debug_struct("ReliabilityManager")
            .field("components", &names)
            .field("thresholds", &*self.thresholds.read())
            .finish_non_exhaustive()
    }
}

static MANAGER: Lazy<ReliabilityManager> = Lazy::new(|| ReliabilityManager {
    components: RwLock::new(Registry::default()),
    dynamic_sites: RwLock::new(HashMap::new()),
    thresholds: RwLock::new(Thresholds::new()),
    clock: RwLock::new(Arc::new(SystemClock)),
    retry_budget: RwLock::new(RetryBudget::new()),
    default_strategies: RwLock::new(DEFAULT_STRATEGIES),
    history: Mutex::new(History::new(DEFAULT_HISTORY_CAPACITY)),
    jitter: Mutex::new(seed_from_time()),
    listeners: Listeners::default(),
    monitor_state: Mutex::new(MonitorState::default()),
    monitor: Mutex::new(None),
    exporting: Mutex::new(()),
    error_text: RwLock::new(ErrorTextPolicy::Keep),
});

/// What `handle_failure` plans with until `set_default_strategies` says otherwise.
const DEFAULT_STRATEGIES: StrategyConfig = StrategyConfig::new()
    .with_strategy(Strategy::Retry)
    .with_strategy(Strategy::Network)
    .with_strategy(Strategy::Escalate);

fn seed_from_time() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    nanos | 1
}

/// What [`ReliabilityManager::handle_failure`] advises.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct RecoveryAction {
    /// The error's category.
    pub category: ErrorCategory,
    /// How long the error asked to wait, if it did.
    pub retry_after: Option<Duration>,
    /// The step to take next.
    pub plan: RecoveryPlan,
}

/// The global [`ReliabilityManager`], created on first use.
pub fn manager() -> &'static ReliabilityManager {
    &MANAGER
}

/// A snapshot of every component: shorthand for `manager().snapshot()`.
pub fn snapshot() -> MetricsSnapshot {
    manager().snapshot()
}

/// Runs `f` as a call of `method` on `component`, recording its latency and
/// outcome, for code that cannot carry the attribute.
///
/// The attribute's expansion records through the same call guard, with the
/// difference that its call site is a `static` found without a look-up; here
/// the site is looked up by name on every call.
///
/// # Examples
///
/// ```
/// let parsed: Result<u16, std::num::ParseIntError> =
///     reliability_core::observe("config_loader", "parse_port", || "8080".parse());
/// assert_eq!(parsed, Ok(8080));
/// let snap = reliability_core::snapshot();
/// let method = snap.component("config_loader").unwrap().method("parse_port").unwrap();
/// assert_eq!(method.successes, 1);
/// ```
pub fn observe<R: RecordOutcome>(component: &str, method: &str, f: impl FnOnce() -> R) -> R {
    let call = Call::start(manager().dynamic_site(component, method));
    let value = f();
    call.finish(match value.failure() {
        None => Observed::Success,
        Some(error) => Observed::Failure(ErrorRef::Display(error), None),
    });
    value
}

impl ReliabilityManager {
    /// Registers a call site under its component, creating the component on first sight.
    pub(crate) fn attach(&self, site: &'static CallSite) -> &'static ComponentState {
        let component = self.component(site.meta().component);
        component.attach(site);
        component
    }

    fn component(&self, name: &str) -> &'static ComponentState {
        if let Some(component) = self.components.read().by_name.get(name) {
            return component;
        }
        let mut registry = self.components.write();
        if let Some(component) = registry.by_name.get(name) {
            return component;
        }
        // Components live as long as the process: call sites are statics that point at them.
        let name: &'static str = Box::leak(name.to_owned().into_boxed_str());
        let component: &'static ComponentState = Box::leak(Box::new(ComponentState::new(name)));
        registry.by_name.insert(name, component);
        component
    }

    pub(crate) fn dynamic_site(&self, component: &str, method: &str) -> &'static CallSite {
        if let Some(site) = self
            .dynamic_sites
            .read()
            .get(component)
            .and_then(|methods| methods.get(method))
        {
            return site;
        }
        let mut sites = self.dynamic_sites.write();
        let methods = sites.entry(component.to_owned()).or_default();
        if let Some(site) = methods.get(method) {
            return site;
        }
        let meta: &'static SiteMeta = Box::leak(Box::new(SiteMeta {
            component: Box::leak(component.to_owned().into_boxed_str()),
            method: Box::leak(method.to_owned().into_boxed_str()),
            thresholds: None,
            recovery: None,
        }));
        let site: &'static CallSite = Box::leak(Box::new(CallSite::new(meta)));
        methods.insert(method.to_owned(), site);
        site
    }

    /// Records one call made outside any instrumented method.
    ///
    /// Each distinct `(component, method)` pair keeps a call site for the
    /// life of the process, so use a bounded set of names.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use reliability_core::{manager, Outcome};
    ///
    /// manager().record("legacy_queue", "push", Outcome::Success, Duration::from_micros(40));
    /// manager().record("legacy_queue", "push", Outcome::Failure, Duration::from_micros(90));
    /// let health = manager().component_health("legacy_queue").unwrap();
    /// assert_eq!((health.calls, health.failures), (2, 1));
    /// ```
    pub fn record(&self, component: &str, method: &str, outcome: Outcome, duration: Duration) {
        let site = self.dynamic_site(component, method);
        let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        match outcome {
            Outcome::Success => site.record_success(nanos),
            Outcome::Failure => site.record_failure(nanos, ErrorRef::TypeName("failure"), None),
            Outcome::Panicked => site.record_failure(nanos, ErrorRef::Panic, None),
            Outcome::Cancelled => site.record_cancelled(),
        }
    }

    /// Records one failed call with its error's text (truncated to 256 bytes).
    pub fn record_error(
        &self,
        component: &str,
        method: &str,
        error: &dyn fmt::Display,
        duration: Duration,
    ) {
        let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        self.dynamic_site(component, method)
            .record_failure(nanos, ErrorRef::Display(error), None);
    }

    /// The health of the component called `name`, if it has been seen.
    pub fn component_health(&self, name: &str) -> Option<ComponentHealth> {
        let component = *self.components.read().by_name.get(name)?;
        let defaults = *self.thresholds.read();
        Some(component.snapshot(&defaults, Instant::now()).health)
    }

    /// The health of every component, sorted by name.
    pub fn all_component_health(&self) -> Vec<ComponentHealth> {
        self.snapshot()
            .components
            .into_iter()
            .map(|c| c.health)
            .collect()
    }

    /// Every component's counters and health at this moment.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let components: Vec<&'static ComponentState> =
            self.components.read().by_name.values().copied().collect();
        let defaults = *self.thresholds.read();
        let now = Instant::now();
        let mut snapshots: Vec<_> = components
            .iter()
            .map(|c| c.snapshot(&defaults, now))
            .collect();
        snapshots.sort_by(|a, b| a.name.cmp(&b.name));
        let monitor = self.monitor_state.lock();
        for snapshot in &mut snapshots {
            snapshot.uptime = monitor.uptime(&snapshot.name);
        }
        MetricsSnapshot::new(SystemTime::now(), snapshots, monitor.system_uptime())
    }

    /// The thresholds of components that set none of their own.
    pub fn thresholds(&self) -> Thresholds {
        *self.thresholds.read()
    }

    /// Sets the thresholds of every component that sets none of its own.
    pub fn set_thresholds(&self, thresholds: Thresholds) -> Result<(), ThresholdError> {
        thresholds.validate()?;
        *self.thresholds.write() = thresholds;
        Ok(())
    }

    /// Sets one component's thresholds, overriding the attribute's and the global ones.
    pub fn set_component_thresholds(
        &self,
        component: &str,
        thresholds: Thresholds,
    ) -> Result<(), ThresholdError> {
        thresholds.validate()?;
        self.component(component).set_thresholds(thresholds);
        Ok(())
    }

    /// Zeroes every counter, closes every circuit and forgets every error
    /// and recovery session, keeping the components registered. Meant for
    /// tests; calls made while it runs may be lost.
    pub fn reset(&self) {
        let components: Vec<&'static ComponentState> =
            self.components.read().by_name.values().copied().collect();
        for component in components {
            component.reset();
        }
        self.history.lock().clear();
        self.monitor_state.lock().clear();
    }

    /// Calls `listener` with every [`ReliabilityEvent`] until the returned
    /// [`Subscription`] is dropped. A listener that panics is caught,
    /// counted and logged; it harms neither the caller nor other listeners.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use reliability_core::{manager, ReliabilityEvent};
    ///
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let subscription = {
    ///     let seen = Arc::clone(&seen);
    ///     manager().subscribe(move |event: &ReliabilityEvent| {
    ///         seen.lock().unwrap().push(event.component().to_owned());
    ///     })
    /// };
    /// drop(subscription); // unsubscribed
    /// ```
    pub fn subscribe(
        &self,
        listener: impl Fn(&ReliabilityEvent) + Send + Sync + 'static,
    ) -> Subscription {
        Subscription::new(self.listeners.add(Arc::new(listener)))
    }

    pub(crate) fn unsubscribe(&self, id: u64) {
        self.listeners.remove(id);
    }

    /// Builds and emits an event, unless nobody would see it: no listener,
    /// and no `tracing` subscriber that takes errors. (Events are built on
    /// failure paths only; skipping them keeps those paths short too.)
    pub(crate) fn emit(&self, event: impl FnOnce() -> ReliabilityEvent) {
        if self.listeners.is_empty() && !tracing::level_enabled!(tracing::Level::ERROR) {
            return;
        }
        self.listeners.emit(&event());
    }

    /// How many times an event listener has panicked.
    pub fn listener_panics(&self) -> u64 {
        self.listeners.panics()
    }

    /// Starts the background monitor, which evaluates every component each
    /// `interval`. Starting it while it runs does nothing.
    pub fn start_monitoring(&self, config: MonitorConfig) -> std::io::Result<()> {
        let mut monitor = self.monitor.lock();
        if monitor.is_some() {
            return Ok(());
        }
        *monitor = Some(Running::spawn(config, |config| {
            // A tick must never kill the monitor.
            let _ = std::panic::catch_unwind(|| manager().tick(config));
        })?);
        Ok(())
    }

    /// Stops the background monitor and waits for its thread. Stopping a
    /// stopped monitor does nothing.
    pub fn stop_monitoring(&self) {
        let running = self.monitor.lock().take();
        if let Some(running) = running {
            running.stop();
        }
    }

    /// Whether the background monitor runs.
    pub fn is_monitoring(&self) -> bool {
        self.monitor.lock().is_some()
    }

    /// Stops the monitor and, if its configuration names one, writes a final
    /// report; returns where.
    pub fn shutdown(&self) -> Result<Option<std::path::PathBuf>, ReportError> {
        let running = self.monitor.lock().take();
        let config = running.map(Running::stop);
        match config.as_ref().and_then(MonitorConfig::final_report) {
            Some(path) => self.export_report(path).map(Some),
            None => Ok(None),
        }
    }

    /// Evaluates every component now, as one monitor tick would: records
    /// transitions, staleness and uptime, emits their events, and returns them.
    pub fn check_health(&self) -> Vec<ReliabilityEvent> {
        let config = self
            .monitor
            .lock()
            .as_ref()
            .map_or_else(MonitorConfig::new, |running| running.config.clone());
        self.tick(&config)
    }

    fn tick(&self, config: &MonitorConfig) -> Vec<ReliabilityEvent> {
        let snapshot = self.snapshot();
        let now = self.clock().now();
        let events = self.monitor_state.lock().tick(&snapshot, now, config);
        for event in &events {
            self.emit(|| event.clone());
        }
        events
    }

    /// The health transitions the monitor has seen, oldest first.
    pub fn health_timeline(&self) -> Vec<HealthTransition> {
        self.monitor_state.lock().timeline()
    }

    /// Everything the manager knows: thresholds, system and component
    /// metrics with uptime, the recovery history and the health timeline.
    pub fn report(&self) -> ReliabilityReport {
        let snapshot = self.snapshot();
        ReliabilityReport {
            generated_at: snapshot.taken_at,
            version: env!("CARGO_PKG_VERSION").to_owned(),
            thresholds: self.thresholds(),
            system: snapshot.system,
            components: snapshot.components,
            recovery_history: self.recovery_history(),
            health_timeline: self.health_timeline(),
        }
    }

    /// Writes [`report`](Self::report) to `path` as pretty JSON, atomically:
    /// a temporary file in the same directory, synced, then renamed. On an
    /// error the file already at `path`, if any, is left as it was.
    pub fn export_report(
        &self,
        path: impl AsRef<std::path::Path>,
    ) -> Result<std::path::PathBuf, ReportError> {
        let json = self.report().to_json();
        let _one_at_a_time = self.exporting.lock();
        write_atomically(path.as_ref(), json.as_bytes())
    }

    /// The text kept of an error: truncated to 256 bytes, then passed
    /// through the redactor, if one is set.
    pub(crate) fn error_text(&self, error: crate::record::outcome::ErrorRef<'_>) -> String {
        match &*self.error_text.read() {
            ErrorTextPolicy::Keep => error.to_text(crate::record::site::ERROR_TEXT_LIMIT),
            ErrorTextPolicy::Redact(redact) => {
                let redacted = redact(&error.to_text(crate::record::site::ERROR_TEXT_LIMIT));
                crate::record::outcome::ErrorRef::Display(&redacted)
                    .to_text(crate::record::site::ERROR_TEXT_LIMIT)
            }
            ErrorTextPolicy::Drop => "(error text not kept)".to_owned(),
        }
    }

    /// Passes every error text through `redact` before it is kept (in the
    /// snapshot, the recovery history, the report and events), for errors
    /// that may carry secrets, such as URLs with tokens.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use reliability_core::manager;
    ///
    /// manager().set_error_redactor(|text: &str| {
    ///     text.split(' ').map(|w| if w.contains("token=") { "[redacted]" } else { w })
    ///         .collect::<Vec<_>>().join(" ")
    /// });
    /// manager().record_error("doc_redact", "get", &"GET https://x/?token=s3cret failed", Duration::ZERO);
    /// let kept = manager().component_health("doc_redact").unwrap().last_error.unwrap();
    /// assert_eq!(kept, "GET [redacted] failed");
    /// # manager().set_keep_error_text(true);
    /// ```
    pub fn set_error_redactor(&self, redact: impl Fn(&str) -> String + Send + Sync + 'static) {
        *self.error_text.write() = ErrorTextPolicy::Redact(Arc::new(redact));
    }

    /// Whether error texts are kept at all (they are by default). Setting it
    /// again, either way, removes a redactor.
    pub fn set_keep_error_text(&self, keep: bool) {
        *self.error_text.write() = if keep {
            ErrorTextPolicy::Keep
        } else {
            ErrorTextPolicy::Drop
        };
    }

    /// Gives every instrumented call a `tracing` span (`reliable_call`, target
    /// `reliability`, fields `component` and `method`), entered for the
    /// call (for each poll of an async call). Off by default: a span per
    /// call costs more than the rest of the call path.
    pub fn set_call_spans(&self, on: bool) {
        crate::record::call::set_call_spans(on);
    }

    /// The clock recovery waits on.
    pub fn clock(&self) -> Arc<dyn Clock> {
        Arc::clone(&self.clock.read())
    }

    /// Replaces the clock recovery waits on: backoff delays, circuit
    /// cool-downs, retry budgets. Tests install a [`ManualClock`](crate::ManualClock).
    pub fn set_clock(&self, clock: Arc<dyn Clock>) {
        *self.clock.write() = clock;
    }

    /// The retry budget of components whose attribute sets none.
    pub fn retry_budget(&self) -> RetryBudget {
        *self.retry_budget.read()
    }

    /// Sets the retry budget of components whose attribute sets none.
    pub fn set_retry_budget(&self, budget: RetryBudget) {
        *self.retry_budget.write() = budget;
    }

    /// Seeds the jitter of retry delays, for runs that must repeat exactly.
    pub fn set_jitter_seed(&self, seed: u64) {
        *self.jitter.lock() = seed | 1;
    }

    /// A uniform sample in `[0, 1)` for jitter (xorshift64*).
    pub(crate) fn jitter_sample(&self) -> f64 {
        let mut state = self.jitter.lock();
        let mut x = *state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        *state = x;
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }

    pub(crate) fn push_session(&self, session: RecoverySession) {
        self.history.lock().push(session);
    }

    /// The most recent recovery sessions, oldest first (at most the
    /// history's capacity: 1,000 unless set otherwise).
    pub fn recovery_history(&self) -> Vec<RecoverySession> {
        self.history.lock().sessions()
    }

    /// How many recovery sessions the history keeps; the oldest go first.
    pub fn set_history_capacity(&self, capacity: usize) {
        self.history.lock().set_capacity(capacity);
    }

    /// Clears a component's `needs_attention` flag after an escalation was
    /// dealt with. Returns whether it was set.
    pub fn acknowledge(&self, component: &str) -> bool {
        let found = self.components.read().by_name.get(component).copied();
        found.is_some_and(ComponentState::acknowledge)
    }

    /// The strategies [`handle_failure`](Self::handle_failure) plans with.
    pub fn set_default_strategies(&self, config: StrategyConfig) {
        *self.default_strategies.write() = config;
    }

    /// Advises what to do about `error`, for code that is not annotated: the
    /// same decision the attribute's recovery makes, from the error's
    /// category, the component's health and what `context` says was tried.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io;
    /// use reliability_core::{manager, ErrorCategory, RecoveryContext, RecoveryPlan};
    ///
    /// let error = io::Error::new(io::ErrorKind::ConnectionReset, "reset by peer");
    /// let action = manager().handle_failure("legacy_client", &error, &RecoveryContext::new());
    /// assert_eq!(action.category, ErrorCategory::Network);
    /// assert!(matches!(action.plan, RecoveryPlan::Retry { .. }));
    /// ```
    pub fn handle_failure(
        &self,
        component: &str,
        error: &(dyn std::error::Error + 'static),
        context: &RecoveryContext,
    ) -> RecoveryAction {
        let classification = classify_chain(error);
        let health = self
            .component_health(component)
            .unwrap_or_else(|| ComponentHealth::empty(component));
        let config = *self.default_strategies.read();
        RecoveryAction {
            category: classification.category,
            retry_after: classification.retry_after,
            plan: select_strategy(classification.category, &health, context, &config),
        }
    }
}
