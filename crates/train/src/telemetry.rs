//! Per-layer telemetry: gradient norms that cannot underflow, the back-propagated error,
//! weight movement and activation health, computed on the device and read back at once.

use burn::prelude::*;
use burn::tensor::Transaction;
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

/// The smallest positive (subnormal) f32. Dividing by it instead of by an all-zero
/// maximum keeps a zero gradient's norm at exactly 0 rather than NaN.
const F32_TINY: f32 = 1.4e-45;

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

    /// Whether every value is a finite number.
    pub fn is_finite(&self) -> bool {
        self.rows().iter().all(|(_, v)| v.is_finite())
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
    /// The weights at initialization.
    pub initial: &'a [Tensor<2>],
    /// The number of examples in the batch: dL/dz of the mean loss times this is the
    /// error of one example's loss, comparable across batch sizes.
    pub batch: usize,
}

/// Collects scalar tensors to read back in one transfer, remembering where each landed.
#[derive(Default)]
struct Readback {
    tensors: Vec<Tensor<1>>,
}

impl Readback {
    fn push(&mut self, t: Tensor<1>) -> usize {
        self.tensors.push(t);
        self.tensors.len() - 1
    }

    /// Pushes the two factors of an underflow-proof norm: m = max |g| and ||g / m||.
    fn push_norm<const D: usize>(&mut self, g: Tensor<D>) -> (usize, usize) {
        let max = g.clone().abs().max();
        let scaled = g.div(max.clone().clamp_min(F32_TINY).reshape([1; D])).square().sum().sqrt();
        (self.push(max), self.push(scaled))
    }

    fn read(self) -> Vec<f64> {
        if self.tensors.is_empty() {
            return Vec::new();
        }
        let mut tx = Transaction::default();
        for t in self.tensors {
            tx = tx.register(t);
        }
        tx.execute()
            .into_iter()
            .flat_map(|d| d.convert::<f32>().try_to_vec::<f32>().expect("float data reads back as f32"))
            .map(f64::from)
            .collect()
    }
}

/// The norm from its two factors, multiplied in f64 so that it cannot underflow.
fn norm(v: &[f64], (max, scaled): (usize, usize)) -> f64 {
    let (m, s) = (v[max], v[scaled]);
    if m == 0.0 { 0.0 } else { m * s }
}

/// Everything but `update_ratio`, in one read-back.
pub fn measure(o: &Observed<'_>) -> Measurement {
    let mut rb = Readback::default();
    let n = o.model.layers.len();
    struct Slots {
        gw: (usize, usize),
        gb: Option<(usize, usize)>,
        delta: Option<(usize, usize)>,
        weight: (usize, usize),
        dist: (usize, usize),
        mean: usize,
        std: usize,
        saturation: Option<usize>,
        dead: Option<usize>,
        underflow: usize,
    }
    let mut slots = Vec::with_capacity(n);
    for i in 0..n {
        let gw = o.grad_weight[i].clone();
        let w = o.model.layers[i].weight.val().inner();
        let post = o.trace.post[i].clone().inner();
        let underflow = rb.push(gw.clone().abs().lower_elem(f32::MIN_POSITIVE).float().mean());
        let delta = o.delta.map(|d| {
            // Mean over examples of each example's L2 norm, scaled by the largest entry.
            let d = d[i].clone();
            let max = d.clone().abs().max();
            let rows = d.div(max.clone().clamp_min(F32_TINY).reshape([1, 1])).square().sum_dim(1).sqrt().mean();
            (rb.push(max), rb.push(rows))
        });
        let mean = post.clone().mean();
        let std = post.clone().sub(mean.clone().reshape([1, 1])).square().mean().sqrt();
        let activation = o.model.activation_of(i);
        let saturation = match activation {
            Some(Activation::Sigmoid) => Some(post.clone().sub_scalar(0.5).abs().greater_elem(0.49).float().mean()),
            Some(Activation::Tanh) => Some(post.clone().abs().greater_elem(0.97).float().mean()),
            _ => None,
        };
        let dead = match activation {
            Some(Activation::Relu | Activation::LeakyRelu) => {
                let pre = o.trace.pre[i].clone().inner();
                // A unit is dead on this batch when no example drives its pre-activation above 0.
                Some(pre.greater_elem(0.0).float().sum_dim(0).lower_equal_elem(0.0).float().mean())
            }
            _ => None,
        };
        slots.push(Slots {
            gw: rb.push_norm(gw),
            gb: o.grad_bias[i].clone().map(|g| rb.push_norm(g)),
            delta,
            weight: rb.push_norm(w.clone()),
            dist: rb.push_norm(w.sub(o.initial[i].clone())),
            mean: rb.push(mean),
            std: rb.push(std),
            saturation: saturation.map(|t| rb.push(t)),
            dead: dead.map(|t| rb.push(t)),
            underflow,
        });
    }
    let init_norms: Vec<(usize, usize)> = o.initial.iter().map(|w| rb.push_norm(w.clone())).collect();
    let v = rb.read();
    let mut sum_sq = 0.0;
    let layers = slots
        .iter()
        .zip(&init_norms)
        .map(|(s, &init)| {
            let grad_norm_weight = norm(&v, s.gw);
            let grad_norm_bias = s.gb.map(|g| norm(&v, g));
            sum_sq += grad_norm_weight * grad_norm_weight + grad_norm_bias.map_or(0.0, |b| b * b);
            let init_norm = norm(&v, init);
            LayerMetrics {
                grad_norm_weight,
                grad_norm_bias,
                delta_norm: s.delta.map(|d| norm(&v, d) * o.batch as f64),
                weight_norm: norm(&v, s.weight),
                update_ratio: None,
                dist_from_init: if init_norm > 0.0 { norm(&v, s.dist) / init_norm } else { norm(&v, s.dist) },
                act_mean: v[s.mean],
                act_std: v[s.std],
                saturation: s.saturation.map(|i| v[i]),
                dead_fraction: s.dead.map(|i| v[i]),
                grad_underflow: v[s.underflow],
            }
        })
        .collect();
    Measurement { layers, grad_norm: sum_sq.sqrt() }
}

/// The global gradient norm alone (for clipping on steps that are not logged).
pub fn global_norm(grad_weight: &[Tensor<2>], grad_bias: &[Option<Tensor<1>>]) -> f64 {
    let mut rb = Readback::default();
    let mut slots = Vec::new();
    for g in grad_weight {
        slots.push(rb.push_norm(g.clone()));
    }
    for g in grad_bias.iter().flatten() {
        slots.push(rb.push_norm(g.clone()));
    }
    let v = rb.read();
    slots.iter().map(|&s| norm(&v, s).powi(2)).sum::<f64>().sqrt()
}

/// ||W_after - W_before|| / ||W_before|| per layer, for the step just taken.
pub fn update_ratios(before: &[Tensor<2>], after: &Mlp) -> Vec<f64> {
    let mut rb = Readback::default();
    let slots: Vec<_> = before
        .iter()
        .zip(&after.layers)
        .map(|(b, l)| {
            let diff = rb.push_norm(l.weight.val().inner().sub(b.clone()));
            (diff, rb.push_norm(b.clone()))
        })
        .collect();
    let v = rb.read();
    slots
        .iter()
        .map(|&(d, b)| {
            let base = norm(&v, b);
            if base > 0.0 { norm(&v, d) / base } else { norm(&v, d) }
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
