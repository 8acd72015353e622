//! gradflow: per-layer gradient telemetry for any burn model.
//!
//! Add it to your own training loop in a few lines, and `cargo xtask report` draws how the
//! gradient flows through every layer, as it does for the project's own MLPs:
//!
//! ```no_run
//! use burn::nn::{Linear, LinearConfig};
//! use burn::optim::{GradientsParams, SgdConfig};
//! use burn::prelude::*;
//! use gradflow::runfolder::{ModelInfo, Status};
//! use gradflow::{Recorder, Watch};
//!
//! # fn main() -> Result<(), gradflow::Error> {
//! let device = Device::flex().autodiff();
//! let mut model: Linear = LinearConfig::new(4, 1).init(&device);
//! let mut optim = SgdConfig::new().init();
//! let mut run = Recorder::named(std::path::Path::new("runs/mine"), "mine")?;
//! let mut watch = Watch::new("linear", &model)?;                   // 1. watch the model
//! run.add(&watch, ModelInfo::default())?;
//! for step in 1..=100 {
//!     let x = Tensor::<2>::ones([8, 4], &device);
//!     let taps = watch.taps(watch.is_logged(step, false));         // 2. taps: on when logged
//!     let out = taps.tap("linear", model.forward(x));              //    dL/dz of the output
//!     let loss = out.square().mean();
//!     let loss_value = f64::from(loss.clone().into_scalar::<f32>());
//!     let grads = loss.backward();
//!     let seen = taps.is_on().then(|| watch.read(&model, &grads, &taps)).transpose()?; // 3. read
//!     let grads = GradientsParams::from_grads(grads, &model);
//!     model = optim.step(0.1, model, grads);
//!     if let Some(seen) = seen {
//!         let m = watch.updated(seen, &model);                     // 4. the update ratio
//!         run.step("linear", 1, step, loss_value, &m, m.grad_norm)?;
//!     }
//! }
//! run.finish(Status::Completed, None)?;
//! # Ok(())
//! # }
//! ```
//!
//! `examples/own_model.rs` is the same with a deep model of one's own, and
//! `examples/cnn_mnist.rs` a CNN on MNIST.
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

mod clip;
mod error;
mod host;
mod measure;
mod mode;
mod params;
mod record;
mod reduce;
mod taps;
pub mod view;
mod watch;

pub use clip::{clip_global_norm, global_norm};
pub use error::Error;
pub use measure::{Histogram, LayerMetrics, Measurement, ParamMetrics, TimeStepMetrics};
pub use mode::with_training;
pub use params::{Grouping, LayerSpec, Layout, ParamSpec};
pub use record::Recorder;
pub use reduce::l2;
pub use taps::{Activation, Taps};
pub use watch::{Cadence, Measured, Watch};

/// The run folder's contract, re-exported for the manifest's types and the status.
pub use runfolder;
