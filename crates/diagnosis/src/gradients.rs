//! The findings about the gradient's size through the layers and through time: vanishing,
//! exploding, diverged, a poor initialization, vanishing through time; and a model's vitals.

use std::collections::BTreeMap;

use runfolder::run::Source;
use runfolder::{Evidence, Finding, Kind, Severity, metric};

use crate::model::Model;
use crate::remedy;
use crate::series::{Moment, Seen, at, first_streak, median, moments, slope, source_word, timeline};
use crate::text::{number, place_phrase, since_phrase};
use crate::thresholds::*;

/// Each layer's weight-gradient norm over the last layer's at one moment.
#[derive(Clone, Debug, PartialEq)]
pub struct Ratios {
    /// The layer the others are held against: the last one with a gradient.
    pub last: u32,
    /// The first layer with a gradient, and its ratio.
    pub first: u32,
    pub first_ratio: f64,
    /// Every layer but the last, with its ratio.
    pub by_layer: BTreeMap<u32, f64>,
    pub source: Source,
    pub epoch: u32,
    pub step: u64,
}

/// The ratios at a moment (`None` when fewer than two layers have a gradient, or the last
/// one's is 0).
fn ratios(m: &Moment) -> Option<Ratios> {
    let (&last, &g_last) = m.values.iter().next_back()?;
    let (&first, &g_first) = m.values.iter().next()?;
    if first == last || g_last <= 0.0 {
        return None;
    }
    let by_layer = m.values.iter().filter(|(l, _)| **l != last).map(|(&l, &g)| (l, g / g_last)).collect();
    Some(Ratios { last, first, first_ratio: g_first / g_last, by_layer, source: m.source, epoch: m.epoch, step: m.step })
}

/// The ratio series of a metric from a source, moments that cannot be judged left out.
fn ratio_series_of(m: &Model<'_>, source: Source, metric: &str) -> Vec<Ratios> {
    moments(m.run, m.name, source, metric).iter().filter_map(ratios).collect()
}

/// The weight gradients' ratio series.
fn ratio_series(m: &Model<'_>, source: Source) -> Vec<Ratios> {
    ratio_series_of(m, source, metric::GRAD_NORM_WEIGHT)
}

fn ratio_at(r: &Ratios) -> (Source, u32, u64) {
    (r.source, r.epoch, r.step)
}

/// The condition on both series of a metric's ratios, combined.
fn seen_in(m: &Model<'_>, metric: &str, check: impl Fn(&Ratios) -> bool + Copy) -> (Option<Seen<Ratios>>, usize) {
    let all = timeline(ratio_series_of(m, Source::Probe, metric), ratio_series_of(m, Source::Train, metric), ratio_at);
    (first_streak(&all, ratio_at, |r| check(r).then(|| r.clone())), all.len())
}

/// The per-layer factor of the error toward the input at a moment, fitted by least squares
/// through ln ‖δ‖ (the `delta_norm` of the tapped layers, as `train diagnose` fits it) or,
/// where fewer than three layers are tapped, through ln ‖dL/dW‖ of every layer but the last.
fn factor_per_layer(m: &Model<'_>, r: &Ratios) -> Option<(f64, &'static str)> {
    let deltas = moments(m.run, m.name, r.source, metric::DELTA_NORM);
    let delta = deltas.iter().find(|d| d.step == r.step && d.epoch == r.epoch);
    let fit = |values: Vec<(f64, f64)>| slope(&values).map(|s| (-s).exp());
    if let Some(d) = delta {
        let points: Vec<(f64, f64)> =
            d.values.iter().filter(|(_, v)| **v > 0.0).map(|(&l, &v)| (f64::from(l), v.ln())).collect();
        if points.len() >= 3 {
            return fit(points).map(|f| (f, "‖δ‖ = ‖dL/dz‖"));
        }
    }
    let points: Vec<(f64, f64)> =
        r.by_layer.iter().filter(|(_, v)| **v > 0.0).map(|(&l, &v)| (f64::from(l), v.ln())).collect();
    (points.len() >= 2).then(|| fit(points)).flatten().map(|f| (f, "‖dL/dW‖"))
}

