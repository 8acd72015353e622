//! Dataset splits as tensors, and the batches cut from them.

use burn::prelude::*;
use data::{Split, Targets};

/// A dataset split as tensors on the plain (non-autodiff) device, ready for batching.
pub(crate) struct SplitTensors {
    x: Tensor<2>,
    /// Class indices `[n]` for classification.
    classes: Option<Tensor<1, Int>>,
    /// Targets `[n, outputs]` for regression.
    values: Option<Tensor<2>>,
    pub(crate) len: usize,
}

/// Inputs and targets of some examples.
pub(crate) struct Batch {
    pub(crate) x: Tensor<2>,
    pub(crate) classes: Option<Tensor<1, Int>>,
    pub(crate) values: Option<Tensor<2>>,
}

impl SplitTensors {
    pub(crate) fn new(split: &Split, features: usize, device: &Device) -> SplitTensors {
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
    pub(crate) fn batch(&self, idx: &[usize]) -> Batch {
        let idx = index_tensor(idx, &self.x.device());
        Batch {
            x: self.x.clone().select(0, idx.clone()),
            classes: self.classes.as_ref().map(|c| c.clone().select(0, idx.clone())),
            values: self.values.as_ref().map(|v| v.clone().select(0, idx.clone())),
        }
    }

    /// Rows `start..end`.
    pub(crate) fn slice(&self, start: usize, end: usize) -> Batch {
        Batch {
            x: self.x.clone().slice([start..end]),
            classes: self.classes.as_ref().map(|c| c.clone().slice([start..end])),
            values: self.values.as_ref().map(|v| v.clone().slice([start..end])),
        }
    }
}

fn index_tensor(idx: &[usize], device: &Device) -> Tensor<1, Int> {
    let v: Vec<i64> = idx.iter().map(|&i| i as i64).collect();
    Tensor::<1, Int>::from_data(TensorData::new(v, [idx.len()]), device)
}
