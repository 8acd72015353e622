//! `manifest.json`: what ran, on what, how it ended, and each model's layers and parameters.
//!
//! One type serves the writer and the reader. The reader is lenient: every field but
//! `models` has a default, so that the manifest of a run that failed early still loads, and
//! unknown fields are ignored, so that an older report tool reads a newer run.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::process::ProcessInfo;

/// How a run ended (`running` while it trains, or when it was killed before it could say).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Running,
    Completed,
    Interrupted,
    Diverged,
    Failed,
    /// A status this version does not know (read only; never written).
    #[serde(other)]
    Unknown,
}

impl Status {
    /// The word the manifest uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Running => "running",
            Status::Completed => "completed",
            Status::Interrupted => "interrupted",
            Status::Diverged => "diverged",
            Status::Failed => "failed",
            Status::Unknown => "unknown",
        }
    }
}

/// `manifest.json`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub status: Status,
    /// A sentence when the status is not `completed`.
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub seed: Option<u64>,
    #[serde(default)]
    pub backend: Option<String>,
    #[serde(default)]
    pub threads: Option<usize>,
    /// Whether subnormal float32 values were flushed to zero on the training threads.
    #[serde(default)]
    pub flush_denormals: Option<bool>,
    #[serde(default)]
    pub version: Option<String>,
    /// `null` outside a git checkout.
    #[serde(default)]
    pub git_revision: Option<String>,
    #[serde(default)]
    pub started_at: Option<String>,
    #[serde(default)]
    pub ended_at: Option<String>,
    #[serde(default)]
    pub dataset: Option<DatasetInfo>,
    /// `classification` or `regression`.
    #[serde(default)]
    pub task: Option<String>,
    /// The loss function's name (`cross-entropy`, `mse`, …).
    #[serde(default)]
    pub loss: Option<String>,
    /// The optimizer's kind as a config names it (`sgd`, `adam`); absent where the writer did
    /// not say (a loop of one's own, a manifest written before it was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optimizer: Option<String>,
    pub models: Vec<ModelInfo>,
    #[serde(default)]
    pub telemetry: Option<TelemetryInfo>,
    /// The process that writes the run, so that a reader can tell a run still training from
    /// one killed before it could close (see [`ProcessInfo`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<ProcessInfo>,
    /// The memory the run was estimated to need before it started, and the limit it was
    /// checked against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<MemoryInfo>,
}

/// The manifest's `memory` object: the estimate of the run's peak memory, made from the
/// config before anything was allocated, in bytes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MemoryInfo {
    /// The whole run's estimate.
    pub estimate_bytes: u64,
    /// Its parts over all models, by name (`parameters`, `gradients`, `optimizer`,
    /// `activations`, `telemetry`, `data`).
    #[serde(default)]
    pub parts: BTreeMap<String, u64>,
    /// Each model's share (its activations counted as if it ran alone).
    #[serde(default)]
    pub models: BTreeMap<String, u64>,
    /// The limit the estimate was checked against (`null` when none was known).
    #[serde(default)]
    pub limit_bytes: Option<u64>,
    /// Where the limit came from: the config key or the system file.
    #[serde(default)]
    pub limit_source: Option<String>,
}

/// The manifest's `dataset` object.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DatasetInfo {
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub features: Option<usize>,
    /// `null` for regression.
    #[serde(default)]
    pub classes: Option<usize>,
    #[serde(default)]
    pub outputs: Option<usize>,
    #[serde(default)]
    pub train: Option<usize>,
    #[serde(default)]
    pub valid: Option<usize>,
    #[serde(default)]
    pub test: Option<usize>,
    #[serde(default)]
    pub probe: Option<usize>,
    /// The number of time steps T of a sequence task (absent for a feed-forward one): each
    /// example is T inputs of `features / T` values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence_length: Option<usize>,
    /// The shape of an example when the examples are images (absent for tables, spirals
    /// and the adding problem): its `features` are `channels` planes of `height` rows of
    /// `width` pixels, channel by channel, each row by row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageInfo>,
}

/// The manifest's `dataset.image` object: `{ "channels": 1, "height": 28, "width": 28 }`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageInfo {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
}

