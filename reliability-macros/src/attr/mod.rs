//! Parsing the attribute's options: `#[reliable(...)]` on the impl block and on its methods.
//!
//! Every option is stored with the span of its key, so a second occurrence is
//! reported at the second one, and every value error points at the value.
//! Errors are collected (one per faulty option) instead of stopping at the first.

use proc_macro2::{Span, TokenStream};
use syn::ext::IdentExt;
use syn::parse::{ParseStream, Parser};
use syn::spanned::Spanned;
use syn::{Attribute, Ident, Lit, LitStr, Path, Token};

use crate::duration::parse_nanos;

pub(crate) mod limits;
pub(crate) mod recovery;
use recovery::{parse_recovery_option, RecoveryArgs};

const IMPL_OPTIONS: &str = "`component`, `instance`, `crate`, `thresholds`, `strategies`, `retry_budget`, \
     `timeout`, `bulkhead`, `rate_limit`, `hedge`, or a strategy setting (`max_attempts`, `backoff`, `fallback`, ...)";
const METHOD_OPTIONS: &str = "`skip`, `no_recovery`, `strategies`, \
     `timeout`, `bulkhead`, `rate_limit`, `hedge`, or a strategy setting (`max_attempts`, `backoff`, `fallback`, ...)";
const THRESHOLD_OPTIONS: &str = "`max_consecutive_failures`, `min_success_rate`, \
     `degraded_success_rate`, `slow_call`, `window`, `min_calls`";

/// The default of `degraded_success_rate`, for the cross-check with `min_success_rate`.
const DEFAULT_DEGRADED_SUCCESS_RATE: f64 = 0.9;

/// An option's value, with the spans of its key and of its value, and
/// whether it was set on a method (rather than on the impl block).
#[derive(Clone)]
pub(crate) struct Setting<T> {
    pub value: T,
    pub key_span: Span,
    pub value_span: Span,
    pub on_method: bool,
}

/// Options of `#[reliable(...)]` on an impl block.
#[derive(Default)]
pub(crate) struct ImplArgs {
    pub component: Option<Setting<LitStr>>,
    /// `instance = field`: the field of `Self` holding the `Instance`.
    pub instance: Option<Setting<syn::Member>>,
    pub krate: Option<Setting<Path>>,
    pub thresholds: Option<Setting<ThresholdArgs>>,
    pub recovery: RecoveryArgs,
}

/// `thresholds(...)`: each setting given, in the units of the core's `Thresholds`.
#[derive(Default)]
pub(crate) struct ThresholdArgs {
    pub max_consecutive_failures: Option<Setting<u32>>,
    pub min_success_rate: Option<Setting<f64>>,
    pub degraded_success_rate: Option<Setting<f64>>,
    pub slow_call: Option<Setting<u64>>,
    pub window: Option<Setting<u64>>,
    pub min_calls: Option<Setting<u32>>,
}

/// Options of `#[reliable(...)]` on a method.
#[derive(Default)]
pub(crate) struct MethodArgs {
    pub skip: Option<Span>,
    pub no_recovery: Option<Span>,
    pub recovery: RecoveryArgs,
}

/// Adds `error` to the errors collected so far.
pub(crate) fn push_error(errors: &mut Option<syn::Error>, error: syn::Error) {
    match errors {
        Some(existing) => existing.combine(error),
        None => *errors = Some(error),
    }
}

/// Stores `value` unless the option was given before, which is an error at the second key.
pub(crate) fn set_once<T>(
    slot: &mut Option<Setting<T>>,
    key: &Ident,
    value: T,
    value_span: Span,
) -> syn::Result<()> {
    if slot.is_some() {
        return Err(syn::Error::new(
            key.span(),
            format!("duplicate option `{key}`"),
        ));
    }
    *slot = Some(Setting {
        value,
        key_span: key.span(),
        value_span,
        on_method: false,
    });
    Ok(())
}

