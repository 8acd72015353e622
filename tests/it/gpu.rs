//! burn's wgpu backend against flex, under the `wgpu` feature: on a machine without a GPU it
//! runs on Mesa's lavapipe (`CUBECL_WGPU_DEFAULT_DEVICE=Cpu`; the README's command). The
//! tutorial's gradients, the device reductions against the host ones, a recurrent step's
//! telemetry, and a short MLP training whose per-layer norms are flex's within float tolerance.

use crate::common::{experiment, run_in, scratch};
use burn::prelude::*;
use gradflow::{Measurement, Reduction, Taps, Watch};
use models::tutorial::run_autodiff;
use models::{Cell, Init, RecurrentConfig};
use train::backend::Backend;

/// The wgpu backend, opened: a machine without an adapter fails here, in one line.
fn wgpu() -> Device {
    Backend::Wgpu.open().unwrap_or_else(|e| panic!("{e}"));
    Backend::Wgpu.autodiff_device()
}

fn close(flex: f64, gpu: f64, tol: f64, what: &str) {
    assert!((flex - gpu).abs() <= tol * flex.abs().max(gpu.abs()).max(1e-30), "{what}: flex {flex:e} vs wgpu {gpu:e}");
}

#[test]
fn the_tutorial_gradients_on_wgpu() {
    let device = wgpu();
    let s = run_autodiff(&chain::Chain::tutorial(chain::Activation::Sigmoid), &device);
    for (got, want) in s.grad_weight.iter().zip(crate::tutorial::SIGMOID) {
        assert!((f64::from(*got) - want).abs() < 1e-6, "sigmoid: {got} vs {want}");
    }
    let r = run_autodiff(&chain::Chain::tutorial(chain::Activation::Relu), &device);
    for got in &r.grad_weight {
        assert!((f64::from(*got) - crate::tutorial::RELU).abs() < 1e-6, "relu: {got}");
    }
}

#[test]
fn device_reductions_match_host_reductions_on_wgpu() {
    crate::device_reduce::paths_agree(&wgpu());
}

/// One step of a vanilla RNN and of an LSTM, seeded alike on both backends: the per-time-step
/// errors, gates and recurrent shares, and every layer's norms (reduced on the device on
/// wgpu, on the host on flex).
#[test]
fn a_recurrent_step_on_wgpu_measures_what_flex_measures() {
    let gpu = wgpu();
    let flex = Device::flex().autodiff();
    for cell in [Cell::Rnn, Cell::Lstm] {
        let (steps, input, hidden) = (6, 3, 5);
        let config = RecurrentConfig::new(cell, input, steps, hidden, 2)
            .with_init(Init::Normal { mean: 0.0, std: 0.5 }, Init::Orthogonal { gain: 1.0 })
            .with_seed(7);
        let measure = |device: &Device| -> Measurement {
            let model = config.init(device);
            let mut watch = Watch::grouped("rnn", &model, &config.grouping()).unwrap();
            let (x, y, _, _) = crate::recurrent::batch(4, steps, input, 2, 21, device);
            let taps = Taps::on();
            let grads = crate::recurrent::half_sse(model.forward_tapped(x, &taps), y).backward();
            watch.read(&model, &grads, &taps).unwrap().into_measurement()
        };
        let (f, g) = (measure(&flex), measure(&gpu));
        assert_eq!(f.time_steps.len(), g.time_steps.len(), "{cell:?}: the same time steps");
        for (a, b) in f.time_steps.iter().zip(&g.time_steps) {
            let what = format!("{cell:?} layer {} t={}", a.layer, a.t);
            assert_eq!((a.layer, a.t), (b.layer, b.t), "{what}: the same step");
            for ((name, x), (other, y)) in a.rows().into_iter().zip(b.rows()) {
                assert_eq!(name, other, "{what}: the same metrics");
                close(x, y, 1e-4, &format!("{what} {name}"));
            }
        }
        assert!(f.time_steps.iter().any(|s| s.hidden_delta_norm.is_some()), "{cell:?}: time steps were tapped");
        for (i, (a, b)) in f.layers.iter().zip(&g.layers).enumerate() {
            for ((name, x), (other, y)) in a.rows().into_iter().zip(b.rows()) {
                assert_eq!(name, other, "{cell:?} layer {i}: the same metrics");
                close(x, y, 1e-4, &format!("{cell:?} layer {i} {name}"));
            }
        }
        assert_eq!(f.histograms, g.histograms, "{cell:?}: the same bins");
    }
}

