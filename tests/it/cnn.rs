//! The CNN of the models crate: its output, weight gradients and taps (`delta_norm` at every
//! convolution, the residual stream's error, dead channels) against an independent forward
//! pass in f64 written here, differentiated by central finite differences.

use crate::common::BACKENDS;
use burn::prelude::*;
use chain::Activation;
use gradflow::Watch;
use models::{BiasInit, Block, Cnn, CnnConfig, ConvShape, ConvSkip, Init, Norm};
use prng::Rng;

fn host<const D: usize>(t: Tensor<D>) -> Vec<f64> {
    t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap().into_iter().map(f64::from).collect()
}

/// The model's parameters on the host, in f64.
#[derive(Clone)]
struct Params {
    convs: Vec<(Vec<f64>, Vec<f64>)>,
    projections: Vec<Option<Vec<f64>>>,
    head: (Vec<f64>, Vec<f64>),
}

fn params(model: &Cnn) -> Params {
    Params {
        convs: model.convs.iter().map(|c| (host(c.weight.val()), host(c.bias.val()))).collect(),
        projections: model.projections.iter().map(|p| p.as_ref().map(|p| host(p.val()))).collect(),
        head: (host(model.head.weight.val()), host(model.head.bias.as_ref().unwrap().val())),
    }
}

/// A `k x k` convolution of `x` (`ci` planes of `h x w`), `weight` `[co][ci][k][k]`, zero
/// padding `pad`, into `co` planes of `oh x ow`.
#[allow(clippy::too_many_arguments)]
fn conv(x: &[f64], ci: usize, [h, w]: [usize; 2], weight: &[f64], co: usize, k: usize, stride: usize, pad: usize, [oh, ow]: [usize; 2]) -> Vec<f64> {
    let mut out = vec![0.0; co * oh * ow];
    for o in 0..co {
        for p in 0..oh {
            for q in 0..ow {
                let mut s = 0.0;
                for c in 0..ci {
                    for a in 0..k {
                        for b in 0..k {
                            let (r, col) = ((p * stride + a) as isize - pad as isize, (q * stride + b) as isize - pad as isize);
                            if r >= 0 && col >= 0 && (r as usize) < h && (col as usize) < w {
                                s += x[(c * h + r as usize) * w + col as usize] * weight[((o * ci + c) * k + a) * k + b];
                            }
                        }
                    }
                }
                out[(o * oh + p) * ow + q] = s;
            }
        }
    }
    out
}

/// Where to add `eps` in one example's forward pass: entry `at` of convolution `layer`'s
/// output z, or of the residual stream after it.
#[derive(Clone, Copy)]
enum Bump {
    None,
    Z { layer: usize, at: usize, eps: f64 },
    Stream { layer: usize, at: usize, eps: f64 },
}

