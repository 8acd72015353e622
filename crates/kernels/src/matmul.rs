//! Matrix products on flex buffers, straight through the `gemm` crate that burn-flex itself
//! calls, but into freshly allocated uninitialized buffers that become tensors without a copy.
//!
//! burn-flex 0.22.1 makes every output with `FlexTensor::empty`: a zeroed `Vec<u8>`, which
//! `Bytes::from_bytes_vec` then copies into a 16-byte-aligned allocation. For the 1024x1024
//! weight gradients of a wide MLP that is a memset and a memcpy of 4 MiB for each product, on
//! one thread, while the other threads wait. Here the output is a `Vec<f32>` that the product
//! writes once, and `Bytes::from_elems` takes it over as it is.

use burn::backend::flex::{FlexTensor, Layout};
use burn::backend::DType;
use burn::tensor::{Bytes, Shape};
use rayon::prelude::*;

/// A 2-D f32 view into a flex tensor's buffer: its first element and its strides in elements.
#[derive(Clone, Copy)]
pub(crate) struct View {
    ptr: *const f32,
    rows: usize,
    cols: usize,
    row_stride: isize,
    col_stride: isize,
}

// SAFETY: a view is read-only, and points into a tensor that the caller keeps alive for as
// long as the view is used (for the length of one product, which may run on another thread).
unsafe impl Send for View {}
unsafe impl Sync for View {}

impl View {
    /// The view of a 2-D f32 tensor, whatever its strides (transposed views included).
    pub(crate) fn of(t: &FlexTensor) -> Option<View> {
        let layout = t.layout();
        if t.dtype() != DType::F32 || layout.num_dims() != 2 {
            return None;
        }
        let shape = layout.shape();
        let strides = layout.strides();
        let storage = t.storage::<f32>();
        // A view of no elements may point one past its storage; it is never read.
        let ptr = if layout.num_elements() == 0 {
            storage.as_ptr()
        } else {
            storage[layout.start_offset()..].as_ptr()
        };
        Some(View { ptr, rows: shape[0], cols: shape[1], row_stride: strides[0], col_stride: strides[1] })
    }

    pub(crate) fn rows(&self) -> usize {
        self.rows
    }

    pub(crate) fn cols(&self) -> usize {
        self.cols
    }
}

/// Products smaller than this many multiply-adds run on one thread, as burn-flex decides
/// (its `PARALLEL_THRESHOLD`): below it, waking the other threads costs more than they save.
const PARALLEL_THRESHOLD: usize = 192 * 192 * 192;

/// Products at least this large whose right factor is a transposed view (the backward pass's
/// `g W^T`) are computed into a column-major buffer and transposed, which is faster than
/// gemm's own handling of that layout. Measured on 2 AVX-512 cores with batch 128 (`cargo run
/// -p train --example gemm_layouts`): with W 1024x1024, gemm takes 1.80 ms for `g W^T` into a
/// row-major output and 0.87 ms into a column-major one, and transposing the result 0.13 ms;
/// at width 512, 0.42 ms against 0.25 + 0.07; at 384 the two ways about break even.
const TRANSPOSED_RHS_THRESHOLD: usize = 128 * 512 * 512;

/// `start + a b`: a new contiguous `[a.rows, b.cols]` tensor.
///
/// The output starts as `start` (the bias, row after row) and the product is accumulated onto
/// it, so that the addition costs no pass of its own.
pub(crate) fn product(a: View, b: View, start: Start<'_>) -> FlexTensor {
    product_on(a, b, start, Threads::Pool)
}

/// Products below this size are computed side by side, one per thread, when two are wanted at
/// once (the backward pass's dx and dw), instead of one after the other with each split over
/// the threads: gemm's split of a 128x256x256 product leaves the second thread idle for much
/// of it.
const PAIR_THRESHOLD: usize = TRANSPOSED_RHS_THRESHOLD;

/// `a1 b1` and `a2 b2` (see [`product`]), side by side on two threads when both are small.
pub(crate) fn two_products((a1, b1): (View, View), (a2, b2): (View, View)) -> (FlexTensor, FlexTensor) {
    let small = |a: View, b: View| a.rows.saturating_mul(a.cols).saturating_mul(b.cols) < PAIR_THRESHOLD;
    if rayon::current_num_threads() > 1 && small(a1, b1) && small(a2, b2) {
        rayon::join(|| product_on(a1, b1, Start::Zero, Threads::One), || product_on(a2, b2, Start::Zero, Threads::One))
    } else {
        (product(a1, b1, Start::Zero), product(a2, b2, Start::Zero))
    }
}

/// Which threads one product may use.
#[derive(Clone, Copy, PartialEq)]
enum Threads {
    /// The current rayon pool's, for a product large enough to be worth splitting.
    Pool,
    /// The calling thread's alone.
    One,
}

