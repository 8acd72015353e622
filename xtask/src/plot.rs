//! Figure layout: turns a plain figure spec (panels of lines, bars or heatmap cells, a
//! legend and notes) into a [`Scene`]. Everything about pixels lives here; what to plot is
//! decided in `figures` and `tutorial`.
//!
//! Rules every figure follows: a title, labelled axes, a legend; the panels of a figure
//! share their y scale (unless the spec says otherwise) so that they compare at a glance;
//! axis ranges come from the figure's own data; zeros on a log axis are drawn on a marked
//! floor strip with a note, never dropped. Each data series is an SVG group with
//! `class="series"`, which tests count.

use crate::colormap::{self, Color};
use crate::numfmt;
use crate::scale::{Label, Scale, Tick, min_max};
use crate::scene::{Anchor, Dash, Item, Scene, Span, Stroke, Text};

const MARGIN: f64 = 18.0;
const TITLE_SIZE: f64 = 17.0;
const TITLE_BLOCK: f64 = 34.0;
const PANEL_TITLE_SIZE: f64 = 13.5;
const TICK_SIZE: f64 = 11.5;
const LABEL_SIZE: f64 = 12.0;
const LEGEND_SIZE: f64 = 12.0;
const LEGEND_ROW: f64 = 22.0;
const NOTE_SIZE: f64 = 12.0;
const NOTE_ROW: f64 = 16.0;
const PANEL_W: f64 = 440.0;
const PANEL_H: f64 = 290.0;
const GAP: f64 = 20.0;
const PAD_L: f64 = 70.0;
const PAD_R: f64 = 14.0;
const PAD_T: f64 = 26.0;
const PAD_B: f64 = 44.0;
const COLORBAR_BLOCK: f64 = 110.0;
/// What a heatmap needs left of its row labels: the gap to the cells and the y axis title.
const ROW_LABEL_ROOM: f64 = 28.0;

/// A figure to draw.
#[derive(Clone, Debug)]
pub struct Figure {
    /// The file name without extension.
    pub slug: String,
    pub title: String,
    pub body: Body,
    pub legend: Legend,
    /// Sentences shown under the figure (what is drawn how, what is missing).
    pub notes: Vec<String>,
    /// Panels per row (`None`: up to three, two for four panels). A comparison puts one
    /// run per row with this.
    pub columns: Option<usize>,
}

/// What the panels hold.
#[derive(Clone, Debug)]
pub enum Body {
    Lines(Lines),
    Bars(Bars),
    Heat(Heat),
}

/// An axis: its label (with units) and how its range is chosen.
#[derive(Clone, Debug)]
pub struct Axis {
    pub label: String,
    pub kind: AxisKind,
    /// Only whole-number ticks (epochs, steps).
    pub integer: bool,
}

impl Axis {
    pub fn new(label: impl Into<String>, kind: AxisKind) -> Axis {
        Axis { label: label.into(), kind, integer: false }
    }

    pub fn integer(mut self) -> Axis {
        self.integer = true;
        self
    }
}

/// How an axis range is chosen from the data.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum AxisKind {
    /// From the smallest to the largest value, exactly (x axes).
    Tight,
    /// Rounded out to nice ticks, optionally keeping 0 in range.
    Linear { include_zero: bool },
    /// Fixed bounds.
    Fixed(f64, f64),
    /// Whole decades of the positive values, with a floor strip for zeros.
    Log,
}

/// Line panels over a shared x axis.
#[derive(Clone, Debug)]
pub struct Lines {
    pub x: Axis,
    pub panels: Vec<LinePanel>,
    /// Whether all panels use one y scale (from all their data).
    pub share_y: bool,
    /// Horizontal reference lines drawn on every panel.
    pub references: Vec<Reference>,
}

/// One panel of lines.
#[derive(Clone, Debug)]
pub struct LinePanel {
    pub title: String,
    pub y: Axis,
    pub series: Vec<Series>,
    pub annotations: Vec<Annotation>,
    /// Shown in the panel when it has no data (why not).
    pub empty: Option<String>,
    /// The panel's own x axis, where it is not the figure's (epochs beside steps).
    pub x: Option<Axis>,
    /// Horizontal reference lines of this panel alone, beside the figure's.
    pub references: Vec<Reference>,
    /// Moments marked across the panel by a vertical line (where a model diverged).
    pub events: Vec<Event>,
}

/// One line.
#[derive(Clone, Debug)]
pub struct Series {
    pub name: String,
    pub color: Color,
    pub dash: Dash,
    pub width: f64,
    pub points: Vec<(f64, f64)>,
    /// Draw a dot at each point (for short series such as per-epoch values).
    pub markers: bool,
}

/// A horizontal line at a value (such as the 1e-3 rule of thumb). Its label goes in the
/// legend, not on the line, where it would hide data.
#[derive(Clone, Debug)]
pub struct Reference {
    pub value: f64,
    pub label: String,
}

/// A vertical line at an x value, labelled at its top: an event such as a divergence,
/// drawn in the alert colour. The x axis reaches it even past the last point.
#[derive(Clone, Debug)]
pub struct Event {
    pub x: f64,
    pub label: String,
}

/// A marked point with a text beside it.
#[derive(Clone, Debug)]
pub struct Annotation {
    pub x: f64,
    pub y: f64,
    pub text: String,
}

/// Bar panels: categories along x, one bar per group in each.
#[derive(Clone, Debug)]
pub struct Bars {
    pub x_label: String,
    pub y: Axis,
    pub panels: Vec<BarPanel>,
}

/// One panel of bars.
#[derive(Clone, Debug)]
pub struct BarPanel {
    pub title: String,
    pub categories: Vec<String>,
    pub groups: Vec<BarGroup>,
    pub empty: Option<String>,
}

/// The bars of one group across the categories (`None`: not measured).
#[derive(Clone, Debug)]
pub struct BarGroup {
    pub name: String,
    pub color: Color,
    pub values: Vec<Option<f64>>,
    /// Texts over the bars (`None`: no labels).
    pub labels: Option<Vec<String>>,
}

