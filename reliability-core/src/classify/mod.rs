//! Error classification: what kind of failure an error is, and whether it is worth retrying.

mod keywords;
pub(crate) mod probe;
pub(crate) mod refused;

use std::any::TypeId;
use std::error::Error;
use std::fmt;
use std::io;
use std::time::Duration;

use parking_lot::RwLock;
use serde::{Deserialize, Serialize};

pub(crate) use keywords::classify_text;
use refused::CircuitOpen;

/// The kind of failure an error stands for; it decides which recovery applies.
///
/// | category | transient | typical cause |
/// |---|---|---|
/// | `Network` | yes | connection refused or reset, DNS, unreachable host |
/// | `Timeout` | yes | a deadline passed |
/// | `ResourceExhausted` | yes | out of memory, disk full, rate limited (429), overloaded (503) |
/// | `System` | yes | an operating-system hiccup: interrupted call, resource busy |
/// | `Validation` | no | corrupt or malformed data, checksum mismatch (`repair` handles it) |
/// | `Configuration` | no | a missing or wrong setting |
/// | `Permission` | no | permission denied, forbidden (403), unauthorized (401) |
/// | `NotFound` | no | the thing asked for does not exist (404) |
/// | `Unknown` | neither | nothing recognizable |
///
/// `network` recovery retries transient categories only; `retry` retries
/// everything that is not permanent, `Unknown` included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCategory {
    /// The network failed: refused, reset, unreachable, DNS.
    Network,
    /// A deadline passed.
    Timeout,
    /// The input or the data is wrong: invalid, corrupt, checksum mismatch.
    Validation,
    /// A setting is missing or wrong.
    Configuration,
    /// The caller may not do this.
    Permission,
    /// What was asked for does not exist.
    NotFound,
    /// Out of memory, disk, quota or rate.
    ResourceExhausted,
    /// The operating system failed in passing.
    System,
    /// Nothing recognizable.
    Unknown,
}

impl ErrorCategory {
    /// Every category, in declaration order.
    pub const ALL: [ErrorCategory; 9] = [
        ErrorCategory::Network,
        ErrorCategory::Timeout,
        ErrorCategory::Validation,
        ErrorCategory::Configuration,
        ErrorCategory::Permission,
        ErrorCategory::NotFound,
        ErrorCategory::ResourceExhausted,
        ErrorCategory::System,
        ErrorCategory::Unknown,
    ];

    /// Whether the same call may well succeed if made again.
    pub const fn is_transient(self) -> bool {
        matches!(
            self,
            ErrorCategory::Network
                | ErrorCategory::Timeout
                | ErrorCategory::ResourceExhausted
                | ErrorCategory::System
        )
    }

    /// Whether making the same call again cannot help.
    pub const fn is_permanent(self) -> bool {
        matches!(
            self,
            ErrorCategory::Validation
                | ErrorCategory::Configuration
                | ErrorCategory::Permission
                | ErrorCategory::NotFound
        )
    }

    /// The snake_case name used in reports, exports and the attribute.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCategory::Network => "network",
            ErrorCategory::Timeout => "timeout",
            ErrorCategory::Validation => "validation",
            ErrorCategory::Configuration => "configuration",
            ErrorCategory::Permission => "permission",
            ErrorCategory::NotFound => "not_found",
            ErrorCategory::ResourceExhausted => "resource_exhausted",
            ErrorCategory::System => "system",
            ErrorCategory::Unknown => "unknown",
        }
    }
}

impl fmt::Display for ErrorCategory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error that knows its [`ErrorCategory`].
///
/// Implement it by hand or with `#[derive(Classify)]`. An error type that
/// does not implement it is still classified: through its `source()` chain
/// (an `std::io::Error` in it is classified by its kind), then by keywords
/// in its text, else as `Unknown`.
pub trait Classify {
    /// The kind of failure.
    fn category(&self) -> ErrorCategory;

    /// How long the other side asked us to wait before trying again
    /// (an HTTP `Retry-After`, say); honoured by `network` recovery.
    fn retry_after(&self) -> Option<Duration> {
        None
    }
}

/// What classifying one error found: its category and how long it asked us to wait.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Classification {
    /// The kind of failure.
    pub category: ErrorCategory,
    /// The wait the error asked for, if any.
    pub retry_after: Option<Duration>,
}

