//! burn-train's `Learner`: gradflow in the training burn users already have.
//!
//! No metric, event or renderer of burn-train sees gradients or the model. Two of its hooks
//! do, and a [`Flow`] made with [`Flow::learner`] is fed by both:
//! - `TrainStep::optimize(self, optim, lr, grads)` receives the model before and after the
//!   update and every parameter's gradient (after gradient accumulation, before burn's
//!   per-tensor clipping): overridden to call [`optimize`], it measures the parameters;
//! - a metric ([`Flow::metrics`], registered with `SupervisedTraining::metrics`) receives each
//!   batch's loss with the Learner's progress and learning rate, and the ends of the training
//!   and validation splits: it writes each measured step with its loss, and each epoch's row,
//!   in the Learner's own numbering.
//!
//! Taps stay opt-in: in `TrainStep::step`, [`taps`] before the forward pass and
//! [`read_taps`] after `backward`, before `TrainOutput::new` consumes the gradients.
//!
//! ```no_run
//! use burn::train::{ClassificationOutput, TrainOutput, TrainStep};
//! use gradflow::learner::{Grads, Lr, Optim};
//! # use burn::prelude::*;
//! # #[derive(Module, Debug)]
//! # struct Model { linear: burn::nn::Linear }
//! # struct Batch { x: Tensor<2>, y: Tensor<1, Int> }
//! # impl Model {
//! #     fn forward_classification(&self, b: Batch) -> ClassificationOutput { unimplemented!() }
//! # }
//!
//! impl TrainStep for Model {
//!     type Input = Batch;
//!     type Output = ClassificationOutput;
//!
//!     fn step(&self, batch: Batch) -> TrainOutput<ClassificationOutput> {
//!         let item = self.forward_classification(batch);
//!         TrainOutput::new(self, item.loss.backward(), item)
//!     }
//!
//!     fn optimize(self, o: &mut Optim, lr: Lr, g: Grads) -> Self {
//!         gradflow::learner::optimize(self, o, lr, g)
//!     }
//! }
//! ```
//!
//! Multi-device training: with `MultiDevice` and the main-device optimizer, `optimize` runs
//! once, on the main device, with the summed gradients, and is measured there; with DDP it
//! runs on every device after the all-reduce, and only the device the Flow's model was made
//! on records (so the run folder is written once). Sharded optimization (`optimize_multi`)
//! spreads each parameter's gradient over the devices: [`optimize_multi`] trains as burn
//! does and ends the run as `failed` with a sentence that says so.

use crate::error::Error;
use crate::flow::{Flow, FlowConfig, Mode, Queued, Shared, first_param, first_param_on, lock};
use crate::taps::Taps;
use crate::watch::GradSource;
use burn::module::Module;
use burn::tensor::Gradients;
use burn::train::metric::{
    LossInput, LossMetric, Metric, MetricMetadata, MetricName, Numeric, NumericEntry, SerializedEntry,
};
use burn::train::{InferenceStep, LearnerModel, LearningResult, MetricRegistration, SupervisedTraining, TrainStep};
use runfolder::{EpochRecord, Status};
use std::path::Path;
use std::sync::{Arc, Mutex, Weak};

pub use burn::lr_scheduler::module_lr_scheduler::ModuleLearningRate;
pub use burn::optim::{GradientsParams, ModuleOptimizer, MultiGradientsParams};

/// `TrainStep::optimize`'s optimizer, by a short name, so that the override's signature
/// fits on one line: `fn optimize(self, o: &mut Optim, lr: Lr, g: Grads) -> Self`.
pub type Optim = ModuleOptimizer;
/// `TrainStep::optimize`'s learning rate, by a short name (see [`Optim`]).
pub type Lr = ModuleLearningRate;
/// `TrainStep::optimize`'s gradients, by a short name (see [`Optim`]).
pub type Grads = GradientsParams;

/// Every live Flow, found by its model's first parameter id (a model keeps its ids through
/// `fork`, `valid` and the optimizer's updates, and DDP's copies share them).
static FLOWS: Mutex<Vec<Weak<Shared>>> = Mutex::new(Vec::new());

pub(crate) fn register(shared: &Arc<Shared>) {
    let mut flows = FLOWS.lock().unwrap_or_else(|p| p.into_inner());
    flows.retain(|w| w.strong_count() > 0);
    flows.push(Arc::downgrade(shared));
}

