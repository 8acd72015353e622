//! The kernels crate's 2-D convolution against burn's own `conv2d`: values and the gradients
//! of the input, the weight and the bias, on flex (its im2col products) and ndarray (burn's
//! operations), for odd shapes, strides 1 and 2, paddings 0 and 1, and rectangular kernels.

use crate::common::BACKENDS;
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::ops::ConvOptions;

/// The largest difference of two tensors' entries, against 1e-5 of the largest entry of the
/// reference (the sums of products are added in another order, so equal only within rounding).
fn close<const D: usize>(what: &str, ours: Tensor<D>, theirs: Tensor<D>) {
    assert_eq!(ours.dims(), theirs.dims(), "{what}: shape");
    let (a, b): (Vec<f32>, Vec<f32>) = (ours.into_data().try_to_vec().unwrap(), theirs.into_data().try_to_vec().unwrap());
    let scale = b.iter().fold(0f32, |m, v| m.max(v.abs()));
    let worst = a.iter().zip(&b).fold(0f32, |m, (u, v)| m.max((u - v).abs()));
    assert!(scale > 0.0 && worst <= 1e-5 * scale, "{what}: {worst:e} of {scale:e}");
}

/// One convolution: input `[n, c, h, w]`, `co` output channels, kernel `kh x kw`, stride,
/// padding.
struct Case {
    n: usize,
    c: usize,
    hw: [usize; 2],
    co: usize,
    k: [usize; 2],
    stride: [usize; 2],
    pad: [usize; 2],
}

const CASES: [Case; 12] = [
    Case { n: 3, c: 2, hw: [7, 9], co: 5, k: [3, 3], stride: [1, 1], pad: [0, 0] },
    Case { n: 3, c: 2, hw: [7, 9], co: 5, k: [3, 3], stride: [2, 2], pad: [1, 1] },
    Case { n: 5, c: 3, hw: [8, 7], co: 4, k: [3, 3], stride: [2, 2], pad: [0, 0] },
    // Batch 1 (one piece of work), a rectangular kernel, mixed strides and paddings.
    Case { n: 1, c: 3, hw: [6, 5], co: 4, k: [2, 3], stride: [1, 2], pad: [1, 0] },
    // A kernel as large as the padded image: one output pixel.
    Case { n: 4, c: 4, hw: [3, 3], co: 2, k: [5, 5], stride: [1, 1], pad: [1, 1] },
    // Pointwise.
    Case { n: 2, c: 3, hw: [4, 4], co: 3, k: [1, 1], stride: [1, 1], pad: [0, 0] },
    // Stride 1 with the output as wide as the input: the patches are shifted copies of the
    // plane (`Geometry::shifts`), here with rows of padding above and below the image, a
    // rectangular kernel, and a kernel wider than the image with padding to match.
    Case { n: 3, c: 2, hw: [5, 6], co: 3, k: [3, 3], stride: [1, 1], pad: [2, 1] },
    Case { n: 2, c: 3, hw: [6, 4], co: 2, k: [3, 5], stride: [1, 1], pad: [0, 2] },
    Case { n: 2, c: 2, hw: [3, 3], co: 2, k: [5, 7], stride: [1, 1], pad: [3, 3] },
    // Patches of 72 x 256 values an image: three images a block, so that a thread's piece
    // (4 and 3 images on 2 threads, 7 on 1) is several blocks, the last one short.
    Case { n: 7, c: 8, hw: [16, 16], co: 4, k: [3, 3], stride: [1, 1], pad: [1, 1] },
    // Patches of 144 x 1024 values an image, more than a block: a thread unfolds one image
    // at a time, and sums the weight's gradient over several blocks.
    Case { n: 20, c: 16, hw: [32, 32], co: 4, k: [3, 3], stride: [1, 1], pad: [1, 1] },
    // The first convolution of the CNN example, on a small batch.
    Case { n: 6, c: 1, hw: [28, 28], co: 8, k: [3, 3], stride: [1, 1], pad: [0, 0] },
];

