//! Operations the project computes faster than burn 0.22.1 does, plugged in through burn's
//! backend-extension API (`#[backend_extension]`), so that the models stay on plain
//! `Tensor`s and no backend is picked here.
//!
//! - [`sigmoid`]: burn-flex evaluates it one element at a time with libm's scalar `expf`,
//!   and burn's autodiff keeps the sigmoid's input and evaluates it again in the backward
//!   pass. Here it is evaluated once, in vectorized arithmetic on flex, and the backward pass
//!   keeps the output, from which the derivative s (1 - s) follows (with burn's own vectorized
//!   `sigmoid_backward`). On ndarray the values are burn's own sigmoid's, kept for the
//!   backward pass all the same.
//! - [`linear`]: `x W + b` in one matrix product that starts from the bias, and a backward
//!   pass of two products and a column sum. On flex every product writes a fresh buffer that
//!   becomes the tensor as it is (see `matmul.rs` for what burn-flex does instead).
//! - [`sgd_update`]: `w - lr g`, with burn's own rounding, in place where the parameter's
//!   buffer is not shared, in one pass split over the current rayon pool. burn's optimizer
//!   makes two single-threaded passes and a new buffer for each.
//!
//! Each has a default body made of burn's own operations, which is what ndarray runs.
//!
//! Besides these, [`host_values`] reads a flex tensor's values in place, for the telemetry.

// burn-ndarray is deprecated in burn 0.22 but is still a backend the project runs on, and the
// code `#[backend_extension]` generates for it names it too.
#![allow(deprecated)]

mod exp;
mod host;
mod matmul;

pub use host::{HostValues, host_values};

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind, unary};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::NdArray;
use burn::backend::ops::{ActivationOps, FloatTensorOps};
use burn::backend::{Autodiff, Backend, DType, Dispatch, Flex, Scalar, TensorMetadata, backend_extension};
use burn::prelude::Tensor;
use burn::tensor::Shape;
use matmul::{Start, View};
use rayon::prelude::*;

/// The project's operations, on every backend it runs on.
#[backend_extension(Flex, NdArray, Autodiff)]
pub trait Kernels: Backend {
    /// 1 / (1 + e^-x), element by element. By default, burn's own sigmoid.
    fn sigmoid_vectorized(x: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::sigmoid(x)
    }

    /// `x w + b` for x `[n, in]`, w `[in, out]` and b `[out]`. By default, burn's matmul
    /// and a broadcast addition.
    fn linear_fused(x: FloatTensor<Self>, w: FloatTensor<Self>, b: FloatTensor<Self>) -> FloatTensor<Self> {
        linear_composed::<Self>(x, w, b)
    }

    /// `x w + b + tap`, as [`Kernels::linear_fused`] plus a `[n, out]` tensor: the telemetry
    /// adds a zero tap that requires grad, whose gradient is then dL/dz. By default, burn's
    /// matmul and two additions.
    fn linear_tapped(x: FloatTensor<Self>, w: FloatTensor<Self>, b: FloatTensor<Self>, tap: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::float_add(linear_composed::<Self>(x, w, b), tap)
    }

    /// `a b` for 2-D a `[m, k]` and b `[k, n]` of any strides. By default, burn's matmul.
    fn matmul_2d(a: FloatTensor<Self>, b: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::float_matmul(a, b)
    }

    /// `a1 b1` and `a2 b2`, as [`Kernels::matmul_2d`] each: the two products of a linear
    /// layer's backward pass, which flex computes side by side when they are small.
    fn matmul_2d_pair(
        a1: FloatTensor<Self>,
        b1: FloatTensor<Self>,
        a2: FloatTensor<Self>,
        b2: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        (Self::matmul_2d(a1, b1), Self::matmul_2d(a2, b2))
    }

    /// The sum of a 2-D tensor's rows, `[m, n]` to `[n]`. By default, burn's `sum_dim`.
    fn sum_rows(x: FloatTensor<Self>) -> FloatTensor<Self> {
        sum_rows_composed::<Self>(x)
    }

    /// `param - lr grad`. By default, burn's SGD arithmetic: `param - (grad * lr)`.
    fn sgd_update(param: FloatTensor<Self>, grad: FloatTensor<Self>, lr: f64) -> FloatTensor<Self> {
        sgd_composed::<Self>(param, grad, lr)
    }
}

