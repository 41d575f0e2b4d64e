//! Code generation: the impl block as written, each method's body wrapped in
//! a timed call. It reads the model `valid` built, and cannot fail.

mod recovery;

use proc_macro2::{Literal, Span, TokenStream};
use quote::{quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{Expr, ImplItem, ImplItemFn, ItemImpl, LitStr, ReturnType, Stmt, Type};

use crate::ast;
use crate::attr::{self, ThresholdArgs};
use recovery::RecoveryParts;

/// Instruments every method of the model; the items it does not list are left as they are.
pub(crate) fn impl_block(imp: &mut ItemImpl, model: &ast::Impl) {
    let krate = &model.krate;
    let private = quote!(#krate::__private);
    let thresholds = thresholds_tokens(model.thresholds.as_ref(), &private);
    for method in &model.methods {
        if let ImplItem::Fn(func) = &mut imp.items[method.index] {
            instrument(func, model, &thresholds, method.recovery.as_ref());
        }
    }
}

fn thresholds_tokens(thresholds: Option<&ThresholdArgs>, private: &TokenStream) -> TokenStream {
    let Some(thresholds) = thresholds else {
        return quote!(::core::option::Option::None);
    };
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
    quote!(::core::option::Option::Some(#private::Thresholds::new() #calls))
}

/// Replaces the body with a timed call of the original body.
fn instrument(
    func: &mut ImplItemFn,
    model: &ast::Impl,
    thresholds: &TokenStream,
    recovery: Option<&ast::Recovery>,
) {
    let ast::Impl {
        krate, component, ..
    } = model;
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
    let recovery_meta = match recovery {
        Some(_) => quote!(::core::option::Option::Some(&__RELIABLE_RECOVERY)),
        None => quote!(::core::option::Option::None),
    };
    let site_statics = quote! {
        static __RELIABLE_META: #private::SiteMeta = #private::SiteMeta {
            component: #component,
            method: #method,
            thresholds: #thresholds,
            recovery: #recovery_meta,
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
        let config = recovery::config_tokens(effective, &private);
        let budget = recovery::budget_tokens(effective, &private);
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
        let body = recovery::body(func, effective, &parts);
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