/// Heatmap panels sharing one log colour scale.
#[derive(Clone, Debug)]
pub struct Heat {
    pub x_label: String,
    pub y_label: String,
    pub colorbar_label: String,
    pub panels: Vec<HeatPanel>,
    /// What a cell of 0 means, which sets how it is drawn and explained.
    pub zeros: ZeroCells,
}

/// What a heatmap cell of exactly 0 stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ZeroCells {
    /// A measured 0, such as a norm that underflowed: black, darker than the scale.
    Underflow,
    /// Nothing there, such as a histogram bin without entries: white, like the page.
    Empty,
}

/// One heatmap: rows from the bottom (layer 1) up, columns left to right.
#[derive(Clone, Debug)]
pub struct HeatPanel {
    pub title: String,
    pub rows: Vec<String>,
    /// The x value of each column (a step), for the tick labels.
    pub columns: Vec<f64>,
    /// `cells[row][column]`; `None` where nothing was measured.
    pub cells: Vec<Vec<Option<f64>>>,
    pub empty: Option<String>,
    /// The labelled columns (index and label), when they are categories rather than x
    /// values; `None`: about six columns labelled with their x values.
    pub column_ticks: Option<Vec<(usize, Label)>>,
}

/// The legend under the panels.
#[derive(Clone, Debug, Default)]
pub struct Legend {
    pub items: Vec<LegendItem>,
    /// A colour ramp from the first to the last layer, drawn before the items.
    pub ramp: Option<Ramp>,
}

/// One legend entry.
#[derive(Clone, Debug)]
pub struct LegendItem {
    pub label: String,
    pub color: Color,
    pub swatch: Swatch,
}

/// How a legend entry shows its series.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Swatch {
    Line(Dash),
    Box,
    ZeroMarker,
}

/// A viridis ramp between two layer positions, with end labels.
#[derive(Clone, Debug)]
pub struct Ramp {
    pub from: String,
    pub to: String,
    pub t0: f64,
    pub t1: f64,
}

/// A drawn figure and the number of data series in it.
pub struct Rendered {
    pub scene: Scene,
    pub series: usize,
}

/// Draws a figure.
pub fn render(fig: &Figure) -> Rendered {
    let n = match &fig.body {
        Body::Lines(l) => l.panels.len(),
        Body::Bars(b) => b.panels.len(),
        Body::Heat(h) => h.panels.len(),
    }
    .max(1);
    let cols = match (fig.columns, n) {
        (Some(c), _) if c >= 1 => c.min(n),
        (_, 1..=3) => n,
        (_, 4) => 2,
        _ => 3,
    };
    let rows = n.div_ceil(cols);
    let panel_h = match &fig.body {
        Body::Heat(h) => {
            let most = h.panels.iter().map(|p| p.rows.len()).max().unwrap_or(1) as f64;
            (most * 26.0).clamp(150.0, 300.0) + PAD_T + PAD_B
        }
        _ => PANEL_H,
    };
    let extra_right = if matches!(fig.body, Body::Heat(_)) { COLORBAR_BLOCK } else { 0.0 };
    let grid_w = cols as f64 * PANEL_W + (cols - 1) as f64 * GAP;
    let width = 2.0 * MARGIN + grid_w + extra_right;
    let inner_w = width - 2.0 * MARGIN;
    let panels_top = MARGIN + TITLE_BLOCK;
    let panels_h = rows as f64 * panel_h + (rows - 1) as f64 * GAP;

    let mut body_items = Vec::new();
    let mut series = 0;
    let mut notes = Vec::new();
    let origin = |i: usize| {
        let (r, c) = (i / cols, i % cols);
        (MARGIN + c as f64 * (PANEL_W + GAP), panels_top + r as f64 * (panel_h + GAP))
    };
    match &fig.body {
        Body::Lines(lines) => draw_lines(lines, &origin, &mut body_items, &mut series, &mut notes),
        Body::Bars(bars) => draw_bars(bars, &origin, &mut body_items, &mut series, &mut notes),
        Body::Heat(heat) => {
            let colorbar_x = MARGIN + grid_w + 28.0;
            draw_heat(heat, &origin, panel_h, colorbar_x, &mut body_items, &mut series, &mut notes);
        }
    }
    notes.extend(fig.notes.iter().cloned());

    let legend_top = panels_top + panels_h + 14.0;
    let (legend_items, legend_h) = draw_legend(&fig.legend, MARGIN, legend_top, inner_w);
    let notes_top = legend_top + legend_h + if legend_h > 0.0 { 6.0 } else { 0.0 };
    let mut note_lines = Vec::new();
    for note in &notes {
        note_lines.extend(wrap(note, NOTE_SIZE, inner_w));
    }
    let height = notes_top + note_lines.len() as f64 * NOTE_ROW + MARGIN;

    let mut scene = Scene::new(width, height, fig.title.clone());
    scene.push(Item::Text(Text::new(MARGIN, MARGIN + 18.0, fig.title.clone(), TITLE_SIZE, colormap::TEXT)));
    scene.items.extend(body_items);
    scene.items.extend(legend_items);
    for (i, line) in note_lines.into_iter().enumerate() {
        let y = notes_top + (i as f64 + 1.0) * NOTE_ROW - 4.0;
        scene.push(Item::Text(Text::new(MARGIN, y, line, NOTE_SIZE, colormap::MUTED)));
    }
    Rendered { scene, series }
}

/// The pixel box of a panel's plotting area.
#[derive(Clone, Copy)]
struct PlotBox {
    x0: f64,
    x1: f64,
    top: f64,
    bottom: f64,
}

impl PlotBox {
    fn of(px: f64, py: f64, h: f64) -> PlotBox {
        PlotBox::with_left(px, py, h, PAD_L)
    }

