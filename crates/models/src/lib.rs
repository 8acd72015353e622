//! The models: one deep MLP type whose activation and initialization are configuration,
//! its named presets, one CNN type of stages of 3x3 convolutions (plain, normalized or
//! residual), the recurrent networks (a vanilla RNN, burn's LSTM and GRU) over
//! sequences, and the tutorial's chain run through burn's autodiff.
//!
//! This crate does no IO and picks no backend: every constructor takes a `&Device`.

mod cnn;
mod init;
mod mlp;
pub mod presets;
mod recurrent;
pub mod tutorial;

pub use chain::Activation;
pub use cnn::{Block, Cnn, CnnConfig, Conv, ConvShape, ConvSkip};
pub use init::{BiasInit, Init, draw_weight, draw_bias};
pub use mlp::{Mlp, MlpConfig, ModelError, Norm, Skip, Values};
pub use recurrent::{Cell, Recurrent, RecurrentConfig, RnnCell, pytorch_init};
