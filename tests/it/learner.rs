//! gradflow where burn users train: under burn-train's `Learner` (steps, epochs and learning
//! rate from the Learner itself, every parameter's gradient norm against the gradients the
//! optimizer received), in a loop of one's own through `Flow` (one call per step), and the
//! run folder's end in every case: completed, failed with the error's or the panic's
//! message, or resumed after a stop.

use crate::common::scratch;
use burn::data::dataloader::batcher::Batcher;
use burn::data::dataloader::{DataLoader, DataLoaderBuilder};
use burn::data::dataset::InMemDataset;
use burn::lr_scheduler::constant::ConstantLr;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::optim::{GradientsParams, ModuleOptimizer, SgdConfig};
use burn::prelude::*;
use burn::tensor::activation::{gelu, relu};
use burn::train::{InferenceStep, Learner, RegressionOutput, SupervisedTraining, TrainOutput, TrainStep};
use gradflow::learner::{Grads, Lr, Optim};
use gradflow::runfolder::{Manifest, Status};
use gradflow::{Activation, Flow, FlowConfig, Taps};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// A two-layer regression net whose first layer can be frozen.
#[derive(Module, Debug)]
struct Net {
    first: Linear,
    second: Linear,
}

impl Net {
    fn new(device: &Device) -> Net {
        Net { first: LinearConfig::new(4, 8).init(device), second: LinearConfig::new(8, 1).init(device) }
    }

    fn forward(&self, x: Tensor<2>, taps: &Taps) -> Tensor<2> {
        let z = taps.tap("first", self.first.forward(x));
        let h = taps.activation("first", relu(z), Activation::Relu);
        self.second.forward(h)
    }

    fn regress(&self, b: Batch, taps: &Taps) -> RegressionOutput {
        let out = self.forward(b.x, taps);
        let loss = (out.clone() - b.y.clone()).square().mean();
        RegressionOutput::new(loss, out, b.y)
    }
}

/// The gradient norms `optimize` received, per optimizer step, computed directly from them,
/// by the model's first weight (the tests train in parallel).
static SEEN: Mutex<Vec<(burn::module::ParamId, f64, f64)>> = Mutex::new(Vec::new());

fn norm<const D: usize>(t: Tensor<D>) -> f64 {
    t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap().iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>().sqrt()
}

impl TrainStep for Net {
    type Input = Batch;
    type Output = RegressionOutput;

    fn step(&self, b: Batch) -> TrainOutput<RegressionOutput> {
        let taps = gradflow::learner::taps(self);
        let item = self.regress(b, &taps);
        let grads = item.loss.backward();
        gradflow::learner::read_taps(self, &taps, &grads);
        TrainOutput::new(self, grads, item)
    }

    fn optimize(self, o: &mut Optim, lr: Lr, g: Grads) -> Self {
        let first = g.get::<2>(self.first.weight.id).map_or(f64::NAN, norm);
        let second = g.get::<2>(self.second.weight.id).map_or(f64::NAN, norm);
        SEEN.lock().unwrap().push((self.first.weight.id, first, second));
        gradflow::learner::optimize(self, o, lr, g)
    }
}

impl InferenceStep for Net {
    type Input = Batch;
    type Output = RegressionOutput;

    fn step(&self, b: Batch) -> RegressionOutput {
        self.regress(b, &Taps::off())
    }
}

#[derive(Clone, Debug)]
struct Batch {
    x: Tensor<2>,
    y: Tensor<2>,
}

struct Rows;

impl Batcher<[f32; 5], Batch> for Rows {
    fn batch(&self, items: Vec<[f32; 5]>, device: &Device) -> Batch {
        let n = items.len();
        let x: Vec<f32> = items.iter().flat_map(|r| r[..4].to_vec()).collect();
        let y: Vec<f32> = items.iter().map(|r| r[4]).collect();
        Batch { x: Tensor::from_data(TensorData::new(x, [n, 4]), device), y: Tensor::from_data(TensorData::new(y, [n, 1]), device) }
    }
}

/// `n` seeded rows of a made-up regression, y = sum(x) / 2.
fn rows(n: usize, seed: u64) -> Vec<[f32; 5]> {
    let mut rng = prng::Rng::new(seed);
    (0..n)
        .map(|_| {
            let x: [f32; 4] = std::array::from_fn(|_| rng.uniform() as f32 * 2.0 - 1.0);
            [x[0], x[1], x[2], x[3], x.iter().sum::<f32>() / 2.0]
        })
        .collect()
}