fn linear_composed<B: Backend>(x: FloatTensor<B>, w: FloatTensor<B>, b: FloatTensor<B>) -> FloatTensor<B> {
    let n = b.shape()[0];
    B::float_add(B::float_matmul(x, w), B::float_reshape(b, Shape::new([1, n])))
}

fn sum_rows_composed<B: Backend>(x: FloatTensor<B>) -> FloatTensor<B> {
    let n = x.shape()[1];
    B::float_reshape(B::float_sum_dim(x, 0), Shape::new([n]))
}

fn sgd_composed<B: Backend>(param: FloatTensor<B>, grad: FloatTensor<B>, lr: f64) -> FloatTensor<B> {
    B::float_sub(param, B::float_mul_scalar(grad, Scalar::Float(lr)))
}

/// `x w + b + tap` (see [`Kernels::linear_fused`] and [`Kernels::linear_tapped`]): the layer
/// of an MLP, x `[n, in]`, w `[in, out]`, b `[out]`, tap `[n, out]`.
pub fn linear(x: Tensor<2>, w: Tensor<2>, b: Option<Tensor<1>>, tap: Option<Tensor<2>>) -> Tensor<2> {
    let (x, w) = (x.into_dispatch(), w.into_dispatch());
    match (b, tap) {
        (Some(b), Some(tap)) => Tensor::from_dispatch(<Dispatch as Kernels>::linear_tapped(x, w, b.into_dispatch(), tap.into_dispatch())),
        (Some(b), None) => Tensor::from_dispatch(<Dispatch as Kernels>::linear_fused(x, w, b.into_dispatch())),
        (None, tap) => {
            let z = Tensor::from_dispatch(<Dispatch as Kernels>::matmul_2d(x, w));
            match tap {
                Some(tap) => z + tap,
                None => z,
            }
        }
    }
}

/// One plain SGD step of a parameter, `param - lr grad`, on tensors outside the autodiff graph
/// (see [`Kernels::sgd_update`]). Equal, element for element, to burn's `Sgd` without momentum
/// or weight decay.
pub fn sgd_update<const D: usize>(param: Tensor<D>, grad: Tensor<D>, lr: f64) -> Tensor<D> {
    Tensor::from_dispatch(<Dispatch as Kernels>::sgd_update(param.into_dispatch(), grad.into_dispatch(), lr))
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
        // A tensor of its own buffer (`FlexTensor::empty` would zero one and copy it again).
        let src = &x.storage::<f32>()[start..end];
        let mut out = vec![0.0f32; src.len()];
        if src.len() >= 2 * SIGMOID_CHUNK {
            out.par_chunks_mut(SIGMOID_CHUNK).zip(src.par_chunks(SIGMOID_CHUNK)).for_each(|(d, s)| exp::sigmoid(s, d));
        } else {
            exp::sigmoid(src, &mut out);
        }
        FlexTensor::new(
            burn::tensor::Bytes::from_elems(out),
            burn::backend::flex::Layout::contiguous(x.shape()),
            DType::F32,
        )
    }

    fn linear_fused(x: FloatTensor<Self>, w: FloatTensor<Self>, b: FloatTensor<Self>) -> FloatTensor<Self> {
        match (View::of(&x), View::of(&w), contiguous(&b, 1)) {
            (Some(xv), Some(wv), Some(bias)) if xv.cols() == wv.rows() && bias.len() == wv.cols() => {
                matmul::product(xv, wv, Start::Bias(bias))
            }
            _ => linear_composed::<Self>(x, w, b),
        }
    }

    fn linear_tapped(x: FloatTensor<Self>, w: FloatTensor<Self>, b: FloatTensor<Self>, tap: FloatTensor<Self>) -> FloatTensor<Self> {
        match (View::of(&x), View::of(&w), contiguous(&b, 1), contiguous(&tap, 2)) {
            (Some(xv), Some(wv), Some(bias), Some(matrix))
                if xv.cols() == wv.rows() && bias.len() == wv.cols() && tap.shape().dims::<2>() == [xv.rows(), wv.cols()] =>
            {
                matmul::product(xv, wv, Start::BiasAndMatrix(bias, matrix))
            }
            _ => Self::float_add(linear_composed::<Self>(x, w, b), tap),
        }
    }

    fn matmul_2d(a: FloatTensor<Self>, b: FloatTensor<Self>) -> FloatTensor<Self> {
        match (View::of(&a), View::of(&b)) {
            (Some(av), Some(bv)) if av.cols() == bv.rows() => matmul::product(av, bv, Start::Zero),
            _ => Self::float_matmul(a, b),
        }
    }

    fn matmul_2d_pair(
        a1: FloatTensor<Self>,
        b1: FloatTensor<Self>,
        a2: FloatTensor<Self>,
        b2: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        match (View::of(&a1), View::of(&b1), View::of(&a2), View::of(&b2)) {
            (Some(a1v), Some(b1v), Some(a2v), Some(b2v)) if a1v.cols() == b1v.rows() && a2v.cols() == b2v.rows() => {
                matmul::two_products((a1v, b1v), (a2v, b2v))
            }
            _ => (Self::matmul_2d(a1, b1), Self::matmul_2d(a2, b2)),
        }
    }

    fn sum_rows(x: FloatTensor<Self>) -> FloatTensor<Self> {
        match View::of(&x) {
            Some(v) => matmul::sum_rows(v),
            None => sum_rows_composed::<Self>(x),
        }
    }

    fn sgd_update(mut param: FloatTensor<Self>, grad: FloatTensor<Self>, lr: f64) -> FloatTensor<Self> {
        if param.dtype() != DType::F32 || grad.dtype() != DType::F32 || param.shape() != grad.shape() {
            return sgd_composed::<Self>(param, grad, lr);
        }
        let (Some((ps, pe)), Some((gs, ge))) = (param.layout().contiguous_offsets(), grad.layout().contiguous_offsets())
        else {
            return sgd_composed::<Self>(param, grad, lr);
        };
        // burn multiplies by the learning rate as an f32, then subtracts: the same two roundings.
        let lr = lr as f32;
        let g = &grad.storage::<f32>()[gs..ge];
        if let Some(p) = param.try_storage_mut::<f32>() {
            sgd_in_place(&mut p[ps..pe], g, lr);
            return param;
        }
        // The buffer is shared (a clone of the parameter, or telemetry reading it in place):
        // the update goes into a new one.
        let p = &param.storage::<f32>()[ps..pe];
        let mut out = Vec::with_capacity(p.len());
        p.par_iter().zip(g).with_min_len(SGD_CHUNK).map(|(p, g)| p - g * lr).collect_into_vec(&mut out);
        let shape = param.shape();
        FlexTensor::new(
            burn::tensor::Bytes::from_elems(out),
            burn::backend::flex::Layout::contiguous(shape),
            DType::F32,
        )
    }
}

