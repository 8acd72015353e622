//! The sigmoid in straight-line float arithmetic that the compiler vectorizes, compiled for
//! AVX2 and picked at run time where the CPU has it (as PyTorch picks its kernels).

/// Writes 1 / (1 + e^-x) of every `src` element into `dst` (of the same length).
pub fn sigmoid(src: &[f32], dst: &mut [f32]) {
    assert_eq!(src.len(), dst.len(), "sigmoid: source and destination lengths differ");
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2,fma")]
        fn avx2(src: &[f32], dst: &mut [f32]) {
            sigmoid_portable(src, dst)
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU has AVX2 and FMA, checked just above.
            return unsafe { avx2(src, dst) };
        }
    }
    sigmoid_portable(src, dst)
}

#[inline(always)]
fn sigmoid_portable(src: &[f32], dst: &mut [f32]) {
    for (d, &x) in dst.iter_mut().zip(src) {
        *d = sigmoid_one(x);
    }
}

/// 1 / (1 + e^-x) of one value, inlined into loops that the compiler vectorizes (the fused
/// recurrent cells call it as [`sigmoid`] does, so that their gates are the same values).
#[inline(always)]
pub(crate) fn sigmoid_one(x: f32) -> f32 {
    // e = e^-|x| never overflows; s = 1 / (1 + e) is the sigmoid of |x|, and
    // sigmoid(-|x|) = 1 - s = e s, without the cancellation of 1 - s.
    let e = exp_nonpositive(-x.abs());
    let s = 1.0 / (1.0 + e);
    if x >= 0.0 { s } else { e * s }
}

/// e^x for x <= 0 (and NaN), to about 1 ulp: Cephes' `expf`. x = k ln2 + r with |r| <= ln2/2
/// (ln2 split in two parts so that r is exact), e^r by its degree-7 minimax polynomial, and
/// 2^k as a product of two normal powers of two, so that results down to the subnormal range
/// round correctly (and flush to zero where the thread flushes subnormals).
#[inline(always)]
pub(crate) fn exp_nonpositive(x: f32) -> f32 {
    // Below -104, e^x rounds to 0 even as a subnormal. (Not `max`, which would turn NaN into
    // -104.)
    let x = if x < -104.0 { -104.0 } else { x };
    // k = round(x / ln2) with the 1.5 * 2^23 trick: adding 1.5 * 2^23 rounds to an integer,
    // which then sits in the low bits of the sum, so that no rounding instruction and no
    // float-to-integer conversion (which stays scalar) is needed.
    const ROUND: f32 = 12_582_912.0;
    let shifted = x * std::f32::consts::LOG2_E + ROUND;
    let k = shifted - ROUND;
    let r = x - k * 0.693_359_4 - k * -2.121_944_4e-4;
    let p = 1.987_569_1e-4;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 5.000_000_1e-1;
    let er = p * r * r + r + 1.0;
    // k is in [-150, 0]: split it so that both powers are normal floats. (For a NaN x, k is
    // meaningless, and NaN comes through `er`.)
    let k = (shifted.to_bits() as i32).wrapping_sub(ROUND.to_bits() as i32);
    let k1 = k >> 1;
    let k2 = k.wrapping_sub(k1);
    let pow2 = |e: i32| f32::from_bits((e.wrapping_add(127) as u32) << 23);
    er * pow2(k1) * pow2(k2)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The largest error in units in the last place against f64's exp, over a fine grid.
    #[test]
    fn exp_is_within_two_ulps_down_to_the_normal_range() {
        let mut worst = 0f64;
        let mut x = -87.0f32;
        while x <= 0.0 {
            let exact = f64::from(x).exp();
            let ulp = f64::from(f32::EPSILON) * exact;
            worst = worst.max((f64::from(exp_nonpositive(x)) - exact).abs() / ulp);
            x += 1.3e-3;
        }
        assert!(worst <= 2.0, "worst error {worst} ulp");
    }

    #[test]
    fn exp_reaches_subnormals_and_zero_and_keeps_nan() {
        let tiny = exp_nonpositive(-100.0);
        assert!(tiny > 0.0 && tiny < f32::MIN_POSITIVE);
        // A subnormal this small has a few bits left: within one step of the smallest one.
        assert!((f64::from(tiny) - (-100f64).exp()).abs() <= 1.5e-45, "{tiny:e}");
        assert_eq!(exp_nonpositive(-200.0), 0.0);
        assert_eq!(exp_nonpositive(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp_nonpositive(0.0), 1.0);
        assert!(exp_nonpositive(f32::NAN).is_nan());
    }

    #[test]
    fn sigmoid_matches_f64_and_keeps_its_limits() {
        let xs: Vec<f32> = (-4000..=4000).map(|i| i as f32 * 0.01).chain([f32::INFINITY, f32::NEG_INFINITY, 0.0, -0.0]).collect();
        let mut out = vec![0f32; xs.len()];
        sigmoid(&xs, &mut out);
        for (&x, &s) in xs.iter().zip(&out) {
            let exact = 1.0 / (1.0 + (-f64::from(x)).exp());
            assert!((f64::from(s) - exact).abs() <= 3.0 * f64::from(f32::EPSILON) * exact, "sigmoid({x}) = {s:e}, exact {exact:e}");
        }
        let mut nan = [0f32];
        sigmoid(&[f32::NAN], &mut nan);
        assert!(nan[0].is_nan());
    }
}
