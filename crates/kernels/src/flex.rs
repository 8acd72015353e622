//! The project's operations on burn-flex, on the tensors' host buffers: the vectorized
//! sigmoid, the linear layer's products (`matmul.rs`), the column sums, and the SGD update.
//! Anything they do not cover (another dtype, a layout they do not take) goes to burn's own.

use crate::matmul::{self, Start, View};
use crate::{Kernels, exp, linear_composed, linear_tapped_composed, sgd_composed, sum_rows_composed};
use burn::backend::flex::FlexTensor;
use burn::backend::ops::{ActivationOps, FloatTensorOps};
use burn::backend::tensor::FloatTensor;
use burn::backend::{DType, Flex, TensorMetadata};
use rayon::prelude::*;

impl Kernels for Flex {
    fn sigmoid_vectorized(x: FloatTensor<Self>) -> FloatTensor<Self> {
        if x.dtype() != DType::F32 {
            return Self::sigmoid(x);
        }
        let Some((start, end)) = x.layout().contiguous_offsets() else {
            return Self::sigmoid(x);
        };
        // A tensor of its own buffer (`FlexTensor::empty` would zero one and copy it again).
        let src = &x.storage::<f32>()[start..end];
        let mut out = vec![0.0f32; src.len()];
        if src.len() >= 2 * SIGMOID_CHUNK {
            out.par_chunks_mut(SIGMOID_CHUNK).zip(src.par_chunks(SIGMOID_CHUNK)).for_each(|(d, s)| exp::sigmoid(s, d));
        } else {
            exp::sigmoid(src, &mut out);
        }
        matmul::tensor(out, x.shape())
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

/// The values of a contiguous f32 flex tensor of `dims` dimensions.
fn contiguous(t: &FlexTensor, dims: usize) -> Option<&[f32]> {
    if t.dtype() != DType::F32 || t.layout().num_dims() != dims {
        return None;
    }
    let (start, end) = t.layout().contiguous_offsets()?;
    Some(&t.storage::<f32>()[start..end])
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
