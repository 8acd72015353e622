//! Recurrent networks over sequences: a vanilla tanh RNN written here, burn's own `Lstm` and
//! `Gru`, stacked, with a linear read-out from the last hidden state, and a forward pass that
//! taps every time step for the telemetry.
//!
//! The time axis is where vanishing gradients were first diagnosed (Hochreiter 1991; Bengio,
//! Simard and Frasconi 1994): the error that reaches step t of a vanilla RNN is a product of
//! T - t Jacobians `diag(1 - h²) Uᵀ`, which shrinks geometrically; the LSTM's cell carries it
//! back through the forget gate alone.
//!
//! burn's `Lstm::forward` and `Gru::forward` run the whole sequence inside and expose no
//! hidden state but their outputs, so a tap could only see the read-out's direct gradient,
//! not the error arriving through later steps. The forward pass here runs the same cells one
//! step at a time on the modules' own parameters (`tests/it/recurrent.rs` checks it against
//! burn's forward), with every gate's weights side by side: one product of the input and one
//! of the hidden state per step for all gates together, where burn's modules make two per
//! gate.

use crate::init::{BiasInit, Init, draw_bias, draw_weight};
use crate::mlp::{ModelError, apply};
use burn::module::Param;
use burn::nn::{GateController, Gru, GruConfig, Linear, Lstm, LstmConfig};
use burn::prelude::*;
use chain::Activation;
use gradflow::{Grouping, Taps};
use prng::Rng;

/// The recurrent cell of every layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cell {
    /// `h_t = tanh(x_t W + b + h_{t-1} U)`.
    Rnn,
    /// burn's `Lstm` (Hochreiter and Schmidhuber 1997, with a forget gate as in Gers et al.
    /// 2000): input, forget, cell and output gates.
    Lstm,
    /// burn's `Gru` (Cho et al. 2014) with the reset gate applied after the recurrent product,
    /// as in cuDNN and PyTorch: update, reset and new gates.
    Gru,
}

impl Cell {
    /// The name configs and the manifest use, and the prefix of the layers' module paths.
    pub fn name(self) -> &'static str {
        match self {
            Cell::Rnn => "rnn",
            Cell::Lstm => "lstm",
            Cell::Gru => "gru",
        }
    }

    /// The number of gates, each with its own input and recurrent weights.
    pub fn gates(self) -> usize {
        match self {
            Cell::Rnn => 1,
            Cell::Lstm => 4,
            Cell::Gru => 3,
        }
    }
}

/// The configuration of a [`Recurrent`] network: `layers` stacked cells of `hidden` units over
/// sequences of `steps` inputs of `input` features, and a linear read-out of `output` values
/// from the last layer's last hidden state.
#[derive(Clone, Debug, PartialEq)]
pub struct RecurrentConfig {
    pub cell: Cell,
    /// Features per time step.
    pub input: usize,
    /// Time steps T per sequence; an example's features are its steps' inputs one after the other.
    pub steps: usize,
    pub hidden: usize,
    /// Stacked recurrent layers; layer l + 1 reads layer l's hidden states.
    pub layers: usize,
    pub output: usize,
    /// The input weights W of every gate, and the read-out's weights.
    pub init: Init,
    /// The recurrent weights U of every gate.
    pub recurrent_init: Init,
    /// The biases of every gate (the input side's; the recurrent side's start at 0) and of
    /// the read-out.
    pub bias_init: BiasInit,
    /// LSTM only: the forget gate's bias at initialization, added to `bias_init`'s draw. 1
    /// (Gers et al. 2000; Jozefowicz et al. 2015) opens the gate, so that the cell keeps its
    /// past from the first step; 0 is PyTorch's default.
    pub forget_bias: f64,
    pub seed: u64,
}