/// Vanishing: the first layer with a gradient gets less than [`VANISHING_RATIO`] of the
/// last layer's.
pub fn vanishing(m: &Model<'_>, not_judged: &mut Vec<String>) -> Option<Finding> {
    let (seen, judged) = seen_in(m, metric::GRAD_NORM_WEIGHT, |r| r.first_ratio < VANISHING_RATIO);
    if judged == 0 && m.has_measurements() {
        not_judged.push(format!(
            "vanishing and exploding: no measurement has a weight gradient in two layers or more ({} layer{})",
            m.count,
            if m.count == 1 { "" } else { "s" }
        ));
    }
    let seen = seen?;
    let judged_at = seen.last_detail.clone().unwrap_or_else(|| seen.first_detail.clone());
    let layers: Vec<u32> = judged_at.by_layer.iter().filter(|(_, r)| **r < VANISHING_RATIO).map(|(&l, _)| l).collect();
    let worst = judged_at.by_layer.values().copied().fold(f64::INFINITY, f64::min);
    let mut evidence = vec![ratio_evidence(m, &seen.first_detail, "VANISHING_RATIO", VANISHING_RATIO)];
    if let Some(end) = &seen.last_detail {
        evidence.push(ratio_evidence(m, end, "VANISHING_RATIO", VANISHING_RATIO));
    }
    let factor = factor_per_layer(m, &judged_at);
    if let Some((f, of)) = factor {
        evidence.push(Evidence {
            quantity: format!("factor of {of} per layer toward the input (least squares through its logarithm)"),
            value: f,
            ..moment_evidence(&judged_at)
        });
    }
    let per_layer = factor.map(|(f, _)| format!(", ×{} per layer toward the input", number(f))).unwrap_or_default();
    let summary = format!(
        "vanishing: {} of {} get{} less than {} of {}'s weight gradient ({} gets {} of it{per_layer}), {}{}.",
        m.layers_phrase(&layers),
        m.count,
        if layers.len() == 1 { "s" } else { "" },
        number(VANISHING_RATIO),
        m.layer_word(judged_at.last),
        m.layer_word(judged_at.first),
        number(judged_at.first_ratio),
        since_phrase(seen.first),
        persist_phrase(&seen),
    );
    Some(Finding {
        kind: Kind::Vanishing,
        layer_numbers: layers.clone(),
        layers: m.layer_names(&layers),
        first_step: Some(seen.first.2),
        first_epoch: Some(seen.first.1),
        persists: seen.persists(),
        severity: if worst < VANISHING_SEVERE_RATIO { Severity::Severe } else { Severity::Warning },
        evidence,
        remedy: remedy::vanishing(m),
        summary,
    })
}

