//! Times a training step of the CNN example with and without the gradflow watcher at its
//! default cadence, in alternating rounds, and prints the medians as one JSON line
//! (BENCHMARKS.md has the measurements, and `bench/pytorch_cnn.py` the PyTorch reference).
//!
//! `cargo run -p gradflow --example cnn_bench -- --rounds 5 --steps 100`

#[path = "cnn/model.rs"]
mod model;

use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{GradientsParams, SgdConfig};
use burn::prelude::*;
use burn::tensor::Distribution;
use clap::Parser;
use gradflow::backend::Backend;
use gradflow::runfolder::{Manifest, ModelInfo};
use gradflow::{Recorder, Taps, Watch};
use model::CnnConfig;
use std::time::Instant;

/// Alternating rounds of plain and watched training steps on synthetic images.
#[derive(Parser)]
struct Args {
    /// Rounds of each mode.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Steps per round.
    #[arg(long, default_value_t = 100)]
    steps: usize,
    /// Examples per step.
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// The compute backend: flex or ndarray (CPU), wgpu or cuda (in a build with that feature:
    /// `--features wgpu`).
    #[arg(long, default_value_t = Backend::Flex)]
    backend: Backend,
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() { f64::NAN } else { v[v.len() / 2] }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    args.backend.open()?;
    let device = args.backend.autodiff_device();
    device.seed(1);
    let mut model = CnnConfig::new().init(&device);
    let mut optim = SgdConfig::new().init();
    let loss_fn = CrossEntropyLossConfig::new().init(&device);
    let x = Tensor::<4>::random([args.batch, 1, 28, 28], Distribution::Normal(0.0, 1.0), &device);
    let y = Tensor::<1, Int>::from_data(TensorData::new((0..args.batch as i64).map(|i| i % 10).collect::<Vec<_>>(), [args.batch]), &device);
    // The watched rounds write a real run folder, as a user's loop would.
    let dir = std::env::temp_dir().join(format!("gradflow-cnn-bench-{}", std::process::id()));
    let mut run = Recorder::create(&dir, Manifest { name: "cnn-bench".into(), ..Manifest::default() }, None, Box::new(gradflow::view::Silent))?;
    let mut watch = Watch::new("cnn", &model)?;
    run.add(&watch, ModelInfo::default())?;

    // (mode, logged, seconds) of every timed step; `step` counts the watched steps only, so
    // that the cadence runs as in training.
    let mut times: Vec<(bool, bool, f64)> = Vec::new();
    let mut rounds: Vec<(f64, f64)> = Vec::new();
    let mut step = 0usize;
    for round in 0..=args.rounds {
        let mut round_time = [0.0f64; 2];
        for (m, watched) in [false, true].into_iter().enumerate() {
            for _ in 0..args.steps {
                let start = Instant::now();
                let logged = watched && {
                    step += 1;
                    watch.is_logged(step, false)
                };
                let taps = if watched { watch.taps(logged) } else { Taps::off() };
                let loss = loss_fn.forward(model.forward(x.clone(), &taps), y.clone());
                let loss_value = f64::from(loss.clone().into_scalar::<f32>());
                let grads = loss.backward();
                let seen = logged.then(|| watch.read(&model, &grads, &taps)).transpose()?;
                let grads = GradientsParams::from_grads(grads, &model);
                model = optim.step(0.01, model, grads);
                if let Some(seen) = seen {
                    let m = watch.updated(seen, &model);
                    run.step("cnn", 1, step, loss_value, &m, m.grad_norm)?;
                    run.flush()?;
                }
                let dt = start.elapsed().as_secs_f64();
                round_time[m] += dt;
                // Round 0 warms up.
                if round > 0 {
                    times.push((watched, logged, dt));
                }
            }
        }
        if round > 0 {
            rounds.push((round_time[0], round_time[1]));
        }
    }
    let pick = |w: bool, l: bool| -> Vec<f64> { times.iter().filter(|t| t.0 == w && t.1 == l).map(|t| t.2 * 1e3).collect() };
    let plain = median(&mut pick(false, false));
    let unlogged = median(&mut pick(true, false));
    let logged = median(&mut pick(true, true));
    let watched_steps = times.iter().filter(|t| t.0).count() as f64;
    let logged_share = pick(true, true).len() as f64 / watched_steps.max(1.0);
    let mut paired: Vec<f64> = rounds.iter().map(|(p, w)| 100.0 * (w / p - 1.0)).collect();
    println!(
        "{}",
        serde_json::json!({
            "batch": args.batch,
            "threads": rayon::current_num_threads(),
            "plain_ms_median": plain,
            "watched_unlogged_ms_median": unlogged,
            "watched_logged_ms_median": logged,
            "logged_share": logged_share,
            "overhead_from_step_times_pct": 100.0 * (logged - unlogged) * logged_share / unlogged,
            "overhead_vs_plain_paired_median_pct": median(&mut paired),
        })
    );
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