    /// A plotting area whose left padding is `pad_l` (wide row labels need more than
    /// [`PAD_L`]).
    fn with_left(px: f64, py: f64, h: f64, pad_l: f64) -> PlotBox {
        PlotBox { x0: px + pad_l, x1: px + PANEL_W - PAD_R, top: py + PAD_T, bottom: py + h - PAD_B }
    }
}

fn scale_for(axis: &Axis, values: &[f64], extra: &[f64]) -> Scale {
    let all = values.iter().chain(extra).copied();
    match axis.kind {
        AxisKind::Tight => match min_max(all.filter(|v| v.is_finite())) {
            Some((lo, hi)) if hi > lo => Scale::Linear { lo, hi },
            Some((v, _)) => Scale::Linear { lo: v - 0.5, hi: v + 0.5 },
            None => Scale::Linear { lo: 0.0, hi: 1.0 },
        },
        AxisKind::Linear { include_zero } => Scale::linear(all, include_zero),
        AxisKind::Fixed(lo, hi) => Scale::fixed(lo, hi),
        AxisKind::Log => Scale::log(all),
    }
}

fn ticks_for(axis: &Axis, scale: &Scale, max: usize) -> Vec<Tick> {
    let mut ticks = scale.ticks(max);
    if axis.integer && matches!(scale, Scale::Linear { .. }) {
        ticks.retain(|t| (t.value - t.value.round()).abs() < 1e-9);
        for t in &mut ticks {
            t.label = Some(Label::Plain(format!("{}", t.value.round() as i64)));
        }
    }
    ticks
}

/// The spans of a tick label: `10` with a superscript exponent, with a true minus sign.
fn label_spans(label: &Label) -> Vec<Span> {
    match label {
        Label::Plain(s) => vec![Span { text: s.replace('-', "−"), superscript: false }],
        Label::Power(0) => vec![Span { text: "1".into(), superscript: false }],
        Label::Power(1) => vec![Span { text: "10".into(), superscript: false }],
        Label::Power(k) => vec![
            Span { text: "10".into(), superscript: false },
            Span { text: k.to_string().replace('-', "−"), superscript: true },
        ],
    }
}

/// Axes, grid, ticks, labels and the floor strip of one panel.
fn draw_frame(out: &mut Vec<Item>, b: PlotBox, px: f64, title: &str, x: (&Axis, &Scale), y: (&Axis, &Scale)) {
    // A long title (a model's name, activation, depth and setup) is cut to the panel.
    let title = fit(title, PANEL_TITLE_SIZE, b.x1 - b.x0 + PAD_R);
    out.push(Item::Text(Text::new(b.x0, b.top - 9.0, title, PANEL_TITLE_SIZE, colormap::TEXT)));
    let (x_axis, xs) = x;
    let (y_axis, ys) = y;
    if ys.has_floor() {
        let strip = crate::scale::FLOOR_STRIP;
        out.push(Item::Rect {
            x: b.x0,
            y: b.bottom - strip,
            w: b.x1 - b.x0,
            h: strip,
            fill: Some(colormap::FLOOR),
            stroke: None,
        });
        out.push(Item::Line {
            x1: b.x0,
            y1: b.bottom - strip,
            x2: b.x1,
            y2: b.bottom - strip,
            stroke: Stroke { color: colormap::ALERT, width: 0.8, dash: Dash::Dashed },
        });
        let zy = ys.pos(0.0, b.bottom, b.top);
        out.push(Item::Text(Text::new(b.x0 - 7.0, zy + 4.0, "0", TICK_SIZE, colormap::ALERT).anchor(Anchor::End)));
    }
    for t in ticks_for(y_axis, ys, 8) {
        let py = ys.pos(t.value, b.bottom, b.top);
        if t.major {
            out.push(Item::Line { x1: b.x0, y1: py, x2: b.x1, y2: py, stroke: Stroke::solid(colormap::GRID, 1.0) });
        }
        let len = if t.major { 5.0 } else { 3.0 };
        out.push(Item::Line { x1: b.x0 - len, y1: py, x2: b.x0, y2: py, stroke: Stroke::solid(colormap::AXIS, 1.0) });
        if let Some(label) = &t.label {
            out.push(Item::Text(
                Text::new(b.x0 - 7.0, py + 4.0, "", TICK_SIZE, colormap::AXIS)
                    .anchor(Anchor::End)
                    .spans(label_spans(label)),
            ));
        }
    }
    for t in ticks_for(x_axis, xs, 6) {
        let px_ = xs.pos(t.value, b.x0, b.x1);
        out.push(Item::Line {
            x1: px_,
            y1: b.bottom,
            x2: px_,
            y2: b.bottom + 5.0,
            stroke: Stroke::solid(colormap::AXIS, 1.0),
        });
        if let Some(label) = &t.label {
            out.push(Item::Text(
                Text::new(px_, b.bottom + 18.0, "", TICK_SIZE, colormap::AXIS)
                    .anchor(Anchor::Middle)
                    .spans(label_spans(label)),
            ));
        }
    }
    axis_lines(out, b);
    axis_titles(out, b, px, &x_axis.label, &y_axis.label);
}

fn axis_lines(out: &mut Vec<Item>, b: PlotBox) {
    let s = Stroke::solid(colormap::AXIS, 1.0);
    out.push(Item::Line { x1: b.x0, y1: b.top, x2: b.x0, y2: b.bottom, stroke: s });
    out.push(Item::Line { x1: b.x0, y1: b.bottom, x2: b.x1, y2: b.bottom, stroke: s });
}

fn axis_titles(out: &mut Vec<Item>, b: PlotBox, px: f64, x_label: &str, y_label: &str) {
    out.push(Item::Text(
        Text::new((b.x0 + b.x1) / 2.0, b.bottom + 36.0, x_label, LABEL_SIZE, colormap::TEXT).anchor(Anchor::Middle),
    ));
    // The y label is shortened with an ellipsis if it would not fit along the axis.
    let fitted = fit(y_label, LABEL_SIZE, b.bottom - b.top + 20.0);
    out.push(Item::Text(
        Text::new(px + 14.0, (b.top + b.bottom) / 2.0, fitted, LABEL_SIZE, colormap::TEXT)
            .anchor(Anchor::Middle)
            .rotate(-90.0),
    ));
}

