//! Recurrent networks through time: the cells against burn's own `Lstm` and `Gru`, the vanilla
//! RNN's gradients against finite differences, the per-time-step telemetry against a
//! hand-written backpropagation through time, the adding problem's generator, the vanishing
//! itself (a vanilla RNN against an LSTM), and end-to-end runs with their bad inputs.

use crate::common::{BACKENDS, experiment, run_in, scratch};
use burn::prelude::*;
use gradflow::runfolder::{self, Manifest, Status};
use gradflow::{Taps, Watch};
use models::{BiasInit, Cell, Init, Recurrent, RecurrentConfig};
use prng::Rng;
use train::backend::Backend;
use train::config;

fn host<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_to_vec().unwrap()
}

fn inputs(rows: usize, cols: usize, seed: u64, device: &Device) -> Tensor<2> {
    let mut rng = Rng::new(seed);
    let v: Vec<f32> = (0..rows * cols).map(|_| rng.normal() as f32).collect();
    Tensor::from_data(TensorData::new(v, [rows, cols]), device)
}

fn close(a: &[f32], b: &[f32], rel: f32, what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    let scale = b.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-30);
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= rel * scale, "{what}[{i}]: {x} vs {y} (scale {scale})");
    }
}

/// burn's own forward pass of the stacked layers, `Lstm::forward` or `Gru::forward` on the
/// whole sequence, then the read-out of the last step.
fn burn_forward(model: &Recurrent, x: Tensor<2>, input: usize) -> Tensor<2> {
    let [n, features] = x.dims();
    let steps = features / input;
    let mut seq = x.reshape([n, steps, input]);
    for l in &model.lstm {
        seq = l.forward(seq, None).0;
    }
    for g in &model.gru {
        seq = g.forward(seq, None);
    }
    let hidden = seq.dims()[2];
    let last = seq.slice([0..n, steps - 1..steps, 0..hidden]).reshape([n, hidden]);
    model.readout.forward(last)
}

#[test]
fn lstm_and_gru_run_one_step_at_a_time_as_burns_modules_run_the_sequence() {
    for backend in BACKENDS {
        let device = backend.plain_device();
        for cell in [Cell::Lstm, Cell::Gru] {
            for layers in [1, 2] {
                let config = RecurrentConfig::new(cell, 3, 6, 5, 2)
                    .with_layers(layers)
                    .with_bias_init(BiasInit::SameAsWeight)
                    .with_forget_bias(if cell == Cell::Lstm { 1.0 } else { 0.0 })
                    .with_seed(11);
                let model = config.init(&device);
                let x = inputs(4, 18, 3, &device);
                let ours = host(model.forward(x.clone()));
                let theirs = host(burn_forward(&model, x, 3));
                close(&ours, &theirs, 1e-5, &format!("{backend:?} {cell:?} x{layers}"));
            }
        }
    }
}

/// The vanilla RNN's parameters, read back to f64: W [d][h], b [h], U [h][h], the read-out's
/// weight [h][o] and bias [o].
struct HostRnn {
    w: Vec<Vec<f64>>,
    b: Vec<f64>,
    u: Vec<Vec<f64>>,
    wo: Vec<Vec<f64>>,
    bo: Vec<f64>,
}

fn matrix(t: Tensor<2>) -> Vec<Vec<f64>> {
    let cols = t.dims()[1];
    host(t).chunks(cols).map(|r| r.iter().map(|&v| f64::from(v)).collect()).collect()
}

fn vector(t: Tensor<1>) -> Vec<f64> {
    host(t).into_iter().map(f64::from).collect()
}

impl HostRnn {
    fn of(model: &Recurrent) -> HostRnn {
        let c = &model.rnn[0];
        HostRnn {
            w: matrix(c.input.weight.val()),
            b: vector(c.input.bias.as_ref().unwrap().val()),
            u: matrix(c.recurrent.weight.val()),
            wo: matrix(model.readout.weight.val()),
            bo: vector(model.readout.bias.as_ref().unwrap().val()),
        }
    }

    /// Every hidden state h_0 = 0, h_1, …, h_T of one sequence of `steps` inputs.
    fn states(&self, x: &[f64], steps: usize) -> Vec<Vec<f64>> {
        let (d, h) = (self.w.len(), self.b.len());
        let mut states = vec![vec![0.0; h]];
        for t in 0..steps {
            let prev = states.last().unwrap();
            let next = (0..h)
                .map(|j| {
                    let a = self.b[j] + (0..d).map(|i| x[t * d + i] * self.w[i][j]).sum::<f64>() + (0..h).map(|k| prev[k] * self.u[k][j]).sum::<f64>();
                    a.tanh()
                })
                .collect();
            states.push(next);
        }
        states
    }

