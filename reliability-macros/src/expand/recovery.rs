//! Code generation for a method with recovery: the body becomes one arm of a
//! loop that performs what the core's recovery driver asks for, alongside
//! arms for the repair method, the alternatives and the fallback.

use proc_macro2::Literal;
use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{FnArg, Ident, ImplItemFn, Pat, Type};

use crate::ast::{self, Strategy};

/// How one argument is passed again: cloned, or reborrowed when it is `&mut`.
fn again(pat_ident: &syn::Ident, ty: &Type, private: &TokenStream) -> TokenStream {
    if let Type::Reference(reference) = ty {
        if reference.mutability.is_some() {
            return quote!(&mut *#pat_ident);
        }
    }
    // Spanned at the argument's type, so a missing `Clone` is reported there.
    let span = Span::call_site().located_at(ty.span());
    respan(quote!(#private::rerun_arg(&#pat_ident)), span)
}

/// The tokens with every span replaced: a type error in generated code is
/// then reported at the user's token that `span` stands for.
fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut tree| {
            if let proc_macro2::TokenTree::Group(group) = &tree {
                let mut respanned =
                    proc_macro2::Group::new(group.delimiter(), respan(group.stream(), span));
                respanned.set_span(span);
                tree = proc_macro2::TokenTree::Group(respanned);
            } else {
                tree.set_span(span);
            }
            tree
        })
        .collect()
}

/// The identifiers a pattern binds.
fn bindings(pat: &Pat, out: &mut Vec<(syn::Ident, bool)>) {
    match pat {
        Pat::Ident(p) => {
            out.push((p.ident.clone(), p.mutability.is_some()));
            if let Some((_, sub)) = &p.subpat {
                bindings(sub, out);
            }
        }
        Pat::Tuple(t) => t.elems.iter().for_each(|p| bindings(p, out)),
        Pat::TupleStruct(t) => t.elems.iter().for_each(|p| bindings(p, out)),
        Pat::Struct(s) => s.fields.iter().for_each(|f| bindings(&f.pat, out)),
        Pat::Slice(s) => s.elems.iter().for_each(|p| bindings(p, out)),
        Pat::Reference(r) => bindings(&r.pat, out),
        Pat::Paren(p) => bindings(&p.pat, out),
        Pat::Type(t) => bindings(&t.pat, out),
        _ => {}
    }
}

pub(crate) struct RecoveryParts<'a> {
    pub private: &'a TokenStream,
    pub recovery_static: TokenStream,
    pub judge: TokenStream,
    pub ret_ty: Option<&'a Type>,
    pub component: &'a syn::LitStr,
}