/// One example's logits, in f64, from the architecture's definition (ARCHITECTURE.md): the
/// single block `h' = S h + f(z)`, the basic block `h' = f(z2 + S h)`.
fn forward(p: &Params, shapes: &[ConvShape], input: [usize; 3], f: Activation, x: &[f64], bump: Bump) -> Vec<f64> {
    let mut h = x.to_vec();
    let mut size = [input[1], input[2]];
    // A basic block's input and its size, kept at its first convolution.
    let mut block = (h.clone(), size);
    for (k, s) in shapes.iter().enumerate() {
        if s.block == Block::Basic && s.position == 1 {
            block = (h.clone(), size);
        }
        let (source, source_size) = if s.block == Block::Basic { block.clone() } else { (h.clone(), size) };
        let skip = match s.skip {
            ConvSkip::None => None,
            ConvSkip::Identity => Some(source),
            ConvSkip::Projection => Some(conv(
                &source,
                s.skip_channels,
                source_size,
                p.projections[k].as_ref().unwrap(),
                s.out_channels,
                1,
                s.skip_stride,
                0,
                s.out_size,
            )),
        };
        let (w, b) = &p.convs[k];
        let mut z = conv(&h, s.in_channels, size, w, s.out_channels, 3, s.stride, 1, s.out_size);
        let plane = s.out_size[0] * s.out_size[1];
        for (i, v) in z.iter_mut().enumerate() {
            *v += b[i / plane];
        }
        if let Bump::Z { layer, at, eps } = bump
            && layer == k
        {
            z[at] += eps;
        }
        h = match (s.block, skip) {
            (_, None) => z.iter().map(|&v| f.value(v)).collect(),
            (Block::Single, Some(s)) => s.iter().zip(&z).map(|(s, z)| s + f.value(*z)).collect(),
            (Block::Basic, Some(s)) => s.iter().zip(&z).map(|(s, z)| f.value(s + z)).collect(),
        };
        if let Bump::Stream { layer, at, eps } = bump
            && layer == k
        {
            h[at] += eps;
        }
        size = s.out_size;
    }
    let last = shapes.last().unwrap().out_channels;
    let plane = size[0] * size[1];
    let pooled: Vec<f64> = (0..last).map(|c| h[c * plane..(c + 1) * plane].iter().sum::<f64>() / plane as f64).collect();
    let (v, c) = &p.head;
    let out = c.len();
    (0..out).map(|j| c[j] + (0..last).map(|i| pooled[i] * v[i * out + j]).sum::<f64>()).collect()
}

/// Each example's own loss, 0.5 |y - t|^2.
fn example_loss(p: &Params, shapes: &[ConvShape], input: [usize; 3], f: Activation, x: &[f64], t: &[f64], bump: Bump) -> f64 {
    forward(p, shapes, input, f, x, bump).iter().zip(t).map(|(y, t)| 0.5 * (y - t).powi(2)).sum()
}

fn config() -> CnnConfig {
    CnnConfig {
        // Two channels of a 6 x 5 image: not square, and more than one input channel.
        input: [2, 6, 5],
        channels: vec![3, 4],
        depth: 2,
        block: Block::Single,
        output: 3,
        activation: Activation::Tanh,
        init: Init::XavierNormal { gain: 1.5 },
        bias_init: BiasInit::SameAsWeight,
        norm: Norm::None,
        residual: true,
        seed: 5,
    }
}

#[test]
fn the_shapes_and_names_follow_the_stages() {
    let c = config();
    let convs = c.convs();
    let names: Vec<String> = convs.iter().map(ConvShape::name).collect();
    assert_eq!(names, ["s1.conv1", "s1.conv2", "s2.conv1", "s2.conv2"]);
    // The first convolution has no skip; the stride-2 one changes channels and size: projected.
    assert_eq!(convs.iter().map(|s| s.skip).collect::<Vec<_>>(), [ConvSkip::None, ConvSkip::Identity, ConvSkip::Projection, ConvSkip::Identity]);
    // 6 x 5 halved, rounding up: 3 x 3.
    assert_eq!(convs.iter().map(|s| s.out_size).collect::<Vec<_>>(), [[6, 5], [6, 5], [3, 3], [3, 3]]);
    // Weights and biases: 2*3*9+3, 3*3*9+3, 3*4*9+4, 4*4*9+4; the projection 3*4; the head 4*3+3.
    assert_eq!(c.num_params(), 57 + 84 + 112 + 148 + 12 + 15);
    let device = Device::flex();
    let model = c.init(&device);
    let layout = gradflow::Layout::of(&model, &c.grouping()).unwrap();
    assert_eq!(layout.layers.iter().map(|l| l.name.as_str()).collect::<Vec<_>>(), ["s1.conv1", "s1.conv2", "s2.conv1", "s2.conv2", "head"]);
    let counted: usize = layout.params.iter().map(|p| p.shape.iter().product::<usize>()).sum();
    assert_eq!(counted, c.num_params());
}

