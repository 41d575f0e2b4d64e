//! Error classification through the public API: `#[derive(Classify)]`,
//! `io::Error`, boxed errors and `register_classify`.

// The generated code must not warn.
#![deny(unused, unreachable_patterns)]

use std::error::Error;
use std::fmt;
use std::io;
use std::time::Duration;

use reliability_core::{register_classify, Classify, ErrorCategory};

#[derive(Debug, Classify)]
enum FetchError {
    #[category(network)]
    Refused,
    #[category(timeout)]
    TimedOut { after: Duration },
    #[category(validation)]
    Corrupt(String),
    #[category(resource_exhausted)]
    Throttled {
        limit: u32,
        #[retry_after]
        wait: Duration,
    },
    #[category(resource_exhausted)]
    Busy(#[retry_after] Option<Duration>),
    #[category(source)]
    Io(io::Error),
    #[category(source)]
    Store { inner: StoreError },
    #[category(source)]
    Upstream(UpstreamError),
    #[category(source)]
    Message(String),
    #[category(source)]
    Boxed(Box<dyn Error + Send + Sync>),
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::TimedOut { after } => write!(f, "no answer after {after:?}"),
            FetchError::Corrupt(what) => write!(f, "corrupt {what}"),
            FetchError::Throttled { limit, .. } => write!(f, "over the limit of {limit}"),
            other => write!(f, "{other:?}"),
        }
    }
}

/// Every variant without a category of its own is a system error.
#[derive(Debug, Classify)]
#[category(system)]
enum StoreError {
    Locked,
    #[category(permission)]
    ReadOnly,
    #[category(resource_exhausted)]
    Full {
        #[retry_after]
        retry_in: Duration,
    },
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "store error: {self:?}")
    }
}

impl Error for StoreError {}

/// An error that does not implement `Classify`: read through its source chain.
#[derive(Debug)]
struct UpstreamError {
    cause: io::Error,
}

impl fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("upstream call failed")
    }
}

impl Error for UpstreamError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.cause)
    }
}

#[test]
fn each_variant_has_its_category() {
    assert_eq!(FetchError::Refused.category(), ErrorCategory::Network);
    let timed_out = FetchError::TimedOut {
        after: Duration::from_secs(1),
    };
    assert_eq!(timed_out.category(), ErrorCategory::Timeout);
    let corrupt = FetchError::Corrupt("index".into());
    assert_eq!(corrupt.category(), ErrorCategory::Validation);
    assert_eq!(timed_out.to_string(), "no answer after 1s");
    assert_eq!(corrupt.to_string(), "corrupt index");
    assert_eq!(timed_out.retry_after(), None);
    assert_eq!(FetchError::Refused.retry_after(), None);
}

#[test]
fn retry_after_field_of_duration_and_option() {
    let throttled = FetchError::Throttled {
        limit: 10,
        wait: Duration::from_millis(1500),
    };
    assert_eq!(throttled.category(), ErrorCategory::ResourceExhausted);
    assert_eq!(throttled.retry_after(), Some(Duration::from_millis(1500)));
    assert_eq!(throttled.to_string(), "over the limit of 10");
    let busy = FetchError::Busy(Some(Duration::from_secs(2)));
    assert_eq!(busy.retry_after(), Some(Duration::from_secs(2)));
    assert_eq!(FetchError::Busy(None).retry_after(), None);
}

#[test]
fn source_delegates_to_an_io_error() {
    let refused = FetchError::Io(io::ErrorKind::ConnectionRefused.into());
    assert_eq!(refused.category(), ErrorCategory::Network);
    let other = FetchError::Io(io::Error::other("disk quota exceeded"));
    assert_eq!(other.category(), ErrorCategory::ResourceExhausted);
    assert_eq!(other.retry_after(), None);
}

#[test]
fn source_delegates_to_another_derived_type_with_its_retry_after() {
    let full = FetchError::Store {
        inner: StoreError::Full {
            retry_in: Duration::from_secs(30),
        },
    };
    assert_eq!(full.category(), ErrorCategory::ResourceExhausted);
    assert_eq!(full.retry_after(), Some(Duration::from_secs(30)));
    let read_only = FetchError::Store {
        inner: StoreError::ReadOnly,
    };
    assert_eq!(read_only.category(), ErrorCategory::Permission);
    assert_eq!(read_only.retry_after(), None);
}

#[test]
fn enum_level_category_is_the_default() {
    assert_eq!(StoreError::Locked.category(), ErrorCategory::System);
    assert_eq!(StoreError::ReadOnly.category(), ErrorCategory::Permission);
}

#[test]
fn source_reads_fields_that_do_not_implement_classify() {
    let upstream = FetchError::Upstream(UpstreamError {
        cause: io::ErrorKind::TimedOut.into(),
    });
    assert_eq!(upstream.category(), ErrorCategory::Timeout);
    let message = FetchError::Message("503 Service Unavailable".into());
    assert_eq!(message.category(), ErrorCategory::ResourceExhausted);
    let boxed = FetchError::Boxed(Box::new(io::Error::from(io::ErrorKind::NotFound)));
    assert_eq!(boxed.category(), ErrorCategory::NotFound);
}

#[derive(Debug, Classify)]
#[category(permission)]
struct Denied {
    user: String,
}

