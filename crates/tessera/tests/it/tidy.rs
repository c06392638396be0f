//! Tidy rules, checked on the repository's own files: every Rust file starts with `//!`, no `dbg!` or `todo!`,
//! and the pure crates depend on no I/O crate.

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
