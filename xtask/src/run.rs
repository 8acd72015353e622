//! A run folder read into typed rows, per the contract in ARCHITECTURE.md ("The run
//! folder"), with the queries the figures and the headline need.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::table::{Row, Table};

/// The files a run folder holds, named in errors so that a reader knows what is expected.
pub const RUN_FILES: &str = "manifest.json, config.toml, epochs.csv, steps.csv, layers.csv and layer_epochs.csv";

/// Why a run folder could not be read. Each message is one line naming the file at fault.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{}: no such folder", dir.display())]
    NoSuchFolder { dir: PathBuf },
    #[error("{} is not a run folder: it has no manifest.json (a run folder, as `train` writes it, holds {RUN_FILES})", dir.display())]
    NotARun { dir: PathBuf },
    #[error("{}: missing (a run folder holds {RUN_FILES})", path.display())]
    MissingFile { path: PathBuf },
    #[error("cannot read {}: {cause}", path.display())]
    Io { path: PathBuf, cause: std::io::Error },
    #[error("{}:{line}: {message}", path.display())]
    Csv { path: PathBuf, line: u64, message: String },
    #[error("{}: {message}", path.display())]
    Manifest { path: PathBuf, message: String },
}

/// `manifest.json`. Fields other than `models` default when absent, so that a manifest from
/// a run that failed early still loads; unknown fields are ignored (newer writers).
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Manifest {
    #[serde(default)]
    pub name: String,
    #[serde(default = "unknown")]
    pub status: String,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub seed: Option<u64>,
    #[serde(default)]
    pub backend: Option<String>,
    #[serde(default)]
    pub threads: Option<u64>,
    /// Whether subnormal floats were flushed to zero while training (absent in older runs).
    #[serde(default)]
    pub flush_denormals: Option<bool>,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub git_revision: Option<String>,
    #[serde(default)]
    pub started_at: Option<String>,
    #[serde(default)]
    pub ended_at: Option<String>,
    #[serde(default)]
    pub dataset: Option<Dataset>,
    #[serde(default)]
    pub task: Option<String>,
    /// The loss function's name (`cross-entropy`, `mse`, …).
    #[serde(default)]
    pub loss: Option<String>,
    pub models: Vec<ModelInfo>,
    #[serde(default)]
    pub telemetry: Option<serde_json::Value>,
}

fn unknown() -> String {
    "unknown".to_string()
}

/// The manifest's `dataset` object.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct Dataset {
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub features: Option<u64>,
    #[serde(default)]
    pub classes: Option<u64>,
    #[serde(default)]
    pub outputs: Option<u64>,
    #[serde(default)]
    pub train: Option<u64>,
    #[serde(default)]
    pub valid: Option<u64>,
    #[serde(default)]
    pub test: Option<u64>,
    #[serde(default)]
    pub probe: Option<u64>,
}

/// One entry of the manifest's `models`.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct ModelInfo {
    pub name: String,
    #[serde(default)]
    pub activation: Option<String>,
    #[serde(default)]
    pub output_activation: Option<String>,
    #[serde(default)]
    pub init: Option<String>,
    /// Layer widths from input to output: `L = layers.len() - 1` linear layers.
    #[serde(default)]
    pub layers: Vec<u64>,
    #[serde(default)]
    pub parameters: Option<u64>,
    #[serde(default)]
    pub weights: Option<String>,
}

/// One row of `epochs.csv`.
#[derive(Clone, Debug, PartialEq)]
pub struct EpochRow {
    pub model: String,
    pub epoch: u32,
    pub train_loss: Option<f64>,
    pub train_accuracy: Option<f64>,
    pub test_loss: Option<f64>,
    pub test_accuracy: Option<f64>,
    pub seconds: Option<f64>,
    pub valid_loss: Option<f64>,
    pub valid_accuracy: Option<f64>,
}

/// One row of `steps.csv`.
#[derive(Clone, Debug, PartialEq)]
pub struct StepRow {
    pub model: String,
    pub epoch: u32,
    pub step: u64,
    pub loss: f64,
    pub grad_norm: f64,
    pub grad_norm_clipped: Option<f64>,
}

