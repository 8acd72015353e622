//! The LSTM cell's step after its products, as one operation: the gates' nonlinearities and
//! the cell update forward, and the gradients of the pre-activations and of the previous cell
//! state in one pass backward.
//!
//! Written step by step on burn's tensors, one LSTM step after the products is four slices,
//! three sigmoids, two tanhs, four multiplications and an addition: about fourteen autodiff
//! nodes, each with its own buffers and backward step (each slice's backward pass writes a
//! zeroed copy of the whole pre-activation), and burn-flex evaluates the tanh one element at a
//! time with libm. Here it is one node, and on flex one loop over each row.
//!
//! burn's autodiff gives a node one output, and the step has two that the next step reads: the
//! hidden state h_t and the cell state c_t. They travel as one tensor, the *state*
//! `[2n, hidden]`: h_t in rows `0..n`, c_t in rows `n..2n`, so that `state.slice([0..n])` is h_t
//! as a contiguous view, and the next step's node takes the whole state as its parent and
//! sends the gradient of c_{t-1} back through it.

use crate::cells::{block, one_minus, with_avx2};
use crate::flex::{contiguous, rows_per_task};
use crate::{matmul, tanh::tanh as tanh_one, exp::sigmoid_one};
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, AutodiffBackend, Backend, Dispatch, Flex, NdArray, TensorMetadata, backend_extension};
use burn::prelude::Tensor;
use burn::tensor::{Shape, Slice};
use rayon::prelude::*;

/// The fused LSTM cell, on every backend the project runs on.
#[backend_extension(Flex, NdArray, Cube: cfg(any(feature = "wgpu", feature = "cuda")), Autodiff)]
pub trait LstmKernels: Backend {
    /// One step of the cell from the pre-activations `a` `[n, 4 hidden]` (the input, forget,
    /// cell and output gates' blocks side by side, as burn's `Lstm` orders them) and the
    /// previous state `[2n, hidden]` (h_{t-1} over c_{t-1}; zeros at the first step): the new
    /// state (h_t over c_t) and the gates' values `[n, 4 hidden]` (i, f, g, o), which need no
    /// gradient. `c_t = f c_{t-1} + i g` and `h_t = o tanh(c_t)`, with i, f, o sigmoids and g
    /// a tanh of their blocks.
    fn lstm_cell(a: FloatTensor<Self>, state_prev: FloatTensor<Self>) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let (state, gates, _) = Self::lstm_cell_forward(a, state_prev);
        (state, gates)
    }

    /// [`LstmKernels::lstm_cell`] and what its backward pass needs besides the previous state:
    /// the state, the gates, and `tanh(c_t)` `[n, hidden]`. By default, burn's operations.
    fn lstm_cell_forward(
        a: FloatTensor<Self>,
        state_prev: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        forward_composed::<Self>(a, state_prev)
    }

    /// The gradients of the pre-activations `[n, 4 hidden]` and of the previous state
    /// `[2n, hidden]` (zero in h_{t-1}'s rows, which the cell does not read) from the state's
    /// gradient: with `dc = dL/dc_t + dL/dh_t o (1 - tanh²(c_t))`, the gates' gradients are
    /// `dc g`, `dc c_{t-1}`, `dc i` and `dL/dh_t tanh(c_t)` through their nonlinearities'
    /// derivatives, and `dL/dc_{t-1} = dc f`. By default, burn's operations.
    fn lstm_cell_backward(
        grad: FloatTensor<Self>,
        gates: FloatTensor<Self>,
        state_prev: FloatTensor<Self>,
        tanh_c: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        backward_composed::<Self>(grad, gates, state_prev, tanh_c)
    }
}

impl LstmKernels for NdArray {}

/// burn's GPU backends run the default body: burn's own operations, fused and tuned there.
#[cfg(any(feature = "wgpu", feature = "cuda"))]
impl LstmKernels for burn::backend::Cube {}

