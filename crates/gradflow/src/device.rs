//! The parameters' telemetry reduced where the tensors live: on a GPU backend, copying every
//! gradient and weight to the host at each logged step would move the whole model (hundreds
//! of megabytes for 100 million parameters), so the norms, the underflow counts and the
//! histograms' bin counts are computed with tensor operations on the device, and only those
//! scalars and counts come back, in one transfer (a burn `Transaction`) per reading.
//!
//! The host path (`reduce.rs` over `host.rs`'s in-place reads) stays for the CPU backends,
//! flex and ndarray, whose tensors are host memory already. Both give the same numbers on the same tensors to float32
//! tolerance, and the same counts exactly (tests/it/device_reduce.rs forces this path on flex).
//!
//! Norms do not underflow here either: a float32 sum of squares is 0 once the entries fall
//! below about 1e-23, so each tensor is divided by its largest |entry| m first (every scaled
//! square lies in [0, 1], and the largest is 1), and the host combines m² times the scaled
//! sum in f64. A gradient of 1e-30 is logged as 1e-30.
//!
//! The histogram's bins (`runfolder::histogram`) are decades of |g|, whose edges are not
//! float32 numbers: each entry's decade is estimated from its logarithm and then corrected by
//! comparing the entry with the two float32 edges around it (the smallest float32 at or above
//! 10^e, which is what the host's f64 comparison amounts to), so that every count equals the
//! host's exactly. The entries are then counted into their bins by one scatter-add.

use crate::measure::{Histogram, ParamMetrics};
use crate::watch::ParamSums;
use burn::backend::DispatchTensorKind;
use burn::prelude::*;
use burn::tensor::{IndexingUpdateOp, Transaction};
use runfolder::BIN_COUNT;

/// Where the parameters' telemetry is reduced (see [`crate::Watch::with_reduction`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Reduction {
    /// On the host for the CPU backends, flex (read in place) and ndarray, whose tensors are
    /// host memory already and where the device path's separate operations cost 6 to 17 times
    /// the host's fused passes (BENCHMARKS.md); on the device for the GPU backends.
    #[default]
    Auto,
    /// Always on the host: every tensor is read back whole.
    Host,
    /// Always on the device: only scalars and counts are read back.
    Device,
}

/// The decades with an edge: e = -38 (the bin below the first, at f32's normal range) to 4
/// (the edge above the last decade, 1e3..1e4, whose entries are `Large` as everything above).
const FIRST_DECADE: i32 = -38;
const EDGES: usize = 43;
/// The bin of |g| in [10^e, 10^(e+1)) is `e + DECADE_BIN`; `Large` is the last bin.
const DECADE_BIN: i64 = 40;

/// What the device path keeps between readings: the initial values and the bins' edges,
/// uploaded to the device once, at the first reading.
#[derive(Default)]
pub(crate) struct DeviceState {
    initial: Vec<Tensor<1>>,
    edges: Option<Tensor<1>>,
}

/// Whether the tensor lives in host memory: a flex tensor (which the host path reads in
/// place) or an ndarray one.
pub(crate) fn in_host_memory(t: &Tensor<1>) -> bool {
    matches!(t.clone().into_dispatch().kind, DispatchTensorKind::Flex(_) | DispatchTensorKind::NdArray(_))
}

/// The float32 edges of the decades: entry k is the smallest float32 x with x >= 10^(k - 38)
/// as real numbers, so that `x >= edge` in float32 is the host's `f64::from(x) >= 10^e`.
fn decade_edges() -> Vec<f32> {
    (0..EDGES as i32)
        .map(|k| {
            let e = FIRST_DECADE + k;
            let p: f64 = format!("1e{e}").parse().expect("a power of ten parses");
            let x = p as f32;
            if f64::from(x) < p { x.next_up() } else { x }
        })
        .collect()
}