/// One entry of the manifest's `models`.
///
/// Manifests written before layers had names hold the MLP's widths under `layers`
/// (`"layers": [784, 64, 10]`); such a manifest still loads, with those numbers as `widths`
/// and no layer entries (see [`ModelInfoRepr`]).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "ModelInfoRepr")]
pub struct ModelInfo {
    pub name: String,
    /// What `train` built: `mlp`, or a recurrent `rnn`, `lstm` or `gru` (absent for a model
    /// `train` did not build, and in manifests written before recurrent models).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// A recurrent model's hidden size (every stacked layer has the same).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hidden: Option<usize>,
    /// The MLP's settings (absent for a model `train` did not build).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_activation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bias_init: Option<String>,
    /// An MLP's widths from input to output (empty for other models).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub widths: Vec<usize>,
    /// The number of trainable scalars.
    #[serde(default)]
    pub parameters: Option<usize>,
    /// The weights file, relative to the run folder, when one was saved.
    #[serde(default)]
    pub weights: Option<String>,
    /// The layers, in order: entry `i` is layer `i + 1` of every CSV file.
    #[serde(default)]
    pub layers: Vec<LayerInfo>,
    /// An MLP's normalization before each hidden activation: `none`, `batch` or `layer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub norm: Option<String>,
    /// Whether an MLP's hidden layers add their output to a residual stream (`h + f(z)`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub residual: Option<bool>,
    /// A CNN's block form: `single` (one convolution) or `basic` (He et al.'s two).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block: Option<String>,
    /// An LSTM's forget-gate bias at initialization (absent for other models, and in
    /// manifests written before it was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forget_bias: Option<f64>,
    /// The global gradient norm this model was clipped to, when it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clip_grad_norm: Option<f64>,
    /// Where this model's training went non-finite, when it did: the model stopped there,
    /// and the run's other models trained on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diverged: Option<Divergence>,
}

/// Where and why one model's training stopped on a non-finite value.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Divergence {
    /// The epoch of the step (1-based), or 0 when it happened at initialization.
    pub epoch: usize,
    /// The step (counted from 1 across epochs) whose loss or gradient was not finite; 0 at
    /// initialization.
    pub step: usize,
    /// What went non-finite, naming the parameter where it is known.
    pub reason: String,
}

/// [`ModelInfo`] as a manifest holds it, old or new: the same fields, with `layers` either
/// the layer entries or (in older manifests) the MLP's widths. serde cannot fill one field
/// from another's key, so the model is read through this and converted.
#[derive(Deserialize)]
struct ModelInfoRepr {
    name: String,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    hidden: Option<usize>,
    #[serde(default)]
    activation: Option<String>,
    #[serde(default)]
    output_activation: Option<String>,
    #[serde(default)]
    init: Option<String>,
    #[serde(default)]
    bias_init: Option<String>,
    #[serde(default)]
    widths: Vec<usize>,
    #[serde(default)]
    parameters: Option<usize>,
    #[serde(default)]
    weights: Option<String>,
    #[serde(default, deserialize_with = "layers_or_widths")]
    layers: LayersRepr,
    #[serde(default)]
    norm: Option<String>,
    #[serde(default)]
    residual: Option<bool>,
    #[serde(default)]
    block: Option<String>,
    #[serde(default)]
    forget_bias: Option<f64>,
    #[serde(default)]
    clip_grad_norm: Option<f64>,
    #[serde(default)]
    diverged: Option<Divergence>,
}

/// The two shapes of a model's `layers`.
#[derive(Debug, Default, PartialEq)]
enum LayersRepr {
    Layers(Vec<LayerInfo>),
    /// An older manifest's MLP widths, from input to output.
    Widths(Vec<usize>),
    #[default]
    Absent,
}

/// Reads `layers` as widths when every entry is a number, else as layer entries (whose
/// errors, such as a missing `name`, are serde's own).
fn layers_or_widths<'de, D: serde::Deserializer<'de>>(d: D) -> Result<LayersRepr, D::Error> {
    let raw: Vec<serde_json::Value> = Vec::deserialize(d)?;
    if !raw.is_empty() && raw.iter().all(serde_json::Value::is_number) {
        let widths = raw.into_iter().map(serde_json::from_value).collect::<Result<_, _>>();
        return widths.map(LayersRepr::Widths).map_err(serde::de::Error::custom);
    }
    let layers = raw.into_iter().map(serde_json::from_value).collect::<Result<_, _>>();
    layers.map(LayersRepr::Layers).map_err(serde::de::Error::custom)
}

