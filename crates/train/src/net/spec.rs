//! A `[models.<name>]` table as written: one flat set of keys for every kind of model (so that
//! a key of the wrong kind is refused by name, not as an unknown field), the initializers as
//! a config writes them, and the kind that picks which config module (`mlp.rs`,
//! `recurrent.rs`, `cnn.rs`) reads the table.

use crate::config_error::{ConfigError, err};
use chain::Activation;
use models::{BiasInit, Block, Cell, Init, Norm};
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

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
    /// A CNN of stages of 3x3 convolutions on the data's images (`channels` per stage,
    /// `depth` convolutions each).
    Cnn,
}

impl ModelKind {
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Mlp => "mlp",
            ModelKind::Rnn => "rnn",
            ModelKind::Lstm => "lstm",
            ModelKind::Gru => "gru",
            ModelKind::Cnn => "cnn",
        }
    }

    /// The recurrent cell, for a recurrent kind.
    pub fn cell(self) -> Option<Cell> {
        match self {
            ModelKind::Mlp | ModelKind::Cnn => None,
            ModelKind::Rnn => Some(Cell::Rnn),
            ModelKind::Lstm => Some(Cell::Lstm),
            ModelKind::Gru => Some(Cell::Gru),
        }
    }
}

/// One model. An MLP has either `depth` and `width`, or an explicit list of hidden `layers`; a
/// recurrent model (`kind = "rnn" | "lstm" | "gru"`) has `hidden` units in each of `depth`
/// stacked layers; a CNN (`kind = "cnn"`) has `channels` per stage and `depth` convolutions
/// in each.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// `mlp` (the default), a recurrent `rnn`, `lstm` or `gru` over the data's time steps
    /// (`data.sequence_length`), or a `cnn` on the data's images.
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
    /// Number of hidden layers (a CNN's: blocks per stage).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depth: Option<usize>,
    /// A CNN's channels, one number per stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channels: Option<Vec<usize>>,
    /// A CNN's block: `single` (one convolution, the activation before the sum; the
    /// default) or `basic` (He et al.'s two convolutions, the activation after the sum).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block: Option<Block>,
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
    /// activation (a CNN's: `none` or `batch`, BatchNorm2d after every convolution).
    #[serde(default)]
    pub norm: Norm,
    /// Adds every hidden layer's output to a residual stream where its input and output
    /// widths match (`h + f(z)`); a CNN adds every convolution's but the first, projecting the
    /// skip where the shape changes.
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

fn default_true() -> bool {
    true
}

impl ModelSpec {
    /// The models crate's bias initializer; `key` names the model in messages.
    pub(crate) fn bias_init(&self, key: &str) -> Result<BiasInit, ConfigError> {
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
}
