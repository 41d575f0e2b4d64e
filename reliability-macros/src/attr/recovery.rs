//! Parsing the recovery options: `strategies = [...]` and each strategy's
//! settings, on the impl block and on a method. The checks that tie them
//! together are in `valid`.

use proc_macro2::Span;
use syn::parse::{Parse, ParseStream};
use syn::{Ident, Lit, LitBool, LitInt, LitStr, Token};

use crate::attr::limits::{missing, parse_sub_options, BULKHEAD, HEDGE, RATE_LIMIT};
use crate::attr::{expect_eq, parse_value, set_once, Setting};
use crate::duration::parse_nanos;
use crate::names::{Backoff, Strategy, STRATEGY_LIST};

const BUDGET_OPTIONS: &str = "`ratio`, `per_second`, `window`";

/// Recovery settings from one attribute (impl block or method).
#[derive(Default, Clone)]
pub(crate) struct RecoveryArgs {
    pub strategies: Option<Setting<Vec<(Strategy, Span)>>>,
    pub max_attempts: Option<Setting<u32>>,
    pub backoff: Option<Setting<Backoff>>,
    pub base_delay: Option<Setting<u64>>,
    pub max_delay: Option<Setting<u64>>,
    pub jitter: Option<Setting<bool>>,
    pub max_elapsed: Option<Setting<u64>>,
    pub repair: Option<Setting<Ident>>,
    pub alternatives: Option<Setting<Vec<Ident>>>,
    pub fallback: Option<Setting<Ident>>,
    pub open_after: Option<Setting<u32>>,
    pub failure_rate: Option<Setting<f64>>,
    pub window: Option<Setting<u32>>,
    pub min_calls: Option<Setting<u32>>,
    pub cool_down: Option<Setting<u64>>,
    pub half_open_probes: Option<Setting<u32>>,
    pub retry_budget: Option<Setting<BudgetArgs>>,
    pub timeout: Option<Setting<u64>>,
    pub bulkhead: Option<Setting<BulkheadArgs>>,
    pub rate_limit: Option<Setting<RateLimitArgs>>,
    pub hedge: Option<Setting<HedgeArgs>>,
}

/// `bulkhead(max_concurrent = 8, max_wait = "50ms")`.
#[derive(Clone)]
pub(crate) struct BulkheadArgs {
    pub max_concurrent: u32,
    pub max_wait: Option<u64>,
}

/// `rate_limit(per_second = 100, burst = 20, max_wait = "0ms")`.
#[derive(Clone)]
pub(crate) struct RateLimitArgs {
    pub per_second: u32,
    pub burst: Option<u32>,
    pub max_wait: Option<u64>,
}

/// `hedge(after = "50ms", max_extra = 1)`; `after = "p95"` is `None`.
#[derive(Clone)]
pub(crate) struct HedgeArgs {
    pub after: Option<u64>,
    pub max_extra: Option<u32>,
}

/// `retry_budget(ratio = 0.2, per_second = 10, window = "10s")`.
#[derive(Default, Clone)]
pub(crate) struct BudgetArgs {
    pub ratio: Option<f64>,
    pub per_second: Option<u32>,
    pub window: Option<u64>,
}

fn mark<T>(slot: &mut Option<Setting<T>>, on_method: bool) {
    if let Some(setting) = slot {
        setting.on_method = on_method;
    }
}

pub(super) fn parse_u32(
    key: &Ident,
    input: ParseStream,
    min: u32,
    max: u32,
) -> syn::Result<(u32, Span)> {
    expect_eq(key, input, &format!("{key} = {}", min.max(1)))?;
    let value: LitInt = parse_value(input, || format!("expected an integer for `{key}`"))?;
    match value.base10_parse::<u32>() {
        Ok(n) if (min..=max).contains(&n) => Ok((n, value.span())),
        _ => Err(syn::Error::new(
            value.span(),
            format!("`{key}` must be an integer from {min} to {max}, got {value}"),
        )),
    }
}

pub(super) fn parse_duration(key: &Ident, input: ParseStream) -> syn::Result<(u64, Span)> {
    expect_eq(key, input, &format!("{key} = \"50ms\""))?;
    let lit: LitStr = parse_value(input, || {
        format!("expected a duration string for `{key}`, like `{key} = \"50ms\"`")
    })?;
    let nanos =
        parse_nanos(&lit.value()).map_err(|message| syn::Error::new(lit.span(), message))?;
    Ok((nanos, lit.span()))
}

