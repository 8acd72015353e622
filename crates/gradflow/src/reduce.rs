//! The host reductions behind every metric: sums in f64, so that a gradient of 1e-30 is
//! logged as 1e-30 (even f32's smallest subnormal, 1.4e-45, squares to a normal f64), each
//! one fused pass over a tensor.
//!
//! Each reduction sums in sixteen lanes, in one order on every CPU: a portable loop, and the
//! same loop in AVX2 and FMA where the CPU has both, equal bit for bit (the tests below hold
//! them to it).

use rayon::prelude::*;

/// The number of entries from which a step's host reductions are spread over rayon's threads.
/// Below it they run on the calling thread: waking the pool costs 10-20 us on an idle machine,
/// and much more when the cores are busy (a Learner's data loader, the backend's own threads),
/// while these reductions take about 0.2 ns an entry. On learner_mnist's model (111k
/// parameters), the fan-out made a measured step's reductions cost 2-15 times their median
/// on average on a loaded machine; above a million entries the work pays for it.
pub const PARALLEL_FROM: usize = 1 << 20;

/// `f(0), f(1), ..., f(n - 1)`, on rayon's threads when the work they do (`entries` read in
/// all) reaches [`PARALLEL_FROM`], else on this one.
pub fn map_n<O: Send>(n: usize, entries: usize, f: impl Fn(usize) -> O + Sync + Send) -> Vec<O> {
    if entries >= PARALLEL_FROM {
        (0..n).into_par_iter().map(f).collect()
    } else {
        (0..n).map(f).collect()
    }
}

/// The number of f64 lanes each reduction keeps: entry `i` of a slice (or of a row) is added
/// into lane `i % LANES`, the last `len % LANES` entries into lanes `0..`, and the lanes are
/// summed in order at the end. Sixteen independent sums hide the adds' latency, and both paths
/// below follow this order exactly, so a sum does not depend on the CPU it ran on.
const LANES: usize = 16;

/// Entries at a time below which a lane's count cannot overflow its 32 bits.
const COUNT_PART: usize = LANES << 31;

/// The reductions as portable Rust, in [`LANES`]' order: the reference the AVX2 path must
/// equal bit for bit, and the path of a CPU without AVX2 and FMA. A square is added with one
/// rounding (`mul_add`), as the FMA instruction does: native on aarch64 and on every x86 CPU
/// with AVX2, a slower library call on the few x86 CPUs without it. Counters add with
/// `wrapping_add`: they cannot overflow (they count a slice's entries), and a debug build's
/// overflow checks would keep the loops from vectorizing.
mod portable {
    use super::LANES;

    pub(super) fn gradient_sums(g: &[f32]) -> (f64, usize) {
        let (mut sq, mut tiny) = ([0f64; LANES], 0usize);
        let blocks = g.chunks_exact(LANES);
        let rest = blocks.remainder();
        for block in blocks.chain([rest]) {
            for (k, &x) in block.iter().enumerate() {
                let v = f64::from(x);
                sq[k] = v.mul_add(v, sq[k]);
                tiny = tiny.wrapping_add(usize::from(x.abs() < f32::MIN_POSITIVE));
            }
        }
        (sq.iter().sum(), tiny)
    }

    pub(super) fn weight_sums(w: &[f32], w0: &[f32]) -> (f64, f64) {
        let (mut sq, mut diff) = ([0f64; LANES], [0f64; LANES]);
        for (a, b) in w.chunks(LANES).zip(w0.chunks(LANES)) {
            for (k, (&x, &y)) in a.iter().zip(b).enumerate() {
                let (u, d) = (f64::from(x), f64::from(x) - f64::from(y));
                sq[k] = u.mul_add(u, sq[k]);
                diff[k] = d.mul_add(d, diff[k]);
            }
        }
        (sq.iter().sum(), diff.iter().sum())
    }

