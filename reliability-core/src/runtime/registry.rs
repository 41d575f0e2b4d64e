//! The runtime's registry: a component's state for each record that call
//! sites made, created on first need and handed its environment.

use std::collections::HashMap;
use std::sync::LazyLock;
use std::time::Instant;

use parking_lot::RwLock;

use super::component::{ComponentReading, ComponentState};
use super::env::Env;
use crate::record::registry::{registry, ComponentRecord, Registry};

#[derive(Debug)]
pub(crate) struct Runtime {
    records: &'static Registry,
    env: Env,
    states: RwLock<HashMap<&'static str, &'static ComponentState>>,
}

static RUNTIME: LazyLock<Runtime> = LazyLock::new(|| Runtime::new(registry()));

/// The runtime that the attribute's call sites report to.
pub(crate) fn runtime() -> &'static Runtime {
    &RUNTIME
}

impl Runtime {
    /// A runtime over `records`, with an environment of its own.
    pub(crate) fn new(records: &'static Registry) -> Self {
        Runtime {
            records,
            env: Env::default(),
            states: RwLock::new(HashMap::new()),
        }
    }

    pub(crate) fn records(&self) -> &'static Registry {
        self.records
    }

    pub(crate) fn env(&'static self) -> &'static Env {
        &self.env
    }

    /// The state of the component called `name`, created on first use.
    pub(crate) fn component(&'static self, name: &str) -> &'static ComponentState {
        self.state_of(self.records.component(name))
    }

    /// The state of a component whose record exists, if it has been seen.
    pub(crate) fn find(&'static self, name: &str) -> Option<&'static ComponentState> {
        self.records.find(name).map(|record| self.state_of(record))
    }

    /// The state over `record`, created on first use.
    pub(crate) fn state_of(
        &'static self,
        record: &'static ComponentRecord,
    ) -> &'static ComponentState {
        if let Some(state) = self.states.read().get(record.name) {
            return state;
        }
        let mut states = self.states.write();
        states.entry(record.name).or_insert_with(|| {
            // States live as long as their records: for the process.
            Box::leak(Box::new(ComponentState::new(record, &self.env)))
        })
    }

    /// Every component, sorted by name.
    pub(crate) fn components(&'static self) -> Vec<&'static ComponentState> {
        let mut all: Vec<_> = self
            .records
            .components()
            .into_iter()
            .map(|record| self.state_of(record))
            .collect();
        all.sort_by_key(|state| state.name());
        all
    }

    /// Every component's reading, sorted by name.
    pub(crate) fn read(&'static self, now: Instant) -> Vec<ComponentReading> {
        self.components()
            .into_iter()
            .map(|state| state.read(now))
            .collect()
    }

    /// Zeroes every component and forgets the recovery history.
    pub(crate) fn reset(&'static self) {
        for state in self.components() {
            state.reset();
        }
        self.env.clear_history();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_runtime_built_on_its_own_shares_nothing_with_the_global_one() {
        let runtime: &'static Runtime = Box::leak(Box::new(Runtime::new(Registry::leaked())));
        let state = runtime.component("runtime_tests_own");
        assert!(std::ptr::eq(state, runtime.component("runtime_tests_own")));
        assert!(runtime.find("runtime_tests_own").is_some());
        assert!(super::runtime()
            .records()
            .find("runtime_tests_own")
            .is_none());
        let site = runtime.records().dynamic_site("runtime_tests_own", "get");
        runtime.records().attach(site);
        site.record_failure(10, crate::record::outcome::ErrorRef::Display(&"boom"), None);
        let readings = runtime.read(Instant::now());
        assert_eq!(readings.len(), 1);
        assert_eq!(readings[0].health.failures, 1);
    }
}