fn empty_note(out: &mut Vec<Item>, b: PlotBox, text: &str) {
    for (i, line) in wrap(text, LABEL_SIZE, b.x1 - b.x0 - 20.0).into_iter().enumerate() {
        out.push(Item::Text(
            Text::new(
                (b.x0 + b.x1) / 2.0,
                (b.top + b.bottom) / 2.0 + i as f64 * 16.0,
                line,
                LABEL_SIZE,
                colormap::MUTED,
            )
            .anchor(Anchor::Middle),
        ));
    }
}

/// A small downward triangle: a value that is exactly 0, drawn on the floor.
fn zero_marker(x: f64, y: f64) -> Item {
    Item::Path {
        points: vec![(x - 4.0, y - 3.5), (x + 4.0, y - 3.5), (x, y + 3.5)],
        closed: true,
        fill: Some(colormap::ALERT),
        stroke: None,
    }
}

fn series_group(name: &str, panel: &str, items: Vec<Item>) -> Item {
    Item::Group {
        attrs: vec![
            ("class".into(), "series".into()),
            ("data-series".into(), name.into()),
            ("data-panel".into(), panel.into()),
        ],
        items,
    }
}

fn floor_note(zeros: usize) -> String {
    format!(
        "Red triangles on the strip marked 0 are {zeros} value{} that {} exactly 0 (underflow): a log axis cannot show 0, so they are drawn on this floor instead of being left out.",
        crate::run::plural(zeros),
        if zeros == 1 { "is" } else { "are" }
    )
}

fn draw_lines(
    lines: &Lines,
    origin: &dyn Fn(usize) -> (f64, f64),
    out: &mut Vec<Item>,
    series_count: &mut usize,
    notes: &mut Vec<String>,
) {
    // The x values of a panel: its points and its events.
    let x_values = |p: &LinePanel| -> Vec<f64> {
        p.series.iter().flat_map(|s| s.points.iter().map(|p| p.0)).chain(p.events.iter().map(|e| e.x)).collect()
    };
    let xs_all: Vec<f64> = lines.panels.iter().filter(|p| p.x.is_none()).flat_map(x_values).collect();
    let x_scale = scale_for(&lines.x, &xs_all, &[]);
    let refs_of =
        |p: &LinePanel| -> Vec<f64> { lines.references.iter().chain(&p.references).map(|r| r.value).collect() };
    let y_values = |p: &LinePanel| -> Vec<f64> { p.series.iter().flat_map(|s| s.points.iter().map(|p| p.1)).collect() };
    let shared: Option<Scale> = lines.share_y.then(|| {
        let all: Vec<f64> = lines.panels.iter().flat_map(y_values).collect();
        let refs: Vec<f64> =
            lines.panels.iter().flat_map(refs_of).chain(lines.references.iter().map(|r| r.value)).collect();
        let axis = lines.panels.first().map(|p| p.y.clone()).unwrap_or_else(|| Axis::new("", AxisKind::Log));
        scale_for(&axis, &all, &refs)
    });
    let mut zeros = 0;
    for (i, panel) in lines.panels.iter().enumerate() {
        let (px, py) = origin(i);
        let b = PlotBox::of(px, py, PANEL_H);
        let y_scale = shared.clone().unwrap_or_else(|| scale_for(&panel.y, &y_values(panel), &refs_of(panel)));
        let (x_axis, x_scale) = match &panel.x {
            Some(axis) => (axis, scale_for(axis, &x_values(panel), &[])),
            None => (&lines.x, x_scale.clone()),
        };
        draw_frame(out, b, px, &panel.title, (x_axis, &x_scale), (&panel.y, &y_scale));
        let has_data = panel.series.iter().any(|s| !s.points.is_empty());
        if !has_data {
            empty_note(out, b, panel.empty.as_deref().unwrap_or("no data"));
        }
        for s in &panel.series {
            let mut pts: Vec<(f64, f64)> =
                s.points.iter().copied().filter(|(x, y)| x.is_finite() && y.is_finite()).collect();
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            let mapped: Vec<(f64, f64)> = pts
                .iter()
                .map(|&(x, y)| {
                    let py = y_scale.pos(y, b.bottom, b.top).clamp(b.top, b.bottom);
                    (x_scale.pos(x, b.x0, b.x1), py)
                })
                .collect();
            let mut items = vec![Item::Path {
                points: mapped.clone(),
                closed: false,
                fill: None,
                stroke: Some(Stroke { color: s.color, width: s.width, dash: s.dash }),
            }];
            if s.markers || mapped.len() == 1 {
                for (&(_, v), &(x, y)) in pts.iter().zip(&mapped) {
                    if !(y_scale.has_floor() && v <= 0.0) {
                        items.push(Item::Circle { cx: x, cy: y, r: 2.6, fill: Some(s.color), stroke: None });
                    }
                }
            }
            if y_scale.has_floor() {
                for (&(_, v), &(x, y)) in pts.iter().zip(&mapped) {
                    if v <= 0.0 {
                        zeros += 1;
                        items.push(zero_marker(x, y));
                    }
                }
            }
            out.push(series_group(&s.name, &panel.title, items));
            *series_count += 1;
        }
        for r in lines.references.iter().chain(&panel.references) {
            let y = y_scale.pos(r.value, b.bottom, b.top);
            if y < b.top - 0.5 || y > b.bottom + 0.5 {
                continue;
            }
            out.push(Item::Group {
                attrs: vec![("class".into(), "reference".into()), ("data-label".into(), r.label.clone())],
                items: vec![Item::Line {
                    x1: b.x0,
                    y1: y,
                    x2: b.x1,
                    y2: y,
                    stroke: Stroke { color: colormap::REFERENCE, width: 1.2, dash: Dash::Dashed },
                }],
            });
        }
        for e in &panel.events {
            let x = x_scale.pos(e.x, b.x0, b.x1);
            let stroke = Stroke { color: colormap::ALERT, width: 1.4, dash: Dash::Dashed };
            // The label sits at the top, on the side of the line that has room for it.
            let w = crate::font::text_width(&e.label, TICK_SIZE);
            let text = if x + 5.0 + w < b.x1 {
                Text::new(x + 5.0, b.top + 12.0, e.label.clone(), TICK_SIZE, colormap::ALERT)
            } else {
                Text::new(x - 5.0, b.top + 12.0, e.label.clone(), TICK_SIZE, colormap::ALERT).anchor(Anchor::End)
            };
            out.push(Item::Group {
                attrs: vec![("class".into(), "event".into()), ("data-label".into(), e.label.clone())],
                items: vec![Item::Line { x1: x, y1: b.top, x2: x, y2: b.bottom, stroke }, Item::Text(text)],
            });
        }
        for a in &panel.annotations {
            let (x, y) = (x_scale.pos(a.x, b.x0, b.x1), y_scale.pos(a.y, b.bottom, b.top));
            out.push(Item::Circle {
                cx: x,
                cy: y,
                r: 3.5,
                fill: None,
                stroke: Some(Stroke::solid(colormap::TEXT, 1.2)),
            });
            let right = x + 10.0 + crate::font::text_width(&a.text, TICK_SIZE) < b.x1;
            let t = if right {
                Text::new(x + 8.0, y - 6.0, a.text.clone(), TICK_SIZE, colormap::TEXT)
            } else {
                Text::new(x - 8.0, y - 6.0, a.text.clone(), TICK_SIZE, colormap::TEXT).anchor(Anchor::End)
            };
            out.push(Item::Text(t));
        }
    }
    if zeros > 0 {
        notes.push(floor_note(zeros));
    }
}

