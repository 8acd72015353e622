//! `train diagnose`: the mean-field theory beside the measurement. Nets are built at
//! initialization, with no training, for each sigma_w^2 and seed; one full-batch forward and
//! backward pass on a probe set of the data measures every hidden layer's back-propagated
//! error ||dL/dz|| through `gradflow`'s taps, and a least-squares fit of ln ||delta||^2
//! against depth gives the per-layer factor that the theory predicts to be chi_1
//! (`meanfield`; Poole et al. 2016, Schoenholz et al. 2017).
//!
//! The nets are the theory's: W ~ N(0, sigma_w^2 / n_in) in every layer (the output layer
//! too), b ~ N(0, sigma_b^2), every hidden layer `width` wide. The fit leaves out `--skip`
//! layers at each end, where the theory's assumptions fail:
//! - at the input, the pre-activation variance starts at the data's
//!   q^1 = sigma_w^2 mean(x^2) + sigma_b^2 (0.10 sigma_w^2 for MNIST scaled to [0, 1]), not at
//!   q*, and takes a few layers to converge (the piecewise-linear activations, whose chi_1
//!   does not depend on q, are immune);
//! - at the output, the error enters through the output layer's 10 units: the first step
//!   back mixes a 10-dimensional error into `width` units, whose statistics take a layer to
//!   become those of the bulk.
//!
//! Layers whose error fell below 1e-30 (float32 loses its entries below 1.2e-38, and with
//! them the norm) are left out of the fit too, and a net with fewer than two layers left has
//! no measured factor.
//!
//! With `--spectrum K`, the singular values of every hidden layer's Jacobian and of the
//! input-output Jacobian from the first hidden layer's output to each later one are computed
//! at the first K probe examples (`jacobian.rs`), summarized per layer (mean squared
//! singular value beside chi, the spread beside free probability's prediction, the largest
//! and the quantiles: `meanfield::spectrum`) and written to `diagnose_spectrum.csv`.

use crate::backend::Backend;
use crate::batches::SplitTensors;
use crate::compute::ComputeThreads;
use crate::config::LossKind;
use crate::loss::loss_and_correct;
use anyhow::{Context, Result, bail};
use chain::Activation;
use clap::Args;
use gradflow::runfolder::{self, DiagnoseInfo, diagnose as names};
use gradflow::{Taps, Watch};
use crate::jacobian::{self, HiddenSpectra};
use meanfield::spectrum::Summary;
use models::{BiasInit, Init, MlpConfig};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Below this mean norm a layer's error is taken to have underflowed and is not fitted.
pub const UNDERFLOW: f64 = 1e-30;

#[derive(Debug, Args, Clone)]
pub struct DiagnoseArgs {
    /// The hidden activation: tanh, sigmoid, relu, leaky-relu or identity.
    #[arg(long, value_parser = parse_activation, default_value = "tanh")]
    pub activation: Activation,
    /// sigma_w^2: one value, a comma-separated list, or start:stop:count (count values evenly spaced, both ends included).
    #[arg(long, value_parser = parse_grid, default_value = "1.0:4.0:13", allow_negative_numbers = true)]
    pub weight_var: Grid,
    /// sigma_b^2, the biases' variance.
    #[arg(long, default_value_t = 0.05, allow_negative_numbers = true)]
    pub bias_var: f64,
    /// Hidden layers.
    #[arg(long, default_value_t = 50)]
    pub depth: usize,
    /// Units per hidden layer.
    #[arg(long, default_value_t = 256)]
    pub width: usize,
    /// The data the probe examples come from (a data.source, e.g. mnist-10k, digits).
    #[arg(long, default_value = "mnist-10k")]
    pub data: String,
    /// Probe examples: a stratified, seeded subset of the training split.
    #[arg(long, default_value_t = 1000)]
    pub probe: usize,
    /// Nets per sigma_w^2, with seeds seed, seed + 1, ...
    #[arg(long, default_value_t = 3)]
    pub seeds: usize,
    /// How the weights are drawn, each with variance sigma_w^2 / n_in: normal (Gaussian),
    /// uniform (Glorot and Bengio's standard and normalized initializations are uniform with
    /// sigma_w^2 = 1/3 and 1), or orthogonal (a scaled random orthogonal matrix).
    #[arg(long, value_enum, default_value_t = WeightInit::Normal)]
    pub init: WeightInit,
    /// Probe examples at which each net's Jacobians' singular values are computed (0: none;
    /// the cost per example and net is in BENCHMARKS.md).
    #[arg(long, default_value_t = 0)]
    pub spectrum: usize,
    /// The first seed (also picks the probe set).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Layers left out of the fit at each end (see the command's documentation).
    #[arg(long, default_value_t = 3)]
    pub skip: usize,
    /// The folder to write (must not exist or be empty); default runs/<timestamp>-diagnose.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// The compute backend: flex or ndarray (CPU), wgpu or cuda (in a build with that feature).
    #[arg(long, default_value_t = Backend::Flex)]
    pub backend: Backend,
    /// Print nothing (the folder is written all the same).
    #[arg(long, short)]
    pub quiet: bool,
}