#[test]
fn the_convolution_gives_burns_values_and_gradients() {
    for backend in BACKENDS {
        let device = backend.autodiff_device();
        device.seed(3);
        for (i, case) in CASES.iter().enumerate() {
            let Case { n, c, hw: [h, w], co, k: [kh, kw], stride, pad } = *case;
            let what = format!("{backend:?} case {i}: x [{n}, {c}, {h}, {w}], w [{co}, {c}, {kh}, {kw}], stride {stride:?}, padding {pad:?}");
            let x = Tensor::<4>::random([n, c, h, w], Distribution::Normal(0.0, 1.0), &device).require_grad();
            let wt = Tensor::<4>::random([co, c, kh, kw], Distribution::Normal(0.0, 0.5), &device).require_grad();
            let b = Tensor::<1>::random([co], Distribution::Normal(0.0, 1.0), &device).require_grad();
            let ours = kernels::conv2d(x.clone(), wt.clone(), Some(b.clone()), stride, pad);
            let options = ConvOptions::new(stride, pad, [1, 1], 1);
            let theirs = burn::tensor::module::conv2d(x.clone(), wt.clone(), Some(b.clone()), options.clone());
            close(&format!("{what}: forward"), ours.clone(), theirs.clone());
            // A loss whose gradient differs from pixel to pixel.
            let upstream = Tensor::<4>::random(theirs.dims(), Distribution::Normal(0.0, 1.0), &device);
            let g_ours = (ours * upstream.clone()).sum().backward();
            let g_theirs = (theirs * upstream).sum().backward();
            close(&format!("{what}: input"), x.grad(&g_ours).unwrap(), x.grad(&g_theirs).unwrap());
            close(&format!("{what}: weight"), wt.grad(&g_ours).unwrap(), wt.grad(&g_theirs).unwrap());
            close(&format!("{what}: bias"), b.grad(&g_ours).unwrap(), b.grad(&g_theirs).unwrap());

            // Without a bias, and with an input that takes no part in the graph (a network's
            // first layer): the weight's gradient alone.
            let x0 = Tensor::<4>::from_data(x.to_data(), &device);
            let ours = kernels::conv2d(x0.clone(), wt.clone(), None, stride, pad);
            let theirs = burn::tensor::module::conv2d(x0.clone(), wt.clone(), None, options);
            close(&format!("{what}: forward without bias"), ours.clone(), theirs.clone());
            let (g_ours, g_theirs) = ((ours.clone() * ours).sum().backward(), (theirs.clone() * theirs).sum().backward());
            close(&format!("{what}: weight without bias"), wt.grad(&g_ours).unwrap(), wt.grad(&g_theirs).unwrap());
            assert!(x0.grad(&g_ours).is_none(), "{what}: a detached input has no gradient");
        }
    }
}

#[test]
fn inputs_and_gradients_in_other_layouts_give_the_same_convolution() {
    // An input that is a view with swapped axes, and an output's gradient that arrives in
    // another layout (through a transposition after the convolution): the kernel copies or
    // falls back, and the numbers stay burn's.
    for backend in BACKENDS {
        let device = backend.autodiff_device();
        device.seed(4);
        // x is [2, 3, 6, 5], a view of a [2, 3, 5, 6] buffer.
        let base = Tensor::<4>::random([2, 3, 5, 6], Distribution::Normal(0.0, 1.0), &device).require_grad();
        let wt = Tensor::<4>::random([4, 3, 3, 3], Distribution::Normal(0.0, 0.5), &device).require_grad();
        let b = Tensor::<1>::random([4], Distribution::Normal(0.0, 1.0), &device).require_grad();
        let x = || base.clone().swap_dims(2, 3);
        let ours = kernels::conv2d(x(), wt.clone(), Some(b.clone()), [1, 1], [1, 1]).swap_dims(1, 3);
        let options = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
        let theirs = burn::tensor::module::conv2d(x(), wt.clone(), Some(b.clone()), options).swap_dims(1, 3);
        let upstream = Tensor::<4>::random(theirs.dims(), Distribution::Normal(0.0, 1.0), &device);
        close(&format!("{backend:?}: forward"), ours.clone(), theirs.clone());
        let (g_ours, g_theirs) = ((ours * upstream.clone()).sum().backward(), (theirs * upstream).sum().backward());
        close(&format!("{backend:?}: input"), base.grad(&g_ours).unwrap(), base.grad(&g_theirs).unwrap());
        close(&format!("{backend:?}: weight"), wt.grad(&g_ours).unwrap(), wt.grad(&g_theirs).unwrap());
        close(&format!("{backend:?}: bias"), b.grad(&g_ours).unwrap(), b.grad(&g_theirs).unwrap());
    }
}