fn loader(n: usize, batch: usize, seed: u64) -> Arc<dyn DataLoader<Batch>> {
    DataLoaderBuilder::new(Rows).batch_size(batch).build(InMemDataset::new(rows(n, seed)))
}

fn manifest(dir: &Path) -> Manifest {
    serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap()
}

/// The rows of a CSV file of the run folder, header first, as fields.
fn csv(dir: &Path, file: &str) -> Vec<Vec<String>> {
    std::fs::read_to_string(dir.join(file)).unwrap().lines().map(|l| l.split(',').map(str::to_string).collect()).collect()
}

/// The value column of `params.csv` rows of `param` and `metric` on train rows, by step.
fn param_values(dir: &Path, param: &str, metric: &str) -> Vec<(usize, f64)> {
    csv(dir, "params.csv")
        .into_iter()
        .skip(1)
        .filter(|r| r[3] == "train" && r[5] == param && r[6] == metric)
        .map(|r| (r[2].parse().unwrap(), r[7].parse().unwrap()))
        .collect()
}

#[test]
fn a_learner_run_has_the_learners_steps_epochs_and_gradients() {
    let dir = scratch("learner");
    let out = dir.join("run");
    let device = Device::flex().autodiff();
    gradflow::seed(&device, 5);
    let model = Net::new(&device);
    let id = model.first.weight.id;
    let flow = Flow::learner(&out, &model).unwrap();
    let optim: ModuleOptimizer = SgdConfig::new().init();
    let learner = Learner::new(model, optim, ConstantLr::new(0.05));
    // 96 examples in batches of 16: 6 optimizer steps per epoch, 12 in all.
    let result = SupervisedTraining::new(dir.join("burn"), loader(96, 16, 1), loader(32, 16, 2))
        .metrics(flow.metrics())
        .with_application_logger(None)
        .num_epochs(2)
        .launch(learner);
    assert!(result.error.is_none(), "the Learner failed: {:?}", result.error.map(|e| e.to_string()));
    flow.close(&result).unwrap();

    let m = manifest(&out);
    assert_eq!(m.status, Status::Completed, "{:?}", m.reason);
    assert_eq!(m.seed, Some(5), "the seed set through gradflow::seed is recorded");
    // Steps 1, 2, 4 and 8 by the cadence, 6 and 12 as the last of their epochs.
    let steps: Vec<(usize, usize, f64)> =
        csv(&out, "steps.csv").into_iter().skip(1).map(|r| (r[1].parse().unwrap(), r[2].parse().unwrap(), r[6].parse().unwrap())).collect();
    let at: Vec<(usize, usize)> = steps.iter().map(|&(e, s, _)| (e, s)).collect();
    assert_eq!(at, [(1, 1), (1, 2), (1, 4), (1, 6), (2, 8), (2, 12)]);
    assert!(steps.iter().all(|&(_, _, lr)| (lr - 0.05).abs() < 1e-12), "the Learner's learning rate: {steps:?}");
    let epochs = csv(&out, "epochs.csv");
    assert_eq!(epochs.len(), 3, "a header and two epochs: {epochs:?}");
    for (row, epoch) in epochs[1..].iter().zip(["1", "2"]) {
        assert_eq!(row[1], epoch);
        let (train, valid): (f64, f64) = (row[2].parse().unwrap(), row[7].parse().unwrap());
        assert!(train.is_finite() && valid.is_finite(), "train and validation losses: {row:?}");
    }
    // Every logged step's gradient norm is the one the optimizer received.
    let seen: Vec<(f64, f64)> = SEEN.lock().unwrap().iter().filter(|s| s.0 == id).map(|s| (s.1, s.2)).collect();
    assert_eq!(seen.len(), 12, "optimize ran once per step");
    for (param, which) in [("first.weight", 0), ("second.weight", 1)] {
        let logged = param_values(&out, param, "grad_norm");
        assert_eq!(logged.len(), 6);
        for (step, v) in logged {
            let direct = if which == 0 { seen[step - 1].0 } else { seen[step - 1].1 };
            assert!((v - direct).abs() <= 1e-6 * direct, "{param} at step {step}: {v} vs {direct}");
        }
    }
    // The taps read in `step` joined their optimizer steps: dL/dz and the ReLU's health.
    let layers = csv(&out, "layers.csv");
    let deltas = layers.iter().filter(|r| r[3] == "train" && r[4] == "1" && r[5] == "delta_norm").count();
    let dead = layers.iter().filter(|r| r[3] == "train" && r[4] == "1" && r[5] == "dead_fraction").count();
    assert_eq!((deltas, dead), (6, 6));
    // The run's diagnosis is written beside it, as `train` writes one.
    assert!(out.join("diagnosis.json").exists(), "diagnosis.json");
    // burn-train's own files do not log the Flow's metric per batch (its loss is LossMetric's,
    // and each logged entry is a file write on the training's cores): one line per epoch.
    for epoch in ["epoch-1", "epoch-2"] {
        let log = dir.join("burn/train").join(epoch).join("gradflow_loss.log");
        let lines = std::fs::read_to_string(&log).map_or(0, |t| t.lines().count());
        assert!(lines <= 1, "{} has {lines} lines", log.display());
    }
    // xtask reads the folder, and its report names the layers.
    let run = xtask::Run::load(&out).expect("xtask reads a Learner's run folder");
    assert_eq!(run.manifest.models[0].layers.iter().map(|l| l.name.as_str()).collect::<Vec<_>>(), ["first", "second"]);
}

