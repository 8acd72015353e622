//! How much memory a run will need, estimated from the experiment and the loaded dataset
//! before any model is built, and the limit it is checked against: an experiment that
//! cannot fit is refused with one line instead of being killed by the kernel halfway
//! through allocating its first layer.
//!
//! The estimate is of the peak, in float32 bytes, and errs on the generous side where the
//! backends differ; it is a guard against runs that cannot fit, not a bound. Per model,
//! with `P` its parameter count:
//! - parameters `4P`, and their gradients `4P`;
//! - the optimizer's state: none for plain SGD (updated in place), `4P` for momentum and `8P`
//!   for Adam's two moments, and `4P` more for the new buffers burn's optimizers write;
//! - the telemetry's host copies: the initial values the watch keeps (`4P`), the weights a
//!   logged step keeps for its update ratio (`4P`), and a host copy of the probe's taps;
//! - activations: per example and hidden or output unit (a CNN's: per entry of every
//!   convolution's output maps, and the largest convolution's unfolded input), the
//!   pre-activation with its tap, the activation and the tap's gradient, and one more for a
//!   norm's output or a residual sum, for the larger of a training batch and the probe set (they are never alive at the
//!   same time), or of an evaluation chunk.
//!
//! The models train one after the other within a step, so every model's parameters, state and
//! copies are alive together but only one model's activations. The data counts the split
//! tensors and the probe batch the run uploads; the host arrays are loaded already, and so
//! are no longer in the memory the system reports available.

use crate::config::{Experiment, NetConfig, OptimizerSpec};
pub use crate::config::LIMIT_KEY;
use data::{Dataset, Task};
use gradflow::runfolder::MemoryInfo;
use models::MlpConfig;
use std::collections::BTreeMap;

/// Bytes in one float32.
const F32: f64 = 4.0;

/// The rows an evaluation forward pass takes at once (`loss::evaluate`).
const EVAL_CHUNK: f64 = 2000.0;

/// One model's share of the estimate, in bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelEstimate {
    pub name: String,
    pub parameters: f64,
    pub gradients: f64,
    pub optimizer: f64,
    pub telemetry: f64,
    /// The largest of a training batch's, the probe set's and an evaluation chunk's.
    pub activations: f64,
}

impl ModelEstimate {
    /// What the model needs alone.
    pub fn total(&self) -> f64 {
        self.parameters + self.gradients + self.optimizer + self.telemetry + self.activations
    }
}

/// The estimate of a run's peak memory, in bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct Estimate {
    pub models: Vec<ModelEstimate>,
    /// The split tensors and the probe batch.
    pub data: f64,
}

impl Estimate {
    /// Every model's parameters, state and copies, the largest model's activations, and the data.
    pub fn total(&self) -> f64 {
        let kept: f64 = self.models.iter().map(|m| m.total() - m.activations).sum();
        let activations = self.models.iter().map(|m| m.activations).fold(0.0, f64::max);
        kept + activations + self.data
    }

    /// The parts over all models, by the names the manifest uses.
    pub fn parts(&self) -> [(&'static str, f64); 6] {
        let sum = |f: fn(&ModelEstimate) -> f64| self.models.iter().map(f).sum::<f64>();
        [
            ("parameters", sum(|m| m.parameters)),
            ("gradients", sum(|m| m.gradients)),
            ("optimizer", sum(|m| m.optimizer)),
            ("telemetry", sum(|m| m.telemetry)),
            ("activations", self.models.iter().map(|m| m.activations).fold(0.0, f64::max)),
            ("data", self.data),
        ]
    }
}

/// The memory the run may use, and where that number came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Limit {
    pub bytes: f64,
    pub source: String,
}

/// A run that would not fit: the one line the user sees.
#[derive(Debug, thiserror::Error)]
#[error(
    "the run needs about {} of memory, more than the {} available ({}; `--set {LIMIT_KEY}=<GB>` sets another limit): {}",
    bytes(estimate.total()), bytes(limit.bytes), limit.source, breakdown(estimate)
)]
pub struct TooLarge {
    pub estimate: Estimate,
    pub limit: Limit,
}

