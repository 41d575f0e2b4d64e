//! The shape of `reliability-core`, checked on its source: dependencies
//! point down. No import cycle spans more than three files, and nothing
//! below the facade (`manager.rs`, with `observe.rs` and the exports beside
//! it) calls `manager()`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

/// Every module of the crate by path (`record::site`), with its source
/// minus comments and unit tests.
fn modules() -> BTreeMap<String, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("reliability-core/src");
    let mut modules = BTreeMap::new();
    let mut dirs = vec![root.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let relative = path.strip_prefix(&root).unwrap().with_extension("");
            let mut parts: Vec<String> = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
                parts.pop();
            }
            modules.insert(
                parts.join("::"),
                code_of(&fs::read_to_string(&path).unwrap()),
            );
        }
    }
    modules
}

/// The source without line comments and without its `#[cfg(test)]` modules.
fn code_of(source: &str) -> String {
    let mut code = String::new();
    let mut lines = source.lines().peekable();
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("#[cfg(test)]") {
            // Skip the item that follows, up to its closing brace at column 0.
            for rest in lines.by_ref() {
                if rest == "}" {
                    break;
                }
            }
            continue;
        }
        let line = match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        };
        code.push_str(line);
        code.push('\n');
    }
    code
}

/// The modules each module names through `crate::…` or `super::…` paths.
fn imports(modules: &BTreeMap<String, String>) -> BTreeMap<String, BTreeSet<String>> {
    let mut graph = BTreeMap::new();
    for (name, code) in modules {
        let mut targets = BTreeSet::new();
        for (prefix, base) in [("crate::", String::new()), ("super::", parent(name))] {
            for (at, _) in code.match_indices(prefix) {
                let path = &code[at + prefix.len()..];
                for full in expand_path(path) {
                    let full = if base.is_empty() {
                        full
                    } else {
                        format!("{base}::{full}")
                    };
                    if let Some(target) = longest_module(modules, &full) {
                        if target != *name {
                            targets.insert(target);
                        }
                    }
                }
            }
        }
        graph.insert(name.clone(), targets);
    }
    graph
}

fn parent(module: &str) -> String {
    module
        .rsplit_once("::")
        .map_or(String::new(), |(p, _)| p.to_owned())
}

/// `a::b::{c, d::e}` → `a::b::c`, `a::b::d::e`; a plain path as it is.
fn expand_path(path: &str) -> Vec<String> {
    let end = path
        .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':' || c == '{'))
        .unwrap_or(path.len());
    let head = &path[..end];
    match head.split_once('{') {
        Some((prefix, _)) => {
            let close = path.find('}').unwrap_or(path.len());
            path[prefix.len() + 1..close]
                .split(',')
                .map(|part| format!("{prefix}{}", part.trim()))
                .collect()
        }
        None => vec![head.to_owned()],
    }
}

fn longest_module(modules: &BTreeMap<String, String>, path: &str) -> Option<String> {
    let parts: Vec<&str> = path.split("::").filter(|p| !p.is_empty()).collect();
    (1..=parts.len())
        .rev()
        .map(|n| parts[..n].join("::"))
        .find(|candidate| modules.contains_key(candidate))
}

/// Strongly connected components of the import graph (Tarjan).
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct State<'a> {
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        found: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        for w in &s.graph[v] {
            if !s.index.contains_key(w.as_str()) {
                visit(s, w);
                let low = s.low[v].min(s.low[w.as_str()]);
                s.low.insert(v, low);
            } else if s.stack.contains(&w.as_str()) {
                let low = s.low[v].min(s.index[w.as_str()]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                component.push(w.to_owned());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                s.found.push(component);
            }
        }
    }
    let mut state = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !state.index.contains_key(v.as_str()) {
            visit(&mut state, v);
        }
    }
    state.found
}

#[test]
fn no_import_cycle_spans_more_than_three_files() {
    let modules = modules();
    assert!(modules.contains_key("record::site"), "{:?}", modules.keys());
    let graph = imports(&modules);
    // The graph is read as it should be: the facade uses the runtime.
    assert!(graph["manager"].contains("runtime::registry"));
    let long: Vec<_> = cycles(&graph).into_iter().filter(|c| c.len() > 3).collect();
    assert!(long.is_empty(), "import cycles over three files: {long:?}");
}

#[test]
fn nothing_below_the_facade_calls_the_manager() {
    let facade = |name: &str| {
        name == "manager" || name == "observe" || name.is_empty() || name.starts_with("export")
    };
    let callers: Vec<_> = modules()
        .into_iter()
        .filter(|(name, code)| !facade(name) && code.contains("manager()"))
        .map(|(name, _)| name)
        .collect();
    assert!(callers.is_empty(), "below the facade: {callers:?}");
}

#[test]
fn the_cycle_finder_finds_a_cycle() {
    let graph: BTreeMap<String, BTreeSet<String>> = [("a", "b"), ("b", "c"), ("c", "a")]
        .into_iter()
        .map(|(from, to)| (from.to_owned(), BTreeSet::from([to.to_owned()])))
        .collect();
    assert_eq!(cycles(&graph).len(), 1);
    assert_eq!(cycles(&graph)[0].len(), 3);
}

/// The names `pub use` puts at the crate root: at most 40, what a user
/// writes first; the rest live in modules named for their concern.
#[test]
fn the_crate_root_keeps_at_most_forty_names() {
    let lib = Path::new(env!("CARGO_MANIFEST_DIR")).join("reliability-core/src/lib.rs");
    let mut code = code_of(&fs::read_to_string(lib).unwrap());
    // Inline modules (`pub mod limit { pub use … }`) are not the root.
    let mut from = 0;
    while let Some(at) = code[from..].find("pub mod ").map(|i| from + i) {
        let rest = &code[at..];
        match (rest.find('{'), rest.find(';')) {
            (Some(open), Some(semi)) if open < semi => {
                let mut depth = 0;
                let end = rest
                    .char_indices()
                    .skip(open)
                    .find(|&(_, c)| {
                        depth += i32::from(c == '{') - i32::from(c == '}');
                        depth == 0
                    })
                    .unwrap()
                    .0;
                code.replace_range(at..=at + end, "");
            }
            _ => from = at + 1,
        }
    }
    let mut names = BTreeSet::new();
    for statement in code.split(';') {
        let statement = statement.trim();
        let Some(path) = statement
            .lines()
            .filter(|line| !line.trim_start().starts_with("#["))
            .collect::<Vec<_>>()
            .join(" ")
            .trim()
            .strip_prefix("pub use ")
            .map(str::to_owned)
        else {
            continue;
        };
        let listed = match path.split_once('{') {
            Some((_, list)) => list.trim_end_matches('}').to_owned(),
            None => path.rsplit("::").next().unwrap().to_owned(),
        };
        names.extend(
            listed
                .split(',')
                .map(|n| n.trim().to_owned())
                .filter(|n| !n.is_empty()),
        );
    }
    assert!(
        names.contains("reliable") && names.contains("manager"),
        "{names:?}"
    );
    assert!(
        names.len() <= 40,
        "{} names at the root: {names:?}",
        names.len()
    );
}
