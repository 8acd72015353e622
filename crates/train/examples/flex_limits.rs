//! A minimal reproduction of three costs inside burn-flex 0.22.1 that the project cannot
//! change from outside (BENCHMARKS.md, *Where burn is the limit*), each next to what the same
//! work costs in a plain Rust loop on the same machine:
//!
//! 1. `sigmoid` calls libm's scalar `expf` once per element, on one thread, where PyTorch
//!    uses vectorized exponentials (a deep sigmoid net spends about half its step here).
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

/// e^x for the range a sigmoid needs, in straight-line arithmetic that the compiler
/// vectorizes: x = k ln2 + r with |r| <= ln2/2, e^r by a degree-6 Taylor polynomial (relative
/// error below 2e-7 there), 2^k by building the float's exponent bits. k is rounded with the
/// 1.5 * 2^23 trick, which needs no rounding instruction.
#[inline(always)]
fn exp_approx(x: f32) -> f32 {
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let k = (x * std::f32::consts::LOG2_E + ROUND) - ROUND;
    let r = x - k * std::f32::consts::LN_2;
    let p = 1.0 + r * (1.0 + r * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    p * f32::from_bits(((k as i32).wrapping_add(127) as u32) << 23)
}

#[inline(always)]
fn sigmoid_portable(src: &[f32], dst: &mut [f32]) {
    for (d, &x) in dst.iter_mut().zip(src) {
        *d = 1.0 / (1.0 + exp_approx(-x));
    }
}

/// The loop compiled for AVX2 where the CPU has it, as PyTorch picks its kernels at run time.
fn sigmoid_loop(src: &[f32], dst: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2,fma")]
        fn avx2(src: &[f32], dst: &mut [f32]) {
            sigmoid_portable(src, dst)
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU has AVX2 and FMA, checked just above.
            return unsafe { avx2(src, dst) };
        }
    }
    sigmoid_portable(src, dst)
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
    let loop_us = median_us(2000, || sigmoid_loop(black_box(&host), black_box(&mut out)));
    let reference = sigmoid(z.clone()).into_data().try_to_vec::<f32>().expect("f32 data");
    let max_diff = reference.iter().zip(&out).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    println!(
        "sigmoid, 128x256:       burn-flex {burn_us:7.1} us | vectorizable loop {loop_us:7.1} us | {:4.1}x | max |diff| {max_diff:.1e}",
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
