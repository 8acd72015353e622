//! The diagnosis: what is wrong with each model of a run, in which layers, since when, and
//! what to try, read from the run folder alone (no burn), so that `train` (at the end of a
//! run), `cargo xtask diagnose` and `cargo xtask report` say the same thing through one
//! implementation, of any run folder: `train`'s, a library user's, an older one.
//!
//! Each finding has a kind from [`Kind`]'s fixed vocabulary, the layers, the first step and
//! epoch that showed it, whether the end of the run still shows it, the numbers beside their
//! thresholds ([`thresholds`]), a severity and a remedy. A finding is raised only on
//! [`thresholds::MIN_CONSECUTIVE`] consecutive measurements of one source. A model without a
//! finding that persists is healthy, and says so with the numbers that show it.
//!
//! Not to be confused with `train diagnose` (the mean-field fit of nets at initialization,
//! whose folder holds `diagnose.json`): this diagnosis writes `diagnosis.json` into a run
//! folder.

mod gradients;
mod model;
mod remedy;
pub mod series;
mod text;
pub mod thresholds;
mod units;

use std::path::{Path, PathBuf};

pub use runfolder::{Diagnosis, Evidence, Finding, Kind, ModelDiagnosis, Remedy, Severity};
use runfolder::run::{Run, RunError};

use crate::model::Model;
pub use crate::text::{finding_line, model_lines, number};

/// Diagnoses every model of a run that is already read.
pub fn diagnose(run: &Run) -> Diagnosis {
    Diagnosis {
        run: run.name(),
        version: Some(env!("CARGO_PKG_VERSION").to_string()),
        models: run.models().iter().map(|info| diagnose_model(&Model::new(run, info))).collect(),
    }
}

/// Reads the run folder at `dir` and diagnoses it.
pub fn diagnose_folder(dir: &Path) -> Result<Diagnosis, RunError> {
    Ok(diagnose(&Run::load(dir)?))
}

/// Writes `diagnosis.json` into the run folder (atomically, like the manifest) and returns
/// its path.
pub fn write(dir: &Path, diagnosis: &Diagnosis) -> Result<PathBuf, runfolder::WriteError> {
    let path = dir.join(runfolder::DIAGNOSIS);
    let mut json = serde_json::to_string_pretty(diagnosis).expect("a diagnosis is plain data");
    json.push('\n');
    runfolder::write_atomic(&path, json.as_bytes())?;
    Ok(path)
}

/// One model's diagnosis.
fn diagnose_model(m: &Model<'_>) -> ModelDiagnosis {
    let mut d = ModelDiagnosis { model: m.name.to_string(), healthy: true, ..ModelDiagnosis::default() };
    if m.count == 0 {
        d.not_judged.push("the model has no layers in the manifest and no rows in layers.csv: nothing to judge".to_string());
        d.healthy = false;
        return d;
    }
    // A run that did not complete is judged on what it wrote: "at the end" is its last row.
    if m.run.manifest.status != runfolder::Status::Completed {
        let last = m.run.steps.iter().filter(|r| r.model == m.name).map(|r| r.step).max();
        d.notes.push(format!(
            "The run's status is “{}”: this diagnosis judges what it wrote{}, and “at the end” means there.",
            m.run.status_shown(),
            last.map(|s| format!(", up to step {s}")).unwrap_or_default()
        ));
    }
    if m.telemetry_off() {
        d.not_judged.push("telemetry was off for this run: there are no per-layer measurements to judge".to_string());
    }
    m.note_ungraded_layers(&mut d.not_judged);

    let mut findings = Vec::new();
    findings.extend(gradients::diverged(m));
    findings.extend(gradients::exploding(m, &mut d.notes, &mut d.not_judged));
    let vanishing = gradients::vanishing(m, &mut d.not_judged);
    findings.extend(vanishing.clone());
    findings.extend(gradients::through_time(m, &mut d.not_judged));
    findings.extend(gradients::poor_init(m, &mut d.not_judged));
    let saturation = units::saturation(m);
    findings.extend(saturation.clone());
    let dead = units::dead_units(m);
    findings.extend(dead.clone());
    let underflow = units::underflow(m, &mut d.notes, &mut d.not_judged);
    findings.extend(underflow.clone());
    // A layer whose gradient vanished, whose units are dead or saturated or whose gradient
    // underflowed moves little for that reason: its small update is that finding's, not one
    // of its own.
    let explained: Vec<u32> = [&vanishing, &saturation, &dead, &underflow]
        .into_iter()
        .flatten()
        .flat_map(|f| f.layer_numbers.iter().copied())
        .collect();
    findings.extend(units::updates(m, &explained));
    if !findings.is_empty() && m.run.config_toml.is_none() {
        d.notes.push(format!(
            "This run has no {} (a program of its own recorded it through gradflow): the remedies name train's config keys; in your own model, make the same change in its code.",
            runfolder::CONFIG
        ));
    }
    findings.sort_by_key(|f| Kind::ALL.iter().position(|k| *k == f.kind));

    d.healthy = !findings.iter().any(|f| f.persists) && m.has_measurements();
    if !m.has_measurements() {
        d.not_judged.push(format!(
            "{} has no rows for this model: its health cannot be judged",
            runfolder::LAYERS
        ));
    }
    d.vitals = gradients::vitals(m);
    d.findings = findings;
    d
}
