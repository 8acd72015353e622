//! A small CNN on the embedded `mnist-10k`, watched by gradflow: every parameter, and a tap
//! after each layer. The way burn's own examples are written: the model in a file of its own
//! (`cnn/model.rs`, a `Module` with its `Config`), and a plain training loop here.
//!
//! `cargo run -p gradflow --example cnn_mnist -- --out runs/cnn`, then
//! `cargo xtask report runs/cnn`: the figures name the layers `conv1`, `conv2`, `fc1`, `fc2`.

#[path = "cnn/model.rs"]
mod model;

use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{GradientsParams, SgdConfig};
use burn::prelude::*;
use clap::Parser;
use gradflow::backend::Backend;
use gradflow::runfolder::{DatasetInfo, EpochRecord, ImageInfo, ModelInfo, Status};
use gradflow::{Measurement, Recorder, Taps, Watch};
use model::{Cnn, CnnConfig};
use std::path::PathBuf;
use std::time::Instant;

/// Trains the CNN on mnist-10k and writes a run folder of its gradient flow.
#[derive(Parser)]
struct Args {
    /// The run folder to write (must not exist, or be empty).
    #[arg(long, default_value = "runs/cnn-mnist")]
    out: PathBuf,
    /// Epochs over the 10,000 training images.
    #[arg(long, default_value_t = 1)]
    epochs: usize,
    /// Examples per step.
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// The SGD learning rate.
    #[arg(long, default_value_t = 0.05)]
    lr: f64,
    /// Train on this many training images only (a quick look).
    #[arg(long)]
    limit: Option<usize>,
    /// The compute backend: flex or ndarray (CPU), wgpu or cuda (in a build with that feature:
    /// `--features wgpu`).
    #[arg(long, default_value_t = Backend::Flex)]
    backend: Backend,
}