#[test]
fn the_basic_block_pairs_convolutions_and_projects_its_skip() {
    let c = CnnConfig { block: Block::Basic, channels: vec![3, 3], norm: Norm::Batch, ..config() };
    let convs = c.convs();
    let names: Vec<String> = convs.iter().map(ConvShape::name).collect();
    assert_eq!(names, ["s1.b1.conv1", "s1.b1.conv2", "s1.b2.conv1", "s1.b2.conv2", "s2.b1.conv1", "s2.b1.conv2", "s2.b2.conv1", "s2.b2.conv2"]);
    // Only a block's second convolution has a skip; the first block changes the channels
    // (2 to 3) and the third the size (stride 2) with the channels kept: both are projected.
    use ConvSkip::{Identity, None as Plain, Projection};
    assert_eq!(convs.iter().map(|s| s.skip).collect::<Vec<_>>(), [Plain, Projection, Plain, Identity, Plain, Projection, Plain, Identity]);
    assert_eq!(convs.iter().map(|s| s.stride).collect::<Vec<_>>(), [1, 1, 1, 1, 2, 1, 1, 1]);
    assert_eq!((convs[5].skip_channels, convs[5].skip_stride, convs[5].in_channels), (3, 2, 3));
    // Every parameter the model has is counted, the projections' BatchNorms with them, and
    // each is in its convolution's layer.
    let model = c.init(&Device::flex());
    assert_eq!(model.projection_norms.iter().filter(|n| n.is_some()).count(), 2);
    let layout = gradflow::Layout::of(&model, &c.grouping()).unwrap();
    let counted: usize = layout.params.iter().map(|p| p.shape.iter().product::<usize>()).sum();
    assert_eq!(counted, c.num_params());
    assert_eq!(layout.layers.len(), 9);
    // Plain basic blocks: the same convolutions, no skip and no projection.
    let plain = CnnConfig { residual: false, ..c.clone() };
    assert!(plain.convs().iter().all(|s| s.skip == Plain));
    assert_eq!(plain.num_params(), c.num_params() - (3 * 2 + 2 * 3) - (3 * 3 + 2 * 3));
    let out = plain.init(&Device::flex().autodiff()).forward(Tensor::<2>::ones([2, 60], &Device::flex().autodiff()));
    assert_eq!(out.dims(), [2, 3]);
}

#[test]
fn gradients_and_taps_match_finite_differences_of_an_independent_forward_pass() {
    // The single block, and the basic block with and without its skips.
    let basic = CnnConfig { block: Block::Basic, ..config() };
    for c in [config(), basic.clone(), CnnConfig { residual: false, ..basic }] {
        finite_differences(c);
    }
}

