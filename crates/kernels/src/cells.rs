//! What the fused recurrent cells (`lstm.rs`, `gru.rs`) share: the column blocks of a fused
//! pre-activation, 1 - x, both in burn's operations for the default bodies, and the AVX2
//! dispatch of their flex row loops (which LayerNorm's row loops in `flex.rs` use too).

use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Scalar};
use burn::tensor::Slice;

/// Columns `k h..(k + 1) h` of a 2-D tensor of n rows.
pub(crate) fn block<B: Backend>(t: &FloatTensor<B>, n: usize, h: usize, k: usize) -> FloatTensor<B> {
    B::float_slice(t.clone(), &[Slice::from(0..n), Slice::from(k * h..(k + 1) * h)])
}

/// 1 - x.
pub(crate) fn one_minus<B: Backend>(x: FloatTensor<B>) -> FloatTensor<B> {
    B::float_add_scalar(B::float_neg(x), Scalar::Float(1.0))
}

/// Runs `body` compiled for AVX2 and FMA where the CPU has them (as `exp::sigmoid` does), so
/// that the sigmoid's and tanh's arithmetic in it runs eight lanes at a time. `body` must be
/// the row loop itself, called inside rayon's job: the AVX2 copy is made of what the compiler
/// inlines into it, and a parallel iterator's jobs run behind function pointers that it does
/// not inline (wrapped around the whole `for_each`, the rows ran in 4-lane SSE code).
#[inline(always)]
pub(crate) fn with_avx2(body: impl FnOnce()) {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2,fma")]
        fn avx2(body: impl FnOnce()) {
            body()
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU has AVX2 and FMA, checked just above.
            return unsafe { avx2(body) };
        }
    }
    body()
}
