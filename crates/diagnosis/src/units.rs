//! The findings about what single layers do: saturated and dead units, updates far from
//! about 1e-3 of the weights, and gradient entries lost to float32's range.

use runfolder::run::Source;
use runfolder::{Bin, Evidence, Finding, Kind, Severity, metric};

use crate::gradients::persist_phrase;
use crate::model::Model;
use crate::remedy;
use crate::series::{Moment, Seen, at, first_streak, moments, timeline};
use crate::text::{number, percent, since_phrase};
use crate::thresholds::*;

/// The layers at or over a share, with the largest share.
#[derive(Clone, Debug, PartialEq)]
struct Over {
    layers: Vec<u32>,
    worst: (u32, f64),
    place: (Source, u32, u64),
}

/// The layers of a moment whose value passes `test`.
fn over(x: &Moment, test: impl Fn(u32, f64) -> bool) -> Option<Over> {
    let layers: Vec<u32> = x.values.iter().filter(|(l, v)| test(**l, **v)).map(|(&l, _)| l).collect();
    let worst = layers.iter().map(|l| (*l, x.values[l])).max_by(|a, b| a.1.total_cmp(&b.1))?;
    Some(Over { layers, worst, place: at(x) })
}

/// A finding's evidence: its worst layer's value where the series first showed it and, when
/// the series ends with it still there, at the end.
fn evidence(seen: &Seen<Over>, quantity: impl Fn(&Over) -> String, threshold_name: &str, threshold: f64) -> Vec<Evidence> {
    let one = |o: &Over| Evidence {
        quantity: quantity(o),
        value: o.worst.1,
        threshold_name: Some(threshold_name.to_string()),
        threshold: Some(threshold),
        source: Some(crate::series::source_word(o.place.0).to_string()),
        epoch: Some(o.place.1),
        step: Some(o.place.2),
    };
    std::iter::once(&seen.first_detail).chain(&seen.last_detail).map(one).collect()
}

/// A finding of layers over a share of a metric.
#[allow(clippy::too_many_arguments)]
fn share_finding(
    m: &Model<'_>,
    kind: Kind,
    seen: Seen<Over>,
    what: &str,
    threshold_name: &str,
    threshold: f64,
    severe: f64,
    remedy: runfolder::Remedy,
) -> Finding {
    let judged = seen.last_detail.clone().unwrap_or_else(|| seen.first_detail.clone());
    let ev = evidence(&seen, |o| format!("share of {what} in {}", m.layer_word(o.worst.0)), threshold_name, threshold);
    let summary = format!(
        "{}: {} {} more than {} {what} ({} at most, in {}), {}{}.",
        kind.as_str(),
        m.layers_phrase(&judged.layers),
        if judged.layers.len() == 1 { "has" } else { "have" },
        percent(threshold),
        percent(judged.worst.1),
        m.layer_word(judged.worst.0),
        since_phrase(seen.first),
        persist_phrase(&seen)
    );
    Finding {
        kind,
        layers: m.layer_names(&judged.layers),
        layer_numbers: judged.layers.clone(),
        first_step: Some(seen.first.2),
        first_epoch: Some(seen.first.1),
        persists: seen.persists(),
        severity: if judged.worst.1 >= severe { Severity::Severe } else { Severity::Warning },
        evidence: ev,
        remedy,
        summary,
    }
}

/// Saturation: a sigmoid or tanh layer with [`SATURATION_SHARE`] of its outputs or more in
/// the flat tails (probe or training rows).
pub fn saturation(m: &Model<'_>) -> Option<Finding> {
    let all = timeline(
        moments(m.run, m.name, Source::Probe, metric::SATURATION),
        moments(m.run, m.name, Source::Train, metric::SATURATION),
        at,
    );
    let seen = first_streak(&all, at, |x| over(x, |_, v| v > SATURATION_SHARE))?;
    Some(share_finding(
        m,
        Kind::Saturation,
        seen,
        "outputs in the flat tails",
        "SATURATION_SHARE",
        SATURATION_SHARE,
        SATURATION_SEVERE_SHARE,
        remedy::saturation(m),
    ))
}

/// Dead units: a ReLU-family layer with [`DEAD_SHARE`] of its units or more silent for every
/// example of the probe set (the probe alone: a unit silent on one batch of 32 may fire on
/// the next).
pub fn dead_units(m: &Model<'_>) -> Option<Finding> {
    let xs = moments(m.run, m.name, Source::Probe, metric::DEAD_FRACTION);
    let seen = first_streak(&xs, at, |x| over(x, |_, v| v > DEAD_SHARE))?;
    Some(share_finding(
        m,
        Kind::DeadUnits,
        seen,
        "units that fire for no probe example",
        "DEAD_SHARE",
        DEAD_SHARE,
        DEAD_SEVERE_SHARE,
        remedy::dead_units(m),
    ))
}

