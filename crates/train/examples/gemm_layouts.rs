//! Times the `gemm` crate (burn-flex's matrix products) on the products of one training step
//! of an MLP layer, batch 128, in the output layouts the kernels crate chooses between: the
//! backward pass's `g W^T` is about twice as fast into a column-major buffer as into a
//! row-major one at width 1024, which is why `kernels` computes it that way and transposes.
//!
//! `cargo run --release -p train --example gemm_layouts` (2 threads, as a run's pool; medians of 30).

use std::time::Instant;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const BATCH: usize = 128;

/// Median milliseconds of `f` over 30 calls, after 5 untimed ones.
fn median_ms(mut f: impl FnMut()) -> f64 {
    for _ in 0..5 {
        f();
    }
    let mut times: Vec<f64> = (0..30)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// A strided f32 matrix for gemm: pointer, row stride, column stride.
#[derive(Clone, Copy)]
struct M(*const f32, isize, isize);

/// `dst = a b` with `a` m x k and `b` k x n, both threads of the current pool.
fn product(m: usize, n: usize, k: usize, dst: *mut f32, dst_rs: isize, dst_cs: isize, a: M, b: M) {
    // SAFETY: every caller passes buffers of the sizes the strides address.
    unsafe {
        gemm::gemm(m, n, k, dst, dst_cs, dst_rs, false, a.0, a.2, a.1, b.0, b.2, b.1, 1.0, 1.0, false, false, false, gemm::Parallelism::Rayon(0));
    }
}

fn main() {
    let pool = train::compute::ComputeThreads::new(true).expect("a thread pool");
    pool.install(|| {
        println!("width  x W    g W^T row-major  g W^T column-major  transposition  x^T g   (ms, batch {BATCH})");
        for n in [256usize, 384, 512, 1024] {
            let x: Vec<f32> = (0..BATCH * n).map(|i| (i % 7) as f32 * 0.1).collect();
            let w: Vec<f32> = (0..n * n).map(|i| (i % 5) as f32 * 0.01).collect();
            let mut y = vec![0f32; BATCH * n];
            let mut y2 = vec![0f32; BATCH * n];
            let mut dw = vec![0f32; n * n];
            let (ni, bi) = (n as isize, BATCH as isize);
            let (x_rows, w_rows, w_t) = (M(x.as_ptr(), ni, 1), M(w.as_ptr(), ni, 1), M(w.as_ptr(), 1, ni));
            let forward = median_ms(|| product(BATCH, n, n, y.as_mut_ptr(), ni, 1, x_rows, w_rows));
            let dx_rows = median_ms(|| product(BATCH, n, n, y.as_mut_ptr(), ni, 1, x_rows, w_t));
            let dx_cols = median_ms(|| product(BATCH, n, n, y.as_mut_ptr(), 1, bi, x_rows, w_t));
            let transposition = median_ms(|| {
                for i in 0..BATCH {
                    for j in 0..n {
                        y2[i * n + j] = y[j * BATCH + i];
                    }
                }
            });
            let dw_time = median_ms(|| product(n, n, BATCH, dw.as_mut_ptr(), ni, 1, M(x.as_ptr(), 1, ni), x_rows));
            println!("{n:>5}  {forward:.3}  {dx_rows:.3}            {dx_cols:.3}               {transposition:.3}          {dw_time:.3}");
        }
    });
}