fn draw_bars(
    bars: &Bars,
    origin: &dyn Fn(usize) -> (f64, f64),
    out: &mut Vec<Item>,
    series_count: &mut usize,
    notes: &mut Vec<String>,
) {
    let all: Vec<f64> =
        bars.panels.iter().flat_map(|p| p.groups.iter().flat_map(|g| g.values.iter().flatten().copied())).collect();
    // Value labels over the bars need room below the panel title: the scale reaches a
    // little above the largest value.
    let labelled = bars.panels.iter().any(|p| p.groups.iter().any(|g| g.labels.is_some()));
    let headroom: Vec<f64> = if labelled {
        let top = all.iter().copied().filter(|v| v.is_finite()).fold(f64::NEG_INFINITY, f64::max);
        if top > 0.0 { vec![top * 2.5] } else { Vec::new() }
    } else {
        Vec::new()
    };
    let y_scale = scale_for(&bars.y, &all, &headroom);
    let mut zeros = 0;
    for (i, panel) in bars.panels.iter().enumerate() {
        let (px, py) = origin(i);
        let b = PlotBox::of(px, py, PANEL_H);
        out.push(Item::Text(Text::new(b.x0, b.top - 9.0, panel.title.clone(), PANEL_TITLE_SIZE, colormap::TEXT)));
        if y_scale.has_floor() {
            let strip = crate::scale::FLOOR_STRIP;
            out.push(Item::Rect {
                x: b.x0,
                y: b.bottom - strip,
                w: b.x1 - b.x0,
                h: strip,
                fill: Some(colormap::FLOOR),
                stroke: None,
            });
            let zy = y_scale.pos(0.0, b.bottom, b.top);
            out.push(Item::Text(Text::new(b.x0 - 7.0, zy + 4.0, "0", TICK_SIZE, colormap::ALERT).anchor(Anchor::End)));
        }
        for t in ticks_for(&bars.y, &y_scale, 8) {
            let py_ = y_scale.pos(t.value, b.bottom, b.top);
            if t.major {
                out.push(Item::Line {
                    x1: b.x0,
                    y1: py_,
                    x2: b.x1,
                    y2: py_,
                    stroke: Stroke::solid(colormap::GRID, 1.0),
                });
            }
            let len = if t.major { 5.0 } else { 3.0 };
            out.push(Item::Line {
                x1: b.x0 - len,
                y1: py_,
                x2: b.x0,
                y2: py_,
                stroke: Stroke::solid(colormap::AXIS, 1.0),
            });
            if let Some(label) = &t.label {
                out.push(Item::Text(
                    Text::new(b.x0 - 7.0, py_ + 4.0, "", TICK_SIZE, colormap::AXIS)
                        .anchor(Anchor::End)
                        .spans(label_spans(label)),
                ));
            }
        }
        let n = panel.categories.len().max(1);
        let slot = (b.x1 - b.x0) / n as f64;
        let g = panel.groups.len().max(1);
        let bar_w = (slot * 0.78 / g as f64).min(60.0);
        let group_w = bar_w * g as f64;
        // Category labels: all of them when they fit, else the first and every k-th.
        let widest = panel.categories.iter().map(|c| crate::font::text_width(c, TICK_SIZE)).fold(0.0, f64::max);
        for c in thin_labels(n, slot, widest + 6.0) {
            let cx = b.x0 + (c as f64 + 0.5) * slot;
            out.push(Item::Text(
                Text::new(cx, b.bottom + 18.0, panel.categories[c].clone(), TICK_SIZE, colormap::AXIS)
                    .anchor(Anchor::Middle),
            ));
        }
        if panel.groups.iter().all(|gr| gr.values.iter().all(Option::is_none)) {
            empty_note(out, b, panel.empty.as_deref().unwrap_or("no data"));
        }
        let base = b.bottom;
        for (gi, group) in panel.groups.iter().enumerate() {
            let mut items = Vec::new();
            for (c, v) in group.values.iter().enumerate() {
                let Some(v) = *v else { continue };
                if !v.is_finite() {
                    continue;
                }
                let x = b.x0 + (c as f64 + 0.5) * slot - group_w / 2.0 + gi as f64 * bar_w;
                let top = y_scale.pos(v, b.bottom, b.top).clamp(b.top, b.bottom);
                if y_scale.has_floor() && v <= 0.0 {
                    zeros += 1;
                    items.push(zero_marker(x + bar_w / 2.0, top));
                } else {
                    items.push(Item::Rect {
                        x: x + 0.5,
                        y: top,
                        w: bar_w - 1.0,
                        h: base - top,
                        fill: Some(group.color),
                        stroke: None,
                    });
                }
                if let Some(label) = group.labels.as_ref().and_then(|l| l.get(c)) {
                    items.push(Item::Text(
                        Text::new(x + bar_w / 2.0, top - 5.0, label.replace('-', "−"), TICK_SIZE - 1.0, colormap::TEXT)
                            .anchor(Anchor::Middle),
                    ));
                }
            }
            out.push(series_group(&group.name, &panel.title, items));
            *series_count += 1;
        }
        axis_lines(out, b);
        axis_titles(out, b, px, &bars.x_label, &bars.y.label);
    }
    if zeros > 0 {
        notes.push(floor_note(zeros));
    }
}