/// Updates too small or too large: a layer whose update-to-weight ratio is below
/// [`UPDATE_LOW`] or above [`UPDATE_HIGH`] (training rows; layers already `explained` by
/// another finding, and layers without a gradient at that step, left out).
pub fn updates(m: &Model<'_>, explained: &[u32]) -> Vec<Finding> {
    let xs = moments(m.run, m.name, Source::Train, metric::UPDATE_RATIO);
    let grads = moments(m.run, m.name, Source::Train, metric::GRAD_NORM_WEIGHT);
    let has_grad = |x: &Moment, l: u32| grads.iter().any(|g| g.step == x.step && g.values.get(&l).is_some_and(|v| *v > 0.0));
    // The loss of each logged step, against the first's: a converged step's small updates
    // are no finding.
    let mut losses: Vec<(u64, f64)> =
        m.run.steps.iter().filter(|r| r.model == m.name && r.loss.is_finite()).map(|r| (r.step, r.loss)).collect();
    losses.sort_by_key(|r| r.0);
    let first_loss = losses.first().map(|r| r.1);
    let converged = |x: &Moment| {
        let loss = losses.iter().find(|r| r.0 == x.step).map(|r| r.1);
        matches!((loss, first_loss), (Some(l), Some(f)) if f > 0.0 && l < CONVERGED_LOSS_SHARE * f)
    };
    let mut out = Vec::new();
    for (kind, name, threshold, low) in [
        (Kind::UpdateTooSmall, "UPDATE_LOW", UPDATE_LOW, true),
        (Kind::UpdateTooLarge, "UPDATE_HIGH", UPDATE_HIGH, false),
    ] {
        let test = |x: &Moment, l: u32, v: f64| {
            !explained.contains(&l) && has_grad(x, l) && if low { v < threshold && !converged(x) } else { v > threshold }
        };
        let Some(seen) = first_streak(&xs, at, |x| {
            let layers: Vec<u32> = x.values.iter().filter(|(l, v)| test(x, **l, **v)).map(|(&l, _)| l).collect();
            let pick = |a: &(u32, f64), b: &(u32, f64)| if low { b.1.total_cmp(&a.1) } else { a.1.total_cmp(&b.1) };
            let worst = layers.iter().map(|l| (*l, x.values[l])).max_by(pick)?;
            Some(Over { layers, worst, place: at(x) })
        }) else {
            continue;
        };
        let judged = seen.last_detail.clone().unwrap_or_else(|| seen.first_detail.clone());
        let ev = evidence(&seen, |o| format!("update-to-weight ratio of {}", m.layer_word(o.worst.0)), name, threshold);
        let summary = format!(
            "{}: {} change{} by {} than {} of {} weights a step ({} in {}; about 1e-3 is the rule of thumb), {}{}.",
            kind.as_str(),
            m.layers_phrase(&judged.layers),
            if judged.layers.len() == 1 { "s" } else { "" },
            if low { "less" } else { "more" },
            number(threshold),
            if judged.layers.len() == 1 { "its" } else { "their" },
            number(judged.worst.1),
            m.layer_word(judged.worst.0),
            since_phrase(seen.first),
            persist_phrase(&seen)
        );
        // Tenfold past the threshold is severe: a thousand times from the rule of thumb.
        let severe = if low { judged.worst.1 < threshold / 10.0 } else { judged.worst.1 > threshold * 10.0 };
        out.push(Finding {
            kind,
            layers: m.layer_names(&judged.layers),
            layer_numbers: judged.layers.clone(),
            first_step: Some(seen.first.2),
            first_epoch: Some(seen.first.1),
            persists: seen.persists(),
            severity: if severe { Severity::Severe } else { Severity::Warning },
            evidence: ev,
            remedy: if low { remedy::update_small(m) } else { remedy::update_large(m) },
            summary,
        });
    }
    out
}

/// The share of a layer's entries lost to float32's range at one histogram snapshot: the
/// subnormal ones, and the zeros of a layer whose own entries reach float32's floor
/// ([`UNDERFLOW_FLOOR_DECADE`]), or of a layer with nothing but zeros on the input side of one
/// that does (where the gradient crossed the floor on its way to the input). The zeros of a
/// layer whose entries stay far above the floor are the model's structure (a dead unit, an
/// always-black pixel), not underflow.
fn lost_shares(snap: &runfolder::run::Snapshot) -> Vec<(u32, f64)> {
    let floor_bins = |shares: &[f64]| -> f64 {
        runfolder::bins()
            .zip(shares)
            .filter(|(b, _)| matches!(b, Bin::Subnormal) || matches!(b, Bin::Decade(e) if *e < UNDERFLOW_FLOOR_DECADE))
            .map(|(_, s)| *s)
            .sum()
    };
    let layers: Vec<(u32, Vec<f64>)> = snap.layers.keys().filter_map(|&l| snap.shares(l).map(|s| (l, s))).collect();
    // The last layer (nearest the output) whose nonzero entries reach the floor.
    let at_floor = layers.iter().filter(|(_, s)| floor_bins(s) > 0.0).map(|(l, _)| *l).max();
    layers
        .iter()
        .map(|(l, s)| {
            let subnormal = s[Bin::Subnormal.index()];
            let zero = s[Bin::Zero.index()];
            let crossed = floor_bins(s) >= UNDERFLOW_SHARE || (zero == 1.0 && at_floor.is_some_and(|f| *l < f));
            (*l, subnormal + if crossed { zero } else { 0.0 })
        })
        .collect()
}

