//! `#[category(crate = path)]`: the derive reaches the runtime through a
//! re-export, as `#[reliable(crate = path)]` does.
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

use std::time::Duration;

use deps::rc::{Classify, ErrorCategory};

/// Every path the derive writes: a fixed category, `source` (the error
/// probe) and `#[retry_after]`.
#[derive(Debug, Classify)]
#[category(crate = crate::deps::rc)]
#[category(unknown)]
enum FetchError {
    #[category(timeout)]
    TimedOut,
    #[category(resource_exhausted)]
    Throttled {
        #[retry_after]
        wait: Duration,
    },
    #[category(source)]
    Io(std::io::Error),
    Other,
}

/// The category and the path in one attribute, the path absolute.
#[derive(Debug, Classify)]
#[category(network, crate = ::runtime)]
struct Refused;

fn main() {
    assert_eq!(FetchError::TimedOut.category(), ErrorCategory::Timeout);
    let throttled = FetchError::Throttled {
        wait: Duration::from_secs(2),
    };
    assert_eq!(throttled.category(), ErrorCategory::ResourceExhausted);
    assert_eq!(throttled.retry_after(), Some(Duration::from_secs(2)));
    let refused = FetchError::Io(std::io::ErrorKind::ConnectionRefused.into());
    assert_eq!(refused.category(), ErrorCategory::Network);
    assert_eq!(FetchError::Other.category(), ErrorCategory::Unknown);
    assert_eq!(Refused.category(), ErrorCategory::Network);
}
