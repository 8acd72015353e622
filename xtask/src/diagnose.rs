//! The report of a `train diagnose` folder: the measured per-layer factor of ||delta||^2
//! against sigma_w^2 with the mean-field prediction chi_1 as a curve (computed here by
//! `meanfield`, which links no burn), and the per-layer ||delta|| against depth for a few
//! sigma_w^2 beside the theory's slope; with `--spectrum`, the Jacobian's singular values
//! (`spectrum.rs`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use runfolder::{DiagnoseInfo, diagnose as names};

pub mod spectrum;

use crate::colormap::{self, categorical};
use crate::error::Error;
use crate::html;
use crate::markdown;
use crate::numfmt::sig;
use crate::output::{Format, Page, create_dir, write_figure, write_file};
use crate::plot::{Axis, AxisKind, Body, Event, Figure, Legend, LegendItem, LinePanel, Lines, Reference, Series, Swatch};
use crate::report::ReportSummary;
use crate::run::RunError;
use crate::scene::Dash;
use crate::table::Table;

/// The figures' file stems.
pub const SLUGS: [&str; 2] = ["fig1-diagnose-factor", "fig2-diagnose-layers"];

/// At most this many sigma_w^2 get a line in figure 2.
pub const LAYER_LINES: usize = 5;

/// One row of `diagnose.csv`.
#[derive(Clone, Debug, PartialEq)]
pub struct NetRow {
    pub weight_var: f64,
    pub seed: u64,
    pub measured_factor: Option<f64>,
    pub predicted_chi1: f64,
}

/// One row of `diagnose_layers.csv`.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerRow {
    pub weight_var: f64,
    pub seed: u64,
    pub layer: u64,
    pub delta_norm: Option<f64>,
    pub predicted_chi: f64,
    pub fitted: bool,
}

/// One sigma_w^2 of a folder: the median, lowest and highest measured factor over its seeds
/// (`None` when no net had one) and the theory's chi_1.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PerWeightVar {
    pub weight_var: f64,
    pub measured: Option<(f64, f64, f64)>,
    pub chi1: f64,
}

/// A diagnose folder, read.
#[derive(Clone, Debug)]
pub struct Diagnosis {
    pub dir: PathBuf,
    pub info: DiagnoseInfo,
    pub nets: Vec<NetRow>,
    pub layers: Vec<LayerRow>,
}

/// Whether `dir` is a diagnose folder (it has `diagnose.csv`).
pub fn is_diagnose(dir: &Path) -> bool {
    dir.join(names::SUMMARY).is_file()
}

impl Diagnosis {
    /// Reads the three files; errors name the file and line.
    pub fn load(dir: &Path) -> Result<Diagnosis, RunError> {
        let info_path = dir.join(names::INFO);
        let text = std::fs::read_to_string(&info_path).map_err(|cause| {
            if cause.kind() == std::io::ErrorKind::NotFound {
                RunError::MissingFile { path: info_path.clone() }
            } else {
                RunError::Io { path: info_path.clone(), cause }
            }
        })?;
        let info: DiagnoseInfo =
            serde_json::from_str(&text).map_err(|e| RunError::Manifest { path: info_path.clone(), message: e.to_string() })?;
        let t = Table::read(&dir.join(names::SUMMARY), &names::SUMMARY_COLUMNS)?;
        let nets = t
            .rows()
            .map(|r| {
                Ok(NetRow {
                    weight_var: r.f64("weight_var")?,
                    seed: r.u64("seed")?,
                    measured_factor: r.opt_f64("measured_factor")?,
                    predicted_chi1: r.f64("predicted_chi1")?,
                })
            })
            .collect::<Result<Vec<_>, RunError>>()?;
        let t = Table::read(&dir.join(names::LAYERS), &names::LAYERS_COLUMNS)?;
        let layers = t
            .rows()
            .map(|r| {
                Ok(LayerRow {
                    weight_var: r.f64("weight_var")?,
                    seed: r.u64("seed")?,
                    layer: r.u64("layer")?,
                    delta_norm: r.opt_f64("delta_norm")?,
                    predicted_chi: r.f64("predicted_chi")?,
                    fitted: r.u64("fitted")? == 1,
                })
            })
            .collect::<Result<Vec<_>, RunError>>()?;
        Ok(Diagnosis { dir: dir.to_path_buf(), info, nets, layers })
    }