/// Underflow: a layer with [`UNDERFLOW_SHARE`] of its gradient entries or more lost to
/// float32's range (from `grad_histograms.csv`), and the float16 note.
pub fn underflow(m: &Model<'_>, notes: &mut Vec<String>, not_judged: &mut Vec<String>) -> Option<Finding> {
    if !m.run.has_histograms(m.name) {
        if m.has_measurements() {
            not_judged.push(format!(
                "underflow: {} has no rows for this model, and {} alone cannot tell underflow from zeros the model's structure explains",
                runfolder::HISTOGRAMS,
                metric::GRAD_UNDERFLOW
            ));
        }
        return None;
    }
    float16_note(m, notes);
    let tagged = |source: Source| -> Vec<(Source, &runfolder::run::Snapshot)> {
        m.run.histograms(m.name, source).iter().map(|s| (source, s)).collect()
    };
    let place = |x: &(Source, &runfolder::run::Snapshot)| (x.0, x.1.epoch, x.1.step);
    let all = timeline(tagged(Source::Probe), tagged(Source::Train), place);
    let seen = first_streak(&all, place, |x| {
        let lost = lost_shares(x.1);
        let layers: Vec<u32> = lost.iter().filter(|(_, v)| *v >= UNDERFLOW_SHARE).map(|(l, _)| *l).collect();
        let worst = lost.iter().copied().filter(|(l, _)| layers.contains(l)).max_by(|a, b| a.1.total_cmp(&b.1))?;
        Some(Over { layers, worst, place: place(x) })
    })?;
    let mut f = share_finding(
        m,
        Kind::Underflow,
        seen,
        "gradient entries lost to float32's range",
        "UNDERFLOW_SHARE",
        UNDERFLOW_SHARE,
        1.0,
        remedy::underflow(m),
    );
    let arithmetic = match m.run.manifest.flush_denormals {
        Some(true) => " This run flushed subnormal floats to zero, so an entry below 1.18e-38 was stored as 0; ",
        Some(false) => " This run kept IEEE subnormals, which hold entries down to 1.4e-45 with fewer bits; ",
        None => " ",
    };
    f.summary = format!(
        "{}{arithmetic}the logged norms are still exact, summed in float64, where 1e-30 is 1e-30 (ARCHITECTURE.md, Norms).",
        f.summary
    );
    Some(f)
}

/// The float16 note: the largest share of a layer's entries at the last probe (or training)
/// snapshot that float16 could not hold.
fn float16_note(m: &Model<'_>, notes: &mut Vec<String>) {
    let snap = m.run.histograms(m.name, Source::Probe).last().or_else(|| m.run.histograms(m.name, Source::Train).last());
    let Some(snap) = snap else { return };
    let shares: Vec<(u32, f64)> = snap
        .layers
        .keys()
        .filter_map(|&l| {
            let shares = snap.shares(l)?;
            let below: f64 = runfolder::bins()
                .zip(&shares)
                .filter(|(b, _)| matches!(b, Bin::Subnormal) || matches!(b, Bin::Decade(e) if *e < FLOAT16_DECADE))
                .map(|(_, s)| *s)
                .sum();
            Some((l, below))
        })
        .collect();
    // The largest share, the layer nearest the input on a tie.
    let worst = shares.iter().copied().reduce(|a, b| if b.1 > a.1 { b } else { a });
    let many = shares.iter().filter(|s| s.1 >= UNDERFLOW_SHARE).count();
    if let Some((layer, share)) = worst.filter(|w| w.1 >= UNDERFLOW_SHARE) {
        let others = if many > 1 { format!(" ({many} layers have {} or more there)", percent(UNDERFLOW_SHARE)) } else { String::new() };
        notes.push(format!(
            "In float16, {} of {}'s gradient entries (epoch {}) would be 0{others}: they are nonzero but below 1e-8, under float16's smallest subnormal (6.0e-8). Mixed-precision training scales the loss up to keep them.",
            percent(share),
            m.layer_word(layer),
            snap.epoch
        ));
    }
}
