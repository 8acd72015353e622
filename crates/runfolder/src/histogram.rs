//! The gradient histogram's bins: |g| counted by decade from f32's subnormals to 1e3, with
//! exact zeros and subnormals in bins of their own (`grad_histograms.csv`).
//!
//! Linear bins between a tensor's min and max, as TensorBoard and W&B draw them, put every
//! entry below 1e-8 into the one bin next to zero; a vanishing gradient is a matter of
//! decades, so the bins here are decades.

use std::sync::LazyLock;

/// The decades with a bin of their own: `e` holds |g| in [10^e, 10^(e+1)). 1e-38 is the first
/// decade of f32's normal range (which starts at 1.1755e-38); everything at or above 1e3
/// (and inf or NaN) is [`Bin::Large`].
pub const DECADES: std::ops::RangeInclusive<i32> = -38..=2;

/// The number of bins: zero, subnormal, the decades, large.
pub const COUNT: usize = 44;

/// One bin of the histogram.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Bin {
    /// Exactly 0 (either sign).
    Zero,
    /// Nonzero and below f32's normal range (|g| < 1.1755e-38).
    Subnormal,
    /// |g| in [10^e, 10^(e+1)), e in [`DECADES`].
    Decade(i32),
    /// |g| >= 1e3, or not finite.
    Large,
}

impl Bin {
    /// Its position in [`bins`].
    pub fn index(self) -> usize {
        match self {
            Bin::Zero => 0,
            Bin::Subnormal => 1,
            Bin::Decade(e) => (e - DECADES.start() + 2) as usize,
            Bin::Large => COUNT - 1,
        }
    }

    /// The bin's name in the `bin` column: `zero`, `subnormal`, `1e-38` … `1e2` (the
    /// decade's lower edge), `1e3+`.
    pub fn label(self) -> String {
        match self {
            Bin::Zero => "zero".to_string(),
            Bin::Subnormal => "subnormal".to_string(),
            Bin::Decade(e) => format!("1e{e}"),
            Bin::Large => "1e3+".to_string(),
        }
    }

    /// The bin a `bin` column names, if any.
    pub fn parse(label: &str) -> Option<Bin> {
        match label {
            "zero" => Some(Bin::Zero),
            "subnormal" => Some(Bin::Subnormal),
            "1e3+" => Some(Bin::Large),
            _ => {
                let e: i32 = label.strip_prefix("1e")?.parse().ok()?;
                DECADES.contains(&e).then_some(Bin::Decade(e))
            }
        }
    }

    /// Whether every value in the bin is below 10^e (for the share of entries below 1e-8).
    pub fn is_below(self, e: i32) -> bool {
        match self {
            Bin::Zero | Bin::Subnormal => e > *DECADES.start(),
            Bin::Decade(d) => d < e,
            Bin::Large => false,
        }
    }
}

/// Every bin, in order.
pub fn bins() -> impl Iterator<Item = Bin> {
    [Bin::Zero, Bin::Subnormal].into_iter().chain(DECADES.map(Bin::Decade)).chain([Bin::Large])
}

/// The bin of one value: the reference definition, which [`count`] must agree with.
pub fn bin_of(x: f32) -> Bin {
    let a = x.abs();
    if a == 0.0 {
        Bin::Zero
    } else if !a.is_finite() || a.is_nan() {
        Bin::Large
    } else if a < f32::MIN_POSITIVE {
        Bin::Subnormal
    } else {
        let v = f64::from(a);
        // Compared against the correctly rounded f64 of 10^e (parsed, not `powi`, which may
        // be off by an ulp): no f32 lies between 10^e and its f64 neighbour.
        match DECADES.rev().find(|&e| v >= power_of_ten(e)) {
            Some(e) if v < power_of_ten(e + 1) => Bin::Decade(e),
            Some(_) => Bin::Large,
            None => Bin::Decade(*DECADES.start()),
        }
    }
}

fn power_of_ten(e: i32) -> f64 {
    format!("1e{e}").parse().expect("a power of ten parses")
}

