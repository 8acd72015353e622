//! The headline numbers of each model: final test accuracy and loss, the first-to-last
//! layer gradient ratio at initialization and at the end, for a recurrent model the
//! first-to-last time step ratio of the error ‖dL/dh_t‖, and whether it stalled or exploded.

use runfolder::metric;

use crate::divergence::Diverged;
use crate::numfmt;
use crate::run::{Run, Source};
use crate::subject::Subject;

/// The ratio under which a model counts as stalled.
pub const STALL_RATIO: f64 = 1e-2;

/// The stall rule as the page states it.
pub const STALL_RULE: &str = "A model is stalled when, on the probe set after its last epoch, the weight-gradient norm of its first layer (‖dL/dW₁‖) is below 1e-2 of its last layer's: its input side has all but stopped learning.";

/// The ratio over which a model counts as exploding: the mirror of [`STALL_RATIO`].
pub const EXPLODE_RATIO: f64 = 1e2;

/// The exploding rule as the page states it.
pub const EXPLODE_RULE: &str = "A model is exploding when its training diverged (its loss or a gradient became inf or NaN, and it stopped there; the table says at which step), or when, on the probe set after its last epoch, the weight-gradient norm of its first layer (‖dL/dW₁‖) is over 100 times its last layer's: its input side gets far more gradient than its output side.";

/// What the ratio columns mean, as the page states it.
pub const RATIO_RULE: &str = "The first layer's weight-gradient norm over the last layer's, ‖dL/dW₁‖ / ‖dL/dW_L‖, on the probe set, at initialization (start) and after the last epoch (end): 1 means the first layer gets as much gradient as the last, 1e-3 a thousandth.";

/// What the time ratio columns mean, as the page states it (only on pages with a recurrent
/// model).
pub const TIME_RATIO_RULE: &str = "The error reaching the first time step over the error at the last, ‖dL/dh₁‖ / ‖dL/dh_T‖ of the first recurrent layer (the one farthest from the loss), on the probe set at initialization (start) and after the last epoch (end): the time twin of the grad ratio. With a read-out from the last state, a vanilla RNN's falls geometrically with the sequence length T, while an LSTM's or GRU's stays much nearer 1; — for a feed-forward model.";

/// The headers of the time ratio columns, shown only when some model is recurrent.
pub const TIME_RATIO_START: &str = "Time ratio at start";
pub const TIME_RATIO_END: &str = "Time ratio at end";

/// One row of the headline table.
#[derive(Clone, Debug, PartialEq)]
pub struct Headline {
    /// The run's label in a comparison (`None` in a report).
    pub run: Option<String>,
    pub model: String,
    pub activation: Option<String>,
    pub layers: u32,
    /// The names of the first and the last layer, where the model's layers are shown by
    /// name (see [`Run::layer_names`]): the layers the ratio compares.
    pub end_layers: Option<(String, String)>,
    /// The last epoch with a row in `epochs.csv`.
    pub last_epoch: Option<u32>,
    pub test_accuracy: Option<f64>,
    pub test_loss: Option<f64>,
    /// ‖dL/dW₁‖ / ‖dL/dW_L‖ on the probe set at initialization (`None`: not measured, or
    /// the last layer's gradient is 0 so the ratio is undefined).
    pub ratio_start: Option<f64>,
    /// The same after the last epoch.
    pub ratio_end: Option<f64>,
    /// The epoch `ratio_end` was measured at.
    pub ratio_end_epoch: Option<u32>,
    /// Whether the model is recurrent (see [`Run::is_recurrent`]): its row has time ratios.
    pub recurrent: bool,
    /// ‖dL/dh₁‖ / ‖dL/dh_T‖ of the first recurrent layer on the probe set at initialization
    /// (`None`: feed-forward, not measured, or the last step's error is 0).
    pub time_ratio_start: Option<f64>,
    /// The same after the last epoch with per-time-step probe rows.
    pub time_ratio_end: Option<f64>,
    /// Whether `ratio_end` is below [`STALL_RATIO`] (`None` when it is not known).
    pub stalled: Option<bool>,
    /// Where the model's training went non-finite, when it did.
    pub diverged: Option<Diverged>,
    /// Whether the model diverged or `ratio_end` is over [`EXPLODE_RATIO`] (`None` when
    /// neither is known).
    pub exploding: Option<bool>,
    /// The model's normalization, residual connections and clipping, when any is set
    /// (`BatchNorm, residual, clipped at 1`).
    pub setup: Option<String>,
}

impl Headline {
    /// Computes the headline of one subject.
    pub fn of(s: &Subject<'_>) -> Headline {
        let run = s.run;
        let last = run.epochs_of(&s.model).into_iter().last();
        let end_epoch = run.last_probe_epoch(&s.model);
        let ratio_start = first_to_last(run, &s.model, 0);
        let ratio_end = end_epoch.and_then(|e| first_to_last(run, &s.model, e));
        let diverged = run.diverged(&s.model);
        let exploding = if diverged.is_some() { Some(true) } else { ratio_end.map(|r| r > EXPLODE_RATIO) };
        let (time_ratio_start, time_ratio_end) = time_ratios(run, &s.model);
        Headline {
            run: s.run_label.clone(),
            model: s.model.clone(),
            activation: s.activation(),
            layers: s.layers(),
            end_layers: s.layer_name(1).zip(s.layer_name(s.layers())),
            last_epoch: last.map(|r| r.epoch),
            test_accuracy: last.and_then(|r| r.test_accuracy),
            test_loss: last.and_then(|r| r.test_loss),
            ratio_start,
            ratio_end,
            ratio_end_epoch: end_epoch,
            recurrent: run.is_recurrent(&s.model),
            time_ratio_start,
            time_ratio_end,
            stalled: ratio_end.map(|r| r < STALL_RATIO),
            diverged,
            exploding,
            setup: s.setup(),
        }
    }

