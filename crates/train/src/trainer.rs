//! The training loop: every model of an experiment trained side by side on the same
//! batches, with per-layer telemetry at the configured cadence and on a fixed probe set.

use crate::backend::Backend;
use crate::compute::ComputeThreads;
use crate::config::{Experiment, LossKind, OptimizerSpec};
use crate::run_dir::{self, DatasetInfo, LayerRow, Manifest, ModelInfo, RunDir, Status, TelemetryInfo};
use crate::telemetry::{self, Cadence, LayerMetrics, Measurement, Observed};
use crate::view::{LayerView, ModelView, View};
use anyhow::{Context, Result};
use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer, SgdConfig};
use burn::prelude::*;
use burn::tensor::{Gradients, Transaction};
use burn::tensor::activation::log_softmax;
use data::{Dataset, Split, Targets, Task};
use models::{Mlp, MlpConfig, Trace};
use std::collections::BTreeMap;
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
}

#[derive(Clone, Debug)]
pub struct ModelSummary {
    pub name: String,
    pub test_loss: f64,
    pub test_accuracy: Option<f64>,
    /// Probe grad_norm_weight of layer 1 over the last layer's, at initialization and at the end.
    pub ratio_start: Option<f64>,
    pub ratio_end: Option<f64>,
}

/// A dataset split as tensors on the plain (non-autodiff) device, ready for batching.
struct SplitTensors {
    x: Tensor<2>,
    /// Class indices `[n]` for classification.
    classes: Option<Tensor<1, Int>>,
    /// Targets `[n, outputs]` for regression.
    values: Option<Tensor<2>>,
    len: usize,
}

impl SplitTensors {
    fn new(split: &Split, features: usize, device: &Device) -> SplitTensors {
        let x = Tensor::<2>::from_data(TensorData::new(split.x.clone(), [split.len, features]), device);
        let (classes, values) = match &split.targets {
            Targets::Classes(c) => {
                let c: Vec<i64> = c.iter().map(|&v| i64::from(v)).collect();
                (Some(Tensor::<1, Int>::from_data(TensorData::new(c, [split.len]), device)), None)
            }
            Targets::Values { values, outputs } => {
                (None, Some(Tensor::<2>::from_data(TensorData::new(values.clone(), [split.len, *outputs]), device)))
            }
        };
        SplitTensors { x, classes, values, len: split.len }
    }

    /// The examples at `idx`, in that order.
    fn batch(&self, idx: &Tensor<1, Int>) -> Batch {
        Batch {
            x: self.x.clone().select(0, idx.clone()),
            classes: self.classes.as_ref().map(|c| c.clone().select(0, idx.clone())),
            values: self.values.as_ref().map(|v| v.clone().select(0, idx.clone())),
        }
    }

    /// Rows `start..end`.
    fn slice(&self, start: usize, end: usize) -> Batch {
        Batch {
            x: self.x.clone().slice([start..end]),
            classes: self.classes.as_ref().map(|c| c.clone().slice([start..end])),
            values: self.values.as_ref().map(|v| v.clone().slice([start..end])),
        }
    }
}

pub(crate) struct Batch {
    pub(crate) x: Tensor<2>,
    pub(crate) classes: Option<Tensor<1, Int>>,
    pub(crate) values: Option<Tensor<2>>,
}

/// The loss of a batch (mean over examples) and, for classes, the number of correct
/// predictions.
fn loss_and_correct(kind: LossKind, out: Tensor<2>, batch: &Batch) -> (Tensor<1>, Option<Tensor<1, Int>>) {
    match kind {
        LossKind::CrossEntropy => {
            let classes = batch.classes.clone().expect("validated: cross-entropy has class targets");
            let n = classes.dims()[0];
            let targets = classes.reshape([n, 1]);
            let correct = out.clone().argmax(1).equal(targets.clone()).int().sum();
            let nll = log_softmax(out, 1).gather(1, targets).mean().neg();
            (nll, Some(correct))
        }
        LossKind::Mse | LossKind::HalfMse => {
            let values = batch.values.clone().expect("validated: mse has real-valued targets");
            let mse = (out - values).square().mean();
            (if kind == LossKind::HalfMse { mse.mul_scalar(0.5) } else { mse }, None)
        }
    }
}

