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
fn burn_is_pinned_exactly_and_the_contract_and_the_reports_do_without_it() {
    let manifest = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    assert!(manifest.contains("burn = { version = \"=0.22.1\""), "burn must be pinned to =0.22.1");
    for krate in ["crates/data", "crates/csv-lines", "crates/chain", "crates/meanfield", "crates/prng", "crates/runfolder", "xtask"] {
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

/// The feature sets cargo resolves for every package in a build of `args`, by `name version`
/// (a package built for the host, as a build script's dependency, has a set of its own).
fn resolved_features(args: &[&str]) -> std::collections::BTreeMap<String, std::collections::BTreeSet<String>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let out = std::process::Command::new(cargo)
        .current_dir(root())
        .args(["tree", "--offline", "--prefix", "none", "-f", "{p}|{f}"])
        .args(args)
        .output()
        .expect("run cargo tree");
    assert!(out.status.success(), "cargo tree {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    let mut features: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> = Default::default();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let Some((p, f)) = line.trim_end_matches(" (*)").split_once('|') else { continue };
        // "name v1.2.3", or "name v1.2.3 (/path)" for a workspace member.
        let mut words = p.split_whitespace();
        if let (Some(name), Some(version)) = (words.next(), words.next()) {
            features.entry(format!("{name} {version}")).or_default().insert(f.to_string());
        }
    }
    features
}

#[test]
fn every_command_builds_burn_with_the_same_features() {
    // burn takes ~12 minutes to build; a package whose dependencies switch on another feature
    // of a crate burn shares makes cargo build burn again. `cargo run -p train`, `cargo test
    // --workspace` and the library's examples must all resolve the features the workspace
    // resolves (crates/workspace-hack pins the ones that would drift).
    let workspace = resolved_features(&["--workspace", "-e", "normal,build,dev"]);
    let burn = resolved_features(&["-p", "burn", "-e", "normal,build"]);
    for (what, args) in [
        ("cargo run -p train", vec!["-p", "train", "-e", "normal,build"]),
        ("cargo run -p gradflow --example …", vec!["-p", "gradflow", "-e", "normal,build,dev"]),
    ] {
        let got = resolved_features(&args);
        for name in burn.keys() {
            if let Some(sets) = got.get(name) {
                assert_eq!(Some(sets), workspace.get(name), "`{what}` builds {name} with other features than the workspace does");
            }
        }
    }
}

/// The `train` crate's modules from the top down: a module may use those of the layers below
/// its own and no other. The experiment's config is read at the top and flows down (the loop
/// builds what it says, each kind of model reads its own table in `net/`), so nothing below
/// `config` may import it, or anything else above it, back.
const TRAIN_LAYERS: &[&[&str]] = &[
    &["main", "lib"],
    &["cli"],
    &["bench", "diagnose", "tutorial"],
    &["trainer"],
    &["manifest", "flags", "jacobian"],
    &["memory"],
    &["config"],
    &["step"],
    &["loss"],
    &["net"],
    &["optim", "batches", "config_error", "backend", "compute"],
];

#[test]
fn the_train_crate_imports_only_downwards_from_its_config() {
    let src = root().join("crates/train/src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let layer_of = |module: &str| TRAIN_LAYERS.iter().position(|layer| layer.contains(&module));
    let mut seen = std::collections::BTreeSet::new();
    for file in files {
        let rel = file.strip_prefix(&src).unwrap();
        let first = rel.components().next().unwrap().as_os_str().to_string_lossy().to_string();
        let module = first.trim_end_matches(".rs").to_string();
        let own = layer_of(&module).unwrap_or_else(|| panic!("crates/train/src/{} is in no layer of TRAIN_LAYERS", rel.display()));
        seen.insert(module.clone());
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(!text.contains("crate::{"), "{}: name each module as `crate::<module>::…`, so that this test sees it", rel.display());
        for (at, _) in text.match_indices("crate::") {
            let used: String = text[at + "crate::".len()..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            if used == module {
                continue;
            }
            let theirs = layer_of(&used).unwrap_or_else(|| panic!("{} uses crate::{used}, which is in no layer of TRAIN_LAYERS", rel.display()));
            assert!(theirs > own, "crates/train/src/{} (layer {own}) uses crate::{used} (layer {theirs}): only lower layers may be used", rel.display());
        }
    }
    assert!(seen.contains("config") && seen.contains("net") && seen.contains("step"), "the layers name modules that exist: {seen:?}");
}