impl RecurrentConfig {
    /// One layer of `hidden` cells with PyTorch's initialization of its recurrent modules:
    /// every weight and bias from U(±1/√hidden).
    pub fn new(cell: Cell, input: usize, steps: usize, hidden: usize, output: usize) -> RecurrentConfig {
        let init = pytorch_init(hidden);
        RecurrentConfig {
            cell,
            input,
            steps,
            hidden,
            layers: 1,
            output,
            init: init.clone(),
            recurrent_init: init,
            bias_init: BiasInit::SameAsWeight,
            forget_bias: 0.0,
            seed: 0,
        }
    }

    pub fn with_layers(mut self, layers: usize) -> Self {
        self.layers = layers;
        self
    }

    pub fn with_init(mut self, init: Init, recurrent_init: Init) -> Self {
        (self.init, self.recurrent_init) = (init, recurrent_init);
        self
    }

    pub fn with_bias_init(mut self, bias_init: BiasInit) -> Self {
        self.bias_init = bias_init;
        self
    }

    pub fn with_forget_bias(mut self, forget_bias: f64) -> Self {
        self.forget_bias = forget_bias;
        self
    }

    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Checks the sizes and the initializers.
    pub fn validate(&self) -> Result<(), ModelError> {
        let invalid = |field: &'static str, message: String| ModelError::Invalid { field, message };
        for (field, v) in [("input", self.input), ("steps", self.steps), ("hidden", self.hidden), ("layers", self.layers), ("output", self.output)] {
            if v == 0 {
                return Err(invalid(field, "must be at least 1".to_string()));
            }
        }
        self.init.validate().map_err(|m| invalid("init", m))?;
        self.recurrent_init.validate().map_err(|m| invalid("recurrent_init", m))?;
        match self.bias_init {
            BiasInit::Constant { value } if !value.is_finite() => {
                return Err(invalid("bias_init", format!("value must be finite, got {value}")));
            }
            BiasInit::SameAsWeight if matches!(self.init, Init::Orthogonal { .. }) => {
                return Err(invalid("bias_init", "same-as-weight is not defined for orthogonal weights".to_string()));
            }
            _ => {}
        }
        if !self.forget_bias.is_finite() {
            return Err(invalid("forget_bias", format!("must be finite, got {}", self.forget_bias)));
        }
        if self.forget_bias != 0.0 && self.cell != Cell::Lstm {
            return Err(invalid("forget_bias", format!("applies to the LSTM's forget gate only, not to a {} cell", self.cell.name())));
        }
        Ok(())
    }

    /// The module path of recurrent layer `l` (0-based): `rnn.0`, `lstm.1`, `gru.0`.
    pub fn layer_name(&self, l: usize) -> String {
        format!("{}.{l}", self.cell.name())
    }

    /// How the watcher groups the parameters: each recurrent layer (every gate's W, U and
    /// biases) is one layer, and the read-out another, in the forward order.
    pub fn grouping(&self) -> Grouping {
        let g = (0..self.layers).fold(Grouping::default(), |g, l| {
            let name = self.layer_name(l);
            g.group(name.clone(), &[name.as_str()])
        });
        g.group("readout", &["readout"])
    }

    /// The number of trainable scalars.
    pub fn num_params(&self) -> usize {
        let (g, h) = (self.cell.gates(), self.hidden);
        let per_layer = |d: usize| match self.cell {
            // W, b, U (no bias of its own).
            Cell::Rnn => d * h + h + h * h,
            // Each gate: W and U, each with a bias (burn's `GateController`).
            Cell::Lstm | Cell::Gru => g * (d * h + h + h * h + h),
        };
        per_layer(self.input) + (self.layers - 1) * per_layer(h) + h * self.output + self.output
    }

