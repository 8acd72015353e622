//! The losses, read back with the batch's correct predictions, and evaluation over a split.
//! Nielsen's sigmoid cross-entropy is public, for users of the library and its test.

use crate::batches::{Batch, SplitTensors};
use crate::config::LossKind;
use burn::prelude::*;
use burn::tensor::Transaction;
use burn::tensor::activation::{log_sigmoid, log_softmax};
use crate::net::Net;

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