/// A divisor d (`[1]`): the largest |entry| of `x`, at least the smallest normal float (so
/// that a tensor of zeros or subnormals divides by a normal number), and the sum of squares
/// of `x / d` (`[1]`), so that the sum of squares of `x` is d² times it.
fn scaled_squares(x: Tensor<1>) -> (Tensor<1>, Tensor<1>) {
    let d = x.clone().abs().max().clamp_min(f32::MIN_POSITIVE);
    let s = (x / d.clone()).square().sum();
    (d, s)
}

/// Each entry's bin (`runfolder::Bin::index`) as an Int tensor, then their counts (`[BIN_COUNT]`).
fn bin_counts(g: Tensor<1>, edges: &Tensor<1>) -> Tensor<1, Int> {
    let n = g.dims()[0];
    let device = g.device();
    let a = g.abs();
    let ln10 = std::f32::consts::LN_10;
    // The decade from the logarithm, off by at most one next to an edge; 0 gives -inf and
    // NaN is placed below, both clamped into the table first.
    let estimate = a.clone().log().div_scalar(ln10).floor().clamp(FIRST_DECADE as f32, 3.0);
    let k0 = estimate.int().sub_scalar(FIRST_DECADE).clamp(0, EDGES as i64 - 2);
    let lower = edges.clone().select(0, k0.clone());
    let upper = edges.clone().select(0, k0.clone().add_scalar(1));
    // k is the decade e less FIRST_DECADE, corrected by the exact comparisons.
    let k = k0 + a.clone().greater_equal(upper).int() - a.clone().lower(lower).int();
    let bin = k.add_scalar(DECADE_BIN + i64::from(FIRST_DECADE)).clamp(2, BIN_COUNT as i64 - 1);
    let bin = bin
        .mask_fill(a.clone().lower_elem(f32::MIN_POSITIVE), 1)
        .mask_fill(a.clone().equal_elem(0.0), 0)
        .mask_fill(a.is_nan(), BIN_COUNT as i64 - 1);
    Tensor::<1, Int>::zeros([BIN_COUNT], &device).scatter(0, bin, Tensor::ones([n], &device), IndexingUpdateOp::Add)
}

/// Appends a (max, scaled sum) pair and returns where it starts.
fn push_pair(floats: &mut Vec<Tensor<1>>, (m, s): (Tensor<1>, Tensor<1>)) -> usize {
    floats.push(m);
    floats.push(s);
    floats.len() - 2
}

/// What one parameter contributes to the transaction: where its values sit in the float and
/// int read-backs.
struct Slots {
    /// (max, scaled sum) of the weight, of the distance from init, and of the gradient.
    weight: usize,
    dist: usize,
    grad: Option<usize>,
    /// Where the gradient's histogram (weights) or its count of tiny entries (biases) starts
    /// in the ints.
    histogram: Option<usize>,
    tiny: Option<usize>,
    len: usize,
}

