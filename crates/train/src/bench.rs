//! `train bench`: steady-state training throughput of deep MLPs, of recurrent networks on the
//! adding problem and of a CNN, plain and with the project's telemetry at its default cadence,
//! in the JSON-lines format of the PyTorch reference scripts (`pytorch_mlp.py`,
//! `pytorch_rnn.py`, `pytorch_cnn.py`), so that the two can be compared side by side.

use crate::backend::Backend;
use crate::config::{LossKind, NetConfig, OptimizerSpec, TelemetrySpec};
use crate::batches::Batch;
use crate::step::{Trainee, train_step};
use gradflow::Cadence;
use crate::compute::ComputeThreads;
use anyhow::{Context, Result, bail};
use burn::prelude::*;
use chain::Activation;
use clap::Args;
use models::{Cell, CnnConfig, Norm, RecurrentConfig, presets};
use prng::Rng;
use serde_json::json;
use std::process::ExitCode;
use std::time::Instant;

const IN_DIM: usize = 784;
const CLASSES: usize = 10;

/// One of the benchmark's models, as the reference script of its family names and builds it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BenchConfig {
    pub name: &'static str,
    /// Hidden layers (an MLP), the sequence length T (a recurrent net) or the convolutions
    /// per stage (a CNN).
    pub depth: usize,
    /// Hidden width (an MLP), hidden size (a recurrent net) or the last stage's channels (a
    /// CNN).
    pub width: usize,
    pub activation: Activation,
    pub norm: Norm,
    pub residual: bool,
    pub family: Family,
}

/// The kind of network a benchmark configuration trains.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Family {
    /// An MLP on synthetic 784-wide inputs (`bench/pytorch_mlp.py`).
    Mlp,
    /// A recurrent network of this cell on the adding problem (`bench/pytorch_rnn.py`).
    Recurrent(Cell),
    /// The models crate's CNN on synthetic 1x28x28 images: [`CNN_STAGES`] of `depth`
    /// convolutions each (`bench/pytorch_cnn.py --config cnn`).
    Cnn,
}

const fn plain(name: &'static str, depth: usize, width: usize, activation: Activation) -> BenchConfig {
    BenchConfig { name, depth, width, activation, norm: Norm::None, residual: false, family: Family::Mlp }
}

/// The adding problem's setup of the recurrent benchmarks, as `bench/pytorch_rnn.py` has it.
const fn recurrent(name: &'static str, cell: Cell) -> BenchConfig {
    BenchConfig { name, depth: 100, width: 128, activation: Activation::Tanh, norm: Norm::None, residual: false, family: Family::Recurrent(cell) }
}

/// The CNN benchmark's channels per stage (`CNN_STAGES` in `bench/pytorch_cnn.py`).
pub const CNN_STAGES: [usize; 3] = [8, 16, 32];

/// The recurrent benchmarks' optimizer (Adam, lr 1e-3, PyTorch's betas and epsilon) and
/// global clipping norm.
const RECURRENT_LR: f64 = 1e-3;
const RECURRENT_CLIP: f64 = 1.0;

