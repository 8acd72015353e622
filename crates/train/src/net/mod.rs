//! The models `train` builds, one type over the MLP, the recurrent networks and the CNN, so
//! that the training loop, the probe and the evaluation are written once for all; and beside each
//! kind of model its config module, which reads a `[models.<name>]` table (`spec.rs`) into
//! the models crate's config. The experiment's config (`config.rs`) calls down into these
//! modules; nothing here imports it back.

pub mod cnn;
pub mod mlp;
pub mod recurrent;
pub mod spec;

use crate::config_error::{ConfigError, err};
use crate::optim::Updater;
use burn::module::Module;
use burn::optim::GradientsParams;
use burn::prelude::*;
use data::Task;
use gradflow::runfolder::ModelInfo;
use gradflow::{Taps, Watch};
use models::{Cnn, CnnConfig, Mlp, MlpConfig, Recurrent, RecurrentConfig};
use spec::{ModelKind, ModelSpec};
use std::path::Path;

/// A model's configuration as `train` builds it: the MLP, a recurrent network or a CNN.
#[derive(Clone, Debug, PartialEq)]
pub enum NetConfig {
    Mlp(MlpConfig),
    Recurrent(RecurrentConfig),
    Cnn(CnnConfig),
}

/// The width of the model's output layer.
pub(crate) fn outputs(task: &Task) -> usize {
    match *task {
        Task::Classification { classes } => classes,
        Task::Regression { outputs } => outputs,
    }
}

/// A model under training.
#[derive(Debug, Clone)]
pub(crate) enum Net {
    Mlp(Mlp),
    Recurrent(Recurrent),
    Cnn(Cnn),
}

impl Default for Net {
    /// An empty MLP: it holds the model's place while the optimizer has it.
    fn default() -> Net {
        Net::Mlp(Mlp::default())
    }
}

/// Calls `$f` with the model inside, whatever its type (the generic functions of burn and
/// gradflow take the module itself).
macro_rules! each {
    ($net:expr, $m:ident => $body:expr) => {
        match $net {
            Net::Mlp($m) => $body,
            Net::Recurrent($m) => $body,
            Net::Cnn($m) => $body,
        }
    };
}

impl NetConfig {
    /// One model's config, read by its kind's module: an MLP, a recurrent network over
    /// `sequence_length` (`data.sequence_length`) steps of `input / T` features each, or a CNN
    /// on images of `image` (`[channels, height, width]`; `None` when the data are not
    /// images). `key` names the model in messages (`models.sigmoid`).
    pub(crate) fn from_spec(
        key: &str,
        spec: &ModelSpec,
        input: usize,
        output: usize,
        seed: u64,
        sequence_length: Option<usize>,
        image: Option<[usize; 3]>,
    ) -> Result<NetConfig, ConfigError> {
        match spec.kind {
            ModelKind::Mlp => return spec.to_mlp(key, input, output, seed).map(NetConfig::Mlp),
            ModelKind::Cnn => return spec.to_cnn(key, image, output, seed).map(NetConfig::Cnn),
            ModelKind::Rnn | ModelKind::Lstm | ModelKind::Gru => {}
        }
        let steps = sequence_length.ok_or_else(|| err("data.sequence_length", "missing: a recurrent model needs T"))?;
        if !input.is_multiple_of(steps) {
            return Err(err(
                "data.sequence_length",
                format!("{steps} time steps do not divide the data's {input} features evenly (each step reads features / T of them)"),
            ));
        }
        spec.to_recurrent(key, input / steps, steps, output, seed).map(NetConfig::Recurrent)
    }

    /// Builds the model, every parameter drawn from the config's seed.
    pub(crate) fn init(&self, device: &Device) -> Net {
        match self {
            NetConfig::Mlp(c) => Net::Mlp(c.init(device)),
            NetConfig::Recurrent(c) => Net::Recurrent(c.init(device)),
            NetConfig::Cnn(c) => Net::Cnn(c.init(device)),
        }
    }

