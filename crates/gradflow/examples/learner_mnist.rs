//! A burn-train program, as burn's book writes them, watched by gradflow: an MLP trained on
//! the embedded `mnist-10k` with `SupervisedTraining` and `Learner`, with burn-train's own
//! loss and accuracy metrics. The lines marked `// + gradflow` are all that gradflow adds;
//! the lines marked `// + tap` (optional) add each layer's back-propagated error and
//! activation health.
//!
//! `cargo run -p gradflow --example learner_mnist -- --out runs/learner --epochs 2`, then
//! `cargo xtask report runs/learner`. burn-train's own files go to `runs/learner/burn`.

use burn::data::dataloader::DataLoaderBuilder;
use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::InMemDataset;
use burn::lr_scheduler::constant::ConstantLr;
use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::{Linear, LinearConfig};
use burn::optim::{ModuleOptimizer, SgdConfig};
use burn::prelude::*;
use burn::tensor::activation::relu;
use burn::train::metric::{AccuracyMetric, LossMetric};
use burn::train::{
    ClassificationOutput, InferenceStep, Learner, SupervisedTraining, TrainOutput, TrainStep,
};
use clap::Parser;
use gradflow::backend::Backend;
use gradflow::learner::{Grads, Lr, Optim}; // + gradflow
use gradflow::{Activation, Taps};
use std::path::PathBuf;

/// An MLP of ReLU layers for 28x28 images.
#[derive(Module, Debug)]
struct Mlp {
    layers: Vec<Linear>,
    out: Linear,
}

impl Mlp {
    fn new(widths: &[usize], device: &Device) -> Mlp {
        let layers = widths
            .windows(2)
            .map(|w| LinearConfig::new(w[0], w[1]).init(device));
        let last = *widths.last().expect("at least one width");
        Mlp {
            layers: layers.collect(),
            out: LinearConfig::new(last, 10).init(device),
        }
    }

    fn forward(&self, images: Tensor<2>, taps: &Taps) -> Tensor<2> {
        let mut h = images;
        for (i, layer) in self.layers.iter().enumerate() {
            let name = format!("layers.{i}"); // + tap
            let z = taps.tap(&name, layer.forward(h)); // + tap
            h = taps.activation(&name, relu(z), Activation::Relu); // + tap
        }
        self.out.forward(h)
    }

    fn classify(&self, batch: MnistBatch, taps: &Taps) -> ClassificationOutput {
        let output = self.forward(batch.images, taps);
        let loss_fn = CrossEntropyLossConfig::new().init(&output.device());
        let loss = loss_fn.forward(output.clone(), batch.targets.clone());
        ClassificationOutput::new(loss, output, batch.targets)
    }
}

impl TrainStep for Mlp {
    type Input = MnistBatch;
    type Output = ClassificationOutput;

    fn step(&self, batch: MnistBatch) -> TrainOutput<ClassificationOutput> {
        let taps = gradflow::learner::taps(self); // + tap
        let item = self.classify(batch, &taps);
        let grads = item.loss.backward();
        gradflow::learner::read_taps(self, &taps, &grads); // + tap
        TrainOutput::new(self, grads, item)
    }

    fn optimize(self, o: &mut Optim, lr: Lr, g: Grads) -> Self {
        // + gradflow
        gradflow::learner::optimize(self, o, lr, g) // + gradflow
    } // + gradflow
}

impl InferenceStep for Mlp {
    type Input = MnistBatch;
    type Output = ClassificationOutput;

    fn step(&self, batch: MnistBatch) -> ClassificationOutput {
        self.classify(batch, &Taps::off())
    }
}

/// One image: 784 pixels in [0, 1] and its digit.
#[derive(Clone, Debug)]
struct MnistItem {
    pixels: Vec<f32>,
    label: u32,
}

/// A batch of images as a `[batch, 784]` tensor and their digits.
#[derive(Clone, Debug)]
struct MnistBatch {
    images: Tensor<2>,
    targets: Tensor<1, Int>,
}

struct MnistBatcher;

impl Batcher<MnistItem, MnistBatch> for MnistBatcher {
    fn batch(&self, items: Vec<MnistItem>, device: &Device) -> MnistBatch {
        let n = items.len();
        let pixels: Vec<f32> = items
            .iter()
            .flat_map(|i| i.pixels.iter().copied())
            .collect();
        let labels: Vec<i64> = items.iter().map(|i| i64::from(i.label)).collect();
        MnistBatch {
            images: Tensor::from_data(TensorData::new(pixels, [n, 784]), device),
            targets: Tensor::from_data(TensorData::new(labels, [n]), device),
        }
    }
}

/// One split of the embedded dataset as burn-train items.
fn items(split: &data::Split) -> anyhow::Result<Vec<MnistItem>> {
    let labels = split
        .labels()
        .ok_or_else(|| anyhow::anyhow!("mnist-10k has labels"))?;
    let pixels = split.x.chunks(split.features());
    Ok(pixels
        .zip(labels)
        .map(|(p, &label)| MnistItem {
            pixels: p.to_vec(),
            label,
        })
        .collect())
}

/// Trains an MLP on mnist-10k with burn-train and writes a run folder of its gradient flow.
#[derive(Parser)]
struct Args {
    /// The run folder to write (must not exist, or be empty, or hold a run to resume).
    #[arg(long, default_value = "runs/learner-mnist")]
    out: PathBuf,
    /// Epochs over the training images.
    #[arg(long, default_value_t = 2)]
    epochs: usize,
    /// Train on this many training images (and validate on as many test images) only.
    #[arg(long)]
    limit: Option<usize>,
    /// Examples per batch.
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// The SGD learning rate.
    #[arg(long, default_value_t = 0.1)]
    lr: f64,
    /// The compute backend: flex or ndarray (CPU), wgpu or cuda (in a build with that feature:
    /// `--features wgpu`).
    #[arg(long, default_value_t = Backend::Flex)]
    backend: Backend,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    args.backend.open()?;
    let device = args.backend.autodiff_device();
    gradflow::seed(&device, 42); // + gradflow: `device.seed(42)`, and the manifest records it
    let spec = data::DataSpec {
        limit: args.limit,
        ..data::DataSpec::default()
    };
    let dataset = data::load(&spec, 42)?;
    let mut test = items(&dataset.test)?;
    test.truncate(args.limit.unwrap_or(test.len()));
    let train = DataLoaderBuilder::new(MnistBatcher)
        .batch_size(args.batch)
        .shuffle(42)
        .build(InMemDataset::new(items(&dataset.train)?));
    let valid = DataLoaderBuilder::new(MnistBatcher)
        .batch_size(1000)
        .build(InMemDataset::new(test));

    let model = Mlp::new(&[784, 128, 64, 32], &device);
    let flow = gradflow::Flow::learner(&args.out, &model)?; // + gradflow
    let optim: ModuleOptimizer = SgdConfig::new().init();
    let learner = Learner::new(model, optim, ConstantLr::new(args.lr));
    let result = SupervisedTraining::new(args.out.join("burn"), train, valid)
        .metrics((LossMetric::new(), AccuracyMetric::new()))
        .metrics(flow.metrics()) // + gradflow
        .num_epochs(args.epochs)
        .launch(learner);
    flow.close(&result)?; // + gradflow
    let out = args.out.display();
    println!("run folder: {out}\nreport:     cargo xtask report {out}");
    Ok(())
}
