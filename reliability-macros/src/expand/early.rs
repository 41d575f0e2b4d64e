//! `#[track_caller]` bodies that leave early: `return` and `?` rewritten as
//! breaks out of a labelled block, so the body can be written in place (a
//! closure would report its own line: rust-lang/rust#115302) and the call's
//! outcome is still reported when the body leaves.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned, ToTokens};
use syn::visit_mut::{self, VisitMut};
use syn::{Expr, ImplItemFn, Item, ReturnType, Type};

/// The method with its body's `return`s and `?`s turned into breaks out of
/// `'__reliable_body: { … }`, when it is a sync `#[track_caller]` method
/// whose only early exits are those, and whose return type is written out
/// (a `Result` or an `Option` when the body uses `?`). `None` otherwise: the
/// body then keeps its closure.
pub(super) fn rewritten(func: &ImplItemFn, private: &TokenStream) -> Option<ImplItemFn> {
    let tracked = func
        .attrs
        .iter()
        .any(|attr| attr.path().is_ident("track_caller"));
    if !tracked || func.sig.asyncness.is_some() {
        return None;
    }
    let body = func.block.to_token_stream();
    let exits = Exits::of(body);
    if exits.unsafe_macro || !(exits.returns || exits.questions) {
        return None;
    }
    let output = match &func.sig.output {
        ReturnType::Default => None,
        ReturnType::Type(_, ty) if super::nameable_output(func).is_some() => Some(&**ty),
        ReturnType::Type(..) => return None,
    };
    if matches!(output, Some(Type::Never(_))) {
        return None;
    }
    if exits.questions && !output.is_some_and(tries) {
        return None;
    }
    let mut rewritten = func.clone();
    let mut breaks = Breaks { private };
    breaks.visit_block_mut(&mut rewritten.block);
    let block = &rewritten.block;
    let labelled = Expr::Verbatim(quote!('__reliable_body: #block));
    rewritten.block.stmts = vec![syn::Stmt::Expr(labelled, None)];
    Some(rewritten)
}

/// Whether `?` on the body's values can be rewritten for this return type.
fn tries(ty: &Type) -> bool {
    match ty {
        Type::Path(path) => path
            .path
            .segments
            .last()
            .is_some_and(|last| last.ident == "Result" || last.ident == "Option"),
        Type::Paren(paren) => tries(&paren.elem),
        Type::Group(group) => tries(&group.elem),
        _ => false,
    }
}

/// What a body's tokens say about how it can leave.
#[derive(Default)]
struct Exits {
    returns: bool,
    questions: bool,
    /// A macro that is not one of std's that cannot return: it might.
    unsafe_macro: bool,
}

impl Exits {
    fn of(tokens: TokenStream) -> Self {
        let mut exits = Exits::default();
        exits.scan(tokens);
        exits
    }

    fn scan(&mut self, tokens: TokenStream) {
        let mut previous: Option<proc_macro2::TokenTree> = None;
        for tree in tokens {
            match &tree {
                proc_macro2::TokenTree::Ident(ident) if ident == "return" => self.returns = true,
                proc_macro2::TokenTree::Punct(punct) if punct.as_char() == '?' => {
                    self.questions = true
                }
                proc_macro2::TokenTree::Punct(punct) if punct.as_char() == '!' => {
                    if let Some(proc_macro2::TokenTree::Ident(name)) = &previous {
                        if !super::SAFE_MACROS.contains(&name.to_string().as_str()) {
                            self.unsafe_macro = true;
                        }
                    }
                }
                proc_macro2::TokenTree::Group(group) => self.scan(group.stream()),
                _ => {}
            }
            previous = Some(tree);
        }
    }
}

/// Rewrites the body's own `return`s and `?`s; those of closures, async
/// blocks and nested items are theirs and stay.
struct Breaks<'a> {
    private: &'a TokenStream,
}

impl VisitMut for Breaks<'_> {
    fn visit_expr_mut(&mut self, expr: &mut Expr) {
        match expr {
            Expr::Closure(_) | Expr::Async(_) | Expr::Const(_) => {}
            Expr::Return(ret) => {
                if let Some(value) = &mut ret.expr {
                    self.visit_expr_mut(value);
                }
                let span = Span::call_site().located_at(ret.return_token.span);
                let value = ret
                    .expr
                    .as_ref()
                    .map_or_else(|| quote!(()), ToTokens::to_token_stream);
                *expr = Expr::Verbatim(quote_spanned!(span=> break '__reliable_body #value));
            }
            Expr::Try(question) => {
                self.visit_expr_mut(&mut question.expr);
                let inner = &question.expr;
                let span = Span::call_site().located_at(question.question_token.span);
                // All at the `?`, so that a missing `From` is reported there.
                let private = super::recovery::respan(self.private.clone(), span);
                *expr = Expr::Verbatim(quote_spanned! {span=>
                    match #private::branch(#inner) {
                        ::core::ops::ControlFlow::Continue(__reliable_value) => __reliable_value,
                        ::core::ops::ControlFlow::Break(__reliable_residual) => {
                            break '__reliable_body #private::from_residual(__reliable_residual)
                        }
                    }
                });
            }
            _ => visit_mut::visit_expr_mut(self, expr),
        }
    }

    fn visit_item_mut(&mut self, _: &mut Item) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewrite(method: &str) -> Option<String> {
        let func: ImplItemFn = syn::parse_str(method).unwrap();
        rewritten(&func, &quote!(__p)).map(|f| f.block.to_token_stream().to_string())
    }

    #[test]
    fn returns_and_questions_become_breaks_out_of_the_body() {
        let body = rewrite(
            "#[track_caller] fn m(&self) -> Result<u32, E> { if self.0 { return Ok(1); } let n = parse()?; Ok(n) }",
        )
        .unwrap();
        assert!(body.contains("'__reliable_body"), "{body}");
        assert!(!body.contains("return"), "{body}");
        assert!(!body.contains('?'), "{body}");
        assert!(body.contains("break '__reliable_body Ok (1)"), "{body}");
    }

    #[test]
    fn closures_and_nested_items_keep_their_own_exits() {
        let body = rewrite(
            "#[track_caller] fn m(&self) -> Option<u32> { let f = || { Some(x?) }; fn g() -> u8 { return 1 } if self.0 { return None; } f() }",
        )
        .unwrap();
        assert!(body.contains("Some (x ?)"), "{body}");
        assert!(body.contains("return 1"), "{body}");
        assert!(body.contains("break '__reliable_body None"), "{body}");
    }

    #[test]
    fn only_what_can_be_rewritten_is() {
        // Not `#[track_caller]`, async, or nothing to rewrite: the closure stays.
        assert!(rewrite("fn m(&self) -> Option<u8> { return None; }").is_none());
        assert!(
            rewrite("#[track_caller] async fn m(&self) -> Option<u8> { return None; }").is_none()
        );
        assert!(rewrite("#[track_caller] fn m(&self) -> u8 { 1 }").is_none());
        // A macro that might return, `?` on a type we cannot name, `impl Trait`.
        assert!(rewrite(
            "#[track_caller] fn m(&self) -> Result<u8, E> { ensure!(x); return Ok(1) }"
        )
        .is_none());
        assert!(
            rewrite("#[track_caller] fn m(&self) -> Poll<u8> { let v = p?; Poll::Ready(v) }")
                .is_none()
        );
        assert!(rewrite("#[track_caller] fn m(&self) -> impl Fn() { return || () }").is_none());
        // A unit method's bare `return`.
        let body = rewrite("#[track_caller] fn m(&self) { if self.0 { return; } work() }").unwrap();
        assert!(body.contains("break '__reliable_body ()"), "{body}");
    }
}
