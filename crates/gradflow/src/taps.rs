//! Taps: what only the forward pass knows, asked for by name where the model computes it.
//!
//! burn has no `retain_grad`. A tap adds a zero tensor that requires a gradient to the
//! tapped tensor `z`; after `backward`, the zero's gradient is exactly dL/dz, for every
//! example. On a step that is not measured, `Taps` are off and every call hands its tensor
//! back untouched: no addition, no graph node, no allocation.

use burn::prelude::*;
use burn::tensor::Gradients;
use std::cell::RefCell;

/// The activation after a tap, which decides the health metrics it gets.
///
/// | activation | health metric | rule |
/// |---|---|---|
/// | sigmoid | `saturation` | output below 0.01 or above 0.99, where σ' < 0.0099 |
/// | tanh | `saturation` | \|output\| above 0.97, where tanh' < 0.06 |
/// | ReLU, leaky ReLU | `dead_fraction` | a unit whose output is not above 0 for any example of the batch |
/// | GELU, SiLU, Mish | `dead_fraction` | a unit whose output is not above 0 for any example of the batch |
/// | identity | neither | mean and spread only |
///
/// GELU, SiLU and Mish are positive exactly where their input is, so a unit that is never
/// positive is one whose input never is: its output stays in the small negative dip
/// (GELU ≥ −0.17, SiLU ≥ −0.28, Mish ≥ −0.31), it carries no information forward, and its
/// gradient factor is below 0.5 (GELU, SiLU) or 0.6 (Mish) and falls to 0 as the input
/// moves further below 0. That is the smooth functions' form of a dead ReLU.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Activation {
    /// `saturation`: the share of outputs below 0.01 or above 0.99.
    Sigmoid,
    /// `saturation`: the share of outputs beyond 0.97 in magnitude.
    Tanh,
    /// `dead_fraction`: the share of units at or below 0 for every example of the batch.
    Relu,
    /// `dead_fraction`, as for ReLU.
    LeakyRelu,
    /// `dead_fraction`: the share of units at or below 0 for every example (see above).
    Gelu,
    /// `dead_fraction`, as for GELU (SiLU is also called swish).
    Silu,
    /// `dead_fraction`, as for GELU.
    Mish,
    /// Mean and spread only (a linear output, a softmax, anything else).
    Identity,
}

impl Activation {
    /// The name the manifest uses.
    pub fn name(self) -> &'static str {
        match self {
            Activation::Sigmoid => "sigmoid",
            Activation::Tanh => "tanh",
            Activation::Relu => "relu",
            Activation::LeakyRelu => "leaky-relu",
            Activation::Gelu => "gelu",
            Activation::Silu => "silu",
            Activation::Mish => "mish",
            Activation::Identity => "none",
        }
    }

    /// The tails in which an output counts as saturated (sigmoid and tanh).
    pub(crate) fn saturation_bounds(self) -> Option<(f32, f32)> {
        match self {
            Activation::Sigmoid => Some((0.01, 0.99)),
            Activation::Tanh => Some((-0.97, 0.97)),
            _ => None,
        }
    }

    /// Whether its units can die: those that are never above 0 on a batch.
    pub(crate) fn can_die(self) -> bool {
        matches!(self, Activation::Relu | Activation::LeakyRelu | Activation::Gelu | Activation::Silu | Activation::Mish)
    }
}

/// The gradient of one tap's zero, read from `Gradients` as `[examples, entries]`.
type TapGrad = Box<dyn Fn(&Gradients) -> Option<Tensor<2>>>;

/// One named point of the forward pass.
pub(crate) struct TapPoint {
    pub(crate) name: String,
    pub(crate) grad: Option<TapGrad>,
    /// dL/dh of the residual stream at the layer's output (see [`Taps::stream`]).
    pub(crate) stream: Option<TapGrad>,
    /// The activation's values, detached, as `[examples, units]`.
    pub(crate) activation: Option<(Activation, Tensor<2>)>,
}

