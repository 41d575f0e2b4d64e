//! The errors the library itself returns when it refuses a call or cuts an
//! attempt short: they classify themselves.

use std::fmt;
use std::time::Duration;

use super::{Classify, ErrorCategory};

/// The error an open circuit returns when the method has no fallback: the
/// call was not made. Give your error type a `From<CircuitOpen>` to use
/// `circuit_breaker` without a fallback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CircuitOpen {
    component: &'static str,
}

impl CircuitOpen {
    pub(crate) const fn new(component: &'static str) -> Self {
        CircuitOpen { component }
    }

    /// The component whose circuit is open.
    pub const fn component(&self) -> &'static str {
        self.component
    }
}

impl fmt::Display for CircuitOpen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "circuit open for `{}`: the call was not made",
            self.component
        )
    }
}

impl std::error::Error for CircuitOpen {}

impl Classify for CircuitOpen {
    fn category(&self) -> ErrorCategory {
        // Like a 503: the service is (deliberately) unavailable for now.
        ErrorCategory::ResourceExhausted
    }
}

/// The error an attempt returns when it ran past its `timeout`: its future
/// was dropped. Give your error type a `From<TimedOut>` to use `timeout`
/// without a fallback.
///
/// It classifies as [`ErrorCategory::Timeout`], so `retry`, `network`,
/// alternatives and the fallback apply to it like to any other timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimedOut {
    component: &'static str,
    after: Duration,
}

impl TimedOut {
    pub(crate) const fn new(component: &'static str, after: Duration) -> Self {
        TimedOut { component, after }
    }

    /// The component whose attempt timed out.
    pub const fn component(&self) -> &'static str {
        self.component
    }

    /// The timeout that expired.
    pub const fn after(&self) -> Duration {
        self.after
    }
}

impl fmt::Display for TimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` timed out after {:?}: the attempt was dropped",
            self.component, self.after
        )
    }
}

impl std::error::Error for TimedOut {}

impl Classify for TimedOut {
    fn category(&self) -> ErrorCategory {
        ErrorCategory::Timeout
    }
}

/// The error a full bulkhead returns when the method has no fallback: the
/// component already had `max_concurrent` calls inside and no place came
/// free within `max_wait`, so the call was not made. Give your error type a
/// `From<BulkheadFull>` to use `bulkhead` without a fallback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BulkheadFull {
    component: &'static str,
    max_concurrent: usize,
    max_wait: Duration,
}

impl BulkheadFull {
    pub(crate) const fn new(
        component: &'static str,
        max_concurrent: usize,
        max_wait: Duration,
    ) -> Self {
        BulkheadFull {
            component,
            max_concurrent,
            max_wait,
        }
    }

    /// The component whose bulkhead is full.
    pub const fn component(&self) -> &'static str {
        self.component
    }

    /// How many calls the bulkhead lets in at once.
    pub const fn max_concurrent(&self) -> usize {
        self.max_concurrent
    }

    /// How long the call waited for a place before it was refused.
    pub const fn max_wait(&self) -> Duration {
        self.max_wait
    }
}

impl fmt::Display for BulkheadFull {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "bulkhead full for `{}`: {} calls already inside and none left within {:?}; the call was not made",
            self.component, self.max_concurrent, self.max_wait
        )
    }
}

impl std::error::Error for BulkheadFull {}

impl Classify for BulkheadFull {
    fn category(&self) -> ErrorCategory {
        // Like a 503: the component is busy, not broken.
        ErrorCategory::ResourceExhausted
    }
}

/// The error a rate limit returns when the method has no fallback: the
/// component's token bucket was empty and no token came within `max_wait`,
/// so the call was not made. Give your error type a `From<RateLimited>` to
/// use `rate_limit` without a fallback.
///
/// Its [`retry_after`](Classify::retry_after) is the time until the next
/// token, which `network` recovery honours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimited {
    component: &'static str,
    per_second: u32,
    retry_after: Duration,
}

impl RateLimited {
    pub(crate) const fn new(
        component: &'static str,
        per_second: u32,
        retry_after: Duration,
    ) -> Self {
        RateLimited {
            component,
            per_second,
            retry_after,
        }
    }

    /// The component whose rate limit refused the call.
    pub const fn component(&self) -> &'static str {
        self.component
    }

    /// The limit: calls let through per second, on average.
    pub const fn per_second(&self) -> u32 {
        self.per_second
    }

    /// The time until the next token, when the refusal was decided.
    pub const fn retry_after(&self) -> Duration {
        self.retry_after
    }
}

impl fmt::Display for RateLimited {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "rate limited `{}` ({} calls per second): the next call may go in {:?}; the call was not made",
            self.component, self.per_second, self.retry_after
        )
    }
}

impl std::error::Error for RateLimited {}

impl Classify for RateLimited {
    fn category(&self) -> ErrorCategory {
        // Like a 429.
        ErrorCategory::ResourceExhausted
    }

    fn retry_after(&self) -> Option<Duration> {
        Some(self.retry_after)
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error;
    use std::io;

    use super::super::{classify_chain, registered, Classification};
    use super::*;

    fn timed_out() -> TimedOut {
        TimedOut::new("search", Duration::from_secs(2))
    }

    fn bulkhead_full() -> BulkheadFull {
        BulkheadFull::new("db", 8, Duration::from_millis(50))
    }

    fn rate_limited() -> RateLimited {
        RateLimited::new("mailer", 5, Duration::from_millis(200))
    }

    #[test]
    fn each_error_names_its_component_and_limit() {
        assert_eq!(
            timed_out().to_string(),
            "`search` timed out after 2s: the attempt was dropped"
        );
        assert_eq!(
            bulkhead_full().to_string(),
            "bulkhead full for `db`: 8 calls already inside and none left within 50ms; the call was not made"
        );
        assert_eq!(
            rate_limited().to_string(),
            "rate limited `mailer` (5 calls per second): the next call may go in 200ms; the call was not made"
        );
    }

    #[test]
    fn each_error_classifies_itself() {
        assert_eq!(
            Classification::of(&timed_out()),
            Classification::new(ErrorCategory::Timeout)
        );
        assert_eq!(
            Classification::of(&bulkhead_full()),
            Classification::new(ErrorCategory::ResourceExhausted)
        );
        assert_eq!(
            Classification::of(&rate_limited()),
            Classification {
                category: ErrorCategory::ResourceExhausted,
                retry_after: Some(Duration::from_millis(200)),
            }
        );
    }

    #[test]
    fn each_error_is_built_in_and_found_inside_a_boxed_chain() {
        let errors: [Box<dyn Error + Send + Sync>; 3] = [
            Box::new(timed_out()),
            Box::new(bulkhead_full()),
            Box::new(rate_limited()),
        ];
        for error in &errors {
            let level: &(dyn Error + 'static) = &**error;
            assert!(registered(level).is_some(), "not built in: {error}");
        }
        // Hidden in an `io::Error`, the rate limit still asks for its wait:
        // only the typed level can know it.
        let hidden = io::Error::other(rate_limited());
        assert_eq!(
            classify_chain(&hidden).retry_after,
            Some(Duration::from_millis(200))
        );
        let hidden = io::Error::other(bulkhead_full());
        assert_eq!(
            classify_chain(&hidden).category,
            ErrorCategory::ResourceExhausted
        );
    }
}
