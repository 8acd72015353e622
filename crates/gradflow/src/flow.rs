//! `Flow`: one model's run in one object, so that a training loop adds one call per step
//! and one to close the run; under burn-train's `Learner` the same object is fed by
//! `TrainStep::optimize` and a metric (see `learner.rs`).

use crate::error::Error;
use crate::measure::Measurement;
use crate::params::Grouping;
use crate::record::Recorder;
use crate::taps::Taps;
use crate::watch::{Cadence, Measured, Tapped, Watch};
use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::Gradients;
use runfolder::{EpochRecord, Manifest, ModelInfo, Status};
use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

/// How a [`Flow`] watches and records, built the way burn's configs are:
/// `FlowConfig::new().with_steps_per_epoch(50).init("runs/mine", &model)?`.
#[derive(Clone, Debug)]
pub struct FlowConfig {
    model_name: String,
    cadence: Cadence,
    grouping: Grouping,
    steps_per_epoch: Option<usize>,
    grads_accumulation: usize,
    view: Option<bool>,
    seed: Option<u64>,
    enabled: bool,
}

impl Default for FlowConfig {
    fn default() -> Self {
        FlowConfig::new()
    }
}

impl FlowConfig {
    /// The defaults: the model is called `model`, steps 1, 2, 4, 8, 16 and every 25th are
    /// measured, each parameter belongs to the module that owns it, and a loop of one's own
    /// has one epoch until told its length.
    pub fn new() -> FlowConfig {
        FlowConfig {
            model_name: "model".to_string(),
            cadence: Cadence::default(),
            grouping: Grouping::default(),
            steps_per_epoch: None,
            grads_accumulation: 1,
            view: None,
            seed: None,
            enabled: std::env::var("GRADFLOW").map_or(true, |v| v != "off"),
        }
    }

    /// Whether to measure at all (by default yes, unless the environment says `GRADFLOW=off`):
    /// a Flow that does not measure trains as if it were not there, and its run folder holds
    /// the manifest alone, which says so. It is how the telemetry's cost is measured.
    pub fn with_enabled(mut self, enabled: bool) -> FlowConfig {
        self.enabled = enabled;
        self
    }

    /// The model's name in the run folder and the report.
    pub fn with_model_name(mut self, name: impl Into<String>) -> FlowConfig {
        self.model_name = name.into();
        self
    }

    /// Which steps are measured (see [`Cadence`]).
    pub fn with_cadence(mut self, cadence: Cadence) -> FlowConfig {
        self.cadence = cadence;
        self
    }

    /// How parameters are grouped into layers (see [`Grouping`]).
    pub fn with_grouping(mut self, grouping: Grouping) -> FlowConfig {
        self.grouping = grouping;
        self
    }

    /// Optimizer steps per epoch, in a loop of one's own: the epoch's row is written after
    /// its last step, which is always measured. Under burn-train's `Learner` the epochs are
    /// the Learner's own and this is not needed.
    pub fn with_steps_per_epoch(mut self, steps: usize) -> FlowConfig {
        self.steps_per_epoch = Some(steps);
        self
    }

    /// The Learner's `grads_accumulation(n)`, so that the losses of the `n` batches whose
    /// gradients one optimizer step sums are that step's loss. The gradient norms are always
    /// those of the summed gradient that the optimizer sees.
    pub fn with_grads_accumulation(mut self, batches: usize) -> FlowConfig {
        self.grads_accumulation = batches.max(1);
        self
    }

    /// Whether to show the live view on stdout. By default a loop of one's own shows it and
    /// a run under burn-train's `Learner` does not (its own renderer owns the terminal).
    pub fn with_view(mut self, view: bool) -> FlowConfig {
        self.view = Some(view);
        self
    }

    /// The seed to record in the manifest, when it was not set through [`crate::seed`].
    pub fn with_seed(mut self, seed: u64) -> FlowConfig {
        self.seed = Some(seed);
        self
    }

    /// Creates the run folder `dir` and watches `model` (as initialized) in it.
    ///
    /// `dir` must not exist or be empty, unless it holds a run that this model wrote and
    /// that did not complete: then the run is resumed (burn-train's `.checkpoint(epoch)`),
    /// its rows after the last complete epoch are dropped, and new rows are appended.
    pub fn init<M: Module>(self, dir: impl AsRef<Path>, model: &M) -> Result<Flow, Error> {
        self.start(dir.as_ref(), model, Mode::Loop)
    }

