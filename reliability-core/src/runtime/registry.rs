//! The runtime's registry: a component's state for each record that call
//! sites made, created on first need and handed its environment.

use std::collections::HashMap;
use std::sync::LazyLock;
use std::time::Instant;

use parking_lot::RwLock;

use super::component::{ComponentReading, ComponentState};
use super::env::Env;
use super::events::ReliabilityEvent;
use crate::record::registry::{on_instance_limit, registry, ComponentRecord, Registry};

#[derive(Debug)]
pub(crate) struct Runtime {
    records: &'static Registry,
    env: Env,
    /// By the address of their record: an instance's state is apart from
    /// its component's, though both have the component's name.
    states: RwLock<HashMap<usize, &'static ComponentState>>,
}

static RUNTIME: LazyLock<Runtime> = LazyLock::new(|| {
    on_instance_limit(|component, limit| {
        runtime()
            .state_of(component)
            .env()
            .emit(|| ReliabilityEvent::InstanceLimitReached {
                component: component.name.to_owned(),
                limit,
            });
    });
    Runtime::new(registry())
});

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
        let key = std::ptr::from_ref(record) as usize;
        if let Some(state) = self.states.read().get(&key) {
            return state;
        }
        // An instance's state is made after its component's, outside the lock.
        let parent = record.parent().map(|parent| self.state_of(parent));
        let mut states = self.states.write();
        states.entry(key).or_insert_with(|| {
            // States live as long as their records: for the process.
            Box::leak(Box::new(ComponentState::with_parent(
                record, parent, &self.env,
            )))
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
            .map(|state| self.read_component(state, now))
            .collect()
    }

    /// A component's reading, with its instances'.
    pub(crate) fn read_component(
        &'static self,
        state: &'static ComponentState,
        now: Instant,
    ) -> ComponentReading {
        let instances = self
            .instances(state)
            .into_iter()
            .map(|instance| instance.read(now, Vec::new()))
            .collect();
        state.read(now, instances)
    }

    /// The states of a component's instances, in the order they were made.
    pub(crate) fn instances(&'static self, state: &ComponentState) -> Vec<&'static ComponentState> {
        state
            .record()
            .instances()
            .into_iter()
            .map(|record| self.state_of(record))
            .collect()
    }

    /// The state of the instance `id` of the component called `name`, if
    /// both have been seen.
    pub(crate) fn find_instance(
        &'static self,
        name: &str,
        id: &str,
    ) -> Option<&'static ComponentState> {
        let component = self.records.find(name)?;
        let record = component.find_instance(id)?;
        Some(self.state_of(record))
    }

    /// Zeroes every component and instance and forgets the recovery history.
    pub(crate) fn reset(&'static self) {
        for state in self.components() {
            for instance in self.instances(state) {
                instance.reset();
            }
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
