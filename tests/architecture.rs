//! The rules of ARCHITECTURE.md that the compiler cannot check, checked on the source tree itself:
//! which of our crates each crate may depend on, no import circle between the files of a crate (a file
//! never imports one that imports it back, directly or around a circle), and no source file over 1,200
//! lines. Reading the tree is all it does; it needs nothing installed.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Each crate of the workspace and the crates of ours it may depend on (normal dependencies): every arrow
/// points toward the checker, and the checker, the reference cluster and the random numbers depend on
/// nothing of ours but `faultline-rng`. Changing this table is changing the architecture: say why in
/// ARCHITECTURE.md.
const ALLOWED: &[(&str, &[&str])] = &[
    ("rng", &[]),
    ("checker", &["faultline-rng"]),
    ("cluster", &[]),
    ("workloads", &["faultline-checker", "faultline-rng"]),
    ("nemesis", &["faultline-checker", "faultline-rng"]),
    ("reports", &["faultline-checker"]),
    (
        "harness",
        &[
            "faultline-checker",
            "faultline-cluster",
            "faultline-nemesis",
            "faultline-reports",
            "faultline-workloads",
            "faultline-rng",
        ],
    ),
];

const MAX_LINES: usize = 1_200;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn each_crate_depends_only_on_the_crates_it_may() {
    let mut wrong = Vec::new();
    for (krate, allowed) in ALLOWED {
        let manifest = fs::read_to_string(root().join(krate).join("Cargo.toml")).expect("a crate's Cargo.toml");
        for dep in ours_in_section(&manifest, "[dependencies]") {
            if !allowed.contains(&dep.as_str()) {
                wrong.push(format!("{krate} depends on {dep}"));
            }
        }
    }
    assert!(wrong.is_empty(), "dependencies ARCHITECTURE.md does not allow: {wrong:?}");
    // Every member is in the table, so a new crate cannot slip past it.
    let workspace = fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let members = workspace.lines().find(|l| l.trim_start().starts_with("members")).expect("workspace members");
    for member in members.split('"').skip(1).step_by(2) {
        assert!(ALLOWED.iter().any(|(k, _)| *k == member), "crate {member} is missing from ALLOWED");
    }
}

/// `faultline-*` names under one `[section]` of a manifest.
fn ours_in_section(manifest: &str, section: &str) -> Vec<String> {
    let mut inside = false;
    let mut found = Vec::new();
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            inside = line == section;
        } else if inside && line.starts_with("faultline-") {
            found.push(line.split(['.', ' ', '=']).next().unwrap().to_string());
        }
    }
    found
}

#[test]
fn no_source_file_is_over_the_limit() {
    let mut long = Vec::new();
    for dir in source_dirs() {
        for file in rust_files(&dir) {
            let lines = fs::read_to_string(&file).unwrap().lines().count();
            if lines > MAX_LINES {
                long.push(format!("{} ({lines} lines)", file.strip_prefix(root()).unwrap().display()));
            }
        }
    }
    assert!(long.is_empty(), "source files over {MAX_LINES} lines: {long:?}");
}

#[test]
fn no_file_imports_one_that_imports_it_back() {
    let mut circles = Vec::new();
    for dir in source_dirs() {
        let graph = import_graph(&dir);
        for circle in strongly_connected(&graph).into_iter().filter(|c| c.len() > 1) {
            circles.push(circle.iter().map(|m| format!("{}:{}", dir.display(), m)).collect::<Vec<_>>().join(" <-> "));
        }
    }
    assert!(circles.is_empty(), "import circles:\n{}", circles.join("\n"));
}

