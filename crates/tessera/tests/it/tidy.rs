//! Tidy rules, checked on the repository's own files: every Rust file starts with `//!`, no `dbg!` or `todo!`,
//! the pure crates depend on no I/O crate, no source file is over 600 lines outside its tests, modules of one
//! crate form no circle, `authority` speaks no HTTP, `api` reaches the store only through `authority`, `store`
//! writes only through `write.rs`, and every module states its invariant in its header.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_rust_file_starts_with_a_module_comment_and_has_no_debug_leftovers() {
    let mut files = Vec::new();
    rust_files(&workspace().join("crates"), &mut files);
    assert!(files.len() > 20);
    let dbg = ["dbg", "!("].concat();
    let todo = ["todo", "!("].concat();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.starts_with("//!"), "{} must start with a //! comment", file.display());
        assert!(!text.contains(&dbg) && !text.contains(&todo), "{} has a debug leftover", file.display());
    }
}

#[test]
fn the_pure_crates_depend_on_no_io_crate() {
    for krate in ["domain", "tokens", "policy", "catalog"] {
        let manifest = std::fs::read_to_string(workspace().join("crates").join(krate).join("Cargo.toml")).unwrap();
        let deps = manifest.split("[dev-dependencies]").next().unwrap();
        for banned in ["tokio", "sqlx", "axum", "reqwest", "ureq", "serde_json", "hyper", "getrandom"] {
            // A JWT's header and claims are JSON by definition: `tokens` reads and writes them, and no other
            // JSON (GitLab's shapes stay in `api`).
            if krate == "tokens" && banned == "serde_json" {
                continue;
            }
            assert!(!deps.contains(banned), "{krate} must not depend on {banned}");
        }
    }
}

