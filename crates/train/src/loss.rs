//! The losses, read back with the batch's correct predictions, and evaluation over a split.

use crate::batches::{Batch, SplitTensors};
use crate::config::LossKind;
use burn::prelude::*;
use burn::tensor::Transaction;
use burn::tensor::activation::log_softmax;
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
        LossKind::Mse | LossKind::HalfMse => {
            let values = batch.values.clone().expect("validated: mse has real-valued targets");
            let mse = (out - values).square().mean();
            (if kind == LossKind::HalfMse { mse.mul_scalar(0.5) } else { mse }, None)
        }
    }
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
    (loss_sum / n, matches!(loss_kind, LossKind::CrossEntropy).then(|| correct as f64 / n))
}
