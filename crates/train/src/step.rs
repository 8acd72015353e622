//! One model under training, and what one step of it is: forward (tapped when measured),
//! backward, measure, clip, update.

use crate::batches::Batch;
use crate::loss::{LossKind, loss_and_correct, read_loss};
use crate::net::{Net, NetConfig};
use crate::optim::{OptimizerSpec, Updater};
use burn::prelude::*;
use gradflow::runfolder::Divergence;
use gradflow::{Cadence, Measurement, Taps, Watch};

/// One model under training and what is kept about it.
pub(crate) struct Trainee {
    pub(crate) name: String,
    pub(crate) config: NetConfig,
    pub(crate) model: Net,
    optim: Updater,
    pub(crate) watch: Watch,
    /// The global gradient norm this model is clipped to.
    pub(crate) clip: Option<f64>,
    /// Where it stopped on a non-finite value, if it did.
    pub(crate) diverged: Option<Divergence>,
    /// Running sums of the current epoch.
    pub(crate) loss_sum: f64,
    pub(crate) correct: i64,
    pub(crate) seen: usize,
    pub(crate) steps: usize,
    pub(crate) seconds: f64,
    pub(crate) probe_start: Option<Measurement>,
    pub(crate) probe_end: Option<Measurement>,
    pub(crate) last_test: (f64, Option<f64>),
}

impl Trainee {
    pub(crate) fn new(
        name: String,
        config: NetConfig,
        optimizer: &OptimizerSpec,
        clip: Option<f64>,
        cadence: Cadence,
        device: &Device,
    ) -> Trainee {
        let model = config.init(device);
        let watch = config.watch(&name, &model).with_cadence(cadence);
        Trainee {
            name,
            config,
            model,
            optim: Updater::new(optimizer),
            watch,
            clip,
            diverged: None,
            loss_sum: 0.0,
            correct: 0,
            seen: 0,
            steps: 0,
            seconds: 0.0,
            probe_start: None,
            probe_end: None,
            last_test: (f64::NAN, None),
        }
    }

    /// Clears the running sums for a new epoch.
    pub(crate) fn start_epoch(&mut self) {
        (self.loss_sum, self.correct, self.seen, self.steps, self.seconds) = (0.0, 0, 0, 0, 0.0);
    }
}

/// One optimizer step of one model over the `n` examples of `batch`. Returns the batch loss
/// and, on logged steps, the measurement with the global norm after clipping; `Err` names
/// what went non-finite.
pub(crate) fn train_step(
    t: &mut Trainee,
    batch: &Batch,
    n: usize,
    loss_kind: LossKind,
    lr: f64,
    logged: bool,
) -> Result<(f64, Option<(Measurement, f64)>), String> {
    let taps = t.watch.taps(logged);
    let out = t.model.forward_tapped(batch.x.clone(), &taps);
    let (loss, correct) = loss_and_correct(loss_kind, out, batch);
    let (loss_value, correct) = read_loss(&loss, correct.as_ref());
    t.correct += correct.unwrap_or(0);
    let grads = loss.backward();
    // Measured on logged steps, and on any step whose loss is not finite, to name the first
    // parameter that went bad.
    let measured = (logged || !loss_value.is_finite())
        .then(|| t.model.read(&mut t.watch, &grads, &taps))
        .transpose()
        .map_err(|e| e.to_string())?;
    let bad = measured.as_ref().and_then(|m| m.measurement.non_finite.clone());
    if !loss_value.is_finite() {
        return Err(match bad {
            Some(path) => format!("loss is {loss_value}; the first non-finite parameter is {path}"),
            None => format!("loss is {loss_value}"),
        });
    }
    if let Some(path) = bad {
        return Err(format!("non-finite gradient or value in {path} (loss {loss_value})"));
    }
    let mut grads = t.model.gradients(grads);
    let mut norm_after = measured.as_ref().map(|m| m.measurement.grad_norm);
    if let Some(max_norm) = t.clip {
        let total = norm_after.unwrap_or_else(|| t.model.global_norm(&grads));
        if !total.is_finite() {
            return Err(format!("gradient norm is {total}"));
        }
        let after = t.model.clip(&mut grads, total, max_norm);
        norm_after = norm_after.map(|_| after);
    }
    // The optimizer takes the model by value; an empty MLP holds its place meanwhile.
    let model = std::mem::take(&mut t.model);
    t.model = model.step(&mut t.optim, lr, grads);
    t.loss_sum += loss_value;
    t.seen += n;
    t.steps += 1;
    let measured = measured.map(|m| {
        let m = t.model.updated(&t.watch, m);
        let after = norm_after.unwrap_or(m.grad_norm);
        (m, after)
    });
    Ok((loss_value, measured))
}

/// A full-batch forward and backward on the probe set, with no update, through the model as
/// it is evaluated: BatchNorm normalizes with its running statistics (and does not update
/// them), as in the test set's evaluation.
pub(crate) fn probe(t: &mut Trainee, probe: &Batch, loss_kind: LossKind) -> Result<Measurement, gradflow::Error> {
    let model = t.model.clone().with_training(false);
    let taps = Taps::on();
    let out = model.forward_tapped(probe.x.clone(), &taps);
    let (loss, _) = loss_and_correct(loss_kind, out, probe);
    let grads = loss.backward();
    Ok(model.read(&mut t.watch, &grads, &taps)?.into_measurement())
}
