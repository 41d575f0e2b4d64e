//! `#[derive(Classify)]`: parse the `#[category(...)]` and `#[retry_after]`
//! attributes into one `Shape` per variant (or one for the struct), check the
//! shapes, then generate the impl, which cannot fail.
//!
//! `#[category(crate = path)]` on the enum or the struct (alone, or after the
//! category: `#[category(network, crate = path)]`) names the path to
//! `reliability_core` that the impl is written against, as
//! `#[reliable(crate = path)]` does, for a crate that reaches the runtime
//! through a re-export.
//!
//! Every error carries the span of the token at fault, and all of them are
//! collected in one pass. On error the impl is still emitted, with bodies
//! that are never compiled into a program, so that uses of the type's
//! `category()` do not cascade into errors of their own.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::ext::IdentExt;
use syn::parse::ParseStream;
use syn::spanned::Spanned;
use syn::{Attribute, Data, DeriveInput, Fields, Ident, Member, Meta, Path, Token, Type};

use crate::attr::push_error;

/// The names `#[category(...)]` accepts, with the `ErrorCategory` variant each stands for.
const CATEGORIES: &[(&str, &str)] = &[
    ("network", "Network"),
    ("timeout", "Timeout"),
    ("validation", "Validation"),
    ("configuration", "Configuration"),
    ("permission", "Permission"),
    ("not_found", "NotFound"),
    ("resource_exhausted", "ResourceExhausted"),
    ("system", "System"),
    ("unknown", "Unknown"),
];

const EXPECTED: &str = "`network`, `timeout`, `validation`, `configuration`, `permission`, \
     `not_found`, `resource_exhausted`, `system`, `unknown`, or `source`";

/// What a `#[category(...)]` says.
#[derive(Clone)]
enum Category {
    /// An `ErrorCategory` variant, spanned at the name the user wrote.
    Fixed(Ident),
    /// `source`: the only field's classification, at the `source` token.
    Source(Span),
}

/// Where a shape's category came from, for the error when it does not fit.
#[derive(Clone, Copy)]
enum Origin {
    Own,
    Default,
}

/// One variant of an enum, or the struct itself.
struct Shape<'a> {
    /// `Self::Variant`, or `Self` for a struct.
    path: TokenStream,
    /// `variant` or `struct`, for messages.
    kind: &'static str,
    name: &'a Ident,
    fields: &'a Fields,
    category: Option<(Category, Origin)>,
    /// The `#[retry_after]` field.
    retry_after: Option<(Member, &'a Type)>,
}

/// What one `#[category(...)]` says: a category, a crate path, or both.
#[derive(Default)]
struct CategoryAttr {
    category: Option<Category>,
    /// `crate = path`, with the span of `crate` for a misplaced one.
    krate: Option<(Path, Span)>,
}

