//! Recovery options: `strategies = [...]` and each strategy's settings, on
//! the impl block and on a method, and the checks that tie them together.

use proc_macro2::Span;
use syn::parse::{Parse, ParseStream};
use syn::{Ident, Lit, LitBool, LitInt, LitStr, Token};

use crate::attr::{expect_eq, parse_value, push_error, set_once, Setting};
use crate::duration::parse_nanos;

/// The strategies, in the order `strategies = [...]` documents them.
pub(crate) const STRATEGIES: [&str; 7] = [
    "retry",
    "network",
    "repair",
    "alternatives",
    "fallback",
    "circuit_breaker",
    "escalate",
];
const STRATEGY_LIST: &str =
    "`retry`, `network`, `repair`, `alternatives`, `fallback`, `circuit_breaker`, `escalate`";
const BUDGET_OPTIONS: &str = "`ratio`, `per_second`, `window`";

/// Recovery settings from one attribute (impl block or method).
#[derive(Default, Clone)]
pub(crate) struct RecoveryArgs {
    pub strategies: Option<Setting<Vec<Ident>>>,
    pub max_attempts: Option<Setting<u32>>,
    pub backoff: Option<Setting<Ident>>,
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

fn parse_u32(key: &Ident, input: ParseStream, min: u32, max: u32) -> syn::Result<(u32, Span)> {
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

fn parse_duration(key: &Ident, input: ParseStream) -> syn::Result<(u64, Span)> {
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
    const KEYS: [&str; 17] = [
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
            if let Some(unknown) = names
                .iter()
                .find(|n| !STRATEGIES.contains(&n.to_string().as_str()))
            {
                return Err(syn::Error::new(
                    unknown.span(),
                    format!("unknown strategy `{unknown}`, expected one of {STRATEGY_LIST}"),
                ));
            }
            set_once(&mut args.strategies, key, names, span)?;
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
            if !["exponential", "linear", "constant"].contains(&kind.to_string().as_str()) {
                return Err(syn::Error::new(
                    kind.span(),
                    format!("unknown backoff `{kind}`, expected one of `exponential`, `linear`, `constant`"),
                ));
            }
            let span = kind.span();
            set_once(&mut args.backoff, key, kind, span)?;
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

/// Where a setting was given: its key, and whether on a method.
fn place<T>(setting: &Option<Setting<T>>) -> Option<(Span, bool)> {
    setting.as_ref().map(|s| (s.key_span, s.on_method))
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
            retry_budget
        )
    };
}

/// One method's recovery: the impl's settings with the method's on top.
pub(crate) struct Effective {
    pub strategies: Vec<(String, Span)>,
    pub args: RecoveryArgs,
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
    }

    /// Whether any setting came from a method's attribute.
    pub(crate) fn any_on_method(&self) -> bool {
        macro_rules! any {
            ($($field:ident),*) => { false $(|| self.$field.as_ref().is_some_and(|s| s.on_method))* };
        }
        with_settings!(any)
    }
}

/// Checks that each strategy has its settings and each setting its strategy.
/// With `method_only`, only the settings a method's attribute gave are
/// checked (the impl's were checked once, on the impl).
pub(crate) fn check(args: &RecoveryArgs, method_only: bool) -> Result<Effective, syn::Error> {
    let mut errors = None;
    let mut strategies: Vec<(String, Span)> = args
        .strategies
        .as_ref()
        .map(|s| s.value.iter().map(|n| (n.to_string(), n.span())).collect())
        .unwrap_or_default();
    let listed = |name: &str, list: &[(String, Span)]| list.iter().any(|(n, _)| n == name);
    let report = |setting_on_method: bool| !method_only || setting_on_method;
    // Naming a method enables its strategy.
    for (name, given) in [
        ("repair", args.repair.as_ref().map(|s| s.key_span)),
        (
            "alternatives",
            args.alternatives.as_ref().map(|s| s.key_span),
        ),
        ("fallback", args.fallback.as_ref().map(|s| s.key_span)),
    ] {
        if let (Some(span), false) = (given, listed(name, &strategies)) {
            strategies.push((name.to_owned(), span));
        }
    }
    let needs = [
        ("repair", args.repair.is_some(), "`repair = method_name`"),
        (
            "alternatives",
            args.alternatives.is_some(),
            "`alternatives = [method_a, method_b]`",
        ),
        (
            "fallback",
            args.fallback.is_some(),
            "`fallback = method_name`",
        ),
    ];
    if let Some(list) = &args.strategies {
        for (name, present, example) in needs {
            if let Some((_, span)) = strategies.iter().find(|(n, _)| n == name) {
                if !present && report(list.on_method) {
                    push_error(
                        &mut errors,
                        syn::Error::new(*span, format!("strategy `{name}` needs {example}")),
                    );
                }
            }
        }
    }
    let retrying = listed("retry", &strategies) || listed("network", &strategies);
    let breaking = listed("circuit_breaker", &strategies);
    let groups = [
        (
            retrying,
            "`retry` or `network`",
            vec![
                ("max_attempts", place(&args.max_attempts)),
                ("backoff", place(&args.backoff)),
                ("base_delay", place(&args.base_delay)),
                ("max_delay", place(&args.max_delay)),
                ("jitter", place(&args.jitter)),
                ("max_elapsed", place(&args.max_elapsed)),
            ],
        ),
        (
            breaking,
            "`circuit_breaker`",
            vec![
                ("open_after", place(&args.open_after)),
                ("failure_rate", place(&args.failure_rate)),
                ("window", place(&args.window)),
                ("min_calls", place(&args.min_calls)),
                ("cool_down", place(&args.cool_down)),
                ("half_open_probes", place(&args.half_open_probes)),
            ],
        ),
    ];
    for (enabled, strategy, settings) in groups {
        for (name, setting) in settings {
            if let (Some((span, on_method)), false) = (setting, enabled) {
                if report(on_method) {
                    push_error(
                        &mut errors,
                        syn::Error::new(span, format!("`{name}` needs {strategy} in `strategies`")),
                    );
                }
            }
        }
    }
    if let (Some(base), Some(max)) = (&args.base_delay, &args.max_delay) {
        if base.value > max.value && report(base.on_method || max.on_method) {
            push_error(
                &mut errors,
                syn::Error::new(base.value_span, "`base_delay` is longer than `max_delay`"),
            );
        }
    }
    match errors {
        Some(error) => Err(error),
        None => Ok(Effective {
            strategies,
            args: args.clone(),
        }),
    }
}

impl Effective {
    pub(crate) fn has(&self, strategy: &str) -> bool {
        self.strategies.iter().any(|(n, _)| n == strategy)
    }

    /// Whether recovery would run the method's body more than once, or call
    /// other methods with its arguments.
    pub(crate) fn reruns(&self) -> bool {
        !self.strategies.is_empty()
    }
}
