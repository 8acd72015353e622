//! The watcher of one model: finds its parameters, keeps their initial values, and turns a
//! forward and backward pass into a [`Measurement`].

use crate::device::{DeviceState, Reduction, in_host_memory};
use crate::error::Error;
use crate::host::{HostTensor, flat, read_all};
use crate::measure::{Histogram, LayerMetrics, Measurement, ParamMetrics, TimeStepMetrics};
use crate::params::{AtParam, Grouping, LayerSpec, Layout, PathVisitor};
use crate::reduce::{activation_sums, dead_share, gradient_sums, map_n, sum_of_row_norms, weight_sums};
use crate::taps::{Activation, TapState, Taps, TimePoint};
use burn::module::{Module, Param};
use burn::prelude::*;
use burn::optim::GradientsParams;
use burn::tensor::Gradients;

/// When the training batch is measured: steps 1, 2, 4, 8, … below `every` (when `early`),
/// every multiple of `every`, and the last step of each epoch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cadence {
    /// Every how many steps a step is measured.
    pub every: usize,
    /// Whether steps 1, 2, 4, 8, … below `every` are measured too.
    pub early: bool,
}

impl Default for Cadence {
    fn default() -> Self {
        Cadence { every: 25, early: true }
    }
}

impl Cadence {
    /// Whether `step` (from 1) is measured; `last_of_epoch` always is.
    pub fn is_logged(&self, step: usize, last_of_epoch: bool) -> bool {
        last_of_epoch || step.is_multiple_of(self.every) || (self.early && step < self.every && step.is_power_of_two())
    }

    /// The early steps, for the manifest.
    pub fn early_steps(&self) -> Vec<usize> {
        if !self.early {
            return Vec::new();
        }
        (0..usize::BITS).map(|p| 1usize << p).take_while(|&s| s < self.every).collect()
    }
}

/// Watches one model's gradient flow. Make it once, from the model as initialized; then on a
/// measured step take [`Watch::taps`], run the forward pass with them, and hand the
/// gradients to [`Watch::read`] before the optimizer consumes them.
///
/// The lower-level way, for a loop that records several models in one run (a [`crate::Flow`]
/// is one watch and its recorder):
///
/// ```
/// use burn::nn::{Linear, LinearConfig};
/// use burn::prelude::*;
/// use burn::tensor::activation::relu;
/// use gradflow::{Activation, Watch};
///
/// #[derive(Module, Debug)]
/// struct Net {
///     layer: Linear,
/// }
///
/// let device = Device::flex().autodiff();
/// let net = Net { layer: LinearConfig::new(3, 2).init(&device) };
/// let mut watch = Watch::new("net", &net).unwrap();
/// let taps = watch.taps(watch.is_logged(1, false));
/// let z = taps.tap("layer", net.layer.forward(Tensor::<2>::ones([4, 3], &device)));
/// let loss = taps.activation("layer", relu(z), Activation::Relu).sum();
/// let grads = loss.backward();
/// let m = watch.read(&net, &grads, &taps).unwrap().into_measurement();
/// assert!(m.layers[0].grad_norm_weight.is_some() && m.layers[0].delta_norm.is_some());
/// ```
pub struct Watch {
    name: String,
    layout: Layout,
    /// The activation named at each layer's tap, once seen.
    activations: Vec<Option<Activation>>,
    /// Every parameter's values at initialization, on the host.
    initial: Vec<Vec<f32>>,
    /// Per parameter, its norm at initialization.
    param_norms: Vec<f64>,
    /// Per layer: the norm of its weights (not biases) at initialization.
    initial_norms: Vec<f64>,
    cadence: Cadence,
    /// Where the parameters are reduced, and what the device path keeps.
    reduction: Reduction,
    device: DeviceState,
}

/// What the taps of one forward pass measured (see [`Watch::read_taps`]): per layer the
/// errors and activation health, and the recurrent layers' time steps.
pub struct Tapped {
    layers: Vec<LayerMetrics>,
    time_steps: Vec<TimeStepMetrics>,
}