fn product_on(a: View, b: View, start: Start<'_>, threads: Threads) -> FlexTensor {
    assert_eq!(a.cols, b.rows, "matrix product: inner dimensions differ");
    let (m, k, n) = (a.rows, a.cols, b.cols);
    match start {
        Start::Zero => {}
        Start::Bias(bias) => assert_eq!(bias.len(), n, "matrix product: the bias has the wrong length"),
        Start::BiasAndMatrix(bias, matrix) => {
            assert_eq!(bias.len(), n, "matrix product: the bias has the wrong length");
            assert_eq!(matrix.len(), m * n, "matrix product: the added matrix has the wrong size");
        }
    }
    let transposed_rhs = b.row_stride == 1 && b.col_stride != 1;
    if matches!(start, Start::Zero) && transposed_rhs && k > 0 && m.saturating_mul(n).saturating_mul(k) >= TRANSPOSED_RHS_THRESHOLD {
        let column_major = gemm_into(a, b, Start::Zero, Layout2::ColumnMajor, threads);
        return tensor(transpose(&column_major, m, n), Shape::new([m, n]));
    }
    tensor(gemm_into(a, b, start, Layout2::RowMajor, threads), Shape::new([m, n]))
}

/// What a product is added to.
#[derive(Clone, Copy)]
pub(crate) enum Start<'a> {
    Zero,
    /// A bias `[n]`, the same for every row.
    Bias(&'a [f32]),
    /// A bias `[n]` plus a row-major `[m, n]` matrix (the telemetry's zero taps).
    BiasAndMatrix(&'a [f32], &'a [f32]),
}

/// How a product's output is laid out in its buffer.
#[derive(Clone, Copy, PartialEq)]
enum Layout2 {
    RowMajor,
    ColumnMajor,
}

/// `start + a b` (`start` other than zero: row-major only) into a new buffer of the given layout.
fn gemm_into(a: View, b: View, start: Start<'_>, layout: Layout2, threads: Threads) -> Vec<f32> {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    let len = m * n;
    let mut out: Vec<f32> = Vec::with_capacity(len);
    debug_assert!(matches!(start, Start::Zero) || layout == Layout2::RowMajor);
    let (dst_cs, dst_rs) = match layout {
        Layout2::RowMajor => (1, n as isize),
        Layout2::ColumnMajor => (m as isize, 1),
    };
    let read_dst = match start {
        Start::Bias(bias) => {
            for _ in 0..m {
                out.extend_from_slice(bias);
            }
            true
        }
        Start::BiasAndMatrix(bias, matrix) => {
            for row in matrix.chunks(n.max(1)) {
                out.extend(bias.iter().zip(row).map(|(b, t)| b + t));
            }
            true
        }
        // With nothing to sum, gemm would leave the output unwritten: start from zeros.
        Start::Zero if k == 0 => {
            out.resize(len, 0.0);
            true
        }
        Start::Zero => false,
    };
    let parallelism = if threads == Threads::Pool && m.saturating_mul(n).saturating_mul(k) >= PARALLEL_THRESHOLD {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: `out` has room for m x n elements, addressed with the strides of `layout`
    // (row-major: row stride n, column stride 1); `a` and `b` point into live tensors with
    // the strides of their layouts. With `read_dst` false gemm writes every output element
    // without reading any (dst = a b), which makes all `len` elements initialized before
    // `set_len`; with it true they already are.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out.as_mut_ptr(),
            dst_cs,
            dst_rs,
            read_dst,
            a.ptr,
            a.col_stride,
            a.row_stride,
            b.ptr,
            b.col_stride,
            b.row_stride,
            1.0f32,
            1.0f32,
            false,
            false,
            false,
            parallelism,
        );
        out.set_len(len);
    }
    out
}

/// The row-major copy of an `m x n` matrix stored column-major. Each output row is written
/// in order (writing down a column instead, 4 KiB apart at width 1024, was three times slower
/// from cache aliasing); the reads of a band of rows share cache lines. Bands of rows are split
/// over the current rayon pool.
fn transpose(column_major: &[f32], m: usize, n: usize) -> Vec<f32> {
    const BAND: usize = 16;
    let mut out: Vec<f32> = Vec::with_capacity(m * n);
    out.spare_capacity_mut().par_chunks_mut(BAND * n).enumerate().for_each(|(band, rows)| {
        for (r, row) in rows.chunks_mut(n).enumerate() {
            let i = band * BAND + r;
            for (j, o) in row.iter_mut().enumerate() {
                o.write(column_major[j * m + i]);
            }
        }
    });
    // SAFETY: the bands cover all m rows of n elements, and every element was written above.
    unsafe { out.set_len(m * n) };
    out
}

/// The sum of a 2-D view's rows: `[cols]`, each column summed from the first row to the last.
pub(crate) fn sum_rows(x: View) -> FlexTensor {
    let mut out = vec![0.0f32; x.cols];
    for i in 0..x.rows {
        // SAFETY: row i of the view, as its layout addresses it.
        let row = unsafe { x.ptr.offset(i as isize * x.row_stride) };
        if x.col_stride == 1 {
            // SAFETY: with unit column stride the row is `cols` consecutive elements.
            let row = unsafe { std::slice::from_raw_parts(row, x.cols) };
            for (o, v) in out.iter_mut().zip(row) {
                *o += v;
            }
        } else {
            for (j, o) in out.iter_mut().enumerate() {
                // SAFETY: element (i, j) of the view.
                *o += unsafe { *row.offset(j as isize * x.col_stride) };
            }
        }
    }
    let n = out.len();
    tensor(out, Shape::new([n]))
}

/// A contiguous f32 tensor that owns `values` (no copy).
pub(crate) fn tensor(values: Vec<f32>, shape: Shape) -> FlexTensor {
    FlexTensor::new(Bytes::from_elems(values), Layout::contiguous(shape), DType::F32)
}
