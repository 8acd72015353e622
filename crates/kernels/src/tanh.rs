//! The hyperbolic tangent in straight-line float arithmetic that the compiler vectorizes, for
//! the fused recurrent cells and the `tanh` operation: burn-flex evaluates it one element at a
//! time with libm's scalar `tanhf`, and an LSTM step takes two of them per hidden unit.

use crate::exp::exp_nonpositive;

/// tanh(x) of one value, to a few ulp: Cephes' `tanhf`. Below |x| = 0.625 an odd polynomial,
/// where `1 - e^-2|x|` would lose digits to cancellation; above, `(1 - e) / (1 + e)` with
/// `e = e^-2|x|` (never overflowing), and the sign of x. Both are computed and one is picked,
/// so that the loop around it has no branch and vectorizes. NaN stays NaN; ±∞ gives ±1.
#[inline(always)]
pub(crate) fn tanh(x: f32) -> f32 {
    let a = x.abs();
    let z = x * x;
    let p = -5.704_988_7e-3;
    let p = p * z + 2.063_909e-2;
    let p = p * z - 5.373_971_6e-2;
    let p = p * z + 1.333_144_2e-1;
    let p = p * z - 3.333_328e-1;
    let small = p * z * x + x;
    let e = exp_nonpositive(-2.0 * a);
    let large = ((1.0 - e) / (1.0 + e)).copysign(x);
    if a < 0.625 { small } else { large }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The largest error against f64's tanh, in units of f32's epsilon times the value, over a
    /// fine grid through both branches, and the limits.
    #[test]
    fn tanh_matches_f64_and_keeps_its_limits() {
        let mut worst = 0f64;
        for i in -20_000..=20_000 {
            let x = i as f32 * 1e-3;
            let exact = f64::from(x).tanh();
            if exact != 0.0 {
                worst = worst.max((f64::from(tanh(x)) - exact).abs() / (f64::from(f32::EPSILON) * exact.abs()));
            }
        }
        assert!(worst <= 4.0, "worst error {worst} epsilons");
        assert_eq!(tanh(0.0), 0.0);
        assert_eq!(tanh(1e-30), 1e-30);
        assert_eq!(tanh(f32::INFINITY), 1.0);
        assert_eq!(tanh(f32::NEG_INFINITY), -1.0);
        assert_eq!(tanh(200.0), 1.0);
        assert!(tanh(f32::NAN).is_nan());
    }
}