fn parse_fraction(key: &Ident, input: ParseStream, zero_ok: bool) -> syn::Result<(f64, Span)> {
    expect_eq(key, input, &format!("{key} = 0.5"))?;
    let lit: Lit = parse_value(input, || {
        format!("expected a number between 0 and 1 for `{key}`")
    })?;
    let value = match &lit {
        Lit::Float(float) => float.base10_parse::<f64>()?,
        Lit::Int(int) => int.base10_parse::<f64>()?,
        _ => {
            return Err(syn::Error::new(
                lit.span(),
                format!("expected a number between 0 and 1 for `{key}`"),
            ))
        }
    };
    let low_ok = if zero_ok { value >= 0.0 } else { value > 0.0 };
    if !(low_ok && value <= 1.0) {
        let range = if zero_ok {
            "between 0 and 1"
        } else {
            "above 0 and at most 1"
        };
        return Err(syn::Error::new(
            lit.span(),
            format!("`{key}` must be {range}, got {value}"),
        ));
    }
    Ok((value, lit.span()))
}

/// Parses `[a, b, c]` of names; `what` names the list in errors.
fn parse_names(key: &Ident, input: ParseStream, example: &str) -> syn::Result<(Vec<Ident>, Span)> {
    expect_eq(key, input, example)?;
    if !input.peek(syn::token::Bracket) {
        let span = input
            .cursor()
            .token_tree()
            .map_or_else(|| input.span(), |(t, _)| t.span());
        return Err(syn::Error::new(
            span,
            format!("expected a list for `{key}`, like `{example}`"),
        ));
    }
    let content;
    let brackets = syn::bracketed!(content in input);
    let names = content.parse_terminated(Ident::parse, Token![,])?;
    if names.is_empty() {
        return Err(syn::Error::new(
            brackets.span.join(),
            format!("`{key}` is empty, like `{example}`"),
        ));
    }
    let names: Vec<Ident> = names.into_iter().collect();
    for (i, name) in names.iter().enumerate() {
        if names[..i].contains(name) {
            return Err(syn::Error::new(
                name.span(),
                format!("`{name}` is listed twice"),
            ));
        }
    }
    Ok((names, brackets.span.join()))
}

fn parse_method_name(key: &Ident, input: ParseStream) -> syn::Result<(Ident, Span)> {
    expect_eq(key, input, &format!("{key} = method_name"))?;
    let name: Ident = parse_value(input, || {
        format!("expected a method name for `{key}`, like `{key} = from_mirror`")
    })?;
    let span = name.span();
    Ok((name, span))
}

/// Parses one recovery option into `args`; `None` when `key` is not one.
pub(crate) fn parse_recovery_option(
    key: &Ident,
    input: ParseStream,
    args: &mut RecoveryArgs,
    on_method: bool,
) -> Option<syn::Result<()>> {
    const KEYS: [&str; 21] = [
        "strategies",
        "max_attempts",
        "backoff",
        "base_delay",
        "max_delay",
        "max_elapsed",
        "cool_down",
        "jitter",
        "repair",
        "fallback",
        "alternatives",
        "open_after",
        "min_calls",
        "half_open_probes",
        "window",
        "failure_rate",
        "retry_budget",
        "timeout",
        "bulkhead",
        "rate_limit",
        "hedge",
    ];
    if !KEYS.contains(&key.to_string().as_str()) {
        return None;
    }
    Some(parse_known(key, input, args, on_method))
}

