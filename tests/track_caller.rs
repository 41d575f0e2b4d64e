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

impl From<std::num::ParseIntError> for Error {
    fn from(_: std::num::ParseIntError) -> Self {
        Error
    }
}

struct Early;

/// Bodies that leave early with `return` and `?`: written in place with
/// their exits turned into breaks, so the caller's location is kept and the
/// outcome of the way out is still recorded.
#[reliable(component = "track_caller_early")]
impl Early {
    #[track_caller]
    fn parse(&self, text: &str) -> Result<u32, Error> {
        if text.is_empty() {
            return Ok(Location::caller().line());
        }
        let value: u32 = text.parse()?;
        Ok(value)
    }

    #[track_caller]
    fn first(&self, values: &[u32]) -> Option<(u32, u32)> {
        let first = values.first()?;
        // A closure's own `?` is the closure's.
        let doubled = || -> Option<u32> { first.checked_mul(2) };
        Some((doubled()?, Location::caller().line()))
    }
}

struct EarlyWithRecovery {
    attempts: std::sync::atomic::AtomicU32,
}

#[reliable(component = "track_caller_early_recovery", strategies = [retry], base_delay = "1ms")]
impl EarlyWithRecovery {
    #[track_caller]
    fn parse(&self, text: &str) -> Result<u32, Error> {
        let attempt = self
            .attempts
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if attempt == 0 {
            // The first attempt fails through `?`; the retry succeeds.
            let _: u32 = "not a number".parse()?;
        }
        if text.is_empty() {
            return Ok(Location::caller().line());
        }
        Ok(text.parse()?)
    }
}

#[test]
fn a_body_that_leaves_early_keeps_the_callers_line_and_its_outcomes() {
    let line = line!() + 1;
    assert_eq!(Early.parse("").unwrap(), line);
    assert_eq!(Early.parse("42").unwrap(), 42);
    assert!(
        Early.parse("x").is_err(),
        "`?` converts the error and leaves"
    );
    assert_eq!(counts("track_caller_early", "parse"), (3, 2, 1));
    let line = line!() + 1;
    assert_eq!(Early.first(&[3]), Some((6, line)));
    assert_eq!(Early.first(&[]), None);
    assert_eq!(Early.first(&[u32::MAX]), None, "the closure's `?`");
    // `Option` methods succeed whatever they return.
    assert_eq!(counts("track_caller_early", "first"), (3, 3, 0));
}

#[test]
fn a_body_that_leaves_early_is_retried_in_place() {
    let service = EarlyWithRecovery {
        attempts: std::sync::atomic::AtomicU32::new(0),
    };
    let line = line!() + 1;
    assert_eq!(service.parse("").unwrap(), line);
    assert_eq!(
        service.attempts.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "the `?` failure was retried"
    );
    assert_eq!(counts("track_caller_early_recovery", "parse"), (1, 1, 0));
}