/// The decade edge 10^e as float32 arithmetic sees it: the smallest float32 x with x >= 10^e
/// as real numbers, so that `x >= decade_edge(e)` in float32 is [`bin_of`]'s comparison with
/// 10^e (for a reduction that runs in float32, on a GPU).
pub fn decade_edge(e: i32) -> f32 {
    let p = power_of_ten(e);
    let x = p as f32;
    if f64::from(x) < p { x.next_up() } else { x }
}

/// Per binary exponent (the f32's 8 exponent bits): the bin of the binade's smallest value,
/// and the bit pattern from which on the binade's values fall in the next bin (a binade spans
/// a factor of 2, so it crosses at most one decade edge; `u32::MAX`, beyond every |x|, when it
/// crosses none). Exponent 0 holds zero (bin 0) and the subnormals, which start at pattern 1
/// (bin 1).
///
/// Two tables rather than one packed word: an entry then costs two loads but no shifts or
/// masks to unpack them, and the bin, a byte, indexes counter arrays 256 wide without a
/// bounds check or a mask (86 to 70 us on a dense 100k-entry gradient, medians).
struct Binades {
    low: [u8; 256],
    edge: [u32; 256],
}

static BINADES: LazyLock<Binades> = LazyLock::new(|| {
    let mut t = Binades { low: [Bin::Large.index() as u8; 256], edge: [u32::MAX; 256] };
    (t.low[0], t.edge[0]) = (Bin::Zero.index() as u8, 1);
    for exp in 1..255u32 {
        let first = f32::from_bits(exp << 23);
        let last = f32::from_bits((exp << 23) | 0x7f_ffff);
        let (lo, hi) = (bin_of(first), bin_of(last));
        t.low[exp as usize] = lo.index() as u8;
        if hi != lo {
            // The smallest bit pattern of the binade in the higher bin, by bisection (bin_of is
            // monotonic in |x|, and so in the bits of a positive float).
            let (mut a, mut b) = (exp << 23, (exp << 23) | 0x7f_ffff);
            while a + 1 < b {
                let m = a + (b - a) / 2;
                if bin_of(f32::from_bits(m)) == lo { a = m } else { b = m }
            }
            t.edge[exp as usize] = b;
        }
    }
    t
});

