//! A minimal reproduction of what LayerNorm costs a training step under burn 0.22.1's
//! autodiff, against this crate's fused kernel: forward and backward of one `[128, 256]`
//! batch, the size of benchmark configuration e's layers, alternating the two in rounds.
//!
//! `cargo run -p train --example layer_norm_bench`. It lives in `train`, whose dependencies
//! resolve the features of `cargo run -p train`, so that it reuses the one build of burn
//! (`cargo run -p kernels --example …` would resolve other features and build burn again).

use burn::nn::LayerNormConfig;
use burn::prelude::*;

#[path = "common/timing.rs"]
mod timing;

/// The allocator `train` runs on (see its `main.rs`): glibc's would hand every freed buffer of
/// 128 KiB or more back to the kernel and page-fault it in again, which costs more than the
/// norm itself.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    // As `train` does: keep freed memory for reuse. SAFETY: set once, before any other thread.
    unsafe { libmimalloc_sys::mi_option_set(15, -1) };
    let device = Device::flex().autodiff();
    device.seed(0);
    let (rows, width, steps, rounds) = (128, 256, 400, 7);
    let ln = LayerNormConfig::new(width).init(&device);
    let x = Tensor::<2>::random([rows, width], burn::tensor::Distribution::Normal(0.5, 2.0), &device);
    let upstream = Tensor::<2>::random([rows, width], burn::tensor::Distribution::Normal(0.0, 1.0), &device);
    let burn_step = || {
        let x = x.clone().detach().require_grad();
        let grads = (ln.forward(x.clone()) * upstream.clone()).sum().backward();
        x.grad(&grads).map(|g| g.dims()[0])
    };
    let kernel_step = || {
        let x = x.clone().detach().require_grad();
        let beta = ln.beta.as_ref().map(|b| b.val()).expect("LayerNorm with a shift");
        let grads = (kernels::layer_norm(x.clone(), ln.gamma.val(), beta, 1e-5) * upstream.clone()).sum().backward();
        x.grad(&grads).map(|g| g.dims()[0])
    };
    // The same loss without a norm: what the two have in common (the product, the sum, the
    // graph), to subtract.
    let baseline = || {
        let x = x.clone().detach().require_grad();
        let grads = (x.clone() * upstream.clone()).sum().backward();
        x.grad(&grads).map(|g| g.dims()[0])
    };
    // Every call checks that the input got its gradient, as part of the step timed.
    let checked = |f: &dyn Fn() -> Option<usize>| assert_eq!(f(), Some(rows), "the input has its gradient");
    let (burn_step, kernel_step, baseline) = (|| checked(&burn_step), || checked(&kernel_step), || checked(&baseline));
    let timer = timing::Timer { reps: steps, per_second: 1e6 };
    timer.time(&burn_step);
    timer.time(&kernel_step);
    let [b, k, z] = timer.medians(rounds, [&burn_step, &kernel_step, &baseline]);
    println!("LayerNorm forward + backward of [{rows}, {width}] on flex, median of {rounds} rounds of {steps}:");
    println!("  the loss alone (x * g).sum() {z:8.1} us");
    println!("  burn's LayerNorm::forward   {b:8.1} us   ({:.1} us for the norm)", b - z);
    println!("  kernels::layer_norm         {k:8.1} us   ({:.1} us for the norm, {:.1}x)", k - z, (b - z) / (k - z).max(1e-9));
}