/// A loop of one's own, with `Flow::step`: the parameters' norms against the gradients the
/// closure received, an epoch row after each epoch's last step, and the evaluation in it.
#[test]
fn a_loop_of_ones_own_needs_one_call_per_step() {
    let dir = scratch("flow").join("run");
    let device = Device::flex().autodiff();
    let mut model = Net::new(&device);
    let mut optim = SgdConfig::new().init();
    let mut flow = FlowConfig::new().with_model_name("net").with_steps_per_epoch(4).with_view(false).init(&dir, &model).unwrap();
    let mut direct = Vec::new();
    for epoch in 1..=2 {
        for b in 0..4u64 {
            let batch = Rows.batch(rows(8, epoch * 10 + b), &device);
            let loss = model.regress(batch, flow.taps()).loss;
            let grads = loss.backward();
            model = flow
                .step(model, &loss, grads, |m, g: GradientsParams| {
                    direct.push(g.get::<2>(m.first.weight.id).map_or(f64::NAN, norm));
                    optim.step(0.1, m, g)
                })
                .unwrap();
        }
        flow.evaluated(0.25 * epoch as f64, None).unwrap();
    }
    assert_eq!(flow.steps(), 8);
    flow.finish().unwrap();
    assert_eq!(manifest(&dir).status, Status::Completed);
    let logged = param_values(&dir, "first.weight", "grad_norm");
    assert_eq!(logged.iter().map(|l| l.0).collect::<Vec<_>>(), [1, 2, 4, 8]);
    for (step, v) in logged {
        assert!((v - direct[step - 1]).abs() <= 1e-6 * direct[step - 1], "step {step}: {v} vs {}", direct[step - 1]);
    }
    let epochs = csv(&dir, "epochs.csv");
    assert_eq!(epochs.iter().skip(1).map(|r| (r[1].clone(), r[4].clone())).collect::<Vec<_>>(), [
        ("1".to_string(), "0.25".to_string()),
        ("2".to_string(), "0.5".to_string())
    ]);
}

/// A run ends `failed` with the message of what ended it, never `running`.
#[test]
fn a_run_that_ends_in_an_error_or_a_panic_says_why() {
    let device = Device::flex().autodiff();
    let step = |flow: &mut Flow, model: Net, twice: bool| -> Result<Net, gradflow::Error> {
        let batch = Rows.batch(rows(8, 3), &device);
        let taps = flow.taps();
        let out = model.forward(batch.x, taps);
        let out = if twice { taps.tap("first", out) } else { out };
        let loss = (out - batch.y).square().mean();
        let grads = loss.backward();
        let mut optim = SgdConfig::new().init();
        flow.step(model, &loss, grads, |m, g| optim.step(0.1, m, g))
    };

    // A gradflow error propagated with `?`: the message is the error's.
    let dir = scratch("fails").join("run");
    let run = || -> Result<(), gradflow::Error> {
        let mut model = Net::new(&device);
        let mut flow = FlowConfig::new().with_view(false).init(&dir, &model)?;
        model = step(&mut flow, model, false)?;
        step(&mut flow, model, true)?;
        flow.finish()
    };
    let e = run().expect_err("a tap used twice");
    assert_eq!(format!("{e:?}"), e.to_string(), "Debug prints the sentence, as `main` returning it shows");
    let m = manifest(&dir);
    assert_eq!(m.status, Status::Failed);
    assert!(m.reason.as_deref().unwrap_or("").contains("tap `first` is used twice"), "{:?}", m.reason);

    // An error of one's own, closed through `fail`.
    let dir = scratch("fails").join("own");
    let model = Net::new(&device);
    let flow = FlowConfig::new().with_view(false).init(&dir, &model).unwrap();
    flow.fail("the data ran out").unwrap();
    assert_eq!(manifest(&dir).reason.as_deref(), Some("the data ran out"));

    // A panic in the loop.
    let dir = scratch("fails").join("panic");
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let model = Net::new(&device);
        let mut flow = FlowConfig::new().with_view(false).init(&dir, &model).unwrap();
        let _model = step(&mut flow, model, false).unwrap();
        panic!("the loader broke at batch 2");
    }));
    assert!(panicked.is_err());
    let m = manifest(&dir);
    assert_eq!(m.status, Status::Failed);
    assert!(m.reason.as_deref().unwrap_or("").contains("panicked: the loader broke at batch 2"), "{:?}", m.reason);
}

