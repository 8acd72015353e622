//! The deep MLP: a stack of linear layers whose activation, output activation, bias,
//! initialization, normalization and residual connections are configuration, with a tapped
//! forward pass for telemetry.

use crate::init::{BiasInit, Init, draw_bias, draw_weight};
use burn::module::Param;
use burn::nn::{BatchNorm, BatchNormConfig, LayerNorm, LayerNormConfig, Linear};
use burn::prelude::*;
use burn::tensor::activation;
use gradflow::{Grouping, Taps};
use chain::{Activation, LEAKY_SLOPE};
use prng::Rng;

/// A configuration that cannot build a model.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ModelError {
    #[error("{field}: {message}")]
    Invalid { field: &'static str, message: String },
}

fn invalid(field: &'static str, message: impl Into<String>) -> ModelError {
    ModelError::Invalid { field, message: message.into() }
}

/// The normalization of a hidden layer's pre-activation, placed between the linear map and
/// the activation: `a = f(norm(z))`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Norm {
    #[default]
    None,
    /// burn's `BatchNorm` (Ioffe and Szegedy 2015): each unit standardized over the batch's
    /// examples, then scaled by `gamma` and shifted by `beta`. Batch statistics in training,
    /// running statistics in evaluation and on the probe set.
    Batch,
    /// burn's `LayerNorm` (Ba et al. 2016): each example standardized over the layer's units,
    /// then scaled and shifted. The same in training and evaluation.
    Layer,
}

impl Norm {
    /// The name configs and the manifest use.
    pub fn name(self) -> &'static str {
        match self {
            Norm::None => "none",
            Norm::Batch => "batch",
            Norm::Layer => "layer",
        }
    }
}

/// The epsilon of every LayerNorm, added to the variance (burn's and PyTorch's default). burn's
/// `LayerNorm` does not say its own, and the forward pass needs it.
const LAYER_NORM_EPS: f64 = 1e-5;

/// The configuration of an [`Mlp`]: `input -> hidden[0] -> ... -> hidden[h-1] -> output`.
#[derive(Clone, Debug, PartialEq)]
pub struct MlpConfig {
    pub input: usize,
    /// Sizes of the hidden layers, first to last; may be empty (a linear model).
    pub hidden: Vec<usize>,
    pub output: usize,
    /// Applied after every hidden layer.
    pub activation: Activation,
    /// Applied after the output layer (`None` for logits; the tutorial applies its activation).
    pub output_activation: Option<Activation>,
    pub bias: bool,
    pub init: Init,
    pub bias_init: BiasInit,
    /// Normalizes every hidden layer's pre-activation (never the output layer's).
    pub norm: Norm,
    /// Adds every hidden layer's output to a residual stream, `h' = s(h) + f(z)` (He et al.
    /// 2016): `s` is the identity where the layer's input and output widths match, the
    /// projection `h P` where they differ and `projection` is set, and absent (a plain
    /// layer, `h' = f(z)`) otherwise. The output layer is never residual.
    pub residual: bool,
    /// Gives residual layers whose widths differ a learned projection `P` (no bias) on the skip.
    pub projection: bool,
    /// Seeds the initializers; layer `i` draws from its own stream of this seed.
    pub seed: u64,
}

impl MlpConfig {
    /// `depth` hidden layers of `width` units, with Legacy init, zero biases and seed 0.
    pub fn deep(input: usize, depth: usize, width: usize, output: usize, activation: Activation) -> Self {
        MlpConfig {
            input,
            hidden: vec![width; depth],
            output,
            activation,
            output_activation: None,
            bias: true,
            init: Init::Legacy,
            bias_init: BiasInit::Zero,
            norm: Norm::None,
            residual: false,
            projection: false,
            seed: 0,
        }
    }

    pub fn with_norm(mut self, norm: Norm) -> Self {
        self.norm = norm;
        self
    }

    /// Residual hidden layers; `projection` gives those whose widths differ a projected skip.
    pub fn with_residual(mut self, residual: bool, projection: bool) -> Self {
        (self.residual, self.projection) = (residual, projection);
        self
    }

    pub fn with_init(mut self, init: Init) -> Self {
        self.init = init;
        self
    }

    pub fn with_bias_init(mut self, bias_init: BiasInit) -> Self {
        self.bias_init = bias_init;
        self
    }

    pub fn with_bias(mut self, bias: bool) -> Self {
        self.bias = bias;
        self
    }

    pub fn with_output_activation(mut self, output_activation: Option<Activation>) -> Self {
        self.output_activation = output_activation;
        self
    }

    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Layer sizes from input to output, `[input, hidden.., output]`.
    pub fn sizes(&self) -> Vec<usize> {
        let mut s = Vec::with_capacity(self.hidden.len() + 2);
        s.push(self.input);
        s.extend(&self.hidden);
        s.push(self.output);
        s
    }

