//! How a call ends: the public `Outcome`, and how an error becomes bounded text.

use std::fmt::{self, Write as _};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;
use serde::{Deserialize, Serialize};

/// Bytes of error text kept per failure.
pub(crate) const ERROR_TEXT_LIMIT: usize = 256;

/// How one call ended, for [`ReliabilityManager::record`](crate::ReliabilityManager::record).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Outcome {
    /// The call did what it was asked.
    Success,
    /// The call returned an error.
    Failure,
    /// The call panicked; it counts as a failure too.
    Panicked,
    /// The call was abandoned before it completed (an async call whose
    /// future was dropped); neither a success nor a failure.
    Cancelled,
}

/// Tells [`observe`](fn@crate::observe) whether a closure's return value is a failure.
///
/// Implemented for `Result<T, E>` where `E: Display` (an `Err` is a failure,
/// its text is kept) and for `()` (always a success). Implement it for a
/// return type of your own to observe it.
pub trait RecordOutcome {
    /// The error, when the value stands for a failure.
    fn failure(&self) -> Option<&dyn fmt::Display>;
}

impl<T, E: fmt::Display> RecordOutcome for Result<T, E> {
    fn failure(&self) -> Option<&dyn fmt::Display> {
        self.as_ref().err().map(|error| error as &dyn fmt::Display)
    }
}

impl RecordOutcome for () {
    fn failure(&self) -> Option<&dyn fmt::Display> {
        None
    }
}

/// An error, however it can be shown.
#[doc(hidden)]
#[derive(Clone, Copy)]
pub enum ErrorRef<'a> {
    /// An error with a `Display` impl.
    Display(&'a dyn fmt::Display),
    /// An error with only a `Debug` impl.
    Debug(&'a dyn fmt::Debug),
    /// An error that can only be named by its type.
    TypeName(&'static str),
    /// The call panicked.
    Panic,
    /// Text that has been through [`ErrorText::of`] already (a recovery's
    /// verdict): kept as it is, neither formatted nor redacted again.
    Kept(&'a str),
}

impl fmt::Debug for ErrorRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text(ERROR_TEXT_LIMIT))
    }
}

impl ErrorRef<'_> {
    /// The error's text, cut at `limit` bytes on a character boundary.
    pub(crate) fn to_text(self, limit: usize) -> String {
        let mut out = Bounded {
            text: String::new(),
            limit,
        };
        // An error here only means the text was cut short.
        let _ = match self {
            ErrorRef::Display(error) => write!(out, "{error}"),
            ErrorRef::Debug(error) => write!(out, "{error:?}"),
            ErrorRef::TypeName(name) => out.write_str(name),
            ErrorRef::Panic => out.write_str("panicked"),
            ErrorRef::Kept(text) => out.write_str(text),
        };
        out.text
    }
}

/// A `fmt::Write` that stops (with an error, so formatting ends early) once
/// `limit` bytes are written.
struct Bounded {
    text: String,
    limit: usize,
}

impl fmt::Write for Bounded {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = self.limit - self.text.len();
        if s.len() <= room {
            self.text.push_str(s);
            return Ok(());
        }
        let mut cut = room;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        self.text.push_str(&s[..cut]);
        Err(fmt::Error)
    }
}

/// What is kept of an error's text: all of it (the first 256 bytes), a
/// redacted form, or nothing. Set through the facade; read on failure paths.
#[derive(Default)]
pub(crate) struct ErrorText {
    /// Whether the policy is anything but `Keep`. A failure reads the
    /// policy twice (its verdict, then its record); while the text is kept
    /// as it is, that is a load each instead of a lock taken and given back.
    custom: AtomicBool,
    policy: RwLock<TextPolicy>,
}

#[derive(Default)]
enum TextPolicy {
    #[default]
    Keep,
    Redact(Arc<dyn Fn(&str) -> String + Send + Sync>),
    Drop,
}

impl fmt::Debug for ErrorText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let policy = match &*self.policy.read() {
            TextPolicy::Keep => "keep",
            TextPolicy::Redact(_) => "redact",
            TextPolicy::Drop => "drop",
        };
        f.debug_struct("ErrorText")
            .field("policy", &policy)
            .finish()
    }
}

impl ErrorText {
    /// The text kept of `error`: truncated to 256 bytes, then passed through
    /// the redactor, if one is set.
    pub(crate) fn of(&self, error: ErrorRef<'_>) -> String {
        if let ErrorRef::Kept(text) = error {
            // Redacting twice would change the text of a redactor that is
            // not idempotent (one that wraps or numbers what it keeps).
            return text.to_owned();
        }
        if !self.custom.load(Ordering::Acquire) {
            return error.to_text(ERROR_TEXT_LIMIT);
        }
        match &*self.policy.read() {
            TextPolicy::Keep => error.to_text(ERROR_TEXT_LIMIT),
            TextPolicy::Redact(redact) => {
                let redacted = redact(&error.to_text(ERROR_TEXT_LIMIT));
                ErrorRef::Display(&redacted).to_text(ERROR_TEXT_LIMIT)
            }
            TextPolicy::Drop => "(error text not kept)".to_owned(),
        }
    }

    pub(crate) fn redact_with(&self, redact: Arc<dyn Fn(&str) -> String + Send + Sync>) {
        self.set(TextPolicy::Redact(redact));
    }

    pub(crate) fn keep(&self, keep: bool) {
        self.set(if keep {
            TextPolicy::Keep
        } else {
            TextPolicy::Drop
        });
    }

    fn set(&self, policy: TextPolicy) {
        let mut current = self.policy.write();
        // Under the lock, so two racing setters leave flag and policy agreeing.
        self.custom
            .store(!matches!(policy, TextPolicy::Keep), Ordering::Release);
        *current = policy;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_cut_on_a_char_boundary() {
        let long = "é".repeat(200); // 400 bytes
        let text = ErrorRef::Display(&long).to_text(256);
        assert_eq!(text.len(), 256);
        assert!(text.chars().all(|c| c == 'é'));
        let odd = format!("x{long}");
        let text = ErrorRef::Display(&odd).to_text(256);
        assert_eq!(text.len(), 255);
    }

    #[test]
    fn the_policy_is_read_after_each_change() {
        let text = ErrorText::default();
        let error = ErrorRef::Display(&"secret token 42");
        assert_eq!(text.of(error), "secret token 42");
        text.redact_with(Arc::new(|s: &str| s.replace("42", "**")));
        assert_eq!(text.of(error), "secret token **");
        text.keep(false);
        assert_eq!(text.of(error), "(error text not kept)");
        text.keep(true);
        assert_eq!(text.of(error), "secret token 42");
    }

    #[test]
    fn kept_text_is_not_redacted_again() {
        let text = ErrorText::default();
        text.redact_with(Arc::new(|s: &str| format!("<{s}>")));
        let once = text.of(ErrorRef::Display(&"boom"));
        assert_eq!(once, "<boom>");
        assert_eq!(text.of(ErrorRef::Kept(&once)), "<boom>");
        text.keep(false);
        assert_eq!(text.of(ErrorRef::Kept("<boom>")), "<boom>");
    }

    #[test]
    fn every_kind_of_error_has_text() {
        assert_eq!(ErrorRef::Display(&"boom").to_text(256), "boom");
        assert_eq!(ErrorRef::Debug(&Some(3)).to_text(256), "Some(3)");
        assert_eq!(ErrorRef::TypeName("my::Error").to_text(256), "my::Error");
        assert_eq!(ErrorRef::Panic.to_text(256), "panicked");
    }
}