    pub(crate) fn start<M: Module>(self, dir: &Path, model: &M, mode: Mode) -> Result<Flow, Error> {
        crate::seed::keep_panic_messages();
        let watch = Watch::grouped(self.model_name.clone(), model, &self.grouping)?.with_cadence(self.cadence.clone());
        let view = match self.view.unwrap_or(mode == Mode::Loop) {
            true => crate::view::for_stdout(),
            false => Box::new(crate::view::Silent) as Box<dyn crate::view::View>,
        };
        let run_name = dir.file_name().map_or_else(|| self.model_name.clone(), |n| n.to_string_lossy().into_owned());
        let (mut recorder, start) = match Recorder::resume(dir, &self.model_name)? {
            Some((mut recorder, at)) => {
                recorder.set_view(view);
                (recorder, at)
            }
            None => {
                let manifest = Manifest { name: run_name, seed: self.seed, ..Manifest::default() };
                (Recorder::create(dir, manifest, None, view)?, runfolder::ResumeAt::default())
            }
        };
        recorder.add(&watch, ModelInfo::default())?;
        recorder.start(0, self.steps_per_epoch.unwrap_or(0));
        let (first, device) = first_param_on(model).ok_or_else(|| Error::NoParameters(self.model_name.clone()))?;
        let device = Some(device);
        let core = Core {
            name: self.model_name,
            watch,
            recorder,
            mode,
            step: start.step,
            epoch: start.epoch + 1,
            epoch_start_step: start.step,
            epoch_started: Instant::now(),
            steps_per_epoch: self.steps_per_epoch,
            accumulation: self.grads_accumulation,
            loss: LossSum::default(),
            pending_epoch: None,
            tapped: None,
            queue: VecDeque::new(),
            items: Items { steps: start.step, ..Items::default() },
            error: None,
            closed: false,
            disabled: !self.enabled,
        };
        let shared = Arc::new(Shared { core: Mutex::new(core), first, device });
        if self.enabled {
            crate::learner::register(&shared);
        }
        let mut flow = Flow { shared, taps: Taps::off(), finished: false };
        flow.taps = flow.next_taps();
        Ok(flow)
    }
}

/// One model's run: its watch, its run folder, and the count of its steps and epochs.
///
/// In a loop of one's own, one call per step and one at the end:
///
/// ```
/// use burn::nn::{Linear, LinearConfig};
/// use burn::optim::SgdConfig;
/// use burn::prelude::*;
///
/// # fn main() -> Result<(), gradflow::Error> {
/// # let dir = std::env::temp_dir().join(format!("gradflow-doc-flow-{}", std::process::id()));
/// let device = Device::flex().autodiff();
/// gradflow::seed(&device, 0);
/// let mut model: Linear = LinearConfig::new(4, 1).init(&device);
/// let mut optim = SgdConfig::new().init();
/// let mut flow = gradflow::FlowConfig::new().with_steps_per_epoch(10).init(&dir, &model)?;
/// for _ in 0..20 {
///     let x = Tensor::<2>::random([8, 4], burn::tensor::Distribution::Default, &device);
///     let loss = model.forward(x).square().mean();
///     let grads = loss.backward();
///     model = flow.step(model, &loss, grads, |model, grads| optim.step(0.1, model, grads))?;
/// }
/// flow.finish()?;
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # Ok(())
/// # }
/// ```
///
/// A `Flow` that is dropped before [`Flow::finish`] (an error returned early with `?`, or a
/// panic) closes its run as `failed`, with the panic's message when there is one, so that a
/// run folder never stays `running` after its program has ended.
pub struct Flow {
    shared: Arc<Shared>,
    /// The taps of the coming step: on when it is measured.
    taps: Taps,
    finished: bool,
}

/// What a Flow shares with burn-train's hooks: `optimize` finds it by the model's first
/// parameter, on the device it was made on.
pub(crate) struct Shared {
    pub(crate) core: Mutex<Core>,
    pub(crate) first: ParamId,
    pub(crate) device: Option<Device>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// A loop of one's own: [`Flow::step`] measures and writes.
    Loop,
    /// burn-train's Learner: `optimize` measures, the metric writes.
    Learner,
}

/// The sum of a loop's step losses, kept on the device so that an unmeasured step reads
/// nothing back.
#[derive(Default)]
struct LossSum {
    sum: Option<Tensor<1>>,
    count: usize,
}

