//! Code generation: the impl block as written, each method's body wrapped in a timed call.
//!
//! Generation cannot fail: every error was found while parsing, and a method
//! in error is emitted unchanged next to its error so the rest of the impl
//! still compiles.

use proc_macro2::{Literal, Span, TokenStream};
use quote::{quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{Expr, ImplItem, ImplItemFn, Item, ItemImpl, LitStr, ReturnType, Stmt, Type};

use crate::attr::{self, push_error, ImplArgs, ThresholdArgs};
use crate::expand_recovery::{self, RecoveryParts};
use crate::naming::default_component;
use crate::recovery::{self, Effective, RecoveryArgs};

/// What every method of one impl block shares.
struct ImplContext {
    krate: TokenStream,
    component: LitStr,
    thresholds: TokenStream,
    recovery: RecoveryArgs,
    /// Methods named as repair, alternatives or fallback: they get no
    /// recovery of their own from the impl (it would call itself).
    targets: Vec<String>,
    /// Each method's signature as written, by name: the impl's fallback and
    /// alternatives apply to the methods whose signatures they share.
    signatures: Vec<(String, Signature)>,
}

/// A method's parameter types, return type and asyncness, as written.
#[derive(PartialEq)]
struct Signature {
    parameters: Vec<String>,
    output: String,
    is_async: bool,
}

impl Signature {
    fn of(func: &ImplItemFn) -> Self {
        Signature {
            parameters: func
                .sig
                .inputs
                .iter()
                .filter_map(|arg| match arg {
                    syn::FnArg::Typed(typed) => Some(typed.ty.to_token_stream().to_string()),
                    syn::FnArg::Receiver(_) => None,
                })
                .collect(),
            output: func.sig.output.to_token_stream().to_string(),
            is_async: func.sig.asyncness.is_some(),
        }
    }
}

pub(crate) fn expand(args: TokenStream, input: TokenStream) -> TokenStream {
    let item: Item = match syn::parse2(input.clone()) {
        Ok(item) => item,
        Err(error) => return with_errors(input, Some(error)),
    };
    let mut imp = match item {
        Item::Impl(imp) => imp,
        other => return with_errors(input, Some(not_on_impl(&other, &args))),
    };
    let (args, mut errors) = attr::parse_impl_args(args);
    if let Err(error) = recovery::check(&args.recovery, false) {
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
    match (component, errors) {
        (Some(component), None) => {
            let context = ImplContext {
                krate: args
                    .krate
                    .as_ref()
                    .map_or_else(|| quote!(::reliability_core), |k| k.value.to_token_stream()),
                component,
                thresholds: thresholds_tokens(&args),
                recovery: args.recovery.clone(),
                targets: recovery_targets(&args.recovery),
                signatures: imp
                    .items
                    .iter()
                    .filter_map(|item| match item {
                        ImplItem::Fn(func) => {
                            Some((func.sig.ident.to_string(), Signature::of(func)))
                        }
                        _ => None,
                    })
                    .collect(),
            };
            let errors = instrument_impl(&mut imp, &context);
            with_errors(imp.into_token_stream(), errors)
        }
        (_, errors) => {
            strip_impl(&mut imp);
            with_errors(imp.into_token_stream(), errors)
        }
    }
}

fn with_errors(mut tokens: TokenStream, errors: Option<syn::Error>) -> TokenStream {
    if let Some(errors) = errors {
        tokens.extend(errors.to_compile_error());
    }
    tokens
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

fn thresholds_tokens(args: &ImplArgs) -> TokenStream {
    let Some(thresholds) = &args.thresholds else {
        return quote!(::core::option::Option::None);
    };
    let ThresholdArgs {
        max_consecutive_failures,
        min_success_rate,
        degraded_success_rate,
        slow_call,
        window,
        min_calls,
    } = &thresholds.value;
    let mut calls = TokenStream::new();
    if let Some(n) = max_consecutive_failures {
        let n = Literal::u32_suffixed(n.value);
        calls.extend(quote!(.with_max_consecutive_failures(#n)));
    }
    if let Some(rate) = min_success_rate {
        let rate = Literal::f64_suffixed(rate.value);
        calls.extend(quote!(.with_min_success_rate(#rate)));
    }
    if let Some(rate) = degraded_success_rate {
        let rate = Literal::f64_suffixed(rate.value);
        calls.extend(quote!(.with_degraded_success_rate(#rate)));
    }
    if let Some(nanos) = slow_call {
        let nanos = Literal::u64_suffixed(nanos.value);
        calls.extend(quote!(.with_slow_call(::core::option::Option::Some(
            ::core::time::Duration::from_nanos(#nanos)
        ))));
    }
    if let Some(nanos) = window {
        let nanos = Literal::u64_suffixed(nanos.value);
        calls.extend(quote!(.with_window(::core::time::Duration::from_nanos(#nanos))));
    }
    if let Some(n) = min_calls {
        let n = Literal::u32_suffixed(n.value);
        calls.extend(quote!(.with_min_calls(#n)));
    }
    let krate = args
        .krate
        .as_ref()
        .map_or_else(|| quote!(::reliability_core), |k| k.value.to_token_stream());
    quote!(::core::option::Option::Some(#krate::__private::Thresholds::new() #calls))
}

/// Instruments every method it should; returns the errors of the methods it could not.
fn instrument_impl(imp: &mut ItemImpl, context: &ImplContext) -> Option<syn::Error> {
    let mut errors = None;
    // Impl-level fallback and alternatives that some method took.
    let mut used: Vec<String> = Vec::new();
    for item in &mut imp.items {
        match item {
            ImplItem::Fn(func) => match attr::take_method_args(&mut func.attrs) {
                Ok(args) => {
                    if args.skip.is_some() || func.sig.constness.is_some() {
                        continue;
                    }
                    match method_recovery(func, &args, context) {
                        Ok(effective) => {
                            if let Some(effective) = &effective {
                                used.extend(
                                    effective.args.fallback.iter().map(|f| f.value.to_string()),
                                );
                                if let Some(list) = &effective.args.alternatives {
                                    used.extend(list.value.iter().map(ToString::to_string));
                                }
                            }
                            instrument(func, context, effective.as_ref())
                        }
                        Err(error) => push_error(&mut errors, error),
                    }
                }
                Err(error) => push_error(&mut errors, error),
            },
            ImplItem::Const(item) => {
                refuse_on_item(&mut item.attrs, "an associated const", &mut errors)
            }
            ImplItem::Type(item) => {
                refuse_on_item(&mut item.attrs, "an associated type", &mut errors)
            }
            ImplItem::Macro(item) => {
                refuse_on_item(&mut item.attrs, "a macro invocation", &mut errors)
            }
            _ => {}
        }
    }
    // A fallback or alternative of this impl that fits no method is a mistake
    // (a parameter or return type written differently, say).
    let named = context.recovery.fallback.iter().map(|f| &f.value).chain(
        context
            .recovery
            .alternatives
            .iter()
            .flat_map(|list| list.value.iter()),
    );
    for name in named {
        let defined_here = context.signatures.iter().any(|(n, _)| name == n);
        if defined_here && !used.contains(&name.to_string()) {
            push_error(
                &mut errors,
                syn::Error::new(
                    name.span(),
                    format!(
                        "`{name}` fits no method of this impl: a fallback or alternative needs \
                         the same parameter types, return type and asyncness as the method it stands in for"
                    ),
                ),
            );
        }
    }
    errors
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

/// The recovery a method gets: its own settings over the impl's, when it
/// returns a `Result` and can be called again.
fn method_recovery(
    func: &ImplItemFn,
    args: &attr::MethodArgs,
    context: &ImplContext,
) -> syn::Result<Option<Effective>> {
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
    let merged = recovery::merge(&context.recovery, &args.recovery);
    if merged.is_empty() {
        return Ok(None);
    }
    let returns_result = expand_recovery::returns_result(func);
    let effective = if on_method {
        if !returns_result {
            return Err(syn::Error::new(
                func.sig.ident.span(),
                "recovery needs a method that returns a `Result`",
            ));
        }
        recovery::check(&merged, true)?
    } else {
        let name = func.sig.ident.to_string();
        if !returns_result || context.targets.contains(&name) {
            return Ok(None);
        }
        let merged = fitting(merged, &Signature::of(func), context);
        // The impl's settings were checked once, on the impl.
        match recovery::check(&merged, false) {
            Ok(effective) => effective,
            Err(_) => return Ok(None),
        }
    };
    if !effective.reruns() {
        return Ok(None);
    }
    expand_recovery::check_rerunnable(func, &effective)?;
    Ok(Some(effective))
}

/// The impl's fallback and alternatives, kept only where they fit `method`:
/// a method of this impl with another signature is left out. (A method
/// defined elsewhere is kept; the compiler checks it.)
fn fitting(mut args: RecoveryArgs, method: &Signature, context: &ImplContext) -> RecoveryArgs {
    let fits = |name: &syn::Ident| {
        let name = name.to_string();
        context
            .signatures
            .iter()
            .find(|(n, _)| *n == name)
            .is_none_or(|(_, signature)| signature == method)
    };
    if args.fallback.as_ref().is_some_and(|f| !fits(&f.value)) {
        args.fallback = None;
        drop_strategy(&mut args, "fallback");
    }
    if let Some(list) = &mut args.alternatives {
        list.value.retain(|name| fits(name));
        if list.value.is_empty() {
            args.alternatives = None;
            drop_strategy(&mut args, "alternatives");
        }
    }
    args
}

fn drop_strategy(args: &mut RecoveryArgs, strategy: &str) {
    if let Some(list) = &mut args.strategies {
        list.value.retain(|name| name != strategy);
    }
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

fn strip_impl(imp: &mut ItemImpl) {
    for item in &mut imp.items {
        match item {
            ImplItem::Fn(func) => attr::strip(&mut func.attrs),
            ImplItem::Const(item) => attr::strip(&mut item.attrs),
            ImplItem::Type(item) => attr::strip(&mut item.attrs),
            ImplItem::Macro(item) => attr::strip(&mut item.attrs),
            _ => {}
        }
    }
}

/// Replaces the body with a timed call of the original body.
fn instrument(func: &mut ImplItemFn, context: &ImplContext, recovery: Option<&Effective>) {
    let ImplContext {
        krate,
        component,
        thresholds,
        ..
    } = context;
    let name = func.sig.ident.to_string();
    let method = LitStr::new(
        name.strip_prefix("r#").unwrap_or(&name),
        func.sig.ident.span(),
    );
    let block = &func.block;
    // Where a mismatch between the body's value and the signature is reported:
    // the body's own tail expression, or its block.
    let tail = match block.stmts.last() {
        Some(Stmt::Expr(expr, None)) => expr.span(),
        _ => block.span(),
    };
    let ret = quote_spanned!(Span::call_site().located_at(tail)=> __reliable_ret);
    let private = quote!(#krate::__private);
    let site_statics = quote! {
        static __RELIABLE_META: #private::SiteMeta = #private::SiteMeta {
            component: #component,
            method: #method,
            thresholds: #thresholds,
        };
        static __RELIABLE_SITE: #private::CallSite = #private::CallSite::new(&__RELIABLE_META);
    };
    let text_probe = quote! {{
        use #private::probe::*;
        (&&&&#private::Probe(&__reliable_ret)).__reliable_observe()
    }};
    let category_probe = quote! {{
        use #private::probe::*;
        (&&&&&&#private::Probe(&__reliable_ret)).__reliable_category()
    }};
    let output_ty = match &func.sig.output {
        ReturnType::Type(_, ty) => Some(&**ty),
        ReturnType::Default => None,
    };
    if let Some(effective) = recovery {
        let strings = |names: &[syn::Ident]| {
            let names = names.iter().map(|n| n.to_string());
            quote!(&[#(#names),*])
        };
        let optional = |name: &Option<attr::Setting<syn::Ident>>| match name {
            Some(setting) => {
                let name = setting.value.to_string();
                quote!(::core::option::Option::Some(#name))
            }
            None => quote!(::core::option::Option::None),
        };
        let config = expand_recovery::config_tokens(effective, &private);
        let budget = expand_recovery::budget_tokens(effective, &private);
        let repair = optional(&effective.args.repair);
        let fallback = optional(&effective.args.fallback);
        let alternatives = strings(
            effective
                .args
                .alternatives
                .as_ref()
                .map_or(&[][..], |a| &a.value[..]),
        );
        let recovery_static = quote! {
            #site_statics
            static __RELIABLE_RECOVERY: #private::RecoveryMeta = #private::RecoveryMeta {
                config: #config,
                repair: #repair,
                alternatives: #alternatives,
                fallback: #fallback,
                budget: #budget,
            };
        };
        let judge = quote!(#private::judge(#text_probe, #category_probe));
        let nameable = output_ty.filter(|ty| !mentions_impl(&ty.to_token_stream()));
        let parts = RecoveryParts {
            private: &private,
            recovery_static,
            judge,
            ret_ty: nameable,
            component,
        };
        let body = expand_recovery::body(func, effective, &parts);
        func.block.stmts = vec![Stmt::Expr(Expr::Verbatim(body), None)];
        return;
    }
    let start = if func.sig.asyncness.is_some() {
        quote!(start_async)
    } else {
        quote!(start)
    };
    let statics = quote! {
        #site_statics
        let __reliable_call = #private::Call::#start(&__RELIABLE_SITE);
    };
    let observe = quote!(#private::classified(#text_probe, #category_probe));
    let output = output_ty;
    // The signature's type, written where the body's value is produced, so
    // that inference inside the body (`.into()`, `.collect()`, `?`) sees it
    // as it would in the original function. `impl Trait` cannot be written
    // there; such a body's type comes from the body alone.
    let nameable = output.filter(|ty| !mentions_impl(&ty.to_token_stream()));
    let body = if matches!(output, Some(Type::Never(_))) {
        // Only a panic can end it: the guard reports that when it is dropped.
        quote! { #statics #block }
    } else if func.sig.asyncness.is_some() {
        let annotation = nameable.map(|ty| quote!(: #ty));
        quote! {
            #statics
            let __reliable_ret #annotation = __reliable_call.watch(async move #block).await;
            __reliable_call.finish(#observe);
            #ret
        }
    } else {
        let annotation = nameable.map(|ty| quote!(-> #ty));
        quote! {
            #statics
            let __reliable_ret = #private::call_once(move || #annotation #block);
            __reliable_call.finish(#observe);
            #ret
        }
    };
    func.block.stmts = vec![Stmt::Expr(Expr::Verbatim(body), None)];
}

/// Whether a type mentions `impl Trait` anywhere, nested groups included.
fn mentions_impl(tokens: &TokenStream) -> bool {
    tokens.clone().into_iter().any(|tree| match tree {
        proc_macro2::TokenTree::Ident(ident) => ident == "impl",
        proc_macro2::TokenTree::Group(group) => mentions_impl(&group.stream()),
        _ => false,
    })
}
