//! Trains deep MLPs and records how gradients flow through every layer: the library behind
//! the `train` binary (`cli` parses, the other modules do the work). The measuring and the
//! run folder are the `gradflow` library's, as they would be in any burn user's own loop.

pub mod backend;
mod batches;
mod flags;
pub mod bench;
pub mod cli;
pub mod compute;
pub mod config;
mod config_error;
pub mod diagnose;
pub mod jacobian;
pub mod loss;
mod manifest;
mod net;
pub mod memory;
mod optim;
mod step;
pub mod trainer;
pub mod tutorial;