    /// The layers cell: `4`, or `5 (conv1 … fc2)` where layers have names.
    pub fn layers_text(&self) -> String {
        match &self.end_layers {
            Some((first, last)) => format!("{} ({first} … {last})", self.layers),
            None => self.layers.to_string(),
        }
    }

    /// The stalled cell: `yes`, `no` or `—`.
    pub fn stalled_text(&self) -> &'static str {
        match self.stalled {
            Some(true) => "yes",
            Some(false) => "no",
            None => "—",
        }
    }

    /// The exploding cell: `yes (diverged at step 123)`, `yes`, `no` or `—`.
    pub fn exploding_text(&self) -> String {
        match (&self.diverged, self.exploding) {
            (Some(d), _) => format!("yes ({})", d.phrase()),
            (None, Some(true)) => "yes".to_string(),
            (None, Some(false)) => "no".to_string(),
            (None, None) => "—".to_string(),
        }
    }
}

/// ‖dL/dW₁‖ / ‖dL/dW_L‖ on the probe set at `epoch`.
pub fn first_to_last(run: &Run, model: &str, epoch: u32) -> Option<f64> {
    run.metric(model, Source::Probe, metric::GRAD_NORM_WEIGHT)?;
    let per = run.probe_at(model, metric::GRAD_NORM_WEIGHT, epoch);
    let (first, last) = (per.first().copied().flatten()?, per.last().copied().flatten()?);
    (last > 0.0).then(|| first / last)
}

/// ‖dL/dh₁‖ / ‖dL/dh_T‖ of the model's first recurrent layer on the probe set at
/// initialization (epoch 0) and at the last probe epoch after it (`None` where not measured).
pub fn time_ratios(run: &Run, model: &str) -> (Option<f64>, Option<f64>) {
    let Some(&layer) = run.recurrent_layers(model, metric::HIDDEN_DELTA_NORM).first() else { return (None, None) };
    let at = |epoch: u32| first_to_last_step(&run.time_profile(model, metric::HIDDEN_DELTA_NORM, layer, epoch));
    let end = run.last_time_probe_epoch(model, metric::HIDDEN_DELTA_NORM, layer).filter(|&e| e > 0);
    (at(0), end.and_then(at))
}

/// The value at the first time step over the value at the last, of a profile sorted by t
/// (`None` when it has fewer than two steps or its last value is 0).
pub fn first_to_last_step(profile: &[(u32, f64)]) -> Option<f64> {
    let (&(t1, first), &(tn, last)) = (profile.first()?, profile.last()?);
    (tn > t1 && last > 0.0).then(|| first / last)
}

/// Whether the table has the time ratio columns: when some row's model is recurrent
/// (feed-forward runs keep their table as it was).
pub fn has_time_ratio(rows: &[Headline]) -> bool {
    rows.iter().any(|h| h.recurrent)
}

/// A ratio for a table cell (`—` when unknown).
pub fn ratio_text(r: Option<f64>) -> String {
    r.map_or_else(|| "—".to_string(), numfmt::sig)
}

/// An accuracy for a table cell.
pub fn accuracy_text(a: Option<f64>) -> String {
    a.map_or_else(|| "—".to_string(), numfmt::percent)
}

/// The headers of the two flag columns, whose `yes` cells a page highlights.
pub const STALLED: &str = "Stalled";
pub const EXPLODING: &str = "Exploding";
/// The header of the setup column, shown only when some model has one.
pub const SETUP: &str = "Setup";

/// Whether the table has a setup column: when some row's model is normalized, residual or
/// clipped (older runs, and runs without those, keep their table as it was).
pub fn has_setup(rows: &[Headline]) -> bool {
    rows.iter().any(|h| h.setup.is_some())
}

/// The column headers of the headline table, in order (with a Run column in comparisons,
/// and a setup column where [`has_setup`]).
pub fn columns(rows: &[Headline], with_run: bool) -> Vec<&'static str> {
    let mut c = vec![];
    if with_run {
        c.push("Run");
    }
    c.extend(["Model", "Activation", "Layers"]);
    if has_setup(rows) {
        c.push(SETUP);
    }
    c.extend(["Epochs", "Test accuracy", "Test loss", "Grad ratio at start", "Grad ratio at end"]);
    if has_time_ratio(rows) {
        c.extend([TIME_RATIO_START, TIME_RATIO_END]);
    }
    c.extend([STALLED, EXPLODING]);
    c
}

/// The cells of one row, matching [`columns`] (`setup`, `time`: whether the table has the
/// setup column and the time ratio columns).
pub fn cells(h: &Headline, with_run: bool, setup: bool, time: bool) -> Vec<String> {
    let mut c = vec![];
    if with_run {
        c.push(h.run.clone().unwrap_or_default());
    }
    c.extend([h.model.clone(), h.activation.clone().unwrap_or_else(|| "—".to_string()), h.layers_text()]);
    if setup {
        c.push(h.setup.clone().unwrap_or_else(|| "—".to_string()));
    }
    c.extend([
        h.last_epoch.map_or_else(|| "—".to_string(), |e| e.to_string()),
        accuracy_text(h.test_accuracy),
        h.test_loss.map_or_else(|| "—".to_string(), |l| numfmt::sig_n(l, 3)),
        ratio_text(h.ratio_start),
        ratio_text(h.ratio_end),
    ]);
    if time {
        c.extend([ratio_text(h.time_ratio_start), ratio_text(h.time_ratio_end)]);
    }
    c.extend([h.stalled_text().to_string(), h.exploding_text()]);
    c
}
