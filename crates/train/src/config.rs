//! Experiment configs: TOML read into plain serde structs that reject unknown keys,
//! `--set key=value` overrides by dotted path, and validation in one place. This is the top
//! of the config: the tables of a part below (the loss, the optimizer, each kind of model in
//! `net/`) are that part's own types, read here and handed down; no module below imports this
//! one (`tests/it/tidy.rs`). They are re-exported here, where a config's reader finds them.

use crate::net::{cnn, mlp, recurrent};
use anyhow::{Context, Result, bail};
use data::{DataSpec, Task};
use models::{MlpConfig, Norm};
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::path::Path;

pub use crate::config_error::ConfigError;
use crate::config_error::err;
pub use crate::loss::LossKind;
pub use crate::net::NetConfig;
pub use crate::net::mlp::default_init;
pub use crate::net::spec::{BiasInitSpec, INIT_KINDS, InitSpec, ModelKind, ModelSpec, OutputActivation};
pub use crate::optim::OptimizerSpec;

/// The config key that sets the memory limit instead of the system (`memory.rs`).
pub const LIMIT_KEY: &str = "train.memory_limit_gb";

/// One experiment: a dataset, one or more models trained side by side on it, and how.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Experiment {
    /// Names the run folder (`runs/<stamp>-<name>`).
    pub name: String,
    /// Seeds initialization, data splits, batch order and the probe set.
    #[serde(default = "default_seed")]
    pub seed: u64,
    pub data: DataSpec,
    pub train: TrainSpec,
    pub optimizer: OptimizerSpec,
    #[serde(default)]
    pub telemetry: TelemetrySpec,
    /// The models, in the order of the file.
    pub models: Models,
}

fn default_seed() -> u64 {
    42
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainSpec {
    pub epochs: usize,
    pub batch_size: usize,
    /// `cross-entropy` or `sigmoid-cross-entropy` for classes, `mse` or `half-mse` for
    /// regression; by default the one that fits the dataset's task (cross-entropy or mse).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss: Option<LossKind>,
    /// Clip the global gradient norm (all parameters together, as PyTorch's
    /// `clip_grad_norm_`) to this value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clip_grad_norm: Option<f64>,
    /// Flush subnormal float32 values (below 1.18e-38) to zero on the threads that train.
    /// A deep sigmoid net's early gradients fall there, where the CPU computes several times
    /// slower; the telemetry reports such entries as `grad_underflow` either way. `false`
    /// keeps IEEE arithmetic, to see the subnormal values themselves.
    #[serde(default = "default_flush_denormals")]
    pub flush_denormals: bool,
    /// The memory the run may use, in GB (10^9 bytes), instead of what the system says is
    /// available; a run whose estimate is larger is refused before it starts (`memory.rs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_limit_gb: Option<f64>,
}

fn default_flush_denormals() -> bool {
    true
}
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetrySpec {
    /// Log the training batch's per-layer metrics every this many steps (plus the
    /// log-spaced early steps and every epoch's last step).
    #[serde(default = "default_every")]
    pub every: usize,
    /// Also log steps 1, 2, 4, 8, ... below `every`, where the early changes happen.
    #[serde(default = "default_true")]
    pub early: bool,
    /// Size of the fixed probe set measured at initialization and after every epoch.
    #[serde(default = "default_probe")]
    pub probe: usize,
    /// `stratified` (the default: a seeded subset with every class's share) or `first` (the
    /// first `probe` training examples, as Nielsen's `training_data[:1000]`).
    #[serde(default)]
    pub probe_subset: data::Subset,
    /// Turn the per-layer telemetry off (loss and accuracy are still logged).
    #[serde(default = "default_true")]
    pub enabled: bool,
}

fn default_every() -> usize {
    25
}
fn default_probe() -> usize {
    1000
}
fn default_true() -> bool {
    true
}

impl Default for TelemetrySpec {
    fn default() -> Self {
        TelemetrySpec { every: default_every(), early: true, probe: default_probe(), probe_subset: data::Subset::Stratified, enabled: true }
    }
}

/// The `[models.<name>]` tables, in file order.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Models(pub Vec<(String, ModelSpec)>);

impl Serialize for Models {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

impl<'de> Deserialize<'de> for Models {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Models;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a table of models, `[models.<name>]`")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Models, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, ModelSpec>()? {
                    out.push((k, v));
                }
                Ok(Models(out))
            }
        }
        d.deserialize_map(V)
    }
}
// ---------------------------------------------------------------------------------------
// Reading, overriding and validating.