fn finite_differences(c: CnnConfig) {
    let (n, features) = (4, 2 * 6 * 5);
    let mut rng = Rng::new(3);
    let x: Vec<f64> = (0..n * features).map(|_| rng.normal()).collect();
    let t: Vec<f64> = (0..n * 3).map(|_| rng.normal()).collect();
    for backend in BACKENDS {
        let device = backend.autodiff_device();
        let model = c.init(&device);
        let p = params(&model);
        let shapes = c.convs();
        let example = |i: usize| &x[i * features..(i + 1) * features];
        let target = |i: usize| &t[i * 3..(i + 1) * 3];
        let xt = Tensor::<2>::from_data(TensorData::new(x.iter().map(|&v| v as f32).collect::<Vec<_>>(), [n, features]), &device);
        let tt = Tensor::<2>::from_data(TensorData::new(t.iter().map(|&v| v as f32).collect::<Vec<_>>(), [n, 3]), &device);
        let mut watch = Watch::grouped("cnn", &model, &c.grouping()).unwrap();
        let taps = watch.taps(true);
        let out = model.forward_tapped(xt, &taps);
        // The output against the f64 forward pass.
        let got = host(out.clone());
        for i in 0..n {
            let want = forward(&p, &shapes, c.input, c.activation, example(i), Bump::None);
            for j in 0..3 {
                assert!((got[i * 3 + j] - want[j]).abs() <= 1e-4 * (1.0 + want[j].abs()), "{backend:?} output {i},{j}: {} vs {}", got[i * 3 + j], want[j]);
            }
        }
        let loss = (out - tt).powi_scalar(2).sum().mul_scalar(0.5 / n as f64);
        let grads = loss.backward();
        let batch_loss = |p: &Params| (0..n).map(|i| example_loss(p, &shapes, c.input, c.activation, example(i), target(i), Bump::None)).sum::<f64>() / n as f64;
        let h = 1e-5;
        let fd = |p: &Params, bump: &dyn Fn(&mut Params, f64)| {
            let (mut up, mut down) = (p.clone(), p.clone());
            bump(&mut up, h);
            bump(&mut down, -h);
            (batch_loss(&up) - batch_loss(&down)) / (2.0 * h)
        };
        let close = |what: &str, auto: f64, fd: f64| {
            assert!((auto - fd).abs() <= 1e-3 * fd.abs() + 1e-5, "{backend:?} {what}: autodiff {auto} vs finite difference {fd}");
        };
        // Every weight and bias of every convolution, the projection and the head.
        for (k, conv) in model.convs.iter().enumerate() {
            let (gw, gb) = (host(conv.weight.grad(&grads).unwrap()), host(conv.bias.grad(&grads).unwrap()));
            for (e, &g) in gw.iter().enumerate() {
                close(&format!("convs.{k}.weight[{e}]"), g, fd(&p, &|q, d| q.convs[k].0[e] += d));
            }
            for (e, &g) in gb.iter().enumerate() {
                close(&format!("convs.{k}.bias[{e}]"), g, fd(&p, &|q, d| q.convs[k].1[e] += d));
            }
        }
        for (k, projection) in model.projections.iter().enumerate() {
            let Some(projection) = projection else { continue };
            for (e, &g) in host(projection.grad(&grads).unwrap()).iter().enumerate() {
                close(&format!("projections.{k}[{e}]"), g, fd(&p, &|q, d| q.projections[k].as_mut().unwrap()[e] += d));
            }
        }
        assert_eq!(model.projections.iter().flatten().count(), c.convs().iter().filter(|s| s.skip == ConvSkip::Projection).count());
        for (e, &g) in host(model.head.weight.grad(&grads).unwrap()).iter().enumerate() {
            close(&format!("head.weight[{e}]"), g, fd(&p, &|q, d| q.head.0[e] += d));
        }
        // delta_norm at every convolution's tap: the mean over examples of |dL_i/dz_i|, L_i
        // the example's own loss; and the stream's error after every residual one.
        let m = watch.read(&model, &grads, &taps).unwrap().into_measurement();
        let norm_of = |i: usize, k: usize, entries: usize, stream: bool| {
            let grad = |at: usize| {
                let b = |eps: f64| if stream { Bump::Stream { layer: k, at, eps } } else { Bump::Z { layer: k, at, eps } };
                let l = |eps: f64| example_loss(&p, &shapes, c.input, c.activation, example(i), target(i), b(eps));
                (l(h) - l(-h)) / (2.0 * h)
            };
            (0..entries).map(|at| grad(at).powi(2)).sum::<f64>().sqrt()
        };
        for (k, s) in shapes.iter().enumerate() {
            let layer = &m.layers[watch.layout().layer(&s.name()).unwrap()];
            let entries = s.out_channels * s.out_size[0] * s.out_size[1];
            let want = (0..n).map(|i| norm_of(i, k, entries, false)).sum::<f64>() / n as f64;
            let got = layer.delta_norm.expect("every convolution is tapped");
            assert!((got - want).abs() <= 1e-3 * want, "{backend:?} {} delta_norm {got} vs {want}", s.name());
            match s.skip {
                ConvSkip::None => assert!(layer.stream_delta_norm.is_none(), "{} has no skip", s.name()),
                _ => {
                    let want = (0..n).map(|i| norm_of(i, k, entries, true)).sum::<f64>() / n as f64;
                    let got = layer.stream_delta_norm.expect("a residual convolution taps its stream");
                    assert!((got - want).abs() <= 1e-3 * want, "{backend:?} {} stream_delta_norm {got} vs {want}", s.name());
                }
            }
            // Health per channel: tanh layers have a mean, a spread and a saturation share.
            assert!(layer.act_std.is_some() && layer.saturation.is_some(), "{}", s.name());
        }
        assert!(m.layers[watch.layout().layer("head").unwrap()].delta_norm.is_some(), "the head is tapped");
    }
}

