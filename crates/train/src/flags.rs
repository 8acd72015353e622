//! The live view's diagnosis: at the end of every epoch the run folder written so far is
//! diagnosed (the same `diagnosis` crate the end of the run and `cargo xtask diagnose` use),
//! and a finding is flagged in the view when it first appears.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use diagnosis::Kind;
use gradflow::Recorder;

/// The share of the run's time that the live diagnosis may take: it reads the whole folder
/// again each epoch, so in a long run of short epochs it would grow with the files; past this
/// share it skips epochs until training has caught up.
const MAX_SHARE: f64 = 0.05;

/// The findings flagged so far, and the time spent finding them.
pub struct Flags {
    flagged: BTreeSet<(String, Kind)>,
    spent: Duration,
    since: Instant,
}

impl Default for Flags {
    fn default() -> Self {
        Flags { flagged: BTreeSet::new(), spent: Duration::ZERO, since: Instant::now() }
    }
}

impl Flags {
    /// Diagnoses the folder as it is now and notes each persisting finding not flagged
    /// before. A folder that cannot be read back is left to the end of the run to report.
    pub fn check(&mut self, rec: &mut Recorder) {
        if self.spent.as_secs_f64() > MAX_SHARE * self.since.elapsed().as_secs_f64() {
            return;
        }
        let start = Instant::now();
        let found = diagnosis::diagnose_folder(rec.path());
        self.spent += start.elapsed();
        let Ok(d) = found else { return };
        for m in &d.models {
            for f in m.findings.iter().filter(|f| f.persists) {
                if self.flagged.insert((m.model.clone(), f.kind)) {
                    rec.note(&format!("diagnosis: {}: {}", m.model, f.summary));
                }
            }
        }
    }
}