/// Estimates the run's memory and checks it against the limit: the config's
/// `train.memory_limit_gb`, or else what the system says is available. With neither (no
/// `/proc`), every run passes.
pub fn check(exp: &Experiment, dataset: &Dataset) -> Result<(Estimate, Option<Limit>), Box<TooLarge>> {
    let estimate = estimate(exp, dataset);
    let limit = limit(exp);
    match limit {
        Some(limit) if estimate.total() > limit.bytes => Err(Box::new(TooLarge { estimate, limit })),
        _ => Ok((estimate, limit)),
    }
}

/// Checks the estimate against a GPU backend's memory where burn reports it, unless the
/// config sets the limit itself (then [`check`] has used it). `Ok(None)`: nothing to check
/// against (a CPU backend, the config's limit, or a device without a figure).
pub fn check_device(exp: &Experiment, dataset: &Dataset, backend: gradflow::backend::Backend) -> Result<Option<Limit>, Box<TooLarge>> {
    if exp.train.memory_limit_gb.is_some() {
        return Ok(None);
    }
    let Some(bytes) = backend.device_memory() else {
        return Ok(None);
    };
    let limit = Limit { bytes: bytes as f64, source: format!("the {} device's memory, as burn reports it", backend.name()) };
    let estimate = estimate(exp, dataset);
    if estimate.total() > limit.bytes { Err(Box::new(TooLarge { estimate, limit })) } else { Ok(Some(limit)) }
}

/// The manifest's record of the run's estimate and of the limit now.
pub fn record(exp: &Experiment, dataset: &Dataset) -> MemoryInfo {
    info(&estimate(exp, dataset), limit(exp).as_ref())
}

/// The manifest's record of the estimate and the limit.
pub fn info(estimate: &Estimate, limit: Option<&Limit>) -> MemoryInfo {
    let whole = |b: f64| b.round() as u64;
    MemoryInfo {
        estimate_bytes: whole(estimate.total()),
        parts: estimate.parts().iter().map(|&(name, b)| (name.to_string(), whole(b))).collect::<BTreeMap<_, _>>(),
        models: estimate.models.iter().map(|m| (m.name.clone(), whole(m.total()))).collect(),
        limit_bytes: limit.map(|l| whole(l.bytes)),
        limit_source: limit.map(|l| l.source.clone()),
    }
}

