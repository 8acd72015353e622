//! Per-layer telemetry: gradient norms that cannot underflow, the back-propagated error,
//! weight movement and activation health, computed on the device and read back at once.

use burn::prelude::*;
use rayon::prelude::*;
use std::ops::Range;
use std::sync::Arc;
use chain::Activation;
use models::{Mlp, Trace};

/// Every per-layer metric, in the order they are written.
pub const METRICS: [&str; 11] = [
    "grad_norm_weight",
    "grad_norm_bias",
    "delta_norm",
    "weight_norm",
    "update_ratio",
    "dist_from_init",
    "act_mean",
    "act_std",
    "saturation",
    "dead_fraction",
    "grad_underflow",
];


/// One layer's measurements. `None` where a metric does not apply to the layer.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LayerMetrics {
    pub grad_norm_weight: f64,
    pub grad_norm_bias: Option<f64>,
    pub delta_norm: Option<f64>,
    pub weight_norm: f64,
    pub update_ratio: Option<f64>,
    pub dist_from_init: f64,
    pub act_mean: f64,
    pub act_std: f64,
    pub saturation: Option<f64>,
    pub dead_fraction: Option<f64>,
    pub grad_underflow: f64,
}

impl LayerMetrics {
    /// The metrics that apply, by name, in [`METRICS`] order.
    pub fn rows(&self) -> Vec<(&'static str, f64)> {
        let all = [
            Some(self.grad_norm_weight),
            self.grad_norm_bias,
            self.delta_norm,
            Some(self.weight_norm),
            self.update_ratio,
            Some(self.dist_from_init),
            Some(self.act_mean),
            Some(self.act_std),
            self.saturation,
            self.dead_fraction,
            Some(self.grad_underflow),
        ];
        METRICS.iter().zip(all).filter_map(|(m, v)| v.map(|v| (*m, v))).collect()
    }
}

/// A whole-model measurement.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Measurement {
    /// Layer 1 (nearest the input) first.
    pub layers: Vec<LayerMetrics>,
    /// The global L2 norm of every parameter's gradient.
    pub grad_norm: f64,
}

impl Measurement {
    /// The first layer (1-based) with a non-finite gradient or weight, if any.
    pub fn first_non_finite(&self) -> Option<usize> {
        self.layers
            .iter()
            .position(|l| !(l.grad_norm_weight.is_finite() && l.grad_norm_bias.is_none_or(f64::is_finite) && l.weight_norm.is_finite()))
            .map(|i| i + 1)
    }
}

/// The inputs of a measurement: what the forward and backward pass produced.
pub struct Observed<'a> {
    pub model: &'a Mlp,
    /// dL/dW and dL/db per layer (plain tensors, as the optimizer receives them).
    pub grad_weight: &'a [Tensor<2>],
    pub grad_bias: &'a [Option<Tensor<1>>],
    /// dL/dz per layer and example (the taps' gradients), when taps were on.
    pub delta: Option<&'a [Tensor<2>]>,
    pub trace: &'a Trace,
    /// The weights at initialization, on the host, and their norms (see [`host_weights`]).
    pub initial: &'a [Vec<f32>],
    pub initial_norms: &'a [f64],
    /// The number of examples in the batch: dL/dz of the mean loss times this is the
    /// error of one example's loss, comparable across batch sizes.
    pub batch: usize,
}

