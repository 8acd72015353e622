//! The sink: everything a training loop measured goes here, once, and from here to the run
//! folder's files and to the live view.

use crate::error::Error;
use crate::measure::Measurement;
use crate::view::{LayerView, ModelView, View};
use crate::watch::Watch;
use runfolder::{
    Divergence, EpochRecord, HistogramRow, LayerEpochRow, LayerRow, Manifest, ModelInfo, ParamRow, RunWriter, SOURCE_PROBE, SOURCE_TRAIN,
    Status, StepRow, TelemetryInfo, TimeStepRow,
};
use std::collections::BTreeMap;
use std::path::Path;

/// One model of the run: its layer and parameter names, and the running aggregates of the
/// epoch's logged steps.
struct Model {
    name: String,
    layers: Vec<String>,
    /// Per parameter, in the watch's order: its 1-based layer and its path.
    params: Vec<(usize, String)>,
    /// (layer, metric): sum, min, max, count over the epoch's logged steps.
    aggregates: BTreeMap<(usize, &'static str), (f64, f64, f64, usize)>,
    /// The learning rate of the steps that follow, when the caller told it.
    lr: Option<f64>,
}

/// A run being recorded: the run folder's writer, its manifest, and the view. A run of
/// several models adds each one's [`crate::Watch`], and hands each measured step to
/// [`Recorder::step`]:
///
/// ```
/// use burn::nn::{Linear, LinearConfig};
/// use burn::prelude::*;
/// use gradflow::runfolder::{ModelInfo, Status};
/// use gradflow::{Recorder, Watch};
///
/// # let _ = std::fs::remove_dir_all("runs/two-models");
/// let device = Device::flex().autodiff();
/// let (a, b): (Linear, Linear) = (LinearConfig::new(3, 1).init(&device), LinearConfig::new(3, 1).init(&device));
/// let mut run = Recorder::named(std::path::Path::new("runs/two-models"), "two-models").unwrap();
/// let (mut wa, mut wb) = (Watch::new("a", &a).unwrap(), Watch::new("b", &b).unwrap());
/// run.add(&wa, ModelInfo::default()).unwrap();
/// run.add(&wb, ModelInfo::default()).unwrap();
/// for (name, model, watch) in [("a", &a, &mut wa), ("b", &b, &mut wb)] {
///     let loss = model.forward(Tensor::<2>::ones([2, 3], &device)).sum();
///     let taps = watch.taps(false);
///     let m = watch.read(model, &loss.backward(), &taps).unwrap().into_measurement();
///     run.step(name, 1, 1, 0.0, &m, m.grad_norm).unwrap();
/// }
/// run.finish(Status::Completed, None).unwrap();
/// # std::fs::remove_dir_all("runs/two-models").unwrap();
/// ```
pub struct Recorder {
    writer: RunWriter,
    manifest: Manifest,
    view: Box<dyn View>,
    models: Vec<Model>,
}

impl Recorder {
    /// Creates the run folder at `dir` (which must not exist, or be empty), with
    /// `config.toml` when there is a config to save, and writes the manifest: status
    /// `running`, and `started_at`, `version` of this library, the git revision and the
    /// writing process filled in where the caller left them empty.
    pub fn create(dir: &Path, mut manifest: Manifest, config_toml: Option<&str>, view: Box<dyn View>) -> Result<Recorder, Error> {
        let writer = RunWriter::create(dir, config_toml)?;
        manifest.status = Status::Running;
        manifest.started_at.get_or_insert_with(runfolder::now_rfc3339);
        manifest.seed = manifest.seed.or_else(crate::seed::recorded);
        // Who writes the run, so that a report can tell a killed run from one still training.
        manifest.process = manifest.process.take().or_else(runfolder::ProcessInfo::current);
        manifest.git_revision = manifest.git_revision.take().or_else(runfolder::git_revision);
        manifest.version.get_or_insert_with(|| env!("CARGO_PKG_VERSION").to_string());
        let recorder = Recorder { writer, manifest, view, models: Vec::new() };
        recorder.writer.write_manifest(&recorder.manifest)?;
        Ok(recorder)
    }