/// Where a `layers.csv` row was measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Source {
    /// The training batch of a step.
    Train,
    /// The fixed probe set, at initialization and at the end of every epoch.
    Probe,
}

/// One measurement of a layer metric: when, and its value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
    pub epoch: u32,
    pub step: u64,
    pub value: f64,
}

/// Values of one metric per layer (1-based), each in file order.
pub type PerLayer = BTreeMap<u32, Vec<Point>>;

/// One row of `layer_epochs.csv`.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerEpochRow {
    pub model: String,
    pub epoch: u32,
    pub layer: u32,
    pub metric: String,
    pub mean: f64,
    pub min: f64,
    pub max: f64,
    pub count: u64,
}

/// A run folder, read whole.
#[derive(Clone, Debug)]
pub struct Run {
    pub dir: PathBuf,
    pub manifest: Manifest,
    /// The manifest as written, for display.
    pub manifest_json: serde_json::Value,
    /// `config.toml` as written (`None` when it is missing, which is noted).
    pub config_toml: Option<String>,
    pub epochs: Vec<EpochRow>,
    pub steps: Vec<StepRow>,
    /// `layers.csv`, indexed by (model, source, metric).
    pub layers: BTreeMap<(String, Source, String), PerLayer>,
    pub layer_epochs: Vec<LayerEpochRow>,
    /// Things a reader should know: the run's status, skipped lines, left-out values.
    pub notes: Vec<String>,
}