/// The estimate for an experiment on a loaded dataset (see the module's documentation).
pub fn estimate(exp: &Experiment, dataset: &Dataset) -> Estimate {
    let outputs = match dataset.task {
        Task::Classification { classes } => classes,
        Task::Regression { outputs } => outputs,
    };
    let rows = (dataset.train.len + dataset.valid.len + dataset.test.len) as f64;
    let target = match dataset.task {
        Task::Classification { .. } => 1.0,
        Task::Regression { outputs } => outputs as f64,
    };
    let features = dataset.features as f64;
    let probe = exp.telemetry.probe.min(dataset.train.len) as f64;
    let batch = exp.train.batch_size.min(dataset.train.len.max(1)) as f64;
    let eval = EVAL_CHUNK.min(dataset.train.len.max(dataset.test.len).max(dataset.valid.len) as f64);
    let data = F32 * (rows * (features + target) + probe * features);
    // Configs that do not validate have no models to estimate; `validate` reports them.
    let nets = exp.nets_for(dataset).unwrap_or_default();
    let optimizer = match exp.optimizer {
        OptimizerSpec::Sgd { momentum, weight_decay, .. } if momentum == 0.0 && weight_decay == 0.0 => 0.0,
        OptimizerSpec::Sgd { momentum, .. } => if momentum > 0.0 { 2.0 } else { 1.0 },
        OptimizerSpec::Adam { .. } => 3.0,
    };
    let models = nets
        .iter()
        .map(|(name, net)| {
            // Per example: what the taps keep; `contributions`: the per-step shares of the
            // recurrent weights' gradient, one matrix per step whatever the batch.
            let (p, per_example, taps, contributions, eval_per_example) = match net {
                NetConfig::Mlp(cfg) => {
                    let units: f64 = cfg.sizes().iter().skip(1).map(|&w| w as f64).sum();
                    let widest = cfg.sizes().iter().copied().max().unwrap_or(0) as f64;
                    (parameters(cfg), features + 4.0 * units + 3.0 * outputs as f64, 2.0 * units, 0.0, features + 2.0 * widest)
                }
                NetConfig::Recurrent(cfg) => {
                    // Per layer and step the graph keeps the gates' pre-activations, their
                    // activations and products (about three tensors of the gates' width) and
                    // the hidden and cell states; the inputs' products are made for all steps
                    // at once. The taps add dL/dh_t, dL/dp_t and h_{t-1} per step.
                    let (g, h, t, l) = (cfg.cell.gates() as f64, cfg.hidden as f64, cfg.steps as f64, cfg.layers as f64);
                    let units = l * t * (4.0 * g * h + 3.0 * h);
                    let taps = l * t * (2.0 * h + g * h);
                    (cfg.num_params() as f64, features + units + 3.0 * outputs as f64, taps, l * t * h * g * h, features + 2.0 * g * h * t)
                }
                NetConfig::Cnn(cfg) => {
                    // Per convolution and example the graph keeps z with its tap, the activation
                    // and the tap's gradient, and one more map for a norm's output and one for a
                    // residual sum; burn's conv2d unfolds its input into an im2col buffer of
                    // 9 values per input entry and output position, alive for the largest
                    // convolution at a time.
                    let convs = cfg.convs();
                    let maps = |c: &models::ConvShape| (c.out_channels * c.out_size[0] * c.out_size[1]) as f64;
                    let units: f64 = convs.iter().map(maps).sum();
                    let kept = 4.0 + f64::from(u8::from(cfg.norm != models::Norm::None)) + f64::from(u8::from(cfg.residual));
                    let unfold = convs
                        .iter()
                        .map(|c| (c.in_channels * 9 * c.out_size[0] * c.out_size[1]) as f64)
                        .fold(0.0, f64::max);
                    let widest = convs.iter().map(maps).fold(0.0, f64::max);
                    (cfg.num_params() as f64, features + kept * units + unfold + 3.0 * outputs as f64, 2.0 * units, 0.0, features + 2.0 * widest + unfold)
                }
            };
            ModelEstimate {
                name: name.clone(),
                parameters: F32 * p,
                gradients: F32 * p,
                optimizer: F32 * optimizer * p,
                telemetry: F32 * (p + if exp.telemetry.enabled { p + probe * taps + contributions } else { 0.0 }),
                activations: F32 * (batch * per_example).max(probe * per_example).max(eval * eval_per_example),
            }
        })
        .collect();
    Estimate { models, data }
}

/// A model's parameter count, as a float: its own count where that cannot overflow, else
/// (a model far beyond any machine) the linear layers' weights alone, counted in floats.
fn parameters(cfg: &MlpConfig) -> f64 {
    let sizes: Vec<f64> = cfg.sizes().iter().map(|&w| w as f64).collect();
    let linear: f64 = sizes.windows(2).map(|w| w[0] * w[1] + w[1]).sum();
    // Norms and projections add at most another linear layer's worth and two per unit.
    let bound = 2.0 * linear + 2.0 * sizes.iter().sum::<f64>();
    if bound < 2f64.powi(52) { cfg.num_params() as f64 } else { linear }
}

/// The limit: the config's key, else what the system has available.
pub fn limit(exp: &Experiment) -> Option<Limit> {
    if let Some(gb) = exp.train.memory_limit_gb {
        return Some(Limit { bytes: gb * 1e9, source: format!("{LIMIT_KEY} = {gb}") });
    }
    system_limit()
}