/// The entry point: the impl, or the errors next to a fallback impl.
pub(crate) fn derive(input: &DeriveInput) -> TokenStream {
    let mut errors = None;
    let (shapes, krate) = parse(input, &mut errors);
    check(&shapes, &mut errors);
    let krate = match krate {
        Some(path) => quote!(#path),
        None => quote!(::reliability_core),
    };
    match errors {
        None => expand(input, &shapes, &krate),
        Some(errors) => {
            let mut tokens = errors.to_compile_error();
            tokens.extend(fallback(input, &krate));
            tokens
        }
    }
}

// ---------------------------------------------------------------------------
// Parse
// ---------------------------------------------------------------------------

/// The shapes, and the `crate = path` of the enum or struct, if any.
fn parse<'a>(
    input: &'a DeriveInput,
    errors: &mut Option<syn::Error>,
) -> (Vec<Shape<'a>>, Option<Path>) {
    let (own, krate) = parse_category(&input.attrs, errors);
    refuse_retry_after(&input.attrs, errors);
    let shapes = match &input.data {
        Data::Struct(data) => vec![Shape {
            path: quote!(Self),
            kind: "struct",
            name: &input.ident,
            fields: &data.fields,
            category: own.map(|category| (category, Origin::Own)),
            retry_after: parse_fields(&data.fields, errors),
        }],
        Data::Enum(data) => data
            .variants
            .iter()
            .map(|variant| {
                let (category, misplaced) = parse_category(&variant.attrs, errors);
                if let Some((_, span)) = misplaced {
                    push_error(
                        errors,
                        syn::Error::new(span, "`crate = ...` goes on the enum, not on a variant"),
                    );
                }
                let category = match category {
                    Some(category) => Some((category, Origin::Own)),
                    None => own.clone().map(|category| (category, Origin::Default)),
                };
                refuse_retry_after(&variant.attrs, errors);
                let name = &variant.ident;
                Shape {
                    path: quote!(Self::#name),
                    kind: "variant",
                    name,
                    fields: &variant.fields,
                    category,
                    retry_after: parse_fields(&variant.fields, errors),
                }
            })
            .collect(),
        Data::Union(data) => {
            push_error(
                errors,
                syn::Error::new(
                    data.union_token.span,
                    "`#[derive(Classify)]` works on an enum or a struct, not on a union",
                ),
            );
            Vec::new()
        }
    };
    (shapes, krate.map(|(path, _)| path))
}

/// The one category among the `#[category(...)]` of `attrs`, and the one
/// `crate = path`; a second of either is an error at the second.
fn parse_category(
    attrs: &[Attribute],
    errors: &mut Option<syn::Error>,
) -> (Option<Category>, Option<(Path, Span)>) {
    let mut found: Option<Category> = None;
    let mut krate: Option<(Path, Span)> = None;
    for attr in attrs.iter().filter(|attr| attr.path().is_ident("category")) {
        let parsed = parse_category_attr(attr).unwrap_or_else(|error| {
            push_error(errors, error);
            // Still a category, so that it is not reported missing as well.
            CategoryAttr {
                category: Some(Category::Fixed(Ident::new("Unknown", attr.span()))),
                krate: None,
            }
        });
        if let Some(category) = parsed.category {
            if found.is_some() {
                push_error(
                    errors,
                    syn::Error::new_spanned(
                        attr,
                        "duplicate `#[category(...)]`: give one category",
                    ),
                );
            } else {
                found = Some(category);
            }
        }
        if let Some((path, span)) = parsed.krate {
            if krate.is_some() {
                push_error(
                    errors,
                    syn::Error::new(span, "duplicate `crate = ...`: give one path"),
                );
            } else {
                krate = Some((path, span));
            }
        }
    }
    (found, krate)
}

const CRATE_EXAMPLE: &str = "like `crate = my_deps::reliability_core`";

fn parse_category_attr(attr: &Attribute) -> syn::Result<CategoryAttr> {
    let Meta::List(list) = &attr.meta else {
        return Err(syn::Error::new_spanned(
            attr,
            "expected `#[category(...)]` with a category name, like `#[category(network)]`",
        ));
    };
    list.parse_args_with(|input: ParseStream| {
        let mut parsed = CategoryAttr::default();
        loop {
            if input.peek(Token![crate]) {
                let key: Token![crate] = input.parse()?;
                if parsed.krate.is_some() {
                    return Err(syn::Error::new(
                        key.span,
                        "duplicate `crate = ...`: give one path",
                    ));
                }
                if !input.peek(Token![=]) {
                    return Err(syn::Error::new(
                        key.span,
                        format!("expected `=` after `crate`, {CRATE_EXAMPLE}"),
                    ));
                }
                input.parse::<Token![=]>()?;
                let path = Path::parse_mod_style(input).map_err(|error| {
                    syn::Error::new(
                        error.span(),
                        format!("expected a path for `crate`, {CRATE_EXAMPLE}"),
                    )
                })?;
                parsed.krate = Some((path, key.span));
            } else if parsed.category.is_none() {
                parsed.category = Some(parse_category_name(input)?);
            } else {
                return Err(input.error("expected one category name, like `#[category(network)]`"));
            }
            if input.is_empty() {
                return Ok(parsed);
            }
            if !input.peek(Token![,]) {
                return Err(input.error(match parsed.krate {
                    Some(_) => "expected `,` or the end after the `crate` path",
                    None => "expected one category name, like `#[category(network)]`",
                }));
            }
            input.parse::<Token![,]>()?;
            if input.is_empty() {
                return Ok(parsed);
            }
        }
    })
}

fn parse_category_name(input: ParseStream) -> syn::Result<Category> {
    let name = Ident::parse_any(input).map_err(|error| {
        syn::Error::new(
            error.span(),
            format!("expected a category name, one of {EXPECTED}"),
        )
    })?;
    let text = name.to_string();
    if text == "source" {
        return Ok(Category::Source(name.span()));
    }
    match CATEGORIES.iter().find(|(snake, _)| *snake == text) {
        Some((_, variant)) => Ok(Category::Fixed(Ident::new(variant, name.span()))),
        None => Err(syn::Error::new(
            name.span(),
            format!("unknown category `{text}`, expected one of {EXPECTED}"),
        )),
    }
}

/// The `#[retry_after]` field, if one; `#[category]` does not belong on a field.
fn parse_fields<'a>(
    fields: &'a Fields,
    errors: &mut Option<syn::Error>,
) -> Option<(Member, &'a Type)> {
    let mut found = None;
    for (index, field) in fields.iter().enumerate() {
        for attr in &field.attrs {
            if attr.path().is_ident("category") {
                push_error(
                    errors,
                    syn::Error::new_spanned(
                        attr,
                        "`#[category(...)]` goes on the enum, a variant or the struct, not on a field",
                    ),
                );
            }
        }
        for attr in field
            .attrs
            .iter()
            .filter(|attr| attr.path().is_ident("retry_after"))
        {
            if !matches!(attr.meta, Meta::Path(_)) {
                push_error(
                    errors,
                    syn::Error::new_spanned(attr, "`#[retry_after]` takes no arguments"),
                );
            } else if found.is_some() {
                push_error(
                    errors,
                    syn::Error::new_spanned(
                        attr,
                        "duplicate `#[retry_after]`: only one field can hold the wait",
                    ),
                );
            } else {
                let member = match &field.ident {
                    Some(ident) => Member::Named(ident.clone()),
                    None => Member::Unnamed(index.into()),
                };
                found = Some((member, &field.ty));
            }
        }
    }
    found
}

