//! The telemetry's numbers against direct computation on a tiny network: norms, the
//! back-propagated error (by a hand-written backward pass), activation health, weight
//! movement, and norms of gradients far below float32's range.

use burn::prelude::*;
use chain::Activation;
use gradflow::{Measurement, Watch};
use models::{BiasInit, Init, Mlp, MlpConfig};
use prng::Rng;

fn host(t: Tensor<2>) -> Vec<Vec<f64>> {
    let [r, c] = t.dims();
    let v: Vec<f32> = t.into_data().convert::<f32>().try_to_vec().unwrap();
    (0..r).map(|i| (0..c).map(|j| f64::from(v[i * c + j])).collect()).collect()
}

fn norm(m: &[Vec<f64>]) -> f64 {
    m.iter().flatten().map(|v| v * v).sum::<f64>().sqrt()
}

fn close(got: f64, want: f64, what: &str) {
    assert!((got - want).abs() <= 1e-5 * want.abs() + 1e-7, "{what}: telemetry {got} vs direct {want}");
}

/// The model with every weight scaled by `k` (biases as they are).
fn scaled(model: &Mlp, k: f64) -> Mlp {
    let mut m = model.clone();
    for l in &mut m.layers {
        l.weight = burn::module::Param::from_tensor(Tensor::from_inner(l.weight.val().inner().mul_scalar(k)));
    }
    m
}

/// Runs a batch through `model` with taps, loss 0.5 * sum((out - y)^2) / batch, and measures
/// it with a watch made on `initial` (the "initial" point of `dist_from_init`).
fn measure_tiny(model: &Mlp, x: &[Vec<f64>], y: &[Vec<f64>], initial: &Mlp) -> Measurement {
    let device = model.layers[0].weight.val().device();
    let b = x.len();
    let flat = |m: &[Vec<f64>]| m.iter().flatten().map(|&v| v as f32).collect::<Vec<_>>();
    let xt = Tensor::<2>::from_data(TensorData::new(flat(x), [b, x[0].len()]), &device);
    let yt = Tensor::<2>::from_data(TensorData::new(flat(y), [b, y[0].len()]), &device);
    let mut watch = Watch::new("tiny", initial).unwrap();
    let taps = watch.taps(true);
    let out = model.forward_tapped(xt, &taps);
    let loss = (out - yt).square().sum().mul_scalar(0.5 / b as f64);
    let grads = loss.backward();
    watch.read(model, &grads, &taps).unwrap().into_measurement()
}