/// Rows `from..to` of a 2-D tensor.
fn rows<B: Backend>(t: &FloatTensor<B>, from: usize, to: usize) -> FloatTensor<B> {
    B::float_slice(t.clone(), &[Slice::from(from..to)])
}

/// The cell's sizes, n and hidden, from the pre-activations' shape.
fn sizes(a: &Shape) -> (usize, usize) {
    (a[0], a[1] / 4)
}

fn forward_composed<B: Backend>(a: FloatTensor<B>, state_prev: FloatTensor<B>) -> (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>) {
    let (n, h) = sizes(&a.shape());
    let i = B::sigmoid(block::<B>(&a, n, h, 0));
    let f = B::sigmoid(block::<B>(&a, n, h, 1));
    let g = B::float_tanh(block::<B>(&a, n, h, 2));
    let o = B::sigmoid(block::<B>(&a, n, h, 3));
    let c_prev = rows::<B>(&state_prev, n, 2 * n);
    let c = B::float_add(B::float_mul(f.clone(), c_prev), B::float_mul(i.clone(), g.clone()));
    let tanh_c = B::float_tanh(c.clone());
    let h_t = B::float_mul(o.clone(), tanh_c.clone());
    (B::float_cat(vec![h_t, c], 0), B::float_cat(vec![i, f, g, o], 1), tanh_c)
}

fn backward_composed<B: Backend>(
    grad: FloatTensor<B>,
    gates: FloatTensor<B>,
    state_prev: FloatTensor<B>,
    tanh_c: FloatTensor<B>,
) -> (FloatTensor<B>, FloatTensor<B>) {
    let (n, h) = sizes(&gates.shape());
    let [i, f, g, o] = [0, 1, 2, 3].map(|k| block::<B>(&gates, n, h, k));
    let (dh, dc_next) = (rows::<B>(&grad, 0, n), rows::<B>(&grad, n, 2 * n));
    let c_prev = rows::<B>(&state_prev, n, 2 * n);
    let mul = |a: FloatTensor<B>, b: FloatTensor<B>| B::float_mul(a, b);
    // σ' = s (1 - s) and tanh' = 1 - t², from the values.
    let sigmoid_grad = |s: &FloatTensor<B>| mul(s.clone(), one_minus::<B>(s.clone()));
    let tanh_grad = |t: &FloatTensor<B>| one_minus::<B>(mul(t.clone(), t.clone()));
    let dc = B::float_add(dc_next, mul(mul(dh.clone(), o.clone()), tanh_grad(&tanh_c)));
    let da_i = mul(mul(dc.clone(), g.clone()), sigmoid_grad(&i));
    let da_f = mul(mul(dc.clone(), c_prev), sigmoid_grad(&f));
    let da_g = mul(mul(dc.clone(), i), tanh_grad(&g));
    let da_o = mul(mul(dh, tanh_c), sigmoid_grad(&o));
    let dc_prev = mul(dc, f);
    let zeros = B::float_zeros(Shape::new([n, h]), &dc_prev.device(), dc_prev.dtype().into());
    (B::float_cat(vec![da_i, da_f, da_g, da_o], 1), B::float_cat(vec![zeros, dc_prev], 0))
}

/// One row of the forward pass: the gates from the pre-activations `a` `[4h]`, then c, tanh(c)
/// and h from the previous cell state `c_prev` `[h]`.
#[inline(always)]
fn forward_row(a: &[f32], c_prev: &[f32], gates: &mut [f32], c: &mut [f32], tanh_c: &mut [f32], h_t: &mut [f32]) {
    let h = c.len();
    let (sig_if, rest) = gates.split_at_mut(2 * h);
    let (g, o) = rest.split_at_mut(h);
    for (d, &x) in sig_if.iter_mut().zip(&a[..2 * h]) {
        *d = sigmoid_one(x);
    }
    for (d, &x) in g.iter_mut().zip(&a[2 * h..3 * h]) {
        *d = tanh_one(x);
    }
    for (d, &x) in o.iter_mut().zip(&a[3 * h..]) {
        *d = sigmoid_one(x);
    }
    let (i, f) = sig_if.split_at(h);
    for (((c, t), h_t), (((&i, &f), (&g, &o)), &cp)) in
        c.iter_mut().zip(tanh_c.iter_mut()).zip(h_t.iter_mut()).zip(i.iter().zip(f).zip(g.iter().zip(o.iter())).zip(c_prev))
    {
        // The same operations in the same order as burn's `Lstm`: f c_{t-1} + i g.
        *c = f * cp + i * g;
        *t = tanh_one(*c);
        *h_t = o * *t;
    }
}

