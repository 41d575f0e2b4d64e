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
use crate::naming::default_component;

/// What every method of one impl block shares.
struct ImplContext {
    krate: TokenStream,
    component: LitStr,
    thresholds: TokenStream,
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
    let (span, what) = match item {
        Item::Struct(item) => (item.struct_token.span, "a struct"),
        Item::Enum(item) => (item.enum_token.span, "an enum"),
        Item::Union(item) => (item.union_token.span, "a union"),
        Item::Trait(item) => (item.trait_token.span, "a trait definition"),
        Item::Fn(item) => (item.sig.fn_token.span, "a function"),
        Item::Mod(item) => (item.mod_token.span, "a module"),
        other => (other.span(), "this item"),
    };
    let message = if matches!(item, Item::Fn(_)) && args.to_string() == "skip" {
        "`#[reliable(skip)]` only has an effect on a method of an impl block that has `#[reliable]`"
            .to_owned()
    } else if matches!(item, Item::Fn(_)) {
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
    for item in &mut imp.items {
        match item {
            ImplItem::Fn(func) => match attr::take_method_args(&mut func.attrs) {
                Ok(args) => {
                    if args.skip.is_none() && func.sig.constness.is_none() {
                        instrument(func, context);
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
    errors
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
fn instrument(func: &mut ImplItemFn, context: &ImplContext) {
    let ImplContext {
        krate,
        component,
        thresholds,
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
    let statics = quote! {
        static __RELIABLE_META: #private::SiteMeta = #private::SiteMeta {
            component: #component,
            method: #method,
            thresholds: #thresholds,
        };
        static __RELIABLE_SITE: #private::CallSite = #private::CallSite::new(&__RELIABLE_META);
        let __reliable_call = #private::Call::start(&__RELIABLE_SITE);
    };
    let observe = quote! {{
        #[allow(unused_imports)]
        use #private::{
            ObserveDebug as _, ObserveDisplay as _, ObserveResult as _, ObserveValue as _,
        };
        (&&&&#private::Probe(&__reliable_ret)).__reliable_observe()
    }};
    let output = match &func.sig.output {
        ReturnType::Type(_, ty) => Some(&**ty),
        ReturnType::Default => None,
    };
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