/// A step measured by `optimize` under the Learner, waiting for its loss and epoch from the
/// metric.
pub(crate) struct Queued {
    pub(crate) step: usize,
    pub(crate) measurement: Measurement,
}

/// What the metric has seen of the Learner's items (batches).
#[derive(Default)]
pub(crate) struct Items {
    /// Optimizer steps the metric has accounted for.
    pub(crate) steps: usize,
    /// Batches since the last step boundary, and their losses' sum.
    pub(crate) batches: usize,
    pub(crate) group_loss: f64,
    /// The epoch's training batches' loss, weighted by their size.
    pub(crate) train: (f64, usize),
    /// The epoch's validation batches' loss, weighted by their size.
    pub(crate) valid: (f64, usize),
    /// Whether the epoch's training split has ended (its row waits for validation).
    pub(crate) train_done: bool,
    /// Batches per epoch, from the first batch's progress.
    pub(crate) batches_per_epoch: Option<usize>,
}

pub(crate) struct Core {
    pub(crate) name: String,
    pub(crate) watch: Watch,
    pub(crate) recorder: Recorder,
    pub(crate) mode: Mode,
    /// Optimizer steps so far (across a resume).
    pub(crate) step: usize,
    /// The epoch being trained, from 1.
    pub(crate) epoch: usize,
    epoch_start_step: usize,
    pub(crate) epoch_started: Instant,
    pub(crate) steps_per_epoch: Option<usize>,
    pub(crate) accumulation: usize,
    loss: LossSum,
    /// A loop's epoch that has ended and whose row waits for [`Flow::evaluated`].
    pending_epoch: Option<(usize, f64, f64)>,
    /// Under the Learner: the taps of the coming step, read in `TrainStep::step`.
    pub(crate) tapped: Option<(usize, Tapped)>,
    /// Under the Learner: measured steps waiting for their loss.
    pub(crate) queue: VecDeque<Queued>,
    pub(crate) items: Items,
    /// The first error seen where none could be returned (inside `optimize` or a metric).
    pub(crate) error: Option<String>,
    pub(crate) closed: bool,
    /// Telemetry switched off (`GRADFLOW=off`): every hook then does what burn would do
    /// without gradflow, and the run folder holds the manifest alone.
    pub(crate) disabled: bool,
}

impl Core {
    /// Whether optimizer step `step` is measured: the cadence, and the last step of each
    /// epoch when the epoch's length is known.
    pub(crate) fn is_logged(&self, step: usize) -> bool {
        let last = self.steps_per_epoch.is_some_and(|n| n > 0 && (step - self.epoch_start_step) % n == 0 && step > self.epoch_start_step);
        self.watch.is_logged(step, last)
    }

    /// The taps for the coming step: on when it is measured, off once the run is closed or
    /// when nothing is measured.
    pub(crate) fn next_taps(&self) -> Taps {
        match self.disabled || self.closed {
            true => Taps::off(),
            false => self.watch.taps(self.is_logged(self.step + 1)),
        }
    }

    /// Writes what is left of the epochs before the run closes: a loop's last (possibly
    /// partial) epoch, or a Learner's epoch whose training split ended without validation.
    pub(crate) fn flush_epochs(&mut self) -> Result<(), Error> {
        match self.mode {
            Mode::Loop => {
                self.end_epoch()?;
                self.write_epoch(None)
            }
            Mode::Learner => crate::learner::end_epoch(self),
        }
    }

    /// Keeps the first error for the run's end.
    pub(crate) fn fail(&mut self, e: impl std::fmt::Display) {
        self.error.get_or_insert_with(|| e.to_string());
    }

    /// Closes the run, once: `failed` with the first error kept, else `status`.
    pub(crate) fn close(&mut self, status: Status, reason: Option<String>) -> Result<(), Error> {
        if self.closed {
            return Ok(());
        }
        self.closed = true;
        let (status, reason) = match (self.error.clone(), status) {
            (Some(e), Status::Completed) => (Status::Failed, Some(e)),
            (Some(e), Status::Failed) if reason.is_none() => (Status::Failed, Some(e)),
            (None, Status::Completed) if self.disabled => (status, Some("telemetry was switched off (GRADFLOW=off)".to_string())),
            _ => (status, reason),
        };
        self.recorder.checkpoint(&[&self.watch])?;
        self.recorder.finish(status, reason)?;
        // The diagnosis of what was recorded, as `train` writes it at a run's end: not while
        // a panic unwinds (a second panic would abort), nor for a run that measured nothing.
        if self.disabled || std::thread::panicking() {
            return Ok(());
        }
        let dir = self.recorder.path().to_path_buf();
        let found = diagnosis::diagnose_folder(&dir).map_err(|e| Error::Run(format!("cannot diagnose the run: {e}")))?;
        diagnosis::write(&dir, &found)?;
        Ok(())
    }