/// Exploding: the first layer gets more than [`EXPLODING_RATIO`] of the last layer's
/// gradient, or the global gradient norm spikes; for a clipped model, a note.
pub fn exploding(m: &Model<'_>, notes: &mut Vec<String>, _not_judged: &mut [String]) -> Option<Finding> {
    // The weight gradients' ratio, or the error signal's: ‖δ‖ = ‖dL/dz‖ per example does not
    // grow with a layer's fan-in as ‖dL/dW‖ does, so that a chaotic tanh stack whose first
    // layer reads 784 mostly black pixels shows its growth there first (configs/exploding.toml:
    // 150 times in ‖δ‖ against 85 in ‖dL/dW‖ at initialization).
    let (by_grad, _) = seen_in(m, metric::GRAD_NORM_WEIGHT, |r| r.first_ratio > EXPLODING_RATIO);
    let (by_delta, _) = seen_in(m, metric::DELTA_NORM, |r| r.first_ratio > EXPLODING_RATIO);
    let (seen, of) = match (by_grad, by_delta) {
        (Some(g), Some(d)) if d.first.2 < g.first.2 && !g.persists() => (Some(d), "error signal ‖δ‖ = ‖dL/dz‖"),
        (Some(g), _) => (Some(g), "weight gradient"),
        (None, Some(d)) => (Some(d), "error signal ‖δ‖ = ‖dL/dz‖"),
        (None, None) => (None, ""),
    };
    let spike = spikes(m);
    if let Some(clip) = m.clip() {
        if let Some(s) = &seen {
            notes.push(format!(
                "The gradient grows toward the input ({}'s {of} is {} times {}'s, {}), which clipping the global norm at {} holds: no finding.",
                m.layer_word(s.first_detail.first),
                number(s.first_detail.first_ratio),
                m.layer_word(s.first_detail.last),
                place_phrase(s.first),
                number(clip)
            ));
        }
        if let Some(share) = clipped_share(m) {
            notes.push(format!("Clipping at {} was active at {:.0}% of the logged steps.", number(clip), 100.0 * share));
        }
        return None;
    }
    if let Some(seen) = seen {
        let judged_at = seen.last_detail.clone().unwrap_or_else(|| seen.first_detail.clone());
        let layers: Vec<u32> =
            judged_at.by_layer.iter().filter(|(_, r)| **r > EXPLODING_RATIO).map(|(&l, _)| l).collect();
        let worst = judged_at.by_layer.values().copied().fold(0.0, f64::max);
        let of_metric = if of.contains('δ') { "‖δ‖" } else { "‖dL/dW‖" };
        let evidence_of = |r: &Ratios| Evidence {
            quantity: format!("{of_metric} of {} over {}'s", m.layer_word(r.first), m.layer_word(r.last)),
            ..ratio_evidence(m, r, "EXPLODING_RATIO", EXPLODING_RATIO)
        };
        let mut evidence = vec![evidence_of(&seen.first_detail)];
        if let Some(end) = &seen.last_detail {
            evidence.push(evidence_of(end));
        }
        let summary = format!(
            "exploding: {} get{} more than {} times {}'s {of} ({} gets {} times it), {}{}.",
            m.layers_phrase(&layers),
            if layers.len() == 1 { "s" } else { "" },
            number(EXPLODING_RATIO),
            m.layer_word(judged_at.last),
            m.layer_word(judged_at.first),
            number(judged_at.first_ratio),
            since_phrase(seen.first),
            persist_phrase(&seen)
        );
        return Some(Finding {
            kind: Kind::Exploding,
            layer_numbers: layers.clone(),
            layers: m.layer_names(&layers),
            first_step: Some(seen.first.2),
            first_epoch: Some(seen.first.1),
            persists: seen.persists(),
            severity: if worst > EXPLODING_SEVERE_RATIO { Severity::Severe } else { Severity::Warning },
            evidence,
            remedy: remedy::exploding(m),
            summary,
        });
    }
    let spike = spike?;
    let (value, baseline) = spike.first_detail;
    let summary = format!(
        "exploding: the global gradient norm jumped to {} at step {}, {} times the median of the earlier logged steps ({}){}.",
        number(value),
        spike.first.2,
        number(value / baseline),
        number(baseline),
        persist_phrase(&spike)
    );
    Some(Finding {
        kind: Kind::Exploding,
        layer_numbers: Vec::new(),
        layers: Vec::new(),
        first_step: Some(spike.first.2),
        first_epoch: Some(spike.first.1),
        persists: spike.persists(),
        severity: Severity::Warning,
        evidence: vec![Evidence {
            quantity: "global gradient norm over the median of the earlier logged steps".to_string(),
            value: value / baseline,
            threshold_name: Some("SPIKE_FACTOR".to_string()),
            threshold: Some(SPIKE_FACTOR),
            source: Some(runfolder::SOURCE_TRAIN.to_string()),
            epoch: Some(spike.first.1),
            step: Some(spike.first.2),
        }],
        remedy: remedy::exploding(m),
        summary,
    })
}

/// Spikes of the global gradient norm (`steps.csv`): (value, the median before it).
fn spikes(m: &Model<'_>) -> Option<Seen<(f64, f64)>> {
    let mut rows: Vec<(u32, u64, f64)> =
        m.run.steps.iter().filter(|r| r.model == m.name && r.grad_norm.is_finite()).map(|r| (r.epoch, r.step, r.grad_norm)).collect();
    rows.sort_by_key(|r| r.1);
    let judged: Vec<(u32, u64, f64, f64)> = (SPIKE_HISTORY..rows.len())
        .filter_map(|i| {
            let mut before: Vec<f64> = rows[..i].iter().map(|r| r.2).collect();
            let base = median(&mut before)?;
            (base > 0.0).then_some((rows[i].0, rows[i].1, rows[i].2, base))
        })
        .collect();
    first_streak(&judged, |r| (Source::Train, r.0, r.1), |r| (r.2 > SPIKE_FACTOR * r.3).then_some((r.2, r.3)))
}

/// The share of logged steps at which clipping changed the norm.
fn clipped_share(m: &Model<'_>) -> Option<f64> {
    let rows: Vec<_> = m.run.steps.iter().filter(|r| r.model == m.name).collect();
    let known: Vec<bool> = rows.iter().filter_map(|r| r.grad_norm_clipped.map(|c| c < r.grad_norm)).collect();
    (!known.is_empty()).then(|| known.iter().filter(|c| **c).count() as f64 / known.len() as f64)
}

