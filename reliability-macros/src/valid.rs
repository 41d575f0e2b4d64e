//! Every check of `#[reliable]`, in one place: what `attr` parsed is turned
//! into the typed model of `ast`, or into errors at the tokens at fault.
//!
//! One mistake in one method gives one error for that method; the other
//! methods still get their model, so the rest of the impl expands.

use proc_macro2::{Span, TokenStream};
use quote::{quote, ToTokens};
use syn::spanned::Spanned;
use syn::{FnArg, ImplItem, ImplItemFn, Item, ItemImpl, LitStr, Pat, Type};

use crate::ast::{self, Strategy};
use crate::attr::recovery::{merge, RecoveryArgs};
use crate::attr::{self, push_error, ImplArgs, MethodArgs, Setting};
use crate::naming::default_component;

/// The item under the attribute, when it is an impl block; the error otherwise.
pub(crate) fn impl_block(args: &TokenStream, input: TokenStream) -> syn::Result<ItemImpl> {
    match syn::parse2(input)? {
        Item::Impl(imp) => Ok(imp),
        other => Err(not_on_impl(&other, args)),
    }
}

fn not_on_impl(item: &Item, args: &TokenStream) -> syn::Error {
    // A method option outside a `#[reliable]` impl: point at the option.
    if let Some(proc_macro2::TokenTree::Ident(first)) = args.clone().into_iter().next() {
        if first == "skip" || first == "no_recovery" {
            return syn::Error::new(
                first.span(),
                format!(
                    "`#[reliable({first})]` only has an effect on a method of an impl block that has `#[reliable]`"
                ),
            );
        }
    }
    let (span, what) = match item {
        Item::Struct(item) => (item.struct_token.span, "a struct"),
        Item::Enum(item) => (item.enum_token.span, "an enum"),
        Item::Union(item) => (item.union_token.span, "a union"),
        Item::Trait(item) => (item.trait_token.span, "a trait definition"),
        Item::Fn(item) => (item.sig.fn_token.span, "a function"),
        Item::Mod(item) => (item.mod_token.span, "a module"),
        other => (other.span(), "this item"),
    };
    let message = if matches!(item, Item::Fn(_)) {
        "`#[reliable]` goes on an `impl` block, not on a function; \
         to observe a free function, call `reliability_core::observe` in it"
            .to_owned()
    } else {
        format!("`#[reliable]` goes on an `impl` block, not on {what}")
    };
    syn::Error::new(span, message)
}

/// Parses and checks the impl's options and each method's, taking our
/// attributes off the methods. `None` when the impl's own options are in
/// error: then no method is instrumented.
pub(crate) fn model(
    args: TokenStream,
    imp: &mut ItemImpl,
) -> (Option<ast::Impl>, Option<syn::Error>) {
    let (args, mut errors) = attr::parse_impl_args(args);
    if let Err(error) = check_recovery(&args.recovery, false) {
        push_error(&mut errors, error);
    }
    let component = match &args.component {
        Some(component) => Some(component.value.clone()),
        None => match default_component(&imp.self_ty) {
            Some(name) => Some(LitStr::new(&name, Span::call_site())),
            None => {
                push_error(
                    &mut errors,
                    syn::Error::new_spanned(
                        &imp.self_ty,
                        "cannot name a component after this type; \
                         add `component = \"...\"` to `#[reliable(...)]`",
                    ),
                );
                None
            }
        },
    };
    let (Some(component), None) = (component, &errors) else {
        return (None, errors);
    };
    let krate = args
        .krate
        .as_ref()
        .map_or_else(|| quote!(::reliability_core), |k| k.value.to_token_stream());
    let methods = methods(imp, &args, &mut errors);
    let instance = args
        .instance
        .as_ref()
        .map(|instance| (instance.value.clone(), instance.key_span));
    if let Some(instance) = &args.instance {
        let any_receiver = methods.iter().any(|method| match &imp.items[method.index] {
            ImplItem::Fn(func) => func.sig.receiver().is_some(),
            _ => false,
        });
        if !any_receiver {
            push_error(
                &mut errors,
                syn::Error::new(
                    instance.value_span,
                    "`instance` names a field of `self`, but no instrumented method here takes `self`; \
                     methods without `self` report to the component alone",
                ),
            );
        }
    }
    let model = ast::Impl {
        krate,
        component,
        instance,
        thresholds: args.thresholds.map(|t| t.value),
        methods,
    };
    (Some(model), errors)
}