/// A split of the dataset as image and label tensors.
fn tensors(split: &data::Split, device: &Device) -> (Tensor<4>, Tensor<1, Int>) {
    let images = Tensor::<2>::from_data(TensorData::new(split.x.clone(), [split.len, 784]), device).reshape([split.len, 1, 28, 28]);
    let labels: Vec<i64> = split.labels().expect("mnist has labels").iter().map(|&c| i64::from(c)).collect();
    (images, Tensor::from_data(TensorData::new(labels, [split.len]), device))
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    args.backend.open()?;
    let device = args.backend.autodiff_device();
    device.seed(42);
    let spec = data::DataSpec { limit: args.limit, ..data::DataSpec::default() };
    let dataset = data::load(&spec, 42)?;
    let (train_x, train_y) = tensors(&dataset.train, &device);
    let (test_x, test_y) = tensors(&dataset.test, &device.clone().inner());

    let mut model = CnnConfig::new().init(&device);
    let mut optim = SgdConfig::new().init();
    let loss_fn = CrossEntropyLossConfig::new().init(&device);

    // The run folder: the dataset for the report, then the watched model.
    let mut run = Recorder::named(&args.out, "cnn-mnist")?;
    let m = run.manifest_mut();
    m.task = Some("classification".into());
    m.loss = Some("cross-entropy".into());
    m.seed = Some(42);
    m.dataset = Some(DatasetInfo { source: Some("mnist-10k".into()), train: Some(dataset.train.len), test: Some(dataset.test.len), classes: Some(10), image: dataset.image.map(|s| ImageInfo { channels: s.channels, height: s.height, width: s.width }), ..Default::default() });
    let mut watch = Watch::new("cnn", &model)?;
    run.add(&watch, ModelInfo::default())?;

    // A fixed probe set of 1,000 training images, measured with no update at initialization
    // and after every epoch: numbers comparable across runs and seeds.
    let probe_idx = dataset.probe_indices(1000, 42);
    let probe_idx = Tensor::<1, Int>::from_data(TensorData::new(probe_idx.iter().map(|&i| i as i64).collect::<Vec<_>>(), [probe_idx.len()]), &device);
    let (probe_x, probe_y) = (train_x.clone().select(0, probe_idx.clone()), train_y.clone().select(0, probe_idx));
    if let Some(t) = run.manifest_mut().telemetry.as_mut() {
        t.probe = probe_y.dims()[0];
    }
    let probe = |model: &Cnn, watch: &mut Watch| -> Result<Measurement, gradflow::Error> {
        let taps = Taps::on();
        let grads = loss_fn.forward(model.forward(probe_x.clone(), &taps), probe_y.clone()).backward();
        Ok(watch.read(model, &grads, &taps)?.into_measurement())
    };
    run.probe("cnn", 0, 0, &probe(&model, &mut watch)?)?;

    let steps_per_epoch = dataset.train.len.div_ceil(args.batch);
    run.start(args.epochs, steps_per_epoch);
    let mut step = 0;
    for epoch in 1..=args.epochs {
        let start = Instant::now();
        let (mut loss_sum, mut correct) = (0.0, 0i64);
        for (b, idx) in dataset.batch_order(42, epoch).chunks(args.batch).enumerate() {
            step += 1;
            let idx = Tensor::<1, Int>::from_data(TensorData::new(idx.iter().map(|&i| i as i64).collect::<Vec<_>>(), [idx.len()]), &device);
            let (x, y) = (train_x.clone().select(0, idx.clone()), train_y.clone().select(0, idx));
            let taps = watch.taps(watch.is_logged(step, b + 1 == steps_per_epoch));
            let logits = model.forward(x, &taps);
            correct += logits.clone().argmax(1).squeeze_dim::<1>(1).equal(y.clone()).int().sum().into_scalar::<i64>();
            let loss = loss_fn.forward(logits, y);
            let loss_value = f64::from(loss.clone().into_scalar::<f32>());
            loss_sum += loss_value;
            let grads = loss.backward();
            let seen = taps.is_on().then(|| watch.read(&model, &grads, &taps)).transpose()?;
            if let Some(path) = seen.as_ref().and_then(|s| s.measurement.non_finite.clone()) {
                run.finish(Status::Diverged, Some(format!("step {step}: non-finite gradient in {path}")))?;
                anyhow::bail!("step {step}: non-finite gradient in {path}");
            }
            let grads = GradientsParams::from_grads(grads, &model);
            model = optim.step(args.lr, model, grads);
            if let Some(seen) = seen {
                let m = watch.updated(seen, &model);
                run.step("cnn", epoch, step, loss_value, &m, m.grad_norm)?;
                run.flush()?;
            }
            run.progress(epoch, b + 1);
        }
        run.probe("cnn", epoch, step, &probe(&model, &mut watch)?)?;
        let test = evaluate(&model.valid(), &test_x, &test_y);
        let n = dataset.train.len as f64;
        run.epoch(&EpochRecord {
            model: "cnn",
            epoch,
            train: (loss_sum / steps_per_epoch as f64, Some(correct as f64 / n)),
            test: Some(test),
            valid: None,
            seconds: start.elapsed().as_secs_f64(),
        })?;
        run.checkpoint(&[&watch])?;
    }
    run.finish(Status::Completed, None)?;
    println!("run folder: {}\nreport:     cargo xtask report {}", args.out.display(), args.out.display());
    Ok(())
}

/// Test loss and accuracy, in chunks, without autodiff.
fn evaluate(model: &Cnn, x: &Tensor<4>, y: &Tensor<1, Int>) -> (f64, Option<f64>) {
    let n = y.dims()[0];
    let loss_fn = CrossEntropyLossConfig::new().init(&x.device());
    let (mut loss, mut correct) = (0.0, 0i64);
    for start in (0..n).step_by(1000) {
        let end = (start + 1000).min(n);
        let logits = model.forward(x.clone().slice([start..end]), &Taps::off());
        let y = y.clone().slice([start..end]);
        correct += logits.clone().argmax(1).squeeze_dim::<1>(1).equal(y.clone()).int().sum().into_scalar::<i64>();
        loss += f64::from(loss_fn.forward(logits, y).into_scalar::<f32>()) * (end - start) as f64;
    }
    (loss / n as f64, Some(correct as f64 / n as f64))
}