/// The body of a method with recovery.
pub(crate) fn body(
    func: &ImplItemFn,
    effective: &ast::Recovery,
    parts: &RecoveryParts<'_>,
) -> TokenStream {
    let RecoveryParts {
        private,
        recovery_static,
        judge,
        ret_ty,
        component,
    } = parts;
    let block = &func.block;
    let is_async = func.sig.asyncness.is_some();
    let has_receiver = func.sig.receiver().is_some();

    let mut rebind = TokenStream::new();
    let mut call_args = Vec::new();
    for arg in &func.sig.inputs {
        let FnArg::Typed(typed) = arg else { continue };
        if let Pat::Ident(p) = &*typed.pat {
            let ident = &p.ident;
            let mutability = &p.mutability;
            let value = again(ident, &typed.ty, private);
            rebind.extend(quote!(let #mutability #ident = #value;));
            call_args.push(again(ident, &typed.ty, private));
        } else {
            let mut bound = Vec::new();
            bindings(&typed.pat, &mut bound);
            for (ident, mutable) in bound {
                let mutability = mutable.then(|| quote!(mut));
                rebind.extend(quote!(let #mutability #ident = #private::rerun_arg(&#ident);));
            }
        }
    }

    let annotation = ret_ty.map(|ty| quote!(: #ty));
    let call_other = |name: &syn::Ident| {
        let span = Span::call_site().located_at(name.span());
        let call = if has_receiver {
            quote_spanned!(span=> self.#name(#(#call_args),*))
        } else {
            quote_spanned!(span=> Self::#name(#(#call_args),*))
        };
        if is_async {
            quote_spanned!(span=> #call.await)
        } else {
            call
        }
    };
    let value_arm = |value: TokenStream| {
        quote! {{
            let __reliable_ret #annotation = #value;
            let __reliable_verdict = #judge;
            #private::Ran::Value(__reliable_ret, __reliable_verdict)
        }}
    };

    let attempt = if is_async {
        value_arm(quote!(async #block.await))
    } else {
        let closure_ret = ret_ty.map(|ty| quote!(-> #ty));
        value_arm(quote!(#private::call_once(|| #closure_ret #block)))
    };
    let mut arms = quote! {
        #private::Op::Attempt => { #rebind #attempt }
    };
    if let Some(repair) = &effective.args.repair {
        let name = &repair.value;
        let span = Span::call_site().located_at(name.span());
        let mut call = if has_receiver {
            quote_spanned!(span=> self.#name())
        } else {
            quote_spanned!(span=> Self::#name())
        };
        if is_async {
            call = quote_spanned!(span=> #call.await);
        }
        arms.extend(quote! {
            #private::Op::Repair => {
                let __reliable_ret = #call;
                #private::Ran::Repaired(#judge)
            }
        });
    }
    if let Some(list) = &effective.args.alternatives {
        for (index, name) in list.value.iter().enumerate() {
            let index = index as u32;
            let value = value_arm(call_other(name));
            arms.extend(quote!(#private::Op::Alternative(#index) => #value));
        }
    }
    if let Some(fallback) = &effective.args.fallback {
        let value = value_arm(call_other(&fallback.value));
        arms.extend(quote!(#private::Op::Fallback => #value));
    }
    // With a fallback, a refused call always has a value: the fallback's.
    if effective.has(Strategy::CircuitBreaker) && !effective.has(Strategy::Fallback) {
        let span = effective
            .span_of(Strategy::CircuitBreaker)
            .map_or_else(Span::call_site, |s| Span::call_site().located_at(s));
        let value = value_arm(respan(quote!(#private::reject(#component)), span));
        arms.extend(quote!(#private::Op::Reject => #value));
    }
    arms.extend(quote!(_ => ::core::unreachable!("reliability: operation not configured")));

    let recovery = quote!(#private::Recovery::new(&__RELIABLE_SITE, &__RELIABLE_RECOVERY));
    let step = quote! {
        let __reliable_ran = match __reliable_op { #arms };
        __reliable_recovery.report(__reliable_op, __reliable_ran);
    };
    if is_async {
        quote! {
            #recovery_static
            let __reliable_call = #private::Call::start_async(&__RELIABLE_SITE);
            let mut __reliable_recovery = #recovery;
            __reliable_call
                .watch(async {
                    while let ::core::option::Option::Some(__reliable_op) =
                        __reliable_recovery.next_op_async().await
                    {
                        #step
                    }
                })
                .await;
            __reliable_recovery.finish(__reliable_call)
        }
    } else {
        quote! {
            #recovery_static
            let __reliable_call = #private::Call::start(&__RELIABLE_SITE);
            let mut __reliable_recovery = #recovery;
            while let ::core::option::Option::Some(__reliable_op) = __reliable_recovery.next_op() {
                #step
            }
            __reliable_recovery.finish(__reliable_call)
        }
    }
}

/// `.with_<name>(<value>)` for each setting that is given.
fn with_calls(settings: Vec<(&str, Option<TokenStream>)>) -> TokenStream {
    settings
        .into_iter()
        .filter_map(|(name, value)| {
            let method = Ident::new(&format!("with_{name}"), Span::call_site());
            value.map(|value| quote!(.#method(#value)))
        })
        .collect()
}

fn nanos(n: u64) -> TokenStream {
    let n = Literal::u64_suffixed(n);
    quote!(::core::time::Duration::from_nanos(#n))
}

fn count(n: u32) -> TokenStream {
    Literal::u32_suffixed(n).into_token_stream()
}

fn fraction(x: f64) -> TokenStream {
    Literal::f64_suffixed(x).into_token_stream()
}

fn some(value: TokenStream) -> TokenStream {
    quote!(::core::option::Option::Some(#value))
}

/// The `StrategyConfig` expression for a method's recovery.
pub(crate) fn config_tokens(effective: &ast::Recovery, private: &TokenStream) -> TokenStream {
    let strategies = effective.strategies.iter().map(|(strategy, _)| {
        let variant = Ident::new(strategy.variant(), Span::call_site());
        quote!(.with_strategy(#private::Strategy::#variant))
    });
    let a = &effective.args;
    let settings = with_calls(vec![
        (
            "max_attempts",
            a.max_attempts.as_ref().map(|n| count(n.value)),
        ),
        (
            "backoff",
            a.backoff.as_ref().map(|kind| {
                let variant = Ident::new(kind.value.variant(), Span::call_site());
                quote!(#private::Backoff::#variant)
            }),
        ),
        ("base_delay", a.base_delay.as_ref().map(|d| nanos(d.value))),
        ("max_delay", a.max_delay.as_ref().map(|d| nanos(d.value))),
        (
            "jitter",
            a.jitter.as_ref().map(|j| j.value.into_token_stream()),
        ),
        (
            "max_elapsed",
            a.max_elapsed.as_ref().map(|d| nanos(d.value)),
        ),
        (
            "alternatives",
            a.alternatives
                .as_ref()
                .map(|list| count(list.value.len() as u32)),
        ),
    ]);
    // A failure rate alone turns the consecutive-failures rule off.
    let open_after = match (&a.open_after, &a.failure_rate) {
        (Some(n), _) => Some(some(count(n.value))),
        (None, Some(_)) => Some(quote!(::core::option::Option::None)),
        (None, None) => None,
    };
    let circuit = with_calls(vec![
        ("open_after", open_after),
        (
            "failure_rate",
            a.failure_rate.as_ref().map(|r| some(fraction(r.value))),
        ),
        ("window", a.window.as_ref().map(|n| count(n.value))),
        ("min_calls", a.min_calls.as_ref().map(|n| count(n.value))),
        ("cool_down", a.cool_down.as_ref().map(|d| nanos(d.value))),
        (
            "half_open_probes",
            a.half_open_probes.as_ref().map(|n| count(n.value)),
        ),
    ]);
    let circuit = (!circuit.is_empty())
        .then(|| quote!(.with_circuit(#private::CircuitConfig::new() #circuit)));
    quote!(#private::StrategyConfig::new() #(#strategies)* #settings #circuit)
}

/// The `Option<RetryBudget>` expression for a method's component.
pub(crate) fn budget_tokens(effective: &ast::Recovery, private: &TokenStream) -> TokenStream {
    let Some(budget) = &effective.args.retry_budget else {
        return quote!(::core::option::Option::None);
    };
    let settings = with_calls(vec![
        ("ratio", budget.value.ratio.map(fraction)),
        ("per_second", budget.value.per_second.map(count)),
        ("window", budget.value.window.map(nanos)),
    ]);
    some(quote!(#private::RetryBudget::new() #settings))
}