/// One time step of a recurrent layer: what [`Taps::hidden`], [`Taps::recurrent`] and
/// [`Taps::gate`] recorded there.
pub(crate) struct TimePoint {
    /// The layer's name.
    pub(crate) name: String,
    /// 1-based.
    pub(crate) t: usize,
    /// dL/dh_t.
    pub(crate) hidden: Option<TapGrad>,
    /// h_{t-1}, detached, and dL/dp_t of the recurrent product p_t = h_{t-1} U.
    pub(crate) recurrent: Option<(Tensor<2>, TapGrad)>,
    /// The gate's values, detached.
    pub(crate) gate: Option<Tensor<2>>,
}

#[derive(Default)]
pub(crate) struct TapState {
    pub(crate) points: Vec<TapPoint>,
    /// The time steps of recurrent layers, in the order first tapped.
    pub(crate) times: Vec<TimePoint>,
    /// (layer name, t) to its entry of `times`.
    time_index: std::collections::HashMap<(String, usize), usize>,
    /// The first misuse, reported when the step is read (a tap cannot return an error
    /// from inside the user's `forward`).
    pub(crate) error: Option<crate::Error>,
    /// Zero buffers by shape: every tap of one shape shares one buffer (each tap is its own
    /// leaf of the graph, and nothing writes into the buffer).
    zeros: Vec<(Vec<usize>, Tensor<1>)>,
}

/// The taps of one forward pass. Pass `&Taps` to the model's `forward` and call
/// [`Taps::tap`] and [`Taps::activation`] there; take a new one for each step from
/// [`crate::Watch::taps`] (or [`crate::Flow::taps`]).
///
/// ```
/// use burn::prelude::*;
/// use burn::tensor::activation::sigmoid;
/// use gradflow::{Activation, Taps};
///
/// // In a model's `forward`: dL/dz of the layer named `layers.0`, and its sigmoid's saturation.
/// fn forward(x: Tensor<2>, w: Tensor<2>, taps: &Taps) -> Tensor<2> {
///     let z = taps.tap("layers.0", x.matmul(w));
///     taps.activation("layers.0", sigmoid(z), Activation::Sigmoid)
/// }
/// let device = Device::flex().autodiff();
/// let out = forward(Tensor::ones([2, 3], &device), Tensor::ones([3, 4], &device), &Taps::off());
/// assert_eq!(out.dims(), [2, 4]);
/// ```
pub struct Taps {
    state: Option<RefCell<TapState>>,
}

impl Taps {
    /// Taps that record nothing (unmeasured steps, evaluation).
    pub fn off() -> Taps {
        Taps { state: None }
    }

    /// Taps that record.
    pub fn on() -> Taps {
        Taps { state: Some(RefCell::new(TapState::default())) }
    }

    /// Whether this pass is measured.
    pub fn is_on(&self) -> bool {
        self.state.is_some()
    }

    /// `z`, with dL/dz recorded under `name` when the taps are on. Give the tap the name of
    /// the layer that computed `z` (its module path, such as `conv2` or `layers.3`) and its
    /// measurements join that layer's; any other name makes a layer of its own. The first
    /// dimension of `z` must be the batch's examples.
    pub fn tap<const D: usize>(&self, name: &str, z: Tensor<D>) -> Tensor<D> {
        match self.leaf(name, z.dims(), &z.device()) {
            Some(zero) => z + zero,
            None => z,
        }
    }

    /// The zero leaf of a tap named `name` of shape `dims`, for an operation that adds it
    /// itself (a fused `x W + b + tap`); `None` when the taps are off. Its gradient is dL/dz of
    /// the output it is added to.
    pub fn leaf<const D: usize>(&self, name: &str, dims: [usize; D], device: &Device) -> Option<Tensor<D>> {
        let mut state = self.state.as_ref()?.borrow_mut();
        let point = state.point(name)?;
        let zero = state.zero(&dims, device);
        let leaf = Tensor::from_inner(zero.reshape(dims)).require_grad();
        let watched = leaf.clone();
        state.points[point].grad = Some(Box::new(move |grads| watched.grad(grads).map(rows)));
        Some(leaf)
    }