#[test]
fn a_dead_channel_is_a_dead_unit() {
    // ReLU after a bias of -100 on unit-sized inputs: no channel of the first convolution is
    // ever above 0. With zero biases about half the entries are, in every channel.
    let device = Device::flex().autodiff();
    let mut rng = Rng::new(8);
    let x: Vec<f32> = (0..8 * 36).map(|_| rng.normal() as f32).collect();
    for (bias, dead) in [(-100.0, 1.0), (0.0, 0.0)] {
        let c = CnnConfig {
            input: [1, 6, 6],
            channels: vec![4],
            depth: 1,
            block: Block::Single,
            output: 2,
            activation: Activation::Relu,
            init: Init::he_normal(),
            bias_init: BiasInit::Constant { value: bias },
            norm: Norm::None,
            residual: false,
            seed: 1,
        };
        let model = c.init(&device);
        let mut watch = Watch::grouped("cnn", &model, &c.grouping()).unwrap();
        let taps = watch.taps(true);
        let out = model.forward_tapped(Tensor::<2>::from_data(TensorData::new(x.clone(), [8, 36]), &device), &taps);
        let grads = out.sum().backward();
        let m = watch.read(&model, &grads, &taps).unwrap().into_measurement();
        let got = m.layers[0].dead_fraction.unwrap();
        assert_eq!(got, dead, "bias {bias}: dead_fraction {got}");
    }
}

#[test]
fn bad_cnn_configs_are_errors_naming_the_field() {
    let base = config();
    let cases: Vec<(CnnConfig, &str, &str)> = vec![
        (CnnConfig { channels: vec![3, 0], ..base.clone() }, "channels", "stage 2 has 0 channels"),
        (CnnConfig { input: [1, 8, 8], channels: vec![2, 2, 2], ..base.clone() }, "channels", "stage 3 works on a 2x2 image"),
        (CnnConfig { input: [1, 2, 8], ..base.clone() }, "input", "smaller than the 3x3 kernel"),
        (CnnConfig { channels: vec![3], depth: 1, ..base.clone() }, "residual", "no skip"),
        (CnnConfig { depth: 0, ..base.clone() }, "depth", "at least 1"),
        (CnnConfig { norm: Norm::Layer, ..base.clone() }, "norm", "`none` or `batch`"),
    ];
    for (c, field, text) in cases {
        let models::ModelError::Invalid { field: f, message } = c.validate().unwrap_err();
        assert_eq!(f, field, "{message}");
        assert!(message.contains(text), "{field}: {message}");
    }
    // BatchNorm builds one norm per convolution and trains in batch statistics.
    let c = CnnConfig { norm: Norm::Batch, ..base };
    let model = c.init(&Device::flex().autodiff());
    assert_eq!(model.norms.len(), 4);
    let out = model.forward(Tensor::<2>::ones([2, 60], &Device::flex().autodiff()));
    assert_eq!(out.dims(), [2, 3]);
}

/// Deep CNNs on the 8x8 digits: 2 stages of 8 sigmoid convolutions each, plain and residual.
const DIGITS_CNN: &str = r#"
name = "cnn-test"
seed = 4
[data]
source = "digits"
[train]
epochs = 1
batch_size = 32
[optimizer]
kind = "sgd"
lr = 0.1
[telemetry]
every = 10
probe = 200
[models.plain]
kind = "cnn"
channels = [8, 8]
depth = 8
activation = "sigmoid"
[models.residual]
kind = "cnn"
channels = [8, 8]
depth = 8
activation = "sigmoid"
residual = true
"#;

