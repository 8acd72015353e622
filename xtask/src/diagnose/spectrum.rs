//! The Jacobian's singular values at initialization (`diagnose_spectrum.csv`, written by
//! `train diagnose --spectrum`): figure 3 of a diagnose folder's report, and `cargo xtask
//! spectrum`, the same figure for several folders side by side (Gaussian against orthogonal
//! weights at tanh's edge of chaos, Glorot and Bengio's standard against normalized
//! initialization).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use runfolder::diagnose as names;

use super::Diagnosis;
use crate::colormap::{self, categorical};
use crate::error::Error;
use crate::html;
use crate::markdown;
use crate::numfmt::sig;
use crate::output::{Format, Page, create_dir, write_figure, write_file};
use crate::plot::{Axis, AxisKind, Body, Figure, Legend, LegendItem, LinePanel, Lines, Reference, Series, Swatch};
use crate::report::ReportSummary;
use crate::run::RunError;
use crate::scene::Dash;
use crate::table::Table;

/// The figure's file stem.
pub const SLUG: &str = "fig3-diagnose-spectrum";

/// One row of `diagnose_spectrum.csv`.
#[derive(Clone, Debug, PartialEq)]
pub struct SpectrumRow {
    pub weight_var: f64,
    pub seed: u64,
    pub layer: u64,
    /// `layer` or `input-output`.
    pub jacobian: String,
    pub mean_sq: f64,
    pub mean: f64,
    pub max: f64,
    pub p10: Option<f64>,
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    pub spread: f64,
    pub predicted_mean_sq: f64,
    pub predicted_spread: f64,
}

/// Reads the folder's `diagnose_spectrum.csv`; `None` where it has none (no `--spectrum`).
pub fn load(dir: &Path) -> Result<Option<Vec<SpectrumRow>>, RunError> {
    let path = dir.join(names::SPECTRUM);
    if !path.is_file() {
        return Ok(None);
    }
    let t = Table::read(&path, &names::SPECTRUM_COLUMNS)?;
    let rows = t
        .rows()
        .map(|r| {
            let jacobian = r.text("jacobian")?;
            if jacobian != names::SPECTRUM_LAYER && jacobian != names::SPECTRUM_INPUT_OUTPUT {
                return Err(r.error(format!(
                    "column `jacobian`: {jacobian:?} is neither `{}` nor `{}`",
                    names::SPECTRUM_LAYER,
                    names::SPECTRUM_INPUT_OUTPUT
                )));
            }
            Ok(SpectrumRow {
                weight_var: r.f64("weight_var")?,
                seed: r.u64("seed")?,
                layer: r.u64("layer")?,
                jacobian,
                mean_sq: r.f64("mean_sq")?,
                mean: r.f64("mean")?,
                max: r.f64("max")?,
                p10: r.opt_f64("p10")?,
                p50: r.opt_f64("p50")?,
                p90: r.opt_f64("p90")?,
                spread: r.f64("spread")?,
                predicted_mean_sq: r.f64("predicted_mean_sq")?,
                predicted_spread: r.f64("predicted_spread")?,
            })
        })
        .collect::<Result<Vec<_>, RunError>>()?;
    Ok(Some(rows))
}

/// The median of what is there (`None` for nothing).
fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    Some(if v.len() % 2 == 1 { v[m] } else { 0.5 * (v[m - 1] + v[m]) })
}

/// One line set of the figure: a folder's nets of one sigma_w^2, medians over their seeds per
/// layer and Jacobian.
#[derive(Clone, Debug)]
pub struct Curve {
    pub label: String,
    pub weight_var: f64,
    /// Per layer, ascending: (layer, medians of the `layer` rows, medians of the
    /// `input-output` rows).
    pub layers: Vec<(u64, Medians, Medians)>,
}

/// Medians over seeds of one layer's summary; a quantile is `None` when no seed resolved it.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Medians {
    pub mean_sq: f64,
    pub mean: f64,
    pub max: f64,
    pub p10: Option<f64>,
    pub p50: Option<f64>,
    pub spread: f64,
    pub predicted_mean_sq: f64,
    pub predicted_spread: f64,
}

fn medians(rows: &[&SpectrumRow]) -> Medians {
    let m = |f: fn(&SpectrumRow) -> f64| median(rows.iter().map(|r| f(r)).collect()).unwrap_or(f64::NAN);
    let q = |f: fn(&SpectrumRow) -> Option<f64>| {
        // A quantile below resolution in any seed is reported as not resolved: the median of
        // the resolved ones alone would sit above the truth.
        if rows.iter().all(|r| f(r).is_some()) { median(rows.iter().filter_map(|r| f(r)).collect()) } else { None }
    };
    Medians {
        mean_sq: m(|r| r.mean_sq),
        mean: m(|r| r.mean),
        max: m(|r| r.max),
        p10: q(|r| r.p10),
        p50: q(|r| r.p50),
        spread: m(|r| r.spread),
        predicted_mean_sq: m(|r| r.predicted_mean_sq),
        predicted_spread: m(|r| r.predicted_spread),
    }
}