/// The benchmark's models.
pub const CONFIGS: [BenchConfig; 9] = [
    plain("a", 10, 256, Activation::Sigmoid),
    plain("b", 10, 256, Activation::Relu),
    plain("c", 50, 64, Activation::Sigmoid),
    plain("d", 4, 1024, Activation::Relu),
    // a with the remedies: LayerNorm before each activation, and a residual skip around every
    // 256 -> 256 layer.
    BenchConfig { name: "e", depth: 10, width: 256, activation: Activation::Sigmoid, norm: Norm::Layer, residual: true, family: Family::Mlp },
    // The adding problem at T = 100, hidden 128, batch 128: Adam 1e-3, global clipping at 1,
    // a read-out from the last state.
    recurrent("rnn", Cell::Rnn),
    recurrent("lstm", Cell::Lstm),
    recurrent("gru", Cell::Gru),
    // Three stages of 8, 16 and 32 channels, two 3x3 ReLU convolutions each, the first of
    // the later stages with stride 2; global average pooling and a linear head.
    BenchConfig { name: "cnn", depth: 2, width: 32, activation: Activation::Relu, norm: Norm::None, residual: false, family: Family::Cnn },
];

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Comma-separated configurations: a (10x256 sigmoid), b (10x256 ReLU), c (50x64 sigmoid),
    /// d (4x1024 ReLU), e (a with LayerNorm and residual skips), rnn, lstm and gru (the
    /// adding problem, T = 100, hidden 128, Adam), cnn (three stages of two 3x3 ReLU
    /// convolutions, 8 to 32 channels, on 1x28x28 images), or `all`.
    #[arg(long, default_value = "all")]
    pub config: String,
    /// Comma-separated modes: `plain` and `telemetry` (the default cadence).
    #[arg(long, default_value = "plain,telemetry")]
    pub modes: String,
    /// Examples per batch.
    #[arg(long, default_value_t = 128)]
    pub batch: usize,
    /// SGD learning rate.
    #[arg(long, default_value_t = 0.1)]
    pub lr: f64,
    /// Untimed warm-up steps (also used to calibrate the steps per round).
    #[arg(long, default_value_t = 20)]
    pub warmup: usize,
    /// Fixed steps per round (0: calibrate to about --target-s seconds).
    #[arg(long, default_value_t = 0)]
    pub steps: usize,
    /// Target seconds per round when calibrating.
    #[arg(long, default_value_t = 1.5)]
    pub target_s: f64,
    /// Timed rounds; each round runs every mode once, interleaved.
    #[arg(long, default_value_t = 7)]
    pub repeats: usize,
    /// Seed of the synthetic data and the weights.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The compute backend: flex or ndarray (CPU), wgpu or cuda (in a build with that feature).
    #[arg(long, default_value_t = Backend::Flex)]
    pub backend: Backend,
    /// Where the telemetry reduces the parameters: auto (the host on flex, the device
    /// elsewhere), host or device; to compare the two paths on one backend.
    #[arg(long, value_enum, default_value_t = ReductionArg::Auto)]
    pub reduction: ReductionArg,
    /// Flush subnormal floats to zero on the training threads, as `train run` does by
    /// default (`false`: IEEE arithmetic; the reference script's `--flush-denormal` is `true`).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub flush_denormals: bool,
}

/// `--reduction`: gradflow's [`gradflow::Reduction`], as a flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ReductionArg {
    /// The host on flex, the device on the other backends.
    Auto,
    /// Every tensor read back and reduced on the host.
    Host,
    /// Reduced on the device, only scalars and counts read back.
    Device,
}

impl From<ReductionArg> for gradflow::Reduction {
    fn from(r: ReductionArg) -> gradflow::Reduction {
        match r {
            ReductionArg::Auto => gradflow::Reduction::Auto,
            ReductionArg::Host => gradflow::Reduction::Host,
            ReductionArg::Device => gradflow::Reduction::Device,
        }
    }
}