    /// `a`, the output of `activation` at the layer tapped as `name`, with its health recorded
    /// when the taps are on (mean, spread, and saturation or dead units). Call it after
    /// [`Taps::tap`] (or [`Taps::leaf`]) of the same name, or alone for activation metrics
    /// without dL/dz.
    pub fn activation<const D: usize>(&self, name: &str, a: Tensor<D>, activation: Activation) -> Tensor<D> {
        if let Some(state) = &self.state {
            let mut state = state.borrow_mut();
            let detached = rows(a.clone().detach().inner());
            match state.points.iter().position(|p| p.name == name) {
                Some(i) if state.points[i].activation.is_none() => state.points[i].activation = Some((activation, detached)),
                Some(_) => state.fail(crate::Error::DuplicateTap(name.to_string())),
                None => state.points.push(TapPoint { name: name.to_string(), grad: None, stream: None, activation: Some((activation, detached)) }),
            }
        }
        a
    }

    /// `h`, the residual stream after the layer tapped as `name` has added its output to it
    /// (`h = h_in + f(z)`), with dL/dh recorded when the taps are on: the layer's
    /// `stream_delta_norm`, beside the `delta_norm` of its branch. In a residual network the
    /// two differ by what the skip connection carries past the layer: the stream's error
    /// reaches the input side undiminished even where the branch's vanishes.
    pub fn stream<const D: usize>(&self, name: &str, h: Tensor<D>) -> Tensor<D> {
        let Some(state) = &self.state else { return h };
        let mut state = state.borrow_mut();
        let point = match state.points.iter().position(|p| p.name == name) {
            Some(i) if state.points[i].stream.is_some() => {
                state.fail(crate::Error::DuplicateTap(format!("{name} (stream)")));
                return h;
            }
            Some(i) => i,
            None => {
                state.points.push(TapPoint { name: name.to_string(), grad: None, stream: None, activation: None });
                state.points.len() - 1
            }
        };
        let zero = state.zero(&h.dims(), &h.device());
        let leaf = Tensor::from_inner(zero.reshape(h.dims())).require_grad();
        let watched = leaf.clone();
        state.points[point].stream = Some(Box::new(move |grads| watched.grad(grads).map(rows)));
        h + leaf
    }

    /// `h`, recurrent layer `name`'s hidden state at time step `t` (1-based, t = 1 the first
    /// input), with dL/dh_t recorded when the taps are on: the *total* derivative, through
    /// whatever reads h_t (the next step, the next layer, a read-out), as long as `h` is the
    /// tensor they read. Its `hidden_delta_norm` is the time twin of a layer's `delta_norm`:
    /// in a vanilla RNN it shrinks geometrically from the last step to the first.
    pub fn hidden(&self, name: &str, t: usize, h: Tensor<2>) -> Tensor<2> {
        let Some(state) = &self.state else { return h };
        let mut state = state.borrow_mut();
        let Some(i) = state.time(name, t, |p| p.hidden.is_some(), "hidden") else { return h };
        let zero = state.zero(&h.dims(), &h.device());
        let leaf = Tensor::from_inner(zero.reshape(h.dims())).require_grad();
        let watched = leaf.clone();
        state.times[i].hidden = Some(Box::new(move |grads| watched.grad(grads)));
        h + leaf
    }

