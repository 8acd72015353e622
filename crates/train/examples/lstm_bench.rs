//! A minimal reproduction of what an LSTM's training step costs under burn 0.22.1's
//! autodiff: burn's own `Lstm::forward` on the whole sequence against `models::Recurrent`'s
//! step-by-step pass on the same parameters, forward and backward of the adding problem's
//! benchmark size (T = 100, hidden 128, batch 128), alternating the two in rounds.
//!
//! `cargo run -p train --example lstm_bench [T]`. It lives in `train`, so that it reuses the
//! one build of burn (see `layer_norm_bench.rs`).

use burn::prelude::*;
use models::{Cell, RecurrentConfig};

#[path = "common/timing.rs"]
mod timing;

/// The allocator `train` runs on (see its `main.rs`).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    // As `train` does: keep freed memory for reuse. SAFETY: set once, before any other thread.
    unsafe { libmimalloc_sys::mi_option_set(15, -1) };
    let steps: usize = std::env::args().nth(1).map_or(100, |a| a.parse().expect("T is a number of time steps"));
    let device = Device::flex().autodiff();
    let (batch, hidden, rounds, reps) = (128, 128, 5, 3);
    let model = RecurrentConfig::new(Cell::Lstm, 2, steps, hidden, 1).with_seed(1).init(&device);
    let (x, y) = data::adding::generate(batch, steps, &mut prng::Rng::new(2));
    let x = Tensor::<2>::from_data(TensorData::new(x, [batch, steps * 2]), &device);
    let y = Tensor::<2>::from_data(TensorData::new(y, [batch, 1]), &device);
    let ours = || {
        let loss = (model.forward(x.clone()) - y.clone()).square().mean();
        let _ = loss.backward();
    };
    let theirs = || {
        let seq = x.clone().reshape([batch, steps, 2]);
        let (out, _) = model.lstm[0].forward(seq, None);
        let last = out.slice([0..batch, steps - 1..steps, 0..hidden]).reshape([batch, hidden]);
        let loss = (model.readout.forward(last) - y.clone()).square().mean();
        let _ = loss.backward();
    };
    ours();
    theirs();
    let [a, b] = timing::Timer { reps, per_second: 1e3 }.medians(rounds, [&ours, &theirs]);
    println!(
        "T = {steps}, hidden {hidden}, batch {batch}: forward and backward, median of {rounds} rounds: models::Recurrent {:.1} ms, burn's Lstm::forward {:.1} ms",
        a, b
    );
}
