//! The category probe: what kind of failure a failed call's error is, picked
//! from the error's type (`Classify`, then the `source()` chain, then its
//! text) by autoref specialization, on stable Rust.

use crate::classify::Classification;
use crate::record::call::Observed;
use crate::record::probe::Probe;

/// How an error can be classified, from the most to the least informative;
/// the probes below pick it from the error's type.
#[doc(hidden)]
pub enum CategorySource<'a> {
    /// The error implements `Classify`.
    Classified(&'a dyn crate::Classify),
    /// The error implements `std::error::Error`: its `source()` chain, then its text.
    /// Not `'static`, so that an error type that borrows, or a generic
    /// `E: Error`, is accepted; its sources are `'static` and are downcast.
    Chain(&'a dyn std::error::Error),
    /// Keywords in the error's `Display` text, in its alternate form (`{:#}`).
    Display(&'a dyn core::fmt::Display),
    /// Keywords in the error's `Debug` text.
    Debug(&'a dyn core::fmt::Debug),
    /// Nothing to read.
    Unknown,
}

impl core::fmt::Debug for CategorySource<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            CategorySource::Classified(error) => f
                .debug_tuple("Classified")
                .field(&error.category())
                .finish(),
            CategorySource::Chain(error) => {
                f.debug_tuple("Chain").field(&error.to_string()).finish()
            }
            CategorySource::Display(error) => {
                f.debug_tuple("Display").field(&error.to_string()).finish()
            }
            CategorySource::Debug(error) => f.debug_tuple("Debug").field(error).finish(),
            CategorySource::Unknown => f.write_str("Unknown"),
        }
    }
}

impl CategorySource<'_> {
    /// The category and the requested wait. Only called for a failure, so
    /// formatting the text is acceptable.
    pub fn resolve(self) -> Classification {
        match self {
            CategorySource::Classified(error) => Classification::of(error),
            CategorySource::Chain(error) => crate::classify::classify_borrowed_chain(error),
            // The alternate form, which error reporters such as
            // `anyhow::Error` (not an `Error` itself) use for the whole chain.
            CategorySource::Display(error) => {
                Classification::new(crate::classify::classify_text(&format!("{error:#}")))
            }
            CategorySource::Debug(error) => {
                Classification::new(crate::classify::classify_text(&format!("{error:?}")))
            }
            CategorySource::Unknown => Classification::UNKNOWN,
        }
    }
}

// `(&&&&&&Probe(&value)).__reliable_category()`, six `&`: one per level below,
// for a value of any type. `None` for `Ok` and for a value that is not a
// `Result`. The source borrows the value (`'a`), not the probe.

/// `Result<T, E>` with `E: Classify`.
pub trait CategoryByClassify<'a> {
    /// Where the category of the probed value's error comes from.
    fn __reliable_category(&self) -> Option<CategorySource<'a>>;
}

/// `Result<T, E>` with `E: std::error::Error`.
pub trait CategoryByChain<'a> {
    /// Where the category of the probed value's error comes from.
    fn __reliable_category(&self) -> Option<CategorySource<'a>>;
}

/// `Result<T, E>` with `E: Display`.
pub trait CategoryByDisplay<'a> {
    /// Where the category of the probed value's error comes from.
    fn __reliable_category(&self) -> Option<CategorySource<'a>>;
}

/// `Result<T, E>` with `E: Debug`.
pub trait CategoryByDebug<'a> {
    /// Where the category of the probed value's error comes from.
    fn __reliable_category(&self) -> Option<CategorySource<'a>>;
}

/// Any other `Result<T, E>`.
pub trait CategoryOfOpaque<'a> {
    /// Where the category of the probed value's error comes from.
    fn __reliable_category(&self) -> Option<CategorySource<'a>>;
}

/// Any other type: not a failure.
pub trait CategoryOfValue<'a> {
    /// Always `None`.
    fn __reliable_category(&self) -> Option<CategorySource<'a>>;
}

impl<'a, T, E: crate::Classify> CategoryByClassify<'a> for &&&&&Probe<'a, Result<T, E>> {
    #[inline(always)]
    fn __reliable_category(&self) -> Option<CategorySource<'a>> {
        self.0
            .as_ref()
            .err()
            .map(|error| CategorySource::Classified(error))
    }
}

impl<'a, T, E: std::error::Error> CategoryByChain<'a> for &&&&Probe<'a, Result<T, E>> {
    #[inline(always)]
    fn __reliable_category(&self) -> Option<CategorySource<'a>> {
        self.0
            .as_ref()
            .err()
            .map(|error| CategorySource::Chain(error))
    }
}

impl<'a, T, E: core::fmt::Display> CategoryByDisplay<'a> for &&&Probe<'a, Result<T, E>> {
    #[inline(always)]
    fn __reliable_category(&self) -> Option<CategorySource<'a>> {
        self.0
            .as_ref()
            .err()
            .map(|error| CategorySource::Display(error))
    }
}