    fn output(&self, h: &[f64]) -> Vec<f64> {
        (0..self.bo.len()).map(|o| self.bo[o] + h.iter().zip(&self.wo).map(|(v, w)| v * w[o]).sum::<f64>()).collect()
    }

    /// The loss, half the squared error summed over outputs, averaged over the sequences.
    fn loss(&self, xs: &[Vec<f64>], ys: &[Vec<f64>], steps: usize) -> f64 {
        let n = xs.len() as f64;
        xs.iter().zip(ys).map(|(x, y)| {
            let out = self.output(self.states(x, steps).last().unwrap());
            0.5 * out.iter().zip(y).map(|(o, t)| (o - t).powi(2)).sum::<f64>()
        }).sum::<f64>() / n
    }

    /// Backpropagation through time by hand: per step t (1-based), dL/dh_t and dL/da_t of
    /// every sequence, and dL/dU.
    fn bptt(&self, xs: &[Vec<f64>], ys: &[Vec<f64>], steps: usize) -> (Vec<Vec<Vec<f64>>>, Vec<Vec<Vec<f64>>>, Vec<Vec<f64>>) {
        let h = self.b.len();
        let n = xs.len() as f64;
        let mut dh = vec![Vec::new(); steps + 1];
        let mut da = vec![Vec::new(); steps + 1];
        let mut du = vec![vec![0.0; h]; h];
        for (x, y) in xs.iter().zip(ys) {
            let s = self.states(x, steps);
            let out = self.output(&s[steps]);
            let dy: Vec<f64> = out.iter().zip(y).map(|(o, t)| (o - t) / n).collect();
            let mut g: Vec<f64> = (0..h).map(|j| dy.iter().zip(&self.wo[j]).map(|(d, w)| d * w).sum()).collect();
            for t in (1..=steps).rev() {
                dh[t].push(g.clone());
                let a: Vec<f64> = (0..h).map(|j| g[j] * (1.0 - s[t][j] * s[t][j])).collect();
                for k in 0..h {
                    for j in 0..h {
                        du[k][j] += s[t - 1][k] * a[j];
                    }
                }
                g = (0..h).map(|k| (0..h).map(|j| a[j] * self.u[k][j]).sum()).collect();
                da[t].push(a);
            }
        }
        (dh, da, du)
    }
}

/// A batch of sequences and targets, as burn tensors and as host rows.
pub(crate) fn batch(n: usize, steps: usize, input: usize, outputs: usize, seed: u64, device: &Device) -> (Tensor<2>, Tensor<2>, Vec<Vec<f64>>, Vec<Vec<f64>>) {
    let x = inputs(n, steps * input, seed, device);
    let y = inputs(n, outputs, seed + 1, device);
    (x.clone(), y.clone(), matrix(x), matrix(y))
}

pub(crate) fn half_sse(out: Tensor<2>, y: Tensor<2>) -> Tensor<1> {
    let n = out.dims()[0] as f64;
    (out - y).square().sum().mul_scalar(0.5 / n)
}

#[test]
fn vanilla_rnn_gradients_match_finite_differences() {
    let device = Backend::Flex.autodiff_device();
    let (steps, input, hidden) = (5, 2, 4);
    let config = RecurrentConfig::new(Cell::Rnn, input, steps, hidden, 2)
        .with_init(Init::Normal { mean: 0.0, std: 0.6 }, Init::Orthogonal { gain: 1.1 })
        .with_bias_init(BiasInit::Constant { value: 0.1 })
        .with_seed(4);
    let model = config.init(&device);
    let (x, y, xs, ys) = batch(3, steps, input, 2, 9, &device);
    let grads = half_sse(model.forward(x), y).backward();
    let grad_of = |p: &burn::module::Param<Tensor<2>>| matrix(p.grad(&grads).unwrap());
    let (gu, gw) = (grad_of(&model.rnn[0].recurrent.weight), grad_of(&model.rnn[0].input.weight));
    let base = HostRnn::of(&model);
    // Central differences in f64, on the host copy of the same weights.
    let fd = |perturb: &dyn Fn(&mut HostRnn, f64)| {
        let eps = 1e-5;
        let (mut plus, mut minus) = (HostRnn::of(&model), HostRnn::of(&model));
        perturb(&mut plus, eps);
        perturb(&mut minus, -eps);
        (plus.loss(&xs, &ys, steps) - minus.loss(&xs, &ys, steps)) / (2.0 * eps)
    };
    let mut checked = 0;
    for k in 0..hidden {
        for j in 0..hidden {
            let want = fd(&|m, e| m.u[k][j] += e);
            assert!((gu[k][j] - want).abs() <= 1e-4 * want.abs().max(1e-2), "dL/dU[{k}][{j}]: {} vs {want}", gu[k][j]);
            checked += 1;
        }
    }
    for i in 0..input {
        for j in 0..hidden {
            let want = fd(&|m, e| m.w[i][j] += e);
            assert!((gw[i][j] - want).abs() <= 1e-4 * want.abs().max(1e-2), "dL/dW[{i}][{j}]: {} vs {want}", gw[i][j]);
            checked += 1;
        }
    }
    assert_eq!(checked, 24);
    // The hand-written backpropagation through time, which the telemetry test below relies
    // on, agrees with the same finite differences.
    let (_, _, du) = base.bptt(&xs, &ys, steps);
    for k in 0..hidden {
        for j in 0..hidden {
            assert!((du[k][j] - gu[k][j]).abs() <= 1e-4 * gu[k][j].abs().max(1e-2), "BPTT dU[{k}][{j}]");
        }
    }
}