/// What an impl-level fallback or alternative must share with a method to
/// stand in for it: the number of arguments and asyncness. The types are
/// left to the compiler, which reports a real mismatch at the name: comparing
/// them as written would tell `io::Result<u8>` from `std::io::Result<u8>`.
#[derive(PartialEq)]
struct Shape {
    arguments: usize,
    is_async: bool,
}

impl Shape {
    fn of(func: &ImplItemFn) -> Self {
        Shape {
            arguments: func
                .sig
                .inputs
                .iter()
                .filter(|arg| matches!(arg, FnArg::Typed(_)))
                .count(),
            is_async: func.sig.asyncness.is_some() || ast::BoxedFuture::of(func).is_some(),
        }
    }
}

/// What every method of one impl block is checked against.
struct ImplContext<'a> {
    recovery: &'a RecoveryArgs,
    /// Methods named as repair, alternatives or fallback: they get no
    /// recovery of their own from the impl (it would call itself).
    targets: Vec<String>,
    /// Each method's shape, by name: the impl's fallback and alternatives
    /// apply to the methods whose shape they share.
    shapes: Vec<(String, Shape)>,
}

/// The methods to instrument; the errors of those that cannot be go to `errors`.
fn methods(
    imp: &mut ItemImpl,
    args: &ImplArgs,
    errors: &mut Option<syn::Error>,
) -> Vec<ast::Method> {
    let context = ImplContext {
        recovery: &args.recovery,
        targets: recovery_targets(&args.recovery),
        shapes: imp
            .items
            .iter()
            .filter_map(|item| match item {
                ImplItem::Fn(func) => Some((func.sig.ident.to_string(), Shape::of(func))),
                _ => None,
            })
            .collect(),
    };
    let mut methods = Vec::new();
    // Impl-level fallback and alternatives that some method took.
    let mut used: Vec<String> = Vec::new();
    let mut shared = SharedLimits::default();
    for (index, item) in imp.items.iter_mut().enumerate() {
        match item {
            ImplItem::Fn(func) => match attr::take_method_args(&mut func.attrs) {
                Ok(args) => {
                    if args.skip.is_some() || func.sig.constness.is_some() {
                        continue;
                    }
                    let recovery = method_recovery(func, &args, &context).and_then(|recovery| {
                        shared.check(&func.sig.ident, recovery.as_ref())?;
                        Ok(recovery)
                    });
                    match recovery {
                        Ok(recovery) => {
                            if let Some(recovery) = &recovery {
                                used.extend(
                                    recovery.args.fallback.iter().map(|f| f.value.to_string()),
                                );
                                if let Some(list) = &recovery.args.alternatives {
                                    used.extend(list.value.iter().map(ToString::to_string));
                                }
                            }
                            methods.push(ast::Method { index, recovery });
                        }
                        Err(error) => push_error(errors, error),
                    }
                }
                Err(error) => push_error(errors, error),
            },
            ImplItem::Const(item) => refuse_on_item(&mut item.attrs, "an associated const", errors),
            ImplItem::Type(item) => refuse_on_item(&mut item.attrs, "an associated type", errors),
            ImplItem::Macro(item) => refuse_on_item(&mut item.attrs, "a macro invocation", errors),
            _ => {}
        }
    }
    // A fallback or alternative of this impl that fits no method is a mistake
    // (a missing argument, say).
    let named = args.recovery.fallback.iter().map(|f| &f.value).chain(
        args.recovery
            .alternatives
            .iter()
            .flat_map(|list| list.value.iter()),
    );
    for name in named {
        let defined_here = context.shapes.iter().any(|(n, _)| name == n);
        if defined_here && !used.contains(&name.to_string()) {
            push_error(
                errors,
                syn::Error::new(
                    name.span(),
                    format!(
                        "`{name}` fits no method of this impl: a fallback or alternative takes \
                         the same number of arguments as the method it stands in for, and is `async` if it is"
                    ),
                ),
            );
        }
    }
    methods
}

/// The `bulkhead(...)` and `rate_limit(...)` the first method of the impl
/// with each one has: a component has one of each, made from the settings
/// of the first method called, so a method with other settings is an
/// error (they would be silently ignored).
#[derive(Default)]
struct SharedLimits {
    bulkhead: Option<FirstLimit<[u64; 2]>>,
    rate_limit: Option<FirstLimit<[u64; 3]>>,
}

