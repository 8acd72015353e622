//! The models `train` builds, one type over the MLP and the recurrent networks, so that the
//! training loop, the probe and the evaluation are written once for both.

use crate::config::NetConfig;
use burn::module::Module;
use burn::optim::GradientsParams;
use burn::prelude::*;
use gradflow::runfolder::ModelInfo;
use gradflow::{Taps, Watch};
use models::{Mlp, Recurrent};
use std::path::Path;

/// A model under training.
#[derive(Debug, Clone)]
pub(crate) enum Net {
    Mlp(Mlp),
    Recurrent(Recurrent),
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
        }
    };
}

impl NetConfig {
    /// Builds the model, every parameter drawn from the config's seed.
    pub(crate) fn init(&self, device: &Device) -> Net {
        match self {
            NetConfig::Mlp(c) => Net::Mlp(c.init(device)),
            NetConfig::Recurrent(c) => Net::Recurrent(c.init(device)),
        }
    }

    /// The watcher of a model built from this config, with its layers grouped as the figures
    /// show them.
    pub(crate) fn watch(&self, name: &str, net: &Net) -> Watch {
        let grouping = match self {
            NetConfig::Mlp(c) => c.grouping(),
            NetConfig::Recurrent(c) => c.grouping(),
        };
        each!(net, m => Watch::grouped(name, m, &grouping)).expect("the models train builds have parameters")
    }

    /// The number of trainable scalars.
    pub(crate) fn num_params(&self) -> usize {
        match self {
            NetConfig::Mlp(c) => c.num_params(),
            NetConfig::Recurrent(c) => c.num_params(),
        }
    }

    /// What the manifest says of the model beyond its layers.
    pub(crate) fn info(&self, name: &str) -> ModelInfo {
        let base = ModelInfo { name: name.to_string(), parameters: Some(self.num_params()), weights: Some(format!("{name}.bpk")), ..ModelInfo::default() };
        match self {
            NetConfig::Mlp(c) => ModelInfo {
                kind: Some("mlp".to_string()),
                activation: Some(c.activation.name().to_string()),
                output_activation: Some(c.output_activation.map_or("none", |a| a.name()).to_string()),
                init: Some(c.init.to_string()),
                bias_init: Some(c.bias_init.to_string()),
                widths: c.sizes(),
                norm: Some(c.norm.name().to_string()),
                residual: Some(c.residual),
                ..base
            },
            NetConfig::Recurrent(c) => ModelInfo {
                kind: Some(c.cell.name().to_string()),
                hidden: Some(c.hidden),
                activation: Some("tanh".to_string()),
                output_activation: Some("none".to_string()),
                init: Some(if c.init == c.recurrent_init { c.init.to_string() } else { format!("{} (recurrent: {})", c.init, c.recurrent_init) }),
                bias_init: Some(c.bias_init.to_string()),
                ..base
            },
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
        }
    }

    /// The model with its training flags set to `training`, keeping gradients (the probe's).
    pub(crate) fn with_training(self, training: bool) -> Net {
        match self {
            Net::Mlp(m) => Net::Mlp(gradflow::with_training(m, training)),
            Net::Recurrent(m) => Net::Recurrent(gradflow::with_training(m, training)),
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
    pub(crate) fn step(self, optim: &mut crate::optim::Updater, lr: f64, grads: GradientsParams) -> Net {
        match self {
            Net::Mlp(m) => Net::Mlp(optim.step(lr, m, grads)),
            Net::Recurrent(m) => Net::Recurrent(optim.step(lr, m, grads)),
        }
    }

    /// Saves the weights in burn's native format.
    pub(crate) fn save_file(&self, path: &Path) -> anyhow::Result<()> {
        use anyhow::Context;
        each!(self, m => m.clone().save_file(path)).with_context(|| format!("cannot save weights to {}", path.display()))
    }
}
