//! The project's operations on burn-flex, on the tensors' host buffers: the vectorized
//! sigmoid and tanh, the linear layer's products (`matmul.rs`), the column sums, LayerNorm's
//! rows, the convolution's products (`conv.rs`), and the SGD update.
//! Anything they do not cover (another dtype, a layout they do not take) goes to burn's own.

use crate::cells::with_avx2;
use crate::tanh::tanh as tanh_one;
use crate::conv::{self, Geometry};
use crate::matmul::{self, Start, View};
use crate::{
    Kernels, conv2d_params_backward_composed, exp, layer_norm_backward_composed, layer_norm_saved_composed, linear_composed, linear_tapped_composed, sgd_composed,
    sum_rows_composed, tanh_backward_composed,
};
use burn::tensor::Shape;
use burn::backend::flex::FlexTensor;
use burn::backend::ops::{ActivationOps, FloatTensorOps, ModuleOps};
use burn::backend::tensor::FloatTensor;
use burn::backend::{DType, Flex, TensorMetadata};
use rayon::prelude::*;

impl Kernels for Flex {
    fn sigmoid_vectorized(x: FloatTensor<Self>) -> FloatTensor<Self> {
        map_values(&x, |d, s| exp::sigmoid(s, d)).unwrap_or_else(|| Self::sigmoid(x))
    }

    fn tanh_vectorized(x: FloatTensor<Self>) -> FloatTensor<Self> {
        let body = |d: &mut [f32], s: &[f32]| {
            with_avx2(|| {
                for (d, &v) in d.iter_mut().zip(s) {
                    *d = tanh_one(v);
                }
            })
        };
        map_values(&x, body).unwrap_or_else(|| Self::float_tanh(x))
    }

    fn tanh_backward(t: FloatTensor<Self>, g: FloatTensor<Self>) -> FloatTensor<Self> {
        let (Some(ts), Some(gs)) = (contiguous_any(&t), contiguous_any(&g)) else {
            return tanh_backward_composed::<Self>(t, g);
        };
        if ts.len() != gs.len() || t.shape() != g.shape() {
            return tanh_backward_composed::<Self>(t, g);
        }
        let mut out = vec![0.0f32; ts.len()];
        // The same operations in the same order as the composed body: g (1 - t t).
        let body = |d: &mut [f32], t: &[f32], g: &[f32]| {
            with_avx2(|| {
                for ((d, &t), &g) in d.iter_mut().zip(t).zip(g) {
                    *d = g * (1.0 - t * t);
                }
            })
        };
        if ts.len() >= 2 * SIGMOID_CHUNK {
            out.par_chunks_mut(SIGMOID_CHUNK)
                .zip(ts.par_chunks(SIGMOID_CHUNK).zip(gs.par_chunks(SIGMOID_CHUNK)))
                .for_each(|(d, (t, g))| body(d, t, g));
        } else {
            body(&mut out, ts, gs);
        }
        matmul::tensor(out, g.shape())
    }

    fn linear_fused(x: FloatTensor<Self>, w: FloatTensor<Self>, b: FloatTensor<Self>) -> FloatTensor<Self> {
        match (View::of(&x), View::of(&w), contiguous(&b, 1)) {
            (Some(xv), Some(wv), Some(bias)) if xv.cols() == wv.rows() && bias.len() == wv.cols() => {
                matmul::product(xv, wv, Start::Bias(bias))
            }
            _ => linear_composed::<Self>(x, w, b),
        }
    }

    fn linear_tapped(x: FloatTensor<Self>, w: FloatTensor<Self>, b: FloatTensor<Self>, tap: FloatTensor<Self>) -> FloatTensor<Self> {
        match (View::of(&x), View::of(&w), contiguous(&b, 1), contiguous(&tap, 2)) {
            (Some(xv), Some(wv), Some(bias), Some(matrix))
                if xv.cols() == wv.rows() && bias.len() == wv.cols() && tap.shape().dims::<2>() == [xv.rows(), wv.cols()] =>
            {
                matmul::product(xv, wv, Start::BiasAndMatrix(bias, matrix))
            }
            _ => linear_tapped_composed::<Self>(x, w, b, tap),
        }
    }

    fn matmul_2d(a: FloatTensor<Self>, b: FloatTensor<Self>) -> FloatTensor<Self> {
        match (View::of(&a), View::of(&b)) {
            (Some(av), Some(bv)) if av.cols() == bv.rows() => matmul::product(av, bv, Start::Zero),
            _ => Self::float_matmul(a, b),
        }
    }