impl<'a, T, E: core::fmt::Debug> CategoryByDebug<'a> for &&Probe<'a, Result<T, E>> {
    #[inline(always)]
    fn __reliable_category(&self) -> Option<CategorySource<'a>> {
        self.0
            .as_ref()
            .err()
            .map(|error| CategorySource::Debug(error))
    }
}

impl<'a, T, E> CategoryOfOpaque<'a> for &Probe<'a, Result<T, E>> {
    #[inline(always)]
    fn __reliable_category(&self) -> Option<CategorySource<'a>> {
        self.0.as_ref().err().map(|_| CategorySource::Unknown)
    }
}

impl<'a, T> CategoryOfValue<'a> for Probe<'a, T> {
    #[inline(always)]
    fn __reliable_category(&self) -> Option<CategorySource<'a>> {
        None
    }
}

/// Classifies a bare error value, the field that `#[derive(Classify)]`
/// delegates to with `#[category(source)]`:
/// `(&&&&&ErrorProbe(&error)).__reliable_error_category()`, five `&`, picks
/// `Classify`, else the `source()` chain (`E: Error`), else the `Display`
/// text, else the `Debug` text, else `Unknown`.
pub struct ErrorProbe<'a, E>(pub &'a E);

impl<E> core::fmt::Debug for ErrorProbe<'_, E> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("ErrorProbe")
    }
}

/// An error that implements `Classify`.
pub trait ErrorCategoryByClassify<'a> {
    /// Where the probed error's category comes from.
    fn __reliable_error_category(&self) -> CategorySource<'a>;
}

/// An error that implements `std::error::Error`.
pub trait ErrorCategoryByChain<'a> {
    /// Where the probed error's category comes from.
    fn __reliable_error_category(&self) -> CategorySource<'a>;
}

/// An error that implements `Display`.
pub trait ErrorCategoryByDisplay<'a> {
    /// Where the probed error's category comes from.
    fn __reliable_error_category(&self) -> CategorySource<'a>;
}

/// An error that implements `Debug`.
pub trait ErrorCategoryByDebug<'a> {
    /// Where the probed error's category comes from.
    fn __reliable_error_category(&self) -> CategorySource<'a>;
}

/// Any other type.
pub trait ErrorCategoryOfOpaque<'a> {
    /// Always `Unknown`.
    fn __reliable_error_category(&self) -> CategorySource<'a>;
}

impl<'a, E: crate::Classify> ErrorCategoryByClassify<'a> for &&&&ErrorProbe<'a, E> {
    #[inline(always)]
    fn __reliable_error_category(&self) -> CategorySource<'a> {
        CategorySource::Classified(self.0)
    }
}

impl<'a, E: std::error::Error> ErrorCategoryByChain<'a> for &&&ErrorProbe<'a, E> {
    #[inline(always)]
    fn __reliable_error_category(&self) -> CategorySource<'a> {
        CategorySource::Chain(self.0)
    }
}

impl<'a, E: core::fmt::Display> ErrorCategoryByDisplay<'a> for &&ErrorProbe<'a, E> {
    #[inline(always)]
    fn __reliable_error_category(&self) -> CategorySource<'a> {
        CategorySource::Display(self.0)
    }
}

impl<'a, E: core::fmt::Debug> ErrorCategoryByDebug<'a> for &ErrorProbe<'a, E> {
    #[inline(always)]
    fn __reliable_error_category(&self) -> CategorySource<'a> {
        CategorySource::Debug(self.0)
    }
}

impl<'a, E> ErrorCategoryOfOpaque<'a> for ErrorProbe<'a, E> {
    #[inline(always)]
    fn __reliable_error_category(&self) -> CategorySource<'a> {
        CategorySource::Unknown
    }
}

/// The type of a `#[retry_after]` field: `Duration` or `Option<Duration>`.
#[diagnostic::on_unimplemented(
    message = "a `#[retry_after]` field must be a `Duration` or an `Option<Duration>`, not `{Self}`",
    label = "not a `Duration` or an `Option<Duration>`"
)]
pub trait RetryAfterValue {
    /// The wait the field holds.
    fn __reliable_retry_after(&self) -> Option<std::time::Duration>;
}

#[diagnostic::do_not_recommend]
impl RetryAfterValue for std::time::Duration {
    #[inline]
    fn __reliable_retry_after(&self) -> Option<std::time::Duration> {
        Some(*self)
    }
}

#[diagnostic::do_not_recommend]
impl RetryAfterValue for Option<std::time::Duration> {
    #[inline]
    fn __reliable_retry_after(&self) -> Option<std::time::Duration> {
        *self
    }
}