    /// Builds the model on `device`, every parameter drawn now from the seed: layer l's gate k
    /// draws W, U and its input-side bias from streams `[l, k, 0..3]`, the read-out from
    /// stream `[layers, 0]`.
    ///
    /// # Panics
    /// If the configuration does not [`validate`](Self::validate): callers validate user input first.
    pub fn init(&self, device: &Device) -> Recurrent {
        if let Err(e) = self.validate() {
            panic!("RecurrentConfig::init on an invalid config ({e}); validate user input first");
        }
        let h = self.hidden;
        let d_in = |l: usize| if l == 0 { self.input } else { h };
        let matrix = |init: &Init, rows: usize, cols: usize, stream: &[u64]| {
            let w = draw_weight(init, rows, cols, &mut Rng::derive(self.seed, stream));
            Param::from_data(TensorData::new(w, [rows, cols]), device)
        };
        let vector = |v: Vec<f32>| Param::from_data(TensorData::new(v.clone(), [v.len()]), device);
        let bias = |fan_in: usize, extra: f64, stream: &[u64]| {
            let b = draw_bias(&self.bias_init, &self.init, fan_in, h, &mut Rng::derive(self.seed, stream));
            vector(b.into_iter().map(|v| v + extra as f32).collect())
        };
        // Gate k of layer l, as burn's `GateController`: x W + b_x and h U + b_h. The
        // recurrent side's bias is redundant with the input side's and starts at 0.
        let gate = |l: usize, k: usize, extra: f64| {
            let (l64, k64) = (l as u64, k as u64);
            GateController {
                input_transform: Linear { weight: matrix(&self.init, d_in(l), h, &[l64, k64, 0]), bias: Some(bias(d_in(l), extra, &[l64, k64, 2])) },
                hidden_transform: Linear { weight: matrix(&self.recurrent_init, h, h, &[l64, k64, 1]), bias: Some(vector(vec![0.0; h])) },
            }
        };
        let (mut rnn, mut lstm, mut gru) = (Vec::new(), Vec::new(), Vec::new());
        for l in 0..self.layers {
            match self.cell {
                Cell::Rnn => {
                    let GateController { input_transform, hidden_transform } = gate(l, 0, 0.0);
                    rnn.push(RnnCell { input: input_transform, recurrent: Linear { weight: hidden_transform.weight, bias: None } });
                }
                Cell::Lstm => {
                    // burn's module, for its activations and settings; its gates replaced by
                    // the ones drawn here before any lazy parameter is touched.
                    let mut m = LstmConfig::new(d_in(l), h, true).init(device);
                    m.input_gate = gate(l, 0, 0.0);
                    m.forget_gate = Some(gate(l, 1, self.forget_bias));
                    m.cell_gate = gate(l, 2, 0.0);
                    m.output_gate = gate(l, 3, 0.0);
                    lstm.push(m);
                }
                Cell::Gru => {
                    let mut m = GruConfig::new(d_in(l), h, true).with_reset_after(true).init(device);
                    m.update_gate = gate(l, 0, 0.0);
                    m.reset_gate = gate(l, 1, 0.0);
                    m.new_gate = gate(l, 2, 0.0);
                    gru.push(m);
                }
            }
        }
        let out = self.layers as u64;
        let readout = Linear {
            weight: matrix(&self.init, h, self.output, &[out, 0]),
            bias: Some(vector(draw_bias(&self.bias_init, &self.init, h, self.output, &mut Rng::derive(self.seed, &[out, 2])))),
        };
        Recurrent { rnn, lstm, gru, readout, cell: self.cell, steps: self.steps }
    }
}

/// PyTorch's initialization of `nn.RNN`, `nn.LSTM` and `nn.GRU`: U(±1/√hidden) for every
/// weight and bias, whatever its fan-in.
pub fn pytorch_init(hidden: usize) -> Init {
    let k = 1.0 / (hidden as f64).sqrt();
    Init::Uniform { low: -k, high: k }
}

/// One layer of the vanilla RNN: `h_t = tanh(x_t W + b + h_{t-1} U)`.
#[derive(Module, Debug)]
pub struct RnnCell {
    /// W and b.
    pub input: Linear,
    /// U, without a bias of its own.
    pub recurrent: Linear,
}

/// A stacked recurrent network with a linear read-out from the last hidden state. The layers
/// live in the list of their cell (the other two are empty), so that their parameters are
/// named `rnn.0.recurrent.weight`, `lstm.0.forget_gate.hidden_transform.weight`,
/// `gru.1.update_gate.input_transform.bias`, and the read-out's `readout.weight`.
#[derive(Module, Debug)]
pub struct Recurrent {
    pub rnn: Vec<RnnCell>,
    pub lstm: Vec<Lstm>,
    pub gru: Vec<Gru>,
    pub readout: Linear,
    #[module(skip)]
    pub cell: Cell,
    #[module(skip)]
    pub steps: usize,
}