    /// The theory's activation, from the folder's name of it.
    pub fn activation(&self) -> Option<meanfield::Activation> {
        Some(match self.info.activation.as_str() {
            "tanh" => meanfield::Activation::Tanh,
            "sigmoid" => meanfield::Activation::Sigmoid,
            "relu" => meanfield::Activation::Relu,
            "leaky-relu" => meanfield::Activation::LeakyRelu { slope: self.info.leaky_slope.unwrap_or(chain::LEAKY_SLOPE) },
            "identity" => meanfield::Activation::Identity,
            _ => return None,
        })
    }

    /// Per sigma_w^2, ascending: the median, lowest and highest measured factor over seeds
    /// (nets without one left out) and the prediction.
    pub fn per_weight_var(&self) -> Vec<PerWeightVar> {
        let mut by: BTreeMap<u64, (f64, Vec<f64>, f64)> = BTreeMap::new();
        for n in &self.nets {
            let e = by.entry(n.weight_var.to_bits()).or_insert((n.weight_var, Vec::new(), n.predicted_chi1));
            e.1.extend(n.measured_factor);
        }
        let mut out: Vec<PerWeightVar> = by
            .into_values()
            .map(|(w, mut v, chi)| {
                v.sort_by(f64::total_cmp);
                let stats = (!v.is_empty()).then(|| {
                    let m = v.len() / 2;
                    let median = if v.len() % 2 == 1 { v[m] } else { 0.5 * (v[m - 1] + v[m]) };
                    (median, v[0], v[v.len() - 1])
                });
                PerWeightVar { weight_var: w, measured: stats, chi1: chi }
            })
            .collect();
        out.sort_by(|a, b| a.weight_var.total_cmp(&b.weight_var));
        out
    }
}

/// The table of measurement against theory, as plain text (the page's appendix and report.md).
pub fn table(d: &Diagnosis) -> String {
    let mut t = String::new();
    let _ = writeln!(t, "{:>9} {:>9} {:>9} {:>19} {:>7}", "sigma_w^2", "chi_1", "measured", "seeds: min..max", "ratio");
    for PerWeightVar { weight_var: w, measured, chi1: chi } in d.per_weight_var() {
        match measured {
            Some((m, lo, hi)) => {
                let _ = writeln!(t, "{w:>9.4} {chi:>9.4} {m:>9.4} {:>19} {:>7.3}", format!("{lo:.4}..{hi:.4}"), m / chi);
            }
            None => {
                let _ = writeln!(t, "{w:>9.4} {chi:>9.4} {:>9} {:>19} {:>7}", "underflow", "-", "-");
            }
        }
    }
    t
}

