//! The runtime's growing state table: growth under readers, racing makers.

// The part has more than its models use.
#![allow(dead_code)]

#[path = "../runtime/state_index.rs"]
mod state_index;

use std::sync::atomic::{AtomicUsize as StdAtomicUsize, Ordering::Relaxed as StdRelaxed};

use loom::sync::atomic::{AtomicBool, Ordering::Acquire, Ordering::Release};
use loom::sync::Arc;
use loom::thread;

use super::explore::{explore, reader_yield};
use state_index::StateIndex;

/// A state that lives for the process, as the runtime's do.
fn leaked(value: u32) -> &'static u32 {
    Box::leak(Box::new(value))
}

/// What `Runtime::state_of` does: a look-up, then the lock, a second
/// look and an insertion of a state made under it.
fn state_of(index: &StateIndex<u32>, key: usize, value: u32) -> &'static u32 {
    if let Some(state) = index.get(key) {
        return state;
    }
    let mut filled = index.writer();
    if let Some(state) = index.get(key) {
        return state;
    }
    let state = leaked(value);
    index.insert(&mut filled, key, state);
    state
}

/// The table starts with two slots: the writer's second key copies it
/// into four, its third into eight, while a reader looks up a key
/// inserted before and one the writer published to it.
///
/// - The reader finds the early state in whatever table it loads, old
///   or new, and a state published to it (a release flag after the
///   insertion) at once, without the lock.
/// - A look-up never returns another key's state.
/// - After the growth every state is found, each once.
#[test]
fn a_reader_finds_every_published_state_while_the_table_grows() {
    // How often the reader found the third state absent and present:
    // both happen.
    let outcomes = std::sync::Arc::new([StdAtomicUsize::new(0), StdAtomicUsize::new(0)]);
    let counted = std::sync::Arc::clone(&outcomes);
    explore("state table growth under a reader", 3, move || {
        let index = Arc::new(StateIndex::<u32>::with_slots(2));
        let first = state_of(&index, 1, 10);
        let published = Arc::new(AtomicBool::new(false));
        let writer = {
            let (index, published) = (Arc::clone(&index), Arc::clone(&published));
            thread::spawn(move || {
                let second = state_of(&index, 2, 20);
                published.store(true, Release);
                let third = state_of(&index, 3, 30);
                (second, third)
            })
        };
        reader_yield();
        assert!(std::ptr::eq(index.get(1).unwrap(), first));
        if published.load(Acquire) {
            assert_eq!(index.get(2), Some(&20));
        }
        let third = index.get(3);
        assert!(matches!(third, None | Some(30)));
        counted[usize::from(third.is_some())].fetch_add(1, StdRelaxed);
        let (second, third) = writer.join().unwrap();
        for (key, state) in [(1, first), (2, second), (3, third)] {
            assert!(std::ptr::eq(index.get(key).unwrap(), state));
        }
        assert_eq!((*first, *second, *third), (10, 20, 30));
        assert_eq!(index.get(4), None);
    });
    assert!(outcomes.iter().all(|count| count.load(StdRelaxed) > 0));
}

/// Two threads need the state of one key at once, and each of another
/// key of its own; the second insertion of the three grows the table.
///
/// - Both get the one state of the shared key: it is made once.
/// - No insertion loses another: every key finds its own state after.
#[test]
fn racing_makers_make_each_state_once() {
    explore("state table racing makers", 3, || {
        let index = Arc::new(StateIndex::<u32>::with_slots(2));
        let makers: Vec<_> = [1_u32, 2]
            .into_iter()
            .map(|me| {
                let index = Arc::clone(&index);
                thread::spawn(move || {
                    let shared = state_of(&index, 7, me);
                    let own = state_of(&index, me as usize, 100 + me);
                    (shared, own)
                })
            })
            .collect();
        let got: Vec<_> = makers.into_iter().map(|m| m.join().unwrap()).collect();
        assert!(std::ptr::eq(got[0].0, got[1].0), "two states for one key");
        assert!(std::ptr::eq(index.get(7).unwrap(), got[0].0));
        for (me, (_, own)) in [1_usize, 2].into_iter().zip(&got) {
            assert!(std::ptr::eq(index.get(me).unwrap(), *own));
            assert_eq!(**own as usize, 100 + me);
        }
    });
}
