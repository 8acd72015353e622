//! What the reproductions of the literature need (issue 14): Nielsen's sigmoid cross-entropy
//! and its gradient, biases drawn from a distribution, a probe of the first N training
//! images, and the shipped `configs/papers/*.toml`.

use crate::common::{BACKENDS, experiment, root, run_in, scratch};
use burn::prelude::*;
use models::{BiasInit, Init};
use train::backend::Backend;

/// The same experiment as text, for the error cases.
fn error(text: &str, sets: &[&str]) -> String {
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    let msg = format!("{:#}", train::config::parse(text, &sets).unwrap_err());
    assert!(!msg.contains('\n'), "errors are one line: {msg}");
    msg
}

#[test]
fn sigmoid_cross_entropy_and_its_gradient_are_nielsens() {
    // Two examples, three outputs; by hand (Python's math module, float64):
    // a = sigmoid(z); C = -(1/2) sum [y ln a + (1 - y) ln(1 - a)]; dC/dz = (a - y) / 2.
    let z = [[0.5f64, -1.0, 2.0], [-0.25, 3.0, 0.0]];
    let labels = [2i64, 0];
    let sig = |v: f64| 1.0 / (1.0 + (-v).exp());
    let mut want = 0.0;
    let mut want_grad = [[0.0f64; 3]; 2];
    for (i, row) in z.iter().enumerate() {
        for (j, &v) in row.iter().enumerate() {
            let y = if labels[i] == j as i64 { 1.0 } else { 0.0 };
            let a = sig(v);
            want -= (y * a.ln() + (1.0 - y) * (1.0 - a).ln()) / 2.0;
            want_grad[i][j] = (a - y) / 2.0;
        }
    }
    // The six terms, from Python's math module: 0.974077, 0.313262, 0.126928, 0.825939,
    // 3.048587 and 0.693147 (ln 2), halved: 2.990970.
    assert!((want - 2.9909703).abs() < 1e-6, "the hand computation itself: {want}");
    for backend in BACKENDS {
        let device = backend.autodiff_device();
        let logits = Tensor::<2>::from_data(TensorData::new(z.iter().flatten().map(|&v| v as f32).collect::<Vec<_>>(), [2, 3]), &device)
            .require_grad();
        let classes = Tensor::<1, Int>::from_data(TensorData::new(labels.to_vec(), [2]), &device);
        let loss = train::loss::sigmoid_cross_entropy(logits.clone(), classes);
        let value: f32 = loss.clone().into_data().try_to_vec::<f32>().unwrap()[0];
        assert!((f64::from(value) - want).abs() < 1e-5, "{backend:?}: loss {value}, by hand {want}");
        let grads = loss.backward();
        let g: Vec<f32> = logits.grad(&grads).unwrap().into_data().try_to_vec().unwrap();
        for (got, want) in g.iter().zip(want_grad.iter().flatten()) {
            assert!((f64::from(*got) - want).abs() < 1e-6, "{backend:?}: dC/dz {got}, by hand {want}");
        }
    }
    // A saturated logit stays finite (ln(1 - a) of a = 1.0f32 would be -inf).
    let device = Backend::Flex.autodiff_device();
    let logits = Tensor::<2>::from_data(TensorData::new(vec![200.0f32, -200.0], [1, 2]), &device);
    let classes = Tensor::<1, Int>::from_data(TensorData::new(vec![1i64], [1]), &device);
    let value: f32 = train::loss::sigmoid_cross_entropy(logits, classes).into_data().try_to_vec::<f32>().unwrap()[0];
    assert!((value - 400.0).abs() < 1e-3, "{value}");
}

const ZERO_NET: &str = r#"
name = "nielsen-cost"
[data]
source = "mnist-10k"
limit = 200
limit_subset = "first"
[train]
epochs = 1
batch_size = 100
loss = "sigmoid-cross-entropy"
[optimizer]
kind = "sgd"
lr = 0.1
[telemetry]
probe = 100
probe_subset = "first"
[models.zero]
layers = [8]
activation = "sigmoid"
init = { kind = "constant", value = 0.0 }
"#;