/// Adds the bins of `values` to `counts` (indexed by [`Bin::index`]): two table lookups and
/// one comparison per entry, and the same bins as [`bin_of`].
///
/// A gradient's entries mostly fall in a few neighbouring decades, so one counter array would
/// make each entry's increment wait for the previous one's to the same counter (a chain
/// through memory: 135-168 us on a 100k-entry weight, more than all of a step's other
/// reductions together). Four arrays, one per entry of each group of four, keep four chains
/// going at once, and are summed at the end. They are of u32 so that they take half the
/// cache, which is why the values are counted in parts of fewer than 2^32 entries.
///
/// Eight entries that are all zero (either sign) are counted at once, without a lookup: a
/// first layer's weight gradient has a row of zeros for every input that is 0 in the whole
/// batch (on learner_mnist's first weight, 38% of the entries, in runs of 128), and the test
/// is one OR over the eight, cheap beside eight lookups where they are not all zero. Counting
/// that weight's gradient (saved from a run) took 89 us before these two changes and 50 us
/// after, medians of 3,000 on a loaded machine; a dense gradient of the same size, 89 to 70 us.
pub fn count(values: &[f32], counts: &mut [u64; COUNT]) {
    const LANES: usize = 4;
    let t = &*BINADES;
    let bin = |x: f32| {
        let bits = x.to_bits() & 0x7fff_ffff;
        let exp = (bits >> 23) as usize;
        // Wrapping: a bin is below 44; a checked add in a debug build would add a branch.
        usize::from(t.low[exp].wrapping_add(u8::from(bits >= t.edge[exp])))
    };
    for part in values.chunks(LANES * u32::MAX as usize) {
        let mut lanes = [[0u32; 256]; LANES];
        let mut zeros = 0u64;
        let groups = part.chunks_exact(2 * LANES);
        let rest = groups.remainder();
        for group in groups {
            // The sign bit shifted out: 0 only when all eight are +0 or -0.
            if group.iter().fold(0u32, |acc, x| acc | (x.to_bits() << 1)) == 0 {
                zeros = zeros.wrapping_add(2 * LANES as u64);
                continue;
            }
            for half in group.chunks_exact(LANES) {
                for (lane, &x) in lanes.iter_mut().zip(half) {
                    let b = bin(x);
                    lane[b] = lane[b].wrapping_add(1);
                }
            }
        }
        for &x in rest {
            lanes[0][bin(x)] += 1;
        }
        counts[Bin::Zero.index()] += zeros;
        for (i, c) in counts.iter_mut().enumerate() {
            *c += lanes.iter().map(|lane| u64::from(lane[i])).sum::<u64>();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_agrees_with_the_definition_at_every_decade_edge() {
        for e in DECADES.start() - 1..=DECADES.end() + 2 {
            let edge: f32 = format!("1e{e}").parse().unwrap();
            for x in [edge, f32::from_bits(edge.to_bits() - 1), f32::from_bits(edge.to_bits() + 1), -edge] {
                let mut c = [0u64; COUNT];
                count(&[x], &mut c);
                assert_eq!(c[bin_of(x).index()], 1, "{x:e}");
            }
        }
    }

    #[test]
    fn counting_a_long_slice_agrees_with_the_definition_entry_by_entry() {
        // Every decade, both signs, zeros, subnormals, the edges of f32's range, inf and NaN,
        // in a slice whose length is not a multiple of the counting lanes, so that the lanes
        // and the remainder are both exercised.
        let mut values: Vec<f32> = vec![0.0, -0.0, 1e-45, -3e-40, f32::MIN_POSITIVE, f32::MAX, f32::INFINITY, f32::NAN];
        let mut x = 1.7e-44f32;
        while x < 1e5 {
            values.extend([x, -x * 1.3, x * 7.9]);
            x *= 3.1;
        }
        values.push(2.5e-7);
        assert_ne!(values.len() % 4, 0);
        let mut expected = [0u64; COUNT];
        for &v in &values {
            expected[bin_of(v).index()] += 1;
        }
        let mut counted = [0u64; COUNT];
        count(&values, &mut counted);
        assert_eq!(counted, expected);
        // Counting adds to what is there.
        count(&values, &mut counted);
        assert_eq!(counted, expected.map(|c| 2 * c));
    }

    #[test]
    fn runs_of_zeros_are_counted_as_the_definition_counts_them() {
        // Groups of eight that are all zero (of either sign) take the short way; groups with
        // one nonzero entry, or a subnormal, the smallest there is, do not. The runs start at
        // every offset against the groups of eight, so that the all-zero groups, the mixed
        // groups and the remainder are all exercised.
        for offset in 0..8 {
            let mut values = vec![0.5f32; offset];
            values.extend(std::iter::repeat_n(0.0f32, 40));
            values.extend(std::iter::repeat_n(-0.0f32, 9));
            values.push(1e-45);
            values.extend(std::iter::repeat_n(0.0f32, 7));
            values.push(-3e-7);
            values.extend(std::iter::repeat_n(0.0f32, 16 + offset));
            let mut expected = [0u64; COUNT];
            for &v in &values {
                expected[bin_of(v).index()] += 1;
            }
            let mut counted = [0u64; COUNT];
            count(&values, &mut counted);
            assert_eq!(counted, expected, "offset {offset}");
        }
    }

    #[test]
    fn labels_round_trip() {
        for b in bins() {
            assert_eq!(Bin::parse(&b.label()), Some(b));
        }
        assert_eq!(bins().count(), COUNT);
        assert!(bins().enumerate().all(|(i, b)| b.index() == i));
    }
}
