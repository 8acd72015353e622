//! The GRU cell's step after its products (reset-after form, as cuDNN, PyTorch and the models
//! crate define it), as one operation: the gates' nonlinearities and the state update forward,
//! and the gradients of both sides' pre-activations and of the previous hidden state in one
//! pass backward.
//!
//! Written step by step on burn's tensors, it is six slices, five additions and
//! multiplications, two sigmoids, a tanh and the interpolation between the candidate and the
//! previous state: about twenty autodiff nodes, each slice's backward pass a zeroed copy of a
//! whole pre-activation, and burn-flex's tanh one libm call per element. Here it is one node,
//! and on flex one loop over each row.

use crate::cells::{block, one_minus, with_avx2};
use crate::flex::{contiguous, rows_per_task};
use crate::{exp::sigmoid_one, matmul, tanh::tanh as tanh_one};
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, AutodiffBackend, Backend, Dispatch, Flex, NdArray, TensorMetadata, backend_extension};
use burn::prelude::Tensor;
use burn::tensor::Shape;
use rayon::prelude::*;

/// The fused GRU cell, on every backend the project runs on.
#[backend_extension(Flex, NdArray, Cube: cfg(any(feature = "wgpu", feature = "cuda")), Autodiff)]
pub trait GruKernels: Backend {
    /// One step of the cell from the input side's pre-activations `ax = x W + b` and the
    /// recurrent side's `ph = h_{t-1} U + b_h`, both `[n, 3 hidden]` (the update, reset and
    /// new gates' blocks side by side, as burn's `Gru` orders them), and h_{t-1} `[n, hidden]`
    /// (zeros at the first step): h_t, and the gates' values `[n, 3 hidden]` (z, r, and the
    /// candidate n), which need no gradient. `z = σ(ax_z + ph_z)`, `r = σ(ax_r + ph_r)`,
    /// `n = tanh(ax_n + r ph_n)` and `h_t = (1 - z) n + z h_{t-1}`.
    fn gru_cell(ax: FloatTensor<Self>, ph: FloatTensor<Self>, h_prev: FloatTensor<Self>) -> (FloatTensor<Self>, FloatTensor<Self>) {
        Self::gru_cell_forward(ax, ph, h_prev)
    }

    /// [`GruKernels::gru_cell`] on the inner backend (under autodiff, the backward pass keeps
    /// the gates, ph and h_{t-1}). By default, burn's operations.
    fn gru_cell_forward(ax: FloatTensor<Self>, ph: FloatTensor<Self>, h_prev: FloatTensor<Self>) -> (FloatTensor<Self>, FloatTensor<Self>) {
        forward_composed::<Self>(ax, ph, h_prev)
    }

    /// The gradients of ax, ph and h_{t-1} from h_t's: with `dn = dh (1 - z)(1 - n²)`,
    /// `dz = dh (h_{t-1} - n) z (1 - z)` and `dr = dn ph_n r (1 - r)`, ax's is `[dz, dr, dn]`,
    /// ph's `[dz, dr, dn r]`, and h_{t-1}'s `dh z`. By default, burn's operations.
    fn gru_cell_backward(
        grad: FloatTensor<Self>,
        gates: FloatTensor<Self>,
        ph: FloatTensor<Self>,
        h_prev: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        backward_composed::<Self>(grad, gates, ph, h_prev)
    }
}

impl GruKernels for NdArray {}

/// burn's GPU backends run the default body: burn's own operations, fused and tuned there.
#[cfg(any(feature = "wgpu", feature = "cuda"))]
impl GruKernels for burn::backend::Cube {}

/// The cell's sizes, n and hidden, from the pre-activations' shape.
fn sizes(a: &Shape) -> (usize, usize) {
    (a[0], a[1] / 3)
}

fn forward_composed<B: Backend>(ax: FloatTensor<B>, ph: FloatTensor<B>, h_prev: FloatTensor<B>) -> (FloatTensor<B>, FloatTensor<B>) {
    let (n, h) = sizes(&ax.shape());
    let side = |t: &FloatTensor<B>, k: usize| block::<B>(t, n, h, k);
    let z = B::sigmoid(B::float_add(side(&ax, 0), side(&ph, 0)));
    let r = B::sigmoid(B::float_add(side(&ax, 1), side(&ph, 1)));
    let cand = B::float_tanh(B::float_add(side(&ax, 2), B::float_mul(r.clone(), side(&ph, 2))));
    // The same operations in the same order as the step-by-step cell: (1 - z) n + z h_{t-1}.
    let h_t = B::float_add(B::float_mul(one_minus::<B>(z.clone()), cand.clone()), B::float_mul(z.clone(), h_prev));
    (h_t, B::float_cat(vec![z, r, cand], 1))
}

