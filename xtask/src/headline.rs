//! The headline numbers of each model: final test accuracy and loss, the first-to-last
//! layer gradient ratio at initialization and at the end, for a recurrent model the
//! first-to-last time step ratio of the error ‖dL/dh_t‖, and whether it stalled or exploded.

use std::collections::BTreeMap;

use runfolder::metric;

use crate::divergence::Diverged;
use crate::numfmt;
use crate::run::{Run, Source};
use crate::subject::Subject;

/// The ratio under which a model counts as stalled.
pub const STALL_RATIO: f64 = 1e-2;

/// The stall rule as the page states it.
pub const STALL_RULE: &str = "A model is stalled when, on the probe set after its last epoch, the weight-gradient norm of its first layer (‖dL/dW₁‖) is below 1e-2 of its last layer's: its input side has all but stopped learning. It reads the end ratio of the Grad ratio columns, which says where a model had no probe or a layer without a gradient.";

/// The ratio over which a model counts as exploding: the mirror of [`STALL_RATIO`].
pub const EXPLODE_RATIO: f64 = 1e2;

/// The exploding rule as the page states it.
pub const EXPLODE_RULE: &str = "A model is exploding when its training diverged (its loss or a gradient became inf or NaN, and it stopped there; the table says at which step), or when, on the probe set after its last epoch, the weight-gradient norm of its first layer (‖dL/dW₁‖) is over 100 times its last layer's: its input side gets far more gradient than its output side (the end ratio of the Grad ratio columns, as for Stalled).";

/// What the ratio columns mean, as the page states it.
pub const RATIO_RULE: &str = "The first layer's weight-gradient norm over the last layer's, ‖dL/dW₁‖ / ‖dL/dW_L‖, on the probe set, at initialization (start) and after the last epoch (end): 1 means the first layer gets as much gradient as the last, 1e-3 a thousandth. Where the first or the last layer has no weight gradient (frozen, or not in the graph), the ratio is of the first and the last layer that have one, and the cell names them (layers 2/9); where a model has no probe rows, the ratios are those of its first and last logged training batches, and the cell names the step.";

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
    /// Whether the test columns hold the validation split's values: a run without a test
    /// set that has one (burn-train's Learner evaluates its validation split).
    pub on_validation: bool,
    /// ‖dL/dW₁‖ / ‖dL/dW_L‖ on the probe set at initialization (`None`: not measured, or
    /// the last layer's gradient is 0 so the ratio is undefined); see [`Ratio`] for the
    /// layers and the rows it is of.
    pub ratio_start: Option<f64>,
    /// The same after the last epoch.
    pub ratio_end: Option<f64>,
    /// The epoch `ratio_end` was measured at.
    pub ratio_end_epoch: Option<u32>,
    /// `ratio_start` with the layers it compares and where it was measured.
    pub start: Option<Ratio>,
    /// `ratio_end` with the layers it compares and where it was measured.
    pub end: Option<Ratio>,
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
        let (start, end) = grad_ratios(run, &s.model);
        let (ratio_start, ratio_end) = (start.map(|r| r.value), end.map(|r| r.value));
        let end_epoch = end.map(|r| r.epoch).or_else(|| run.last_probe_epoch(&s.model));
        let diverged = run.diverged(&s.model);
        let exploding = if diverged.is_some() { Some(true) } else { ratio_end.map(|r| r > EXPLODE_RATIO) };
        let (time_ratio_start, time_ratio_end) = time_ratios(run, &s.model);
        let on_validation = last.is_some_and(|r| r.test_loss.is_none() && r.test_accuracy.is_none() && r.valid_loss.is_some());
        Headline {
            run: s.run_label.clone(),
            model: s.model.clone(),
            activation: s.activation(),
            layers: s.layers(),
            end_layers: s.layer_name(1).zip(s.layer_name(s.layers())),
            last_epoch: last.map(|r| r.epoch),
            test_accuracy: if on_validation { last.and_then(|r| r.valid_accuracy) } else { last.and_then(|r| r.test_accuracy) },
            test_loss: if on_validation { last.and_then(|r| r.valid_loss) } else { last.and_then(|r| r.test_loss) },
            on_validation,
            ratio_start,
            ratio_end,
            ratio_end_epoch: end_epoch,
            start,
            end,
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

/// The first-to-last weight-gradient ratio at one moment, with the layers it compares and
/// the rows it was read from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ratio {
    /// ‖dL/dW_first‖ / ‖dL/dW_last‖.
    pub value: f64,
    /// The first and the last layer that have a weight gradient at that moment: 1 and L
    /// unless one of them is frozen or not in the graph.
    pub first: u32,
    pub last: u32,
    /// The rows it was read from: the probe set's, or, for a model without probe rows, a
    /// training batch's.
    pub source: Source,
    pub epoch: u32,
    pub step: u64,
}