/// How `train diagnose` draws its weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum WeightInit {
    Normal,
    Uniform,
    Orthogonal,
}

impl WeightInit {
    /// The name `diagnose.json` records.
    pub fn name(self) -> &'static str {
        match self {
            WeightInit::Normal => "normal",
            WeightInit::Uniform => "uniform",
            WeightInit::Orthogonal => "orthogonal",
        }
    }

    /// The models crate's initializer with variance sigma_w^2 / fan_in (for orthogonal: every
    /// column, or row, of unit norm times sigma_w).
    pub fn init(self, sw2: f64) -> Init {
        let gain = sw2.sqrt();
        match self {
            WeightInit::Normal => Init::KaimingNormal { gain },
            WeightInit::Uniform => Init::KaimingUniform { gain },
            WeightInit::Orthogonal => Init::Orthogonal { gain },
        }
    }

    /// The law free probability needs for the spread of the spectrum.
    pub fn law(self) -> meanfield::spectrum::WeightLaw {
        match self {
            WeightInit::Normal | WeightInit::Uniform => meanfield::spectrum::WeightLaw::Iid,
            WeightInit::Orthogonal => meanfield::spectrum::WeightLaw::Orthogonal,
        }
    }
}

/// Values of sigma_w^2, ascending.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid(pub Vec<f64>);

fn parse_activation(s: &str) -> Result<Activation, String> {
    Activation::from_name(s)
        .ok_or_else(|| format!("unknown activation `{s}`, expected one of {}", Activation::ALL.map(Activation::name).join(", ")))
}

/// `2.0`, `1,2,3` or `1.0:4.0:13`.
pub fn parse_grid(s: &str) -> Result<Grid, String> {
    let number = |t: &str| t.trim().parse::<f64>().map_err(|_| format!("`{t}` is not a number (in `{s}`)"));
    let mut values = if let Some((start, rest)) = s.split_once(':') {
        let Some((stop, count)) = rest.split_once(':') else {
            return Err(format!("`{s}`: expected start:stop:count, e.g. 1.0:4.0:13"));
        };
        let (start, stop) = (number(start)?, number(stop)?);
        let count: usize = count.trim().parse().map_err(|_| format!("`{count}` is not a count (in `{s}`)"))?;
        match count {
            0 => return Err(format!("`{s}`: the count must be at least 1")),
            1 => vec![start],
            _ => (0..count).map(|i| start + (stop - start) * i as f64 / (count - 1) as f64).collect(),
        }
    } else {
        s.split(',').map(number).collect::<Result<Vec<f64>, String>>()?
    };
    if let Some(bad) = values.iter().find(|v| !(v.is_finite() && **v > 0.0)) {
        return Err(format!("sigma_w^2 must be positive and finite, got {bad} (in `{s}`)"));
    }
    if values.len() > 10_000 {
        return Err(format!("`{s}`: at most 10000 values"));
    }
    values.sort_by(f64::total_cmp);
    values.dedup();
    Ok(Grid(values))
}

/// The theory's activation for the project's.
pub fn theory_activation(a: Activation) -> meanfield::Activation {
    match a {
        Activation::Tanh => meanfield::Activation::Tanh,
        Activation::Sigmoid => meanfield::Activation::Sigmoid,
        Activation::Relu => meanfield::Activation::Relu,
        Activation::LeakyRelu => meanfield::Activation::LeakyRelu { slope: chain::LEAKY_SLOPE },
        Activation::Identity => meanfield::Activation::Identity,
    }
}

