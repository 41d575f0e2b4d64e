//! How a value the expansion's loop reports went: a [`Verdict`], made by
//! [`judge`] from the probes of the value (for a failure, its text and
//! category), which the driver decides on.

use std::time::Duration;

use crate::classify::probe::CategorySource;
use crate::classify::{Classification, ErrorCategory};
use crate::record::call::Observed;
use crate::record::outcome::ErrorRef;
use crate::record::registry::registry;

/// Whether a value stands for success; for a failure, its text and category.
///
/// One pointer, null for a success: the success path moves a word, not the
/// failure's text and category (the failure path allocates anyway).
#[doc(hidden)]
#[derive(Debug, Clone)]
pub struct Verdict(pub(super) Option<Box<Failure>>);

#[derive(Debug, Clone)]
pub(super) struct Failure {
    pub(super) text: String,
    pub(super) category: ErrorCategory,
    pub(super) retry_after: Option<Duration>,
}

impl Verdict {
    /// A success.
    pub const SUCCESS: Verdict = Verdict(None);

    #[inline(always)]
    pub(super) fn is_success(&self) -> bool {
        self.0.is_none()
    }

    #[inline(always)]
    pub(super) fn observed(&self) -> Observed<'_> {
        match &self.0 {
            None => Observed::Success,
            Some(failure) => {
                Observed::Failure(ErrorRef::Kept(&failure.text), Some(failure.category))
            }
        }
    }
}

/// Turns what the expansion's probes found into a verdict.
#[doc(hidden)]
#[inline(always)]
pub fn judge(observed: Observed<'_>, source: Option<CategorySource<'_>>) -> Verdict {
    match observed {
        Observed::Success => Verdict(None),
        Observed::Failure(error, _) => judge_failure(error, source),
    }
}

#[cold]
#[inline(never)]
fn judge_failure(error: ErrorRef<'_>, source: Option<CategorySource<'_>>) -> Verdict {
    {
        {
            let classification = source.map_or(
                Classification {
                    category: ErrorCategory::Unknown,
                    retry_after: None,
                },
                CategorySource::resolve,
            );
            Verdict(Some(Box::new(Failure {
                text: registry().error_text().of(error),
                category: classification.category,
                retry_after: classification.retry_after,
            })))
        }
    }
}
