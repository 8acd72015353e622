//! The tutorial's chain of one-neuron layers, solved by hand: the forward pass in f64 and
//! the backward pass in log space, so that a gradient no float can hold is still reported.
//!
//! This crate is plain arithmetic with no tensor library. It is the reference that burn's
//! autodiff is checked against (in `models` and the tests), and it lets `xtask` draw the
//! tutorial's figures without linking burn.

use serde::{Deserialize, Serialize};

/// The negative slope of [`Activation::LeakyRelu`], PyTorch's default.
pub const LEAKY_SLOPE: f64 = 0.01;

/// A hidden-layer activation function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Activation {
    Sigmoid,
    Tanh,
    Relu,
    /// max(x, 0.01 x).
    LeakyRelu,
    Identity,
}

impl Activation {
    /// Every activation, in the order the tools list them.
    pub const ALL: [Activation; 5] =
        [Activation::Sigmoid, Activation::Tanh, Activation::Relu, Activation::LeakyRelu, Activation::Identity];

    /// The name used in configs, flags and files.
    pub fn name(self) -> &'static str {
        match self {
            Activation::Sigmoid => "sigmoid",
            Activation::Tanh => "tanh",
            Activation::Relu => "relu",
            Activation::LeakyRelu => "leaky-relu",
            Activation::Identity => "identity",
        }
    }

    /// Parses a name as written in configs and flags.
    pub fn from_name(name: &str) -> Option<Activation> {
        Activation::ALL.into_iter().find(|a| a.name() == name)
    }

    /// f(z).
    pub fn value(self, z: f64) -> f64 {
        match self {
            Activation::Sigmoid => {
                // Written for both signs so that neither branch overflows exp.
                if z >= 0.0 { 1.0 / (1.0 + (-z).exp()) } else { z.exp() / (1.0 + z.exp()) }
            }
            Activation::Tanh => z.tanh(),
            Activation::Relu => z.max(0.0),
            Activation::LeakyRelu => {
                if z > 0.0 { z } else { LEAKY_SLOPE * z }
            }
            Activation::Identity => z,
        }
    }

    /// f'(z). At 0, ReLU's derivative is taken as 0, as burn and PyTorch do.
    pub fn derivative(self, z: f64) -> f64 {
        self.ln_derivative(z).exp()
    }

    /// ln f'(z), exact even where f'(z) itself underflows (a sigmoid at z = -800).
    /// Returns -inf where the derivative is exactly 0 (ReLU for z <= 0).
    pub fn ln_derivative(self, z: f64) -> f64 {
        match self {
            // sigma'(z) = e^{-|z|} / (1 + e^{-|z|})^2.
            Activation::Sigmoid => -z.abs() - 2.0 * (-z.abs()).exp().ln_1p(),
            // tanh'(z) = sech^2 z = 4 e^{-2|z|} / (1 + e^{-2|z|})^2.
            Activation::Tanh => 4f64.ln() - 2.0 * z.abs() - 2.0 * (-2.0 * z.abs()).exp().ln_1p(),
            Activation::Relu => {
                if z > 0.0 { 0.0 } else { f64::NEG_INFINITY }
            }
            Activation::LeakyRelu => {
                if z > 0.0 { 0.0 } else { LEAKY_SLOPE.ln() }
            }
            Activation::Identity => 0.0,
        }
    }

    /// Whether f is linear through 0 on each side (f(w a) = w f(a) for w > 0): then the
    /// activation of a tiny input is tiny and has to be carried in log space too.
    fn is_piecewise_linear(self) -> bool {
        matches!(self, Activation::Relu | Activation::LeakyRelu | Activation::Identity)
    }
}

/// The chain: `depth` layers of one neuron, each `a = f(w a_prev + b)`, loss `0.5 (a - t)^2`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Chain {
    pub depth: usize,
    pub weight: f64,
    pub bias: f64,
    pub input: f64,
    pub target: f64,
    pub activation: Activation,
}

impl Chain {
    /// The tutorial's own numbers: three layers, input 0.5, target 0.8, weights 0.5, no bias.
    pub fn tutorial(activation: Activation) -> Chain {
        Chain { depth: 3, weight: 0.5, bias: 0.0, input: 0.5, target: 0.8, activation }
    }

    /// Checks the values; the message names the offending field.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=1000).contains(&self.depth) {
            return Err(format!("depth must be in 1..=1000, got {}", self.depth));
        }
        for (name, v) in [("weight", self.weight), ("bias", self.bias), ("input", self.input), ("target", self.target)] {
            if !v.is_finite() {
                return Err(format!("{name} must be a finite number, got {v}"));
            }
        }
        Ok(())
    }
}

/// A real number held as sign and natural logarithm of its magnitude, so that it cannot
/// underflow. Zero is `ln_abs = -inf`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogNum {
    /// -1, 0 or 1.
    pub sign: i8,
    pub ln_abs: f64,
}

