//! The telemetry's device path (gradflow's `device.rs`, what GPU backends run) against its
//! host path, forced on flex on the same model and gradients: the same norms to float32
//! tolerance, the same underflow counts and histogram bins exactly, and no underflow of the
//! norms of tiny gradients.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::sigmoid;
use gradflow::runfolder::bin_of;
use gradflow::{Activation, Measurement, Reduction, Watch};

#[derive(Module, Debug)]
struct Net {
    first: Linear,
    second: Linear,
    head: Linear,
}

impl Net {
    fn forward(&self, x: Tensor<2>, taps: &gradflow::Taps) -> Tensor<2> {
        let z = taps.tap("first", self.first.forward(x));
        let a = taps.activation("first", sigmoid(z), Activation::Sigmoid);
        let a = sigmoid(self.second.forward(a));
        self.head.forward(a)
    }
}

/// Relative closeness, with an absolute floor for values that are 0 on both paths.
fn close(host: f64, device: f64, what: &str) {
    let tol = 1e-5 * host.abs().max(device.abs());
    assert!((host - device).abs() <= tol, "{what}: host {host:e} vs device {device:e}");
}

fn close_opt(host: Option<f64>, device: Option<f64>, what: &str) {
    match (host, device) {
        (Some(h), Some(d)) => close(h, d, what),
        (h, d) => assert_eq!(h, d, "{what}: applies on one path only"),
    }
}

/// Every number of two measurements: floats within tolerance, counts exactly.
fn same(host: &Measurement, device: &Measurement) {
    close(host.grad_norm, device.grad_norm, "global norm");
    assert_eq!(host.non_finite, device.non_finite);
    for (i, (h, d)) in host.params.iter().zip(&device.params).enumerate() {
        close_opt(h.grad_norm, d.grad_norm, &format!("param {i} grad_norm"));
        close(h.weight_norm, d.weight_norm, &format!("param {i} weight_norm"));
        close(h.dist_from_init, d.dist_from_init, &format!("param {i} dist_from_init"));
        close_opt(h.update_ratio, d.update_ratio, &format!("param {i} update_ratio"));
        assert_eq!(h.grad_underflow, d.grad_underflow, "param {i} grad_underflow");
    }
    for (i, (h, d)) in host.layers.iter().zip(&device.layers).enumerate() {
        for ((name, hv), (dname, dv)) in h.rows().into_iter().zip(d.rows()) {
            assert_eq!(name, dname, "layer {i}: the same metrics apply");
            if name == "grad_underflow" {
                assert_eq!(hv, dv, "layer {i} {name}");
            } else {
                close(hv, dv, &format!("layer {i} {name}"));
            }
        }
    }
    assert_eq!(host.histograms, device.histograms, "histogram bins");
}

#[test]
fn device_path_matches_host_path_on_flex() {
    paths_agree(&Device::flex().autodiff());
}

/// Two watches of one model on `device` (autodiff), one per path; a step measured by both,
/// with its update (also run on wgpu by tests/it/gpu.rs).
pub(crate) fn paths_agree(device: &Device) {
    let device = device.clone();
    device.seed(7);
    let net = Net {
        first: LinearConfig::new(12, 16).init(&device),
        second: LinearConfig::new(16, 16).init(&device),
        head: LinearConfig::new(16, 3).init(&device),
    };
    let mut host = Watch::new("net", &net).unwrap().with_reduction(Reduction::Host);
    let mut on_device = Watch::new("net", &net).unwrap().with_reduction(Reduction::Device);
    let x = Tensor::<2>::random([8, 12], burn::tensor::Distribution::Normal(0.0, 1.0), &device);
    // A plain loss, the same scaled by 1e-30 (gradients whose float32 squares underflow:
    // their norms must not), and by 1e-40 (gradients in f32's subnormals and zeros: their
    // underflow counts and bins must agree).
    for scale in [1.0, 1e-30, 1e-40] {
        let loss = net.forward(x.clone(), &host.taps(false)).square().mean().mul_scalar(scale);
        let grads = loss.backward();
        let mh = host.read_params(&net, gradflow::GradSource::Raw(&grads), None).unwrap();
        let md = on_device.read_params(&net, gradflow::GradSource::Raw(&grads), None).unwrap();
        let stepped = net.clone().map(&mut Nudge);
        let (mh, md) = (host.updated(mh, &stepped), on_device.updated(md, &stepped));
        same(&mh, &md);
        if scale == 1e-30 {
            let tiny = md.layers[0].grad_norm_weight.unwrap();
            assert!(tiny > 0.0 && tiny < 1e-25, "a tiny gradient's norm is kept, not 0: {tiny:e}");
        }
        if scale == 1e-40 {
            assert!(md.params.iter().any(|p| p.grad_underflow.unwrap() > 0.0), "some entries underflow at this scale");
        }
    }
}

/// Adds 0.01 to every parameter: an update to measure.
struct Nudge;

impl burn::module::ModuleMapper for Nudge {
    fn map_float<const D: usize>(&mut self, param: burn::module::Param<Tensor<D>>) -> burn::module::Param<Tensor<D>> {
        param.map(|t| t.add_scalar(0.01))
    }
}

/// A gradient of 1e-30 in every entry is logged as 1e-30 times the root of the count, and
/// the bins of chosen values (next to decade edges, subnormal, zero, large) are the host's
/// reference bins (`runfolder::bin_of`).
#[test]
fn device_path_keeps_tiny_norms_and_exact_bins() {
    let device = Device::flex().autodiff();
    let values: Vec<f32> = vec![
        1e-30,
        1e-5,
        1e-5f32.next_down(),
        1e-5f32.next_up(),
        0.1,
        0.1f32.next_down(),
        1.0,
        1.0f32.next_down(),
        999.99,
        1e3,
        5e4,
        f32::MIN_POSITIVE,
        f32::MIN_POSITIVE.next_down(),
        1e-38,
        1.5e-38,
        -2e-7,
        0.0,
        3e-12,
    ];
    let n = values.len();
    // z = x W with one example: dL/dW[i, 0] = x[i] for the loss sum(z).
    let layer: Linear = LinearConfig::new(n, 1).with_bias(false).init(&device);
    let mut watch = Watch::new("layer", &layer).unwrap().with_reduction(Reduction::Device);
    let x = Tensor::<2>::from_data(TensorData::new(values.clone(), [1, n]), &device);
    let grads = layer.forward(x).sum().backward();
    let m = watch.read_params(&layer, gradflow::GradSource::Raw(&grads), None).unwrap().into_measurement();
    let mut want = [0u64; gradflow::runfolder::BIN_COUNT];
    for &v in &values {
        want[bin_of(v).index()] += 1;
    }
    assert_eq!(m.histograms[0], Some(want), "the device's bins are the reference bins");

    let tiny = Tensor::<2>::from_data(TensorData::new(vec![1e-30f32; 4], [1, 4]), &device);
    let small: Linear = LinearConfig::new(4, 1).with_bias(false).init(&device);
    let mut watch = Watch::new("small", &small).unwrap().with_reduction(Reduction::Device);
    let grads = small.forward(tiny).sum().backward();
    let m = watch.read_params(&small, gradflow::GradSource::Raw(&grads), None).unwrap().into_measurement();
    let norm = m.params[0].grad_norm.unwrap();
    assert!((norm / 2e-30 - 1.0).abs() < 1e-6, "four entries of 1e-30 have the norm 2e-30, got {norm:e}");
}
