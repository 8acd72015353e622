//! Operations the project computes faster than burn 0.22.1 does, plugged in through burn's
//! backend-extension API (`#[backend_extension]`), so that the models stay on plain
//! `Tensor`s and no backend is picked here.
//!
//! One operation so far, the sigmoid. burn-flex evaluates it one element at a time with
//! libm's scalar `expf`, and burn's autodiff keeps the sigmoid's input and evaluates it again
//! in the backward pass. [`sigmoid`] evaluates it once, in vectorized arithmetic on flex, and
//! its backward pass keeps the output, from which the derivative s (1 - s) follows (with
//! burn's own vectorized `sigmoid_backward`). On ndarray the values are burn's own sigmoid's,
//! kept for the backward pass all the same.

// burn-ndarray is deprecated in burn 0.22 but is still a backend the project runs on, and the
// code `#[backend_extension]` generates for it names it too.
#![allow(deprecated)]

mod exp;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind, unary};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::NdArray;
use burn::backend::ops::ActivationOps;
use burn::backend::{Autodiff, Backend, DType, Dispatch, Flex, backend_extension};
use burn::prelude::Tensor;

/// The project's operations, on every backend it runs on.
#[backend_extension(Flex, NdArray, Autodiff)]
pub trait Kernels: Backend {
    /// 1 / (1 + e^-x), element by element. By default, burn's own sigmoid.
    fn sigmoid_vectorized(x: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::sigmoid(x)
    }
}

/// The sigmoid of every element, forward and backward as described in the crate's docs.
pub fn sigmoid<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    Tensor::from_dispatch(<Dispatch as Kernels>::sigmoid_vectorized(x.into_dispatch()))
}

/// The same sigmoid on host slices: what flex's implementation runs on a tensor's buffer
/// (`dst` must be as long as `src`).
pub use exp::sigmoid as sigmoid_slice;

impl Kernels for NdArray {}

impl Kernels for Flex {
    fn sigmoid_vectorized(x: FloatTensor<Self>) -> FloatTensor<Self> {
        if x.dtype() != DType::F32 {
            return Self::sigmoid(x);
        }
        let Some((start, end)) = x.layout().contiguous_offsets() else {
            return Self::sigmoid(x);
        };
        let mut out = FlexTensor::empty(x.layout().shape().clone(), DType::F32);
        exp::sigmoid(&x.storage::<f32>()[start..end], out.storage_mut::<f32>());
        out
    }
}

/// The backward step of [`Kernels::sigmoid_vectorized`] under autodiff: its state is the
/// forward pass's output s, and the input's gradient is grad * s * (1 - s).
#[derive(Debug)]
struct SigmoidBackward;

impl<B: Backend> Backward<B, 1> for SigmoidBackward {
    type State = FloatTensor<B>;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let Ops { parents, node, state: output } = ops;
        unary::<B, _>(parents, node, grads, |grad| B::sigmoid_backward(output, grad));
    }
}

impl<B: Backend + Kernels, C: CheckpointStrategy> Kernels for Autodiff<B, C> {
    fn sigmoid_vectorized(x: FloatTensor<Self>) -> FloatTensor<Self> {
        // Compute-bound: the output is kept for the backward pass, never recomputed.
        match SigmoidBackward.prepare::<C>([x.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let output = B::sigmoid_vectorized(x.into_primitive());
                prep.finish(output.clone(), output)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::sigmoid_vectorized(x.into_primitive())),
        }
    }
}