    /// The end of a loop's epoch: its row waits for an evaluation until the next step.
    fn end_epoch(&mut self) -> Result<(), Error> {
        let steps = self.step - self.epoch_start_step;
        if steps == 0 {
            return Ok(());
        }
        let mean = match self.loss.sum.take() {
            Some(sum) => f64::from(sum.into_scalar::<f32>()) / self.loss.count.max(1) as f64,
            None => f64::NAN,
        };
        self.loss.count = 0;
        self.pending_epoch = Some((self.epoch, mean, self.epoch_started.elapsed().as_secs_f64()));
        self.epoch += 1;
        self.epoch_start_step = self.step;
        self.epoch_started = Instant::now();
        Ok(())
    }

    /// Writes the ended epoch's row, with the evaluation when there is one.
    fn write_epoch(&mut self, test: Option<(f64, Option<f64>)>) -> Result<(), Error> {
        let Some((epoch, loss, seconds)) = self.pending_epoch.take() else { return Ok(()) };
        let name = self.name.clone();
        self.recorder.epoch(&EpochRecord { model: &name, epoch, train: (loss, None), test, valid: None, seconds })?;
        self.recorder.checkpoint(&[&self.watch])
    }

    /// Writes a measured step's rows. A non-finite value ends the run as `diverged` there.
    pub(crate) fn record(&mut self, epoch: usize, step: usize, loss: f64, m: &Measurement) -> Result<(), Error> {
        let name = self.name.clone();
        let written = self.recorder.step(&name, epoch, step, loss, m, m.grad_norm);
        match &written {
            Err(Error::Diverged { .. }) => self.closed = true,
            Err(e) => self.fail(e),
            Ok(()) => {}
        }
        written
    }
}

impl Flow {
    /// A Flow with the default settings (see [`FlowConfig::new`]) for a loop of one's own,
    /// recording `model` in the run folder `dir`: the shortest start, with
    /// [`Flow::with_steps_per_epoch`] when the loop has epochs.
    pub fn new<M: Module>(dir: impl AsRef<Path>, model: &M) -> Result<Flow, Error> {
        FlowConfig::new().init(dir, model)
    }

    /// Optimizer steps per epoch (see [`FlowConfig::with_steps_per_epoch`]), set before the
    /// first step.
    pub fn with_steps_per_epoch(self, steps: usize) -> Flow {
        lock(&self.shared).steps_per_epoch = Some(steps);
        self
    }

    /// The taps for the coming step's forward pass: on when the step is measured, off (and
    /// free) otherwise. Pass them to the model's `forward` where it places taps.
    pub fn taps(&self) -> &Taps {
        &self.taps
    }

    /// One optimizer step, measured when its turn comes: `loss` is the step's (batch mean)
    /// loss, `grads` what `loss.backward()` returned, and `optimize` the update, for example
    /// `|model, grads| optim.step(lr, model, grads)`. Returns the updated model.
    ///
    /// Errors when a tap name was used twice, when the model's parameters changed, when the
    /// run folder cannot be written, or when the loss, a gradient or a weight is not finite
    /// (the run then ends as `diverged`, naming the step and the parameter).
    pub fn step<M: Module>(
        &mut self,
        model: M,
        loss: &Tensor<1>,
        grads: Gradients,
        optimize: impl FnOnce(M, GradientsParams) -> M,
    ) -> Result<M, Error> {
        if lock(&self.shared).disabled {
            let grads = GradientsParams::from_grads(grads, &model);
            return Ok(optimize(model, grads));
        }
        let taps = std::mem::replace(&mut self.taps, Taps::off());
        let shared = self.shared.clone();
        let mut core = lock(&shared);
        core.write_epoch(None)?;
        core.step += 1;
        let (step, epoch) = (core.step, core.epoch);
        let value = loss.clone().inner();
        core.loss.sum = Some(match core.loss.sum.take() {
            Some(sum) => sum + value,
            None => value,
        });
        core.loss.count += 1;
        let measured: Option<Measured> = match taps.is_on() {
            true => Some(core.watch.read(&model, &grads, &taps).inspect_err(|e| core.fail(e))?),
            false => None,
        };
        let grads = GradientsParams::from_grads(grads, &model);
        let after = optimize(model, grads);
        if let Some(measured) = measured {
            let m = core.watch.updated(measured, &after);
            let loss = f64::from(loss.clone().into_scalar::<f32>());
            core.record(epoch, step, loss, &m)?;
        }
        if core.steps_per_epoch.is_some_and(|n| n > 0 && step - core.epoch_start_step == n) {
            core.end_epoch()?;
        }
        drop(core);
        self.taps = self.next_taps();
        Ok(after)
    }