/// A measurement with the weights it saw, kept until the step's update for its ratio.
pub struct Measured {
    /// What was measured, without the update ratio.
    pub measurement: Measurement,
    before: Before,
}

/// The weights a measurement saw: on the host, or (the device path) the tensors themselves.
enum Before {
    Host(Vec<HostTensor>),
    Device(Vec<Tensor<1>>),
}

impl Measured {
    /// The measurement as it is, without the update ratio (a probe, or a step that did not
    /// update).
    pub fn into_measurement(self) -> Measurement {
        self.measurement
    }
}

impl Watch {
    /// Watches `model`, each parameter in the layer of the module that owns it.
    pub fn new<M: Module>(name: impl Into<String>, model: &M) -> Result<Watch, Error> {
        Watch::grouped(name, model, &Grouping::default())
    }

    /// Watches `model` with parameters grouped into layers as `grouping` says.
    pub fn grouped<M: Module>(name: impl Into<String>, model: &M, grouping: &Grouping) -> Result<Watch, Error> {
        let name = name.into();
        let layout = Layout::of(model, grouping).map_err(|e| match e {
            Error::NoParameters(_) => Error::NoParameters(name.clone()),
            e => e,
        })?;
        let initial: Vec<Vec<f32>> = read_params(model, &layout).iter().map(|w| w.as_ref().to_vec()).collect();
        let initial_norms: Vec<f64> = initial.iter().map(|w| gradient_sums(w).0).collect();
        let layer_norms = layout.layers.iter().map(|l| weights_of(&layout, l).map(|p| initial_norms[p]).sum::<f64>().sqrt()).collect();
        Ok(Watch {
            name,
            activations: vec![None; layout.layers.len()],
            layout,
            param_norms: initial_norms.iter().map(|s| s.sqrt()).collect(),
            initial,
            initial_norms: layer_norms,
            cadence: Cadence::default(),
            reduction: Reduction::Auto,
            device: DeviceState::default(),
        })
    }

    /// Reduces the parameters where `reduction` says: by default on the host for the CPU
    /// backends (flex, ndarray) and on the device for the GPU backends (see `device.rs`). Both
    /// give the same numbers.
    pub fn with_reduction(mut self, reduction: Reduction) -> Watch {
        self.set_reduction(reduction);
        self
    }

    /// As [`Watch::with_reduction`], on a watch in place.
    pub fn set_reduction(&mut self, reduction: Reduction) {
        self.reduction = reduction;
    }

    /// Whether a reading of these weights is reduced on the device.
    fn on_device(&self, weights: &[Tensor<1>]) -> bool {
        match self.reduction {
            Reduction::Host => false,
            Reduction::Device => true,
            Reduction::Auto => !weights.first().is_some_and(in_host_memory),
        }
    }

    /// Measures at this cadence (the default: steps 1, 2, 4, 8, 16, then every 25).
    pub fn with_cadence(mut self, cadence: Cadence) -> Watch {
        self.cadence = cadence;
        self
    }

    /// The model's name in the run.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Which steps are measured.
    pub fn cadence(&self) -> &Cadence {
        &self.cadence
    }

    /// The parameters and layers.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Whether `step` (counted from 1 across epochs) is measured.
    pub fn is_logged(&self, step: usize, last_of_epoch: bool) -> bool {
        self.cadence.is_logged(step, last_of_epoch)
    }

    /// The taps for a forward pass: on when `logged`, off (and free) otherwise.
    pub fn taps(&self, logged: bool) -> Taps {
        if logged { Taps::on() } else { Taps::off() }
    }

    /// The layers as the manifest lists them.
    pub fn layer_infos(&self) -> Vec<runfolder::LayerInfo> {
        self.layout
            .layers
            .iter()
            .zip(&self.activations)
            .map(|(l, a)| runfolder::LayerInfo {
                name: l.name.clone(),
                params: l
                    .params
                    .iter()
                    .map(|&p| runfolder::ParamInfo { path: self.layout.params[p].path.clone(), shape: self.layout.params[p].shape.clone() })
                    .collect(),
                activation: a.map(|a| a.name().to_string()),
            })
            .collect()
    }

