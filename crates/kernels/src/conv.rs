//! The 2-D convolution on flex buffers as matrix products (im2col): the batch is cut into one
//! piece per thread, each piece's input patches are unfolded into the columns of one matrix,
//! and the forward pass and both backward products are one `gemm` call per piece.
//!
//! With `K = c_in kh kw` rows of patches and `J` = the piece's images times the output's
//! pixels, the forward pass is `W [c_out, K] cols [K, J]`, started from the bias; the weight's
//! gradient is `dY [c_out, J] cols^T`, summed over the pieces; the input's gradient is
//! `W^T dY [K, J]`, folded back onto the input's pixels (col2im). burn-flex 0.22.1 runs its
//! convolution's backward pass as other convolutions instead: the input's gradient as a
//! transposed convolution, and the weight's as a convolution of the input by the output's
//! gradient, with the batch as the channels and the output's size as the kernel.

use burn::backend::flex::FlexTensor;
use burn::backend::{DType, TensorMetadata};
use burn::tensor::Shape;
use rayon::prelude::*;

use crate::matmul;

/// The values of the patch matrix one thread unfolds at a time (4 MiB of f32): a block of the
/// CNN example's layers at batch 64 is its thread's whole half of the batch.
const BLOCK_VALUES: usize = 1 << 20;

/// The sizes of one convolution: input `[n, c, h, w]`, weight `[co, c, kh, kw]`, stride,
/// symmetric zero padding, and the output's `oh` x `ow`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Geometry {
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    co: usize,
    kh: usize,
    kw: usize,
    stride: [usize; 2],
    pad: [usize; 2],
    oh: usize,
    ow: usize,
}

impl Geometry {
    /// The geometry of `x` and `w`, or `None` for what this file does not compute (another
    /// dtype, channels that disagree, a kernel larger than the padded input, no output):
    /// burn's own convolution takes those, and reports the errors.
    pub(crate) fn of(x: &FlexTensor, w: &FlexTensor, stride: [usize; 2], pad: [usize; 2]) -> Option<Geometry> {
        if x.dtype() != DType::F32 || w.dtype() != DType::F32 || x.shape().num_dims() != 4 || w.shape().num_dims() != 4 {
            return None;
        }
        let [n, c, h, wd] = x.shape().dims::<4>();
        let [co, ci, kh, kw] = w.shape().dims::<4>();
        if ci != c || stride.contains(&0) || h + 2 * pad[0] < kh || wd + 2 * pad[1] < kw {
            return None;
        }
        let oh = (h + 2 * pad[0] - kh) / stride[0] + 1;
        let ow = (wd + 2 * pad[1] - kw) / stride[1] + 1;
        let g = Geometry { n, c, h, w: wd, co, kh, kw, stride, pad, oh, ow };
        (n > 0 && c > 0 && co > 0 && g.k() > 0).then_some(g)
    }

    /// Rows of the patch matrix: `c kh kw`.
    fn k(&self) -> usize {
        self.c * self.kh * self.kw
    }

    /// Output pixels of one image.
    fn p(&self) -> usize {
        self.oh * self.ow
    }

    /// Values of the whole output: `n co oh ow`.
    pub(crate) fn output_len(&self) -> usize {
        self.n * self.co * self.p()
    }

    fn input_len(&self) -> usize {
        self.c * self.h * self.w
    }

    /// The pieces the batch is cut into: as many images each as makes one piece per thread.
    fn images_per_piece(&self) -> usize {
        self.n.div_ceil(rayon::current_num_threads().clamp(1, self.n))
    }

    /// The images unfolded at once within a piece: as many as keep the patch matrix near
    /// [`BLOCK_VALUES`] (at least one image), so that a wide layer's patches do not take
    /// hundreds of megabytes.
    fn images_per_block(&self) -> usize {
        (BLOCK_VALUES / (self.k() * self.p()).max(1)).max(1)
    }

    /// The output columns `lo..hi` at which kernel column `s` reads an input column inside
    /// the image (the others read the zero padding).
    fn valid_cols(&self, s: usize) -> (usize, usize) {
        let (sw, pw) = (self.stride[1], self.pad[1]);
        // ox * sw + s - pw >= 0  and  ox * sw + s - pw <= w - 1.
        let lo = pw.saturating_sub(s).div_ceil(sw).min(self.ow);
        let hi = if self.w + pw > s { ((self.w + pw - s - 1) / sw + 1).min(self.ow) } else { 0 };
        (lo, hi.max(lo))
    }

    /// The input row that output row `oy` reads at kernel row `r`, if it is inside the image.
    fn input_row(&self, oy: usize, r: usize) -> Option<usize> {
        (oy * self.stride[0] + r).checked_sub(self.pad[0]).filter(|&iy| iy < self.h)
    }
}

