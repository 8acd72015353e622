//! Number formatting for labels, tables and readings: short, and exact in magnitude even
//! for the 1e-30 gradients that a deep sigmoid net produces.

/// `v` with 2 significant digits: plain between 0.01 and 1000 (`0.87`, `12`, `240`),
/// scientific elsewhere (`3.2e-4`, `1e-30`), `0` for zero.
pub fn sig(v: f64) -> String {
    sig_n(v, 2)
}

/// `v` with `digits` significant digits (at least 1), in the style of [`sig`].
pub fn sig_n(v: f64, digits: usize) -> String {
    let digits = digits.max(1);
    if v == 0.0 {
        return "0".to_string();
    }
    if !v.is_finite() {
        return if v.is_nan() {
            "NaN".to_string()
        } else if v > 0.0 {
            "inf".to_string()
        } else {
            "-inf".to_string()
        };
    }
    let (mantissa, exp) = split(v.abs(), digits);
    let sign = if v < 0.0 { "-" } else { "" };
    if (-2..3).contains(&exp) {
        let decimals = usize::try_from((digits as i32 - 1 - exp).max(0)).unwrap_or(0);
        let rounded = mantissa * 10f64.powi(exp);
        format!("{sign}{rounded:.decimals$}")
    } else {
        let m = format!("{mantissa:.prec$}", prec = digits - 1);
        // "1.0e-30" reads better as "1e-30"; other mantissas keep their digits.
        let m = if m.contains('.') { m.trim_end_matches('0').trim_end_matches('.').to_string() } else { m };
        format!("{sign}{m}e{exp}")
    }
}

/// Splits a positive finite `v` into a mantissa in [1, 10) rounded to `digits` significant
/// digits, and a power of ten.
fn split(v: f64, digits: usize) -> (f64, i32) {
    let mut exp = v.log10().floor() as i32;
    let scale = 10f64.powi(digits as i32 - 1);
    let mut mantissa = (v / 10f64.powi(exp) * scale).round() / scale;
    // Rounding can carry the mantissa to 10 (9.96 → 10.0), and log10 can land one off.
    if mantissa >= 10.0 {
        mantissa /= 10.0;
        exp += 1;
    } else if mantissa < 1.0 {
        mantissa *= 10.0;
        exp -= 1;
    }
    (mantissa, exp)
}

/// A fraction in [0, 1] as a percentage with one decimal when it helps (`92.1%`, `100%`).
pub fn percent(fraction: f64) -> String {
    let p = fraction * 100.0;
    if !p.is_finite() {
        return "—".to_string();
    }
    if (p - p.round()).abs() < 0.05 { format!("{:.0}%", p.round()) } else { format!("{p:.1}%") }
}

/// A factor as `1.5×`, `480×` or `72,000×` (scientific only past a billion).
pub fn times(factor: f64) -> String {
    if factor.is_finite() && (1000.0..1e9).contains(&factor) {
        let digits = format!(
            "{:.0}",
            (factor / 10f64.powi(factor.log10().floor() as i32 - 1)).round()
                * 10f64.powi(factor.log10().floor() as i32 - 1)
        );
        let mut grouped = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                grouped.push(',');
            }
            grouped.push(c);
        }
        format!("{grouped}×")
    } else {
        format!("{}×", sig(factor))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn significant_digits() {
        assert_eq!(sig(0.87), "0.87");
        assert_eq!(sig(0.0123), "0.012");
        assert_eq!(sig(12.34), "12");
        assert_eq!(sig(245.0), "250");
        assert_eq!(sig(3.21e-4), "3.2e-4");
        assert_eq!(sig(1e-30), "1e-30");
        assert_eq!(sig(-4.24e-4), "-4.2e-4");
        assert_eq!(sig(9.96e-5), "1e-4");
        assert_eq!(sig(0.0), "0");
        assert_eq!(sig(1234.0), "1.2e3");
        assert_eq!(sig_n(0.0921875, 3), "0.0922");
    }

    #[test]
    fn percentages() {
        assert_eq!(percent(0.921), "92.1%");
        assert_eq!(percent(1.0), "100%");
        assert_eq!(percent(0.1), "10%");
    }

    #[test]
    fn factors() {
        assert_eq!(times(1.54), "1.5×");
        assert_eq!(times(480.0), "480×");
        assert_eq!(times(72_345.0), "72,000×");
        assert_eq!(times(3.2e5), "320,000×");
        assert_eq!(times(2.5e12), "2.5e12×");
    }
}