/// burn-train's `.checkpoint(epoch)` goes on in the same folder: the stopped run's rows after
/// its last complete epoch are dropped, and the steps and epochs continue.
#[test]
fn a_stopped_run_resumes_in_its_folder() {
    let dir = scratch("resume").join("run");
    let device = Device::flex().autodiff();
    let train = |from: usize, to: usize, stop_after: Option<usize>| {
        let mut model = Net::new(&device);
        let mut optim = SgdConfig::new().init();
        let mut flow = FlowConfig::new().with_steps_per_epoch(3).with_view(false).init(&dir, &model).unwrap();
        assert_eq!(flow.steps(), from, "the run goes on after its last complete epoch");
        for s in from..to {
            let batch = Rows.batch(rows(8, s as u64), &device);
            let loss = model.regress(batch, flow.taps()).loss;
            let grads = loss.backward();
            model = flow.step(model, &loss, grads, |m, g| optim.step(0.1, m, g)).unwrap();
            if stop_after == Some(s + 1) {
                return; // dropped in mid-epoch: `failed`
            }
        }
        flow.finish().unwrap();
    };
    train(0, 9, Some(5));
    assert_eq!(manifest(&dir).status, Status::Failed);
    assert!(csv(&dir, "steps.csv").iter().any(|r| r[2] == "4"), "step 4, in the unfinished epoch 2, was written");
    train(3, 9, None);
    assert_eq!(manifest(&dir).status, Status::Completed);
    let epochs: Vec<String> = csv(&dir, "epochs.csv").into_iter().skip(1).map(|r| r[1].clone()).collect();
    assert_eq!(epochs, ["1", "2", "3"]);
    let steps: Vec<String> = csv(&dir, "steps.csv").into_iter().skip(1).map(|r| r[2].clone()).collect();
    assert_eq!(steps, ["1", "2", "3", "4", "6", "8", "9"], "no step twice");
    // A completed run is not resumed.
    let e = FlowConfig::new().init(&dir, &Net::new(&device)).err().expect("a completed run");
    assert!(e.to_string().contains("its run completed"), "{e}");
}

/// `taps.stream("block", h)` puts the stream's error beside the branch of the block it closes,
/// and GELU units that never fire count as dead.
#[test]
fn a_stream_tap_joins_its_block_and_gelu_units_can_die() {
    #[derive(Module, Debug)]
    struct Block {
        lin: Linear,
    }
    #[derive(Module, Debug)]
    struct Res {
        input: Linear,
        block: Block,
        head: Linear,
    }
    let device = Device::flex().autodiff();
    let mut net = Res {
        input: LinearConfig::new(4, 8).init(&device),
        block: Block { lin: LinearConfig::new(8, 8).init(&device) },
        head: LinearConfig::new(8, 1).init(&device),
    };
    // A bias of -100 keeps every GELU unit of the block below 0.
    net.block.lin.bias = Some(burn::module::Param::from_tensor(Tensor::<1>::full([8], -100.0, &device)));
    let mut watch = gradflow::Watch::new("res", &net).unwrap();
    let taps = Taps::on();
    let x = Tensor::<2>::random([16, 4], burn::tensor::Distribution::Default, &device);
    let h = net.input.forward(x);
    let z = taps.tap("block.lin", net.block.lin.forward(h.clone()));
    let a = taps.activation("block.lin", gelu(z), Activation::Gelu);
    let h = taps.stream("block", h + a);
    let loss = net.head.forward(h).square().mean();
    let grads = loss.backward();
    let m = watch.read(&net, &grads, &taps).unwrap().into_measurement();
    let names: Vec<&str> = watch.layout().layers.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["input", "block.lin", "head"], "no layer of its own for the stream");
    let block = &m.layers[1];
    assert!(block.delta_norm.is_some() && block.stream_delta_norm.is_some(), "{block:?}");
    assert_eq!(block.dead_fraction, Some(1.0));
    assert_eq!(watch.layer_infos()[1].activation.as_deref(), Some("gelu"));
}