/// Diverged: the manifest (or an older run's reason) says where the model's training went
/// non-finite. A recorded fact, not a measurement: one is enough.
pub fn diverged(m: &Model<'_>) -> Option<Finding> {
    let d = m.run.diverged(m.name)?;
    // The parameter the reason names, and its layer.
    let mut hit: Option<(u32, String)> = None;
    for (i, layer) in m.info.layers.iter().enumerate() {
        for p in &layer.params {
            if !p.path.is_empty() && d.reason.contains(&p.path) && hit.as_ref().is_none_or(|h| h.1.len() < p.path.len()) {
                hit = Some((u32::try_from(i + 1).unwrap_or(u32::MAX), p.path.clone()));
            }
        }
    }
    let last_norm = m
        .run
        .steps
        .iter()
        .filter(|r| r.model == m.name && r.grad_norm.is_finite())
        .max_by_key(|r| r.step)
        .map(|r| (r.step, r.grad_norm));
    let mut evidence = Vec::new();
    if let Some((step, norm)) = last_norm {
        evidence.push(Evidence {
            quantity: "global gradient norm at the last logged step before".to_string(),
            value: norm,
            source: Some(runfolder::SOURCE_TRAIN.to_string()),
            step: Some(step),
            ..Evidence::default()
        });
    }
    let param = hit.as_ref().map(|(_, p)| format!(" in {p}")).unwrap_or_default();
    let before = last_norm
        .map(|(step, n)| format!("; the last logged global gradient norm was {} at step {step}", number(n)))
        .unwrap_or_default();
    let why = d.reason.trim().trim_end_matches('.');
    let summary = format!(
        "diverged {}{param}: {why}{before}. Training stopped there.",
        d.place().unwrap_or_else(|| "at a step the run does not say".to_string())
    );
    let layers: Vec<u32> = hit.iter().map(|h| h.0).collect();
    Some(Finding {
        kind: Kind::Diverged,
        layers: m.layer_names(&layers),
        layer_numbers: layers,
        first_step: d.step,
        first_epoch: d.epoch,
        persists: true,
        severity: Severity::Severe,
        evidence,
        remedy: remedy::diverged(m),
        summary,
    })
}

/// Vanishing through time: the first recurrent layer's error at t = 1 is less than
/// [`TIME_RATIO`] of its error at t = T.
pub fn through_time(m: &Model<'_>, not_judged: &mut Vec<String>) -> Option<Finding> {
    if !m.is_recurrent() {
        return None;
    }
    let Some(&layer) = m.run.recurrent_layers(m.name, metric::HIDDEN_DELTA_NORM).first() else {
        not_judged.push(format!(
            "vanishing through time: the model is recurrent but {} has no {} rows for it",
            runfolder::TIME_STEPS,
            metric::HIDDEN_DELTA_NORM
        ));
        return None;
    };
    // Per source, per moment: the error at the first and the last time step.
    let series = |source: Source| -> Vec<(Source, u32, u64, f64)> {
        let mut by_time: BTreeMap<(u64, u32), BTreeMap<u32, f64>> = BTreeMap::new();
        for p in m.run.time_metric(m.name, source, metric::HIDDEN_DELTA_NORM, layer) {
            by_time.entry((p.step, p.epoch)).or_default().insert(p.t, p.value);
        }
        by_time
            .into_iter()
            .filter_map(|((step, epoch), by_t)| {
                let (&t1, &first) = by_t.iter().next()?;
                let (&tn, &last) = by_t.iter().next_back()?;
                (t1 != tn && last > 0.0).then_some((source, epoch, step, first / last))
            })
            .collect()
    };
    let place = |r: &(Source, u32, u64, f64)| (r.0, r.1, r.2);
    let all = timeline(series(Source::Probe), series(Source::Train), place);
    let seen = first_streak(&all, place, |r| (r.3 < TIME_RATIO).then_some(r.3))?;
    let judged = seen.last_detail.unwrap_or(seen.first_detail);
    let t_last = m.run.sequence_length(m.name).map(|t| t.to_string()).unwrap_or_else(|| "T".to_string());
    let mut evidence = vec![Evidence {
        quantity: format!("‖dL/dh₁‖ / ‖dL/dh_{t_last}‖ of {}", m.layer_word(layer)),
        value: seen.first_detail,
        threshold_name: Some("TIME_RATIO".to_string()),
        threshold: Some(TIME_RATIO),
        source: Some(source_word(seen.first.0).to_string()),
        epoch: Some(seen.first.1),
        step: Some(seen.first.2),
    }];
    if let Some(end) = seen.last_detail {
        evidence.push(Evidence {
            value: end,
            source: Some(source_word(seen.last.0).to_string()),
            epoch: Some(seen.last.1),
            step: Some(seen.last.2),
            ..evidence[0].clone()
        });
    }
    let summary = format!(
        "vanishing through time: in {}, the error reaching the first time step is {} of the error at the last (t = {t_last}), below {}, {}{}.",
        m.layer_word(layer),
        number(judged),
        number(TIME_RATIO),
        since_phrase(seen.first),
        persist_phrase(&seen)
    );
    Some(Finding {
        kind: Kind::VanishingThroughTime,
        layers: vec![m.layer_name(layer)],
        layer_numbers: vec![layer],
        first_step: Some(seen.first.2),
        first_epoch: Some(seen.first.1),
        persists: seen.persists(),
        severity: if judged < TIME_SEVERE_RATIO { Severity::Severe } else { Severity::Warning },
        evidence,
        remedy: remedy::through_time(m),
        summary,
    })
}