    /// The number of trainable scalars.
    pub fn num_params(&self) -> usize {
        self.layout.params.iter().map(|p| p.shape.iter().product::<usize>()).sum()
    }

    /// Measures one forward and backward pass of `model`: every parameter's gradient (from
    /// `grads`, before `GradientsParams::from_grads` consumes it) and value, and what `taps`
    /// recorded. Everything is read back and reduced on the host in f64.
    ///
    /// Errors when a tap name was used twice in the pass.
    pub fn read<M: Module>(&mut self, model: &M, grads: &Gradients, taps: &Taps) -> Result<Measured, Error> {
        let tapped = self.read_taps(grads, taps)?;
        self.read_params(model, GradSource::Raw(grads), Some(tapped))
    }

    /// What `taps` recorded in one forward pass, read from the pass's `grads` and reduced on
    /// the host: the part of a measurement that only the raw `Gradients` hold (a tap's zero is
    /// no parameter, so `GradientsParams` drops it). Under burn-train's `Learner` this is read
    /// in `TrainStep::step` and joins the parameters' measurement in `TrainStep::optimize`.
    ///
    /// Errors when a tap name was used twice in the pass.
    pub fn read_taps(&mut self, grads: &Gradients, taps: &Taps) -> Result<Tapped, Error> {
        let mut state = taps.take().unwrap_or_default();
        if let Some(e) = state.error.take() {
            return Err(e);
        }
        let times = std::mem::take(&mut state.times);
        let mut points = self.place_taps(state, grads);
        let time_steps = self.time_steps(times, grads);
        // Per tap, the error dL/dz of its branch and, at a residual layer, the stream's dL/dh:
        // one list, each entry knowing which of the two it fills.
        let errors: Vec<(usize, bool, Tensor<2>)> = points
            .iter_mut()
            .flat_map(|p| {
                let layer = p.layer;
                [p.delta.take().map(|d| (layer, false, d)), p.stream.take().map(|d| (layer, true, d))]
            })
            .flatten()
            .collect();
        let deltas: Vec<(usize, bool, usize)> = errors.iter().map(|(l, s, d)| (*l, *s, d.dims()[1])).collect();
        let rows_of: Vec<usize> = errors.iter().map(|(_, _, d)| d.dims()[0]).collect();
        let acts: Vec<(usize, usize, Activation)> =
            points.iter().filter_map(|p| p.activation.as_ref().map(|(a, t)| (p.layer, t.dims()[1], *a))).collect();
        let mut tensors: Vec<Tensor<1>> = errors.into_iter().map(|(_, _, d)| flat(d)).collect();
        for p in points {
            tensors.extend(p.activation.map(|(_, t)| flat(t)));
        }
        let mut host = read_all(tensors);
        let act_host = host.split_off(deltas.len());
        let entries = host.iter().map(|t| t.as_ref().len()).sum();
        // The mean over examples of each example's error norm. The loss is the batch's mean, so
        // dL/dz of one example is 1/batch of that example's own loss's: times the batch (the
        // rows), the value does not depend on the batch size.
        let delta_norms: Vec<f64> = map_n(deltas.len(), entries, |i| {
            let rows = rows_of[i];
            sum_of_row_norms(host[i].as_ref(), deltas[i].2) / rows.max(1) as f64 * rows as f64
        });
        let mut layers = vec![LayerMetrics::default(); self.layout.layers.len()];
        for (&(layer, stream, _), v) in deltas.iter().zip(delta_norms) {
            if stream {
                layers[layer].stream_delta_norm = Some(v);
            } else {
                layers[layer].delta_norm = Some(v);
            }
        }
        let entries = act_host.iter().map(|t| t.as_ref().len()).sum();
        let health: Vec<ActHealth> = map_n(acts.len(), entries, |i| act_health(act_host[i].as_ref(), acts[i].1, acts[i].2));
        for (&(layer, _, a), h) in acts.iter().zip(health) {
            let l = &mut layers[layer];
            (l.act_mean, l.act_std, l.saturation, l.dead_fraction) = (Some(h.mean), Some(h.std), h.saturation, h.dead);
            self.activations[layer] = Some(a);
        }
        Ok(Tapped { layers, time_steps })
    }