impl SharedLimits {
    fn check(&mut self, method: &syn::Ident, recovery: Option<&ast::Recovery>) -> syn::Result<()> {
        let Some(args) = recovery.map(|r| &r.args) else {
            return Ok(());
        };
        if let Some(bulkhead) = &args.bulkhead {
            let settings = attr::limits::bulkhead_settings(&bulkhead.value);
            same_as_first(&mut self.bulkhead, method, settings, bulkhead, "bulkhead")?;
        }
        if let Some(rate_limit) = &args.rate_limit {
            let settings = attr::limits::rate_limit_settings(&rate_limit.value);
            same_as_first(
                &mut self.rate_limit,
                method,
                settings,
                rate_limit,
                "rate_limit",
            )?;
        }
        Ok(())
    }
}

/// Records the first method's settings of a shared limit, or checks that
/// `method`'s are the same. The error is at this method's option, or, when
/// this method only has the impl's, at the first method's own, which
/// overrode the impl's.
fn same_as_first<S: PartialEq, T>(
    first: &mut Option<FirstLimit<S>>,
    method: &syn::Ident,
    settings: S,
    setting: &attr::Setting<T>,
    name: &str,
) -> syn::Result<()> {
    let Some(seen) = first else {
        *first = Some(FirstLimit {
            method: method.to_string(),
            settings,
            key_span: setting.key_span,
            on_method: setting.on_method,
        });
        return Ok(());
    };
    if seen.settings == settings {
        return Ok(());
    }
    let (span, other) = if !setting.on_method && seen.on_method {
        (seen.key_span, method.to_string())
    } else {
        (setting.key_span, seen.method.clone())
    };
    Err(syn::Error::new(
        span,
        format!(
            "`{name}(...)` differs from the one `{other}` has: the methods of a component \
             share one `{name}`, made from the settings of the first one called, so the \
             others' would be ignored; give them the same settings, or set it once on the impl"
        ),
    ))
}

/// The first method of the impl with a shared limit: its settings, and
/// where they were written.
struct FirstLimit<S> {
    method: String,
    settings: S,
    key_span: Span,
    on_method: bool,
}

fn recovery_targets(args: &RecoveryArgs) -> Vec<String> {
    let mut targets = Vec::new();
    for name in [&args.repair, &args.fallback].into_iter().flatten() {
        targets.push(name.value.to_string());
    }
    if let Some(list) = &args.alternatives {
        targets.extend(list.value.iter().map(ToString::to_string));
    }
    targets
}

fn refuse_on_item(attrs: &mut Vec<syn::Attribute>, what: &str, errors: &mut Option<syn::Error>) {
    for attr in attrs.iter().filter(|attr| attr::is_reliable(attr)) {
        push_error(
            errors,
            syn::Error::new_spanned(
                attr,
                format!("`#[reliable]` options go on methods, not on {what}"),
            ),
        );
    }
    attr::strip(attrs);
}

/// The recovery a method gets: its own settings over the impl's, when it
/// returns a `Result` and can be called again.
fn method_recovery(
    func: &ImplItemFn,
    args: &MethodArgs,
    context: &ImplContext<'_>,
) -> syn::Result<Option<ast::Recovery>> {
    let on_method = args.recovery.any_on_method();
    if let (Some(span), true) = (args.no_recovery, on_method) {
        return Err(syn::Error::new(
            span,
            "`no_recovery` contradicts the recovery settings on this method",
        ));
    }
    if args.no_recovery.is_some() {
        return Ok(None);
    }
    let merged = merge(context.recovery, &args.recovery);
    if merged.is_empty() {
        return Ok(None);
    }
    let returns_result = returns_result(func);
    let is_async = Shape::of(func).is_async;
    let mut merged = merged;
    if !is_async {
        for (name, setting) in [
            ("timeout", place(&merged.timeout)),
            ("hedge", place(&merged.hedge)),
        ] {
            match setting {
                Some((span, true)) => return Err(sync_error(name, span)),
                // The impl's `timeout` and `hedge` apply to its `async fn`s.
                Some((_, false)) if name == "timeout" => merged.timeout = None,
                Some((_, false)) => merged.hedge = None,
                None => {}
            }
        }
    }
    // The impl's fallback and alternatives go only where they fit, also to
    // a method with settings of its own.
    let merged = fitting(merged, &Shape::of(func), context);
    let recovery = if on_method {
        if !returns_result {
            return Err(syn::Error::new(
                func.sig.ident.span(),
                "recovery needs a method that returns a `Result`",
            ));
        }
        check_recovery(&merged, true)?
    } else {
        let name = func.sig.ident.to_string();
        if !returns_result || context.targets.contains(&name) {
            return Ok(None);
        }
        let mut merged = merged;
        if merged.alternatives.is_none() {
            merged.hedge = None;
        }
        // The impl's settings were checked once, on the impl.
        match check_recovery(&merged, false) {
            Ok(recovery) => recovery,
            Err(_) => return Ok(None),
        }
    };
    if recovery.strategies.is_empty() && !recovery.args.has_limits() {
        return Ok(None);
    }
    check_rerunnable(func, &recovery)?;
    check_hedge(func, &recovery)?;
    Ok(Some(recovery))
}

