//! Rasterizes a [`Scene`] to PNG with tiny-skia, drawing text from the embedded font's
//! glyph outlines, so that PNG output needs no system fonts and no SVG parser.
//!
//! The PNG file itself is written here (signature, IHDR, one zlib IDAT, IEND, some 35
//! lines) rather than by tiny-skia's `png-format` feature or the `png` crate. Re-checked
//! with `cargo tree -e features` for png 0.18: it switches on crc32fast's `default` and
//! simd-adler32's `std` and `const-generics`, crates that `train` builds too (through
//! flate2) without them, so that `cargo test --workspace` would build them, and everything
//! above them, a second time. The workspace-hack could pin those features, at the cost of
//! a new feature set, and so one rebuild, in every checkout that has a build: more than the
//! 35 lines are worth.

use std::io::Write as _;

use tiny_skia::{FillRule, LineCap, LineJoin, Paint, PathBuilder, Pixmap, Rect, StrokeDash, Transform};

use crate::colormap::Color;
use crate::font;
use crate::scene::{Anchor, Item, SUP_RISE, SUP_SCALE, Scene, Stroke, Text, spans_width};

/// The PNG bytes of `scene`, drawn at `scale` device pixels per SVG pixel.
pub fn to_png(scene: &Scene, scale: f64) -> Result<Vec<u8>, String> {
    let w = (scene.width * scale).ceil().max(1.0) as u32;
    let h = (scene.height * scale).ceil().max(1.0) as u32;
    let mut pixmap = Pixmap::new(w, h).ok_or_else(|| format!("cannot allocate a {w}×{h} image"))?;
    pixmap.fill(tiny_skia::Color::WHITE);
    let face = font::face().ok_or("the embedded font cannot be read")?;
    let base = Transform::from_scale(scale as f32, scale as f32);
    let mut painter = Painter { pixmap: &mut pixmap, base, face };
    for item in &scene.items {
        painter.item(item);
    }
    encode_png(&pixmap).map_err(|e| format!("PNG encoding failed: {e}"))
}

/// The PNG file of a pixmap: 8-bit RGBA, filter type 0 on every row, zlib-compressed.
fn encode_png(pixmap: &Pixmap) -> std::io::Result<Vec<u8>> {
    let (w, h) = (pixmap.width(), pixmap.height());
    let mut raw = Vec::with_capacity((w as usize * 4 + 1) * h as usize);
    for row in pixmap.pixels().chunks(w as usize) {
        raw.push(0); // Filter type 0 (none) for this scanline.
        for p in row {
            let c = p.demultiply();
            raw.extend_from_slice(&[c.red(), c.green(), c.blue(), c.alpha()]);
        }
    }
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(&raw)?;
    let idat = z.finish()?;
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    // Bit depth 8, colour type 6 (RGBA), deflate, adaptive filtering, no interlace.
    ihdr.extend_from_slice(&[8, 6, 0, 0, 0]);
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    for (kind, data) in [(b"IHDR", &ihdr[..]), (b"IDAT", &idat[..]), (b"IEND", &[][..])] {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut crc = flate2::Crc::new();
        crc.update(kind);
        crc.update(data);
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        out.extend_from_slice(&crc.sum().to_be_bytes());
    }
    Ok(out)
}

struct Painter<'a> {
    pixmap: &'a mut Pixmap,
    base: Transform,
    face: &'a ttf_parser::Face<'a>,
}

impl Painter<'_> {
    fn item(&mut self, item: &Item) {
        match item {
            Item::Rect { x, y, w, h, fill, stroke } => {
                let Some(rect) = Rect::from_xywh(*x as f32, *y as f32, w.max(0.0) as f32, h.max(0.0) as f32) else {
                    return;
                };
                let path = PathBuilder::from_rect(rect);
                self.fill_stroke(&path, *fill, stroke.as_ref());
            }
            Item::Line { x1, y1, x2, y2, stroke } => {
                let mut pb = PathBuilder::new();
                pb.move_to(*x1 as f32, *y1 as f32);
                pb.line_to(*x2 as f32, *y2 as f32);
                if let Some(path) = pb.finish() {
                    self.fill_stroke(&path, None, Some(stroke));
                }
            }
            Item::Path { points, closed, fill, stroke } => {
                let mut pb = PathBuilder::new();
                for (i, (x, y)) in points.iter().enumerate() {
                    if i == 0 {
                        pb.move_to(*x as f32, *y as f32);
                    } else {
                        pb.line_to(*x as f32, *y as f32);
                    }
                }
                if *closed {
                    pb.close();
                }
                if let Some(path) = pb.finish() {
                    self.fill_stroke(&path, *fill, stroke.as_ref());
                }
            }
            Item::Circle { cx, cy, r, fill, stroke } => {
                if let Some(path) = PathBuilder::from_circle(*cx as f32, *cy as f32, *r as f32) {
                    self.fill_stroke(&path, *fill, stroke.as_ref());
                }
            }
            Item::Text(t) => self.text(t),
            Item::Group { items, .. } => {
                for item in items {
                    self.item(item);
                }
            }
        }
    }

    fn fill_stroke(&mut self, path: &tiny_skia::Path, fill: Option<Color>, stroke: Option<&Stroke>) {
        if let Some(c) = fill {
            self.pixmap.fill_path(path, &paint(c), FillRule::Winding, self.base, None);
        }
        if let Some(s) = stroke {
            let mut st = tiny_skia::Stroke {
                width: s.width as f32,
                line_join: LineJoin::Round,
                line_cap: if s.dash == crate::scene::Dash::Dotted { LineCap::Round } else { LineCap::Butt },
                ..tiny_skia::Stroke::default()
            };
            if let Some([on, off]) = s.dash.pattern(s.width) {
                st.dash = StrokeDash::new(vec![on as f32, off as f32], 0.0);
            }
            self.pixmap.stroke_path(path, &paint(s.color), &st, self.base, None);
        }
    }

    /// Draws text as filled glyph outlines, laid out with the font's advances (the same
    /// widths `scene::Text::width` measures for layout).
    fn text(&mut self, t: &Text) {
        let width = spans_width(&t.spans, t.size);
        let shift = match t.anchor {
            Anchor::Start => 0.0,
            Anchor::Middle => -width / 2.0,
            Anchor::End => -width,
        };
        let upem = f64::from(self.face.units_per_em());
        let mut pb = PathBuilder::new();
        let mut cursor = shift;
        for span in &t.spans {
            let (size, rise) = if span.superscript { (t.size * SUP_SCALE, -t.size * SUP_RISE) } else { (t.size, 0.0) };
            let s = size / upem;
            for c in span.text.chars() {
                let gid = font::glyph(self.face, c);
                let mut outline = Outline { pb: &mut pb, x: cursor, y: rise, s };
                let _ = self.face.outline_glyph(gid, &mut outline);
                cursor += f64::from(self.face.glyph_hor_advance(gid).unwrap_or(0)) * s;
            }
        }
        let Some(path) = pb.finish() else { return };
        let transform = self.base.pre_translate(t.x as f32, t.y as f32).pre_rotate(t.rotate as f32);
        self.pixmap.fill_path(&path, &paint(t.color), FillRule::Winding, transform, None);
    }
}