    /// Measures every parameter of `model` from `grads` (the raw `Gradients` of a pass, or the
    /// `GradientsParams` an optimizer is about to consume), with what the pass's taps recorded
    /// when there is a [`Tapped`] of it. The weights are kept for [`Watch::updated`].
    ///
    /// Under gradient accumulation `grads` is the sum the optimizer sees, so its norms are
    /// those of the summed gradient.
    ///
    /// Errors when the model no longer has the parameters it was watched with.
    pub fn read_params<M: Module>(&mut self, model: &M, grads: GradSource<'_>, tapped: Option<Tapped>) -> Result<Measured, Error> {
        let mut reader = ReadParams { grads: Some(grads), weights: Vec::new(), grads_out: Vec::new() };
        model.visit(&mut PathVisitor::new(&mut reader));
        let n = self.layout.params.len();
        if reader.weights.len() != n {
            return Err(Error::ModelChanged { name: self.name.clone(), expected: n, found: reader.weights.len() });
        }
        // The one place where the path is chosen: the device's reductions read back only
        // scalars and counts (device.rs); the host's read every tensor, in place on flex.
        let (params, weights) = if self.on_device(&reader.weights) {
            let histogram: Vec<bool> = self.layout.params.iter().map(|p| !p.is_bias).collect();
            let params = self.device.param_sums(&reader.weights, reader.grads_out, &self.initial, &self.param_norms, &histogram);
            (params, Before::Device(reader.weights))
        } else {
            let with_grad: Vec<usize> = (0..n).filter(|&i| reader.grads_out[i].is_some()).collect();
            let mut tensors = reader.weights;
            tensors.extend(reader.grads_out.into_iter().flatten());
            let mut host = read_all(tensors);
            let grad_host = host.split_off(n);
            let weights = host;
            let mut grad_of: Vec<Option<&[f32]>> = vec![None; n];
            for (&i, g) in with_grad.iter().zip(&grad_host) {
                grad_of[i] = Some(g.as_ref());
            }
            // Each parameter's weight, its initial value and its gradient are read.
            let entries = weights.iter().map(|w| 3 * w.as_ref().len()).sum();
            let params: Vec<ParamSums> = map_n(n, entries, |i| {
                param_sums(grad_of[i], weights[i].as_ref(), &self.initial[i], self.param_norms[i], !self.layout.params[i].is_bias)
            });
            (params, Before::Host(weights))
        };
        let mut layers: Vec<LayerMetrics> = self.layout.layers.iter().enumerate().map(|(k, l)| self.layer_metrics(k, l, &params)).collect();
        let histograms = self.layout.layers.iter().map(|l| layer_histogram(&self.layout, l, &params)).collect();
        let mut time_steps = Vec::new();
        if let Some(t) = tapped {
            for (l, from) in layers.iter_mut().zip(t.layers) {
                l.delta_norm = from.delta_norm;
                l.stream_delta_norm = from.stream_delta_norm;
                (l.act_mean, l.act_std, l.saturation, l.dead_fraction) = (from.act_mean, from.act_std, from.saturation, from.dead_fraction);
            }
            time_steps = t.time_steps;
        }
        // The global norm: per layer, the squared norm of its weights' gradients plus that of
        // its bias's, summed over layers in order.
        let sum_sq: f64 = layers
            .iter()
            .zip(&self.layout.layers)
            .map(|(m, l)| weights_of(&self.layout, l).filter_map(|p| params[p].g2).sum::<f64>() + m.grad_norm_bias.map_or(0.0, |b| b * b))
            .sum();
        let non_finite = params
            .iter()
            .position(|p| !(p.metrics.weight_norm.is_finite() && p.metrics.grad_norm.is_none_or(f64::is_finite)))
            .map(|i| self.layout.params[i].path.clone());
        let measurement = Measurement {
            params: params.into_iter().map(|p| p.metrics).collect(),
            layers,
            histograms,
            grad_norm: sum_sq.sqrt(),
            non_finite,
            time_steps,
        };
        Ok(Measured { measurement, before: weights })
    }

