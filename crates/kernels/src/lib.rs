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
//! - [`tanh`]: the same for the hyperbolic tangent, with the backward pass `g (1 - t²)` from
//!   the kept output in one loop on flex.
//! - [`linear`]: `x W + b` in one matrix product that starts from the bias (and from the
//!   telemetry's zero tap, whose gradient is then the layer's own incoming one), and a
//!   backward pass of two products and a column sum. On flex every product writes a fresh
//!   buffer that becomes the tensor as it is (see `matmul.rs` for what burn-flex does instead
//!   and for the layouts gemm is fast in).
//! - [`layer_norm`]: burn 0.22's autodiff has no LayerNorm of its own and records it as the
//!   nine operations it is made of, each with its node and its backward step. Here it is one
//!   node that keeps the normalized rows and each row's `1 / sqrt(var + eps)`, and on flex the
//!   forward and backward passes are one loop over each row.
//! - [`conv2d`]: burn-flex computes a convolution's backward pass as two other convolutions
//!   (a transposed one for the input, and one with the batch as channels and the output as the
//!   kernel for the weight). Here the forward pass and both backward products are one matrix
//!   product per image over its unfolded patches (im2col), unfolded a cache-sized block at a
//!   time on each thread, the bias the product's start.
//! - [`sgd_update`]: `w - lr g`, with burn's own rounding, in place where the parameter's
//!   buffer is not shared, in one pass split over the current rayon pool. burn's optimizer
//!   makes two single-threaded passes and a new buffer for each.
//!
//! Each has a default body made of burn's own operations, which is what ndarray runs, and
//! what burn's GPU backends (cubecl's `Cube`, under the `wgpu` and `cuda` features) run: the
//! fast paths are flex's alone.
//!
//! Besides these, [`host_values`] reads a flex tensor's values in place, for the telemetry.
//!
//! `flex.rs` implements the operations on flex, `autodiff.rs` their backward steps.

// burn-ndarray is deprecated in burn 0.22 but is still a backend the project runs on, and the
// code `#[backend_extension]` generates for it names it too.
#![allow(deprecated)]

mod autodiff;
mod cells;
mod conv;
mod exp;
mod flex;
mod gru;
mod host;
mod lstm;
mod matmul;
mod tanh;

pub use gru::{GruKernels, gru_cell};
pub use host::{HostValues, host_values};
pub use lstm::{LstmKernels, lstm_cell};

use burn::backend::NdArray;
use burn::backend::tensor::FloatTensor;
use burn::backend::ops::ConvOptions;
use burn::backend::{Backend, Dispatch, Scalar, TensorMetadata, backend_extension};
use burn::prelude::Tensor;
use burn::tensor::Shape;

/// The project's operations, on every backend it runs on.
#[backend_extension(Flex, NdArray, Cube: cfg(any(feature = "wgpu", feature = "cuda")), Autodiff)]
pub trait Kernels: Backend {
    /// 1 / (1 + e^-x), element by element. By default, burn's own sigmoid.
    fn sigmoid_vectorized(x: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::sigmoid(x)
    }

    /// tanh of every element. By default, burn's own tanh.
    fn tanh_vectorized(x: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::float_tanh(x)
    }

