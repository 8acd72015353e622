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
//! comparing the entry with the float32 edge above it (the smallest float32 at or above
//! 10^(e+1), which is what the host's f64 comparison amounts to), so that every count equals
//! the host's exactly. The entries are then counted into their bins by one scatter-add.
//!
//! Parameters of the same length are reduced together, as the rows of one matrix (weights,
//! gradients and distances from init stacked), so that a reading costs a few dozen burn
//! operations per distinct length rather than per parameter.

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
    /// host memory already and where the device path's separate operations cost many times
    /// the host's fused passes (BENCHMARKS.md), and for wgpu's CPU adapter (Mesa's lavapipe:
    /// `DeviceKind::Cpu`, or the default device under `CUBECL_WGPU_DEFAULT_DEVICE=Cpu`), whose
    /// buffers are host memory too; on the device for the GPU backends.
    #[default]
    Auto,
    /// Always on the host: every tensor is read back whole.
    Host,
    /// Always on the device: only scalars and counts are read back.
    Device,
}

/// The first decade of the bins (`runfolder::histogram::DECADES`), and the last: an entry
/// of |g| >= 10^(LAST_DECADE + 1) is `Large`.
const FIRST_DECADE: i32 = -38;
const LAST_DECADE: i32 = 2;
/// The bin of |g| in [10^e, 10^(e+1)) is `e + DECADE_BIN`; `Large` is the last bin.
const DECADE_BIN: i32 = 2 - FIRST_DECADE;
/// How far below log10|g| the decade is estimated: the estimate is then never above the
/// entry's decade and at most one below it, as long as the device's logarithm is off by less
/// than this (float32 logarithms are off by about 1e-5 decades), so that one comparison
/// with the next edge corrects it.
const ESTIMATE_BELOW: f32 = 0.25;

/// What the device path keeps between readings: the parameters grouped by length with their
/// initial values, and the bins' edges, uploaded to the device once, at the first reading.
#[derive(Default)]
pub(crate) struct DeviceState {
    groups: Vec<Group>,
    edges: Option<Tensor<1>>,
}

/// Parameters of one length, reduced together: their rows are stacked into one matrix, so
/// that each burn operation of the reduction runs once for the group instead of once per
/// parameter. Each operation is a separate kernel on a GPU backend (and a separate pass with
/// its own buffer on flex), so their number, not the entries they touch, is what a reading
/// of a model of many small tensors costs on lavapipe (BENCHMARKS.md, issue 26).
struct Group {
    /// The parameters, by index, in the order of the matrix's rows.
    params: Vec<usize>,
    /// Their initial values, `[params.len(), len]`.
    initial: Tensor<2>,
}

/// Whether the tensor lives in host memory: a flex tensor (which the host path reads in
/// place), an ndarray one, or one on wgpu's CPU adapter (Mesa's lavapipe), whose buffers are
/// host memory behind a Vulkan driver. On that adapter every burn operation of the device
/// path is a round trip to cubecl's device thread and a kernel run on the same two cores, so
/// the device path costs several times the host's there (BENCHMARKS.md, issue 26): there is
/// no transfer over a bus to save.
pub(crate) fn in_host_memory(t: &Tensor<1>) -> bool {
    match t.clone().into_dispatch().kind {
        DispatchTensorKind::Flex(_) | DispatchTensorKind::NdArray(_) => true,
        #[allow(unreachable_patterns)]
        _ => on_cpu_adapter(&t.device()),
    }
}

/// Whether the device is wgpu's CPU adapter: named as such, or the default device where
/// `CUBECL_WGPU_DEFAULT_DEVICE=Cpu` makes it that (as cubecl-wgpu resolves the default; wgpu
/// never picks a CPU adapter on its own). The device is compared as the model holds it,
/// with autodiff or without.
#[cfg(feature = "wgpu")]
fn on_cpu_adapter(device: &Device) -> bool {
    use burn::tensor::DeviceKind;
    let is = |kind: DeviceKind| {
        let plain = Device::wgpu(kind);
        *device == plain || *device == plain.autodiff()
    };
    is(DeviceKind::Cpu) || (std::env::var("CUBECL_WGPU_DEFAULT_DEVICE").is_ok_and(|v| v == "Cpu") && is(DeviceKind::DefaultDevice))
}

#[cfg(not(feature = "wgpu"))]
fn on_cpu_adapter(_: &Device) -> bool {
    false
}

/// The parameters' indices grouped by their number of entries, the smallest first.
fn by_length(lens: impl Iterator<Item = usize>) -> Vec<Vec<usize>> {
    let mut groups: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
    for (i, n) in lens.enumerate() {
        groups.entry(n).or_default().push(i);
    }
    groups.into_values().collect()
}

