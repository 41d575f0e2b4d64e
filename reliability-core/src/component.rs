//! A component: the call sites that report under one name, and its health.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant, SystemTime};

use parking_lot::{Mutex, RwLock};

use crate::health::{evaluate, ComponentHealth, Thresholds, Totals, Window};
use crate::site::{CallSite, SiteReading};
use crate::snapshot::{ComponentSnapshot, MethodSnapshot};

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
        }
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
        let health = ComponentHealth {
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
        };
        ComponentSnapshot {
            name: self.name.to_owned(),
            health,
            methods: methods
                .into_iter()
                .map(|(name, reading)| MethodSnapshot::from_reading(name, reading))
                .collect(),
        }
    }

    pub(crate) fn reset(&self) {
        for site in self.sites.read().iter() {
            site.reset();
        }
        self.consecutive_failures.store(0, Relaxed);
        let mut detail = self.detail.lock();
        detail.last_error = None;
        detail.last_failure_at = None;
        detail.window = Window::new(Instant::now());
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
