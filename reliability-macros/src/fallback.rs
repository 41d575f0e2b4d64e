//! What is emitted when something is in error: the user's code unchanged
//! (our attributes taken off), followed by the errors. The methods still
//! compile, so a mistake in the attribute does not cascade into errors at
//! every use of the type.

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::{ImplItem, ItemImpl};

use crate::attr;

/// `tokens`, followed by `errors` as `compile_error!`s.
pub(crate) fn with_errors(tokens: impl ToTokens, errors: Option<syn::Error>) -> TokenStream {
    let mut tokens = tokens.into_token_stream();
    if let Some(errors) = errors {
        tokens.extend(errors.to_compile_error());
    }
    tokens
}

/// Takes our attributes off every item of an impl block that is left as it is.
pub(crate) fn strip(imp: &mut ItemImpl) {
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
