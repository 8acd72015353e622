//! The library's error type: one line that names the file (and line) at fault.
//!
//! Callers (the binary, the tests) match on these, so they are typed with `thiserror`
//! rather than carried as `anyhow` strings.

use std::path::PathBuf;

use crate::run::RunError;

/// Everything that can stop a report, a comparison or the tutorial figures.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input run folder could not be read (not a run, a missing or malformed file).
    #[error(transparent)]
    Run(#[from] RunError),
    /// An output file or folder could not be written.
    /// (The IO error is part of the message rather than a `source`, so that printing the
    /// error chain does not say it twice.)
    #[error("cannot write {}: {cause}", path.display())]
    Write { path: PathBuf, cause: std::io::Error },
    /// A figure could not be rasterized to PNG.
    #[error("cannot render {}: {message}", path.display())]
    Render { path: PathBuf, message: String },
    /// The command was called with arguments it cannot work with.
    #[error("{0}")]
    Usage(String),
}
