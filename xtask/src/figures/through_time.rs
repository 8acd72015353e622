//! The figures of recurrent models, from `time_steps.csv`: the time twins of the layer
//! figures. Figure 12 is the heatmap of time step t × training step with the error
//! ‖dL/dh_t‖ (figure 2 with time steps for layers), figure 13 the error against t at
//! initialization and at the end, one line per model, and figure 14 the mean forget or
//! update gate against t where gated models logged it. A run without recurrent models (or
//! from before the file existed) has none of them.

use std::collections::BTreeMap;

use runfolder::metric;

use super::{MAX_HEAT_COLUMNS, Made, SLUGS, fraction_of, geometric_mean, heat_grid, join, join_subjects};
use crate::colormap::{self, categorical};
use crate::headline::first_to_last_step;
use crate::numfmt::sig;
use crate::plot::{
    Axis, AxisKind, Body, Figure, Heat, HeatPanel, Legend, LegendItem, LinePanel, Lines, Series, Swatch, ZeroCells,
};
use crate::run::Source;
use crate::scene::Dash;
use crate::subject::Subject;

/// The most heatmap rows drawn; longer sequences are binned (geometric mean of
/// consecutive time steps per row).
pub const MAX_TIME_ROWS: usize = 200;

/// The layer a subject's through-time figures show for `metric`: its first recurrent layer,
/// the farthest from the loss, where the error has the longest way to travel. With it, the
/// number of recurrent layers that have rows.
fn shown_layer(s: &Subject<'_>, metric: &str) -> Option<(u32, usize)> {
    let layers = s.run.recurrent_layers(&s.model, metric);
    layers.first().map(|&l| (l, layers.len()))
}