impl DeviceState {
    /// The sums of every parameter, reduced on the device and read back in one transaction.
    /// `initial` and `initial_norms` are the watch's host copies (uploaded at the first
    /// call), `histogram[i]` whether parameter i's gradient is counted into bins.
    pub(crate) fn param_sums(
        &mut self,
        weights: &[Tensor<1>],
        grads: Vec<Option<Tensor<1>>>,
        initial: &[Vec<f32>],
        initial_norms: &[f64],
        histogram: &[bool],
    ) -> Vec<ParamSums> {
        let device = weights.first().map(Tensor::device).unwrap_or_default();
        if self.initial.len() != initial.len() {
            self.initial = initial.iter().map(|w| Tensor::from_data(TensorData::new(w.clone(), [w.len()]), &device)).collect();
        }
        let edges = self.edges.get_or_insert_with(|| Tensor::from_data(TensorData::new(decade_edges(), [EDGES]), &device)).clone();
        let mut floats: Vec<Tensor<1>> = Vec::new();
        let mut ints: Vec<Tensor<1, Int>> = Vec::new();
        let mut int_len = 0;
        let mut slots = Vec::with_capacity(weights.len());
        for (i, (w, g)) in weights.iter().zip(grads).enumerate() {
            let weight = push_pair(&mut floats, scaled_squares(w.clone()));
            let dist = push_pair(&mut floats, scaled_squares(w.clone() - self.initial[i].clone()));
            let len = g.as_ref().map_or(0, |g| g.dims()[0]);
            let (mut hist, mut tiny) = (None, None);
            let grad = g.map(|g| {
                if histogram[i] {
                    hist = Some(int_len);
                    int_len += BIN_COUNT;
                    ints.push(bin_counts(g.clone(), &edges));
                } else {
                    tiny = Some(int_len);
                    int_len += 1;
                    ints.push(g.clone().abs().lower_elem(f32::MIN_POSITIVE).int().sum());
                }
                push_pair(&mut floats, scaled_squares(g))
            });
            slots.push(Slots { weight, dist, grad, histogram: hist, tiny, len });
        }
        let (f, n) = read_back(floats, ints, &device);
        let norm2 = |k: usize| f64::from(f[k]).powi(2) * f64::from(f[k + 1]);
        slots
            .iter()
            .zip(initial_norms)
            .map(|(s, &w0)| {
                let hist: Option<Histogram> = s.histogram.map(|h| std::array::from_fn(|b| n[h + b] as u64));
                let tiny = match (s.tiny, &hist) {
                    (Some(t), _) => n[t] as usize,
                    (None, Some(h)) => (h[0] + h[1]) as usize,
                    (None, None) => 0,
                };
                let g2 = s.grad.map(norm2);
                param_sums(g2.map(|g2| (g2, tiny, s.len)), norm2(s.weight), norm2(s.dist), w0, hist)
            })
            .collect()
    }
}

/// The sums of squares of `after[i] - before[i]` for every parameter, reduced on the device
/// and read back in one transaction (the update ratio's numerators).
pub(crate) fn update_sums(after: Vec<Tensor<1>>, before: &[Tensor<1>]) -> Vec<f64> {
    let device = after.first().map(Tensor::device).unwrap_or_default();
    let mut floats = Vec::with_capacity(2 * after.len());
    for (a, b) in after.into_iter().zip(before) {
        push_pair(&mut floats, scaled_squares(a - b.clone()));
    }
    let (f, _) = read_back(floats, Vec::new(), &device);
    f.chunks_exact(2).map(|p| f64::from(p[0]).powi(2) * f64::from(p[1])).collect()
}

/// The floats and ints, each concatenated on the device, read back in one transaction.
fn read_back(floats: Vec<Tensor<1>>, ints: Vec<Tensor<1, Int>>, device: &Device) -> (Vec<f32>, Vec<i64>) {
    let floats = if floats.is_empty() { Tensor::<1>::zeros([0], device) } else { Tensor::cat(floats, 0) };
    let ints = if ints.is_empty() { Tensor::<1, Int>::zeros([0], device) } else { Tensor::cat(ints, 0) };
    let mut data = Transaction::default().register(floats).register(ints).execute().into_iter();
    let mut next = || data.next().expect("the transaction returns what was registered");
    let f = next().convert::<f32>().try_to_vec::<f32>().expect("float32 values");
    let n = next().convert::<i64>().try_to_vec::<i64>().expect("integer counts");
    (f, n)
}

/// One parameter's sums as the host path makes them: `grad` is (sum of squares, tiny entries,
/// entries) of its gradient.
fn param_sums(grad: Option<(f64, usize, usize)>, w2: f64, d2: f64, w0: f64, histogram: Option<Histogram>) -> ParamSums {
    let ratio = |part: f64, whole: f64| if whole > 0.0 { part / whole } else { part };
    ParamSums {
        metrics: ParamMetrics {
            grad_norm: grad.map(|(g2, _, _)| g2.sqrt()),
            weight_norm: w2.sqrt(),
            update_ratio: None,
            dist_from_init: ratio(d2.sqrt(), w0),
            grad_underflow: grad.map(|(_, tiny, len)| tiny as f64 / len.max(1) as f64),
        },
        g2: grad.map(|(g2, _, _)| g2),
        tiny: grad.map_or(0, |(_, t, _)| t),
        len: grad.map_or(0, |(_, _, l)| l),
        w2,
        d2,
        histogram,
    }
}