impl Run {
    /// Reads the run folder at `dir`.
    pub fn load(dir: &Path) -> Result<Run, RunError> {
        if !dir.is_dir() {
            return Err(RunError::NoSuchFolder { dir: dir.to_path_buf() });
        }
        let manifest_path = dir.join("manifest.json");
        if !manifest_path.is_file() {
            return Err(RunError::NotARun { dir: dir.to_path_buf() });
        }
        let text = std::fs::read_to_string(&manifest_path)
            .map_err(|cause| RunError::Io { path: manifest_path.clone(), cause })?;
        let manifest: Manifest = serde_json::from_str(&text)
            .map_err(|e| RunError::Manifest { path: manifest_path.clone(), message: json_message(&e) })?;
        let manifest_json: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| RunError::Manifest { path: manifest_path.clone(), message: json_message(&e) })?;
        let mut notes = Vec::new();
        if let Some(note) = status_note(&manifest) {
            notes.push(note);
        }
        if manifest.telemetry.as_ref().and_then(|t| t.get("enabled")).and_then(serde_json::Value::as_bool)
            == Some(false)
        {
            notes.push(
                "Telemetry was off for this run, so there are no per-layer measurements: only the loss and accuracy figure has data."
                    .to_string(),
            );
        }
        if manifest.models.is_empty() {
            notes.push("The manifest lists no models, so there is nothing to plot.".to_string());
        }
        let config_path = dir.join("config.toml");
        let config_toml = match std::fs::read_to_string(&config_path) {
            Ok(s) => Some(s),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                notes.push("config.toml is missing, so the resolved config cannot be shown.".to_string());
                None
            }
            Err(cause) => return Err(RunError::Io { path: config_path, cause }),
        };

        let mut skipped = Skipped::default();
        let epochs = read_rows(
            &dir.join("epochs.csv"),
            &["model", "epoch", "train_loss", "train_accuracy", "test_loss", "test_accuracy", "seconds"],
            &mut skipped,
            |r| {
                Ok(EpochRow {
                    model: r.text("model")?,
                    epoch: epoch(r)?,
                    train_loss: r.opt_f64("train_loss")?,
                    train_accuracy: r.opt_f64("train_accuracy")?,
                    test_loss: r.opt_f64("test_loss")?,
                    test_accuracy: r.opt_f64("test_accuracy")?,
                    seconds: r.opt_f64("seconds")?,
                    valid_loss: r.opt_f64("valid_loss")?,
                    valid_accuracy: r.opt_f64("valid_accuracy")?,
                })
            },
        )?;
        let steps = read_rows(
            &dir.join("steps.csv"),
            &["model", "epoch", "step", "loss", "grad_norm", "grad_norm_clipped"],
            &mut skipped,
            |r| {
                Ok(StepRow {
                    model: r.text("model")?,
                    epoch: epoch(r)?,
                    step: r.u64("step")?,
                    loss: r.f64("loss")?,
                    grad_norm: r.f64("grad_norm")?,
                    grad_norm_clipped: r.opt_f64("grad_norm_clipped")?,
                })
            },
        )?;
        let layer_rows = read_rows(
            &dir.join("layers.csv"),
            &["model", "epoch", "step", "source", "layer", "metric", "value"],
            &mut skipped,
            |r| {
                let source = match r.str("source") {
                    "train" => Source::Train,
                    "probe" => Source::Probe,
                    other => {
                        return Err(r.error(format!("column `source`: expected `train` or `probe`, found {other:?}")));
                    }
                };
                Ok((
                    r.text("model")?,
                    source,
                    r.text("metric")?,
                    layer(r)?,
                    Point { epoch: epoch(r)?, step: r.u64("step")?, value: r.f64("value")? },
                ))
            },
        )?;
        let layer_epochs = read_rows(
            &dir.join("layer_epochs.csv"),
            &["model", "epoch", "layer", "metric", "mean", "min", "max", "count"],
            &mut skipped,
            |r| {
                Ok(LayerEpochRow {
                    model: r.text("model")?,
                    epoch: epoch(r)?,
                    layer: layer(r)?,
                    metric: r.text("metric")?,
                    mean: r.f64("mean")?,
                    min: r.f64("min")?,
                    max: r.f64("max")?,
                    count: r.u64("count")?,
                })
            },
        )?;
        for (file, line) in &skipped.partial_lines {
            notes.push(format!(
                "The last line of {file} (line {line}) is incomplete, as when a run is stopped while writing it, and was skipped."
            ));
        }

        // Non-finite values cannot be drawn; the contract says they never appear, so one
        // that does is noted and left out rather than allowed to poison an axis range.
        let mut layers: BTreeMap<(String, Source, String), PerLayer> = BTreeMap::new();
        let mut non_finite = 0usize;
        for (model, source, metric, layer, point) in layer_rows {
            if !point.value.is_finite() {
                non_finite += 1;
                continue;
            }
            layers.entry((model, source, metric)).or_default().entry(layer).or_default().push(point);
        }
        if non_finite > 0 {
            notes.push(format!(
                "{non_finite} value{} in layers.csv {} not finite (inf or NaN) and {} left out of the figures.",
                plural(non_finite),
                if non_finite == 1 { "is" } else { "are" },
                if non_finite == 1 { "is" } else { "are" }
            ));
        }

        let known: BTreeSet<&str> = manifest.models.iter().map(|m| m.name.as_str()).collect();
        let mut strangers: BTreeSet<&str> = BTreeSet::new();
        strangers.extend(epochs.iter().map(|r| r.model.as_str()).filter(|m| !known.contains(m)));
        strangers.extend(steps.iter().map(|r| r.model.as_str()).filter(|m| !known.contains(m)));
        strangers.extend(layers.keys().map(|k| k.0.as_str()).filter(|m| !known.contains(m)));
        if !strangers.is_empty() {
            notes.push(format!(
                "The CSV files have rows for model{} {} that the manifest does not list; they are left out.",
                plural(strangers.len()),
                strangers.iter().map(|m| format!("“{m}”")).collect::<Vec<_>>().join(", ")
            ));
        }

        let mut run = Run {
            dir: dir.to_path_buf(),
            manifest,
            manifest_json,
            config_toml,
            epochs,
            steps,
            layers,
            layer_epochs,
            notes,
        };
        run.note_short_models();
        Ok(run)
    }

    /// The run's display name: the manifest's name, or the folder's.
    pub fn name(&self) -> String {
        if self.manifest.name.is_empty() {
            self.dir.file_name().map_or_else(|| self.dir.display().to_string(), |n| n.to_string_lossy().into_owned())
        } else {
            self.manifest.name.clone()
        }
    }

    /// Whether the run is a classification (accuracies apply).
    pub fn is_classification(&self) -> bool {
        match self.manifest.task.as_deref() {
            Some("regression") => false,
            Some(_) => true,
            None => self.epochs.iter().any(|r| r.test_accuracy.is_some()),
        }
    }

    /// The models, in the manifest's order.
    pub fn models(&self) -> &[ModelInfo] {
        &self.manifest.models
    }

    /// The model's manifest entry.
    pub fn model(&self, name: &str) -> Option<&ModelInfo> {
        self.manifest.models.iter().find(|m| m.name == name)
    }

    /// The number of linear layers L of a model: from the manifest's widths, or else the
    /// highest layer that has rows.
    pub fn layer_count(&self, model: &str) -> u32 {
        if let Some(m) = self.model(model)
            && m.layers.len() >= 2
        {
            return u32::try_from(m.layers.len() - 1).unwrap_or(u32::MAX);
        }
        self.layers
            .iter()
            .filter(|(k, _)| k.0 == model)
            .filter_map(|(_, per)| per.keys().next_back().copied())
            .max()
            .unwrap_or(0)
    }

    /// The rows of one metric per layer (`None` when there are none).
    pub fn metric(&self, model: &str, source: Source, metric: &str) -> Option<&PerLayer> {
        self.layers.get(&(model.to_string(), source, metric.to_string())).filter(|p| !p.is_empty())
    }

    /// The model's `epochs.csv` rows, by epoch.
    pub fn epochs_of(&self, model: &str) -> Vec<&EpochRow> {
        let mut rows: Vec<&EpochRow> = self.epochs.iter().filter(|r| r.model == model).collect();
        rows.sort_by_key(|r| r.epoch);
        rows
    }

    /// The model's last epoch with any record (`epochs.csv` or probe rows).
    pub fn last_epoch(&self, model: &str) -> Option<u32> {
        let from_epochs = self.epochs.iter().filter(|r| r.model == model).map(|r| r.epoch).max();
        let from_probe = self
            .metric(model, Source::Probe, "grad_norm_weight")
            .and_then(|p| p.values().flat_map(|v| v.iter().map(|p| p.epoch)).max());
        from_epochs.max(from_probe)
    }

    /// The probe value of a metric for every layer at one epoch (index 0 is layer 1).
    pub fn probe_at(&self, model: &str, metric: &str, epoch: u32) -> Vec<Option<f64>> {
        let count = self.layer_count(model);
        let per = self.metric(model, Source::Probe, metric);
        (1..=count)
            .map(|layer| {
                per.and_then(|p| p.get(&layer))
                    .and_then(|pts| pts.iter().rev().find(|p| p.epoch == epoch))
                    .map(|p| p.value)
            })
            .collect()
    }

    /// The last probe epoch that has `grad_norm_weight` for the model.
    pub fn last_probe_epoch(&self, model: &str) -> Option<u32> {
        self.metric(model, Source::Probe, "grad_norm_weight")
            .and_then(|p| p.values().flat_map(|v| v.iter().map(|p| p.epoch)).max())
    }

    /// A metric per layer against epoch: the probe rows where there are any (they include
    /// initialization), else the per-epoch means of the train rows. The flag says which.
    pub fn per_epoch(&self, model: &str, metric: &str) -> (BTreeMap<u32, Vec<(f64, f64)>>, EpochSource) {
        if let Some(per) = self.metric(model, Source::Probe, metric) {
            let map = per
                .iter()
                .map(|(&layer, pts)| (layer, pts.iter().map(|p| (f64::from(p.epoch), p.value)).collect()))
                .collect();
            return (map, EpochSource::Probe);
        }
        let mut map: BTreeMap<u32, Vec<(f64, f64)>> = BTreeMap::new();
        for r in self.layer_epochs.iter().filter(|r| r.model == model && r.metric == metric && r.mean.is_finite()) {
            map.entry(r.layer).or_default().push((f64::from(r.epoch), r.mean));
        }
        for pts in map.values_mut() {
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        }
        let source = if map.is_empty() { EpochSource::None } else { EpochSource::TrainMeans };
        (map, source)
    }

    /// Notes a model that has fewer epochs than another one of the same run.
    fn note_short_models(&mut self) {
        let last: Vec<(String, Option<u32>)> =
            self.manifest.models.iter().map(|m| (m.name.clone(), self.last_epoch(&m.name))).collect();
        let most = last.iter().filter_map(|(_, e)| *e).max();
        for (name, epoch) in last {
            match (epoch, most) {
                (None, _) => self.notes.push(format!("Model “{name}” has no rows yet.")),
                (Some(e), Some(m)) if e < m => {
                    self.notes.push(format!("Model “{name}” stops at epoch {e}, before the others (epoch {m})."))
                }
                _ => {}
            }
        }
    }
}