/// One row of the backward pass (see [`LstmKernels::lstm_cell_backward`]).
#[inline(always)]
fn backward_row(dh: &[f32], dc_next: &[f32], gates: &[f32], c_prev: &[f32], tanh_c: &[f32], da: &mut [f32], dc_prev: &mut [f32]) {
    let h = dh.len();
    let (i, rest) = gates.split_at(h);
    let (f, rest) = rest.split_at(h);
    let (g, o) = rest.split_at(h);
    let (da_i, rest) = da.split_at_mut(h);
    let (da_f, rest) = rest.split_at_mut(h);
    let (da_g, da_o) = rest.split_at_mut(h);
    for j in 0..h {
        let (i, f, g, o, t) = (i[j], f[j], g[j], o[j], tanh_c[j]);
        let dc = dc_next[j] + dh[j] * o * (1.0 - t * t);
        da_i[j] = dc * g * (i * (1.0 - i));
        da_f[j] = dc * c_prev[j] * (f * (1.0 - f));
        da_g[j] = dc * i * (1.0 - g * g);
        da_o[j] = dh[j] * t * (o * (1.0 - o));
        dc_prev[j] = dc * f;
    }
}

impl LstmKernels for Flex {
    fn lstm_cell_forward(
        a: FloatTensor<Self>,
        state_prev: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let (n, h) = sizes(&a.shape());
        let (Some(av), Some(sp)) = (contiguous(&a, 2), contiguous(&state_prev, 2)) else {
            return forward_composed::<Self>(a, state_prev);
        };
        if h == 0 || a.shape()[1] != 4 * h || state_prev.shape().dims::<2>() != [2 * n, h] {
            return forward_composed::<Self>(a, state_prev);
        }
        let c_prev = &sp[n * h..];
        let mut state = vec![0.0f32; 2 * n * h];
        let (mut gates, mut tanh_c) = (vec![0.0f32; 4 * n * h], vec![0.0f32; n * h]);
        let (h_t, c) = state.split_at_mut(n * h);
        h_t.par_chunks_mut(h)
            .zip(c.par_chunks_mut(h))
            .zip(gates.par_chunks_mut(4 * h).zip(tanh_c.par_chunks_mut(h)))
            .zip(av.par_chunks(4 * h).zip(c_prev.par_chunks(h)))
            .with_min_len(rows_per_task(4 * h))
            .for_each(|(((h_t, c), (gates, tanh_c)), (a, c_prev))| with_avx2(|| forward_row(a, c_prev, gates, c, tanh_c, h_t)));
        (
            matmul::tensor(state, Shape::new([2 * n, h])),
            matmul::tensor(gates, Shape::new([n, 4 * h])),
            matmul::tensor(tanh_c, Shape::new([n, h])),
        )
    }