/// The curves of one folder: one per sigma_w^2 (ascending), labelled with `prefix`.
pub fn curves(rows: &[SpectrumRow], prefix: &str) -> Vec<Curve> {
    let mut by: BTreeMap<(u64, u64), Vec<&SpectrumRow>> = BTreeMap::new();
    for r in rows {
        by.entry((r.weight_var.to_bits(), r.layer)).or_default().push(r);
    }
    let mut out: Vec<Curve> = Vec::new();
    for ((bits, layer), group) in by {
        let w = f64::from_bits(bits);
        let layer_rows: Vec<&SpectrumRow> = group.iter().copied().filter(|r| r.jacobian == names::SPECTRUM_LAYER).collect();
        let io_rows: Vec<&SpectrumRow> = group.iter().copied().filter(|r| r.jacobian == names::SPECTRUM_INPUT_OUTPUT).collect();
        if layer_rows.is_empty() || io_rows.is_empty() {
            continue;
        }
        let entry = (layer, medians(&layer_rows), medians(&io_rows));
        match out.iter_mut().find(|c| c.weight_var == w) {
            Some(c) => c.layers.push(entry),
            None => out.push(Curve { label: format!("{prefix}σ_w² = {w}"), weight_var: w, layers: vec![entry] }),
        }
    }
    out.sort_by(|a, b| a.weight_var.total_cmp(&b.weight_var));
    for c in &mut out {
        c.layers.sort_by_key(|l| l.0);
    }
    out
}

/// The label prefix of a folder's curves: its activation and initialization.
pub fn prefix(d: &Diagnosis) -> String {
    format!("{} {}, ", d.info.activation, d.info.init.as_deref().unwrap_or("normal"))
}

/// Figure 3: the input-output Jacobian's singular values against depth (largest, median,
/// 10% quantile), its spread beside free probability's, and each layer's mean singular value.
pub fn figure(curves: &[Curve], subject: &str) -> (Figure, String) {
    let mut sv = Vec::new();
    let mut spread = Vec::new();
    let mut per_layer = Vec::new();
    let mut legend = Vec::new();
    let mut clauses = Vec::new();
    for (i, c) in curves.iter().enumerate() {
        let color = categorical(i);
        let pts = |f: &dyn Fn(&Medians) -> Option<f64>, io: bool| -> Vec<(f64, f64)> {
            c.layers.iter().filter_map(|(l, m, e)| f(if io { e } else { m }).map(|v| (*l as f64, v))).collect()
        };
        let line = |name: String, dash: Dash, width: f64, points: Vec<(f64, f64)>| Series { name, color, dash, width, points, markers: false };
        sv.push(line(format!("{}: largest", c.label), Dash::Solid, 1.8, pts(&|m| Some(m.max), true)));
        sv.push(line(format!("{}: median", c.label), Dash::Dashed, 1.2, pts(&|m| m.p50, true)));
        sv.push(line(format!("{}: 10%", c.label), Dash::Dotted, 1.2, pts(&|m| m.p10, true)));
        spread.push(line(format!("{}: measured", c.label), Dash::Solid, 1.8, pts(&|m| Some(m.spread), true)));
        spread.push(line(format!("{}: free probability", c.label), Dash::Dashed, 1.2, pts(&|m| Some(m.predicted_spread), true)));
        per_layer.push(line(format!("{}: mean σ", c.label), Dash::Solid, 1.8, pts(&|m| Some(m.mean), false)));
        per_layer.push(line(format!("{}: √χ", c.label), Dash::Dashed, 1.2, pts(&|m| Some(m.predicted_mean_sq.max(0.0).sqrt()), false)));
        legend.push(LegendItem { label: c.label.clone(), color, swatch: Swatch::Line(Dash::Solid) });
        if let Some((l, m, e)) = c.layers.last() {
            let layer_mean = c.layers.iter().map(|(_, m, _)| m.mean).sum::<f64>() / c.layers.len() as f64;
            clauses.push(format!(
                "{}: at layer {l} the input-output Jacobian's largest singular value is {}, its mean squared one {} (theory {}), its spread {} (free probability {}); one layer's mean singular value averages {} (its mean squared one {} at this layer, chi {})",
                c.label,
                sig(e.max),
                sig(e.mean_sq),
                sig(e.predicted_mean_sq),
                sig(e.spread),
                sig(e.predicted_spread),
                sig(layer_mean),
                sig(m.mean_sq),
                sig(m.predicted_mean_sq)
            ));
        }
    }
    legend.push(LegendItem { label: "solid: measured (largest σ); dashed: median σ or theory".into(), color: colormap::REFERENCE, swatch: Swatch::Line(Dash::Dashed) });
    legend.push(LegendItem { label: "dotted: 10% quantile of σ".into(), color: colormap::REFERENCE, swatch: Swatch::Line(Dash::Dotted) });
    let reading = if clauses.is_empty() {
        format!("No rows in {}.", names::SPECTRUM)
    } else {
        format!("{}.", clauses.join("; "))
    };
    let panel = |title: &str, y: Axis, series: Vec<Series>, references: Vec<Reference>| LinePanel {
        title: title.into(),
        y,
        series,
        annotations: Vec::new(),
        empty: Some(format!("no rows in {}", names::SPECTRUM)),
        x: None,
        references,
        events: Vec::new(),
    };
    let figure = Figure {
        slug: SLUG.into(),
        title: "3. The Jacobian's singular values at initialization".into(),
        body: Body::Lines(Lines {
            x: Axis::new("hidden layer l (the input-output Jacobian is of layers 2 to l)", AxisKind::Tight).integer(),
            panels: vec![
                panel(
                    "input-output Jacobian: singular values σ",
                    Axis::new("σ (log scale)", AxisKind::Log),
                    sv,
                    vec![Reference { value: 1.0, label: "σ = 1".into() }],
                ),
                panel(
                    "input-output Jacobian: var(σ²) / mean(σ²)²",
                    Axis::new("spread", AxisKind::Linear { include_zero: true }),
                    spread,
                    Vec::new(),
                ),
                panel(
                    "each layer's Jacobian: mean σ (dashed: √χ, the theory's root mean square)",
                    Axis::new("mean σ", AxisKind::Linear { include_zero: true }),
                    per_layer,
                    Vec::new(),
                ),
            ],
            share_y: false,
            references: Vec::new(),
        }),
        legend: Legend { items: legend, ramp: None },
        notes: vec![format!(
            "{subject}. Medians over seeds of the singular values of J_l = D_l W_l^T (one hidden layer) and of J_l ... J_2 (the input-output Jacobian from the first hidden layer's output), pooled over the probe examples; a quantile below 1e-10 of the largest value is within rounding and not drawn. Theory: chi(q^l) and its product; free probability's spread, the sum over layers of E[phi'^4]/E[phi'^2]^2 - 1 + (1 for i.i.d. weights, 0 for orthogonal) (Pennington, Schoenholz and Ganguli 2017)."
        )],
        columns: None,
    };
    (figure, reading)
}

