//! Axis scales: the mapping from data to pixels and the choice of readable ticks, for
//! linear axes and for log axes (with a marked floor for exact zeros, which a log axis
//! cannot otherwise show).

use crate::numfmt;

/// A tick label: plain text, or a power of ten drawn as 10 with a superscript.
#[derive(Clone, Debug, PartialEq)]
pub enum Label {
    Plain(String),
    Power(i32),
}

impl Label {
    /// The label as plain text (`10^-3` as `1e-3`), for tests and logs.
    pub fn text(&self) -> String {
        match self {
            Label::Plain(s) => s.clone(),
            Label::Power(k) => format!("1e{k}"),
        }
    }
}

/// One tick: where, whether it is a major (gridline) tick, and its label if it has one.
#[derive(Clone, Debug, PartialEq)]
pub struct Tick {
    pub value: f64,
    pub major: bool,
    pub label: Option<Label>,
}

/// How many pixels the floor strip of a log axis takes (the zeros are drawn in its middle).
pub const FLOOR_STRIP: f64 = 16.0;

/// A scale fitted to data.
#[derive(Clone, Debug, PartialEq)]
pub enum Scale {
    Linear {
        lo: f64,
        hi: f64,
    },
    /// Whole decades 10^lo ..= 10^hi; `floor` reserves a strip below for values ≤ 0.
    Log {
        lo: i32,
        hi: i32,
        floor: bool,
    },
}

impl Scale {
    /// A linear scale over the values (non-finite ones ignored), widened to nice ticks.
    /// `include_zero` keeps 0 on the axis (for shares and losses).
    pub fn linear(values: impl IntoIterator<Item = f64>, include_zero: bool) -> Scale {
        let (mut lo, mut hi) = min_max(values.into_iter().filter(|v| v.is_finite())).unwrap_or((0.0, 1.0));
        if include_zero {
            lo = lo.min(0.0);
            hi = hi.max(0.0);
        }
        if hi - lo <= f64::EPSILON * hi.abs().max(1.0) {
            let pad = if hi == 0.0 { 1.0 } else { hi.abs() * 0.1 };
            lo -= if include_zero && lo == 0.0 { 0.0 } else { pad };
            hi += pad;
        }
        let step = nice_step((hi - lo) / 5.0);
        Scale::Linear { lo: (lo / step + 1e-9).floor() * step, hi: (hi / step - 1e-9).ceil() * step }
    }

    /// A linear scale with a fixed range (for example 0 to 100 %).
    pub fn fixed(lo: f64, hi: f64) -> Scale {
        Scale::Linear { lo, hi }
    }

    /// A log scale over whole decades spanning the positive values; values ≤ 0 (underflow)
    /// switch on the floor. With no positive value at all it shows 10^-1 ..= 10^0.
    pub fn log(values: impl IntoIterator<Item = f64>) -> Scale {
        let mut floor = false;
        let mut range: Option<(f64, f64)> = None;
        for v in values {
            if !v.is_finite() {
                continue;
            }
            if v <= 0.0 {
                floor = true;
                continue;
            }
            let l = v.log10();
            range = Some(range.map_or((l, l), |(a, b)| (a.min(l), b.max(l))));
        }
        let (lo, hi) = match range {
            Some((a, b)) => ((a + 1e-9).floor() as i32, (b - 1e-9).ceil() as i32),
            None => (-1, 0),
        };
        let hi = if hi <= lo { lo + 1 } else { hi };
        Scale::Log { lo, hi, floor }
    }

    /// Whether this is a log scale with a floor strip for zeros.
    pub fn has_floor(&self) -> bool {
        matches!(self, Scale::Log { floor: true, .. })
    }

    /// The pixel position of `v` on an axis drawn from `p0` (the low end) to `p1` (the high
    /// end); either may be the larger, so the same code serves x and (inverted) y axes.
    pub fn pos(&self, v: f64, p0: f64, p1: f64) -> f64 {
        match *self {
            Scale::Linear { lo, hi } => p0 + (v - lo) / (hi - lo) * (p1 - p0),
            Scale::Log { lo, hi, floor } => {
                let dir = (p1 - p0).signum();
                let start = if floor { p0 + dir * FLOOR_STRIP } else { p0 };
                if v.is_nan() || v <= 0.0 {
                    // Zeros sit in the middle of the floor strip (or on the axis without one).
                    return if floor { p0 + dir * FLOOR_STRIP * 0.4 } else { p0 };
                }
                let l = v.log10();
                start + (l - f64::from(lo)) / f64::from(hi - lo) * (p1 - start)
            }
        }
    }

    /// The ticks, at most about `max_labels` of them labelled.
    pub fn ticks(&self, max_labels: usize) -> Vec<Tick> {
        match *self {
            Scale::Linear { lo, hi } => linear_ticks(lo, hi, max_labels),
            Scale::Log { lo, hi, .. } => log_ticks(lo, hi, max_labels),
        }
    }
}

/// The smallest and largest of the values.
pub fn min_max(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    values.fold(None, |acc, v| Some(acc.map_or((v, v), |(a, b): (f64, f64)| (a.min(v), b.max(v)))))
}

/// A 1, 2 or 5 times a power of ten at or above `raw`.
pub fn nice_step(raw: f64) -> f64 {
    if !(raw.is_finite() && raw > 0.0) {
        return 1.0;
    }
    let p = 10f64.powf(raw.log10().floor());
    let f = raw / p;
    let n = if f <= 1.0 + 1e-9 {
        1.0
    } else if f <= 2.0 + 1e-9 {
        2.0
    } else if f <= 5.0 + 1e-9 {
        5.0
    } else {
        10.0
    };
    n * p
}

