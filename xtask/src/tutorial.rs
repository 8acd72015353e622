//! `cargo xtask tutorial-figures`: the tutorial's figures, computed by the project's own
//! chain solver (`chain`): sigmoid and its derivative, and the per-layer gradient bars of
//! the three-layer chain with sigmoid and with ReLU.

use std::path::{Path, PathBuf};

use chain::{Activation, Chain, LogNum, solve};

use crate::colormap::categorical;
use crate::error::Error;
use crate::numfmt::{sig, times};
use crate::output::{FigureFile, Format, create_dir, write_figure};
use crate::plot::{
    Annotation, Axis, AxisKind, BarGroup, BarPanel, Bars, Body, Figure, Legend, LegendItem, LinePanel, Lines, Series,
    Swatch,
};
use crate::scene::Dash;

/// What `tutorial-figures` wrote.
#[derive(Clone, Debug)]
pub struct TutorialSummary {
    pub out_dir: PathBuf,
    pub figures: Vec<FigureFile>,
}

/// `target/tutorial-figures` in the workspace (found from this crate's own location, so
/// that the command writes to the same place from any working directory).
pub fn default_tutorial_out() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).join("target").join("tutorial-figures")
}

/// Writes the tutorial's figures into `out`.
pub fn write_tutorial_figures(out: &Path, format: Format) -> Result<TutorialSummary, Error> {
    create_dir(out)?;
    let (fig, reading) = sigmoid_figure();
    let a = write_figure(&fig, reading, out, format)?;
    let (fig, reading) = gradient_bars();
    let b = write_figure(&fig, reading, out, format)?;
    Ok(TutorialSummary { out_dir: out.to_path_buf(), figures: vec![a, b] })
}

/// σ(z) and σ′(z) on [-5, 5], with σ′'s peak of 0.25 at 0 marked.
fn sigmoid_figure() -> (Figure, String) {
    let f = Activation::Sigmoid;
    let zs: Vec<f64> = (0..=200).map(|i| -5.0 + f64::from(i) * 0.05).collect();
    let value: Vec<(f64, f64)> = zs.iter().map(|&z| (z, f.value(z))).collect();
    let deriv: Vec<(f64, f64)> = zs.iter().map(|&z| (z, f.derivative(z))).collect();
    let (peak_z, peak) = deriv.iter().copied().fold((0.0, f64::NEG_INFINITY), |a, p| if p.1 > a.1 { p } else { a });
    // Where σ′ drops below 1 % (the saturation threshold's neighbourhood): from the samples.
    let flat = deriv.iter().filter(|p| p.0 >= 0.0 && p.1 < 0.01).map(|p| p.0).fold(f64::INFINITY, f64::min);
    let reading = format!(
        "σ′ peaks at {} at z = {}, so each sigmoid layer scales the error it passes back by at most a quarter (times its weight); beyond |z| ≈ {:.1} it is below 0.01.",
        sig(peak),
        sig(peak_z),
        flat
    );
    let fig = Figure {
        slug: "sigmoid-derivative".into(),
        title: "The sigmoid and its derivative".into(),
        body: Body::Lines(Lines {
            x: Axis::new("z (pre-activation)", AxisKind::Tight).integer(),
            panels: vec![LinePanel {
                title: "σ(z) = 1 / (1 + e^(−z)) and σ′(z) = σ(z) (1 − σ(z))".into(),
                y: Axis::new("value", AxisKind::Linear { include_zero: true }),
                series: vec![
                    Series {
                        name: "σ(z)".into(),
                        color: categorical(0),
                        dash: Dash::Solid,
                        width: 2.2,
                        points: value,
                        markers: false,
                    },
                    Series {
                        name: "σ′(z)".into(),
                        color: categorical(1),
                        dash: Dash::Solid,
                        width: 2.2,
                        points: deriv,
                        markers: false,
                    },
                ],
                annotations: vec![Annotation { x: peak_z, y: peak, text: format!("σ′(0) = {}", sig(peak)) }],
                empty: None,
                x: None,
                references: Vec::new(),
                events: Vec::new(),
            }],
            share_y: false,
            references: Vec::new(),
        }),
        legend: Legend {
            items: vec![
                LegendItem {
                    label: "σ(z), the sigmoid".into(),
                    color: categorical(0),
                    swatch: Swatch::Line(Dash::Solid),
                },
                LegendItem {
                    label: "σ′(z), its derivative".into(),
                    color: categorical(1),
                    swatch: Swatch::Line(Dash::Solid),
                },
            ],
            ramp: None,
        },
        notes: vec!["Computed by the project's chain crate (Activation::value and ::derivative).".into()],
        columns: None,
    };
    (fig, reading)
}

/// |dL/dw| per layer of the tutorial's chain, sigmoid against ReLU, on one log scale.
fn gradient_bars() -> (Figure, String) {
    let mut panels = Vec::new();
    let mut clauses = Vec::new();
    for (i, (act, shown)) in [(Activation::Sigmoid, "sigmoid"), (Activation::Relu, "ReLU")].into_iter().enumerate() {
        let chain = Chain::tutorial(act);
        let sol = solve(&chain);
        let mags: Vec<LogNum> =
            sol.layers.iter().map(|l| LogNum { sign: l.grad_weight.sign.abs(), ..l.grad_weight }).collect();
        let values: Vec<Option<f64>> = mags.iter().map(|m| Some(m.to_f64())).collect();
        let labels: Vec<String> = mags.iter().map(|m| m.sci(2)).collect();
        if let (Some(first), Some(last)) = (mags.first(), mags.last()) {
            let r = (first.ln_abs - last.ln_abs).exp();
            clauses.push(if (r - 1.0).abs() < 1e-9 {
                format!("with {} every layer gets the same {}", shown, last.sci(2))
            } else if r < 1.0 {
                format!(
                    "with {} layer 1 gets {} against layer {}'s {} ({} smaller)",
                    shown,
                    first.sci(2),
                    mags.len(),
                    last.sci(2),
                    times(1.0 / r)
                )
            } else {
                format!("with {} layer 1 gets {} against layer {}'s {}", shown, first.sci(2), mags.len(), last.sci(2))
            });
        }
        panels.push(BarPanel {
            title: format!(
                "{} chain: {} layers, w = {}, input {}, target {}",
                shown, chain.depth, chain.weight, chain.input, chain.target
            ),
            categories: (1..=mags.len()).map(|l| l.to_string()).collect(),
            groups: vec![BarGroup {
                name: format!("|dL/dw| ({})", shown),
                color: categorical(i),
                values,
                labels: Some(labels),
            }],
            empty: None,
        });
    }
    let reading = format!("In the tutorial's three-layer chain, {}.", clauses.join("; "));
    let fig = Figure {
        slug: "tutorial-gradients".into(),
        title: "Gradient magnitude per layer: sigmoid against ReLU".into(),
        body: Body::Bars(Bars {
            x_label: "layer (1 = input side)".into(),
            y: Axis::new("|dL/dw| (log scale)", AxisKind::Log),
            panels,
        }),
        legend: Legend {
            items: vec![
                LegendItem { label: "sigmoid".into(), color: categorical(0), swatch: Swatch::Box },
                LegendItem { label: "ReLU".into(), color: categorical(1), swatch: Swatch::Box },
            ],
            ramp: None,
        },
        notes: vec![
            "Exact values from the chain crate's log-space backward pass; both panels share the y scale.".into(),
        ],
        columns: None,
    };
    (fig, reading)
}