    /// The watcher of a model built from this config, with its layers grouped as the figures
    /// show them.
    pub(crate) fn watch(&self, name: &str, net: &Net) -> Watch {
        let grouping = match self {
            NetConfig::Mlp(c) => c.grouping(),
            NetConfig::Recurrent(c) => c.grouping(),
            NetConfig::Cnn(c) => c.grouping(),
        };
        each!(net, m => Watch::grouped(name, m, &grouping)).expect("the models train builds have parameters")
    }

    /// The number of trainable scalars.
    pub(crate) fn num_params(&self) -> usize {
        match self {
            NetConfig::Mlp(c) => c.num_params(),
            NetConfig::Recurrent(c) => c.num_params(),
            NetConfig::Cnn(c) => c.num_params(),
        }
    }

    /// What the manifest says of the model beyond its layers (public so that the diagnosis's
    /// tests judge manifests whose settings are spelled as `train` writes them).
    pub fn info(&self, name: &str) -> ModelInfo {
        let base = ModelInfo { name: name.to_string(), parameters: Some(self.num_params()), weights: Some(format!("{name}.bpk")), ..ModelInfo::default() };
        match self {
            NetConfig::Mlp(c) => mlp::info(c, base),
            NetConfig::Recurrent(c) => recurrent::info(c, base),
            NetConfig::Cnn(c) => cnn::info(c, base),
        }
    }
}

impl Net {
    pub(crate) fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        each!(self, m => m.forward(x))
    }

    pub(crate) fn forward_tapped(&self, x: Tensor<2>, taps: &Taps) -> Tensor<2> {
        each!(self, m => m.forward_tapped(x, taps))
    }

    /// The model without autodiff, for evaluation.
    pub(crate) fn valid(&self) -> Net {
        match self {
            Net::Mlp(m) => Net::Mlp(m.valid()),
            Net::Recurrent(m) => Net::Recurrent(m.valid()),
            Net::Cnn(m) => Net::Cnn(m.valid()),
        }
    }

    /// The model with its training flags set to `training`, keeping gradients (the probe's).
    pub(crate) fn with_training(self, training: bool) -> Net {
        match self {
            Net::Mlp(m) => Net::Mlp(gradflow::with_training(m, training)),
            Net::Recurrent(m) => Net::Recurrent(gradflow::with_training(m, training)),
            Net::Cnn(m) => Net::Cnn(gradflow::with_training(m, training)),
        }
    }

    /// Measures a pass through the watcher.
    pub(crate) fn read(&self, watch: &mut Watch, grads: &burn::tensor::Gradients, taps: &Taps) -> Result<gradflow::Measured, gradflow::Error> {
        each!(self, m => watch.read(m, grads, taps))
    }

    /// Completes a measurement with the update it saw.
    pub(crate) fn updated(&self, watch: &Watch, measured: gradflow::Measured) -> gradflow::Measurement {
        each!(self, m => watch.updated(measured, m))
    }

    pub(crate) fn gradients(&self, grads: burn::tensor::Gradients) -> GradientsParams {
        each!(self, m => GradientsParams::from_grads(grads, m))
    }

    pub(crate) fn global_norm(&self, grads: &GradientsParams) -> f64 {
        each!(self, m => gradflow::global_norm(m, grads))
    }

    pub(crate) fn clip(&self, grads: &mut GradientsParams, total: f64, max_norm: f64) -> f64 {
        each!(self, m => gradflow::clip_global_norm(m, grads, total, max_norm))
    }

    /// The model after one optimizer step.
    pub(crate) fn step(self, optim: &mut Updater, lr: f64, grads: GradientsParams) -> Net {
        match self {
            Net::Mlp(m) => Net::Mlp(optim.step(lr, m, grads)),
            Net::Recurrent(m) => Net::Recurrent(optim.step(lr, m, grads)),
            Net::Cnn(m) => Net::Cnn(optim.step(lr, m, grads)),
        }
    }

    /// Saves the weights in burn's native format.
    pub(crate) fn save_file(&self, path: &Path) -> anyhow::Result<()> {
        use anyhow::Context;
        each!(self, m => m.clone().save_file(path)).with_context(|| format!("cannot save weights to {}", path.display()))
    }
}
