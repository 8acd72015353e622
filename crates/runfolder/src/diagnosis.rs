//! `diagnosis.json`: what the diagnosis (`crates/diagnosis`) found in a run folder, one type
//! for the writer (`train` at the end of a run, `cargo xtask diagnose`) and every reader (the
//! report). Not to be confused with a `train diagnose` folder's `diagnose.json`
//! ([`crate::DiagnoseInfo`]), which holds the mean-field fit of nets at initialization.
//!
//! The reader is lenient like the manifest's: every field but `models` has a default, so that
//! a newer diagnosis with more fields still loads in an older report.

use serde::{Deserialize, Serialize};

/// `diagnosis.json`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Diagnosis {
    /// The run's name, as its manifest says it.
    #[serde(default)]
    pub run: String,
    /// The version of the program that diagnosed the run (its thresholds are that version's).
    #[serde(default)]
    pub version: Option<String>,
    /// One entry per model of the manifest, in its order.
    pub models: Vec<ModelDiagnosis>,
}

/// What the diagnosis says of one model.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelDiagnosis {
    pub model: String,
    /// True when no finding persists at the end of the run (a finding that cleared up during
    /// training, such as an LSTM's error through time at initialization, is listed with
    /// `persists: false` and leaves the model healthy).
    pub healthy: bool,
    #[serde(default)]
    pub findings: Vec<Finding>,
    /// The few numbers that show the model's state at the end (for a healthy model, those
    /// that show it is healthy).
    #[serde(default)]
    pub vitals: Vec<Evidence>,
    /// What could not be judged, and why (a missing file, a frozen layer, one layer only).
    #[serde(default)]
    pub not_judged: Vec<String>,
    /// Things worth knowing that are no finding (float16's range, clipping at work).
    #[serde(default)]
    pub notes: Vec<String>,
}

/// One thing that is wrong with a model, where, since when, and what to try.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub kind: Kind,
    /// The layers concerned, by name (the manifest's, or `layer N` where it has none).
    #[serde(default)]
    pub layers: Vec<String>,
    /// The same layers by number (1 = the input side), as in the CSV files.
    #[serde(default)]
    pub layer_numbers: Vec<u32>,
    /// The step and epoch of the first measurement of the first run of measurements that
    /// showed it (step 0, epoch 0: at initialization).
    #[serde(default)]
    pub first_step: Option<u64>,
    #[serde(default)]
    pub first_epoch: Option<u32>,
    /// Whether the last measurement still shows it.
    #[serde(default)]
    pub persists: bool,
    pub severity: Severity,
    /// The numbers that raised it, each beside its threshold.
    #[serde(default)]
    pub evidence: Vec<Evidence>,
    pub remedy: Remedy,
    /// The finding in one plain sentence.
    #[serde(default)]
    pub summary: String,
}

/// The fixed vocabulary of findings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// The input side receives orders of magnitude less gradient than the output side.
    Vanishing,
    /// The input side receives orders of magnitude more, or the gradient norm spikes.
    Exploding,
    /// Training went non-finite and the model stopped.
    Diverged,
    /// A sigmoid or tanh layer's outputs are mostly in the flat tails.
    Saturation,
    /// A ReLU-family layer's units mostly never fire on the probe set.
    DeadUnits,
    /// A layer's update-to-weight ratio is far below about 1e-3.
    UpdateTooSmall,
    /// A layer's update-to-weight ratio is far above about 1e-3.
    UpdateTooLarge,
    /// Gradient entries lost to float32's range.
    Underflow,
    /// Activation variance shrinks or grows geometrically with depth at initialization.
    PoorInit,
    /// A recurrent model's error ‖dL/dh_t‖ decays along t.
    VanishingThroughTime,
    /// A kind this version does not know (read only; never written).
    #[serde(other)]
    Unknown,
}

impl Kind {
    /// Every kind a diagnosis writes, in the order findings are listed.
    pub const ALL: [Kind; 10] = [
        Kind::Diverged,
        Kind::Exploding,
        Kind::Vanishing,
        Kind::VanishingThroughTime,
        Kind::PoorInit,
        Kind::Saturation,
        Kind::DeadUnits,
        Kind::Underflow,
        Kind::UpdateTooSmall,
        Kind::UpdateTooLarge,
    ];

    /// The word the file uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Vanishing => "vanishing",
            Kind::Exploding => "exploding",
            Kind::Diverged => "diverged",
            Kind::Saturation => "saturation",
            Kind::DeadUnits => "dead-units",
            Kind::UpdateTooSmall => "update-too-small",
            Kind::UpdateTooLarge => "update-too-large",
            Kind::Underflow => "underflow",
            Kind::PoorInit => "poor-init",
            Kind::VanishingThroughTime => "vanishing-through-time",
            Kind::Unknown => "unknown",
        }
    }
}

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; the model may still learn.
    Warning,
    /// The layers concerned do not learn, or training broke down.
    Severe,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Severe => "severe",
        }
    }
}

/// One number behind a finding (or a vital), with the threshold it was held against.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// What was measured, in words (`‖dL/dW₁‖ / ‖dL/dW_L‖ on the probe set`).
    pub quantity: String,
    pub value: f64,
    /// The threshold's name (one of the diagnosis's constants) and value, when the number
    /// was held against one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// Where and when: `probe` or `train`, the epoch and the step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<u64>,
}

/// What to try: the change, the config key or library call that makes it, and the shipped
/// config that demonstrates it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Remedy {
    /// The change, in words.
    pub action: String,
    /// The config keys (`models.<name>.…`) or library calls that apply it.
    #[serde(default)]
    pub apply: Vec<String>,
    /// The shipped configs that show the remedy at work (`configs/remedies.toml`).
    #[serde(default)]
    pub demonstrated_by: Vec<String>,
}
