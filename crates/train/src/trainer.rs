//! The training loop: every model of an experiment trained side by side on the same
//! batches, measured at the configured cadence and on a fixed probe set, with everything it
//! measures handed to one recorder that writes the run folder and drives the view.

use crate::backend::Backend;
use crate::batches::{Batch, SplitTensors};
use crate::compute::ComputeThreads;
use crate::config::{Experiment, LossKind};
use crate::flags::Flags;
use crate::loss::evaluate;
use crate::manifest::{manifest, model_info};
use crate::step::{Trainee, probe, train_step};
use anyhow::{Context, Result};
use data::Dataset;
use gradflow::runfolder::{Divergence, EpochRecord, Status};
use gradflow::view::View;
use gradflow::{Cadence, Recorder};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// What a finished (or stopped) run reports back.
#[derive(Clone, Debug)]
pub struct RunSummary {
    pub path: PathBuf,
    pub status: Status,
    pub reason: Option<String>,
    pub models: Vec<ModelSummary>,
    /// What the diagnosis found in the run folder (`None` when the folder could not be read
    /// back; the warning says why).
    pub diagnosis: Option<diagnosis::Diagnosis>,
}

#[derive(Clone, Debug)]
pub struct ModelSummary {
    pub name: String,
    pub test_loss: f64,
    pub test_accuracy: Option<f64>,
    /// Probe grad_norm_weight of layer 1 over the last layer's, at initialization and at the end.
    pub ratio_start: Option<f64>,
    pub ratio_end: Option<f64>,
    /// Where the model stopped on a non-finite value, if it did.
    pub diverged: Option<Divergence>,
}

/// Everything the loop needs besides the models.
pub struct RunOptions<'a> {
    pub backend: Backend,
    pub out: PathBuf,
    /// Set (by the Ctrl-C handler) to end the run cleanly after the current step.
    pub stop: &'a AtomicBool,
}

/// Why a run stopped early.
enum Stop {
    Interrupted,
    Diverged(String),
}

/// The splits as tensors, and the probe set.
struct Splits {
    train: SplitTensors,
    test: SplitTensors,
    valid: Option<SplitTensors>,
    probe: Batch,
}

/// Trains every model of `exp` on `dataset`, writing the run folder as it goes, on threads
/// of the run's own (see [`ComputeThreads`]: flush-to-zero when the config asks for it).
pub fn run(exp: &Experiment, dataset: &Dataset, opts: RunOptions<'_>, view: Box<dyn View>) -> Result<RunSummary> {
    let threads = ComputeThreads::new(exp.train.flush_denormals).context("cannot start the training threads")?;
    threads.install(|| run_on(exp, dataset, opts, view, &threads))
}

fn run_on(exp: &Experiment, dataset: &Dataset, opts: RunOptions<'_>, view: Box<dyn View>, threads: &ComputeThreads) -> Result<RunSummary> {
    if let Err(e) = opts.backend.open() {
        return Err(fail_unopened(exp, dataset, &opts, view, threads, e));
    }
    let device = opts.backend.autodiff_device();
    let plain = opts.backend.plain_device();
    device.seed(exp.seed);
    let input = dataset.features;
    let loss_kind = exp.loss(&dataset.task);
    let cadence = Cadence { every: exp.telemetry.every, early: exp.telemetry.early };
    let nets = exp.nets_for(dataset).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut trainees: Vec<Trainee> = nets
        .into_iter()
        .enumerate()
        .map(|(i, (name, cfg))| Trainee::new(name, cfg, &exp.optimizer, exp.clip_of(i), cadence.clone(), &device))
        .collect();

    let train = SplitTensors::new(&dataset.train, input, &plain);
    let probe_idx = dataset.probe_subset(exp.telemetry.probe_subset, exp.telemetry.probe, exp.seed);
    let splits = Splits {
        probe: train.batch(&probe_idx),
        test: SplitTensors::new(&dataset.test, input, &plain),
        valid: (!dataset.valid.is_empty()).then(|| SplitTensors::new(&dataset.valid, input, &plain)),
        train,
    };

    let manifest = manifest(exp, dataset, &opts.backend, threads, &cadence, loss_kind, probe_idx.len());
    let mut rec = Recorder::create(&opts.out, manifest, Some(&exp.resolved(&dataset.task).to_toml()), view)?;
    for t in &trainees {
        rec.add(&t.watch, model_info(t))?;
    }
    rec.start(exp.train.epochs, dataset.train.len.div_ceil(exp.train.batch_size));
    let outcome = train_epochs(exp, dataset, &mut trainees, &mut rec, &opts, &splits, loss_kind);

    let (status, reason) = match &outcome {
        Ok(None) => (Status::Completed, None),
        Ok(Some(Stop::Interrupted)) => (Status::Interrupted, Some("stopped by Ctrl-C".to_string())),
        Ok(Some(Stop::Diverged(why))) => (Status::Diverged, Some(why.clone())),
        Err(e) => (Status::Failed, Some(format!("{e:#}"))),
    };
    // Whatever happened, the files so far stay valid and the manifest says how it ended.
    if status != Status::Failed {
        for t in &trainees {
            let path = rec.path().join(format!("{}.bpk", t.name));
            t.model.save_file(&path)?;
        }
    }
    let finished = rec.finish(status, reason.clone());
    // The diagnosis reads the folder just closed, as `cargo xtask diagnose` would, and is
    // written whatever the status: a run that failed or diverged has data to judge too.
    let diagnosis = diagnose(rec.path());
    outcome?;
    finished?;
    Ok(RunSummary {
        path: rec.path().to_path_buf(),
        status,
        reason,
        models: trainees
            .iter()
            .map(|t| ModelSummary {
                name: t.name.clone(),
                test_loss: t.last_test.0,
                test_accuracy: t.last_test.1,
                ratio_start: t.probe_start.as_ref().and_then(|m| m.first_to_last()),
                ratio_end: t.probe_end.as_ref().and_then(|m| m.first_to_last()),
                diverged: t.diverged.clone(),
            })
            .collect(),
        diagnosis,
    })
}

