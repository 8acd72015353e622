//! Per-layer telemetry: gradient norms that cannot underflow, the back-propagated error,
//! weight movement and activation health, computed on the device and read back at once.

use burn::prelude::*;
use rayon::prelude::*;
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

/// A tensor's float32 values on the host, as burn handed them over (no further copy).
pub struct HostTensor(TensorData);

impl AsRef<[f32]> for HostTensor {
    fn as_ref(&self) -> &[f32] {
        self.0.as_slice::<f32>().expect("the project's tensors are float32")
    }
}

/// Reads tensors back to the host, in parallel on the run's threads. The reductions are
/// then done on the host in f64, one fused pass per tensor and layers in parallel: cheaper
/// than chains of tensor reductions on the CPU backends (on a 4x1024 ReLU MLP, batch 128, a
/// logged step's telemetry went from about 250 ms that way to under 15 ms), and free of
/// underflow, since even f32's smallest subnormal (1.4e-45) squares to a normal f64 (2e-90).
fn read_all<const D: usize>(tensors: Vec<Tensor<D>>) -> Vec<HostTensor> {
    // Each read is a copy of the tensor's buffer on the CPU backends: in parallel they share
    // out the memory traffic, where one transaction would do them one after the other.
    tensors.into_par_iter().map(|t| HostTensor(t.into_data())).collect()
}

/// sqrt(sum x^2) in f64.
pub fn l2(x: &[f32]) -> f64 {
    sum_sq_diff(x, None).sqrt()
}

/// sum (x - y)^2 in f64 (sum x^2 without `y`), with eight independent accumulators so that
/// the compiler can vectorize the loop (a single running sum forces strict ordering).
fn sum_sq_diff(x: &[f32], y: Option<&[f32]>) -> f64 {
    match y {
        Some(y) => weight_sums(x, y).1,
        None => gradient_sums(x).0,
    }
}

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
    /// One pass over activations: sum a and sum a^2 in f64, and the number outside [lo, hi].
    fn activation_sums(a: &[f32], lo: f32, hi: f32) -> (f64, f64, usize) {
        let (mut s, mut sq, mut out) = ([0f64; 8], [0f64; 8], [0usize; 8]);
        let chunks = a.chunks_exact(8);
        let rest = chunks.remainder();
        for c in chunks {
            for k in 0..8 {
                let v = f64::from(c[k]);
                s[k] += v;
                sq[k] += v * v;
                out[k] = out[k].wrapping_add(usize::from(c[k] < lo || c[k] > hi));
            }
        }
        for (k, &x) in rest.iter().enumerate() {
            s[k] += f64::from(x);
            sq[k] += f64::from(x) * f64::from(x);
            out[k] = out[k].wrapping_add(usize::from(x < lo || x > hi));
        }
        (s.iter().sum(), sq.iter().sum(), out.iter().sum())
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
    // Dead units are read off the pre-activations of the ReLU family only.
    let relu = |i: usize| matches!(o.model.activation_of(i), Some(Activation::Relu | Activation::LeakyRelu));
    let weights = read_all(o.model.layers.iter().map(|l| l.weight.val().inner()).collect());
    let grads = read_all(o.grad_weight.to_vec());
    let bias_grads = read_all(o.grad_bias.iter().flatten().cloned().collect());
    let posts = read_all(o.trace.post.iter().map(|p| p.clone().inner()).collect());
    let pres = read_all((0..n).filter(|&i| relu(i)).map(|i| o.trace.pre[i].clone().inner()).collect());
    let deltas = read_all(o.delta.map_or_else(Vec::new, <[_]>::to_vec));
    let (mut bias_grads, mut pres, mut deltas) = (bias_grads.iter(), pres.iter(), deltas.iter());
    let inputs: Vec<LayerInput<'_>> = (0..n)
        .map(|i| LayerInput {
            activation: o.model.activation_of(i),
            units: o.trace.post[i].dims()[1],
            grad: grads[i].as_ref(),
            grad_bias: o.grad_bias[i].as_ref().and_then(|_| bias_grads.next()).map(AsRef::as_ref),
            weight: weights[i].as_ref(),
            initial: &o.initial[i],
            initial_norm: o.initial_norms[i],
            post: posts[i].as_ref(),
            pre: if relu(i) { pres.next().map(AsRef::as_ref) } else { None },
            delta: o.delta.and_then(|_| deltas.next()).map(AsRef::as_ref),
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

/// One layer's host data for [`layer_metrics`].
struct LayerInput<'a> {
    activation: Option<Activation>,
    units: usize,
    grad: &'a [f32],
    grad_bias: Option<&'a [f32]>,
    weight: &'a [f32],
    initial: &'a [f32],
    initial_norm: f64,
    post: &'a [f32],
    pre: Option<&'a [f32]>,
    delta: Option<&'a [f32]>,
    batch: usize,
}

/// A layer's metrics (but `update_ratio`), and its share of the global squared gradient norm.
fn layer_metrics(l: &LayerInput<'_>) -> (LayerMetrics, f64) {
    let (g2, tiny) = gradient_sums(l.grad);
    let grad_norm_bias = l.grad_bias.map(l2);
    let (w2, d2) = weight_sums(l.weight, l.initial);
    let count = l.post.len().max(1) as f64;
    // Saturated: within 0.01 of a sigmoid's bounds, or beyond 0.97 in magnitude for tanh.
    let bounds = match l.activation {
        Some(Activation::Sigmoid) => Some((0.01, 0.99)),
        Some(Activation::Tanh) => Some((-0.97, 0.97)),
        _ => None,
    };
    let (lo, hi) = bounds.unwrap_or((f32::NEG_INFINITY, f32::INFINITY));
    let (sum, sum_sq, outside) = activation_sums(l.post, lo, hi);
    let mean = sum / count;
    // E[a^2] - mean^2 in f64: activations are O(1), so the cancellation costs nothing that
    // matters against f64's 16 digits.
    let var = (sum_sq / count - mean * mean).max(0.0);
    let saturation = bounds.map(|_| outside as f64 / count);
    let units = l.units;
    // A unit is dead on this batch when no example drives its pre-activation above 0.
    let dead_fraction = l.pre.map(|pre| {
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
        d.chunks(units).map(l2).sum::<f64>() / rows as f64 * l.batch as f64
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
            let d = sum_sq_diff(a.as_ref(), Some(b.as_ref())).sqrt();
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