#[test]
fn telemetry_matches_direct_computation() {
    let device = Device::flex().autodiff();
    let mut rng = Rng::new(21);
    let (b, input) = (6, 3);
    let x: Vec<Vec<f64>> = (0..b).map(|_| (0..input).map(|_| 3.0 * rng.normal()).collect()).collect();
    let y: Vec<Vec<f64>> = (0..b).map(|_| (0..2).map(|_| rng.normal()).collect()).collect();
    for act in [Activation::Sigmoid, Activation::Tanh, Activation::Relu, Activation::LeakyRelu] {
        let config = MlpConfig::deep(input, 2, 4, 2, act)
            .with_init(Init::XavierNormal { gain: 3.0 })
            .with_bias_init(if matches!(act, Activation::Relu | Activation::LeakyRelu) { BiasInit::Constant { value: -1.0 } } else { BiasInit::SameAsWeight })
            .with_seed(3);
        let model = config.init(&device);
        // Another model as the "initial" point: drawn from another seed, so that no entry of
        // W - W0 is a fixed multiple of W and dist_from_init is a number of its own.
        let initial = config.clone().with_seed(4).init(&device);
        let m = measure_tiny(&model, &x, &y, &initial);

        // Direct computation on the host, in f64, from the model's own weights.
        let w: Vec<Vec<Vec<f64>>> = model.layers.iter().map(|l| host(l.weight.val().inner())).collect();
        let w0: Vec<Vec<Vec<f64>>> = initial.layers.iter().map(|l| host(l.weight.val().inner())).collect();
        let bias: Vec<Vec<f64>> = model.layers.iter().map(|l| host(l.bias.as_ref().unwrap().val().inner().unsqueeze()).remove(0)).collect();
        let n = w.len();
        let mut zs = vec![Vec::new(); n];
        let mut acts = vec![Vec::new(); n];
        for xi in &x {
            let mut a = xi.clone();
            for l in 0..n {
                let z: Vec<f64> = (0..bias[l].len()).map(|c| bias[l][c] + a.iter().enumerate().map(|(r, v)| v * w[l][r][c]).sum::<f64>()).collect();
                a = if l + 1 == n { z.clone() } else { z.iter().map(|&v| act.value(v)).collect() };
                zs[l].push(z);
                acts[l].push(a.clone());
            }
        }
        // Per-example error of the per-example loss 0.5 |out - y|^2, back-propagated by hand,
        // and from it the batch loss's gradients (the batch loss is the examples' mean):
        // dL/dW = sum_i a_prev(i)^T d(i) / b and dL/db = sum_i d(i) / b, with a_prev the
        // input for the first layer.
        let mut delta_norms = vec![0.0; n];
        let mut gw: Vec<Vec<Vec<f64>>> = w.iter().map(|wl| vec![vec![0.0; wl[0].len()]; wl.len()]).collect();
        let mut gb: Vec<Vec<f64>> = bias.iter().map(|bl| vec![0.0; bl.len()]).collect();
        for (i, yi) in y.iter().enumerate() {
            let mut d: Vec<f64> = acts[n - 1][i].iter().zip(yi).map(|(o, t)| o - t).collect();
            for l in (0..n).rev() {
                delta_norms[l] += d.iter().map(|v| v * v).sum::<f64>().sqrt() / b as f64;
                let a_prev = if l == 0 { &x[i] } else { &acts[l - 1][i] };
                for (r, a) in a_prev.iter().enumerate() {
                    for (c, dc) in d.iter().enumerate() {
                        gw[l][r][c] += a * dc / b as f64;
                    }
                }
                for (c, dc) in d.iter().enumerate() {
                    gb[l][c] += dc / b as f64;
                }
                if l > 0 {
                    d = (0..w[l].len())
                        .map(|r| d.iter().enumerate().map(|(c, dc)| dc * w[l][r][c]).sum::<f64>() * act.derivative(zs[l - 1][i][r]))
                        .collect();
                }
            }
        }
        for l in 0..n {
            let lm = &m.layers[l];
            let what = |s: &str| format!("{act:?} layer {} {s}", l + 1);
            close(lm.delta_norm.unwrap(), delta_norms[l], &what("delta_norm"));
            close(lm.weight_norm.unwrap(), norm(&w[l]), &what("weight_norm"));
            let moved: Vec<Vec<f64>> = w[l].iter().zip(&w0[l]).map(|(r, r0)| r.iter().zip(r0).map(|(a, b)| a - b).collect()).collect();
            close(lm.dist_from_init.unwrap(), norm(&moved) / norm(&w0[l]), &what("dist_from_init"));
            let flat: Vec<f64> = acts[l].iter().flatten().copied().collect();
            let mean = flat.iter().sum::<f64>() / flat.len() as f64;
            let std = (flat.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / flat.len() as f64).sqrt();
            close(lm.act_mean.unwrap(), mean, &what("act_mean"));
            close(lm.act_std.unwrap(), std, &what("act_std"));
            let hidden = l + 1 < n;
            match (act, hidden) {
                (Activation::Sigmoid, true) => {
                    let want = flat.iter().filter(|&&a| !(0.01..=0.99).contains(&a)).count() as f64 / flat.len() as f64;
                    close(lm.saturation.unwrap(), want, &what("saturation"));
                }
                (Activation::Tanh, true) => {
                    let want = flat.iter().filter(|a| a.abs() > 0.97).count() as f64 / flat.len() as f64;
                    close(lm.saturation.unwrap(), want, &what("saturation"));
                }
                (Activation::Relu | Activation::LeakyRelu, true) => {
                    let units = zs[l][0].len();
                    let dead = (0..units).filter(|&u| zs[l].iter().all(|z| z[u] <= 0.0)).count();
                    close(lm.dead_fraction.unwrap(), dead as f64 / units as f64, &what("dead_fraction"));
                }
                _ => assert!(lm.saturation.is_none() && lm.dead_fraction.is_none(), "{}", what("output layer health")),
            }
            close(lm.grad_norm_weight.unwrap(), norm(&gw[l]), &what("grad_norm_weight"));
            close(lm.grad_norm_bias.unwrap(), norm(std::slice::from_ref(&gb[l])), &what("grad_norm_bias"));
            // Dead ReLU units have gradients of exactly 0, which count as underflow.
            let entries: Vec<f64> = gw[l].iter().flatten().copied().collect();
            let tiny = entries.iter().filter(|v| v.abs() < f64::from(f32::MIN_POSITIVE)).count();
            close(lm.grad_underflow.unwrap(), tiny as f64 / entries.len() as f64, &what("grad_underflow"));
        }
        // The global norm is the hand-computed gradients' root sum of squares.
        let total: f64 = (0..n).map(|l| norm(&gw[l]).powi(2) + norm(std::slice::from_ref(&gb[l])).powi(2)).sum::<f64>().sqrt();
        close(m.grad_norm, total, "global norm");
    }
}

