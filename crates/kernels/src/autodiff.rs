//! The project's operations under burn's autodiff: each records a backward step that keeps
//! what its gradients need (the sigmoid and tanh their output, the linear layer and the
//! convolution x and w) and computes them with the inner backend's own operations of this
//! crate.

use crate::Kernels;
use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind, unary};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend};

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

/// The backward step of [`Kernels::tanh_vectorized`] under autodiff: its state is the forward
/// pass's output t, and the input's gradient is [`Kernels::tanh_backward`]'s grad * (1 - t²).
#[derive(Debug)]
struct TanhBackward;

impl<B: Backend + Kernels> Backward<B, 1> for TanhBackward {
    type State = FloatTensor<B>;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let Ops { parents, node, state: output } = ops;
        unary::<B, _>(parents, node, grads, |grad| B::tanh_backward(output, grad));
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

/// The parents of a linear layer's node that take part in the graph (`None` for the others).
struct LinearParents {
    x: Option<NodeId>,
    w: Option<NodeId>,
    b: Option<NodeId>,
    tap: Option<NodeId>,
}

/// The backward step shared by the linear layer's nodes: from the node's gradient g, registers
/// dx = g w^T, dw = x^T g, db = the sum of g's rows and dtap = g, each only for a parent that
/// takes part in the graph.
fn linear_grads<B: Backend + Kernels>(
    parents: LinearParents,
    grad: FloatTensor<B>,
    (x, w): (FloatTensor<B>, FloatTensor<B>),
    grads: &mut Gradients,
) {
    if let Some(id) = parents.tap {
        grads.register::<B>(id, grad.clone());
    }
    if let Some(id) = parents.b {
        grads.register::<B>(id, B::sum_rows(grad.clone()));
    }
    match (parents.x, parents.w) {
        (Some(x_id), Some(w_id)) => {
            let (dx, dw) = B::matmul_2d_pair(grad.clone(), B::float_transpose(w), B::float_transpose(x), grad);
            grads.register::<B>(w_id, dw);
            grads.register::<B>(x_id, dx);
        }
        (None, Some(w_id)) => grads.register::<B>(w_id, B::matmul_2d(B::float_transpose(x), grad)),
        (Some(x_id), None) => grads.register::<B>(x_id, B::matmul_2d(grad, B::float_transpose(w))),
        (None, None) => {}
    }
}

impl<B: Backend + Kernels> Backward<B, 3> for LinearBackward {
    type State = (FloatTensor<B>, FloatTensor<B>);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let [x, w, b] = ops.parents.map(|p| p.map(|n| n.id));
        let grad = grads.consume::<B>(&ops.node);
        linear_grads::<B>(LinearParents { x, w, b, tap: None }, grad, ops.state, grads);
    }
}

impl<B: Backend + Kernels> Backward<B, 4> for LinearTappedBackward {
    type State = (FloatTensor<B>, FloatTensor<B>);

    fn backward(self, ops: Ops<Self::State, 4>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let [x, w, b, tap] = ops.parents.map(|p| p.map(|n| n.id));
        let grad = grads.consume::<B>(&ops.node);
        linear_grads::<B>(LinearParents { x, w, b, tap }, grad, ops.state, grads);
    }
}

impl<B: Backend + Kernels> Backward<B, 2> for LinearNoBiasBackward {
    type State = (FloatTensor<B>, FloatTensor<B>);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let [x, w] = ops.parents.map(|p| p.map(|n| n.id));
        let grad = grads.consume::<B>(&ops.node);
        linear_grads::<B>(LinearParents { x, w, b: None, tap: None }, grad, ops.state, grads);
    }
}

/// The backward step of [`Kernels::layer_norm_rows`] under autodiff: its state is (x̂, the
/// rows' 1 / sqrt(var + eps), gamma), and the three gradients come from
/// [`Kernels::layer_norm_rows_backward`].
#[derive(Debug)]
struct LayerNormBackward;

impl<B: Backend + Kernels> Backward<B, 3> for LayerNormBackward {
    type State = (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let [x, gamma, beta] = ops.parents.map(|p| p.map(|n| n.id));
        let grad = grads.consume::<B>(&ops.node);
        let (xhat, rstd, g) = ops.state;
        let (dx, dgamma, dbeta) = B::layer_norm_rows_backward(grad, xhat, rstd, g);
        for (id, d) in [(x, dx), (gamma, dgamma), (beta, dbeta)] {
            if let Some(id) = id {
                grads.register::<B>(id, d);
            }
        }
    }
}

