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