/// The live Flow whose model's first parameter is `id`, if any.
fn flow_of(id: burn::module::ParamId) -> Option<Arc<Shared>> {
    let flows = FLOWS.lock().unwrap_or_else(|p| p.into_inner());
    flows.iter().rev().filter_map(Weak::upgrade).find(|s| s.first == id)
}

/// The live Flow that watches `model`, if any.
fn find<M: Module>(model: &M) -> Option<Arc<Shared>> {
    flow_of(first_param(model)?)
}

/// The live Flow that watches `model`, when `model` lives on the device that the Flow records
/// from (DDP's other devices do not). Every step asks this twice, so the model is walked once
/// for its first parameter's id and device together (`Module::devices` would walk it again
/// and gather every parameter's device into a new vector).
fn find_on_main<M: Module>(model: &M) -> Option<Arc<Shared>> {
    let (id, here) = first_param_on(model)?;
    let shared = flow_of(id)?;
    match &shared.device {
        Some(main) if *main != here => None,
        _ => Some(shared),
    }
}

impl FlowConfig {
    /// Watches `model` (as built, before `Learner::new`) for a run under burn-train's
    /// `Learner`, recorded in `dir` (see [`FlowConfig::init`] for an existing folder). Quiet:
    /// everything goes to the run folder, and burn-train's renderer keeps the terminal.
    pub fn init_learner<M: Module>(self, dir: impl AsRef<Path>, model: &M) -> Result<Flow, Error> {
        self.start(dir.as_ref(), model, Mode::Learner)
    }
}

impl Flow {
    /// A Flow with the default settings for a run under burn-train's `Learner`: see
    /// [`FlowConfig::init_learner`] and the [`crate::learner`] module.
    pub fn learner<M: Module>(dir: impl AsRef<Path>, model: &M) -> Result<Flow, Error> {
        FlowConfig::new().init_learner(dir, model)
    }

    /// The metric that gives the run the Learner's losses, steps, epochs and learning rate,
    /// for `SupervisedTraining::metrics(flow.metrics())`. It is a training and a validation
    /// metric at once; the renderer shows it as `gradflow loss`.
    pub fn metrics(&self) -> FlowMetrics {
        FlowMetrics { train: FlowMetric::new(self.shared(), Split::Train), valid: FlowMetric::new(self.shared(), Split::Valid) }
    }

    /// Ends a run under the Learner from what `launch` returned: `failed` with the Learner's
    /// error, `interrupted` when it was stopped, else `completed` (or `failed` with the first
    /// error gradflow met while the Learner ran, which is also returned).
    pub fn close<M>(mut self, result: &LearningResult<M>) -> Result<(), Error> {
        self.mark_finished();
        let mut core = lock(self.shared());
        core.flush_epochs()?;
        if !core.disabled && core.items.batches_per_epoch.is_none() && !core.queue.is_empty() {
            core.fail(
                "the Learner optimized the model but the Flow's metric saw no batch: register it with \
                 `.metrics(flow.metrics())` on SupervisedTraining",
            );
        }
        let kept = core.error.clone();
        match (&result.error, &result.interrupted) {
            (Some(e), _) => core.close(Status::Failed, Some(format!("the Learner failed: {e}")))?,
            (None, Some(stop)) => {
                let why = stop.reason.clone().unwrap_or_else(|| "the Learner was stopped before its last epoch".to_string());
                core.close(Status::Interrupted, Some(why))?
            }
            (None, None) => core.close(Status::Completed, None)?,
        }
        match kept {
            Some(e) => Err(Error::Run(e)),
            None => Ok(()),
        }
    }
}

