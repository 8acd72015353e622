//! Colours: the sequential map for layers and heatmaps (viridis, dark to bright), the
//! categorical palette for models and runs, and the fixed colours of the page.

/// An sRGB colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Color {
    pub r: u8,
    pub g: u8,
    pub b: u8,
}

impl Color {
    pub const fn rgb(hex: u32) -> Color {
        Color { r: (hex >> 16) as u8, g: (hex >> 8) as u8, b: hex as u8 }
    }

    /// `#rrggbb`.
    pub fn hex(self) -> String {
        format!("#{:02x}{:02x}{:02x}", self.r, self.g, self.b)
    }
}

pub const BLACK: Color = Color::rgb(0x000000);
pub const WHITE: Color = Color::rgb(0xffffff);
pub const TEXT: Color = Color::rgb(0x222222);
pub const MUTED: Color = Color::rgb(0x666666);
pub const AXIS: Color = Color::rgb(0x444444);
pub const GRID: Color = Color::rgb(0xe4e4e4);
pub const FLOOR: Color = Color::rgb(0xfbe9e7);
pub const ALERT: Color = Color::rgb(0xc62828);
pub const REFERENCE: Color = Color::rgb(0x888888);
/// The heatmap colour of an exact zero: darker than the darkest value, as vanishing is.
pub const ZERO_CELL: Color = Color::rgb(0x000000);
/// The heatmap colour of a cell with no measurement.
pub const MISSING_CELL: Color = Color::rgb(0xf0f0f0);

/// Viridis sampled at 0, 0.1, …, 1 (matplotlib's values); perceptually uniform, readable
/// in grey and by colour-blind readers, dark for small and bright for large.
const VIRIDIS: [u32; 11] =
    [0x440154, 0x482475, 0x414487, 0x355f8d, 0x2a788e, 0x21918c, 0x22a884, 0x44bf70, 0x7ad151, 0xbddf26, 0xfde725];

/// Viridis at `t` in [0, 1] (clamped), interpolated linearly between the samples.
pub fn viridis(t: f64) -> Color {
    let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) };
    let x = t * (VIRIDIS.len() - 1) as f64;
    let i = (x.floor() as usize).min(VIRIDIS.len() - 2);
    let f = x - i as f64;
    let (a, b) = (Color::rgb(VIRIDIS[i]), Color::rgb(VIRIDIS[i + 1]));
    let mix = |p: u8, q: u8| (f64::from(p) + (f64::from(q) - f64::from(p)) * f).round() as u8;
    Color { r: mix(a.r, b.r), g: mix(a.g, b.g), b: mix(a.b, b.b) }
}

/// The colour of layer `layer` (1-based) of `count`: first layer dark, last layer bright.
/// The bright end stops short of viridis's yellow, which is too faint as a line on white.
pub fn layer_color(layer: u32, count: u32) -> Color {
    viridis(layer_t(layer, count))
}

/// The position on the map of layer `layer` of `count` (see [`layer_color`]).
pub fn layer_t(layer: u32, count: u32) -> f64 {
    const BRIGHTEST: f64 = 0.88;
    if count <= 1 {
        return 0.0;
    }
    f64::from(layer.saturating_sub(1).min(count - 1)) / f64::from(count - 1) * BRIGHTEST
}

/// Tableau's ten categorical colours, for models and runs.
const CATEGORICAL: [u32; 10] =
    [0x1f77b4, 0xff7f0e, 0x2ca02c, 0xd62728, 0x9467bd, 0x8c564b, 0xe377c2, 0x7f7f7f, 0xbcbd22, 0x17becf];

/// The `i`-th categorical colour (cycling after ten).
pub fn categorical(i: usize) -> Color {
    Color::rgb(CATEGORICAL[i % CATEGORICAL.len()])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn viridis_ends_and_midpoint() {
        assert_eq!(viridis(0.0).hex(), "#440154");
        assert_eq!(viridis(1.0).hex(), "#fde725");
        assert_eq!(viridis(0.5).hex(), "#21918c");
        assert_eq!(viridis(-3.0), viridis(0.0));
        assert_eq!(viridis(f64::NAN), viridis(0.0));
    }

    #[test]
    fn layers_run_dark_to_bright() {
        let lum = |c: Color| 0.2126 * f64::from(c.r) + 0.7152 * f64::from(c.g) + 0.0722 * f64::from(c.b);
        let colors: Vec<Color> = (1..=5).map(|l| layer_color(l, 5)).collect();
        assert!(colors.windows(2).all(|w| lum(w[0]) < lum(w[1])));
        assert_eq!(layer_color(1, 1), viridis(0.0));
    }
}