/// Elements per piece of work of the sigmoid: a tensor of two or more is split over the
/// current rayon pool (a 128x256 batch of activations takes about 20 us on one thread).
const SIGMOID_CHUNK: usize = 1 << 13;

/// Elements per piece of work of the SGD update: enough that a piece's work dwarfs handing it
/// to another thread.
const SGD_CHUNK: usize = 1 << 15;

/// The values of a contiguous f32 flex tensor of `dims` dimensions.
fn contiguous(t: &FlexTensor, dims: usize) -> Option<&[f32]> {
    if t.dtype() != DType::F32 || t.layout().num_dims() != dims {
        return None;
    }
    let (start, end) = t.layout().contiguous_offsets()?;
    Some(&t.storage::<f32>()[start..end])
}

/// `p -= g * lr`, element by element, in chunks split over the current rayon pool.
fn sgd_in_place(p: &mut [f32], g: &[f32], lr: f32) {
    const CHUNK: usize = SGD_CHUNK;
    let serial = |p: &mut [f32], g: &[f32]| {
        for (p, g) in p.iter_mut().zip(g) {
            *p -= g * lr;
        }
    };
    if p.len() < 2 * CHUNK {
        serial(p, g);
    } else {
        p.par_chunks_mut(CHUNK).zip(g.par_chunks(CHUNK)).for_each(|(p, g)| serial(p, g));
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

/// The backward step of [`Kernels::linear_fused`] under autodiff, with a bias: its state is
/// (x, w), and the gradients are dx = g w^T, dw = x^T g and db = the sum of g's rows.
#[derive(Debug)]
struct LinearBackward;

/// The backward step of [`Kernels::linear_tapped`] under autodiff: as [`LinearBackward`], and
/// the tap's gradient is g itself.
#[derive(Debug)]
struct LinearTappedBackward;

/// The backward step of [`Kernels::matmul_2d`] under autodiff (a layer without bias): as
/// [`LinearBackward`], without the bias.
#[derive(Debug)]
struct LinearNoBiasBackward;

/// The gradients of x and w, each computed only when its parent takes part in the graph.
fn linear_input_grads<B: Backend + Kernels>(
    [x_node, w_node]: [Option<NodeId>; 2],
    (x, w): (FloatTensor<B>, FloatTensor<B>),
    grad: &FloatTensor<B>,
    grads: &mut Gradients,
) {
    match (x_node, w_node) {
        (Some(x_id), Some(w_id)) => {
            let (dx, dw) = B::matmul_2d_pair(grad.clone(), B::float_transpose(w), B::float_transpose(x), grad.clone());
            grads.register::<B>(w_id, dw);
            grads.register::<B>(x_id, dx);
        }
        (None, Some(w_id)) => grads.register::<B>(w_id, B::matmul_2d(B::float_transpose(x), grad.clone())),
        (Some(x_id), None) => grads.register::<B>(x_id, B::matmul_2d(grad.clone(), B::float_transpose(w))),
        (None, None) => {}
    }
}

impl<B: Backend + Kernels> Backward<B, 3> for LinearBackward {
    type State = (FloatTensor<B>, FloatTensor<B>);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let Ops { parents: [x_node, w_node, b_node], node, state } = ops;
        let grad = grads.consume::<B>(&node);
        if let Some(node) = b_node {
            grads.register::<B>(node.id, B::sum_rows(grad.clone()));
        }
        linear_input_grads::<B>([x_node.map(|n| n.id), w_node.map(|n| n.id)], state, &grad, grads);
    }
}

impl<B: Backend + Kernels> Backward<B, 4> for LinearTappedBackward {
    type State = (FloatTensor<B>, FloatTensor<B>);

    fn backward(self, ops: Ops<Self::State, 4>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let Ops { parents: [x_node, w_node, b_node, tap_node], node, state } = ops;
        let grad = grads.consume::<B>(&node);
        if let Some(node) = tap_node {
            grads.register::<B>(node.id, grad.clone());
        }
        if let Some(node) = b_node {
            grads.register::<B>(node.id, B::sum_rows(grad.clone()));
        }
        linear_input_grads::<B>([x_node.map(|n| n.id), w_node.map(|n| n.id)], state, &grad, grads);
    }
}

impl<B: Backend + Kernels> Backward<B, 2> for LinearNoBiasBackward {
    type State = (FloatTensor<B>, FloatTensor<B>);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let Ops { parents: [x_node, w_node], node, state } = ops;
        let grad = grads.consume::<B>(&node);
        linear_input_grads::<B>([x_node.map(|n| n.id), w_node.map(|n| n.id)], state, &grad, grads);
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

    fn linear_fused(x: FloatTensor<Self>, w: FloatTensor<Self>, b: FloatTensor<Self>) -> FloatTensor<Self> {
        // Compute-bound: x and w are kept (shared, not copied) for the backward pass.
        match LinearBackward.prepare::<C>([x.node(), w.node(), b.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let state = (x.primitive().clone(), w.primitive().clone());
                prep.finish(state, B::linear_fused(x.into_primitive(), w.into_primitive(), b.into_primitive()))
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(B::linear_fused(x.into_primitive(), w.into_primitive(), b.into_primitive()))
            }
        }
    }

    fn linear_tapped(x: FloatTensor<Self>, w: FloatTensor<Self>, b: FloatTensor<Self>, tap: FloatTensor<Self>) -> FloatTensor<Self> {
        match LinearTappedBackward.prepare::<C>([x.node(), w.node(), b.node(), tap.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let state = (x.primitive().clone(), w.primitive().clone());
                let out = B::linear_tapped(x.into_primitive(), w.into_primitive(), b.into_primitive(), tap.into_primitive());
                prep.finish(state, out)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(B::linear_tapped(x.into_primitive(), w.into_primitive(), b.into_primitive(), tap.into_primitive()))
            }
        }
    }

    fn matmul_2d(x: FloatTensor<Self>, w: FloatTensor<Self>) -> FloatTensor<Self> {
        match LinearNoBiasBackward.prepare::<C>([x.node(), w.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let state = (x.primitive().clone(), w.primitive().clone());
                prep.finish(state, B::matmul_2d(x.into_primitive(), w.into_primitive()))
            }
            OpsKind::UnTracked(prep) => prep.finish(B::matmul_2d(x.into_primitive(), w.into_primitive())),
        }
    }
}