/// `TrainStep::optimize` with the parameters measured: call it from the override, with the
/// override's own arguments. A step that the cadence measures reads every parameter's value
/// and gradient before the update and the values after it; the others cost one lock.
///
/// A model that no Flow watches is optimized as burn would do it.
pub fn optimize<M: Module>(model: M, optim: &mut ModuleOptimizer, lr: ModuleLearningRate, grads: GradientsParams) -> M {
    let Some(shared) = find_on_main(&model) else { return optim.step(lr, model, grads) };
    let mut core = lock(&shared);
    core.step += 1;
    let step = core.step;
    let tapped = match core.tapped.take() {
        Some((s, t)) if s == step => Some(t),
        _ => None,
    };
    let logged = core.is_logged(step) && !core.closed;
    let measured = match logged {
        true => match core.watch.read_params(&model, GradSource::Params(&grads), tapped) {
            Ok(m) => Some(m),
            Err(e) => {
                core.fail(e);
                None
            }
        },
        false => None,
    };
    let after = optim.step(lr, model, grads);
    if let Some(measured) = measured {
        let measurement = core.watch.updated(measured, &after);
        core.queue.push_back(Queued { step, measurement });
    }
    after
}

/// `TrainStep::optimize_multi` (sharded multi-device optimization): the model is trained as
/// burn does it, and the run ends as `failed` with the reason, since each parameter's
/// gradient is spread over the devices in parts that no single read sees whole.
pub fn optimize_multi<M: Module>(model: M, optim: &mut ModuleOptimizer, lr: ModuleLearningRate, grads: MultiGradientsParams) -> M {
    if let Some(shared) = find(&model) {
        lock(&shared).fail(
            "sharded multi-device optimization (optimize_multi) is not measured: its gradients are spread over the devices; \
             use MultiDevice with the main-device optimizer, or DDP",
        );
    }
    optim.step_multi(lr, model, grads)
}

/// The taps for the forward pass in `TrainStep::step`: on when the optimizer step that these
/// gradients feed is measured. Off (and free) for a model that no Flow watches.
pub fn taps<M: Module>(model: &M) -> Taps {
    match find_on_main(model) {
        Some(shared) => lock(&shared).next_taps(),
        None => Taps::off(),
    }
}

/// Reads what `taps` recorded from the pass's gradients, in `TrainStep::step` after
/// `backward` and before `TrainOutput::new` (which keeps only the parameters' gradients). With
/// gradient accumulation the last batch before the optimizer step is the one kept.
pub fn read_taps<M: Module>(model: &M, taps: &Taps, grads: &Gradients) {
    if !taps.is_on() {
        return;
    }
    let Some(shared) = find(model) else { return };
    let mut core = lock(&shared);
    let next = core.step + 1;
    match core.watch.read_taps(grads, taps) {
        Ok(t) => core.tapped = Some((next, t)),
        Err(e) => core.fail(e),
    }
}

/// Which split a [`FlowMetric`] is registered for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Split {
    Train,
    Valid,
}

/// The metric of a Flow under the Learner (see [`Flow::metrics`]). It shows the batch loss
/// as burn's `LossMetric` does, and hands each loss, with the Learner's progress and learning
/// rate, to the run.
#[derive(Clone)]
pub struct FlowMetric {
    shared: Arc<Shared>,
    split: Split,
    loss: LossMetric,
    name: MetricName,
}

impl FlowMetric {
    fn new(shared: &Arc<Shared>, split: Split) -> FlowMetric {
        FlowMetric { shared: shared.clone(), split, loss: LossMetric::new(), name: Arc::new("gradflow loss".to_string()) }
    }
}

/// A [`FlowMetric`] for training and one for validation, registered together by
/// `SupervisedTraining::metrics`.
pub struct FlowMetrics {
    train: FlowMetric,
    valid: FlowMetric,
}

impl<M> MetricRegistration<M> for FlowMetrics
where
    M: LearnerModel,
    <M as TrainStep>::Output: burn::train::metric::Adaptor<LossInput>,
    <M as InferenceStep>::Output: burn::train::metric::Adaptor<LossInput>,
{
    fn register(self, builder: SupervisedTraining<M>) -> SupervisedTraining<M> {
        builder.metric_train(self.train).metric_valid(self.valid)
    }
}

impl Metric for FlowMetric {
    type Input = LossInput;

    fn name(&self) -> MetricName {
        self.name.clone()
    }