    fn lstm_cell_backward(
        grad: FloatTensor<Self>,
        gates: FloatTensor<Self>,
        state_prev: FloatTensor<Self>,
        tanh_c: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let (n, h) = sizes(&gates.shape());
        let (Some(gr), Some(gs), Some(sp), Some(tc)) =
            (contiguous(&grad, 2), contiguous(&gates, 2), contiguous(&state_prev, 2), contiguous(&tanh_c, 2))
        else {
            return backward_composed::<Self>(grad, gates, state_prev, tanh_c);
        };
        if h == 0 || gr.len() != 2 * n * h || sp.len() != 2 * n * h || tc.len() != n * h || gs.len() != 4 * n * h {
            return backward_composed::<Self>(grad, gates, state_prev, tanh_c);
        }
        let (dh, dc_next) = gr.split_at(n * h);
        let c_prev = &sp[n * h..];
        let (mut da, mut dstate) = (vec![0.0f32; 4 * n * h], vec![0.0f32; 2 * n * h]);
        let dc_prev = &mut dstate[n * h..];
        da.par_chunks_mut(4 * h)
            .zip(dc_prev.par_chunks_mut(h))
            .zip(dh.par_chunks(h).zip(dc_next.par_chunks(h)))
            .zip(gs.par_chunks(4 * h).zip(c_prev.par_chunks(h)).zip(tc.par_chunks(h)))
            .with_min_len(rows_per_task(4 * h))
            .for_each(|(((da, dc_prev), (dh, dc_next)), ((gates, c_prev), tanh_c))| {
                with_avx2(|| backward_row(dh, dc_next, gates, c_prev, tanh_c, da, dc_prev))
            });
        (matmul::tensor(da, Shape::new([n, 4 * h])), matmul::tensor(dstate, Shape::new([2 * n, h])))
    }
}

/// The backward step of [`LstmKernels::lstm_cell`] under autodiff: its state is (the gates,
/// the previous state, tanh(c_t)), and both gradients come from
/// [`LstmKernels::lstm_cell_backward`].
#[derive(Debug)]
struct LstmCellBackward;

impl<B: Backend + LstmKernels> Backward<B, 2> for LstmCellBackward {
    type State = (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let [a, state_prev] = ops.parents.map(|p| p.map(|n| n.id));
        let grad = grads.consume::<B>(&ops.node);
        let (gates, prev, tanh_c) = ops.state;
        let (da, dprev) = B::lstm_cell_backward(grad, gates, prev, tanh_c);
        for (id, d) in [(a, da), (state_prev, dprev)] {
            if let Some(id) = id {
                grads.register::<B>(id, d);
            }
        }
    }
}

impl<B: Backend + LstmKernels, C: CheckpointStrategy> LstmKernels for Autodiff<B, C> {
    fn lstm_cell(a: FloatTensor<Self>, state_prev: FloatTensor<Self>) -> (FloatTensor<Self>, FloatTensor<Self>) {
        // Compute-bound: the gates and tanh(c_t) are kept for the backward pass, never
        // recomputed. The gates go out as a tensor outside the graph, for the telemetry.
        match LstmCellBackward.prepare::<C>([a.node(), state_prev.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let prev = state_prev.primitive().clone();
                let (state, gates, tanh_c) = B::lstm_cell_forward(a.into_primitive(), state_prev.into_primitive());
                (prep.finish((gates.clone(), prev, tanh_c), state), <Self as AutodiffBackend>::from_inner(gates))
            }
            OpsKind::UnTracked(prep) => {
                let (state, gates, _) = B::lstm_cell_forward(a.into_primitive(), state_prev.into_primitive());
                (prep.finish(state), <Self as AutodiffBackend>::from_inner(gates))
            }
        }
    }
}

/// One LSTM step after its products (see [`LstmKernels::lstm_cell`]): from the pre-activations
/// `a` `[n, 4 hidden]` and the previous state `[2n, hidden]` (h_{t-1} in rows `0..n`, c_{t-1}
/// in rows `n..2n`; zeros before the first step), the new state, laid out the same way, and
/// the gates `[n, 4 hidden]` (i, f, g, o) outside the autodiff graph.
pub fn lstm_cell(a: Tensor<2>, state_prev: Tensor<2>) -> (Tensor<2>, Tensor<2>) {
    let (state, gates) = <Dispatch as LstmKernels>::lstm_cell(a.into_dispatch(), state_prev.into_dispatch());
    (Tensor::from_dispatch(state), Tensor::from_dispatch(gates))
}
