//! The workspace's one integration-test binary: each module tests one feature end to end.

mod chain;
mod cnn;
mod common;
mod config;
mod conv;
mod datasets;
mod device_reduce;
mod diagnose;
mod diagnosis;
mod fuzz;
// burn's wgpu backend against flex: `cargo test -p tests --features wgpu` (README, .ci/run).
#[cfg(feature = "wgpu")]
mod gpu;
mod guards;
mod images;
mod learner;
mod literature;
mod meanfield;
mod models;
mod prng;
mod recurrent;
mod remedies;
mod readings;
mod report;
mod runfolder;
mod spectrum;
mod telemetry;
mod tidy;
mod train;
mod tutorial;
mod watch;
