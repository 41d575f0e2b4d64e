//! `#[track_caller]` on a `#[reliable]` method keeps the caller's location
//! (issue 13): the body is written in place, not in a closure, when it cannot
//! leave early.

mod common;

use std::fmt;
use std::panic::Location;

use common::counts;
use reliability_core::reliable;

#[derive(Debug)]
struct Error;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("error")
    }
}

struct Tracked;

#[reliable(component = "track_caller_plain")]
impl Tracked {
    #[track_caller]
    fn location(&self) -> &'static Location<'static> {
        Location::caller()
    }

    #[track_caller]
    fn checked(&self, fail: bool) -> Result<u32, Error> {
        let line = Location::caller().line();
        if fail {
            Err(Error)
        } else {
            Ok(line)
        }
    }
}

struct Outcome;

#[reliable(component = "track_caller_outcome")]
impl Outcome {
    #[track_caller]
    fn checked(&self, fail: bool) -> Result<u32, Error> {
        if fail {
            Err(Error)
        } else {
            Ok(Location::caller().line())
        }
    }
}

struct TrackedWithRecovery;

#[reliable(component = "track_caller_recovery", strategies = [retry], base_delay = "1ms")]
impl TrackedWithRecovery {
    #[track_caller]
    fn checked(&self) -> Result<u32, Error> {
        Ok(Location::caller().line())
    }
}

#[test]
fn location_caller_in_the_body_is_the_callers_line() {
    let location = Tracked.location();
    assert_eq!(location.line(), line!() - 1);
    assert_eq!(location.file(), file!());
    let line = line!() + 1;
    assert_eq!(Tracked.checked(false).unwrap(), line);
    let line = line!() + 1;
    assert_eq!(TrackedWithRecovery.checked().unwrap(), line);
}

#[test]
fn a_body_in_place_still_reports_its_outcome() {
    assert!(Outcome.checked(true).is_err());
    assert!(Outcome.checked(false).is_ok());
    assert_eq!(counts("track_caller_outcome", "checked"), (2, 1, 1));
}
