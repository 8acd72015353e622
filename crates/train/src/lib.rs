//! Trains deep MLPs and records how gradients flow through every layer: the library behind
//! the `train` binary (`cli` parses, the other modules do the work).

pub mod backend;
pub mod bench;
pub mod cli;
pub mod compute;
pub mod config;
pub mod run_dir;
pub mod telemetry;
pub mod trainer;
pub mod tutorial;
pub mod view;
