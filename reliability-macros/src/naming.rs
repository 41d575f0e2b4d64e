//! The component name a self type gives when the attribute names none.

use syn::Type;

/// `ModelDownloader` → `model_downloader`, `HTTPClient` → `http_client`,
/// `HttpClient<T>` → `http_client`, `&'a Cache` → `cache`.
pub(crate) fn default_component(self_ty: &Type) -> Option<String> {
    match self_ty {
        Type::Path(path) if path.qself.is_none() => path
            .path
            .segments
            .last()
            .map(|segment| snake_case(&segment.ident.to_string())),
        Type::Reference(reference) => default_component(&reference.elem),
        Type::Paren(paren) => default_component(&paren.elem),
        Type::Group(group) => default_component(&group.elem),
        _ => None,
    }
}

pub(crate) fn snake_case(name: &str) -> String {
    let name = name.strip_prefix("r#").unwrap_or(name);
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() {
            let prev = i.checked_sub(1).map(|p| chars[p]);
            let next = chars.get(i + 1).copied();
            let boundary = match prev {
                None | Some('_') => false,
                Some(p) if p.is_lowercase() || p.is_ascii_digit() => true,
                // The last capital of an acronym starts the next word: `HTTPClient`.
                Some(p) if p.is_uppercase() => next.is_some_and(char::is_lowercase),
                Some(_) => false,
            };
            if boundary {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_case_table() {
        for (input, expected) in [
            ("ModelDownloader", "model_downloader"),
            ("HttpClient", "http_client"),
            ("HTTPClient", "http_client"),
            ("Cache", "cache"),
            ("S3Bucket", "s3_bucket"),
            ("Model2Cache", "model2_cache"),
            ("already_snake", "already_snake"),
            ("IOError", "io_error"),
            ("A", "a"),
            ("r#Type", "type"),
        ] {
            assert_eq!(snake_case(input), expected, "{input}");
        }
    }

    #[test]
    fn self_types() {
        for (ty, expected) in [
            ("ModelDownloader", Some("model_downloader")),
            ("HttpClient<T>", Some("http_client")),
            ("crate::net::HttpClient<'a, T>", Some("http_client")),
            ("&'a mut Cache", Some("cache")),
            ("(A, B)", None),
            ("[u8; 4]", None),
            ("<T as Trait>::Assoc", None),
        ] {
            let ty: Type = syn::parse_str(ty).unwrap();
            assert_eq!(default_component(&ty).as_deref(), expected);
        }
    }
}