fn backward_composed<B: Backend>(
    grad: FloatTensor<B>,
    gates: FloatTensor<B>,
    ph: FloatTensor<B>,
    h_prev: FloatTensor<B>,
) -> (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>) {
    let (n, h) = sizes(&gates.shape());
    let [z, r, cand] = [0, 1, 2].map(|k| block::<B>(&gates, n, h, k));
    let ph_n = block::<B>(&ph, n, h, 2);
    let mul = |a: FloatTensor<B>, b: FloatTensor<B>| B::float_mul(a, b);
    let sigmoid_grad = |s: &FloatTensor<B>| mul(s.clone(), one_minus::<B>(s.clone()));
    let dn = mul(mul(grad.clone(), one_minus::<B>(z.clone())), one_minus::<B>(mul(cand.clone(), cand.clone())));
    let dz = mul(mul(grad.clone(), B::float_sub(h_prev, cand)), sigmoid_grad(&z));
    let dr = mul(mul(dn.clone(), ph_n), sigmoid_grad(&r));
    let dh_prev = mul(grad, z);
    let dph_n = mul(dn.clone(), r);
    (B::float_cat(vec![dz.clone(), dr.clone(), dn], 1), B::float_cat(vec![dz, dr, dph_n], 1), dh_prev)
}

/// One row of the forward pass: the gates from `ax` and `ph` `[3h]`, then h_t from h_{t-1}.
#[inline(always)]
fn forward_row(ax: &[f32], ph: &[f32], h_prev: &[f32], gates: &mut [f32], h_t: &mut [f32]) {
    let h = h_t.len();
    let (zr, cand) = gates.split_at_mut(2 * h);
    for ((d, &a), &p) in zr.iter_mut().zip(&ax[..2 * h]).zip(&ph[..2 * h]) {
        *d = sigmoid_one(a + p);
    }
    let (z, r) = zr.split_at(h);
    for ((d, &r), (&a, &p)) in cand.iter_mut().zip(r).zip(ax[2 * h..].iter().zip(&ph[2 * h..])) {
        *d = tanh_one(a + r * p);
    }
    for (((o, &z), &c), &hp) in h_t.iter_mut().zip(z).zip(cand.iter()).zip(h_prev) {
        *o = (1.0 - z) * c + z * hp;
    }
}

/// One row of the backward pass (see [`GruKernels::gru_cell_backward`]).
#[inline(always)]
fn backward_row(dh: &[f32], gates: &[f32], ph: &[f32], h_prev: &[f32], dax: &mut [f32], dph: &mut [f32], dh_prev: &mut [f32]) {
    let h = dh.len();
    let (z, rest) = gates.split_at(h);
    let (r, cand) = rest.split_at(h);
    let ph_n = &ph[2 * h..];
    let (dax_z, rest) = dax.split_at_mut(h);
    let (dax_r, dax_n) = rest.split_at_mut(h);
    let (dph_z, rest) = dph.split_at_mut(h);
    let (dph_r, dph_n) = rest.split_at_mut(h);
    for j in 0..h {
        let (z, r, c, g) = (z[j], r[j], cand[j], dh[j]);
        let dn = g * (1.0 - z) * (1.0 - c * c);
        let dz = g * (h_prev[j] - c) * (z * (1.0 - z));
        let dr = dn * ph_n[j] * (r * (1.0 - r));
        (dax_z[j], dax_r[j], dax_n[j]) = (dz, dr, dn);
        (dph_z[j], dph_r[j], dph_n[j]) = (dz, dr, dn * r);
        dh_prev[j] = g * z;
    }
}

