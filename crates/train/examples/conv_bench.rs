//! Times one convolution's forward and backward pass under burn 0.22.1's autodiff on flex,
//! burn's own `conv2d` against the kernels crate's (im2col and one matrix product per image),
//! on the two convolutions of the CNN example (`crates/gradflow/examples/cnn/model.rs`) at
//! batch 64: `[64, 1, 28, 28]` by 8 3x3 kernels, whose input needs no gradient (the network's
//! first layer), and `[64, 8, 13, 13]` by 16 3x3 kernels, whose input does. The two are timed in
//! alternating rounds, and the same loss without the convolution is timed to be subtracted.
//!
//! `cargo run -p train --example conv_bench`. It lives in `train`, whose dependencies resolve
//! the features of `cargo run -p train`, so that it reuses the one build of burn.

use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::ops::ConvOptions;

#[path = "common/timing.rs"]
mod timing;

/// The allocator `train` runs on (see its `main.rs`).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// One convolution of the CNN example.
struct Layer {
    name: &'static str,
    input: [usize; 4],
    out_channels: usize,
    /// Whether the input's gradient is computed (every layer but the first).
    input_grad: bool,
}

fn main() {
    // As `train` does: keep freed memory for reuse. SAFETY: set once, before any other thread.
    unsafe { libmimalloc_sys::mi_option_set(15, -1) };
    let device = Device::flex().autodiff();
    device.seed(0);
    let (steps, rounds) = (40, 7);
    let layers = [
        Layer { name: "conv1", input: [64, 1, 28, 28], out_channels: 8, input_grad: false },
        Layer { name: "conv2", input: [64, 8, 13, 13], out_channels: 16, input_grad: true },
    ];
    println!("forward + backward on flex, {} threads, median of {rounds} rounds of {steps} (ms):", rayon::current_num_threads());
    println!("layer  loss alone  burn conv2d  kernels::conv2d  (conv only: burn, kernels, speed-up)");
    for layer in &layers {
        let [_, c, h, w] = layer.input;
        let x = Tensor::<4>::random(layer.input, Distribution::Normal(0.0, 1.0), &device);
        let weight = Tensor::<4>::random([layer.out_channels, c, 3, 3], Distribution::Normal(0.0, 0.3), &device).require_grad();
        let bias = Tensor::<1>::random([layer.out_channels], Distribution::Normal(0.0, 0.1), &device).require_grad();
        let upstream = Tensor::<4>::random([layer.input[0], layer.out_channels, h - 2, w - 2], Distribution::Normal(0.0, 1.0), &device);
        let input = || if layer.input_grad { x.clone().detach().require_grad() } else { x.clone().detach() };
        let finish = |y: Tensor<4>, x: &Tensor<4>| {
            let grads = (y * upstream.clone()).sum().backward();
            assert!(weight.grad(&grads).is_some() && bias.grad(&grads).is_some(), "the parameters have their gradients");
            assert_eq!(x.grad(&grads).is_some(), layer.input_grad, "the input has a gradient exactly when it needs one");
        };
        let burn_step = || {
            let x = input();
            let y = burn::tensor::module::conv2d(x.clone(), weight.clone(), Some(bias.clone()), ConvOptions::new([1, 1], [0, 0], [1, 1], 1));
            finish(y, &x);
        };
        let kernel_step = || {
            let x = input();
            finish(kernels::conv2d(x.clone(), weight.clone(), Some(bias.clone()), [1, 1], [0, 0]), &x);
        };
        // The same loss on a tensor of the output's shape that depends on the bias alone: what
        // the two have in common, to subtract.
        let baseline = || {
            let y = bias.clone().reshape([1, layer.out_channels, 1, 1]).expand(upstream.dims());
            let grads = (y * upstream.clone()).sum().backward();
            assert!(bias.grad(&grads).is_some());
        };
        let timer = timing::Timer { reps: steps, per_second: 1e3 };
        timer.time(&burn_step);
        timer.time(&kernel_step);
        let [b, k, z] = timer.medians(rounds, [&burn_step, &kernel_step, &baseline]);
        println!(
            "{:6} {z:10.3} {b:12.3} {k:16.3}   ({:.3}, {:.3}, {:.2}x)",
            layer.name,
            b - z,
            k - z,
            (b - z) / (k - z).max(1e-9)
        );
    }
}