    /// The measurement of a step, completed with the update ratio of every parameter and
    /// layer: `after` is the model the optimizer returned.
    pub fn updated<M: Module>(&self, measured: Measured, after: &M) -> Measurement {
        let Measured { mut measurement, before } = measured;
        let diffs: Vec<f64> = match before {
            Before::Host(before) => {
                let after = read_params(after, &self.layout);
                let entries = after.iter().map(|a| 2 * a.as_ref().len()).sum();
                map_n(after.len(), entries, |i| weight_sums(after[i].as_ref(), before[i].as_ref()).1)
            }
            Before::Device(before) => crate::device::update_sums(param_tensors(after, &self.layout), &before),
        };
        for (m, &d2) in measurement.params.iter_mut().zip(&diffs) {
            m.update_ratio = Some(ratio(d2.sqrt(), m.weight_norm));
        }
        for (k, l) in self.layout.layers.iter().enumerate() {
            let w: Vec<usize> = weights_of(&self.layout, l).collect();
            if w.is_empty() {
                continue;
            }
            let base = measurement.layers[k].weight_norm.unwrap_or(0.0);
            let d = w.iter().map(|&p| diffs[p]).sum::<f64>().sqrt();
            measurement.layers[k].update_ratio = Some(ratio(d, base));
        }
        measurement
    }

    /// The layer named `name`, made (without parameters) when no parameter's layer has it.
    fn layer_named(&mut self, name: &str) -> usize {
        self.layout.layer(name).unwrap_or_else(|| {
            self.layout.layers.push(LayerSpec { name: name.to_string(), params: Vec::new() });
            self.activations.push(None);
            self.initial_norms.push(0.0);
            self.layout.layers.len() - 1
        })
    }

    /// Places each tap at its layer, making a layer for a name that no parameter's layer has.
    ///
    /// A stream tap (`Taps::stream`) whose name is no layer's belongs to the block it closes:
    /// the last layer whose path lies under the name (`block3` for `block3.conv2`), else the
    /// branch tapped just before it in the pass; only a stream with neither is a layer of its
    /// own. So `taps.stream("block3", h + branch)` puts the stream's error beside the block's
    /// branch instead of on a layer without parameters.
    fn place_taps(&mut self, state: TapState, grads: &Gradients) -> Vec<PlacedTap> {
        let mut placed: Vec<PlacedTap> = Vec::with_capacity(state.points.len());
        for p in state.points {
            let stream_only = p.grad.is_none() && p.activation.is_none() && p.stream.is_some();
            let layer = match self.layout.layer(&p.name) {
                Some(l) => l,
                None if stream_only => self.block_of(&p.name, &placed).unwrap_or_else(|| self.layer_named(&p.name)),
                None => self.layer_named(&p.name),
            };
            let stream = p.stream.and_then(|g| g(grads));
            match placed.iter_mut().find(|q| q.layer == layer && stream_only) {
                // The branch's own entry takes the stream beside its delta.
                Some(q) => q.stream = stream,
                None => placed.push(PlacedTap { layer, delta: p.grad.and_then(|g| g(grads)), stream, activation: p.activation }),
            }
        }
        placed
    }

