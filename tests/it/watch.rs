//! The gradflow library on a model it has never seen: a conv layer, a LayerNorm, a residual
//! addition and a frozen layer, defined only here. Its per-parameter numbers against a direct
//! computation, its taps' dL/dz against finite differences, its histogram bins on known
//! values, and the errors a user meets.

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::{relu, tanh};
use gradflow::runfolder::Bin;
use gradflow::{Activation, Grouping, Taps, Watch};
use prng::Rng;

#[derive(Module, Debug)]
struct Net {
    conv: Conv2d,
    norm: LayerNorm,
    block: Linear,
    frozen: Linear,
    head: Linear,
}

/// Where the finite-difference check nudges the forward pass: `z` of `conv` or the
/// residual stream, plus a tensor of the same shape.
enum Bump {
    None,
    Conv(Tensor<4>),
    Stream(Tensor<2>),
}

impl Net {
    fn new(device: &Device) -> Net {
        let mut net = Net {
            conv: Conv2dConfig::new([1, 2], [3, 3]).init(device),
            norm: LayerNormConfig::new(32).init(device),
            block: LinearConfig::new(32, 32).init(device),
            frozen: LinearConfig::new(32, 32).init(device),
            head: LinearConfig::new(32, 3).init(device),
        };
        net.frozen.weight = net.frozen.weight.set_require_grad(false);
        net
    }

    /// `[n, 1, 6, 6]` to `[n, 3]`: conv, ReLU, LayerNorm, a residual tanh block, a frozen
    /// linear layer, and the head.
    fn forward(&self, x: Tensor<4>, taps: &Taps, bump: &Bump) -> Tensor<2> {
        let mut z = self.conv.forward(x);
        if let Bump::Conv(b) = bump {
            z = z + b.clone();
        }
        let z = taps.tap("conv", z);
        let a = taps.activation("conv", relu(z), Activation::Relu);
        let h = self.norm.forward(a.flatten(1, 3));
        let branch = taps.tap("block", self.block.forward(h.clone()));
        let mut stream = h + taps.activation("block", tanh(branch), Activation::Tanh);
        if let Bump::Stream(b) = bump {
            stream = stream + b.clone();
        }
        let stream = taps.tap("stream", stream);
        self.head.forward(self.frozen.forward(stream))
    }
}

/// The mean over examples of 0.5 |out - y|^2.
fn loss(out: Tensor<2>, y: &Tensor<2>) -> Tensor<1> {
    let n = out.dims()[0];
    (out - y.clone()).square().sum().mul_scalar(0.5 / n as f64)
}

fn host<const D: usize>(t: Tensor<D>) -> Vec<f64> {
    t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap().into_iter().map(f64::from).collect()
}

