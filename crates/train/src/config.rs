//! Experiment configs: TOML read into plain serde structs that reject unknown keys,
//! `--set key=value` overrides by dotted path, validation in one place, and the step from
//! there to the models' and burn's own configs.

use anyhow::{Context, Result, bail};
use chain::Activation;
use data::{DataSpec, Task};
use models::{BiasInit, Cell, Init, MlpConfig, Norm, RecurrentConfig};
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::path::Path;

/// A config error that names the key at fault (`models.sigmoid.depth`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct ConfigError {
    pub key: String,
    pub message: String,
}

fn err(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError { key: key.into(), message: message.into() }
}

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

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LossKind {
    /// Softmax cross-entropy on logits, averaged over the batch.
    CrossEntropy,
    /// Mean squared error over every output of every example (PyTorch's `MSELoss`).
    Mse,
    /// Half the mean squared error: the tutorial's loss, 0.5 (out - target)^2.
    HalfMse,
    /// Nielsen's `network2.CrossEntropyCost`: a sigmoid on every output and the binary
    /// cross-entropy against one-hot targets, summed over the outputs and averaged over the
    /// batch, -(1/n) sum_x sum_j [y_j ln a_j + (1 - y_j) ln(1 - a_j)]. The model's outputs
    /// are the logits z (the sigmoid is the loss's), so that dC/dz = (a - y) / n.
    SigmoidCrossEntropy,
}

impl LossKind {
    pub fn name(self) -> &'static str {
        match self {
            LossKind::CrossEntropy => "cross-entropy",
            LossKind::Mse => "mse",
            LossKind::HalfMse => "half-mse",
            LossKind::SigmoidCrossEntropy => "sigmoid-cross-entropy",
        }
    }

    /// Whether the loss takes class labels (and accuracy is measured).
    pub fn classifies(self) -> bool {
        matches!(self, LossKind::CrossEntropy | LossKind::SigmoidCrossEntropy)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum OptimizerSpec {
    /// Stochastic gradient descent with optional momentum and weight decay.
    Sgd {
        lr: f64,
        #[serde(default)]
        momentum: f64,
        #[serde(default)]
        weight_decay: f64,
    },
    /// Adam with PyTorch's defaults (betas 0.9 and 0.999, eps 1e-8).
    Adam {
        lr: f64,
        #[serde(default = "default_beta1")]
        beta1: f64,
        #[serde(default = "default_beta2")]
        beta2: f64,
        #[serde(default = "default_eps")]
        eps: f64,
        #[serde(default)]
        weight_decay: f64,
    },
}

fn default_beta1() -> f64 {
    0.9
}
fn default_beta2() -> f64 {
    0.999
}
fn default_eps() -> f64 {
    1e-8
}

impl OptimizerSpec {
    pub fn lr(&self) -> f64 {
        match *self {
            OptimizerSpec::Sgd { lr, .. } | OptimizerSpec::Adam { lr, .. } => lr,
        }
    }
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

/// What kind of network a model is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModelKind {
    /// The deep MLP (`depth` and `width`, or `layers`).
    #[default]
    Mlp,
    /// A vanilla tanh RNN over the data's time steps (`hidden`, `depth` stacked layers).
    Rnn,
    /// burn's LSTM.
    Lstm,
    /// burn's GRU.
    Gru,
}

impl ModelKind {
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Mlp => "mlp",
            ModelKind::Rnn => "rnn",
            ModelKind::Lstm => "lstm",
            ModelKind::Gru => "gru",
        }
    }

    /// The recurrent cell, for a recurrent kind.
    pub fn cell(self) -> Option<Cell> {
        match self {
            ModelKind::Mlp => None,
            ModelKind::Rnn => Some(Cell::Rnn),
            ModelKind::Lstm => Some(Cell::Lstm),
            ModelKind::Gru => Some(Cell::Gru),
        }
    }
}