/// One net's result.
#[derive(Clone, Debug, PartialEq)]
pub struct NetResult {
    pub weight_var: f64,
    pub seed: u64,
    /// Hidden layer l's mean ||dL/dz|| at index l - 1.
    pub delta_norms: Vec<f64>,
    /// The fitted per-layer factor of ||delta||^2 toward the input (`None`: too few layers
    /// above the underflow to fit).
    pub measured_factor: Option<f64>,
    /// Which layers (1-based) entered the fit.
    pub fitted: Vec<usize>,
    /// With `--spectrum`: per hidden layer from 2, the singular values of its Jacobian and of
    /// the input-output Jacobian from layer 2 to it, over the examples.
    pub spectra: Vec<HiddenSpectra>,
}

/// What a diagnose run measured and predicted.
#[derive(Clone, Debug)]
pub struct Diagnosis {
    pub info: DiagnoseInfo,
    pub nets: Vec<NetResult>,
    /// Per sigma_w^2 (the grid's order): the theory at the fixed point.
    pub predictions: Vec<meanfield::Prediction>,
    pub path: PathBuf,
    /// How the weights were drawn, as free probability sees it.
    pub law: meanfield::spectrum::WeightLaw,
    /// The activation, as the theory names it.
    pub phi: meanfield::Activation,
}

/// The least-squares slope of ln(norm^2) against the layer number over `layers`, as a factor
/// per layer toward the input (layer l - 1 over layer l): exp(-slope).
pub fn fit_factor(delta_norms: &[f64], layers: &[usize]) -> Option<f64> {
    if layers.len() < 2 {
        return None;
    }
    let points: Vec<(f64, f64)> = layers.iter().map(|&l| (l as f64, 2.0 * delta_norms[l - 1].ln())).collect();
    let n = points.len() as f64;
    let (mx, my) = (points.iter().map(|p| p.0).sum::<f64>() / n, points.iter().map(|p| p.1).sum::<f64>() / n);
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    Some((-sxy / sxx).exp())
}

/// Checks the arguments; the message names the flag.
fn validate(args: &DiagnoseArgs) -> Result<()> {
    if args.depth == 0 || args.depth > 10_000 {
        bail!("--depth must be between 1 and 10000, got {}", args.depth);
    }
    if args.width == 0 {
        bail!("--width must be at least 1");
    }
    if args.probe == 0 {
        bail!("--probe must be at least 1");
    }
    if args.seeds == 0 {
        bail!("--seeds must be at least 1");
    }
    if args.spectrum > args.probe {
        bail!("--spectrum {} asks for more examples than --probe {} has", args.spectrum, args.probe);
    }
    if args.spectrum > 0 && args.depth < 2 {
        bail!("--spectrum needs at least 2 hidden layers (the spectrum is of layers 2 and up), got --depth {}", args.depth);
    }
    if !(args.bias_var.is_finite() && args.bias_var >= 0.0) {
        bail!("--bias-var must be a finite number >= 0, got {}", args.bias_var);
    }
    if args.depth < 2 * args.skip + 2 {
        bail!(
            "--depth {} leaves fewer than 2 layers to fit after --skip {} at each end: use a depth of at least {}",
            args.depth,
            args.skip,
            2 * args.skip + 2
        );
    }
    Ok(())
}