fn draw_heat(
    heat: &Heat,
    origin: &dyn Fn(usize) -> (f64, f64),
    panel_h: f64,
    colorbar_x: f64,
    out: &mut Vec<Item>,
    series_count: &mut usize,
    notes: &mut Vec<String>,
) {
    let all: Vec<f64> = heat.panels.iter().flat_map(|p| p.cells.iter().flatten().flatten().copied()).collect();
    let scale = Scale::log(all.iter().copied());
    let Scale::Log { lo, hi, .. } = scale else { return };
    let t_of = |v: f64| (v.log10() - f64::from(lo)) / f64::from(hi - lo);
    let (mut zeros, mut missing) = (0usize, 0usize);
    let zero_fill = match heat.zeros {
        ZeroCells::Underflow => colormap::ZERO_CELL,
        ZeroCells::Empty => colormap::WHITE,
    };
    // Row labels (layer names can be long) get the room they need, up to a third of the
    // panel, and the same in every panel so that the panels line up; longer ones are cut.
    let widest =
        heat.panels.iter().flat_map(|p| &p.rows).map(|r| crate::font::text_width(r, TICK_SIZE)).fold(0.0, f64::max);
    let pad_l = (widest + ROW_LABEL_ROOM).clamp(PAD_L, PANEL_W / 3.0);
    for (i, panel) in heat.panels.iter().enumerate() {
        let (px, py) = origin(i);
        let b = PlotBox::with_left(px, py, panel_h, pad_l);
        out.push(Item::Text(Text::new(b.x0, b.top - 9.0, panel.title.clone(), PANEL_TITLE_SIZE, colormap::TEXT)));
        let rows = panel.rows.len();
        let cols = panel.columns.len();
        if rows == 0 || cols == 0 {
            frame(out, b);
            empty_note(out, b, panel.empty.as_deref().unwrap_or("no data"));
            axis_titles(out, b, px, &heat.x_label, &heat.y_label);
            continue;
        }
        let cw = (b.x1 - b.x0) / cols as f64;
        let rh = (b.bottom - b.top) / rows as f64;
        for (r, name) in panel.rows.iter().enumerate() {
            let y = b.bottom - (r as f64 + 1.0) * rh;
            let mut items = Vec::with_capacity(cols);
            for c in 0..cols {
                let v = panel.cells.get(r).and_then(|row| row.get(c)).copied().flatten().filter(|v| v.is_finite());
                let fill = match v {
                    None => {
                        missing += 1;
                        colormap::MISSING_CELL
                    }
                    Some(v) if v <= 0.0 => {
                        zeros += 1;
                        zero_fill
                    }
                    Some(v) => colormap::viridis(t_of(v)),
                };
                // Cells overlap by a hair so that no white seams show between them.
                items.push(Item::Rect {
                    x: b.x0 + c as f64 * cw,
                    y,
                    w: cw + 0.4,
                    h: rh + 0.4,
                    fill: Some(fill),
                    stroke: None,
                });
            }
            out.push(series_group(name, &panel.title, items));
            *series_count += 1;
        }
        if heat.zeros == ZeroCells::Empty {
            // White cells on a white page need a frame to show where the panel is.
            frame(out, b);
        }
        // Row labels: all of them when they fit, else the first and every k-th.
        for r in thin_labels(rows, rh, 14.0) {
            let y = b.bottom - (r as f64 + 0.5) * rh + 4.0;
            let label = fit(&panel.rows[r], TICK_SIZE, pad_l - ROW_LABEL_ROOM);
            out.push(Item::Text(Text::new(b.x0 - 6.0, y, label, TICK_SIZE, colormap::AXIS).anchor(Anchor::End)));
        }
        // Column ticks: the spec's, or about six labelled with the column's x value (the step).
        let ticks: Vec<(usize, Label)> = match &panel.column_ticks {
            Some(t) => t.iter().filter(|(c, _)| *c < cols).cloned().collect(),
            None => {
                let wanted = cols.min(6);
                (0..wanted)
                    .map(|j| if wanted == 1 { 0 } else { (j * (cols - 1) + (wanted - 1) / 2) / (wanted - 1) })
                    .map(|c| (c, Label::Plain(format_x(panel.columns[c]))))
                    .collect()
            }
        };
        let mut last_label_end = f64::NEG_INFINITY;
        for (c, label) in ticks {
            let x = b.x0 + (c as f64 + 0.5) * cw;
            let spans = label_spans(&label);
            let text: String = spans.iter().map(|s| s.text.as_str()).collect();
            let w = crate::font::text_width(&text, TICK_SIZE);
            if x - w / 2.0 < last_label_end + 6.0 {
                continue;
            }
            last_label_end = x + w / 2.0;
            out.push(Item::Line {
                x1: x,
                y1: b.bottom,
                x2: x,
                y2: b.bottom + 5.0,
                stroke: Stroke::solid(colormap::AXIS, 1.0),
            });
            out.push(Item::Text(
                Text::new(x, b.bottom + 18.0, "", TICK_SIZE, colormap::AXIS).anchor(Anchor::Middle).spans(spans),
            ));
        }
        axis_titles(out, b, px, &heat.x_label, &heat.y_label);
    }

    // The colour bar, level with the first panel's plot.
    let (_, py) = origin(0);
    let b = PlotBox::of(0.0, py, panel_h);
    let bar_w = 14.0;
    let segments = 64;
    let seg_h = (b.bottom - b.top) / f64::from(segments);
    for s in 0..segments {
        let t = (f64::from(s) + 0.5) / f64::from(segments);
        let y = b.bottom - f64::from(s + 1) * seg_h;
        out.push(Item::Rect {
            x: colorbar_x,
            y,
            w: bar_w,
            h: seg_h + 0.4,
            fill: Some(colormap::viridis(t)),
            stroke: None,
        });
    }
    out.push(Item::Rect {
        x: colorbar_x,
        y: b.top,
        w: bar_w,
        h: b.bottom - b.top,
        fill: None,
        stroke: Some(Stroke::solid(colormap::AXIS, 0.8)),
    });
    for t in scale.ticks(7) {
        if !t.major {
            continue;
        }
        let y = b.bottom - t_of(t.value) * (b.bottom - b.top);
        out.push(Item::Line {
            x1: colorbar_x + bar_w,
            y1: y,
            x2: colorbar_x + bar_w + 4.0,
            y2: y,
            stroke: Stroke::solid(colormap::AXIS, 1.0),
        });
        if let Some(label) = &t.label {
            out.push(Item::Text(
                Text::new(colorbar_x + bar_w + 7.0, y + 4.0, "", TICK_SIZE, colormap::AXIS).spans(label_spans(label)),
            ));
        }
    }
    let mut swatch_y = b.bottom + 14.0;
    if zeros > 0 {
        out.push(Item::Rect {
            x: colorbar_x,
            y: swatch_y,
            w: bar_w,
            h: 12.0,
            fill: Some(zero_fill),
            stroke: (heat.zeros == ZeroCells::Empty).then(|| Stroke::solid(colormap::GRID, 1.0)),
        });
        out.push(Item::Text(Text::new(colorbar_x + bar_w + 7.0, swatch_y + 10.0, "0", TICK_SIZE, colormap::AXIS)));
        swatch_y += 18.0;
    }
    if missing > 0 {
        out.push(Item::Rect {
            x: colorbar_x,
            y: swatch_y,
            w: bar_w,
            h: 12.0,
            fill: Some(colormap::MISSING_CELL),
            stroke: Some(Stroke::solid(colormap::GRID, 1.0)),
        });
        out.push(Item::Text(Text::new(colorbar_x + bar_w + 7.0, swatch_y + 10.0, "none", TICK_SIZE, colormap::AXIS)));
    }
    let label = fit(&heat.colorbar_label, LABEL_SIZE, b.bottom - b.top + 30.0);
    out.push(Item::Text(
        Text::new(colorbar_x + bar_w + 68.0, (b.top + b.bottom) / 2.0, label, LABEL_SIZE, colormap::TEXT)
            .anchor(Anchor::Middle)
            .rotate(-90.0),
    ));
    if zeros > 0 && heat.zeros == ZeroCells::Underflow {
        notes.push(format!(
            "Black cells ({zeros}) are exactly 0 (underflow), darker than any value on the colour scale: a log scale cannot show 0, so they get their own colour."
        ));
    }
    if missing > 0 {
        notes.push(format!("Light grey cells ({missing}) have no measurement."));
    }
}