    /// The evaluation of the epoch that just ended (a loop of one's own with
    /// [`FlowConfig::with_steps_per_epoch`]): the test loss and, for a classifier, accuracy,
    /// written in the epoch's row of `epochs.csv`.
    pub fn evaluated(&mut self, loss: f64, accuracy: Option<f64>) -> Result<(), Error> {
        lock(&self.shared).write_epoch(Some((loss, accuracy)))
    }

    /// The run folder.
    pub fn path(&self) -> std::path::PathBuf {
        lock(&self.shared).recorder.path().to_path_buf()
    }

    /// Optimizer steps so far.
    pub fn steps(&self) -> usize {
        lock(&self.shared).step
    }

    /// Ends the run: writes the last epoch (a partial one too) and the manifest, `completed`
    /// (or `failed`, with the first error that a burn-train hook could not return).
    pub fn finish(mut self) -> Result<(), Error> {
        self.finished = true;
        let mut core = lock(&self.shared);
        core.flush_epochs()?;
        let error = core.error.clone();
        core.close(Status::Completed, None)?;
        match error {
            Some(e) => Err(Error::Run(e)),
            None => Ok(()),
        }
    }

    /// Ends the run as `failed`, with `reason` (an error of one's own that ended the loop).
    pub fn fail(mut self, reason: impl std::fmt::Display) -> Result<(), Error> {
        self.finished = true;
        let mut core = lock(&self.shared);
        if core.mode == Mode::Loop {
            core.flush_epochs()?;
        }
        core.close(Status::Failed, Some(reason.to_string()))
    }

    /// Ends the run as `interrupted` (stopped on purpose before its end), with `reason`.
    pub fn interrupt(mut self, reason: impl std::fmt::Display) -> Result<(), Error> {
        self.finished = true;
        let mut core = lock(&self.shared);
        core.close(Status::Interrupted, Some(reason.to_string()))
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    pub(crate) fn mark_finished(&mut self) {
        self.finished = true;
    }

    fn next_taps(&self) -> Taps {
        lock(&self.shared).next_taps()
    }
}

impl Drop for Flow {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let mut core = lock(&self.shared);
        let reason = match std::thread::panicking() {
            true => Some(format!("panicked: {}", crate::seed::last_panic().unwrap_or_else(|| "(no message)".to_string()))),
            false if core.error.is_some() => None,
            false => Some("the program ended without calling `Flow::finish` (an error returned early with `?`)".to_string()),
        };
        // Nothing can be returned from `drop`: a run folder that cannot be written here could
        // not be written before either, and that error was returned then.
        let _ = core.close(Status::Failed, reason);
    }
}

pub(crate) fn lock(shared: &Shared) -> MutexGuard<'_, Core> {
    // A panic while the lock was held leaves the core as it was between two whole rows; the
    // run is then closed as failed by the Flow's drop, which needs the lock.
    shared.core.lock().unwrap_or_else(|p| p.into_inner())
}

/// The id of a module's first float parameter, by which burn-train's hooks find its Flow.
pub(crate) fn first_param<M: Module>(model: &M) -> Option<ParamId> {
    first_param_on(model).map(|(id, _)| id)
}

/// The id of a module's first float parameter and the device that parameter lives on (the
/// device a Flow records from is its model's first parameter's: see [`FlowConfig::init`]).
pub(crate) fn first_param_on<M: Module>(model: &M) -> Option<(ParamId, Device)> {
    struct First(Option<(ParamId, Device)>);
    impl ModuleVisitor for First {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if self.0.is_none() {
                self.0 = Some((param.id, param.lazy_device()));
            }
        }
    }
    let mut v = First(None);
    model.visit(&mut v);
    v.0
}