fn paint(c: Color) -> Paint<'static> {
    let mut p = Paint::default();
    p.set_color_rgba8(c.r, c.g, c.b, 255);
    p.anti_alias = true;
    p
}

/// Receives a glyph's outline in font units and adds it to the path in pixels, with the y
/// axis flipped (fonts point up, images down).
struct Outline<'a> {
    pb: &'a mut PathBuilder,
    x: f64,
    y: f64,
    s: f64,
}

impl Outline<'_> {
    fn p(&self, x: f32, y: f32) -> (f32, f32) {
        ((self.x + f64::from(x) * self.s) as f32, (self.y - f64::from(y) * self.s) as f32)
    }
}

impl ttf_parser::OutlineBuilder for Outline<'_> {
    fn move_to(&mut self, x: f32, y: f32) {
        let (x, y) = self.p(x, y);
        self.pb.move_to(x, y);
    }

    fn line_to(&mut self, x: f32, y: f32) {
        let (x, y) = self.p(x, y);
        self.pb.line_to(x, y);
    }

    fn quad_to(&mut self, x1: f32, y1: f32, x: f32, y: f32) {
        let (x1, y1) = self.p(x1, y1);
        let (x, y) = self.p(x, y);
        self.pb.quad_to(x1, y1, x, y);
    }

    fn curve_to(&mut self, x1: f32, y1: f32, x2: f32, y2: f32, x: f32, y: f32) {
        let (x1, y1) = self.p(x1, y1);
        let (x2, y2) = self.p(x2, y2);
        let (x, y) = self.p(x, y);
        self.pb.cubic_to(x1, y1, x2, y2, x, y);
    }

    fn close(&mut self) {
        self.pb.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::colormap::BLACK;

    #[test]
    fn draws_text_and_shapes_into_a_png() {
        let mut s = Scene::new(120.0, 40.0, "t");
        s.push(Item::Text(Text::new(4.0, 24.0, "Layer 1", 16.0, BLACK)));
        s.push(Item::Line { x1: 0.0, y1: 35.0, x2: 120.0, y2: 35.0, stroke: Stroke::solid(BLACK, 2.0) });
        let bytes = to_png(&s, 1.0).expect("renders");
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        // Read the file back by hand: IHDR's size, and the pixels of the one IDAT chunk.
        let (mut at, mut idat, mut size) = (8, Vec::new(), (0, 0));
        while at < bytes.len() {
            let len = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
            let (kind, data) = (&bytes[at + 4..at + 8], &bytes[at + 8..at + 8 + len]);
            let mut crc = flate2::Crc::new();
            crc.update(&bytes[at + 4..at + 8 + len]);
            assert_eq!(crc.sum().to_be_bytes(), bytes[at + 8 + len..at + 12 + len], "chunk CRC");
            match kind {
                b"IHDR" => size = (u32::from_be_bytes(data[0..4].try_into().unwrap()), u32::from_be_bytes(data[4..8].try_into().unwrap())),
                b"IDAT" => idat.extend_from_slice(data),
                _ => {}
            }
            at += 12 + len;
        }
        assert_eq!(size, (120, 40));
        let mut raw = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::ZlibDecoder::new(&idat[..]), &mut raw).unwrap();
        let stride = 120 * 4 + 1;
        assert_eq!(raw.len(), stride * 40);
        let red = |x: usize, y: usize| raw[y * stride + 1 + x * 4];
        // Some pixels in the text's box are dark: the glyphs were drawn.
        let dark = (4..70).flat_map(|x| (8..26).map(move |y| (x, y))).filter(|&(x, y)| red(x, y) < 100);
        assert!(dark.count() > 20);
    }
}