fn parse_known(
    key: &Ident,
    input: ParseStream,
    args: &mut RecoveryArgs,
    on_method: bool,
) -> syn::Result<()> {
    match key.to_string().as_str() {
        "strategies" => {
            let (names, span) = parse_names(key, input, "strategies = [retry, network]")?;
            let strategies = names
                .iter()
                .map(|name| match Strategy::from_name(&name.to_string()) {
                    Some(strategy) => Ok((strategy, name.span())),
                    None => Err(syn::Error::new(
                        name.span(),
                        format!("unknown strategy `{name}`, expected one of {STRATEGY_LIST}"),
                    )),
                })
                .collect::<syn::Result<Vec<_>>>()?;
            set_once(&mut args.strategies, key, strategies, span)?;
            mark(&mut args.strategies, on_method);
            Ok(())
        }
        "max_attempts" => {
            let (n, span) = parse_u32(key, input, 1, 1000)?;
            set_once(&mut args.max_attempts, key, n, span)?;
            mark(&mut args.max_attempts, on_method);
            Ok(())
        }
        "backoff" => {
            expect_eq(key, input, "backoff = exponential")?;
            let kind: Ident = parse_value(input, || {
                "expected `exponential`, `linear` or `constant` for `backoff`".into()
            })?;
            let Some(backoff) = Backoff::from_name(&kind.to_string()) else {
                return Err(syn::Error::new(
                    kind.span(),
                    format!("unknown backoff `{kind}`, expected one of `exponential`, `linear`, `constant`"),
                ));
            };
            set_once(&mut args.backoff, key, backoff, kind.span())?;
            mark(&mut args.backoff, on_method);
            Ok(())
        }
        "base_delay" | "max_delay" | "max_elapsed" | "cool_down" => {
            let (nanos, span) = parse_duration(key, input)?;
            let slot = match key.to_string().as_str() {
                "base_delay" => &mut args.base_delay,
                "max_delay" => &mut args.max_delay,
                "max_elapsed" => &mut args.max_elapsed,
                _ => &mut args.cool_down,
            };
            set_once(slot, key, nanos, span)?;
            mark(slot, on_method);
            Ok(())
        }
        "jitter" => {
            expect_eq(key, input, "jitter = true")?;
            let value: LitBool =
                parse_value(input, || "expected `true` or `false` for `jitter`".into())?;
            set_once(&mut args.jitter, key, value.value, value.span)?;
            mark(&mut args.jitter, on_method);
            Ok(())
        }
        "repair" | "fallback" => {
            let (name, span) = parse_method_name(key, input)?;
            let slot = if key == "repair" {
                &mut args.repair
            } else {
                &mut args.fallback
            };
            set_once(slot, key, name, span)?;
            mark(slot, on_method);
            Ok(())
        }
        "alternatives" => {
            let (names, span) =
                parse_names(key, input, "alternatives = [from_mirror_a, from_mirror_b]")?;
            set_once(&mut args.alternatives, key, names, span)?;
            mark(&mut args.alternatives, on_method);
            Ok(())
        }
        "open_after" | "min_calls" | "half_open_probes" => {
            let min = if key == "min_calls" { 0 } else { 1 };
            let (n, span) = parse_u32(key, input, min, u32::MAX)?;
            let slot = match key.to_string().as_str() {
                "open_after" => &mut args.open_after,
                "min_calls" => &mut args.min_calls,
                _ => &mut args.half_open_probes,
            };
            set_once(slot, key, n, span)?;
            mark(slot, on_method);
            Ok(())
        }
        "window" => {
            let (n, span) = parse_u32(key, input, 1, 64)?;
            set_once(&mut args.window, key, n, span)?;
            mark(&mut args.window, on_method);
            Ok(())
        }
        "failure_rate" => {
            let (rate, span) = parse_fraction(key, input, false)?;
            set_once(&mut args.failure_rate, key, rate, span)?;
            mark(&mut args.failure_rate, on_method);
            Ok(())
        }
        "retry_budget" => {
            if on_method {
                return Err(syn::Error::new(
                    key.span(),
                    "`retry_budget` belongs to the component: set it on the impl block",
                ));
            }
            if !input.peek(syn::token::Paren) {
                return Err(syn::Error::new(
                    key.span(),
                    "expected `retry_budget(...)`, like `retry_budget(ratio = 0.2, per_second = 10)`",
                ));
            }
            let content;
            let parens = syn::parenthesized!(content in input);
            let budget = parse_budget(&content, parens.span.join())?;
            set_once(&mut args.retry_budget, key, budget, parens.span.join())
        }
        "timeout" => {
            let (nanos, span) = parse_duration(key, input)?;
            if nanos == 0 {
                return Err(syn::Error::new(span, "`timeout` must be longer than zero"));
            }
            set_once(&mut args.timeout, key, nanos, span)?;
            mark(&mut args.timeout, on_method);
            Ok(())
        }
        "bulkhead" => {
            let (sub, span) = parse_sub_options(key, input, BULKHEAD)?;
            let Some(max_concurrent) = sub.number("max_concurrent") else {
                return Err(missing(key, span, "max_concurrent = 8"));
            };
            let value = BulkheadArgs {
                max_concurrent,
                max_wait: sub.duration("max_wait"),
            };
            set_once(&mut args.bulkhead, key, value, span)?;
            mark(&mut args.bulkhead, on_method);
            Ok(())
        }
        "rate_limit" => {
            let (sub, span) = parse_sub_options(key, input, RATE_LIMIT)?;
            let Some(per_second) = sub.number("per_second") else {
                return Err(missing(key, span, "per_second = 100"));
            };
            let value = RateLimitArgs {
                per_second,
                burst: sub.number("burst"),
                max_wait: sub.duration("max_wait"),
            };
            set_once(&mut args.rate_limit, key, value, span)?;
            mark(&mut args.rate_limit, on_method);
            Ok(())
        }
        "hedge" => {
            let (mut sub, span) = parse_sub_options(key, input, HEDGE)?;
            let Some(after) = sub.after.take() else {
                return Err(missing(key, span, "after = \"50ms\""));
            };
            let value = HedgeArgs {
                after,
                max_extra: sub.number("max_extra"),
            };
            set_once(&mut args.hedge, key, value, span)?;
            mark(&mut args.hedge, on_method);
            Ok(())
        }
        _ => Err(syn::Error::new(
            key.span(),
            format!("unknown option `{key}`"),
        )),
    }
}

