//! The expansion of one example, compared with the snapshot in
//! `snapshots/expansion.txt`, which `docs/ARCHITECTURE.md` quotes as its
//! sketch of "the path of one call": the sketch is the code as it is.
//!
//! `UPDATE_SNAPSHOTS=1 cargo test -p reliability-macros snapshot` writes
//! the snapshot anew; review its diff like any change of the expansion.

use proc_macro2::{Delimiter, TokenStream, TokenTree};

/// The example: one method without recovery, one with a retry and a fallback.
const EXAMPLES: [(&str, &str); 2] = [
    (
        "component = \"store\"",
        "impl Store { fn get(&self, key: u32) -> Result<u32, Error> { self.read(key) } }",
    ),
    (
        "component = \"store\", strategies = [retry, fallback], fallback = spare",
        "impl Store { fn get(&self, key: u32) -> Result<u32, Error> { self.read(key) } }",
    ),
];

/// The expansion as text: one statement or match arm a line, indented by
/// block, with the spaces `TokenStream`'s `Display` puts between every two
/// tokens taken out where Rust is written without them.
fn render(tokens: TokenStream) -> String {
    let mut out = String::new();
    write_block(tokens, 0, &mut out);
    out.lines()
        .map(tidy)
        .filter(|line| !line.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The lines of a braced group's contents at `depth`: a new line after each
/// `;` and each `,` (in generated code, a comma at the top of a block ends a
/// match arm).
fn write_block(tokens: TokenStream, depth: usize, out: &mut String) {
    let indent = "    ".repeat(depth);
    let trees: Vec<TokenTree> = tokens.into_iter().collect();
    let mut line = TokenStream::new();
    let flush = |line: &mut TokenStream, out: &mut String| {
        if !line.is_empty() {
            out.push_str(&indent);
            write_inline(std::mem::take(line), depth, out);
            out.push('\n');
        }
    };
    // Commas inside `<…>` separate generic arguments, not match arms.
    let mut angles = 0usize;
    for (i, tree) in trees.iter().enumerate() {
        line.extend([tree.clone()]);
        let joined = i
            .checked_sub(1)
            .and_then(|j| match &trees[j] {
                TokenTree::Punct(p) => Some(p.spacing() == proc_macro2::Spacing::Joint),
                _ => None,
            })
            .unwrap_or(false);
        let ends = match tree {
            TokenTree::Punct(p) if p.as_char() == '<' => {
                angles += 1;
                false
            }
            TokenTree::Punct(p) if p.as_char() == '>' && !joined => {
                angles = angles.saturating_sub(1);
                false
            }
            TokenTree::Punct(p) => angles == 0 && (p.as_char() == ';' || p.as_char() == ','),
            // A block ends its line unless `else`, `.`, `;`, `,` or `?` follows.
            TokenTree::Group(g) if g.delimiter() == Delimiter::Brace => match trees.get(i + 1) {
                Some(TokenTree::Ident(next)) => next != "else",
                Some(TokenTree::Punct(next)) => !matches!(next.as_char(), '.' | ';' | ',' | '?'),
                _ => true,
            },
            _ => false,
        };
        if ends {
            flush(&mut line, out);
        }
    }
    flush(&mut line, out);
}

/// A line's tokens; a braced group among them opens an indented block.
fn write_inline(tokens: TokenStream, depth: usize, out: &mut String) {
    for tree in tokens {
        match tree {
            TokenTree::Group(g) if g.delimiter() == Delimiter::Brace => {
                let inner = g.stream();
                if is_short(&inner) {
                    out.push_str(&format!("{{ {} }} ", inner));
                } else {
                    out.push_str("{\n");
                    write_block(inner, depth + 1, out);
                    out.push_str(&"    ".repeat(depth));
                    out.push_str("} ");
                }
            }
            TokenTree::Group(g) => {
                let (open, close) = match g.delimiter() {
                    Delimiter::Parenthesis => ("(", ")"),
                    Delimiter::Bracket => ("[", "]"),
                    _ => ("", ""),
                };
                out.push_str(open);
                out.push(' ');
                write_inline(g.stream(), depth, out);
                out.push(' ');
                out.push_str(close);
                out.push(' ');
            }
            other => {
                out.push_str(&other.to_string());
                let joint = matches!(&other, TokenTree::Punct(p) if p.spacing() == proc_macro2::Spacing::Joint);
                if !joint {
                    out.push(' ');
                }
            }
        }
    }
}

/// A block of a few tokens with no statement in it stays on its line.
fn is_short(tokens: &TokenStream) -> bool {
    let text = tokens.to_string();
    text.len() <= 40 && !text.contains(';') && !text.contains('{')
}

/// Takes out the spaces Rust is not written with.
fn tidy(line: &str) -> String {
    let lead = line.len() - line.trim_start().len();
    let words: Vec<&str> = line.split_whitespace().collect();
    let mut out = String::new();
    for (i, word) in words.iter().enumerate() {
        if i > 0 && spaced(words[i - 1], word) {
            out.push(' ');
        }
        out.push_str(word);
    }
    format!("{}{}", &line[..lead], out)
}

/// Whether Rust puts a space between two words `Display` spaced apart.
fn spaced(before: &str, after: &str) -> bool {
    let keyword = matches!(
        before,
        "let"
            | "in"
            | "mut"
            | "move"
            | "dyn"
            | "impl"
            | "if"
            | "else"
            | "return"
            | "break"
            | "match"
            | "="
            | "=>"
            | "->"
            | "||"
            | ","
            | ";"
    );
    let tight_after = after.starts_with([',', ';', '.', ')', ']', '?', '>'])
        || after == ":"
        || after.starts_with("::") && !keyword
        || (after.starts_with(['(', '!', '<']) && !keyword && !before.ends_with([',', '=', '|']));
    let tight_before = before.ends_with(['&', '(', '[', '.', '<', '!']) && before != "!="
        || before.ends_with("::");
    !(tight_after || tight_before)
}

/// The examples' expansions, one after the other.
fn expansion() -> String {
    EXAMPLES
        .iter()
        .map(|(args, item)| {
            let expanded = crate::reliable_impl(args.parse().unwrap(), item.parse().unwrap());
            let text = expanded.to_string();
            assert!(!text.contains("compile_error"), "{text}");
            render(expanded)
        })
        .collect::<Vec<_>>()
        .join("\n\n")
        + "\n"
}

fn path(relative: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

#[test]
fn the_expansion_matches_its_snapshot() {
    let expanded = expansion();
    let snapshot = path("snapshots/expansion.txt");
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&snapshot, &expanded).unwrap();
    }
    let committed = std::fs::read_to_string(&snapshot).unwrap_or_default();
    assert!(
        committed == expanded,
        "the expansion differs from {}; if the change is meant, run with UPDATE_SNAPSHOTS=1 \
         and update docs/ARCHITECTURE.md's sketch to match:\n{expanded}",
        snapshot.display()
    );
}

#[test]
fn the_architecture_sketch_is_the_snapshot() {
    let doc = std::fs::read_to_string(path("../docs/ARCHITECTURE.md")).unwrap();
    let snapshot = std::fs::read_to_string(path("snapshots/expansion.txt")).unwrap();
    assert!(
        doc.contains(&format!("```rust\n{snapshot}```")),
        "docs/ARCHITECTURE.md's sketch of the path of one call is not \
         reliability-macros/snapshots/expansion.txt, in a ```rust block"
    );
}