    /// The layer a stream tap named `name` belongs to: the last parameter layer under the
    /// prefix `name.`, else the last branch placed so far that has no stream yet.
    fn block_of(&self, name: &str, placed: &[PlacedTap]) -> Option<usize> {
        let prefix = format!("{name}.");
        let under = self.layout.layers.iter().rposition(|l| l.name.starts_with(&prefix) && !l.params.is_empty());
        under.or_else(|| placed.iter().rev().find(|q| q.delta.is_some() && q.stream.is_none()).map(|q| q.layer))
    }

    /// The per-time-step metrics of the recurrent layers' taps, ordered by layer and step.
    ///
    /// dL/dh_t and the gates are read to the host and reduced in f64, as every error is (a
    /// vanilla RNN's dL/dh_1 falls far below f32's range of squares). Step t's share of
    /// dL/dU, `h_{t-1}ᵀ dL/dp_t`, is a matrix per step, made on the device by one batched
    /// product per layer: each step's dL/dp_t is first divided by its largest entry, so that
    /// the float32 sum of squares neither underflows nor overflows, and the norm is scaled
    /// back in f64.
    fn time_steps(&mut self, times: Vec<TimePoint>, grads: &Gradients) -> Vec<TimeStepMetrics> {
        if times.is_empty() {
            return Vec::new();
        }
        let mut out: Vec<TimeStepMetrics> = Vec::with_capacity(times.len());
        let mut hidden: Vec<(usize, Tensor<2>)> = Vec::new();
        let mut gates: Vec<(usize, Tensor<2>)> = Vec::new();
        // Per layer: (entry, h_{t-1}, dL/dp_t).
        let mut recurrent: Vec<(usize, Vec<(usize, Tensor<2>, Tensor<2>)>)> = Vec::new();
        for p in times {
            let layer = self.layer_named(&p.name);
            let i = out.len();
            out.push(TimeStepMetrics { layer, t: p.t, ..TimeStepMetrics::default() });
            if let Some(d) = p.hidden.and_then(|g| g(grads)) {
                hidden.push((i, d));
            }
            if let Some(g) = p.gate {
                gates.push((i, g));
            }
            if let Some((h_prev, g)) = p.recurrent {
                if let Some(d) = g(grads) {
                    match recurrent.iter_mut().find(|(l, _)| *l == layer) {
                        Some((_, v)) => v.push((i, h_prev, d)),
                        None => recurrent.push((layer, vec![(i, h_prev, d)])),
                    }
                }
            }
        }
        let shapes: Vec<(usize, usize)> = hidden.iter().chain(&gates).map(|(_, t)| (t.dims()[0], t.dims()[1])).collect();
        let host = read_all(hidden.iter().chain(&gates).map(|(_, t)| flat(t.clone())).collect());
        let entries = host.iter().map(|t| t.as_ref().len()).sum();
        let values: Vec<f64> = map_n(host.len(), entries, |k| {
            let (h, units) = (host[k].as_ref(), shapes[k].1);
            if k < hidden.len() {
                // The mean over examples of each example's error norm, each example's own loss
                // (see `delta_norm`): the batch mean's 1/n undone.
                sum_of_row_norms(h, units)
            } else {
                let (sum, _, _) = activation_sums(h, f32::NEG_INFINITY, f32::INFINITY);
                sum / h.len().max(1) as f64
            }
        });
        for (k, &(i, _)) in hidden.iter().enumerate() {
            out[i].hidden_delta_norm = Some(values[k]);
        }
        for (k, &(i, _)) in gates.iter().enumerate() {
            out[i].gate_mean = Some(values[hidden.len() + k]);
        }
        for (_, steps) in recurrent {
            let entries: Vec<usize> = steps.iter().map(|(i, _, _)| *i).collect();
            let (h_prev, d): (Vec<Tensor<2>>, Vec<Tensor<2>>) = steps.into_iter().map(|(_, h, d)| (h, d)).unzip();
            for (i, norm) in entries.into_iter().zip(contribution_norms(h_prev, d)) {
                out[i].recurrent_grad_norm = Some(norm);
            }
        }
        out.sort_by_key(|m| (m.layer, m.t));
        out
    }