fn norm(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

#[test]
fn time_step_errors_and_their_shares_of_the_recurrent_gradient_match_bptt() {
    for backend in BACKENDS {
        let device = backend.autodiff_device();
        let (steps, input, hidden) = (6, 3, 5);
        let config = RecurrentConfig::new(Cell::Rnn, input, steps, hidden, 2)
            .with_init(Init::Normal { mean: 0.0, std: 0.5 }, Init::Orthogonal { gain: 1.0 })
            .with_seed(7);
        let model = config.init(&device);
        let mut watch = Watch::grouped("rnn", &model, &config.grouping()).unwrap();
        let (x, y, xs, ys) = batch(4, steps, input, 2, 21, &device);
        let taps = Taps::on();
        let grads = half_sse(model.forward_tapped(x, &taps), y).backward();
        let m = watch.read(&model, &grads, &taps).unwrap().into_measurement();
        let (dh, da, du) = HostRnn::of(&model).bptt(&xs, &ys, steps);
        let states: Vec<Vec<Vec<f64>>> = xs.iter().map(|x| HostRnn::of(&model).states(x, steps)).collect();
        let rows: Vec<_> = m.time_steps.iter().filter(|s| s.layer == 0).collect();
        assert_eq!(rows.len(), steps, "{backend:?}: one entry per time step");
        let mut sum = vec![vec![0.0; hidden]; hidden];
        for s in rows {
            let t = s.t;
            // The mean over sequences of each sequence's own ||dL/dh_t|| (the batch mean's 1/n
            // undone, as delta_norm's).
            let want: f64 = dh[t].iter().map(|g| norm(g)).sum();
            let got = s.hidden_delta_norm.unwrap();
            assert!((got - want).abs() <= 1e-4 * want, "{backend:?} t={t}: hidden_delta_norm {got} vs {want}");
            assert_eq!(s.gate_mean, None, "a vanilla RNN has no gate");
            // Step t's share h_{t-1}^T dL/da_t (dL/da_t walks backwards, so sequence i's entry is
            // the i-th pushed).
            let mut share = vec![vec![0.0; hidden]; hidden];
            for (i, a) in da[t].iter().enumerate() {
                for k in 0..hidden {
                    for j in 0..hidden {
                        share[k][j] += states[i][t - 1][k] * a[j];
                    }
                }
            }
            let flat: Vec<f64> = share.iter().flatten().copied().collect();
            match s.recurrent_grad_norm {
                Some(got) => assert!((got - norm(&flat)).abs() <= 1e-4 * norm(&flat), "{backend:?} t={t}: recurrent_grad_norm {got} vs {}", norm(&flat)),
                None => assert_eq!((t, norm(&flat)), (1, 0.0), "only t = 1, where h_0 = 0, has no share"),
            }
            for k in 0..hidden {
                for j in 0..hidden {
                    sum[k][j] += share[k][j];
                }
            }
        }
        // The shares of every step add up to the gradient burn computed for U.
        let gu = matrix(model.rnn[0].recurrent.weight.grad(&grads).unwrap());
        for k in 0..hidden {
            for j in 0..hidden {
                assert!((sum[k][j] - gu[k][j]).abs() <= 1e-4 * gu[k][j].abs().max(1e-3), "{backend:?}: sum of shares [{k}][{j}]");
                assert!((du[k][j] - gu[k][j]).abs() <= 1e-4 * gu[k][j].abs().max(1e-3));
            }
        }
    }
}

#[test]
fn gated_cells_report_their_gates_and_every_step() {
    let device = Backend::Flex.autodiff_device();
    for (cell, forget_bias) in [(Cell::Lstm, 3.0), (Cell::Gru, 0.0)] {
        let config = RecurrentConfig::new(cell, 2, 7, 6, 1).with_layers(2).with_forget_bias(forget_bias).with_seed(2);
        let model = config.init(&device);
        let mut watch = Watch::grouped(cell.name(), &model, &config.grouping()).unwrap();
        let (x, y, _, _) = batch(5, 7, 2, 1, 4, &device);
        let taps = Taps::on();
        let grads = half_sse(model.forward_tapped(x, &taps), y).backward();
        let m = watch.read(&model, &grads, &taps).unwrap().into_measurement();
        // Two recurrent layers and the read-out, named as their modules.
        let names: Vec<String> = watch.layer_infos().iter().map(|l| l.name.clone()).collect();
        assert_eq!(names, [format!("{}.0", cell.name()), format!("{}.1", cell.name()), "readout".to_string()]);
        assert_eq!(m.time_steps.len(), 14, "{cell:?}: 7 steps in each of 2 layers");
        for s in &m.time_steps {
            let gate = s.gate_mean.unwrap();
            assert!((0.0..=1.0).contains(&gate), "{cell:?} {s:?}");
            assert!(s.hidden_delta_norm.unwrap() > 0.0);
            assert_eq!(s.recurrent_grad_norm.is_some(), s.t > 1);
        }
        if cell == Cell::Lstm {
            // A forget bias of 3 opens the gate: sigmoid(3 + small) is about 0.95.
            let mean = m.time_steps.iter().filter_map(|s| s.gate_mean).sum::<f64>() / 14.0;
            assert!(mean > 0.9, "forget gate mean {mean}");
        }
    }
}

#[test]
fn adding_problem_targets_are_the_marked_sums() {
    use data::adding::{BASELINE_MSE, FEATURES_PER_STEP, generate, marked_sum};
    // Hand-made sequences: the markers pick the values to add.
    assert_eq!(marked_sum(&[0.5, 1.0, 0.25, 0.0, 0.125, 1.0]), 0.625);
    assert_eq!(marked_sum(&[0.9, 0.0, 0.1, 0.0]), 0.0);
    let (steps, n) = (10, 20_000);
    let (x, y) = generate(n, steps, &mut Rng::new(5));
    assert_eq!((x.len(), y.len()), (n * steps * FEATURES_PER_STEP, n));
    let mut sq = 0.0;
    for (seq, &target) in x.chunks(steps * FEATURES_PER_STEP).zip(&y) {
        assert_eq!(marked_sum(seq), target);
        let marks: Vec<usize> = seq.chunks(2).enumerate().filter(|(_, p)| p[1] == 1.0).map(|(t, _)| t).collect();
        assert_eq!(marks.len(), 2, "two markers");
        assert!(marks[0] < steps / 2 && marks[1] >= steps / 2, "one marker in each half: {marks:?}");
        assert!(seq.chunks(2).all(|p| (0.0..1.0).contains(&p[0]) && (p[1] == 0.0 || p[1] == 1.0)));
        sq += (f64::from(target) - 1.0).powi(2);
    }
    // Predicting the mean, 1, scores Var(u1 + u2) = 1/6: the baseline a memoryless model stays at.
    let mse = sq / n as f64;
    assert!((mse - BASELINE_MSE).abs() < 0.006, "baseline MSE {mse}");
}

/// ||dL/dh_1|| / ||dL/dh_T|| of a freshly initialized model on the adding problem.
fn first_to_last(cell: Cell, steps: usize, forget_bias: f64) -> f64 {
    let device = Backend::Flex.autodiff_device();
    let config = RecurrentConfig::new(cell, 2, steps, 32, 1).with_forget_bias(forget_bias).with_seed(1);
    let model = config.init(&device);
    let mut watch = Watch::grouped("m", &model, &config.grouping()).unwrap();
    let (x, y) = data::adding::generate(64, steps, &mut Rng::new(3));
    let x = Tensor::<2>::from_data(TensorData::new(x, [64, steps * 2]), &device);
    let y = Tensor::<2>::from_data(TensorData::new(y, [64, 1]), &device);
    let taps = Taps::on();
    let grads = (model.forward_tapped(x, &taps) - y).square().mean().backward();
    watch.read(&model, &grads, &taps).unwrap().into_measurement().first_to_last_step().unwrap()
}

#[test]
fn the_error_vanishes_through_a_vanilla_rnn_and_not_through_an_lstm() {
    // At initialization (PyTorch's, hidden 32, T = 50), measured: 2.6e-11 for the vanilla RNN;
    // for the LSTM 3.2e-11 with a forget bias of 0 (a gate of about 0.5 forgets as fast as the
    // RNN's Jacobians shrink), 6.7e-5 with 1 (Gers et al. 2000) and 0.10 with 3. The LSTM's
    // cell carries the error back through the forget gate alone, so opening the gate is what
    // keeps the error alive. The thresholds leave two orders of magnitude on each side.
    let rnn = first_to_last(Cell::Rnn, 50, 0.0);
    let lstm = first_to_last(Cell::Lstm, 50, 1.0);
    let open = first_to_last(Cell::Lstm, 50, 3.0);
    assert!(rnn < 1e-8, "vanilla RNN: dL/dh_1 / dL/dh_T = {rnn:e}");
    assert!(lstm > 1e-6 && lstm > 1e4 * rnn, "LSTM, forget bias 1: {lstm:e} against the RNN's {rnn:e}");
    assert!(open > 1e-3, "LSTM, forget bias 3: {open:e}");
}

const ADDING: &str = r#"
name = "through-time-test"
seed = 3
[data]
source = "adding"
sequence_length = 8
adding = { train = 96, test = 32 }
[train]
epochs = 2
batch_size = 16
clip_grad_norm = 1.0
[optimizer]
kind = "adam"
lr = 0.01
[telemetry]
every = 2
probe = 32
[models.rnn]
kind = "rnn"
hidden = 8
[models.lstm]
kind = "lstm"
hidden = 8
forget_bias = 1.0
[models.gru]
kind = "gru"
hidden = 8
depth = 2
"#;

fn read_csv(path: &std::path::Path) -> (Vec<String>, Vec<Vec<String>>) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap().split(',').map(String::from).collect();
    (header, lines.map(|l| l.split(',').map(String::from).collect()).collect())
}

