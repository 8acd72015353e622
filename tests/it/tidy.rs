//! Tidy checks as tests: the conventions that hold for every source file and config.

use crate::common::root;
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if path.is_dir() {
            if !name.starts_with('.') && name != "target" && name != "runs" {
                rust_files(&path, out);
            }
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

fn all_rust_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in ["crates", "xtask", "tests"] {
        rust_files(&root().join(dir), &mut files);
    }
    assert!(files.len() > 20, "found only {} Rust files", files.len());
    files
}

#[test]
fn every_rust_file_opens_with_a_doc_line() {
    for file in all_rust_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.starts_with("//! "), "{} must open with a `//!` line saying what it is for", file.display());
    }
}

#[test]
fn no_ignored_or_should_panic_tests() {
    // Built from pieces so that this file does not match itself.
    let banned = [format!("#[{}]", "ignore"), format!("#[{}", "should_panic")];
    for file in all_rust_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        for b in &banned {
            assert!(!text.contains(b.as_str()), "{} uses {b}", file.display());
        }
    }
}

#[test]
fn burn_is_pinned_exactly_and_only_models_and_train_use_it() {
    let manifest = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    assert!(manifest.contains("burn = { version = \"=0.22.1\""), "burn must be pinned to =0.22.1");
    for krate in ["crates/data", "crates/chain", "crates/prng", "crates/runfolder", "xtask"] {
        let text = std::fs::read_to_string(root().join(krate).join("Cargo.toml")).unwrap();
        let deps = text.lines().map(str::trim_start).filter(|l| l.starts_with("burn"));
        assert_eq!(deps.count(), 0, "{krate} must not depend on burn");
    }
}

#[test]
fn the_ci_script_runs_the_readme_test_command() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let ci = std::fs::read_to_string(root().join(".ci/run")).unwrap();
    let command = "cargo test --workspace";
    assert!(readme.contains(command), "README must give `{command}`");
    assert!(ci.lines().any(|l| l.trim() == command), ".ci/run must run `{command}`");
    assert!(readme.contains("cargo run -p train"));
}