#[test]
fn a_run_with_nielsens_cost_and_the_first_images_as_probe_measures_his_speed() {
    // All weights and biases 0: every output is sigmoid(0) = 1/2, so the cost of any image is
    // 10 ln 2, and dC/db of the output layer, averaged over the probe set, is 1/2 - f_c for
    // the share f_c of class c among the first 100 training images; nothing reaches the
    // hidden layer through zero weights.
    let exp = experiment(ZERO_NET, &[]);
    let dataset = data::load(&exp.data, exp.seed).unwrap();
    assert_eq!(dataset.train.len, 200);
    // `limit_subset = "first"`: the first 200 training images of mnist-10k, in order.
    let all = data::load(&data::DataSpec::default(), exp.seed).unwrap();
    assert_eq!(dataset.train.row(137), all.train.row(137));
    assert_eq!(dataset.probe_subset(data::Subset::First, 100, 1), (0..100).collect::<Vec<_>>());
    let labels = &dataset.train.labels().unwrap()[..100];
    let share = |c: u32| labels.iter().filter(|&&l| l == c).count() as f64 / 100.0;
    let want = (0..10).map(|c| (0.5 - share(c)).powi(2)).sum::<f64>().sqrt();

    let out = scratch("nielsen-cost");
    run_in(&exp, &out, Backend::Flex).unwrap();
    let epochs = std::fs::read_to_string(out.join("epochs.csv")).unwrap();
    let first = epochs.lines().nth(1).unwrap();
    let cols: Vec<&str> = first.split(',').collect();
    assert_eq!(cols[1], "0");
    let ten_ln2 = 10.0 * std::f64::consts::LN_2;
    for (what, i) in [("train_loss", 2), ("test_loss", 4)] {
        let v: f64 = cols[i].parse().unwrap();
        assert!((v - ten_ln2).abs() < 1e-5, "{what} at initialization {v}, not 10 ln 2");
    }
    let layers = std::fs::read_to_string(out.join("layers.csv")).unwrap();
    let probe = |layer: &str, metric: &str| -> f64 {
        let row = layers
            .lines()
            .find(|l| {
                let c: Vec<&str> = l.split(',').collect();
                c.len() == 7 && c[1] == "0" && c[3] == "probe" && c[4] == layer && c[5] == metric
            })
            .unwrap_or_else(|| panic!("no probe row for layer {layer} {metric}"));
        row.rsplit(',').next().unwrap().parse().unwrap()
    };
    let got = probe("2", "grad_norm_bias");
    assert!((got - want).abs() < 1e-6, "the output layer's speed {got}, by hand {want}");
    assert_eq!(probe("1", "grad_norm_bias"), 0.0);
    let saved = std::fs::read_to_string(out.join("config.toml")).unwrap();
    assert!(saved.contains("probe_subset = \"first\"") && saved.contains("limit_subset = \"first\""), "{saved}");
}

#[test]
fn the_new_keys_reject_bad_input_naming_the_key() {
    let e = error(ZERO_NET, &["models.zero.output_activation=\"sigmoid\""]);
    assert!(e.contains("models.zero.output_activation") && e.contains("sigmoid-cross-entropy"), "{e}");
    let e = error(ZERO_NET, &["telemetry.probe_subset=\"last\""]);
    assert!(e.contains("telemetry.probe_subset"), "{e}");
    let e = error(ZERO_NET, &["data.limit_subset=\"random\""]);
    assert!(e.contains("data.limit_subset"), "{e}");
    let e = error(ZERO_NET, &["models.zero.bias_init={ kind = \"orthogonal\" }"]);
    assert!(e.contains("models.zero.bias_init.kind") && e.contains("bias vector"), "{e}");
    let e = error(ZERO_NET, &["models.zero.bias_init={ kind = \"normal\" }"]);
    assert!(e.contains("models.zero.bias_init.std"), "{e}");
    let e = error(ZERO_NET, &["models.zero.bias_init={ kind = \"normal\", std = -1.0 }"]);
    assert!(e.contains("models.zero.bias_init") && e.contains("std"), "{e}");
    let e = error(ZERO_NET, &["models.zero.bias_init={ kind = \"uniform\", low = 0.0, high = 1.0, std = 1.0 }"]);
    assert!(e.contains("models.zero.bias_init.std") && e.contains("does not apply"), "{e}");
    let e = error(ZERO_NET, &["models.zero.bias_init=\"gaussian\""]);
    assert!(e.contains("models.zero.bias_init") && e.contains("unknown bias init"), "{e}");
}