impl LogNum {
    pub const ZERO: LogNum = LogNum { sign: 0, ln_abs: f64::NEG_INFINITY };

    pub fn from_f64(x: f64) -> LogNum {
        if x == 0.0 { LogNum::ZERO } else { LogNum { sign: if x > 0.0 { 1 } else { -1 }, ln_abs: x.abs().ln() } }
    }

    /// The positive number 10^log10 (zero for -inf), as the log10 values in reports give it.
    pub fn from_log10(log10: f64) -> LogNum {
        if log10 == f64::NEG_INFINITY { LogNum::ZERO } else { LogNum { sign: 1, ln_abs: log10 * std::f64::consts::LN_10 } }
    }

    pub fn mul(self, other: LogNum) -> LogNum {
        if self.sign == 0 || other.sign == 0 {
            return LogNum::ZERO;
        }
        LogNum { sign: self.sign * other.sign, ln_abs: self.ln_abs + other.ln_abs }
    }

    /// The value as an f64 (0 where it underflows f64).
    pub fn to_f64(self) -> f64 {
        if self.sign == 0 { 0.0 } else { f64::from(self.sign) * self.ln_abs.exp() }
    }

    /// log10 of the magnitude (-inf for zero).
    pub fn log10_abs(self) -> f64 {
        self.ln_abs / std::f64::consts::LN_10
    }

    /// How the number fares in float32.
    pub fn f32_class(self) -> F32Class {
        let v = self.to_f64().abs();
        if self.sign == 0 {
            F32Class::Zero
        } else if v >= f64::from(f32::MIN_POSITIVE) {
            F32Class::Normal
        } else if v >= f64::from(f32::from_bits(1)) / 2.0 {
            // At least half the smallest subnormal: rounds to a nonzero f32.
            F32Class::Subnormal
        } else {
            F32Class::Underflow
        }
    }

    /// Scientific notation with `digits` significant decimals, for any magnitude
    /// (`-2.9e-913`), where `format!("{:e}")` of an f64 would print 0.
    pub fn sci(self, digits: usize) -> String {
        if self.sign == 0 {
            return "0".to_string();
        }
        let l = self.log10_abs();
        let mut exp = l.floor();
        let mut mantissa = 10f64.powf(l - exp);
        // Rounding the mantissa can carry it to 10.0: renormalize.
        let scale = 10f64.powi(digits as i32);
        if (mantissa * scale).round() / scale >= 10.0 {
            mantissa /= 10.0;
            exp += 1.0;
        }
        let sign = if self.sign < 0 { "-" } else { "" };
        format!("{sign}{mantissa:.digits$}e{exp}")
    }
}

/// Whether a value survives in float32.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum F32Class {
    /// Exactly zero.
    Zero,
    /// At or above f32's smallest normal number (1.18e-38).
    Normal,
    /// Representable only as a subnormal (reduced precision, slow on most CPUs).
    Subnormal,
    /// Nonzero, but rounds to 0 in f32.
    Underflow,
}

/// One layer of the solved chain (layer 1 is nearest the input).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChainLayer {
    /// Pre-activation z = w a_prev + b (0 where it underflows f64; see `activation_log`).
    pub pre_activation: f64,
    /// Activation a = f(z).
    pub activation: f64,
    /// The activation in log space (for piecewise-linear chains it can underflow f64).
    pub activation_log: LogNum,
    /// f'(z).
    pub derivative: f64,
    /// w f'(z) = da/da_prev: the factor by which this layer scales the error passed through it.
    pub local_factor: f64,
    /// dL/dw in log space: exact at any depth.
    pub grad_weight: LogNum,
    /// dL/db = dL/dz in log space.
    pub grad_bias: LogNum,
}

/// The solved chain.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Solution {
    pub layers: Vec<ChainLayer>,
    pub output: f64,
    pub loss: f64,
}

impl Solution {
    /// log10 of |grad_i / grad_last| for each layer (-inf where grad_i is 0, NaN if the last is 0).
    pub fn log10_ratio_to_last(&self) -> Vec<f64> {
        let last = self.layers.last().map_or(LogNum::ZERO, |l| l.grad_weight);
        self.layers
            .iter()
            .map(|l| {
                if last.sign == 0 {
                    f64::NAN
                } else {
                    (l.grad_weight.ln_abs - last.ln_abs) / std::f64::consts::LN_10
                }
            })
            .collect()
    }
}