/// Which of `n` evenly spaced labels (each `slot` pixels apart, needing `need` pixels) to
/// draw: all when they fit, else the first, every k-th (k a round number) and the last
/// when it does not crowd the one before.
pub fn thin_labels(n: usize, slot: f64, need: f64) -> Vec<usize> {
    if n == 0 {
        return Vec::new();
    }
    let gap = (need / slot.max(1e-9)).ceil().max(1.0) as usize;
    let k = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000].into_iter().find(|&k| k >= gap).unwrap_or(gap);
    let mut out = vec![0];
    for i in 1..n {
        let last = out.last().copied().unwrap_or(0);
        if (i + 1) % k == 0 && i - last >= gap {
            out.push(i);
        }
    }
    let last = out.last().copied().unwrap_or(0);
    if n > 1 && last != n - 1 && n - 1 - last >= gap {
        out.push(n - 1);
    }
    out
}

/// An x value (step or epoch) as a tick label.
fn format_x(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 && v.abs() < 1e9 { format!("{}", v.round() as i64) } else { numfmt::sig(v) }
}

/// Lays out the legend in rows that wrap at `width`; returns the items and the height.
fn draw_legend(legend: &Legend, x0: f64, top: f64, width: f64) -> (Vec<Item>, f64) {
    let mut out = Vec::new();
    if legend.items.is_empty() && legend.ramp.is_none() {
        return (out, 0.0);
    }
    let mut x = x0;
    let mut row = 0.0;
    let baseline = |row: f64| top + row * LEGEND_ROW + 14.0;
    if let Some(r) = &legend.ramp {
        let w_from = crate::font::text_width(&r.from, LEGEND_SIZE);
        let ramp_w = 110.0;
        let y = baseline(row);
        out.push(Item::Text(Text::new(x, y, r.from.clone(), LEGEND_SIZE, colormap::TEXT)));
        let rx = x + w_from + 6.0;
        let steps = 24;
        for s in 0..steps {
            let t = r.t0 + (r.t1 - r.t0) * (f64::from(s) + 0.5) / f64::from(steps);
            out.push(Item::Rect {
                x: rx + f64::from(s) * ramp_w / f64::from(steps),
                y: y - 10.0,
                w: ramp_w / f64::from(steps) + 0.4,
                h: 11.0,
                fill: Some(colormap::viridis(t)),
                stroke: None,
            });
        }
        out.push(Item::Text(Text::new(rx + ramp_w + 6.0, y, r.to.clone(), LEGEND_SIZE, colormap::TEXT)));
        x = rx + ramp_w + 6.0 + crate::font::text_width(&r.to, LEGEND_SIZE) + 26.0;
    }
    for item in &legend.items {
        let w = 30.0 + crate::font::text_width(&item.label, LEGEND_SIZE);
        if x + w > x0 + width && x > x0 {
            x = x0;
            row += 1.0;
        }
        let y = baseline(row);
        match item.swatch {
            Swatch::Line(dash) => out.push(Item::Line {
                x1: x,
                y1: y - 4.0,
                x2: x + 24.0,
                y2: y - 4.0,
                stroke: Stroke { color: item.color, width: 2.0, dash },
            }),
            Swatch::Box => {
                out.push(Item::Rect { x: x + 5.0, y: y - 10.0, w: 12.0, h: 12.0, fill: Some(item.color), stroke: None })
            }
            Swatch::ZeroMarker => out.push(zero_marker(x + 11.0, y - 4.0)),
        }
        out.push(Item::Text(Text::new(x + 27.0, y, item.label.clone(), LEGEND_SIZE, colormap::TEXT)));
        x += w + 18.0;
    }
    (out, (row + 1.0) * LEGEND_ROW)
}

