//! The figures of the remedies: figure 10 puts the models of a run (plain, normalized,
//! residual, another activation or initialization) side by side on the one number that
//! says whether the input side learns, the first-to-last gradient ratio, next to their test
//! accuracy; figure 11 shows the global gradient norm where models were clipped or
//! diverged, the mirror problem of exploding gradients.

use std::collections::BTreeMap;

use runfolder::metric;

use super::{Made, SLUGS, capitalize, join, join_subjects, time_axis};
use crate::colormap::{self, categorical};
use crate::headline::{EXPLODE_RATIO, Ratio, STALL_RATIO};
use crate::numfmt::{percent, sig, sig_n};
use crate::plot::{
    Axis, AxisKind, Body, Event, Figure, Legend, LegendItem, LinePanel, Lines, Reference, Series, Swatch,
};
use crate::run::{Source, StepRow};
use crate::scene::Dash;
use crate::subject::Subject;

/// Series with at most this many points get a dot at each (a short run, a few epochs).
const MARKERS_UP_TO: usize = 12;

/// ‖dL/dW₁‖ / ‖dL/dW_L‖ at every logged training step, of the first and the last layer
/// that have a weight gradient at that step (the same layers as the headline's ratio: 1 and
/// L unless one is frozen or not in the graph): 0 where the first layer's gradient is 0,
/// nothing where the last layer's is (the ratio is undefined there).
pub(super) fn ratio_over_steps(s: &Subject<'_>) -> Vec<(f64, f64)> {
    let Some(per) = s.run.metric(&s.model, Source::Train, metric::GRAD_NORM_WEIGHT) else {
        return Vec::new();
    };
    let mut by_step: BTreeMap<u64, BTreeMap<u32, f64>> = BTreeMap::new();
    for (&layer, pts) in per {
        for p in pts {
            by_step.entry(p.step).or_default().insert(layer, p.value);
        }
    }
    by_step
        .into_iter()
        .filter_map(|(step, values)| Ratio::of(&values, Source::Train, 0, step).map(|r| (step as f64, r.value)))
        .collect()
}