/// Measures, writes the folder, and returns what it found.
pub fn run(args: &DiagnoseArgs) -> Result<Diagnosis> {
    validate(args)?;
    args.backend.open()?;
    let spec = data::DataSpec { source: args.data.clone(), ..data::DataSpec::default() };
    spec.validate().map_err(|m| anyhow::anyhow!("--data: {m}"))?;
    let dataset = data::load(&spec, args.seed).with_context(|| format!("--data {}", args.data))?;
    if args.probe > dataset.train.len {
        bail!("--probe {} is larger than the training set of {} ({} examples)", args.probe, args.data, dataset.train.len);
    }
    let out = args.out.clone().unwrap_or_else(|| crate::trainer::default_out(Path::new("."), "diagnose"));
    if out.exists() && std::fs::read_dir(&out).with_context(|| format!("cannot read {}", out.display()))?.next().is_some() {
        bail!("output folder {} exists and is not empty; choose another output folder or remove it", out.display());
    }
    let probe_idx = dataset.probe_indices(args.probe, args.seed);
    let probe_split = dataset.train.gather(&probe_idx);
    let m2 = probe_split.x.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / probe_split.x.len().max(1) as f64;
    let outputs = crate::net::outputs(&dataset.task);
    let loss = if dataset.classes().is_some() { LossKind::CrossEntropy } else { LossKind::Mse };

    let theory = meanfield::Theory::default();
    let phi = theory_activation(args.activation);
    let predictions: Vec<meanfield::Prediction> =
        args.weight_var.0.iter().map(|&sw2| theory.predict(phi, sw2, args.bias_var)).collect::<Result<_, _>>()?;
    let critical = theory.critical_weight_var(phi, args.bias_var)?;
    let (fit_first, fit_last) = (args.skip + 1, args.depth - args.skip);
    let seeds: Vec<u64> = (0..args.seeds as u64).map(|i| args.seed + i).collect();

    // The examples the Jacobians are taken at: the probe set's first, in f64.
    let spectrum_inputs: Vec<Vec<f64>> = probe_split
        .x
        .chunks_exact(dataset.features)
        .take(args.spectrum)
        .map(|row| row.iter().map(|&v| f64::from(v)).collect())
        .collect();

    // IEEE arithmetic, so that errors down to float32's subnormals (1.4e-45) are still measured.
    let threads = ComputeThreads::new(false).context("cannot start the compute threads")?;
    let nets = threads.install(|| -> Result<Vec<NetResult>> {
        let device = args.backend.autodiff_device();
        let batch = SplitTensors::new(&probe_split, dataset.features, &args.backend.plain_device()).slice(0, probe_split.len);
        let mut nets = Vec::new();
        for &sw2 in &args.weight_var.0 {
            for &seed in &seeds {
                let bias = if args.bias_var > 0.0 {
                    BiasInit::Drawn(Init::Normal { mean: 0.0, std: args.bias_var.sqrt() })
                } else {
                    BiasInit::Zero
                };
                let config = MlpConfig::deep(dataset.features, args.depth, args.width, outputs, args.activation)
                    .with_init(args.init.init(sw2))
                    .with_bias_init(bias)
                    .with_seed(seed);
                let model = config.init(&device);
                let mut watch = Watch::grouped("diagnose", &model, &config.grouping())?;
                let taps = Taps::on();
                let out = model.forward_tapped(batch.x.clone(), &taps);
                let (l, _) = loss_and_correct(loss, out, &batch);
                let grads = l.backward();
                let m = watch.read(&model, &grads, &taps)?.into_measurement();
                let delta_norms: Vec<f64> = m.layers.iter().take(args.depth).map(|l| l.delta_norm.unwrap_or(f64::NAN)).collect();
                let fitted: Vec<usize> =
                    (fit_first..=fit_last).filter(|&l| delta_norms[l - 1].is_finite() && delta_norms[l - 1] > UNDERFLOW).collect();
                let measured_factor = fit_factor(&delta_norms, &fitted);
                let spectra = if args.spectrum > 0 {
                    let layers = jacobian::host_layers(&model)?;
                    jacobian::hidden_spectra(&layers, phi, &spectrum_inputs)
                } else {
                    Vec::new()
                };
                nets.push(NetResult { weight_var: sw2, seed, delta_norms, measured_factor, fitted, spectra });
            }
        }
        Ok(nets)
    })?;

    let info = DiagnoseInfo {
        activation: args.activation.name().to_string(),
        leaky_slope: (args.activation == Activation::LeakyRelu).then_some(chain::LEAKY_SLOPE),
        bias_var: args.bias_var,
        weight_vars: args.weight_var.0.clone(),
        depth: args.depth,
        width: args.width,
        seeds,
        data: args.data.clone(),
        probe: probe_split.len,
        input_second_moment: m2,
        fit_first,
        fit_last,
        critical_weight_var: critical,
        init: Some(args.init.name().to_string()),
        spectrum_examples: args.spectrum,
        backend: Some(args.backend.name().to_string()),
        started_at: Some(runfolder::now_rfc3339()),
        git_revision: runfolder::git_revision(),
    };
    let diagnosis = Diagnosis { info, nets, predictions, path: out, law: args.init.law(), phi };
    write(&diagnosis, &theory, phi)?;
    Ok(diagnosis)
}