/// Figure 1: measured factor against sigma_w^2, the theory as a curve.
fn factor_figure(d: &Diagnosis) -> (Figure, String) {
    let rows = d.per_weight_var();
    let (lo, hi) = (rows.first().map_or(1.0, |r| r.weight_var), rows.last().map_or(1.0, |r| r.weight_var));
    let theory = meanfield::Theory::default();
    let curve: Vec<(f64, f64)> = match d.activation() {
        Some(phi) if hi > lo => (0..=200)
            .map(|i| lo + (hi - lo) * i as f64 / 200.0)
            .filter_map(|w| theory.predict(phi, w, d.info.bias_var).ok().map(|p| (w, p.chi1)))
            .collect(),
        _ => rows.iter().map(|r| (r.weight_var, r.chi1)).collect(),
    };
    let pick = |f: fn((f64, f64, f64)) -> f64| -> Vec<(f64, f64)> {
        rows.iter().filter_map(|r| r.measured.map(|m| (r.weight_var, f(m)))).collect()
    };
    let (median, low, high) = (pick(|m| m.0), pick(|m| m.1), pick(|m| m.2));
    let seeds = d.info.seeds.len();
    let theory_color = colormap::REFERENCE;
    let measured_color = categorical(0);
    let mut series = vec![Series {
        name: "theory chi_1".into(),
        color: theory_color,
        dash: Dash::Solid,
        width: 2.0,
        points: curve,
        markers: false,
    }];
    series.push(Series { name: "measured (median)".into(), color: measured_color, dash: Dash::Solid, width: 1.5, points: median, markers: true });
    if seeds > 1 {
        for (name, points) in [("lowest seed", low), ("highest seed", high)] {
            series.push(Series { name: name.into(), color: measured_color, dash: Dash::Dotted, width: 1.0, points, markers: false });
        }
    }
    let events = match d.info.critical_weight_var {
        Some(c) if (lo..=hi).contains(&c) => vec![Event { x: c, label: format!("edge of chaos {c:.3}") }],
        _ => Vec::new(),
    };
    let worst = rows
        .iter()
        .filter_map(|r| r.measured.map(|m| (r.weight_var, (m.0 / r.chi1 - 1.0).abs())))
        .max_by(|a, b| a.1.total_cmp(&b.1));
    let mut reading = format!(
        "{} at {} hidden layers of {}, sigma_b^2 = {}: ",
        d.info.activation, d.info.depth, d.info.width, d.info.bias_var
    );
    match worst {
        Some((w, gap)) => {
            let _ = write!(
                reading,
                "the measured per-layer factor of ||delta||^2 (median of {seeds} seed(s)) is within {:.1}% of the theory's chi_1 at every sigma_w^2 measured (the largest gap at sigma_w^2 = {w}).",
                100.0 * gap
            );
        }
        None => reading.push_str("no net had enough layers above float32's range to fit a factor."),
    }
    if let Some(c) = d.info.critical_weight_var {
        let _ = write!(reading, " The theory puts the edge of chaos (chi_1 = 1) at sigma_w^2 = {c:.4}.");
    }
    let legend = Legend {
        items: vec![
            LegendItem { label: "theory: χ₁ = σ_w² E[φ'(√q* z)²]".into(), color: theory_color, swatch: Swatch::Line(Dash::Solid) },
            LegendItem { label: "measured: median over seeds".into(), color: measured_color, swatch: Swatch::Line(Dash::Solid) },
            LegendItem { label: "lowest and highest seed".into(), color: measured_color, swatch: Swatch::Line(Dash::Dotted) },
            LegendItem { label: "χ₁ = 1".into(), color: colormap::REFERENCE, swatch: Swatch::Line(Dash::Dashed) },
        ],
        ramp: None,
    };
    let figure = Figure {
        slug: SLUGS[0].into(),
        title: "1. Factor of ‖δ‖² per layer, measured and χ₁".into(),
        body: Body::Lines(Lines {
            x: Axis::new("σ_w² (weight variance × fan-in)", AxisKind::Tight),
            panels: vec![LinePanel {
                title: format!("{}, σ_b² = {}", d.info.activation, d.info.bias_var),
                y: Axis::new("‖δˡ‖² / ‖δˡ⁺¹‖² (fitted)", AxisKind::Linear { include_zero: true }),
                series,
                annotations: Vec::new(),
                empty: Some(format!("no measured factor in {}", names::SUMMARY)),
                x: None,
                references: Vec::new(),
                events,
            }],
            share_y: false,
            references: vec![Reference { value: 1.0, label: "chi_1 = 1".into() }],
        }),
        legend,
        notes: vec![format!(
            "Nets at initialization, W ~ N(0, sigma_w^2 / n_in), b ~ N(0, sigma_b^2); the factor is exp of minus the least-squares slope of ln ||delta^l||^2 over layers {} to {} (the ends left out: the input's q^1 is not q*, the output's error is not the bulk's). Below 1 the error vanishes toward the input, above 1 it explodes.",
            d.info.fit_first, d.info.fit_last
        )],
        columns: None,
    };
    (figure, reading)
}