/// The README's loop of one's own is the crate's doctest, which `cargo test` compiles and
/// runs, so the two cannot drift.
#[test]
fn the_readmes_custom_loop_is_the_crates_doctest() {
    let root = crate::common::root();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let lib = std::fs::read_to_string(root.join("crates/gradflow/src/lib.rs")).unwrap();
    let doc: Vec<&str> = lib.lines().filter_map(|l| l.strip_prefix("//!")).map(|l| l.strip_prefix(' ').unwrap_or(l)).collect();
    let start = doc.iter().position(|l| *l == "```").expect("the crate docs' example") + 1;
    let end = start + doc[start..].iter().position(|l| *l == "```").unwrap();
    let visible: Vec<&str> = doc[start..end].iter().copied().filter(|l| !l.trim_start().starts_with("# ") && l.trim() != "#").collect();
    let snippet = visible.join("\n");
    assert!(readme.contains(&format!("```rust\n{snippet}\n```")), "README.md's loop of one's own differs from lib.rs's doctest:\n{snippet}");
}

/// Lines a user adds: those marked `// + gradflow` (a line that is nothing but the mark marks
/// the line before it, where rustfmt moved the mark off a `{`), counted in the examples.
fn added_lines(file: &str, mark: &str) -> usize {
    let text = std::fs::read_to_string(crate::common::root().join("crates/gradflow/examples").join(file)).unwrap();
    text.lines().filter(|l| !l.trim_start().starts_with("//!") && l.contains(mark)).count()
}

#[test]
fn the_examples_add_few_lines() {
    assert!(added_lines("learner_mnist.rs", "// + gradflow") <= 8, "the Learner example adds {} lines", added_lines("learner_mnist.rs", "// + gradflow"));
    assert!(added_lines("own_model.rs", "// + gradflow") <= 5, "the loop example adds {} lines", added_lines("own_model.rs", "// + gradflow"));
}

/// The examples run as a user runs them, and their run folders make reports that name the
/// layers.
#[test]
fn the_examples_run_and_report() {
    let examples = std::env::current_exe().unwrap().parent().unwrap().parent().unwrap().join("examples");
    for (example, args, layer) in [
        ("learner_mnist", vec!["--epochs", "1", "--limit", "256"], "layers.0"),
        ("own_model", vec!["--epochs", "1"], "hidden.0"),
    ] {
        let out = scratch(example).join("run");
        let status = std::process::Command::new(examples.join(example))
            .arg("--out")
            .arg(&out)
            .args(&args)
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap_or_else(|e| panic!("run the example {example} (built by `cargo test`): {e}"));
        assert!(status.success(), "{example} failed");
        assert_eq!(manifest(&out).status, Status::Completed, "{example}");
        let report = out.join("report");
        xtask::write_report(&out, Some(&report), xtask::Format::Svg).unwrap_or_else(|e| panic!("report of {example}: {e}"));
        let md = std::fs::read_to_string(report.join("report.md")).unwrap();
        assert!(md.contains(layer), "{example}'s report names {layer}");
    }
}

/// A Flow switched off (`GRADFLOW=off`) trains the same model and writes the manifest alone,
/// which says so.
#[test]
fn a_flow_switched_off_measures_nothing_and_says_so() {
    let dir = scratch("off").join("run");
    let device = Device::flex().autodiff();
    let mut model = Net::new(&device);
    let mut optim = SgdConfig::new().init();
    let mut flow = FlowConfig::new().with_enabled(false).with_steps_per_epoch(2).with_view(false).init(&dir, &model).unwrap();
    for s in 0..4 {
        let batch = Rows.batch(rows(8, s), &device);
        assert!(!flow.taps().is_on());
        let loss = model.regress(batch, flow.taps()).loss;
        let grads = loss.backward();
        model = flow.step(model, &loss, grads, |m, g| optim.step(0.1, m, g)).unwrap();
    }
    flow.finish().unwrap();
    let m = manifest(&dir);
    assert_eq!((m.status, m.reason.as_deref()), (Status::Completed, Some("telemetry was switched off (GRADFLOW=off)")));
    for file in ["steps.csv", "layers.csv", "epochs.csv"] {
        assert_eq!(csv(&dir, file).len(), 1, "{file} has its header alone");
    }
}