/// Writes `diagnose.json`, `diagnose.csv` and `diagnose_layers.csv`, and with `--spectrum`
/// `diagnose_spectrum.csv`.
fn write(d: &Diagnosis, theory: &meanfield::Theory, phi: meanfield::Activation) -> Result<()> {
    let dir = &d.path;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let i = &d.info;
    let json = serde_json::to_string_pretty(&i).context("cannot serialize diagnose.json")?;
    runfolder::write_atomic(&dir.join(names::INFO), json.as_bytes())?;
    let mut summary = runfolder::header(&names::SUMMARY_COLUMNS) + "\n";
    let mut layers = runfolder::header(&names::LAYERS_COLUMNS) + "\n";
    for net in &d.nets {
        let k = i.weight_vars.iter().position(|&w| w == net.weight_var).expect("a net's sigma_w^2 is on the grid");
        let common = format!("{},{},{},{},{},{}", i.activation, net.weight_var, i.bias_var, i.depth, i.width, net.seed);
        let measured = net.measured_factor.map(runfolder::num).unwrap_or_default();
        let _ = writeln!(summary, "{common},{measured},{}", runfolder::num(d.predictions[k].chi1));
        let q1 = net.weight_var * i.input_second_moment + i.bias_var;
        let q = theory.variance_trajectory(phi, net.weight_var, i.bias_var, q1, i.depth);
        for (l, norm) in net.delta_norms.iter().enumerate() {
            let chi = theory.chi_at(phi, net.weight_var, q[l]);
            let fitted = u8::from(net.fitted.contains(&(l + 1)));
            let norm = if norm.is_finite() { runfolder::num(*norm) } else { String::new() };
            let _ = writeln!(layers, "{common},{},{norm},{},{},{fitted}", l + 1, runfolder::num(q[l]), runfolder::num(chi));
        }
    }
    runfolder::write_atomic(&dir.join(names::SUMMARY), summary.as_bytes())?;
    runfolder::write_atomic(&dir.join(names::LAYERS), layers.as_bytes())?;
    if i.spectrum_examples > 0 {
        let mut rows = runfolder::header(&names::SPECTRUM_COLUMNS) + "\n";
        for net in &d.nets {
            let common = format!("{},{},{},{},{},{}", i.activation, net.weight_var, i.bias_var, i.depth, i.width, net.seed);
            for p in spectrum_predictions(theory, phi, d.law, net.weight_var, i) {
                let Some(s) = net.spectra.iter().find(|s| s.layer == p.layer) else { continue };
                for (kind, values, mean_sq, spread) in [
                    (names::SPECTRUM_LAYER, &s.layer_values, p.layer_chi, p.layer_spread),
                    (names::SPECTRUM_INPUT_OUTPUT, &s.end_to_end_values, p.end_to_end_mean_sq, p.end_to_end_spread),
                ] {
                    let Some(m) = Summary::of(values) else { continue };
                    let opt = |v: Option<f64>| v.map(runfolder::num).unwrap_or_default();
                    let _ = writeln!(
                        rows,
                        "{common},{},{kind},{},{},{},{},{},{},{},{},{},{}",
                        p.layer,
                        m.count,
                        runfolder::num(m.mean_sq),
                        runfolder::num(m.mean),
                        runfolder::num(m.max),
                        opt(m.p10),
                        opt(m.p50),
                        opt(m.p90),
                        runfolder::num(m.spread),
                        runfolder::num(mean_sq),
                        runfolder::num(spread)
                    );
                }
            }
        }
        runfolder::write_atomic(&dir.join(names::SPECTRUM), rows.as_bytes())?;
    }
    Ok(())
}