/// A hedge runs the attempt and its alternatives at once: they share `self`.
/// (With a `timeout`, each of them gets one of its own.)
fn check_hedge(func: &ImplItemFn, recovery: &ast::Recovery) -> syn::Result<()> {
    let Some(hedge) = &recovery.args.hedge else {
        return Ok(());
    };
    if let Some(FnArg::Receiver(receiver)) = func.sig.inputs.first() {
        if receiver.mutability.is_some() {
            return Err(syn::Error::new(
                hedge.key_span,
                "`hedge` runs the attempt and its alternatives at once, which `&mut self` does not allow; take `&self`",
            ));
        }
    }
    Ok(())
}

/// `timeout` or `hedge` on a method that is not `async`.
fn sync_error(name: &str, span: Span) -> syn::Error {
    let message = if name == "timeout" {
        "`timeout` needs an `async fn`: a running thread cannot be interrupted; \
         on a sync method, bound the retries with `max_elapsed = \"2s\"` and flag slow calls \
         with `thresholds(slow_call = \"2s\")` on the impl block"
    } else {
        "`hedge` needs an `async fn`: it runs the alternatives beside the slow attempt in the same future"
    };
    syn::Error::new(span, message)
}

/// Whether a method's value is a `Result` (by its type's last path
/// segment): what it returns, or what its boxed future yields (`#[async_trait]`).
fn returns_result(func: &ImplItemFn) -> bool {
    let output = match ast::BoxedFuture::of(func) {
        Some(boxed) => boxed.output,
        None => match &func.sig.output {
            syn::ReturnType::Type(_, ty) => &**ty,
            syn::ReturnType::Default => return false,
        },
    };
    let mut ty = output;
    while let Type::Group(group) = ty {
        ty = &group.elem;
    }
    matches!(ty, Type::Path(path) if path.path.segments.last().is_some_and(|s| s.ident == "Result"))
}

/// The impl's fallback and alternatives, kept only where they fit `method`:
/// a method of this impl of another shape is left out. (A method defined
/// elsewhere is kept.) The compiler checks the types of what is kept.
fn fitting(mut args: RecoveryArgs, method: &Shape, context: &ImplContext<'_>) -> RecoveryArgs {
    let fits = |name: &syn::Ident| {
        let name = name.to_string();
        context
            .shapes
            .iter()
            .find(|(n, _)| *n == name)
            .is_none_or(|(_, shape)| shape == method)
    };
    // What the method's own attribute names is kept: a mismatch there is the
    // user's to see, at the name.
    if args
        .fallback
        .as_ref()
        .is_some_and(|f| !f.on_method && !fits(&f.value))
    {
        args.fallback = None;
        drop_strategy(&mut args, Strategy::Fallback);
    }
    if let Some(list) = args.alternatives.as_mut().filter(|list| !list.on_method) {
        list.value.retain(|name| fits(name));
        if list.value.is_empty() {
            args.alternatives = None;
            drop_strategy(&mut args, Strategy::Alternatives);
        }
    }
    args
}

/// Takes `strategy` off the impl's list (a method's own list keeps it, so
/// that a strategy it names without a method that fits is reported).
fn drop_strategy(args: &mut RecoveryArgs, strategy: Strategy) {
    if let Some(list) = args.strategies.as_mut().filter(|list| !list.on_method) {
        list.value.retain(|(s, _)| *s != strategy);
    }
}

