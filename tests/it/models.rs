//! The MLP: burn's autodiff against central finite differences of an independent f64
//! forward pass, the initializers against their formulas, and initialization that depends
//! on nothing but the config and seed.

use crate::common::BACKENDS;
use burn::prelude::*;
use burn::tensor::Distribution;
use chain::Activation;
use models::{BiasInit, Init, Mlp, MlpConfig, draw_weight};
use prng::Rng;

/// The model's parameters read back to the host in f64: per layer (W as [in][out], b).
fn params(model: &Mlp) -> Vec<(Vec<Vec<f64>>, Vec<f64>)> {
    model
        .layers
        .iter()
        .map(|l| {
            let [i, o] = l.weight.val().dims();
            let w: Vec<f32> = l.weight.val().into_data().try_to_vec().unwrap();
            let b: Vec<f32> = l.bias.as_ref().unwrap().val().into_data().try_to_vec().unwrap();
            let w = (0..i).map(|r| (0..o).map(|c| f64::from(w[r * o + c])).collect()).collect();
            (w, b.into_iter().map(f64::from).collect())
        })
        .collect()
}

/// An independent forward pass in f64 and the loss 0.5 * sum((out - y)^2) / batch.
fn loss_f64(p: &[(Vec<Vec<f64>>, Vec<f64>)], act: Activation, x: &[Vec<f64>], y: &[Vec<f64>]) -> f64 {
    let mut total = 0.0;
    for (xi, yi) in x.iter().zip(y) {
        let mut a = xi.clone();
        for (li, (w, b)) in p.iter().enumerate() {
            let mut z: Vec<f64> = b.clone();
            for (r, ar) in a.iter().enumerate() {
                for (c, zc) in z.iter_mut().enumerate() {
                    *zc += ar * w[r][c];
                }
            }
            a = if li + 1 == p.len() { z } else { z.into_iter().map(|v| act.value(v)).collect() };
        }
        total += a.iter().zip(yi).map(|(o, t)| 0.5 * (o - t).powi(2)).sum::<f64>();
    }
    total / x.len() as f64
}

#[test]
fn autodiff_matches_finite_differences_for_every_activation_and_parameter() {
    let (batch, input) = (5, 3);
    let mut rng = Rng::new(9);
    let x: Vec<Vec<f64>> = (0..batch).map(|_| (0..input).map(|_| rng.normal()).collect()).collect();
    let y: Vec<Vec<f64>> = (0..batch).map(|_| (0..2).map(|_| rng.normal()).collect()).collect();
    for backend in BACKENDS {
        let device = backend.autodiff_device();
        for act in Activation::ALL {
            let config = MlpConfig::deep(input, 4, 4, 2, act)
                .with_init(Init::XavierNormal { gain: 1.5 })
                .with_bias_init(BiasInit::SameAsWeight)
                .with_seed(17);
            let model = config.init(&device);
            let xt = Tensor::<2>::from_data(
                TensorData::new(x.iter().flatten().map(|&v| v as f32).collect::<Vec<_>>(), [batch, input]),
                &device,
            );
            let yt = Tensor::<2>::from_data(
                TensorData::new(y.iter().flatten().map(|&v| v as f32).collect::<Vec<_>>(), [batch, 2]),
                &device,
            );
            let loss = (model.forward(xt) - yt).square().sum().mul_scalar(0.5 / batch as f64);
            let grads = loss.backward();
            let p = params(&model);
            let h = 1e-6;
            for (li, layer) in model.layers.iter().enumerate() {
                let gw: Vec<f32> = layer.weight.grad(&grads).unwrap().into_data().try_to_vec().unwrap();
                let gb: Vec<f32> = layer.bias.as_ref().unwrap().grad(&grads).unwrap().into_data().try_to_vec().unwrap();
                let (rows, cols) = (p[li].0.len(), p[li].1.len());
                let check = |auto: f32, bump: &dyn Fn(&mut Vec<(Vec<Vec<f64>>, Vec<f64>)>, f64), what: String| {
                    let (mut plus, mut minus) = (p.clone(), p.clone());
                    bump(&mut plus, h);
                    bump(&mut minus, -h);
                    let fd = (loss_f64(&plus, act, &x, &y) - loss_f64(&minus, act, &x, &y)) / (2.0 * h);
                    let tol = 2e-4 * fd.abs() + 2e-6;
                    assert!((f64::from(auto) - fd).abs() <= tol, "{backend:?} {act:?} {what}: autodiff {auto} vs fd {fd}");
                };
                for r in 0..rows {
                    for c in 0..cols {
                        check(gw[r * cols + c], &|p, d| p[li].0[r][c] += d, format!("layer {} W[{r}][{c}]", li + 1));
                    }
                }
                for c in 0..cols {
                    check(gb[c], &|p, d| p[li].1[c] += d, format!("layer {} b[{c}]", li + 1));
                }
            }
        }
    }
}

