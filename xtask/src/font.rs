//! The embedded font, Roboto Regular (Apache-2.0, see `assets/README.md`): text widths for
//! layout, and glyph outlines for the PNG renderer, the same on every machine with no
//! system fonts.

use std::sync::OnceLock;

use ttf_parser::{Face, GlyphId};

static DATA: &[u8] = include_bytes!("../assets/Roboto-Regular.ttf");

/// The `font-family` written into SVG: the embedded font first, then look-alikes, so that a
/// browser without Roboto draws text of nearly the same width as the PNG.
pub const CSS_FAMILY: &str = "Roboto, 'Helvetica Neue', Arial, 'Liberation Sans', sans-serif";

/// The parsed face (`None` only if the embedded file were corrupt, which a test rules out;
/// widths then fall back to an estimate and PNG output reports an error).
pub fn face() -> Option<&'static Face<'static>> {
    static FACE: OnceLock<Option<Face<'static>>> = OnceLock::new();
    FACE.get_or_init(|| Face::parse(DATA, 0).ok()).as_ref()
}

/// The glyph for `c` (the font's "missing" box, glyph 0, where it has none).
pub fn glyph(face: &Face<'_>, c: char) -> GlyphId {
    face.glyph_index(c).unwrap_or(GlyphId(0))
}

/// Whether the font can draw `c` (a test checks every character the figures use).
pub fn has_glyph(c: char) -> bool {
    c.is_whitespace() || face().is_some_and(|f| f.glyph_index(c).is_some())
}

/// The advance width of `text` at `size` pixels.
pub fn text_width(text: &str, size: f64) -> f64 {
    let Some(face) = face() else {
        return text.chars().count() as f64 * size * 0.55;
    };
    let scale = size / f64::from(face.units_per_em());
    text.chars().map(|c| f64::from(face.glyph_hor_advance(glyph(face, c)).unwrap_or(0)) * scale).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_font_parses_and_measures() {
        assert!(face().is_some());
        let w = text_width("layer 1", 12.0);
        assert!(w > 30.0 && w < 50.0, "{w}");
        // Every character the figures and tutorial draw, beyond ASCII.
        let missing: Vec<String> = "−×σ′‖δ≤≥·…“”’%°–—₀₁₂₃⁻⁰¹²³⁴⁵⁶⁷⁸⁹ΔWL"
            .chars()
            .filter(|&c| !has_glyph(c))
            .map(|c| format!("{c:?} (U+{:04X})", c as u32))
            .collect();
        assert!(missing.is_empty(), "the embedded font lacks {}", missing.join(", "));
    }
}