/// The sentence that says which layer of a stacked model is shown (`None` when every
/// subject has one recurrent layer).
fn stacked_note(subjects: &[Subject<'_>], metric: &str) -> Option<String> {
    let stacked: Vec<String> = subjects
        .iter()
        .filter_map(|s| {
            let (layer, n) = shown_layer(s, metric)?;
            (n > 1).then(|| format!("layer {layer} of {} ({n} recurrent layers)", s.name()))
        })
        .collect();
    (!stacked.is_empty()).then(|| {
        format!(
            "For a stacked model the first recurrent layer, the one farthest from the loss, is shown: {}.",
            join(stacked)
        )
    })
}

/// One moment's profile against t: (t, value) sorted by t, with the moment's label.
type Profile = (Vec<(u32, f64)>, String);

/// A metric against t at one training step of the train rows.
fn train_profile(s: &Subject<'_>, metric: &str, layer: u32, step: u64) -> Vec<(u32, f64)> {
    let by_t: BTreeMap<u32, f64> = s
        .run
        .time_metric(&s.model, Source::Train, metric, layer)
        .iter()
        .filter(|p| p.step == step)
        .map(|p| (p.t, p.value))
        .collect();
    by_t.into_iter().collect()
}

/// A subject's profile of `metric` against t at initialization and at the end: the probe
/// set's at epoch 0 and after its last epoch; where the model has no probe rows (or only
/// those at initialization), its first and last logged training steps stand in.
fn profile_ends(s: &Subject<'_>, metric: &str, layer: u32) -> [Option<Profile>; 2] {
    let probe = |epoch: u32| s.run.time_profile(&s.model, metric, layer, epoch);
    let train_steps: Vec<u64> = {
        let mut v: Vec<u64> =
            s.run.time_metric(&s.model, Source::Train, metric, layer).iter().map(|p| p.step).collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    let nonempty = |p: Vec<(u32, f64)>| (!p.is_empty()).then_some(p);
    let init = nonempty(probe(0)).map(|p| (p, "initialization (epoch 0)".to_string())).or_else(|| {
        let step = *train_steps.first()?;
        nonempty(train_profile(s, metric, layer, step)).map(|p| (p, format!("the first logged step ({step})")))
    });
    let end_epoch = s.run.last_time_probe_epoch(&s.model, metric, layer).filter(|&e| e > 0);
    let end = end_epoch
        .and_then(|e| nonempty(probe(e)).map(|p| (p, format!("the end (epoch {e})"))))
        .or_else(|| {
            let step = *train_steps.last()?;
            (train_steps.len() > 1)
                .then(|| train_profile(s, metric, layer, step))
                .and_then(nonempty)
                .map(|p| (p, format!("the last logged step ({step})")))
        });
    [init, end]
}

/// The per-step factor of a geometric decay that takes `ratio` over the time steps of
/// `profile`: ratio^(1 / (t_last - t_first)).
fn per_step(profile: &[(u32, f64)], ratio: f64) -> Option<f64> {
    let (first, last) = (profile.first()?.0, profile.last()?.0);
    (last > first && ratio > 0.0).then(|| ratio.powf(1.0 / f64::from(last - first)))
}

/// The legend of the line figures: a colour per model, dashed for initialization, solid
/// for the end.
fn ends_legend(models: Vec<(String, colormap::Color)>) -> Legend {
    let mut items: Vec<LegendItem> =
        models.into_iter().map(|(label, color)| LegendItem { label, color, swatch: Swatch::Box }).collect();
    items.push(LegendItem {
        label: "initialization (dashed)".into(),
        color: colormap::MUTED,
        swatch: Swatch::Line(Dash::Dashed),
    });
    items.push(LegendItem { label: "end (solid)".into(), color: colormap::MUTED, swatch: Swatch::Line(Dash::Solid) });
    Legend { items, ramp: None }
}

/// The subjects that have rows of `metric` in `time_steps.csv`.
fn with_rows<'s, 'a>(subjects: &'s [Subject<'a>], metric: &str) -> Vec<(usize, &'s Subject<'a>)> {
    subjects.iter().enumerate().filter(|(_, s)| shown_layer(s, metric).is_some()).collect()
}

/// Figure 12, when some model has per-time-step errors: per recurrent model, the heatmap of
/// time step t (rows, t = 1 at the bottom) × logged training step (columns) of mean
/// ‖dL/dh_t‖, on one log colour scale, the time twin of figure 2.
pub(super) fn heatmap(subjects: &[Subject<'_>]) -> Option<Made> {
    let m = metric::HIDDEN_DELTA_NORM;
    let recurrent = with_rows(subjects, m);
    if recurrent.is_empty() {
        return None;
    }
    let has_train = |s: &Subject<'_>| {
        shown_layer(s, m).is_some_and(|(l, _)| !s.run.time_metric(&s.model, Source::Train, m, l).is_empty())
    };
    let use_train = recurrent.iter().any(|(_, s)| has_train(s));
    let source = if use_train { Source::Train } else { Source::Probe };
    let unit = if use_train { "step" } else { "epoch" };
    let mut panels = Vec::new();
    let mut clauses = Vec::new();
    let mut binned_rows = false;
    for (_, s) in &recurrent {
        let Some((layer, _)) = shown_layer(s, m) else { continue };
        let points = s.run.time_metric(&s.model, source, m, layer);
        let t_max = points.iter().map(|p| p.t).max().unwrap_or(0).max(s.run.sequence_length(&s.model).unwrap_or(0));
        // One line per time step, against step (train rows) or epoch (probe rows).
        let mut lines: BTreeMap<u32, Vec<(f64, f64)>> = BTreeMap::new();
        for p in points {
            let x = if use_train { p.step as f64 } else { f64::from(p.epoch) };
            lines.entry(p.t).or_default().push((x, p.value));
        }
        let rows: Vec<(usize, Vec<(f64, f64)>)> =
            lines.into_iter().map(|(t, pts)| (t as usize - 1, pts)).collect();
        let (columns, cells) = heat_grid(t_max as usize, &rows);
        // Long sequences: consecutive time steps share a row.
        let bin = (t_max as usize).div_ceil(MAX_TIME_ROWS).max(1);
        binned_rows |= bin > 1;
        let cells: Vec<Vec<Option<f64>>> = cells
            .chunks(bin)
            .map(|group| {
                (0..columns.len())
                    .map(|c| geometric_mean(&group.iter().map(|row| row[c]).collect::<Vec<_>>()))
                    .collect()
            })
            .collect();
        let row_labels: Vec<String> = (0..cells.len()).map(|r| (r * bin + 1).to_string()).collect();
        // The reading: the first step's error over the last's, in the last column.
        if let (Some(&x), Some(first), Some(last)) = (
            columns.last(),
            cells.first().and_then(|row| row.last().copied().flatten()),
            cells.last().and_then(|row| row.last().copied().flatten()),
        ) && cells.len() > 1
            && last > 0.0
        {
            clauses.push((
                x,
                format!("the error reaching t = 1 of {} is {} that at t = {t_max}", s.name(), fraction_of(first / last)),
            ));
        }
        panels.push(HeatPanel {
            title: s.title(),
            rows: row_labels,
            columns,
            cells,
            empty: Some(format!("no {m} rows in {}", runfolder::TIME_STEPS)),
            column_ticks: None,
        });
    }
    let mut reading = if clauses.is_empty() {
        format!("No per-time-step errors were logged in {}, so there is nothing to read here.", runfolder::TIME_STEPS)
    } else {
        super::at_last(unit, clauses)
    };
    let mut notes = vec![format!(
        "Rows are time steps (t = 1, the first input, at the bottom; the last, next to a read-out from the last state, at the top); columns are {}s, drawn equally wide; colour is the mean error ‖dL/dh_t‖ on one log scale for all panels, dark for small.",
        if use_train { "logged step" } else { "epoch" }
    )];
    if !use_train {
        notes.push("There are no train rows, so the probe-set measurements per epoch are shown instead.".into());
    }
    if panels.iter().any(|p| p.columns.len() >= MAX_HEAT_COLUMNS) {
        notes.push(format!(
            "Long runs are shown in at most {MAX_HEAT_COLUMNS} columns, each the geometric mean of consecutive logged steps."
        ));
    }
    if binned_rows {
        notes.push(format!(
            "Long sequences are shown in at most {MAX_TIME_ROWS} rows, each the geometric mean of consecutive time steps and labelled with the first."
        ));
    }
    if let Some(n) = stacked_note(subjects, m) {
        reading.push(' ');
        reading.push_str(&n);
        notes.push(n);
    }
    reading.push_str(" Look for a vanilla RNN's colour darkening from the top row down, decade by decade (the error vanishing geometrically on its way back to t = 1), where an LSTM or GRU stays much more even.");
    Some(Made {
        figure: Figure {
            slug: SLUGS[11].into(),
            title: "12. Where the error vanishes through time: time step × step".into(),
            body: Body::Heat(Heat {
                x_label: if use_train { "step (logged steps)".into() } else { "epoch".into() },
                y_label: "time step t (1 = first input)".into(),
                colorbar_label: "mean ‖dL/dh_t‖ (log scale)".into(),
                panels,
                zeros: ZeroCells::Underflow,
            }),
            legend: Legend::default(),
            notes,
            columns: None,
        },
        reading,
    })
}

/// Figure 13, when some model has per-time-step errors: mean ‖dL/dh_t‖ against t on the
/// probe set at initialization (dashed) and at the end (solid), one colour per model, in
/// one panel.
pub(super) fn profile(subjects: &[Subject<'_>]) -> Option<Made> {
    let m = metric::HIDDEN_DELTA_NORM;
    let recurrent = with_rows(subjects, m);
    if recurrent.is_empty() {
        return None;
    }
    let mut series = Vec::new();
    let mut models = Vec::new();
    let mut clauses = Vec::new();
    for &(i, s) in &recurrent {
        let Some((layer, _)) = shown_layer(s, m) else { continue };
        let color = categorical(i);
        models.push((s.name(), color));
        let [init, end] = profile_ends(s, m, layer);
        let ratio = |p: &Option<Profile>| p.as_ref().and_then(|(p, _)| first_to_last_step(p));
        let (r0, r1) = (ratio(&init), ratio(&end));
        let last_t = end.as_ref().or(init.as_ref()).and_then(|(p, _)| p.last().map(|x| x.0));
        if let (Some(r), Some(t)) = (r1.or(r0), last_t) {
            // The end's ratio where there is one, else the start's.
            let shown = if r1.is_some() { end.as_ref() } else { init.as_ref() };
            let when = shown.map_or("", |(_, w)| w.as_str());
            let profile = shown.map_or(&[][..], |(p, _)| p.as_slice());
            let mut details: Vec<String> =
                per_step(profile, r).map(|f| format!("a factor of {} per step back", sig(f))).into_iter().collect();
            if let (Some(_), Some(r0), Some((_, w))) = (r1, r0, init.as_ref()) {
                details.push(format!("{} at {w}", sig(r0)));
            }
            let details = if details.is_empty() { String::new() } else { format!(" ({})", details.join("; ")) };
            clauses.push((when.to_string(), format!("{} that at t = {t} for {}{details}", fraction_of(r), s.name())));
        }
        for (end_of, dash, suffix) in [(&init, Dash::Dashed, "initialization"), (&end, Dash::Solid, "end")] {
            if let Some((p, _)) = end_of {
                series.push(Series {
                    name: format!("{} {suffix}", s.name()),
                    color,
                    dash,
                    width: 2.0,
                    points: p.iter().map(|&(t, v)| (f64::from(t), v)).collect(),
                    markers: p.len() <= 12,
                });
            }
        }
    }
    // "At the end (epoch 3), the error reaching t = 1 is 6.1e-5 of that at t = 20 for rnn
    // (…) and 0.68 of that at t = 20 for lstm (…)", each model's moment named where they differ.
    let same = clauses.windows(2).all(|w| w[0].0 == w[1].0);
    let mut reading = match clauses.first() {
        None => format!(
            "There are no per-time-step errors in {}, so there is nothing to read here.",
            runfolder::TIME_STEPS
        ),
        Some((when, _)) if same => format!(
            "At {when}, the error reaching t = 1 is {}.",
            join_subjects(clauses.iter().map(|c| c.1.clone()).collect())
        ),
        Some(_) => format!(
            "The error reaching t = 1 is {}.",
            join_subjects(clauses.into_iter().map(|(when, c)| format!("{c}, at {when}")).collect())
        ),
    };
    let mut notes = vec![
        "The mean over the probe set's examples of ‖dL/dh_t‖, the total derivative of each example's own loss with respect to the hidden state at time step t, through the read-out and every later step. Where a model has no probe rows, its first and last logged training steps are shown.".to_string(),
    ];
    if let Some(n) = stacked_note(subjects, m) {
        reading.push(' ');
        reading.push_str(&n);
        notes.push(n);
    }
    reading.push_str(" Look for a vanilla RNN's line falling as a straight line on the log scale from the last step back to t = 1 (a geometric decay, as Bengio, Simard and Frasconi described), and an LSTM's or GRU's much flatter one.");
    Some(Made {
        figure: Figure {
            slug: SLUGS[12].into(),
            title: "13. The error through time, at initialization and at the end".into(),
            body: Body::Lines(Lines {
                x: Axis::new("time step t (1 = first input)", AxisKind::Tight).integer(),
                panels: vec![LinePanel {
                    title: "Error per time step".into(),
                    y: Axis::new("mean ‖dL/dh_t‖ (log scale)", AxisKind::Log),
                    series,
                    annotations: Vec::new(),
                    empty: Some(format!("no {m} rows in {}", runfolder::TIME_STEPS)),
                    x: None,
                    references: Vec::new(),
                    events: Vec::new(),
                }],
                share_y: false,
                references: Vec::new(),
            }),
            legend: ends_legend(models),
            notes,
            columns: None,
        },
        reading,
    })
}

/// The gate a model's `gate_mean` is: the forget gate of an LSTM, the update gate of a GRU.
fn gate_name(s: &Subject<'_>) -> &'static str {
    match s.run.model(&s.model).and_then(|m| m.kind.as_deref()) {
        Some("lstm") => "forget gate",
        Some("gru") => "update gate",
        _ => "gate",
    }
}

/// Figure 14, when some gated model logged its gate: the mean forget (LSTM) or update (GRU)
/// gate against t at initialization (dashed) and at the end (solid), one colour per model.
pub(super) fn gates(subjects: &[Subject<'_>]) -> Option<Made> {
    let m = metric::GATE_MEAN;
    let gated = with_rows(subjects, m);
    if gated.is_empty() {
        return None;
    }
    let mut series = Vec::new();
    let mut models = Vec::new();
    let mut clauses = Vec::new();
    for &(i, s) in &gated {
        let Some((layer, _)) = shown_layer(s, m) else { continue };
        let color = categorical(i);
        models.push((format!("{} ({})", s.name(), gate_name(s)), color));
        let ends = profile_ends(s, m, layer);
        let mean = |p: &Option<Profile>| {
            let (p, when) = p.as_ref().filter(|(p, _)| !p.is_empty())?;
            Some((p.iter().map(|x| x.1).sum::<f64>() / p.len() as f64, when.clone()))
        };
        match (mean(&ends[0]), mean(&ends[1])) {
            (Some((a, from)), Some((b, when))) => clauses.push(format!(
                "the mean {} of {} averages {} over t at {when}, from {} at {from}",
                gate_name(s),
                s.name(),
                sig(b),
                sig(a)
            )),
            (Some((a, when)), None) | (None, Some((a, when))) => clauses.push(format!(
                "the mean {} of {} averages {} over t at {when}",
                gate_name(s),
                s.name(),
                sig(a)
            )),
            (None, None) => {}
        }
        for (end_of, dash, suffix) in [(&ends[0], Dash::Dashed, "initialization"), (&ends[1], Dash::Solid, "end")] {
            if let Some((p, _)) = end_of {
                series.push(Series {
                    name: format!("{} {suffix}", s.name()),
                    color,
                    dash,
                    width: 2.0,
                    points: p.iter().map(|&(t, v)| (f64::from(t), v)).collect(),
                    markers: p.len() <= 12,
                });
            }
        }
    }
    let mut reading = if clauses.is_empty() {
        format!("There are no gate means in {}, so there is nothing to read here.", runfolder::TIME_STEPS)
    } else {
        format!("{}.", super::capitalize(&join_subjects(clauses)))
    };
    let mut notes = vec![
        "The mean over examples and units of the LSTM's forget gate f_t, or the GRU's update gate z_t (the share of h_(t-1) kept), at each time step t, on the probe set. Near 1 the cell keeps its past, and the error flows back through it almost undamped; near 0 it forgets, and the error stops there.".to_string(),
    ];
    if let Some(n) = stacked_note(subjects, m) {
        reading.push(' ');
        reading.push_str(&n);
        notes.push(n);
    }
    reading.push_str(" Look for gates that rise towards 1 where the task needs a long memory: that is the path along which an LSTM or GRU keeps the error from vanishing.");
    Some(Made {
        figure: Figure {
            slug: SLUGS[13].into(),
            title: "14. The mean forget or update gate through time".into(),
            body: Body::Lines(Lines {
                x: Axis::new("time step t (1 = first input)", AxisKind::Tight).integer(),
                panels: vec![LinePanel {
                    title: "Mean gate per time step".into(),
                    y: Axis::new("mean gate (0 = forget, 1 = keep)", AxisKind::Fixed(0.0, 1.0)),
                    series,
                    annotations: Vec::new(),
                    empty: Some(format!("no {m} rows in {}", runfolder::TIME_STEPS)),
                    x: None,
                    references: Vec::new(),
                    events: Vec::new(),
                }],
                share_y: false,
                references: Vec::new(),
            }),
            legend: ends_legend(models),
            notes,
            columns: None,
        },
        reading,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::{Manifest, Run, TimePoint};

    /// A run in memory: an MLP, a stacked 2-layer vanilla RNN and an LSTM over T = 10 steps.
    /// The error at t is base^(10 - t) (base 0.5 for the RNN's first layer, 0.9 for its
    /// second and for the LSTM), on the probe set at epochs 0 and 1 (at the end, 2e-3 and
    /// 0.39 of the last step's at t = 1) and on the training batches of steps 1, 2 and 4; the
    /// LSTM's forget gate is 0.5 at initialization and 0.9 at the end.
    fn run() -> Run {
        let manifest: Manifest = serde_json::from_value(serde_json::json!({
            "name": "t", "status": "completed", "task": "regression",
            "dataset": { "source": "adding", "sequence_length": 10 },
            "models": [
                { "name": "mlp", "kind": "mlp", "activation": "relu", "layers": [4, 3, 1] },
                { "name": "rnn", "kind": "rnn", "hidden": 8, "activation": "tanh",
                  "layers": [{ "name": "rnn.0" }, { "name": "rnn.1" }, { "name": "readout" }] },
                { "name": "lstm", "kind": "lstm", "hidden": 8,
                  "layers": [{ "name": "lstm" }, { "name": "readout" }] }
            ]
        }))
        .expect("manifest");
        let mut run = Run::of_manifest(manifest);
        type Values<'f> = &'f dyn Fn(u32) -> f64;
        let mut put = |model: &str, source: Source, metric: &str, layer: u32, (epoch, step): (u32, u64), f: Values| {
            let rows = run.time_steps.entry((model.into(), source, metric.into(), layer)).or_default();
            rows.extend((1..=10).map(|t| TimePoint { epoch, step, t, value: f(t) }));
        };
        for (model, layer, base) in [("rnn", 1, 0.5), ("rnn", 2, 0.9), ("lstm", 1, 0.9)] {
            let error = move |t: u32| 0.1 * f64::powi(base, 10 - t as i32);
            for (epoch, step) in [(0, 0), (1, 4)] {
                put(model, Source::Probe, metric::HIDDEN_DELTA_NORM, layer, (epoch, step), &error);
            }
            for step in [1, 2, 4] {
                put(model, Source::Train, metric::HIDDEN_DELTA_NORM, layer, (1, step), &error);
            }
        }
        put("lstm", Source::Probe, metric::GATE_MEAN, 1, (0, 0), &|_| 0.5);
        put("lstm", Source::Probe, metric::GATE_MEAN, 1, (1, 4), &|_| 0.9);
        run
    }

    #[test]
    fn recurrent_models_get_the_three_figures_through_time() {
        let run = run();
        let subjects = Subject::of_run(&run, None);
        let made: Vec<Made> =
            [heatmap(&subjects), profile(&subjects), gates(&subjects)].into_iter().flatten().collect();
        assert_eq!(made.len(), 3);
        for m in &made {
            let r = crate::plot::render(&m.figure);
            assert!(r.series > 0, "{} has no series", m.figure.slug);
            for t in r.scene.texts() {
                for span in &t.spans {
                    let missing: String = span.text.chars().filter(|&c| !crate::font::has_glyph(c)).collect();
                    assert!(missing.is_empty(), "{}: {:?} lacks {missing:?}", m.figure.slug, span.text);
                }
            }
        }
        // Figure 12: a panel per recurrent model (not the MLP), a row per time step, t = 1
        // the bottom row, the RNN's first layer (the stacked model's farthest from the loss).
        let Body::Heat(heat) = &made[0].figure.body else { panic!("figure 12 is a heatmap") };
        assert_eq!(heat.panels.len(), 2);
        let rnn = &heat.panels[0];
        assert_eq!((rnn.title.as_str(), heat.panels[1].title.as_str()), ("rnn · tanh, 3 layers, hidden 8", "lstm · 2 layers, hidden 8"));
        assert_eq!(rnn.rows.len(), 10);
        assert_eq!(rnn.columns, [1.0, 2.0, 4.0]);
        let bottom = rnn.cells[0][2].expect("t = 1");
        let top = rnn.cells[9][2].expect("t = 10");
        assert!((bottom / top - 0.5f64.powi(9)).abs() < 1e-12, "{bottom} {top}");
        assert!(made[0].reading.contains("layer 1 of rnn (2 recurrent layers)"), "{}", made[0].reading);
        let start = "At the last logged step (4), the error reaching t = 1 of rnn is 2e-3 of that at t = 10";
        assert!(made[0].reading.starts_with(start), "{}", made[0].reading);
        // Figure 13: init dashed and end solid per model, with the ratio and its per-step factor.
        let Body::Lines(lines) = &made[1].figure.body else { panic!("figure 13 has lines") };
        let dashes: Vec<Dash> = lines.panels[0].series.iter().map(|s| s.dash).collect();
        assert_eq!(dashes, [Dash::Dashed, Dash::Solid, Dash::Dashed, Dash::Solid]);
        assert!(
            made[1].reading.contains("At the end (epoch 1), the error reaching t = 1 is 2e-3 of that at t = 10 for rnn (a factor of 0.50 per step back; 2e-3 at initialization (epoch 0))"),
            "{}",
            made[1].reading
        );
        assert!(made[1].reading.contains("0.39 of that at t = 10 for lstm"), "{}", made[1].reading);
        // Figure 14: the LSTM's forget gate only.
        let gate = "The mean forget gate of lstm averages 0.90 over t at the end (epoch 1), from 0.50 at initialization (epoch 0).";
        assert!(made[2].reading.starts_with(gate), "{}", made[2].reading);
    }

    #[test]
    fn a_feed_forward_run_has_no_figures_through_time() {
        let mut run = run();
        run.time_steps.clear();
        run.manifest.models.truncate(1);
        let subjects = Subject::of_run(&run, None);
        assert!(heatmap(&subjects).is_none() && profile(&subjects).is_none() && gates(&subjects).is_none());
    }
}