/// Figure 10, when two or more models have the ratio over training: with one model it
/// would repeat figures 1 and 4, and its point is the comparison.
pub(super) fn side_by_side(subjects: &[Subject<'_>]) -> Option<Made> {
    let ratios: Vec<Vec<(f64, f64)>> = subjects.iter().map(ratio_over_steps).collect();
    if ratios.iter().filter(|r| !r.is_empty()).count() < 2 {
        return None;
    }
    let classification = subjects.iter().any(|s| s.run.is_classification());
    let mut ratio_series = Vec::new();
    let mut end_series = Vec::new();
    let mut legend = Vec::new();
    let mut ratio_clauses = Vec::new();
    let mut end_clauses = Vec::new();
    let mut diverged = Vec::new();
    for (i, (s, ratio)) in subjects.iter().zip(ratios).enumerate() {
        let color = categorical(i);
        let d = s.run.diverged(&s.model);
        let label = match &d {
            Some(d) => format!("{} ({})", s.name(), d.phrase()),
            None => s.name(),
        };
        legend.push(LegendItem { label, color, swatch: Swatch::Box });
        if let Some(d) = d {
            diverged.push(d.place().map_or_else(|| s.name(), |p| format!("{} ({p})", s.name())));
        }
        if let Some(&(x, r)) = ratio.last() {
            ratio_clauses.push((x, format!("{} for {}", if r <= 0.0 { "0".to_string() } else { sig(r) }, s.name())));
        }
        let rows = s.run.epochs_of(&s.model);
        let value =
            |r: &crate::run::EpochRow| if classification { r.test_accuracy.map(|a| a * 100.0) } else { r.test_loss };
        let points: Vec<(f64, f64)> = rows.iter().filter_map(|r| value(r).map(|v| (f64::from(r.epoch), v))).collect();
        if let Some(&(epoch, v)) = points.last() {
            let v = if classification { percent(v / 100.0) } else { sig_n(v, 3) };
            end_clauses.push((epoch, format!("{v} for {}", s.name())));
        }
        ratio_series.push(Series {
            name: s.name(),
            color,
            dash: Dash::Solid,
            width: 2.0,
            markers: ratio.len() <= MARKERS_UP_TO,
            points: ratio,
        });
        end_series.push(Series {
            name: format!("{} test", s.name()),
            color,
            dash: Dash::Solid,
            width: 2.0,
            markers: true,
            points,
        });
    }
    legend.push(LegendItem {
        label: "stalled below 1e-2, exploding above 1e2".into(),
        color: colormap::REFERENCE,
        swatch: Swatch::Line(Dash::Dashed),
    });
    let what = if classification { "test accuracy" } else { "test loss" };
    let mut reading = ratio_sentence(ratio_clauses);
    if let Some(&(epoch, _)) = end_clauses.first() {
        let sentence = if end_clauses.iter().all(|c| c.0 == epoch) {
            format!(" At the end (epoch {epoch}), {what} is {}.", join(end_clauses.into_iter().map(|c| c.1).collect()))
        } else {
            let clauses = end_clauses.into_iter().map(|(e, c)| format!("{c} (epoch {e})")).collect();
            format!(" At the end, {what} is {}.", join(clauses))
        };
        reading.push_str(&sentence);
    }
    if !diverged.is_empty() {
        reading.push_str(&format!(" Training diverged for {}, whose lines end there.", join(diverged)));
    }
    let ratio_panel = LinePanel {
        title: "Gradient ratio, first layer over last".into(),
        y: Axis::new("‖dL/dW₁‖ / ‖dL/dW_L‖ (log scale)", AxisKind::Log),
        series: ratio_series,
        annotations: Vec::new(),
        empty: None,
        x: None,
        references: vec![
            Reference { value: STALL_RATIO, label: "stalled below 1e-2".into() },
            Reference { value: EXPLODE_RATIO, label: "exploding above 1e2".into() },
        ],
        events: Vec::new(),
    };
    let end_panel = LinePanel {
        title: capitalize(what),
        y: if classification {
            Axis::new("test accuracy (%)", AxisKind::Linear { include_zero: true })
        } else {
            Axis::new("test loss (mean per example)", AxisKind::Linear { include_zero: true })
        },
        series: end_series,
        annotations: Vec::new(),
        empty: Some(format!("no {what} in {}", runfolder::EPOCHS)),
        x: Some(Axis::new("epoch (0 = initialization)", AxisKind::Tight).integer()),
        references: Vec::new(),
        events: Vec::new(),
    };
    Some(Made {
        figure: Figure {
            slug: SLUGS[9].into(),
            title: "10. Remedies side by side: gradient ratio and test result".into(),
            body: Body::Lines(Lines {
                x: time_axis(true),
                panels: vec![ratio_panel, end_panel],
                share_y: false,
                references: Vec::new(),
            }),
            legend: Legend { items: legend, ramp: None },
            notes: vec![format!(
                "Left: the first layer's weight-gradient norm over the last layer's on every logged training batch, one line per model: near 1, the input side learns as fast as the output side. The dashed lines are the headline's thresholds, which it applies to the same ratio on the probe set after the last epoch. Right: {what} after each epoch."
            )],
            columns: None,
        },
        reading,
    })
}

/// "At the last logged step (2000), the ratio is 1e-5 for plain and 0.8 for bn.", each
/// model's step named where they differ.
fn ratio_sentence(clauses: Vec<(f64, String)>) -> String {
    let same = clauses.windows(2).all(|w| w[0].0 == w[1].0);
    match clauses.first() {
        None => String::new(),
        Some(&(x, _)) if same => format!(
            "At the last logged step ({x}), the first-to-last gradient ratio is {}.",
            join(clauses.into_iter().map(|c| c.1).collect())
        ),
        Some(_) => format!(
            "At each model's last logged step, the first-to-last gradient ratio is {}.",
            join(clauses.into_iter().map(|(x, c)| format!("{c} (step {x})")).collect())
        ),
    }
}

/// A subject's rows of `steps.csv`, in step order.
fn steps_of<'a>(s: &Subject<'a>) -> Vec<&'a StepRow> {
    let mut rows: Vec<&StepRow> = s.run.steps.iter().filter(|r| r.model == s.model).collect();
    rows.sort_by_key(|r| r.step);
    rows
}

/// Whether a step's norm was clipped: the norm after clipping is below the one before.
fn was_clipped(r: &StepRow) -> bool {
    r.grad_norm_clipped.is_some_and(|c| c < r.grad_norm * (1.0 - 1e-9))
}

