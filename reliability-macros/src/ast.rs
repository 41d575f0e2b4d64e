//! The typed model of one `#[reliable]` impl block: what `valid` built from
//! the options `attr` parsed, once every check passed. `expand` reads only
//! this model and the syn nodes, so it has nothing left to reject.

use proc_macro2::{Span, TokenStream};
use syn::{
    Expr, ExprAsync, GenericArgument, ImplItemFn, LitStr, PathArguments, ReturnType, Stmt, Type,
    TypeParamBound,
};

use crate::attr::recovery::RecoveryArgs;
use crate::attr::ThresholdArgs;

pub(crate) use crate::names::Strategy;

/// An impl block whose options passed every check.
pub(crate) struct Impl {
    /// The path of `reliability_core`: `::reliability_core`, or `crate = path`.
    pub krate: TokenStream,
    pub component: LitStr,
    /// `instance = field`: the field of `Self` holding the `Instance`, with
    /// the key's span.
    pub instance: Option<(syn::Member, Span)>,
    pub thresholds: Option<ThresholdArgs>,
    /// The methods to instrument; a method skipped, `const` or in error is not here.
    pub methods: Vec<Method>,
}

/// A method to instrument.
pub(crate) struct Method {
    /// Its position in the impl block's items.
    pub index: usize,
    /// Its recovery, when it has any.
    pub recovery: Option<Recovery>,
}

/// One method's checked recovery: the impl's settings with the method's on top.
pub(crate) struct Recovery {
    /// The strategies in effect, naming a method included (`fallback = f`
    /// enables `fallback`), each with the span it was named at.
    pub strategies: Vec<(Strategy, Span)>,
    pub args: RecoveryArgs,
}

impl Recovery {
    /// Whether `strategy` is in effect.
    pub(crate) fn has(&self, strategy: Strategy) -> bool {
        self.strategies.iter().any(|(s, _)| *s == strategy)
    }

    /// Where `strategy` was named.
    pub(crate) fn span_of(&self, strategy: Strategy) -> Option<Span> {
        self.strategies
            .iter()
            .find(|(s, _)| *s == strategy)
            .map(|(_, span)| *span)
    }
}

/// A sync method whose body is `Box::pin(async move { … })`, the shape
/// `#[async_trait]` leaves an `async fn` in (as tracing-attributes'
/// `AsyncInfo::from_fn` finds it): the future's output type and the async
/// block, which is what is instrumented, as if the method were that `async fn`.
pub(crate) struct BoxedFuture<'a> {
    pub output: &'a Type,
    pub block: &'a ExprAsync,
}

impl<'a> BoxedFuture<'a> {
    /// The shape in `func`, when it has it: the last statement is a call of
    /// a path ending in `Box::pin` with one async block, and the return type
    /// names the future's output (`… Future<Output = T> …`).
    pub(crate) fn of(func: &'a ImplItemFn) -> Option<Self> {
        if func.sig.asyncness.is_some() {
            return None;
        }
        let Some(Stmt::Expr(Expr::Call(call), None)) = func.block.stmts.last() else {
            return None;
        };
        let Expr::Path(path) = &*call.func else {
            return None;
        };
        let names: Vec<String> = path
            .path
            .segments
            .iter()
            .map(|s| s.ident.to_string())
            .collect();
        if !names.ends_with(&["Box".to_owned(), "pin".to_owned()]) || call.args.len() != 1 {
            return None;
        }
        let Some(Expr::Async(block)) = call.args.first() else {
            return None;
        };
        let ReturnType::Type(_, ty) = &func.sig.output else {
            return None;
        };
        Some(BoxedFuture {
            output: future_output(ty)?,
            block,
        })
    }
}

/// `T` in the first `Output = T` found in a type, nested generics included.
fn future_output(ty: &Type) -> Option<&Type> {
    match ty {
        Type::Path(path) => path_output(&path.path),
        Type::TraitObject(object) => object.bounds.iter().find_map(|bound| match bound {
            TypeParamBound::Trait(bound) => path_output(&bound.path),
            _ => None,
        }),
        Type::Paren(paren) => future_output(&paren.elem),
        Type::Group(group) => future_output(&group.elem),
        _ => None,
    }
}

fn path_output(path: &syn::Path) -> Option<&Type> {
    path.segments.iter().find_map(|segment| {
        let PathArguments::AngleBracketed(args) = &segment.arguments else {
            return None;
        };
        args.args.iter().find_map(|arg| match arg {
            GenericArgument::AssocType(assoc) if assoc.ident == "Output" => Some(&assoc.ty),
            GenericArgument::Type(inner) => future_output(inner),
            _ => None,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_async_trait_shape_is_found() {
        let method: ImplItemFn = syn::parse_str(
            "fn get<'a>(&'a self, key: u8) -> ::core::pin::Pin<Box<dyn ::core::future::Future<\
                Output = Result<u8, E>> + ::core::marker::Send + 'a>> \
             { Box::pin(async move { let __self = self; Ok(key) }) }",
        )
        .unwrap();
        let boxed = BoxedFuture::of(&method).unwrap();
        let output = boxed.output;
        assert_eq!(quote::quote!(#output).to_string(), "Result < u8 , E >");
        for not_it in [
            "async fn get(&self) -> u8 { 1 }",
            "fn get(&self) -> Pin<Box<dyn Future<Output = u8>>> { Box::new(async move { 1 }) }",
            "fn get(&self) -> Pin<Box<dyn Future<Output = u8>>> { Box::pin(ready(1)) }",
            "fn get(&self) -> BoxFuture { Box::pin(async move { 1 }) }",
        ] {
            let method: ImplItemFn = syn::parse_str(not_it).unwrap();
            assert!(BoxedFuture::of(&method).is_none(), "{not_it}");
        }
    }
}
