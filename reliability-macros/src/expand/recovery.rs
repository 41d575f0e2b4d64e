//! Code generation for a method with recovery: the body becomes one arm of a
//! loop that performs what the core's recovery driver asks for, alongside
//! arms for the repair method, the alternatives and the fallback.

use proc_macro2::Literal;
use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{FnArg, Ident, ImplItemFn, Pat, Type};

use crate::ast::{self, Strategy};
use crate::attr;

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
pub(super) fn respan(tokens: TokenStream, span: Span) -> TokenStream {
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

/// Whether recovery may run the body again or hand its arguments to
/// another method: only then is each attempt given copies of the arguments.
fn reruns(recovery: &ast::Recovery) -> bool {
    [
        Strategy::Retry,
        Strategy::Network,
        Strategy::Repair,
        Strategy::Alternatives,
        Strategy::Fallback,
    ]
    .into_iter()
    .any(|strategy| recovery.has(strategy))
}

/// The body of a method with recovery. `call` starts the timed call.
///
/// One shape for every method, sync or async: the recovery reads what the
/// call passes and runs from the site's description; what is written per
/// method is only what names the user's code (the attempt, the repair
/// method, the alternatives, the fallback) and the conversions of a
/// refusal into the user's error type.
pub(crate) fn body(
    func: &ImplItemFn,
    recovery: &ast::Recovery,
    private: &TokenStream,
    component: &syn::LitStr,
    call: TokenStream,
) -> TokenStream {
    let block = &func.block;
    let is_async = func.sig.asyncness.is_some();
    let has_receiver = func.sig.receiver().is_some();
    let reruns = reruns(recovery);

    // Each attempt gets its own copy of the arguments (a reborrow of a
    // `&mut`), so that the body may consume them.
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
    let call_method = |name: &syn::Ident, args: &[TokenStream]| {
        let span = Span::call_site().located_at(name.span());
        let call = if has_receiver {
            quote_spanned!(span=> self.#name(#(#args),*))
        } else {
            quote_spanned!(span=> Self::#name(#(#args),*))
        };
        // A step of this call's recovery: its failure is the method's own,
        // not another failure in a row of the component.
        // Spanned at the method's name, so that a mismatch of its type is
        // reported there.
        if is_async {
            let step = respan(quote!(#private::step_async), span);
            quote_spanned!(span=> #step(&__reliable_recovery, #call).await)
        } else {
            let step = respan(quote!(#private::step), span);
            quote_spanned!(span=> #step(&__reliable_recovery, || #call))
        }
    };

    let ret_ty = super::nameable_output(func);
    let args = &recovery.args;
    let key_span = |setting: Option<Span>| {
        setting.map_or_else(Span::call_site, |s| Span::call_site().located_at(s))
    };
    let attempt = match is_async {
        true => async_attempt(func, recovery, private, &rebind, &call_args, reruns),
        false if reruns && super::inline_body(func) => quote!({ #rebind #block }),
        false if super::inline_body(func) => quote!(#block),
        false => {
            let closure_ret = ret_ty.map(|ty| quote!(-> #ty));
            if reruns {
                quote!({ #rebind #private::call_once(|| #closure_ret #block) })
            } else {
                quote!(#private::call_once(move || #closure_ret #block))
            }
        }
    };
    // Each arm assigns the value, so a mismatch is reported against the
    // signature's type, not as arms of different types.
    let mut arms = TokenStream::new();
    arms.extend(quote!(#private::Op::Attempt => __reliable_ret = #attempt,));
    if let Some(repair) = &args.repair {
        let repaired = call_method(&repair.value, &[]);
        arms.extend(quote! {
            #private::Op::Repair => {
                let __reliable_repair = #repaired;
                __reliable_recovery.repaired(#private::judge!(__reliable_repair));
                continue;
            }
        });
    }
    if let Some(list) = &args.alternatives {
        for (index, name) in list.value.iter().enumerate() {
            let index = Literal::u32_unsuffixed(index as u32);
            let value = call_method(name, &call_args);
            arms.extend(quote!(#private::Op::Alternative(#index) => __reliable_ret = #value,));
        }
    }
    if let Some(fallback) = &args.fallback {
        let value = call_method(&fallback.value, &call_args);
        arms.extend(quote!(#private::Op::Fallback => __reliable_ret = #value,));
    }
    // A refusal becomes the user's error, each conversion spanned at the
    // option that can refuse; with a fallback, the fallback gives the value.
    let refusals: Vec<TokenStream> = if recovery.has(Strategy::Fallback) {
        Vec::new()
    } else {
        [
            (
                recovery.span_of(Strategy::CircuitBreaker),
                quote!(CircuitOpen),
                quote!(#private::reject(#component)),
            ),
            (
                args.bulkhead.as_ref().map(|b| b.key_span),
                quote!(BulkheadFull(__reliable_refused)),
                quote!(#private::refuse(__reliable_refused)),
            ),
            (
                args.rate_limit.as_ref().map(|r| r.key_span),
                quote!(RateLimited(__reliable_refused)),
                quote!(#private::refuse(__reliable_refused)),
            ),
        ]
        .into_iter()
        .filter_map(|(span, variant, value)| {
            let value = respan(value, key_span(Some(span?)));
            Some(quote!(#private::Refused::#variant => #value,))
        })
        .collect()
    };
    if !refusals.is_empty() {
        let rest = (refusals.len() < 3).then(|| quote!(_ => ::core::unreachable!(),));
        arms.extend(quote! {
            #private::Op::Refused(__reliable_refused) => __reliable_ret = match __reliable_refused {
                #(#refusals)* #rest
            },
        });
    }
    // A recovery that ended without another value: the last one is the caller's.
    arms.extend(quote!(_ => break __reliable_recovery.ended(),));

    let annotation = ret_ty.map(|ty| quote!(: #ty));
    // An async call awaits its limits and backoffs; a sync one waits in `op()`.
    let wait = is_async.then(|| quote!(__reliable_recovery.wait().await;));
    // Without a re-run the first value ends the call: the loop never goes
    // round again, so the body may consume its arguments.
    let once = (!reruns).then(|| quote!(::core::unreachable!()));
    let steps = quote!(loop {
        #wait
        let __reliable_ret #annotation;
        match __reliable_recovery.op() { #arms }
        #private::report!(__reliable_recovery __reliable_ret);
        #once
    });
    let steps = if is_async {
        quote!(__reliable_call.watch(async { #steps }).await)
    } else {
        steps
    };
    quote! {
        #call
        let mut __reliable_recovery = #private::Recovery::new(&__reliable_call);
        let __reliable_ended = #steps;
        __reliable_recovery.finish(&__reliable_call, __reliable_ended)
    }
}

/// An `async fn`'s attempt: its body, inside its `timeout` and raced with
/// its alternatives under `hedge`. The call's guard stays outside, so a
/// timeout is not counted as a cancellation.
fn async_attempt(
    func: &ImplItemFn,
    recovery: &ast::Recovery,
    private: &TokenStream,
    rebind: &TokenStream,
    call_args: &[TokenStream],
    reruns: bool,
) -> TokenStream {
    let block = &func.block;
    let args = &recovery.args;
    let has_receiver = func.sig.receiver().is_some();
    let timed = match (&args.hedge, &args.alternatives) {
        // The first attempt races its alternatives (made only when the
        // hedge delay passes); a later attempt runs alone.
        (Some(_), Some(list)) => {
            let alternatives = list.value.iter().map(|name| {
                let call = if has_receiver {
                    quote!(self.#name(#(#call_args),*))
                } else {
                    quote!(Self::#name(#(#call_args),*))
                };
                quote!(#private::hedge_future(#call))
            });
            quote! {
                #private::hedge(
                    &mut __reliable_recovery,
                    async { #rebind async #block.await },
                    || [#(#alternatives),*],
                ).await
            }
        }
        _ if args.timeout.is_none() && reruns => return quote!({ #rebind async #block.await }),
        _ if args.timeout.is_none() => return quote!(async move #block.await),
        _ if reruns => {
            quote!({ #rebind #private::timeout(&__reliable_recovery, async #block).await })
        }
        _ => quote!(#private::timeout(&__reliable_recovery, async move #block).await),
    };
    let value = if args.timeout.is_none() {
        return quote!(#private::untimed(#timed));
    } else if recovery.has(Strategy::Fallback) {
        // The fallback gives the value: the error type needs no `From<TimedOut>`.
        quote! {
            let ::core::option::Option::Some(__reliable_value) =
                #private::timed_value(&mut __reliable_recovery, __reliable_timed)
            else {
                continue;
            };
            __reliable_value
        }
    } else {
        let span = args.timeout.as_ref().map(|t| t.key_span);
        let span = span.map_or_else(Span::call_site, |s| Span::call_site().located_at(s));
        respan(
            quote!(#private::timed(&mut __reliable_recovery, __reliable_timed)),
            span,
        )
    };
    quote!({
        let __reliable_timed = #timed;
        #value
    })
}

/// `recovery [Retry …] (settings) repair("m") alternatives("a" …) fallback("f")
/// budget(settings)`: the recovery options of `start!`.
pub(crate) fn options(recovery: &ast::Recovery, private: &TokenStream) -> TokenStream {
    let strategies = recovery
        .strategies
        .iter()
        .map(|(strategy, _)| Ident::new(strategy.variant(), Span::call_site()));
    let settings = settings(recovery, private);
    let args = &recovery.args;
    let name = |setting: &attr::Setting<Ident>| setting.value.to_string();
    let repair = args.repair.as_ref().map(|r| {
        let r = name(r);
        quote!(repair(#r))
    });
    let alternatives = args.alternatives.as_ref().map(|list| {
        let names = list.value.iter().map(ToString::to_string);
        quote!(alternatives(#(#names)*))
    });
    let fallback = args.fallback.as_ref().map(|f| {
        let f = name(f);
        quote!(fallback(#f))
    });
    let budget = args.retry_budget.as_ref().map(|budget| {
        let settings = with_calls(vec![
            ("ratio", budget.value.ratio.map(fraction)),
            ("per_second", budget.value.per_second.map(count)),
            ("window", budget.value.window.map(nanos)),
        ]);
        quote!(budget(#settings))
    });
    let limits = limits(args);
    quote!(recovery [#(#strategies)*] (#settings) #repair #alternatives #fallback #budget #limits)
}

/// `limits(timeout(N) bulkhead(N WAIT) rate_limit(N BURST WAIT) hedge(AFTER N))`,
/// each present when set and in this order, durations in nanoseconds
/// (`hedge(p95 N)` for the recent p95); `start!` builds the `Limits`.
fn limits(args: &attr::recovery::RecoveryArgs) -> Option<TokenStream> {
    let nanos = |n: Option<u64>| Literal::u64_suffixed(n.unwrap_or(0));
    let timeout = args.timeout.as_ref().map(|t| {
        let t = nanos(Some(t.value));
        quote!(timeout(#t))
    });
    let bulkhead = args.bulkhead.as_ref().map(|b| {
        let n = Literal::usize_suffixed(b.value.max_concurrent as usize);
        let wait = nanos(b.value.max_wait);
        quote!(bulkhead(#n #wait))
    });
    let rate_limit = args.rate_limit.as_ref().map(|r| {
        let burst = count(r.value.burst.unwrap_or(r.value.per_second));
        let (n, wait) = (count(r.value.per_second), nanos(r.value.max_wait));
        quote!(rate_limit(#n #burst #wait))
    });
    let hedge = args.hedge.as_ref().map(|h| {
        let after = match h.value.after {
            Some(after) => nanos(Some(after)).into_token_stream(),
            None => quote!(p95),
        };
        let extra = count(h.value.max_extra.unwrap_or(1));
        quote!(hedge(#after #extra))
    });
    args.has_limits()
        .then(|| quote!(limits(#timeout #bulkhead #rate_limit #hedge)))
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

/// The settings of a method's `StrategyConfig`: `.with_…(…)` calls.
fn settings(recovery: &ast::Recovery, private: &TokenStream) -> TokenStream {
    let a = &recovery.args;
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
    quote!(#settings #circuit)
}