    /// The gradient of tanh's input from its output t and the output's gradient g:
    /// `g (1 - t²)`. By default, burn's operations one by one.
    fn tanh_backward(t: FloatTensor<Self>, g: FloatTensor<Self>) -> FloatTensor<Self> {
        tanh_backward_composed::<Self>(t, g)
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

    /// LayerNorm of each row of a 2-D tensor x `[n, d]`: `(x - mean) / sqrt(var + eps) * gamma
    /// + beta`, the mean and the (population) variance over the row's d entries, gamma and
    /// beta `[d]`. By default, burn's own `layer_norm`.
    fn layer_norm_rows(x: FloatTensor<Self>, gamma: FloatTensor<Self>, beta: FloatTensor<Self>, eps: f64) -> FloatTensor<Self> {
        Self::layer_norm(x, gamma, Some(beta), eps)
    }

    /// [`Kernels::layer_norm_rows`] and what its backward pass needs: the normalized rows
    /// `x̂ = (x - mean) / sqrt(var + eps)` `[n, d]` and each row's `1 / sqrt(var + eps)` `[n, 1]`.
    /// By default, burn's operations one by one.
    fn layer_norm_rows_saved(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        eps: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        layer_norm_saved_composed::<Self>(x, gamma, beta, eps)
    }

    /// The gradients of [`Kernels::layer_norm_rows`] from its output's gradient g `[n, d]`,
    /// with x̂ and the rows' `1 / sqrt(var + eps)` of the forward pass: per row, with
    /// `u = g * gamma`, `dx = rstd (u - mean(u) - x̂ mean(u x̂))`; `dgamma` is the sum over rows
    /// of `g x̂`, `dbeta` the sum of g's rows. By default, burn's operations one by one.
    fn layer_norm_rows_backward(
        g: FloatTensor<Self>,
        xhat: FloatTensor<Self>,
        rstd: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        layer_norm_backward_composed::<Self>(g, xhat, rstd, gamma)
    }

    /// `conv2d(x, w) + b` for x `[n, c_in, h, w]`, w `[c_out, c_in, kh, kw]` and b `[c_out]`,
    /// with `stride` and the same zero `padding` on both sides of each dimension (no dilation,
    /// no groups). By default, burn's own `conv2d`.
    fn conv2d_fused(
        x: FloatTensor<Self>,
        w: FloatTensor<Self>,
        b: FloatTensor<Self>,
        stride: [usize; 2],
        padding: [usize; 2],
    ) -> FloatTensor<Self> {
        Self::conv2d(x, w, Some(b), conv_options(stride, padding))
    }

    /// The gradients of [`Kernels::conv2d_fused`]'s weight and bias from its output's gradient
    /// g `[n, c_out, oh, ow]`. By default, burn's own `conv2d_weight_backward` and
    /// `conv2d_bias_backward`.
    fn conv2d_params_backward(
        x: FloatTensor<Self>,
        w: FloatTensor<Self>,
        g: FloatTensor<Self>,
        stride: [usize; 2],
        padding: [usize; 2],
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        conv2d_params_backward_composed::<Self>(x, w, g, stride, padding)
    }

    /// The gradient of [`Kernels::conv2d_fused`]'s input from its output's gradient g. By
    /// default, burn's own `conv2d_x_backward`.
    fn conv2d_input_backward(
        x: FloatTensor<Self>,
        w: FloatTensor<Self>,
        g: FloatTensor<Self>,
        stride: [usize; 2],
        padding: [usize; 2],
    ) -> FloatTensor<Self> {
        Self::conv2d_x_backward(x, w, g, conv_options(stride, padding))
    }

    /// `param - lr grad`. By default, burn's SGD arithmetic: `param - (grad * lr)`.
    fn sgd_update(param: FloatTensor<Self>, grad: FloatTensor<Self>, lr: f64) -> FloatTensor<Self> {
        sgd_composed::<Self>(param, grad, lr)
    }
}

fn tanh_backward_composed<B: Backend>(t: FloatTensor<B>, g: FloatTensor<B>) -> FloatTensor<B> {
    B::float_mul(g, cells::one_minus::<B>(B::float_mul(t.clone(), t)))
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

fn layer_norm_saved_composed<B: Backend>(
    x: FloatTensor<B>,
    gamma: FloatTensor<B>,
    beta: FloatTensor<B>,
    eps: f64,
) -> (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>) {
    let d = gamma.shape()[0];
    let mean = B::float_mean_dim(x.clone(), 1);
    let centered = B::float_sub(x, mean);
    let var = B::float_mean_dim(B::float_mul(centered.clone(), centered.clone()), 1);
    let rstd = B::float_recip(B::float_sqrt(B::float_add_scalar(var, Scalar::Float(eps))));
    let xhat = B::float_mul(centered, rstd.clone());
    let row = |t: FloatTensor<B>| B::float_reshape(t, Shape::new([1, d]));
    let out = B::float_add(B::float_mul(xhat.clone(), row(gamma)), row(beta));
    (out, xhat, rstd)
}

fn layer_norm_backward_composed<B: Backend>(
    g: FloatTensor<B>,
    xhat: FloatTensor<B>,
    rstd: FloatTensor<B>,
    gamma: FloatTensor<B>,
) -> (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>) {
    let d = gamma.shape()[0];
    let u = B::float_mul(g.clone(), B::float_reshape(gamma, Shape::new([1, d])));
    let mean_u = B::float_mean_dim(u.clone(), 1);
    let mean_ux = B::float_mean_dim(B::float_mul(u.clone(), xhat.clone()), 1);
    let dx = B::float_mul(B::float_sub(B::float_sub(u, mean_u), B::float_mul(xhat.clone(), mean_ux)), rstd);
    let dgamma = sum_rows_composed::<B>(B::float_mul(g.clone(), xhat));
    let dbeta = sum_rows_composed::<B>(g);
    (dx, dgamma, dbeta)
}

/// burn's options for a convolution with `stride` and symmetric zero `padding`.
pub(crate) fn conv_options(stride: [usize; 2], padding: [usize; 2]) -> ConvOptions<2> {
    ConvOptions::new(stride, padding, [1, 1], 1)
}

fn conv2d_params_backward_composed<B: Backend>(
    x: FloatTensor<B>,
    w: FloatTensor<B>,
    g: FloatTensor<B>,
    stride: [usize; 2],
    padding: [usize; 2],
) -> (FloatTensor<B>, FloatTensor<B>) {
    let co = w.shape()[0];
    let dw = B::conv2d_weight_backward(x.clone(), w, g.clone(), conv_options(stride, padding));
    // burn's `conv2d_bias_backward` takes the bias only for its shape: `[c_out]`.
    let bias_shape = B::float_zeros(Shape::new([co]), &g.device(), g.dtype().into());
    (dw, B::conv2d_bias_backward(x, bias_shape, g))
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

/// LayerNorm of each row of x `[n, d]` with scale gamma and shift beta `[d]` (burn's
/// `LayerNorm::forward` on a 2-D input), forward and backward as described at
/// [`Kernels::layer_norm_rows`].
pub fn layer_norm(x: Tensor<2>, gamma: Tensor<1>, beta: Tensor<1>, eps: f64) -> Tensor<2> {
    Tensor::from_dispatch(<Dispatch as Kernels>::layer_norm_rows(x.into_dispatch(), gamma.into_dispatch(), beta.into_dispatch(), eps))
}

/// A 2-D convolution `conv2d(x, w) + b` as burn's `conv2d` computes it, x `[n, c_in, h, w]`,
/// w `[c_out, c_in, kh, kw]`, b `[c_out]`, with `stride` and the same zero `padding` on both
/// sides (no dilation, no groups); forward and backward as described at
/// [`Kernels::conv2d_fused`]. On flex the forward pass and both backward products are matrix
/// products over unfolded patches (`conv.rs`).
pub fn conv2d(x: Tensor<4>, w: Tensor<4>, b: Option<Tensor<1>>, stride: [usize; 2], padding: [usize; 2]) -> Tensor<4> {
    // Without a bias, a zero one that takes no part in the graph: one fused operation still.
    let b = b.unwrap_or_else(|| Tensor::zeros([w.dims()[0]], &w.device()));
    Tensor::from_dispatch(<Dispatch as Kernels>::conv2d_fused(x.into_dispatch(), w.into_dispatch(), b.into_dispatch(), stride, padding))
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

/// tanh of every element, evaluated once in vectorized arithmetic on flex (burn-flex calls
/// libm's scalar `tanhf` per element, and burn's autodiff keeps the input and evaluates tanh
/// again in the backward pass); the backward pass keeps the output and computes `g (1 - t²)`
/// in one loop. On the other backends, burn's tanh with the same backward step.
pub fn tanh<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    Tensor::from_dispatch(<Dispatch as Kernels>::tanh_vectorized(x.into_dispatch()))
}

/// The same sigmoid on host slices: what flex's implementation runs on a tensor's buffer
/// (`dst` must be as long as `src`).
pub use exp::sigmoid as sigmoid_slice;

impl Kernels for NdArray {}

/// burn's GPU backends run the default bodies: burn's own operations, fused and tuned there.
#[cfg(any(feature = "wgpu", feature = "cuda"))]
impl Kernels for burn::backend::Cube {}