/// With `grads_accumulation(2)` the optimizer steps once per two batches: the run counts the
/// optimizer's steps, each with its two batches' mean loss.
#[test]
fn gradient_accumulation_counts_the_optimizers_steps() {
    let dir = scratch("accumulation");
    let out = dir.join("run");
    let device = Device::flex().autodiff();
    let model = Net::new(&device);
    let flow = FlowConfig::new().with_grads_accumulation(2).init_learner(&out, &model).unwrap();
    let optim: ModuleOptimizer = SgdConfig::new().init();
    let learner = Learner::new(model, optim, ConstantLr::new(0.05));
    // 96 examples in batches of 16: 6 batches, 3 optimizer steps per epoch.
    let result = SupervisedTraining::new(dir.join("burn"), loader(96, 16, 1), loader(32, 16, 2))
        .metrics(flow.metrics())
        .grads_accumulation(2)
        .with_application_logger(None)
        .num_epochs(2)
        .launch(learner);
    flow.close(&result).unwrap();
    let steps: Vec<(String, String)> = csv(&out, "steps.csv").into_iter().skip(1).map(|r| (r[1].clone(), r[2].clone())).collect();
    let want = [("1", "1"), ("1", "2"), ("1", "3"), ("2", "4"), ("2", "6")];
    assert_eq!(steps, want.map(|(e, s)| (e.to_string(), s.to_string())), "steps 1, 2, 4 by the cadence, 3 and 6 last of their epochs");
}

#[test]
fn a_model_without_parameters_is_an_error_naming_it() {
    #[derive(Module, Debug)]
    struct Empty {
        act: burn::nn::Relu,
    }
    let e = gradflow::Watch::new("encoder", &Empty { act: burn::nn::Relu::new() }).err().expect("nothing to watch");
    assert_eq!(e.to_string(), "model `encoder` has no parameters to watch");
}

/// A Learner run whose Flow metric was never registered closes `failed`, saying what to add.
#[test]
fn a_learner_without_the_flows_metric_is_told_to_register_it() {
    let dir = scratch("no-metric");
    let out = dir.join("run");
    let device = Device::flex().autodiff();
    let model = Net::new(&device);
    let flow = Flow::learner(&out, &model).unwrap();
    let optim: ModuleOptimizer = SgdConfig::new().init();
    let result = SupervisedTraining::new(dir.join("burn"), loader(32, 16, 1), loader(16, 16, 2))
        .with_application_logger(None)
        .launch(Learner::new(model, optim, ConstantLr::new(0.05)));
    let e = flow.close(&result).expect_err("no metric");
    assert!(e.to_string().contains(".metrics(flow.metrics())"), "{e}");
    assert_eq!(manifest(&out).status, Status::Failed);
}

/// The README's Learner lines are `examples/learner_mnist.rs`'s, which the tests build and
/// run: each line it marks `// + gradflow` is in the example as it is.
#[test]
fn the_readmes_learner_lines_are_the_examples() {
    let root = crate::common::root();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let example = std::fs::read_to_string(root.join("crates/gradflow/examples/learner_mnist.rs")).unwrap();
    let code = |line: &str| line.split("// + gradflow").next().unwrap_or("").trim().to_string();
    let example_lines: Vec<String> = example.lines().map(code).collect();
    let start = readme.find("**Under burn-train's `Learner`**").expect("the README's Learner section");
    let block = &readme[start..];
    let block = &block[block.find("```rust").expect("its code") + 7..];
    let block = &block[..block.find("```").unwrap()];
    let marked: Vec<String> = block.lines().filter(|l| l.contains("// + gradflow")).map(code).collect();
    assert_eq!(marked.len(), 8, "the README shows the eight lines");
    for line in &marked {
        assert!(example_lines.iter().any(|l| l == line), "README line `{line}` is not in learner_mnist.rs");
    }
}