fn parse_budget(input: ParseStream, parens: Span) -> syn::Result<BudgetArgs> {
    let mut budget = BudgetArgs::default();
    if input.is_empty() {
        return Err(syn::Error::new(
            parens,
            format!("`retry_budget()` is empty, expected one or more of {BUDGET_OPTIONS}"),
        ));
    }
    while !input.is_empty() {
        let key: Ident = input.parse()?;
        let duplicate = || syn::Error::new(key.span(), format!("duplicate option `{key}`"));
        match key.to_string().as_str() {
            "ratio" => {
                let (ratio, _) = parse_fraction(&key, input, true)?;
                if budget.ratio.replace(ratio).is_some() {
                    return Err(duplicate());
                }
            }
            "per_second" => {
                let (n, _) = parse_u32(&key, input, 0, u32::MAX)?;
                if budget.per_second.replace(n).is_some() {
                    return Err(duplicate());
                }
            }
            "window" => {
                let (nanos, span) = parse_duration(&key, input)?;
                if nanos < 1_000_000_000 {
                    return Err(syn::Error::new(
                        span,
                        "the retry budget's `window` must be at least 1s",
                    ));
                }
                if budget.window.replace(nanos).is_some() {
                    return Err(duplicate());
                }
            }
            _ => {
                return Err(syn::Error::new(
                    key.span(),
                    format!(
                    "unknown option `{key}` in `retry_budget`, expected one of {BUDGET_OPTIONS}"
                ),
                ))
            }
        }
        if !input.is_empty() {
            input.parse::<Token![,]>()?;
        }
    }
    Ok(budget)
}

/// Calls `$mac!(field, ...)` with every field of [`RecoveryArgs`], so the
/// list is written once.
macro_rules! with_settings {
    ($mac:ident) => {
        $mac!(
            strategies,
            max_attempts,
            backoff,
            base_delay,
            max_delay,
            jitter,
            max_elapsed,
            repair,
            alternatives,
            fallback,
            open_after,
            failure_rate,
            window,
            min_calls,
            cool_down,
            half_open_probes,
            retry_budget,
            timeout,
            bulkhead,
            rate_limit,
            hedge
        )
    };
}

/// The method's settings over the impl's; the method's `strategies` replaces the impl's.
pub(crate) fn merge(on_impl: &RecoveryArgs, on_method: &RecoveryArgs) -> RecoveryArgs {
    macro_rules! pick {
        ($($field:ident),*) => {
            RecoveryArgs { $($field: on_method.$field.clone().or_else(|| on_impl.$field.clone()),)* }
        };
    }
    with_settings!(pick)
}

impl RecoveryArgs {
    /// Whether the attribute says anything about recovery.
    pub(crate) fn is_empty(&self) -> bool {
        self.strategies.is_none()
            && self.repair.is_none()
            && self.alternatives.is_none()
            && self.fallback.is_none()
            && !self.has_limits()
    }

    /// Whether a `timeout`, `bulkhead`, `rate_limit` or `hedge` is set.
    pub(crate) fn has_limits(&self) -> bool {
        self.timeout.is_some()
            || self.bulkhead.is_some()
            || self.rate_limit.is_some()
            || self.hedge.is_some()
    }

    /// Whether any setting came from a method's attribute.
    pub(crate) fn any_on_method(&self) -> bool {
        macro_rules! any {
            ($($field:ident),*) => { false $(|| self.$field.as_ref().is_some_and(|s| s.on_method))* };
        }
        with_settings!(any)
    }
}