/// One recurrent layer's parameters with the gates side by side: `W = [W_1 | … | W_g]`,
/// `b` the input sides' biases, `U` and `b_h` the recurrent sides'.
struct Stacked {
    w: Tensor<2>,
    b: Tensor<1>,
    u: Tensor<2>,
    /// `None` where the recurrent side has no bias (the vanilla RNN) or its bias can be
    /// folded into `b` (the LSTM: every gate adds both).
    b_h: Option<Tensor<1>>,
}

impl Recurrent {
    /// The read-out's output for sequences `x` of `[examples, steps * features]`.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.forward_tapped(x, &Taps::off())
    }

    /// The output, with every time step tapped when `taps` are on: for recurrent layer `l`
    /// (named as its module, `lstm.0`), dL/dh_t of its hidden state at every step
    /// ([`Taps::hidden`]), dL/dp_t of the recurrent product `p_t = h_{t-1} U` with h_{t-1}
    /// ([`Taps::recurrent`], from step 2: h_0 = 0), and the forget (LSTM) or update (GRU) gate
    /// ([`Taps::gate`]); and the read-out's dL/dz as `readout`.
    pub fn forward_tapped(&self, x: Tensor<2>, taps: &Taps) -> Tensor<2> {
        let [n, features] = x.dims();
        let steps = self.steps;
        let input = features / steps;
        // Time-major, so that step t's inputs are one contiguous block. The inputs need no
        // gradient, so cutting them into steps adds nothing to the graph; each layer's outputs
        // are the next layer's inputs, step by step.
        let x = x.reshape([n, steps, input]).swap_dims(0, 1);
        let mut seq: Vec<Tensor<2>> = (0..steps).map(|t| x.clone().slice([t..t + 1]).reshape([n, input])).collect();
        let layers = self.rnn.len() + self.lstm.len() + self.gru.len();
        let mut last = None;
        for l in 0..layers {
            let name = taps.is_on().then(|| format!("{}.{l}", self.cell.name()));
            let p = self.stacked(l);
            let hidden = p.u.dims()[0];
            let mut h: Option<Tensor<2>> = None;
            // The LSTM's state: h_t over c_t (see `kernels::lstm_cell`).
            let mut c: Option<Tensor<2>> = None;
            let mut outputs = Vec::with_capacity(if l + 1 < layers { steps } else { 0 });
            for (t, x_t) in std::mem::take(&mut seq).into_iter().enumerate() {
                // The recurrent product of every gate; h_0 = 0 contributes nothing.
                let p_t = h.as_ref().map(|h_prev| {
                    let prod = h_prev.clone().matmul(p.u.clone());
                    match &name {
                        Some(name) => taps.recurrent(name, t + 1, h_prev.clone(), prod),
                        None => prod,
                    }
                });
                // Each step's input product is its own: one product of every step's inputs at
                // once, cut into steps, would make the backward pass of every cut add a gradient
                // the size of the whole sequence (T² work). For the vanilla RNN and the LSTM the
                // recurrent product rides on the same fused call (`x W + b + p`).
                let fused = |p_t: Option<Tensor<2>>| kernels::linear(x_t.clone(), p.w.clone(), Some(p.b.clone()), p_t);
                let next = match self.cell {
                    Cell::Rnn => apply(Activation::Tanh, fused(p_t)),
                    Cell::Lstm => {
                        // The gates and the cell update in one node (the kernels crate's
                        // `lstm_cell`): the state holds h_t over c_t, and h_t is its first n
                        // rows. Before the first step the state is zero, which gives
                        // c_1 = i g exactly.
                        let prev = c.take().unwrap_or_else(|| Tensor::zeros([2 * n, hidden], &x_t.device()));
                        let (state, gates) = kernels::lstm_cell(fused(p_t), prev);
                        if let Some(name) = &name {
                            taps.gate(name, t + 1, gates.slice([0..n, hidden..2 * hidden]));
                        }
                        let out = state.clone().slice([0..n, 0..hidden]);
                        c = Some(state);
                        out
                    }
                    Cell::Gru => {
                        // z and r from both sides, then n = tanh(x W_n + b_n + r (h U_n + b_hn)),
                        // and h_t = (1 - z) n + z h_{t-1}. At t = 1 the recurrent side is its
                        // bias alone (h_0 = 0).
                        let b_h = p.b_h.clone().expect("a GRU keeps its recurrent biases").unsqueeze::<2>();
                        let a_x = fused(None);
                        let ph = match p_t {
                            Some(p_t) => p_t + b_h,
                            None => b_h.repeat_dim(0, n),
                        };
                        // The gates and the update in one node (the kernels crate's
                        // `gru_cell`); h_0 = 0 gives h_1 = (1 - z) n exactly.
                        let h_prev = h.clone().unwrap_or_else(|| Tensor::zeros([n, hidden], &x_t.device()));
                        let (next, gates) = kernels::gru_cell(a_x, ph, h_prev);
                        if let Some(name) = &name {
                            taps.gate(name, t + 1, gates.slice([0..n, 0..hidden]));
                        }
                        next
                    }
                };
                let next = match &name {
                    Some(name) => taps.hidden(name, t + 1, next),
                    None => next,
                };
                if l + 1 < layers {
                    outputs.push(next.clone());
                }
                h = Some(next);
            }
            last = h;
            seq = outputs;
        }
        let h_last = last.expect("a recurrent model has at least one layer and one step");
        let tap = taps.leaf("readout", [n, self.readout.weight.dims()[1]], &h_last.device());
        kernels::linear(h_last, self.readout.weight.val(), self.readout.bias.as_ref().map(Param::val), tap)
    }

    /// Layer `l`'s gates side by side, in the order burn's modules list them: the LSTM's
    /// input, forget, cell and output gates; the GRU's update, reset and new gates.
    fn stacked(&self, l: usize) -> Stacked {
        let gates: Vec<&GateController> = match self.cell {
            Cell::Rnn => {
                let c = &self.rnn[l];
                return Stacked {
                    w: c.input.weight.val(),
                    b: c.input.bias.as_ref().map(Param::val).unwrap_or_else(|| Tensor::zeros([c.input.weight.dims()[1]], &c.input.weight.device())),
                    u: c.recurrent.weight.val(),
                    b_h: None,
                };
            }
            Cell::Lstm => {
                let m = &self.lstm[l];
                let forget = m.forget_gate.as_ref().expect("built with a forget gate");
                vec![&m.input_gate, forget, &m.cell_gate, &m.output_gate]
            }
            Cell::Gru => {
                let m = &self.gru[l];
                vec![&m.update_gate, &m.reset_gate, &m.new_gate]
            }
        };
        let cat2 = |f: &dyn Fn(&GateController) -> Tensor<2>| Tensor::cat(gates.iter().map(|g| f(g)).collect(), 1);
        let cat1 = |f: &dyn Fn(&GateController) -> Tensor<1>| Tensor::cat(gates.iter().map(|g| f(g)).collect(), 0);
        let bias = |lin: &Linear| lin.bias.as_ref().map(Param::val).unwrap_or_else(|| Tensor::zeros([lin.weight.dims()[1]], &lin.weight.device()));
        let w = cat2(&|g| g.input_transform.weight.val());
        let u = cat2(&|g| g.hidden_transform.weight.val());
        let b_x = cat1(&|g| bias(&g.input_transform));
        let b_h = cat1(&|g| bias(&g.hidden_transform));
        match self.cell {
            // Both biases of every gate are added before its activation: one bias serves.
            Cell::Lstm => Stacked { w, b: b_x + b_h, u, b_h: None },
            _ => Stacked { w, b: b_x, u, b_h: Some(b_h) },
        }
    }
}