/// Runs the benchmark and prints JSON lines.
pub fn run(args: &BenchArgs) -> Result<ExitCode> {
    args.backend.open()?;
    let configs: Vec<_> = if args.config == "all" {
        CONFIGS.to_vec()
    } else {
        let mut v = Vec::new();
        for name in args.config.split(',').filter(|s| !s.is_empty()) {
            match CONFIGS.iter().find(|c| c.name == name) {
                Some(c) => v.push(*c),
                None => bail!("bench --config: unknown configuration `{name}`, expected a, b, c, d, e, rnn, lstm, gru, cnn or all"),
            }
        }
        v
    };
    let modes: Vec<&str> = args.modes.split(',').filter(|s| !s.is_empty()).collect();
    if let Some(m) = modes.iter().find(|m| !matches!(**m, "plain" | "telemetry")) {
        bail!("bench --modes: unknown mode `{m}`, expected plain or telemetry");
    }
    if args.batch == 0 || args.repeats == 0 {
        bail!("bench: --batch and --repeats must be at least 1");
    }
    // The threads that train, as in `train run`.
    let threads = ComputeThreads::new(args.flush_denormals).context("cannot start the training threads")?;
    println!(
        "{}",
        json!({
            "kind": "mlp_env", "impl": format!("burn-{}", args.backend.name()), "burn": "0.22.1",
            "threads": threads.threads(), "nproc": std::thread::available_parallelism().map_or(1, |n| n.get()),
            "flush_denormal": threads.flushing(),
            "cpu": cpu_model(), "argv": std::env::args().skip(1).collect::<Vec<_>>(),
        })
    );
    threads.install(|| {
        for c in configs {
            bench_config(args, &threads, &c, &modes);
        }
    });
    Ok(ExitCode::SUCCESS)
}

