//! Parsing `bulkhead(...)`, `rate_limit(...)` and `hedge(...)`: named
//! values in parentheses, each at most once, each checked where it stands.

use proc_macro2::Span;
use syn::parse::ParseStream;
use syn::{Ident, LitStr, Token};

use crate::attr::recovery::{parse_duration, parse_u32, BulkheadArgs, RateLimitArgs};
use crate::attr::{expect_eq, parse_value};
use crate::duration::parse_nanos;

/// A sub-option of `bulkhead(...)`, `rate_limit(...)` or `hedge(...)`: its
/// name, and whether it is a count (with its least value) or a duration.
pub(super) enum SubKind {
    Count {
        min: u32,
        max: u32,
    },
    Duration,
    /// `after`: a duration above zero, or `"p95"`.
    After,
}

pub(super) const BULKHEAD: (&str, &[(&str, SubKind)]) = (
    "bulkhead(max_concurrent = 8, max_wait = \"50ms\")",
    &[
        (
            "max_concurrent",
            SubKind::Count {
                min: 1,
                max: 1_000_000,
            },
        ),
        ("max_wait", SubKind::Duration),
    ],
);
pub(super) const RATE_LIMIT: (&str, &[(&str, SubKind)]) = (
    "rate_limit(per_second = 100, burst = 20, max_wait = \"0ms\")",
    &[
        (
            "per_second",
            SubKind::Count {
                min: 1,
                max: 1_000_000_000,
            },
        ),
        (
            "burst",
            SubKind::Count {
                min: 1,
                max: 1_000_000_000,
            },
        ),
        ("max_wait", SubKind::Duration),
    ],
);
pub(super) const HEDGE: (&str, &[(&str, SubKind)]) = (
    "hedge(after = \"50ms\", max_extra = 1)",
    &[
        ("after", SubKind::After),
        ("max_extra", SubKind::Count { min: 1, max: 16 }),
    ],
);

/// The values of one parenthesized option, by sub-option name.
#[derive(Default)]
pub(super) struct SubOptions {
    numbers: Vec<(&'static str, u32)>,
    durations: Vec<(&'static str, u64)>,
    /// `after`: `Some(None)` for `"p95"`.
    pub(super) after: Option<Option<u64>>,
}

impl SubOptions {
    pub(super) fn number(&self, name: &str) -> Option<u32> {
        self.numbers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
    }

    pub(super) fn duration(&self, name: &str) -> Option<u64> {
        self.durations
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
    }
}

pub(super) fn missing(key: &Ident, span: Span, example: &str) -> syn::Error {
    let name = example.split(' ').next().unwrap_or(example);
    syn::Error::new(
        span,
        format!("`{key}(...)` needs `{name}`, like `{key}({example})`"),
    )
}

/// Parses `key(name = value, ...)` against the sub-options `spec` lists:
/// each at most once, each value checked where it stands.
pub(super) fn parse_sub_options(
    key: &Ident,
    input: ParseStream,
    (example, spec): (&str, &'static [(&'static str, SubKind)]),
) -> syn::Result<(SubOptions, Span)> {
    let names = spec
        .iter()
        .map(|(name, _)| format!("`{name}`"))
        .collect::<Vec<_>>()
        .join(", ");
    if !input.peek(syn::token::Paren) {
        return Err(syn::Error::new(
            key.span(),
            format!("expected `{key}(...)`, like `{example}`"),
        ));
    }
    let content;
    let parens = syn::parenthesized!(content in input);
    let span = parens.span.join();
    let parsed = parse_sub_values(key, &content, spec, &names);
    if parsed.is_err() {
        // Consumed, so that the error is the only one for this option.
        content.parse::<proc_macro2::TokenStream>()?;
    }
    Ok((parsed?, span))
}

fn parse_sub_values(
    key: &Ident,
    content: ParseStream,
    spec: &'static [(&'static str, SubKind)],
    names: &str,
) -> syn::Result<SubOptions> {
    let mut sub = SubOptions::default();
    let mut seen: Vec<String> = Vec::new();
    while !content.is_empty() {
        let name: Ident = content.parse()?;
        let Some((spec_name, kind)) = spec.iter().find(|(n, _)| name == n) else {
            return Err(syn::Error::new(
                name.span(),
                format!("unknown option `{name}` in `{key}`, expected one of {names}"),
            ));
        };
        if seen.contains(&name.to_string()) {
            return Err(syn::Error::new(
                name.span(),
                format!("duplicate option `{name}` in `{key}`"),
            ));
        }
        seen.push(name.to_string());
        match kind {
            SubKind::Count { min, max } => {
                let (n, _) = parse_u32(&name, content, *min, *max)?;
                sub.numbers.push((spec_name, n));
            }
            SubKind::Duration => {
                let (nanos, _) = parse_duration(&name, content)?;
                sub.durations.push((spec_name, nanos));
            }
            SubKind::After => {
                expect_eq(&name, content, "after = \"50ms\"")?;
                let lit: LitStr = parse_value(content, || {
                    "expected a duration string or `\"p95\"` for `after`, like `after = \"50ms\"`"
                        .into()
                })?;
                if lit.value().trim() == "p95" {
                    sub.after = Some(None);
                } else {
                    let nanos = parse_nanos(&lit.value())
                        .map_err(|message| syn::Error::new(lit.span(), message))?;
                    if nanos == 0 {
                        return Err(syn::Error::new(
                            lit.span(),
                            "`after` must be longer than zero (or `\"p95\"`)",
                        ));
                    }
                    sub.after = Some(Some(nanos));
                }
            }
        }
        if !content.is_empty() {
            content.parse::<Token![,]>()?;
        }
    }
    Ok(sub)
}

/// A component's bulkhead as the expansion builds it: `max_concurrent` and
/// `max_wait` in nanoseconds, defaults filled in, so that two spellings of
/// one setting compare equal.
pub(crate) fn bulkhead_settings(args: &BulkheadArgs) -> [u64; 2] {
    [u64::from(args.max_concurrent), args.max_wait.unwrap_or(0)]
}

/// A component's rate limit as the expansion builds it: `per_second`,
/// `burst` (by default `per_second`) and `max_wait` in nanoseconds.
pub(crate) fn rate_limit_settings(args: &RateLimitArgs) -> [u64; 3] {
    [
        u64::from(args.per_second),
        u64::from(args.burst.unwrap_or(args.per_second)),
        args.max_wait.unwrap_or(0),
    ]
}