/// A backend that cannot be used (not compiled in, no driver, no adapter): the run folder is
/// still made, with the manifest the run would have had, and closed `failed` with the reason,
/// so that the folder says why nothing trained. The error is returned for the command line.
fn fail_unopened(
    exp: &Experiment,
    dataset: &Dataset,
    opts: &RunOptions<'_>,
    view: Box<dyn View>,
    threads: &ComputeThreads,
    error: crate::backend::BackendError,
) -> anyhow::Error {
    let cadence = Cadence { every: exp.telemetry.every, early: exp.telemetry.early };
    let probe = dataset.probe_subset(exp.telemetry.probe_subset, exp.telemetry.probe, exp.seed).len();
    let manifest = manifest(exp, dataset, &opts.backend, threads, &cadence, exp.loss(&dataset.task), probe);
    let closed = Recorder::create(&opts.out, manifest, Some(&exp.resolved(&dataset.task).to_toml()), view)
        .and_then(|mut rec| rec.finish(Status::Failed, Some(error.to_string())));
    match closed {
        Ok(()) => anyhow::Error::new(error),
        Err(e) => anyhow::anyhow!("{error} (and the run folder {} could not be closed: {e})", opts.out.display()),
    }
}

/// Diagnoses the run folder and writes its `diagnosis.json`. A folder that cannot be read
/// back or written is a warning, not the run's failure: its files are all there.
fn diagnose(dir: &Path) -> Option<diagnosis::Diagnosis> {
    let d = match diagnosis::diagnose_folder(dir) {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!("cannot diagnose the run: {e}");
            return None;
        }
    };
    if let Err(e) = diagnosis::write(dir, &d) {
        tracing::warn!("cannot write {}: {e}", gradflow::runfolder::DIAGNOSIS);
    }
    Some(d)
}