#[test]
fn initializers_match_their_formulas() {
    // 300 x 200 weights: fan_in and fan_out differ, so Xavier and Kaiming give different variances.
    let (fan_in, fan_out) = (300, 200);
    let n = (fan_in * fan_out) as f64;
    let inits = [
        Init::Constant { value: 0.5 },
        Init::Uniform { low: -0.3, high: 0.7 },
        Init::Normal { mean: 0.1, std: 0.05 },
        Init::XavierUniform { gain: 1.0 },
        Init::XavierNormal { gain: 2.0 },
        Init::KaimingUniform { gain: 2f64.sqrt() },
        Init::KaimingNormal { gain: 2f64.sqrt() },
        Init::LecunNormal,
        Init::Legacy,
    ];
    for init in inits {
        let w = draw_weight(&init, fan_in, fan_out, &mut Rng::new(1));
        let mean = w.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
        let var = w.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / n;
        let (want_mean, want_var) = init.moments(fan_in, fan_out).unwrap();
        // Five standard errors: sd(mean) = sqrt(var/n); sd(var)/var <= sqrt(2/n) for these laws.
        assert!((mean - want_mean).abs() <= 5.0 * (want_var / n).sqrt() + 1e-7, "{init}: mean {mean} vs {want_mean}");
        assert!((var - want_var).abs() <= 5.0 * (2.0 / n).sqrt() * want_var + 1e-9, "{init}: var {var} vs {want_var}");
    }
    // Known values, from the papers' formulas: Xavier uniform bound sqrt(6/500), He normal var 2/300.
    assert!((Init::XavierUniform { gain: 1.0 }.moments(300, 200).unwrap().1 - 6.0 / 500.0 / 3.0).abs() < 1e-12);
    assert!((Init::he_normal().moments(300, 200).unwrap().1 - 2.0 / 300.0).abs() < 1e-12);
}

#[test]
fn orthogonal_weights_are_orthonormal_both_ways() {
    for (rows, cols) in [(64, 16), (16, 64), (32, 32)] {
        let w = draw_weight(&Init::Orthogonal { gain: 1.0 }, rows, cols, &mut Rng::new(2));
        let k = rows.min(cols);
        for i in 0..k {
            for j in 0..k {
                // Columns of a tall matrix, rows of a wide one.
                let dot: f64 = if rows >= cols {
                    (0..rows).map(|r| f64::from(w[r * cols + i]) * f64::from(w[r * cols + j])).sum()
                } else {
                    (0..cols).map(|c| f64::from(w[i * cols + c]) * f64::from(w[j * cols + c])).sum()
                };
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((dot - want).abs() < 1e-5, "{rows}x{cols} ({i},{j}): {dot}");
            }
        }
    }
}

#[test]
fn initialization_depends_only_on_config_and_seed() {
    let config = MlpConfig::deep(20, 3, 16, 4, Activation::Tanh).with_init(Init::XavierNormal { gain: 1.0 }).with_seed(5);
    let read = |m: &Mlp| -> Vec<Vec<f32>> { m.layers.iter().map(|l| l.weight.val().into_data().try_to_vec().unwrap()).collect() };
    let flex = Device::flex().autodiff();
    flex.seed(1);
    let a = read(&config.init(&flex));
    // Random draws from burn's global generator before and after must not change the weights.
    flex.seed(999);
    let _noise = Tensor::<2>::random([8, 8], Distribution::Default, &flex);
    let b = read(&config.init(&flex));
    assert_eq!(a, b);
    // The same on the other backend.
    #[allow(deprecated)]
    let nd = Device::ndarray().autodiff();
    assert_eq!(a, read(&config.init(&nd)));
    // Another seed, other weights; the layout is burn's [fan_in, fan_out].
    assert_ne!(a, read(&config.clone().with_seed(6).init(&flex)));
    assert_eq!(a[0], draw_weight(&config.init, 20, 16, &mut Rng::derive(5, &[0, 0])));
    // Zero biases by default.
    let m = config.init(&flex);
    let bias: Vec<f32> = m.layers[0].bias.as_ref().unwrap().val().into_data().try_to_vec().unwrap();
    assert!(bias.iter().all(|&v| v == 0.0));
}