/// The activation variance's per-layer factor at one moment: fitted over the hidden layers
/// after the first (whose input is the data, on a scale of its own).
fn variance_factor(stds: &BTreeMap<u32, f64>, last_layer: u32) -> Option<(f64, usize)> {
    let points: Vec<(f64, f64)> = stds
        .iter()
        .filter(|(l, s)| **l != last_layer && **s > 0.0)
        .skip(1)
        .map(|(&l, &s)| (f64::from(l), (s * s).ln()))
        .collect();
    if points.len() < POOR_INIT_MIN_LAYERS {
        return None;
    }
    slope(&points).map(|s| (s.exp(), points.len()))
}

/// A poor initialization: at initialization (the probe at epoch 0 and the first training
/// step, both before any update), the activation variance changes geometrically by more
/// than [`POOR_INIT_SPREAD`] across the hidden layers.
pub fn poor_init(m: &Model<'_>, not_judged: &mut Vec<String>) -> Option<Finding> {
    let at_init: Vec<Moment> = [Source::Probe, Source::Train]
        .into_iter()
        .filter_map(|s| {
            let all = moments(m.run, m.name, s, metric::ACT_STD);
            // The probe at epoch 0 and the first training step come before any update.
            all.into_iter().find(|x| x.step <= 1 && (x.source == Source::Train || x.epoch == 0))
        })
        .collect();
    if at_init.is_empty() {
        return None;
    }
    if at_init.len() < MIN_CONSECUTIVE {
        not_judged.push(
            "poor initialization: only one measurement at initialization (the probe at epoch 0 or the first training step)"
                .to_string(),
        );
        return None;
    }
    let Some(fits) = at_init.iter().map(|x| variance_factor(&x.values, m.count)).collect::<Option<Vec<(f64, usize)>>>()
    else {
        not_judged.push(format!(
            "poor initialization: fewer than {POOR_INIT_MIN_LAYERS} hidden layers after the first have an activation spread at initialization"
        ));
        return None;
    };
    let spread = |(f, n): (f64, usize)| f.powf((n - 1) as f64);
    let off = |fit: (f64, usize)| {
        let s = spread(fit);
        !(1.0 / POOR_INIT_SPREAD..=POOR_INIT_SPREAD).contains(&s)
    };
    if !fits.iter().all(|f| off(*f)) {
        return None;
    }
    // Where the theory knows the activation, it must agree that the scale is off the edge:
    // at finite width the variance drifts down with depth even at the edge (He's scale on 50
    // layers of 64 ReLU units: ×0.9 a layer, where χ₁ = 1), which no initialization removes.
    let theory = remedy::mean_field(m);
    if theory.as_ref().is_some_and(|t| !off((t.chi1, fits[0].1))) {
        return None;
    }
    let (factor, fitted) = fits[0];
    let total = spread(fits[0]);
    let first = &at_init[0];
    let layers: Vec<u32> = first.values.keys().copied().filter(|l| *l != m.count).collect();
    let mut evidence = vec![Evidence {
        quantity: format!("activation variance's factor per layer at initialization (fitted over {fitted} hidden layers)"),
        value: factor,
        source: Some(first.source_word().to_string()),
        epoch: Some(first.epoch),
        step: Some(first.step),
        ..Evidence::default()
    }];
    evidence.push(Evidence {
        quantity: format!("its change across those {fitted} layers"),
        value: total,
        threshold_name: Some("POOR_INIT_SPREAD".to_string()),
        threshold: Some(if total < 1.0 { 1.0 / POOR_INIT_SPREAD } else { POOR_INIT_SPREAD }),
        ..evidence[0].clone()
    });
    let mut beside = String::new();
    if let Some(t) = &theory {
        evidence.push(Evidence { quantity: format!("mean-field χ₁ for {} at σ_w² = {}", t.activation, number(t.weight_var)), value: t.chi1, ..Evidence::default() });
        beside = format!(
            "; mean-field theory gives χ₁ = {} for {} at the measured σ_w² = {}{}",
            number(t.chi1),
            t.activation,
            number(t.weight_var),
            t.critical.map(|c| format!(", whose edge of chaos is σ_w² = {}", number(c))).unwrap_or_default()
        );
    }
    let direction = if total < 1.0 { "shrinks" } else { "grows" };
    let summary = format!(
        "poor initialization: at initialization the activation variance {direction} ×{} per layer, {} across {fitted} hidden layers{beside}.",
        number(factor),
        number(total)
    );
    Some(Finding {
        kind: Kind::PoorInit,
        layers: m.layer_names(&layers),
        layer_numbers: layers,
        first_step: Some(0),
        first_epoch: Some(0),
        // The initialization is over after the first step; what it left behind is the other
        // findings' (vanishing, dead units), so this one is about the start alone.
        persists: false,
        severity: Severity::Warning,
        evidence,
        remedy: remedy::poor_init(m, theory.as_ref()),
        summary,
    })
}

