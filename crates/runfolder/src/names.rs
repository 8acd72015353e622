//! The names every reader and writer of a run folder agrees on: files, columns, sources and
//! metrics.

/// `manifest.json`: what ran, how it ended, and every model's layers and parameters.
pub const MANIFEST: &str = "manifest.json";
/// `config.toml`: the resolved experiment (written by `train`; a library user may have none).
pub const CONFIG: &str = "config.toml";
/// `epochs.csv`: loss and accuracy per model and epoch.
pub const EPOCHS: &str = "epochs.csv";
/// `steps.csv`: loss and global gradient norm per logged step.
pub const STEPS: &str = "steps.csv";
/// `layers.csv`: per-layer metrics (long format).
pub const LAYERS: &str = "layers.csv";
/// `layer_epochs.csv`: per-epoch aggregates of the train rows of `layers.csv`.
pub const LAYER_EPOCHS: &str = "layer_epochs.csv";
/// `params.csv`: per-parameter-tensor metrics (long format).
pub const PARAMS: &str = "params.csv";
/// `grad_histograms.csv`: per-layer counts of |dL/dW| entries by decade (long format).
pub const HISTOGRAMS: &str = "grad_histograms.csv";

/// `diagnosis.json`: what the diagnosis found in the run, per model (written at the end of a
/// run by `train`, and by `cargo xtask diagnose`; see [`crate::Diagnosis`]). Not a diagnose
/// folder's `diagnose.json` ([`diagnose::INFO`]).
pub const DIAGNOSIS: &str = "diagnosis.json";

/// `time_steps.csv`: per-time-step metrics of recurrent layers (long format; only a header
/// for a model without recurrent layers).
pub const TIME_STEPS: &str = "time_steps.csv";

/// The CSV files, in the order a writer creates them.
pub const CSV_FILES: [&str; 7] = [EPOCHS, STEPS, LAYERS, LAYER_EPOCHS, PARAMS, HISTOGRAMS, TIME_STEPS];

pub const EPOCHS_COLUMNS: [&str; 9] =
    ["model", "epoch", "train_loss", "train_accuracy", "test_loss", "test_accuracy", "seconds", "valid_loss", "valid_accuracy"];
pub const STEPS_COLUMNS: [&str; 7] = ["model", "epoch", "step", "loss", "grad_norm", "grad_norm_clipped", "lr"];
pub const LAYERS_COLUMNS: [&str; 7] = ["model", "epoch", "step", "source", "layer", "metric", "value"];
pub const LAYER_EPOCHS_COLUMNS: [&str; 8] = ["model", "epoch", "layer", "metric", "mean", "min", "max", "count"];
pub const PARAMS_COLUMNS: [&str; 8] = ["model", "epoch", "step", "source", "layer", "param", "metric", "value"];
pub const HISTOGRAMS_COLUMNS: [&str; 7] = ["model", "epoch", "step", "source", "layer", "bin", "count"];
/// `t` counts time steps from 1 (the first input) to T (the last).
pub const TIME_STEPS_COLUMNS: [&str; 8] = ["model", "epoch", "step", "source", "layer", "t", "metric", "value"];

/// A `source` value: measured on the training batch of a step, before its update.
pub const SOURCE_TRAIN: &str = "train";
/// A `source` value: measured on the fixed probe set, with no update.
pub const SOURCE_PROBE: &str = "probe";

/// The per-layer metric names of `layers.csv` and `layer_epochs.csv`.
pub mod metric {
    /// L2 norm of the gradient of the layer's weights (every parameter but its bias).
    pub const GRAD_NORM_WEIGHT: &str = "grad_norm_weight";
    /// L2 norm of the gradient of the layer's bias (`bias` or `beta`).
    pub const GRAD_NORM_BIAS: &str = "grad_norm_bias";
    /// Mean over examples of ||dL/dz|| at the layer's tap, each example's own loss.
    pub const DELTA_NORM: &str = "delta_norm";
    /// Mean over examples of ||dL/dh|| of the residual stream at the layer's output (a
    /// residual block's `h + f(z)`), each example's own loss: what the skip carries past the
    /// layer, beside the branch's `delta_norm`.
    pub const STREAM_DELTA_NORM: &str = "stream_delta_norm";
    /// Frobenius norm of the layer's weights.
    pub const WEIGHT_NORM: &str = "weight_norm";
    /// ||W_after - W_before|| / ||W_before|| of the step's update (train rows only).
    pub const UPDATE_RATIO: &str = "update_ratio";
    /// ||W - W_0|| / ||W_0||.
    pub const DIST_FROM_INIT: &str = "dist_from_init";
    /// Mean of the tapped activation.
    pub const ACT_MEAN: &str = "act_mean";
    /// Population standard deviation of the tapped activation.
    pub const ACT_STD: &str = "act_std";
    /// Share of sigmoid or tanh outputs in the flat tails.
    pub const SATURATION: &str = "saturation";
    /// Share of ReLU-family units inactive for every example of the batch.
    pub const DEAD_FRACTION: &str = "dead_fraction";
    /// Share of dL/dW entries that are 0 or below f32's normal range.
    pub const GRAD_UNDERFLOW: &str = "grad_underflow";

    /// Every per-layer metric, in the order they are written.
    pub const LAYER: [&str; 12] = [
        GRAD_NORM_WEIGHT,
        GRAD_NORM_BIAS,
        DELTA_NORM,
        STREAM_DELTA_NORM,
        WEIGHT_NORM,
        UPDATE_RATIO,
        DIST_FROM_INIT,
        ACT_MEAN,
        ACT_STD,
        SATURATION,
        DEAD_FRACTION,
        GRAD_UNDERFLOW,
    ];