impl Classification {
    /// Nothing recognizable.
    pub const UNKNOWN: Classification = Classification::new(ErrorCategory::Unknown);

    /// A category, without a wait.
    pub const fn new(category: ErrorCategory) -> Self {
        Classification {
            category,
            retry_after: None,
        }
    }

    /// What an error that implements [`Classify`] says about itself.
    pub fn of(error: &dyn Classify) -> Self {
        Classification {
            category: error.category(),
            retry_after: error.retry_after(),
        }
    }
}

// ---------------------------------------------------------------------------
// References, `std::io::Error` and boxed errors
// ---------------------------------------------------------------------------

impl<T: Classify + ?Sized> Classify for &T {
    fn category(&self) -> ErrorCategory {
        (**self).category()
    }

    fn retry_after(&self) -> Option<Duration> {
        (**self).retry_after()
    }
}

impl Classify for io::Error {
    /// By [`io::ErrorKind`]; for `Other` and kinds without a category, by the
    /// wrapped error (`get_ref()`) and its `source()` chain, then by the text.
    fn category(&self) -> ErrorCategory {
        classify_io(self).category
    }

    /// The wrapped error's, when it is a registered type that asks for a wait.
    fn retry_after(&self) -> Option<Duration> {
        classify_io(self).retry_after
    }
}

/// The category an [`io::ErrorKind`] stands for; `None` for `Other` and the
/// kinds that say nothing about the cause.
fn io_kind_category(kind: io::ErrorKind) -> Option<ErrorCategory> {
    use io::ErrorKind as K;
    Some(match kind {
        K::ConnectionRefused
        | K::ConnectionReset
        | K::ConnectionAborted
        | K::NotConnected
        | K::AddrInUse
        | K::AddrNotAvailable
        | K::BrokenPipe
        | K::HostUnreachable
        | K::NetworkUnreachable
        | K::NetworkDown => ErrorCategory::Network,
        K::TimedOut | K::WouldBlock => ErrorCategory::Timeout,
        K::PermissionDenied | K::ReadOnlyFilesystem => ErrorCategory::Permission,
        K::NotFound => ErrorCategory::NotFound,
        // The request names the wrong thing or carries the wrong data.
        K::InvalidInput
        | K::InvalidData
        | K::UnexpectedEof
        | K::AlreadyExists
        | K::NotADirectory
        | K::IsADirectory
        | K::DirectoryNotEmpty
        | K::InvalidFilename
        | K::ArgumentListTooLong => ErrorCategory::Validation,
        K::OutOfMemory | K::StorageFull | K::QuotaExceeded | K::FileTooLarge | K::TooManyLinks => {
            ErrorCategory::ResourceExhausted
        }
        // The set-up cannot do this, however often it is asked.
        K::Unsupported | K::NotSeekable | K::CrossesDevices => ErrorCategory::Configuration,
        // Passing conditions of the operating system.
        K::Interrupted
        | K::ResourceBusy
        | K::ExecutableFileBusy
        | K::Deadlock
        | K::StaleNetworkFileHandle
        | K::WriteZero => ErrorCategory::System,
        _ => return None,
    })
}

fn classify_io(error: &io::Error) -> Classification {
    if let Some(category) = io_kind_category(error.kind()) {
        return Classification::new(category);
    }
    match error.get_ref() {
        Some(inner) => classify_chain(inner),
        None => Classification::new(classify_text(&error.to_string())),
    }
}

impl Classify for Box<dyn Error + Send + Sync> {
    /// Through the error's `source()` chain: a registered type or an
    /// `io::Error` in it, else keywords in its text.
    fn category(&self) -> ErrorCategory {
        classify_chain(&**self).category
    }

    fn retry_after(&self) -> Option<Duration> {
        classify_chain(&**self).retry_after
    }
}

impl Classify for Box<dyn Error + Send> {
    /// Through the error's `source()` chain, as for `Box<dyn Error + Send + Sync>`.
    fn category(&self) -> ErrorCategory {
        classify_chain(&**self).category
    }

    fn retry_after(&self) -> Option<Duration> {
        classify_chain(&**self).retry_after
    }
}

