//! The timing loop the benchmark examples share (`conv_bench`, `layer_norm_bench`,
//! `lstm_bench`, each with `#[path = "common/timing.rs"] mod timing;`): a measurement is the
//! mean time of a number of calls, and the contenders are measured in alternating rounds, each
//! reported as its median, so that a change of the shared machine's load falls on all of them
//! alike and one disturbed round does not move the result.

use std::time::Instant;

/// Measurements of `reps` calls each, reported per call in units of `1 / per_second` seconds
/// (`1e3`: milliseconds, `1e6`: microseconds).
pub struct Timer {
    pub reps: usize,
    pub per_second: f64,
}

impl Timer {
    /// One measurement: the mean time of `reps` calls of `f`.
    pub fn time(&self, f: &dyn Fn()) -> f64 {
        let start = Instant::now();
        for _ in 0..self.reps {
            f();
        }
        start.elapsed().as_secs_f64() / self.reps as f64 * self.per_second
    }

    /// `rounds` measurements of each of `contenders`, taken in turn within every round, and
    /// each contender's median, in the order given.
    pub fn medians<const N: usize>(&self, rounds: usize, contenders: [&dyn Fn(); N]) -> [f64; N] {
        let mut times: [Vec<f64>; N] = std::array::from_fn(|_| Vec::with_capacity(rounds));
        for _ in 0..rounds {
            for (f, t) in contenders.iter().zip(&mut times) {
                t.push(self.time(*f));
            }
        }
        times.map(|mut v| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        })
    }
}
