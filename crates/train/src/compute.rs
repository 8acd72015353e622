//! Flush-to-zero on the threads that train: subnormal float32 values (below 1.18e-38) read
//! and produced as 0, so that vanishing gradients do not send the CPU down its slow path.
//!
//! A deep sigmoid net's early gradients fall into the subnormal range, where every
//! multiply-add costs tens of cycles more (PyTorch's 50x64 sigmoid step: 30.6 ms, 8.6 ms
//! with `torch.set_flush_denormal(True)`). The trade is exactness below f32's normal range,
//! which the telemetry reports as such (`grad_underflow`, the fraction of a layer's gradient
//! entries below that range) rather than hiding it.
//!
//! The mode is a per-thread CPU flag (MXCSR's FTZ and DAZ bits on x86-64, FPCR's FZ bit on
//! AArch64), set on the threads of a pool that the run computes on and nowhere else.

/// The threads a run computes on: a rayon pool of its own, on whose threads burn-flex runs
/// its kernels and gemm its parallel loops, with flush-to-zero set on each when asked for.
/// A pool of its own leaves the rest of the process (the tutorial's exact float32 chain,
/// another run in the same process) with IEEE arithmetic.
pub struct ComputeThreads {
    pool: rayon::ThreadPool,
    flush: bool,
}

impl ComputeThreads {
    /// One thread per core, or `RAYON_NUM_THREADS`; `flush` asks for flush-to-zero, which
    /// is granted where the CPU is supported (see [`ComputeThreads::flushing`]).
    pub fn new(flush: bool) -> Result<ComputeThreads, rayon::ThreadPoolBuildError> {
        let flush = flush && arch::SUPPORTED;
        let pool = rayon::ThreadPoolBuilder::new()
            .thread_name(|i| format!("train-{i}"))
            .start_handler(move |_| {
                if flush {
                    arch::flush_to_zero();
                }
            })
            .build()?;
        Ok(ComputeThreads { pool, flush })
    }

    /// Whether subnormal values are flushed to zero on these threads.
    pub fn flushing(&self) -> bool {
        self.flush
    }

    /// The number of threads.
    pub fn threads(&self) -> usize {
        self.pool.current_num_threads()
    }

    /// Runs `f` on one of these threads; every parallel kernel it starts runs on the others,
    /// which wait for work actively while `f` runs (see [`ActiveWait`]).
    pub fn install<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        self.pool.install(|| {
            let _wait = ActiveWait::start(self.threads());
            f()
        })
    }
}

/// Keeps the pool's other threads looking for work instead of going to sleep.
///
/// Rayon puts an idle thread to sleep after a short spin, and waking it costs a system call
/// and a trip through the kernel's scheduler. burn-flex runs every large matmul in parallel
/// on these threads, so that a training step wakes them hundreds of times: on the 10x256
/// benchmarks, about a fifth of the samples fell in the scheduler, and 2 threads were 13%
/// slower than 1.
/// As OpenMP runtimes do (PyTorch's among them), the threads here spin while the run lasts:
/// each runs a loop that takes pending jobs (`rayon::yield_now`) as soon as they appear.
/// (`rayon::broadcast` must therefore not be called inside [`ComputeThreads::install`]: it
/// waits for every thread, and a spinning one takes no broadcast.)
struct ActiveWait {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl ActiveWait {
    /// Starts `threads - 1` spinning loops (the caller's thread is busy with the run).
    fn start(threads: usize) -> ActiveWait {
        use std::sync::atomic::Ordering;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        for _ in 1..threads {
            let stop = stop.clone();
            rayon::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if rayon::yield_now() != Some(rayon::Yield::Executed) {
                        // Nothing to do: let any other runnable thread of the machine have
                        // the core (this returns at once when there is none).
                        std::thread::yield_now();
                    }
                }
            });
        }
        ActiveWait { stop }
    }
}

impl Drop for ActiveWait {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Whether subnormal results are flushed to zero on the calling thread.
pub fn is_flushing() -> bool {
    arch::SUPPORTED && arch::is_set()
}

#[cfg(target_arch = "x86_64")]
mod arch {
    use std::arch::asm;

    pub const SUPPORTED: bool = true;
    /// MXCSR's flush-to-zero (results) and denormals-are-zero (inputs) bits.
    const FTZ_DAZ: u32 = (1 << 15) | (1 << 6);

    fn read() -> u32 {
        let mut csr = 0u32;
        // SAFETY: stmxcsr stores the 32-bit MXCSR register to the given, valid address.
        unsafe { asm!("stmxcsr [{}]", in(reg) &mut csr, options(nostack, preserves_flags)) };
        csr
    }

    fn write(csr: u32) {
        // SAFETY: ldmxcsr loads MXCSR from a valid address; only the FTZ and DAZ bits ever
        // differ from the value read, and both are defined on every x86-64 CPU with SSE2.
        unsafe { asm!("ldmxcsr [{}]", in(reg) &csr, options(nostack, readonly, preserves_flags)) };
    }

    /// Sets both bits on the calling thread.
    pub fn flush_to_zero() {
        write(read() | FTZ_DAZ);
    }

    pub fn is_set() -> bool {
        read() & FTZ_DAZ == FTZ_DAZ
    }
}

#[cfg(target_arch = "aarch64")]
mod arch {
    use std::arch::asm;

    pub const SUPPORTED: bool = true;
    /// FPCR's flush-to-zero bit (inputs and results alike).
    const FZ: u64 = 1 << 24;

    fn read() -> u64 {
        let fpcr: u64;
        // SAFETY: reading FPCR has no side effect.
        unsafe { asm!("mrs {}, fpcr", out(reg) fpcr, options(nomem, nostack, preserves_flags)) };
        fpcr
    }

    fn write(fpcr: u64) {
        // SAFETY: only the FZ bit ever differs from the value read.
        unsafe { asm!("msr fpcr, {}", in(reg) fpcr, options(nomem, nostack, preserves_flags)) };
    }

    /// Sets the bit on the calling thread.
    pub fn flush_to_zero() {
        write(read() | FZ);
    }

    pub fn is_set() -> bool {
        read() & FZ == FZ
    }
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
mod arch {
    pub const SUPPORTED: bool = false;
    pub fn flush_to_zero() {}
    pub fn is_set() -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hint::black_box;

    /// Half of f32's smallest normal number: a subnormal.
    fn subnormal_product() -> f32 {
        black_box(f32::MIN_POSITIVE) * black_box(0.5f32)
    }

    #[test]
    fn subnormal_results_flush_to_zero_on_the_compute_threads_only() {
        let threads = ComputeThreads::new(true).unwrap();
        if threads.flushing() {
            assert_eq!(threads.install(|| (is_flushing(), subnormal_product())), (true, 0.0));
            // Every thread of the pool flushes.
            let each = threads.pool.broadcast(|_| (is_flushing(), subnormal_product()));
            assert_eq!(each, vec![(true, 0.0); threads.threads()]);
        }
        // The caller and rayon's global pool keep IEEE arithmetic.
        assert!(!is_flushing());
        assert!(subnormal_product() > 0.0);
        assert!(rayon::broadcast(|_| subnormal_product()).iter().all(|&v| v > 0.0));
        let ieee = ComputeThreads::new(false).unwrap();
        assert!(!ieee.flushing());
        assert!(ieee.install(subnormal_product) > 0.0);
    }
}