/// Greedy word wrap to `width` pixels at `size`.
pub fn wrap(text: &str, size: f64, width: f64) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let candidate = if line.is_empty() { word.to_string() } else { format!("{line} {word}") };
        if crate::font::text_width(&candidate, size) > width && !line.is_empty() {
            lines.push(std::mem::take(&mut line));
            line = word.to_string();
        } else {
            line = candidate;
        }
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// `text`, cut with an ellipsis to fit `width` pixels at `size`.
fn fit(text: &str, size: f64, width: f64) -> String {
    if crate::font::text_width(text, size) <= width {
        return text.to_string();
    }
    let mut s: String = text.to_string();
    while !s.is_empty() && crate::font::text_width(&format!("{s}…"), size) > width {
        s.pop();
    }
    format!("{}…", s.trim_end())
}

/// A thin grey frame around a plot box (for panels whose cells may all be white).
fn frame(out: &mut Vec<Item>, b: PlotBox) {
    out.push(Item::Rect {
        x: b.x0,
        y: b.top,
        w: b.x1 - b.x0,
        h: b.bottom - b.top,
        fill: None,
        stroke: Some(Stroke::solid(colormap::GRID, 1.0)),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line_fig(values: Vec<f64>) -> Figure {
        Figure {
            slug: "t".into(),
            title: "Test".into(),
            body: Body::Lines(Lines {
                x: Axis::new("step", AxisKind::Tight).integer(),
                panels: vec![LinePanel {
                    title: "a".into(),
                    y: Axis::new("norm", AxisKind::Log),
                    series: vec![Series {
                        name: "layer 1".into(),
                        color: colormap::BLACK,
                        dash: Dash::Solid,
                        width: 1.5,
                        points: values.into_iter().enumerate().map(|(i, v)| (i as f64, v)).collect(),
                        markers: false,
                    }],
                    annotations: vec![],
                    empty: None,
                    x: None,
                    references: vec![],
                    events: vec![],
                }],
                share_y: true,
                references: vec![],
            }),
            legend: Legend::default(),
            notes: vec![],
            columns: None,
        }
    }

    #[test]
    fn zeros_on_a_log_axis_are_marked_and_noted() {
        let r = render(&line_fig(vec![1e-3, 0.0, 1e-5]));
        assert_eq!(r.series, 1);
        let svg = crate::svg::to_svg(&r.scene);
        assert!(svg.contains("exactly 0 (underflow)"), "the floor note is missing");
        let doc = roxmltree::Document::parse(&svg).expect("well-formed");
        // The zero marker is a filled red triangle inside the series.
        let series = doc.descendants().find(|n| n.attribute("class") == Some("series")).expect("series");
        assert!(series.descendants().any(|n| n.attribute("fill") == Some("#c62828")));
        let r = render(&line_fig(vec![1e-3, 1e-5]));
        assert!(!crate::svg::to_svg(&r.scene).contains("underflow"));
    }

    #[test]
    fn every_text_in_a_figure_can_be_drawn_by_the_font() {
        let r = render(&line_fig(vec![1e-3, 0.0, 1e-5]));
        for t in r.scene.texts() {
            for s in &t.spans {
                assert!(s.text.chars().all(crate::font::has_glyph), "{:?}", s.text);
            }
        }
    }

    #[test]
    fn labels_thin_out_without_crowding() {
        assert_eq!(thin_labels(4, 100.0, 20.0), [0, 1, 2, 3]);
        // 50 layers in 590 px: layer 1, then even layers, up to 50.
        let l = thin_labels(50, 11.8, 19.0);
        assert_eq!(l.first(), Some(&0));
        assert_eq!(l.last(), Some(&49));
        assert!(l.windows(2).all(|w| w[1] - w[0] >= 2));
        // Every 10th of 95, and the last (95) only when it is not next to 90.
        let l = thin_labels(95, 5.0, 40.0);
        assert_eq!(l, [0, 9, 19, 29, 39, 49, 59, 69, 79, 89]);
    }

    #[test]
    fn wrap_and_fit() {
        let lines = wrap("one two three four five six seven", 12.0, 80.0);
        assert!(lines.len() > 1 && lines.iter().all(|l| crate::font::text_width(l, 12.0) <= 80.0 || !l.contains(' ')));
        assert!(fit("a very long axis label indeed", 12.0, 60.0).ends_with('…'));
    }
}