/// Unfolds the patches of one image `x` `[c, h, w]` into columns `j0..j0 + p` of `cols`
/// `[k, stride]`: row `(ci kh + r) kw + s`, column `j0 + oy ow + ox` holds the input pixel
/// that output pixel (oy, ox) multiplies with weight (ci, r, s), or 0 in the padding.
fn im2col(g: &Geometry, x: &[f32], cols: &mut [f32], stride: usize, j0: usize) {
    let (p, ow, sw) = (g.p(), g.ow, g.stride[1]);
    for ci in 0..g.c {
        let plane = &x[ci * g.h * g.w..(ci + 1) * g.h * g.w];
        for r in 0..g.kh {
            for s in 0..g.kw {
                let row = (ci * g.kh + r) * g.kw + s;
                let dst = &mut cols[row * stride + j0..row * stride + j0 + p];
                let (lo, hi) = g.valid_cols(s);
                for (oy, d) in dst.chunks_exact_mut(ow).enumerate() {
                    let Some(iy) = g.input_row(oy, r) else {
                        d.fill(0.0);
                        continue;
                    };
                    let src = &plane[iy * g.w..(iy + 1) * g.w];
                    d[..lo].fill(0.0);
                    d[hi..].fill(0.0);
                    if lo == hi {
                        continue;
                    }
                    // Input column of output column ox: ox sw + s - pw (inside the image here).
                    let first = lo * sw + s - g.pad[1];
                    if sw == 1 {
                        d[lo..hi].copy_from_slice(&src[first..first + (hi - lo)]);
                    } else {
                        for (o, v) in d[lo..hi].iter_mut().zip(src[first..].iter().step_by(sw)) {
                            *o = *v;
                        }
                    }
                }
            }
        }
    }
}

/// The reverse of [`im2col`]: adds every entry of columns `j0..j0 + p` of `cols` onto the
/// input pixel it came from, in `dx` `[c, h, w]` (the padding's entries are dropped).
fn col2im(g: &Geometry, cols: &[f32], stride: usize, j0: usize, dx: &mut [f32]) {
    let (p, ow, sw) = (g.p(), g.ow, g.stride[1]);
    for ci in 0..g.c {
        let plane = &mut dx[ci * g.h * g.w..(ci + 1) * g.h * g.w];
        for r in 0..g.kh {
            for s in 0..g.kw {
                let row = (ci * g.kh + r) * g.kw + s;
                let src = &cols[row * stride + j0..row * stride + j0 + p];
                let (lo, hi) = g.valid_cols(s);
                for (oy, d) in src.chunks_exact(ow).enumerate() {
                    let Some(iy) = g.input_row(oy, r) else { continue };
                    if lo == hi {
                        continue;
                    }
                    let out = &mut plane[iy * g.w..(iy + 1) * g.w];
                    let first = lo * sw + s - g.pad[1];
                    for (o, v) in out[first..].iter_mut().step_by(sw).zip(&d[lo..hi]) {
                        *o += v;
                    }
                }
            }
        }
    }
}

/// The output's gradient of a piece's images, `g` `[images, co, p]`, as the matrix
/// `[co, images p]` the products take.
fn gather_grad(geo: &Geometry, g: &[f32], images: usize) -> Vec<f32> {
    let (p, co) = (geo.p(), geo.co);
    let j = images * p;
    let mut out = vec![0.0f32; co * j];
    for (b, image) in g.chunks_exact(co * p).enumerate() {
        for (c, plane) in image.chunks_exact(p).enumerate() {
            out[c * j + b * p..c * j + (b + 1) * p].copy_from_slice(plane);
        }
    }
    out
}

/// A matrix in a slice: its row and column strides in elements.
#[derive(Clone, Copy)]
struct Mat<'a> {
    values: &'a [f32],
    row_stride: usize,
    col_stride: usize,
}

