//! A minimal reproduction of four costs inside burn-flex 0.22.1 (BENCHMARKS.md, *Where burn
//! is the limit*), each next to what the same work costs outside it on the same machine. The
//! project works around all four in its `kernels` crate, for the operations it trains with
//! (the sigmoid, the linear layer, the plain SGD update, the telemetry's reads); burn's own
//! operations still pay them.
//!
//! 1. `sigmoid` calls libm's scalar `expf` once per element, on one thread, where PyTorch
//!    uses vectorized exponentials (a deep sigmoid net spent about half its step there),
//!    next to the `kernels` crate's vectorized sigmoid, which the project trains with.
//! 2. Every fresh tensor (each matmul output, each `zeros`) is allocated as a `Vec<u8>` and
//!    then copied once more into a 16-byte-aligned buffer (`Bytes::from_bytes_vec`).
//! 3. The SGD update is two passes, `grad * lr` and then `param - delta`, on one thread.
//! 4. Reading a tensor that is still shared (a weight its `Param` holds, a gradient the
//!    optimizer will use) copies it twice: into a `Vec<u8>`, then into an aligned buffer.
//!
//! `cargo run -p train --example flex_limits`

use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::activation::sigmoid;
use std::hint::black_box;
use std::time::Instant;

/// The same allocator as the `train` binary, so that both sides allocate alike.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Median microseconds of `f` over `reps` calls, after a few untimed ones.
fn median_us(reps: usize, mut f: impl FnMut()) -> f64 {
    for _ in 0..5 {
        f();
    }
    let mut t: Vec<f64> = (0..reps)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}

fn main() {
    let device = Device::flex();
    device.seed(0);

    // 1. Sigmoid forward on one layer's pre-activations of benchmark config a.
    let z = Tensor::<2>::random([128, 256], Distribution::Normal(0.0, 2.0), &device);
    let host = z.clone().into_data().try_to_vec::<f32>().expect("f32 data");
    let mut out = vec![0f32; host.len()];
    let burn_us = median_us(2000, || {
        black_box(sigmoid(black_box(z.clone())));
    });
    let loop_us = median_us(2000, || kernels::sigmoid_slice(black_box(&host), black_box(&mut out)));
    let reference = sigmoid(z.clone()).into_data().try_to_vec::<f32>().expect("f32 data");
    let max_diff = reference.iter().zip(&out).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    println!(
        "sigmoid, 128x256:       burn-flex {burn_us:7.1} us | kernels crate     {loop_us:7.1} us | {:4.1}x | max |diff| {max_diff:.1e}",
        burn_us / loop_us
    );

    // 2. A fresh 1024x1024 tensor (the size of a weight gradient of config d).
    let n = 1024 * 1024;
    let zeros_us = median_us(300, || {
        black_box(Tensor::<2>::zeros([1024, 1024], &device));
    });
    let vec_us = median_us(300, || {
        black_box(vec![0f32; n]);
    });
    println!("fresh 1024x1024 tensor: burn-flex {zeros_us:7.1} us | vec![0f32; n]     {vec_us:7.1} us | {:4.1}x", zeros_us / vec_us);

    // 3. The SGD update of a 1024x1024 weight.
    let w = Tensor::<2>::random([1024, 1024], Distribution::Normal(0.0, 0.03), &device);
    let g = Tensor::<2>::random([1024, 1024], Distribution::Normal(0.0, 1e-3), &device);
    let mut wh = w.clone().into_data().try_to_vec::<f32>().expect("f32 data");
    let gh = g.clone().into_data().try_to_vec::<f32>().expect("f32 data");
    let lr = 0.1;
    // As burn's `Sgd::step` on tensors it owns alone, so that both passes run in place:
    // `let delta = grad.mul_scalar(lr); tensor - delta`. A fresh gradient is made, untimed,
    // before each update.
    let mut w_burn = Some(w);
    let mut times: Vec<f64> = (0..300)
        .map(|_| {
            let grad = g.clone().add_scalar(0.0);
            let param = w_burn.take().expect("the weight is put back every time");
            let start = Instant::now();
            let updated = param - grad.mul_scalar(lr);
            let us = start.elapsed().as_secs_f64() * 1e6;
            w_burn = Some(black_box(updated));
            us
        })
        .collect();
    times.sort_by(f64::total_cmp);
    let sgd_us = times[times.len() / 2];
    let fused_us = median_us(300, || {
        for (p, &d) in black_box(&mut wh).iter_mut().zip(black_box(&gh)) {
            *p -= lr as f32 * d;
        }
    });
    println!("SGD update, 1024x1024:  burn-flex {sgd_us:7.1} us | one fused loop    {fused_us:7.1} us | {:4.1}x", sgd_us / fused_us);

    // 4. Reading back a 1024x1024 tensor that something else still holds.
    let shared = g.clone();
    let read_us = median_us(300, || {
        black_box(shared.clone().into_data());
    });
    let copy_us = median_us(300, || {
        black_box(gh.clone());
    });
    println!("read shared 1024x1024:  burn-flex {read_us:7.1} us | one copy (clone)  {copy_us:7.1} us | {:4.1}x", read_us / copy_us);
}