fn bench_config(args: &BenchArgs, threads: &ComputeThreads, c: &BenchConfig, modes: &[&str]) {
    let BenchConfig { name, depth, width, activation: act, .. } = *c;
    let device = args.backend.autodiff_device();
    let plain_device = args.backend.plain_device();
    let defaults = TelemetrySpec::default();
    let cadence = Cadence { every: defaults.every, early: defaults.early };
    let (net, optimizer, clip, loss, lr, batches, flops_per_step) = match c.family {
        Family::Mlp => {
            // PyTorch's default initialization, as in the reference script.
            let preset = match act {
                Activation::Relu => presets::deep_relu(IN_DIM, depth, width, CLASSES),
                _ => presets::deep_sigmoid(IN_DIM, depth, width, CLASSES),
            };
            let config = preset
                .with_init(models::Init::Legacy)
                .with_bias_init(models::BiasInit::SameAsWeight)
                .with_norm(c.norm)
                .with_residual(c.residual, false)
                .with_seed(args.seed);
            let macs: usize = config.sizes().windows(2).map(|w| w[0] * w[1]).sum();
            let sgd = OptimizerSpec::Sgd { lr: args.lr, momentum: 0.0, weight_decay: 0.0 };
            (NetConfig::Mlp(config), sgd, None, LossKind::CrossEntropy, args.lr, synthetic_batches(args, &plain_device), 3 * 2 * args.batch * macs)
        }
        Family::Recurrent(cell) => {
            // PyTorch's initialization of its recurrent modules, as in the reference script.
            let config = RecurrentConfig::new(cell, 2, depth, width, 1).with_seed(args.seed);
            let adam = OptimizerSpec::Adam { lr: RECURRENT_LR, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.0 };
            // Per step: the input and recurrent products of every gate, forward and backward.
            let g = cell.gates();
            let macs = depth * (2 * g * width + g * width * width) + width;
            (NetConfig::Recurrent(config), adam, Some(RECURRENT_CLIP), LossKind::Mse, RECURRENT_LR, adding_batches(args, depth, &plain_device), 3 * 2 * args.batch * macs)
        }
        Family::Cnn => {
            // PyTorch's default initialization, as in the reference script.
            let config = CnnConfig {
                input: [1, 28, 28],
                channels: CNN_STAGES.to_vec(),
                depth,
                block: models::Block::Single,
                output: CLASSES,
                activation: act,
                init: models::Init::Legacy,
                bias_init: models::BiasInit::SameAsWeight,
                norm: c.norm,
                residual: c.residual,
                seed: args.seed,
            };
            let area = 9;
            let macs: usize = config
                .convs()
                .iter()
                .map(|v| v.out_size[0] * v.out_size[1] * v.out_channels * v.in_channels * area)
                .sum::<usize>()
                + width * CLASSES;
            let sgd = OptimizerSpec::Sgd { lr: args.lr, momentum: 0.0, weight_decay: 0.0 };
            (NetConfig::Cnn(config), sgd, None, LossKind::CrossEntropy, args.lr, synthetic_batches(args, &plain_device), 3 * 2 * args.batch * macs)
        }
    };
    let n_params = net.num_params();
    let mut trainee = Trainee::new(name.to_string(), net, &optimizer, clip, cadence.clone(), &device);
    trainee.watch.set_reduction(args.reduction.into());

    let mut k = 0usize;
    // Returns whether the step was logged.
    let step = |trainee: &mut Trainee, mode: &str, k: &mut usize| {
        let batch = &batches[*k % batches.len()];
        *k += 1;
        let logged = mode == "telemetry" && cadence.is_logged(*k, false);
        // A diverging benchmark still measures time; its numbers are not used.
        let _ = train_step(trainee, batch, args.batch, loss, lr, logged);
        logged
    };
    // Each step of the telemetry rounds, timed on its own: (logged?, seconds).
    let mut step_times: Vec<(bool, f64)> = Vec::new();
    let t0 = Instant::now();
    for i in 0..args.warmup {
        step(&mut trainee, modes[i % modes.len()], &mut k);
    }
    let per = t0.elapsed().as_secs_f64() / args.warmup.max(1) as f64;
    let steps = if args.steps > 0 { args.steps } else { ((args.target_s / per.max(1e-6)) as usize).max(20) };

    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); modes.len()];
    for r in 0..args.repeats {
        for (mi, mode) in modes.iter().enumerate() {
            let t0 = Instant::now();
            for _ in 0..steps {
                let start = Instant::now();
                let logged = step(&mut trainee, mode, &mut k);
                if *mode == "telemetry" {
                    step_times.push((logged, start.elapsed().as_secs_f64()));
                }
            }
            let dt = t0.elapsed().as_secs_f64();
            let sps = steps as f64 / dt;
            rates[mi].push(sps);
            println!(
                "{}",
                json!({
                    "kind": "mlp_repeat", "config": name, "depth": depth, "width": width, "act": act.name(),
                    "mode": mode, "repeat": r, "steps": steps, "seconds": round(dt, 4),
                    "steps_per_s": round(sps, 3), "ms_per_step": round(1e3 / sps, 4),
                })
            );
        }
    }
    let plain = modes.iter().position(|m| *m == "plain");
    for (mi, mode) in modes.iter().enumerate() {
        let med = median(&rates[mi]);
        let mut summary = json!({
            "kind": "mlp_summary", "impl": format!("burn-{}", args.backend.name()), "config": name,
            "reduction": format!("{:?}", args.reduction).to_lowercase(),
            "depth": depth, "width": width, "act": act.name(), "norm": c.norm.name(), "residual": c.residual,
            "mode": mode, "batch": args.batch, "lr": lr, "cell": match c.family { Family::Recurrent(cell) => Some(cell.name()), _ => None },
            "family": match c.family { Family::Mlp => "mlp", Family::Recurrent(_) => "recurrent", Family::Cnn => "cnn" },
            "threads": threads.threads(), "flush_denormal": threads.flushing(), "n_params": n_params,
            "flops_per_step": flops_per_step, "steps_per_repeat": steps, "repeats": args.repeats,
            "steps_per_s_median": round(med, 3),
            "steps_per_s_min": round(rates[mi].iter().cloned().fold(f64::INFINITY, f64::min), 3),
            "steps_per_s_max": round(rates[mi].iter().cloned().fold(0.0, f64::max), 3),
            "ms_per_step_median": round(1e3 / med, 4),
            "samples_per_s_median": round(med * args.batch as f64, 1),
            "gflops_median": round(med * flops_per_step as f64 / 1e9, 2),
            "steps_total": k, "maxrss_kb_so_far": peak_rss_kb(),
        });
        if let (Some(p), true) = (plain, *mode != "plain") {
            // Paired per-round overhead: this mode's time over the plain round just before it.
            let ratios: Vec<f64> = rates[p].iter().zip(&rates[mi]).map(|(a, b)| a / b - 1.0).collect();
            summary["overhead_vs_plain_paired_median_pct"] = json!(round(100.0 * median(&ratios), 2));
            summary["overhead_vs_plain_of_medians_pct"] = json!(round(100.0 * (median(&rates[p]) / med - 1.0), 2));
        }
        if *mode == "telemetry" {
            // The cost of the telemetry from the steps themselves, which noise between rounds
            // does not touch: what a logged step takes beyond an unlogged one (medians), spread
            // over all steps, as a share of an unlogged step.
            let times = |logged: bool| step_times.iter().filter(|t| t.0 == logged).map(|t| t.1).collect::<Vec<f64>>();
            let (on, off) = (times(true), times(false));
            if !on.is_empty() && !off.is_empty() {
                let (on_ms, off_ms) = (1e3 * median(&on), 1e3 * median(&off));
                let share = on.len() as f64 / step_times.len() as f64;
                summary["logged_step_ms_median"] = json!(round(on_ms, 4));
                summary["unlogged_step_ms_median"] = json!(round(off_ms, 4));
                summary["logged_share_of_steps"] = json!(round(share, 4));
                summary["overhead_from_step_times_pct"] = json!(round(100.0 * (on_ms - off_ms) * share / off_ms, 2));
            }
        }
        println!("{summary}");
    }
}

