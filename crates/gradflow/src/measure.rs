//! What one measurement holds: per parameter tensor, per layer, and for the whole model.

use runfolder::metric;

/// One parameter tensor's measurements. Gradient metrics are `None` for a parameter that got
/// no gradient (frozen, or not in the graph).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ParamMetrics {
    /// ‖dL/dθ‖, the L2 norm of its gradient.
    pub grad_norm: Option<f64>,
    /// ‖θ‖, the L2 (Frobenius) norm of its values.
    pub weight_norm: f64,
    /// ||after - before|| / ||before|| of the step's update; `None` until the update is seen.
    pub update_ratio: Option<f64>,
    /// ||W - W_0|| / ||W_0|| (the plain distance when W_0 is 0, as a bias that starts at 0).
    pub dist_from_init: f64,
    /// The share of gradient entries that are 0 or below f32's normal range.
    pub grad_underflow: Option<f64>,
}

impl ParamMetrics {
    /// The metrics that apply, by name, in [`metric::PARAM`] order.
    pub fn rows(&self) -> Vec<(&'static str, f64)> {
        let all = [self.grad_norm, Some(self.weight_norm), self.update_ratio, Some(self.dist_from_init), self.grad_underflow];
        metric::PARAM.iter().zip(all).filter_map(|(m, v)| v.map(|v| (*m, v))).collect()
    }
}

/// One layer's measurements. `None` where a metric does not apply to the layer: no bias, no
/// tap, no gradient, an activation without saturation.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LayerMetrics {
    /// ‖dL/dW‖ over the layer's weights (every parameter but its biases).
    pub grad_norm_weight: Option<f64>,
    /// ‖dL/db‖ over its biases and shifts.
    pub grad_norm_bias: Option<f64>,
    /// The mean over examples of ‖dL/dz‖ at the layer's tap.
    pub delta_norm: Option<f64>,
    /// The mean over examples of ‖dL/dh‖ of the residual stream at the layer's output.
    pub stream_delta_norm: Option<f64>,
    /// ‖W‖ over its weights.
    pub weight_norm: Option<f64>,
    /// ‖W_after − W_before‖ / ‖W_before‖ of the step's update.
    pub update_ratio: Option<f64>,
    /// ‖W − W₀‖ / ‖W₀‖.
    pub dist_from_init: Option<f64>,
    /// The mean of the activation after the tap.
    pub act_mean: Option<f64>,
    /// The (population) standard deviation of the activation after the tap.
    pub act_std: Option<f64>,
    /// The share of outputs in the flat tails (sigmoid, tanh).
    pub saturation: Option<f64>,
    /// The share of units not above 0 for any example (the ReLU family, GELU, SiLU, Mish).
    pub dead_fraction: Option<f64>,
    /// The share of its weights' gradient entries that are 0 or below f32's normal range.
    pub grad_underflow: Option<f64>,
}

impl LayerMetrics {
    /// The metrics that apply, by name, in [`metric::LAYER`] order.
    pub fn rows(&self) -> Vec<(&'static str, f64)> {
        let all = [
            self.grad_norm_weight,
            self.grad_norm_bias,
            self.delta_norm,
            self.stream_delta_norm,
            self.weight_norm,
            self.update_ratio,
            self.dist_from_init,
            self.act_mean,
            self.act_std,
            self.saturation,
            self.dead_fraction,
            self.grad_underflow,
        ];
        metric::LAYER.iter().zip(all).filter_map(|(m, v)| v.map(|v| (*m, v))).collect()
    }
}

/// One time step of one recurrent layer (see [`crate::Taps::hidden`], [`crate::Taps::recurrent`]
/// and [`crate::Taps::gate`]). `None` where the step was not tapped for that metric.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TimeStepMetrics {
    /// 0-based, in the order of the watch's layers.
    pub layer: usize,
    /// 1-based.
    pub t: usize,
    /// The mean over examples of ‖dL/dh_t‖.
    pub hidden_delta_norm: Option<f64>,
    /// The mean of the gate ([`crate::Taps::gate`]).
    pub gate_mean: Option<f64>,
    /// ‖h_{t-1}ᵀ dL/dp_t‖, step t's share of the recurrent weights' gradient.
    pub recurrent_grad_norm: Option<f64>,
}

impl TimeStepMetrics {
    /// The metrics that apply, by name, in [`metric::TIME_STEP`] order.
    pub fn rows(&self) -> Vec<(&'static str, f64)> {
        let all = [self.hidden_delta_norm, self.gate_mean, self.recurrent_grad_norm];
        metric::TIME_STEP.iter().zip(all).filter_map(|(m, v)| v.map(|v| (*m, v))).collect()
    }
}

/// Counts of a layer's |dL/dW| entries per bin ([`runfolder::Bin::index`]).
pub type Histogram = [u64; runfolder::BIN_COUNT];

/// A whole-model measurement: one forward and backward pass.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Measurement {
    /// In the order of [`crate::Layout::params`].
    pub params: Vec<ParamMetrics>,
    /// Layer 1 first, in the order of the watch's layers.
    pub layers: Vec<LayerMetrics>,
    /// Per layer: the histogram of its weights' gradient entries (`None` without a gradient).
    pub histograms: Vec<Option<Histogram>>,
    /// The global L2 norm of every parameter's gradient (PyTorch's `clip_grad_norm_` total).
    pub grad_norm: f64,
    /// The path of the first parameter whose gradient or value is not finite.
    pub non_finite: Option<String>,
    /// The recurrent layers' time steps, ordered by layer and step (empty for a model without
    /// time taps).
    pub time_steps: Vec<TimeStepMetrics>,
}

impl Measurement {
    /// Layer 1's gradient norm over the last layer's (with gradients), the headline of
    /// vanishing: `None` when either is missing or the last is 0.
    pub fn first_to_last(&self) -> Option<f64> {
        let mut norms = self.layers.iter().filter_map(|l| l.grad_norm_weight);
        let first = norms.next()?;
        let last = norms.next_back().unwrap_or(first);
        (last > 0.0).then(|| first / last)
    }

    /// The first recurrent layer's ‖dL/dh_1‖ over its ‖dL/dh_T‖, the headline of vanishing
    /// through time: `None` without time taps, or when the last step's error is 0.
    pub fn first_to_last_step(&self) -> Option<f64> {
        let layer = self.time_steps.iter().find(|m| m.hidden_delta_norm.is_some())?.layer;
        let mut norms = self.time_steps.iter().filter(|m| m.layer == layer).filter_map(|m| m.hidden_delta_norm);
        let first = norms.next()?;
        let last = norms.next_back().unwrap_or(first);
        (last > 0.0).then(|| first / last)
    }
}