#[test]
fn only_store_depends_on_sqlx() {
    let crates = workspace().join("crates");
    for entry in std::fs::read_dir(&crates).unwrap() {
        let dir = entry.unwrap().path();
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        if name != "store" {
            assert!(!manifest.contains("sqlx"), "{name} must not depend on sqlx");
        }
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

/// A source file's lines up to its `#[cfg(test)]` module, if any.
fn before_tests(text: &str) -> &str {
    text.split("#[cfg(test)]").next().unwrap_or(text)
}

/// The source files of the crates' libraries and binaries (`src/`), tests and benches left out.
fn source_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(workspace().join("crates")).unwrap() {
        let src = entry.unwrap().path().join("src");
        if src.is_dir() {
            rust_files(&src, &mut files);
        }
    }
    files
}

#[test]
fn no_source_file_is_over_600_lines_outside_its_tests() {
    for file in source_files() {
        if file.file_name().is_some_and(|n| n == "tests.rs") {
            continue;
        }
        let lines = before_tests(&read(&file)).lines().count();
        assert!(lines <= 600, "{} has {lines} lines outside its tests; split it by job", file.display());
    }
}

/// Whether `text` (a line of code) holds a string literal with an HTTP status and its reason, such as
/// `"403 Forbidden"`.
fn has_status_text(line: &str) -> bool {
    line.split('"').skip(1).step_by(2).any(|literal| {
        let bytes = literal.as_bytes();
        bytes.windows(5).any(|w| {
            (b'1'..=b'5').contains(&w[0])
                && w[1].is_ascii_digit()
                && w[2].is_ascii_digit()
                && w[3] == b' '
                && w[4].is_ascii_uppercase()
        })
    })
}

#[test]
fn the_status_rule_finds_status_text_in_literals_only() {
    assert!(has_status_text(r#"Error::Forbidden("403 Forbidden - no".to_owned())"#));
    assert!(has_status_text(r#"json!({"message": "404 Project Not Found"})"#));
    assert!(!has_status_text("// answer 401 Unauthorized"));
    assert!(!has_status_text(r#"let n = "30 days";"#));
}

#[test]
fn authority_returns_no_http_status_text() {
    let mut files = Vec::new();
    rust_files(&workspace().join("crates/authority/src"), &mut files);
    for file in files {
        for (n, line) in read(&file).lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            assert!(!has_status_text(line), "{}:{}: HTTP text belongs to api: {line}", file.display(), n + 1);
        }
    }
}

#[test]
fn every_module_states_its_invariant() {
    for file in source_files() {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        // A crate root states its crate's invariant; a binary's main and a test module are not modules of a job.
        if name == "main.rs" || name == "tests.rs" {
            continue;
        }
        let text = read(&file);
        let header: Vec<&str> = text.lines().take_while(|l| l.starts_with("//!")).collect();
        assert!(header.iter().any(|l| l.contains("Invariant")), "{}: state the module's invariant", file.display());
    }
}

#[test]
fn api_reaches_the_store_only_through_authority() {
    let manifest = read(&workspace().join("crates/api/Cargo.toml"));
    for banned in ["store", "sqlx", "rusqlite"] {
        assert!(!manifest.lines().any(|l| l.trim_start().starts_with(banned)), "api must not depend on {banned}");
    }
    let mut files = Vec::new();
    rust_files(&workspace().join("crates/api/src"), &mut files);
    for file in files {
        let text = read(&file);
        assert!(!text.contains(".store()") && !text.contains("store::"), "{} reads the store", file.display());
        assert!(!text.contains("StoreError"), "{} handles storage errors itself", file.display());
    }
    let authority = read(&workspace().join("crates/authority/src/lib.rs"));
    assert!(!authority.contains("pub fn store("), "authority keeps its store handle private");
}

#[test]
fn store_writes_only_through_its_write_module() {
    let mut files = Vec::new();
    rust_files(&workspace().join("crates/store/src"), &mut files);
    for file in files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let text = read(&file);
        if name != "write.rs" {
            assert!(!text.contains(".commit()"), "{}: commit through write::Write, which announces", file.display());
        }
        if name != "write.rs" && name != "lib.rs" {
            assert!(!text.contains("self.pool"), "{}: write through write.rs, read through lib.rs", file.display());
        }
    }
}

/// The modules of a crate (the first path component under `src/`) each names with `crate::…`.
fn module_references(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut refs: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let relative = file.strip_prefix(src).unwrap();
        let top =
            relative.components().next().unwrap().as_os_str().to_string_lossy().trim_end_matches(".rs").to_owned();
        if top == "lib" || top == "main" {
            continue;
        }
        let text = read(file);
        let code: String = before_tests(&text).lines().filter(|l| !l.trim_start().starts_with("//")).collect();
        let entry = refs.entry(top.clone()).or_default();
        for (i, _) in code.match_indices("crate::") {
            let rest = &code[i + "crate::".len()..];
            let names: Vec<&str> = if let Some(group) = rest.strip_prefix('{') {
                group
                    .split('}')
                    .next()
                    .unwrap_or("")
                    .split(',')
                    .map(|p| p.trim().split("::").next().unwrap_or(""))
                    .collect()
            } else {
                vec![rest.split(|c: char| !(c.is_alphanumeric() || c == '_')).next().unwrap_or("")]
            };
            entry.extend(names.into_iter().filter(|n| !n.is_empty() && *n != top).map(str::to_owned));
        }
    }
    let modules: BTreeSet<String> = refs.keys().cloned().collect();
    refs.values_mut().for_each(|r| r.retain(|m| modules.contains(m)));
    refs
}

/// A circle in `graph`, if there is one, as the modules along it.
fn circle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut found = path[at..].to_vec();
            found.push(node.to_owned());
            return Some(found);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(found) = visit(next, graph, path, done) {
                return Some(found);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|start| visit(start, graph, &mut Vec::new(), &mut done))
}

#[test]
fn the_circle_rule_finds_a_circle_and_accepts_a_line() {
    let graph = |edges: &[(&str, &str)]| {
        let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (a, b) in edges {
            g.entry((*a).to_owned()).or_default().insert((*b).to_owned());
            g.entry((*b).to_owned()).or_default();
        }
        g
    };
    assert_eq!(circle(&graph(&[("a", "b"), ("b", "c")])), None);
    assert!(circle(&graph(&[("a", "b"), ("b", "c"), ("c", "a")])).is_some());
}

#[test]
fn the_modules_of_a_crate_form_no_circle() {
    for entry in std::fs::read_dir(workspace().join("crates")).unwrap() {
        let src = entry.unwrap().path().join("src");
        if !src.is_dir() {
            continue;
        }
        let graph = module_references(&src);
        if src.ends_with("authority/src") {
            // The references are really read: the decision flow names the principals it decides on.
            assert!(graph.get("decide").is_some_and(|r| r.contains("principal")), "{graph:?}");
        }
        assert_eq!(circle(&graph), None, "modules of {} depend on each other in a circle", src.display());
    }
}