#[test]
fn recurrent_runs_write_every_time_step() {
    let out = scratch("through-time");
    let exp = experiment(ADDING, &[]);
    let summary = run_in(&exp, &out, Backend::Flex).unwrap();
    assert_eq!(summary.status, Status::Completed, "{:?}", summary.reason);
    let manifest: Manifest = serde_json::from_str(&std::fs::read_to_string(out.join(runfolder::MANIFEST)).unwrap()).unwrap();
    assert_eq!(manifest.dataset.as_ref().unwrap().sequence_length, Some(8));
    // The adding problem's sequences are no images.
    assert_eq!(manifest.dataset.as_ref().unwrap().image, None);
    let kinds: Vec<_> = manifest.models.iter().map(|m| (m.kind.clone().unwrap(), m.hidden)).collect();
    assert_eq!(kinds, [("rnn".to_string(), Some(8)), ("lstm".to_string(), Some(8)), ("gru".to_string(), Some(8))]);
    let (header, rows) = read_csv(&out.join(runfolder::TIME_STEPS));
    assert_eq!(header, runfolder::TIME_STEPS_COLUMNS);
    // Every model, source and recurrent layer has all 8 steps of dL/dh_t at each of its steps.
    for (model, layers) in [("rnn", 1), ("lstm", 1), ("gru", 2)] {
        for source in [runfolder::SOURCE_TRAIN, runfolder::SOURCE_PROBE] {
            let hidden: Vec<&Vec<String>> =
                rows.iter().filter(|r| r[0] == model && r[3] == source && r[6] == runfolder::metric::HIDDEN_DELTA_NORM).collect();
            let steps: std::collections::BTreeSet<&str> = hidden.iter().map(|r| r[2].as_str()).collect();
            assert!(!steps.is_empty(), "{model} {source}");
            assert_eq!(hidden.len(), steps.len() * 8 * layers, "{model} {source}");
            assert!(hidden.iter().all(|r| r[7].parse::<f64>().unwrap() > 0.0));
        }
        let gates = rows.iter().any(|r| r[0] == model && r[6] == runfolder::metric::GATE_MEAN);
        assert_eq!(gates, model != "rnn", "{model}: gate_mean");
    }
    // The weights reload into the same architecture.
    let dataset = data::load(&exp.data, exp.seed).unwrap();
    let nets = exp.nets(dataset.features, 1).unwrap();
    let config::NetConfig::Recurrent(lstm) = &nets[1].1 else { panic!("the lstm is recurrent") };
    let device = Backend::Flex.plain_device();
    lstm.init(&device).try_load_file(out.join("lstm.bpk")).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn sequential_digits_train_row_by_row() {
    // The 8x8 digits read one row of 8 pixels per step: sequential MNIST in miniature.
    let text = r#"
name = "sequential-digits"
[data]
source = "digits"
sequence_length = 8
limit = 400
[train]
epochs = 3
batch_size = 32
[optimizer]
kind = "adam"
lr = 0.01
[telemetry]
probe = 100
[models.lstm]
kind = "lstm"
hidden = 32
"#;
    let out = scratch("sequential-digits");
    let summary = run_in(&experiment(text, &[]), &out, Backend::Flex).unwrap();
    let acc = summary.models[0].test_accuracy.unwrap();
    assert!(acc > 0.5, "an LSTM reading the digits row by row learns them: test accuracy {acc}");
}

#[test]
fn recurrent_configs_that_cannot_apply_are_refused_naming_the_key() {
    let refused = |sets: &[&str], key: &str, says: &str| {
        let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
        let e = format!("{:#}", config::parse(ADDING, &sets).unwrap_err());
        assert!(e.contains(key) && e.contains(says), "{sets:?}: {e}");
        assert_eq!(e.lines().count(), 1, "{e}");
    };
    refused(&["data.sequence_length=0"], "data.sequence_length", "at least 1");
    refused(&["models.rnn.hidden=0"], "models.rnn.hidden", "at least 1");
    refused(&["models.lstm.residual=true"], "models.lstm.residual", "does not apply to kind = \"lstm\"");
    refused(&["models.gru.norm=\"layer\""], "models.gru.norm", "does not apply");
    refused(&["models.rnn.width=8"], "models.rnn.width", "`hidden`");
    refused(&["models.rnn.activation=\"relu\""], "models.rnn.activation", "fixed");
    refused(&["models.rnn.forget_bias=1.0"], "models.rnn.forget_bias", "LSTM");
    refused(&["models.rnn.depth=0"], "models.rnn.depth", "at least 1");
    refused(&["models.rnn.kind=\"transformer\""], "models.rnn.kind", "unknown variant");
    // A missing length, for the adding problem and for a recurrent model on other data.
    let e = format!("{:#}", config::parse(&ADDING.replace("sequence_length = 8\n", ""), &[]).unwrap_err());
    assert!(e.contains("data.sequence_length") && e.contains("missing"), "{e}");
    let mnist = ADDING.replace("source = \"adding\"\nsequence_length = 8\nadding = { train = 96, test = 32 }", "source = \"digits\"");
    let e = format!("{:#}", config::parse(&mnist, &[]).unwrap_err());
    assert!(e.contains("data.sequence_length") && e.contains("kind = \"rnn\""), "{e}");
    // MLP keys on a recurrent model's neighbour, and recurrent keys on an MLP.
    let mlp = "name = \"m\"\n[data]\nsource = \"digits\"\n[train]\nepochs = 1\nbatch_size = 8\n[optimizer]\nkind = \"sgd\"\nlr = 0.1\n[models.m]\ndepth = 2\nwidth = 4\nactivation = \"relu\"\nhidden = 8\n";
    let e = format!("{:#}", config::parse(mlp, &[]).unwrap_err());
    assert!(e.contains("models.m.hidden") && e.contains("recurrent models only"), "{e}");
    // A length that does not divide the data's features: known once the data is loaded.
    let exp = experiment(&mnist.replace("source = \"digits\"", "source = \"digits\"\nsequence_length = 7"), &[]);
    let dataset = data::load(&exp.data, exp.seed).unwrap();
    let e = exp.validate_with_data(&dataset).unwrap_err().to_string();
    assert!(e.starts_with("data.sequence_length") && e.contains("64 features"), "{e}");
}

#[test]
fn a_recurrent_model_that_blows_up_stops_as_diverged_at_its_step() {
    let out = scratch("rnn-diverges");
    // An absurd learning rate sends the read-out's weights to infinity in one step.
    let exp = experiment(ADDING, &["optimizer={ kind = \"sgd\", lr = 1e30 }", "train.clip_grad_norm=1e30"]);
    let summary = run_in(&exp, &out, Backend::Flex).unwrap();
    assert_eq!(summary.status, Status::Diverged, "{:?}", summary.reason);
    for m in &summary.models {
        let d = m.diverged.as_ref().unwrap_or_else(|| panic!("{} diverged", m.name));
        assert!(d.step >= 1 && d.step <= 3, "{}: step {}", m.name, d.step);
    }
}

/// The LSTM step written out on burn's tensors as the models crate ran it before the fused
/// cell (`kernels::sigmoid` for the gates, burn's tanh): the new state, h_t over c_t.
fn lstm_step_by_step(a: Tensor<2>, state_prev: Tensor<2>) -> Tensor<2> {
    use burn::tensor::activation::tanh;
    let [n, wide] = a.dims();
    let h = wide / 4;
    let gate = |k: usize| a.clone().slice([0..n, k * h..(k + 1) * h]);
    let (i, f, g, o) = (kernels::sigmoid(gate(0)), kernels::sigmoid(gate(1)), tanh(gate(2)), kernels::sigmoid(gate(3)));
    let c = f * state_prev.slice([n..2 * n, 0..h]) + i * g;
    Tensor::cat(vec![o * tanh(c.clone()), c], 0)
}

/// The GRU step (reset-after) written out on burn's tensors as the models crate ran it before
/// the fused cell: h_t.
fn gru_step_by_step(ax: Tensor<2>, ph: Tensor<2>, h_prev: Tensor<2>) -> Tensor<2> {
    use burn::tensor::activation::tanh;
    let [n, wide] = ax.dims();
    let h = wide / 3;
    let side = |t: &Tensor<2>, k: usize| t.clone().slice([0..n, k * h..(k + 1) * h]);
    let z = kernels::sigmoid(side(&ax, 0) + side(&ph, 0));
    let r = kernels::sigmoid(side(&ax, 1) + side(&ph, 1));
    let cand = tanh(side(&ax, 2) + r * side(&ph, 2));
    z.clone().neg().add_scalar(1.0) * cand + z * h_prev
}

/// A weighted sum of a step's outputs, so that every output has its own gradient.
fn weighted(out: Tensor<2>, seed: u64) -> Tensor<1> {
    let [rows, cols] = out.dims();
    (out.clone() * inputs(rows, cols, seed, &out.device())).sum()
}

#[test]
fn fused_cells_give_the_step_by_step_values_and_gradients() {
    // Both cells' fused operation against the step-by-step cell on burn's tensors, forward
    // and every input's gradient, on each backend: at a small size, and at a training batch's
    // size, where flex splits the rows over its threads. Inputs of spread 2 reach into the
    // nonlinearities' flat tails; a previous state of zeros is the first step's.
    for backend in BACKENDS {
        let device = backend.autodiff_device();
        for (n, h) in [(3, 5), (128, 128)] {
            let what = format!("{backend:?} {n}x{h}");
            let spread = |t: Tensor<2>| (t * 2.0).require_grad();
            let (a, prev) = (spread(inputs(n, 4 * h, 1, &device)), spread(inputs(2 * n, h, 2, &device)));
            let (state, gates) = kernels::lstm_cell(a.clone(), prev.clone());
            let reference = lstm_step_by_step(a.clone(), prev.clone());
            close(&host(state.clone()), &host(reference.clone()), 1e-5, &format!("{what} LSTM state"));
            let f = kernels::sigmoid(a.clone().slice([0..n, h..2 * h]));
            close(&host(gates.slice([0..n, h..2 * h])), &host(f), 1e-6, &format!("{what} LSTM forget gate"));
            let (ours, theirs) = (weighted(state, 7).backward(), weighted(reference, 7).backward());
            close(&host(a.grad(&ours).unwrap()), &host(a.grad(&theirs).unwrap()), 1e-5, &format!("{what} LSTM dL/da"));
            close(&host(prev.grad(&ours).unwrap()), &host(prev.grad(&theirs).unwrap()), 1e-5, &format!("{what} LSTM dL/dstate"));
            let zeros = Tensor::<2>::zeros([2 * n, h], &device);
            let first = kernels::lstm_cell(a.clone(), zeros.clone()).0;
            close(&host(first), &host(lstm_step_by_step(a.clone(), zeros)), 1e-5, &format!("{what} LSTM first step"));

            let (ax, ph, hp) = (spread(inputs(n, 3 * h, 3, &device)), spread(inputs(n, 3 * h, 4, &device)), spread(inputs(n, h, 5, &device)));
            let (next, gates) = kernels::gru_cell(ax.clone(), ph.clone(), hp.clone());
            let reference = gru_step_by_step(ax.clone(), ph.clone(), hp.clone());
            close(&host(next.clone()), &host(reference.clone()), 1e-5, &format!("{what} GRU h"));
            let z = kernels::sigmoid(ax.clone().slice([0..n, 0..h]) + ph.clone().slice([0..n, 0..h]));
            close(&host(gates.slice([0..n, 0..h])), &host(z), 1e-6, &format!("{what} GRU update gate"));
            let (ours, theirs) = (weighted(next, 8).backward(), weighted(reference, 8).backward());
            for (t, name) in [(&ax, "ax"), (&ph, "ph"), (&hp, "h_prev")] {
                close(&host(t.grad(&ours).unwrap()), &host(t.grad(&theirs).unwrap()), 1e-5, &format!("{what} GRU dL/d{name}"));
            }
        }
    }
}

#[test]
fn the_vanilla_rnns_tanh_gives_burns_values_and_gradients() {
    // The kernels crate's tanh (one node that keeps its output) against burn's tanh, forward
    // and backward, on each backend: at a small size, and at a training batch's size, where
    // flex splits the elements over its threads. Inputs of spread 3 reach into both branches
    // of the vectorized tanh and its flat tails.
    for backend in BACKENDS {
        let device = backend.autodiff_device();
        for (n, h) in [(3, 5), (128, 128)] {
            let what = format!("{backend:?} {n}x{h}");
            let x = (inputs(n, h, 9, &device) * 3.0).require_grad();
            let (ours, theirs) = (kernels::tanh(x.clone()), burn::tensor::activation::tanh(x.clone()));
            close(&host(ours.clone()), &host(theirs.clone()), 1e-6, &format!("{what} tanh"));
            let (ours, theirs) = (weighted(ours, 10).backward(), weighted(theirs, 10).backward());
            close(&host(x.grad(&ours).unwrap()), &host(x.grad(&theirs).unwrap()), 1e-5, &format!("{what} dL/dx"));
        }
    }
}

#[test]
fn fused_cells_gradients_match_finite_differences() {
    // Central differences of the weighted sum of a small step's outputs, in f64 from the f32
    // outputs, against every entry of every input's gradient. With a step of 1e-2 the
    // differences' own error (of order the step squared, and float32's rounding of the sum
    // over the step) stays below 1e-3 of the gradients' scale.
    let eps = 1e-2f32;
    for backend in BACKENDS {
        let device = backend.autodiff_device();
        let (n, h) = (2, 3);
        let sum = |out: Tensor<2>, seed: u64| -> f64 {
            let w = host(inputs(out.dims()[0], out.dims()[1], seed, &device));
            host(out).iter().zip(&w).map(|(&o, &w)| f64::from(o) * f64::from(w)).sum()
        };
        // Every input's gradient from autodiff, and from differences of `f` over its entries.
        let check = |what: &str, ins: Vec<Tensor<2>>, f: &dyn Fn(&[Tensor<2>]) -> Tensor<2>| {
            let ins: Vec<Tensor<2>> = ins.into_iter().map(|t| t.require_grad()).collect();
            let grads = weighted(f(&ins), 9).backward();
            for (k, t) in ins.iter().enumerate() {
                let analytic = host(t.grad(&grads).unwrap());
                let values = host(t.clone());
                let numeric: Vec<f32> = (0..values.len())
                    .map(|e| {
                        let at = |d: f32| {
                            let mut v = values.clone();
                            v[e] += d;
                            let mut moved: Vec<Tensor<2>> = ins.iter().map(|t| t.clone().detach()).collect();
                            moved[k] = Tensor::from_data(TensorData::new(v, t.dims()), &device);
                            sum(f(&moved), 9)
                        };
                        ((at(eps) - at(-eps)) / (2.0 * f64::from(eps))) as f32
                    })
                    .collect();
                close(&analytic, &numeric, 1e-3, &format!("{backend:?} {what} input {k}"));
            }
        };
        check("LSTM", vec![inputs(n, 4 * h, 11, &device), inputs(2 * n, h, 12, &device)], &|t| kernels::lstm_cell(t[0].clone(), t[1].clone()).0);
        check("GRU", vec![inputs(n, 3 * h, 13, &device), inputs(n, 3 * h, 14, &device), inputs(n, h, 15, &device)], &|t| {
            kernels::gru_cell(t[0].clone(), t[1].clone(), t[2].clone()).0
        });
    }
}

#[test]
fn lstm_and_gru_gradients_are_those_of_burns_modules() {
    // The whole model, its cells fused, against burn's `Lstm::forward` and `Gru::forward` on
    // the same parameters: every parameter's gradient of the summed squared output, on each
    // backend, for one and two layers.
    for backend in BACKENDS {
        let device = backend.autodiff_device();
        for cell in [Cell::Lstm, Cell::Gru] {
            for layers in [1, 2] {
                let what = format!("{backend:?} {cell:?} x{layers}");
                let config = RecurrentConfig::new(cell, 3, 6, 5, 2)
                    .with_layers(layers)
                    .with_forget_bias(if cell == Cell::Lstm { 1.0 } else { 0.0 })
                    .with_seed(11);
                let model = config.init(&device);
                let x = inputs(4, 18, 3, &device);
                let ours = model.forward(x.clone()).square().sum().backward();
                let theirs = burn_forward(&model, x, 3).square().sum().backward();
                let mut compared = 0;
                let mut compare = |name: String, p: &burn::module::Param<Tensor<2>>| {
                    close(&host(p.grad(&ours).unwrap()), &host(p.grad(&theirs).unwrap()), 1e-5, &format!("{what} {name}"));
                    compared += 1;
                };
                let gates: Vec<(usize, &burn::nn::GateController)> = model
                    .lstm
                    .iter()
                    .enumerate()
                    .flat_map(|(l, m)| [&m.input_gate, m.forget_gate.as_ref().unwrap(), &m.cell_gate, &m.output_gate].map(|g| (l, g)))
                    .chain(model.gru.iter().enumerate().flat_map(|(l, m)| [&m.update_gate, &m.reset_gate, &m.new_gate].map(|g| (l, g))))
                    .collect();
                for (k, (l, g)) in gates.iter().enumerate() {
                    for (side, lin) in [("input", &g.input_transform), ("hidden", &g.hidden_transform)] {
                        compare(format!("layer {l} gate {k} {side} weight"), &lin.weight);
                        let b = lin.bias.as_ref().unwrap();
                        let (a, t) = (b.grad(&ours).unwrap(), b.grad(&theirs).unwrap());
                        close(&host(a), &host(t), 1e-5, &format!("{what} layer {l} gate {k} {side} bias"));
                    }
                }
                compare("readout weight".to_string(), &model.readout.weight);
                assert_eq!(compared, 2 * cell.gates() * layers + 1, "{what}");
            }
        }
    }
}