/// The table of the figure's numbers at each curve's deepest layer and averaged over layers,
/// as plain text.
pub fn table(curves: &[Curve]) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "{:<28} {:>5} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "nets", "layer", "mean σ", "mean σ²", "chi", "IO σ²", "theory", "IO spread", "theory"
    );
    for c in curves {
        for (l, m, e) in &c.layers {
            let _ = writeln!(
                t,
                "{:<28} {l:>5} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
                c.label,
                sig(m.mean),
                sig(m.mean_sq),
                sig(m.predicted_mean_sq),
                sig(e.mean_sq),
                sig(e.predicted_mean_sq),
                sig(e.spread),
                sig(e.predicted_spread)
            );
        }
    }
    t
}

/// `cargo xtask spectrum`: the figure for several diagnose folders together, into `out`.
pub fn write_spectrum(dirs: &[PathBuf], out: &Path, format: Format) -> Result<ReportSummary, Error> {
    let mut all = Vec::new();
    let mut facts = Vec::new();
    for dir in dirs {
        let d = Diagnosis::load(dir)?;
        let Some(rows) = load(dir)? else {
            return Err(RunError::MissingFile { path: dir.join(names::SPECTRUM) }.into());
        };
        let i = &d.info;
        facts.push((
            dir.display().to_string(),
            format!(
                "{} x {} hidden layers of {}, {} init, sigma_b^2 = {}, {} seed(s), {} example(s)",
                i.activation,
                i.depth,
                i.width,
                i.init.as_deref().unwrap_or("normal"),
                i.bias_var,
                i.seeds.len(),
                i.spectrum_examples
            ),
        ));
        all.extend(curves(&rows, &prefix(&d)));
    }
    create_dir(out)?;
    let subject = format!("{} folder(s)", dirs.len());
    let (fig, reading) = figure(&all, &subject);
    let figures = vec![write_figure(&fig, reading, out, format)?];
    let table = table(&all);
    let page = Page {
        title: "The Jacobian's singular values at initialization".into(),
        facts,
        notes: Vec::new(),
        headline: &[],
        with_run: false,
        diagnosis: None,
        figures: &figures,
        format,
        appendix: vec![("per layer".to_string(), table.clone())],
    };
    let html_path = out.join("index.html");
    write_file(&html_path, html::render(&page).as_bytes())?;
    let md_path = out.join("report.md");
    let md = format!("{}## Per layer\n\n```text\n{table}```\n", markdown::render(&page));
    write_file(&md_path, md.as_bytes())?;
    Ok(ReportSummary { out_dir: out.to_path_buf(), html: html_path, markdown: md_path, figures, headline: Vec::new(), notes: Vec::new() })
}