    /// Reopens the run folder `dir` to go on with model `model` after its last complete
    /// epoch (see `runfolder::RunWriter::resume`): `None` for a new run (no folder, or an
    /// empty one). The model is to be added again with [`Recorder::add`]; the manifest says
    /// `running` again, with this process as its writer.
    pub fn resume(dir: &Path, model: &str) -> Result<Option<(Recorder, runfolder::ResumeAt)>, Error> {
        let Some((writer, mut manifest, at)) = RunWriter::resume(dir, model)? else { return Ok(None) };
        manifest.models.retain(|m| m.name != model);
        manifest.status = Status::Running;
        manifest.reason = None;
        manifest.ended_at = None;
        manifest.process = runfolder::ProcessInfo::current();
        let recorder = Recorder { writer, manifest, view: Box::new(crate::view::Silent), models: Vec::new() };
        recorder.writer.write_manifest(&recorder.manifest)?;
        Ok(Some((recorder, at)))
    }

    /// Replaces the view.
    pub fn set_view(&mut self, view: Box<dyn View>) {
        self.view = view;
    }

    /// A run with the default manifest for `name`, viewed on stdout (live on a terminal,
    /// plain lines otherwise): the shortest way to record a model of one's own.
    pub fn named(dir: &Path, name: &str) -> Result<Recorder, Error> {
        let manifest = Manifest { name: name.to_string(), ..Manifest::default() };
        Recorder::create(dir, manifest, None, crate::view::for_stdout())
    }

    /// The run folder.
    pub fn path(&self) -> &Path {
        self.writer.path()
    }

    /// The manifest, for the caller's own fields (dataset, task, loss, telemetry).
    pub fn manifest_mut(&mut self) -> &mut Manifest {
        &mut self.manifest
    }

    /// Adds a watched model. `info` carries what the caller knows of it (an MLP's settings);
    /// its name, layers and parameter count come from the watch.
    pub fn add(&mut self, watch: &Watch, mut info: ModelInfo) -> Result<(), Error> {
        if self.models.iter().any(|m| m.name == watch.name()) {
            return Err(Error::DuplicateModel(watch.name().to_string()));
        }
        info.name = watch.name().to_string();
        info.layers = watch.layer_infos();
        info.parameters.get_or_insert(watch.num_params());
        let layers: Vec<String> = info.layers.iter().map(|l| l.name.clone()).collect();
        self.view.start_model(watch.name(), &layers);
        self.manifest.models.push(info);
        if self.manifest.telemetry.is_none() {
            let c = watch.cadence();
            self.manifest.telemetry = Some(TelemetryInfo { enabled: true, every: c.every, early_steps: c.early_steps(), probe: 0 });
        }
        let params = watch.layout().params.iter().map(|p| (p.layer + 1, p.path.clone())).collect();
        self.models.push(Model { name: watch.name().to_string(), layers, params, aggregates: BTreeMap::new(), lr: None });
        self.writer.write_manifest(&self.manifest)?;
        Ok(())
    }

    /// The learning rate of `model`'s steps from now on, written in `steps.csv`'s `lr` column
    /// (empty until told).
    pub fn set_learning_rate(&mut self, model: &str, lr: Option<f64>) -> Result<(), Error> {
        let k = self.model(model)?;
        self.models[k].lr = lr;
        Ok(())
    }

    /// Starts the progress view.
    pub fn start(&mut self, epochs: usize, steps_per_epoch: usize) {
        self.view.start(epochs, steps_per_epoch);
    }

