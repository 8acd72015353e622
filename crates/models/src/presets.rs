//! The named presets: the deep sigmoid MLP and the deep ReLU MLP of the vanishing-gradient
//! story, each with its customary initialization.

use crate::{Activation, BiasInit, Init, MlpConfig};

/// A deep sigmoid MLP as it was trained before 2010: sigmoid units, Glorot and Bengio's
/// "standard" initialization U(+-1/sqrt(fan_in)), zero biases. The configuration under
/// which Glorot and Bengio (2010) and Nielsen (chapter 5) observed the early layers stall.
pub fn deep_sigmoid(input: usize, depth: usize, width: usize, output: usize) -> MlpConfig {
    MlpConfig::deep(input, depth, width, output, Activation::Sigmoid)
        .with_init(Init::Legacy)
        .with_bias_init(BiasInit::Zero)
}

/// A deep ReLU MLP with He et al. (2015) initialization N(0, 2/fan_in) and zero biases.
pub fn deep_relu(input: usize, depth: usize, width: usize, output: usize) -> MlpConfig {
    MlpConfig::deep(input, depth, width, output, Activation::Relu)
        .with_init(Init::he_normal())
        .with_bias_init(BiasInit::Zero)
}

/// A preset by name (`deep-sigmoid`, `deep-relu`).
pub fn by_name(name: &str, input: usize, depth: usize, width: usize, output: usize) -> Option<MlpConfig> {
    match name {
        "deep-sigmoid" => Some(deep_sigmoid(input, depth, width, output)),
        "deep-relu" => Some(deep_relu(input, depth, width, output)),
        _ => None,
    }
}

/// The names [`by_name`] knows.
pub const NAMES: [&str; 2] = ["deep-sigmoid", "deep-relu"];