/// Up to [`LAYER_LINES`] sigma_w^2 of the grid, evenly spaced, with the one nearest the edge.
fn chosen(weight_vars: &[f64], critical: Option<f64>) -> Vec<f64> {
    if weight_vars.len() <= LAYER_LINES {
        return weight_vars.to_vec();
    }
    let mut picks: Vec<f64> =
        (0..LAYER_LINES).map(|i| weight_vars[i * (weight_vars.len() - 1) / (LAYER_LINES - 1)]).collect();
    if let Some(c) = critical {
        let near = weight_vars.iter().copied().min_by(|a, b| (a - c).abs().total_cmp(&(b - c).abs()));
        if let Some(n) = near.filter(|n| !picks.contains(n)) {
            picks[LAYER_LINES / 2] = n;
        }
    }
    picks.sort_by(f64::total_cmp);
    picks.dedup();
    picks
}

/// Figure 2: ||delta^l|| against the layer for a few sigma_w^2 (the first seed), and the
/// theory's: anchored at the last fitted layer, each layer below it multiplied by
/// sqrt(chi(q^l)) with q^l the theory's from the data's q^1.
fn layers_figure(d: &Diagnosis) -> (Figure, String) {
    let seed = d.info.seeds.first().copied().unwrap_or(0);
    let picks = chosen(&d.info.weight_vars, d.info.critical_weight_var);
    let mut series = Vec::new();
    let mut legend = Vec::new();
    let mut clauses = Vec::new();
    for (i, &w) in picks.iter().enumerate() {
        let mut rows: Vec<&LayerRow> = d.layers.iter().filter(|r| r.weight_var == w && r.seed == seed).collect();
        rows.sort_by_key(|r| r.layer);
        let color = categorical(i);
        let points: Vec<(f64, f64)> = rows.iter().filter_map(|r| r.delta_norm.map(|v| (r.layer as f64, v))).collect();
        if let (Some(first), Some(last)) = (points.first(), points.last()) {
            clauses.push(format!("{} at sigma_w^2 = {}", sig(first.1 / last.1), sig(w)));
        }
        // The theory, anchored at the last fitted layer and followed toward the input.
        let anchor = rows.iter().rev().find(|r| r.fitted).and_then(|r| r.delta_norm.map(|v| (r.layer, v)));
        let mut theory = Vec::new();
        if let Some((top, value)) = anchor {
            let mut v = value;
            theory.push((top as f64, v));
            for r in rows.iter().rev().filter(|r| r.layer < top) {
                v *= r.predicted_chi.max(0.0).sqrt();
                theory.push((r.layer as f64, v));
            }
            theory.reverse();
        }
        series.push(Series { name: format!("σ_w² = {w}"), color, dash: Dash::Solid, width: 1.8, points, markers: false });
        series.push(Series { name: format!("theory at {}", sig(w)), color, dash: Dash::Dashed, width: 1.2, points: theory, markers: false });
        legend.push(LegendItem { label: format!("σ_w² = {w}"), color, swatch: Swatch::Line(Dash::Solid) });
    }
    legend.push(LegendItem { label: "theory: ×√χ(qˡ) a layer".into(), color: colormap::REFERENCE, swatch: Swatch::Line(Dash::Dashed) });
    let reading = if clauses.is_empty() {
        "No layer has a measured error.".to_string()
    } else {
        format!("Layer 1's ||delta|| over the last hidden layer's (seed {seed}): {}.", crate::figures::join(clauses))
    };
    let figure = Figure {
        slug: SLUGS[1].into(),
        title: "2. ‖δ‖ through the layers at initialization".into(),
        body: Body::Lines(Lines {
            x: Axis::new("hidden layer (1 = first)", AxisKind::Tight).integer(),
            panels: vec![LinePanel {
                title: format!("{} hidden layers of {}, seed {seed}", d.info.depth, d.info.width),
                y: Axis::new("mean ‖dL/dz‖ (log scale)", AxisKind::Log),
                series,
                annotations: Vec::new(),
                empty: Some(format!("no rows in {}", names::LAYERS)),
                x: None,
                references: Vec::new(),
                events: Vec::new(),
            }],
            share_y: false,
            references: Vec::new(),
        }),
        legend: Legend { items: legend, ramp: None },
        notes: vec![
            "Solid: measured. Dashed: the theory from the last fitted layer down, a factor sqrt(chi(q^l)) per layer with q^l the variance map's from the data's q^1 (near the input q^l has not yet reached q*).".into(),
        ],
        columns: None,
    };
    (figure, reading)
}

