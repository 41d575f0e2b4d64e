//! The background health monitor: periodic evaluation, transitions, a
//! bounded timeline, staleness and uptime.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use parking_lot::{Condvar, Mutex};
use serde::{Deserialize, Serialize};

use crate::export::snapshot::MetricsSnapshot;
use crate::health::HealthStatus;
use crate::runtime::events::ReliabilityEvent;

/// How the background monitor runs.
///
/// # Default
///
/// `interval = 1 s`, `stale_after = 60` intervals, `timeline_capacity = 1,000`
/// transitions, no final report.
#[derive(Debug, Clone, PartialEq)]
pub struct MonitorConfig {
    interval: Duration,
    stale_after: u32,
    timeline_capacity: usize,
    final_report: Option<PathBuf>,
}

impl MonitorConfig {
    /// The defaults listed above.
    pub const fn new() -> Self {
        MonitorConfig {
            interval: Duration::from_secs(1),
            stale_after: 60,
            timeline_capacity: 1_000,
            final_report: None,
        }
    }

    /// Time between two evaluations.
    #[must_use]
    pub const fn with_interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// Intervals without a call after which a component is reported stale (0: never).
    #[must_use]
    pub const fn with_stale_after(mut self, intervals: u32) -> Self {
        self.stale_after = intervals;
        self
    }

    /// Transitions kept in the health timeline; the oldest go first.
    #[must_use]
    pub const fn with_timeline_capacity(mut self, transitions: usize) -> Self {
        self.timeline_capacity = transitions;
        self
    }

    /// A report that `shutdown()` writes when it stops the monitor.
    #[must_use]
    pub fn with_final_report(mut self, path: impl Into<PathBuf>) -> Self {
        self.final_report = Some(path.into());
        self
    }

    /// Time between two evaluations.
    pub const fn interval(&self) -> Duration {
        self.interval
    }

    /// Intervals without a call after which a component is stale.
    pub const fn stale_after(&self) -> u32 {
        self.stale_after
    }

    /// The report `shutdown()` writes, if any.
    pub fn final_report(&self) -> Option<&PathBuf> {
        self.final_report.as_ref()
    }
}

impl Default for MonitorConfig {
    fn default() -> Self {
        Self::new()
    }
}

/// One change of a component's status, as the monitor saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct HealthTransition {
    /// When the monitor saw it.
    pub at: SystemTime,
    /// The component.
    pub component: String,
    /// The instance, when the transition is an instance's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// The status before.
    pub from: HealthStatus,
    /// The status after.
    pub to: HealthStatus,
    /// Why, when the new status is not healthy.
    pub reason: Option<String>,
}

#[derive(Debug)]
struct Tracked {
    status: HealthStatus,
    calls: u64,
    idle_ticks: u32,
    stale_reported: bool,
    monitored: Duration,
    unhealthy: Duration,
}

/// What the monitor has learned; kept across starts and stops.
#[derive(Debug, Default)]
pub(crate) struct MonitorState {
    /// By component, and instance for an instance's.
    components: HashMap<(String, Option<String>), Tracked>,
    timeline: VecDeque<HealthTransition>,
    last_tick: Option<Instant>,
    system_monitored: Duration,
    system_unhealthy: Duration,
}

impl MonitorState {
    /// One evaluation at `now`: returns the events it gives rise to.
    pub(crate) fn tick(
        &mut self,
        snapshot: &MetricsSnapshot,
        now: Instant,
        config: &MonitorConfig,
    ) -> Vec<ReliabilityEvent> {
        let elapsed = self
            .last_tick
            .map_or(Duration::ZERO, |last| now.saturating_duration_since(last));
        self.last_tick = Some(now);
        let mut events = Vec::new();
        let any_unhealthy_before = self
            .components
            .iter()
            .any(|((_, instance), t)| instance.is_none() && t.status == HealthStatus::Unhealthy);
        self.system_monitored += elapsed;
        if any_unhealthy_before {
            self.system_unhealthy += elapsed;
        }
        let healths = snapshot.components.iter().flat_map(|component| {
            std::iter::once(&component.health)
                .chain(component.instances.iter().map(|instance| &instance.health))
        });
        for health in healths {
            let key = (health.component.clone(), health.instance.clone());
            let tracked = self.components.entry(key).or_insert_with(|| Tracked {
                status: HealthStatus::Healthy,
                calls: health.calls,
                idle_ticks: 0,
                stale_reported: false,
                monitored: Duration::ZERO,
                unhealthy: Duration::ZERO,
            });
            // The time since the last tick is spent in the status seen then.
            tracked.monitored += elapsed;
            if tracked.status == HealthStatus::Unhealthy {
                tracked.unhealthy += elapsed;
            }
            if health.status != tracked.status {
                let transition = HealthTransition {
                    at: SystemTime::now(),
                    component: health.component.clone(),
                    instance: health.instance.clone(),
                    from: tracked.status,
                    to: health.status,
                    reason: health.reason.clone(),
                };
                events.push(ReliabilityEvent::HealthChanged {
                    component: health.component.clone(),
                    instance: health.instance.clone(),
                    from: tracked.status,
                    to: health.status,
                    reason: health.reason.clone(),
                });
                tracked.status = health.status;
                if config.timeline_capacity > 0 {
                    while self.timeline.len() >= config.timeline_capacity {
                        self.timeline.pop_front();
                    }
                    self.timeline.push_back(transition);
                }
            }
            if health.calls == tracked.calls {
                tracked.idle_ticks = tracked.idle_ticks.saturating_add(1);
                if config.stale_after > 0
                    && tracked.idle_ticks >= config.stale_after
                    && !tracked.stale_reported
                {
                    tracked.stale_reported = true;
                    events.push(ReliabilityEvent::ComponentStale {
                        component: health.component.clone(),
                        instance: health.instance.clone(),
                        idle: config.interval.saturating_mul(tracked.idle_ticks),
                    });
                }
            } else {
                tracked.calls = health.calls;
                tracked.idle_ticks = 0;
                tracked.stale_reported = false;
            }
        }
        events
    }

