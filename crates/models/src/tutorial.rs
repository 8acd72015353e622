//! The tutorial's chain of one-neuron layers, run through burn's autodiff: the numbers that
//! the hand-written backward pass of the `chain` crate is compared with.

use crate::{BiasInit, Init, MlpConfig};
use burn::prelude::*;
use chain::Chain;

/// What burn computed for a chain, in float32, layer 1 first.
#[derive(Clone, Debug, PartialEq)]
pub struct AutodiffChain {
    pub pre_activation: Vec<f32>,
    pub activation: Vec<f32>,
    /// dL/dw from `loss.backward()`.
    pub grad_weight: Vec<f32>,
    /// dL/db from `loss.backward()`.
    pub grad_bias: Vec<f32>,
    pub output: f32,
    pub loss: f32,
}

/// The chain as an [`MlpConfig`]: `depth` linear layers of one neuron, the activation after
/// every one of them (the output included), constant weights and biases.
pub fn chain_config(chain: &Chain) -> MlpConfig {
    MlpConfig {
        input: 1,
        hidden: vec![1; chain.depth.saturating_sub(1)],
        output: 1,
        activation: chain.activation,
        output_activation: Some(chain.activation),
        bias: true,
        init: Init::Constant { value: chain.weight },
        bias_init: BiasInit::Constant { value: chain.bias },
        // The tutorial is the plain chain: no norm, no skip.
        norm: crate::Norm::None,
        residual: false,
        projection: false,
        seed: 0,
    }
}

/// Runs the chain forward and backward with burn on `device`, which must be an autodiff
/// device (`Device::flex().autodiff()`). The loss is 0.5 (out - target)^2.
pub fn run_autodiff(chain: &Chain, device: &Device) -> AutodiffChain {
    let model = chain_config(chain).init(device);
    let x = Tensor::<2>::from_data(TensorData::new(vec![chain.input as f32], [1, 1]), device);
    let (out, trace) = model.forward_values(x);
    let loss = (out.clone() - chain.target as f32).square().mul_scalar(0.5).sum();
    let grads = loss.backward();
    let gather = |ts: Vec<Tensor<2>>| -> Vec<f32> {
        Tensor::cat(ts, 0).into_data().convert::<f32>().try_to_vec::<f32>().expect("float32 data")
    };
    let grad_weight = gather(
        model.layers.iter().map(|l| l.weight.grad(&grads).expect("every weight is in the graph")).collect(),
    );
    let grad_bias = gather(
        model
            .layers
            .iter()
            .map(|l| l.bias.as_ref().expect("the chain has biases").grad(&grads).expect("in the graph").reshape([1, 1]))
            .collect(),
    );
    AutodiffChain {
        pre_activation: gather(trace.pre),
        activation: gather(trace.post),
        grad_weight,
        grad_bias,
        output: out.into_scalar::<f32>(),
        loss: loss.into_scalar::<f32>(),
    }
}
