//! The manifest of a `train` run: the experiment, the machine, the data, and each MLP's
//! settings (the layers and parameters come from the watch).

use crate::backend::Backend;
use crate::compute::ComputeThreads;
use crate::config::{Experiment, LossKind};
use crate::net::outputs;
use crate::step::Trainee;
use data::{Dataset, Task};
use gradflow::Cadence;
use gradflow::runfolder::{DatasetInfo, ImageInfo, Manifest, ModelInfo, TelemetryInfo};

/// The manifest at the start of the run.
pub(crate) fn manifest(
    exp: &Experiment,
    dataset: &Dataset,
    backend: &Backend,
    threads: &ComputeThreads,
    cadence: &Cadence,
    loss: LossKind,
    probe: usize,
) -> Manifest {
    Manifest {
        name: exp.name.clone(),
        seed: Some(exp.seed),
        backend: Some(backend.name().to_string()),
        threads: Some(threads.threads()),
        flush_denormals: Some(threads.flushing()),
        version: Some(env!("CARGO_PKG_VERSION").to_string()),
        dataset: Some(DatasetInfo {
            source: Some(dataset.name.clone()),
            features: Some(dataset.features),
            classes: match dataset.task {
                Task::Classification { classes } => Some(classes),
                Task::Regression { .. } => None,
            },
            outputs: Some(outputs(&dataset.task)),
            train: Some(dataset.train.len),
            valid: Some(dataset.valid.len),
            test: Some(dataset.test.len),
            probe: Some(probe),
            sequence_length: exp.data.sequence_length,
            image: dataset.image.map(|s| ImageInfo { channels: s.channels, height: s.height, width: s.width }),
        }),
        task: Some(
            match dataset.task {
                Task::Classification { .. } => "classification",
                Task::Regression { .. } => "regression",
            }
            .to_string(),
        ),
        loss: Some(loss.name().to_string()),
        optimizer: Some(exp.optimizer.name().to_string()),
        telemetry: Some(TelemetryInfo {
            enabled: exp.telemetry.enabled,
            every: cadence.every,
            early_steps: cadence.early_steps(),
            probe,
        }),
        memory: Some(crate::memory::record(exp, dataset)),
        ..Manifest::default()
    }
}

/// What the manifest says of one model beyond its layers.
pub(crate) fn model_info(t: &Trainee) -> ModelInfo {
    ModelInfo { clip_grad_norm: t.clip, ..t.config.info(&t.name) }
}