/// Tensors of one length as the rows of a matrix: concatenated flat and reshaped once
/// (stacking them would add an operation per tensor, each a round trip to the device's
/// thread), without a copy for one tensor.
fn rows(mut tensors: Vec<Tensor<1>>) -> Tensor<2> {
    let (r, n) = (tensors.len(), tensors.first().map_or(0, |t| t.dims()[0]));
    let flat = if r == 1 { tensors.pop().expect("one tensor") } else { Tensor::cat(tensors, 0) };
    flat.reshape([r, n])
}

/// For every edge the bins' decades need (10^(e+1) for e in `FIRST_DECADE..=LAST_DECADE`),
/// its float32 form (`runfolder::decade_edge`), so that `x >= edge` in float32 is the host's
/// `f64::from(x) >= 10^(e+1)`.
fn upper_edges() -> Vec<f32> {
    (FIRST_DECADE..=LAST_DECADE).map(|e| runfolder::decade_edge(e + 1)).collect()
}

/// Per row of `x` (`[rows, n]`), a divisor d (`[rows]`): the row's largest |entry|, at least
/// the smallest normal float (so that a row of zeros or subnormals divides by a normal
/// number), and the sum of squares of the row divided by d (`[rows]`), so that the row's sum
/// of squares is d² times it. `abs` is `x.abs()`, when the caller has it.
fn scaled_squares(x: Tensor<2>, abs: Tensor<2>) -> (Tensor<1>, Tensor<1>) {
    let d = abs.max_dim(1).clamp_min(f32::MIN_POSITIVE);
    let s = (x / d.clone()).square().sum_dim(1);
    (d.flatten(0, 1), s.flatten(0, 1))
}

/// Each row's histogram (`[rows, BIN_COUNT]`, bins as `runfolder::Bin::index`) of the
/// entries whose absolute values are `a` (`[rows, n]`).
///
/// The bins are decades of |g|, whose edges are not float32 numbers. Each entry's decade is
/// estimated from its logarithm, a little low ([`ESTIMATE_BELOW`]), clamped into the table,
/// and corrected by one comparison with the float32 edge above it (one gather from the
/// table): every count is the host's exactly. Entries at or above 10^(LAST_DECADE + 1) come
/// out as the decade after the last, which is the `Large` bin.
fn bin_counts(a: Tensor<2>, upper: &Tensor<1>) -> Tensor<2, Int> {
    let [rows, n] = a.dims();
    let device = a.device();
    // NaN counts as `Large`, as on the host: made infinite first, so that no NaN reaches the
    // float-to-int conversion below (whose result for NaN the GPU backends leave open).
    let a = a.clone().mask_fill(a.is_nan(), f32::INFINITY);
    // j = e - FIRST_DECADE, estimated; 0 gives -inf and subnormals give less than -38, all
    // clamped into the table and put in their bins by the masks below.
    let j = a
        .clone()
        .log()
        .mul_scalar(1.0 / std::f32::consts::LN_10)
        .add_scalar(-(FIRST_DECADE as f32) - ESTIMATE_BELOW)
        .floor()
        .clamp(0.0, (LAST_DECADE - FIRST_DECADE) as f32)
        .int();
    let edge = upper.clone().select(0, j.clone().flatten(0, 1)).reshape([rows, n]);
    let bin = (j + a.clone().greater_equal(edge).int()).add_scalar(DECADE_BIN + FIRST_DECADE);
    let bin = bin.mask_fill(a.clone().lower_elem(f32::MIN_POSITIVE), 1).mask_fill(a.equal_elem(0.0), 0);
    Tensor::<2, Int>::zeros([rows, BIN_COUNT], &device).scatter(1, bin, Tensor::ones([rows, n], &device), IndexingUpdateOp::Add)
}

/// Where a parameter's values sit in the float and int read-backs.
#[derive(Clone, Copy, Default)]
struct Slots {
    /// Where the (max, scaled sum) pairs of the weight, of the distance from init and of the
    /// gradient sit in the floats.
    weight: (usize, usize),
    dist: (usize, usize),
    grad: Option<(usize, usize)>,
    /// Where the gradient's bin counts start in the ints.
    bins: Option<usize>,
    len: usize,
}

