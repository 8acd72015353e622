//! `diagnose.json`: what `train diagnose` measured on and the theory's numbers that hold for
//! every net of the folder, one type for the writer and the reader.

use serde::{Deserialize, Serialize};

/// The settings of a diagnose folder and the theory's per-folder numbers.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DiagnoseInfo {
    /// `tanh`, `sigmoid`, `relu`, `leaky-relu` or `identity`.
    pub activation: String,
    /// The leaky ReLU's negative slope (absent for the others).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leaky_slope: Option<f64>,
    /// sigma_b^2 (one per folder).
    pub bias_var: f64,
    /// Every sigma_w^2 measured, ascending.
    pub weight_vars: Vec<f64>,
    /// Hidden layers and their width; the output layer comes after them.
    pub depth: usize,
    pub width: usize,
    pub seeds: Vec<u64>,
    /// The data source the probe examples came from, and how many.
    pub data: String,
    pub probe: usize,
    /// The mean over the probe examples and features of x^2: the theory's first layer has
    /// q^1 = sigma_w^2 * input_second_moment + sigma_b^2.
    pub input_second_moment: f64,
    /// The hidden layers the growth factor is fitted over, first and last (1-based).
    pub fit_first: usize,
    pub fit_last: usize,
    /// The critical sigma_w^2 where chi_1 = 1 for this sigma_b^2 (none where chi_1 stays
    /// below 1).
    #[serde(default)]
    pub critical_weight_var: Option<f64>,
    /// How the weights were drawn: `normal`, `uniform` or `orthogonal`, each with variance
    /// sigma_w^2 / n_in (absent in folders written before the choice existed: `normal`).
    #[serde(default)]
    pub init: Option<String>,
    /// The probe examples each net's Jacobian spectrum was computed at (0: none, and no
    /// `diagnose_spectrum.csv`).
    #[serde(default)]
    pub spectrum_examples: usize,
    #[serde(default)]
    pub backend: Option<String>,
    #[serde(default)]
    pub started_at: Option<String>,
    #[serde(default)]
    pub git_revision: Option<String>,
}