    /// The number of linear layers (hidden layers + the output layer).
    pub fn num_layers(&self) -> usize {
        self.hidden.len() + 1
    }

    /// The skip connection of hidden layer `i` (0-based).
    pub fn skip(&self, i: usize) -> Skip {
        let sizes = self.sizes();
        match (self.residual && i < self.hidden.len(), sizes[i] == sizes[i + 1]) {
            (false, _) => Skip::None,
            (true, true) => Skip::Identity,
            (true, false) if self.projection => Skip::Projection,
            (true, false) => Skip::None,
        }
    }

    /// The number of trainable parameters: the linear layers', the norms' scale and shift, and
    /// the skips' projections.
    pub fn num_params(&self) -> usize {
        let sizes = self.sizes();
        let linear: usize = sizes.windows(2).map(|w| w[0] * w[1] + if self.bias { w[1] } else { 0 }).sum();
        let norms: usize = if self.norm == Norm::None { 0 } else { self.hidden.iter().map(|w| 2 * w).sum() };
        let projections: usize =
            (0..self.hidden.len()).filter(|&i| self.skip(i) == Skip::Projection).map(|i| sizes[i] * sizes[i + 1]).sum();
        linear + norms + projections
    }

    /// Checks the sizes and the initializers.
    pub fn validate(&self) -> Result<(), ModelError> {
        if self.input == 0 {
            return Err(invalid("input", "must be at least 1"));
        }
        if self.output == 0 {
            return Err(invalid("output", "must be at least 1"));
        }
        if let Some(i) = self.hidden.iter().position(|&w| w == 0) {
            return Err(invalid("hidden", format!("layer {} has width 0", i + 1)));
        }
        self.init.validate().map_err(|m| invalid("init", m))?;
        match self.bias_init {
            BiasInit::Constant { value } if !value.is_finite() => {
                return Err(invalid("bias_init", format!("value must be finite, got {value}")));
            }
            BiasInit::SameAsWeight if matches!(self.init, Init::Orthogonal { .. }) => {
                return Err(invalid("bias_init", "same-as-weight is not defined for orthogonal weights"));
            }
            BiasInit::Drawn(Init::Orthogonal { .. }) => {
                return Err(invalid("bias_init", "orthogonal is not defined for a bias vector"));
            }
            BiasInit::Drawn(ref init) => init.validate().map_err(|m| invalid("bias_init", m))?,
            _ => {}
        }
        if self.norm != Norm::None && self.hidden.is_empty() {
            return Err(invalid("norm", "a model without hidden layers has no pre-activation to normalize"));
        }
        if self.norm == Norm::Layer {
            if let Some(i) = self.hidden.iter().position(|&w| w < 2) {
                return Err(invalid(
                    "norm",
                    format!("layer norm over hidden layer {} of 1 unit is the constant `beta`: it needs at least 2 units", i + 1),
                ));
            }
        }
        if self.residual && (0..self.hidden.len()).all(|i| self.skip(i) == Skip::None) {
            return Err(invalid(
                "residual",
                "no hidden layer has equal input and output widths to skip over; set `projection = true` to project the skip",
            ));
        }
        if self.projection && !self.residual {
            return Err(invalid("projection", "a projection is a residual skip's: it needs `residual = true`"));
        }
        Ok(())
    }

    /// How the watcher groups the model's parameters: layer `i` is `layers.i` with its norm's
    /// scale and shift and its skip's projection, so that every figure's layer `i` is one
    /// hidden layer of the network, whatever it is built of.
    pub fn grouping(&self) -> Grouping {
        (0..self.num_layers()).fold(Grouping::default(), |g, i| {
            let layer = format!("layers.{i}");
            let members = [layer.clone(), format!("batch_norms.{i}"), format!("layer_norms.{i}"), format!("projections.{i}")];
            g.group(layer, &members.iter().map(String::as_str).collect::<Vec<_>>())
        })
    }

