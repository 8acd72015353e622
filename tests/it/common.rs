//! Helpers shared by the test modules: backends and scratch folders.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use train::backend::Backend;

/// Both CPU backends: every numeric feature is checked on each.
pub const BACKENDS: [Backend; 2] = [Backend::Flex, Backend::Ndarray];

/// A fresh, empty scratch folder under the target directory's temp space, unique per call.
pub fn scratch(name: &str) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("gradflow-it-{}-{name}-{n}", std::process::id()));
    if dir.exists() {
        std::fs::remove_dir_all(&dir).expect("remove an old scratch folder");
    }
    std::fs::create_dir_all(&dir).expect("create a scratch folder");
    dir
}

/// The workspace root (configs/, data/).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// An experiment from TOML text and `--set` overrides, as `train` reads one.
pub fn experiment(text: &str, sets: &[&str]) -> train::config::Experiment {
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    train::config::parse(text, &sets).unwrap()
}

/// Trains `exp` on `backend` into `out`, silently, after the checks that need its data.
pub fn run_in(exp: &train::config::Experiment, out: &std::path::Path, backend: Backend) -> anyhow::Result<train::trainer::RunSummary> {
    let dataset = data::load(&exp.data, exp.seed).unwrap();
    exp.validate_with_data(&dataset).unwrap();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let opts = train::trainer::RunOptions { backend, out: out.to_path_buf(), stop: &stop };
    train::trainer::run(exp, &dataset, opts, Box::new(gradflow::view::Silent))
}
