//! A figure as a display list: rectangles, lines, paths, circles and text in pixel
//! coordinates. `svg` and `png` both draw from it, so the two formats show the same thing.

use crate::colormap::Color;
use crate::font;

/// A line style.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dash {
    Solid,
    Dashed,
    Dotted,
}

impl Dash {
    /// The dash pattern for a line of `width` (`None` for solid).
    pub fn pattern(self, width: f64) -> Option<[f64; 2]> {
        match self {
            Dash::Solid => None,
            Dash::Dashed => Some([5.0 * width.max(1.0), 3.5 * width.max(1.0)]),
            Dash::Dotted => Some([1.2 * width.max(1.0), 2.8 * width.max(1.0)]),
        }
    }
}

/// How a path or shape is outlined.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stroke {
    pub color: Color,
    pub width: f64,
    pub dash: Dash,
}

impl Stroke {
    pub fn solid(color: Color, width: f64) -> Stroke {
        Stroke { color, width, dash: Dash::Solid }
    }
}

/// Where a text's anchor point is along its baseline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Anchor {
    Start,
    Middle,
    End,
}

/// A run of text; a superscript is drawn smaller and raised (the exponent of 10⁻³).
#[derive(Clone, Debug, PartialEq)]
pub struct Span {
    pub text: String,
    pub superscript: bool,
}

/// The size of a superscript relative to its text, and how far it is raised (in sizes).
pub const SUP_SCALE: f64 = 0.72;
pub const SUP_RISE: f64 = 0.42;

/// A line of text at (x, y), y being the baseline, rotated by `rotate` degrees about it.
#[derive(Clone, Debug, PartialEq)]
pub struct Text {
    pub x: f64,
    pub y: f64,
    pub spans: Vec<Span>,
    pub size: f64,
    pub color: Color,
    pub anchor: Anchor,
    pub rotate: f64,
}

impl Text {
    /// Plain text, anchored at its start.
    pub fn new(x: f64, y: f64, text: impl Into<String>, size: f64, color: Color) -> Text {
        Text {
            x,
            y,
            spans: vec![Span { text: text.into(), superscript: false }],
            size,
            color,
            anchor: Anchor::Start,
            rotate: 0.0,
        }
    }

    pub fn anchor(mut self, anchor: Anchor) -> Text {
        self.anchor = anchor;
        self
    }

    pub fn rotate(mut self, degrees: f64) -> Text {
        self.rotate = degrees;
        self
    }

    pub fn spans(mut self, spans: Vec<Span>) -> Text {
        self.spans = spans;
        self
    }

    /// The advance width in pixels, measured with the embedded font.
    pub fn width(&self) -> f64 {
        spans_width(&self.spans, self.size)
    }
}

/// The width of spans at `size`.
pub fn spans_width(spans: &[Span], size: f64) -> f64 {
    spans.iter().map(|s| font::text_width(&s.text, if s.superscript { size * SUP_SCALE } else { size })).sum()
}

/// One thing to draw.
#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    Rect {
        x: f64,
        y: f64,
        w: f64,
        h: f64,
        fill: Option<Color>,
        stroke: Option<Stroke>,
    },
    Line {
        x1: f64,
        y1: f64,
        x2: f64,
        y2: f64,
        stroke: Stroke,
    },
    /// A polyline, or a polygon when `closed`.
    Path {
        points: Vec<(f64, f64)>,
        closed: bool,
        fill: Option<Color>,
        stroke: Option<Stroke>,
    },
    Circle {
        cx: f64,
        cy: f64,
        r: f64,
        fill: Option<Color>,
        stroke: Option<Stroke>,
    },
    Text(Text),
    /// Items that belong together; `attrs` become SVG attributes (`class="series"` marks a
    /// data series, which tests count) and are ignored by the PNG renderer.
    Group {
        attrs: Vec<(String, String)>,
        items: Vec<Item>,
    },
}

/// A whole figure.
#[derive(Clone, Debug, PartialEq)]
pub struct Scene {
    pub width: f64,
    pub height: f64,
    /// The figure's title, also written as the SVG's `<title>` for screen readers.
    pub title: String,
    pub items: Vec<Item>,
}

impl Scene {
    pub fn new(width: f64, height: f64, title: impl Into<String>) -> Scene {
        Scene { width, height, title: title.into(), items: Vec::new() }
    }

    pub fn push(&mut self, item: Item) {
        self.items.push(item);
    }

    /// Every text in the scene, for checks that the font can draw it.
    pub fn texts(&self) -> Vec<&Text> {
        fn walk<'a>(items: &'a [Item], out: &mut Vec<&'a Text>) {
            for item in items {
                match item {
                    Item::Text(t) => out.push(t),
                    Item::Group { items, .. } => walk(items, out),
                    _ => {}
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.items, &mut out);
        out
    }
}