/// Parses `key = value, key(...), ...`, calling `option` for each key. An
/// option that fails is recorded and skipped up to the next comma, so that
/// every faulty option is reported once. `expected` lists the keys, for the
/// error when something other than a name stands where a key should.
fn parse_options(
    input: ParseStream,
    errors: &mut Option<syn::Error>,
    expected: &str,
    mut option: impl FnMut(&Ident, ParseStream) -> syn::Result<()>,
) -> syn::Result<()> {
    while !input.is_empty() {
        let result = Ident::parse_any(input)
            .map_err(|error| {
                syn::Error::new(
                    error.span(),
                    format!("expected an option name, one of {expected}"),
                )
            })
            .and_then(|key| option(&key, input));
        if let Err(error) = result {
            push_error(errors, error);
            while !input.is_empty() && !input.peek(Token![,]) {
                input.parse::<proc_macro2::TokenTree>()?;
            }
        }
        if input.is_empty() {
            break;
        }
        if let Err(error) = input.parse::<Token![,]>() {
            push_error(errors, error);
            while !input.is_empty() && !input.peek(Token![,]) {
                input.parse::<proc_macro2::TokenTree>()?;
            }
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
    }
    Ok(())
}

pub(crate) fn expect_eq(key: &Ident, input: ParseStream, example: &str) -> syn::Result<()> {
    if input.peek(Token![=]) {
        input.parse::<Token![=]>()?;
        Ok(())
    } else {
        Err(syn::Error::new(
            key.span(),
            format!("expected `=` after `{key}`, like `{example}`"),
        ))
    }
}

pub(crate) fn parse_impl_args(tokens: TokenStream) -> (ImplArgs, Option<syn::Error>) {
    let mut args = ImplArgs::default();
    let mut errors = None;
    let parser = |input: ParseStream| {
        parse_options(input, &mut errors, IMPL_OPTIONS, |key, input| {
            match key.to_string().as_str() {
                "component" => {
                    expect_eq(key, input, "component = \"model_downloader\"")?;
                    let value: LitStr = parse_value(input, || {
                        format!("expected a string literal for `{key}`, like `component = \"model_downloader\"`")
                    })?;
                    if value.value().trim().is_empty() {
                        return Err(syn::Error::new(value.span(), "the component name is empty"));
                    }
                    let span = value.span();
                    set_once(&mut args.component, key, value, span)
                }
                "instance" => {
                    expect_eq(key, input, "instance = reliability")?;
                    let value: syn::Member = parse_value(input, || {
                        format!("expected the name of a field of `Self` for `{key}`, like `instance = reliability`")
                    })?;
                    let span = value.span();
                    set_once(&mut args.instance, key, value, span)
                }
                "crate" => {
                    expect_eq(key, input, "crate = my_deps::reliability_core")?;
                    let path = Path::parse_mod_style(input).map_err(|error| {
                        syn::Error::new(
                            error.span(),
                            "expected a path for `crate`, like `crate = my_deps::reliability_core`",
                        )
                    })?;
                    let span = path.span();
                    set_once(&mut args.krate, key, path, span)
                }
                "thresholds" => {
                    let content;
                    if !input.peek(syn::token::Paren) {
                        return Err(syn::Error::new(
                            key.span(),
                            "expected `thresholds(...)`, like `thresholds(max_consecutive_failures = 5)`",
                        ));
                    }
                    let parens = syn::parenthesized!(content in input);
                    let thresholds = parse_thresholds(&content, parens.span.join())?;
                    set_once(&mut args.thresholds, key, thresholds, parens.span.join())
                }
                _ => parse_recovery_option(key, input, &mut args.recovery, false).unwrap_or_else(
                    || {
                        Err(syn::Error::new(
                            key.span(),
                            format!("unknown option `{key}`, expected one of {IMPL_OPTIONS}"),
                        ))
                    },
                ),
            }
        })
    };
    if let Err(error) = parser.parse2(tokens) {
        push_error(&mut errors, error);
    }
    (args, errors)
}

/// Parses a value of type `T`, with `message` as the error when it is of another kind.
pub(crate) fn parse_value<T: syn::parse::Parse>(
    input: ParseStream,
    message: impl FnOnce() -> String,
) -> syn::Result<T> {
    let fork = input.fork();
    match fork.parse::<T>() {
        Ok(_) => input.parse(),
        Err(_) => {
            let span = input
                .cursor()
                .token_tree()
                .map_or_else(|| input.span(), |(tree, _)| tree.span());
            Err(syn::Error::new(span, message()))
        }
    }
}

fn parse_thresholds(input: ParseStream, parens: Span) -> syn::Result<ThresholdArgs> {
    let mut args = ThresholdArgs::default();
    let mut errors = None;
    if input.is_empty() {
        return Err(syn::Error::new(
            parens,
            format!("`thresholds()` is empty, expected one or more of {THRESHOLD_OPTIONS}"),
        ));
    }
    parse_options(input, &mut errors, THRESHOLD_OPTIONS, |key, input| {
        let name = key.to_string();
        match name.as_str() {
            "max_consecutive_failures" | "min_calls" => {
                expect_eq(key, input, &format!("{name} = 5"))?;
                let value: syn::LitInt =
                    parse_value(input, || format!("expected an integer for `{name}`"))?;
                let min = if name == "min_calls" { 0 } else { 1 };
                let number: u32 = value.base10_parse().map_err(|_| {
                    syn::Error::new(
                        value.span(),
                        format!(
                            "`{name}` must be an integer from {min} to {}, got {value}",
                            u32::MAX
                        ),
                    )
                })?;
                if name == "min_calls" {
                    return set_once(&mut args.min_calls, key, number, value.span());
                }
                if number == 0 {
                    return Err(syn::Error::new(
                        value.span(),
                        "`max_consecutive_failures` must be at least 1",
                    ));
                }
                set_once(
                    &mut args.max_consecutive_failures,
                    key,
                    number,
                    value.span(),
                )
            }
            "min_success_rate" | "degraded_success_rate" => {
                expect_eq(key, input, &format!("{name} = 0.8"))?;
                let lit: Lit = parse_value(input, || {
                    format!("expected a number between 0 and 1 for `{name}`")
                })?;
                let rate = match &lit {
                    Lit::Float(float) => float.base10_parse::<f64>()?,
                    Lit::Int(int) => int.base10_parse::<f64>()?,
                    _ => {
                        return Err(syn::Error::new(
                            lit.span(),
                            format!("expected a number between 0 and 1 for `{name}`"),
                        ))
                    }
                };
                if !(0.0..=1.0).contains(&rate) {
                    return Err(syn::Error::new(
                        lit.span(),
                        format!("`{name}` must be between 0 and 1, got {rate}"),
                    ));
                }
                let slot = if name == "min_success_rate" {
                    &mut args.min_success_rate
                } else {
                    &mut args.degraded_success_rate
                };
                set_once(slot, key, rate, lit.span())
            }
            "slow_call" | "window" => {
                expect_eq(key, input, &format!("{name} = \"250ms\""))?;
                let lit: LitStr = parse_value(input, || {
                    format!("expected a duration string for `{name}`, like `{name} = \"250ms\"`")
                })?;
                let nanos = parse_nanos(&lit.value())
                    .map_err(|message| syn::Error::new(lit.span(), message))?;
                if name == "window" {
                    if nanos == 0 {
                        return Err(syn::Error::new(
                            lit.span(),
                            "`window` must be longer than zero",
                        ));
                    }
                    return set_once(&mut args.window, key, nanos, lit.span());
                }
                set_once(&mut args.slow_call, key, nanos, lit.span())
            }
            _ => Err(syn::Error::new(
                key.span(),
                format!("unknown threshold `{key}`, expected one of {THRESHOLD_OPTIONS}"),
            )),
        }
    })?;
    if let Some(min) = &args.min_success_rate {
        let (degraded, source) = match &args.degraded_success_rate {
            Some(degraded) => (degraded.value, "`degraded_success_rate`"),
            None => (
                DEFAULT_DEGRADED_SUCCESS_RATE,
                "the default `degraded_success_rate`",
            ),
        };
        if min.value > degraded {
            push_error(
                &mut errors,
                syn::Error::new(
                    min.value_span,
                    format!(
                        "`min_success_rate` ({}) is above {source} ({degraded}); \
                         set `degraded_success_rate` to {} or more",
                        min.value, min.value
                    ),
                ),
            );
        }
    }
    match errors {
        Some(error) => Err(error),
        None => Ok(args),
    }
}

/// Whether `attr` is one of ours: `#[reliable]` or `#[reliable(...)]` (by its last path segment).
pub(crate) fn is_reliable(attr: &Attribute) -> bool {
    attr.path()
        .segments
        .last()
        .is_some_and(|segment| segment.ident == "reliable")
}

/// Takes our attributes off a method and parses them.
pub(crate) fn take_method_args(attrs: &mut Vec<Attribute>) -> syn::Result<MethodArgs> {
    let mut args = MethodArgs::default();
    let mut errors = None;
    let mut kept = Vec::with_capacity(attrs.len());
    for attr in attrs.drain(..) {
        if !is_reliable(&attr) {
            kept.push(attr);
            continue;
        }
        let list = match &attr.meta {
            syn::Meta::List(list) => list,
            other => {
                push_error(
                    &mut errors,
                    syn::Error::new_spanned(
                        other,
                        format!(
                            "`#[reliable]` on a method takes an option, one of {METHOD_OPTIONS}"
                        ),
                    ),
                );
                continue;
            }
        };
        let parser = |input: ParseStream| {
            parse_options(input, &mut errors, METHOD_OPTIONS, |key, input| {
                match key.to_string().as_str() {
                    "skip" => {
                        if !input.is_empty() && !input.peek(Token![,]) {
                            return Err(syn::Error::new(
                                input.span(),
                                "`skip` takes no value, write `#[reliable(skip)]`",
                            ));
                        }
                        if args.skip.is_some() {
                            return Err(syn::Error::new(key.span(), "duplicate option `skip`"));
                        }
                        args.skip = Some(key.span());
                        Ok(())
                    }
                    "no_recovery" => {
                        if !input.is_empty() && !input.peek(Token![,]) {
                            return Err(syn::Error::new(
                                input.span(),
                                "`no_recovery` takes no value, write `#[reliable(no_recovery)]`",
                            ));
                        }
                        if args.no_recovery.is_some() {
                            return Err(syn::Error::new(
                                key.span(),
                                "duplicate option `no_recovery`",
                            ));
                        }
                        args.no_recovery = Some(key.span());
                        Ok(())
                    }
                    _ => parse_recovery_option(key, input, &mut args.recovery, true)
                        .unwrap_or_else(|| {
                            Err(syn::Error::new(
                                key.span(),
                                format!(
                                    "unknown method option `{key}`, expected one of {METHOD_OPTIONS}"
                                ),
                            ))
                        }),
                }
            })
        };
        if list.tokens.is_empty() {
            push_error(
                &mut errors,
                syn::Error::new_spanned(
                    list,
                    format!("`#[reliable()]` on a method takes an option, one of {METHOD_OPTIONS}"),
                ),
            );
        } else if let Err(error) = parser.parse2(list.tokens.clone()) {
            push_error(&mut errors, error);
        }
    }
    *attrs = kept;
    match errors {
        Some(error) => Err(error),
        None => Ok(args),
    }
}

/// Removes our attributes from `attrs`, ignoring what they say (used when the impl itself is in error).
pub(crate) fn strip(attrs: &mut Vec<Attribute>) {
    attrs.retain(|attr| !is_reliable(attr));
}
