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
        match DECADES.rev().find(|&e| v >= power(e)) {
            Some(e) if v < power(e + 1) => Bin::Decade(e),
            Some(_) => Bin::Large,
            None => Bin::Decade(*DECADES.start()),
        }
    }
}

fn power_of_ten(e: i32) -> f64 {
    format!("1e{e}").parse().expect("a power of ten parses")
}

/// [`power_of_ten`] of the decades' edges, parsed once: the tests compare [`count`] with
/// [`bin_of`] on millions of values.
fn power(e: i32) -> f64 {
    static POWERS: LazyLock<Vec<f64>> = LazyLock::new(|| (*DECADES.start()..=DECADES.end() + 1).map(power_of_ten).collect());
    POWERS[(e - DECADES.start()) as usize]
}

/// The decade edge 10^e as float32 arithmetic sees it: the smallest float32 x with x >= 10^e
/// as real numbers, so that `x >= decade_edge(e)` in float32 is [`bin_of`]'s comparison with
/// 10^e (for a reduction that runs in float32, on a GPU).
pub fn decade_edge(e: i32) -> f32 {
    let p = power_of_ten(e);
    let x = p as f32;
    if f64::from(x) < p { x.next_up() } else { x }
}

/// The bit patterns at which the bins change: with its sign bit cleared, a float's bits, read
/// as an integer, grow with |x| (NaN and inf above every finite value), and its bin is the
/// number of these it is at or above. They are 1 (above zero), f32's smallest normal (above the
/// subnormals), and the decade edges 1e-37 … 1e3 as float32 sees them ([`decade_edge`]). As
/// `i32`, since no pattern with the sign bit cleared is negative: a signed compare is the one
/// that x86 vectors have.
static THRESHOLDS: LazyLock<[i32; COUNT - 1]> = LazyLock::new(|| {
    let mut t = [0i32; COUNT - 1];
    t[0] = 1;
    t[1] = f32::MIN_POSITIVE.to_bits() as i32;
    for (k, e) in (2..).zip(DECADES.start() + 1..=DECADES.end() + 1) {
        t[k] = decade_edge(e).to_bits() as i32;
    }
    t
});

/// The entries counted at once: few enough that their bits stay in the L1 cache for the
/// passes over them.
const BLOCK: usize = 1024;

/// A block's passes look for gaps (see [`tally`]) once fewer than 1/`FEW` of its entries lie
/// below the threshold just counted.
const FEW: usize = 32;

/// The bits of `x` with the sign cleared, as an integer that grows with |x|.
#[inline(always)]
fn magnitude(x: f32) -> i32 {
    (x.to_bits() & 0x7fff_ffff) as i32
}

/// The thresholds that a block's nonzero entries straddle: every threshold below `first` lies at
/// or below the smallest of them, every one from `last` on above the largest.
struct Window {
    first: usize,
    last: usize,
    nonzero: u32,
}

/// One pass over a block for its [`Window`] (`None` when it holds only zeros), which also
/// writes the entries' magnitudes to `bits` (as long as the block), so that the passes after it
/// are a compare and an add per entry.
#[inline(always)]
fn window(block: &[f32], bits: &mut [i32], t: &[i32; COUNT - 1]) -> Option<Window> {
    // A zero's magnitude minus one wraps to the largest u32 and drops out of the minimum.
    let (mut low, mut high, mut zeros) = (u32::MAX, 0u32, 0u32);
    for (&x, m) in block.iter().zip(bits) {
        *m = magnitude(x);
        let b = *m as u32;
        low = low.min(b.wrapping_sub(1));
        high = high.max(b);
        zeros = zeros.wrapping_add(u32::from(b == 0));
    }
    (high != 0).then(|| Window {
        first: t.partition_point(|&t| t as u32 <= low.wrapping_add(1)),
        last: t.partition_point(|&t| t as u32 <= high),
        nonzero: block.len() as u32 - zeros,
    })
}

/// The entries of `bits` at or above `t`, and the largest below it (0 if none).
#[inline(always)]
fn at_or_above_and_below(bits: &[i32], t: i32) -> (u32, i32) {
    let (mut below, mut largest) = (0u32, 0i32);
    for &b in bits {
        below = below.wrapping_add(u32::from(b < t));
        largest = largest.max(if b < t { b } else { 0 });
    }
    (bits.len() as u32 - below, largest)
}