fn refuse_retry_after(attrs: &[Attribute], errors: &mut Option<syn::Error>) {
    for attr in attrs
        .iter()
        .filter(|attr| attr.path().is_ident("retry_after"))
    {
        push_error(
            errors,
            syn::Error::new_spanned(
                attr,
                "`#[retry_after]` goes on a field of type `Duration` or `Option<Duration>`",
            ),
        );
    }
}

// ---------------------------------------------------------------------------
// Check
// ---------------------------------------------------------------------------

fn check(shapes: &[Shape], errors: &mut Option<syn::Error>) {
    for shape in shapes {
        let (name, kind) = (shape.name, shape.kind);
        match &shape.category {
            None => {
                let fix = match kind {
                    "struct" => "add `#[category(...)]` to the struct",
                    _ => "add `#[category(...)]` to the variant or to the enum",
                };
                push_error(
                    errors,
                    syn::Error::new(
                        name.span(),
                        format!("{kind} `{name}` has no category: {fix}"),
                    ),
                );
            }
            Some((Category::Source(span), origin)) if shape.fields.len() != 1 => {
                let count = match shape.fields.len() {
                    0 => "no fields".to_owned(),
                    n => format!("{n} fields"),
                };
                let error = match origin {
                    Origin::Own => syn::Error::new(
                        *span,
                        format!(
                            "`#[category(source)]` needs exactly one field to delegate to, \
                             and {kind} `{name}` has {count}"
                        ),
                    ),
                    Origin::Default => syn::Error::new(
                        name.span(),
                        format!(
                            "variant `{name}` has {count}, so the enum's `#[category(source)]` \
                             cannot apply: add a `#[category(...)]` of its own"
                        ),
                    ),
                };
                push_error(errors, error);
            }
            Some(_) => {}
        }
    }
}