/// The backward step of [`Kernels::conv2d_fused`] under autodiff: its state is (x, w, stride,
/// padding), and the gradients come from [`Kernels::conv2d_input_backward`] (only when the
/// input takes part in the graph: not for a network's first layer) and
/// [`Kernels::conv2d_params_backward`].
#[derive(Debug)]
struct Conv2dBackward;

impl<B: Backend + Kernels> Backward<B, 3> for Conv2dBackward {
    type State = (FloatTensor<B>, FloatTensor<B>, [usize; 2], [usize; 2]);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let [x_id, w_id, b_id] = ops.parents.map(|p| p.map(|n| n.id));
        let grad = grads.consume::<B>(&ops.node);
        let (x, w, stride, padding) = ops.state;
        if let Some(id) = x_id {
            grads.register::<B>(id, B::conv2d_input_backward(x.clone(), w.clone(), grad.clone(), stride, padding));
        }
        if w_id.is_some() || b_id.is_some() {
            let (dw, db) = B::conv2d_params_backward(x, w, grad, stride, padding);
            for (id, d) in [(w_id, dw), (b_id, db)] {
                if let Some(id) = id {
                    grads.register::<B>(id, d);
                }
            }
        }
    }
}

/// A unary operation whose node keeps its output for `step`'s backward pass: compute-bound,
/// so the output (shared, not copied) is kept rather than recomputed.
fn keeping_output<B: Backend, C: CheckpointStrategy, K: Backward<B, 1, State = FloatTensor<B>>>(
    step: K,
    x: FloatTensor<Autodiff<B, C>>,
    forward: impl FnOnce(FloatTensor<B>) -> FloatTensor<B>,
) -> FloatTensor<Autodiff<B, C>> {
    match step.prepare::<C>([x.node()]).compute_bound().stateful() {
        OpsKind::Tracked(prep) => {
            let output = forward(x.into_primitive());
            prep.finish(output.clone(), output)
        }
        OpsKind::UnTracked(prep) => prep.finish(forward(x.into_primitive())),
    }
}

impl<B: Backend + Kernels, C: CheckpointStrategy> Kernels for Autodiff<B, C> {
    fn conv2d_fused(
        x: FloatTensor<Self>,
        w: FloatTensor<Self>,
        b: FloatTensor<Self>,
        stride: [usize; 2],
        padding: [usize; 2],
    ) -> FloatTensor<Self> {
        // Compute-bound: x and w are kept (shared, not copied) for the backward pass, which
        // unfolds x's patches again rather than keeping them.
        match Conv2dBackward.prepare::<C>([x.node(), w.node(), b.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let state = (x.primitive().clone(), w.primitive().clone(), stride, padding);
                prep.finish(state, B::conv2d_fused(x.into_primitive(), w.into_primitive(), b.into_primitive(), stride, padding))
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(B::conv2d_fused(x.into_primitive(), w.into_primitive(), b.into_primitive(), stride, padding))
            }
        }
    }

    fn layer_norm_rows(x: FloatTensor<Self>, gamma: FloatTensor<Self>, beta: FloatTensor<Self>, eps: f64) -> FloatTensor<Self> {
        // Compute-bound (as burn's checkpointing calls it): the normalized rows are kept for the
        // backward pass, never recomputed.
        match LayerNormBackward.prepare::<C>([x.node(), gamma.node(), beta.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let g = gamma.primitive().clone();
                let (out, xhat, rstd) = B::layer_norm_rows_saved(x.into_primitive(), gamma.into_primitive(), beta.into_primitive(), eps);
                prep.finish((xhat, rstd, g), out)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(B::layer_norm_rows(x.into_primitive(), gamma.into_primitive(), beta.into_primitive(), eps))
            }
        }
    }

    fn tanh_vectorized(x: FloatTensor<Self>) -> FloatTensor<Self> {
        keeping_output::<B, C, _>(TanhBackward, x, B::tanh_vectorized)
    }

    fn sigmoid_vectorized(x: FloatTensor<Self>) -> FloatTensor<Self> {
        keeping_output::<B, C, _>(SigmoidBackward, x, B::sigmoid_vectorized)
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
