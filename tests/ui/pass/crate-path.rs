//! `crate = path`: the runtime reached through a re-export, as a crate that
//! wraps `reliability_core` would do.
//!
//! `::reliability_core` is shadowed by another crate here, so any path the
//! expansion did not build from `crate = ...` fails to resolve: without the
//! option this file does not compile.

#![deny(warnings)]

extern crate reliability_core as runtime;
extern crate std as reliability_core;

mod deps {
    pub(crate) use runtime as rc;
}

use deps::rc::reliable;

struct Wrapped;

#[reliable(crate = crate::deps::rc, thresholds(min_calls = 2))]
impl Wrapped {
    fn get(&self) -> Result<u8, String> {
        Ok(3)
    }
}

struct Qualified;

#[crate::deps::rc::reliable(crate = ::runtime)]
impl Qualified {
    fn get(&self) -> u8 {
        4
    }
}

fn main() {
    assert_eq!(Wrapped.get(), Ok(3));
    assert_eq!(Qualified.get(), 4);

    let snapshot = deps::rc::snapshot();
    let calls = |component: &str| {
        let component = snapshot.component(component).unwrap();
        component.method("get").unwrap().calls
    };
    assert_eq!(calls("wrapped"), 1);
    assert_eq!(calls("qualified"), 1);
}