#[test]
fn drawn_biases_have_their_distributions_moments() {
    // Wide layers give many draws: the mean and variance of 20,000 biases lie within a few
    // standard errors of the distribution's (the variance's standard error is
    // sqrt(2 / n) sigma^2 for a normal, sqrt(4 / 5n) sigma^2 for a uniform).
    let cases: [(&str, BiasInit, f64, f64); 4] = [
        ("{ kind = \"normal\", std = 1.0 }", BiasInit::Drawn(Init::Normal { mean: 0.0, std: 1.0 }), 0.0, 1.0),
        ("{ kind = \"normal\", mean = 0.5, std = 2.0 }", BiasInit::Drawn(Init::Normal { mean: 0.5, std: 2.0 }), 0.5, 4.0),
        ("{ kind = \"uniform\", low = -0.5, high = 1.5 }", BiasInit::Drawn(Init::Uniform { low: -0.5, high: 1.5 }), 0.5, 1.0 / 3.0),
        // PyTorch's default bias: U(+-1/sqrt(fan_in)), fan_in 64 here.
        ("\"legacy\"", BiasInit::Drawn(Init::Legacy), 0.0, 1.0 / (3.0 * 64.0)),
    ];
    let n = 20_000;
    for (written, resolved, mean, var) in cases {
        let exp = experiment(ZERO_NET, &["models.zero.layers=[20000]", &format!("models.zero.bias_init={written}")]);
        let mlp = exp.mlps(64, 10).unwrap().remove(0).1;
        assert_eq!(mlp.bias_init, resolved, "{written}");
        let b = models::draw_bias(&mlp.bias_init, &mlp.init, 64, n, &mut prng::Rng::new(3));
        let m = b.iter().map(|&v| f64::from(v)).sum::<f64>() / n as f64;
        let v = b.iter().map(|&x| (f64::from(x) - m).powi(2)).sum::<f64>() / n as f64;
        assert!((m - mean).abs() < 4.0 * (var / n as f64).sqrt(), "{written}: mean {m}, want {mean}");
        assert!((v / var - 1.0).abs() < 4.0 * (2.0 / n as f64).sqrt(), "{written}: variance {v}, want {var}");
        // The model draws them: its first layer's bias is what the config says, from its seed.
        let device = Backend::Flex.plain_device();
        let model = mlp.init(&device);
        let bias: Vec<f32> = model.layers[0].bias.as_ref().unwrap().val().into_data().try_to_vec().unwrap();
        let spread = bias.iter().map(|&x| (f64::from(x) - mean).powi(2)).sum::<f64>() / n as f64;
        assert!((spread / var - 1.0).abs() < 0.1, "{written}: the model's biases spread {spread}");
        // And the resolved config writes it back so that it rereads the same.
        let again = train::config::parse(&exp.to_toml(), &[]).unwrap();
        assert_eq!(again.mlps(64, 10).unwrap()[0].1.bias_init, resolved);
    }
}

#[test]
fn every_paper_config_validates_with_its_data_and_says_what_differs() {
    let dir = root().join("configs/papers");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        // Each file opens with what the paper did and what differs here.
        assert!(text.starts_with("# "), "{} opens with its comment", path.display());
        assert!(text.contains("What they did") || text.contains("What he did"), "{} says what the paper did", path.display());
        assert!(text.contains("Here") || text.contains("What differs"), "{} says what differs", path.display());
        let exp = train::config::load(&path, &[]).unwrap_or_else(|e| panic!("{}: {e:#}", path.display()));
        let dataset = data::load(&exp.data, exp.seed).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        exp.validate_with_data(&dataset).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        train::memory::check(&exp, &dataset).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let resolved = exp.resolved(&dataset.task);
        assert_eq!(train::config::parse(&resolved.to_toml(), &[]).unwrap(), resolved, "{}", path.display());
        names.push(path.file_stem().unwrap().to_string_lossy().to_string());
    }
    names.sort();
    assert_eq!(names, ["glorot-bengio-gradients", "glorot-bengio-mnist", "glorot-bengio-saturation", "he-2015", "nielsen-ch5"]);
    // Nielsen's three nets are the three models of one file, with his cost, init and data.
    let nielsen = train::config::load(&dir.join("nielsen-ch5.toml"), &[]).unwrap();
    let widths: Vec<Vec<usize>> = nielsen.models.0.iter().map(|(_, m)| m.layers.clone().unwrap()).collect();
    assert_eq!(widths, [vec![30, 30], vec![30, 30, 30], vec![30, 30, 30, 30]]);
    assert_eq!(nielsen.train.loss, Some(train::config::LossKind::SigmoidCrossEntropy));
    assert_eq!(nielsen.telemetry.probe_subset, data::Subset::First);
    let mlp = nielsen.mlps(784, 10).unwrap().remove(0).1;
    assert_eq!((mlp.init, mlp.bias_init), (Init::LecunNormal, BiasInit::Drawn(Init::Normal { mean: 0.0, std: 1.0 })));
}
