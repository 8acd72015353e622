//! The optimizer a config names (`[optimizer]`), and how a model's parameters are updated:
//! the kernels crate's in-place SGD where the arithmetic is plain, burn's optimizers for
//! everything that keeps state or decays weights.

use burn::module::{Module, ModuleMapper, Param};
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer, SgdConfig};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

/// The `[optimizer]` table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum OptimizerSpec {
    /// Stochastic gradient descent with optional momentum and weight decay.
    Sgd {
        lr: f64,
        #[serde(default)]
        momentum: f64,
        #[serde(default)]
        weight_decay: f64,
    },
    /// Adam with PyTorch's defaults (betas 0.9 and 0.999, eps 1e-8).
    Adam {
        lr: f64,
        #[serde(default = "default_beta1")]
        beta1: f64,
        #[serde(default = "default_beta2")]
        beta2: f64,
        #[serde(default = "default_eps")]
        eps: f64,
        #[serde(default)]
        weight_decay: f64,
    },
}

fn default_beta1() -> f64 {
    0.9
}
fn default_beta2() -> f64 {
    0.999
}
fn default_eps() -> f64 {
    1e-8
}

impl OptimizerSpec {
    /// The `kind` a config gives it, as the manifest records it.
    pub fn name(&self) -> &'static str {
        match self {
            OptimizerSpec::Sgd { .. } => "sgd",
            OptimizerSpec::Adam { .. } => "adam",
        }
    }

    pub fn lr(&self) -> f64 {
        match *self {
            OptimizerSpec::Sgd { lr, .. } | OptimizerSpec::Adam { lr, .. } => lr,
        }
    }
}

/// How a trainee's parameters are updated.
pub(crate) enum Updater {
    /// Plain SGD (no momentum, no weight decay): the kernels crate's update, one pass in place
    /// instead of burn's two passes into new buffers, and element for element what burn's
    /// `Sgd` computes.
    PlainSgd,
    /// burn's optimizer.
    Burn(ModuleOptimizer),
}

impl Updater {
    /// The updater for the spec. burn's defaults differ from PyTorch's in two places that are
    /// set explicitly here: SGD momentum dampening (burn 0.1, PyTorch 0) and Adam's epsilon
    /// (burn 1e-5, PyTorch 1e-8, taken from the config).
    pub(crate) fn new(spec: &OptimizerSpec) -> Updater {
        match *spec {
            OptimizerSpec::Sgd { momentum, weight_decay, .. } if momentum == 0.0 && weight_decay == 0.0 => Updater::PlainSgd,
            _ => Updater::Burn(burn_optimizer(spec)),
        }
    }

    /// One step: the model with every parameter that has a gradient in `grads` updated.
    pub(crate) fn step<M: Module>(&mut self, lr: f64, model: M, mut grads: GradientsParams) -> M {
        match self {
            Updater::Burn(optim) => optim.step(lr, model, grads),
            Updater::PlainSgd => model.map(&mut PlainSgd { grads: &mut grads, lr }),
        }
    }
}

/// Plain SGD over any module's parameters, each keeping its id and whether it requires grad
/// (as burn's optimizer does). burn's traversal also maps running statistics (`BatchNorm`),
/// which have no gradient and so stay as they are.
struct PlainSgd<'a> {
    grads: &'a mut GradientsParams,
    lr: f64,
}

impl ModuleMapper for PlainSgd<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (id, tensor, mapper) = param.consume();
        let tensor = match self.grads.remove::<D>(id) {
            Some(grad) => {
                let require_grad = tensor.is_require_grad();
                let updated = Tensor::from_inner(kernels::sgd_update(tensor.inner(), grad, self.lr));
                if require_grad { updated.require_grad() } else { updated }
            }
            None => tensor,
        };
        Param::from_mapped_value(id, tensor, mapper)
    }
}

/// burn's optimizer for the spec.
fn burn_optimizer(spec: &OptimizerSpec) -> ModuleOptimizer {
    match *spec {
        OptimizerSpec::Sgd { momentum, weight_decay, .. } => {
            let mut c = SgdConfig::new();
            if momentum > 0.0 {
                c = c.with_momentum(Some(MomentumConfig { momentum, dampening: 0.0, nesterov: false }));
            }
            if weight_decay > 0.0 {
                c = c.with_weight_decay(Some(burn::optim::decay::WeightDecayConfig { penalty: weight_decay as f32 }));
            }
            c.init()
        }
        OptimizerSpec::Adam { beta1, beta2, eps, weight_decay, .. } => {
            let mut c = AdamConfig::new().with_beta_1(beta1 as f32).with_beta_2(beta2 as f32).with_epsilon(eps as f32);
            if weight_decay > 0.0 {
                c = c.with_weight_decay(Some(burn::optim::decay::WeightDecayConfig { penalty: weight_decay as f32 }));
            }
            c.init()
        }
    }
}
