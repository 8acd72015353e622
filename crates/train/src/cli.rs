//! The command line: `train` (the default experiment), `train run`, `train check`,
//! `train tutorial`, `train bench` and `train diagnose`.

use crate::backend::Backend;
use crate::config;
use crate::trainer::{self, RunOptions, RunSummary};
use gradflow::runfolder::Status;
use gradflow::view::{self, View};
use anyhow::{Context, Result};
use chain::{Activation, Chain};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

/// Train deep MLPs and watch how gradients flow, and fail to flow, through every layer.
///
/// With no command, runs the default experiment (configs/default.toml): a deep sigmoid MLP
/// and a deep ReLU MLP side by side on the embedded MNIST subset.
#[derive(Debug, Parser)]
#[command(name = "train", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train the models of an experiment and write a run folder.
    Run(RunArgs),
    /// Parse and validate an experiment (and load its data) without training.
    Check(CheckArgs),
    /// Reproduce the tutorial's chain of one-neuron layers, autodiff against hand-written.
    Tutorial(TutorialArgs),
    /// Measure training throughput (steps per second) with and without telemetry.
    Bench(crate::bench::BenchArgs),
    /// Set the measured per-layer decay of the back-propagated error at initialization beside
    /// the mean-field theory's chi_1, for a grid of sigma_w^2.
    Diagnose(crate::diagnose::DiagnoseArgs),
}

#[derive(Debug, Args, Default)]
pub struct RunArgs {
    /// The experiment file.
    #[arg(long, short, default_value = "configs/default.toml")]
    pub config: PathBuf,
    /// Override a config key by its dotted path, e.g. --set models.sigmoid.depth=20 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// The run folder to write (must not exist or be empty); default runs/<timestamp>-<name>.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// The compute backend: flex or ndarray (CPU), wgpu or cuda (in a build with that feature).
    #[arg(long, default_value_t = Backend::Flex)]
    pub backend: Backend,
    /// Override the experiment's seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Print nothing while training (the run folder is written all the same).
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The experiment files to check.
    #[arg(required = true)]
    pub configs: Vec<PathBuf>,
    /// Override a config key by its dotted path (applied to every file).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
}

/// Which activations the tutorial runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TutorialActivation {
    Sigmoid,
    Relu,
    Tanh,
    LeakyRelu,
    Identity,
    /// Sigmoid and ReLU, the tutorial's pair.
    Both,
    /// Every activation.
    All,
}

#[derive(Debug, Args)]
pub struct TutorialArgs {
    /// Number of one-neuron layers (1..=1000).
    #[arg(long, default_value_t = 3)]
    pub depth: usize,
    /// Every weight.
    #[arg(long, default_value_t = 0.5, allow_negative_numbers = true)]
    pub weight: f64,
    /// The input.
    #[arg(long, default_value_t = 0.5, allow_negative_numbers = true)]
    pub input: f64,
    /// The target of the output.
    #[arg(long, default_value_t = 0.8, allow_negative_numbers = true)]
    pub target: f64,
    /// Every bias.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub bias: f64,
    /// The activation after every layer.
    #[arg(long, value_enum, default_value_t = TutorialActivation::Both)]
    pub activation: TutorialActivation,
    /// The compute backend for the autodiff pass: flex, ndarray, wgpu or cuda (wgpu and cuda in a build with that feature).
    #[arg(long, default_value_t = Backend::Flex)]
    pub backend: Backend,
    /// Print one JSON document instead of the report.
    #[arg(long)]
    pub json: bool,
}

impl TutorialArgs {
    pub fn chain(&self) -> Chain {
        Chain {
            depth: self.depth,
            weight: self.weight,
            bias: self.bias,
            input: self.input,
            target: self.target,
            activation: Activation::Sigmoid,
        }
    }

    pub fn activations(&self) -> Vec<Activation> {
        match self.activation {
            TutorialActivation::Sigmoid => vec![Activation::Sigmoid],
            TutorialActivation::Relu => vec![Activation::Relu],
            TutorialActivation::Tanh => vec![Activation::Tanh],
            TutorialActivation::LeakyRelu => vec![Activation::LeakyRelu],
            TutorialActivation::Identity => vec![Activation::Identity],
            TutorialActivation::Both => vec![Activation::Sigmoid, Activation::Relu],
            TutorialActivation::All => Activation::ALL.to_vec(),
        }
    }
}

