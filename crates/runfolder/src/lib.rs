//! The run folder's contract, defined once: what `gradflow` (and so `train`) writes and what
//! `xtask` reads. File names, column lists, metric names, the histogram's bins and the
//! manifest's types live here and nowhere else; ARCHITECTURE.md ("The run folder") says what
//! each file means.
//!
//! The reader is here too (`run`, on `table` and `divergence`): the report tooling and the
//! diagnosis (`crates/diagnosis`, which `train` runs at the end of a run) read a run folder
//! through one implementation of the contract.
//!
//! The crate does not depend on burn, so that the report tooling can read run folders without
//! linking it.

// The reader's modules (moved here from xtask) name this crate as `runfolder::…`, as every
// other reader does.
extern crate self as runfolder;

mod diagnose_info;
mod diagnosis;
pub mod divergence;
mod histogram;
mod manifest;
mod names;
mod process;
pub mod run;
pub mod table;
mod write;

pub use diagnose_info::DiagnoseInfo;
pub use diagnosis::{Diagnosis, Evidence, Finding, Kind, ModelDiagnosis, Remedy, Severity};
pub use histogram::{Bin, COUNT as BIN_COUNT, DECADES, bin_of, bins, count as count_bins, decade_edge};
pub use manifest::{DatasetInfo, Divergence, ImageInfo, LayerInfo, Manifest, MemoryInfo, ModelInfo, ParamInfo, Status, TelemetryInfo};
pub use process::{Liveness, ProcessInfo};
pub use names::*;
pub use write::{
    EpochRecord, HistogramRow, LayerEpochRow, LayerRow, ParamRow, ResumeAt, RunWriter, StepRow, TimeStepRow, WriteError, git_revision, now_rfc3339,
    now_stamp, num, write_atomic,
};