#[test]
fn tiny_gradients_do_not_underflow_and_zero_stays_zero() {
    // The loss (W * c).sum() has the gradient c in every entry of W.
    #[derive(burn::module::Module, Debug)]
    struct Layer {
        weight: burn::module::Param<Tensor<2>>,
    }
    let device = Device::flex().autodiff();
    let layer = Layer { weight: burn::module::Param::from_tensor(Tensor::<2>::ones([4, 8], &device).require_grad()) };
    let mut watch = Watch::new("tiny", &layer).unwrap();
    for (value, underflow) in [(1e-30f32, 0.0), (1e-40f32, 1.0), (0.0f32, 1.0)] {
        let grads = layer.weight.val().mul_scalar(value).sum().backward();
        let m = watch.read(&layer, &grads, &watch.taps(false)).unwrap().into_measurement();
        // A float32 sum of squares would be exactly 0 for both nonzero values.
        let want = f64::from(value) * 32f64.sqrt();
        let got = m.layers[0].grad_norm_weight.unwrap();
        if value == 0.0 {
            assert_eq!(got, 0.0, "an all-zero gradient is exactly 0");
        } else {
            close(got, want, &format!("norm of {value:e} entries"));
        }
        assert_eq!(m.layers[0].grad_underflow, Some(underflow), "{value:e}");
    }
}

#[test]
fn update_ratio_is_the_relative_size_of_the_step() {
    let device = Device::flex().autodiff();
    let model = MlpConfig::deep(5, 1, 5, 5, Activation::Relu).with_seed(8).init(&device);
    let mut watch = Watch::new("step", &model).unwrap();
    let x = Tensor::<2>::ones([2, 5], &device);
    let taps = watch.taps(true);
    let grads = model.forward_tapped(x, &taps).sum().backward();
    let measured = watch.read(&model, &grads, &taps).unwrap();
    // "After": every weight moved by 1% of itself, the biases not at all.
    let m = watch.updated(measured, &scaled(&model, 1.01));
    for l in &m.layers {
        close(l.update_ratio.unwrap(), 0.01, "update ratio");
    }
    for (p, spec) in m.params.iter().zip(&watch.layout().params) {
        let want = if spec.is_bias { 0.0 } else { 0.01 };
        close(p.update_ratio.unwrap(), want, &format!("update ratio of {}", spec.path));
    }
}