/// Writes the report of a diagnose folder.
pub fn write_report(dir: &Path, out: Option<&Path>, format: Format) -> Result<ReportSummary, Error> {
    let d = Diagnosis::load(dir)?;
    let out_dir = out.map_or_else(|| dir.join("report"), Path::to_path_buf);
    create_dir(&out_dir)?;
    let mut drawn = vec![factor_figure(&d), layers_figure(&d)];
    let spectrum_rows = spectrum::load(dir)?;
    if let Some(rows) = &spectrum_rows {
        let subject = format!("{} at sigma_b^2 = {}, {} init", d.info.activation, d.info.bias_var, d.info.init.as_deref().unwrap_or("normal"));
        drawn.push(spectrum::figure(&spectrum::curves(rows, ""), &subject));
    }
    let figures = drawn.into_iter().map(|(f, r)| write_figure(&f, r, &out_dir, format)).collect::<Result<Vec<_>, _>>()?;
    let i = &d.info;
    let mut facts = vec![
        ("folder".to_string(), dir.display().to_string()),
        ("nets".to_string(), format!("{} x {} hidden layers of {}, {} seed(s) per sigma_w^2", i.activation, i.depth, i.width, i.seeds.len())),
        ("data".to_string(), format!("{} ({} probe examples, mean x^2 = {:.4})", i.data, i.probe, i.input_second_moment)),
    ];
    if let Some(c) = i.critical_weight_var {
        facts.push(("edge of chaos".to_string(), format!("sigma_w^2 = {c:.4} at sigma_b^2 = {}", i.bias_var)));
    }
    if let Some(s) = &i.started_at {
        facts.push(("time".to_string(), s.clone()));
    }
    let mut table = table(&d);
    if let Some(rows) = &spectrum_rows {
        table.push_str("\nThe Jacobian's singular values (medians over seeds; IO: the input-output Jacobian of layers 2 to l):\n");
        table.push_str(&spectrum::table(&spectrum::curves(rows, "")));
    }
    let info = serde_json::to_string_pretty(&i).unwrap_or_else(|e| format!("(cannot show: {e})"));
    let page = Page {
        title: format!("Diagnose: {} at sigma_b^2 = {}", i.activation, i.bias_var),
        facts,
        notes: Vec::new(),
        headline: &[],
        with_run: false,
        figures: &figures,
        diagnosis: None,
        format,
        appendix: vec![("measured against theory".to_string(), table.clone()), (names::INFO.to_string(), info)],
    };
    let html_path = out_dir.join("index.html");
    write_file(&html_path, html::render(&page).as_bytes())?;
    let md_path = out_dir.join("report.md");
    let md = format!("{}## Measured against theory\n\n```text\n{table}```\n", markdown::render(&page));
    write_file(&md_path, md.as_bytes())?;
    Ok(ReportSummary { out_dir, html: html_path, markdown: md_path, figures, headline: Vec::new(), notes: Vec::new() })
}