    fn layer_metrics(&self, k: usize, l: &LayerSpec, params: &[ParamSums]) -> LayerMetrics {
        let w: Vec<usize> = weights_of(&self.layout, l).collect();
        let b: Vec<usize> = l.params.iter().copied().filter(|&p| self.layout.params[p].is_bias).collect();
        let with_grad: Vec<usize> = w.iter().copied().filter(|&p| params[p].g2.is_some()).collect();
        let g2: f64 = with_grad.iter().filter_map(|&p| params[p].g2).sum();
        let tiny: usize = with_grad.iter().map(|&p| params[p].tiny).sum();
        let len: usize = with_grad.iter().map(|&p| params[p].len).sum();
        let b2: Vec<f64> = b.iter().filter_map(|&p| params[p].g2).collect();
        let w2: f64 = w.iter().map(|&p| params[p].w2).sum();
        let d2: f64 = w.iter().map(|&p| params[p].d2).sum();
        let dist = d2.sqrt();
        LayerMetrics {
            grad_norm_weight: (!with_grad.is_empty()).then(|| g2.sqrt()),
            grad_norm_bias: (!b2.is_empty()).then(|| b2.iter().sum::<f64>().sqrt()),
            weight_norm: (!w.is_empty()).then(|| w2.sqrt()),
            dist_from_init: (!w.is_empty()).then(|| ratio(dist, self.initial_norms[k])),
            grad_underflow: (!with_grad.is_empty()).then(|| tiny as f64 / len.max(1) as f64),
            ..LayerMetrics::default()
        }
    }
}

/// ‖h_{t-1}ᵀ D_t‖ for every step: `h_prev[k]` is `[examples, hidden]`, `d[k]` is
/// `[examples, width]`.
fn contribution_norms(h_prev: Vec<Tensor<2>>, d: Vec<Tensor<2>>) -> Vec<f64> {
    let steps = d.len();
    let h = Tensor::stack::<3>(h_prev, 0).swap_dims(1, 2);
    let d = Tensor::stack::<3>(d, 0);
    let scale = d.clone().abs().max_dim(2).max_dim(1);
    // A step whose error is exactly 0 keeps its 0 (0 / the smallest normal float).
    let scaled = d / scale.clone().clamp_min(f32::MIN_POSITIVE);
    let sum_sq = h.matmul(scaled).square().sum_dim(2).sum_dim(1).reshape([steps]);
    let read = |t: Tensor<1>| t.into_data().convert::<f32>().try_to_vec::<f32>().expect("float32 values read back");
    let (sum_sq, scale) = (read(sum_sq), read(scale.reshape([steps])));
    sum_sq.iter().zip(&scale).map(|(&s, &m)| f64::from(s).sqrt() * f64::from(m)).collect()
}

/// `part / whole`, or `part` itself when `whole` is 0 (a tensor that starts at 0).
fn ratio(part: f64, whole: f64) -> f64 {
    if whole > 0.0 { part / whole } else { part }
}

/// A layer's weight parameters (every parameter but its biases).
fn weights_of<'a>(layout: &'a Layout, l: &'a LayerSpec) -> impl Iterator<Item = usize> + 'a {
    l.params.iter().copied().filter(|&p| !layout.params[p].is_bias)
}

struct PlacedTap {
    layer: usize,
    delta: Option<Tensor<2>>,
    stream: Option<Tensor<2>>,
    activation: Option<(Activation, Tensor<2>)>,
}

/// One parameter's sums (from the host's or the device's reductions).
pub(crate) struct ParamSums {
    pub(crate) metrics: ParamMetrics,
    /// Sum of squared gradient entries (`None` without a gradient).
    pub(crate) g2: Option<f64>,
    pub(crate) tiny: usize,
    pub(crate) len: usize,
    pub(crate) w2: f64,
    pub(crate) d2: f64,
    pub(crate) histogram: Option<Histogram>,
}

