//! The runtime's registry: a component's state for each record that call
//! sites made, created on first need and handed its environment.

use std::sync::LazyLock;
use std::time::Instant;

use super::component::{ComponentReading, ComponentState, InstanceSums};
use super::env::Env;
use super::events::ReliabilityEvent;
use super::state_index::StateIndex;
use crate::record::registry::{on_instance_limit, registry, ComponentRecord, Registry};
use crate::record::site::SiteReading;

#[derive(Debug)]
pub(crate) struct Runtime {
    records: &'static Registry,
    env: Env,
    /// By the address of their record: an instance's state is apart from
    /// its component's, though both have the component's name.
    states: StateIndex<ComponentState>,
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
            states: StateIndex::with_slots(FIRST_TABLE_SLOTS),
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

    /// The state over `record`, created on first use; after that, a few
    /// loads and no lock.
    #[inline]
    pub(crate) fn state_of(
        &'static self,
        record: &'static ComponentRecord,
    ) -> &'static ComponentState {
        match self.states.get(key_of(record)) {
            Some(state) => state,
            None => self.make_state(record),
        }
    }

    #[cold]
    #[inline(never)]
    fn make_state(&'static self, record: &'static ComponentRecord) -> &'static ComponentState {
        // An instance's state is made after its component's, outside the lock.
        let parent = record.parent().map(|parent| self.state_of(parent));
        let key = key_of(record);
        let mut tables = self.states.writer();
        if let Some(state) = self.states.get(key) {
            return state;
        }
        // States live as long as their records: for the process.
        let state: &'static ComponentState = Box::leak(Box::new(ComponentState::with_parent(
            record, parent, &self.env,
        )));
        self.states.insert(&mut tables, key, state);
        state
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
    #[cfg(test)]
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

    /// A component's reading, its instances' summed into it; each instance's
    /// reading goes to `each` as soon as it is read, in the order they were
    /// made, with the number of instances. `each` hands back the reading's
    /// methods for the next instance's reading to read over.
    pub(crate) fn read_component_each(
        &'static self,
        state: &'static ComponentState,
        now: Instant,
        mut each: impl FnMut(ComponentReading, usize) -> Vec<(&'static str, SiteReading)>,
    ) -> ComponentReading {
        let mut sums = InstanceSums::default();
        let instances = self.instances(state);
        let count = instances.len();
        let mut room = Vec::new();
        for instance in instances {
            let reading = instance.read_summed_into(now, InstanceSums::default(), room);
            sums.add(&reading);
            room = each(reading, count);
        }
        state.read_summed(now, sums)
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

fn key_of(record: &'static ComponentRecord) -> usize {
    std::ptr::from_ref(record) as usize
}

/// Room for 32 records before the first copy: a kilobyte.
const FIRST_TABLE_SLOTS: usize = 64;

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

    #[test]
    fn each_record_finds_its_own_state_while_the_index_grows_under_readers() {
        let runtime: &'static Runtime = Box::leak(Box::new(Runtime::new(Registry::leaked())));
        let names: Vec<String> = (0..300).map(|i| format!("index_{i}")).collect();
        let early: Vec<_> = names[..10]
            .iter()
            .map(|name| {
                let record = runtime.records().component(name);
                (record, runtime.state_of(record))
            })
            .collect();
        let made = std::thread::scope(|scope| {
            let readers: Vec<_> = (0..2)
                .map(|_| {
                    scope.spawn(|| {
                        let mut reads = 0u32;
                        while reads < 20_000 {
                            for (record, state) in &early {
                                assert!(std::ptr::eq(runtime.state_of(record), *state));
                                reads += 1;
                            }
                        }
                    })
                })
                .collect();
            let made: Vec<_> = names[10..]
                .iter()
                .map(|name| {
                    let record = runtime.records().component(name);
                    (record, runtime.state_of(record))
                })
                .collect();
            readers.into_iter().for_each(|r| r.join().unwrap());
            made
        });
        let all: Vec<_> = early.into_iter().chain(made).collect();
        let distinct: std::collections::HashSet<usize> = all
            .iter()
            .map(|(_, state)| std::ptr::from_ref(*state) as usize)
            .collect();
        assert_eq!(distinct.len(), names.len());
        for ((record, state), name) in all.iter().zip(&names) {
            assert!(std::ptr::eq(runtime.state_of(record), *state));
            assert_eq!(state.name(), name);
        }
    }
}