    pub(super) fn activation_sums(a: &[f32], lo: f32, hi: f32) -> (f64, f64, usize) {
        let (mut s, mut sq, mut out) = ([0f64; LANES], [0f64; LANES], 0usize);
        for block in a.chunks(LANES) {
            for (k, &x) in block.iter().enumerate() {
                let v = f64::from(x);
                s[k] += v;
                sq[k] = v.mul_add(v, sq[k]);
                out = out.wrapping_add(usize::from(x < lo || x > hi));
            }
        }
        (s.iter().sum(), sq.iter().sum(), out)
    }

    pub(super) fn sum_of_row_norms(d: &[f32], units: usize) -> f64 {
        d.chunks(units.max(1))
            .map(|row| {
                let mut sq = [0f64; LANES];
                for block in row.chunks(LANES) {
                    for (k, &x) in block.iter().enumerate() {
                        sq[k] = f64::from(x).mul_add(f64::from(x), sq[k]);
                    }
                }
                sq.iter().sum::<f64>().sqrt()
            })
            .sum()
    }
}

/// The reductions in AVX2 and FMA, in [`LANES`]' order: sixteen f32 entries widened to four
/// vectors of four f64, each square added in one rounding as the portable path's `mul_add`
/// does it, and the tail as the portable code does it. Written with intrinsics because LLVM
/// leaves some of these loops scalar, depending on the build: `weight_sums` on 100k entries
/// took 17 us compiled with debug assertions and 64 us without them (BENCHMARKS.md).
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::LANES;
    use std::arch::x86_64::*;

    /// Sixteen f32 at `p`, as four vectors of f64 (entries 0-3, 4-7, 8-11, 12-15).
    ///
    /// # Safety
    /// The CPU has AVX2, and `p..p + 16` is readable.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn widen(p: *const f32) -> [__m256d; 4] {
        // SAFETY: the caller guarantees the 16 entries and AVX2.
        unsafe {
            let (a, b) = (_mm256_loadu_ps(p), _mm256_loadu_ps(p.add(8)));
            [
                _mm256_cvtps_pd(_mm256_castps256_ps128(a)),
                _mm256_cvtps_pd(_mm256_extractf128_ps(a, 1)),
                _mm256_cvtps_pd(_mm256_castps256_ps128(b)),
                _mm256_cvtps_pd(_mm256_extractf128_ps(b, 1)),
            ]
        }
    }

    /// Four vectors of lanes as an array, for the portable tail and the final sum.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn lanes(v: [__m256d; 4]) -> [f64; LANES] {
        let mut out = [0f64; LANES];
        for (k, x) in v.into_iter().enumerate() {
            // SAFETY: `out` has room for 4 f64 at every multiple of 4 below LANES.
            unsafe { _mm256_storeu_pd(out.as_mut_ptr().add(4 * k), x) };
        }
        out
    }

    /// How many of the eight f32 lanes `mask` has set, as a vector of per-lane counts to
    /// subtract (a set lane is -1).
    #[inline]
    #[target_feature(enable = "avx2")]
    fn count_into(acc: __m256i, mask: __m256) -> __m256i {
        _mm256_sub_epi32(acc, _mm256_castps_si256(mask))
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    fn count_total(acc: __m256i) -> usize {
        let mut c = [0u32; 8];
        // SAFETY: `c` holds 8 u32.
        unsafe { _mm256_storeu_si256(c.as_mut_ptr().cast(), acc) };
        c.iter().map(|&x| x as usize).sum()
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    fn abs_ps(x: __m256) -> __m256 {
        _mm256_andnot_ps(_mm256_set1_ps(-0.0), x)
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) fn gradient_sums(g: &[f32]) -> (f64, usize) {
        let n = g.len() - g.len() % LANES;
        let mut sq = [_mm256_setzero_pd(); 4];
        let mut tiny = _mm256_setzero_si256();
        let min = _mm256_set1_ps(f32::MIN_POSITIVE);
        for i in (0..n).step_by(LANES) {
            // SAFETY: i + 16 <= n <= g.len().
            let (v, a, b) = unsafe { (widen(g.as_ptr().add(i)), _mm256_loadu_ps(g.as_ptr().add(i)), _mm256_loadu_ps(g.as_ptr().add(i + 8))) };
            for k in 0..4 {
                sq[k] = _mm256_fmadd_pd(v[k], v[k], sq[k]);
            }
            tiny = count_into(tiny, _mm256_cmp_ps::<_CMP_LT_OQ>(abs_ps(a), min));
            tiny = count_into(tiny, _mm256_cmp_ps::<_CMP_LT_OQ>(abs_ps(b), min));
        }
        let mut sq = lanes(sq);
        let mut tiny = count_total(tiny);
        for (k, &x) in g[n..].iter().enumerate() {
            sq[k] = f64::from(x).mul_add(f64::from(x), sq[k]);
            tiny += usize::from(x.abs() < f32::MIN_POSITIVE);
        }
        (sq.iter().sum(), tiny)
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) fn weight_sums(w: &[f32], w0: &[f32]) -> (f64, f64) {
        let len = w.len().min(w0.len());
        let n = len - len % LANES;
        let (mut sq, mut diff) = ([_mm256_setzero_pd(); 4], [_mm256_setzero_pd(); 4]);
        for i in (0..n).step_by(LANES) {
            // SAFETY: i + 16 <= n <= both lengths.
            let (u, v) = unsafe { (widen(w.as_ptr().add(i)), widen(w0.as_ptr().add(i))) };
            for k in 0..4 {
                sq[k] = _mm256_fmadd_pd(u[k], u[k], sq[k]);
                let d = _mm256_sub_pd(u[k], v[k]);
                diff[k] = _mm256_fmadd_pd(d, d, diff[k]);
            }
        }
        let (mut sq, mut diff) = (lanes(sq), lanes(diff));
        for (k, (&x, &y)) in w[n..len].iter().zip(&w0[n..len]).enumerate() {
            let (u, d) = (f64::from(x), f64::from(x) - f64::from(y));
            sq[k] = u.mul_add(u, sq[k]);
            diff[k] = d.mul_add(d, diff[k]);
        }
        (sq.iter().sum(), diff.iter().sum())
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) fn activation_sums(a: &[f32], lo: f32, hi: f32) -> (f64, f64, usize) {
        let n = a.len() - a.len() % LANES;
        let (mut s, mut sq) = ([_mm256_setzero_pd(); 4], [_mm256_setzero_pd(); 4]);
        let mut out = _mm256_setzero_si256();
        let (lo8, hi8) = (_mm256_set1_ps(lo), _mm256_set1_ps(hi));
        for i in (0..n).step_by(LANES) {
            // SAFETY: i + 16 <= n <= a.len().
            let (v, x, y) = unsafe { (widen(a.as_ptr().add(i)), _mm256_loadu_ps(a.as_ptr().add(i)), _mm256_loadu_ps(a.as_ptr().add(i + 8))) };
            for k in 0..4 {
                s[k] = _mm256_add_pd(s[k], v[k]);
                sq[k] = _mm256_fmadd_pd(v[k], v[k], sq[k]);
            }
            for z in [x, y] {
                // Ordered comparisons: a NaN is neither below lo nor above hi, as in Rust.
                let outside = _mm256_or_ps(_mm256_cmp_ps::<_CMP_LT_OQ>(z, lo8), _mm256_cmp_ps::<_CMP_GT_OQ>(z, hi8));
                out = count_into(out, outside);
            }
        }
        let (mut s, mut sq, mut out) = (lanes(s), lanes(sq), count_total(out));
        for (k, &x) in a[n..].iter().enumerate() {
            let v = f64::from(x);
            s[k] += v;
            sq[k] = v.mul_add(v, sq[k]);
            out += usize::from(x < lo || x > hi);
        }
        (s.iter().sum(), sq.iter().sum(), out)
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) fn sum_of_row_norms(d: &[f32], units: usize) -> f64 {
        let units = units.max(1);
        let n = units - units % LANES;
        d.chunks(units)
            .map(|row| {
                let full = n.min(row.len() - row.len() % LANES);
                let mut sq = [_mm256_setzero_pd(); 4];
                for i in (0..full).step_by(LANES) {
                    // SAFETY: i + 16 <= full <= row.len().
                    let v = unsafe { widen(row.as_ptr().add(i)) };
                    for k in 0..4 {
                        sq[k] = _mm256_fmadd_pd(v[k], v[k], sq[k]);
                    }
                }
                let mut sq = lanes(sq);
                for (k, &x) in row[full..].iter().enumerate() {
                    sq[k] = f64::from(x).mul_add(f64::from(x), sq[k]);
                }
                sq.iter().sum::<f64>().sqrt()
            })
            .sum()
    }
}

/// Whether this CPU runs the AVX2 path (`is_x86_feature_detected` caches the answer).
#[cfg(target_arch = "x86_64")]
fn has_avx2() -> bool {
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
}

/// sqrt(sum x^2) in f64.
pub fn l2(x: &[f32]) -> f64 {
    gradient_sums(x).0.sqrt()
}

/// One pass over a gradient: sum g^2 in f64 and the number of entries below f32's normal
/// range (zeros included).
pub fn gradient_sums(g: &[f32]) -> (f64, usize) {
    if g.len() >= COUNT_PART {
        let parts = g.chunks(COUNT_PART).map(gradient_sums);
        return parts.fold((0.0, 0), |(s, t), (a, b)| (s + a, t + b));
    }
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: the CPU has AVX2 and FMA, checked just above.
        return unsafe { avx2::gradient_sums(g) };
    }
    portable::gradient_sums(g)
}

