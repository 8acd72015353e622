//! `cargo xtask mutants`: mutation testing with cargo-mutants of the crates without burn and of
//! the telemetry's host reductions, with the integration binary (`tests`) as the test package,
//! and a table of caught, missed, timed-out and unviable mutants per crate.
//!
//! `--quick` runs the same mutants against the integration tests' modules that use no burn
//! (`QUICK_MODULES`), in a workspace of the burn-free crates assembled under `target/`: a mutant
//! of `prng` then rebuilds a few small crates instead of `gradflow`, `models`, `train` and the
//! integration binary that links burn (seconds instead of minutes a mutant). Its scores are a
//! lower bound of the full run's, which runs every test.
//!
//! A mutant is a small change to the code (an operator swapped, a body replaced by a default
//! value); a mutant that no test notices marks a behaviour that the tests do not check.
//! Mutants that cannot change any observable behaviour are excluded in `.cargo/mutants.toml`,
//! each with its reason. ARCHITECTURE.md ("Testing") records the scores.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

/// A crate that can be mutated: its package, and the files whose mutants count.
struct Target {
    name: &'static str,
    /// Globs of the files to mutate, relative to the workspace root.
    files: &'static [&'static str],
    /// Whether the crate's own unit tests run with the integration binary (the crates with
    /// burn are left out: their unit tests would link burn a second time for every mutant).
    own_tests: bool,
}

/// Every crate `cargo xtask mutants` knows, in the order it runs them.
const TARGETS: [Target; 5] = [
    Target { name: "prng", files: &["crates/prng/src/**"], own_tests: true },
    Target { name: "chain", files: &["crates/chain/src/**"], own_tests: true },
    Target { name: "runfolder", files: &["crates/runfolder/src/**"], own_tests: true },
    Target { name: "data", files: &["crates/data/src/**"], own_tests: true },
    // The telemetry's reductions: host loops in f64 over gradients, weights and activations.
    Target { name: "gradflow", files: &["crates/gradflow/src/reduce.rs"], own_tests: false },
];

/// The integration tests' modules that link no burn, which `--quick` runs.
const QUICK_MODULES: [&str; 4] = ["chain", "datasets", "prng", "runfolder"];

/// The crates of the quick workspace: those [`QUICK_MODULES`] test and their dependencies.
const QUICK_CRATES: [&str; 4] = ["prng", "chain", "runfolder", "data"];

/// The tests crate's dependencies that [`QUICK_MODULES`] use.
const QUICK_TEST_DEPS: [&str; 8] = ["prng", "chain", "runfolder", "data", "serde_json", "flate2", "toml", "sha2"];

/// What to run.
pub struct Options {
    /// The crates to mutate (empty: all of [`TARGETS`]).
    pub crates: Vec<String>,
    /// Mutate the source tree itself instead of a copy.
    pub in_place: bool,
    /// Run the burn-free test modules alone, in a workspace of the burn-free crates.
    pub quick: bool,
    /// Build and test jobs (each a copy of the tree) at once.
    pub jobs: usize,
    /// The folder for cargo-mutants' `mutants.out`.
    pub out: PathBuf,
    /// Further arguments for cargo-mutants (`--iterate`, `--shard 1/4`, ...).
    pub extra: Vec<String>,
}

/// The counts of one crate's mutants.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Score {
    pub caught: usize,
    pub missed: usize,
    pub timeout: usize,
    pub unviable: usize,
}

impl Score {
    pub fn mutants(&self) -> usize {
        self.caught + self.missed + self.timeout + self.unviable
    }

    /// The share of viable mutants the tests detect: caught, or made the suite hang (a
    /// mutant that loops forever is noticed by any run of the tests, CI's included).
    pub fn detected(&self) -> Option<f64> {
        let viable = self.caught + self.missed + self.timeout;
        (viable > 0).then(|| (self.caught + self.timeout) as f64 / viable as f64)
    }
}

/// Installs cargo-mutants when `cargo mutants` is not there.
fn ensure_cargo_mutants() -> anyhow::Result<()> {
    let found = Command::new("cargo").args(["mutants", "--version"]).output().is_ok_and(|o| o.status.success());
    if found {
        return Ok(());
    }
    eprintln!("cargo-mutants is not installed: cargo install cargo-mutants --locked (about 2 minutes)");
    let status = Command::new("cargo")
        .args(["install", "cargo-mutants", "--locked"])
        .status()
        .context("cannot run `cargo install cargo-mutants --locked`")?;
    if !status.success() {
        bail!("`cargo install cargo-mutants --locked` failed ({status})");
    }
    Ok(())
}