impl DeviceState {
    /// The sums of every parameter, reduced on the device and read back in one transaction.
    /// `initial` and `initial_norms` are the watch's host copies (uploaded at the first
    /// call), `histogram[i]` whether parameter i's gradient's histogram is kept (the others'
    /// bins are counted too, for their tiny entries).
    pub(crate) fn param_sums(
        &mut self,
        weights: &[Tensor<1>],
        mut grads: Vec<Option<Tensor<1>>>,
        initial: &[Vec<f32>],
        initial_norms: &[f64],
        histogram: &[bool],
    ) -> Vec<ParamSums> {
        let device = weights.first().map(Tensor::device).unwrap_or_default();
        if self.groups.iter().map(|g| g.params.len()).sum::<usize>() != initial.len() {
            self.groups = by_length(initial.iter().map(Vec::len))
                .into_iter()
                .map(|params| {
                    let values: Vec<f32> = params.iter().flat_map(|&i| initial[i].iter().copied()).collect();
                    let shape = [params.len(), initial[params[0]].len()];
                    Group { initial: Tensor::from_data(TensorData::new(values, shape), &device), params }
                })
                .collect();
        }
        let upper = self.edges.get_or_insert_with(|| Tensor::from_data(TensorData::new(upper_edges(), [BIN_COUNT - 3]), &device)).clone();
        let (mut floats, mut ints) = (Vec::new(), Vec::new());
        let (mut float_len, mut int_len) = (0, 0);
        let mut slots = vec![Slots::default(); weights.len()];
        for group in &self.groups {
            let k = group.params.len();
            let with_grad: Vec<usize> = group.params.iter().copied().filter(|&i| grads[i].is_some()).collect();
            // One matrix of the group's weights, their gradients and their distances from
            // init, row by row: one pass of each operation for all of them.
            let mut parts: Vec<Tensor<1>> = group.params.iter().map(|&i| weights[i].clone()).collect();
            parts.extend(with_grad.iter().map(|&i| grads[i].take().expect("a gradient")));
            let wg = rows(parts);
            let n = wg.dims()[1];
            let dist = wg.clone().slice([0..k, 0..n]) - group.initial.clone();
            let x = Tensor::cat(vec![wg, dist], 0);
            let r = x.dims()[0];
            let abs = x.clone().abs();
            let (m, s) = scaled_squares(x, abs.clone());
            // Rows: weights 0..k, gradients k..k + g, distances k + g..r.
            let g = with_grad.len();
            let pair = |row: usize| (float_len + row, float_len + r + row);
            for (j, &i) in group.params.iter().enumerate() {
                slots[i] = Slots { weight: pair(j), dist: pair(k + g + j), len: n, ..Slots::default() };
            }
            for (j, &i) in with_grad.iter().enumerate() {
                slots[i].grad = Some(pair(k + j));
                slots[i].bins = Some(int_len + j * BIN_COUNT);
            }
            floats.push(m);
            floats.push(s);
            float_len += 2 * r;
            if g > 0 {
                ints.push(bin_counts(abs.slice([k..k + g, 0..n]), &upper).flatten(0, 1));
                int_len += g * BIN_COUNT;
            }
        }
        let (f, n) = read_back(floats, ints, &device);
        let norm2 = |slot| sum_of_squares(&f, slot);
        slots
            .iter()
            .zip(initial_norms)
            .zip(histogram)
            .map(|((s, &w0), &keep)| {
                let bins: Option<Histogram> = s.bins.map(|b| std::array::from_fn(|j| n[b + j] as u64));
                let tiny = bins.map_or(0, |h| (h[0] + h[1]) as usize);
                let g2 = s.grad.map(norm2);
                param_sums(g2.map(|g2| (g2, tiny, s.len)), norm2(s.weight), norm2(s.dist), w0, bins.filter(|_| keep))
            })
            .collect()
    }
}

/// The sums of squares of `after[i] - before[i]` for every parameter, reduced on the device
/// (grouped by length, as the readings are) and read back in one transaction (the update
/// ratios' numerators). `before` are the model's own weight tensors, kept by the reading
/// rather than its stacked copy, which would hold a second copy of the model and its
/// gradients through the optimizer's step.
pub(crate) fn update_sums(after: Vec<Tensor<1>>, before: &[Tensor<1>]) -> Vec<f64> {
    let device = after.first().map(Tensor::device).unwrap_or_default();
    let groups = by_length(after.iter().map(|t| t.dims()[0]));
    let mut after: Vec<Option<Tensor<1>>> = after.into_iter().map(Some).collect();
    let mut floats = Vec::with_capacity(2 * groups.len());
    let mut at = vec![(0, 0); after.len()];
    let mut float_len = 0;
    for params in &groups {
        let a = rows(params.iter().map(|&i| after[i].take().expect("each parameter once")).collect());
        let d = a - rows(params.iter().map(|&i| before[i].clone()).collect());
        let r = params.len();
        for (j, &i) in params.iter().enumerate() {
            at[i] = (float_len + j, float_len + r + j);
        }
        let (m, s) = scaled_squares(d.clone(), d.abs());
        floats.push(m);
        floats.push(s);
        float_len += 2 * r;
    }
    let (f, _) = read_back(floats, Vec::new(), &device);
    at.iter().map(|&slot| sum_of_squares(&f, slot)).collect()
}

/// A sum of squares from its (divisor d, scaled sum s) pair in the read-back floats: d² s,
/// in f64.
fn sum_of_squares(f: &[f32], (m, s): (usize, usize)) -> f64 {
    f64::from(f[m]).powi(2) * f64::from(f[s])
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