    /// Builds the model on `device`, every parameter drawn now (not lazily) from the seed.
    ///
    /// # Panics
    /// If the configuration does not [`validate`](Self::validate): callers validate user input first.
    pub fn init(&self, device: &Device) -> Mlp {
        if let Err(e) = self.validate() {
            panic!("MlpConfig::init on an invalid config ({e}); validate user input first");
        }
        let sizes = self.sizes();
        let layers = sizes
            .windows(2)
            .enumerate()
            .map(|(i, w)| {
                let (fan_in, fan_out) = (w[0], w[1]);
                let mut rng = Rng::derive(self.seed, &[i as u64, 0]);
                let weight = draw_weight(&self.init, fan_in, fan_out, &mut rng);
                let weight = Param::from_data(TensorData::new(weight, [fan_in, fan_out]), device);
                let bias = self.bias.then(|| {
                    let mut rng = Rng::derive(self.seed, &[i as u64, 1]);
                    let b = draw_bias(&self.bias_init, &self.init, fan_in, fan_out, &mut rng);
                    Param::from_data(TensorData::new(b, [fan_out]), device)
                });
                Linear { weight, bias }
            })
            .collect();
        let hidden = self.hidden.len();
        let batch_norms =
            if self.norm == Norm::Batch { self.hidden.iter().map(|&w| BatchNormConfig::new(w).init(device)).collect() } else { Vec::new() };
        let layer_norms =
            if self.norm == Norm::Layer {
                self.hidden.iter().map(|&w| LayerNormConfig::new(w).with_epsilon(LAYER_NORM_EPS).init(device)).collect()
            } else {
                Vec::new()
            };
        let projections = if self.residual {
            (0..hidden)
                .map(|i| {
                    (self.skip(i) == Skip::Projection).then(|| {
                        let (fan_in, fan_out) = (sizes[i], sizes[i + 1]);
                        let mut rng = Rng::derive(self.seed, &[i as u64, 2]);
                        let weight = draw_weight(&self.init, fan_in, fan_out, &mut rng);
                        Linear { weight: Param::from_data(TensorData::new(weight, [fan_in, fan_out]), device), bias: None }
                    })
                })
                .collect()
        } else {
            Vec::new()
        };
        Mlp {
            layers,
            batch_norms,
            layer_norms,
            projections,
            activation: self.activation,
            output_activation: self.output_activation,
            skips: (0..hidden).map(|i| self.skip(i)).collect(),
        }
    }
}

/// What a hidden layer's output is added to (see [`MlpConfig::residual`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Skip {
    /// A plain layer: `h' = f(z)`.
    #[default]
    None,
    /// `h' = h + f(z)`.
    Identity,
    /// `h' = h P + f(z)`, `P` the layer's `projections.i`.
    Projection,
}

/// A deep multilayer perceptron. Hidden layer `i` (0-based here, 1-based in every file and
/// view) computes `z = h W + b`, then `a = f(norm(z))`, and passes on `h' = a`, or, when it is
/// residual, `h' = s(h) + a`; the output layer computes `z = h W + b` and its output
/// activation, with no norm and no skip.
///
/// The parts live in parallel lists indexed by layer, so that a plain MLP's parameters keep
/// the paths `layers.i.weight` and `layers.i.bias`, and a norm's or a projection's are named
/// after the layer they belong to (`layer_norms.3.gamma`, `projections.0.weight`);
/// [`MlpConfig::grouping`] gathers them into layer `layers.i` for the watcher.
#[derive(Module, Debug)]
pub struct Mlp {
    pub layers: Vec<Linear>,
    /// One per hidden layer when the norm is `batch`, else empty.
    pub batch_norms: Vec<BatchNorm>,
    /// One per hidden layer when the norm is `layer`, else empty.
    pub layer_norms: Vec<LayerNorm>,
    /// One per hidden layer when the model is residual (`Some` where the skip is projected),
    /// else empty.
    pub projections: Vec<Option<Linear>>,
    #[module(skip)]
    pub activation: Activation,
    #[module(skip)]
    pub output_activation: Option<Activation>,
    /// Per hidden layer, its skip connection.
    #[module(skip)]
    pub skips: Vec<Skip>,
}

impl Default for Mlp {
    /// A model with no layers: it holds a place while the optimizer has the real one.
    fn default() -> Mlp {
        Mlp {
            layers: Vec::new(),
            batch_norms: Vec::new(),
            layer_norms: Vec::new(),
            projections: Vec::new(),
            activation: Activation::Identity,
            output_activation: None,
            skips: Vec::new(),
        }
    }
}

/// Every layer's pre-activation z and activation a = f(z) of one forward pass, detached
/// (what the tutorial prints beside the hand-written chain).
#[derive(Debug, Clone)]
pub struct Values {
    pub pre: Vec<Tensor<2>>,
    pub post: Vec<Tensor<2>>,
}