/// Counts the entries of `bits` at or above thresholds `k`, `k - 1` … `k - R + 1` into
/// `at_least` in one pass, and returns the count for the lowest of them.
#[inline(always)]
fn count_down<const R: usize>(bits: &[i32], t: &[i32; COUNT - 1], k: usize, at_least: &mut [u64; COUNT]) -> u32 {
    let ts: [i32; R] = std::array::from_fn(|i| t[k - i]);
    let mut below = [0u32; R];
    for &b in bits {
        for (n, &t) in below.iter_mut().zip(&ts) {
            *n = n.wrapping_add(u32::from(b < t));
        }
    }
    for (i, n) in below.iter().enumerate() {
        at_least[k - i] += u64::from(bits.len() as u32 - n);
    }
    bits.len() as u32 - below[R - 1]
}

/// Counts a block, given its magnitudes `bits` and its window, into `at_least[k]`, the entries
/// at or above threshold k, and `all_from[j]`, entries that every threshold below j counts
/// (summed at the end).
///
/// The thresholds are counted from the top down, up to four in one pass: each entry is then
/// loaded once for the four, and a pass's loop and the sums of its lanes are shared. Once few
/// entries are left below, a pass counts one threshold and also finds the largest entry below
/// it, and the thresholds between the two, which count the same entries, take no pass: a stray
/// tiny value among a gradient's usual few decades then costs a pass or two, not one for each
/// of the tens of thresholds between it and the rest.
#[inline(always)]
fn tally(bits: &[i32], w: Window, t: &[i32; COUNT - 1], at_least: &mut [u64; COUNT], all_from: &mut [u64; COUNT]) {
    let (mut k, mut few) = (w.last, false);
    while k > w.first {
        k -= 1;
        let high = if few {
            let (high, largest) = at_or_above_and_below(bits, t[k]);
            // The thresholds above the largest entry below t[k], all of them if there is none,
            // count the same entries as t[k].
            let next = t.partition_point(|&t| t <= largest).max(w.first);
            for a in &mut at_least[next..=k] {
                *a += u64::from(high);
            }
            k = next;
            high
        } else {
            let (high, n) = match k + 1 - w.first {
                1 => (count_down::<1>(bits, t, k, at_least), 1),
                2 => (count_down::<2>(bits, t, k, at_least), 2),
                3 => (count_down::<3>(bits, t, k, at_least), 3),
                _ => (count_down::<4>(bits, t, k, at_least), 4),
            };
            k -= n - 1;
            high
        };
        few = (w.nonzero - high) as usize * FEW <= bits.len() && k - w.first > 2;
    }
    all_from[w.first] += u64::from(w.nonzero);
}

/// Counts one block of at most [`BLOCK`] entries.
#[inline(always)]
fn count_block(block: &[f32], bits: &mut [i32; BLOCK], t: &[i32; COUNT - 1], at_least: &mut [u64; COUNT], all_from: &mut [u64; COUNT]) {
    let bits = &mut bits[..block.len()];
    if let Some(w) = window(block, bits, t) {
        tally(bits, w, t, at_least, all_from);
    }
}

/// Compiles the counting loop twice, for the baseline x86-64 target and for AVX2, and picks the
/// AVX2 build at run time where the CPU has it.
/// Counters add with `wrapping_add`: they count a block's entries and cannot overflow, and the
/// overflow checks of a debug build would otherwise stop the loops from vectorizing.
fn count_blocks(values: &[f32], at_least: &mut [u64; COUNT], all_from: &mut [u64; COUNT]) {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2")]
        fn avx2(values: &[f32], at_least: &mut [u64; COUNT], all_from: &mut [u64; COUNT]) {
            count_portable(values, at_least, all_from)
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2, checked just above.
            return unsafe { avx2(values, at_least, all_from) };
        }
    }
    count_portable(values, at_least, all_from)
}

#[inline(always)]
fn count_portable(values: &[f32], at_least: &mut [u64; COUNT], all_from: &mut [u64; COUNT]) {
    let t = &*THRESHOLDS;
    let mut bits = [0i32; BLOCK];
    for block in values.chunks(BLOCK) {
        count_block(block, &mut bits, t, at_least, all_from);
    }
}