fn l2(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

fn close(got: f64, want: f64, tol: f64, what: &str) {
    assert!((got - want).abs() <= tol * want.abs().max(1e-12), "{what}: gradflow {got} vs direct {want}");
}

fn random(dims: &[usize], rng: &mut Rng) -> Vec<f32> {
    (0..dims.iter().product::<usize>()).map(|_| rng.normal() as f32).collect()
}

fn setup() -> (Net, Tensor<4>, Tensor<2>, Device) {
    let device = Device::flex().autodiff();
    device.seed(5);
    let mut rng = Rng::new(11);
    let net = Net::new(&device);
    let x = Tensor::<4>::from_data(TensorData::new(random(&[3, 1, 6, 6], &mut rng), [3, 1, 6, 6]), &device);
    let y = Tensor::<2>::from_data(TensorData::new(random(&[3, 3], &mut rng), [3, 3]), &device);
    (net, x, y, device)
}

#[test]
fn any_module_gets_per_parameter_metrics_equal_to_a_direct_computation() {
    let (net, x, y, _) = setup();
    let mut watch = Watch::new("net", &net).unwrap();
    let layers: Vec<&str> = watch.layout().layers.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(layers, ["conv", "norm", "block", "frozen", "head"], "layers are the modules that own parameters, in field order");
    let paths: Vec<String> = watch.layout().params.iter().map(|p| p.path.clone()).collect();
    assert_eq!(
        paths.iter().map(String::as_str).collect::<Vec<_>>(),
        ["conv.weight", "conv.bias", "norm.gamma", "norm.beta", "block.weight", "block.bias", "frozen.weight", "frozen.bias", "head.weight", "head.bias"],
        "parameters are named by their module path, as burn-store names them"
    );

    let taps = watch.taps(true);
    let out = net.forward(x, &taps, &Bump::None);
    let grads = loss(out, &y).backward();
    // The direct computation: each parameter's own gradient and value, in f64.
    let direct: Vec<(Option<Vec<f64>>, Vec<f64>)> = vec![
        (net.conv.weight.grad(&grads).map(host), host(net.conv.weight.val())),
        (net.conv.bias.as_ref().unwrap().grad(&grads).map(host), host(net.conv.bias.as_ref().unwrap().val())),
        (net.norm.gamma.grad(&grads).map(host), host(net.norm.gamma.val())),
        (net.norm.beta.as_ref().unwrap().grad(&grads).map(host), host(net.norm.beta.as_ref().unwrap().val())),
        (net.block.weight.grad(&grads).map(host), host(net.block.weight.val())),
        (net.block.bias.as_ref().unwrap().grad(&grads).map(host), host(net.block.bias.as_ref().unwrap().val())),
        (net.frozen.weight.grad(&grads).map(host), host(net.frozen.weight.val())),
        (net.frozen.bias.as_ref().unwrap().grad(&grads).map(host), host(net.frozen.bias.as_ref().unwrap().val())),
        (net.head.weight.grad(&grads).map(host), host(net.head.weight.val())),
        (net.head.bias.as_ref().unwrap().grad(&grads).map(host), host(net.head.bias.as_ref().unwrap().val())),
    ];
    let m = watch.read(&net, &grads, &taps).unwrap().into_measurement();
    for ((path, p), (g, w)) in paths.iter().zip(&m.params).zip(&direct) {
        match g {
            Some(g) => {
                close(p.grad_norm.unwrap(), l2(g), 1e-9, &format!("{path} grad_norm"));
                let tiny = g.iter().filter(|v| v.abs() < f64::from(f32::MIN_POSITIVE)).count() as f64 / g.len() as f64;
                close(p.grad_underflow.unwrap(), tiny, 1e-12, &format!("{path} grad_underflow"));
            }
            None => assert_eq!((p.grad_norm, p.grad_underflow), (None, None), "{path}: no gradient, no gradient metrics"),
        }
        close(p.weight_norm, l2(w), 1e-9, &format!("{path} weight_norm"));
        assert_eq!(p.dist_from_init, 0.0, "{path}: nothing moved yet");
    }
    assert!(direct[6].0.is_none(), "the frozen weight has no gradient");

    // Layers: weights and biases apart (LayerNorm's gamma is its weight, beta its bias).
    let layer = |name: &str| &m.layers[watch.layout().layer(name).unwrap()];
    close(layer("norm").grad_norm_weight.unwrap(), l2(direct[2].0.as_ref().unwrap()), 1e-9, "norm grad_norm_weight");
    close(layer("norm").grad_norm_bias.unwrap(), l2(direct[3].0.as_ref().unwrap()), 1e-9, "norm grad_norm_bias");
    assert_eq!(layer("frozen").grad_norm_weight, None, "a frozen layer's gradient metrics are absent, not zero");
    assert!(layer("frozen").weight_norm.is_some() && layer("frozen").grad_norm_bias.is_some());
    // The global norm is the root sum of squares of every gradient.
    let total = direct.iter().filter_map(|(g, _)| g.as_ref()).map(|g| l2(g).powi(2)).sum::<f64>().sqrt();
    close(m.grad_norm, total, 1e-9, "global norm");
    // The histogram counts every entry of the layer's weight gradients once.
    let conv_hist = m.histograms[watch.layout().layer("conv").unwrap()].unwrap();
    assert_eq!(conv_hist.iter().sum::<u64>(), 18, "conv.weight has 2*1*3*3 entries");
    assert_eq!(m.histograms[watch.layout().layer("frozen").unwrap()], None);
    // The tap that names no parameter's layer is a layer of its own, after the others.
    assert_eq!(watch.layout().layers.last().unwrap().name, "stream");
    assert!(layer("stream").delta_norm.is_some() && layer("stream").grad_norm_weight.is_none());
    // Activation health where the tap named the activation.
    assert!(layer("conv").dead_fraction.is_some() && layer("conv").saturation.is_none());
    assert!(layer("block").saturation.is_some() && layer("block").dead_fraction.is_none());
}

#[test]
fn tapped_errors_equal_finite_differences() {
    let (net, x, y, device) = setup();
    let mut watch = Watch::new("net", &net).unwrap();
    let taps = watch.taps(true);
    let out = net.forward(x.clone(), &taps, &Bump::None);
    let grads = loss(out, &y).backward();
    let m = watch.read(&net, &grads, &taps).unwrap().into_measurement();
    let plain = net.valid();
    let xv = x.inner();
    let yv = y.inner();
    let eval = |bump: &Bump| -> f64 { f64::from(loss(plain.forward(xv.clone(), &Taps::off(), bump), &yv).into_scalar::<f32>()) };
    let _ = device;
    let plain_device = xv.device();
    // delta_norm = mean over examples of |dL_i/dz_i|, L_i each example's own loss; the loss here
    // is the mean over 3 examples, so it is the sum over examples of |dL/dz_i|.
    for (name, shape) in [("conv", vec![3usize, 2, 4, 4]), ("stream", vec![3usize, 32])] {
        let per: usize = shape[1..].iter().product();
        let eps = 1e-2f32;
        let mut total = 0.0;
        for i in 0..3 {
            let mut sq = 0.0;
            for j in 0..per {
                let mut e = vec![0f32; 3 * per];
                e[i * per + j] = eps;
                let bump = |v: Vec<f32>| match name {
                    "conv" => Bump::Conv(Tensor::<4>::from_data(TensorData::new(v, [3, 2, 4, 4]), &plain_device)),
                    _ => Bump::Stream(Tensor::<2>::from_data(TensorData::new(v, [3, 32]), &plain_device)),
                };
                let up = eval(&bump(e.clone()));
                let down = eval(&bump(e.iter().map(|v| -v).collect()));
                let g = (up - down) / (2.0 * f64::from(eps));
                sq += g * g;
            }
            total += sq.sqrt();
        }
        let got = m.layers[watch.layout().layer(name).unwrap()].delta_norm.unwrap();
        close(got, total, 0.02, &format!("{name} delta_norm against finite differences"));
    }
}

#[test]
fn histogram_bins_hold_zeros_subnormals_and_decades() {
    #[derive(Module, Debug)]
    struct One {
        w: Param<Tensor<1>>,
    }
    let device = Device::flex().autodiff();
    let values = [0.0f32, -0.0, 1e-40, 1e-30, 1.0, -1.0, 0.5, 2e3];
    let model = One { w: Param::from_tensor(Tensor::<1>::ones([values.len()], &device).require_grad()) };
    let mut watch = Watch::new("one", &model).unwrap();
    let c = Tensor::<1>::from_data(TensorData::new(values.to_vec(), [values.len()]), &device);
    // dL/dw = c, entry for entry.
    let grads = (model.w.val() * c).sum().backward();
    let m = watch.read(&model, &grads, &Taps::off()).unwrap().into_measurement();
    let h = m.histograms[0].unwrap();
    let count = |b: Bin| h[b.index()];
    assert_eq!(count(Bin::Zero), 2);
    assert_eq!(count(Bin::Subnormal), 1);
    assert_eq!(count(Bin::Decade(-30)), 1, "1e-30 is in [1e-30, 1e-29)");
    assert_eq!(count(Bin::Decade(0)), 2, "1 and -1");
    assert_eq!(count(Bin::Decade(-1)), 1, "0.5");
    assert_eq!(count(Bin::Large), 1, "2e3");
    assert_eq!(h.iter().sum::<u64>(), values.len() as u64);
    // And the f64 norm keeps the subnormal entry.
    close(m.params[0].grad_norm.unwrap(), (2.25f64 + 4e6 + 1e-60 + 1e-80).sqrt(), 1e-12, "norm");
}

#[test]
fn misuse_is_named() {
    let (net, x, y, _) = setup();
    let mut watch = Watch::new("net", &net).unwrap();
    let taps = watch.taps(true);
    let z = taps.tap("conv", net.conv.forward(x.clone()));
    let z = taps.tap("conv", z);
    let grads = z.sum().backward();
    let e = watch.read(&net, &grads, &taps).err().expect("a tap used twice is an error");
    assert!(e.to_string().contains("tap `conv` is used twice"), "{e}");
    let e = Watch::grouped("net", &net, &Grouping::default().group("encoder", &["enc"])).err().expect("an empty group");
    assert!(e.to_string().contains("`encoder` matches no parameter"), "{e}");
    #[derive(Module, Debug)]
    struct Empty {
        n: usize,
    }
    let e = Watch::new("empty", &Empty { n: 1 }).err().expect("nothing to watch");
    assert!(e.to_string().contains("no parameters"), "{e}");
    // A group gathers the layers it names.
    let w = Watch::grouped("net", &net, &Grouping::default().group("trunk", &["conv", "norm"])).unwrap();
    assert_eq!(w.layout().layers[0].name, "trunk");
    assert_eq!(w.layout().layers[0].params.len(), 4);
    let _ = y;
}

#[test]
fn a_non_finite_gradient_ends_the_run_as_diverged_naming_the_step_and_parameter() {
    let (net, x, y, _) = setup();
    let dir = crate::common::scratch("diverged").join("run");
    let mut run = gradflow::Recorder::create(&dir, Default::default(), None, Box::new(gradflow::view::Silent)).unwrap();
    let mut watch = Watch::new("net", &net).unwrap();
    run.add(&watch, Default::default()).unwrap();
    let taps = watch.taps(true);
    // An infinite target makes every gradient upstream of the head infinite or NaN.
    let target = y.mul_scalar(f32::INFINITY);
    let grads = loss(net.forward(x, &taps, &Bump::None), &target).backward();
    let m = watch.read(&net, &grads, &taps).unwrap().into_measurement();
    let path = m.non_finite.clone().expect("a non-finite parameter is named");
    assert!(path.ends_with("weight") || path.ends_with("bias") || path.ends_with("gamma") || path.ends_with("beta"), "{path}");
    let e = run.step("net", 1, 7, 1.0, &m, m.grad_norm).expect_err("a diverged step is an error");
    assert!(e.to_string().contains("step 7") && e.to_string().contains(&path), "{e}");
    let manifest: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["status"], "diverged");
    assert!(manifest["reason"].as_str().unwrap().contains(&path));
    // Nothing non-finite was written.
    assert_eq!(std::fs::read_to_string(dir.join("layers.csv")).unwrap().lines().count(), 1);
}
