//! The facade: `manager()` and the entry points that read the runtime;
//! `settings.rs` configures it and `advice.rs` plans for code without the
//! attribute. It holds no logic of its own; each part (registry, policy,
//! listeners, history, monitor) can be built and tested without it.

mod advice;
mod settings;

use std::fmt;
use std::sync::{Arc, LazyLock};
use std::time::{Instant, SystemTime};

use parking_lot::Mutex;

use crate::export::snapshot::{ComponentSnapshot, InstanceSnapshot, MetricsSnapshot};
use crate::health::ComponentHealth;
use crate::monitor::{HealthTransition, Monitor, MonitorConfig};
use crate::recovery::history::RecoverySession;
use crate::runtime::env::Env;
use crate::runtime::events::{ReliabilityEvent, Subscription};
use crate::runtime::registry::{runtime, Runtime};

/// The process-wide registry of components, their call sites and their health.
///
/// Reach it with [`manager()`]. Instrumented methods register themselves on
/// their first call; nothing has to be set up.
pub struct ReliabilityManager {
    runtime: &'static Runtime,
    pub(crate) monitor: Monitor,
    /// Serializes report exports, so the last one written wins whole.
    pub(crate) exporting: Mutex<()>,
}

impl fmt::Debug for ReliabilityManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.runtime.components().iter().map(|c| c.name()).collect();
        f.debug_struct("ReliabilityManager")
            .field("components", &names)
            .field("thresholds", &self.thresholds())
            .finish_non_exhaustive()
    }
}

static MANAGER: LazyLock<ReliabilityManager> = LazyLock::new(|| ReliabilityManager {
    runtime: runtime(),
    monitor: Monitor::default(),
    exporting: Mutex::new(()),
});
/// The global [`ReliabilityManager`], created on first use.
pub fn manager() -> &'static ReliabilityManager {
    &MANAGER
}

/// A snapshot of every component: shorthand for `manager().snapshot()`.
pub fn snapshot() -> MetricsSnapshot {
    manager().snapshot()
}

impl ReliabilityManager {
    /// The health of the component called `name`, if it has been seen.
    pub fn component_health(&self, name: &str) -> Option<ComponentHealth> {
        let component = self.runtime.find(name)?;
        Some(
            self.runtime
                .read_component(component, Instant::now())
                .health,
        )
    }

    /// The health of the instance `id` of the component called `component`
    /// (see [`Instance`](crate::Instance)), if it has been seen.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use reliability_core::{manager, HealthStatus, Outcome};
    ///
    /// manager().record_instance("shards", "eu-1", "get", Outcome::Success, Duration::from_micros(40));
    /// let health = manager().instance_health("shards", "eu-1").unwrap();
    /// assert_eq!(health.instance.as_deref(), Some("eu-1"));
    /// assert_eq!(health.status, HealthStatus::Healthy);
    /// assert!(manager().instance_health("shards", "us-1").is_none());
    /// ```
    pub fn instance_health(&self, component: &str, id: &str) -> Option<ComponentHealth> {
        let instance = self.runtime.find_instance(component, id)?;
        Some(instance.read(Instant::now(), Vec::new()).health)
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
        let now = Instant::now();
        // Each instance keeps a compact copy of its methods as read and
        // shapes them on first access: the default exposition reads only
        // their sums.
        let components = self
            .runtime
            .components()
            .into_iter()
            .map(|state| {
                let mut instances = Vec::new();
                let reading = self
                    .runtime
                    .read_component_each(state, now, |instance, count| {
                        instances.reserve_exact(count - instances.len());
                        let (instance, room) =
                            InstanceSnapshot::from_reading_keeping_room(instance);
                        instances.push(instance);
                        room
                    });
                let uptime = self.monitor.uptime(reading.name);
                ComponentSnapshot::from_reading(reading, uptime).with_instances(instances)
            })
            .collect();
        MetricsSnapshot::new(SystemTime::now(), components, self.monitor.system_uptime())
    }

    /// Zeroes every counter, closes every circuit and forgets every error
    /// and recovery session, keeping the components registered. Meant for
    /// tests; calls made while it runs may be lost.
    pub fn reset(&self) {
        self.runtime.reset();
        self.monitor.clear();
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
        let listeners = &self.env().listeners;
        Subscription::new(listeners, listeners.add(Arc::new(listener)))
    }

    /// How many times an event listener has panicked.
    pub fn listener_panics(&self) -> u64 {
        self.env().listeners.panics()
    }

    /// Starts the background monitor, which evaluates every component each
    /// `interval`. Starting it while it runs does nothing.
    pub fn start_monitoring(&self, config: MonitorConfig) -> std::io::Result<()> {
        self.monitor.start(config, |config| {
            // A tick must never kill the monitor.
            let _ = std::panic::catch_unwind(|| manager().tick(config));
        })
    }

    /// Stops the background monitor and waits for its thread. Stopping a
    /// stopped monitor does nothing.
    pub fn stop_monitoring(&self) {
        self.monitor.stop();
    }

    /// Whether the background monitor runs.
    pub fn is_monitoring(&self) -> bool {
        self.monitor.is_running()
    }

    /// Evaluates every component now, as one monitor tick would: records
    /// transitions, staleness and uptime, emits their events, and returns them.
    pub fn check_health(&self) -> Vec<ReliabilityEvent> {
        self.tick(&self.monitor.config())
    }

    fn tick(&self, config: &MonitorConfig) -> Vec<ReliabilityEvent> {
        let snapshot = self.snapshot();
        let now = self.clock().now();
        let events = self.monitor.observe(&snapshot, now, config);
        for event in &events {
            self.env().emit(|| event.clone());
        }
        events
    }

    /// The health transitions the monitor has seen, oldest first.
    pub fn health_timeline(&self) -> Vec<HealthTransition> {
        self.monitor.timeline()
    }

    /// The most recent recovery sessions, oldest first (at most the
    /// history's capacity: 1,000 unless set otherwise).
    pub fn recovery_history(&self) -> Vec<RecoverySession> {
        self.env().sessions()
    }

    /// Clears a component's `needs_attention` flag after an escalation was
    /// dealt with. Returns whether it was set.
    ///
    /// A component's flag is set when any of its instances' is: this clears
    /// the component's and every instance's.
    pub fn acknowledge(&self, component: &str) -> bool {
        let Some(state) = self.runtime.find(component) else {
            return false;
        };
        let mut was_set = state.acknowledge();
        for instance in self.runtime.instances(state) {
            was_set |= instance.acknowledge();
        }
        was_set
    }

    /// Clears one instance's `needs_attention` flag. Returns whether it was set.
    pub fn acknowledge_instance(&self, component: &str, id: &str) -> bool {
        self.runtime
            .find_instance(component, id)
            .is_some_and(|state| state.acknowledge())
    }

    fn env(&self) -> &'static Env {
        self.runtime.env()
    }
}