/// Adds the bins of `values` to `counts` (indexed by [`Bin::index`]), the same bins as
/// [`bin_of`].
///
/// Counted as the number of entries at or above each of the 43 bit patterns where the bins
/// change (`THRESHOLDS`), block by block of entries that stay in the L1 cache: one pass finds
/// a block's smallest nonzero and largest magnitude, every threshold below the first counts all
/// its nonzero entries and every threshold above the second none, and only the thresholds in
/// between, the few decades a gradient's block spans, are counted by passes of comparisons
/// (`tally`), up to four thresholds a pass. Those passes are vector compares and adds, where
/// counting each entry into its bin is a table lookup and an increment in memory per entry,
/// which the compiler cannot vectorize. A block of zeros (a first layer's rows for inputs that
/// are 0 in the whole batch) costs the one pass.
pub fn count(values: &[f32], counts: &mut [u64; COUNT]) {
    let (mut at_least, mut all_from) = ([0u64; COUNT], [0u64; COUNT]);
    count_blocks(values, &mut at_least, &mut all_from);
    add_bins(values.len(), &at_least, &all_from, counts);
}

/// Adds to `counts` the bins of `n` entries from their counts at or above each threshold.
fn add_bins(n: usize, at_least: &[u64; COUNT], all_from: &[u64; COUNT], counts: &mut [u64; COUNT]) {
    // The entries at or above threshold k, from k = 42 down: those counted by a pass, and those
    // of the blocks whose smallest nonzero entry is at or above it.
    let mut from_above = 0u64;
    let mut above = [0u64; COUNT];
    for k in (0..COUNT - 1).rev() {
        from_above += all_from[k + 1];
        above[k] = at_least[k] + from_above;
    }
    // Bin i holds the entries at or above threshold i - 1 and below threshold i.
    let mut below = n as u64;
    for (c, &a) in counts.iter_mut().zip(&above) {
        *c += below - a;
        below = a;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_value_next_to_every_decade_edge_is_counted_in_its_bin() {
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
        // in a slice whose length is not a multiple of the vector loops' lanes, so that the
        // lanes and the remainder are both exercised.
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
        // Zeros of either sign among a few nonzero entries, a subnormal (the smallest there is)
        // among them, in a slice shorter than a block: the block's smallest nonzero entry is
        // the subnormal, not a zero.
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

    /// The bins of `values` by [`bin_of`], entry by entry.
    fn by_definition(values: &[f32]) -> [u64; COUNT] {
        let mut expected = [0u64; COUNT];
        for &v in values {
            expected[bin_of(v).index()] += 1;
        }
        expected
    }

    /// Checks [`count`], and the portable loop that it compiles for CPUs without AVX2, against
    /// [`bin_of`].
    fn assert_counts_agree(values: &[f32], what: &str) {
        let expected = by_definition(values);
        let mut counted = [0u64; COUNT];
        count(values, &mut counted);
        assert_eq!(counted, expected, "{what}");
        let (mut at_least, mut all_from) = ([0u64; COUNT], [0u64; COUNT]);
        count_portable(values, &mut at_least, &mut all_from);
        let mut counted = [0u64; COUNT];
        add_bins(values.len(), &at_least, &all_from, &mut counted);
        assert_eq!(counted, expected, "{what}, portable");
    }

    /// xorshift64*: a seeded stream of bit patterns, so that a failure repeats.
    struct Patterns(u64);

    impl Patterns {
        fn next(&mut self) -> u32 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32) as u32
        }
    }

    #[test]
    fn each_threshold_is_where_the_definition_changes_bin() {
        let t = &*THRESHOLDS;
        for (k, &tk) in t.iter().enumerate() {
            let tk = tk as u32;
            // The 4,096 patterns on either side of it, both signs (bin_of is monotonic in |x|, and
            // so in the bits of a positive float, between the thresholds).
            // (Threshold 0 is 1: zero alone lies below it.)
            for d in 0..4096 {
                for sign in [0, 0x8000_0000] {
                    if d < tk {
                        assert_eq!(bin_of(f32::from_bits((tk - 1 - d) | sign)).index(), k, "below threshold {k}");
                    }
                    assert_eq!(bin_of(f32::from_bits((tk + d) | sign)).index(), k + 1, "at threshold {k}");
                }
            }
        }
        assert!(t.windows(2).all(|w| w[0] < w[1]));
        // Above the last threshold: the largest finite value, inf and every NaN are Large.
        for bits in [f32::MAX.to_bits(), 0x7f80_0000, 0x7f80_0001, 0x7fc0_0000, 0x7fff_ffff] {
            assert_eq!(bin_of(f32::from_bits(bits)), Bin::Large);
        }
    }

    #[test]
    fn values_next_to_every_threshold_are_counted_where_the_block_has_them_least_most_or_between() {
        // Next to each threshold, both signs, a value placed in a block where it is the
        // smallest nonzero entry, the largest, or one among others far below and far above it:
        // the block's window then starts, ends or runs through that threshold.
        let t = &*THRESHOLDS;
        let (tiny, huge) = (f32::from_bits(1), f32::from_bits(0x7f00_0000));
        for &tk in t {
            for bits in [tk - 1, tk, tk + 1] {
                for sign in [1.0f32, -1.0] {
                    let x = sign * f32::from_bits(bits as u32);
                    for (i, other) in [(0, huge), (1, tiny), (2, 0.0)] {
                        let mut block = vec![other; BLOCK];
                        block[(i * 331 + 7) % BLOCK] = x;
                        if i == 2 {
                            block[3] = tiny;
                            block[BLOCK - 2] = -huge;
                        }
                        assert_counts_agree(&block, &format!("{x:e} ({bits:#x}) among {other:e}"));
                    }
                    // Values only just either side of the threshold, where a pass for it must
                    // tell them apart.
                    let pair: Vec<f32> = (0..BLOCK).map(|i| if i % 3 == 0 { x } else { f32::from_bits((tk - 1) as u32) }).collect();
                    assert_counts_agree(&pair, &format!("{x:e} and the pattern below {tk:#x}"));
                }
            }
        }
    }

    #[test]
    fn random_bit_patterns_in_slices_of_many_lengths_agree_with_the_definition() {
        // Uniform bit patterns: every exponent, NaNs, infs, subnormals and zeros' neighbours.
        let mut p = Patterns(0x9e37_79b9_7f4a_7c15);
        let values: Vec<f32> = (0..1 << 20).map(|_| f32::from_bits(p.next())).collect();
        let mut at = 0;
        for len in [0, 1, 7, 8, 9, BLOCK - 1, BLOCK, BLOCK + 1, 2 * BLOCK + 5, 100_352, 1 << 19] {
            assert_counts_agree(&values[at..at + len], &format!("{len} patterns"));
            at += len;
        }
        assert_counts_agree(&values, "all the patterns");
    }

    #[test]
    fn gradients_with_stray_values_agree_with_the_definition() {
        // A gradient's few decades, with a stray entry now and then from anywhere (tiny,
        // subnormal, huge, NaN, zero) and runs of zeros: the blocks' windows are narrow, wide
        // with a gap, or wide with a tail, and the passes that look for gaps are exercised.
        let mut p = Patterns(7);
        for (stray_every, spread) in [(0, 6), (97, 6), (1000, 4), (5, 3), (40, 12), (3000, 30)] {
            let values: Vec<f32> = (0..20 * BLOCK + 77)
                .map(|i| {
                    let r = p.next();
                    if stray_every > 0 && r.is_multiple_of(stray_every) {
                        f32::from_bits(p.next())
                    } else if (i / 128) % 5 == 1 {
                        0.0
                    } else {
                        // 1e-3 times a power of ten from 0 down to -spread, and a mantissa.
                        let e = (p.next() % (spread + 1)) as i32;
                        let m = 1.0 + 9.0 * (p.next() as f32 / u32::MAX as f32);
                        m * 1e-3 * 10f32.powi(-e) * if r & 1 == 0 { 1.0 } else { -1.0 }
                    }
                })
                .collect();
            assert_counts_agree(&values, &format!("a stray value every {stray_every}, {spread} decades"));
        }
    }

    #[test]
    fn runs_of_zeros_at_every_offset_against_the_blocks() {
        // Runs of zeros (either sign) that cover whole blocks, start and end inside them, or fill
        // all of a block but one entry, at every offset from a block's start within 32 of it.
        for offset in (0..32).chain(BLOCK - 32..BLOCK) {
            for run in [BLOCK - 1, BLOCK, 2 * BLOCK + 3] {
                let mut values = vec![3e-4f32; offset];
                values.extend((0..run).map(|i| if i % 2 == 0 { 0.0 } else { -0.0 }));
                values.extend([-2e-9, 0.0, 5e-1]);
                assert_counts_agree(&values, &format!("{run} zeros at {offset}"));
            }
        }
        assert_counts_agree(&vec![0.0; 3 * BLOCK + 1], "only zeros");
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