    /// A logged training step: the steps row, the train rows of every layer, parameter and
    /// histogram, and the view. `grad_norm_clipped` is the global norm after clipping (the
    /// measurement's own when nothing was clipped).
    ///
    /// A measurement with a non-finite gradient or value (or loss) is not written: the run
    /// ends there as `diverged`, the manifest naming the step and the parameter, and the
    /// error says the same, so that the caller's loop stops.
    pub fn step(&mut self, model: &str, epoch: usize, step: usize, loss: f64, m: &Measurement, grad_norm_clipped: f64) -> Result<(), Error> {
        let k = self.model(model)?;
        let bad = m.non_finite.clone().or_else(|| (!loss.is_finite()).then(|| "the loss".to_string()));
        self.stop_if_diverged(model, step, bad)?;
        let lr = self.models[k].lr;
        self.writer.step(&StepRow { model, epoch, step, loss, grad_norm: m.grad_norm, grad_norm_clipped, lr })?;
        self.rows(model, epoch, step, SOURCE_TRAIN, m)?;
        let aggregates = &mut self.models[k].aggregates;
        for (i, layer) in m.layers.iter().enumerate() {
            for (metric, v) in layer.rows() {
                let e = aggregates.entry((i + 1, metric)).or_insert((0.0, f64::INFINITY, f64::NEG_INFINITY, 0));
                *e = (e.0 + v, e.1.min(v), e.2.max(v), e.3 + 1);
            }
        }
        let view = model_view(&self.models[k], epoch, step, loss, m);
        self.view.layers(&view);
        Ok(())
    }

    /// A probe measurement (a fixed set, no update): its layer, parameter and histogram rows.
    /// Like [`Recorder::step`], a measurement that is not finite ends the run as `diverged`.
    pub fn probe(&mut self, model: &str, epoch: usize, step: usize, m: &Measurement) -> Result<(), Error> {
        self.model(model)?;
        self.stop_if_diverged(model, step, m.non_finite.clone())?;
        self.rows(model, epoch, step, SOURCE_PROBE, m)
    }

    /// One model of several stopped on a non-finite value while the others train on: the
    /// manifest's entry for it says where and why (rewritten now, so that a report made while
    /// the run goes on shows it), and the view says so. Call it instead of [`Recorder::step`]
    /// for that model's bad step; its rows so far stay as they are. Ending the whole run is
    /// [`Recorder::finish`] with [`Status::Diverged`].
    pub fn diverged(&mut self, model: &str, divergence: Divergence) -> Result<(), Error> {
        self.model(model)?;
        self.view.note(&format!("{model}: diverged at step {} (epoch {}): {}", divergence.step, divergence.epoch, divergence.reason));
        if let Some(info) = self.manifest.models.iter_mut().find(|m| m.name == model) {
            info.diverged = Some(divergence);
        }
        self.flush()?;
        Ok(self.writer.write_manifest(&self.manifest)?)
    }

    fn stop_if_diverged(&mut self, model: &str, step: usize, bad: Option<String>) -> Result<(), Error> {
        let Some(path) = bad else { return Ok(()) };
        let e = Error::Diverged { model: model.to_string(), step, path };
        self.finish(Status::Diverged, Some(e.to_string()))?;
        Err(e)
    }

    /// The end of a model's epoch: the epoch's aggregates of the logged steps, the
    /// `epochs.csv` row, and the view's epoch line.
    pub fn epoch(&mut self, r: &EpochRecord<'_>) -> Result<(), Error> {
        let k = self.model(r.model)?;
        let aggregates = std::mem::take(&mut self.models[k].aggregates);
        for (&(layer, metric), &(sum, min, max, count)) in &aggregates {
            self.writer.layer_epoch(&LayerEpochRow {
                model: r.model,
                epoch: r.epoch,
                layer,
                metric,
                mean: sum / count as f64,
                min,
                max,
                count,
            })?;
        }
        self.writer.epoch(r)?;
        self.view.epoch_end(r.model, r.epoch, r.train, r.test);
        Ok(())
    }

    /// Advances the progress bar by one step.
    pub fn progress(&mut self, epoch: usize, batch: usize) {
        self.view.step(epoch, batch);
    }

    /// A line for the view, shown above the live bars (or among the plain lines): the
    /// diagnosis's finding as it first appears, for one.
    pub fn note(&mut self, line: &str) {
        self.view.note(line);
    }