/// A sigmoid MLP trained for one short epoch on each backend: the per-layer norms of
/// layers.csv's probe rows (at initialization and after the epoch) agree within float
/// tolerance; on wgpu they were reduced on the device.
#[test]
fn a_short_mlp_training_on_wgpu_logs_flex_norms() {
    let _ = wgpu();
    let exp = experiment(
        r#"
name = "gpu"
seed = 5
[data]
source = "digits"
limit = 300
[train]
epochs = 1
batch_size = 50
[optimizer]
kind = "sgd"
lr = 0.1
[telemetry]
probe = 100
[models.sigmoid]
preset = "deep-sigmoid"
depth = 4
width = 16
"#,
        &[],
    );
    let rows = |backend: Backend| {
        let out = scratch(&format!("gpu-{}", backend.name())).join("run");
        run_in(&exp, &out, backend).unwrap_or_else(|e| panic!("{backend:?}: {e:#}"));
        let text = std::fs::read_to_string(out.join(gradflow::runfolder::LAYERS)).unwrap();
        let manifest = std::fs::read_to_string(out.join("manifest.json")).unwrap();
        assert!(manifest.contains(&format!("\"backend\": \"{}\"", backend.name())), "{manifest}");
        text.lines()
            .skip(1)
            // The norms; shares of entries past a threshold (saturation, dead units,
            // underflow) may flip with a value one ulp from it, so they are left out.
            .filter(|l| l.split(',').nth(3) == Some("probe") && l.split(',').nth(5).is_some_and(|m| m.contains("norm") || m == "dist_from_init"))
            .map(|l| {
                let (key, value) = l.rsplit_once(',').unwrap();
                (key.to_string(), value.parse::<f64>().unwrap())
            })
            .collect::<Vec<_>>()
    };
    let (f, g) = (rows(Backend::Flex), rows(Backend::Wgpu));
    assert!(!f.is_empty(), "probe rows were written");
    assert_eq!(f.iter().map(|r| &r.0).collect::<Vec<_>>(), g.iter().map(|r| &r.0).collect::<Vec<_>>(), "the same rows");
    for ((key, x), (_, y)) in f.iter().zip(&g) {
        close(*x, *y, 2e-3, key);
    }
}

/// Forcing the host path on wgpu reads every tensor back and gives the device path's numbers:
/// the choice is only where the work is done.
#[test]
fn both_reductions_are_available_on_wgpu() {
    let device = wgpu();
    let layer: burn::nn::Linear = burn::nn::LinearConfig::new(8, 4).init(&device);
    let x = Tensor::<2>::ones([3, 8], &device);
    let grads = layer.forward(x).square().sum().backward();
    let read = |r: Reduction| {
        let mut w = Watch::new("l", &layer).unwrap().with_reduction(r);
        w.read_params(&layer, gradflow::GradSource::Raw(&grads), None).unwrap().into_measurement()
    };
    let (host, device) = (read(Reduction::Host), read(Reduction::Device));
    close(host.grad_norm, device.grad_norm, 1e-5, "global norm");
    assert_eq!(host.histograms, device.histograms);
    // On lavapipe (the CPU adapter these tests run on) the default reduces on the host, as on
    // flex: its buffers are host memory, and the device path costs several times the host's
    // there. The two paths round differently (a float32 sum of scaled squares against an f64
    // sum), so on these random weights the default's norm is the host's exactly only when it
    // took the host's path.
    let cpu_adapter = std::env::var("CUBECL_WGPU_DEFAULT_DEVICE").is_ok_and(|v| v == "Cpu");
    let auto = read(Reduction::Auto);
    assert_eq!(auto.grad_norm == host.grad_norm, cpu_adapter, "Auto reduces on the host exactly on the CPU adapter: {auto:?} against {host:?}");
}
