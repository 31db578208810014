//! The core's module import graph has no loops: reading the sources, every `crate::…` and
//! `super::…` path in non-test code is an edge from the module it appears in to the module it
//! names, and no chain of edges leads back to where it started. A module using what its own
//! ancestor defines (a rule type from `rules`, say) is how Rust modules are built and is not
//! counted; a loop between siblings or cousins (`rules::evaluate` ↔ `rules::explain`,
//! `conversation` ↔ `delivery`) is.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// `a::b` for `src/a/b.rs` and `src/a/b/mod.rs`; `""` for `lib.rs`.
fn module_of(rel: &Path) -> String {
    let mut parts: Vec<String> = rel
        .with_extension("")
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts.join("::")
}

fn is_test_module(module: &str) -> bool {
    module
        .split("::")
        .any(|p| p == "tests" || p == "testing" || p.ends_with("_tests"))
}

fn sources(dir: &Path, root: &Path, out: &mut BTreeMap<String, String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, root, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let module = module_of(path.strip_prefix(root).unwrap());
            if is_test_module(&module) {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            // Production code only: everything from the first test module on is left out,
            // and so are comments (doc links name modules without importing them).
            let code = text.split("#[cfg(test)]").next().unwrap_or_default();
            let code: Vec<&str> = code
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .collect();
            out.insert(module, code.join("\n"));
        }
    }
}

/// Paths such as `crate::a::b::Item` or `super::x::y` in `code` (including those inside
/// `use crate::a::{b, c}` lists, whose prefix is enough).
fn paths(code: &str, prefix: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find(prefix) {
        let before = rest[..i].chars().last();
        rest = &rest[i + prefix.len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let mut segments = Vec::new();
        let mut tail = rest;
        loop {
            let end = tail
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(tail.len());
            if end == 0 {
                break;
            }
            segments.push(tail[..end].to_string());
            tail = &tail[end..];
            match tail.strip_prefix("::") {
                Some(t) => tail = t,
                None => break,
            }
        }
        out.push(segments);
    }
    out
}

/// The longest module named by `path` (a module path plus, perhaps, an item).
fn target(modules: &BTreeSet<String>, base: &[String], path: &[String]) -> Option<String> {
    let mut full: Vec<String> = base.to_vec();
    let mut best = None;
    for segment in path {
        full.push(segment.clone());
        let name = full.join("::");
        if modules.contains(&name) {
            best = Some(name);
        }
    }
    best.or_else(|| {
        let name = base.join("::");
        modules.contains(&name).then_some(name)
    })
}

fn is_ancestor(ancestor: &str, module: &str) -> bool {
    ancestor.is_empty() || module.starts_with(&format!("{ancestor}::"))
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = BTreeMap::new();
    sources(&root, &root, &mut files);
    let modules: BTreeSet<String> = files.keys().cloned().collect();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, code) in &files {
        let own: Vec<String> = module
            .split("::")
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect();
        let parent = &own[..own.len().saturating_sub(1)];
        let mut found = Vec::new();
        for p in paths(code, "crate::") {
            found.extend(target(&modules, &[], &p));
        }
        for p in paths(code, "super::") {
            let mut base = parent.to_vec();
            let mut p = p.as_slice();
            while p.first().is_some_and(|s| s == "super") {
                base.pop();
                p = &p[1..];
            }
            found.extend(target(&modules, &base, p));
        }
        for to in found {
            if &to != module && !is_ancestor(&to, module) {
                edges.entry(module.clone()).or_default().insert(to);
            }
        }
    }
    edges
}

/// A cycle through `start`, if any (depth-first search).
fn cycle_from(
    edges: &BTreeMap<String, BTreeSet<String>>,
    start: &str,
    at: &str,
    path: &mut Vec<String>,
    seen: &mut BTreeSet<String>,
) -> Option<Vec<String>> {
    for next in edges.get(at).into_iter().flatten() {
        if next == start {
            let mut cycle = path.clone();
            cycle.push(start.to_string());
            return Some(cycle);
        }
        if seen.insert(next.clone()) {
            path.push(next.clone());
            if let Some(c) = cycle_from(edges, start, next, path, seen) {
                return Some(c);
            }
            path.pop();
        }
    }
    None
}

/// The graph with every module cut to its first `depth` segments (`delivery::window` is
/// `delivery` at depth 1), so that `conversation` -> `delivery::window` ->
/// `conversation::windows` shows as the loop between `conversation` and `delivery` it is.
fn collapsed(
    edges: &BTreeMap<String, BTreeSet<String>>,
    depth: usize,
) -> BTreeMap<String, BTreeSet<String>> {
    let cut = |m: &str| m.split("::").take(depth).collect::<Vec<_>>().join("::");
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, tos) in edges {
        for to in tos {
            let (a, b) = (cut(from), cut(to));
            if a != b && !is_ancestor(&b, &a) && !is_ancestor(&a, &b) {
                out.entry(a).or_default().insert(b);
            }
        }
    }
    out
}

fn loops(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let mut found = Vec::new();
    for start in edges.keys() {
        let mut path = vec![start.clone()];
        if let Some(cycle) = cycle_from(edges, start, start, &mut path, &mut BTreeSet::new()) {
            found.push(cycle.join(" -> "));
        }
    }
    found
}

#[test]
fn no_module_imports_lead_back_to_where_they_started() {
    let edges = graph();
    assert!(
        edges.contains_key("rules::evaluate"),
        "the graph was not read: {edges:?}"
    );
    let mut found = loops(&edges);
    for depth in 1..=3 {
        found.extend(loops(&collapsed(&edges, depth)));
    }
    assert!(found.is_empty(), "import loops:\n{}", found.join("\n"));
}

#[test]
fn the_reader_sees_a_loop_when_there_is_one() {
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let modules: BTreeSet<String> = ["a", "a::x", "b"].iter().map(|s| s.to_string()).collect();
    let code_ax = "use crate::b::Thing;\nuse super::Other;";
    let code_b = "fn f() { crate::a::x::g() }";
    for p in paths(code_ax, "crate::") {
        edges
            .entry("a::x".into())
            .or_default()
            .extend(target(&modules, &[], &p));
    }
    for p in paths(code_b, "crate::") {
        edges
            .entry("b".into())
            .or_default()
            .extend(target(&modules, &[], &p));
    }
    let mut path = vec!["b".to_string()];
    let cycle = cycle_from(&edges, "b", "b", &mut path, &mut BTreeSet::new());
    assert_eq!(cycle, Some(vec!["b".into(), "a::x".into(), "b".into()]));

    // A loop only between parents: a -> b::y, b::y -> a::z (a child of a).
    let edges: BTreeMap<String, BTreeSet<String>> = [
        ("a".to_string(), ["b::y".to_string()].into()),
        ("b::y".to_string(), ["a::z".to_string()].into()),
    ]
    .into();
    assert!(loops(&edges).is_empty(), "no loop module by module");
    assert_eq!(loops(&collapsed(&edges, 1)).len(), 2, "a <-> b");
}
