//! The `train` binary: parse the command line, run, and turn any error into one line on
//! stderr and a non-zero exit.

use clap::Parser;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

/// mimalloc rather than the system allocator: burn-flex allocates a fresh buffer (and copies
/// it once more to align it) for every tensor it makes, and glibc's malloc returns such large
/// blocks to the kernel on free, so that every step page-faults its memory back in. With
/// mimalloc, and memory kept once taken, the 4x1024 ReLU benchmark's step went from about
/// 32 to 21 ms, and the telemetry's read-backs stopped page-faulting (BENCHMARKS.md).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc's `mi_option_t` (the same in its v2 and v3 headers,
/// which libmimalloc-sys does not export as a constant).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

static STOP: AtomicBool = AtomicBool::new(false);

fn main() -> ExitCode {
    // Keep freed memory for reuse instead of returning it to the kernel 10 ms later: a
    // training process reuses the same sizes every step, and its peak is what it holds anyway.
    // SAFETY: set once, before any other thread exists.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
    let cli = train::cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    // Ctrl-C asks the training loop to stop after the current step, so that the run folder
    // is left complete and marked `interrupted`; a second Ctrl-C kills the process.
    if let Err(e) = ctrlc::set_handler(|| {
        if STOP.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
    }) {
        tracing::warn!("cannot install the Ctrl-C handler: {e}");
    }
    match train::cli::run(cli, &STOP) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", one_line(&format!("{e:#}")));
            ExitCode::from(2)
        }
    }
}

/// Errors are printed on one line: a chain of contexts joined by ": ".
fn one_line(s: &str) -> String {
    s.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ")
}