    fn matmul_2d_pair(
        a1: FloatTensor<Self>,
        b1: FloatTensor<Self>,
        a2: FloatTensor<Self>,
        b2: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        match (View::of(&a1), View::of(&b1), View::of(&a2), View::of(&b2)) {
            (Some(a1v), Some(b1v), Some(a2v), Some(b2v)) if a1v.cols() == b1v.rows() && a2v.cols() == b2v.rows() => {
                matmul::two_products((a1v, b1v), (a2v, b2v))
            }
            _ => (Self::matmul_2d(a1, b1), Self::matmul_2d(a2, b2)),
        }
    }

    fn sum_rows(x: FloatTensor<Self>) -> FloatTensor<Self> {
        match View::of(&x) {
            Some(v) => matmul::sum_rows(v),
            None => sum_rows_composed::<Self>(x),
        }
    }

    fn layer_norm_rows(x: FloatTensor<Self>, gamma: FloatTensor<Self>, beta: FloatTensor<Self>, eps: f64) -> FloatTensor<Self> {
        Self::layer_norm_rows_saved(x, gamma, beta, eps).0
    }

    fn layer_norm_rows_saved(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        eps: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let d = gamma.shape()[0];
        let (Some(xs), Some(g), Some(b)) = (contiguous(&x, 2), contiguous(&gamma, 1), contiguous(&beta, 1)) else {
            return layer_norm_saved_composed::<Self>(x, gamma, beta, eps);
        };
        if d == 0 || x.shape()[1] != d || b.len() != d {
            return layer_norm_saved_composed::<Self>(x, gamma, beta, eps);
        }
        let n = xs.len() / d;
        let (mut out, mut xhat, mut rstd) = (vec![0.0f32; n * d], vec![0.0f32; n * d], vec![0.0f32; n]);
        let row = |((o, xh), r): ((&mut [f32], &mut [f32]), &mut f32), x: &[f32]| {
            // The row's moments in f64, where E[x^2] - E[x]^2 loses nothing that matters for
            // pre-activations of O(1) to O(100) (f64 keeps 16 digits).
            let (sum, sum_sq) = lane_sums(x, x, |a, _| a, |a, _| a * a);
            let mean = sum / d as f64;
            let var = (sum_sq / d as f64 - mean * mean).max(0.0);
            let inv = (1.0 / (var + eps).sqrt()) as f32;
            let mean = mean as f32;
            for (((o, xh), &v), (&g, &b)) in o.iter_mut().zip(xh.iter_mut()).zip(x).zip(g.iter().zip(b)) {
                *xh = (v - mean) * inv;
                *o = *xh * g + b;
            }
            *r = inv;
        };
        out.par_chunks_mut(d)
            .zip(xhat.par_chunks_mut(d))
            .zip(rstd.par_iter_mut())
            .zip(xs.par_chunks(d))
            .with_min_len(rows_per_task(d))
            .for_each(|(slots, x)| with_avx2(|| row(slots, x)));
        let shape = x.shape();
        (matmul::tensor(out, shape.clone()), matmul::tensor(xhat, shape), matmul::tensor(rstd, Shape::new([n, 1])))
    }