/// Reads a config file, applies `--set` overrides (`key=value`, dotted keys, TOML values;
/// a bare word is taken as a string) and checks every key and type.
pub fn load(path: &Path, sets: &[String]) -> Result<Experiment> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read config {}", path.display()))?;
    parse(&text, sets).with_context(|| format!("config {}", path.display()))
}

/// [`load`] on a string. Control characters in a message (a line break in a quoted key or in
/// an override) are escaped, so that every error stays one line.
pub fn parse(text: &str, sets: &[String]) -> Result<Experiment> {
    parse_unescaped(text, sets).map_err(|e| {
        let msg = format!("{e:#}");
        anyhow::anyhow!(msg.chars().map(|c| if c.is_control() { c.escape_debug().to_string() } else { c.to_string() }).collect::<String>())
    })
}

fn parse_unescaped(text: &str, sets: &[String]) -> Result<Experiment> {
    let mut table: toml::Table = toml::from_str(text).map_err(|e| anyhow::anyhow!(one_line(&e.to_string())))?;
    for set in sets {
        apply_set(&mut table, set)?;
    }
    let exp: Experiment = serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
        let path = e.path().to_string();
        let inner = one_line(&e.into_inner().to_string());
        if path == "." { anyhow::anyhow!(inner) } else { anyhow::anyhow!("{path}: {inner}") }
    })?;
    exp.validate()?;
    Ok(exp)
}

/// Folds a multi-line parser message (TOML's shows the offending line) into one line.
fn one_line(msg: &str) -> String {
    msg.lines().map(str::trim).filter(|l| !l.is_empty() && *l != "|" && !l.starts_with("| ")).collect::<Vec<_>>().join(" ")
}

/// Applies one `key=value` override to the TOML tree.
fn apply_set(table: &mut toml::Table, set: &str) -> Result<()> {
    let Some((key, raw)) = set.split_once('=') else {
        bail!("--set {set}: expected key=value, e.g. --set train.epochs=3");
    };
    let key = key.trim();
    let parts: Vec<&str> = key.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        bail!("--set {set}: `{key}` is not a dotted key path");
    }
    let raw = raw.trim();
    // A TOML value if it parses as one (numbers, booleans, arrays, quoted strings,
    // inline tables), otherwise the bare text as a string (`--set data.source=digits`).
    let value = match toml::from_str::<toml::Table>(&format!("v = {raw}")) {
        Ok(mut t) => t.remove("v").unwrap_or(toml::Value::String(raw.to_string())),
        Err(_) => toml::Value::String(raw.to_string()),
    };
    let mut node = table;
    for (i, part) in parts.iter().enumerate() {
        if i + 1 == parts.len() {
            node.insert((*part).to_string(), value);
            return Ok(());
        }
        let entry = node.entry((*part).to_string()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        node = match entry {
            toml::Value::Table(t) => t,
            _ => bail!("--set {set}: `{}` is not a table", parts[..=i].join(".")),
        };
    }
    Ok(())
}

