//! The text heuristics: keywords that name a category, for errors that carry
//! nothing but their text.

use super::ErrorCategory;

/// The keywords of [`classify_text`], in priority order: the first one found
/// decides. Written in lowercase, with spaces between words.
///
/// The order settles the overlaps: what happened (timed out, refused) beats
/// what it happened to ("connection timed out" is a timeout, "failed to parse
/// response: connection reset" is a network error); limits beat permission
/// ("403 rate limit exceeded"); configuration beats validation ("invalid
/// configuration"); the vaguest words come last ("network configuration
/// missing" is configuration, "service unavailable" is exhaustion).
pub(super) const KEYWORDS: &[(&str, ErrorCategory)] = &[
    ("timed out", ErrorCategory::Timeout),
    ("timeout", ErrorCategory::Timeout),
    ("deadline", ErrorCategory::Timeout),
    ("connection refused", ErrorCategory::Network),
    ("connection reset", ErrorCategory::Network),
    ("connection aborted", ErrorCategory::Network),
    ("broken pipe", ErrorCategory::Network),
    ("dns", ErrorCategory::Network),
    ("name resolution", ErrorCategory::Network),
    ("unreachable", ErrorCategory::Network),
    ("out of memory", ErrorCategory::ResourceExhausted),
    ("too many requests", ErrorCategory::ResourceExhausted),
    ("429", ErrorCategory::ResourceExhausted),
    ("rate limit", ErrorCategory::ResourceExhausted),
    ("quota", ErrorCategory::ResourceExhausted),
    ("no space left", ErrorCategory::ResourceExhausted),
    ("disk full", ErrorCategory::ResourceExhausted),
    ("overloaded", ErrorCategory::ResourceExhausted),
    ("permission denied", ErrorCategory::Permission),
    ("forbidden", ErrorCategory::Permission),
    ("unauthorized", ErrorCategory::Permission),
    ("access denied", ErrorCategory::Permission),
    ("403", ErrorCategory::Permission),
    ("401", ErrorCategory::Permission),
    ("not found", ErrorCategory::NotFound),
    ("no such file", ErrorCategory::NotFound),
    ("404", ErrorCategory::NotFound),
    ("not configured", ErrorCategory::Configuration),
    ("missing config", ErrorCategory::Configuration),
    ("configuration", ErrorCategory::Configuration),
    ("unsupported", ErrorCategory::Configuration),
    ("checksum", ErrorCategory::Validation),
    ("corrupt", ErrorCategory::Validation),
    ("malformed", ErrorCategory::Validation),
    ("invalid", ErrorCategory::Validation),
    ("mismatch", ErrorCategory::Validation),
    ("parse", ErrorCategory::Validation),
    ("503", ErrorCategory::ResourceExhausted),
    ("unavailable", ErrorCategory::ResourceExhausted),
    ("network", ErrorCategory::Network),
];

/// Guesses a category from an error's text by the keywords of [`KEYWORDS`].
///
/// The text is compared in lowercase, with `_`, `-` and camel-case humps read
/// as spaces, so `ConnectionRefused` and `NOT_FOUND` (from a `Debug`) match
/// too. A keyword must start a word ("parse" is not found in "sparse"); a
/// status code must be a whole number ("403" is not found in "14030" or
/// "1.403").
pub(crate) fn classify_text(text: &str) -> ErrorCategory {
    let text = normalize(text);
    KEYWORDS
        .iter()
        .find(|(keyword, _)| contains_keyword(&text, keyword))
        .map_or(ErrorCategory::Unknown, |&(_, category)| category)
}

pub(super) fn normalize(text: &str) -> String {
    let mut normalized = String::with_capacity(text.len() + 8);
    let mut after_lower_or_digit = false;
    for ch in text.chars() {
        if ch.is_uppercase() && after_lower_or_digit {
            normalized.push(' ');
        }
        after_lower_or_digit = ch.is_lowercase() || ch.is_ascii_digit();
        match ch {
            '_' | '-' => normalized.push(' '),
            _ => normalized.extend(ch.to_lowercase()),
        }
    }
    normalized
}

fn contains_keyword(text: &str, keyword: &str) -> bool {
    let bytes = text.as_bytes();
    let is_code = keyword.bytes().all(|b| b.is_ascii_digit());
    // Non-ASCII bytes belong to letters of other scripts: part of a word.
    let is_word = |b: u8| b.is_ascii_alphanumeric() || !b.is_ascii();
    let is_decimal_mark = |b: u8| b == b'.' || b == b',';
    text.match_indices(keyword).any(|(start, _)| {
        let end = start + keyword.len();
        let before = start.checked_sub(1).map(|i| bytes[i]);
        let after = bytes.get(end).copied();
        let starts_word = !before.is_some_and(is_word);
        if !is_code {
            return starts_word;
        }
        // "1.403" and "403.5" are numbers, not status codes.
        let digit_before_mark =
            before.is_some_and(is_decimal_mark) && start >= 2 && bytes[start - 2].is_ascii_digit();
        let digit_after_mark = after.is_some_and(is_decimal_mark)
            && bytes.get(end + 1).is_some_and(u8::is_ascii_digit);
        starts_word && !after.is_some_and(is_word) && !digit_before_mark && !digit_after_mark
    })
}