/// The circle finder finds a circle (so the test above can fail), and resolves paths as the compiler does.
#[test]
fn the_circle_finder_sees_a_circle() {
    let dir = std::env::temp_dir().join(format!("faultline-architecture-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(dir.join("b")).unwrap();
    fs::write(dir.join("lib.rs"), "pub mod a;\npub mod b;\npub use a::Thing;\n").unwrap();
    fs::write(dir.join("a.rs"), "use crate::b::c::{Other, more::Deeper};\npub struct Thing;\n").unwrap();
    fs::write(dir.join("b/mod.rs"), "pub mod c;\n").unwrap();
    fs::write(dir.join("b/c.rs"), "// use crate::b;\nfn f() -> crate::Thing { crate::Thing }\n").unwrap();
    let graph = import_graph(&dir);
    assert_eq!(graph["a"], BTreeSet::from(["b::c".to_string()]));
    assert_eq!(graph["b::c"], BTreeSet::from(["a".to_string()]), "crate::Thing resolves through lib.rs's pub use");
    let circles: Vec<_> = strongly_connected(&graph).into_iter().filter(|c| c.len() > 1).collect();
    assert_eq!(circles, vec![vec!["a".to_string(), "b::c".to_string()]]);
    fs::remove_dir_all(&dir).unwrap();
}

fn source_dirs() -> Vec<PathBuf> {
    let mut dirs = vec![root().join("src")];
    dirs.extend(ALLOWED.iter().map(|(k, _)| root().join(k).join("src")));
    dirs
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// A source file's module path: `lib.rs` / `main.rs` the root (""), `a/b.rs` and `a/b/mod.rs` `a::b`.
fn module_of(dir: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(dir).unwrap().with_extension("");
    let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    if matches!(parts.last().map(String::as_str), Some("mod")) || parts == ["lib"] || parts == ["main"] {
        parts.pop();
    }
    parts.join("::")
}

/// Which file (module) each file of one crate refers to by `crate::` paths (in `use` lines and inline),
/// `super::` paths and `use` lines that start at a child module. A path is charged to the longest module
/// prefix that is a file, and through that module's `use` lines to where the name comes from
/// (`crate::Value` is `value.rs`'s). A module's uses of its own descendants are not counted (it declares
/// them), nor is the crate root's: a child using its parent, and siblings using each other, are.
fn import_graph(dir: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let files = rust_files(dir);
    let sources: BTreeMap<String, String> =
        files.iter().map(|f| (module_of(dir, f), strip_comments(&fs::read_to_string(f).unwrap()))).collect();
    let modules: BTreeSet<&str> = sources.keys().map(String::as_str).collect();
    let longest_module = |segments: &[String]| -> Option<String> {
        (1..=segments.len()).rev().map(|n| segments[..n].join("::")).find(|m| modules.contains(m.as_str()))
    };
    // Each module's imports and re-exports: (module, name) -> the module the name comes from, so that
    // `crate::Value` is charged to `value.rs` and `crate::model::Kv` to `model/kv.rs`.
    let mut reexports: BTreeMap<(String, String), String> = BTreeMap::new();
    for (module, source) in &sources {
        let own: Vec<String> = module.split("::").filter(|s| !s.is_empty()).map(str::to_string).collect();
        for tree in use_statements(source) {
            for path in expand(&tree) {
                let segments: Vec<String> = path.split("::").map(str::to_string).collect();
                let child = [own.clone(), vec![segments[0].clone()]].concat();
                let absolute = if modules.contains(child.join("::").as_str()) {
                    Some([own.clone(), segments.clone()].concat())
                } else {
                    absolute(&own, &segments)
                };
                if let (Some(abs), Some(name)) = (absolute, segments.last()) {
                    if let Some(from) = longest_module(&abs).filter(|from| from != module) {
                        reexports.insert((module.clone(), name.clone()), from);
                    }
                }
            }
        }
    }
    let mut graph = BTreeMap::new();
    for (module, source) in &sources {
        if module.is_empty() {
            continue;
        }
        let own: Vec<String> = module.split("::").map(str::to_string).collect();
        let mut paths: Vec<Vec<String>> = Vec::new();
        for tree in use_statements(source) {
            for path in expand(&tree) {
                let segments: Vec<String> = path.split("::").map(str::to_string).collect();
                // A `use` that starts at a child module of this one (`use graph::Topo` in `sequential`).
                if modules.contains([own.clone(), vec![segments[0].clone()]].concat().join("::").as_str()) {
                    paths.push([own.clone(), segments].concat());
                } else {
                    paths.extend(absolute(&own, &segments));
                }
            }
        }
        for start in source.match_indices("crate::").map(|(i, _)| i) {
            if !source[..start].ends_with(|c: char| c.is_alphanumeric() || c == '_') {
                paths.push(path_at(&source[start + "crate::".len()..]));
            }
        }
        let mut targets = BTreeSet::new();
        for segments in paths.into_iter().filter(|s| !s.is_empty()) {
            let found = longest_module(&segments).unwrap_or_default();
            let depth = if found.is_empty() { 0 } else { found.split("::").count() };
            let target = match segments.get(depth) {
                Some(name) => reexports.get(&(found.clone(), name.clone())).cloned().unwrap_or(found),
                None => found,
            };
            // A module declares its children and may use and re-export them: that is no circle. A child's
            // use of its parent, and any use between siblings, counts.
            let descendant = target.starts_with(&format!("{module}::"));
            if target != *module && !target.is_empty() && !descendant {
                targets.insert(target);
            }
        }
        graph.insert(module.clone(), targets);
    }
    graph
}

/// A `use` tree's segments made absolute from module `own`: `crate::a::b` -> `a::b`, `super::x` -> the
/// parent's `x`, `self::x` -> `own::x`; external crates and std give nothing.
fn absolute(own: &[String], segments: &[String]) -> Option<Vec<String>> {
    match segments.first().map(String::as_str) {
        Some("crate") => Some(segments[1..].to_vec()),
        Some("self") => Some([own, &segments[1..]].concat()),
        Some("super") => {
            let mut base = own.to_vec();
            let mut rest = segments;
            while rest.first().is_some_and(|s| s == "super") {
                base.pop();
                rest = &rest[1..];
            }
            Some([base, rest.to_vec()].concat())
        }
        _ => None,
    }
}

/// The identifier path starting at `text` (`a::b::C` of `a::b::C { ... }`).
fn path_at(text: &str) -> Vec<String> {
    let mut segments = Vec::new();
    let mut rest = text;
    loop {
        let end = rest.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(rest.len());
        if end == 0 {
            break;
        }
        segments.push(rest[..end].to_string());
        match rest[end..].strip_prefix("::") {
            Some(next) => rest = next,
            None => break,
        }
    }
    segments
}

/// Every `use` statement at any depth, as its tree without `use` and `;`. `use super::*` of a
/// test module inside a file refers to that file itself, so `super::` uses inside `mod tests` are left out.
fn use_statements(source: &str) -> Vec<String> {
    let body = source.split("mod tests").next().unwrap_or(source);
    let mut statements = Vec::new();
    let mut rest = body;
    while let Some(i) = rest.find("use ") {
        let before = &rest[..i];
        let starts_statement = before.trim_end().is_empty()
            || before.trim_end().ends_with([';', '{', '}', ']'])
            || before.trim_end().ends_with("pub")
            || before.trim_end().ends_with("pub(crate)");
        let after = &rest[i + 4..];
        let end = after.find(';').unwrap_or(after.len());
        if starts_statement && (i == 0 || !rest[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_')) {
            statements.push(after[..end].split_whitespace().collect::<String>());
        }
        rest = &after[end.min(after.len())..];
    }
    statements
}

/// A use tree (`a::{b, c::{d, e}}`) as its paths (`a::b`, `a::c::d`, `a::c::e`); `self` in a group is the
/// group's own path, and `as` renames are dropped.
fn expand(tree: &str) -> Vec<String> {
    let tree = tree.trim();
    let Some(open) = tree.find('{') else {
        let path = tree.split("as").next().unwrap_or(tree).trim_end_matches("::*").trim_end_matches("::");
        return vec![path.to_string()];
    };
    let prefix = tree[..open].trim_end_matches("::");
    let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
    let mut items = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&inner[start..]);
    items
        .into_iter()
        .filter(|item| !item.trim().is_empty())
        .flat_map(|item| {
            expand(item).into_iter().map(|p| match p.as_str() {
                "self" => prefix.to_string(),
                _ if prefix.is_empty() => p,
                _ => format!("{prefix}::{p}"),
            })
        })
        .collect()
}

/// The source without comments and without the insides of string literals (a doc comment's
/// `crate::x` is no import).
fn strip_comments(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let bytes = source.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if source[i..].starts_with("//") {
            i += source[i..].find('\n').unwrap_or(source.len() - i);
        } else if source[i..].starts_with("/*") {
            i += source[i..].find("*/").map_or(source.len() - i, |e| e + 2);
        } else if bytes[i] == b'"'
            && (i == 0 || (bytes[i - 1] != b'\'' && bytes[i - 1] != b'r' && bytes[i - 1] != b'#'))
        {
            let mut j = i + 1;
            while j < bytes.len() && bytes[j] != b'"' {
                j += if bytes[j] == b'\\' { 2 } else { 1 };
            }
            out.push_str("\"\"");
            i = j + 1;
        } else if source[i..].starts_with("r#\"") || source[i..].starts_with("r\"") {
            let hashes = source[i + 1..].chars().take_while(|&c| c == '#').count();
            let close = format!("\"{}", "#".repeat(hashes));
            let body_start = i + 2 + hashes;
            i = source[body_start..].find(&close).map_or(source.len(), |e| body_start + e + close.len());
            out.push_str("\"\"");
        } else {
            let c = source[i..].chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// Tarjan's strongly connected components, iterative; each component sorted.
fn strongly_connected(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    let names: Vec<&String> = graph.keys().collect();
    let index_of: BTreeMap<&String, usize> = names.iter().enumerate().map(|(i, n)| (*n, i)).collect();
    let edges: Vec<Vec<usize>> =
        names.iter().map(|n| graph[*n].iter().filter_map(|t| index_of.get(t).copied()).collect()).collect();
    let n = names.len();
    let (mut index, mut low, mut on_stack) = (vec![usize::MAX; n], vec![0; n], vec![false; n]);
    let (mut stack, mut components, mut next) = (Vec::new(), Vec::new(), 0);
    for start in 0..n {
        if index[start] != usize::MAX {
            continue;
        }
        let mut work = vec![(start, 0usize)];
        while let Some(&(v, child)) = work.last() {
            if child == 0 && index[v] == usize::MAX {
                index[v] = next;
                low[v] = next;
                next += 1;
                stack.push(v);
                on_stack[v] = true;
            }
            if let Some(&w) = edges[v].get(child) {
                work.last_mut().unwrap().1 += 1;
                if index[w] == usize::MAX {
                    work.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
                continue;
            }
            work.pop();
            if let Some(&(parent, _)) = work.last() {
                low[parent] = low[parent].min(low[v]);
            }
            if low[v] == index[v] {
                let mut component = Vec::new();
                while let Some(w) = stack.pop() {
                    on_stack[w] = false;
                    component.push(names[w].clone());
                    if w == v {
                        break;
                    }
                }
                component.sort();
                components.push(component);
            }
        }
    }
    components
}