impl Experiment {
    /// Every check that needs no data: ranges, names, combinations.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.name.trim().is_empty() || self.name.contains(['/', '\\']) {
            return Err(err("name", format!("must be a non-empty name without slashes, got `{}`", self.name)));
        }
        self.data.validate().map_err(|m| {
            // The data crate's messages start with the key (`data.limit must be ...`).
            match m.split_once(' ') {
                Some((key, rest)) if key.starts_with("data") => err(key, rest),
                _ => err("data", m),
            }
        })?;
        let t = &self.train;
        if t.epochs == 0 {
            return Err(err("train.epochs", "must be at least 1"));
        }
        if t.batch_size == 0 {
            return Err(err("train.batch_size", "must be at least 1"));
        }
        let clip = |key: String, c: Option<f64>| match c {
            Some(c) if !(c.is_finite() && c > 0.0) => Err(err(key, format!("must be a positive, finite number, got {c}"))),
            _ => Ok(()),
        };
        clip("train.clip_grad_norm".into(), t.clip_grad_norm)?;
        if let Some(gb) = t.memory_limit_gb
            && !(gb.is_finite() && gb > 0.0)
        {
            return Err(err(LIMIT_KEY, format!("must be a positive number of GB, got {gb}")));
        }
        let positive = |key: &str, v: f64| {
            if v.is_finite() && v > 0.0 { Ok(()) } else { Err(err(key, format!("must be a positive number, got {v}"))) }
        };
        let non_negative = |key: &str, v: f64| {
            if v.is_finite() && v >= 0.0 { Ok(()) } else { Err(err(key, format!("must be >= 0, got {v}"))) }
        };
        match self.optimizer {
            OptimizerSpec::Sgd { lr, momentum, weight_decay } => {
                positive("optimizer.lr", lr)?;
                if !(0.0..1.0).contains(&momentum) {
                    return Err(err("optimizer.momentum", format!("must be in [0, 1), got {momentum}")));
                }
                non_negative("optimizer.weight_decay", weight_decay)?;
            }
            OptimizerSpec::Adam { lr, beta1, beta2, eps, weight_decay } => {
                positive("optimizer.lr", lr)?;
                for (k, b) in [("optimizer.beta1", beta1), ("optimizer.beta2", beta2)] {
                    if !(0.0..1.0).contains(&b) {
                        return Err(err(k, format!("must be in [0, 1), got {b}")));
                    }
                }
                positive("optimizer.eps", eps)?;
                non_negative("optimizer.weight_decay", weight_decay)?;
            }
        }
        if self.telemetry.every == 0 {
            return Err(err("telemetry.every", "must be at least 1"));
        }
        if self.telemetry.probe == 0 {
            return Err(err("telemetry.probe", "must be at least 1"));
        }
        if self.models.0.is_empty() {
            return Err(err("models", "the experiment needs at least one `[models.<name>]` table"));
        }
        for (name, spec) in &self.models.0 {
            let key = format!("models.{name}");
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
                return Err(err(key, "model names may use letters, digits, `-` and `_` only"));
            }
            // Stand-ins for the data's sizes: the shape rules do not depend on them, but for a
            // residual first layer, whose skip exists when the input is as wide as the layer.
            // The stand-in input is, so that only the data can rule it out
            // (`validate_with_data`).
            let input = spec.layers.as_ref().and_then(|l| l.first().copied()).or(spec.width).unwrap_or(1);
            if spec.kind == ModelKind::Mlp {
                spec.to_mlp(&key, input, 1, 0)?;
            } else if spec.kind == ModelKind::Cnn {
                if self.data.source == "tutorial" {
                    return Err(err(format!("{key}.kind"), "a CNN reads images; the tutorial is one number (data.source = \"tutorial\")"));
                }
                // Every key but the image's size, which only the data can rule out.
                spec.to_cnn(&key, Some(cnn::stand_in_image(spec)), 1, 0)?;
            } else {
                if self.data.source == "tutorial" {
                    return Err(err(format!("{key}.kind"), "a recurrent model needs sequences; the tutorial is one number (data.source = \"tutorial\")"));
                }
                if self.data.sequence_length.is_none() {
                    return Err(err(
                        "data.sequence_length",
                        format!("missing: {key}.kind = \"{}\" reads each example as a sequence of T time steps; give T", spec.kind.name()),
                    ));
                }
                spec.to_recurrent(&key, 1, 1, 1, 0)?;
            }
            clip(format!("{key}.clip_grad_norm"), spec.clip_grad_norm)?;
            if self.data.source == "tutorial" {
                for (field, set) in [("norm", spec.norm != Norm::None), ("residual", spec.residual), ("projection", spec.projection)] {
                    if set {
                        return Err(err(
                            format!("{key}.{field}"),
                            "does not apply to the tutorial chain of one-neuron layers (data.source = \"tutorial\")",
                        ));
                    }
                }
            }
            if t.loss == Some(LossKind::SigmoidCrossEntropy) && spec.output_activation.0.is_some() {
                return Err(err(
                    format!("{key}.output_activation"),
                    "must be \"none\" with train.loss = \"sigmoid-cross-entropy\", which applies the sigmoid to the outputs itself",
                ));
            }
            if spec.norm == Norm::Batch && t.batch_size < 2 {
                return Err(err(
                    format!("{key}.norm"),
                    format!("batch norm standardizes over the batch, and train.batch_size = {} leaves one example: its statistics are meaningless", t.batch_size),
                ));
            }
        }
        Ok(())
    }

    /// The global gradient norm model `i` is clipped to: its own, or the experiment's.
    pub fn clip_of(&self, i: usize) -> Option<f64> {
        self.models.0.get(i).and_then(|(_, spec)| spec.clip_grad_norm).or(self.train.clip_grad_norm)
    }

    /// Checks that need the data, before anything is trained.
    pub fn validate_with_data(&self, dataset: &data::Dataset) -> Result<(), ConfigError> {
        let train_len = dataset.train.len;
        for (name, spec) in &self.models.0 {
            let key = format!("models.{name}");
            NetConfig::from_spec(&key, spec, dataset.features, crate::net::outputs(&dataset.task), 0, self.data.sequence_length, image_of(dataset))?;
            let last = train_len % self.train.batch_size;
            if spec.norm == Norm::Batch && last == 1 {
                return Err(err(
                    "train.batch_size",
                    format!(
                        "{train_len} training examples in batches of {} leave a last batch of 1 example, whose batch statistics \
                         (for {key}.norm = \"batch\") are meaningless: choose another batch size",
                        self.train.batch_size
                    ),
                ));
            }
        }
        if self.telemetry.probe > train_len {
            return Err(err(
                "telemetry.probe",
                format!("{} is larger than the training set ({train_len} examples)", self.telemetry.probe),
            ));
        }
        match (self.loss(&dataset.task), &dataset.task) {
            (LossKind::CrossEntropy | LossKind::SigmoidCrossEntropy, Task::Regression { .. }) => {
                Err(err("train.loss", "cross-entropy needs class labels, but this dataset is a regression"))
            }
            (LossKind::Mse | LossKind::HalfMse, Task::Classification { .. }) => Err(err(
                "train.loss",
                "mse needs real-valued targets, but this dataset has class labels (use cross-entropy)",
            )),
            _ => Ok(()),
        }
    }

    /// The loss to train with: the configured one, or the task's natural one.
    pub fn loss(&self, task: &Task) -> LossKind {
        self.train.loss.unwrap_or(match task {
            Task::Classification { .. } => LossKind::CrossEntropy,
            Task::Regression { .. } => LossKind::Mse,
        })
    }

    /// The MLPs' configs for a dataset with `input` features and `output` outputs (an error
    /// names the first model that is not an MLP).
    pub fn mlps(&self, input: usize, output: usize) -> Result<Vec<(String, MlpConfig)>, ConfigError> {
        self.nets(input, output)?
            .into_iter()
            .map(|(name, net)| match net {
                NetConfig::Mlp(m) => Ok((name, m)),
                NetConfig::Recurrent(_) => Err(err(format!("models.{name}.kind"), "is a recurrent model, not an MLP")),
                NetConfig::Cnn(_) => Err(err(format!("models.{name}.kind"), "is a CNN, not an MLP")),
            })
            .collect()
    }

    /// The models' configs for a dataset with `input` features and `output` outputs, whose
    /// examples are not images (a CNN is an error; [`Experiment::nets_for`] reads the shape).
    pub fn nets(&self, input: usize, output: usize) -> Result<Vec<(String, NetConfig)>, ConfigError> {
        self.nets_on(input, output, None)
    }

    /// The models' configs for a loaded dataset: its features, outputs and image shape.
    pub fn nets_for(&self, dataset: &data::Dataset) -> Result<Vec<(String, NetConfig)>, ConfigError> {
        self.nets_on(dataset.features, crate::net::outputs(&dataset.task), image_of(dataset))
    }

    fn nets_on(&self, input: usize, output: usize, image: Option<[usize; 3]>) -> Result<Vec<(String, NetConfig)>, ConfigError> {
        self.models
            .0
            .iter()
            .enumerate()
            .map(|(i, (name, spec))| {
                // Each model draws from its own stream of the experiment's seed, so adding a
                // model never changes the weights of another.
                let seed = prng::Rng::derive(self.seed, &[0x6d6f_6465_6c, i as u64]).next_u64();
                Ok((name.clone(), NetConfig::from_spec(&format!("models.{name}"), spec, input, output, seed, self.data.sequence_length, image)?))
            })
            .collect()
    }

    /// The experiment with every default written out, so that the saved copy reruns
    /// exactly even if a default changes later.
    pub fn resolved(&self, task: &Task) -> Experiment {
        let mut e = self.clone();
        e.train.loss = Some(self.loss(task));
        for (_, spec) in &mut e.models.0 {
            match spec.kind {
                ModelKind::Mlp => mlp::resolve(spec),
                ModelKind::Rnn | ModelKind::Lstm | ModelKind::Gru => recurrent::resolve(spec),
                ModelKind::Cnn => cnn::resolve(spec),
            }
        }
        e
    }

    /// The resolved experiment as TOML.
    pub fn to_toml(&self) -> String {
        // Serializing plain structs of strings, numbers and tables cannot fail.
        toml::to_string_pretty(self).expect("an experiment serializes to TOML")
    }
}

/// The dataset's image shape as `[channels, height, width]`, when its examples are images.
fn image_of(dataset: &data::Dataset) -> Option<[usize; 3]> {
    dataset.image.map(|s| [s.channels, s.height, s.width])
}
