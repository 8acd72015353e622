//! What one reading of the parameters costs on the host path and on the device path, on the
//! same model and gradients (BENCHMARKS.md): `Watch::read_params` and `Watch::updated`, timed in
//! alternating rounds, medians printed as JSON lines.
//!
//! ```sh
//! cargo run --release -p gradflow --example reduction_cost -- --depth 10 --width 256
//! cargo run --release -p gradflow --features wgpu --example reduction_cost -- --backend wgpu
//! ```

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::sigmoid;
use clap::Parser;
use gradflow::backend::Backend;
use gradflow::{GradSource, Reduction, Watch};
use std::time::Instant;

/// Times the telemetry's two reductions on an MLP of `depth` layers of `width` units.
#[derive(Parser)]
struct Args {
    /// Hidden layers.
    #[arg(long, default_value_t = 10)]
    depth: usize,
    /// Units per hidden layer.
    #[arg(long, default_value_t = 256)]
    width: usize,
    /// Timed readings per path.
    #[arg(long, default_value_t = 30)]
    rounds: usize,
    /// The compute backend: flex or ndarray (CPU), wgpu or cuda (in a build with that feature).
    #[arg(long, default_value_t = Backend::Flex)]
    backend: Backend,
}

#[derive(Module, Debug)]
struct Mlp {
    layers: Vec<Linear>,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    args.backend.open()?;
    let device = args.backend.autodiff_device();
    device.seed(0);
    let mut widths = vec![784];
    widths.extend(std::iter::repeat_n(args.width, args.depth));
    widths.push(10);
    let model = Mlp { layers: widths.windows(2).map(|w| LinearConfig::new(w[0], w[1]).init(&device)).collect() };
    let x = Tensor::<2>::random([128, 784], burn::tensor::Distribution::Normal(0.0, 1.0), &device);
    let mut h = x;
    for layer in &model.layers {
        h = sigmoid(layer.forward(h));
    }
    let grads = h.square().mean().backward();
    // The update to measure: every parameter moved a little.
    let after = model.clone().map(&mut Nudge);
    let mut watches = [Reduction::Host, Reduction::Device].map(|r| Watch::new("mlp", &model).expect("parameters").with_reduction(r));
    let mut times = [Vec::new(), Vec::new()];
    for round in 0..args.rounds + 3 {
        for (w, t) in watches.iter_mut().zip(times.iter_mut()) {
            let start = Instant::now();
            let measured = w.read_params(&model, GradSource::Raw(&grads), None)?;
            let m = w.updated(measured, &after);
            std::hint::black_box(m);
            // The first rounds warm the allocator and the device path's uploads.
            if round >= 3 {
                t.push(start.elapsed().as_secs_f64() * 1e3);
            }
        }
    }
    let params: usize = watches[0].num_params();
    for (name, t) in ["host", "device"].iter().zip(times) {
        println!(
            "{}",
            serde_json::json!({ "backend": args.backend.name(), "reduction": name, "depth": args.depth, "width": args.width,
                "parameters": params, "rounds": args.rounds, "ms_median": (median(t) * 1e3).round() / 1e3 })
        );
    }
    Ok(())
}

/// Adds 0.01 to every parameter.
struct Nudge;

impl burn::module::ModuleMapper for Nudge {
    fn map_float<const D: usize>(&mut self, param: burn::module::Param<Tensor<D>>) -> burn::module::Param<Tensor<D>> {
        param.map(|t| t.add_scalar(0.01))
    }
}
