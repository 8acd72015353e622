//! The host reductions behind every metric: sums in f64, so that a gradient of 1e-30 is
//! logged as 1e-30 (even f32's smallest subnormal, 1.4e-45, squares to a normal f64), each
//! one fused pass over a tensor.
//!
//! The loops keep eight independent accumulators so that the compiler can vectorize them (a
//! single running sum forces strict ordering).

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

/// Compiles a host reduction twice, for the baseline x86-64 target and for AVX2, and picks
/// the AVX2 build at run time where the CPU has it: the f32 to f64 conversions then run four
/// lanes wide instead of two (about 4x on a 1M-entry gradient, 0.74 to 0.18 ms). Counters in
/// these loops add with `wrapping_add`: they cannot overflow (they count a slice's entries),
/// and the overflow checks of a debug build would otherwise stop the loop from vectorizing.
macro_rules! with_avx2 {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty $body:block) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) -> $ret {
            #[inline(always)]
            fn portable($($arg: $ty),*) -> $ret $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2")]
                fn avx2($($arg: $ty),*) -> $ret {
                    portable($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU has AVX2, checked just above.
                    return unsafe { avx2($($arg),*) };
                }
            }
            portable($($arg),*)
        }
    };
}

/// sqrt(sum x^2) in f64.
pub fn l2(x: &[f32]) -> f64 {
    gradient_sums(x).0.sqrt()
}

with_avx2! {
    /// One pass over a gradient: sum g^2 in f64 and the number of entries below f32's normal
    /// range (zeros included).
    pub fn gradient_sums(g: &[f32]) -> (f64, usize) {
        let mut acc = [0f64; 8];
        let mut tiny = [0usize; 8];
        let chunks = g.chunks_exact(8);
        let rest = chunks.remainder();
        for c in chunks {
            for k in 0..8 {
                let v = f64::from(c[k]);
                acc[k] += v * v;
                tiny[k] = tiny[k].wrapping_add(usize::from(c[k].abs() < f32::MIN_POSITIVE));
            }
        }
        for (k, &x) in rest.iter().enumerate() {
            acc[k] += f64::from(x) * f64::from(x);
            tiny[k] = tiny[k].wrapping_add(usize::from(x.abs() < f32::MIN_POSITIVE));
        }
        (acc.iter().sum(), tiny.iter().sum())
    }
}

with_avx2! {
    /// One pass over a weight tensor and its earlier values: sum w^2 and sum (w - w0)^2 in f64.
    pub fn weight_sums(w: &[f32], w0: &[f32]) -> (f64, f64) {
        assert_eq!(w.len(), w0.len(), "a parameter keeps its shape");
        let (mut sq, mut diff) = ([0f64; 8], [0f64; 8]);
        let (a, b) = (w.chunks_exact(8), w0.chunks_exact(8));
        let (ra, rb) = (a.remainder(), b.remainder());
        for (x, y) in a.zip(b) {
            for k in 0..8 {
                let (u, v) = (f64::from(x[k]), f64::from(y[k]));
                sq[k] += u * u;
                diff[k] += (u - v) * (u - v);
            }
        }
        for (k, (&x, &y)) in ra.iter().zip(rb).enumerate() {
            let (u, v) = (f64::from(x), f64::from(y));
            sq[k] += u * u;
            diff[k] += (u - v) * (u - v);
        }
        (sq.iter().sum(), diff.iter().sum())
    }
}

with_avx2! {
    /// One pass over activations: sum a and sum a^2 in f64, and the number of a outside
    /// [lo, hi].
    pub fn activation_sums(a: &[f32], lo: f32, hi: f32) -> (f64, f64, usize) {
        let (mut s, mut sq, mut out) = ([0f64; 8], [0f64; 8], [0usize; 8]);
        let chunks = a.chunks_exact(8);
        let rest = chunks.remainder();
        for c in chunks {
            for k in 0..8 {
                let v = f64::from(c[k]);
                s[k] += v;
                sq[k] += v * v;
                out[k] = out[k].wrapping_add(usize::from(c[k] < lo || c[k] > hi));
            }
        }
        for (k, &x) in rest.iter().enumerate() {
            s[k] += f64::from(x);
            sq[k] += f64::from(x) * f64::from(x);
            out[k] = out[k].wrapping_add(usize::from(x < lo || x > hi));
        }
        (s.iter().sum(), sq.iter().sum(), out.iter().sum())
    }
}

with_avx2! {
    /// The sum over rows of `units` entries of each row's L2 norm, in f64: one call for the
    /// whole matrix, so that the AVX2 choice is made once, not once per (short) row.
    pub fn sum_of_row_norms(d: &[f32], units: usize) -> f64 {
        d.chunks(units.max(1))
            .map(|row| {
                let mut acc = [0f64; 8];
                let chunks = row.chunks_exact(8);
                let rest = chunks.remainder();
                for c in chunks {
                    for k in 0..8 {
                        acc[k] += f64::from(c[k]) * f64::from(c[k]);
                    }
                }
                for (k, &x) in rest.iter().enumerate() {
                    acc[k] += f64::from(x) * f64::from(x);
                }
                acc.iter().sum::<f64>().sqrt()
            })
            .sum()
    }
}

/// The share of units (columns of a `[rows, units]` matrix) that are not above 0 for any row:
/// ReLU-family units that no example activates.
pub fn dead_share(a: &[f32], units: usize) -> f64 {
    let mut alive = vec![false; units];
    for row in a.chunks(units.max(1)) {
        for (live, &v) in alive.iter_mut().zip(row) {
            *live |= v > 0.0;
        }
    }
    alive.iter().filter(|&&live| !live).count() as f64 / units.max(1) as f64
}
