//! A run folder read into typed rows, per the contract in ARCHITECTURE.md ("The run
//! folder") whose names and manifest the `runfolder` crate defines, with the queries the
//! figures and the headline need.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use runfolder::{Bin, metric};
pub use runfolder::{LayerInfo, Liveness, Manifest, ModelInfo, ProcessInfo, Status};

/// What a report calls a run whose manifest says `running` although its process is gone.
pub const STOPPED_WITHOUT_CLOSING: &str = "stopped without closing (killed?)";

use crate::table::{Row, Table};

/// The CSV files every run folder holds (a missing one is an error).
pub const REQUIRED_CSV: [&str; 4] = [runfolder::EPOCHS, runfolder::STEPS, runfolder::LAYERS, runfolder::LAYER_EPOCHS];

/// The CSV files that runs written by older versions lack: read when present.
pub const OPTIONAL_CSV: [&str; 3] = [runfolder::PARAMS, runfolder::HISTOGRAMS, runfolder::TIME_STEPS];

/// The files a run folder holds, named in errors so that a reader knows what is expected:
/// "manifest.json, config.toml, epochs.csv, … and layer_epochs.csv (newer runs also hold …)".
pub fn run_files() -> String {
    let mut files = vec![runfolder::MANIFEST, runfolder::CONFIG];
    files.extend(REQUIRED_CSV);
    let last = files.pop().unwrap_or_default();
    let (newer, newest) = OPTIONAL_CSV.split_at(OPTIONAL_CSV.len() - 1);
    format!("{} and {last} (newer runs also hold {} and {})", files.join(", "), newer.join(", "), newest.join(""))
}

/// Why a run folder could not be read. Each message is one line naming the file at fault.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{}: no such folder", dir.display())]
    NoSuchFolder { dir: PathBuf },
    #[error("{} is not a run folder: it has no {} (a run folder, as `train` writes it, holds {})", dir.display(), runfolder::MANIFEST, run_files())]
    NotARun { dir: PathBuf },
    #[error("{}: missing (a run folder holds {})", path.display(), run_files())]
    MissingFile { path: PathBuf },
    #[error("cannot read {}: {cause}", path.display())]
    Io { path: PathBuf, cause: std::io::Error },
    #[error("{}:{line}: {message}", path.display())]
    Csv { path: PathBuf, line: u64, message: String },
    #[error("{}: {message}", path.display())]
    Manifest { path: PathBuf, message: String },
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
    /// The step's learning rate (empty in runs written before the column, or by a writer that
    /// did not know it).
    pub lr: Option<f64>,
}

/// Where a row of `layers.csv`, `params.csv` or `grad_histograms.csv` was measured.
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

/// One row of `params.csv`: a metric of one parameter tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamRow {
    pub model: String,
    pub source: Source,
    /// The layer that owns the tensor (1-based).
    pub layer: u32,
    /// The tensor's path, as the manifest's layer entry names it (`conv1.weight`).
    pub param: String,
    pub metric: String,
    pub point: Point,
}

/// One measurement of a per-time-step metric (`time_steps.csv`): when, at which time step
/// t (1-based), and its value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TimePoint {
    pub epoch: u32,
    pub step: u64,
    pub t: u32,
    pub value: f64,
}

/// The key of [`Run::time_steps`]: (model, source, metric, layer).
pub type TimeKey = (String, Source, String, u32);

/// A layer's |dL/dW| entries per bin, indexed by [`Bin::index`].
pub type Counts = [u64; runfolder::BIN_COUNT];

/// One histogram measurement of a model: when, and the counts of each layer (1-based).
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    pub epoch: u32,
    pub step: u64,
    pub layers: BTreeMap<u32, Counts>,
}

impl Snapshot {
    /// The share of a layer's entries in each bin (`None` when the layer has no rows or no
    /// entries).
    pub fn shares(&self, layer: u32) -> Option<Vec<f64>> {
        let counts = self.layers.get(&layer)?;
        // Saturating: a count is user input, and a sum that overflows must not panic.
        let total = counts.iter().fold(0u64, |a, &c| a.saturating_add(c));
        (total > 0).then(|| counts.iter().map(|&c| c as f64 / total as f64).collect())
    }

    /// The share of a layer's entries whose bins lie wholly below 10^e (see
    /// [`Bin::is_below`]).
    pub fn share_below(&self, layer: u32, e: i32) -> Option<f64> {
        let shares = self.shares(layer)?;
        Some(runfolder::bins().zip(shares).filter(|(b, _)| b.is_below(e)).map(|(_, s)| s).sum())
    }
}

/// A run folder, read whole.
#[derive(Clone, Debug)]
pub struct Run {
    pub dir: PathBuf,
    pub manifest: Manifest,
    /// The manifest as written, for display and for words the typed manifest cannot hold
    /// (a status this version does not know).
    pub manifest_json: serde_json::Value,
    /// `config.toml` as written (`None` when it is missing, which is noted).
    pub config_toml: Option<String>,
    pub epochs: Vec<EpochRow>,
    pub steps: Vec<StepRow>,
    /// `layers.csv`, indexed by (model, source, metric).
    pub layers: BTreeMap<(String, Source, String), PerLayer>,
    pub layer_epochs: Vec<LayerEpochRow>,
    /// `params.csv`, in file order (empty for a run written before it existed).
    pub params: Vec<ParamRow>,
    /// `grad_histograms.csv`, indexed by (model, source), each in time order (empty for a
    /// run written before it existed).
    pub histograms: BTreeMap<(String, Source), Vec<Snapshot>>,
    /// `time_steps.csv`, indexed by (model, source, metric, layer), each in file order
    /// (empty for a feed-forward run and for a run written before the file existed).
    pub time_steps: BTreeMap<TimeKey, Vec<TimePoint>>,
    /// Things a reader should know: the run's status, skipped lines, left-out values.
    pub notes: Vec<String>,
}

