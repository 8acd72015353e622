//! The 2-D convolution on flex buffers as matrix products (im2col): the batch is cut into one
//! piece per thread, each piece's input patches are unfolded, a block of images at a time
//! small enough to stay in the cache, into the columns of one matrix, and the forward pass
//! and both backward products are one `gemm` call per image on those columns.
//!
//! With `K = c_in kh kw` rows of patches and `P` the output's pixels, an image's output is
//! `W [c_out, K] cols [K, P]`, started from the bias and written in place; the weight's
//! gradient is `dY [c_out, P] cols^T`, summed over the images; the input's gradient is
//! `W^T dY [K, P]`, folded back onto the input's pixels (col2im). burn-flex 0.22.1 runs its
//! convolution's backward pass as other convolutions instead: the input's gradient as a
//! transposed convolution, and the weight's as a convolution of the input by the output's
//! gradient, with the batch as the channels and the output's size as the kernel.

use burn::backend::flex::FlexTensor;
use burn::backend::{DType, TensorMetadata};
use burn::tensor::Shape;
use rayon::prelude::*;

use crate::matmul;

/// The values of the patch matrix one thread unfolds at a time (256 KiB of f32): small enough
/// to stay in a core's L2 cache from its unfolding to its product, so that the patches, nine
/// times the input's size, are never written out to memory and read back.
const BLOCK_VALUES: usize = 1 << 16;

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

    /// Whether output pixel `q = oy ow + ox` reads input pixel `q + shift(r, s)` at kernel
    /// position (r, s): at stride 1 with the output as wide as the input ("same" padding
    /// across), the case of every 3x3 convolution of stride 1 and padding 1. A row of the
    /// patch matrix is then one shifted copy of the input's plane, and only the columns that
    /// read the padding need fixing up.
    fn shifts(&self) -> bool {
        self.stride == [1, 1] && self.ow == self.w
    }

    /// The output rows `lo..hi` at which kernel row `r` reads an input row inside the image.
    fn valid_rows(&self, r: usize) -> (usize, usize) {
        let lo = self.pad[0].saturating_sub(r).min(self.oh);
        let hi = (self.h + self.pad[0]).saturating_sub(r).min(self.oh);
        (lo, hi.max(lo))
    }

    /// For a geometry that [`shifts`](Self::shifts): the range `a..b` of output pixels of the
    /// rows that read inside the image at kernel position (r, s) whose shifted input pixel
    /// `q + off` lies in the plane, and `off` itself. The pixels of those rows outside `a..b`
    /// read the padding (their input column is outside the image).
    fn shifted_range(&self, r: usize, s: usize) -> (usize, usize, isize) {
        let (lo, hi) = self.valid_rows(r);
        let off = (r as isize - self.pad[0] as isize) * self.w as isize + s as isize - self.pad[1] as isize;
        let plane = (self.h * self.w) as isize;
        let (first, last) = ((lo * self.ow) as isize, (hi * self.ow) as isize);
        let a = (-off).clamp(first, last);
        let b = (plane - off).clamp(a, last);
        (a as usize, b as usize, off)
    }

    /// For a geometry that [`shifts`](Self::shifts): sets to 0 the entries of `row` (one
    /// kernel position (r, s)'s row of the patches, `[oh, ow]`) that read the padding's
    /// columns, in the output rows that read inside the image, where a shifted copy of the
    /// plane puts the neighbouring row's edge pixels.
    fn zero_padding_cols(&self, row: &mut [f32], r: usize, s: usize) {
        let (lo, hi) = self.valid_cols(s);
        let (oy_lo, oy_hi) = self.valid_rows(r);
        for d in row[oy_lo * self.ow..oy_hi * self.ow].chunks_exact_mut(self.ow) {
            d[..lo].fill(0.0);
            d[hi..].fill(0.0);
        }
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
                if g.shifts() {
                    // One copy of the shifted plane instead of a short copy per output row,
                    // then the padding's rows and columns set to 0 (the copy put the
                    // neighbouring row's edge pixels there).
                    let (a, b, off) = g.shifted_range(r, s);
                    dst[..a].fill(0.0);
                    dst[b..].fill(0.0);
                    if a < b {
                        let src = (a as isize + off) as usize;
                        dst[a..b].copy_from_slice(&plane[src..src + (b - a)]);
                    }
                    g.zero_padding_cols(dst, r, s);
                    continue;
                }
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
                        gather_strided(&mut d[lo..hi], &src[first..], sw);
                    }
                }
            }
        }
    }
}

