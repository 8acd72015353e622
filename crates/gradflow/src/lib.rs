//! gradflow: per-layer gradient telemetry for any burn model.
//!
//! Add it to your own training loop in a few lines, and `cargo xtask report` draws how the
//! gradient flows through every layer, as it does for the project's own MLPs:
//!
//! ```ignore
//! let mut run = gradflow::Recorder::named(Path::new("runs/mine"), "mine")?;
//! let mut watch = gradflow::Watch::new("cnn", &model)?;                  // 1. watch the model
//! run.add(&watch, Default::default())?;
//! for (step, (x, y)) in batches.enumerate().map(|(i, b)| (i + 1, b)) {
//!     let taps = watch.taps(watch.is_logged(step, false));                // 2. taps, on when logged
//!     let loss = loss_fn(model.forward_tapped(x, &taps), y);              //    (forward calls taps.tap)
//!     let grads = loss.backward();
//!     let seen = taps.is_on().then(|| watch.read(&model, &grads, &taps)).transpose()?; // 3. read
//!     model = optim.step(lr, model, GradientsParams::from_grads(grads, &model));
//!     if let Some(seen) = seen {                                          // 4. record
//!         let m = watch.updated(seen, &model);
//!         run.step("cnn", epoch, step, loss_value, &m, m.grad_norm)?;
//!     }
//! }
//! ```
//!
//! What is measured (the run folder's files are described in ARCHITECTURE.md):
//! - for every parameter tensor, from the gradients and the module: gradient norm, weight
//!   norm, update ratio, distance from initialization, and the share of gradient entries
//!   below f32's normal range, all reduced in f64 on the host so that 1e-30 is logged as
//!   1e-30;
//! - for every layer (by default the module that owns the parameters), the same over its
//!   weights and its bias, and a histogram of its weights' gradient entries by decade;
//! - at each tap the user places in `forward`, the back-propagated error dL/dz and the
//!   health of the activation after it.

mod clip;
mod error;
mod host;
mod measure;
mod params;
mod record;
mod reduce;
mod taps;
pub mod view;
mod watch;

pub use clip::{clip_global_norm, global_norm};
pub use error::Error;
pub use measure::{Histogram, LayerMetrics, Measurement, ParamMetrics};
pub use params::{Grouping, LayerSpec, Layout, ParamSpec};
pub use record::Recorder;
pub use reduce::l2;
pub use taps::{Activation, Taps};
pub use watch::{Cadence, Measured, Watch};

/// The run folder's contract, re-exported for the manifest's types and the status.
pub use runfolder;