impl GruKernels for Flex {
    fn gru_cell_forward(ax: FloatTensor<Self>, ph: FloatTensor<Self>, h_prev: FloatTensor<Self>) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let (n, h) = sizes(&ax.shape());
        let (Some(a), Some(p), Some(hp)) = (contiguous(&ax, 2), contiguous(&ph, 2), contiguous(&h_prev, 2)) else {
            return forward_composed::<Self>(ax, ph, h_prev);
        };
        if h == 0 || ax.shape()[1] != 3 * h || p.len() != 3 * n * h || h_prev.shape().dims::<2>() != [n, h] {
            return forward_composed::<Self>(ax, ph, h_prev);
        }
        let (mut h_t, mut gates) = (vec![0.0f32; n * h], vec![0.0f32; 3 * n * h]);
        h_t.par_chunks_mut(h)
            .zip(gates.par_chunks_mut(3 * h))
            .zip(a.par_chunks(3 * h).zip(p.par_chunks(3 * h)).zip(hp.par_chunks(h)))
            .with_min_len(rows_per_task(3 * h))
            .for_each(|((h_t, gates), ((ax, ph), h_prev))| with_avx2(|| forward_row(ax, ph, h_prev, gates, h_t)));
        (matmul::tensor(h_t, Shape::new([n, h])), matmul::tensor(gates, Shape::new([n, 3 * h])))
    }

    fn gru_cell_backward(
        grad: FloatTensor<Self>,
        gates: FloatTensor<Self>,
        ph: FloatTensor<Self>,
        h_prev: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let (n, h) = sizes(&gates.shape());
        let (Some(g), Some(gs), Some(p), Some(hp)) = (contiguous(&grad, 2), contiguous(&gates, 2), contiguous(&ph, 2), contiguous(&h_prev, 2))
        else {
            return backward_composed::<Self>(grad, gates, ph, h_prev);
        };
        if h == 0 || g.len() != n * h || hp.len() != n * h || p.len() != 3 * n * h || gs.len() != 3 * n * h {
            return backward_composed::<Self>(grad, gates, ph, h_prev);
        }
        let (mut dax, mut dph, mut dh_prev) = (vec![0.0f32; 3 * n * h], vec![0.0f32; 3 * n * h], vec![0.0f32; n * h]);
        dax.par_chunks_mut(3 * h)
            .zip(dph.par_chunks_mut(3 * h))
            .zip(dh_prev.par_chunks_mut(h))
            .zip(g.par_chunks(h).zip(gs.par_chunks(3 * h)).zip(p.par_chunks(3 * h).zip(hp.par_chunks(h))))
            .with_min_len(rows_per_task(3 * h))
            .for_each(|(((dax, dph), dh_prev), ((g, gates), (ph, h_prev)))| {
                with_avx2(|| backward_row(g, gates, ph, h_prev, dax, dph, dh_prev))
            });
        let (wide, narrow) = (Shape::new([n, 3 * h]), Shape::new([n, h]));
        (matmul::tensor(dax, wide.clone()), matmul::tensor(dph, wide), matmul::tensor(dh_prev, narrow))
    }
}

/// The backward step of [`GruKernels::gru_cell`] under autodiff: its state is (the gates, ph,
/// h_{t-1}), and the three gradients come from [`GruKernels::gru_cell_backward`].
#[derive(Debug)]
struct GruCellBackward;

impl<B: Backend + GruKernels> Backward<B, 3> for GruCellBackward {
    type State = (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let [ax, ph, h_prev] = ops.parents.map(|p| p.map(|n| n.id));
        let grad = grads.consume::<B>(&ops.node);
        let (gates, ph_values, h_prev_values) = ops.state;
        let (dax, dph, dh_prev) = B::gru_cell_backward(grad, gates, ph_values, h_prev_values);
        for (id, d) in [(ax, dax), (ph, dph), (h_prev, dh_prev)] {
            if let Some(id) = id {
                grads.register::<B>(id, d);
            }
        }
    }
}

impl<B: Backend + GruKernels, C: CheckpointStrategy> GruKernels for Autodiff<B, C> {
    fn gru_cell(ax: FloatTensor<Self>, ph: FloatTensor<Self>, h_prev: FloatTensor<Self>) -> (FloatTensor<Self>, FloatTensor<Self>) {
        // Compute-bound: the gates are kept for the backward pass, never recomputed, and go
        // out as a tensor outside the graph, for the telemetry.
        match GruCellBackward.prepare::<C>([ax.node(), ph.node(), h_prev.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let state = (ph.primitive().clone(), h_prev.primitive().clone());
                let (h_t, gates) = B::gru_cell_forward(ax.into_primitive(), ph.into_primitive(), h_prev.into_primitive());
                (prep.finish((gates.clone(), state.0, state.1), h_t), <Self as AutodiffBackend>::from_inner(gates))
            }
            OpsKind::UnTracked(prep) => {
                let (h_t, gates) = B::gru_cell_forward(ax.into_primitive(), ph.into_primitive(), h_prev.into_primitive());
                (prep.finish(h_t), <Self as AutodiffBackend>::from_inner(gates))
            }
        }
    }
}

/// One GRU step after its products (see [`GruKernels::gru_cell`]): from the input side's
/// pre-activations `ax` and the recurrent side's `ph`, both `[n, 3 hidden]`, and h_{t-1}
/// `[n, hidden]` (zeros before the first step), h_t and the gates `[n, 3 hidden]` (z, r, n)
/// outside the autodiff graph.
pub fn gru_cell(ax: Tensor<2>, ph: Tensor<2>, h_prev: Tensor<2>) -> (Tensor<2>, Tensor<2>) {
    let (h_t, gates) = <Dispatch as GruKernels>::gru_cell(ax.into_dispatch(), ph.into_dispatch(), h_prev.into_dispatch());
    (Tensor::from_dispatch(h_t), Tensor::from_dispatch(gates))
}