    /// Makes every row written so far durable.
    pub fn flush(&mut self) -> Result<(), Error> {
        Ok(self.writer.flush()?)
    }

    /// Flushes the rows and rewrites the manifest, with the layers each watch knows now (a
    /// tap seen for the first time adds a layer).
    pub fn checkpoint(&mut self, watches: &[&Watch]) -> Result<(), Error> {
        for w in watches {
            if let Some(info) = self.manifest.models.iter_mut().find(|m| m.name == w.name()) {
                info.layers = w.layer_infos();
            }
            if let Some(m) = self.models.iter_mut().find(|m| m.name == w.name()) {
                m.layers = w.layout().layers.iter().map(|l| l.name.clone()).collect();
            }
        }
        self.flush()?;
        Ok(self.writer.write_manifest(&self.manifest)?)
    }

    /// Ends the run: flushes the files, and writes the manifest with how it ended.
    pub fn finish(&mut self, status: Status, reason: Option<String>) -> Result<(), Error> {
        let flushed = self.flush();
        self.manifest.status = status;
        self.manifest.reason = reason;
        self.manifest.ended_at = Some(runfolder::now_rfc3339());
        self.view.finish();
        self.writer.write_manifest(&self.manifest)?;
        flushed
    }

    fn model(&self, name: &str) -> Result<usize, Error> {
        self.models.iter().position(|m| m.name == name).ok_or_else(|| Error::UnknownModel(name.to_string()))
    }

    fn rows(&mut self, model: &str, epoch: usize, step: usize, source: &str, m: &Measurement) -> Result<(), Error> {
        for (i, layer) in m.layers.iter().enumerate() {
            for (metric, value) in layer.rows() {
                self.writer.layer(&LayerRow { model, epoch, step, source, layer: i + 1, metric, value })?;
            }
        }
        let k = self.model(model)?;
        for ((layer, path), p) in self.models[k].params.iter().zip(&m.params) {
            for (metric, value) in p.rows() {
                self.writer.param(&ParamRow { model, epoch, step, source, layer: *layer, param: path, metric, value })?;
            }
        }
        for ts in &m.time_steps {
            for (metric, value) in ts.rows() {
                self.writer.time_step(&TimeStepRow { model, epoch, step, source, layer: ts.layer + 1, t: ts.t, metric, value })?;
            }
        }
        for (i, h) in m.histograms.iter().enumerate() {
            let Some(h) = h else { continue };
            for (bin, &count) in runfolder::bins().zip(h.iter()).filter(|(_, c)| **c > 0) {
                self.writer.histogram(&HistogramRow { model, epoch, step, source, layer: i + 1, bin, count })?;
            }
        }
        Ok(())
    }
}

/// What the view shows of a logged step: each layer's gradient norm against the last
/// layer's, and its health.
fn model_view(model: &Model, epoch: usize, step: usize, loss: f64, m: &Measurement) -> ModelView {
    let last = m.layers.iter().rev().find_map(|l| l.grad_norm_weight).unwrap_or(0.0);
    let first_recurrent = m.time_steps.iter().find(|t| t.hidden_delta_norm.is_some()).map(|t| t.layer);
    ModelView {
        name: model.name.clone(),
        epoch,
        step,
        loss,
        layers: m
            .layers
            .iter()
            .enumerate()
            .map(|(i, l)| LayerView {
                name: model.layers.get(i).cloned().unwrap_or_else(|| format!("{}", i + 1)),
                grad_norm: l.grad_norm_weight,
                ratio_to_last: match l.grad_norm_weight {
                    Some(g) if last > 0.0 => g / last,
                    _ => f64::NAN,
                },
                saturation: l.saturation,
                dead_fraction: l.dead_fraction,
            })
            .collect(),
        time_steps: m.time_steps.iter().filter(|t| Some(t.layer) == first_recurrent).filter_map(|t| t.hidden_delta_norm).collect(),
    }
}
