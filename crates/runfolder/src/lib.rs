//! The run folder's contract, defined once: what `gradflow` (and so `train`) writes and what
//! `xtask` reads. File names, column lists, metric names, the histogram's bins and the
//! manifest's types live here and nowhere else; ARCHITECTURE.md ("The run folder") says what
//! each file means.
//!
//! The crate does not depend on burn, so that the report tooling can read run folders without
//! linking it.

mod diagnose_info;
mod histogram;
mod manifest;
mod names;
mod process;
mod write;

pub use diagnose_info::DiagnoseInfo;
pub use histogram::{Bin, COUNT as BIN_COUNT, DECADES, bin_of, bins, count as count_bins};
pub use manifest::{DatasetInfo, Divergence, LayerInfo, Manifest, MemoryInfo, ModelInfo, ParamInfo, Status, TelemetryInfo};
pub use process::{Liveness, ProcessInfo};
pub use names::*;
pub use write::{
    EpochRecord, HistogramRow, LayerEpochRow, LayerRow, ParamRow, ResumeAt, RunWriter, StepRow, TimeStepRow, WriteError, git_revision, now_rfc3339,
    now_stamp, num, write_atomic,
};