/// One pass over a weight tensor and its earlier values: sum w^2 and sum (w - w0)^2 in f64.
pub fn weight_sums(w: &[f32], w0: &[f32]) -> (f64, f64) {
    assert_eq!(w.len(), w0.len(), "a parameter keeps its shape");
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: the CPU has AVX2 and FMA, checked just above.
        return unsafe { avx2::weight_sums(w, w0) };
    }
    portable::weight_sums(w, w0)
}

/// One pass over activations: sum a and sum a^2 in f64, and the number of a outside
/// [lo, hi].
pub fn activation_sums(a: &[f32], lo: f32, hi: f32) -> (f64, f64, usize) {
    if a.len() >= COUNT_PART {
        let parts = a.chunks(COUNT_PART).map(|p| activation_sums(p, lo, hi));
        return parts.fold((0.0, 0.0, 0), |(s, q, o), (a, b, c)| (s + a, q + b, o + c));
    }
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: the CPU has AVX2 and FMA, checked just above.
        return unsafe { avx2::activation_sums(a, lo, hi) };
    }
    portable::activation_sums(a, lo, hi)
}

/// The sum over rows of `units` entries of each row's L2 norm, in f64: one call for the
/// whole matrix, so that the AVX2 choice is made once, not once per (short) row.
pub fn sum_of_row_norms(d: &[f32], units: usize) -> f64 {
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: the CPU has AVX2 and FMA, checked just above.
        return unsafe { avx2::sum_of_row_norms(d, units) };
    }
    portable::sum_of_row_norms(d, units)
}

