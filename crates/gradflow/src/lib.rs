//! gradflow: per-layer gradient telemetry for any burn model.
//!
//! It watches a model's parameters (found by burn's own traversal, named by module path),
//! measures every layer's gradient as the model trains, and writes a run folder that
//! `cargo xtask report` draws: how the gradient flows through every layer, where it
//! vanishes or explodes, and since when.
//!
//! Under burn-train's `Learner`, a [`Flow`] made before `launch`, a `TrainStep::optimize`
//! override that calls [`learner::optimize`], the metric [`Flow::metrics`] and
//! [`Flow::close`] after `launch` (see the [`learner`] module and `examples/learner_mnist.rs`).
//!
//! In a loop of one's own, one call per step and one at the end:
//!
//! ```
//! use burn::nn::{Linear, LinearConfig};
//! use burn::optim::SgdConfig;
//! use burn::prelude::*;
//!
//! fn main() -> Result<(), gradflow::Error> {
//!     # let _ = std::fs::remove_dir_all("runs/mine");
//!     let device = Device::flex().autodiff();
//!     gradflow::seed(&device, 0);
//!     let mut model: Linear = LinearConfig::new(4, 1).init(&device);
//!     let mut optim = SgdConfig::new().init();
//!     let mut flow = gradflow::FlowConfig::new().with_steps_per_epoch(50).init("runs/mine", &model)?;
//!     for _ in 0..100 {
//!         let x = Tensor::<2>::random([8, 4], burn::tensor::Distribution::Default, &device);
//!         let loss = (model.forward(x.clone()) - x.sum_dim(1)).square().mean();
//!         let grads = loss.backward();
//!         model = flow.step(model, &loss, grads, |model, grads| optim.step(0.1, model, grads))?;
//!     }
//!     flow.finish()?;
//!     # std::fs::remove_dir_all("runs/mine").unwrap();
//!     Ok(())
//! }
//! ```
//!
//! `examples/own_model.rs` is the same with a deep model of one's own and taps, and
//! `examples/cnn_mnist.rs` a CNN on MNIST through the lower-level [`Watch`] and [`Recorder`].
//!
//! What is measured (the run folder's files are described in ARCHITECTURE.md):
//! - for every parameter tensor, from the gradients and the module: gradient norm, weight
//!   norm, update ratio, distance from initialization, and the share of gradient entries
//!   below f32's normal range, all reduced in f64 on the host so that 1e-30 is logged as
//!   1e-30;
//! - for every layer (by default the module that owns the parameters), the same over its
//!   weights and its bias, and a histogram of its weights' gradient entries by decade;
//! - at each tap the user places in `forward`, the back-propagated error dL/dz and the
//!   health of the activation after it, and, at a residual block's output, the error dL/dh
//!   of the stream ([`Taps::stream`]);
//! - at each time step of a recurrent layer, the error dL/dh_t of its hidden state
//!   ([`Taps::hidden`]), the step's share of the recurrent weights' gradient
//!   ([`Taps::recurrent`]) and the mean of a gate ([`Taps::gate`]).

#![deny(missing_docs)]

pub mod backend;
mod clip;
mod device;
mod error;
mod flow;
mod host;
pub mod learner;
mod measure;
mod mode;
mod params;
mod record;
mod reduce;
mod seed;
mod taps;
pub mod view;
mod watch;

pub use clip::{clip_global_norm, global_norm};
pub use device::Reduction;
pub use error::Error;
pub use flow::{Flow, FlowConfig};
pub use measure::{Histogram, LayerMetrics, Measurement, ParamMetrics, TimeStepMetrics};
pub use mode::with_training;
pub use params::{Grouping, LayerSpec, Layout, ParamSpec};
pub use record::Recorder;
pub use reduce::l2;
pub use seed::seed;
pub use taps::{Activation, Taps};
pub use watch::{Cadence, GradSource, Measured, Tapped, Watch};

/// The run folder's contract, re-exported for the manifest's types and the status.
pub use runfolder;