/// The targets named by `crates`, or all of them (all without burn for a quick run).
fn selected(crates: &[String], quick: bool) -> anyhow::Result<Vec<&'static Target>> {
    if crates.is_empty() {
        return Ok(TARGETS.iter().filter(|t| !quick || QUICK_CRATES.contains(&t.name)).collect());
    }
    crates
        .iter()
        .map(|name| {
            TARGETS.iter().find(|t| t.name == name).with_context(|| {
                let known: Vec<&str> = TARGETS.iter().map(|t| t.name).collect();
                format!("no crate {name:?} to mutate; the crates are {}", known.join(", "))
            })
        })
        .collect()
}

/// The cargo-mutants command line for `targets`, run from the workspace root.
fn command(targets: &[&Target], options: &Options) -> Vec<String> {
    let mut args: Vec<String> = vec!["mutants".into(), "--no-shuffle".into()];
    // In place there is one tree, so one job.
    if !options.in_place {
        args.extend(["--jobs".into(), options.jobs.to_string()]);
    }
    args.extend(["--output".into(), options.out.display().to_string()]);
    args.extend(["--test-package".into(), "tests".into()]);
    for t in targets {
        args.extend(["--package".into(), t.name.into()]);
        if t.own_tests {
            args.extend(["--test-package".into(), t.name.into()]);
        }
        for f in t.files {
            args.extend(["--file".into(), (*f).into()]);
        }
    }
    if options.in_place {
        args.push("--in-place".into());
    } else if !options.quick {
        // A copy without the build folder would build burn from scratch (about 12 minutes).
        args.extend(["--copy-target".into(), "true".into()]);
    }
    args.extend(options.extra.iter().cloned());
    args
}

/// Runs cargo-mutants and returns each crate's score, read from its `mutants.out` lists.
pub fn run(root: &Path, options: &Options) -> anyhow::Result<Vec<(&'static str, Score)>> {
    let targets = selected(&options.crates, options.quick)?;
    if options.quick {
        if let Some(t) = targets.iter().find(|t| !QUICK_CRATES.contains(&t.name)) {
            bail!("{} links burn: it has no quick run; leave out --quick", t.name);
        }
    }
    ensure_cargo_mutants()?;
    let dir = if options.quick {
        let ws = options.out.join("workspace");
        quick_workspace(root, &ws)?;
        ws
    } else {
        root.to_path_buf()
    };
    let args = command(&targets, options);
    eprintln!("cargo {} (in {})", args.join(" "), dir.display());
    let status = Command::new("cargo").args(&args).current_dir(&dir).status().context("cannot run `cargo mutants`")?;
    // cargo-mutants exits with 2 when mutants were missed and 3 when some timed out: those
    // are results. 1 is a usage error, 4 a failing unmutated tree.
    match status.code() {
        Some(0 | 2 | 3) => {}
        _ => bail!("cargo mutants failed ({status}); see {}", options.out.join("mutants.out/debug.log").display()),
    }
    let results = options.out.join("mutants.out");
    targets.iter().map(|t| Ok((t.name, score(&results, t.name)?))).collect()
}

/// Assembles the quick workspace in `ws`: copies of the burn-free crates, the data they embed,
/// the mutants' exclusions, and a tests crate of the [`QUICK_MODULES`] alone.
fn quick_workspace(root: &Path, ws: &Path) -> anyhow::Result<()> {
    if ws.exists() {
        std::fs::remove_dir_all(ws).with_context(|| format!("cannot clear {}", ws.display()))?;
    }
    for krate in QUICK_CRATES {
        copy_dir(&root.join("crates").join(krate), &ws.join("crates").join(krate))?;
    }
    copy_dir(&root.join("data"), &ws.join("data"))?;
    for file in ["Cargo.lock", "ARCHITECTURE.md", ".cargo/mutants.toml"] {
        copy_file(&root.join(file), &ws.join(file))?;
    }
    // The workspace's manifest, with its dependencies' versions and profiles, less the
    // members that are not there.
    let manifest = read(&root.join("Cargo.toml"))?;
    let members: Vec<String> = QUICK_CRATES.iter().map(|c| format!("\"crates/{c}\"")).collect();
    let manifest: String = manifest
        .lines()
        .filter(|l| !l.starts_with("default-members"))
        .map(|l| if l.starts_with("members") { format!("members = [{}, \"tests\"]", members.join(", ")) } else { l.to_string() })
        .map(|l| l + "\n")
        .collect();
    write(&ws.join("Cargo.toml"), &manifest)?;
    // The tests crate keeps the dependencies the quick modules use.
    let mut tests = String::new();
    let mut in_dependencies = false;
    for line in read(&root.join("tests/Cargo.toml"))?.lines() {
        if line.starts_with('[') {
            in_dependencies = line.ends_with("dependencies]");
        } else if in_dependencies {
            let name = line.split(['.', ' ', '=']).next().unwrap_or_default();
            if !name.is_empty() && !QUICK_TEST_DEPS.contains(&name) {
                continue;
            }
        }
        tests.push_str(line);
        tests.push('\n');
    }
    write(&ws.join("tests/Cargo.toml"), &tests)?;
    let mut main = String::from("//! The integration tests that link no burn, for `cargo xtask mutants --quick`.\n\n");
    for module in QUICK_MODULES {
        copy_file(&root.join(format!("tests/it/{module}.rs")), &ws.join(format!("tests/it/{module}.rs")))?;
        main.push_str(&format!("mod {module};\n"));
    }
    write(&ws.join("tests/it/main.rs"), &main)
}

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