/// The columns of `epochs.csv` that runs written before validation splits existed lack.
const EPOCHS_LATER_COLUMNS: [&str; 2] = ["valid_loss", "valid_accuracy"];
/// The columns of `steps.csv` that runs written before them lack.
const STEPS_LATER_COLUMNS: [&str; 1] = ["lr"];

impl Run {
    /// A run of `manifest` alone, with no rows, for tests (here, in xtask and in the
    /// diagnosis) that add the rows they need.
    pub fn of_manifest(manifest: Manifest) -> Run {
        Run {
            dir: "t".into(),
            manifest,
            manifest_json: serde_json::Value::Null,
            config_toml: None,
            epochs: Vec::new(),
            steps: Vec::new(),
            layers: BTreeMap::new(),
            layer_epochs: Vec::new(),
            params: Vec::new(),
            histograms: BTreeMap::new(),
            time_steps: BTreeMap::new(),
            notes: Vec::new(),
        }
    }

    /// Reads the run folder at `dir`.
    pub fn load(dir: &Path) -> Result<Run, RunError> {
        if !dir.is_dir() {
            return Err(RunError::NoSuchFolder { dir: dir.to_path_buf() });
        }
        let manifest_path = dir.join(runfolder::MANIFEST);
        if !manifest_path.is_file() {
            return Err(RunError::NotARun { dir: dir.to_path_buf() });
        }
        let text = std::fs::read_to_string(&manifest_path)
            .map_err(|cause| RunError::Io { path: manifest_path.clone(), cause })?;
        let mut manifest: Manifest = serde_json::from_str(&text)
            .map_err(|e| RunError::Manifest { path: manifest_path.clone(), message: json_message(&e) })?;
        let manifest_json: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| RunError::Manifest { path: manifest_path.clone(), message: json_message(&e) })?;
        // The type's default status is `running`, for the writer; a manifest that says
        // nothing about its status has an unknown one.
        if manifest_json.get("status").is_none() {
            manifest.status = Status::Unknown;
        }
        let mut notes = Vec::new();
        if let Some(note) = status_note(&manifest, status_word(&manifest, &manifest_json)) {
            notes.push(note);
        }
        if manifest.telemetry.as_ref().is_some_and(|t| !t.enabled) {
            notes.push(
                "Telemetry was off for this run, so there are no per-layer measurements: only the loss and accuracy figure has data."
                    .to_string(),
            );
        }
        if manifest.models.is_empty() {
            notes.push("The manifest lists no models, so there is nothing to plot.".to_string());
        }
        let config_path = dir.join(runfolder::CONFIG);
        let config_toml = match std::fs::read_to_string(&config_path) {
            Ok(s) => Some(s),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                notes.push(format!("The run folder has no {} (a run that a program of its own recorded with the gradflow library need not have one), so no resolved config is shown.", runfolder::CONFIG));
                None
            }
            Err(cause) => return Err(RunError::Io { path: config_path, cause }),
        };

        let mut skipped = Skipped::default();
        let epoch_columns: Vec<&str> =
            runfolder::EPOCHS_COLUMNS.into_iter().filter(|c| !EPOCHS_LATER_COLUMNS.contains(c)).collect();
        let epochs = read_rows(&dir.join(runfolder::EPOCHS), &epoch_columns, &mut skipped, |r| {
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
        })?;
        let step_columns: Vec<&str> =
            runfolder::STEPS_COLUMNS.into_iter().filter(|c| !STEPS_LATER_COLUMNS.contains(c)).collect();
        let steps = read_rows(&dir.join(runfolder::STEPS), &step_columns, &mut skipped, |r| {
            Ok(StepRow {
                model: r.text("model")?,
                epoch: epoch(r)?,
                step: r.u64("step")?,
                loss: r.f64("loss")?,
                grad_norm: r.f64("grad_norm")?,
                grad_norm_clipped: r.opt_f64("grad_norm_clipped")?,
                lr: r.opt_f64("lr")?,
            })
        })?;
        let layer_rows = read_rows(&dir.join(runfolder::LAYERS), &runfolder::LAYERS_COLUMNS, &mut skipped, |r| {
            Ok((r.text("model")?, source(r)?, r.text("metric")?, layer(r)?, point(r)?))
        })?;
        let layer_epochs =
            read_rows(&dir.join(runfolder::LAYER_EPOCHS), &runfolder::LAYER_EPOCHS_COLUMNS, &mut skipped, |r| {
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
            })?;
        let param_rows =
            optional(read_rows(&dir.join(runfolder::PARAMS), &runfolder::PARAMS_COLUMNS, &mut skipped, |r| {
                Ok(ParamRow {
                    model: r.text("model")?,
                    source: source(r)?,
                    layer: layer(r)?,
                    param: r.text("param")?,
                    metric: r.text("metric")?,
                    point: point(r)?,
                })
            }))?;
        let histogram_rows = optional(read_rows(
            &dir.join(runfolder::HISTOGRAMS),
            &runfolder::HISTOGRAMS_COLUMNS,
            &mut skipped,
            |r| {
                let label = r.str("bin");
                let bin = Bin::parse(label).ok_or_else(|| {
                    r.error(format!(
                        "column `bin`: expected `zero`, `subnormal`, a decade from `1e-38` to `1e2`, or `1e3+`, found {label:?}"
                    ))
                })?;
                Ok((r.text("model")?, source(r)?, epoch(r)?, r.u64("step")?, layer(r)?, bin, r.u64("count")?))
            },
        ))?;
        for (file, line) in &skipped.partial_lines {
            notes.push(format!(
                "The last line of {file} (line {line}) is incomplete, as when a run is stopped while writing it, and was skipped."
            ));
        }
        let time_rows = optional(read_rows(
            &dir.join(runfolder::TIME_STEPS),
            &runfolder::TIME_STEPS_COLUMNS,
            &mut skipped,
            |r| {
                let key = (r.text("model")?, source(r)?, r.text("metric")?, layer(r)?);
                Ok((key, TimePoint { epoch: epoch(r)?, step: r.u64("step")?, t: time_step(r)?, value: r.f64("value")? }))
            },
        ))?;

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
        notes.extend(non_finite_note(runfolder::LAYERS, non_finite));
        let before = param_rows.len();
        let params: Vec<ParamRow> = param_rows.into_iter().filter(|r| r.point.value.is_finite()).collect();
        notes.extend(non_finite_note(runfolder::PARAMS, before - params.len()));
        let mut time_steps: BTreeMap<TimeKey, Vec<TimePoint>> = BTreeMap::new();
        let before = time_rows.len();
        for (key, point) in time_rows.into_iter().filter(|r| r.1.value.is_finite()) {
            time_steps.entry(key).or_default().push(point);
        }
        let kept: usize = time_steps.values().map(Vec::len).sum();
        notes.extend(non_finite_note(runfolder::TIME_STEPS, before - kept));

        // A layer's bins at one moment are one row each; should a writer split a layer's
        // entries over several rows of a bin, they add up.
        let mut by_time: BTreeMap<(String, Source, u32, u64), BTreeMap<u32, Counts>> = BTreeMap::new();
        for (model, source, epoch, step, layer, bin, count) in histogram_rows {
            let counts = by_time
                .entry((model, source, epoch, step))
                .or_default()
                .entry(layer)
                .or_insert([0; runfolder::BIN_COUNT]);
            counts[bin.index()] = counts[bin.index()].saturating_add(count);
        }
        // The map's order is (model, source, epoch, step): each model's snapshots come in time order.
        let mut histograms: BTreeMap<(String, Source), Vec<Snapshot>> = BTreeMap::new();
        for ((model, source, epoch, step), layers) in by_time {
            histograms.entry((model, source)).or_default().push(Snapshot { epoch, step, layers });
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
            params,
            histograms,
            time_steps,
            notes,
        };
        run.note_strangers();
        run.note_short_models();
        run.note_divergences();
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

    /// The manifest's status as written, also when this version does not know the word.
    pub fn status_word(&self) -> &str {
        status_word(&self.manifest, &self.manifest_json)
    }

    /// The status to show: the word as written, but for a run whose manifest says `running`
    /// while the process that wrote it is gone, which "stopped without closing (killed?)".
    pub fn status_shown(&self) -> &str {
        let gone = self.manifest.status == Status::Running
            && self.manifest.process.as_ref().is_some_and(|p| matches!(p.liveness(), Liveness::Gone(_)));
        if gone { STOPPED_WITHOUT_CLOSING } else { self.status_word() }
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

    /// The number of layers L of a model: the manifest's layer entries, or else its MLP
    /// widths (an older manifest), or else the highest layer that has rows.
    pub fn layer_count(&self, model: &str) -> u32 {
        if let Some(m) = self.model(model) {
            let from_manifest = if m.layers.is_empty() { m.widths.len().saturating_sub(1) } else { m.layers.len() };
            if from_manifest > 0 {
                return u32::try_from(from_manifest).unwrap_or(u32::MAX);
            }
        }
        self.layers
            .iter()
            .filter(|(k, _)| k.0 == model)
            .filter_map(|(_, per)| per.keys().next_back().copied())
            .max()
            .unwrap_or(0)
    }

    /// The names to show for a model's layers (index 0 is layer 1), or `None` when they are
    /// shown by number.
    ///
    /// The rule: a model whose layers have names of their own (`conv1`, `fc2`,
    /// `block2.norm`) is shown by name. An MLP's layers are `layers.0` … `layers.9`, each
    /// only its position in a list, one less than the layer's number: a label such as
    /// "L1 layers.0" would be twice as long and say nothing more, so a model whose names are
    /// all `<one prefix>.<position>` is shown by number, as are models of older manifests,
    /// which have no names. The rule holds for a whole model, so that its labels are all of
    /// one kind.
    pub fn layer_names(&self, model: &str) -> Option<Vec<&str>> {
        let names: Vec<&str> = self.model(model)?.layers.iter().map(|l| l.name.as_str()).collect();
        if names.iter().all(|n| n.is_empty()) || only_positions(&names) {
            return None;
        }
        Some(names)
    }

    /// The rows of one metric per layer (`None` when there are none).
    pub fn metric(&self, model: &str, source: Source, metric: &str) -> Option<&PerLayer> {
        self.layers.get(&(model.to_string(), source, metric.to_string())).filter(|p| !p.is_empty())
    }

    /// The model's histogram snapshots from one source, in time order (empty when none).
    pub fn histograms(&self, model: &str, source: Source) -> &[Snapshot] {
        self.histograms.get(&(model.to_string(), source)).map_or(&[], Vec::as_slice)
    }

    /// Whether the model has any rows in `grad_histograms.csv`.
    pub fn has_histograms(&self, model: &str) -> bool {
        [Source::Train, Source::Probe].into_iter().any(|s| !self.histograms(model, s).is_empty())
    }

    /// The recurrent kinds of [`ModelInfo::kind`], whose runs write `time_steps.csv` rows.
    pub const RECURRENT_KINDS: [&'static str; 3] = ["rnn", "lstm", "gru"];

    /// Whether the model is recurrent: its manifest says `rnn`, `lstm` or `gru`, or it has
    /// rows in `time_steps.csv` (a library user's model need not say its kind).
    pub fn is_recurrent(&self, model: &str) -> bool {
        let said = self.model(model).and_then(|m| m.kind.as_deref());
        said.is_some_and(|k| Self::RECURRENT_KINDS.contains(&k)) || self.time_steps.keys().any(|k| k.0 == model)
    }

    /// The model's kind as the manifest says it (`lstm`), in upper case for a page (`LSTM`).
    pub fn kind_shown(&self, model: &str) -> Option<String> {
        let kind = self.model(model)?.kind.as_deref()?;
        Some(if Self::RECURRENT_KINDS.contains(&kind) { kind.to_uppercase() } else { kind.to_string() })
    }

    /// The layers of a model that have rows of `metric` in `time_steps.csv` (from any
    /// source), in order: its recurrent layers, the first the farthest from the loss.
    pub fn recurrent_layers(&self, model: &str, metric: &str) -> Vec<u32> {
        let layers: BTreeSet<u32> =
            self.time_steps.keys().filter(|k| k.0 == model && k.2 == metric).map(|k| k.3).collect();
        layers.into_iter().collect()
    }

    /// The rows of one per-time-step metric of one layer, in file order (empty when none).
    pub fn time_metric(&self, model: &str, source: Source, metric: &str, layer: u32) -> &[TimePoint] {
        self.time_steps.get(&(model.to_string(), source, metric.to_string(), layer)).map_or(&[], Vec::as_slice)
    }

    /// A metric against t on the probe set at one epoch, sorted by t (the last row of each
    /// t when a writer repeated one): the profile through time at that moment.
    pub fn time_profile(&self, model: &str, metric: &str, layer: u32, epoch: u32) -> Vec<(u32, f64)> {
        let by_t: BTreeMap<u32, f64> = self
            .time_metric(model, Source::Probe, metric, layer)
            .iter()
            .filter(|p| p.epoch == epoch)
            .map(|p| (p.t, p.value))
            .collect();
        by_t.into_iter().collect()
    }

    /// The last probe epoch with rows of `metric` for the layer.
    pub fn last_time_probe_epoch(&self, model: &str, metric: &str, layer: u32) -> Option<u32> {
        self.time_metric(model, Source::Probe, metric, layer).iter().map(|p| p.epoch).max()
    }

    /// The number of time steps T: the manifest's `dataset.sequence_length`, else the
    /// highest t with rows for the model.
    pub fn sequence_length(&self, model: &str) -> Option<u32> {
        let said = self.manifest.dataset.as_ref().and_then(|d| d.sequence_length);
        said.and_then(|t| u32::try_from(t).ok()).filter(|&t| t > 0).or_else(|| {
            self.time_steps.iter().filter(|(k, _)| k.0 == model).flat_map(|(_, pts)| pts.iter().map(|p| p.t)).max()
        })
    }

    /// The model's `epochs.csv` rows, by epoch.
    pub fn epochs_of(&self, model: &str) -> Vec<&EpochRow> {
        let mut rows: Vec<&EpochRow> = self.epochs.iter().filter(|r| r.model == model).collect();
        rows.sort_by_key(|r| r.epoch);
        rows
    }

    /// The model's last epoch with any record: a row of `epochs.csv`, `steps.csv` or
    /// `layers.csv` (train or probe). A run under burn-train's Learner, or a loop of one's
    /// own, has steps and layer rows of an epoch before that epoch's row in `epochs.csv`.
    pub fn last_epoch(&self, model: &str) -> Option<u32> {
        let from_epochs = self.epochs.iter().filter(|r| r.model == model).map(|r| r.epoch).max();
        let from_steps = self.steps.iter().filter(|r| r.model == model).map(|r| r.epoch).max();
        let from_layers = self
            .layers
            .iter()
            .filter(|(k, _)| k.0 == model)
            .flat_map(|(_, per)| per.values().flat_map(|pts| pts.iter().map(|p| p.epoch)))
            .max();
        from_epochs.max(from_steps).max(from_layers)
    }

    /// The rows the model has in each file that holds any, with the file's name, in the
    /// order of [`runfolder::CSV_FILES`] (empty when it has none at all).
    pub fn row_counts(&self, model: &str) -> Vec<(&'static str, usize)> {
        let layers: usize =
            self.layers.iter().filter(|(k, _)| k.0 == model).flat_map(|(_, per)| per.values().map(Vec::len)).sum();
        let histograms: usize = self.histograms.iter().filter(|(k, _)| k.0 == model).map(|(_, v)| v.len()).sum();
        let time_steps: usize = self.time_steps.iter().filter(|(k, _)| k.0 == model).map(|(_, v)| v.len()).sum();
        [
            (runfolder::EPOCHS, self.epochs.iter().filter(|r| r.model == model).count()),
            (runfolder::STEPS, self.steps.iter().filter(|r| r.model == model).count()),
            (runfolder::LAYERS, layers),
            (runfolder::LAYER_EPOCHS, self.layer_epochs.iter().filter(|r| r.model == model).count()),
            (runfolder::PARAMS, self.params.iter().filter(|r| r.model == model).count()),
            (runfolder::HISTOGRAMS, histograms),
            (runfolder::TIME_STEPS, time_steps),
        ]
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .collect()
    }

    /// The metrics that have rows of one layer of the model in `layers.csv` or
    /// `layer_epochs.csv`, from any source: what the files tell of a layer that lacks one
    /// (a layer with `weight_norm` but no `grad_norm_weight` has weights that got no
    /// gradient).
    pub fn layer_metrics(&self, model: &str, layer: u32) -> BTreeSet<&str> {
        let mut found: BTreeSet<&str> = self
            .layers
            .iter()
            .filter(|(k, per)| k.0 == model && per.get(&layer).is_some_and(|p| !p.is_empty()))
            .map(|(k, _)| k.2.as_str())
            .collect();
        found.extend(
            self.layer_epochs.iter().filter(|r| r.model == model && r.layer == layer).map(|r| r.metric.as_str()),
        );
        found
    }

    /// Whether layers.csv has probe rows of any metric for the model.
    pub fn has_probe(&self, model: &str) -> bool {
        self.layers.iter().any(|(k, per)| k.0 == model && k.1 == Source::Probe && !per.is_empty())
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

    /// The first and the last logged training step with rows of `metric` for the model.
    pub fn train_steps(&self, model: &str, metric: &str) -> Option<(u64, u64)> {
        let per = self.metric(model, Source::Train, metric)?;
        let steps = per.values().flat_map(|pts| pts.iter().map(|p| p.step));
        let (lo, hi) = steps.fold((u64::MAX, 0), |(lo, hi), s| (lo.min(s), hi.max(s)));
        (lo <= hi).then_some((lo, hi))
    }

    /// The train value of a metric for every layer at one step (index 0 is layer 1).
    pub fn train_at(&self, model: &str, metric: &str, step: u64) -> Vec<Option<f64>> {
        let per = self.metric(model, Source::Train, metric);
        (1..=self.layer_count(model))
            .map(|layer| {
                per.and_then(|p| p.get(&layer))
                    .and_then(|pts| pts.iter().rev().find(|p| p.step == step))
                    .map(|p| p.value)
            })
            .collect()
    }

    /// The last probe epoch that has `grad_norm_weight` for the model.
    pub fn last_probe_epoch(&self, model: &str) -> Option<u32> {
        self.metric(model, Source::Probe, metric::GRAD_NORM_WEIGHT)
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
        // `layer_epochs.csv` gets an epoch's means when the epoch closes: a run whose epochs
        // never closed (a Learner or a loop of one's own that logs steps only, a run killed
        // in its first epoch) has train rows without them, and their mean per epoch is the
        // same aggregate.
        if map.is_empty()
            && let Some(per) = self.metric(model, Source::Train, metric)
        {
            for (&layer, pts) in per {
                let mut by_epoch: BTreeMap<u32, (f64, usize)> = BTreeMap::new();
                for p in pts {
                    let e = by_epoch.entry(p.epoch).or_default();
                    *e = (e.0 + p.value, e.1 + 1);
                }
                map.insert(layer, by_epoch.into_iter().map(|(e, (sum, n))| (f64::from(e), sum / n as f64)).collect());
            }
        }
        for pts in map.values_mut() {
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        }
        let source = if map.is_empty() { EpochSource::None } else { EpochSource::TrainMeans };
        (map, source)
    }

    /// Notes the models that have rows but are not in the manifest (they are left out).
    fn note_strangers(&mut self) {
        let known: BTreeSet<&str> = self.manifest.models.iter().map(|m| m.name.as_str()).collect();
        let mut strangers: BTreeSet<&str> = BTreeSet::new();
        strangers.extend(self.epochs.iter().map(|r| r.model.as_str()));
        strangers.extend(self.steps.iter().map(|r| r.model.as_str()));
        strangers.extend(self.layers.keys().map(|k| k.0.as_str()));
        strangers.extend(self.params.iter().map(|r| r.model.as_str()));
        strangers.extend(self.histograms.keys().map(|k| k.0.as_str()));
        strangers.extend(self.time_steps.keys().map(|k| k.0.as_str()));
        strangers.retain(|m| !known.contains(m));
        if !strangers.is_empty() {
            let note = format!(
                "The CSV files have rows for model{} {} that the manifest does not list; they are left out.",
                plural(strangers.len()),
                strangers.iter().map(|m| format!("“{m}”")).collect::<Vec<_>>().join(", ")
            );
            self.notes.push(note);
        }
    }

    /// Notes a model that has fewer epochs than another one of the same run.
    fn note_short_models(&mut self) {
        let last: Vec<(String, Option<u32>)> =
            self.manifest.models.iter().map(|m| (m.name.clone(), self.last_epoch(&m.name))).collect();
        let most = last.iter().filter_map(|(_, e)| *e).max();
        for (name, epoch) in last {
            let counts = self.row_counts(&name);
            let epoch_rows = counts.iter().any(|(f, _)| *f == runfolder::EPOCHS);
            if counts.is_empty() {
                self.notes.push(format!(
                    "Model “{name}” has no rows yet in any of {}.",
                    join(runfolder::CSV_FILES.iter().map(|f| f.to_string()).collect())
                ));
                continue;
            }
            if !epoch_rows {
                // Steps and layer rows without an epoch row: a run whose first epoch has not
                // closed, or a loop that records steps only. Say what there is.
                let held: Vec<String> = counts.iter().map(|(f, n)| format!("{n} row{} in {f}", plural(*n))).collect();
                self.notes.push(format!(
                    "Model “{name}” has no rows in {} (no epoch has closed), but has {}: the figures show those, and the loss and accuracy per epoch (figure 4) have none.",
                    runfolder::EPOCHS,
                    join(held)
                ));
            }
            match (epoch, most) {
                (None, _) => {}
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

/// The manifest's status word as written: the raw JSON's, which names a status this
/// version does not know, else the typed one's.
fn status_word<'a>(manifest: &'a Manifest, json: &'a serde_json::Value) -> &'a str {
    json.get("status").and_then(serde_json::Value::as_str).unwrap_or(manifest.status.as_str())
}

/// The sentence a page shows for a run that did not complete (`None` when it did); `word`
/// is the status as written, named when this version does not know it.
pub fn status_note(manifest: &Manifest, word: &str) -> Option<String> {
    let reason = manifest.reason.as_deref().map(str::trim).filter(|r| !r.is_empty());
    let because = reason.map(|r| format!(" ({})", r.trim_end_matches('.'))).unwrap_or_default();
    match manifest.status {
        Status::Completed => None,
        Status::Running => Some(match manifest.process.as_ref().map(ProcessInfo::liveness) {
            Some(Liveness::Alive) => format!("This run is still running{because}. The figures show what was written so far."),
            Some(Liveness::Gone(why)) => format!(
                "This run {STOPPED_WITHOUT_CLOSING}: its manifest still says running, but {why}. The figures show what was written before it stopped."
            ),
            unknown => {
                let why = match unknown {
                    Some(Liveness::Unknown(why)) => format!(" ({why})"),
                    _ => String::new(),
                };
                format!(
                    "The manifest says this run is still running{because}: either it is, or it stopped without closing (killed?) before it could say otherwise{why}. The figures show what was written so far."
                )
            }
        }),
        Status::Interrupted => {
            Some(format!("This run was interrupted{because}. The figures show what was written before it stopped."))
        }
        Status::Diverged => Some(format!(
            "This run diverged{because}: training stopped at the first non-finite value, which is not in the files. The figures show everything before it."
        )),
        Status::Failed => {
            Some(format!("This run failed{because}. The figures show what was written before the failure."))
        }
        Status::Unknown => {
            Some(format!("The manifest's status is “{word}”, which this report does not know{because}."))
        }
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
        .any(|c| row.str(c).is_empty() && !matches!(*c, "train_accuracy" | "test_accuracy" | "grad_norm_clipped" | "lr"))
}

/// A file's rows, or none when the file is missing (one that runs written before it
/// existed lack).
fn optional<T>(rows: Result<Vec<T>, RunError>) -> Result<Vec<T>, RunError> {
    match rows {
        Err(RunError::MissingFile { .. }) => Ok(Vec::new()),
        other => other,
    }
}

/// The `source` column: `train` or `probe`.
fn source(r: &Row<'_>) -> Result<Source, RunError> {
    match r.str("source") {
        runfolder::SOURCE_TRAIN => Ok(Source::Train),
        runfolder::SOURCE_PROBE => Ok(Source::Probe),
        other => Err(r.error(format!(
            "column `source`: expected `{}` or `{}`, found {other:?}",
            runfolder::SOURCE_TRAIN,
            runfolder::SOURCE_PROBE
        ))),
    }
}

/// The `epoch`, `step` and `value` columns of a long-format row.
fn point(r: &Row<'_>) -> Result<Point, RunError> {
    Ok(Point { epoch: epoch(r)?, step: r.u64("step")?, value: r.f64("value")? })
}

/// The note for values left out of a file because they are not finite (`None` for none).
fn non_finite_note(file: &str, n: usize) -> Option<String> {
    let verb = if n == 1 { "is" } else { "are" };
    (n > 0).then(|| {
        format!("{n} value{} in {file} {verb} not finite (inf or NaN) and {verb} left out of the figures.", plural(n))
    })
}

/// Whether layer names are only positions in one list: `layers.0`, `layers.1`, … (or `0`,
/// `1`, …), the i-th name ending in i (see [`Run::layer_names`]).
fn only_positions(names: &[&str]) -> bool {
    fn split(name: &str) -> (&str, &str) {
        name.rsplit_once('.').unwrap_or(("", name))
    }
    let prefix = names.first().map(|n| split(n).0);
    names.iter().enumerate().all(|(i, n)| {
        let (p, index) = split(n);
        Some(p) == prefix && index == i.to_string()
    })
}

fn epoch(r: &Row<'_>) -> Result<u32, RunError> {
    let v = r.u64("epoch")?;
    u32::try_from(v).map_err(|_| r.error(format!("column `epoch`: {v} is too large")))
}

/// The `t` column of `time_steps.csv`: time steps are numbered from 1.
fn time_step(r: &Row<'_>) -> Result<u32, RunError> {
    let v = r.u64("t")?;
    if v == 0 {
        return Err(r.error("column `t`: time steps are numbered from 1 (the first input), found 0"));
    }
    u32::try_from(v).map_err(|_| r.error(format!("column `t`: {v} is too large")))
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

/// "a", "a and b", "a, b and c": the sentences' lists (the reader's notes and xtask's readings).
pub fn join(mut parts: Vec<String>) -> String {
    match parts.len() {
        0 => String::new(),
        1 => parts.remove(0),
        _ => {
            let last = parts.pop().unwrap_or_default();
            format!("{} and {last}", parts.join(", "))
        }
    }
}

/// "s" for a count other than one.
pub fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scratch run folder holding `files`, removed when dropped.
    struct Folder(PathBuf);

    impl Folder {
        fn with(name: &str, files: &[(&str, String)]) -> Folder {
            let dir = std::env::temp_dir().join(format!("xtask-run-{}-{name}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("create a scratch folder");
            for (file, text) in files {
                std::fs::write(dir.join(file), text).expect("write a file");
            }
            Folder(dir)
        }
    }

    impl Drop for Folder {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// The four files every run has, with one epoch row and one probe row per layer of a
    /// 2-layer model.
    fn base(manifest: serde_json::Value) -> Vec<(&'static str, String)> {
        let layers = format!(
            "{}\nm,0,0,probe,1,{g},1e-6\nm,0,0,probe,2,{g},1e-2\n",
            runfolder::header(&runfolder::LAYERS_COLUMNS),
            g = metric::GRAD_NORM_WEIGHT
        );
        vec![
            (runfolder::MANIFEST, manifest.to_string()),
            (runfolder::CONFIG, "name = \"t\"\n".to_string()),
            (
                runfolder::EPOCHS,
                format!("{}\nm,0,2.3,0.1,2.3,0.1,1.5,,\n", runfolder::header(&runfolder::EPOCHS_COLUMNS)),
            ),
            (runfolder::STEPS, format!("{}\n", runfolder::header(&runfolder::STEPS_COLUMNS))),
            (runfolder::LAYERS, layers),
            (runfolder::LAYER_EPOCHS, format!("{}\n", runfolder::header(&runfolder::LAYER_EPOCHS_COLUMNS))),
        ]
    }

    #[test]
    fn an_old_run_without_the_new_files_loads() {
        let manifest =
            serde_json::json!({ "name": "t", "status": "completed", "models": [{ "name": "m", "layers": [4, 3, 2] }] });
        let folder = Folder::with("old", &base(manifest));
        let run = Run::load(&folder.0).expect("an old run loads");
        assert_eq!(run.layer_count("m"), 2);
        assert_eq!(run.model("m").map(|m| m.widths.clone()), Some(vec![4, 3, 2]));
        assert!(run.layer_names("m").is_none());
        assert!(run.params.is_empty() && !run.has_histograms("m"));
        assert!(run.time_steps.is_empty() && !run.is_recurrent("m"));
        assert!(run.notes.is_empty(), "{:?}", run.notes);
    }

    #[test]
    fn params_and_histograms_are_read_when_present() {
        let manifest = serde_json::json!({ "name": "t", "status": "completed", "models": [{ "name": "m", "layers": [
            { "name": "conv1", "params": [{ "path": "conv1.weight", "shape": [2, 1, 3, 3] }] },
            { "name": "fc", "params": [] }
        ] }] });
        let mut files = base(manifest);
        files.push((
            runfolder::PARAMS,
            format!(
                "{}\nm,0,0,probe,1,conv1.weight,{},1e-6\n",
                runfolder::header(&runfolder::PARAMS_COLUMNS),
                metric::GRAD_NORM
            ),
        ));
        files.push((
            runfolder::HISTOGRAMS,
            format!(
                "{}\nm,0,0,probe,1,zero,2\nm,0,0,probe,1,1e-9,6\nm,0,0,probe,2,1e3+,1\nm,1,4,train,1,subnormal,5\n",
                runfolder::header(&runfolder::HISTOGRAMS_COLUMNS)
            ),
        ));
        let folder = Folder::with("new", &files);
        let run = Run::load(&folder.0).expect("a new run loads");
        assert_eq!(run.layer_count("m"), 2);
        assert_eq!(run.layer_names("m"), Some(vec!["conv1", "fc"]));
        assert_eq!(run.params.len(), 1);
        assert_eq!(run.params[0].param, "conv1.weight");
        let probe = run.histograms("m", Source::Probe);
        assert_eq!(probe.len(), 1);
        assert_eq!(probe[0].layers[&1][Bin::Zero.index()], 2);
        assert_eq!(probe[0].share_below(1, -8), Some(1.0));
        assert_eq!(probe[0].share_below(2, -8), Some(0.0));
        assert_eq!(run.histograms("m", Source::Train)[0].step, 4);

        // A bin this version does not know is an error naming the file and line.
        files.pop();
        files.push((
            runfolder::HISTOGRAMS,
            format!(
                "{}\nm,0,0,probe,1,zero,2\nm,0,0,probe,1,1e-50,6\n",
                runfolder::header(&runfolder::HISTOGRAMS_COLUMNS)
            ),
        ));
        let folder = Folder::with("bad-bin", &files);
        let err = Run::load(&folder.0).expect_err("a bad bin").to_string();
        assert!(err.contains(&format!("{}:3:", runfolder::HISTOGRAMS)) && err.contains("1e-50"), "{err}");
    }

    #[test]
    fn time_steps_are_read_when_present_and_a_bad_t_names_the_line() {
        let manifest = serde_json::json!({ "name": "t", "status": "completed",
            "dataset": { "sequence_length": 3 },
            "models": [{ "name": "m", "kind": "rnn", "hidden": 4, "layers": [{ "name": "rnn" }, { "name": "readout" }] }] });
        let mut files = base(manifest);
        let h = metric::HIDDEN_DELTA_NORM;
        files.push((
            runfolder::TIME_STEPS,
            format!(
                "{}\nm,0,0,probe,1,1,{h},1e-6\nm,0,0,probe,1,2,{h},1e-3\nm,0,0,probe,1,3,{h},1\nm,1,8,train,1,3,{h},inf\n",
                runfolder::header(&runfolder::TIME_STEPS_COLUMNS)
            ),
        ));
        let folder = Folder::with("time", &files);
        let run = Run::load(&folder.0).expect("a recurrent run loads");
        assert!(run.is_recurrent("m"));
        assert_eq!(run.recurrent_layers("m", h), [1]);
        assert_eq!(run.time_profile("m", h, 1, 0), [(1, 1e-6), (2, 1e-3), (3, 1.0)]);
        assert_eq!(run.sequence_length("m"), Some(3));
        assert!(run.time_metric("m", Source::Train, h, 1).is_empty(), "the infinity is left out");
        assert!(run.notes.iter().any(|n| n.contains("1 value in time_steps.csv is not finite")), "{:?}", run.notes);

        files.pop();
        files.push((
            runfolder::TIME_STEPS,
            format!("{}\nm,0,0,probe,1,0,{h},1e-6\n", runfolder::header(&runfolder::TIME_STEPS_COLUMNS)),
        ));
        let folder = Folder::with("time-0", &files);
        let err = Run::load(&folder.0).expect_err("t = 0").to_string();
        assert!(err.contains(&format!("{}:2:", runfolder::TIME_STEPS)) && err.contains("column `t`"), "{err}");
    }

    #[test]
    fn status_notes_name_what_the_manifest_says() {
        let manifest = |status: &str| -> Manifest {
            serde_json::from_value(serde_json::json!({ "status": status, "models": [] })).expect("manifest")
        };
        let running = status_note(&manifest("running"), "running").expect("a note");
        assert!(
            running.contains("still running") && running.contains("stopped without closing (killed?)"),
            "{running}"
        );
        assert_eq!(status_note(&manifest("completed"), "completed"), None);
        let unknown = status_note(&manifest("paused"), "paused").expect("a note");
        assert!(unknown.contains("“paused”"), "{unknown}");

        // The word comes from the raw manifest; a manifest without one has an unknown status.
        let folder = Folder::with("paused", &base(serde_json::json!({ "status": "paused", "models": [] })));
        let run = Run::load(&folder.0).expect("loads");
        assert_eq!(run.status_word(), "paused");
        assert!(run.notes.iter().any(|n| n.contains("“paused”")), "{:?}", run.notes);
        let folder = Folder::with("no-status", &base(serde_json::json!({ "models": [] })));
        let run = Run::load(&folder.0).expect("loads");
        assert_eq!(run.status_word(), "unknown");
    }

    #[test]
    fn a_running_run_whose_process_is_gone_stopped_without_closing() {
        let Some(me) = ProcessInfo::current() else {
            // Without /proc no process is recorded, and the report says it cannot tell.
            return;
        };
        let mut child = std::process::Command::new("true").spawn().expect("run `true`");
        let dead = ProcessInfo { pid: child.id(), ..me.clone() };
        child.wait().expect("wait for `true`");
        let with = |process: &ProcessInfo| {
            serde_json::json!({ "status": "running", "models": [], "process": serde_json::to_value(process).expect("json") })
        };
        let folder = Folder::with("killed", &base(with(&dead)));
        let run = Run::load(&folder.0).expect("loads");
        assert_eq!(run.status_word(), "running");
        assert_eq!(run.status_shown(), STOPPED_WITHOUT_CLOSING);
        assert!(run.notes.iter().any(|n| n.contains(STOPPED_WITHOUT_CLOSING) && n.contains("is gone")), "{:?}", run.notes);

        let folder = Folder::with("alive", &base(with(&me)));
        let run = Run::load(&folder.0).expect("loads");
        assert_eq!(run.status_shown(), "running");
        assert!(run.notes.iter().any(|n| n.contains("is still running.")), "{:?}", run.notes);
    }

    #[test]
    fn layers_named_only_by_position_are_shown_by_number() {
        assert!(only_positions(&["layers.0", "layers.1", "layers.2"]));
        assert!(only_positions(&["0", "1"]));
        assert!(!only_positions(&["layers.0", "layers.2"]));
        assert!(!only_positions(&["layers.0", "head.1"]));
        assert!(!only_positions(&["conv1", "conv2", "fc1"]));
        assert!(!only_positions(&["block.0.conv", "block.1.conv"]));
    }
}