impl From<ModelInfoRepr> for ModelInfo {
    fn from(r: ModelInfoRepr) -> ModelInfo {
        let (layers, old_widths) = match r.layers {
            LayersRepr::Layers(l) => (l, Vec::new()),
            LayersRepr::Widths(w) => (Vec::new(), w),
            LayersRepr::Absent => (Vec::new(), Vec::new()),
        };
        ModelInfo {
            name: r.name,
            kind: r.kind,
            hidden: r.hidden,
            activation: r.activation,
            output_activation: r.output_activation,
            init: r.init,
            bias_init: r.bias_init,
            // An explicit `widths` wins; an old manifest has only the numbers in `layers`.
            widths: if r.widths.is_empty() { old_widths } else { r.widths },
            parameters: r.parameters,
            weights: r.weights,
            layers,
            norm: r.norm,
            residual: r.residual,
            block: r.block,
            forget_bias: r.forget_bias,
            clip_grad_norm: r.clip_grad_norm,
            diverged: r.diverged,
        }
    }
}

/// One layer: a group of parameters (by default the module that owns them) and its tap.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LayerInfo {
    /// The module path (`layers.3`, `conv1`, `block2.norm`) or the name the user gave it.
    pub name: String,
    /// The parameters' paths, as burn-store names them (`layers.3.weight`).
    #[serde(default)]
    pub params: Vec<ParamInfo>,
    /// The activation the layer's tap names (`relu`, `sigmoid`, …), if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activation: Option<String>,
}

/// One parameter tensor.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ParamInfo {
    pub path: String,
    pub shape: Vec<usize>,
}

/// The manifest's `telemetry` object.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TelemetryInfo {
    #[serde(default)]
    pub enabled: bool,
    #[serde(default)]
    pub every: usize,
    #[serde(default)]
    pub early_steps: Vec<usize>,
    /// The probe set's size (0: no probe).
    #[serde(default)]
    pub probe: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(json: serde_json::Value) -> Result<ModelInfo, serde_json::Error> {
        serde_json::from_value(json)
    }

    #[test]
    fn an_old_manifest_s_numeric_layers_are_the_widths() {
        let m = model(serde_json::json!({ "name": "sigmoid", "layers": [784, 64, 64, 10], "parameters": 55050 }))
            .expect("an old model entry loads");
        assert_eq!(m.widths, [784, 64, 64, 10]);
        assert!(m.layers.is_empty());
        assert_eq!(m.parameters, Some(55050));
    }

    #[test]
    fn named_layers_round_trip() {
        let m = ModelInfo {
            name: "cnn".into(),
            layers: vec![
                LayerInfo {
                    name: "conv1".into(),
                    params: vec![ParamInfo { path: "conv1.weight".into(), shape: vec![8, 1, 3, 3] }],
                    activation: Some("relu".into()),
                },
                LayerInfo { name: "fc2".into(), params: Vec::new(), activation: None },
            ],
            ..ModelInfo::default()
        };
        let json = serde_json::to_value(&m).expect("serializes");
        assert!(json.get("widths").is_none(), "no widths for a model that is not an MLP");
        assert_eq!(model(json).expect("reads back"), m);
        let mlp = ModelInfo { name: "mlp".into(), widths: vec![4, 3, 2], ..ModelInfo::default() };
        assert_eq!(model(serde_json::to_value(&mlp).expect("serializes")).expect("reads back"), mlp);
    }

    #[test]
    fn absent_or_empty_layers_and_bad_entries() {
        assert!(model(serde_json::json!({ "name": "m" })).expect("no layers").layers.is_empty());
        assert!(model(serde_json::json!({ "name": "m", "layers": [] })).expect("empty layers").widths.is_empty());
        let err = model(serde_json::json!({ "name": "m", "layers": [{ "params": [] }] })).expect_err("no name");
        assert!(err.to_string().contains("name"), "{err}");
    }

    #[test]
    fn an_unknown_status_reads_as_unknown() {
        let m: Manifest = serde_json::from_str(r#"{ "status": "paused", "models": [] }"#).expect("loads");
        assert_eq!(m.status, Status::Unknown);
    }
}