    /// The share of monitored time a component was not unhealthy (1 before any).
    pub(crate) fn uptime(&self, component: &str) -> f64 {
        self.components
            .get(&(component.to_owned(), None))
            .map_or(1.0, |t| ratio_up(t.monitored, t.unhealthy))
    }

    /// The share of monitored time no component was unhealthy.
    pub(crate) fn system_uptime(&self) -> f64 {
        ratio_up(self.system_monitored, self.system_unhealthy)
    }

    pub(crate) fn timeline(&self) -> Vec<HealthTransition> {
        self.timeline.iter().cloned().collect()
    }

    pub(crate) fn clear(&mut self) {
        *self = MonitorState::default();
    }
}

fn ratio_up(monitored: Duration, unhealthy: Duration) -> f64 {
    if monitored.is_zero() {
        1.0
    } else {
        1.0 - unhealthy.as_secs_f64() / monitored.as_secs_f64()
    }
}

/// The monitor as a part of the runtime: what it has learned, and its
/// thread when it runs. Built on its own in tests.
#[derive(Debug, Default)]
pub(crate) struct Monitor {
    state: Mutex<MonitorState>,
    running: Mutex<Option<Running>>,
}

impl Monitor {
    /// Starts the thread, which calls `tick` each interval; a running
    /// monitor is left as it is.
    pub(crate) fn start(
        &self,
        config: MonitorConfig,
        tick: impl Fn(&MonitorConfig) + Send + 'static,
    ) -> std::io::Result<()> {
        let mut running = self.running.lock();
        if running.is_none() {
            *running = Some(Running::spawn(config, tick)?);
        }
        Ok(())
    }

    /// Stops the thread and waits for it; returns its configuration if it ran.
    pub(crate) fn stop(&self) -> Option<MonitorConfig> {
        let running = self.running.lock().take();
        running.map(Running::stop)
    }

    pub(crate) fn is_running(&self) -> bool {
        self.running.lock().is_some()
    }

    /// The running monitor's configuration, or the default one.
    pub(crate) fn config(&self) -> MonitorConfig {
        self.running
            .lock()
            .as_ref()
            .map_or_else(MonitorConfig::new, |running| running.config.clone())
    }

    /// One evaluation of `snapshot` at `now`: returns the events it gives rise to.
    pub(crate) fn observe(
        &self,
        snapshot: &MetricsSnapshot,
        now: Instant,
        config: &MonitorConfig,
    ) -> Vec<ReliabilityEvent> {
        self.state.lock().tick(snapshot, now, config)
    }

    pub(crate) fn uptime(&self, component: &str) -> f64 {
        self.state.lock().uptime(component)
    }

    pub(crate) fn system_uptime(&self) -> f64 {
        self.state.lock().system_uptime()
    }

    pub(crate) fn timeline(&self) -> Vec<HealthTransition> {
        self.state.lock().timeline()
    }

    pub(crate) fn clear(&self) {
        self.state.lock().clear();
    }
}

/// The running monitor thread and how to stop it.
#[derive(Debug)]
pub(crate) struct Running {
    pub(crate) config: MonitorConfig,
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: JoinHandle<()>,
}

impl Running {
    pub(crate) fn spawn(
        config: MonitorConfig,
        tick: impl Fn(&MonitorConfig) + Send + 'static,
    ) -> std::io::Result<Self> {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let thread = {
            let stop = Arc::clone(&stop);
            let config = config.clone();
            std::thread::Builder::new()
                .name("reliability-monitor".into())
                .spawn(move || loop {
                    {
                        let (stopped, wake) = &*stop;
                        let mut stopped = stopped.lock();
                        if !*stopped {
                            wake.wait_for(&mut stopped, config.interval);
                        }
                        if *stopped {
                            return;
                        }
                    }
                    tick(&config);
                })?
        };
        Ok(Running {
            config,
            stop,
            thread,
        })
    }

    /// Stops the thread and waits for it.
    pub(crate) fn stop(self) -> MonitorConfig {
        {
            let (stopped, wake) = &*self.stop;
            *stopped.lock() = true;
            wake.notify_all();
        }
        if self.thread.join().is_err() {
            tracing::error!(target: "reliability", "the monitor thread panicked");
        }
        self.config
    }
}