/// The reverse of [`im2col`]: adds every entry of columns `j0..j0 + p` of `cols` onto the
/// input pixel it came from, in `dx` `[c, h, w]` (the padding's entries are dropped).
///
/// `cols` is scratch: where the geometry [`shifts`](Geometry::shifts), the entries that read
/// the padding are set to 0 first, so that each row is added back as one shifted sum.
fn col2im(g: &Geometry, cols: &mut [f32], stride: usize, j0: usize, dx: &mut [f32]) {
    let (p, ow, sw) = (g.p(), g.ow, g.stride[1]);
    for ci in 0..g.c {
        let plane = &mut dx[ci * g.h * g.w..(ci + 1) * g.h * g.w];
        for r in 0..g.kh {
            for s in 0..g.kw {
                let row = (ci * g.kh + r) * g.kw + s;
                let src = &mut cols[row * stride + j0..row * stride + j0 + p];
                let (lo, hi) = g.valid_cols(s);
                if g.shifts() {
                    g.zero_padding_cols(src, r, s);
                    let (a, b, off) = g.shifted_range(r, s);
                    if a < b {
                        let dst = (a as isize + off) as usize;
                        // Contiguous on both sides: a loop the compiler vectorizes.
                        for (o, v) in plane[dst..dst + (b - a)].iter_mut().zip(&src[a..b]) {
                            *o += v;
                        }
                    }
                    continue;
                }
                for (oy, d) in src.chunks_exact(ow).enumerate() {
                    let Some(iy) = g.input_row(oy, r) else { continue };
                    if lo == hi {
                        continue;
                    }
                    let out = &mut plane[iy * g.w..(iy + 1) * g.w];
                    let first = lo * sw + s - g.pad[1];
                    if sw == 1 {
                        // Contiguous on both sides: a loop the compiler vectorizes.
                        for (o, v) in out[first..first + (hi - lo)].iter_mut().zip(&d[lo..hi]) {
                            *o += v;
                        }
                    } else {
                        scatter_add_strided(&mut out[first..], &d[lo..hi], sw);
                    }
                }
            }
        }
    }
}

/// `d[i] = src[i sw]`. Stride 2 (every downsampling convolution) has a loop of its own over
/// pairs, which the compiler vectorizes; `step_by`'s loop, with the stride a variable, copies
/// one value per several instructions.
fn gather_strided(d: &mut [f32], src: &[f32], sw: usize) {
    let Some((last, head)) = d.split_last_mut() else { return };
    let n = head.len();
    if sw == 2 {
        for (o, pair) in head.iter_mut().zip(src[..2 * n].chunks_exact(2)) {
            *o = pair[0];
        }
    } else {
        head.iter_mut().zip(src.iter().step_by(sw)).for_each(|(o, v)| *o = *v);
    }
    *last = src[n * sw];
}

/// `out[i sw] += d[i]`, the reverse of [`gather_strided`].
fn scatter_add_strided(out: &mut [f32], d: &[f32], sw: usize) {
    let Some((last, head)) = d.split_last() else { return };
    if sw == 2 {
        for (pair, v) in out[..2 * head.len()].chunks_exact_mut(2).zip(head) {
            pair[0] += v;
        }
    } else {
        out.iter_mut().step_by(sw).zip(head).for_each(|(o, v)| *o += v);
    }
    out[head.len() * sw] += last;
}

/// The sum of `v` in f64, over eight partial sums: one running sum waits for each addition
/// to finish before it starts the next, so that the bias's gradient, a pass over the whole
/// output's gradient, ran at one value per addition's latency; eight sums side by side let
/// the additions overlap (and vectorize).
fn sum_f64(v: &[f32]) -> f64 {
    let mut lanes = [0.0f64; 8];
    let chunks = v.chunks_exact(8);
    let rest: f64 = chunks.remainder().iter().map(|&x| f64::from(x)).sum();
    for chunk in chunks {
        for (l, &x) in lanes.iter_mut().zip(chunk) {
            *l += f64::from(x);
        }
    }
    lanes.iter().sum::<f64>() + rest
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
    gemm_into(m, n, k, dst, false, accumulate, a, b);
}

/// [`gemm`] into `dst` stored row-major, or column-major with `col_major`.
///
/// The gemm crate computes into a column-major destination, transposing the product of a
/// row-major one, and packs its left operand (after that transposition) element by element
/// where that operand's rows are not contiguous: for the weight's gradient `dY cols^T` into
/// a row-major destination, that is the whole `[k, p]` patch matrix of every image, against
/// the small `[co, p]` gradient into a column-major one.
#[allow(clippy::too_many_arguments)]
fn gemm_into(m: usize, n: usize, k: usize, dst: &mut [f32], col_major: bool, accumulate: bool, a: Mat<'_>, b: Mat<'_>) {
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
            if col_major { m as isize } else { 1 },
            if col_major { 1 } else { n as isize },
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
        let mut cols = vec![0.0f32; k * p * block.min(x.len() / g.input_len())];
        for (out, x) in out.chunks_mut(block * co * p).zip(x.chunks(block * g.input_len())) {
            let j = x.len() / g.input_len() * p;
            let cols = &mut cols[..k * j];
            unfold(g, x, cols, j);
            // One product per image, written straight into its place in the output `[co, p]`
            // (the block's patches are still in the cache), and started from the bias, row c
            // holding b[c]: neither the addition nor a copy costs a pass.
            for (b, y) in out.chunks_exact_mut(co * p).enumerate() {
                for (row, &v) in y.chunks_exact_mut(p).zip(bias) {
                    row.fill(v);
                }
                gemm(co, p, k, y, true, Mat::rows(w, k), image_cols(cols, j, b * p));
            }
        }
    });
    matmul::tensor(out, Shape::new([g.n, co, g.oh, g.ow]))
}