/// The first message of a config that does not hold, with the data's checks.
fn refusal(text: &str, sets: &[&str]) -> String {
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    match train::config::parse(text, &sets) {
        Err(e) => format!("{e:#}"),
        Ok(exp) => {
            let dataset = data::load(&exp.data, exp.seed).unwrap();
            exp.validate_with_data(&dataset).expect_err("the config is refused").to_string()
        }
    }
}

#[test]
fn bad_cnn_configs_are_one_line_errors_naming_the_key() {
    let cases: [(&[&str], &str); 9] = [
        (&["data.source=spiral"], "models.plain.kind: a CNN reads images, and this dataset has no image shape"),
        (&["models.plain.channels=[8, 8, 8]"], "models.plain.channels: stage 3 works on a 2x2 image (the 8x8 input halved 2 times), smaller than the 3x3 kernel: use at most 2 stages"),
        (&["models.plain.channels=[8, 0]"], "models.plain.channels: stage 2 has 0 channels"),
        (&["models.residual.channels=[8]", "models.residual.depth=1"], "models.residual.residual: the first convolution has no skip"),
        (&["models.plain.width=8"], "models.plain.width: does not apply to kind = \"cnn\""),
        (&["models.plain.norm=\"layer\""], "models.plain.norm: a CNN takes `none` or `batch`"),
        (&["models.mlp.depth=2", "models.mlp.width=4", "models.mlp.activation=\"relu\"", "models.mlp.channels=[4]"], "models.mlp.channels: applies to CNNs only"),
        (&["models.mlp.depth=2", "models.mlp.width=4", "models.mlp.activation=\"relu\"", "models.mlp.block=\"basic\""], "models.mlp.block: applies to CNNs only"),
        (&["models.plain.block=\"bottleneck\""], "models.plain.block"),
    ];
    for (sets, want) in cases {
        let got = refusal(DIGITS_CNN, sets);
        assert!(got.contains(want), "{sets:?}: {got}");
        assert!(!got.contains('\n'), "one line: {got}");
    }
}

#[test]
fn a_residual_cnn_keeps_its_first_layers_gradient_where_a_plain_one_loses_it() {
    let exp = crate::common::experiment(DIGITS_CNN, &[]);
    // The saved config reruns as it is, with its defaults written out.
    let resolved = exp.resolved(&data::Task::Classification { classes: 10 });
    assert_eq!(train::config::parse(&resolved.to_toml(), &[]).unwrap(), resolved);
    // The memory guard counts a CNN's parameters as the model does, and its feature maps.
    let dataset = data::load(&exp.data, exp.seed).unwrap();
    let estimate = train::memory::estimate(&exp, &dataset);
    for ((name, net), m) in exp.nets_for(&dataset).unwrap().iter().zip(&estimate.models) {
        let train::config::NetConfig::Cnn(c) = net else { panic!("{name} is a CNN") };
        assert_eq!(m.parameters, 4.0 * c.num_params() as f64, "{name}");
        // At least z, its tap's gradient and the activation of every map, for the probe's 200 examples.
        let maps: usize = c.convs().iter().map(|s| s.out_channels * s.out_size[0] * s.out_size[1]).sum();
        assert!(m.activations >= 4.0 * 3.0 * 200.0 * maps as f64, "{name}: {} bytes", m.activations);
    }
    let out = crate::common::scratch("cnn-depth");
    let summary = crate::common::run_in(&exp, &out, train::backend::Backend::Flex).unwrap();
    let ratio = |name: &str| {
        let m = summary.models.iter().find(|m| m.name == name).unwrap();
        (m.ratio_start.unwrap(), m.ratio_end.unwrap())
    };
    let (plain, residual) = (ratio("plain"), ratio("residual"));
    // 16 sigmoid convolutions: the plain net's first layer gets a vanishing share of the
    // head's gradient (8e-12 at the start and 5e-11 at the end when this test was written),
    // the residual net's stream carries it past every convolution (0.013 and 0.11).
    for (when, p, r) in [("start", plain.0, residual.0), ("end", plain.1, residual.1)] {
        assert!(p < 1e-6, "{when}: plain ratio {p}");
        assert!(r > 1e-3 && r < 1e2, "{when}: residual ratio {r}");
    }
    // The run folder names the layers by stage and convolution, and taps every one.
    let manifest = std::fs::read_to_string(out.join("manifest.json")).unwrap();
    assert!(manifest.contains("\"s2.conv8\"") && manifest.contains("\"kind\": \"cnn\"") && manifest.contains("\"block\": \"single\""), "{manifest}");
    let layers = std::fs::read_to_string(out.join("layers.csv")).unwrap();
    let tapped = |metric: &str| layers.lines().filter(|l| l.starts_with("residual,") && l.contains(&format!(",{metric},"))).count();
    assert!(tapped("delta_norm") > 0 && tapped("stream_delta_norm") > 0 && tapped("dead_fraction") == 0 && tapped("saturation") > 0);
}