/// Figure 11, when some model was clipped (its manifest says so, or its steps show it, as
/// in runs from before the manifest did) or diverged.
pub(super) fn exploding(subjects: &[Subject<'_>]) -> Option<Made> {
    let clip_of = |s: &Subject<'_>| s.run.model(&s.model).and_then(|m| m.clip_grad_norm);
    let clipped = |s: &Subject<'_>| clip_of(s).is_some() || steps_of(s).into_iter().any(was_clipped);
    if !subjects.iter().any(|s| clipped(s) || s.run.diverged(&s.model).is_some()) {
        return None;
    }
    let mut panels = Vec::new();
    let mut clauses = Vec::new();
    let (mut any_clipped, mut any_event) = (false, false);
    for (i, s) in subjects.iter().enumerate() {
        let color = categorical(i);
        let rows = steps_of(s);
        let before: Vec<(f64, f64)> = rows.iter().map(|r| (r.step as f64, r.grad_norm)).collect();
        // The first step of the largest norm (`max_by` keeps the last of equals).
        let peak = rows.iter().rev().max_by(|a, b| a.grad_norm.total_cmp(&b.grad_norm));
        let mut series = vec![Series {
            name: format!("{} before clipping", s.name()),
            color,
            dash: Dash::Solid,
            width: 1.8,
            markers: before.len() <= MARKERS_UP_TO,
            points: before,
        }];
        let limit = clip_of(s);
        let is_clipped = clipped(s);
        if is_clipped {
            any_clipped = true;
            let after: Vec<(f64, f64)> =
                rows.iter().filter_map(|r| r.grad_norm_clipped.map(|c| (r.step as f64, c))).collect();
            series.push(Series {
                name: format!("{} after clipping", s.name()),
                color,
                dash: Dash::Dashed,
                width: 2.2,
                markers: after.len() <= MARKERS_UP_TO,
                points: after,
            });
        }
        let diverged = s.run.diverged(&s.model);
        let mut events = Vec::new();
        if let Some(step) = diverged.as_ref().and_then(|d| d.step) {
            any_event = true;
            let label =
                if step == 0 { "diverged at initialization".to_string() } else { format!("diverged at step {step}") };
            events.push(Event { x: step as f64, label });
        }
        // The reading: how far each model's norm went, and what stopped or tamed it. Each
        // clause starts with a word of its own, so that a model's name keeps its case.
        let peak_text = peak.map(|p| format!("{} at step {}", sig(p.grad_norm), p.step));
        let clause = match (&diverged, peak_text) {
            (Some(d), Some(p)) => format!("the norm of {} reached {p} before it {}", s.name(), d.phrase()),
            (Some(d), None) => format!("the model {} {} before any step was logged", s.name(), d.phrase()),
            (None, Some(p)) if is_clipped => {
                let n = rows.len();
                let k = rows.iter().filter(|r| was_clipped(r)).count();
                let to = limit.map(|c| format!(" to {c}")).unwrap_or_default();
                format!(
                    "the norm of {} was clipped{to} on {k} of its {n} logged steps (before clipping, up to {p})",
                    s.name()
                )
            }
            (None, Some(_)) => {
                let lo = rows.iter().map(|r| r.grad_norm).fold(f64::INFINITY, f64::min);
                let hi = rows.iter().map(|r| r.grad_norm).fold(f64::NEG_INFINITY, f64::max);
                format!("the norm of {} stayed between {} and {}", s.name(), sig(lo), sig(hi))
            }
            (None, None) => String::new(),
        };
        if !clause.is_empty() {
            clauses.push(clause);
        }
        panels.push(LinePanel {
            title: s.title(),
            y: Axis::new("global ‖dL/dθ‖ of all parameters (log scale)", AxisKind::Log),
            series,
            annotations: Vec::new(),
            empty: Some(match &diverged {
                Some(d) => format!("no rows in {}: it {}", runfolder::STEPS, d.phrase()),
                None => format!("no rows in {}", runfolder::STEPS),
            }),
            x: None,
            references: Vec::new(),
            events,
        });
    }
    let mut legend = vec![LegendItem {
        label: "before clipping (grad_norm)".into(),
        color: colormap::MUTED,
        swatch: Swatch::Line(Dash::Solid),
    }];
    if any_clipped {
        legend.push(LegendItem {
            label: "after clipping (grad_norm_clipped)".into(),
            color: colormap::MUTED,
            swatch: Swatch::Line(Dash::Dashed),
        });
    }
    if any_event {
        legend.push(LegendItem {
            label: "diverged (non-finite loss or gradient)".into(),
            color: colormap::ALERT,
            swatch: Swatch::Line(Dash::Dashed),
        });
    }
    let reading = if clauses.is_empty() {
        format!("There are no rows in {}, so there is nothing to read here.", runfolder::STEPS)
    } else {
        format!("{}.", capitalize(&join_subjects(clauses)))
    };
    Some(Made {
        figure: Figure {
            slug: SLUGS[10].into(),
            title: "11. Exploding gradients and clipping: the global gradient norm per step".into(),
            body: Body::Lines(Lines {
                x: Axis::new("step (optimizer steps)", AxisKind::Tight).integer(),
                panels,
                share_y: true,
                references: Vec::new(),
            }),
            legend: Legend { items: legend, ramp: None },
            notes: vec![format!(
                "Solid: the L2 norm of all of a model's parameter gradients together at each logged step ({}'s grad_norm, PyTorch's clip_grad_norm_ total), before clipping. Dashed, where a model was clipped: the same after clipping, held at the model's max norm (in its title) whenever the norm before it is above, and on the solid line where it is not. A red line marks the step where a model's training went non-finite and stopped; that step's values are not in the files.",
                runfolder::STEPS
            )],
            columns: None,
        },
        reading,
    })
}