#[test]
fn invalid_model_configs_are_errors_not_panics() {
    let base = MlpConfig::deep(4, 2, 8, 2, Activation::Relu);
    let mut zero_width = base.clone();
    zero_width.hidden[1] = 0;
    assert!(zero_width.validate().unwrap_err().to_string().contains("layer 2 has width 0"));
    let bad_init = base.clone().with_init(Init::Uniform { low: 1.0, high: 0.0 });
    assert!(bad_init.validate().unwrap_err().to_string().contains("low < high"));
    let ortho_bias = base.with_init(Init::Orthogonal { gain: 1.0 }).with_bias_init(BiasInit::SameAsWeight);
    assert!(ortho_bias.validate().is_err());
}

/// The MLP computes its linear layers, the sigmoid and tanh with the kernels crate: their
/// outputs and gradients must be burn's own, but for rounding (the sigmoid's own exponential
/// and tanh are within a few ulp of the exact, and the bias is added before the product's
/// terms, not after).
#[test]
fn layers_give_burns_own_values_and_gradients() {
    // The same parameters through burn's `Linear::forward` and burn's activations: values
    // and the gradients of W, b and the input must agree, for layers without bias and for an
    // input that is a transposed view too.
    fn close(what: &str, a: Tensor<2>, b: Tensor<2>) {
        let (a, b): (Vec<f32>, Vec<f32>) = (a.into_data().try_to_vec().unwrap(), b.into_data().try_to_vec().unwrap());
        assert_eq!(a.len(), b.len(), "{what}");
        let scale = b.iter().fold(0f32, |m, v| m.max(v.abs()));
        let worst = a.iter().zip(&b).fold(0f32, |m, (u, v)| m.max((u - v).abs()));
        assert!(scale > 0.0 && worst <= 1e-5 * scale, "{what}: {worst:e} of {scale:e}");
    }
    for backend in BACKENDS {
        let device = backend.autodiff_device();
        let small = [Activation::Sigmoid, Activation::Tanh, Activation::Relu, Activation::LeakyRelu]
            .into_iter()
            .flat_map(|act| [(true, false), (false, false), (true, true)].map(|(bias, transposed)| (act, bias, transposed, 16, 9)));
        // Wide enough for the kernels crate to compute dx = g W^T column-major and transpose
        // it, and to split the sigmoid and tanh over threads.
        let wide = [
            (Activation::Relu, true, false, 512, 128),
            (Activation::Sigmoid, true, false, 512, 128),
            (Activation::Tanh, true, false, 512, 128),
        ];
        for (act, bias, transposed, width, batch) in small.chain(wide) {
            {
                let what = format!("{backend:?} {act:?} bias {bias} transposed input {transposed} width {width}");
                let model = MlpConfig::deep(12, 3, width, 4, act)
                    .with_bias(bias)
                    .with_bias_init(BiasInit::Constant { value: 0.1 })
                    .with_seed(5)
                    .init(&device);
                let x = if transposed {
                    Tensor::<2>::random([12, batch], Distribution::Normal(0.0, 3.0), &device).transpose()
                } else {
                    Tensor::<2>::random([batch, 12], Distribution::Normal(0.0, 3.0), &device)
                }
                .require_grad();
                let n = model.layers.len();
                let theirs = model.layers.iter().enumerate().fold(x.clone(), |h, (i, l)| {
                    let z = l.forward(h);
                    match (i + 1 == n, act) {
                        (true, _) => z,
                        (false, Activation::Sigmoid) => burn::tensor::activation::sigmoid(z),
                        (false, Activation::Tanh) => burn::tensor::activation::tanh(z),
                        (false, Activation::Relu) => burn::tensor::activation::relu(z),
                        (false, _) => burn::tensor::activation::leaky_relu(z, chain::LEAKY_SLOPE),
                    }
                });
                let ours = model.forward(x.clone());
                close(&format!("{what}: forward"), ours.clone(), theirs.clone());
                let (g_ours, g_theirs) = (ours.square().sum().backward(), theirs.square().sum().backward());
                close(&format!("{what}: input"), x.grad(&g_ours).unwrap(), x.grad(&g_theirs).unwrap());
                for (i, l) in model.layers.iter().enumerate() {
                    let layer = format!("{what}: layer {}", i + 1);
                    close(&format!("{layer} W"), l.weight.grad(&g_ours).unwrap(), l.weight.grad(&g_theirs).unwrap());
                    if let Some(b) = &l.bias {
                        let (a, t) = (b.grad(&g_ours).unwrap(), b.grad(&g_theirs).unwrap());
                        close(&format!("{layer} b"), a.unsqueeze(), t.unsqueeze());
                    }
                }
            }
        }
    }
}

