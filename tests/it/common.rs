//! Helpers shared by the test modules: backends and scratch folders.

use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use train::backend::Backend;

/// Both CPU backends: every numeric feature is checked on each.
pub const BACKENDS: [Backend; 2] = [Backend::Flex, Backend::Ndarray];

/// A fresh, empty scratch folder, unique per call: `gradflow-it/<pid>/<name>-<n>` in the
/// temp folder. A test run leaves its folders for a look at what a failing test saw; the next
/// run removes those of every test process that has ended (the first call does), so that runs
/// do not pile up folders in the temp folder (a full run makes about 200).
pub fn scratch(name: &str) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    static ROOT: LazyLock<PathBuf> = LazyLock::new(|| {
        let base = std::env::temp_dir().join("gradflow-it");
        remove_ended(&base);
        base.join(std::process::id().to_string())
    });
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let dir = ROOT.join(format!("{name}-{n}"));
    if dir.exists() {
        std::fs::remove_dir_all(&dir).expect("remove an old scratch folder");
    }
    std::fs::create_dir_all(&dir).expect("create a scratch folder");
    dir
}

/// Removes the scratch folders under `base` of test processes that have ended. Whether a
/// process runs is read from `/proc`; where there is none, nothing is removed.
fn remove_ended(base: &Path) {
    let proc = Path::new("/proc");
    let (true, Ok(entries)) = (proc.is_dir(), std::fs::read_dir(base)) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().filter(|n| n.parse::<u32>().is_ok()) else { continue };
        if !proc.join(pid).exists() {
            // Another run's cleanup may have removed it first: nothing to report then.
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
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
