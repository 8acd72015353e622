//! The figures of a report, built from subjects (the models of one run, or of several in a
//! comparison), each with a one-sentence reading computed from the data: seven always, two
//! more from `grad_histograms.csv` when the run has one, the remedies' two (in
//! `remedies.rs`) where their data is, and the recurrent models' three through time (in
//! `through_time.rs`) where `time_steps.csv` has rows.

use std::collections::{BTreeMap, BTreeSet};

use runfolder::{Bin, metric};

use crate::colormap::{self, Color, categorical, layer_color, layer_t};
use crate::headline::{self, Headline};
use crate::numfmt::{percent, sig, times};
use crate::plot::{
    Axis, AxisKind, BarGroup, BarPanel, Bars, Body, Figure, Heat, HeatPanel, Legend, LegendItem, LinePanel, Lines,
    Ramp, Reference, Series, Swatch, ZeroCells,
};
use crate::run::{EpochSource, Snapshot, Source};
use crate::scale::Label;
use crate::scene::Dash;
use crate::subject::Subject;

mod coverage;
mod remedies;
mod through_time;

/// A figure spec and its reading.
pub struct Made {
    pub figure: Figure,
    pub reading: String,
}

/// The update-to-weight ratio that is often quoted as healthy (Karpathy's rule of thumb).
pub const UPDATE_RATIO_REFERENCE: f64 = 1e-3;

/// The most heatmap columns drawn; longer runs are binned (geometric mean per bin).
pub const MAX_HEAT_COLUMNS: usize = 240;

/// The decade below which a gradient entry counts as vanished in figure 9: 1e-8, where an
/// SGD step of a usual learning rate times the entry no longer changes a float32 weight of
/// order 1.
pub const VANISHED_BELOW: i32 = -8;