/// Runs a parsed command line.
pub fn run(cli: Cli, stop: &AtomicBool) -> Result<ExitCode> {
    match cli.command {
        None => {
            let args = RunArgs { config: default_config(), ..RunArgs::default() };
            run_experiment(&args, stop)
        }
        Some(Command::Run(args)) => run_experiment(&args, stop),
        Some(Command::Check(args)) => {
            for path in &args.configs {
                let (exp, dataset) = load_experiment(path, &args.sets)?;
                println!("{}: ok ({} model(s), {} training examples)", path.display(), exp.models.0.len(), dataset.train.len);
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Tutorial(args)) => {
            let chain = args.chain();
            chain.validate().map_err(|m| anyhow::anyhow!("tutorial: --{m}"))?;
            args.backend.open()?;
            let results = crate::tutorial::run(&chain, &args.activations(), args.backend);
            if args.json {
                println!("{}", crate::tutorial::to_json(&chain, &results));
            } else {
                print!("{}", crate::tutorial::render(&chain, &results));
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Bench(args)) => crate::bench::run(&args),
        Some(Command::Diagnose(args)) => crate::diagnose::run_cli(&args),
    }
}

/// `configs/default.toml` in the current folder, or in the workspace this binary was built
/// from (so that `cargo run -p train` works from any folder of the checkout).
fn default_config() -> PathBuf {
    let local = PathBuf::from("configs/default.toml");
    if local.exists() {
        return local;
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/default.toml")
}

/// Reads and validates an experiment, loads its data, and checks what needs the data and
/// that the run fits in memory: all before anything is created or trained.
fn load_experiment(path: &Path, sets: &[String]) -> Result<(config::Experiment, data::Dataset)> {
    let exp = config::load(path, sets)?;
    let dataset = data::load(&exp.data, exp.seed).with_context(|| format!("config {}", path.display()))?;
    exp.validate_with_data(&dataset).map_err(|e| anyhow::anyhow!("config {}: {e}", path.display()))?;
    crate::memory::check(&exp, &dataset).map_err(|e| anyhow::anyhow!("config {}: {e}", path.display()))?;
    Ok((exp, dataset))
}

/// Loads, validates, trains, and prints the summary.
pub fn run_experiment(args: &RunArgs, stop: &AtomicBool) -> Result<ExitCode> {
    let mut sets = args.sets.clone();
    if let Some(seed) = args.seed {
        sets.push(format!("seed={seed}"));
    }
    let (exp, dataset) = load_experiment(&args.config, &sets)?;
    let out = args.out.clone().unwrap_or_else(|| trainer::default_out(Path::new("."), &exp.name));
    // On a GPU, the estimate against the device's memory too, where burn reports it. A
    // backend that does not open is left to the run, which closes its folder `failed` with why.
    if matches!(args.backend, Backend::Wgpu | Backend::Cuda) && args.backend.open().is_ok() {
        match crate::memory::check_device(&exp, &dataset, args.backend) {
            Ok(Some(_)) => {}
            Ok(None) if exp.train.memory_limit_gb.is_none() => tracing::warn!(
                "cannot check the run against the {} device's memory: burn reports no capacity for it (`--set {}=<GB>` checks against a limit of your own)",
                args.backend.name(),
                crate::memory::LIMIT_KEY
            ),
            Ok(None) => {}
            Err(e) => anyhow::bail!("config {}: {e}", args.config.display()),
        }
    }
    let view: Box<dyn View> = if args.quiet { Box::new(view::Silent) } else { view::for_stdout() };
    if !args.quiet {
        println!(
            "experiment `{}`: {} on {} ({} train / {} test), {} epoch(s), backend {}",
            exp.name,
            exp.models.0.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(" vs "),
            dataset.name,
            dataset.train.len,
            dataset.test.len,
            exp.train.epochs,
            args.backend.name()
        );
    }
    let summary = trainer::run(&exp, &dataset, RunOptions { backend: args.backend, out, stop }, view)?;
    if !args.quiet {
        print!("{}", render_summary(&summary));
    }
    Ok(match summary.status {
        Status::Completed => ExitCode::SUCCESS,
        Status::Interrupted => ExitCode::from(130),
        _ => ExitCode::from(1),
    })
}

/// The end-of-run table and what to do next.
pub fn render_summary(s: &RunSummary) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    // A ratio of exactly 0 means layer 1's float32 gradient underflowed to zero everywhere.
    let ratio = |r: Option<f64>| match r {
        None => "-".to_string(),
        Some(r) if r == 0.0 => "0 (underflow)".to_string(),
        Some(r) => format!("{r:.2e}"),
    };
    let _ = writeln!(out, "\n{:<14} {:>13} {:>10} {:>22} {:>20}", "model", "test accuracy", "test loss", "grad L1/Llast at init", "grad L1/Llast at end");
    for m in &s.models {
        let acc = m.test_accuracy.map_or("-".to_string(), |a| format!("{:.2}%", 100.0 * a));
        let _ = writeln!(out, "{:<14} {:>13} {:>10.4} {:>22} {:>20}", m.name, acc, m.test_loss, ratio(m.ratio_start), ratio(m.ratio_end));
    }
    for m in &s.models {
        if let Some(d) = &m.diverged {
            let _ = writeln!(out, "{} diverged at step {} (epoch {}) and stopped there: {}", m.name, d.step, d.epoch, d.reason);
        }
    }
    // The diagnosis, a few lines per model (all of it is in diagnosis.json).
    if let Some(d) = &s.diagnosis {
        let _ = writeln!(out, "\ndiagnosis:");
        for m in &d.models {
            for line in diagnosis::model_lines(m) {
                let _ = writeln!(out, "  {line}");
            }
        }
    }
    let status = format!("{:?}", s.status).to_lowercase();
    match &s.reason {
        Some(r) => {
            let _ = writeln!(out, "\nrun {status}: {r}");
        }
        None => {
            let _ = writeln!(out, "\nrun {status}");
        }
    }
    let _ = writeln!(out, "run folder: {}", s.path.display());
    let _ = writeln!(out, "report:     cargo xtask report {}", s.path.display());
    if s.diagnosis.is_some() {
        let _ = writeln!(out, "diagnosis:  {}", s.path.join(gradflow::runfolder::DIAGNOSIS).display());
    }
    out
}