/// The theory's numbers for one hidden layer's Jacobians (see `meanfield::spectrum`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SpectrumPrediction {
    /// The hidden layer, 1-based, from 2.
    pub layer: usize,
    /// chi(q^l): the mean squared singular value of this layer's Jacobian.
    pub layer_chi: f64,
    /// Its spread var(sigma^2) / mean(sigma^2)^2.
    pub layer_spread: f64,
    /// The product of chi(q^k) over layers 2 to l: the input-output Jacobian's mean squared
    /// singular value.
    pub end_to_end_mean_sq: f64,
    /// The sum of the layers' spreads: the input-output Jacobian's.
    pub end_to_end_spread: f64,
}

/// The prediction for every hidden layer from 2 of a net with sigma_w^2 `sw2`, along the
/// theory's q^l from the data's q^1 (as `diagnose_layers.csv`'s `predicted_chi`).
pub fn spectrum_predictions(
    theory: &meanfield::Theory,
    phi: meanfield::Activation,
    law: meanfield::spectrum::WeightLaw,
    sw2: f64,
    i: &DiagnoseInfo,
) -> Vec<SpectrumPrediction> {
    let q1 = sw2 * i.input_second_moment + i.bias_var;
    let q = theory.variance_trajectory(phi, sw2, i.bias_var, q1, i.depth);
    let (mut mean_sq, mut spread) = (1.0, 0.0);
    (2..=i.depth)
        .map(|layer| {
            let chi = theory.chi_at(phi, sw2, q[layer - 1]);
            let s = theory.jacobian_spread(phi, q[layer - 1], law);
            mean_sq *= chi;
            spread += s;
            SpectrumPrediction { layer, layer_chi: chi, layer_spread: s, end_to_end_mean_sq: mean_sq, end_to_end_spread: spread }
        })
        .collect()
}

/// The median and the range of the measured factors of one sigma_w^2.
pub fn spread(nets: &[NetResult], weight_var: f64) -> Option<(f64, f64, f64)> {
    let mut v: Vec<f64> = nets.iter().filter(|n| n.weight_var == weight_var).filter_map(|n| n.measured_factor).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    let median = if v.len() % 2 == 1 { v[mid] } else { 0.5 * (v[mid - 1] + v[mid]) };
    Some((median, v[0], v[v.len() - 1]))
}

/// The median of what is there (`None` for nothing).
fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len() % 2 == 1 { v[mid] } else { 0.5 * (v[mid - 1] + v[mid]) })
}

