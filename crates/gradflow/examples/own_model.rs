//! The shortest program that watches a burn model of one's own in a training loop of one's
//! own: the lines marked `// + gradflow` are all that the loop adds, and the lines marked
//! `// + tap` (optional) give the back-propagated error and activation health per layer.
//!
//! `cargo run -p gradflow --example own_model -- --out runs/own` writes a run folder, and
//! `cargo xtask report runs/own` draws it.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::optim::SgdConfig;
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::activation::sigmoid;
use clap::Parser;
use gradflow::backend::Backend;
use gradflow::{Activation, Taps};
use std::path::PathBuf;

/// A deep stack of sigmoid layers: the textbook case of vanishing gradients.
#[derive(Module, Debug)]
struct Net {
    hidden: Vec<Linear>,
    out: Linear,
}

impl Net {
    fn new(depth: usize, width: usize, device: &Device) -> Net {
        let mut hidden = vec![LinearConfig::new(8, width).init(device)];
        hidden.extend((1..depth).map(|_| LinearConfig::new(width, width).init(device)));
        Net {
            hidden,
            out: LinearConfig::new(width, 1).init(device),
        }
    }

    fn forward(&self, x: Tensor<2>, taps: &Taps) -> Tensor<2> {
        let mut h = x;
        for (i, layer) in self.hidden.iter().enumerate() {
            let name = format!("hidden.{i}"); // + tap: the tap's name is the layer's module path
            let z = taps.tap(&name, layer.forward(h)); // + tap
            h = taps.activation(&name, sigmoid(z), Activation::Sigmoid); // + tap
        }
        self.out.forward(h)
    }
}

/// Trains the net on a made-up regression and watches its gradients.
#[derive(Parser)]
struct Args {
    /// The run folder to write (must not exist, or be empty).
    #[arg(long, default_value = "runs/own-model")]
    out: PathBuf,
    /// How many epochs of 50 steps to train.
    #[arg(long, default_value_t = 4)]
    epochs: usize,
    /// The compute backend: flex or ndarray (CPU), wgpu or cuda (in a build with that feature:
    /// `--features wgpu`).
    #[arg(long, default_value_t = Backend::Flex)]
    backend: Backend,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    args.backend.open()?;
    let device = args.backend.autodiff_device();
    gradflow::seed(&device, 0); // + gradflow: `device.seed(0)`, and the manifest records it
    let mut model = Net::new(8, 32, &device);
    let mut optim = SgdConfig::new().init();
    let mut flow = gradflow::Flow::new(&args.out, &model)?.with_steps_per_epoch(50); // + gradflow
    for _ in 0..args.epochs * 50 {
        let x = Tensor::<2>::random([64, 8], Distribution::Normal(0.0, 1.0), &device);
        let y = x.clone().sum_dim(1).tanh();
        let loss = (model.forward(x, flow.taps()) - y).square().mean(); // + tap
        let grads = loss.backward();
        model = flow.step(model, &loss, grads, |m, g| optim.step(0.5, m, g))?; // + gradflow
    }
    flow.finish()?; // + gradflow
    let out = args.out.display();
    println!("run folder: {out}\nreport:     cargo xtask report {out}");
    Ok(())
}
