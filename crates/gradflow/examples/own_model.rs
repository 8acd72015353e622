//! The shortest program that watches a burn model of one's own: the lines marked
//! `// + gradflow` are all that a training loop needs to add.
//!
//! `cargo run -p gradflow --example own_model -- --out runs/own` writes a run folder, and
//! `cargo xtask report runs/own` draws it.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::optim::{GradientsParams, SgdConfig};
use burn::prelude::*;
use burn::tensor::activation::sigmoid;
use clap::Parser;
use gradflow::{Activation, Recorder, Taps, Watch};
use gradflow::runfolder::{EpochRecord, ModelInfo, Status};
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
        Net { hidden, out: LinearConfig::new(width, 1).init(device) }
    }

    fn forward(&self, x: Tensor<2>, taps: &Taps) -> Tensor<2> {
        let mut h = x;
        for (i, layer) in self.hidden.iter().enumerate() {
            let name = format!("hidden.{i}"); // + gradflow: the tap's name is the layer's module path
            let z = taps.tap(&name, layer.forward(h)); // + gradflow
            h = taps.activation(&name, sigmoid(z), Activation::Sigmoid); // + gradflow
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
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let device = Device::flex().autodiff();
    device.seed(0);
    let mut model = Net::new(8, 32, &device);
    let mut optim = SgdConfig::new().init();
    let mut run = Recorder::named(&args.out, "own-model")?; // + gradflow
    let mut watch = Watch::new("net", &model)?; // + gradflow
    run.add(&watch, ModelInfo::default())?; // + gradflow
    let mut step = 0;
    for epoch in 1..=args.epochs {
        let (mut loss_sum, start) = (0.0, std::time::Instant::now());
        for batch in 0..50 {
            step += 1;
            let x = Tensor::<2>::random([64, 8], burn::tensor::Distribution::Normal(0.0, 1.0), &device);
            let y = x.clone().sum_dim(1).tanh();
            let taps = watch.taps(watch.is_logged(step, batch == 49)); // + gradflow
            let loss = (model.forward(x, &taps) - y).square().mean();
            let loss_value = f64::from(loss.clone().into_scalar::<f32>());
            loss_sum += loss_value;
            let grads = loss.backward();
            let seen = taps.is_on().then(|| watch.read(&model, &grads, &taps)).transpose()?; // + gradflow
            let grads = GradientsParams::from_grads(grads, &model);
            model = optim.step(0.5, model, grads);
            if let Some(seen) = seen {
                let m = watch.updated(seen, &model); // + gradflow
                run.step("net", epoch, step, loss_value, &m, m.grad_norm)?; // + gradflow
            }
        }
        let (train, seconds) = ((loss_sum / 50.0, None), start.elapsed().as_secs_f64());
        run.epoch(&EpochRecord { model: "net", epoch, train, test: None, valid: None, seconds })?; // + gradflow
        run.checkpoint(&[&watch])?; // + gradflow
    }
    run.finish(Status::Completed, None)?; // + gradflow
    println!("run folder: {}\nreport:     cargo xtask report {}", args.out.display(), args.out.display());
    Ok(())
}