#[test]
fn the_plain_sgd_update_is_burns_sgd_to_the_bit() {
    // The trainer's plain SGD step (the kernels crate's `sgd_update`) against burn's `Sgd`
    // arithmetic, computed on the host: burn-optim's `Sgd::step` is `tensor - grad.mul_scalar(lr)`,
    // that is, per element, `p - g * (lr as f32)` rounded to f32 after each operation. On
    // ndarray the kernels crate runs burn's own operations, so only a computation outside
    // burn can tell that they are that arithmetic. Checked for a parameter whose buffer is the
    // tensor's own (updated in place, in chunks over the thread pool when it is large), one
    // whose buffer is shared with a clone (which must keep its old values), and a transposed
    // view; and burn's `Sgd` itself against the same host values.
    use burn::optim::{Optimizer, SgdConfig};
    let values = |t: Tensor<2>| -> Vec<f32> { t.into_data().try_to_vec::<f32>().unwrap() };
    let bits = |v: &[f32]| -> Vec<u32> { v.iter().map(|x| x.to_bits()).collect() };
    let host_sgd = |p: &[f32], g: &[f32], lr: f64| -> Vec<u32> {
        let lr = lr as f32;
        p.iter().zip(g).map(|(&p, &g)| (p - g * lr).to_bits()).collect()
    };
    for backend in BACKENDS {
        let device = backend.plain_device();
        for [rows, cols] in [[3, 5], [300, 301]] {
            let fresh = || Tensor::<2>::random([rows, cols], Distribution::Normal(0.0, 1.0), &device);
            let (param, grad) = (fresh(), fresh());
            let lr = 0.1;
            let (p, g) = (values(param.clone()), values(grad.clone()));
            let expected = host_sgd(&p, &g, lr);
            let what = format!("{backend:?} {rows}x{cols}");
            let (burns, _) = SgdConfig::new().build().step(lr, param.clone(), grad.clone(), None);
            assert_eq!(bits(&values(burns)), expected, "{what}: burn's Sgd is not the host arithmetic");
            let own = Tensor::<2>::from_data(param.to_data(), &device);
            assert_eq!(bits(&values(kernels::sgd_update(own, grad.clone(), lr))), expected, "{what}: own buffer");
            assert_eq!(bits(&values(kernels::sgd_update(param.clone(), grad.clone(), lr))), expected, "{what}: shared buffer");
            assert_eq!(bits(&values(param.clone())), bits(&p), "{what}: the update wrote into a shared buffer");
            // The transposed view's elements, in its own (column-major) order.
            let transpose = |v: &[f32]| -> Vec<f32> { (0..cols).flat_map(|c| (0..rows).map(move |r| v[r * cols + c])).collect() };
            let expected_t = host_sgd(&transpose(&p), &transpose(&g), lr);
            let updated = kernels::sgd_update(param.clone().transpose(), grad.transpose(), lr);
            assert_eq!(bits(&values(updated)), expected_t, "{what}: view");
        }
    }
}
