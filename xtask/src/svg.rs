//! Writes a [`Scene`] as a standalone SVG document: no scripts, no external references, no
//! ids (so that several can be inlined in one HTML page without clashing).

use std::fmt::Write;

use crate::font::CSS_FAMILY;
use crate::scene::{Anchor, Item, SUP_RISE, SUP_SCALE, Scene, Stroke, Text};

/// The SVG document for a scene.
pub fn to_svg(scene: &Scene) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let (w, h) = (num(scene.width), num(scene.height));
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="{}" role="img">"#,
        escape(CSS_FAMILY)
    );
    let _ = writeln!(out, "<title>{}</title>", escape(&scene.title));
    let _ = writeln!(out, r##"<rect x="0" y="0" width="{w}" height="{h}" fill="#ffffff"/>"##);
    for item in &scene.items {
        write_item(&mut out, item);
    }
    out.push_str("</svg>\n");
    out
}

fn write_item(out: &mut String, item: &Item) {
    match item {
        Item::Rect { x, y, w, h, fill, stroke } => {
            let _ = writeln!(
                out,
                r#"<rect x="{}" y="{}" width="{}" height="{}"{}{}/>"#,
                num(*x),
                num(*y),
                num(w.max(0.0)),
                num(h.max(0.0)),
                fill_attr(*fill),
                stroke_attr(stroke.as_ref())
            );
        }
        Item::Line { x1, y1, x2, y2, stroke } => {
            let _ = writeln!(
                out,
                r#"<line x1="{}" y1="{}" x2="{}" y2="{}"{}/>"#,
                num(*x1),
                num(*y1),
                num(*x2),
                num(*y2),
                stroke_attr(Some(stroke))
            );
        }
        Item::Path { points, closed, fill, stroke } => {
            if points.is_empty() {
                return;
            }
            let mut d = String::with_capacity(points.len() * 14);
            for (i, (x, y)) in points.iter().enumerate() {
                let _ = write!(d, "{}{},{}", if i == 0 { "M" } else { " L" }, num(*x), num(*y));
            }
            if *closed {
                d.push_str(" Z");
            }
            let fill = if fill.is_some() { fill_attr(*fill) } else { r#" fill="none""#.to_string() };
            let _ = writeln!(
                out,
                r#"<path d="{d}"{fill}{} stroke-linejoin="round" stroke-linecap="round"/>"#,
                stroke_attr(stroke.as_ref())
            );
        }
        Item::Circle { cx, cy, r, fill, stroke } => {
            let _ = writeln!(
                out,
                r#"<circle cx="{}" cy="{}" r="{}"{}{}/>"#,
                num(*cx),
                num(*cy),
                num(*r),
                fill_attr(*fill),
                stroke_attr(stroke.as_ref())
            );
        }
        Item::Text(t) => write_text(out, t),
        Item::Group { attrs, items } => {
            out.push_str("<g");
            for (k, v) in attrs {
                let _ = write!(out, r#" {}="{}""#, escape(k), escape(v));
            }
            out.push_str(">\n");
            for item in items {
                write_item(out, item);
            }
            out.push_str("</g>\n");
        }
    }
}

fn write_text(out: &mut String, t: &Text) {
    let anchor = match t.anchor {
        Anchor::Start => "",
        Anchor::Middle => r#" text-anchor="middle""#,
        Anchor::End => r#" text-anchor="end""#,
    };
    let rotate = if t.rotate == 0.0 {
        String::new()
    } else {
        format!(r#" transform="rotate({} {} {})""#, num(t.rotate), num(t.x), num(t.y))
    };
    let _ = write!(
        out,
        r#"<text x="{}" y="{}" font-size="{}" fill="{}"{anchor}{rotate}>"#,
        num(t.x),
        num(t.y),
        num(t.size),
        t.color.hex()
    );
    // Superscripts are raised with dy (which every browser supports, unlike
    // baseline-shift), and the baseline is restored for any text after them.
    let rise = t.size * SUP_RISE;
    let mut raised = false;
    for span in &t.spans {
        if span.superscript && !raised {
            let _ = write!(out, r#"<tspan dy="{}" font-size="{}">"#, num(-rise), num(t.size * SUP_SCALE));
            raised = true;
        } else if !span.superscript && raised {
            let _ = write!(out, r#"<tspan dy="{}">"#, num(rise));
            raised = false;
        } else {
            out.push_str("<tspan>");
        }
        out.push_str(&escape(&span.text));
        out.push_str("</tspan>");
    }
    out.push_str("</text>\n");
}

fn fill_attr(fill: Option<crate::colormap::Color>) -> String {
    match fill {
        Some(c) => format!(r#" fill="{}""#, c.hex()),
        None => r#" fill="none""#.to_string(),
    }
}

fn stroke_attr(stroke: Option<&Stroke>) -> String {
    let Some(s) = stroke else { return String::new() };
    let mut a = format!(r#" stroke="{}" stroke-width="{}""#, s.color.hex(), num(s.width));
    if let Some([on, off]) = s.dash.pattern(s.width) {
        let _ = write!(a, r#" stroke-dasharray="{} {}""#, num(on), num(off));
    }
    a
}

/// A coordinate with at most two decimals and no trailing zeros, to keep files small.
pub fn num(v: f64) -> String {
    if !v.is_finite() {
        return "0".to_string();
    }
    let s = format!("{v:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".to_string() } else { s.to_string() }
}

/// Escapes text for XML content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::colormap::{BLACK, Color};
    use crate::scene::Span;

    #[test]
    fn writes_well_formed_xml_with_escaped_text() {
        let mut s = Scene::new(100.0, 50.0, "a <title> & \"quotes\"");
        s.push(Item::Group {
            attrs: vec![("class".into(), "series".into()), ("data-series".into(), "layer <1>".into())],
            items: vec![Item::Path {
                points: vec![(0.0, 0.0), (10.5, 20.25)],
                closed: false,
                fill: None,
                stroke: Some(Stroke::solid(Color::rgb(0x123456), 1.5)),
            }],
        });
        s.push(Item::Text(Text::new(5.0, 5.0, "", 10.0, BLACK).spans(vec![
            Span { text: "10".into(), superscript: false },
            Span { text: "−3".into(), superscript: true },
        ])));
        let svg = to_svg(&s);
        let doc = roxmltree::Document::parse(&svg).expect("well-formed");
        assert_eq!(doc.descendants().filter(|n| n.attribute("class") == Some("series")).count(), 1);
        assert!(svg.contains("M0,0 L10.5,20.25"));
        assert_eq!(num(-0.001), "0");
        assert_eq!(num(3.0), "3");
    }
}