    fn layer_norm_rows_backward(
        grad: FloatTensor<Self>,
        xhat: FloatTensor<Self>,
        rstd: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let d = gamma.shape()[0];
        let (Some(gs), Some(xh), Some(r), Some(g)) = (contiguous(&grad, 2), contiguous(&xhat, 2), contiguous(&rstd, 2), contiguous(&gamma, 1))
        else {
            return layer_norm_backward_composed::<Self>(grad, xhat, rstd, gamma);
        };
        if d == 0 || gs.len() != xh.len() || gs.len() != r.len() * d {
            return layer_norm_backward_composed::<Self>(grad, xhat, rstd, gamma);
        }
        let n = r.len();
        let mut dx = vec![0.0f32; n * d];
        dx.par_chunks_mut(d)
            .zip(gs.par_chunks(d).zip(xh.par_chunks(d)).zip(r.par_iter()))
            .with_min_len(rows_per_task(d))
            .for_each(|(dx, ((gr, xr), &inv))| {
                with_avx2(|| {
                    // u = g * gamma, written first so that the two sums below run over two slices.
                    for ((o, &gv), &gm) in dx.iter_mut().zip(gr).zip(g) {
                        *o = gv * gm;
                    }
                    let (su, sux) = lane_sums(dx, xr, |u, _| u, |u, x| u * x);
                    let (mu, mux) = ((su / d as f64) as f32, (sux / d as f64) as f32);
                    for (o, &xv) in dx.iter_mut().zip(xr) {
                        *o = inv * (*o - mu - xv * mux);
                    }
                })
            });
        // The scale's and the shift's gradients: column sums over the rows, in f64.
        let (mut dgamma, mut dbeta) = (vec![0.0f64; d], vec![0.0f64; d]);
        with_avx2(|| {
            for (gr, xr) in gs.chunks(d).zip(xh.chunks(d)) {
                for (((dg, db), &gv), &xv) in dgamma.iter_mut().zip(dbeta.iter_mut()).zip(gr).zip(xr) {
                    *dg += f64::from(gv) * f64::from(xv);
                    *db += f64::from(gv);
                }
            }
        });
        let f32s = |v: Vec<f64>| v.into_iter().map(|x| x as f32).collect::<Vec<f32>>();
        (
            matmul::tensor(dx, grad.shape()),
            matmul::tensor(f32s(dgamma), Shape::new([d])),
            matmul::tensor(f32s(dbeta), Shape::new([d])),
        )
    }

    fn conv2d_fused(
        x: FloatTensor<Self>,
        w: FloatTensor<Self>,
        b: FloatTensor<Self>,
        stride: [usize; 2],
        padding: [usize; 2],
    ) -> FloatTensor<Self> {
        match (Geometry::of(&x, &w, stride, padding), contiguous(&x, 4), contiguous(&w, 4), contiguous(&b, 1)) {
            (Some(g), Some(xs), Some(ws), Some(bs)) if bs.len() == w.shape()[0] => conv::forward(&g, xs, ws, bs),
            _ => Self::conv2d(x, w, Some(b), crate::conv_options(stride, padding)),
        }
    }

    fn conv2d_params_backward(
        x: FloatTensor<Self>,
        w: FloatTensor<Self>,
        g: FloatTensor<Self>,
        stride: [usize; 2],
        padding: [usize; 2],
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let geo = Geometry::of(&x, &w, stride, padding);
        // The output's gradient comes from whatever operation follows, in any layout: one copy
        // into a contiguous buffer costs less than falling back to burn's backward pass.
        let g = contiguous_copy(g);
        match (geo, contiguous(&x, 4), contiguous(&g, 4)) {
            (Some(geo), Some(xs), Some(gs)) if geo.output_len() == gs.len() => conv::params_backward(&geo, xs, gs),
            _ => conv2d_params_backward_composed::<Self>(x, w, g, stride, padding),
        }
    }

    fn conv2d_input_backward(
        x: FloatTensor<Self>,
        w: FloatTensor<Self>,
        g: FloatTensor<Self>,
        stride: [usize; 2],
        padding: [usize; 2],
    ) -> FloatTensor<Self> {
        let geo = Geometry::of(&x, &w, stride, padding);
        let g = contiguous_copy(g);
        match (geo, contiguous(&w, 4), contiguous(&g, 4)) {
            (Some(geo), Some(ws), Some(gs)) if geo.output_len() == gs.len() => conv::input_backward(&geo, ws, gs),
            _ => Self::conv2d_x_backward(x, w, g, crate::conv_options(stride, padding)),
        }
    }

    fn sgd_update(mut param: FloatTensor<Self>, grad: FloatTensor<Self>, lr: f64) -> FloatTensor<Self> {
        if param.dtype() != DType::F32 || grad.dtype() != DType::F32 || param.shape() != grad.shape() {
            return sgd_composed::<Self>(param, grad, lr);
        }
        let (Some((ps, pe)), Some((gs, ge))) = (param.layout().contiguous_offsets(), grad.layout().contiguous_offsets())
        else {
            return sgd_composed::<Self>(param, grad, lr);
        };
        // burn multiplies by the learning rate as an f32, then subtracts: the same two roundings.
        let lr = lr as f32;
        let g = &grad.storage::<f32>()[gs..ge];
        if let Some(p) = param.try_storage_mut::<f32>() {
            sgd_in_place(&mut p[ps..pe], g, lr);
            return param;
        }
        // The buffer is shared (a clone of the parameter, or telemetry reading it in place):
        // the update goes into a new one.
        let p = &param.storage::<f32>()[ps..pe];
        let mut out = Vec::with_capacity(p.len());
        p.par_iter().zip(g).with_min_len(SGD_CHUNK).map(|(p, g)| p - g * lr).collect_into_vec(&mut out);
        matmul::tensor(out, param.shape())
    }
}