/// A pool of 16 batches of the adding problem at `steps` time steps.
fn adding_batches(args: &BenchArgs, steps: usize, device: &Device) -> Vec<Batch> {
    let mut rng = Rng::derive(args.seed, &[2]);
    (0..16)
        .map(|_| {
            let (x, y) = data::adding::generate(args.batch, steps, &mut rng);
            Batch {
                x: Tensor::<2>::from_data(TensorData::new(x, [args.batch, steps * data::adding::FEATURES_PER_STEP]), device),
                classes: None,
                values: Some(Tensor::<2>::from_data(TensorData::new(y, [args.batch, 1]), device)),
            }
        })
        .collect()
}

/// A pool of 16 batches of standard-normal inputs with uniform labels, as the reference does.
fn synthetic_batches(args: &BenchArgs, device: &Device) -> Vec<Batch> {
    let mut rng = Rng::derive(args.seed, &[1]);
    (0..16)
        .map(|_| {
            let x: Vec<f32> = (0..args.batch * IN_DIM).map(|_| rng.normal() as f32).collect();
            let y: Vec<i64> = (0..args.batch).map(|_| rng.below(CLASSES) as i64).collect();
            Batch {
                x: Tensor::<2>::from_data(TensorData::new(x, [args.batch, IN_DIM]), device),
                classes: Some(Tensor::<1, Int>::from_data(TensorData::new(y, [args.batch]), device)),
                values: None,
            }
        })
        .collect()
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    match s.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

fn round(v: f64, digits: i32) -> f64 {
    let p = 10f64.powi(digits);
    (v * p).round() / p
}

/// Peak resident memory (VmHWM) in kB; `None` where /proc is not there (not Linux), which
/// the JSON reports as null.
fn peak_rss_kb() -> Option<u64> {
    let status = match std::fs::read_to_string("/proc/self/status") {
        Ok(s) => s,
        Err(_) => return None,
    };
    status.lines().find_map(|l| l.strip_prefix("VmHWM:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The CPU's model name from /proc/cpuinfo; `None` (null) where it is not there.
fn cpu_model() -> Option<String> {
    let info = match std::fs::read_to_string("/proc/cpuinfo") {
        Ok(s) => s,
        Err(_) => return None,
    };
    info.lines().find_map(|l| l.strip_prefix("model name")).map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
}