    /// L2 norm of a parameter tensor's gradient (`params.csv`).
    pub const GRAD_NORM: &str = "grad_norm";

    /// Every per-parameter metric of `params.csv`, in the order they are written.
    pub const PARAM: [&str; 5] = [GRAD_NORM, WEIGHT_NORM, UPDATE_RATIO, DIST_FROM_INIT, GRAD_UNDERFLOW];

    /// Mean over examples of ||dL/dh_t||, the total derivative of each example's own loss
    /// with respect to a recurrent layer's hidden state at time step t (through the read-out
    /// and through every later step): `delta_norm`'s twin on the time axis (`time_steps.csv`).
    pub const HIDDEN_DELTA_NORM: &str = "hidden_delta_norm";
    /// Mean over examples and units of a gated layer's forget gate (LSTM) or update gate
    /// (GRU) at time step t: near 1, the cell keeps its past (`time_steps.csv`).
    pub const GATE_MEAN: &str = "gate_mean";
    /// L2 norm of time step t's contribution to the gradient of the layer's recurrent weight
    /// matrix U, `h_{t-1}^T dL/da_t` (a the pre-activation): the contributions of all t sum to
    /// dL/dU (`time_steps.csv`).
    pub const RECURRENT_GRAD_NORM: &str = "recurrent_grad_norm";

    /// Every per-time-step metric of `time_steps.csv`, in the order they are written.
    pub const TIME_STEP: [&str; 3] = [HIDDEN_DELTA_NORM, GATE_MEAN, RECURRENT_GRAD_NORM];
}

/// The header line of a CSV file with these columns.
pub fn header(columns: &[&str]) -> String {
    columns.join(",")
}

/// The folder `train diagnose` writes (`runs/<stamp>-diagnose`): the mean-field theory's
/// prediction beside the measured decay of the back-propagated error, per net at
/// initialization. `cargo xtask report` tells it from a training run by [`diagnose::SUMMARY`].
pub mod diagnose {
    /// The columns that name a net in every file of the folder, first in each.
    pub const NET_COLUMNS: [&str; 6] = ["activation", "weight_var", "bias_var", "depth", "width", "seed"];

    /// [`NET_COLUMNS`] followed by a file's own columns. A wrong `N` (not 6 more than the
    /// own columns) stops the build.
    const fn with_net<const N: usize, const M: usize>(own: [&'static str; M]) -> [&'static str; N] {
        assert!(N == NET_COLUMNS.len() + M, "a diagnose file's columns are NET_COLUMNS and its own");
        let mut out = [""; N];
        let mut i = 0;
        while i < N {
            out[i] = if i < NET_COLUMNS.len() { NET_COLUMNS[i] } else { own[i - NET_COLUMNS.len()] };
            i += 1;
        }
        out
    }

    /// `diagnose.json`: the settings and the theory's numbers that do not vary per net
    /// ([`crate::DiagnoseInfo`]).
    pub const INFO: &str = "diagnose.json";
    /// `diagnose.csv`: one row per net (activation, sigma_w^2, seed, ...): the fitted
    /// per-layer factor of ||delta||^2 toward the input, beside chi_1 at q*.
    pub const SUMMARY: &str = "diagnose.csv";
    pub const SUMMARY_COLUMNS: [&str; 8] = with_net(["measured_factor", "predicted_chi1"]);
    /// `diagnose_layers.csv`: one row per net and hidden layer (1 = the first): the mean over
    /// the probe examples of ||dL/dz||, the theory's q^l from the data's q^1 and its
    /// chi(q^l) = sigma_w^2 E[phi'(sqrt(q^l) z)^2], and whether the layer entered the fit (1)
    /// or not (0).
    pub const LAYERS: &str = "diagnose_layers.csv";
    pub const LAYERS_COLUMNS: [&str; 11] = with_net(["layer", "delta_norm", "predicted_q", "predicted_chi", "fitted"]);
    /// `diagnose_spectrum.csv` (written with `train diagnose --spectrum K`): one row per net,
    /// hidden layer l from 2 and Jacobian: `layer`, hidden layer l's own dh^l/dh^{l-1}, or
    /// `input-output`, the product of those of layers 2 to l. The singular values sigma of
    /// the K examples' matrices together: how many (`count`), the mean of sigma^2 and of
    /// sigma, the largest, the 10%, 50% and 90% quantiles of sigma (empty where below 1e-10 of
    /// the largest, within the rounding of the matrix), `spread` = var(sigma^2) /
    /// mean(sigma^2)^2, and the theory's: `predicted_mean_sq` (chi(q^l), or the product of
    /// chi(q^k) over layers 2 to l) and `predicted_spread` (free probability's, in the limit
    /// of wide layers: `meanfield::spectrum`).
    pub const SPECTRUM: &str = "diagnose_spectrum.csv";
    pub const SPECTRUM_COLUMNS: [&str; 18] = with_net([
        "layer",
        "jacobian",
        "count",
        "mean_sq",
        "mean",
        "max",
        "p10",
        "p50",
        "p90",
        "spread",
        "predicted_mean_sq",
        "predicted_spread",
    ]);
    /// The `jacobian` of one layer.
    pub const SPECTRUM_LAYER: &str = "layer";
    /// The `jacobian` of layers 2 to l together.
    pub const SPECTRUM_INPUT_OUTPUT: &str = "input-output";
}