/// The share of units (columns of a `[rows, units]` matrix) that are not above 0 for any row:
/// ReLU-family units that no example activates. Each unit's largest value over the rows is
/// kept as a float, which the compiler vectorizes (a flag per unit, or-ed with each compare, it
/// did not); a NaN is never the largest, and is not above 0.
pub fn dead_share(a: &[f32], units: usize) -> f64 {
    let mut peak = vec![f32::NEG_INFINITY; units];
    for row in a.chunks(units.max(1)) {
        for (p, &v) in peak.iter_mut().zip(row) {
            *p = if v > *p { v } else { *p };
        }
    }
    peak.iter().filter(|&&p| p <= 0.0).count() as f64 / units.max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values of every kind a tensor holds: both signs, zeros, subnormals, tiny and large
    /// normals, from a fixed xorshift, in slices of every length around the lanes' multiples.
    fn values(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed | 1;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                match s % 10 {
                    0 => 0.0,
                    1 => f32::from_bits((s >> 20) as u32 & 0x807f_ffff),
                    2 => f32::from_bits((s >> 16) as u32 & 0x9fff_ffff),
                    _ => ((s >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 10f32.powi((s % 13) as i32 - 8),
                }
            })
            .collect()
    }

    fn same(a: f64, b: f64) -> bool {
        a.to_bits() == b.to_bits()
    }

    fn lengths() -> impl Iterator<Item = usize> {
        (0..70).chain([255, 256, 257, 1000, 4099])
    }

    #[test]
    fn the_fast_path_sums_as_the_portable_path_does_bit_for_bit() {
        for n in lengths() {
            let (a, b) = (values(n, n as u64 + 1), values(n, n as u64 + 99));
            let (g, t) = gradient_sums(&a);
            let (pg, pt) = portable::gradient_sums(&a);
            assert!(same(g, pg) && t == pt, "gradient_sums, {n} entries: {g:e} {t} vs {pg:e} {pt}");
            let (w, d) = weight_sums(&a, &b);
            let (pw, pd) = portable::weight_sums(&a, &b);
            assert!(same(w, pw) && same(d, pd), "weight_sums, {n} entries");
            let (s, q, o) = activation_sums(&a, -0.01, 0.02);
            let (ps, pq, po) = portable::activation_sums(&a, -0.01, 0.02);
            assert!(same(s, ps) && same(q, pq) && o == po, "activation_sums, {n} entries");
            for units in [1, 7, 16, 33, 64] {
                let fast = sum_of_row_norms(&a, units);
                let slow = portable::sum_of_row_norms(&a, units);
                assert!(same(fast, slow), "sum_of_row_norms, {n} entries in rows of {units}");
            }
        }
    }

    #[test]
    fn the_sums_are_the_sums_of_the_values() {
        // Against a plain f64 loop, to the rounding of a different order of addition; the
        // counts exactly. A NaN counts as neither below nor above the bounds.
        let mut a = values(1000, 7);
        a[3] = f32::NAN;
        let exact = |f: &dyn Fn(f64) -> f64| a.iter().map(|&x| f(f64::from(x))).filter(|v| !v.is_nan()).sum::<f64>();
        let finite: Vec<f32> = a.iter().copied().filter(|x| !x.is_nan()).collect();
        let (g, tiny) = gradient_sums(&finite);
        assert!((g - exact(&|v| v * v)).abs() <= 1e-12 * g, "{g:e}");
        assert_eq!(tiny, finite.iter().filter(|x| x.abs() < f32::MIN_POSITIVE).count());
        let (_, _, out) = activation_sums(&a, -1e-3, 1e-3);
        // Written as the definition is, not as `!range.contains(x)`, which counts a NaN.
        #[allow(clippy::manual_range_contains)]
        let outside = a.iter().filter(|&&x| x < -1e-3 || x > 1e-3).count();
        assert_eq!(out, outside);
        let shifted: Vec<f32> = finite.iter().map(|x| x * 0.5).collect();
        let (w2, d2) = weight_sums(&finite, &shifted);
        assert!((w2 - g).abs() <= 1e-12 * g && (d2 - g / 4.0).abs() <= 1e-12 * g, "{w2:e} {d2:e}");
        // A unit is dead when no row has it above 0; a NaN does not make it alive.
        let rows = [0.0, -1.0, f32::NAN, 2.0, 0.0, f32::NAN, 0.0, 3.0, -0.0, 0.5, f32::NAN, 0.0];
        assert_eq!(dead_share(&rows, 4), 2.0 / 4.0);
        assert_eq!(dead_share(&rows, 3), 1.0 / 3.0);
        // A gradient of 1e-30 is logged as 1e-30: its square is an f64, not an f32's zero.
        assert_eq!(l2(&[1e-30f32; 17]), (17.0 * f64::from(1e-30f32).powi(2)).sqrt());
    }
}