impl Mlp {
    /// The output (logits, or the output activation's values).
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.run(x, &Taps::off(), None)
    }

    /// The output, with every layer tapped when `taps` are on: layer `i` (0-based) is the
    /// module `layers.i`, and its tap, of the same name, gives dL/dz of its pre-activation and
    /// the health of its activation.
    pub fn forward_tapped(&self, x: Tensor<2>, taps: &Taps) -> Tensor<2> {
        self.run(x, taps, None)
    }

    /// The output and every layer's z and a.
    pub fn forward_values(&self, x: Tensor<2>) -> (Tensor<2>, Values) {
        let mut values = Values { pre: Vec::new(), post: Vec::new() };
        let out = self.run(x, &Taps::off(), Some(&mut values));
        (out, values)
    }

    fn run(&self, x: Tensor<2>, taps: &Taps, mut values: Option<&mut Values>) -> Tensor<2> {
        let n = self.layers.len();
        let mut h = x;
        for (i, layer) in self.layers.iter().enumerate() {
            // The tap rides on the linear layer (`x W + b + tap` in one product), so that dL/dz
            // costs no addition of its own. It sits before the norm: dL/dz is the error that
            // the layer's weight gradient is made of (dL/dW = h^T dL/dz).
            let name = taps.is_on().then(|| format!("layers.{i}"));
            let tap = name.as_deref().and_then(|name| taps.leaf(name, [h.dims()[0], layer.weight.dims()[1]], &h.device()));
            let skip = match self.skips.get(i).copied().unwrap_or_default() {
                Skip::None => None,
                Skip::Identity => Some(h.clone()),
                Skip::Projection => self.projections[i].as_ref().map(|p| h.clone().matmul(p.weight.val())),
            };
            let z = affine(layer, h, tap);
            if let Some(v) = values.as_deref_mut() {
                v.pre.push(z.clone().detach());
            }
            let f = self.activation_of(i);
            let z = self.normalize(i, z);
            h = self.activate(i + 1 == n, z);
            if let Some(name) = &name {
                h = taps.activation(name, h, watched(f));
            }
            if let Some(s) = skip {
                h = s + h;
                if let Some(name) = &name {
                    h = taps.stream(name, h);
                }
            }
            if let Some(v) = values.as_deref_mut() {
                v.post.push(h.clone().detach());
            }
        }
        h
    }

    /// Hidden layer `i`'s norm applied to `z` (`z` itself without one, and at the output).
    fn normalize(&self, i: usize, z: Tensor<2>) -> Tensor<2> {
        if let Some(norm) = self.batch_norms.get(i) {
            norm.forward(z)
        } else if let Some(norm) = self.layer_norms.get(i) {
            // burn's LayerNorm, computed by the kernels crate as one node of the graph (burn's
            // autodiff records it as the nine operations it is made of).
            match &norm.beta {
                Some(beta) => kernels::layer_norm(z, norm.gamma.val(), beta.val(), LAYER_NORM_EPS),
                None => norm.forward(z),
            }
        } else {
            z
        }
    }

    /// The activation of layer i (the last layer uses the output activation).
    pub fn activation_of(&self, layer: usize) -> Option<Activation> {
        if layer + 1 == self.layers.len() { self.output_activation } else { Some(self.activation) }
    }

    fn activate(&self, last: bool, z: Tensor<2>) -> Tensor<2> {
        let f = if last { self.output_activation } else { Some(self.activation) };
        match f {
            None | Some(Activation::Identity) => z,
            Some(f) => apply(f, z),
        }
    }
}

/// The activation as the telemetry names it.
pub(crate) fn watched(f: Option<Activation>) -> gradflow::Activation {
    match f {
        Some(Activation::Sigmoid) => gradflow::Activation::Sigmoid,
        Some(Activation::Tanh) => gradflow::Activation::Tanh,
        Some(Activation::Relu) => gradflow::Activation::Relu,
        Some(Activation::LeakyRelu) => gradflow::Activation::LeakyRelu,
        None | Some(Activation::Identity) => gradflow::Activation::Identity,
    }
}

/// `z = a W + b (+ tap)` of one layer: burn's `Linear::forward`, computed by the kernels crate
/// in one matrix product that starts from the bias (and the tap), with a backward pass that
/// writes each gradient once (see the kernels crate).
pub(crate) fn affine(layer: &Linear, a: Tensor<2>, tap: Option<Tensor<2>>) -> Tensor<2> {
    kernels::linear(a, layer.weight.val(), layer.bias.as_ref().map(Param::val), tap)
}

/// f(z) on a tensor.
pub(crate) fn apply<const D: usize>(f: Activation, z: Tensor<D>) -> Tensor<D> {
    match f {
        // Vectorized, and evaluated once per step, the derivative taken from the values
        // themselves (see the kernels crate).
        Activation::Sigmoid => kernels::sigmoid(z),
        Activation::Tanh => kernels::tanh(z),
        Activation::Relu => activation::relu(z),
        Activation::LeakyRelu => activation::leaky_relu(z, LEAKY_SLOPE),
        Activation::Identity => z,
    }
}