impl<'a> Mat<'a> {
    fn rows(values: &'a [f32], cols: usize) -> Mat<'a> {
        Mat { values, row_stride: cols, col_stride: 1 }
    }

    /// The transpose of a row-major matrix of `cols` columns.
    fn transposed(values: &'a [f32], cols: usize) -> Mat<'a> {
        Mat { values, row_stride: 1, col_stride: cols }
    }

    /// Whether an `rows x cols` matrix with these strides lies inside the slice.
    fn holds(&self, rows: usize, cols: usize) -> bool {
        rows == 0 || cols == 0 || (rows - 1) * self.row_stride + (cols - 1) * self.col_stride < self.values.len()
    }
}

/// `dst [m, n] (+)= a [m, k] b [k, n]`, `dst` row-major, on the calling thread (the pieces
/// are the parallelism); with `accumulate`, onto what `dst` holds.
fn gemm(m: usize, n: usize, k: usize, dst: &mut [f32], accumulate: bool, a: Mat<'_>, b: Mat<'_>) {
    assert!(dst.len() >= m * n && a.holds(m, k) && b.holds(k, n), "convolution product: a matrix is out of its buffer");
    if k == 0 {
        if !accumulate {
            dst[..m * n].fill(0.0);
        }
        return;
    }
    // SAFETY: the assertion above keeps every element the strides address inside its slice;
    // `dst` is written only, or read and written when `accumulate`, and is not aliased.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.values.as_ptr(),
            a.col_stride as isize,
            a.row_stride as isize,
            b.values.as_ptr(),
            b.col_stride as isize,
            b.row_stride as isize,
            1.0f32,
            1.0f32,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// `conv2d(x, w) + b` for contiguous x `[n, c, h, w]`, w `[co, c, kh, kw]` and b `[co]`.
pub(crate) fn forward(g: &Geometry, x: &[f32], w: &[f32], bias: &[f32]) -> FlexTensor {
    let (k, p, co) = (g.k(), g.p(), g.co);
    let (per, block) = (g.images_per_piece(), g.images_per_block());
    let mut out = vec![0.0f32; g.n * co * p];
    out.par_chunks_mut(per * co * p).zip(x.par_chunks(per * g.input_len())).for_each(|(out, x)| {
        for (out, x) in out.chunks_mut(block * co * p).zip(x.chunks(block * g.input_len())) {
            let images = x.len() / g.input_len();
            let j = images * p;
            let cols = unfold(g, x, j);
            // The product starts from the bias, row c holding b[c]: the addition costs no pass.
            let mut y: Vec<f32> = bias.iter().flat_map(|&b| std::iter::repeat_n(b, j)).collect();
            gemm(co, j, k, &mut y, true, Mat::rows(w, k), Mat::rows(&cols, j));
            for (b, image) in out.chunks_exact_mut(co * p).enumerate() {
                for (c, plane) in image.chunks_exact_mut(p).enumerate() {
                    plane.copy_from_slice(&y[c * j + b * p..c * j + (b + 1) * p]);
                }
            }
        }
    });
    matmul::tensor(out, Shape::new([g.n, co, g.oh, g.ow]))
}

/// The patches of the images `x` `[images, c, h, w]` as the matrix `[k, j]`, `j` = images p.
fn unfold(g: &Geometry, x: &[f32], j: usize) -> Vec<f32> {
    let mut cols = vec![0.0f32; g.k() * j];
    for (b, image) in x.chunks_exact(g.input_len()).enumerate() {
        im2col(g, image, &mut cols, j, b * g.p());
    }
    cols
}

/// The weight's and the bias's gradients from the output's gradient `dy` `[n, co, oh, ow]`.
pub(crate) fn params_backward(g: &Geometry, x: &[f32], dy: &[f32]) -> (FlexTensor, FlexTensor) {
    let (k, p, co) = (g.k(), g.p(), g.co);
    let (per, block) = (g.images_per_piece(), g.images_per_block());
    let pieces: Vec<(Vec<f32>, Vec<f64>)> = x
        .par_chunks(per * g.input_len())
        .zip(dy.par_chunks(per * co * p))
        .map(|(x, dy)| {
            let mut dw = vec![0.0f32; co * k];
            let mut db = vec![0.0f64; co];
            for (first, (x, dy)) in x.chunks(block * g.input_len()).zip(dy.chunks(block * co * p)).enumerate() {
                let images = x.len() / g.input_len();
                let j = images * p;
                let cols = unfold(g, x, j);
                let dy = gather_grad(g, dy, images);
                gemm(co, k, j, &mut dw, first > 0, Mat::rows(&dy, j), Mat::transposed(&cols, j));
                // The bias's gradient sums many terms (all pixels of all images): in f64.
                for (s, row) in db.iter_mut().zip(dy.chunks_exact(j)) {
                    *s += row.iter().map(|&v| f64::from(v)).sum::<f64>();
                }
            }
            (dw, db)
        })
        .collect();
    let mut dw = vec![0.0f32; co * k];
    let mut db = vec![0.0f64; co];
    for (pw, pb) in pieces {
        dw.iter_mut().zip(pw).for_each(|(a, b)| *a += b);
        db.iter_mut().zip(pb).for_each(|(a, b)| *a += b);
    }
    (
        matmul::tensor(dw, Shape::new([co, g.c, g.kh, g.kw])),
        matmul::tensor(db.into_iter().map(|v| v as f32).collect(), Shape::new([co])),
    )
}

/// The input's gradient from the output's gradient `dy` `[n, co, oh, ow]`.
pub(crate) fn input_backward(g: &Geometry, w: &[f32], dy: &[f32]) -> FlexTensor {
    let (k, p, co) = (g.k(), g.p(), g.co);
    let (per, block) = (g.images_per_piece(), g.images_per_block());
    let mut dx = vec![0.0f32; g.n * g.input_len()];
    dx.par_chunks_mut(per * g.input_len()).zip(dy.par_chunks(per * co * p)).for_each(|(dx, dy)| {
        for (dx, dy) in dx.chunks_mut(block * g.input_len()).zip(dy.chunks(block * co * p)) {
            let images = dx.len() / g.input_len();
            let j = images * p;
            let dy = gather_grad(g, dy, images);
            let mut cols = vec![0.0f32; k * j];
            gemm(k, j, co, &mut cols, false, Mat::transposed(w, k), Mat::rows(&dy, j));
            for (b, image) in dx.chunks_exact_mut(g.input_len()).enumerate() {
                col2im(g, &cols, j, b * p, image);
            }
        }
    });
    matmul::tensor(dx, Shape::new([g.n, g.c, g.h, g.w]))
}
