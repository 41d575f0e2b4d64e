//! Code generation: the impl block as written, each method's body wrapped in
//! a timed call. It reads the model `valid` built, and cannot fail.
//!
//! The expansion is thin: what does not depend on the method (the call
//! site's `static`, the probes of the return value) is written by macros of
//! `reliability_core::__private`, so each method gets a few lines.

mod early;
mod recovery;

use proc_macro2::{Literal, Span, TokenStream};
use quote::{quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{Expr, ImplItem, ImplItemFn, ItemImpl, LitStr, ReturnType, Stmt, Type};

use crate::ast;
use crate::attr::ThresholdArgs;

/// Instruments every method of the model; the items it does not list are left as they are.
pub(crate) fn impl_block(imp: &mut ItemImpl, model: &ast::Impl) {
    let krate = &model.krate;
    let private = quote!(#krate::__private);
    let thresholds = model
        .thresholds
        .as_ref()
        .map(|t| thresholds_tokens(t, &private));
    for method in &model.methods {
        if let ImplItem::Fn(func) = &mut imp.items[method.index] {
            // Only a method with `self` can reach the instance.
            let instance = model
                .instance
                .as_ref()
                .filter(|_| func.sig.receiver().is_some())
                .map(|(field, _)| instance_tokens(field, krate));
            let site = Site {
                private: &private,
                component: &model.component,
                instance: instance.as_ref(),
                thresholds: thresholds.as_ref(),
            };
            instrument(func, &site, method.recovery.as_ref());
        }
    }
}

/// What the call site of each method of the impl is built from.
struct Site<'a> {
    private: &'a TokenStream,
    component: &'a LitStr,
    /// `instance(&self.field)` for `start!`, on a method with `self` when
    /// the impl names an instance field.
    instance: Option<&'a TokenStream>,
    /// `thresholds(EXPR)` for `start!`, when the impl sets any.
    thresholds: Option<&'a TokenStream>,
}

/// `instance(&self.field)`, for `start!`: every token at the field's name
/// in the attribute, so that a missing field or one of another type than
/// `Instance` is reported there.
fn instance_tokens(field: &syn::Member, krate: &TokenStream) -> TokenStream {
    let span = field.span();
    let this = syn::Ident::new("self", span);
    let tokens = quote! {{
        let __reliable_instance: &#krate::Instance = &#this.#field;
        __reliable_instance
    }};
    let tokens = recovery::respan(tokens, span);
    quote_spanned!(span=> instance(#tokens))
}

/// `thresholds(Thresholds::new().with_…(…)…)`, for `start!`.
fn thresholds_tokens(thresholds: &ThresholdArgs, private: &TokenStream) -> TokenStream {
    let ThresholdArgs {
        max_consecutive_failures,
        min_success_rate,
        degraded_success_rate,
        slow_call,
        window,
        min_calls,
    } = thresholds;
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
    quote!(thresholds(#private::Thresholds::new() #calls))
}

/// The method as the call site knows it: its name without `r#`.
fn method_name(func: &ImplItemFn) -> LitStr {
    let name = func.sig.ident.to_string();
    LitStr::new(
        name.strip_prefix("r#").unwrap_or(&name),
        func.sig.ident.span(),
    )
}

/// The return type, when it can be written on a closure or a `let`: the
/// signature's type, written where the body's value is produced, so that
/// inference inside the body (`.into()`, `.collect()`, `?`) sees it as it
/// would in the original function. `impl Trait` cannot be written there;
/// such a body's type comes from the body alone.
fn nameable_output(func: &ImplItemFn) -> Option<&Type> {
    match &func.sig.output {
        ReturnType::Type(_, ty) if !mentions_impl(&ty.to_token_stream()) => Some(&**ty),
        _ => None,
    }
}

/// Whether the body is written in place rather than in a closure: for a
/// sync `#[track_caller]` method, so that `Location::caller()` in the body
/// (and every `#[track_caller]` function it calls) sees the method's caller,
/// not the closure's call (rust-lang/rust#115302: a closure cannot carry
/// `#[track_caller]` on stable). Only when the body cannot leave early: a
/// `return` or `?` in place would skip reporting the call's outcome. Any
/// macro but a few of std's might expand to one, so those keep the closure.
fn inline_body(func: &ImplItemFn) -> bool {
    func.sig.asyncness.is_none()
        && func
            .attrs
            .iter()
            .any(|attr| attr.path().is_ident("track_caller"))
        && cannot_leave_early(func.block.to_token_stream())
}

/// std macros that cannot return from the function they are written in.
const SAFE_MACROS: [&str; 22] = [
    "assert",
    "assert_eq",
    "assert_ne",
    "concat",
    "dbg",
    "debug_assert",
    "debug_assert_eq",
    "debug_assert_ne",
    "eprint",
    "eprintln",
    "format",
    "format_args",
    "matches",
    "panic",
    "print",
    "println",
    "stringify",
    "todo",
    "unimplemented",
    "unreachable",
    "vec",
    "write",
];

/// No `return`, no `?` and no macro call other than std's that cannot return,
/// anywhere in `tokens` (nested closures included: the scan is conservative).
fn cannot_leave_early(tokens: TokenStream) -> bool {
    let mut previous: Option<proc_macro2::TokenTree> = None;
    for tree in tokens {
        let stays = match &tree {
            proc_macro2::TokenTree::Ident(ident) => ident != "return",
            proc_macro2::TokenTree::Punct(punct) => match punct.as_char() {
                '?' => false,
                '!' => !matches!(&previous, Some(proc_macro2::TokenTree::Ident(name))
                    if !SAFE_MACROS.contains(&name.to_string().as_str())),
                _ => true,
            },
            proc_macro2::TokenTree::Group(group) => cannot_leave_early(group.stream()),
            proc_macro2::TokenTree::Literal(_) => true,
        };
        if !stays {
            return false;
        }
        previous = Some(tree);
    }
    true
}

/// Replaces the body with a timed call of the original body.
fn instrument(func: &mut ImplItemFn, site: &Site<'_>, recovery: Option<&ast::Recovery>) {
    let Site {
        private,
        component,
        instance,
        thresholds,
    } = site;
    // `#[async_trait]` ran first: the boxed future is instrumented as the
    // `async fn` it was, and put back in its `Box::pin(…)`.
    let boxed = ast::BoxedFuture::of(func).map(|boxed| {
        let mut inner = func.clone();
        inner.sig.asyncness = Some(Default::default());
        inner.sig.output = ReturnType::Type(Default::default(), Box::new(boxed.output.clone()));
        inner.block = boxed.block.block.clone();
        let attrs = &boxed.block.attrs;
        let capture = &boxed.block.capture;
        (inner, quote!(#(#attrs)* async #capture))
    });
    let target = boxed.as_ref().map_or(&*func, |(inner, _)| inner);
    // A `#[track_caller]` body that leaves early is written in place with its
    // exits turned into breaks, instead of in a closure.
    let in_place = early::rewritten(target, private);
    let target = in_place.as_ref().unwrap_or(target);
    let method = method_name(target);
    let is_async = target.sig.asyncness.is_some();
    let start = if is_async {
        quote!(start_async)
    } else {
        quote!(start)
    };
    let recovery_options = recovery.map(|r| recovery::options(r, private));
    let call = quote! {
        let __reliable_call =
            #private::start!(#start #component #method #instance #thresholds #recovery_options);
    };
    let body = match recovery {
        Some(recovery) => recovery::body(target, recovery, private, component, call),
        None => plain_body(target, private, call),
    };
    match boxed {
        Some((_, async_move)) => {
            if let Some(Stmt::Expr(Expr::Call(pin), None)) = func.block.stmts.last_mut() {
                let future = Expr::Verbatim(quote!(#async_move { #body }));
                pin.args = std::iter::once(future).collect();
            }
        }
        None => func.block.stmts = vec![Stmt::Expr(Expr::Verbatim(body), None)],
    }
}

/// The body of a method without recovery: the original body, timed.
fn plain_body(func: &ImplItemFn, private: &TokenStream, call: TokenStream) -> TokenStream {
    let block = &func.block;
    // Where a mismatch between the body's value and the signature is reported:
    // the body's own tail expression, or its block.
    let tail = match block.stmts.last() {
        Some(Stmt::Expr(expr, None)) => expr.span(),
        _ => block.span(),
    };
    let ret = quote_spanned!(Span::call_site().located_at(tail)=> __reliable_ret);
    let finish = quote!(__reliable_call.finish(#private::observe!(__reliable_ret)););
    if matches!(func.sig.output, ReturnType::Type(_, ref ty) if matches!(**ty, Type::Never(_))) {
        // Only a panic can end it: the guard reports that when it is dropped.
        quote! { #call #block }
    } else if func.sig.asyncness.is_some() {
        let annotation = nameable_output(func).map(|ty| quote!(: #ty));
        // The guard stays in the future's state: moving it out to `finish`
        // right after the poll cost a store-forwarding stall (see
        // `Call::finish_in_place`).
        quote! {
            #call
            let __reliable_ret #annotation = __reliable_call.watch(async move #block).await;
            __reliable_call.finish_in_place(#private::observe!(__reliable_ret));
            #ret
        }
    } else if inline_body(func) {
        let annotation = nameable_output(func).map(|ty| quote!(: #ty));
        quote! {
            #call
            let __reliable_ret #annotation = #block;
            #finish
            #ret
        }
    } else {
        let annotation = nameable_output(func).map(|ty| quote!(-> #ty));
        quote! {
            #call
            let __reliable_ret = #private::call_once(move || #annotation #block);
            #finish
            #ret
        }
    }
}

/// Whether a type mentions `impl Trait` anywhere, nested groups included.
fn mentions_impl(tokens: &TokenStream) -> bool {
    tokens.clone().into_iter().any(|tree| match tree {
        proc_macro2::TokenTree::Ident(ident) => ident == "impl",
        proc_macro2::TokenTree::Group(group) => mentions_impl(&group.stream()),
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inlined(method: &str) -> bool {
        inline_body(&syn::parse_str(method).unwrap())
    }

    #[test]
    fn only_a_sync_track_caller_body_that_cannot_leave_early_is_inlined() {
        assert!(inlined(
            "#[track_caller] fn m(&self) -> u32 { let v = vec![1]; assert!(!v.is_empty()); v[0] }"
        ));
        assert!(!inlined("fn m(&self) -> u32 { 1 }"));
        assert!(!inlined("#[track_caller] async fn m(&self) -> u32 { 1 }"));
        assert!(!inlined(
            "#[track_caller] fn m(&self) -> Result<u32, E> { let n = parse()?; Ok(n) }"
        ));
        assert!(!inlined(
            "#[track_caller] fn m(&self) -> u32 { if self.0 { return 1; } 2 }"
        ));
        // A macro of another crate may return (`anyhow::ensure!`).
        assert!(!inlined(
            "#[track_caller] fn m(&self) -> Result<u32, E> { ensure!(self.0); Ok(1) }"
        ));
        // Nested groups are scanned too.
        assert!(!inlined(
            "#[track_caller] fn m(&self) -> Option<u32> { let f = || { Some(x?) }; f() }"
        ));
    }
}