/// A model's configuration as `train` builds it: the MLP or a recurrent network.
#[derive(Clone, Debug, PartialEq)]
pub enum NetConfig {
    Mlp(MlpConfig),
    Recurrent(RecurrentConfig),
}

/// One model. An MLP has either `depth` and `width`, or an explicit list of hidden `layers`; a
/// recurrent model (`kind = "rnn" | "lstm" | "gru"`) has `hidden` units in each of `depth`
/// stacked layers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// `mlp` (the default), or a recurrent `rnn`, `lstm` or `gru` over the data's time steps
    /// (`data.sequence_length`).
    #[serde(default)]
    pub kind: ModelKind,
    /// A recurrent model's hidden size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hidden: Option<usize>,
    /// A recurrent model's initialization of its recurrent weights U (by default the same as
    /// `init`).
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "deserialize_init")]
    pub recurrent_init: Option<InitSpec>,
    /// An LSTM's forget-gate bias at initialization (0 by default, as PyTorch's; 1 opens the
    /// gate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forget_bias: Option<f64>,
    /// `deep-sigmoid` or `deep-relu`: supplies the activation and the initialization
    /// that the model does not set itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<String>,
    /// Number of hidden layers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depth: Option<usize>,
    /// Units per hidden layer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<usize>,
    /// Hidden layer sizes, first to last (instead of depth and width).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layers: Option<Vec<usize>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activation: Option<Activation>,
    /// `none` (logits) or an activation applied to the output layer.
    #[serde(default)]
    pub output_activation: OutputActivation,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "deserialize_init")]
    pub init: Option<InitSpec>,
    #[serde(default = "default_true")]
    pub bias: bool,
    #[serde(default)]
    pub bias_init: BiasInitSpec,
    /// `none`, `batch` or `layer`: normalizes every hidden layer's pre-activation, before the
    /// activation.
    #[serde(default)]
    pub norm: Norm,
    /// Adds every hidden layer's output to a residual stream where its input and output
    /// widths match (`h + f(z)`).
    #[serde(default)]
    pub residual: bool,
    /// With `residual`: a learned projection on the skip of layers whose widths differ.
    #[serde(default)]
    pub projection: bool,
    /// Clips this model's global gradient norm (instead of `train.clip_grad_norm`), so that a
    /// clipped and an unclipped twin train side by side.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clip_grad_norm: Option<f64>,
}

/// `none`, or an activation applied to the output.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct OutputActivation(pub Option<Activation>);

impl Serialize for OutputActivation {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.map_or("none", Activation::name))
    }
}

impl<'de> Deserialize<'de> for OutputActivation {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s == "none" {
            return Ok(OutputActivation(None));
        }
        Activation::from_name(&s).map(|a| OutputActivation(Some(a))).ok_or_else(|| {
            de::Error::custom(format!(
                "unknown output activation `{s}`, expected `none` or one of {}",
                Activation::ALL.map(Activation::name).join(", ")
            ))
        })
    }
}

/// An initializer as written in a config: a name (`"legacy"`, `"he-normal"`) or a table
/// with its parameters (`{ kind = "normal", mean = 0.0, std = 0.05 }`).
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InitSpec {
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gain: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub low: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub std: Option<f64>,
}

/// The initializer names a config may use.
pub const INIT_KINDS: [&str; 12] = [
    "constant",
    "uniform",
    "normal",
    "xavier-uniform",
    "xavier-normal",
    "kaiming-uniform",
    "kaiming-normal",
    "he-uniform",
    "he-normal",
    "lecun-normal",
    "orthogonal",
    "legacy",
];

impl InitSpec {
    pub fn named(kind: &str) -> InitSpec {
        InitSpec { kind: kind.to_string(), ..Default::default() }
    }