/// What this process may still allocate: the kernel's estimate of available memory, or the
/// process's control group's limit less its usage, whichever is smaller (in a container the
/// group's limit is the one that kills).
fn system_limit() -> Option<Limit> {
    let available = meminfo_available().map(|b| Limit { bytes: b, source: "MemAvailable in /proc/meminfo".to_string() });
    let group = cgroup_headroom();
    match (available, group) {
        (Some(a), Some(g)) => Some(if g.bytes < a.bytes { g } else { a }),
        (a, g) => a.or(g),
    }
}

/// A system file's text. A file that cannot be read tells nothing, whatever the reason (not
/// this system's, or not readable here): the limit then comes from the other sources, or the
/// run is not checked.
fn system_file(path: &str) -> Option<String> {
    match std::fs::read_to_string(path) {
        Ok(text) => Some(text),
        Err(_) => None,
    }
}

/// `MemAvailable` of `/proc/meminfo`, in bytes.
fn meminfo_available() -> Option<f64> {
    let text = system_file("/proc/meminfo")?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024.0)
}

/// The process's control group's memory limit less its usage: cgroup v2's `memory.max` and
/// `memory.current`, or v1's `memory.limit_in_bytes` and `memory.usage_in_bytes`, in the
/// group's folder or, where a container mounts its own group at the root, at the root.
fn cgroup_headroom() -> Option<Limit> {
    let groups = system_file("/proc/self/cgroup")?;
    for line in groups.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let (root, limit_file, usage_file) = match controllers {
            "" => ("/sys/fs/cgroup", "memory.max", "memory.current"),
            c if c.split(',').any(|c| c == "memory") => ("/sys/fs/cgroup/memory", "memory.limit_in_bytes", "memory.usage_in_bytes"),
            _ => continue,
        };
        for dir in [format!("{root}{path}"), root.to_string()] {
            let read = |file: &str| system_file(&format!("{dir}/{file}")).and_then(|t| t.trim().parse::<f64>().ok());
            // "max" (v2) does not parse: no limit. v1 writes a huge number for none.
            if let (Some(max), Some(used)) = (read(limit_file), read(usage_file)) {
                if max < 1e18 {
                    return Some(Limit { bytes: (max - used).max(0.0), source: format!("the memory limit of cgroup {dir}, less its usage") });
                }
            }
        }
    }
    None
}

/// The models' shares, largest first, with the largest one's parts.
fn breakdown(e: &Estimate) -> String {
    let mut models: Vec<&ModelEstimate> = e.models.iter().collect();
    models.sort_by(|a, b| b.total().total_cmp(&a.total()));
    let mut out: Vec<String> = Vec::new();
    for (i, m) in models.iter().enumerate() {
        if i == 0 {
            out.push(format!(
                "model `{}` needs {} (parameters {}, gradients {}, optimizer state {}, telemetry copies {}, activations {})",
                m.name,
                bytes(m.total()),
                bytes(m.parameters),
                bytes(m.gradients),
                bytes(m.optimizer),
                bytes(m.telemetry),
                bytes(m.activations)
            ));
        } else {
            out.push(format!("model `{}` {}", m.name, bytes(m.total())));
        }
    }
    out.push(format!("data {}", bytes(e.data)));
    out.join(", ")
}

/// Bytes in decimal units, three significant digits: `313 GB`, `1.25 TB`, `52.1 MB`.
pub fn bytes(b: f64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let mut v = b.max(0.0);
    let mut unit = 0;
    while v >= 999.5 && unit + 1 < UNITS.len() {
        v /= 1000.0;
        unit += 1;
    }
    if unit == 0 || v >= 99.95 {
        format!("{v:.0} {}", UNITS[unit])
    } else if v >= 9.995 {
        format!("{v:.1} {}", UNITS[unit])
    } else {
        format!("{v:.2} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::bytes;

    #[test]
    fn bytes_read_in_decimal_units() {
        assert_eq!(bytes(0.0), "0 B");
        assert_eq!(bytes(999.0), "999 B");
        assert_eq!(bytes(313.6e9), "314 GB");
        assert_eq!(bytes(1.2544e12), "1.25 TB");
        assert_eq!(bytes(52.14e6), "52.1 MB");
        assert_eq!(bytes(1e30), "1000000000000 EB");
    }
}