/// Elements per piece of work of the sigmoid: a tensor of two or more is split over the
/// current rayon pool (a 128x256 batch of activations takes about 20 us on one thread).
const SIGMOID_CHUNK: usize = 1 << 13;

/// Elements per piece of work of the SGD update: enough that a piece's work dwarfs handing it
/// to another thread.
const SGD_CHUNK: usize = 1 << 15;

/// `(Σ f(a_i, b_i), Σ g(a_i, b_i))` in f64, over eight independent lanes: a single running
/// sum is a chain of dependent additions that the compiler must keep in order, and so cannot
/// vectorize (about 1 ns an entry); eight lanes are one vector register's worth.
#[inline(always)]
fn lane_sums(a: &[f32], b: &[f32], f: impl Fn(f64, f64) -> f64, g: impl Fn(f64, f64) -> f64) -> (f64, f64) {
    const LANES: usize = 8;
    let (mut s, mut t) = ([0.0f64; LANES], [0.0f64; LANES]);
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..LANES {
            let (x, y) = (f64::from(x[k]), f64::from(y[k]));
            s[k] += f(x, y);
            t[k] += g(x, y);
        }
    }
    let (mut s, mut t) = (s.iter().sum::<f64>(), t.iter().sum::<f64>());
    for (&x, &y) in ra.iter().zip(rb) {
        let (x, y) = (f64::from(x), f64::from(y));
        s += f(x, y);
        t += g(x, y);
    }
    (s, t)
}

/// Rows per piece of work of LayerNorm: about 16k entries, so that a 128x256 batch splits in
/// two and a piece's work dwarfs handing it to another thread.
pub(crate) fn rows_per_task(d: usize) -> usize {
    (1 << 14) / d.max(1)
}

/// The values of a contiguous f32 flex tensor of any shape.
fn contiguous_any(t: &FlexTensor) -> Option<&[f32]> {
    if t.dtype() != DType::F32 {
        return None;
    }
    let (start, end) = t.layout().contiguous_offsets()?;
    Some(&t.storage::<f32>()[start..end])
}

/// The values of a contiguous f32 flex tensor of `dims` dimensions.
pub(crate) fn contiguous(t: &FlexTensor, dims: usize) -> Option<&[f32]> {
    if t.layout().num_dims() != dims {
        return None;
    }
    contiguous_any(t)
}

/// `body(out, values)` over a contiguous f32 tensor's values, into a tensor of its own buffer
/// (`FlexTensor::empty` would zero one and copy it again), in chunks split over the threads
/// when the tensor is large; `None` for another tensor, which burn's own operation takes.
fn map_values(x: &FlexTensor, body: impl Fn(&mut [f32], &[f32]) + Sync) -> Option<FlexTensor> {
    let src = contiguous_any(x)?;
    let mut out = vec![0.0f32; src.len()];
    if src.len() >= 2 * SIGMOID_CHUNK {
        out.par_chunks_mut(SIGMOID_CHUNK).zip(src.par_chunks(SIGMOID_CHUNK)).for_each(|(d, s)| body(d, s));
    } else {
        body(&mut out, src);
    }
    Some(matmul::tensor(out, x.shape()))
}

/// The tensor itself when it is a contiguous f32 tensor, else a contiguous f32 copy of it
/// (other dtypes are left as they are, for burn's own operations).
fn contiguous_copy(t: FlexTensor) -> FlexTensor {
    if t.dtype() != DType::F32 || t.layout().contiguous_offsets().is_some() {
        return t;
    }
    let shape = t.shape();
    let values: Vec<f32> = t.into_data().to_vec().expect("an f32 tensor reads as f32");
    matmul::tensor(values, shape)
}

/// `p -= g * lr`, element by element, in chunks split over the current rayon pool.
fn sgd_in_place(p: &mut [f32], g: &[f32], lr: f32) {
    let serial = |p: &mut [f32], g: &[f32]| {
        for (p, g) in p.iter_mut().zip(g) {
            *p -= g * lr;
        }
    };
    if p.len() < 2 * SGD_CHUNK {
        serial(p, g);
    } else {
        p.par_chunks_mut(SGD_CHUNK).zip(g.par_chunks(SGD_CHUNK)).for_each(|(p, g)| serial(p, g));
    }
}