/// He et al.'s basic blocks on the 8x8 digits: 2 stages of 4 blocks of two sigmoid
/// convolutions each (16 convolutions), plain and residual.
const DIGITS_BASIC: &str = r#"
name = "cnn-basic-test"
seed = 4
[data]
source = "digits"
[train]
epochs = 1
batch_size = 32
[optimizer]
kind = "sgd"
lr = 0.1
[telemetry]
every = 10
probe = 200
[models.plain]
kind = "cnn"
block = "basic"
channels = [8, 8]
depth = 4
activation = "sigmoid"
[models.residual]
kind = "cnn"
block = "basic"
channels = [8, 8]
depth = 4
activation = "sigmoid"
residual = true
"#;

#[test]
fn residual_basic_blocks_keep_far_more_of_the_first_layers_gradient_than_plain_ones() {
    let exp = crate::common::experiment(DIGITS_BASIC, &[]);
    let resolved = exp.resolved(&data::Task::Classification { classes: 10 });
    assert!(resolved.to_toml().contains("block = \"basic\""), "the block form is written out");
    let out = crate::common::scratch("cnn-basic");
    let summary = crate::common::run_in(&exp, &out, train::backend::Backend::Flex).unwrap();
    let ratio = |name: &str| {
        let m = summary.models.iter().find(|m| m.name == name).unwrap();
        (m.ratio_start.unwrap(), m.ratio_end.unwrap())
    };
    let (plain, residual) = (ratio("plain"), ratio("residual"));
    // When this test was written: plain 7.8e-12 at the start and 4.6e-11 at the end, residual
    // 3.3e-7 and 1.1e-6. The residual stream passes through the sigmoid after every sum
    // (at most 0.25 a block, so 1.5e-5 over 8 blocks), the plain net through two sigmoids and
    // two convolutions a block: the skips gain orders of magnitude without reaching 1.
    for (when, p, r) in [("start", plain.0, residual.0), ("end", plain.1, residual.1)] {
        assert!(p < 1e-8, "{when}: plain ratio {p}");
        assert!(r > 1e3 * p && r < 1.0, "{when}: residual ratio {r} against plain {p}");
    }
    let manifest = std::fs::read_to_string(out.join("manifest.json")).unwrap();
    assert!(manifest.contains("\"s1.b1.conv1\"") && manifest.contains("\"s2.b4.conv2\"") && manifest.contains("\"block\": \"basic\""), "{manifest}");
    // Every convolution is tapped (the files number the layers: s1.b1.conv1 is 1,
    // s2.b4.conv2 16); the stream at every block's second convolution alone.
    let layers = std::fs::read_to_string(out.join("layers.csv")).unwrap();
    let tapped = |layer: usize, metric: &str| layers.lines().any(|l| l.starts_with("residual,") && l.contains(&format!(",{layer},{metric},")));
    for layer in 1..=16 {
        assert!(tapped(layer, "delta_norm"), "layer {layer}");
        assert_eq!(tapped(layer, "stream_delta_norm"), layer % 2 == 0, "layer {layer}");
    }
}