fn copy_file(from: &Path, to: &Path) -> anyhow::Result<()> {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    }
    std::fs::copy(from, to).with_context(|| format!("cannot copy {} to {}", from.display(), to.display()))?;
    Ok(())
}

/// Copies a folder recursively, leaving out build folders.
fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    let entries = std::fs::read_dir(from).with_context(|| format!("cannot list {}", from.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot list {}", from.display()))?;
        let path = entry.path();
        if path.is_dir() {
            if entry.file_name() != "target" {
                copy_dir(&path, &to.join(entry.file_name()))?;
            }
        } else {
            copy_file(&path, &to.join(entry.file_name()))?;
        }
    }
    Ok(())
}

/// The counts for `krate` from the lists cargo-mutants writes (`caught.txt`, ...), one mutant
/// a line, named by its file (`crates/prng/src/lib.rs:15:5: replace ...`).
pub fn score(results: &Path, krate: &str) -> anyhow::Result<Score> {
    let prefix = format!("crates/{krate}/");
    let count = |list: &str| -> anyhow::Result<usize> {
        let path = results.join(list);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            // cargo-mutants leaves out the list of an outcome that did not occur.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        Ok(text.lines().filter(|l| l.starts_with(&prefix)).count())
    };
    Ok(Score {
        caught: count("caught.txt")?,
        missed: count("missed.txt")?,
        timeout: count("timeout.txt")?,
        unviable: count("unviable.txt")?,
    })
}

/// The scores as a Markdown table.
pub fn table(scores: &[(&str, Score)]) -> String {
    let mut out = String::from("| crate | mutants | caught | missed | timeout | unviable | detected |\n");
    out.push_str("|---|---|---|---|---|---|---|\n");
    for (name, s) in scores {
        let detected = s.detected().map_or("-".to_string(), |d| format!("{:.1}%", 100.0 * d));
        out.push_str(&format!(
            "| `{name}` | {} | {} | {} | {} | {} | {detected} |\n",
            s.mutants(),
            s.caught,
            s.missed,
            s.timeout,
            s.unviable
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_crate_counts_its_own_mutants_from_the_lists() {
        let dir = std::env::temp_dir().join(format!("xtask-mutants-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a scratch folder");
        let lists = [
            ("caught.txt", "crates/prng/src/lib.rs:1:1: a\ncrates/prng/src/lib.rs:2:1: b\ncrates/chain/src/lib.rs:3:1: c\n"),
            ("missed.txt", "crates/chain/src/lib.rs:4:1: d\n"),
            ("unviable.txt", "crates/prngx/src/lib.rs:5:1: e\ncrates/prng/src/lib.rs:6:1: f\n"),
        ];
        for (name, text) in lists {
            std::fs::write(dir.join(name), text).expect("write a list");
        }
        // No timeout.txt: cargo-mutants leaves out a list when nothing timed out.
        let prng = score(&dir, "prng").expect("reads");
        assert_eq!(prng, Score { caught: 2, missed: 0, timeout: 0, unviable: 1 });
        let chain = score(&dir, "chain").expect("reads");
        assert_eq!((chain.mutants(), chain.detected()), (2, Some(0.5)));
        assert_eq!(score(&dir, "data").expect("reads").detected(), None);
        let table = table(&[("prng", prng), ("chain", chain)]);
        assert!(table.contains("| `prng` | 3 | 2 | 0 | 0 | 1 | 100.0% |"), "{table}");
        assert!(table.contains("| `chain` | 2 | 1 | 1 | 0 | 0 | 50.0% |"), "{table}");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn unknown_crates_are_named_and_quick_runs_leave_out_burn() {
        let err = selected(&["models".to_string()], false).err().expect("not a target").to_string();
        assert!(err.contains("\"models\"") && err.contains("prng, chain, runfolder, data, gradflow"), "{err}");
        let quick: Vec<&str> = selected(&[], true).expect("all").iter().map(|t| t.name).collect();
        assert_eq!(quick, QUICK_CRATES);
        assert_eq!(selected(&[], false).expect("all").len(), TARGETS.len());
    }
}