/// The numbers that show a model's state at the end: the first-to-last gradient ratio on
/// the last probe, the median update ratio of the last epoch's logged steps, and the time
/// ratio of a recurrent model.
pub fn vitals(m: &Model<'_>) -> Vec<Evidence> {
    let mut out = Vec::new();
    let end = ratio_series(m, Source::Probe).pop().or_else(|| ratio_series(m, Source::Train).pop());
    if let Some(r) = end {
        out.push(ratio_evidence(m, &r, "VANISHING_RATIO", VANISHING_RATIO));
    }
    let updates = moments(m.run, m.name, Source::Train, metric::UPDATE_RATIO);
    if let Some(last_epoch) = updates.iter().map(|u| u.epoch).max() {
        let mut values: Vec<f64> =
            updates.iter().filter(|u| u.epoch == last_epoch).flat_map(|u| u.values.values().copied()).filter(|v| *v > 0.0).collect();
        if let Some(med) = median(&mut values) {
            out.push(Evidence {
                quantity: format!("median update-to-weight ratio in epoch {last_epoch}"),
                value: med,
                source: Some(runfolder::SOURCE_TRAIN.to_string()),
                epoch: Some(last_epoch),
                ..Evidence::default()
            });
        }
    }
    for (name, share) in [(metric::DEAD_FRACTION, "dead units"), (metric::SATURATION, "saturated outputs")] {
        let Some(last) = moments(m.run, m.name, Source::Probe, name).pop() else { continue };
        if let Some((&layer, &v)) = last.values.iter().max_by(|a, b| a.1.total_cmp(b.1)) {
            out.push(Evidence {
                quantity: format!("share of {share} in {}, the most", m.layer_word(layer)),
                value: v,
                ..moment_evidence_of(&last)
            });
        }
    }
    out
}

/// A ratio as evidence.
fn ratio_evidence(m: &Model<'_>, r: &Ratios, name: &str, threshold: f64) -> Evidence {
    Evidence {
        quantity: format!("‖dL/dW‖ of {} over {}'s", m.layer_word(r.first), m.layer_word(r.last)),
        value: r.first_ratio,
        threshold_name: Some(name.to_string()),
        threshold: Some(threshold),
        ..moment_evidence(r)
    }
}

fn moment_evidence(r: &Ratios) -> Evidence {
    Evidence {
        source: Some(source_word(r.source).to_string()),
        epoch: Some(r.epoch),
        step: Some(r.step),
        ..Evidence::default()
    }
}

fn moment_evidence_of(x: &Moment) -> Evidence {
    let (source, epoch, step) = at(x);
    Evidence { source: Some(source_word(source).to_string()), epoch: Some(epoch), step: Some(step), ..Evidence::default() }
}

/// "; still at the end (probe, epoch 5)" or "; gone by the end (…)".
pub fn persist_phrase<T>(seen: &Seen<T>) -> String {
    if seen.persists() {
        format!("; still so at the end ({})", place_phrase(seen.last))
    } else {
        format!("; gone by the end ({})", place_phrase(seen.last))
    }
}
