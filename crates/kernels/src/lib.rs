//! Operations the project computes faster than burn 0.22.1 does, plugged in through burn's
//! backend-extension API (`#[backend_extension]`), so that the models stay on plain
//! `Tensor`s and no backend is picked here.
//!
//! - [`sigmoid`]: burn-flex evaluates it one element at a time with libm's scalar `expf`,
//!   and burn's autodiff keeps the sigmoid's input and evaluates it again in the backward
//!   pass. Here it is evaluated once, in vectorized arithmetic on flex, and the backward pass
//!   keeps the output, from which the derivative s (1 - s) follows (with burn's own vectorized
//!   `sigmoid_backward`). On ndarray the values are burn's own sigmoid's, kept for the
//!   backward pass all the same.
//! - [`linear`]: `x W + b` in one matrix product that starts from the bias (and from the
//!   telemetry's zero tap, whose gradient is then the layer's own incoming one), and a
//!   backward pass of two products and a column sum. On flex every product writes a fresh
//!   buffer that becomes the tensor as it is (see `matmul.rs` for what burn-flex does instead
//!   and for the layouts gemm is fast in).
//! - [`sgd_update`]: `w - lr g`, with burn's own rounding, in place where the parameter's
//!   buffer is not shared, in one pass split over the current rayon pool. burn's optimizer
//!   makes two single-threaded passes and a new buffer for each.
//!
//! Each has a default body made of burn's own operations, which is what ndarray runs.
//!
//! Besides these, [`host_values`] reads a flex tensor's values in place, for the telemetry.
//!
//! `flex.rs` implements the operations on flex, `autodiff.rs` their backward steps.

// burn-ndarray is deprecated in burn 0.22 but is still a backend the project runs on, and the
// code `#[backend_extension]` generates for it names it too.
#![allow(deprecated)]

mod autodiff;
mod exp;
mod flex;
mod host;
mod matmul;

pub use host::{HostValues, host_values};

use burn::backend::NdArray;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, Scalar, TensorMetadata, backend_extension};
use burn::prelude::Tensor;
use burn::tensor::Shape;

/// The project's operations, on every backend it runs on.
#[backend_extension(Flex, NdArray, Autodiff)]
pub trait Kernels: Backend {
    /// 1 / (1 + e^-x), element by element. By default, burn's own sigmoid.
    fn sigmoid_vectorized(x: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::sigmoid(x)
    }

    /// `x w + b` for x `[n, in]`, w `[in, out]` and b `[out]`. By default, burn's matmul
    /// and a broadcast addition.
    fn linear_fused(x: FloatTensor<Self>, w: FloatTensor<Self>, b: FloatTensor<Self>) -> FloatTensor<Self> {
        linear_composed::<Self>(x, w, b)
    }

    /// `x w + b + tap`, as [`Kernels::linear_fused`] plus a `[n, out]` tensor: the telemetry
    /// adds a zero tap that requires grad, whose gradient is then dL/dz. By default, burn's
    /// matmul and two additions.
    fn linear_tapped(x: FloatTensor<Self>, w: FloatTensor<Self>, b: FloatTensor<Self>, tap: FloatTensor<Self>) -> FloatTensor<Self> {
        linear_tapped_composed::<Self>(x, w, b, tap)
    }

    /// `a b` for 2-D a `[m, k]` and b `[k, n]` of any strides. By default, burn's matmul.
    fn matmul_2d(a: FloatTensor<Self>, b: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::float_matmul(a, b)
    }

    /// `a1 b1` and `a2 b2`, as [`Kernels::matmul_2d`] each: the two products of a linear
    /// layer's backward pass, which flex computes side by side when they are small.
    fn matmul_2d_pair(
        a1: FloatTensor<Self>,
        b1: FloatTensor<Self>,
        a2: FloatTensor<Self>,
        b2: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        (Self::matmul_2d(a1, b1), Self::matmul_2d(a2, b2))
    }

    /// The sum of a 2-D tensor's rows, `[m, n]` to `[n]`. By default, burn's `sum_dim`.
    fn sum_rows(x: FloatTensor<Self>) -> FloatTensor<Self> {
        sum_rows_composed::<Self>(x)
    }

    /// `param - lr grad`. By default, burn's SGD arithmetic: `param - (grad * lr)`.
    fn sgd_update(param: FloatTensor<Self>, grad: FloatTensor<Self>, lr: f64) -> FloatTensor<Self> {
        sgd_composed::<Self>(param, grad, lr)
    }
}

fn linear_composed<B: Backend>(x: FloatTensor<B>, w: FloatTensor<B>, b: FloatTensor<B>) -> FloatTensor<B> {
    let n = b.shape()[0];
    B::float_add(B::float_matmul(x, w), B::float_reshape(b, Shape::new([1, n])))
}

fn linear_tapped_composed<B: Backend>(
    x: FloatTensor<B>,
    w: FloatTensor<B>,
    b: FloatTensor<B>,
    tap: FloatTensor<B>,
) -> FloatTensor<B> {
    B::float_add(linear_composed::<B>(x, w, b), tap)
}

fn sum_rows_composed<B: Backend>(x: FloatTensor<B>) -> FloatTensor<B> {
    let n = x.shape()[1];
    B::float_reshape(B::float_sum_dim(x, 0), Shape::new([n]))
}

fn sgd_composed<B: Backend>(param: FloatTensor<B>, grad: FloatTensor<B>, lr: f64) -> FloatTensor<B> {
    B::float_sub(param, B::float_mul_scalar(grad, Scalar::Float(lr)))
}

/// `x w + b + tap` (see [`Kernels::linear_fused`] and [`Kernels::linear_tapped`]): the layer
/// of an MLP, x `[n, in]`, w `[in, out]`, b `[out]`, tap `[n, out]`.
pub fn linear(x: Tensor<2>, w: Tensor<2>, b: Option<Tensor<1>>, tap: Option<Tensor<2>>) -> Tensor<2> {
    let (x, w) = (x.into_dispatch(), w.into_dispatch());
    match (b, tap) {
        (Some(b), Some(tap)) => Tensor::from_dispatch(<Dispatch as Kernels>::linear_tapped(x, w, b.into_dispatch(), tap.into_dispatch())),
        (Some(b), None) => Tensor::from_dispatch(<Dispatch as Kernels>::linear_fused(x, w, b.into_dispatch())),
        (None, tap) => {
            let z = Tensor::from_dispatch(<Dispatch as Kernels>::matmul_2d(x, w));
            match tap {
                Some(tap) => z + tap,
                None => z,
            }
        }
    }
}

/// One plain SGD step of a parameter, `param - lr grad`, on tensors outside the autodiff graph
/// (see [`Kernels::sgd_update`]). Equal, element for element, to burn's `Sgd` without momentum
/// or weight decay.
pub fn sgd_update<const D: usize>(param: Tensor<D>, grad: Tensor<D>, lr: f64) -> Tensor<D> {
    Tensor::from_dispatch(<Dispatch as Kernels>::sgd_update(param.into_dispatch(), grad.into_dispatch(), lr))
}

/// The sigmoid of every element, forward and backward as described in the crate's docs.
pub fn sigmoid<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    Tensor::from_dispatch(<Dispatch as Kernels>::sigmoid_vectorized(x.into_dispatch()))
}

/// The same sigmoid on host slices: what flex's implementation runs on a tensor's buffer
/// (`dst` must be as long as `src`).
pub use exp::sigmoid as sigmoid_slice;

impl Kernels for NdArray {}