/// Adds the failure's category to what the text probe saw (failures only).
#[inline(always)]
pub fn classified<'a>(observed: Observed<'a>, source: Option<CategorySource<'a>>) -> Observed<'a> {
    match (observed, source) {
        (Observed::Failure(error, None), Some(source)) => {
            Observed::Failure(error, Some(source.resolve().category))
        }
        (observed, _) => observed,
    }
}

#[cfg(test)]
// The borrows are the mechanism: each level of `&` selects one impl.
#[allow(clippy::needless_borrow)]
mod category_probe_tests {
    use std::fmt;
    use std::io;
    use std::time::Duration;

    use super::*;
    use crate::record::probe::Probe;
    use crate::{Classify, ErrorCategory};

    #[derive(Debug)]
    struct Typed;

    impl fmt::Display for Typed {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("connection refused")
        }
    }

    impl std::error::Error for Typed {}

    impl Classify for Typed {
        fn category(&self) -> ErrorCategory {
            ErrorCategory::Permission
        }

        fn retry_after(&self) -> Option<Duration> {
            Some(Duration::from_secs(3))
        }
    }

    /// `Display` only.
    struct Shown;

    impl fmt::Display for Shown {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("disk full")
        }
    }

    /// `Debug` only.
    #[derive(Debug)]
    struct NotFoundHere;

    struct Opaque;

    fn level(source: &Option<CategorySource<'_>>) -> &'static str {
        match source {
            None => "none",
            Some(CategorySource::Classified(_)) => "classified",
            Some(CategorySource::Chain(_)) => "chain",
            Some(CategorySource::Display(_)) => "display",
            Some(CategorySource::Debug(_)) => "debug",
            Some(CategorySource::Unknown) => "unknown",
        }
    }

    fn category(source: Option<CategorySource<'_>>) -> Option<ErrorCategory> {
        source.map(|source| source.resolve().category)
    }

    #[test]
    fn return_value_probe_picks_each_level() {
        let classified: Result<(), Typed> = Err(Typed);
        let source = (&&&&&&Probe(&classified)).__reliable_category();
        assert_eq!(level(&source), "classified");
        assert_eq!(
            source.map(CategorySource::resolve),
            Some(Classification {
                category: ErrorCategory::Permission,
                retry_after: Some(Duration::from_secs(3)),
            })
        );

        let chain: Result<(), Box<dyn std::error::Error + Send + Sync>> =
            Err("connection reset".into());
        // A boxed error implements `Classify` (through its chain).
        let source = (&&&&&&Probe(&chain)).__reliable_category();
        assert_eq!(level(&source), "classified");
        assert_eq!(category(source), Some(ErrorCategory::Network));

        let fmt_error: Result<(), fmt::Error> = Err(fmt::Error);
        let source = (&&&&&&Probe(&fmt_error)).__reliable_category();
        assert_eq!(level(&source), "chain");
        assert_eq!(category(source), Some(ErrorCategory::Unknown));

        let shown: Result<u8, Shown> = Err(Shown);
        let source = (&&&&&&Probe(&shown)).__reliable_category();
        assert_eq!(level(&source), "display");
        assert_eq!(category(source), Some(ErrorCategory::ResourceExhausted));

        let debug: Result<u8, NotFoundHere> = Err(NotFoundHere);
        let source = (&&&&&&Probe(&debug)).__reliable_category();
        assert_eq!(level(&source), "debug");
        assert_eq!(category(source), Some(ErrorCategory::NotFound));

        let opaque: Result<u8, Opaque> = Err(Opaque);
        let source = (&&&&&&Probe(&opaque)).__reliable_category();
        assert_eq!(level(&source), "unknown");
        assert_eq!(category(source), Some(ErrorCategory::Unknown));
    }

    #[test]
    fn return_value_probe_is_none_for_success_and_plain_values() {
        let ok: Result<u8, Typed> = Ok(1);
        assert_eq!(level(&(&&&&&&Probe(&ok)).__reliable_category()), "none");
        let ok: Result<u8, Opaque> = Ok(1);
        assert_eq!(level(&(&&&&&&Probe(&ok)).__reliable_category()), "none");
        assert_eq!(level(&(&&&&&&Probe(&5u8)).__reliable_category()), "none");
        assert_eq!(level(&(&&&&&&Probe(&Opaque)).__reliable_category()), "none");
        let option: Option<Typed> = None;
        assert_eq!(level(&(&&&&&&Probe(&option)).__reliable_category()), "none");
    }

    fn unbounded<E>(result: &Result<(), E>) -> &'static str {
        level(&(&&&&&&Probe(result)).__reliable_category())
    }

    fn classify_bound<E: Classify>(result: &Result<(), E>) -> &'static str {
        level(&(&&&&&&Probe(result)).__reliable_category())
    }

    // No `'static`: a generic error that borrows is accepted.
    fn error_bound<E: std::error::Error>(result: &Result<(), E>) -> &'static str {
        level(&(&&&&&&Probe(result)).__reliable_category())
    }

    #[test]
    fn generic_functions_pick_by_their_bounds() {
        assert_eq!(unbounded(&Err(Typed)), "unknown");
        assert_eq!(classify_bound(&Err(Typed)), "classified");
        assert_eq!(error_bound(&Err(Typed)), "chain");
        assert_eq!(unbounded::<Typed>(&Ok(())), "none");
    }

    #[test]
    fn the_source_borrows_the_value_not_the_probe() {
        let failed: Result<(), io::Error> = Err(io::ErrorKind::TimedOut.into());
        let source = (&&&&&&Probe(&failed)).__reliable_category();
        assert_eq!(category(source), Some(ErrorCategory::Timeout));
        let source = (&&&&&ErrorProbe(&Typed)).__reliable_error_category();
        assert_eq!(source.resolve().category, ErrorCategory::Permission);
    }

    #[test]
    fn error_probe_picks_each_level() {
        let pick = |source: CategorySource<'_>| level(&Some(source));
        assert_eq!(
            pick((&&&&&ErrorProbe(&Typed)).__reliable_error_category()),
            "classified"
        );
        let io = io::Error::from(io::ErrorKind::NotFound);
        assert_eq!(
            pick((&&&&&ErrorProbe(&io)).__reliable_error_category()),
            "classified"
        );
        assert_eq!(
            pick((&&&&&ErrorProbe(&fmt::Error)).__reliable_error_category()),
            "chain"
        );
        assert_eq!(
            pick((&&&&&ErrorProbe(&Shown)).__reliable_error_category()),
            "display"
        );
        assert_eq!(
            pick((&&&&&ErrorProbe(&"timed out")).__reliable_error_category()),
            "display"
        );
        assert_eq!(
            pick((&&&&&ErrorProbe(&NotFoundHere)).__reliable_error_category()),
            "debug"
        );
        assert_eq!(
            pick((&&&&&ErrorProbe(&Opaque)).__reliable_error_category()),
            "unknown"
        );

        assert_eq!(
            (&&&&&ErrorProbe(&"timed out"))
                .__reliable_error_category()
                .resolve(),
            Classification::new(ErrorCategory::Timeout)
        );
        assert_eq!(
            (&&&&&ErrorProbe(&Opaque))
                .__reliable_error_category()
                .resolve(),
            Classification::UNKNOWN
        );
    }

    fn bare_unbounded<E>(error: &E) -> &'static str {
        level(&Some((&&&&&ErrorProbe(error)).__reliable_error_category()))
    }

    fn bare_classify<E: Classify>(error: &E) -> &'static str {
        level(&Some((&&&&&ErrorProbe(error)).__reliable_error_category()))
    }

    #[test]
    fn error_probe_in_generic_functions() {
        assert_eq!(bare_unbounded(&Typed), "unknown");
        assert_eq!(bare_classify(&Typed), "classified");
    }

    #[test]
    fn a_borrowing_error_type_takes_the_chain_level() {
        #[derive(Debug)]
        struct Borrowed<'a>(&'a str);
        impl fmt::Display for Borrowed<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.0)
            }
        }
        impl std::error::Error for Borrowed<'_> {}
        let text = String::from("quota exceeded");
        let failed: Result<(), Borrowed<'_>> = Err(Borrowed(&text));
        let source = (&&&&&&Probe(&failed)).__reliable_category();
        assert_eq!(level(&source), "chain");
        assert_eq!(category(source), Some(ErrorCategory::ResourceExhausted));
    }

    /// Like `anyhow::Error`: not an `Error`, shows its chain with `{:#}`.
    struct Report;

    impl fmt::Display for Report {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("fetching the model")?;
            if f.alternate() {
                f.write_str(": connection refused")?;
            }
            Ok(())
        }
    }

    #[test]
    fn display_level_reads_the_alternate_form() {
        let failed: Result<(), Report> = Err(Report);
        let source = (&&&&&&Probe(&failed)).__reliable_category();
        assert_eq!(level(&source), "display");
        assert_eq!(category(source), Some(ErrorCategory::Network));
    }

    #[test]
    fn retry_after_values() {
        let wait = Duration::from_millis(5);
        assert_eq!(wait.__reliable_retry_after(), Some(wait));
        assert_eq!(Some(wait).__reliable_retry_after(), Some(wait));
        assert_eq!(None::<Duration>.__reliable_retry_after(), None);
    }

    #[test]
    fn category_source_debug_names_the_level() {
        let source = (&&&&&ErrorProbe(&Shown)).__reliable_error_category();
        assert_eq!(format!("{source:?}"), "Display(\"disk full\")");
        assert_eq!(format!("{:?}", CategorySource::Unknown), "Unknown");
    }
}