    /// The written form of a resolved initializer, so that the saved config reruns exactly.
    pub fn from_init(init: &Init) -> InitSpec {
        let mut s = InitSpec::named(init.kind());
        match *init {
            Init::Constant { value } => s.value = Some(value),
            Init::Uniform { low, high } => (s.low, s.high) = (Some(low), Some(high)),
            Init::Normal { mean, std } => (s.mean, s.std) = (Some(mean), Some(std)),
            Init::XavierUniform { gain }
            | Init::XavierNormal { gain }
            | Init::KaimingUniform { gain }
            | Init::KaimingNormal { gain }
            | Init::Orthogonal { gain } => s.gain = Some(gain),
            Init::LecunNormal | Init::Legacy => {}
        }
        s
    }

    /// The models crate's initializer; `key` names this spec in messages.
    pub fn to_init(&self, key: &str) -> Result<Init, ConfigError> {
        let allowed: &[&str] = match self.kind.as_str() {
            "constant" => &["value"],
            "uniform" => &["low", "high"],
            "normal" => &["mean", "std"],
            "xavier-uniform" | "xavier-normal" | "kaiming-uniform" | "kaiming-normal" | "he-uniform"
            | "he-normal" | "orthogonal" => &["gain"],
            "lecun-normal" | "legacy" => &[],
            other => {
                return Err(err(
                    format!("{key}.kind"),
                    format!("unknown initializer `{other}`, expected one of {}", INIT_KINDS.join(", ")),
                ));
            }
        };
        let given = [
            ("gain", self.gain),
            ("value", self.value),
            ("low", self.low),
            ("high", self.high),
            ("mean", self.mean),
            ("std", self.std),
        ];
        for (name, v) in given {
            if v.is_some() && !allowed.contains(&name) {
                return Err(err(format!("{key}.{name}"), format!("does not apply to the `{}` initializer", self.kind)));
            }
        }
        let need = |name: &str, v: Option<f64>| {
            v.ok_or_else(|| err(format!("{key}.{name}"), format!("the `{}` initializer needs `{name}`", self.kind)))
        };
        let relu_gain = std::f64::consts::SQRT_2;
        let init = match self.kind.as_str() {
            "constant" => Init::Constant { value: need("value", self.value)? },
            "uniform" => Init::Uniform { low: need("low", self.low)?, high: need("high", self.high)? },
            "normal" => Init::Normal { mean: self.mean.unwrap_or(0.0), std: need("std", self.std)? },
            "xavier-uniform" => Init::XavierUniform { gain: self.gain.unwrap_or(1.0) },
            "xavier-normal" => Init::XavierNormal { gain: self.gain.unwrap_or(1.0) },
            "kaiming-uniform" | "he-uniform" => Init::KaimingUniform { gain: self.gain.unwrap_or(relu_gain) },
            "kaiming-normal" | "he-normal" => Init::KaimingNormal { gain: self.gain.unwrap_or(relu_gain) },
            "lecun-normal" => Init::LecunNormal,
            "orthogonal" => Init::Orthogonal { gain: self.gain.unwrap_or(1.0) },
            _ => Init::Legacy,
        };
        init.validate().map_err(|m| err(key, m))?;
        Ok(init)
    }
}

impl<'de> Deserialize<'de> for InitSpecOrName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = InitSpecOrName;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an initializer name or a table with `kind` and its parameters")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<InitSpecOrName, E> {
                Ok(InitSpecOrName(InitSpec::named(v)))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<InitSpecOrName, A::Error> {
                InitSpec::deserialize(de::value::MapAccessDeserializer::new(map)).map(InitSpecOrName)
            }
        }
        d.deserialize_any(V)
    }
}

/// Accepts the short form (a name) as well as the table.
struct InitSpecOrName(InitSpec);

/// `ModelSpec::init`: a name or a table.
fn deserialize_init<'de, D: Deserializer<'de>>(d: D) -> Result<Option<InitSpec>, D::Error> {
    InitSpecOrName::deserialize(d).map(|s| Some(s.0))
}

