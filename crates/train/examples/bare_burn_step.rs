//! A minimal reproduction for the speed comparison (BENCHMARKS.md): the bare burn 0.22.1
//! training step of benchmark config a (784 -> 10x256 sigmoid -> 10, batch 128, SGD 0.1,
//! cross-entropy), with none of the project's code in the loop: no telemetry, no per-step
//! read-back, no accuracy. Its time is what burn's flex backend itself costs.
//!
//! `cargo run -p train --example bare_burn_step`

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::optim::{GradientsParams, SgdConfig};
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::activation::{log_softmax, sigmoid};
use std::time::Instant;

/// The same allocator as the `train` binary (see its `main.rs`), so that the two compare alike.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Module, Debug)]
struct Net {
    layers: Vec<Linear>,
}

impl Net {
    fn forward(&self, mut h: Tensor<2>) -> Tensor<2> {
        let last = self.layers.len() - 1;
        for (i, l) in self.layers.iter().enumerate() {
            h = l.forward(h);
            if i < last {
                h = sigmoid(h);
            }
        }
        h
    }
}

fn main() {
    let device = Device::flex().autodiff();
    device.seed(0);
    let sizes = [784, 256, 256, 256, 256, 256, 256, 256, 256, 256, 256, 10];
    let mut net = Net { layers: sizes.windows(2).map(|w| LinearConfig::new(w[0], w[1]).init(&device)).collect() };
    let mut optim = SgdConfig::new().init();
    let x = Tensor::<2>::random([128, 784], Distribution::Normal(0.0, 1.0), &device);
    let labels: Vec<i64> = (0..128).map(|i| i % 10).collect();
    let y = Tensor::<2, Int>::from_data(TensorData::new(labels, [128, 1]), &device);
    let mut rounds = Vec::new();
    for round in 0..6 {
        let steps = 50;
        let start = Instant::now();
        for _ in 0..steps {
            let loss = log_softmax(net.forward(x.clone()), 1).gather(1, y.clone()).mean().neg();
            let grads = GradientsParams::from_grads(loss.backward(), &net);
            net = optim.step(0.1, net, grads);
        }
        // One read-back per round, so that all the work is really done before timing stops.
        let _ = net.layers[0].weight.val().into_data();
        let ms = start.elapsed().as_secs_f64() * 1e3 / steps as f64;
        if round > 0 {
            rounds.push(ms);
        }
    }
    rounds.sort_by(f64::total_cmp);
    println!("bare burn step, config a (10x256 sigmoid, batch 128): median {:.1} ms/step over {} rounds", rounds[rounds.len() / 2], rounds.len());
}
