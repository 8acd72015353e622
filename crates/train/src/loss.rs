//! The losses (`train.loss`, the kind a config names), read back with the batch's correct
//! predictions, and evaluation over a split. Nielsen's sigmoid cross-entropy is public, for
//! users of the library and its test.

use crate::batches::{Batch, SplitTensors};
use crate::net::Net;
use burn::prelude::*;
use burn::tensor::Transaction;
use burn::tensor::activation::{log_sigmoid, log_softmax};
use serde::{Deserialize, Serialize};

/// The loss a config names (`train.loss`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LossKind {
    /// Softmax cross-entropy on logits, averaged over the batch.
    CrossEntropy,
    /// Mean squared error over every output of every example (PyTorch's `MSELoss`).
    Mse,
    /// Half the mean squared error: the tutorial's loss, 0.5 (out - target)^2.
    HalfMse,
    /// Nielsen's `network2.CrossEntropyCost`: a sigmoid on every output and the binary
    /// cross-entropy against one-hot targets, summed over the outputs and averaged over the
    /// batch, -(1/n) sum_x sum_j [y_j ln a_j + (1 - y_j) ln(1 - a_j)]. The model's outputs
    /// are the logits z (the sigmoid is the loss's), so that dC/dz = (a - y) / n.
    SigmoidCrossEntropy,
}

impl LossKind {
    pub fn name(self) -> &'static str {
        match self {
            LossKind::CrossEntropy => "cross-entropy",
            LossKind::Mse => "mse",
            LossKind::HalfMse => "half-mse",
            LossKind::SigmoidCrossEntropy => "sigmoid-cross-entropy",
        }
    }

    /// Whether the loss takes class labels (and accuracy is measured).
    pub fn classifies(self) -> bool {
        matches!(self, LossKind::CrossEntropy | LossKind::SigmoidCrossEntropy)
    }
}

/// The loss of a batch (mean over examples) and, for classes, the number of correct
/// predictions.
pub(crate) fn loss_and_correct(kind: LossKind, out: Tensor<2>, batch: &Batch) -> (Tensor<1>, Option<Tensor<1, Int>>) {
    match kind {
        LossKind::CrossEntropy => {
            let classes = batch.classes.clone().expect("validated: cross-entropy has class targets");
            let n = classes.dims()[0];
            let targets = classes.reshape([n, 1]);
            let correct = out.clone().argmax(1).equal(targets.clone()).int().sum();
            let nll = log_softmax(out, 1).gather(1, targets).mean().neg();
            (nll, Some(correct))
        }
        LossKind::SigmoidCrossEntropy => {
            let classes = batch.classes.clone().expect("validated: sigmoid cross-entropy has class targets");
            let n = out.dims()[0];
            let targets = classes.clone().reshape([n, 1]);
            let correct = out.clone().argmax(1).equal(targets).int().sum();
            let loss = sigmoid_cross_entropy(out, classes);
            (loss, Some(correct))
        }
        LossKind::Mse | LossKind::HalfMse => {
            let values = batch.values.clone().expect("validated: mse has real-valued targets");
            let mse = (out - values).square().mean();
            (if kind == LossKind::HalfMse { mse.mul_scalar(0.5) } else { mse }, None)
        }
    }
}

/// Nielsen's `network2.CrossEntropyCost` on logits `z` `[n, outputs]` and class indices
/// `[n]`: -(1/n) sum_x sum_j [y_j ln sigma(z_j) + (1 - y_j) ln(1 - sigma(z_j))] with one-hot
/// y, whose gradient is dC/dz = (sigma(z) - y) / n. burn's log-sigmoid keeps it finite for any
/// logit, where ln(1 - a) of a saturated output a = 1.0f32 would be ln 0.
pub fn sigmoid_cross_entropy(logits: Tensor<2>, classes: Tensor<1, Int>) -> Tensor<1> {
    let [n, outputs] = logits.dims();
    let y: Tensor<2> = classes.one_hot::<2>(outputs).float();
    let per_output = y.clone().mul(log_sigmoid(logits.clone())) + y.neg().add_scalar(1.0).mul(log_sigmoid(logits.neg()));
    per_output.sum().div_scalar(n as f64).neg()
}

/// Reads a batch's mean loss and, for classes, its number of correct predictions back in
/// one transfer.
pub(crate) fn read_loss(loss: &Tensor<1>, correct: Option<&Tensor<1, Int>>) -> (f64, Option<i64>) {
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
pub(crate) fn evaluate(model: &Net, split: &SplitTensors, loss_kind: LossKind) -> (f64, Option<f64>) {
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
    (loss_sum / n, loss_kind.classifies().then(|| correct as f64 / n))
}