// ---------------------------------------------------------------------------
// Expand
// ---------------------------------------------------------------------------

fn expand(input: &DeriveInput, shapes: &[Shape], krate: &TokenStream) -> TokenStream {
    let category_arms = shapes.iter().map(|shape| {
        let path = &shape.path;
        match &shape.category {
            Some((Category::Fixed(variant), _)) => {
                quote!(#path { .. } => #krate::ErrorCategory::#variant,)
            }
            Some((Category::Source(_), _)) => {
                let member = only_member(shape.fields);
                let resolve = resolve_source(krate);
                quote!(#path { #member: __reliable_source, .. } => #resolve.category,)
            }
            // Checked: every shape has a category.
            None => TokenStream::new(),
        }
    });
    let mut covered = 0;
    let retry_arms: Vec<TokenStream> = shapes
        .iter()
        .filter_map(|shape| {
            let path = &shape.path;
            let arm = match (&shape.retry_after, &shape.category) {
                (Some((member, ty)), _) => {
                    // At the field's type, so that a wrong type is reported there.
                    let span = Span::call_site().located_at(ty.span());
                    // The path too: a path spanned at the derive would stretch
                    // the error from the derive to the field.
                    let krate: TokenStream = krate
                        .clone()
                        .into_iter()
                        .map(|mut tree| {
                            tree.set_span(span);
                            tree
                        })
                        .collect();
                    let read = quote_spanned! {span=>
                        #krate::__private::RetryAfterValue::__reliable_retry_after(
                            __reliable_retry_after,
                        )
                    };
                    quote!(#path { #member: __reliable_retry_after, .. } => #read,)
                }
                (None, Some((Category::Source(_), _))) => {
                    let member = only_member(shape.fields);
                    let resolve = resolve_source(krate);
                    quote!(#path { #member: __reliable_source, .. } => #resolve.retry_after,)
                }
                _ => return None,
            };
            covered += 1;
            Some(arm)
        })
        .collect();
    let category_body = if shapes.is_empty() {
        quote!(match *self {})
    } else {
        quote!(match self { #(#category_arms)* })
    };
    let retry_after = if retry_arms.is_empty() {
        TokenStream::new()
    } else {
        let rest = (covered < shapes.len()).then(|| quote!(_ => ::core::option::Option::None,));
        quote! {
            fn retry_after(&self) -> ::core::option::Option<::core::time::Duration> {
                match self {
                    #(#retry_arms)*
                    #rest
                }
            }
        }
    };
    let name = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    quote! {
        #[automatically_derived]
        impl #impl_generics #krate::Classify for #name #ty_generics #where_clause {
            fn category(&self) -> #krate::ErrorCategory {
                #category_body
            }
            #retry_after
        }
    }
}

/// The field of a shape that has exactly one (checked before expansion).
fn only_member(fields: &Fields) -> Member {
    match fields.iter().next().and_then(|field| field.ident.clone()) {
        Some(ident) => Member::Named(ident),
        None => Member::Unnamed(0.into()),
    }
}

/// The classification of `__reliable_source`, a reference to the field,
/// picked by the error probe from the field's type: `Classify`, else its
/// `source()` chain, else its text.
fn resolve_source(krate: &TokenStream) -> TokenStream {
    quote! {
        #krate::__private::CategorySource::resolve({
            use #krate::__private::probe::*;
            (&&&&&#krate::__private::ErrorProbe(__reliable_source))
                .__reliable_error_category()
        })
    }
}

/// An impl that keeps the user's calls to `category()` from adding errors
/// of their own; it only exists next to a `compile_error!`.
fn fallback(input: &DeriveInput, krate: &TokenStream) -> TokenStream {
    let name = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    quote! {
        #[automatically_derived]
        impl #impl_generics #krate::Classify for #name #ty_generics #where_clause {
            fn category(&self) -> #krate::ErrorCategory {
                ::core::unreachable!()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn category_names_are_the_cores() {
        let core: Vec<(String, String)> = reliability_core::ErrorCategory::ALL
            .iter()
            .map(|category| (category.as_str().to_owned(), format!("{category:?}")))
            .collect();
        let here: Vec<(String, String)> = CATEGORIES
            .iter()
            .map(|&(snake, variant)| (snake.to_owned(), variant.to_owned()))
            .collect();
        assert_eq!(here, core);
        for (snake, _) in CATEGORIES {
            assert!(EXPECTED.contains(&format!("`{snake}`")), "{snake}");
        }
    }

    fn errors(input: &str) -> Vec<String> {
        let input: DeriveInput = syn::parse_str(input).unwrap();
        let mut errors = None;
        let (shapes, _) = parse(&input, &mut errors);
        check(&shapes, &mut errors);
        errors
            .into_iter()
            .flatten()
            .map(|error| error.to_string())
            .collect()
    }

    #[test]
    fn every_mistake_is_reported_once_in_one_pass() {
        let found = errors(
            "enum E {
                #[category(netwrk)] A,
                B,
                #[category(source)] C(u8, u8),
                #[category(timeout)] #[category(network)] D,
                #[category(system)] F { #[retry_after] a: u8, #[retry_after] b: u8 },
            }",
        );
        assert_eq!(found.len(), 5, "{found:#?}");
        assert!(found[0].starts_with("unknown category `netwrk`"));
        assert!(found[1].starts_with("duplicate `#[category(...)]`"));
        assert!(found[2].starts_with("duplicate `#[retry_after]`"));
        assert!(found[3].starts_with("variant `B` has no category"));
        assert!(found[4].contains("variant `C` has 2 fields"));
    }

    #[test]
    fn the_crate_path_goes_on_the_enum_or_struct_once() {
        let krate = |input: &str| {
            let input: DeriveInput = syn::parse_str(input).unwrap();
            let mut errors = None;
            let (_, krate) = parse(&input, &mut errors);
            assert!(errors.is_none(), "{input:?}");
            krate.map(|path| quote!(#path).to_string())
        };
        assert_eq!(
            krate("#[category(crate = ::my::rc)] #[category(network)] struct S;").as_deref(),
            Some(":: my :: rc")
        );
        assert_eq!(
            krate("#[category(source, crate = crate::deps::rc,)] struct S(u8);").as_deref(),
            Some("crate :: deps :: rc")
        );
        assert_eq!(
            krate("#[category(crate = rc, timeout)] enum E { A }").as_deref(),
            Some("rc")
        );
        assert_eq!(krate("#[category(timeout)] enum E { A }"), None);

        let found = errors(
            "#[category(crate = a, unknown)]
            #[category(crate = b)]
            enum E {
                #[category(network, crate = c)] A,
                #[category(crate)] B,
                #[category(crate = \"d\")] C,
                #[category(crate = e f)] D,
            }",
        );
        assert_eq!(found.len(), 5, "{found:#?}");
        assert!(found[0].starts_with("duplicate `crate = ...`"));
        assert!(found[1].starts_with("`crate = ...` goes on the enum"));
        assert!(found[2].starts_with("expected `=` after `crate`"));
        assert!(found[3].starts_with("expected a path for `crate`"));
        assert!(found[4].starts_with("expected `,` or the end after the `crate` path"));
    }

    #[test]
    fn a_correct_input_has_no_errors() {
        let found = errors(
            "#[category(unknown)]
            enum E<'a, T: Clone> where T: Send {
                A,
                #[category(source)] B(&'a T),
                #[category(resource_exhausted)] C { #[retry_after] wait: Duration, n: T },
            }",
        );
        assert!(found.is_empty(), "{found:#?}");
    }
}