impl Classify for Box<dyn Error> {
    /// Through the error's `source()` chain, as for `Box<dyn Error + Send + Sync>`.
    fn category(&self) -> ErrorCategory {
        classify_chain(&**self).category
    }

    fn retry_after(&self) -> Option<Duration> {
        classify_chain(&**self).retry_after
    }
}

// ---------------------------------------------------------------------------
// The chain walk
// ---------------------------------------------------------------------------

/// Levels past this are ignored: a `source()` chain that loops must not hang
/// the failure path.
const MAX_CHAIN_DEPTH: usize = 32;

/// Classifies an error through its `source()` chain.
///
/// First pass, outermost level first: an `io::Error` whose kind has a
/// category decides, and so does a level whose type implements [`Classify`]
/// and was registered (see [`register_classify`]). An `io::Error` that wraps
/// an error (`io::Error::other(inner)`) is followed into `inner`. Second
/// pass, if no level was typed: [`classify_text`] of each level's `Display`,
/// outermost first. Else `Unknown`.
pub(crate) fn classify_chain(error: &(dyn Error + 'static)) -> Classification {
    typed_level(Some(error)).unwrap_or_else(|| text_level(error))
}

/// [`classify_chain`] for an error that may borrow (is not `'static`), so
/// cannot be downcast itself; its sources always can. The attribute's probe
/// uses this: requiring `'static` there would reject, at compile time,
/// methods whose error type borrows or is a generic `E: Error`.
pub(crate) fn classify_borrowed_chain(error: &dyn Error) -> Classification {
    typed_level(error.source()).unwrap_or_else(|| text_level(error))
}

/// The levels of a chain from `first`: an `io::Error` wrapping an error is
/// followed by that error (its own `source()` skips it), any other level by
/// its `source()`.
fn levels<'a>(
    first: Option<&'a (dyn Error + 'static)>,
) -> impl Iterator<Item = &'a (dyn Error + 'static)> {
    std::iter::successors(first, |&level| {
        match level
            .downcast_ref::<io::Error>()
            .and_then(io::Error::get_ref)
        {
            Some(inner) => Some(inner as &(dyn Error + 'static)),
            None => level.source(),
        }
    })
    .take(MAX_CHAIN_DEPTH)
}

fn typed_level(first: Option<&(dyn Error + 'static)>) -> Option<Classification> {
    levels(first).find_map(|level| match level.downcast_ref::<io::Error>() {
        Some(io) => io_kind_category(io.kind()).map(Classification::new),
        // The registry's lock is released before the user's `category()` runs.
        None => registered(level).map(Classification::of),
    })
}

fn text_level(error: &dyn Error) -> Classification {
    let known = |text: String| {
        Some(classify_text(&text)).filter(|category| *category != ErrorCategory::Unknown)
    };
    known(error.to_string())
        .or_else(|| levels(error.source()).find_map(|level| known(level.to_string())))
        .map_or(Classification::UNKNOWN, Classification::new)
}

// ---------------------------------------------------------------------------
// The registry of typed errors
// ---------------------------------------------------------------------------

/// Sees whether an error in a chain is of one registered type.
type Downcast = for<'a> fn(&'a (dyn Error + 'static)) -> Option<&'a dyn Classify>;

fn downcast<'a, E: Classify + Error + 'static>(
    error: &'a (dyn Error + 'static),
) -> Option<&'a dyn Classify> {
    error
        .downcast_ref::<E>()
        .map(|error| error as &dyn Classify)
}

/// This crate's own errors, recognised without registration.
const BUILT_IN: &[Downcast] = &[
    downcast::<CircuitOpen>,
    downcast::<refused::TimedOut>,
    downcast::<refused::BulkheadFull>,
    downcast::<refused::RateLimited>,
];

struct Registered {
    type_id: TypeId,
    downcast: Downcast,
}

static REGISTRY: RwLock<Vec<Registered>> = RwLock::new(Vec::new());

fn registered<'a>(level: &'a (dyn Error + 'static)) -> Option<&'a dyn Classify> {
    BUILT_IN
        .iter()
        .find_map(|downcast| downcast(level))
        .or_else(|| {
            REGISTRY
                .read()
                .iter()
                .find_map(|entry| (entry.downcast)(level))
        })
}

/// Makes errors of type `E` recognised wherever they sit in a `source()`
/// chain: inside a `Box<dyn Error>`, an `anyhow::Error`, an
/// `io::Error::other(..)`, or as the source of an error that does not
/// implement [`Classify`] itself. Registering a type twice is harmless.
///
/// An error whose own type implements `Classify` needs no registration when
/// it is returned directly; this is for typed errors hidden behind a type
/// erasure.
///
/// # Examples
///
/// ```
/// use std::fmt;
/// use reliability_core::{register_classify, Classify, ErrorCategory};
///
/// #[derive(Debug)]
/// struct Throttled;
///
/// impl fmt::Display for Throttled {
///     fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
///         f.write_str("slow down")
///     }
/// }
///
/// impl std::error::Error for Throttled {}
///
/// impl Classify for Throttled {
///     fn category(&self) -> ErrorCategory {
///         ErrorCategory::ResourceExhausted
///     }
/// }
///
/// register_classify::<Throttled>();
/// let hidden = std::io::Error::other(Throttled);
/// assert_eq!(hidden.category(), ErrorCategory::ResourceExhausted);
/// ```
pub fn register_classify<E: Classify + Error + 'static>() {
    let type_id = TypeId::of::<E>();
    let mut registry = REGISTRY.write();
    if registry.iter().all(|entry| entry.type_id != type_id) {
        registry.push(Registered {
            type_id,
            downcast: downcast::<E>,
        });
    }
}

// ---------------------------------------------------------------------------
// Keywords
// ---------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::keywords::{normalize, KEYWORDS};
    use super::*;
    use io::ErrorKind as K;

    #[derive(Debug)]
    struct Wrapper {
        message: &'static str,
        source: Option<Box<dyn Error + Send + Sync>>,
    }

    impl fmt::Display for Wrapper {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.message)
        }
    }

    impl Error for Wrapper {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            self.source
                .as_deref()
                .map(|source| source as &(dyn Error + 'static))
        }
    }

    fn wrap(message: &'static str, source: impl Error + Send + Sync + 'static) -> Wrapper {
        Wrapper {
            message,
            source: Some(Box::new(source)),
        }
    }

    fn leaf(message: &'static str) -> Wrapper {
        Wrapper {
            message,
            source: None,
        }
    }

    /// Registered in the tests that need it; other tests never see it.
    #[derive(Debug)]
    struct Throttled(Duration);

    impl fmt::Display for Throttled {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("slow down")
        }
    }

    impl Error for Throttled {}

    impl Classify for Throttled {
        fn category(&self) -> ErrorCategory {
            ErrorCategory::ResourceExhausted
        }

        fn retry_after(&self) -> Option<Duration> {
            Some(self.0)
        }
    }

    #[test]
    fn io_kinds() {
        use ErrorCategory::*;
        for (kind, expected) in [
            (K::ConnectionRefused, Network),
            (K::ConnectionReset, Network),
            (K::ConnectionAborted, Network),
            (K::NotConnected, Network),
            (K::AddrInUse, Network),
            (K::AddrNotAvailable, Network),
            (K::BrokenPipe, Network),
            (K::HostUnreachable, Network),
            (K::NetworkUnreachable, Network),
            (K::NetworkDown, Network),
            (K::TimedOut, Timeout),
            (K::WouldBlock, Timeout),
            (K::PermissionDenied, Permission),
            (K::ReadOnlyFilesystem, Permission),
            (K::NotFound, NotFound),
            (K::InvalidInput, Validation),
            (K::InvalidData, Validation),
            (K::UnexpectedEof, Validation),
            (K::AlreadyExists, Validation),
            (K::NotADirectory, Validation),
            (K::IsADirectory, Validation),
            (K::DirectoryNotEmpty, Validation),
            (K::InvalidFilename, Validation),
            (K::ArgumentListTooLong, Validation),
            (K::OutOfMemory, ResourceExhausted),
            (K::StorageFull, ResourceExhausted),
            (K::QuotaExceeded, ResourceExhausted),
            (K::FileTooLarge, ResourceExhausted),
            (K::TooManyLinks, ResourceExhausted),
            (K::Unsupported, Configuration),
            (K::NotSeekable, Configuration),
            (K::CrossesDevices, Configuration),
            (K::Interrupted, System),
            (K::ResourceBusy, System),
            (K::ExecutableFileBusy, System),
            (K::Deadlock, System),
            (K::StaleNetworkFileHandle, System),
            (K::WriteZero, System),
        ] {
            assert_eq!(io::Error::from(kind).category(), expected, "{kind:?}");
            // The kind wins over the message.
            let error = io::Error::new(kind, "checksum mismatch");
            assert_eq!(error.category(), expected, "{kind:?}");
            assert_eq!(error.retry_after(), None);
        }
        // `Other` says nothing: the message decides.
        assert_eq!(io::Error::from(K::Other).category(), Unknown);
        assert_eq!(io::Error::other("checksum mismatch").category(), Validation);
    }

    #[test]
    fn io_other_reads_the_wrapped_error_then_the_text() {
        assert_eq!(
            io::Error::other("connection reset by peer").category(),
            ErrorCategory::Network
        );
        assert_eq!(
            io::Error::other(wrap("request failed", io::Error::from(K::TimedOut))).category(),
            ErrorCategory::Timeout
        );
        assert_eq!(
            io::Error::other("something odd").category(),
            ErrorCategory::Unknown
        );
    }

    #[test]
    fn keyword_table_is_normalized_and_each_keyword_decides_for_itself() {
        for &(keyword, category) in KEYWORDS {
            assert_eq!(
                normalize(keyword),
                keyword,
                "keywords are written normalized"
            );
            assert_eq!(classify_text(keyword), category, "{keyword}");
            assert_eq!(
                classify_text(&keyword.to_uppercase()),
                category,
                "{keyword}"
            );
            assert_eq!(
                classify_text(&format!("request failed: {keyword} (code 7)")),
                category,
                "{keyword}"
            );
        }
        assert!(KEYWORDS
            .iter()
            .all(|&(_, category)| category != ErrorCategory::Unknown));
    }

    #[test]
    fn keyword_priorities() {
        use ErrorCategory::*;
        for (text, expected) in [
            ("connection timed out", Timeout),
            ("operation timed out (os error 110)", Timeout),
            ("context deadline exceeded", Timeout),
            ("Connection refused (os error 111)", Network),
            (
                "failed to parse response: connection reset by peer",
                Network,
            ),
            ("dns error: failed to lookup address information", Network),
            ("network is unreachable", Network),
            ("403 Forbidden: API rate limit exceeded", ResourceExhausted),
            ("HTTP 429", ResourceExhausted),
            ("No space left on device (os error 28)", ResourceExhausted),
            ("Permission denied (os error 13)", Permission),
            ("401 Unauthorized", Permission),
            ("HTTP status 403", Permission),
            ("No such file or directory (os error 2)", NotFound),
            ("404 Not Found", NotFound),
            ("invalid configuration: missing key `url`", Configuration),
            ("network configuration missing", Configuration),
            ("unsupported compression", Configuration),
            ("checksum mismatch: expected abc, got def", Validation),
            ("malformed header", Validation),
            ("503 Service Unavailable", ResourceExhausted),
            ("service unavailable", ResourceExhausted),
            ("network error", Network),
            ("everything is fine", Unknown),
            ("", Unknown),
        ] {
            assert_eq!(classify_text(text), expected, "{text:?}");
        }
    }

    #[test]
    fn keywords_in_debug_spelling() {
        use ErrorCategory::*;
        for (text, expected) in [
            ("ConnectionRefused", Network),
            ("Kind(TimedOut)", Timeout),
            ("NOT_FOUND", NotFound),
            ("rate-limited", ResourceExhausted),
            ("RateLimited { retry_in: 3 }", ResourceExhausted),
            ("ChecksumMismatch", Validation),
        ] {
            assert_eq!(classify_text(text), expected, "{text:?}");
        }
    }

    #[test]
    fn status_codes_are_whole_numbers_and_words_start_words() {
        use ErrorCategory::*;
        for (text, expected) in [
            ("request 14030 failed", Unknown),
            ("id 4031", Unknown),
            ("e403x", Unknown),
            ("took 1.403 s", Unknown),
            ("took 403.5 ms", Unknown),
            ("error 403.", Permission),
            ("status=404,", NotFound),
            ("(503)", ResourceExhausted),
            ("sparse file", Unknown),
            ("subnetwork", Unknown),
            ("reparsed", Unknown),
            ("timeouts exceeded", Timeout),
        ] {
            assert_eq!(classify_text(text), expected, "{text:?}");
        }
    }

    #[test]
    fn chain_finds_an_io_error_inside_a_box() {
        let boxed: Box<dyn Error + Send + Sync> = Box::new(wrap(
            "download failed",
            io::Error::from(K::ConnectionRefused),
        ));
        assert_eq!(boxed.category(), ErrorCategory::Network);
        assert_eq!(
            classify_chain(&*boxed),
            Classification::new(ErrorCategory::Network)
        );
        let plain: Box<dyn Error> = Box::new(io::Error::from(K::NotFound));
        assert_eq!(plain.category(), ErrorCategory::NotFound);
        let send: Box<dyn Error + Send> = Box::new(leaf("disk full"));
        assert_eq!(send.category(), ErrorCategory::ResourceExhausted);
    }

    #[test]
    fn typed_levels_beat_text_and_text_is_read_outermost_first() {
        // The outer text says "invalid", the io::Error's kind says not found.
        let error = wrap(
            "invalid model",
            wrap("while loading", io::Error::from(K::NotFound)),
        );
        assert_eq!(classify_chain(&error).category, ErrorCategory::NotFound);
        let error = wrap("request timed out", leaf("checksum mismatch"));
        assert_eq!(classify_chain(&error).category, ErrorCategory::Timeout);
        let error = wrap("request failed", leaf("checksum mismatch"));
        assert_eq!(classify_chain(&error).category, ErrorCategory::Validation);
        assert_eq!(classify_chain(&leaf("odd")), Classification::UNKNOWN);
    }

    #[test]
    fn registered_type_inside_io_other_is_found() {
        let hidden = io::Error::other(Throttled(Duration::from_millis(250)));
        let nested = wrap(
            "call failed: timed out",
            io::Error::other(Throttled(Duration::from_secs(1))),
        );
        register_classify::<Throttled>();
        register_classify::<Throttled>();
        let count = REGISTRY
            .read()
            .iter()
            .filter(|entry| entry.type_id == TypeId::of::<Throttled>())
            .count();
        assert_eq!(count, 1, "registering twice is harmless");
        let expected = Classification {
            category: ErrorCategory::ResourceExhausted,
            retry_after: Some(Duration::from_millis(250)),
        };
        assert_eq!(classify_chain(&hidden), expected);
        assert_eq!(hidden.category(), ErrorCategory::ResourceExhausted);
        assert_eq!(hidden.retry_after(), Some(Duration::from_millis(250)));
        // The typed level wins over the outer text.
        assert_eq!(
            classify_chain(&nested).retry_after,
            Some(Duration::from_secs(1))
        );
        assert_eq!(
            classify_chain(&nested).category,
            ErrorCategory::ResourceExhausted
        );
    }

    #[test]
    fn built_in_errors_need_no_registration() {
        let error = wrap("refused", crate::CircuitOpen::new("db"));
        assert_eq!(
            classify_chain(&error).category,
            ErrorCategory::ResourceExhausted
        );
    }

    #[test]
    fn a_borrowed_error_is_classified_through_its_sources() {
        #[derive(Debug)]
        struct Borrowed<'a>(&'a str, io::Error);
        impl fmt::Display for Borrowed<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.0)
            }
        }
        impl Error for Borrowed<'_> {
            fn source(&self) -> Option<&(dyn Error + 'static)> {
                Some(&self.1)
            }
        }
        let text = String::from("invalid response");
        let error = Borrowed(&text, io::Error::from(K::ConnectionReset));
        assert_eq!(
            classify_borrowed_chain(&error).category,
            ErrorCategory::Network
        );
        let error = Borrowed(&text, io::Error::other("?"));
        assert_eq!(
            classify_borrowed_chain(&error).category,
            ErrorCategory::Validation
        );
    }

    #[test]
    fn a_looping_chain_ends() {
        #[derive(Debug)]
        struct Loop;
        impl fmt::Display for Loop {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("loop")
            }
        }
        impl Error for Loop {
            fn source(&self) -> Option<&(dyn Error + 'static)> {
                Some(&Loop)
            }
        }
        assert_eq!(classify_chain(&Loop), Classification::UNKNOWN);
    }
}