fn train_epochs(
    exp: &Experiment,
    dataset: &Dataset,
    trainees: &mut [Trainee],
    rec: &mut Recorder,
    opts: &RunOptions<'_>,
    splits: &Splits,
    loss_kind: LossKind,
) -> Result<Option<Stop>> {
    // Epoch 0: the untrained models, measured on the probe set and evaluated.
    for t in trainees.iter_mut() {
        let start = Instant::now();
        if !measure_probe(t, rec, splits, loss_kind, 0, 0)? {
            continue;
        }
        let train = evaluate(&t.model, &splits.train, loss_kind);
        end_epoch(t, rec, splits, loss_kind, 0, train, 0.0, start)?;
    }
    rec.flush()?;
    if let Some(stop) = all_diverged(trainees) {
        return Ok(Some(stop));
    }

    // The learning rate is constant over a run: every step row says it.
    for t in trainees.iter() {
        rec.set_learning_rate(&t.name, Some(exp.optimizer.lr()))?;
    }
    let mut step = 0usize;
    let mut flags = Flags::default();
    for epoch in 1..=exp.train.epochs {
        let order = dataset.batch_order(exp.seed, epoch);
        let batches: Vec<&[usize]> = order.chunks(exp.train.batch_size).collect();
        trainees.iter_mut().for_each(Trainee::start_epoch);
        for (b, idx) in batches.iter().enumerate() {
            if opts.stop.load(Ordering::Relaxed) {
                return Ok(Some(Stop::Interrupted));
            }
            step += 1;
            let logged = exp.telemetry.enabled && trainees[0].watch.is_logged(step, b + 1 == batches.len());
            let batch = splits.train.batch(idx);
            // A model that diverged has stopped; the others train on, on the same batches.
            for t in trainees.iter_mut().filter(|t| t.diverged.is_none()) {
                let start = Instant::now();
                let outcome = train_step(t, &batch, idx.len(), loss_kind, exp.optimizer.lr(), logged);
                t.seconds += start.elapsed().as_secs_f64();
                match outcome {
                    Ok((loss, Some((m, clipped)))) => rec.step(&t.name, epoch, step, loss, &m, clipped)?,
                    Ok((_, None)) => {}
                    Err(why) => diverge(t, rec, Divergence { epoch, step, reason: why })?,
                }
            }
            if let Some(stop) = all_diverged(trainees) {
                return Ok(Some(stop));
            }
            if logged {
                rec.flush()?;
            }
            rec.progress(epoch, b + 1);
        }

        for t in trainees.iter_mut().filter(|t| t.diverged.is_none()) {
            let start = Instant::now();
            if !measure_probe(t, rec, splits, loss_kind, epoch, step)? {
                continue;
            }
            let train_loss = t.loss_sum / t.steps.max(1) as f64;
            let train_acc = loss_kind.classifies().then(|| t.correct as f64 / t.seen.max(1) as f64);
            let spent = t.seconds;
            end_epoch(t, rec, splits, loss_kind, epoch, (train_loss, train_acc), spent, start)?;
        }
        if let Some(stop) = all_diverged(trainees) {
            return Ok(Some(stop));
        }
        let watches: Vec<&gradflow::Watch> = trainees.iter().map(|t| &t.watch).collect();
        rec.checkpoint(&watches)?;
        if exp.telemetry.enabled {
            flags.check(rec);
        }
    }
    Ok(None)
}

/// Stops one model: it trains no further, and the manifest says where and why.
fn diverge(t: &mut Trainee, rec: &mut Recorder, d: Divergence) -> Result<()> {
    rec.diverged(&t.name, d.clone())?;
    t.diverged = Some(d);
    Ok(())
}

/// The run's stop once every model has diverged, naming each model's step and cause.
fn all_diverged(trainees: &[Trainee]) -> Option<Stop> {
    let why: Option<Vec<String>> = trainees
        .iter()
        .map(|t| t.diverged.as_ref().map(|d| format!("step {} (epoch {}), model {}: {}", d.step, d.epoch, t.name, d.reason)))
        .collect();
    why.map(|w| Stop::Diverged(w.join("; ")))
}

/// The probe measurement of a model at `epoch` (0: initialization), recorded. When it is not
/// finite, nothing is written, the model stops as diverged, and the answer is `false`.
fn measure_probe(t: &mut Trainee, rec: &mut Recorder, splits: &Splits, loss_kind: LossKind, epoch: usize, step: usize) -> Result<bool> {
    let m = probe(t, &splits.probe, loss_kind)?;
    if let Some(path) = &m.non_finite {
        let when = if epoch == 0 { "at initialization".to_string() } else { format!("on the probe set at the end of epoch {epoch}") };
        diverge(t, rec, Divergence { epoch, step, reason: format!("non-finite gradient or value {when} in {path}") })?;
        return Ok(false);
    }
    rec.probe(&t.name, epoch, step, &m)?;
    if epoch == 0 {
        t.probe_start = Some(m);
    } else {
        t.probe_end = Some(m);
    }
    Ok(true)
}

/// Evaluates a model at the end of `epoch` and records the epoch: `train` is the epoch's
/// training loss and accuracy; the epoch's time is `spent` in its steps and what passed since
/// `start` (the probe and the evaluation).
#[allow(clippy::too_many_arguments)]
fn end_epoch(
    t: &mut Trainee,
    rec: &mut Recorder,
    splits: &Splits,
    loss_kind: LossKind,
    epoch: usize,
    train: (f64, Option<f64>),
    spent: f64,
    start: Instant,
) -> Result<()> {
    t.last_test = evaluate(&t.model, &splits.test, loss_kind);
    let valid = splits.valid.as_ref().map(|v| evaluate(&t.model, v, loss_kind));
    rec.epoch(&EpochRecord { model: &t.name, epoch, train, test: Some(t.last_test), valid, seconds: spent + start.elapsed().as_secs_f64() })?;
    Ok(())
}

/// Where a run goes by default: `runs/<stamp>-<name>`.
pub fn default_out(root: &Path, name: &str) -> PathBuf {
    root.join("runs").join(format!("{}-{name}", gradflow::runfolder::now_stamp()))
}