/// Runs the chain forward in f64 and backward in log space, by the chain rule as the
/// tutorial derives it: dL/dw_i = (a_n - t) * prod_{j>i} (w f'(z_j)) * f'(z_i) * a_{i-1}.
pub fn solve(chain: &Chain) -> Solution {
    let f = chain.activation;
    let w = LogNum::from_f64(chain.weight);
    let mut layers = Vec::with_capacity(chain.depth);
    let mut a_prev = LogNum::from_f64(chain.input);
    let mut a_prev_value = chain.input;
    let mut inputs = Vec::with_capacity(chain.depth);
    for _ in 0..chain.depth {
        inputs.push(a_prev);
        let z_value = chain.weight * a_prev_value + chain.bias;
        // With no bias, z = w a_prev exactly, and in log space it cannot underflow.
        let z_log = if chain.bias == 0.0 { w.mul(a_prev) } else { LogNum::from_f64(z_value) };
        let a_log = if f.is_piecewise_linear() {
            let slope = if z_log.sign > 0 || f == Activation::Identity {
                LogNum::from_f64(1.0)
            } else if f == Activation::LeakyRelu {
                LogNum::from_f64(LEAKY_SLOPE)
            } else {
                LogNum::ZERO
            };
            z_log.mul(slope)
        } else {
            LogNum::from_f64(f.value(z_value))
        };
        let mut layer = ChainLayer {
            pre_activation: z_value,
            activation: a_log.to_f64(),
            activation_log: a_log,
            derivative: 0.0,
            local_factor: 0.0,
            grad_weight: LogNum::ZERO,
            grad_bias: LogNum::ZERO,
        };
        layer.derivative = f.ln_derivative(effective_z(&layer)).exp();
        layer.local_factor = chain.weight * layer.derivative;
        layers.push(layer);
        a_prev = a_log;
        a_prev_value = a_log.to_f64();
    }
    let output = a_prev_value;
    let loss = 0.5 * (output - chain.target).powi(2);
    // The error dL/da flowing back into the current layer, in log space.
    let mut err = LogNum::from_f64(output - chain.target);
    for (i, layer) in layers.iter_mut().enumerate().rev() {
        let ln_d = f.ln_derivative(effective_z(layer));
        let d = if ln_d == f64::NEG_INFINITY { LogNum::ZERO } else { LogNum { sign: 1, ln_abs: ln_d } };
        let delta = err.mul(d);
        layer.grad_bias = delta;
        layer.grad_weight = delta.mul(inputs[i]);
        err = delta.mul(w);
    }
    Solution { layers, output, loss }
}

/// The pre-activation to evaluate f' at: its f64 value, except that a z that underflowed
/// f64 keeps its sign (which is all a piecewise-linear derivative needs).
fn effective_z(layer: &ChainLayer) -> f64 {
    if layer.pre_activation != 0.0 {
        layer.pre_activation
    } else {
        match layer.activation_log.sign {
            0 => 0.0,
            s => f64::MIN_POSITIVE.copysign(f64::from(s)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tutorial_sigmoid_and_relu() {
        // The tutorial's published numbers (6 decimals), to the tolerance of 1e-6.
        let s = solve(&Chain::tutorial(Activation::Sigmoid));
        let g: Vec<f64> = s.layers.iter().map(|l| l.grad_weight.to_f64()).collect();
        for (got, want) in g.iter().zip([-0.000424, -0.003870, -0.032004]) {
            assert!((got - want).abs() < 1e-6, "{got} vs {want}");
        }
        let r = solve(&Chain::tutorial(Activation::Relu));
        for l in &r.layers {
            // Exactly -0.7375 * 0.125 = -0.0921875, which the tutorial rounds to -0.092188.
            assert!((l.grad_weight.to_f64() + 0.092188).abs() < 1e-6);
        }
    }

    #[test]
    fn thousand_layer_sigmoid_in_log_space() {
        let mut c = Chain::tutorial(Activation::Sigmoid);
        c.depth = 1000;
        let s = solve(&c);
        let first = s.layers[0].grad_weight;
        assert_eq!(first.sign, -1);
        assert_eq!(first.f32_class(), F32Class::Underflow);
        assert!(first.sci(1).starts_with("-2.9e-913"), "{}", first.sci(1));
    }

    #[test]
    fn log_derivatives_match_plain_ones() {
        for f in Activation::ALL {
            for z in [-3.0, -0.5, 0.3, 2.0] {
                let h = 1e-6;
                let fd = (f.value(z + h) - f.value(z - h)) / (2.0 * h);
                assert!((f.derivative(z) - fd).abs() < 1e-6, "{f:?} at {z}");
            }
        }
        assert!(Activation::Sigmoid.ln_derivative(-800.0).is_finite());
    }

    #[test]
    fn sci_formats_any_magnitude() {
        assert_eq!(LogNum::from_f64(-0.000424).sci(2), "-4.24e-4");
        assert_eq!(LogNum::from_f64(9.999).sci(1), "1.0e1");
        assert_eq!(LogNum::ZERO.sci(3), "0");
        assert_eq!(LogNum::from_log10(-913.0).sci(1), "1.0e-913");
        assert_eq!(LogNum::from_log10(f64::NEG_INFINITY).sci(2), "0");
    }
}