    fn update(&mut self, item: &LossInput, metadata: &MetricMetadata) -> Result<SerializedEntry, burn::tensor::TensorReadError> {
        // Nothing to save: burn-train's file logger skips an entry whose saved form is empty,
        // so the batch's loss, which `LossMetric` already logs, is not written a second time.
        // Each logged entry is a message to a logger thread and a write to a file, per batch,
        // on the cores the training uses; the renderer still shows the formatted entry.
        let entry = SerializedEntry::new(self.loss.update(item, metadata)?.formatted, String::new());
        let (loss, count) = match self.loss.value() {
            Some(NumericEntry::Aggregated { aggregated_value, count }) => (aggregated_value, count),
            Some(e) => (e.current(), 1),
            None => (f64::NAN, 1),
        };
        let mut core = lock(&self.shared);
        if core.disabled {
            return Ok(entry);
        }
        let written = match self.split {
            Split::Train => train_batch(&mut core, loss, count, metadata),
            Split::Valid => {
                core.items.valid.0 += loss * count as f64;
                core.items.valid.1 += count;
                Ok(())
            }
        };
        if let Err(e) = written {
            core.fail(e);
        }
        Ok(entry)
    }

    fn compute(&mut self) -> Result<SerializedEntry, burn::tensor::TensorReadError> {
        self.loss.compute()
    }

    /// The end of a split: the training split's end waits for validation, whose end writes
    /// the epoch's row.
    fn clear(&mut self) {
        self.loss.clear();
        let mut core = lock(&self.shared);
        if core.disabled {
            return;
        }
        let written = match self.split {
            Split::Train => {
                core.items.train_done = true;
                Ok(())
            }
            Split::Valid => end_epoch(&mut core),
        };
        if let Err(e) = written {
            core.fail(e);
        }
    }
}

/// One training batch's loss: at a step boundary (every `grads_accumulation` batches, and
/// the epoch's last batch), the step's row with the mean loss of its batches, when the step
/// was measured.
fn train_batch(core: &mut crate::flow::Core, loss: f64, count: usize, metadata: &MetricMetadata) -> Result<(), Error> {
    let progress = &metadata.progress;
    if core.items.batches_per_epoch.is_none() && metadata.iteration == Some(1) && progress.items_processed > 0 {
        // The epoch's length in batches, from its first batch: the Learner's own count, which
        // decides the last step of each epoch (always measured).
        let batches = progress.items_total.div_ceil(progress.items_processed);
        core.items.batches_per_epoch = Some(batches);
        core.steps_per_epoch = Some(batches.div_ceil(core.accumulation));
    }
    core.items.train.0 += loss * count as f64;
    core.items.train.1 += count;
    core.items.batches += 1;
    core.items.group_loss += loss;
    let last = progress.items_processed >= progress.items_total;
    if core.items.batches < core.accumulation && !last {
        return Ok(());
    }
    let step_loss = core.items.group_loss / core.items.batches as f64;
    core.items.batches = 0;
    core.items.group_loss = 0.0;
    core.items.steps += 1;
    let step = core.items.steps;
    let lr = metadata.lr.as_ref().map(|lr| lr.base());
    while core.queue.front().is_some_and(|q| q.step < step) {
        core.queue.pop_front();
    }
    if core.queue.front().is_some_and(|q| q.step == step) {
        let q = core.queue.pop_front().expect("the front was just seen");
        let epoch = core.epoch;
        let name = core.name.clone();
        core.recorder.set_learning_rate(&name, lr)?;
        core.record(epoch, step, step_loss, &q.measurement)?;
    }
    Ok(())
}

/// The end of a Learner's epoch, once its training split has ended: its row in `epochs.csv` (the training batches' mean loss, and the
/// validation's when there was one) and the manifest.
pub(crate) fn end_epoch(core: &mut crate::flow::Core) -> Result<(), Error> {
    if !core.items.train_done {
        return Ok(());
    }
    let mean = |(sum, n): (f64, usize)| (n > 0).then(|| sum / n as f64);
    let train = mean(core.items.train).unwrap_or(f64::NAN);
    let valid = mean(core.items.valid).map(|l| (l, None));
    let (name, epoch) = (core.name.clone(), core.epoch);
    let seconds = core.epoch_started.elapsed().as_secs_f64();
    core.items.train = (0.0, 0);
    core.items.valid = (0.0, 0);
    core.items.train_done = false;
    core.epoch += 1;
    core.epoch_started = std::time::Instant::now();
    core.recorder.epoch(&EpochRecord { model: &name, epoch, train: (train, None), test: None, valid, seconds })?;
    let watch = &core.watch;
    core.recorder.checkpoint(&[watch])
}
