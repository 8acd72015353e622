//! K interleaved noisy spirals in 2-D, the classic toy problem a linear model cannot solve
//! (as in Stanford's CS231n notes).

use prng::Rng;

/// The points of `classes` spirals of `points` points each, row-major `(x, y)`, and their
/// labels, class by class.
///
/// Point `i` of class `c` has radius `r = i / (points - 1)` in [0, 1] and angle
/// `theta = 4c + 4r + noise * N(0, 1)`, and sits at `(r sin theta, r cos theta)`.
pub(crate) fn generate(classes: usize, points: usize, noise: f64, rng: &mut Rng) -> (Vec<f32>, Vec<u32>) {
    let n = classes.saturating_mul(points);
    let mut x = Vec::with_capacity(2 * n);
    let mut labels = Vec::with_capacity(n);
    for c in 0..classes {
        for i in 0..points {
            let r = if points > 1 { i as f64 / (points - 1) as f64 } else { 0.0 };
            let theta = 4.0 * c as f64 + 4.0 * r + noise * rng.normal();
            x.push((r * theta.sin()) as f32);
            x.push((r * theta.cos()) as f32);
            labels.push(c as u32);
        }
    }
    (x, labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_lie_in_the_unit_disc() {
        let (x, labels) = generate(3, 50, 0.2, &mut Rng::new(1));
        assert_eq!((x.len(), labels.len()), (300, 150));
        assert!(x.chunks(2).all(|p| p[0].hypot(p[1]) <= 1.0 + 1e-6));
        assert_eq!(labels.iter().filter(|&&l| l == 2).count(), 50);
    }
}