/// All figures, in page order: the seven that every run has, then the two histogram
/// figures when any subject has rows in `grad_histograms.csv` (runs from before it existed
/// have none, and their page is as it was), then the remedies side by side when two or more
/// subjects have the first-to-last ratio over training, and the gradient norm with clipping
/// when some subject was clipped or diverged, then the recurrent models' error through time
/// (and their gates) when some subject has rows in `time_steps.csv`. A figure without data is not drawn; the
/// numbers in titles and file names stay those of the list, so that "figure 10" is the same
/// figure on every page. `columns` sets the panels per row of the figures that have a panel
/// per subject (a comparison passes the number of models per run).
pub fn all(subjects: &[Subject<'_>], columns: Option<usize>) -> Vec<Made> {
    let mut made = vec![
        grad_norms(subjects),
        grad_heatmap(subjects),
        grad_bars(subjects),
        loss_accuracy(subjects),
        saturation(subjects),
        update_ratio(subjects),
        delta_norms(subjects),
    ];
    if subjects.iter().any(|s| s.run.has_histograms(&s.model)) {
        made.push(grad_histogram(subjects));
        made.push(vanished_share(subjects));
    }
    made.extend(remedies::side_by_side(subjects));
    made.extend(remedies::exploding(subjects));
    made.extend(through_time::heatmap(subjects));
    made.extend(through_time::profile(subjects));
    made.extend(through_time::gates(subjects));
    for m in &mut made {
        // The loss and the remedies figures have one panel per quantity, not per subject;
        // the histogram has a row per subject (initialization beside the end), which it sets
        // itself; the figures through time have a panel per recurrent subject (which need
        // not be every model of a run) or one for all.
        if ![SLUGS[3], SLUGS[7], SLUGS[9], SLUGS[11], SLUGS[12], SLUGS[13]].contains(&m.figure.slug.as_str()) {
            m.figure.columns = columns;
        }
    }
    made
}

/// The file stems of the figures, in page order (8 and 9 only with histograms, 10 to 14
/// only with their data).
pub const SLUGS: [&str; 14] = [
    "fig1-grad-norms",
    "fig2-grad-heatmap",
    "fig3-grad-bars",
    "fig4-loss-accuracy",
    "fig5-saturation",
    "fig6-update-ratio",
    "fig7-delta-norms",
    "fig8-grad-histogram",
    "fig9-grad-below-1e-8",
    "fig10-remedies",
    "fig11-exploding-clipping",
    "fig12-time-heatmap",
    "fig13-time-profile",
    "fig14-gates",
];

/// Lines of one metric per layer, with the x values and the layer number.
type LayerLines = Vec<(u32, Vec<(f64, f64)>)>;

/// A metric per layer against step (train rows) or epoch (probe rows).
fn layer_lines(s: &Subject<'_>, source: Source, metric: &str) -> LayerLines {
    let Some(per) = s.run.metric(&s.model, source, metric) else { return Vec::new() };
    per.iter()
        .map(|(&layer, pts)| {
            let mut v: Vec<(f64, f64)> = pts
                .iter()
                .map(|p| (if source == Source::Train { p.step as f64 } else { f64::from(p.epoch) }, p.value))
                .collect();
            v.sort_by(|a, b| a.0.total_cmp(&b.0));
            (layer, v)
        })
        .collect()
}

fn layer_series(s: &Subject<'_>, lines: LayerLines, dash: Dash, suffix: &str, markers: bool) -> Vec<Series> {
    let count = s.layers().max(lines.iter().map(|l| l.0).max().unwrap_or(0));
    lines
        .into_iter()
        .map(|(layer, points)| Series {
            name: format!("{}{suffix}", s.layer_label(layer)),
            color: layer_color(layer, count),
            dash,
            width: 1.8,
            points,
            markers,
        })
        .collect()
}

/// The legend for lines coloured by layer: one entry per layer when every panel has the
/// same few layers (only those in `drawn`, when given: a frozen or untapped layer has no
/// line), else a ramp from the first to the last layer.
fn layer_legend_of(subjects: &[Subject<'_>], drawn: Option<&BTreeSet<u32>>) -> Legend {
    let counts: BTreeSet<u32> = subjects.iter().map(Subject::layers).collect();
    // One legend serves every panel, so it names the layers only when every subject's
    // layers have the same names; else it numbers them.
    let names: BTreeSet<Option<Vec<String>>> = subjects
        .iter()
        .map(|s| s.named_layers().then(|| (1..=s.layers()).map(|l| s.layer_label(l)).collect()))
        .collect();
    let names: Option<Vec<String>> = if names.len() == 1 { names.into_iter().next().flatten() } else { None };
    let label = |layer: u32| {
        let name = names.as_ref().and_then(|n| n.get(layer.saturating_sub(1) as usize));
        name.cloned().unwrap_or_else(|| format!("layer {layer}"))
    };
    if counts.len() == 1
        && let Some(&l) = counts.first()
        && l <= 8
    {
        let items = (1..=l)
            .filter(|layer| drawn.is_none_or(|d| d.contains(layer)))
            .map(|layer| LegendItem {
                label: match layer {
                    1 => format!("{} (input side)", label(1)),
                    x if x == l => format!("{} (output)", label(x)),
                    x => label(x),
                },
                color: layer_color(layer, l),
                swatch: Swatch::Line(Dash::Solid),
            })
            .collect();
        return Legend { items, ramp: None };
    }
    let last = names.as_ref().and_then(|n| n.last()).map_or_else(|| "last layer".to_string(), String::clone);
    Legend {
        items: Vec::new(),
        ramp: Some(Ramp {
            from: format!("{} (input side)", label(1)),
            to: format!("{last} (output)"),
            t0: layer_t(1, 2),
            t1: layer_t(2, 2),
        }),
    }
}

/// The title of a layer axis: numbered from the input side, or, where layers are named,
/// with the input side at `input_at` ("at the bottom", "on the left").
fn layer_axis(subjects: &[Subject<'_>], input_at: &str) -> String {
    if subjects.iter().any(Subject::named_layers) {
        format!("layer (input side {input_at})")
    } else {
        "layer (1 = input side)".to_string()
    }
}

/// The note of a figure that shows per-epoch means of the train rows where there are no
/// probe rows.
fn train_means_note() -> String {
    format!(
        "Where there are no probe rows, the per-epoch means of the training batches are shown ({}, or, where it has none, the train rows of {} averaged per epoch).",
        runfolder::LAYER_EPOCHS,
        runfolder::LAYERS
    )
}

/// The note of a panel with no rows of a metric in a file.
fn no_rows(metric: &str, file: &str) -> String {
    format!("no {metric} rows in {file}")
}

/// The other source.
fn other(source: Source) -> Source {
    if source == Source::Train { Source::Probe } else { Source::Train }
}

/// The source as the files write it: `train`, `probe`.
fn source_word(source: Source) -> &'static str {
    if source == Source::Train { runfolder::SOURCE_TRAIN } else { runfolder::SOURCE_PROBE }
}

/// The note of a subject's panel that has no rows of a metric from `source`: where the
/// metric has rows from the other source, it says so rather than that there are none.
fn no_rows_of(s: &Subject<'_>, metric: &str, source: Source) -> String {
    if s.run.metric(&s.model, other(source), metric).is_some() {
        format!(
            "no {} rows of {metric} in {} (only {} rows)",
            source_word(source),
            runfolder::LAYERS,
            source_word(other(source))
        )
    } else {
        no_rows(metric, runfolder::LAYERS)
    }
}

/// The reading of a figure that no subject has rows for: "There are no grad_norm_weight
/// rows in layers.csv for any model."
fn nothing_logged(metric: &str) -> String {
    format!("There are no {metric} rows in {} for any model, so there is nothing to read here.", runfolder::LAYERS)
}

/// A value in a sentence: `exactly 0`, or its significant digits.
fn value_text(v: f64) -> String {
    if v <= 0.0 { "exactly 0".to_string() } else { sig(v) }
}

/// The sentence naming a subject's layers that lack a metric that other layers have, and
/// why (see [`coverage::lacking`]). A subject with no layer rows at all is left to its
/// panel's note.
fn lacking_in<V>(s: &Subject<'_>, has: &BTreeMap<u32, V>, measure: coverage::Measure) -> Option<String> {
    if has.is_empty() && !s.run.row_counts(&s.model).iter().any(|(f, _)| *f == runfolder::LAYERS) {
        return None;
    }
    coverage::lacking(s, has, measure)
}

/// A reading followed by the sentences on the layers that lack its metric.
fn with_lacking(reading: String, lacking: Vec<String>) -> String {
    if lacking.is_empty() { reading } else { format!("{reading} {}", lacking.join(" ")) }
}

/// "a", "a and b", "a, b and c" (the run folder reader's, whose notes list things too).
pub(crate) use crate::run::join;

/// Subject clauses joined for a sentence: with "and" when they are simple, with
/// semicolons when they have commas or "and" of their own.
fn join_subjects(parts: Vec<String>) -> String {
    if parts.iter().any(|p| p.contains(',') || p.contains(" and ")) { parts.join("; ") } else { join(parts) }
}

/// "At the last logged step (2000), a and b." when every clause is at the same x, else
/// each clause says its own ("a (step 2000); b (step 1800)").
fn at_last(unit: &str, items: Vec<(f64, String)>) -> String {
    let same = items.windows(2).all(|w| w[0].0 == w[1].0);
    match items.first() {
        Some(&(x, _)) if same => {
            format!("At the last logged {unit} ({x}), {}.", join_subjects(items.into_iter().map(|i| i.1).collect()))
        }
        _ => format!(
            "At the last logged {unit}, {}.",
            join_subjects(items.into_iter().map(|(x, c)| format!("{c} ({unit} {x})")).collect())
        ),
    }
}

/// "1.2e-4 of", "3.1 times": how a ratio reads in a sentence.
fn fraction_of(r: f64) -> String {
    if (r - 1.0).abs() < 0.05 {
        "about as much as".to_string()
    } else if r > 1.0 {
        format!("{} times", sig(r))
    } else {
        format!("{} of", sig(r))
    }
}

/// The text with its first letter in upper case.
fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    c.next().map_or_else(String::new, |f| f.to_uppercase().collect::<String>() + c.as_str())
}

/// The value of each layer's series at its last x.
fn last_values(lines: &LayerLines) -> BTreeMap<u32, (f64, f64)> {
    lines.iter().filter_map(|(l, pts)| pts.last().map(|&p| (*l, p))).collect()
}

fn grad_norms(subjects: &[Subject<'_>]) -> Made {
    // The layers that have a line: the legend lists only those (a frozen layer has none).
    let mut drawn = BTreeSet::new();
    let use_train = subjects.iter().any(|s| s.run.metric(&s.model, Source::Train, metric::GRAD_NORM_WEIGHT).is_some());
    let source = if use_train { Source::Train } else { Source::Probe };
    let mut panels = Vec::new();
    let mut clauses = Vec::new();
    let mut lacking = Vec::new();
    for s in subjects {
        let lines = layer_lines(s, source, metric::GRAD_NORM_WEIGHT);
        let last = last_values(&lines);
        // The input side against the output side: the first and the last layer that have a
        // weight gradient, which are layer 1 and layer L unless one is frozen or has none.
        if let Some(((f, (x, first)), (g, (_, lastv)))) = coverage::ends(&last)
            && f < g
        {
            let (pf, pg) = (s.layer_phrase(f), s.layer_phrase(g));
            clauses.push((
                x,
                if lastv <= 0.0 {
                    if g == s.layers() {
                        format!("the last layer of {} has a gradient of exactly 0", s.name())
                    } else {
                        format!("{pg} of {}, its last layer with a weight gradient, has one of exactly 0", s.name())
                    }
                } else if first <= 0.0 {
                    format!("{pf} of {} receives no gradient at all (exactly 0)", s.name())
                } else {
                    format!("{pf} of {} receives {} {pg}'s gradient", s.name(), fraction_of(first / lastv))
                },
            ));
        } else if let Some(((f, (x, v)), _)) = coverage::ends(&last) {
            clauses.push((
                x,
                format!(
                    "{} of {}, its one layer with a weight gradient, has {}",
                    s.layer_phrase(f),
                    s.name(),
                    value_text(v)
                ),
            ));
        }
        lacking.extend(lacking_in(s, &last, coverage::Measure::WeightGradient));
        drawn.extend(lines.iter().map(|l| l.0));
        panels.push(LinePanel {
            title: s.title(),
            y: Axis::new("‖dL/dW‖ per layer (L2 norm, log scale)", AxisKind::Log),
            series: layer_series(s, lines, Dash::Solid, "", !use_train),
            annotations: Vec::new(),
            empty: Some(no_rows_of(s, metric::GRAD_NORM_WEIGHT, source)),
            x: None,
            references: Vec::new(),
            events: Vec::new(),
        });
    }
    let reading = with_lacking(
        if clauses.is_empty() {
            nothing_logged(metric::GRAD_NORM_WEIGHT)
        } else {
            at_last(if use_train { "step" } else { "epoch" }, clauses)
        },
        lacking,
    );
    let x = time_axis(use_train);
    let mut notes = vec![
        "Each panel is one model; all panels share the y scale, so a line lower in one panel is a smaller gradient than a higher one in another.".to_string(),
    ];
    if !use_train {
        notes.push("There are no train rows, so the probe-set measurements per epoch are shown instead.".into());
    }
    Made {
        figure: Figure {
            slug: SLUGS[0].into(),
            title: "1. Weight-gradient norm per layer".into(),
            body: Body::Lines(Lines { x, panels, share_y: true, references: Vec::new() }),
            legend: layer_legend_of(subjects, Some(&drawn)),
            notes,
            columns: None,
        },
        reading,
    }
}

/// The cells of a heatmap from each row's values against x (row index from 0, the bottom
/// row): one column per distinct x, in order, and where there are more than
/// [`MAX_HEAT_COLUMNS`], consecutive ones binned into one (see [`geometric_mean`]). Returns
/// the x of each column (the last of its bin) and `cells[row][column]`.
fn heat_grid(rows: usize, lines: &[(usize, Vec<(f64, f64)>)]) -> (Vec<f64>, Vec<Vec<Option<f64>>>) {
    let xs: BTreeSet<u64> = lines.iter().flat_map(|(_, p)| p.iter().map(|p| p.0 as u64)).collect();
    let xs: Vec<u64> = xs.into_iter().collect();
    let index: BTreeMap<u64, usize> = xs.iter().enumerate().map(|(i, &x)| (x, i)).collect();
    let mut raw = vec![vec![None; xs.len()]; rows];
    for (row, pts) in lines {
        for &(x, v) in pts {
            if let (Some(&c), Some(cells)) = (index.get(&(x as u64)), raw.get_mut(*row)) {
                cells[c] = Some(v);
            }
        }
    }
    // Binning keeps the file small for long runs.
    let bin = xs.len().div_ceil(MAX_HEAT_COLUMNS).max(1);
    let columns: Vec<f64> = xs.chunks(bin).map(|c| c.last().copied().unwrap_or(0) as f64).collect();
    let cells = raw.iter().map(|row| row.chunks(bin).map(geometric_mean).collect()).collect();
    (columns, cells)
}

/// The value of a bin of heatmap cells: the geometric mean of its positive values, 0 when
/// all its values are 0 (an underflow stays visible), `None` when nothing was measured.
fn geometric_mean(cells: &[Option<f64>]) -> Option<f64> {
    let vals: Vec<f64> = cells.iter().flatten().copied().collect();
    if vals.is_empty() {
        return None;
    }
    let pos: Vec<f64> = vals.iter().copied().filter(|v| *v > 0.0).collect();
    if pos.is_empty() {
        Some(0.0)
    } else {
        Some(10f64.powf(pos.iter().map(|v| v.log10()).sum::<f64>() / pos.len() as f64))
    }
}

/// Columns of a heatmap: one per logged step (binned when there are too many).
fn heat_panel(s: &Subject<'_>, source: Source) -> (HeatPanel, Vec<(u32, f64, f64)>) {
    let lines = layer_lines(s, source, metric::GRAD_NORM_WEIGHT);
    let l = s.layers().max(lines.iter().map(|x| x.0).max().unwrap_or(0));
    let rows: Vec<(usize, Vec<(f64, f64)>)> =
        lines.into_iter().map(|(layer, pts)| (layer as usize - 1, pts)).collect();
    let (columns, cells) = heat_grid(l as usize, &rows);
    // For the reading: the weakest layer of each column.
    let mut minima = Vec::new();
    for (c, &x) in columns.iter().enumerate() {
        let best = cells
            .iter()
            .enumerate()
            .filter_map(|(r, row)| row[c].map(|v| (r as u32 + 1, v)))
            .min_by(|a, b| a.1.total_cmp(&b.1));
        if let Some((layer, v)) = best {
            minima.push((layer, x, v));
        }
    }
    let panel = HeatPanel {
        title: s.title(),
        rows: (1..=l).map(|i| s.layer_tick(i)).collect(),
        columns,
        cells,
        empty: Some(no_rows_of(s, metric::GRAD_NORM_WEIGHT, source)),
        column_ticks: None,
    };
    (panel, minima)
}

fn grad_heatmap(subjects: &[Subject<'_>]) -> Made {
    let use_train = subjects.iter().any(|s| s.run.metric(&s.model, Source::Train, metric::GRAD_NORM_WEIGHT).is_some());
    let source = if use_train { Source::Train } else { Source::Probe };
    let unit = if use_train { "logged step" } else { "epoch" };
    let mut panels = Vec::new();
    let mut clauses = Vec::new();
    // The faintest cell: the subject's name, the layer as a sentence says it, x and value.
    let mut faintest: Option<(String, String, f64, f64)> = None;
    let mut lacking = Vec::new();
    for s in subjects {
        let (panel, minima) = heat_panel(s, source);
        // A layer without a gradient has no cells: it is not the weakest, and is named.
        let has: BTreeMap<u32, ()> =
            layer_lines(s, source, metric::GRAD_NORM_WEIGHT).into_iter().map(|(l, _)| (l, ())).collect();
        lacking.extend(lacking_in(s, &has, coverage::Measure::WeightGradient));
        if !minima.is_empty() {
            let mut counts: BTreeMap<u32, usize> = BTreeMap::new();
            for (layer, _, _) in &minima {
                *counts.entry(*layer).or_default() += 1;
            }
            if let Some((&layer, &n)) = counts.iter().max_by_key(|(l, n)| (**n, std::cmp::Reverse(**l))) {
                clauses.push(format!(
                    "{} at {} of {}'s {unit}s",
                    s.layer_phrase(layer),
                    percent(n as f64 / minima.len() as f64),
                    s.name()
                ));
            }
            for &(layer, x, v) in &minima {
                if faintest.as_ref().is_none_or(|f| v < f.3) {
                    faintest = Some((s.name(), s.layer_phrase(layer), x, v));
                }
            }
        }
        panels.push(panel);
    }
    let reading = match faintest {
        None => nothing_logged(metric::GRAD_NORM_WEIGHT),
        Some((name, layer, x, v)) => format!(
            "The weakest gradient is in {}; the faintest cell is {layer} of {name} at {} {x} ({}).",
            join(clauses),
            if use_train { "step" } else { "epoch" },
            value_text(v)
        ),
    };
    let reading = with_lacking(reading, lacking);
    let rows = if subjects.iter().any(Subject::named_layers) {
        "Rows are layers, named as in the manifest (the input side at the bottom)"
    } else {
        "Rows are layers (1, the input side, at the bottom)"
    };
    let mut notes = vec![format!(
        "{rows}; columns are {unit}s, drawn equally wide; colour is the weight-gradient norm on one log scale for all panels, dark for small."
    )];
    if panels.iter().any(|p| p.columns.len() >= MAX_HEAT_COLUMNS) {
        notes.push(format!("Long runs are shown in at most {MAX_HEAT_COLUMNS} columns, each the geometric mean of consecutive logged steps."));
    }
    Made {
        figure: Figure {
            slug: SLUGS[1].into(),
            title: "2. Where the gradient vanishes: layer × step".into(),
            body: Body::Heat(Heat {
                x_label: if use_train { "step (logged steps)".into() } else { "epoch".into() },
                y_label: layer_axis(subjects, "at the bottom"),
                colorbar_label: "‖dL/dW‖ (log scale)".into(),
                panels,
                zeros: ZeroCells::Underflow,
            }),
            legend: Legend::default(),
            notes,
            columns: None,
        },
        reading,
    }
}

const INIT_COLOR: Color = Color::rgb(0x9ecae1);
const END_COLOR: Color = Color::rgb(0x08519c);

fn grad_bars(subjects: &[Subject<'_>]) -> Made {
    let g = metric::GRAD_NORM_WEIGHT;
    let mut panels = Vec::new();
    let mut clauses = Vec::new();
    let mut end_epochs = BTreeSet::new();
    // Models without probe rows are shown with their first and last logged training batches.
    let mut from_train = Vec::new();
    let mut lacking = Vec::new();
    for s in subjects {
        let l = s.layers();
        let h = Headline::of(s);
        let probe = s.run.metric(&s.model, Source::Probe, g).is_some();
        let (init, fin, names) = if probe {
            let end = s.run.last_probe_epoch(&s.model).filter(|&e| e > 0);
            if let Some(e) = end {
                end_epochs.insert(e);
            }
            let fin = end.map(|e| s.run.probe_at(&s.model, g, e)).unwrap_or_else(|| vec![None; l as usize]);
            let names = ("initialization (epoch 0)".to_string(), "end (last epoch)".to_string());
            (s.run.probe_at(&s.model, g, 0), fin, names)
        } else if let Some((first, last)) = s.run.train_steps(&s.model, g) {
            from_train.push(format!("{} (steps {first} and {last})", s.name()));
            let fin = if last > first { s.run.train_at(&s.model, g, last) } else { vec![None; l as usize] };
            let names = (format!("first logged step ({first})"), format!("last logged step ({last})"));
            (s.run.train_at(&s.model, g, first), fin, names)
        } else {
            (vec![None; l as usize], vec![None; l as usize], ("start".to_string(), "end".to_string()))
        };
        let has: BTreeMap<u32, ()> = (1..=l)
            .filter(|&i| [&init, &fin].iter().any(|v| v.get(i as usize - 1).copied().flatten().is_some()))
            .map(|i| (i, ()))
            .collect();
        lacking.extend(lacking_in(s, &has, coverage::Measure::WeightGradient));
        // The end of a probe at initialization alone is no end.
        let end = h.end.filter(|r| r.source == Source::Train || r.epoch > 0);
        if h.start.is_some() || end.is_some() {
            let value = |r: Option<headline::Ratio>| headline::ratio_text(r.map(|r| r.value));
            let mut details = Vec::new();
            if let Some(r) = end.or(h.start).filter(|r| (r.first, r.last) != (1, l)) {
                details.push(format!("{} over {}", s.layer_phrase(r.first), s.layer_phrase(r.last)));
            }
            if !probe {
                details.push("its first and last logged training batches: it has no probe rows".to_string());
            }
            let details = if details.is_empty() { String::new() } else { format!(" ({})", details.join("; ")) };
            clauses.push(format!("from {} to {} for {}{details}", value(h.start), value(end), s.name()));
        }
        panels.push(BarPanel {
            title: s.title(),
            categories: (1..=l).map(|i| s.layer_tick(i)).collect(),
            groups: vec![
                BarGroup { name: names.0, color: INIT_COLOR, values: init, labels: None },
                BarGroup { name: names.1, color: END_COLOR, values: fin, labels: None },
            ],
            empty: Some(no_rows(g, runfolder::LAYERS)),
        });
    }
    let all_train = from_train.len() == subjects.len() && !subjects.is_empty();
    let (init_label, end_label) = if all_train {
        ("first logged step".to_string(), "last logged step".to_string())
    } else {
        let end = match end_epochs.len() {
            1 => format!("end (epoch {})", end_epochs.first().copied().unwrap_or(0)),
            _ => "end (last epoch)".to_string(),
        };
        if from_train.is_empty() {
            ("initialization (epoch 0)".to_string(), end)
        } else {
            ("initialization (epoch 0), or first logged step".to_string(), format!("{end}, or last logged step"))
        }
    };
    if from_train.is_empty() {
        for g in panels.iter_mut().filter_map(|p| p.groups.get_mut(1)) {
            g.name = end_label.clone();
        }
    }
    let reading = if clauses.is_empty() {
        if subjects.iter().any(|s| {
            s.run.metric(&s.model, Source::Probe, g).is_some() || s.run.metric(&s.model, Source::Train, g).is_some()
        }) {
            "No model has a weight gradient at two or more layers at the start or the end, so there is no first-to-last ratio to compare.".to_string()
        } else {
            nothing_logged(g)
        }
    } else if all_train {
        format!(
            "From the first to the last logged training batch, the first-to-last gradient ratio went {}.",
            join(clauses)
        )
    } else {
        format!("From initialization to the end, the first-to-last gradient ratio went {}.", join(clauses))
    };
    let reading = with_lacking(reading, lacking);
    let mut notes = Vec::new();
    if !all_train {
        notes.push("Measured on the fixed probe set with a full-batch backward pass and no update, as in the tutorial's bar charts.".to_string());
    }
    if !from_train.is_empty() {
        notes.push(format!(
            "There are no probe rows for {}: the bars are the training batches of the first and the last logged step.",
            join(from_train)
        ));
    }
    Made {
        figure: Figure {
            slug: SLUGS[2].into(),
            title: "3. Gradient magnitude per layer, at initialization and at the end".into(),
            body: Body::Bars(Bars {
                x_label: layer_axis(subjects, "on the left"),
                y: Axis::new(
                    if all_train {
                        "‖dL/dW‖ on a training batch (log scale)"
                    } else {
                        "‖dL/dW‖ on the probe set (log scale)"
                    },
                    AxisKind::Log,
                ),
                panels,
            }),
            legend: Legend {
                items: vec![
                    LegendItem { label: init_label, color: INIT_COLOR, swatch: Swatch::Box },
                    LegendItem { label: end_label, color: END_COLOR, swatch: Swatch::Box },
                ],
                ramp: None,
            },
            notes,
            columns: None,
        },
        reading,
    }
}

fn loss_accuracy(subjects: &[Subject<'_>]) -> Made {
    let classification = subjects.iter().any(|s| s.run.is_classification());
    let mut loss = Vec::new();
    let mut acc = Vec::new();
    let mut legend = Vec::new();
    let mut any_valid = false;
    let mut any_test = false;
    for (i, s) in subjects.iter().enumerate() {
        let color = categorical(i);
        legend.push(LegendItem { label: s.name(), color, swatch: Swatch::Box });
        let rows = s.run.epochs_of(&s.model);
        let pick = |f: &dyn Fn(&crate::run::EpochRow) -> Option<f64>, scale: f64| -> Vec<(f64, f64)> {
            rows.iter().filter_map(|r| f(r).map(|v| (f64::from(r.epoch), v * scale))).collect()
        };
        let mk = |name: &str, dash: Dash, points: Vec<(f64, f64)>| Series {
            name: format!("{} {name}", s.name()),
            color,
            dash,
            width: 2.0,
            points,
            markers: true,
        };
        loss.push(mk("train", Dash::Dashed, pick(&|r| r.train_loss, 1.0)));
        let test = pick(&|r| r.test_loss, 1.0);
        any_test |= !test.is_empty();
        loss.push(mk("test", Dash::Solid, test));
        let valid = pick(&|r| r.valid_loss, 1.0);
        if !valid.is_empty() {
            any_valid = true;
            loss.push(mk("valid", Dash::Dotted, valid));
        }
        if classification {
            acc.push(mk("train", Dash::Dashed, pick(&|r| r.train_accuracy, 100.0)));
            acc.push(mk("test", Dash::Solid, pick(&|r| r.test_accuracy, 100.0)));
            let valid = pick(&|r| r.valid_accuracy, 100.0);
            if !valid.is_empty() {
                acc.push(mk("valid", Dash::Dotted, valid));
            }
        }
    }
    legend.push(LegendItem { label: "train".into(), color: colormap::MUTED, swatch: Swatch::Line(Dash::Dashed) });
    // A loop that evaluates no test set has no test line to name.
    if any_test {
        legend.push(LegendItem { label: "test".into(), color: colormap::MUTED, swatch: Swatch::Line(Dash::Solid) });
    }
    if any_valid {
        legend.push(LegendItem {
            label: "validation".into(),
            color: colormap::MUTED,
            swatch: Swatch::Line(Dash::Dotted),
        });
    }
    // The loss's name from the manifest, when every run agrees on it.
    let losses: BTreeSet<&str> = subjects.iter().filter_map(|s| s.run.manifest.loss.as_deref()).collect();
    let loss_label = match (losses.len(), losses.first()) {
        (1, Some(name)) => format!("{name} loss (mean per example)"),
        _ => "loss (mean per example)".to_string(),
    };
    let mut panels = vec![LinePanel {
        title: "Loss".into(),
        y: Axis::new(loss_label, AxisKind::Linear { include_zero: true }),
        series: loss,
        annotations: Vec::new(),
        empty: Some(format!("no rows in {}", runfolder::EPOCHS)),
        x: None,
        references: Vec::new(),
        events: Vec::new(),
    }];
    if classification {
        panels.push(LinePanel {
            title: "Accuracy".into(),
            y: Axis::new("accuracy (%)", AxisKind::Linear { include_zero: true }),
            series: acc,
            annotations: Vec::new(),
            empty: Some(format!("no rows in {}", runfolder::EPOCHS)),
            x: None,
            references: Vec::new(),
            events: Vec::new(),
        });
    }
    // The reading: where each model ends, and where it started; a model without test
    // values (a loop that evaluates none) is read on its train values, and says so.
    let what = if classification { "accuracy" } else { "loss" };
    let text = |v: f64| if classification { percent(v) } else { crate::numfmt::sig_n(v, 3) };
    // (test values or train, the end's clause, the start's value, the start's epoch)
    let mut items: Vec<(bool, String, String, u32)> = Vec::new();
    for s in subjects {
        let rows = s.run.epochs_of(&s.model);
        let pick = |test: bool| {
            move |r: &&crate::run::EpochRow| match (classification, test) {
                (true, true) => r.test_accuracy,
                (true, false) => r.train_accuracy,
                (false, true) => r.test_loss,
                (false, false) => r.train_loss,
            }
        };
        let test = rows.iter().any(|r| pick(true)(r).is_some());
        let valued: Vec<(u32, f64)> = rows.iter().filter_map(|r| pick(test)(r).map(|v| (r.epoch, v))).collect();
        let (Some(&(e0, v0)), Some(&(e1, v1))) = (valued.first(), valued.last()) else { continue };
        // A run under burn-train's Learner evaluates a validation split instead: say its last value.
        let valid = rows.iter().rev().find_map(|r| if classification { r.valid_accuracy } else { r.valid_loss });
        let no_test = match (test, valid) {
            (true, _) => String::new(),
            (false, Some(v)) => format!("; it has no test values, and its validation {what} is {}", text(v)),
            (false, None) => "; it has no test values".to_string(),
        };
        items.push((test, format!("{} for {} (epoch {e1}{no_test})", text(v1), s.name()), text(v0), e0));
    }
    let at = |e: u32| if e == 0 { "at initialization".to_string() } else { format!("at epoch {e}") };
    let reading = if items.is_empty() {
        let steps = subjects.iter().map(|s| s.run.steps.iter().filter(|r| r.model == s.model).count()).sum::<usize>();
        let any_rows = subjects.iter().any(|s| !s.run.epochs_of(&s.model).is_empty());
        match (any_rows, steps) {
            (true, _) => format!("There is no {what} in {}, so there is nothing to read here.", runfolder::EPOCHS),
            (false, 0) => format!("There are no rows in {} yet, so there is nothing to read here.", runfolder::EPOCHS),
            (false, n) => format!(
                "There are no rows in {} (no epoch has closed), so there is nothing to draw here; {} holds the training loss of {n} logged step{}.",
                runfolder::EPOCHS,
                runfolder::STEPS,
                crate::run::plural(n)
            ),
        }
    } else if items.iter().all(|i| i.0 && i.3 == 0) {
        let (ends, starts): (Vec<String>, Vec<String>) = items.into_iter().map(|i| (i.1, i.2)).unzip();
        format!("At the end, test {what} is {}, from {} at initialization.", join(ends), join(starts))
    } else {
        let clauses = items
            .into_iter()
            .map(|(test, end, start, e0)| {
                format!("{} {what} is {end}, from {start} {}", if test { "test" } else { "train" }, at(e0))
            })
            .collect();
        format!("At the end, {}.", join_subjects(clauses))
    };
    Made {
        figure: Figure {
            slug: SLUGS[3].into(),
            title: format!("4. Train and test {} per epoch", if classification { "loss and accuracy" } else { "loss" }),
            body: Body::Lines(Lines {
                x: Axis::new("epoch (0 = initialization)", AxisKind::Tight).integer(),
                panels,
                share_y: false,
                references: Vec::new(),
            }),
            legend: Legend { items: legend, ramp: None },
            notes: vec!["Train loss is the mean over the epoch's training batches (at epoch 0, where there is one, the untrained model evaluated on the training split); test values are measured after the epoch.".into()],
            columns: None,
        },
        reading,
    }
}

fn saturation(subjects: &[Subject<'_>]) -> Made {
    let mut panels = Vec::new();
    let mut clauses = Vec::new();
    let mut has_sat = false;
    let mut has_dead = false;
    let mut train_means = false;
    let mut present: BTreeSet<u32> = BTreeSet::new();
    let mut missing = Vec::new();
    for s in subjects {
        let mut series = Vec::new();
        for (name, dash, suffix, what) in [
            (metric::SATURATION, Dash::Solid, " saturation", "of its outputs in the flat tails"),
            (metric::DEAD_FRACTION, Dash::Dashed, " dead", "of its units dead"),
        ] {
            let (per, src) = s.run.per_epoch(&s.model, name);
            if per.is_empty() {
                continue;
            }
            train_means |= src == EpochSource::TrainMeans;
            if name == metric::SATURATION {
                has_sat = true;
            } else {
                has_dead = true;
            }
            let lines: LayerLines =
                per.into_iter().map(|(l, pts)| (l, pts.into_iter().map(|(x, v)| (x, v * 100.0)).collect())).collect();
            // The reading names the layer that is worst at the last epoch.
            let worst = last_values(&lines).into_iter().max_by(|a, b| a.1.1.total_cmp(&b.1.1));
            if let Some((layer, (epoch, v))) = worst {
                let kind = if name == metric::SATURATION { "most saturated" } else { "most dead" };
                clauses.push((
                    epoch,
                    format!("{}'s {kind} layer is {} ({} {what})", s.name(), s.layer_phrase(layer), percent(v / 100.0)),
                ));
            }
            present.extend(lines.iter().map(|l| l.0));
            series.extend(layer_series(s, lines, dash, suffix, true));
        }
        // Why a model has neither: the files tell whether its forward pass taps any
        // activation (act_mean rows); where it does, its activation has neither rule.
        let tapped = [metric::ACT_MEAN, metric::ACT_STD]
            .iter()
            .any(|m| s.run.metric(&s.model, Source::Train, m).is_some() || s.run.metric(&s.model, Source::Probe, m).is_some());
        let why = if tapped {
            format!("{} layers have neither", s.activation().unwrap_or_else(|| "its tapped".to_string()))
        } else {
            "no Taps::activation in its forward pass".to_string()
        };
        if series.is_empty() {
            missing.push(format!("{} has neither metric ({why})", s.name()));
        }
        panels.push(LinePanel {
            title: s.title(),
            y: Axis::new("share of units (%)", AxisKind::Linear { include_zero: true }),
            series,
            annotations: Vec::new(),
            empty: Some(format!("no {} or {} rows ({why})", metric::SATURATION, metric::DEAD_FRACTION)),
            x: None,
            references: Vec::new(),
            events: Vec::new(),
        });
    }
    // Output layers have neither metric: the legend lists only the layers drawn.
    let mut legend = layer_legend_of(subjects, Some(&present));
    if has_sat {
        legend.items.push(LegendItem {
            label: "saturated (solid)".into(),
            color: colormap::MUTED,
            swatch: Swatch::Line(Dash::Solid),
        });
    }
    if has_dead {
        legend.items.push(LegendItem {
            label: "dead (dashed)".into(),
            color: colormap::MUTED,
            swatch: Swatch::Line(Dash::Dashed),
        });
    }
    let mut notes = vec![
        "Saturated: share of a layer's outputs in the flat tails (sigmoid < 0.01 or > 0.99, |tanh| > 0.97), where the derivative is nearly 0. Dead: share of ReLU units inactive for every example.".to_string(),
    ];
    if train_means {
        notes.push(train_means_note());
    }
    let reading = if clauses.is_empty() {
        format!(
            "No saturation or dead-unit shares were logged{}.",
            if missing.is_empty() { String::new() } else { format!(": {}", join(missing)) }
        )
    } else {
        let mut r = at_last("epoch", clauses);
        if !missing.is_empty() {
            r = format!("{} {}.", r, capitalize(&join(missing)));
        }
        r
    };
    Made {
        figure: Figure {
            slug: SLUGS[4].into(),
            title: "5. Saturated and dead units per layer".into(),
            body: Body::Lines(Lines {
                x: Axis::new("epoch (0 = initialization)", AxisKind::Tight).integer(),
                panels,
                share_y: true,
                references: Vec::new(),
            }),
            legend,
            notes,
            columns: None,
        },
        reading,
    }
}

fn update_ratio(subjects: &[Subject<'_>]) -> Made {
    let mut panels = Vec::new();
    let mut clauses = Vec::new();
    let mut lacking = Vec::new();
    let mut rule_said = false;
    let mut drawn = BTreeSet::new();
    for s in subjects {
        let lines = layer_lines(s, Source::Train, metric::UPDATE_RATIO);
        drawn.extend(lines.iter().map(|l| l.0));
        let last = last_values(&lines);
        lacking.extend(lacking_in(s, &last, coverage::Measure::Update));
        // The first and the last layer that have the ratio (a layer without weights has none).
        if let Some(((f, (x, first)), (l, (_, lastv)))) = coverage::ends(&last)
            && f < l
        {
            // The rule of thumb is named once, at the first ratio that is compared with it.
            let mut against = |v: f64| {
                if v <= 0.0 {
                    return "not at all".to_string();
                }
                let rule = if rule_said { "" } else { " the 1e-3 rule of thumb" };
                rule_said = true;
                if v < UPDATE_RATIO_REFERENCE {
                    format!("by {} ({} below{rule})", sig(v), times(UPDATE_RATIO_REFERENCE / v))
                } else {
                    format!("by {} ({} above{rule})", sig(v), times(v / UPDATE_RATIO_REFERENCE))
                }
            };
            let (a, b) = (against(first), against(lastv));
            clauses
                .push((x, format!("{}'s {} moves {a} and its {} {b}", s.name(), s.layer_phrase(f), s.layer_phrase(l))));
        }
        panels.push(LinePanel {
            title: s.title(),
            y: Axis::new("‖ΔW‖ / ‖W‖ per step (log scale)", AxisKind::Log),
            series: layer_series(s, lines, Dash::Solid, "", false),
            annotations: Vec::new(),
            empty: Some(no_rows_of(s, metric::UPDATE_RATIO, Source::Train)),
            x: None,
            references: Vec::new(),
            events: Vec::new(),
        });
    }
    let reading = with_lacking(
        if clauses.is_empty() {
            // One layer alone, or none: nothing to compare, and what there is is named.
            let any = subjects.iter().any(|s| s.run.metric(&s.model, Source::Train, metric::UPDATE_RATIO).is_some());
            if any {
                "No model has the update-to-weight ratio at two or more layers, so the input side cannot be compared with the output side.".to_string()
            } else {
                format!(
                    "There are no train rows of {} in {}, so there is nothing to read here.",
                    metric::UPDATE_RATIO,
                    runfolder::LAYERS
                )
            }
        } else {
            at_last("step", clauses)
        },
        lacking,
    );
    Made {
        figure: Figure {
            slug: SLUGS[5].into(),
            title: "6. Update-to-weight ratio per layer".into(),
            body: Body::Lines(Lines {
                x: Axis::new("step (optimizer steps)", AxisKind::Tight).integer(),
                panels,
                share_y: true,
                references: vec![Reference { value: UPDATE_RATIO_REFERENCE, label: "1e-3 rule of thumb".into() }],
            }),
            legend: {
                let mut l = layer_legend_of(subjects, Some(&drawn));
                l.items.push(LegendItem {
                    label: "1e-3 rule of thumb".into(),
                    color: colormap::REFERENCE,
                    swatch: Swatch::Line(Dash::Dashed),
                });
                l
            },
            notes: vec!["How far one optimizer step moves a layer's weights, relative to their size; around 1e-3 is a common rule of thumb for healthy learning, far below it a layer barely learns.".into()],
            columns: None,
        },
        reading,
    }
}

fn delta_norms(subjects: &[Subject<'_>]) -> Made {
    let mut panels = Vec::new();
    let mut clauses = Vec::new();
    let mut stream_clauses = Vec::new();
    let mut train_means = false;
    let mut lacking = Vec::new();
    // The layers that have a line: the legend lists only those (an untapped layer has none).
    let mut drawn = BTreeSet::new();
    // Residual layers also log the gradient of the stream at their output, drawn dashed
    // beside the branch's δ: the skip's path around the branch.
    let any_stream = subjects.iter().any(|s| !s.run.per_epoch(&s.model, metric::STREAM_DELTA_NORM).0.is_empty());
    for s in subjects {
        let (per, src) = s.run.per_epoch(&s.model, metric::DELTA_NORM);
        train_means |= src == EpochSource::TrainMeans;
        let lines: LayerLines = per.into_iter().collect();
        let (stream, stream_src) = s.run.per_epoch(&s.model, metric::STREAM_DELTA_NORM);
        train_means |= stream_src == EpochSource::TrainMeans;
        let stream: LayerLines = stream.into_iter().collect();
        let stream_last = last_values(&stream);
        if let (Some((&f, &(_, a))), Some((&g, &(_, b)))) =
            (stream_last.first_key_value(), stream_last.last_key_value())
            && f < g
            && b > 0.0
        {
            stream_clauses.push(format!(
                "{} of {} gets {} {}'s",
                s.layer_phrase(f),
                s.name(),
                if a <= 0.0 { "none (exactly 0) of".to_string() } else { fraction_of(a / b) },
                s.layer_phrase(g)
            ));
        }
        let last = last_values(&lines);
        lacking.extend(lacking_in(s, &last, coverage::Measure::Delta));
        drawn.extend(lines.iter().chain(&stream).map(|l| l.0));
        // The first and the last tapped layer: layer 1 and L where every layer has a tap,
        // else named (an output layer without a tap is common in a model of one's own).
        if let Some(((f, (epoch, first)), (l, (_, lastv)))) = coverage::ends(&last)
            && f < l
        {
            let plain = f == 1 && l == s.layers();
            let (first_is, last_is) = if plain {
                ("its first layer".to_string(), "its last".to_string())
            } else {
                (s.layer_phrase(f), s.layer_phrase(l))
            };
            if lastv > 0.0 && first > 0.0 {
                let r = first / lastv;
                let speed = if r < 1.0 {
                    format!("{first_is} learns about {} slower than {last_is}", times(1.0 / r))
                } else {
                    format!("{first_is} learns at least as fast as {last_is}")
                };
                let of_last = if plain { "the last layer's".to_string() } else { format!("{}'s", s.layer_phrase(l)) };
                clauses.push((
                    epoch,
                    format!(
                        "the error signal δ reaching {} of {} is {} of {of_last}, so {speed}",
                        s.layer_phrase(f),
                        s.name(),
                        sig(r)
                    ),
                ));
            } else if first <= 0.0 {
                clauses.push((
                    epoch,
                    format!(
                        "no error signal reaches {} of {} (exactly 0), so it does not learn at all",
                        s.layer_phrase(f),
                        s.name()
                    ),
                ));
            } else {
                clauses
                    .push((epoch, format!("the error signal δ at {} of {} is exactly 0", s.layer_phrase(l), s.name())));
            }
        } else if let Some(((f, (epoch, v)), _)) = coverage::ends(&last) {
            clauses.push((
                epoch,
                format!(
                    "{} of {}, its one tapped layer, has a mean δ of {}",
                    s.layer_phrase(f),
                    s.name(),
                    value_text(v)
                ),
            ));
        }
        panels.push(LinePanel {
            title: s.title(),
            y: Axis::new(
                if any_stream {
                    "mean ‖dL/dz‖, ‖dL/dh‖ (log scale)"
                } else {
                    "mean ‖δ‖ = ‖dL/dz‖ per example (log scale)"
                },
                AxisKind::Log,
            ),
            series: {
                let mut series = layer_series(s, lines, Dash::Solid, "", true);
                series.extend(layer_series(s, stream, Dash::Dashed, " stream", true));
                series
            },
            annotations: Vec::new(),
            empty: Some(no_rows(metric::DELTA_NORM, runfolder::LAYERS)),
            x: None,
            references: Vec::new(),
            events: Vec::new(),
        });
    }
    let mut reading = if clauses.is_empty() { nothing_logged(metric::DELTA_NORM) } else { at_last("epoch", clauses) };
    if !stream_clauses.is_empty() {
        reading.push_str(&format!(" Along the residual stream (dashed), {}.", join_subjects(stream_clauses)));
    }
    let reading = with_lacking(reading, lacking);
    let mut notes = vec![
        "δ = dL/dz is the error at a layer's pre-activation; its size sets how fast the layer's weights and biases can change (Nielsen's “speed of learning”, chapter 5).".to_string(),
    ];
    let mut legend = layer_legend_of(subjects, Some(&drawn));
    if any_stream {
        notes.push(format!(
            "Dashed: the residual stream's ‖dL/dh‖ at a residual layer's output ({}), what the skip connection carries past the layer's branch; where it stays level from the last layer to the first, the skip keeps the gradient from vanishing, however small the branch's δ (solid).",
            metric::STREAM_DELTA_NORM
        ));
        legend.items.push(LegendItem {
            label: "branch δ = dL/dz (solid)".into(),
            color: colormap::MUTED,
            swatch: Swatch::Line(Dash::Solid),
        });
        legend.items.push(LegendItem {
            label: "residual stream dL/dh (dashed)".into(),
            color: colormap::MUTED,
            swatch: Swatch::Line(Dash::Dashed),
        });
    }
    if train_means {
        notes.push(train_means_note());
    }
    Made {
        figure: Figure {
            slug: SLUGS[6].into(),
            title: "7. Speed of learning: the error signal δ per layer".into(),
            body: Body::Lines(Lines { x: time_axis(false), panels, share_y: true, references: Vec::new() }),
            legend,
            notes,
            columns: None,
        },
        reading,
    }
}

/// A subject's first and last histogram, with the moment each shows: the probe set's at
/// initialization (epoch 0) and after its last epoch. Where the model has no probe
/// histograms (or only the one at initialization), its first and last logged training steps
/// stand in.
fn histogram_ends<'a>(s: &Subject<'a>) -> [Option<(&'a Snapshot, String)>; 2] {
    let probe = s.run.histograms(&s.model, Source::Probe);
    let train = s.run.histograms(&s.model, Source::Train);
    let init = probe
        .iter()
        .find(|h| h.epoch == 0)
        .map(|h| (h, "start (epoch 0)".to_string()))
        .or_else(|| train.first().map(|h| (h, format!("start (step {})", h.step))))
        .or_else(|| probe.first().map(|h| (h, format!("epoch {}", h.epoch))));
    let end = probe
        .last()
        .filter(|h| h.epoch > 0)
        .map(|h| (h, format!("end (epoch {})", h.epoch)))
        .or_else(|| train.last().map(|h| (h, format!("end (step {})", h.step))))
        .or_else(|| probe.last().map(|h| (h, format!("epoch {}", h.epoch))));
    [init, end]
}

/// The highest layer a model has: in the manifest, or in its histograms.
fn histogram_layers(s: &Subject<'_>, snapshots: &[&Snapshot]) -> u32 {
    let top = snapshots.iter().filter_map(|h| h.layers.keys().next_back().copied()).max().unwrap_or(0);
    s.layers().max(top)
}

/// The labelled columns of a histogram: 0, every tenth decade (10^-30 … 1) and 1e3+. The
/// subnormal column, too narrow for a label of its own beside 0, is named in the notes.
fn bin_ticks() -> Vec<(usize, Label)> {
    let mut ticks = vec![(Bin::Zero.index(), Label::Plain("0".into()))];
    ticks.extend([-30, -20, -10, 0].map(|e| (Bin::Decade(e).index(), Label::Power(e))));
    ticks.push((Bin::Large.index(), Label::Plain(Bin::Large.label())));
    ticks
}

/// The bin that holds the median of a layer's entries, from its shares per bin.
fn median_bin(shares: &[f64]) -> Option<Bin> {
    let mut below = 0.0;
    runfolder::bins()
        .zip(shares)
        .find(|(_, s)| {
            below += **s;
            below >= 0.5
        })
        .map(|(b, _)| b)
}

/// Where a bin's entries lie, after "is": `exactly 0`, `in [1e-7, 1e-6)`.
fn bin_text(b: Bin) -> String {
    match b {
        Bin::Zero => "exactly 0".to_string(),
        Bin::Subnormal => "subnormal (nonzero, below 1.2e-38)".to_string(),
        Bin::Decade(e) => format!("in [1e{e}, 1e{})", e + 1),
        Bin::Large => "1e3 or more".to_string(),
    }
}

fn grad_histogram(subjects: &[Subject<'_>]) -> Made {
    let mut panels = Vec::new();
    let mut clauses = Vec::new();
    let mut lacking = Vec::new();
    for s in subjects {
        let ends = histogram_ends(s);
        let l = histogram_layers(s, &ends.iter().flatten().map(|e| e.0).collect::<Vec<_>>());
        for (end, which) in ends.iter().zip(["start", "end"]) {
            let Some((snap, when)) = end else {
                panels.push(HeatPanel {
                    title: format!("{} · {which}", s.name()),
                    rows: Vec::new(),
                    columns: Vec::new(),
                    cells: Vec::new(),
                    empty: Some(format!("no rows in {} (runs from before it existed lack it)", runfolder::HISTOGRAMS)),
                    column_ticks: None,
                });
                continue;
            };
            let cells = (1..=l)
                .map(|layer| match snap.shares(layer) {
                    Some(shares) => shares.into_iter().map(Some).collect(),
                    None => vec![None; runfolder::BIN_COUNT],
                })
                .collect();
            panels.push(HeatPanel {
                title: format!("{} · {when}", s.name()),
                rows: (1..=l).map(|i| s.layer_tick(i)).collect(),
                columns: (0..runfolder::BIN_COUNT).map(|c| c as f64).collect(),
                cells,
                empty: None,
                column_ticks: Some(bin_ticks()),
            });
        }
        // The reading: where the median entry of the first and the last layer that have
        // entries lies at the end (a frozen layer has no gradient, so no histogram).
        let medians: BTreeMap<u32, Bin> = (1..=l)
            .filter_map(|layer| {
                let shares = ends[1].as_ref().and_then(|(h, _)| h.shares(layer))?;
                median_bin(&shares).map(|b| (layer, b))
            })
            .collect();
        match coverage::ends(&medians) {
            Some(((f, first), (g, last))) if f < g => clauses.push(format!(
                "the median |dL/dW| entry of {} of {} is {} and that of its {} is {}",
                s.layer_phrase(f),
                s.name(),
                bin_text(first),
                s.layer_phrase(g),
                bin_text(last)
            )),
            Some(((f, first), _)) => clauses.push(format!(
                "the median |dL/dW| entry of {} of {}, its one layer with a histogram, is {}",
                s.layer_phrase(f),
                s.name(),
                bin_text(first)
            )),
            None => {}
        }
        if ends[1].is_some() {
            lacking.extend(lacking_in(s, &medians, coverage::Measure::WeightGradient));
        }
    }
    let reading = with_lacking(
        if clauses.is_empty() {
            format!("There are no rows in {}, so there is nothing to read here.", runfolder::HISTOGRAMS)
        } else {
            format!("At the end, {}.", join_subjects(clauses))
        },
        lacking,
    );
    let mut notes = vec![
        "Each row is one layer's |dL/dW| entries by size: exact zeros in the first column, subnormal values (nonzero, below 1.2e-38) in the second, then one column per decade from 1e-38 up, and 1e3 or more in the last. Colour is the share of the layer's entries in each column, on one log scale for all panels; white cells hold no entries.".to_string(),
        "Left: the probe set at initialization (epoch 0); right: the probe set after the last epoch. Where a model has no probe histograms, its first and last logged training steps are shown instead.".to_string(),
    ];
    if subjects.iter().any(|s| s.run.manifest.flush_denormals == Some(true)) {
        notes.push(
            "Where a run flushed subnormal values to zero (see its backend), gradient entries below 1.2e-38 became exactly 0 and count as 0.".into(),
        );
    }
    Made {
        figure: Figure {
            slug: SLUGS[7].into(),
            title: "8. Gradient entries by size: histogram per layer, at initialization and at the end".into(),
            body: Body::Heat(Heat {
                x_label: "|dL/dW| of one entry (0, subnormal, then by decade)".into(),
                y_label: layer_axis(subjects, "at the bottom"),
                colorbar_label: "share of entries (log scale)".into(),
                panels,
                zeros: ZeroCells::Empty,
            }),
            legend: Legend::default(),
            notes,
            // A row per subject: its start beside its end.
            columns: Some(2),
        },
        reading,
    }
}

fn vanished_share(subjects: &[Subject<'_>]) -> Made {
    let use_train = subjects.iter().any(|s| !s.run.histograms(&s.model, Source::Train).is_empty());
    let source = if use_train { Source::Train } else { Source::Probe };
    let below = format!("1e{VANISHED_BELOW}");
    let mut panels = Vec::new();
    let mut clauses = Vec::new();
    let mut lacking = Vec::new();
    let mut drawn = BTreeSet::new();
    for s in subjects {
        let snapshots = s.run.histograms(&s.model, source);
        let l = histogram_layers(s, &snapshots.iter().collect::<Vec<_>>());
        let lines: LayerLines = (1..=l)
            .map(|layer| {
                let points = snapshots.iter().filter_map(|h| {
                    let x = if use_train { h.step as f64 } else { f64::from(h.epoch) };
                    h.share_below(layer, VANISHED_BELOW).map(|v| (x, v))
                });
                (layer, points.collect::<Vec<_>>())
            })
            .filter(|(_, points)| !points.is_empty())
            .collect();
        let last = last_values(&lines);
        drawn.extend(lines.iter().map(|l| l.0));
        if !snapshots.is_empty() {
            lacking.extend(lacking_in(s, &last, coverage::Measure::WeightGradient));
        }
        match coverage::ends(&last) {
            Some(((f, (x, first)), (g, (_, lastv)))) if f < g => clauses.push((
                x,
                format!(
                    "{} of the entries of {} of {} are below {below}, against {} of its {}'s",
                    percent(first),
                    s.layer_phrase(f),
                    s.name(),
                    percent(lastv),
                    s.layer_phrase(g)
                ),
            )),
            Some(((f, (x, first)), _)) => clauses.push((
                x,
                format!(
                    "{} of the entries of {} of {}, its one layer with a histogram, are below {below}",
                    percent(first),
                    s.layer_phrase(f),
                    s.name()
                ),
            )),
            None => {}
        }
        panels.push(LinePanel {
            title: s.title(),
            y: Axis::new(format!("share of |dL/dW| entries below {below}"), AxisKind::Fixed(0.0, 1.0)),
            series: layer_series(s, lines, Dash::Solid, "", !use_train),
            annotations: Vec::new(),
            empty: Some(if snapshots.is_empty() && s.run.has_histograms(&s.model) {
                format!(
                    "no {} rows in {} (only {} rows)",
                    source_word(source),
                    runfolder::HISTOGRAMS,
                    source_word(other(source))
                )
            } else {
                format!("no rows in {}", runfolder::HISTOGRAMS)
            }),
            x: None,
            references: Vec::new(),
            events: Vec::new(),
        });
    }
    let reading = with_lacking(
        if clauses.is_empty() {
            format!("There are no rows in {}, so there is nothing to read here.", runfolder::HISTOGRAMS)
        } else {
            at_last(if use_train { "step" } else { "epoch" }, clauses)
        },
        lacking,
    );
    let x = time_axis(use_train);
    let mut notes = vec![format!(
        "The share of each layer's weight-gradient entries that are 0, subnormal or below {below}: an SGD step of the learning rate times such an entry does not change a float32 weight near 1 (whose neighbours are 1.2e-7 away), so that part of the layer no longer learns."
    )];
    if !use_train {
        notes.push("There are no train rows, so the probe-set histograms per epoch are shown instead.".into());
    }
    Made {
        figure: Figure {
            slug: SLUGS[8].into(),
            title: format!("9. Share of gradient entries below {below}, per layer"),
            body: Body::Lines(Lines { x, panels, share_y: true, references: Vec::new() }),
            legend: layer_legend_of(subjects, Some(&drawn)),
            notes,
            columns: None,
        },
        reading,
    }
}

/// The x axis of a figure over training: logged steps of the training batches, or epochs of
/// the probe set.
fn time_axis(train_steps: bool) -> Axis {
    if train_steps {
        Axis::new("step (optimizer steps, training batch)", AxisKind::Tight).integer()
    } else {
        Axis::new("epoch (probe set; 0 = initialization)", AxisKind::Tight).integer()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::{Counts, Manifest, Point, Run};

    /// A run in memory: two 3-layer models, two epochs, with one exact zero.
    fn run() -> Run {
        let manifest: Manifest = serde_json::from_value(serde_json::json!({
            "name": "t", "status": "completed", "task": "classification",
            "models": [
                { "name": "sigmoid", "activation": "sigmoid", "layers": [4, 3, 3, 2] },
                { "name": "relu", "activation": "relu", "layers": [4, 3, 3, 2] }
            ]
        }))
        .expect("manifest");
        let mut run = Run::of_manifest(manifest);
        for model in ["sigmoid", "relu"] {
            for epoch in 0..=2u32 {
                run.epochs.push(crate::run::EpochRow {
                    model: model.into(),
                    epoch,
                    train_loss: Some(2.0 - f64::from(epoch) * 0.5),
                    train_accuracy: Some(0.1 + f64::from(epoch) * 0.3),
                    test_loss: Some(2.1 - f64::from(epoch) * 0.5),
                    test_accuracy: Some(0.1 + f64::from(epoch) * 0.29),
                    seconds: Some(1.0),
                    valid_loss: None,
                    valid_accuracy: None,
                });
            }
            let metrics: &[(&str, Source)] = &[
                (metric::GRAD_NORM_WEIGHT, Source::Train),
                (metric::GRAD_NORM_WEIGHT, Source::Probe),
                (metric::UPDATE_RATIO, Source::Train),
                (metric::DELTA_NORM, Source::Probe),
                (if model == "relu" { metric::DEAD_FRACTION } else { metric::SATURATION }, Source::Probe),
            ];
            for &(metric, source) in metrics {
                let per = run.layers.entry((model.into(), source, metric.into())).or_default();
                for layer in 1..=3u32 {
                    let v = if model == "sigmoid" { 10f64.powi(layer as i32 * 2 - 8) } else { 0.1 };
                    let pts = (0..=2u32).map(|e| Point {
                        epoch: e,
                        step: u64::from(e) * 4,
                        value: if layer == 1 && e == 1 && model == "sigmoid" { 0.0 } else { v },
                    });
                    per.insert(layer, pts.collect());
                }
            }
        }
        run
    }

    #[test]
    fn every_figure_draws_only_characters_the_font_has() {
        // The run with steps, a divergence and clipping has every figure but the histograms'.
        let run = exploding_run();
        let subjects = Subject::of_run(&run, None);
        for made in all(&subjects, None) {
            let r = crate::plot::render(&made.figure);
            assert!(r.series > 0, "{} has no series", made.figure.slug);
            for t in r.scene.texts() {
                for span in &t.spans {
                    let missing: String = span.text.chars().filter(|&c| !crate::font::has_glyph(c)).collect();
                    assert!(missing.is_empty(), "{}: {:?} lacks {missing:?}", made.figure.slug, span.text);
                }
            }
            assert!(!made.reading.is_empty());
        }
    }

    #[test]
    fn readings_and_legends_follow_the_data() {
        let run = run();
        let subjects = Subject::of_run(&run, None);
        let made = all(&subjects, None);
        assert!(
            made[0].reading.contains("layer 1 of sigmoid receives 1e-4 of layer 3's gradient"),
            "{}",
            made[0].reading
        );
        assert!(made[0].reading.contains("layer 1 of relu receives about as much as layer 3's"), "{}", made[0].reading);
        // Figure 5 lists only the layers that have saturation or dead units (all three here).
        assert_eq!(made[4].figure.legend.items.iter().filter(|i| i.label.starts_with("layer")).count(), 3);
        assert!(
            at_last("step", vec![(8.0, "a".into()), (8.0, "b".into())])
                .starts_with("At the last logged step (8), a and b")
        );
        assert_eq!(
            at_last("step", vec![(8.0, "a".into()), (4.0, "b".into())]),
            "At the last logged step, a (step 8) and b (step 4)."
        );
    }

    /// A run in memory of a model with named layers (`conv1`, `conv2`, `fc1`) and gradient
    /// histograms of known counts at every moment: conv1 has 3 of its 4 entries in
    /// [1e-9, 1e-8) and one in [1e-3, 1e-2); conv2 one 0 and 3 in [1e-5, 1e-4); fc1 all 4 in
    /// [1e-2, 1e-1).
    fn named_run() -> Run {
        let mut run = run();
        let layers: Vec<serde_json::Value> = ["conv1", "conv2", "fc1"]
            .iter()
            .map(|n| serde_json::json!({ "name": n, "params": [{ "path": format!("{n}.weight"), "shape": [2, 2] }] }))
            .collect();
        run.manifest = serde_json::from_value(serde_json::json!({
            "name": "t", "status": "completed", "task": "classification",
            "models": [{ "name": "cnn", "layers": layers }]
        }))
        .expect("manifest");
        let keep: Vec<_> = run.layers.keys().filter(|k| k.0 == "relu").cloned().collect();
        run.layers = keep
            .into_iter()
            .filter_map(|k| run.layers.get(&k).cloned().map(|v| (("cnn".to_string(), k.1, k.2), v)))
            .collect();
        run.epochs.retain(|r| r.model == "relu");
        for r in &mut run.epochs {
            r.model = "cnn".into();
        }
        let counts = |bins: &[(Bin, u64)]| {
            let mut c: Counts = [0; runfolder::BIN_COUNT];
            for &(b, n) in bins {
                c[b.index()] = n;
            }
            c
        };
        let layers = BTreeMap::from([
            (1, counts(&[(Bin::Decade(-9), 3), (Bin::Decade(-3), 1)])),
            (2, counts(&[(Bin::Zero, 1), (Bin::Decade(-5), 3)])),
            (3, counts(&[(Bin::Decade(-2), 4)])),
        ]);
        for (source, moments) in [(Source::Probe, [(0, 0), (1, 4), (2, 8)]), (Source::Train, [(1, 1), (1, 4), (2, 8)])]
        {
            let snaps = moments.iter().map(|&(epoch, step)| Snapshot { epoch, step, layers: layers.clone() });
            run.histograms.insert(("cnn".into(), source), snaps.collect());
        }
        run
    }

    #[test]
    fn named_layers_label_every_figure_and_histograms_add_two() {
        let run = named_run();
        let subjects = Subject::of_run(&run, None);
        let made = all(&subjects, None);
        let slugs: Vec<&str> = made.iter().map(|m| m.figure.slug.as_str()).collect();
        assert_eq!(slugs, SLUGS[..9]);
        for m in &made {
            let r = crate::plot::render(&m.figure);
            let texts = r.scene.texts();
            let text: String =
                texts.iter().flat_map(|t| t.spans.iter().map(|s| s.text.as_str())).collect::<Vec<_>>().join(" ");
            assert!(text.chars().all(crate::font::has_glyph), "{}", m.figure.slug);
            // Every figure with a layer axis or legend names the layers.
            if m.figure.slug != SLUGS[3] && m.figure.slug != SLUGS[4] {
                for name in ["conv1", "fc1"] {
                    assert!(text.contains(name), "{} lacks {name}: {text}", m.figure.slug);
                }
            }
        }
        assert!(made[0].figure.legend.items.iter().any(|i| i.label == "conv1 (input side)"));
        assert!(made[0].reading.contains("layer 1 (conv1) of cnn receives"), "{}", made[0].reading);
        // Figure 8: two panels (start, end), each a row per layer, coloured by share.
        let Body::Heat(heat) = &made[7].figure.body else { panic!("figure 8 is a heatmap") };
        assert_eq!(heat.panels.len(), 2);
        assert_eq!(heat.panels[0].rows, ["conv1", "conv2", "fc1"]);
        assert_eq!(heat.panels[1].title, "cnn · end (epoch 2)");
        assert_eq!(heat.panels[0].cells[0][Bin::Decade(-9).index()], Some(0.75));
        assert_eq!(heat.panels[0].cells[1][Bin::Zero.index()], Some(0.25));
        assert_eq!(heat.panels[0].cells[2][Bin::Decade(-9).index()], Some(0.0));
        assert_eq!(made[7].figure.columns, Some(2));
        assert!(made[7].reading.contains("layer 1 (conv1) of cnn is in [1e-9, 1e-8)"), "{}", made[7].reading);
        assert!(made[7].reading.contains("its layer 3 (fc1) is in [1e-2, 1e-1)"), "{}", made[7].reading);
        // Figure 9: the share below 1e-8 per layer over the train steps.
        let Body::Lines(lines) = &made[8].figure.body else { panic!("figure 9 has lines") };
        let shares: Vec<f64> = lines.panels[0].series.iter().filter_map(|s| s.points.last().map(|p| p.1)).collect();
        assert_eq!(shares, [0.75, 0.25, 0.0]);
        assert_eq!(lines.panels[0].series[0].points.first().map(|p| p.0), Some(1.0), "x is the step");
        assert!(
            made[8].reading.starts_with(
                "At the last logged step (8), 75% of the entries of layer 1 (conv1) of cnn are below 1e-8"
            ),
            "{}",
            made[8].reading
        );
    }

    #[test]
    fn without_histograms_the_page_has_its_seven_figures_and_the_remedies() {
        let run = run();
        let slugs: Vec<String> = all(&Subject::of_run(&run, None), None).into_iter().map(|m| m.figure.slug).collect();
        let mut expected: Vec<&str> = SLUGS[..7].to_vec();
        expected.push(SLUGS[9]);
        assert_eq!(slugs, expected);
    }

    /// The figure of `slug` among all figures of `run`, if it is drawn.
    fn figure(run: &Run, slug: &str) -> Option<Made> {
        all(&Subject::of_run(run, None), None).into_iter().find(|m| m.figure.slug == slug)
    }

    /// The line panels of a figure.
    fn line_panels(made: &Made) -> &[LinePanel] {
        let Body::Lines(lines) = &made.figure.body else { panic!("{} has lines", made.figure.slug) };
        &lines.panels
    }

    #[test]
    fn the_remedies_figure_puts_each_models_ratio_beside_its_accuracy() {
        let run = run();
        let made = figure(&run, SLUGS[9]).expect("two models have the ratio");
        let [ratio, accuracy] = line_panels(&made) else { panic!("two panels") };
        // sigmoid: 1e-6 over 1e-2 at steps 0 and 8, and its first layer's exact 0 at step 4
        // on the floor; relu: 0.1 over 0.1.
        assert_eq!(ratio.series[0].name, "sigmoid");
        let sigmoid: Vec<(f64, f64)> = ratio.series[0].points.clone();
        assert_eq!(sigmoid.iter().map(|p| p.0).collect::<Vec<_>>(), [0.0, 4.0, 8.0]);
        assert!((sigmoid[0].1 / 1e-4 - 1.0).abs() < 1e-9 && sigmoid[1].1 == 0.0, "{sigmoid:?}");
        assert!(ratio.series[1].points.iter().all(|p| (p.1 - 1.0).abs() < 1e-12));
        // The headline's thresholds are the ratio panel's own references; the accuracy panel
        // has its own x axis, in epochs, and the percentages.
        let refs: Vec<f64> = ratio.references.iter().map(|r| r.value).collect();
        assert_eq!(refs, [headline::STALL_RATIO, headline::EXPLODE_RATIO]);
        assert!(accuracy.references.is_empty());
        assert!(accuracy.x.as_ref().is_some_and(|x| x.label.starts_with("epoch")));
        assert_eq!(accuracy.series[1].points.last(), Some(&(2.0, 68.0)));
        assert_eq!(made.figure.columns, None, "a comparison does not change its two panels");
        assert!(
            made.reading.starts_with(
                "At the last logged step (8), the first-to-last gradient ratio is 1e-4 for sigmoid and 1.0 for relu."
            ),
            "{}",
            made.reading
        );
        assert!(
            made.reading.contains("At the end (epoch 2), test accuracy is 68% for sigmoid and 68% for relu."),
            "{}",
            made.reading
        );

        // One model alone: figures 1 and 4 already say it all.
        let mut one = run.clone();
        one.manifest.models.truncate(1);
        assert!(figure(&one, SLUGS[9]).is_none());
    }

    /// [`run`] with steps: sigmoid's norm grows until it diverges after step 6; relu is
    /// clipped to 1.
    fn exploding_run() -> Run {
        let mut run = run();
        for step in 1..=8u64 {
            let e = u32::try_from(step.div_ceil(4)).expect("small");
            if step <= 6 {
                let g = 10f64.powi(step as i32);
                run.steps.push(crate::run::StepRow {
                    model: "sigmoid".into(),
                    epoch: e,
                    step,
                    loss: 1.0,
                    grad_norm: g,
                    grad_norm_clipped: Some(g),
                    lr: None,
                });
            }
            let g = 4.0 / step as f64;
            run.steps.push(crate::run::StepRow {
                model: "relu".into(),
                epoch: e,
                step,
                loss: 1.0,
                grad_norm: g,
                grad_norm_clipped: Some(g.min(1.0)),
                lr: None,
            });
        }
        run.manifest.models[0].diverged =
            Some(runfolder::Divergence { epoch: 2, step: 7, reason: "non-finite gradient in layers.0.weight".into() });
        run.manifest.models[1].clip_grad_norm = Some(1.0);
        run
    }

    #[test]
    fn the_clipping_figure_marks_where_a_model_diverged_and_shows_the_norm_after_clipping() {
        // Neither clipped nor diverged: no figure.
        assert!(figure(&run(), SLUGS[10]).is_none());
        let run = exploding_run();
        let made = figure(&run, SLUGS[10]).expect("a model diverged, one is clipped");
        let [sigmoid, relu] = line_panels(&made) else { panic!("a panel per model") };
        assert_eq!(sigmoid.series.len(), 1, "not clipped: the norm before clipping only");
        assert_eq!(sigmoid.events.len(), 1);
        assert_eq!((sigmoid.events[0].x, sigmoid.events[0].label.as_str()), (7.0, "diverged at step 7"));
        assert_eq!(relu.series.len(), 2);
        assert_eq!(relu.series[1].dash, Dash::Dashed);
        assert_eq!(relu.series[1].points.first(), Some(&(1.0, 1.0)));
        assert_eq!(relu.series[0].points.first(), Some(&(1.0, 4.0)));
        assert!(relu.title.ends_with("clipped at 1"), "{}", relu.title);
        assert_eq!(
            made.reading,
            "The norm of sigmoid reached 1e6 at step 6 before it diverged at step 7; the norm of relu was clipped to 1 on 3 of its 8 logged steps (before clipping, up to 4.0 at step 1)."
        );
        // The headline's twin columns: the diverged model is exploding, where it says.
        let h: Vec<Headline> = Subject::of_run(&run, None).iter().map(Headline::of).collect();
        assert_eq!(h[0].exploding_text(), "yes (diverged at step 7)");
        assert_eq!((h[1].exploding, h[1].setup.as_deref()), (Some(false), Some("clipped at 1")));
        // The marker is drawn (a group of its own), and its label is in the figure.
        let svg = crate::svg::to_svg(&crate::plot::render(&made.figure).scene);
        assert!(svg.contains("class=\"event\"") && svg.contains(">diverged at step 7<"), "no event marker");
        // Clipping seen only in the steps (a run from before the manifest said it) still counts.
        let mut old = exploding_run();
        old.manifest.models[0].diverged = None;
        old.manifest.models[1].clip_grad_norm = None;
        let made = figure(&old, SLUGS[10]).expect("clipped steps");
        assert!(made.reading.contains("the norm of relu was clipped on 3 of its 8 logged steps"), "{}", made.reading);
    }

    #[test]
    fn the_exploding_rule_mirrors_the_stall_rule() {
        let headline_of = |run: &Run, ratio: f64| {
            let mut run = run.clone();
            // relu's last layer gets 0.1 on the probe after epoch 2; its first, `ratio` times that.
            let key = ("relu".to_string(), Source::Probe, metric::GRAD_NORM_WEIGHT.to_string());
            let first = run.layers.get_mut(&key).and_then(|per| per.get_mut(&1)).expect("probe rows of layer 1");
            first.last_mut().expect("a probe row").value = 0.1 * ratio;
            Headline::of(&Subject::of_run(&run, None)[1])
        };
        let run = run();
        let h = headline_of(&run, 200.0);
        assert_eq!((h.stalled, h.exploding, h.exploding_text()), (Some(false), Some(true), "yes".to_string()));
        let h = headline_of(&run, 50.0);
        assert_eq!((h.exploding, h.exploding_text()), (Some(false), "no".to_string()));
        // Without probe rows, the first and last logged training batches stand in, and the
        // cells say which step; without any gradient rows (and no divergence) it is not known.
        let mut bare = run.clone();
        bare.layers.retain(|k, _| k.1 != Source::Probe);
        let h = Headline::of(&Subject::of_run(&bare, None)[1]);
        assert_eq!(
            (h.exploding_text(), h.end.map(|r| (r.source, r.step))),
            ("no".to_string(), Some((Source::Train, 8)))
        );
        assert_eq!(headline::ratio_cell(h.end, h.layers), "1.0 (step 8)");
        bare.layers.retain(|k, _| k.2 != metric::GRAD_NORM_WEIGHT);
        assert_eq!(Headline::of(&Subject::of_run(&bare, None)[1]).exploding_text(), "—");
    }

    #[test]
    fn residual_layers_draw_the_streams_gradient_dashed_beside_the_branchs() {
        let mut run = run();
        let per = (1..=2u32)
            .map(|layer| {
                (
                    layer,
                    (0..=2u32)
                        .map(|e| Point { epoch: e, step: u64::from(e) * 4, value: 0.5 / f64::from(layer) })
                        .collect(),
                )
            })
            .collect();
        run.layers.insert(("relu".into(), Source::Probe, metric::STREAM_DELTA_NORM.into()), per);
        run.manifest.models[1].residual = Some(true);
        let made = figure(&run, SLUGS[6]).expect("figure 7");
        let panels = line_panels(&made);
        assert!(panels[0].series.iter().all(|s| s.dash == Dash::Solid), "sigmoid has no stream");
        let dashed: Vec<&str> =
            panels[1].series.iter().filter(|s| s.dash == Dash::Dashed).map(|s| s.name.as_str()).collect();
        assert_eq!(dashed, ["layer 1 stream", "layer 2 stream"]);
        assert!(made.figure.legend.items.iter().any(|i| i.label == "residual stream dL/dh (dashed)"));
        assert!(
            made.reading.ends_with("Along the residual stream (dashed), layer 1 of relu gets 2.0 times layer 2's."),
            "{}",
            made.reading
        );
        assert_eq!(panels[1].title, "relu · 3 layers, residual");
    }
}
