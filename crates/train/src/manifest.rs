//! The manifest of a `train` run: the experiment, the machine, the data, and each MLP's
//! settings (the layers and parameters come from the watch).

use crate::backend::Backend;
use crate::compute::ComputeThreads;
use crate::config::{Experiment, LossKind};
use crate::step::Trainee;
use data::{Dataset, Task};
use gradflow::Cadence;
use gradflow::runfolder::{DatasetInfo, Manifest, ModelInfo, TelemetryInfo};

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
            // The datasets `train` reads so far are feed-forward ones.
            sequence_length: None,
        }),
        task: Some(
            match dataset.task {
                Task::Classification { .. } => "classification",
                Task::Regression { .. } => "regression",
            }
            .to_string(),
        ),
        loss: Some(loss.name().to_string()),
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

/// What the manifest says of one MLP beyond its layers.
pub(crate) fn model_info(t: &Trainee) -> ModelInfo {
    ModelInfo {
        name: t.name.clone(),
        activation: Some(t.config.activation.name().to_string()),
        output_activation: Some(t.config.output_activation.map_or("none", |a| a.name()).to_string()),
        init: Some(t.config.init.to_string()),
        bias_init: Some(t.config.bias_init.to_string()),
        widths: t.config.sizes(),
        parameters: Some(t.config.num_params()),
        weights: Some(format!("{}.bpk", t.name)),
        norm: Some(t.config.norm.name().to_string()),
        residual: Some(t.config.residual),
        clip_grad_norm: t.clip,
        ..ModelInfo::default()
    }
}

/// The width of the model's output layer.
pub(crate) fn outputs(task: &Task) -> usize {
    match *task {
        Task::Classification { classes } => classes,
        Task::Regression { outputs } => outputs,
    }
}
