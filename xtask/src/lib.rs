//! The xtask library: reads run folders (CSV/JSON only, never burn) and writes figures,
//! an HTML page and a Markdown summary; `main.rs` is a thin command-line wrapper over it.
//!
//! The layers, from the bottom: `run` (and `table`, both `runfolder`'s) read a run folder into typed rows;
//! `scale`, `colormap`, `numfmt` and `font` are the plotting helpers; `scene` is a display
//! list that `svg` and `png` turn into files; `plot` lays out figures from plain specs;
//! `divergence` (`runfolder`'s) says where a model's training went non-finite;
//! `figures` and `headline` turn runs into specs, readings and headline numbers; `html`
//! and `markdown` assemble pages; `report`, `compare` and `tutorial` are the commands.

pub mod bench;
pub mod colormap;
pub mod compare;
pub mod diagnose;
pub mod diagnosis;
pub mod error;
pub mod figures;
pub mod font;
pub mod headline;
pub mod html;
pub mod markdown;
pub mod numfmt;
pub mod output;
pub mod plot;
pub mod png;
pub mod report;
pub mod scale;
pub mod scene;
pub mod subject;
pub mod svg;
pub mod tutorial;

// The run folder's reader is `runfolder`'s, shared with the diagnosis and `train`; these
// names keep the paths the figures and pages have always used.
pub use runfolder::{divergence, run, table};

pub use compare::{CompareSummary, write_compare};
pub use error::Error;
pub use output::{FigureFile, Format};
pub use report::{ReportSummary, write_report};
pub use run::{Run, RunError};
pub use tutorial::{TutorialSummary, default_tutorial_out, write_tutorial_figures};
