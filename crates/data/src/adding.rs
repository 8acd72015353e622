//! The adding problem (Hochreiter and Schmidhuber 1997, in the form of Arjovsky et al. 2016):
//! a task that only a network with memory over the whole sequence can solve.
//!
//! Each example is a sequence of `T` steps of two numbers, `(value, marker)`: the values are
//! drawn from U(0, 1), and the marker is 1 at exactly two steps, one in each half of the
//! sequence, and 0 elsewhere. The target is the sum of the two marked values. Predicting the
//! mean, 1, for every sequence gives a mean squared error of Var(u1 + u2) = 2/12 ≈ 0.167: a
//! model that stays there has learned nothing of the sequence. The first marker lies on
//! average T/4 steps from the start, so the error that reaches it has travelled about 3T/4
//! steps back from the loss.

use prng::Rng;

/// Features per time step: the value and the marker.
pub const FEATURES_PER_STEP: usize = 2;

/// The mean squared error of always predicting 1, the mean target: Var(u1 + u2) = 1/6.
pub const BASELINE_MSE: f64 = 1.0 / 6.0;

/// `n` sequences of `steps` time steps, row-major as `[example][step][value, marker]`, and
/// their targets. `steps` must be at least 2 (one marker in each half).
pub fn generate(n: usize, steps: usize, rng: &mut Rng) -> (Vec<f32>, Vec<f32>) {
    assert!(steps >= 2, "the adding problem needs at least 2 time steps, got {steps}");
    let half = steps / 2;
    let mut x = Vec::with_capacity(n * steps * FEATURES_PER_STEP);
    let mut targets = Vec::with_capacity(n);
    for _ in 0..n {
        let first = rng.below(half);
        let second = half + rng.below(steps - half);
        let mut sum = 0.0f32;
        for t in 0..steps {
            let value = rng.uniform() as f32;
            let marked = t == first || t == second;
            if marked {
                sum += value;
            }
            x.push(value);
            x.push(if marked { 1.0 } else { 0.0 });
        }
        targets.push(sum);
    }
    (x, targets)
}

/// The sum of the marked values of one sequence laid out as [`generate`] writes it: the
/// target, computed from the sequence alone.
pub fn marked_sum(sequence: &[f32]) -> f32 {
    sequence.chunks_exact(FEATURES_PER_STEP).filter(|p| p[1] == 1.0).map(|p| p[0]).sum()
}