fn linear_ticks(lo: f64, hi: f64, max_labels: usize) -> Vec<Tick> {
    let span = hi - lo;
    if !(span.is_finite() && span > 0.0) {
        return Vec::new();
    }
    let mut step = nice_step(span / max_labels.max(2) as f64);
    while span / step > max_labels.max(2) as f64 + 1e-9 {
        step = nice_step(step * 1.5);
    }
    let decimals = usize::try_from((-(step.log10().floor() as i32)).max(0)).unwrap_or(0);
    let use_sci = hi.abs().max(lo.abs()) >= 1e5 || step < 1e-4;
    let first = (lo / step - 1e-9).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    (first..=last)
        .map(|i| {
            let v = i as f64 * step;
            // Avoid "-0" at zero.
            let v = if v.abs() < step * 1e-9 { 0.0 } else { v };
            let text = if use_sci { numfmt::sig_n(v, 3) } else { format!("{v:.decimals$}") };
            Tick { value: v, major: true, label: Some(Label::Plain(text)) }
        })
        .collect()
}

fn log_ticks(lo: i32, hi: i32, max_labels: usize) -> Vec<Tick> {
    let span = hi - lo;
    // Label every k-th decade so that at most about max_labels are labelled.
    let k = [1, 2, 3, 4, 5, 10, 20, 25, 50, 100, 200, 500]
        .into_iter()
        .find(|&k| span / k < i32::try_from(max_labels.max(2)).unwrap_or(8))
        .unwrap_or(span.max(1));
    let mut ticks = Vec::new();
    for d in lo..=hi {
        let labelled = d.rem_euclid(k) == 0;
        ticks.push(Tick { value: 10f64.powi(d), major: labelled, label: labelled.then_some(Label::Power(d)) });
        // With few decades, the 2..9 multiples help to read values off; with one decade,
        // 2 and 5 are labelled too.
        if span <= 3 && d < hi {
            for m in 2..=9 {
                let v = f64::from(m) * 10f64.powi(d);
                let label = (span == 1 && (m == 2 || m == 5)).then(|| Label::Plain(numfmt::sig(v)));
                ticks.push(Tick { value: v, major: false, label });
            }
        }
    }
    ticks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_scale_spans_whole_decades_of_the_data() {
        let s = Scale::log([3e-6, 0.02, 0.5]);
        assert_eq!(s, Scale::Log { lo: -6, hi: 0, floor: false });
        let s = Scale::log([1e-3, 1e-1]);
        assert_eq!(s, Scale::Log { lo: -3, hi: -1, floor: false });
        let s = Scale::log([0.0, 2e-4]);
        assert_eq!(s, Scale::Log { lo: -4, hi: -3, floor: true });
        assert_eq!(Scale::log([0.0]), Scale::Log { lo: -1, hi: 0, floor: true });
    }

    #[test]
    fn log_ticks_label_decades_and_thin_out_long_spans() {
        let t = Scale::Log { lo: -6, hi: 0, floor: false }.ticks(8);
        let labels: Vec<String> = t.iter().filter_map(|t| t.label.as_ref().map(Label::text)).collect();
        assert_eq!(labels, ["1e-6", "1e-5", "1e-4", "1e-3", "1e-2", "1e-1", "1e0"]);
        let t = Scale::Log { lo: -40, hi: 0, floor: false }.ticks(8);
        let labelled: Vec<f64> = t.iter().filter(|t| t.label.is_some()).map(|t| t.value.log10().round()).collect();
        assert!(labelled.len() <= 9 && labelled.len() >= 4, "{labelled:?}");
        // Short spans get minor ticks at 2..9 and, within one decade, labels at 2 and 5.
        let t = Scale::Log { lo: -3, hi: -2, floor: false }.ticks(8);
        assert_eq!(t.iter().filter(|t| !t.major).count(), 8);
        let labels: Vec<String> = t.iter().filter_map(|t| t.label.as_ref().map(Label::text)).collect();
        assert_eq!(labels, ["1e-3", "2e-3", "5e-3", "1e-2"]);
    }

    #[test]
    fn zeros_go_to_the_floor_below_the_lowest_decade() {
        let s = Scale::Log { lo: -4, hi: 0, floor: true };
        // y axis: low end at pixel 200, high end at 0.
        let zero = s.pos(0.0, 200.0, 0.0);
        let lowest = s.pos(1e-4, 200.0, 0.0);
        let top = s.pos(1.0, 200.0, 0.0);
        assert!(zero > lowest && zero < 200.0, "{zero} {lowest}");
        assert!((lowest - (200.0 - FLOOR_STRIP)).abs() < 1e-9);
        assert!(top.abs() < 1e-9);
    }

    #[test]
    fn linear_ticks_are_nice() {
        let s = Scale::linear([0.13, 0.92], true);
        assert_eq!(s, Scale::Linear { lo: 0.0, hi: 1.0 });
        let labels: Vec<String> = s.ticks(6).iter().filter_map(|t| t.label.as_ref().map(Label::text)).collect();
        assert_eq!(labels, ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"]);
        let s = Scale::linear([1.0, 250.0], false);
        let labels: Vec<String> = s.ticks(6).iter().filter_map(|t| t.label.as_ref().map(Label::text)).collect();
        assert_eq!(labels.first().map(String::as_str), Some("0"));
        assert_eq!(nice_step(0.3), 0.5);
        assert_eq!(nice_step(7.0), 10.0);
    }
}