/// How biases start: `"zero"`, `"same-as-weight"`, a number (every bias equal to it), or a
/// distribution written like `init`: a name (`"legacy"`) or a table
/// (`{ kind = "normal", std = 1.0 }`, Nielsen's N(0, 1)).
#[derive(Clone, Debug, PartialEq, Default)]
pub enum BiasInitSpec {
    #[default]
    Zero,
    SameAsWeight,
    Constant(f64),
    Drawn(InitSpec),
}

impl Serialize for BiasInitSpec {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            BiasInitSpec::Zero => s.serialize_str("zero"),
            BiasInitSpec::SameAsWeight => s.serialize_str("same-as-weight"),
            BiasInitSpec::Constant(v) => s.serialize_f64(*v),
            BiasInitSpec::Drawn(spec) => spec.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for BiasInitSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = BiasInitSpec;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("`zero`, `same-as-weight`, a number, or an initializer's name or table")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<BiasInitSpec, E> {
                match v {
                    "zero" => Ok(BiasInitSpec::Zero),
                    "same-as-weight" => Ok(BiasInitSpec::SameAsWeight),
                    _ if INIT_KINDS.contains(&v) => Ok(BiasInitSpec::Drawn(InitSpec::named(v))),
                    _ => Err(E::custom(format!(
                        "unknown bias init `{v}`, expected `zero`, `same-as-weight`, a number, or one of {}",
                        INIT_KINDS.join(", ")
                    ))),
                }
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<BiasInitSpec, A::Error> {
                InitSpec::deserialize(de::value::MapAccessDeserializer::new(map)).map(BiasInitSpec::Drawn)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<BiasInitSpec, E> {
                Ok(BiasInitSpec::Constant(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<BiasInitSpec, E> {
                Ok(BiasInitSpec::Constant(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<BiasInitSpec, E> {
                Ok(BiasInitSpec::Constant(v as f64))
            }
        }
        d.deserialize_any(V)
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
        if let Some(gb) = t.memory_limit_gb {
            if !(gb.is_finite() && gb > 0.0) {
                return Err(err(crate::memory::LIMIT_KEY, format!("must be a positive number of GB, got {gb}")));
            }
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
            self.net(&key, spec, dataset.features, crate::manifest::outputs(&dataset.task), 0)?;
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
            })
            .collect()
    }

    /// The models' configs for a dataset with `input` features and `output` outputs.
    pub fn nets(&self, input: usize, output: usize) -> Result<Vec<(String, NetConfig)>, ConfigError> {
        self.models
            .0
            .iter()
            .enumerate()
            .map(|(i, (name, spec))| {
                // Each model draws from its own stream of the experiment's seed, so adding a
                // model never changes the weights of another.
                let seed = prng::Rng::derive(self.seed, &[0x6d6f_6465_6c, i as u64]).next_u64();
                Ok((name.clone(), self.net(&format!("models.{name}"), spec, input, output, seed)?))
            })
            .collect()
    }

    /// One model's config: an MLP, or a recurrent network over `data.sequence_length` steps of
    /// `input / T` features each.
    fn net(&self, key: &str, spec: &ModelSpec, input: usize, output: usize, seed: u64) -> Result<NetConfig, ConfigError> {
        if spec.kind == ModelKind::Mlp {
            return spec.to_mlp(key, input, output, seed).map(NetConfig::Mlp);
        }
        let steps = self.data.sequence_length.ok_or_else(|| err("data.sequence_length", "missing: a recurrent model needs T"))?;
        if input % steps != 0 {
            return Err(err(
                "data.sequence_length",
                format!("{steps} time steps do not divide the data's {input} features evenly (each step reads features / T of them)"),
            ));
        }
        spec.to_recurrent(key, input / steps, steps, output, seed).map(NetConfig::Recurrent)
    }

    /// The experiment with every default written out, so that the saved copy reruns
    /// exactly even if a default changes later.
    pub fn resolved(&self, task: &Task) -> Experiment {
        let mut e = self.clone();
        e.train.loss = Some(self.loss(task));
        for (_, spec) in &mut e.models.0 {
            if spec.kind != ModelKind::Mlp {
                if let Ok(r) = spec.to_recurrent("", 1, 1, 1, 0) {
                    spec.init = Some(InitSpec::from_init(&r.init));
                    spec.recurrent_init = Some(InitSpec::from_init(&r.recurrent_init));
                    spec.depth = Some(r.layers);
                    if r.cell == Cell::Lstm {
                        spec.forget_bias = Some(r.forget_bias);
                    }
                }
                continue;
            }
            if let Ok(mlp) = spec.to_mlp("", 1, 1, 0) {
                spec.activation = Some(mlp.activation);
                spec.init = Some(InitSpec::from_init(&mlp.init));
                if spec.layers.is_none() {
                    spec.depth = Some(mlp.hidden.len());
                }
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

impl ModelSpec {
    /// The models crate's bias initializer; `key` names the model in messages.
    fn bias_init(&self, key: &str) -> Result<BiasInit, ConfigError> {
        Ok(match &self.bias_init {
            BiasInitSpec::Zero => BiasInit::Zero,
            BiasInitSpec::SameAsWeight => BiasInit::SameAsWeight,
            BiasInitSpec::Constant(value) => BiasInit::Constant { value: *value },
            BiasInitSpec::Drawn(spec) => {
                let drawn = spec.to_init(&format!("{key}.bias_init"))?;
                if matches!(drawn, Init::Orthogonal { .. }) {
                    return Err(err(format!("{key}.bias_init.kind"), "orthogonal is not defined for a bias vector"));
                }
                BiasInit::Drawn(drawn)
            }
        })
    }

    /// A recurrent model's config over `steps` steps of `input` features; `key` names it in
    /// messages (`models.lstm`). The keys of the MLP alone are refused by name.
    pub fn to_recurrent(&self, key: &str, input: usize, steps: usize, output: usize, seed: u64) -> Result<RecurrentConfig, ConfigError> {
        let cell = self.kind.cell().expect("called for a recurrent kind");
        let kind = self.kind.name();
        let mlp_only = [
            ("width", self.width.is_some()),
            ("layers", self.layers.is_some()),
            ("preset", self.preset.is_some()),
            ("activation", self.activation.is_some()),
            ("output_activation", self.output_activation.0.is_some()),
            ("norm", self.norm != Norm::None),
            ("residual", self.residual),
            ("projection", self.projection),
            ("bias", !self.bias),
        ];
        if let Some((field, _)) = mlp_only.iter().find(|(_, set)| *set) {
            let why = match *field {
                "width" | "layers" => "a recurrent model's size is `hidden` (units) and `depth` (stacked layers)",
                "activation" => "the cells' activations are fixed (tanh, and the gates' sigmoids)",
                "output_activation" => "the read-out is linear",
                "bias" => "the cells always have biases",
                _ => "it is a feed-forward remedy; the recurrent models here have none",
            };
            return Err(err(format!("{key}.{field}"), format!("does not apply to kind = \"{kind}\": {why}")));
        }
        let hidden = self.hidden.ok_or_else(|| err(format!("{key}.hidden"), format!("missing: kind = \"{kind}\" needs a hidden size")))?;
        if hidden == 0 {
            return Err(err(format!("{key}.hidden"), "must be at least 1"));
        }
        let layers = self.depth.unwrap_or(1);
        if layers == 0 {
            return Err(err(format!("{key}.depth"), "must be at least 1 (the number of stacked recurrent layers)"));
        }
        if layers > 1000 {
            return Err(err(format!("{key}.depth"), format!("must be at most 1000 stacked layers, got {layers}")));
        }
        if self.forget_bias.is_some() && cell != Cell::Lstm {
            return Err(err(format!("{key}.forget_bias"), format!("applies to the LSTM's forget gate only, not to kind = \"{kind}\"")));
        }
        let default = models::pytorch_init(hidden);
        let init = match &self.init {
            Some(spec) => spec.to_init(&format!("{key}.init"))?,
            None => default.clone(),
        };
        let recurrent_init = match &self.recurrent_init {
            Some(spec) => spec.to_init(&format!("{key}.recurrent_init"))?,
            None => init.clone(),
        };
        let bias_init = self.bias_init(key)?;
        let config = RecurrentConfig {
            cell,
            input,
            steps,
            hidden,
            layers,
            output,
            init,
            recurrent_init,
            bias_init,
            forget_bias: self.forget_bias.unwrap_or(0.0),
            seed,
        };
        config.validate().map_err(|e| match e {
            models::ModelError::Invalid { field, message } => err(format!("{key}.{field}"), message),
        })?;
        Ok(config)
    }

    /// The model's config; `key` names it in messages (`models.sigmoid`).
    pub fn to_mlp(&self, key: &str, input: usize, output: usize, seed: u64) -> Result<MlpConfig, ConfigError> {
        for (field, set) in [("hidden", self.hidden.is_some()), ("recurrent_init", self.recurrent_init.is_some()), ("forget_bias", self.forget_bias.is_some())] {
            if set {
                return Err(err(format!("{key}.{field}"), "applies to recurrent models only (kind = \"rnn\", \"lstm\" or \"gru\")"));
            }
        }
        let preset = match self.preset.as_deref() {
            None => None,
            Some(p) => Some(models::presets::by_name(p, input, 1, 1, output).ok_or_else(|| {
                err(
                    format!("{key}.preset"),
                    format!("unknown preset `{p}`, expected one of {}", models::presets::NAMES.join(", ")),
                )
            })?),
        };
        let hidden = match (&self.layers, self.depth, self.width) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
                return Err(err(format!("{key}.layers"), "give either `layers` or `depth` and `width`, not both"));
            }
            (Some(layers), None, None) => {
                if let Some(i) = layers.iter().position(|&w| w == 0) {
                    return Err(err(format!("{key}.layers"), format!("layer {} has width 0", i + 1)));
                }
                layers.clone()
            }
            (None, Some(depth), Some(width)) => {
                if depth == 0 {
                    return Err(err(format!("{key}.depth"), "must be at least 1 (a model with no hidden layer has no depth to study)"));
                }
                if depth > 10_000 {
                    return Err(err(format!("{key}.depth"), format!("must be at most 10000, got {depth}")));
                }
                if width == 0 {
                    return Err(err(format!("{key}.width"), "must be at least 1"));
                }
                vec![width; depth]
            }
            (None, None, _) => return Err(err(format!("{key}.depth"), "missing: give `depth` and `width`, or `layers`")),
            (None, Some(_), None) => return Err(err(format!("{key}.width"), "missing: `depth` needs a `width`")),
        };
        let activation = self.activation.or(preset.as_ref().map(|p| p.activation)).ok_or_else(|| {
            err(format!("{key}.activation"), "missing: give an `activation` or a `preset`")
        })?;
        let init = match (&self.init, &preset) {
            (Some(spec), _) => spec.to_init(&format!("{key}.init"))?,
            (None, Some(p)) => p.init.clone(),
            (None, None) => default_init(activation),
        };
        let bias_init = self.bias_init(key)?;
        let mlp = MlpConfig {
            input,
            hidden,
            output,
            activation,
            output_activation: self.output_activation.0,
            bias: self.bias,
            init,
            bias_init,
            norm: self.norm,
            residual: self.residual,
            projection: self.projection,
            seed,
        };
        mlp.validate().map_err(|e| match e {
            models::ModelError::Invalid { field, message } => err(format!("{key}.{field}"), message),
        })?;
        Ok(mlp)
    }
}

/// The customary initialization for an activation: He for the ReLU family, Glorot's for
/// the rest.
pub fn default_init(activation: Activation) -> Init {
    match activation {
        Activation::Relu | Activation::LeakyRelu => Init::he_normal(),
        _ => Init::xavier_uniform(),
    }
}