/// Checks that the method can be re-run: a `&self`/`&mut self` receiver (or
/// none), and, when other methods get its arguments, plain argument names.
fn check_rerunnable(func: &ImplItemFn, recovery: &ast::Recovery) -> syn::Result<()> {
    let passes_arguments = recovery.has(Strategy::Alternatives) || recovery.has(Strategy::Fallback);
    for arg in &func.sig.inputs {
        match arg {
            FnArg::Receiver(receiver) => {
                if receiver.reference.is_none() || receiver.colon_token.is_some() {
                    return Err(syn::Error::new_spanned(
                        receiver,
                        "recovery calls the method again, which this receiver does not allow; \
                         take `&self` or `&mut self`, or add `#[reliable(no_recovery)]` to the method",
                    ));
                }
            }
            FnArg::Typed(typed) => {
                if passes_arguments
                    && !matches!(&*typed.pat, Pat::Ident(p) if p.subpat.is_none() && p.by_ref.is_none())
                {
                    return Err(syn::Error::new_spanned(
                        &typed.pat,
                        "`alternatives` and `fallback` are called with the same arguments: give this argument a name",
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Where a setting was given: its key, and whether on a method.
fn place<T>(setting: &Option<Setting<T>>) -> Option<(Span, bool)> {
    setting.as_ref().map(|s| (s.key_span, s.on_method))
}

/// Checks that each strategy has its settings and each setting its strategy.
/// With `method_only`, only the settings a method's attribute gave are
/// checked (the impl's were checked once, on the impl).
fn check_recovery(args: &RecoveryArgs, method_only: bool) -> syn::Result<ast::Recovery> {
    let mut errors = None;
    let mut strategies: Vec<(Strategy, Span)> = args
        .strategies
        .as_ref()
        .map(|s| s.value.clone())
        .unwrap_or_default();
    let listed =
        |strategy: Strategy, list: &[(Strategy, Span)]| list.iter().any(|(s, _)| *s == strategy);
    let report = |setting_on_method: bool| !method_only || setting_on_method;
    // Naming a method enables its strategy, unless a method's own
    // `strategies` list leaves out one that the impl names: that method
    // narrows its chain.
    let narrowed_on_method = args.strategies.as_ref().is_some_and(|list| list.on_method);
    let enabling = |setting: Option<(Span, bool)>| {
        setting.filter(|&(_, on_method)| on_method || !narrowed_on_method)
    };
    let named = [
        (
            Strategy::Repair,
            args.repair.as_ref().map(|s| (s.key_span, s.on_method)),
            "`repair = method_name`",
        ),
        (
            Strategy::Alternatives,
            args.alternatives
                .as_ref()
                .map(|s| (s.key_span, s.on_method)),
            "`alternatives = [method_a, method_b]`",
        ),
        (
            Strategy::Fallback,
            args.fallback.as_ref().map(|s| (s.key_span, s.on_method)),
            "`fallback = method_name`",
        ),
    ];
    for (strategy, given, _) in named {
        if let (Some((span, _)), false) = (enabling(given), listed(strategy, &strategies)) {
            strategies.push((strategy, span));
        }
    }
    if let Some(list) = &args.strategies {
        for (strategy, given, example) in named {
            if let Some((_, span)) = strategies.iter().find(|(s, _)| *s == strategy) {
                if given.is_none() && report(list.on_method) {
                    push_error(
                        &mut errors,
                        syn::Error::new(
                            *span,
                            format!("strategy `{}` needs {example}", strategy.name()),
                        ),
                    );
                }
            }
        }
    }
    let retrying = listed(Strategy::Retry, &strategies) || listed(Strategy::Network, &strategies);
    let breaking = listed(Strategy::CircuitBreaker, &strategies);
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
    if let Some((span, on_method)) = place(&args.hedge) {
        if !listed(Strategy::Alternatives, &strategies) && report(on_method) {
            push_error(
                &mut errors,
                syn::Error::new(
                    span,
                    "`hedge` needs `alternatives = [...]`: it starts the next alternative beside a slow attempt",
                ),
            );
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
        None => Ok(ast::Recovery {
            strategies,
            args: args.clone(),
        }),
    }
}