fn param_sums(grad: Option<&[f32]>, weight: &[f32], initial: &[f32], w0: f64, histogram: bool) -> ParamSums {
    let (w2, d2) = weight_sums(weight, initial);
    let sums = grad.map(gradient_sums);
    let histogram = grad.filter(|_| histogram).map(|g| {
        let mut h = [0u64; runfolder::BIN_COUNT];
        runfolder::count_bins(g, &mut h);
        h
    });
    ParamSums {
        metrics: ParamMetrics {
            grad_norm: sums.map(|(s, _)| s.sqrt()),
            weight_norm: w2.sqrt(),
            update_ratio: None,
            dist_from_init: ratio(d2.sqrt(), w0),
            grad_underflow: sums.map(|(_, t)| t as f64 / grad.map_or(1, <[f32]>::len).max(1) as f64),
        },
        g2: sums.map(|(s, _)| s),
        tiny: sums.map_or(0, |(_, t)| t),
        len: grad.map_or(0, <[f32]>::len),
        w2,
        d2,
        histogram,
    }
}

fn layer_histogram(layout: &Layout, l: &LayerSpec, params: &[ParamSums]) -> Option<Histogram> {
    let mut out: Option<Histogram> = None;
    for p in weights_of(layout, l) {
        if let Some(h) = &params[p].histogram {
            let acc = out.get_or_insert([0; runfolder::BIN_COUNT]);
            for (a, c) in acc.iter_mut().zip(h) {
                *a += c;
            }
        }
    }
    out
}

struct ActHealth {
    mean: f64,
    std: f64,
    saturation: Option<f64>,
    dead: Option<f64>,
}

fn act_health(a: &[f32], units: usize, activation: Activation) -> ActHealth {
    let bounds = activation.saturation_bounds();
    let (lo, hi) = bounds.unwrap_or((f32::NEG_INFINITY, f32::INFINITY));
    let (sum, sum_sq, outside) = activation_sums(a, lo, hi);
    let count = a.len().max(1) as f64;
    let mean = sum / count;
    // E[a^2] - mean^2 in f64: activations are O(1), so the cancellation costs nothing that
    // matters against f64's 16 digits.
    let var = (sum_sq / count - mean * mean).max(0.0);
    ActHealth {
        mean,
        std: var.sqrt(),
        saturation: bounds.map(|_| outside as f64 / count),
        dead: activation.can_die().then(|| dead_share(a, units)),
    }
}

/// Where a step's parameter gradients are read from.
#[derive(Clone, Copy)]
pub enum GradSource<'g> {
    /// The raw gradients of `loss.backward()`, in a loop of one's own.
    Raw(&'g Gradients),
    /// The gradients by parameter that an optimizer consumes (burn-train's `optimize`).
    Params(&'g GradientsParams),
}

/// Reads every parameter's value and, given gradients, its gradient, as flat tensors.
struct ReadParams<'g> {
    grads: Option<GradSource<'g>>,
    weights: Vec<Tensor<1>>,
    grads_out: Vec<Option<Tensor<1>>>,
}

impl AtParam for &mut ReadParams<'_> {
    fn at<const D: usize>(&mut self, _path: &[String], param: &Param<Tensor<D>>) {
        self.weights.push(flat(param.val().inner()));
        match self.grads {
            Some(GradSource::Raw(grads)) => self.grads_out.push(param.grad(grads).map(flat)),
            Some(GradSource::Params(grads)) => self.grads_out.push(grads.get::<D>(param.id).map(flat)),
            None => {}
        }
    }
}

fn read_params<M: Module>(model: &M, layout: &Layout) -> Vec<HostTensor> {
    read_all(param_tensors(model, layout))
}

/// Every parameter's value as a flat tensor, where it lives.
fn param_tensors<M: Module>(model: &M, layout: &Layout) -> Vec<Tensor<1>> {
    let mut reader = ReadParams { grads: None, weights: Vec::with_capacity(layout.params.len()), grads_out: Vec::new() };
    model.visit(&mut PathVisitor::new(&mut reader));
    reader.weights
}