#[derive(Debug, Classify)]
#[category(resource_exhausted)]
struct RateLimited(u16, #[retry_after] Duration);

#[derive(Debug, Classify)]
#[category(source)]
struct Context {
    error: io::Error,
}

#[derive(Debug, Classify)]
#[category(timeout)]
struct Deadline;

#[test]
fn structs() {
    let denied = Denied { user: "ann".into() };
    assert_eq!(denied.user, "ann");
    assert_eq!(denied.category(), ErrorCategory::Permission);
    let limited = RateLimited(429, Duration::from_secs(5));
    assert_eq!(limited.0, 429);
    assert_eq!(limited.category(), ErrorCategory::ResourceExhausted);
    assert_eq!(limited.retry_after(), Some(Duration::from_secs(5)));
    let context = Context {
        error: io::ErrorKind::PermissionDenied.into(),
    };
    assert_eq!(context.category(), ErrorCategory::Permission);
    assert_eq!(Deadline.category(), ErrorCategory::Timeout);
}

/// A lifetime, a type parameter with a where clause and a const parameter.
#[derive(Debug, Classify)]
enum Layer<'a, E, const DEPTH: usize>
where
    E: Classify,
{
    #[category(source)]
    Inner(&'a E),
    #[category(configuration)]
    Misconfigured,
}

/// `E: Error` only: the source is read through its chain and its text.
#[derive(Debug, Classify)]
#[category(source)]
struct Chained<E: Error>(E);

/// No bound on `T`: nothing is known about the source.
#[derive(Debug, Classify)]
enum Unbounded<T> {
    #[category(source)]
    Inner(T),
}

#[derive(Debug, Classify)]
#[category(unknown)]
struct Tagged<T: Clone> {
    tag: T,
    #[retry_after]
    wait: Option<Duration>,
}

#[test]
fn generics() {
    let full = StoreError::Full {
        retry_in: Duration::from_secs(1),
    };
    let layer: Layer<'_, StoreError, 2> = Layer::Inner(&full);
    assert_eq!(layer.category(), ErrorCategory::ResourceExhausted);
    assert_eq!(layer.retry_after(), Some(Duration::from_secs(1)));
    assert_eq!(
        Layer::<StoreError, 0>::Misconfigured.category(),
        ErrorCategory::Configuration
    );

    let chained = Chained(UpstreamError {
        cause: io::ErrorKind::ConnectionReset.into(),
    });
    assert_eq!(chained.category(), ErrorCategory::Network);

    let unbounded = Unbounded::Inner(io::Error::from(io::ErrorKind::TimedOut));
    assert_eq!(unbounded.category(), ErrorCategory::Unknown);

    let tagged = Tagged {
        tag: 'x',
        wait: Some(Duration::from_millis(10)),
    };
    assert_eq!(tagged.tag.clone(), 'x');
    assert_eq!(tagged.category(), ErrorCategory::Unknown);
    assert_eq!(tagged.retry_after(), Some(Duration::from_millis(10)));
}

#[test]
fn io_errors_and_boxes() {
    assert_eq!(
        io::Error::from(io::ErrorKind::TimedOut).category(),
        ErrorCategory::Timeout
    );
    assert_eq!(
        io::Error::other("connection reset by peer").category(),
        ErrorCategory::Network
    );
    let boxed: Box<dyn Error + Send + Sync> = Box::new(UpstreamError {
        cause: io::ErrorKind::BrokenPipe.into(),
    });
    assert_eq!(boxed.category(), ErrorCategory::Network);
    let boxed: Box<dyn Error> = "invalid checksum".into();
    assert_eq!(boxed.category(), ErrorCategory::Validation);
}

#[derive(Debug, Classify)]
#[category(resource_exhausted)]
struct Quota {
    #[retry_after]
    reset_in: Duration,
}

impl fmt::Display for Quota {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("slow down")
    }
}

impl Error for Quota {}

#[test]
fn registered_types_are_found_behind_type_erasure() {
    let quota = || Quota {
        reset_in: Duration::from_secs(60),
    };
    register_classify::<Quota>();
    register_classify::<Quota>();
    let hidden = io::Error::other(quota());
    assert_eq!(hidden.category(), ErrorCategory::ResourceExhausted);
    assert_eq!(hidden.retry_after(), Some(Duration::from_secs(60)));
    let boxed: Box<dyn Error + Send + Sync> = Box::new(UpstreamError {
        cause: io::Error::other(quota()),
    });
    assert_eq!(boxed.category(), ErrorCategory::ResourceExhausted);
    assert_eq!(boxed.retry_after(), Some(Duration::from_secs(60)));
}

macro_rules! error_type {
    ($name:ident, $category:ident, $wait:ty) => {
        #[derive(Debug, Classify)]
        #[category($category)]
        struct $name {
            #[retry_after]
            wait: $wait,
        }
    };
}

error_type!(FromMacro, network, Option<Duration>);

#[test]
fn derive_inside_macro_rules() {
    let error = FromMacro {
        wait: Some(Duration::from_secs(1)),
    };
    assert_eq!(error.category(), ErrorCategory::Network);
    assert_eq!(error.retry_after(), Some(Duration::from_secs(1)));
}