/// Image `j0 / p`'s patches in the block's patch matrix `cols` `[k, j]`: the `[k, p]` matrix
/// that starts at column `j0`.
fn image_cols(cols: &[f32], j: usize, j0: usize) -> Mat<'_> {
    Mat { values: &cols[j0..], row_stride: j, col_stride: 1 }
}

/// Unfolds the patches of the images `x` `[images, c, h, w]` into `cols`, the matrix `[k, j]`,
/// `j` = images p; every entry is written.
fn unfold(g: &Geometry, x: &[f32], cols: &mut [f32], j: usize) {
    for (b, image) in x.chunks_exact(g.input_len()).enumerate() {
        im2col(g, image, cols, j, b * g.p());
    }
}

/// The weight's and the bias's gradients from the output's gradient `dy` `[n, co, oh, ow]`.
pub(crate) fn params_backward(g: &Geometry, x: &[f32], dy: &[f32]) -> (FlexTensor, FlexTensor) {
    let (k, p, co) = (g.k(), g.p(), g.co);
    let (per, block) = (g.images_per_piece(), g.images_per_block());
    let pieces: Vec<(Vec<f32>, Vec<f64>)> = x
        .par_chunks(per * g.input_len())
        .zip(dy.par_chunks(per * co * p))
        .map(|(x, dy)| {
            // The weight's gradient column-major, `[k, co]` (see `gemm_into`).
            let mut dw_t = vec![0.0f32; k * co];
            let mut db = vec![0.0f64; co];
            let mut cols = vec![0.0f32; k * p * block.min(x.len() / g.input_len())];
            for (x, dy) in x.chunks(block * g.input_len()).zip(dy.chunks(block * co * p)) {
                let j = x.len() / g.input_len() * p;
                let cols = &mut cols[..k * j];
                unfold(g, x, cols, j);
                // Per image, `dW += dY [co, p] cols^T [p, k]`: the output's gradient is read
                // where it lies, with no gathering copy.
                for (b, dy) in dy.chunks_exact(co * p).enumerate() {
                    let patches = image_cols(cols, j, b * p);
                    let patches_t = Mat { values: patches.values, row_stride: 1, col_stride: j };
                    gemm_into(co, k, p, &mut dw_t, true, true, Mat::rows(dy, p), patches_t);
                    // The bias's gradient sums many terms (all pixels of all images): in f64.
                    for (s, row) in db.iter_mut().zip(dy.chunks_exact(p)) {
                        *s += sum_f64(row);
                    }
                }
            }
            (dw_t, db)
        })
        .collect();
    let mut dw_t = vec![0.0f32; k * co];
    let mut db = vec![0.0f64; co];
    for (pw, pb) in pieces {
        dw_t.iter_mut().zip(pw).for_each(|(a, b)| *a += b);
        db.iter_mut().zip(pb).for_each(|(a, b)| *a += b);
    }
    let dw: Vec<f32> = (0..co * k).map(|i| dw_t[(i % k) * co + i / k]).collect();
    (
        matmul::tensor(dw, Shape::new([co, g.c, g.kh, g.kw])),
        matmul::tensor(db.into_iter().map(|v| v as f32).collect(), Shape::new([co])),
    )
}

/// The input's gradient from the output's gradient `dy` `[n, co, oh, ow]`.
pub(crate) fn input_backward(g: &Geometry, w: &[f32], dy: &[f32]) -> FlexTensor {
    let (k, p, co) = (g.k(), g.p(), g.co);
    let per = g.images_per_piece();
    let mut dx = vec![0.0f32; g.n * g.input_len()];
    dx.par_chunks_mut(per * g.input_len()).zip(dy.par_chunks(per * co * p)).for_each(|(dx, dy)| {
        // One image at a time: its `[k, p]` columns are folded back while still in the cache.
        let mut cols = vec![0.0f32; k * p];
        for (dx, dy) in dx.chunks_exact_mut(g.input_len()).zip(dy.chunks_exact(co * p)) {
            gemm(k, p, co, &mut cols, false, Mat::transposed(w, k), Mat::rows(dy, p));
            col2im(g, &mut cols, p, 0, dx);
        }
    });
    matmul::tensor(dx, Shape::new([g.n, g.c, g.h, g.w]))
}