/// The terminal table.
pub fn render(d: &Diagnosis) -> String {
    let i = &d.info;
    let mut out = String::new();
    let slope = i.leaky_slope.map(|s| format!(" (slope {s})")).unwrap_or_default();
    let _ = writeln!(
        out,
        "diagnose: {}{slope}, sigma_b^2 = {}, {} hidden layers of {}, {} seed(s), {} probe examples of {}",
        i.activation,
        i.bias_var,
        i.depth,
        i.width,
        i.seeds.len(),
        i.probe,
        i.data
    );
    let _ = writeln!(
        out,
        "input: mean x^2 = {:.4}, so the first layer has q^1 = {:.4} sigma_w^2 + {}; fit over layers {}..{} of ln ||delta||^2",
        i.input_second_moment, i.input_second_moment, i.bias_var, i.fit_first, i.fit_last
    );
    let _ = writeln!(
        out,
        "\n{:>9} {:>10} {:>10} {:>21} {:>9} {:>10} {:>12}",
        "sigma_w^2", "chi_1", "measured", "seeds: min..max", "ratio", "q*", "depth scale"
    );
    for (k, &sw2) in i.weight_vars.iter().enumerate() {
        let p = &d.predictions[k];
        let q = match p.fixed_point {
            meanfield::FixedPoint::Finite(q) => format!("{q:.4}"),
            meanfield::FixedPoint::Unbounded => "unbounded".to_string(),
            meanfield::FixedPoint::Neutral => "any".to_string(),
        };
        let xi = if p.depth_scale.is_finite() { format!("{:.1}", p.depth_scale) } else { "inf".to_string() };
        let (measured, range, ratio) = match spread(&d.nets, sw2) {
            Some((m, lo, hi)) => (format!("{m:.4}"), format!("{lo:.4}..{hi:.4}"), format!("{:.3}", m / p.chi1)),
            None => ("underflow".to_string(), "-".to_string(), "-".to_string()),
        };
        let _ = writeln!(out, "{sw2:>9.4} {:>10.4} {measured:>10} {range:>21} {ratio:>9} {q:>10} {xi:>12}", p.chi1);
    }
    match i.critical_weight_var {
        Some(c) => {
            let _ = writeln!(
                out,
                "\nedge of chaos: chi_1 = 1 at sigma_w^2 = {c:.4} (sigma_b^2 = {}); there the depth scale -1/ln(chi_1) is infinite,",
                i.bias_var
            );
            let _ = writeln!(out, "and ||delta||^2 changes by e over |depth scale| layers elsewhere (positive: vanishing toward the input).");
        }
        None => {
            let _ = writeln!(out, "\nchi_1 stays below 1 for every sigma_w^2 up to 10^4 at sigma_b^2 = {}: no edge of chaos", i.bias_var);
        }
    }
    if i.spectrum_examples > 0 {
        let _ = writeln!(
            out,
            "\nJacobian spectrum at initialization ({} init, {} example(s) per net, medians over seeds): each layer's mean singular value and mean sigma^2 (theory: chi), averaged over layers 2..{}; the input-output Jacobian of layers 2..{}: mean sigma^2, largest sigma, spread var(sigma^2)/mean(sigma^2)^2 (theory: free probability)",
            i.init.as_deref().unwrap_or("normal"),
            i.spectrum_examples,
            i.depth,
            i.depth
        );
        let _ = writeln!(
            out,
            "{:>9} {:>10} {:>10} {:>10} {:>12} {:>12} {:>10} {:>10} {:>10}",
            "sigma_w^2", "mean sigma", "mean s^2", "chi", "IO mean s^2", "theory", "IO max", "IO spread", "theory"
        );
        let theory = meanfield::Theory::default();
        let phi = d.phi;
        for &sw2 in &i.weight_vars {
            let nets: Vec<&NetResult> = d.nets.iter().filter(|n| n.weight_var == sw2 && !n.spectra.is_empty()).collect();
            let predictions = spectrum_predictions(&theory, phi, d.law, sw2, i);
            let (Some(last), Some(p_last)) = (nets.first().and_then(|n| n.spectra.last()).map(|s| s.layer), predictions.last()) else {
                continue;
            };
            let med = |f: &dyn Fn(&NetResult) -> Option<f64>| median(nets.iter().filter_map(|n| f(n)).collect());
            let layer_avg = |n: &NetResult, g: fn(&Summary) -> f64| {
                let v: Vec<f64> = n.spectra.iter().filter_map(|s| Summary::of(&s.layer_values)).map(|m| g(&m)).collect();
                (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
            };
            let io = |n: &NetResult| n.spectra.iter().find(|s| s.layer == last).and_then(|s| Summary::of(&s.end_to_end_values));
            let chi_avg = predictions.iter().map(|p| p.layer_chi).sum::<f64>() / predictions.len() as f64;
            let f = |v: Option<f64>| v.map(|x| format!("{x:.4}")).unwrap_or_else(|| "-".into());
            let _ = writeln!(
                out,
                "{sw2:>9.4} {:>10} {:>10} {chi_avg:>10.4} {:>12} {:>12.4e} {:>10} {:>10} {:>10.3}",
                f(med(&|n| layer_avg(n, |m| m.mean))),
                f(med(&|n| layer_avg(n, |m| m.mean_sq))),
                med(&|n| io(n).map(|m| m.mean_sq)).map(|x| format!("{x:.4e}")).unwrap_or_else(|| "-".into()),
                p_last.end_to_end_mean_sq,
                med(&|n| io(n).map(|m| m.max)).map(|x| format!("{x:.4e}")).unwrap_or_else(|| "-".into()),
                f(med(&|n| io(n).map(|m| m.spread))),
                p_last.end_to_end_spread
            );
        }
    }
    let _ = writeln!(out, "folder: {}", d.path.display());
    let _ = writeln!(out, "report: cargo xtask report {}", d.path.display());
    out
}

/// `train diagnose` from the command line.
pub fn run_cli(args: &DiagnoseArgs) -> Result<std::process::ExitCode> {
    let d = run(args)?;
    if !args.quiet {
        print!("{}", render(&d));
    }
    Ok(std::process::ExitCode::SUCCESS)
}