/// Compiles a host reduction twice, for the baseline x86-64 target and for AVX2, and picks
/// the AVX2 build at run time where the CPU has it: the f32 to f64 conversions then run four
/// lanes wide instead of two (about 4x on a 1M-entry gradient, 0.74 to 0.18 ms). Counters in
/// these loops add with `wrapping_add`: they cannot overflow (they count a slice's entries),
/// and the overflow checks of a debug build would otherwise stop the loop from vectorizing.
macro_rules! with_avx2 {
    ($(#[$meta:meta])* fn $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty $body:block) => {
        $(#[$meta])*
        fn $name($($arg: $ty),*) -> $ret {
            #[inline(always)]
            fn portable($($arg: $ty),*) -> $ret $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2")]
                fn avx2($($arg: $ty),*) -> $ret {
                    portable($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU has AVX2, checked just above.
                    return unsafe { avx2($($arg),*) };
                }
            }
            portable($($arg),*)
        }
    };
}

/// A measurement with the weights it saw, kept for the step's update ratio.
pub struct Measured {
    pub measurement: Measurement,
    pub weights: Vec<HostTensor>,
}

/// A tensor's float32 values on the host (see [`read_all`]).
pub enum HostTensor {
    /// Read in place: the tensor's own buffer (burn-flex).
    InPlace(kernels::HostValues),
    /// Its part of one copy of several tensors.
    Copied { data: Arc<TensorData>, range: Range<usize> },
}

impl AsRef<[f32]> for HostTensor {
    fn as_ref(&self) -> &[f32] {
        match self {
            HostTensor::InPlace(values) => values.as_ref(),
            HostTensor::Copied { data, range } => {
                &data.as_slice::<f32>().expect("the project's tensors are float32")[range.clone()]
            }
        }
    }
}

/// Reads tensors back to the host. On burn-flex, whose tensors are in host memory, a
/// contiguous tensor is read in place (`kernels::host_values`); the others (all of them on
/// ndarray) are flattened and concatenated on the device and handed over as one copy. Reading
/// each tensor with its own `into_data` instead costs an allocation and two copies of it when
/// something else still holds it, as the model holds its weights: a logged step of the 50x64
/// net reads 255 tensors, and on the 4x1024 net the one concatenation alone took 4.4 ms.
/// The reductions are then done on the host in f64, one fused pass per tensor and layers in
/// parallel: cheaper than chains of tensor reductions on the CPU backends (on a 4x1024 ReLU
/// MLP, batch 128, a logged step's telemetry went from about 250 ms that way to under 15 ms),
/// and free of underflow, since even f32's smallest subnormal (1.4e-45) squares to a normal
/// f64 (2e-90).
///
/// A tensor read in place keeps its buffer for as long as its `HostTensor` lives, so an
/// in-place optimizer step writes into a new buffer meanwhile: drop them before the step.
fn read_all<const D: usize>(tensors: Vec<Tensor<D>>) -> Vec<HostTensor> {
    let mut read: Vec<Option<HostTensor>> = tensors.iter().map(|t| kernels::host_values(t).map(HostTensor::InPlace)).collect();
    let mut ranges = Vec::new();
    let mut flat: Vec<Tensor<1>> = Vec::new();
    for (i, t) in tensors.into_iter().enumerate() {
        if read[i].is_none() {
            let n = t.shape().num_elements();
            let start = ranges.last().map_or(0, |(_, r): &(usize, Range<usize>)| r.end);
            ranges.push((i, start..start + n));
            flat.push(t.reshape([n]));
        }
    }
    if !flat.is_empty() {
        let data = Arc::new(Tensor::cat(flat, 0).into_data());
        for (i, range) in ranges {
            read[i] = Some(HostTensor::Copied { data: data.clone(), range });
        }
    }
    read.into_iter().map(|t| t.expect("every tensor is read in place or copied")).collect()
}

/// sqrt(sum x^2) in f64.
pub fn l2(x: &[f32]) -> f64 {
    gradient_sums(x).0.sqrt()
}

// The reductions below keep eight independent accumulators so that the compiler can
// vectorize their loops (a single running sum forces strict ordering).

with_avx2! {
    /// One pass over a gradient: sum g^2 in f64 and the number of entries below f32's normal
    /// range (zeros included).
    fn gradient_sums(g: &[f32]) -> (f64, usize) {
        let mut acc = [0f64; 8];
        let mut tiny = [0usize; 8];
        let chunks = g.chunks_exact(8);
        let rest = chunks.remainder();
        for c in chunks {
            for k in 0..8 {
                let v = f64::from(c[k]);
                acc[k] += v * v;
                tiny[k] = tiny[k].wrapping_add(usize::from(c[k].abs() < f32::MIN_POSITIVE));
            }
        }
        for (k, &x) in rest.iter().enumerate() {
            acc[k] += f64::from(x) * f64::from(x);
            tiny[k] = tiny[k].wrapping_add(usize::from(x.abs() < f32::MIN_POSITIVE));
        }
        (acc.iter().sum(), tiny.iter().sum())
    }
}

with_avx2! {
    /// One pass over a weight matrix and its initial values: sum w^2 and sum (w - w0)^2 in f64.
    fn weight_sums(w: &[f32], w0: &[f32]) -> (f64, f64) {
        assert_eq!(w.len(), w0.len(), "a layer's weights keep their shape");
        let (mut sq, mut diff) = ([0f64; 8], [0f64; 8]);
        let (a, b) = (w.chunks_exact(8), w0.chunks_exact(8));
        let (ra, rb) = (a.remainder(), b.remainder());
        for (x, y) in a.zip(b) {
            for k in 0..8 {
                let (u, v) = (f64::from(x[k]), f64::from(y[k]));
                sq[k] += u * u;
                diff[k] += (u - v) * (u - v);
            }
        }
        for (k, (&x, &y)) in ra.iter().zip(rb).enumerate() {
            let (u, v) = (f64::from(x), f64::from(y));
            sq[k] += u * u;
            diff[k] += (u - v) * (u - v);
        }
        (sq.iter().sum(), diff.iter().sum())
    }
}

with_avx2! {
    /// One pass over activations a = f(x), f(x) = x for x > 0 and slope * x otherwise: sum a
    /// and sum a^2 in f64, and the number of a outside [lo, hi].
    fn activation_sums(x: &[f32], slope: f32, lo: f32, hi: f32) -> (f64, f64, usize) {
        let (mut s, mut sq, mut out) = ([0f64; 8], [0f64; 8], [0usize; 8]);
        let chunks = x.chunks_exact(8);
        let rest = chunks.remainder();
        for c in chunks {
            for k in 0..8 {
                let a = piecewise(c[k], slope);
                let v = f64::from(a);
                s[k] += v;
                sq[k] += v * v;
                out[k] = out[k].wrapping_add(usize::from(a < lo || a > hi));
            }
        }
        for (k, &x) in rest.iter().enumerate() {
            let a = piecewise(x, slope);
            s[k] += f64::from(a);
            sq[k] += f64::from(a) * f64::from(a);
            out[k] = out[k].wrapping_add(usize::from(a < lo || a > hi));
        }
        (s.iter().sum(), sq.iter().sum(), out.iter().sum())
    }
}

with_avx2! {
    /// The sum over rows of `units` entries of each row's L2 norm, in f64: one call for the
    /// whole matrix, so that the AVX2 choice is made once, not once per (short) row.
    fn sum_of_row_norms(d: &[f32], units: usize) -> f64 {
        d.chunks(units.max(1))
            .map(|row| {
                let mut acc = [0f64; 8];
                let chunks = row.chunks_exact(8);
                let rest = chunks.remainder();
                for c in chunks {
                    for k in 0..8 {
                        acc[k] += f64::from(c[k]) * f64::from(c[k]);
                    }
                }
                for (k, &x) in rest.iter().enumerate() {
                    acc[k] += f64::from(x) * f64::from(x);
                }
                acc.iter().sum::<f64>().sqrt()
            })
            .sum()
    }
}

/// The weights of every layer on the host, in burn's `[fan_in, fan_out]` row-major layout.
pub fn host_weights(model: &Mlp) -> Vec<Vec<f32>> {
    read_all(model.layers.iter().map(|l| l.weight.val().inner()).collect())
        .iter()
        .map(|w| w.as_ref().to_vec())
        .collect()
}

/// Everything but `update_ratio`, from one read-back.
pub fn measure(o: &Observed<'_>) -> Measured {
    let n = o.model.layers.len();
    // One activation tensor per layer: the pre-activations z where the activation is
    // piecewise linear (ReLU, leaky ReLU, none), from which both f(z) and the dead units
    // follow, and the outputs a otherwise (sigmoid, tanh: their saturation is read off a).
    let from_pre = |i: usize| negative_slope(o.model.activation_of(i)).is_some();
    // Everything in one read: weights, gradients, activations, bias gradients (as rows),
    // then deltas.
    let mut tensors: Vec<Tensor<2>> = Vec::with_capacity(5 * n);
    tensors.extend(o.model.layers.iter().map(|l| l.weight.val().inner()));
    tensors.extend(o.grad_weight.iter().cloned());
    tensors.extend((0..n).map(|i| if from_pre(i) { &o.trace.pre[i] } else { &o.trace.post[i] }.clone().inner()));
    tensors.extend(o.grad_bias.iter().flatten().map(|b| b.clone().unsqueeze::<2>()));
    let biases = tensors.len() - 3 * n;
    tensors.extend(o.delta.into_iter().flatten().cloned());
    let mut host = read_all(tensors);
    let deltas = host.split_off(3 * n + biases);
    let bias_grads = host.split_off(3 * n);
    let acts = host.split_off(2 * n);
    let grads = host.split_off(n);
    let weights = host;
    let mut bias_grads = bias_grads.iter();
    let inputs: Vec<LayerInput<'_>> = (0..n)
        .map(|i| LayerInput {
            activation: o.model.activation_of(i),
            units: o.trace.post[i].dims()[1],
            grad: grads[i].as_ref(),
            grad_bias: o.grad_bias[i].as_ref().and_then(|_| bias_grads.next()).map(AsRef::as_ref),
            weight: weights[i].as_ref(),
            initial: &o.initial[i],
            initial_norm: o.initial_norms[i],
            act: acts[i].as_ref(),
            delta: deltas.get(i).map(AsRef::as_ref),
            batch: o.batch,
        })
        .collect();
    let layers: Vec<(LayerMetrics, f64)> = inputs.par_iter().map(layer_metrics).collect();
    let sum_sq: f64 = layers.iter().map(|(_, s)| s).sum();
    Measured {
        measurement: Measurement { layers: layers.into_iter().map(|(l, _)| l).collect(), grad_norm: sum_sq.sqrt() },
        weights,
    }
}

/// x for x > 0 (and NaN), slope * x otherwise, and exactly 0 for a slope of 0 (ReLU, whose
/// output at -inf is 0, not NaN).
#[inline(always)]
fn piecewise(x: f32, slope: f32) -> f32 {
    if x > 0.0 || x.is_nan() {
        x
    } else if slope == 0.0 {
        0.0
    } else {
        slope * x
    }
}

/// For a piecewise-linear activation, f(z) = z for z > 0 and slope * z otherwise: its slope
/// (0 for ReLU, 1 for none). `None` for sigmoid and tanh.
fn negative_slope(activation: Option<Activation>) -> Option<f32> {
    match activation {
        None | Some(Activation::Identity) => Some(1.0),
        Some(Activation::Relu) => Some(0.0),
        Some(Activation::LeakyRelu) => Some(chain::LEAKY_SLOPE as f32),
        Some(Activation::Sigmoid | Activation::Tanh) => None,
    }
}

/// One layer's host data for [`layer_metrics`].
struct LayerInput<'a> {
    activation: Option<Activation>,
    units: usize,
    grad: &'a [f32],
    grad_bias: Option<&'a [f32]>,
    weight: &'a [f32],
    initial: &'a [f32],
    initial_norm: f64,
    /// The pre-activations z where [`negative_slope`] applies, the outputs f(z) otherwise.
    act: &'a [f32],
    delta: Option<&'a [f32]>,
    batch: usize,
}

/// A layer's metrics (but `update_ratio`), and its share of the global squared gradient norm.
fn layer_metrics(l: &LayerInput<'_>) -> (LayerMetrics, f64) {
    let (g2, tiny) = gradient_sums(l.grad);
    let grad_norm_bias = l.grad_bias.map(l2);
    let (w2, d2) = weight_sums(l.weight, l.initial);
    let count = l.act.len().max(1) as f64;
    // Saturated: within 0.01 of a sigmoid's bounds, or beyond 0.97 in magnitude for tanh.
    let bounds = match l.activation {
        Some(Activation::Sigmoid) => Some((0.01, 0.99)),
        Some(Activation::Tanh) => Some((-0.97, 0.97)),
        _ => None,
    };
    let (lo, hi) = bounds.unwrap_or((f32::NEG_INFINITY, f32::INFINITY));
    // Outputs of sigmoid and tanh come as they are (a slope of 1 leaves them unchanged).
    let slope = negative_slope(l.activation);
    let (sum, sum_sq, outside) = activation_sums(l.act, slope.unwrap_or(1.0), lo, hi);
    let mean = sum / count;
    // E[a^2] - mean^2 in f64: activations are O(1), so the cancellation costs nothing that
    // matters against f64's 16 digits.
    let var = (sum_sq / count - mean * mean).max(0.0);
    let saturation = bounds.map(|_| outside as f64 / count);
    let units = l.units;
    // A unit is dead on this batch when no example drives its pre-activation above 0 (for
    // the ReLU family; the activation is read as z there).
    let relu_family = matches!(l.activation, Some(Activation::Relu | Activation::LeakyRelu));
    let dead_fraction = relu_family.then_some(l.act).map(|pre| {
        let mut alive = vec![false; units];
        for row in pre.chunks(units) {
            for (a, &z) in alive.iter_mut().zip(row) {
                *a |= z > 0.0;
            }
        }
        alive.iter().filter(|&&a| !a).count() as f64 / units as f64
    });
    // Mean over examples of each example's error norm, scaled to one example's loss.
    let delta_norm = l.delta.map(|d| {
        let rows = (d.len() / units).max(1);
        sum_of_row_norms(d, units) / rows as f64 * l.batch as f64
    });
    let metrics = LayerMetrics {
        grad_norm_weight: g2.sqrt(),
        grad_norm_bias,
        delta_norm,
        weight_norm: w2.sqrt(),
        update_ratio: None,
        dist_from_init: if l.initial_norm > 0.0 { d2.sqrt() / l.initial_norm } else { d2.sqrt() },
        act_mean: mean,
        act_std: var.sqrt(),
        saturation,
        dead_fraction,
        grad_underflow: tiny as f64 / l.grad.len().max(1) as f64,
    };
    (metrics, g2 + grad_norm_bias.map_or(0.0, |b| b * b))
}

/// The global gradient norm alone (for clipping on steps that are not logged).
pub fn global_norm(grad_weight: &[Tensor<2>], grad_bias: &[Option<Tensor<1>>]) -> f64 {
    let w = read_all(grad_weight.to_vec());
    let b = read_all(grad_bias.iter().flatten().cloned().collect());
    w.iter().chain(&b).map(|v| gradient_sums(v.as_ref()).0).sum::<f64>().sqrt()
}

/// ||W_after - W_before|| / ||W_before|| per layer, for the step just taken, given the
/// weights before it (from [`measure`]) and their norms (the step's `weight_norm`).
pub fn update_ratios<W: AsRef<[f32]> + Sync>(before: &[W], before_norms: &[f64], after: &Mlp) -> Vec<f64> {
    let after = read_all(after.layers.iter().map(|l| l.weight.val().inner()).collect());
    after
        .par_iter()
        .zip(before)
        .zip(before_norms)
        .map(|((a, b), &base)| {
            let d = weight_sums(a.as_ref(), b.as_ref()).1.sqrt();
            if base > 0.0 { d / base } else { d }
        })
        .collect()
}

/// The steps whose training batch is measured: 1, 2, 4, 8, ... below `every` (when
/// `early`), every multiple of `every`, and the last step of each epoch.
#[derive(Clone, Debug)]
pub struct Cadence {
    pub every: usize,
    pub early: bool,
}

impl Cadence {
    pub fn is_logged(&self, step: usize, last_of_epoch: bool) -> bool {
        last_of_epoch || step % self.every == 0 || (self.early && step < self.every && step.is_power_of_two())
    }

    /// The early steps, for the manifest.
    pub fn early_steps(&self) -> Vec<usize> {
        if !self.early {
            return Vec::new();
        }
        (0..usize::BITS).map(|p| 1usize << p).take_while(|&s| s < self.every).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cadence_logs_early_steps_then_every_n() {
        let c = Cadence { every: 25, early: true };
        let logged: Vec<usize> = (1..=60).filter(|&s| c.is_logged(s, false)).collect();
        assert_eq!(logged, vec![1, 2, 4, 8, 16, 25, 50]);
        assert!(c.is_logged(33, true));
        assert_eq!(c.early_steps(), vec![1, 2, 4, 8, 16]);
    }
}