    /// `p`, the recurrent product `h_prev U` of layer `name` at time step `t` (all gates'
    /// products side by side), with dL/dp_t and `h_prev` recorded when the taps are on: step
    /// t's contribution to the recurrent weights' gradient is `h_prevᵀ dL/dp_t`, and these
    /// contributions over t sum to dL/dU. Its norm is the step's `recurrent_grad_norm`.
    pub fn recurrent(&self, name: &str, t: usize, h_prev: Tensor<2>, p: Tensor<2>) -> Tensor<2> {
        let Some(state) = &self.state else { return p };
        let mut state = state.borrow_mut();
        let Some(i) = state.time(name, t, |p| p.recurrent.is_some(), "recurrent") else { return p };
        let zero = state.zero(&p.dims(), &p.device());
        let leaf = Tensor::from_inner(zero.reshape(p.dims())).require_grad();
        let watched = leaf.clone();
        state.times[i].recurrent = Some((h_prev.detach().inner(), Box::new(move |grads| watched.grad(grads))));
        p + leaf
    }

    /// `g`, a gate's values of layer `name` at time step `t` (an LSTM's forget gate, a GRU's
    /// update gate: the share of the past that the cell keeps), with their mean recorded when
    /// the taps are on (`gate_mean`).
    pub fn gate(&self, name: &str, t: usize, g: Tensor<2>) -> Tensor<2> {
        if let Some(state) = &self.state {
            let mut state = state.borrow_mut();
            if let Some(i) = state.time(name, t, |p| p.gate.is_some(), "gate") {
                state.times[i].gate = Some(g.clone().detach().inner());
            }
        }
        g
    }

    pub(crate) fn take(&self) -> Option<TapState> {
        self.state.as_ref().map(|s| std::mem::take(&mut *s.borrow_mut()))
    }
}

impl TapState {
    /// The index of a new point named `name`; `None` (and an error kept for the read) when the
    /// name was tapped already in this pass.
    fn point(&mut self, name: &str) -> Option<usize> {
        if self.points.iter().any(|p| p.name == name) {
            self.fail(crate::Error::DuplicateTap(name.to_string()));
            return None;
        }
        self.points.push(TapPoint { name: name.to_string(), grad: None, stream: None, activation: None });
        Some(self.points.len() - 1)
    }

    /// The entry of time step `t` of layer `name`, made on first use; `None` (and an error kept
    /// for the read) when `t` is 0 or `what` was tapped there already in this pass.
    fn time(&mut self, name: &str, t: usize, taken: impl Fn(&TimePoint) -> bool, what: &str) -> Option<usize> {
        if t == 0 {
            self.fail(crate::Error::DuplicateTap(format!("{name} at time step 0 (time steps count from 1)")));
            return None;
        }
        let key = (name.to_string(), t);
        let i = match self.time_index.get(&key) {
            Some(&i) => i,
            None => {
                self.times.push(TimePoint { name: name.to_string(), t, hidden: None, recurrent: None, gate: None });
                self.time_index.insert(key, self.times.len() - 1);
                self.times.len() - 1
            }
        };
        if taken(&self.times[i]) {
            self.fail(crate::Error::DuplicateTap(format!("{name} ({what}, time step {t})")));
            return None;
        }
        Some(i)
    }

    /// The shared zero buffer of `dims`' size, made on first use.
    fn zero(&mut self, dims: &[usize], device: &Device) -> Tensor<1> {
        match self.zeros.iter().find(|(k, _)| k == dims) {
            Some((_, z)) => z.clone(),
            None => {
                let z = Tensor::<1>::zeros([dims.iter().product::<usize>()], device).inner();
                self.zeros.push((dims.to_vec(), z.clone()));
                z
            }
        }
    }

    fn fail(&mut self, e: crate::Error) {
        self.error.get_or_insert(e);
    }
}

/// A tensor as `[examples, entries per example]`.
fn rows<const D: usize>(t: Tensor<D>) -> Tensor<2> {
    let dims = t.dims();
    let n = dims.first().copied().unwrap_or(1);
    let per = dims.iter().skip(1).product::<usize>();
    t.reshape([n, per])
}