/// Which rows [`Run::per_epoch`] used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EpochSource {
    Probe,
    TrainMeans,
    None,
}

/// The sentence a page shows for a run that did not complete (`None` when it did).
pub fn status_note(manifest: &Manifest) -> Option<String> {
    let reason = manifest.reason.as_deref().map(str::trim).filter(|r| !r.is_empty());
    let because = reason.map(|r| format!(" ({})", r.trim_end_matches('.'))).unwrap_or_default();
    match manifest.status.as_str() {
        "completed" => None,
        "running" => Some(format!(
            "The manifest says this run is still running{because}: either it is, or it was killed before it could say otherwise. The figures show what was written so far."
        )),
        "interrupted" => {
            Some(format!("This run was interrupted{because}. The figures show what was written before it stopped."))
        }
        "diverged" => Some(format!(
            "This run diverged{because}: training stopped at the first non-finite value, which is not in the files. The figures show everything before it."
        )),
        "failed" => Some(format!("This run failed{because}. The figures show what was written before the failure.")),
        other => Some(format!("The manifest's status is “{other}”, which this report does not know{because}.")),
    }
}

/// Rows that were skipped, to be noted.
#[derive(Default)]
struct Skipped {
    partial_lines: Vec<(String, u64)>,
}

/// Reads one CSV file of the run into typed rows. A last line cut short by a stopped run is
/// skipped and noted; any other bad line is an error naming the file and line.
fn read_rows<T>(
    path: &Path,
    required: &[&str],
    skipped: &mut Skipped,
    mut parse: impl FnMut(&Row<'_>) -> Result<T, RunError>,
) -> Result<Vec<T>, RunError> {
    let table = Table::read(path, required)?;
    let n = table.len();
    let mut out = Vec::with_capacity(n);
    for (i, row) in table.rows().enumerate() {
        let is_last = i + 1 == n;
        let result = parse(&row);
        if is_last && table.open_last_line && (result.is_err() || row_is_short(&row, required)) {
            let file =
                path.file_name().map_or_else(|| path.display().to_string(), |f| f.to_string_lossy().into_owned());
            skipped.partial_lines.push((file, row.line));
            continue;
        }
        out.push(result?);
    }
    Ok(out)
}

/// Whether a row lacks a field of a required column (a line cut short).
fn row_is_short(row: &Row<'_>, required: &[&str]) -> bool {
    required
        .iter()
        .any(|c| row.str(c).is_empty() && !matches!(*c, "train_accuracy" | "test_accuracy" | "grad_norm_clipped"))
}

fn epoch(r: &Row<'_>) -> Result<u32, RunError> {
    let v = r.u64("epoch")?;
    u32::try_from(v).map_err(|_| r.error(format!("column `epoch`: {v} is too large")))
}

fn layer(r: &Row<'_>) -> Result<u32, RunError> {
    let v = r.u64("layer")?;
    if v == 0 {
        return Err(r.error("column `layer`: layers are numbered from 1, found 0"));
    }
    u32::try_from(v).map_err(|_| r.error(format!("column `layer`: {v} is too large")))
}

/// serde_json's message, which already ends with "at line L column C".
fn json_message(e: &serde_json::Error) -> String {
    if e.is_eof() && e.line() <= 1 && e.column() == 0 {
        "the file is empty, or not JSON".to_string()
    } else {
        format!("not a valid manifest: {e}")
    }
}

/// "s" for a count other than one.
pub fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