impl Ratio {
    /// The ratio of one moment's values by layer: the first layer that has one over the
    /// last (`None` when fewer than two layers have one, or the last one's is 0).
    pub fn of(values: &BTreeMap<u32, f64>, source: Source, epoch: u32, step: u64) -> Option<Ratio> {
        let (&first, &a) = values.first_key_value()?;
        let (&last, &b) = values.last_key_value()?;
        (last > first && b > 0.0).then_some(Ratio { value: a / b, first, last, source, epoch, step })
    }

    /// What a cell or a sentence adds to the value where it is not the plain probe ratio of
    /// layer 1 over layer L: `step 200`, `layers 2/9`, or both; empty otherwise.
    pub fn qualifier(&self, layers: u32) -> String {
        let mut q = Vec::new();
        if self.source == Source::Train {
            q.push(format!("step {}", self.step));
        }
        if (self.first, self.last) != (1, layers) {
            q.push(format!("layers {}/{}", self.first, self.last));
        }
        q.join(", ")
    }
}

/// The headline's two ratios of a model: on the probe set at initialization (epoch 0) and
/// at its last probe epoch (epoch 0 again where it is the only one); for a model without
/// probe rows of `grad_norm_weight` (a run under burn-train's Learner, or a loop that takes
/// no probe), on the training batches of its first and last logged steps.
pub fn grad_ratios(run: &Run, model: &str) -> (Option<Ratio>, Option<Ratio>) {
    let m = metric::GRAD_NORM_WEIGHT;
    if let Some(per) = run.metric(model, Source::Probe, m) {
        // Each layer's last row of that epoch, as a writer that repeated one meant it.
        let at = |epoch: u32| {
            let values: BTreeMap<u32, (u64, f64)> = per
                .iter()
                .filter_map(|(&l, pts)| pts.iter().rev().find(|p| p.epoch == epoch).map(|p| (l, (p.step, p.value))))
                .collect();
            let step = values.values().map(|v| v.0).max().unwrap_or(0);
            Ratio::of(&values.into_iter().map(|(l, v)| (l, v.1)).collect(), Source::Probe, epoch, step)
        };
        // A model probed at initialization alone has its end there too, as the stall rule
        // has always read it.
        return (at(0), run.last_probe_epoch(model).and_then(at));
    }
    let Some(per) = run.metric(model, Source::Train, m) else { return (None, None) };
    let steps: Vec<u64> = per.values().flat_map(|pts| pts.iter().map(|p| p.step)).collect();
    let (Some(&first), Some(&last)) = (steps.iter().min(), steps.iter().max()) else { return (None, None) };
    let at = |step: u64| {
        let values: BTreeMap<u32, (u32, f64)> = per
            .iter()
            .filter_map(|(&l, pts)| pts.iter().rev().find(|p| p.step == step).map(|p| (l, (p.epoch, p.value))))
            .collect();
        let epoch = values.values().map(|v| v.0).max().unwrap_or(0);
        Ratio::of(&values.into_iter().map(|(l, v)| (l, v.1)).collect(), Source::Train, epoch, step)
    };
    (at(first), (last > first).then(|| at(last)).flatten())
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

/// A grad ratio for a table cell: `1.2e-3`, `1.2e-3 (step 200, layers 2/9)` where it is not
/// the probe ratio of layer 1 over layer L (`—` when unknown).
pub fn ratio_cell(r: Option<Ratio>, layers: u32) -> String {
    match r {
        None => "—".to_string(),
        Some(r) => {
            let q = r.qualifier(layers);
            if q.is_empty() { numfmt::sig(r.value) } else { format!("{} ({q})", numfmt::sig(r.value)) }
        }
    }
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

/// A test cell that holds the validation split's value says so.
fn validation_mark(cell: String, h: &Headline) -> String {
    if h.on_validation && cell != "—" { format!("{cell} (validation)") } else { cell }
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
        validation_mark(accuracy_text(h.test_accuracy), h),
        validation_mark(h.test_loss.map_or_else(|| "—".to_string(), |l| numfmt::sig_n(l, 3)), h),
        ratio_cell(h.start, h.layers),
        ratio_cell(h.end, h.layers),
    ]);
    if time {
        c.extend([ratio_text(h.time_ratio_start), ratio_text(h.time_ratio_end)]);
    }
    c.extend([h.stalled_text().to_string(), h.exploding_text()]);
    c
}