/// One model under training and what is kept about it.
pub(crate) struct Trainee {
    name: String,
    config: MlpConfig,
    model: Mlp,
    optim: Updater,
    /// The weights at initialization, on the host, and their norms (for `dist_from_init`).
    initial: Vec<Vec<f32>>,
    initial_norms: Vec<f64>,
    /// Running sums of the current epoch.
    loss_sum: f64,
    correct: i64,
    seen: usize,
    steps: usize,
    seconds: f64,
    /// Per (layer, metric): sum, min, max, count over the epoch's logged steps.
    aggregates: BTreeMap<(usize, &'static str), (f64, f64, f64, usize)>,
    probe_start: Option<Measurement>,
    probe_end: Option<Measurement>,
    last_test: (f64, Option<f64>),
}

impl Trainee {
    fn new(name: String, config: MlpConfig, exp: &Experiment, device: &Device) -> Trainee {
        Trainee::with_optimizer(name, config, &exp.optimizer, device)
    }

    pub(crate) fn with_optimizer(name: String, config: MlpConfig, optimizer_spec: &OptimizerSpec, device: &Device) -> Trainee {
        let model = config.init(device);
        let initial = telemetry::host_weights(&model);
        let initial_norms = initial.iter().map(|w| telemetry::l2(w)).collect();
        Trainee {
            name,
            config,
            model,
            optim: optimizer(optimizer_spec),
            initial,
            initial_norms,
            loss_sum: 0.0,
            correct: 0,
            seen: 0,
            steps: 0,
            seconds: 0.0,
            aggregates: BTreeMap::new(),
            probe_start: None,
            probe_end: None,
            last_test: (f64::NAN, None),
        }
    }
}

/// How a trainee's parameters are updated.
enum Updater {
    /// Plain SGD (no momentum, no weight decay): the kernels crate's update, one pass in place
    /// instead of burn's two passes into new buffers, and element for element what burn's
    /// `Sgd` computes.
    PlainSgd,
    /// burn's optimizer, for everything that keeps state or decays weights.
    Burn(ModuleOptimizer),
}

impl Updater {
    /// One step: the model with every parameter that has a gradient in `grads` updated.
    fn step(&mut self, lr: f64, model: Mlp, mut grads: GradientsParams) -> Mlp {
        match self {
            Updater::Burn(optim) => optim.step(lr, model, grads),
            Updater::PlainSgd => {
                let Mlp { layers, activation, output_activation } = model;
                let layers = layers
                    .into_iter()
                    .map(|l| Linear {
                        weight: sgd_param(l.weight, &mut grads, lr),
                        bias: l.bias.map(|b| sgd_param(b, &mut grads, lr)),
                    })
                    .collect();
                Mlp { layers, activation, output_activation }
            }
        }
    }
}

/// One plain SGD step of one parameter, which keeps its id and whether it requires grad (as
/// burn's optimizer does).
fn sgd_param<const D: usize>(param: Param<Tensor<D>>, grads: &mut GradientsParams, lr: f64) -> Param<Tensor<D>> {
    let (id, tensor, mapper) = param.consume();
    let tensor = match grads.remove::<D>(id) {
        Some(grad) => {
            let require_grad = tensor.is_require_grad();
            let updated = Tensor::from_inner(kernels::sgd_update(tensor.inner(), grad, lr));
            if require_grad { updated.require_grad() } else { updated }
        }
        None => tensor,
    };
    Param::from_mapped_value(id, tensor, mapper)
}

/// The updater for the spec: the kernels crate's for plain SGD, burn's optimizer otherwise.
/// burn's defaults differ from PyTorch's in two places that are set explicitly here: SGD
/// momentum dampening (burn 0.1, PyTorch 0) and Adam's epsilon (burn 1e-5, PyTorch 1e-8,
/// taken from the config).
fn optimizer(spec: &OptimizerSpec) -> Updater {
    match *spec {
        OptimizerSpec::Sgd { momentum, weight_decay, .. } if momentum == 0.0 && weight_decay == 0.0 => Updater::PlainSgd,
        _ => Updater::Burn(burn_optimizer(spec)),
    }
}

/// burn's optimizer for the spec.
fn burn_optimizer(spec: &OptimizerSpec) -> ModuleOptimizer {
    match *spec {
        OptimizerSpec::Sgd { momentum, weight_decay, .. } => {
            let mut c = SgdConfig::new();
            if momentum > 0.0 {
                c = c.with_momentum(Some(MomentumConfig { momentum, dampening: 0.0, nesterov: false }));
            }
            if weight_decay > 0.0 {
                c = c.with_weight_decay(Some(burn::optim::decay::WeightDecayConfig { penalty: weight_decay as f32 }));
            }
            c.init()
        }
        OptimizerSpec::Adam { beta1, beta2, eps, weight_decay, .. } => {
            let mut c = AdamConfig::new().with_beta_1(beta1 as f32).with_beta_2(beta2 as f32).with_epsilon(eps as f32);
            if weight_decay > 0.0 {
                c = c.with_weight_decay(Some(burn::optim::decay::WeightDecayConfig { penalty: weight_decay as f32 }));
            }
            c.init()
        }
    }
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

/// Trains every model of `exp` on `dataset`, writing the run folder as it goes, on threads
/// of the run's own (see [`ComputeThreads`]: flush-to-zero when the config asks for it).
pub fn run(exp: &Experiment, dataset: &Dataset, opts: RunOptions<'_>, view: &mut dyn View) -> Result<RunSummary> {
    let threads = ComputeThreads::new(exp.train.flush_denormals).context("cannot start the training threads")?;
    threads.install(|| run_on(exp, dataset, opts, view, &threads))
}

fn run_on(
    exp: &Experiment,
    dataset: &Dataset,
    opts: RunOptions<'_>,
    view: &mut dyn View,
    threads: &ComputeThreads,
) -> Result<RunSummary> {
    let device = opts.backend.autodiff_device();
    let plain = opts.backend.plain_device();
    device.seed(exp.seed);
    let (input, output) = (dataset.features, outputs(&dataset.task));
    let loss_kind = exp.loss(&dataset.task);
    let mlps = exp.mlps(input, output).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut trainees: Vec<Trainee> =
        mlps.into_iter().map(|(name, cfg)| Trainee::new(name, cfg, exp, &device)).collect();

    let train = SplitTensors::new(&dataset.train, input, &plain);
    let test = SplitTensors::new(&dataset.test, input, &plain);
    let valid = (!dataset.valid.is_empty()).then(|| SplitTensors::new(&dataset.valid, input, &plain));
    let probe_idx = dataset.probe_indices(exp.telemetry.probe, exp.seed);
    let probe = train.batch(&index_tensor(&probe_idx, &plain));
    let cadence = Cadence { every: exp.telemetry.every, early: exp.telemetry.early };

    let mut run = RunDir::create(&opts.out, &exp.resolved(&dataset.task).to_toml())?;
    let mut manifest = manifest(exp, dataset, &opts.backend, threads, &trainees, &cadence, loss_kind, probe_idx.len());
    run.write_manifest(&manifest)?;
    for t in &trainees {
        view.start_model(&t.name, t.config.num_layers());
    }

    let steps_per_epoch = dataset.train.len.div_ceil(exp.train.batch_size);
    view.start(exp.train.epochs, steps_per_epoch);
    let outcome = train_epochs(exp, dataset, &mut trainees, &mut run, &mut manifest, &opts, view, Splits {
        train: &train,
        test: &test,
        valid: valid.as_ref(),
        probe: &probe,
        probe_len: probe_idx.len(),
    }, loss_kind, &cadence);

    let (status, reason) = match &outcome {
        Ok(None) => (Status::Completed, None),
        Ok(Some(Stop::Interrupted)) => (Status::Interrupted, Some("stopped by Ctrl-C".to_string())),
        Ok(Some(Stop::Diverged(why))) => (Status::Diverged, Some(why.clone())),
        Err(e) => (Status::Failed, Some(format!("{e:#}"))),
    };
    // Whatever happened, the files so far stay valid and the manifest says how it ended.
    let flushed = run.flush();
    if status != Status::Failed {
        for t in &trainees {
            let path = run.path.join(format!("{}.bpk", t.name));
            t.model.clone().save_file(&path).with_context(|| format!("cannot save weights to {}", path.display()))?;
        }
    }
    manifest.status = status;
    manifest.reason = reason.clone();
    manifest.ended_at = Some(run_dir::now_rfc3339());
    run.write_manifest(&manifest)?;
    view.finish();
    outcome?;
    flushed?;
    Ok(RunSummary {
        path: run.path.clone(),
        status,
        reason,
        models: trainees
            .iter()
            .map(|t| ModelSummary {
                name: t.name.clone(),
                test_loss: t.last_test.0,
                test_accuracy: t.last_test.1,
                ratio_start: t.probe_start.as_ref().and_then(first_to_last),
                ratio_end: t.probe_end.as_ref().and_then(first_to_last),
            })
            .collect(),
    })
}

struct Splits<'a> {
    train: &'a SplitTensors,
    test: &'a SplitTensors,
    valid: Option<&'a SplitTensors>,
    probe: &'a Batch,
    probe_len: usize,
}

#[allow(clippy::too_many_arguments)]
fn train_epochs(
    exp: &Experiment,
    dataset: &Dataset,
    trainees: &mut [Trainee],
    run: &mut RunDir,
    manifest: &mut Manifest,
    opts: &RunOptions<'_>,
    view: &mut dyn View,
    splits: Splits<'_>,
    loss_kind: LossKind,
    cadence: &Cadence,
) -> Result<Option<Stop>> {
    let plain = opts.backend.plain_device();
    // Epoch 0: the untrained models, measured on the probe set and evaluated.
    for t in trainees.iter_mut() {
        let start = Instant::now();
        let m = probe_measure(t, splits.probe, splits.probe_len, loss_kind);
        write_layers(run, &t.name, 0, 0, "probe", &m)?;
        if let Some(layer) = m.first_non_finite() {
            return Ok(Some(Stop::Diverged(format!("model {}: non-finite gradient at initialization in layer {layer}", t.name))));
        }
        t.probe_start = Some(m);
        let train_eval = evaluate(&t.model, splits.train, loss_kind);
        t.last_test = evaluate(&t.model, splits.test, loss_kind);
        let valid_eval = splits.valid.map(|v| evaluate(&t.model, v, loss_kind));
        run.epoch_row(&t.name, 0, train_eval, t.last_test, start.elapsed().as_secs_f64(), valid_eval)?;
        view.epoch_end(&t.name, 0, train_eval, t.last_test);
    }
    run.flush()?;

    let mut step = 0usize;
    for epoch in 1..=exp.train.epochs {
        let order = dataset.batch_order(exp.seed, epoch);
        let batches: Vec<&[usize]> = order.chunks(exp.train.batch_size).collect();
        for t in trainees.iter_mut() {
            (t.loss_sum, t.correct, t.seen, t.steps, t.seconds) = (0.0, 0, 0, 0, 0.0);
            t.aggregates.clear();
        }
        for (b, idx) in batches.iter().enumerate() {
            if opts.stop.load(Ordering::Relaxed) {
                return Ok(Some(Stop::Interrupted));
            }
            step += 1;
            let logged = exp.telemetry.enabled && cadence.is_logged(step, b + 1 == batches.len());
            let batch = splits.train.batch(&index_tensor(idx, &plain));
            for t in trainees.iter_mut() {
                let start = Instant::now();
                let outcome = train_step(t, &batch, idx.len(), loss_kind, exp.train.clip_grad_norm, exp.optimizer.lr(), logged);
                t.seconds += start.elapsed().as_secs_f64();
                let (loss, measured) = match outcome {
                    Ok(v) => v,
                    Err(why) => {
                        return Ok(Some(Stop::Diverged(format!("step {step} (epoch {epoch}), model {}: {why}", t.name))));
                    }
                };
                if let Some((m, clipped)) = measured {
                    run.step_row(&t.name, epoch, step, loss, m.grad_norm, clipped)?;
                    write_layers(run, &t.name, epoch, step, "train", &m)?;
                    for (i, layer) in m.layers.iter().enumerate() {
                        for (metric, v) in layer.rows() {
                            let e = t.aggregates.entry((i + 1, metric)).or_insert((0.0, f64::INFINITY, f64::NEG_INFINITY, 0));
                            *e = (e.0 + v, e.1.min(v), e.2.max(v), e.3 + 1);
                        }
                    }
                    view.layers(&model_view(&t.name, epoch, step, loss, &m));
                }
            }
            if logged {
                run.flush()?;
            }
            view.step(epoch, b + 1);
        }

        for t in trainees.iter_mut() {
            let start = Instant::now();
            let m = probe_measure(t, splits.probe, splits.probe_len, loss_kind);
            write_layers(run, &t.name, epoch, step, "probe", &m)?;
            if let Some(layer) = m.first_non_finite() {
                return Ok(Some(Stop::Diverged(format!(
                    "end of epoch {epoch}, model {}: non-finite gradient or weight in layer {layer}",
                    t.name
                ))));
            }
            t.probe_end = Some(m);
            for (&(layer, metric), &(sum, min, max, count)) in &t.aggregates {
                run.layer_epoch_row(&t.name, epoch, layer, metric, sum / count as f64, min, max, count)?;
            }
            t.last_test = evaluate(&t.model, splits.test, loss_kind);
            let valid_eval = splits.valid.map(|v| evaluate(&t.model, v, loss_kind));
            let train_loss = t.loss_sum / t.steps.max(1) as f64;
            let train_acc = matches!(loss_kind, LossKind::CrossEntropy).then(|| t.correct as f64 / t.seen.max(1) as f64);
            let seconds = t.seconds + start.elapsed().as_secs_f64();
            run.epoch_row(&t.name, epoch, (train_loss, train_acc), t.last_test, seconds, valid_eval)?;
            view.epoch_end(&t.name, epoch, (train_loss, train_acc), t.last_test);
        }
        run.flush()?;
        run.write_manifest(manifest)?;
    }
    Ok(None)
}

/// One optimizer step of one model. Returns the batch loss and, on logged steps, the
/// measurement with the global norm after clipping; `Err` names what went non-finite.
pub(crate) fn train_step(
    t: &mut Trainee,
    batch: &Batch,
    n: usize,
    loss_kind: LossKind,
    clip: Option<f64>,
    lr: f64,
    logged: bool,
) -> Result<(f64, Option<(Measurement, f64)>), String> {
    let (out, trace) = t.model.forward_traced(batch.x.clone(), logged);
    let (loss, correct) = loss_and_correct(loss_kind, out, batch);
    let (loss_value, correct) = read_loss(&loss, correct.as_ref());
    t.correct += correct.unwrap_or(0);
    let grads = loss.backward();
    let g = LayerGrads::read(&t.model, &trace, &grads, logged);
    let mut gp = GradientsParams::from_grads(grads, &t.model);
    // Measured on logged steps, and on any step whose loss is not finite, to name the
    // first layer that went bad.
    let measured = (logged || !loss_value.is_finite()).then(|| t.measure(&g, &trace, n));
    let (measured, before) = match measured {
        Some(m) => (Some(m.measurement), Some(m.weights)),
        None => (None, None),
    };
    if !loss_value.is_finite() {
        let layer = measured.as_ref().and_then(Measurement::first_non_finite);
        return Err(match layer {
            Some(l) => format!("loss is {loss_value}; first non-finite layer is {l}"),
            None => format!("loss is {loss_value}"),
        });
    }
    if let Some(layer) = measured.as_ref().and_then(Measurement::first_non_finite) {
        return Err(format!("non-finite gradient in layer {layer} (loss {loss_value})"));
    }
    let mut norm_after = measured.as_ref().map(|m| m.grad_norm);
    if let Some(max_norm) = clip {
        let total = match &measured {
            Some(m) => m.grad_norm,
            None => telemetry::global_norm(&g.weight, &g.bias),
        };
        if !total.is_finite() {
            return Err(format!("gradient norm is {total}"));
        }
        if total > max_norm {
            // PyTorch's clip_grad_norm_: scale every gradient by max_norm / (total + 1e-6).
            let scale = max_norm / (total + 1e-6);
            for l in &t.model.layers {
                if let Some(g) = gp.remove::<2>(l.weight.id) {
                    gp.register::<2>(l.weight.id, g.mul_scalar(scale));
                }
                if let Some(b) = &l.bias {
                    if let Some(g) = gp.remove::<1>(b.id) {
                        gp.register::<1>(b.id, g.mul_scalar(scale));
                    }
                }
            }
            norm_after = norm_after.map(|n| n * scale);
        }
    }
    // The optimizer takes the model by value; an empty MLP holds its place meanwhile.
    let empty = Mlp { layers: Vec::new(), activation: t.model.activation, output_activation: t.model.output_activation };
    let model = std::mem::replace(&mut t.model, empty);
    t.model = t.optim.step(lr, model, gp);
    t.loss_sum += loss_value;
    t.seen += n;
    t.steps += 1;
    let measured = match (measured, before) {
        (Some(mut m), Some(before)) => {
            let before_norms: Vec<f64> = m.layers.iter().map(|l| l.weight_norm).collect();
            for (layer, r) in m.layers.iter_mut().zip(telemetry::update_ratios(&before, &before_norms, &t.model)) {
                layer.update_ratio = Some(r);
            }
            let after = norm_after.unwrap_or(m.grad_norm);
            Some((m, after))
        }
        _ => None,
    };
    Ok((loss_value, measured))
}

/// A full-batch forward and backward on the probe set, with no update.
fn probe_measure(t: &Trainee, probe: &Batch, n: usize, loss_kind: LossKind) -> Measurement {
    let (out, trace) = t.model.forward_traced(probe.x.clone(), true);
    let (loss, _) = loss_and_correct(loss_kind, out, probe);
    let grads = loss.backward();
    t.measure(&LayerGrads::read(&t.model, &trace, &grads, true), &trace, n).measurement
}

/// Every layer's gradients, read from `Gradients` before `GradientsParams` consumes it.
struct LayerGrads {
    weight: Vec<Tensor<2>>,
    bias: Vec<Option<Tensor<1>>>,
    /// dL/dz per layer and example, from the taps (when there are taps).
    delta: Option<Vec<Tensor<2>>>,
}

impl LayerGrads {
    fn read(model: &Mlp, trace: &Trace, grads: &Gradients, taps: bool) -> LayerGrads {
        LayerGrads {
            weight: model.layers.iter().map(|l| l.weight.grad(grads).expect("every weight has a gradient")).collect(),
            bias: model.layers.iter().map(|l| l.bias.as_ref().and_then(|b| b.grad(grads))).collect(),
            delta: taps.then(|| trace.taps.iter().map(|tap| tap.grad(grads).expect("every tap is in the graph")).collect()),
        }
    }
}

impl Trainee {
    /// The telemetry of one forward and backward pass of this model over `n` examples.
    fn measure(&self, g: &LayerGrads, trace: &Trace, n: usize) -> telemetry::Measured {
        telemetry::measure(&Observed {
            model: &self.model,
            grad_weight: &g.weight,
            grad_bias: &g.bias,
            delta: g.delta.as_deref(),
            trace,
            initial: &self.initial,
            initial_norms: &self.initial_norms,
            batch: n,
        })
    }
}

/// Reads a batch's mean loss and, for classes, its number of correct predictions back in
/// one transfer.
fn read_loss(loss: &Tensor<1>, correct: Option<&Tensor<1, Int>>) -> (f64, Option<i64>) {
    let mut tx = Transaction::default().register(loss.clone());
    if let Some(c) = correct {
        tx = tx.register(c.clone());
    }
    let values = tx.execute();
    let loss = values[0].clone().convert::<f32>().try_to_vec::<f32>().expect("the loss reads back as f32")[0];
    let correct = values.get(1).map(|c| c.clone().convert::<i64>().try_to_vec::<i64>().expect("a count reads back as i64")[0]);
    (f64::from(loss), correct)
}

/// Loss and accuracy over a whole split, in chunks, without autodiff.
fn evaluate(model: &Mlp, split: &SplitTensors, loss_kind: LossKind) -> (f64, Option<f64>) {
    let model = model.valid();
    let chunk = 2000;
    let (mut loss_sum, mut correct) = (0.0, 0i64);
    let mut start = 0;
    while start < split.len {
        let end = (start + chunk).min(split.len);
        let batch = split.slice(start, end);
        let (loss, c) = loss_and_correct(loss_kind, model.forward(batch.x.clone()), &batch);
        let (loss, c) = read_loss(&loss, c.as_ref());
        loss_sum += loss * (end - start) as f64;
        correct += c.unwrap_or(0);
        start = end;
    }
    let n = split.len.max(1) as f64;
    (loss_sum / n, matches!(loss_kind, LossKind::CrossEntropy).then(|| correct as f64 / n))
}

fn write_layers(run: &mut RunDir, model: &str, epoch: usize, step: usize, source: &'static str, m: &Measurement) -> Result<()> {
    for (i, layer) in m.layers.iter().enumerate() {
        for (metric, value) in layer.rows() {
            run.layer_row(&LayerRow { model, epoch, step, source, layer: i + 1, metric, value })?;
        }
    }
    Ok(())
}

fn model_view(name: &str, epoch: usize, step: usize, loss: f64, m: &Measurement) -> ModelView {
    let last = m.layers.last().map_or(0.0, |l| l.grad_norm_weight);
    ModelView {
        name: name.to_string(),
        epoch,
        step,
        loss,
        layers: m
            .layers
            .iter()
            .map(|l: &LayerMetrics| LayerView {
                grad_norm: l.grad_norm_weight,
                ratio_to_last: if last > 0.0 { l.grad_norm_weight / last } else { f64::NAN },
                saturation: l.saturation,
                dead_fraction: l.dead_fraction,
            })
            .collect(),
    }
}

/// Layer 1's probe gradient norm over the last layer's.
pub fn first_to_last(m: &Measurement) -> Option<f64> {
    let (first, last) = (m.layers.first()?, m.layers.last()?);
    (last.grad_norm_weight > 0.0).then(|| first.grad_norm_weight / last.grad_norm_weight)
}

fn index_tensor(idx: &[usize], device: &Device) -> Tensor<1, Int> {
    let v: Vec<i64> = idx.iter().map(|&i| i as i64).collect();
    Tensor::<1, Int>::from_data(TensorData::new(v, [idx.len()]), device)
}

fn outputs(task: &Task) -> usize {
    match *task {
        Task::Classification { classes } => classes,
        Task::Regression { outputs } => outputs,
    }
}

#[allow(clippy::too_many_arguments)]
fn manifest(
    exp: &Experiment,
    dataset: &Dataset,
    backend: &Backend,
    threads: &ComputeThreads,
    trainees: &[Trainee],
    cadence: &Cadence,
    loss: LossKind,
    probe: usize,
) -> Manifest {
    Manifest {
        name: exp.name.clone(),
        status: Status::Running,
        reason: None,
        seed: exp.seed,
        backend: backend.name().to_string(),
        threads: threads.threads(),
        flush_denormals: threads.flushing(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        git_revision: run_dir::git_revision(),
        started_at: run_dir::now_rfc3339(),
        ended_at: None,
        dataset: DatasetInfo {
            source: dataset.name.clone(),
            features: dataset.features,
            classes: match dataset.task {
                Task::Classification { classes } => Some(classes),
                Task::Regression { .. } => None,
            },
            outputs: outputs(&dataset.task),
            train: dataset.train.len,
            valid: dataset.valid.len,
            test: dataset.test.len,
            probe,
        },
        task: match dataset.task {
            Task::Classification { .. } => "classification",
            Task::Regression { .. } => "regression",
        }
        .to_string(),
        loss: loss.name().to_string(),
        models: trainees
            .iter()
            .map(|t| ModelInfo {
                name: t.name.clone(),
                activation: t.config.activation.name().to_string(),
                output_activation: t.config.output_activation.map_or("none", |a| a.name()).to_string(),
                init: t.config.init.to_string(),
                bias_init: t.config.bias_init.to_string(),
                layers: t.config.sizes(),
                parameters: t.config.num_params(),
                weights: format!("{}.bpk", t.name),
            })
            .collect(),
        telemetry: TelemetryInfo {
            enabled: exp.telemetry.enabled,
            every: cadence.every,
            early_steps: cadence.early_steps(),
            probe,
        },
    }
}

/// Where a run goes by default: `runs/<stamp>-<name>`.
pub fn default_out(root: &Path, name: &str) -> PathBuf {
    root.join("runs").join(format!("{}-{name}", run_dir::now_stamp()))
}
