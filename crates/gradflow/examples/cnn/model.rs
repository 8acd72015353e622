//! The small CNN of the gradflow examples (two `Conv2d` with pooling, two `Linear`), written
//! as burn's own examples write a model: the `Module`, its `Config` with `init`, and a
//! `forward` that takes the taps.

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::relu;
use gradflow::{Activation, Taps};

/// Two convolutions with pooling, then two linear layers.
#[derive(Module, Debug)]
pub struct Cnn {
    conv1: Conv2d,
    conv2: Conv2d,
    pool: MaxPool2d,
    fc1: Linear,
    fc2: Linear,
}

#[derive(Config, Debug)]
pub struct CnnConfig {
    #[config(default = 8)]
    channels1: usize,
    #[config(default = 16)]
    channels2: usize,
    #[config(default = 64)]
    hidden: usize,
}

impl CnnConfig {
    pub fn init(&self, device: &Device) -> Cnn {
        Cnn {
            conv1: Conv2dConfig::new([1, self.channels1], [3, 3]).init(device),
            conv2: Conv2dConfig::new([self.channels1, self.channels2], [3, 3]).init(device),
            pool: MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
            // 28 -> conv 26 -> pool 13 -> conv 11 -> pool 5.
            fc1: LinearConfig::new(self.channels2 * 5 * 5, self.hidden).init(device),
            fc2: LinearConfig::new(self.hidden, 10).init(device),
        }
    }
}

impl Cnn {
    /// Images `[n, 1, 28, 28]` to logits `[n, 10]`. Each tap is named after the layer
    /// whose output it taps, so that its dL/dz and activation health join that layer's
    /// parameter metrics; with `Taps::off()` this is the plain forward pass.
    pub fn forward(&self, x: Tensor<4>, taps: &Taps) -> Tensor<2> {
        let z = taps.tap("conv1", self.conv1.forward(x));
        let a = self.pool.forward(taps.activation("conv1", relu(z), Activation::Relu));
        let z = taps.tap("conv2", self.conv2.forward(a));
        let a = self.pool.forward(taps.activation("conv2", relu(z), Activation::Relu));
        let z = taps.tap("fc1", self.fc1.forward(a.flatten(1, 3)));
        let a = taps.activation("fc1", relu(z), Activation::Relu);
        taps.tap("fc2", self.fc2.forward(a))
    }
}
