//! The diagnosis (`crates/diagnosis`, `diagnosis.json`, `cargo xtask diagnose`): run folders
//! with known pathologies, written row by row through `runfolder`'s writer, get their finding
//! in the right layers and nothing else; a healthy one gets none; bad input (missing files, a
//! killed run, one layer, frozen layers) says what it could not judge; and a trained run ends
//! with its diagnosis printed and written.

use std::path::{Path, PathBuf};

use crate::common::{experiment, run_in, scratch};
use diagnosis::thresholds;
use gradflow::runfolder::{
    self, Bin, Diagnosis, Divergence, HistogramRow, Kind, LayerInfo, LayerRow, Manifest, ModelDiagnosis, ModelInfo,
    ParamInfo, RunWriter, Status, StepRow, TelemetryInfo, TimeStepRow, metric,
};
use train::backend::Backend;

/// The logged moments of a synthetic run: the probe at initialization, training steps 1, 2,
/// 4, 8, 16, 25 and 50 of epoch 1 (its last step, 50, also probed), and epoch 2's 75 and 100.
const TRAIN_STEPS: [(usize, usize); 9] = [(1, 1), (1, 2), (1, 4), (1, 8), (1, 16), (1, 25), (1, 50), (2, 75), (2, 100)];
const PROBES: [(usize, usize); 3] = [(0, 0), (1, 50), (2, 100)];

/// One model of a synthetic run: its name, activation, number of layers, and each layer's
/// value of a metric at a moment (`None`: no row).
struct Synthetic<'a> {
    name: &'a str,
    activation: &'a str,
    layers: usize,
    clip: Option<f64>,
    diverged: Option<Divergence>,
    value: &'a dyn Fn(&str, &str, usize, usize, usize) -> Option<f64>,
}

/// The healthy value of a metric: even gradients, updates near 1e-3, a few dead units,
/// a steady activation spread.
fn healthy(metric: &str, _source: &str, _step: usize, _layer: usize) -> Option<f64> {
    Some(match metric {
        metric::GRAD_NORM_WEIGHT => 0.2,
        metric::DELTA_NORM => 0.1,
        metric::WEIGHT_NORM => 8.0,
        metric::UPDATE_RATIO => 1e-3,
        metric::DEAD_FRACTION => 0.05,
        metric::ACT_STD => 0.6,
        _ => return None,
    })
}

/// Writes a run folder of `models` and returns its path.
fn write_run(name: &str, models: &[Synthetic<'_>]) -> PathBuf {
    let dir = scratch(name).join("run");
    let mut w = RunWriter::create(&dir, Some("name = \"synthetic\"\n")).unwrap();
    let mut manifest = Manifest {
        name: name.to_string(),
        status: Status::Completed,
        flush_denormals: Some(true),
        telemetry: Some(TelemetryInfo { enabled: true, every: 25, early_steps: vec![1, 2, 4, 8, 16], probe: 1000 }),
        ..Manifest::default()
    };
    for m in models {
        let layers = (0..m.layers)
            .map(|i| LayerInfo {
                name: format!("layers.{i}"),
                params: vec![
                    ParamInfo { path: format!("layers.{i}.weight"), shape: vec![64, 64] },
                    ParamInfo { path: format!("layers.{i}.bias"), shape: vec![64] },
                ],
                activation: (i + 1 < m.layers).then(|| m.activation.to_string()),
            })
            .collect();
        manifest.models.push(ModelInfo {
            name: m.name.to_string(),
            kind: Some("mlp".to_string()),
            activation: Some(m.activation.to_string()),
            widths: vec![64; m.layers + 1],
            layers,
            clip_grad_norm: m.clip,
            diverged: m.diverged.clone(),
            ..ModelInfo::default()
        });
        let moments = PROBES.iter().map(|&(e, s)| ("probe", e, s)).chain(TRAIN_STEPS.iter().map(|&(e, s)| ("train", e, s)));
        for (source, epoch, step) in moments {
            if m.diverged.as_ref().is_some_and(|d| step >= d.step) {
                continue;
            }
            for layer in 1..=m.layers {
                for name in metric::LAYER {
                    if source == "probe" && name == metric::UPDATE_RATIO {
                        continue;
                    }
                    if let Some(value) = (m.value)(name, source, epoch, step, layer) {
                        w.layer(&LayerRow { model: m.name, epoch, step, source, layer, metric: name, value }).unwrap();
                    }
                }
            }
            if source == "train" {
                let g = (m.value)("global", source, epoch, step, 0).unwrap_or(1.0);
                let clipped = m.clip.map_or(g, |c| g.min(c));
                w.step(&StepRow { model: m.name, epoch, step, loss: 1.0, grad_norm: g, grad_norm_clipped: clipped, lr: None }).unwrap();
            }
        }
    }
    w.write_manifest(&manifest).unwrap();
    w.flush().unwrap();
    dir
}

fn diagnose(dir: &Path) -> Diagnosis {
    diagnosis::diagnose_folder(dir).unwrap()
}

fn model<'a>(d: &'a Diagnosis, name: &str) -> &'a ModelDiagnosis {
    d.models.iter().find(|m| m.model == name).unwrap()
}

fn kinds(m: &ModelDiagnosis) -> Vec<Kind> {
    m.findings.iter().map(|f| f.kind).collect()
}

fn finding(m: &ModelDiagnosis, kind: Kind) -> &runfolder::Finding {
    m.findings.iter().find(|f| f.kind == kind).unwrap_or_else(|| panic!("no {kind:?} in {:#?}", m))
}

#[test]
fn a_healthy_relu_net_gets_no_finding_and_says_why_it_is_healthy() {
    let value = |m: &str, s: &str, _e: usize, step: usize, l: usize| healthy(m, s, step, l);
    let dir = write_run("healthy", &[Synthetic { name: "relu", activation: "relu", layers: 6, clip: None, diverged: None, value: &value }]);
    let d = diagnose(&dir);
    let m = model(&d, "relu");
    assert!(m.healthy && m.findings.is_empty(), "{m:#?}");
    assert!(m.vitals.iter().any(|v| v.quantity.contains("over layer 6's") && v.value == 1.0), "{:?}", m.vitals);
    assert!(m.vitals.iter().any(|v| v.quantity.contains("median update-to-weight ratio") && v.value == 1e-3));
    let lines = diagnosis::model_lines(m);
    assert!(lines[0].starts_with("relu: healthy at the end"), "{lines:?}");
}

#[test]
fn a_vanishing_sigmoid_stack_is_found_in_its_first_layers_and_nothing_else() {
    // ‖dL/dW‖ falls by 0.15 a layer toward the input; the early layers barely move.
    let value = |m: &str, s: &str, _e: usize, step: usize, l: usize| match m {
        metric::GRAD_NORM_WEIGHT => Some(0.3 * 0.15f64.powi(8 - l as i32)),
        metric::DELTA_NORM => Some(0.1 * 0.15f64.powi(8 - l as i32)),
        metric::UPDATE_RATIO => Some(1e-3 * 0.15f64.powi(8 - l as i32)),
        metric::SATURATION => Some(0.0),
        metric::DEAD_FRACTION => None,
        _ => healthy(m, s, step, l),
    };
    let dir = write_run("vanishing", &[Synthetic { name: "sigmoid", activation: "sigmoid", layers: 8, clip: None, diverged: None, value: &value }]);
    let d = diagnose(&dir);
    let m = model(&d, "sigmoid");
    assert!(!m.healthy);
    // Layers whose ratio 0.15^(8-l) is below 1e-2: l <= 5 (0.15^3 = 3.4e-3; 0.15^2 = 0.0225).
    let f = finding(m, Kind::Vanishing);
    assert_eq!(f.layer_numbers, [1, 2, 3, 4, 5]);
    assert_eq!(f.layers[0], "layers.0");
    assert_eq!((f.first_step, f.first_epoch, f.persists), (Some(0), Some(0), true));
    assert_eq!(f.severity, runfolder::Severity::Severe, "0.15^7 = 1.7e-6 is below {}", thresholds::VANISHING_SEVERE_RATIO);
    let factor = f.evidence.iter().find(|e| e.quantity.contains("per layer")).unwrap();
    assert!((factor.value - 0.15).abs() < 1e-9, "{factor:?}");
    assert!(f.remedy.demonstrated_by.contains(&"configs/remedies.toml".to_string()));
    // The small updates of the early layers are the vanishing's, not a finding of their own.
    assert_eq!(kinds(m), [Kind::Vanishing], "{m:#?}");
    assert!(f.summary.contains("layers 1-5 of 8"), "{}", f.summary);
}

#[test]
fn dead_relus_from_a_negative_bias_are_found_in_their_layer() {
    let value = |m: &str, s: &str, _e: usize, step: usize, l: usize| match (m, l) {
        (metric::DEAD_FRACTION, 3) => Some(0.95),
        _ => healthy(m, s, step, l),
    };
    let dir = write_run("dead", &[Synthetic { name: "relu", activation: "relu", layers: 6, clip: None, diverged: None, value: &value }]);
    let m = &model(&diagnose(&dir), "relu").clone();
    assert_eq!(kinds(m), [Kind::DeadUnits], "{m:#?}");
    let f = finding(m, Kind::DeadUnits);
    assert_eq!((f.layer_numbers.as_slice(), f.persists, f.severity), ([3].as_slice(), true, runfolder::Severity::Severe));
}

#[test]
fn a_saturated_sigmoid_layer_from_a_large_weight_scale_is_found() {
    let value = |m: &str, s: &str, _e: usize, step: usize, l: usize| match (m, l) {
        (metric::SATURATION, 1 | 2) => Some(0.8),
        (metric::SATURATION, _) => Some(0.1),
        (metric::DEAD_FRACTION, _) => None,
        _ => healthy(m, s, step, l),
    };
    let dir = write_run("saturated", &[Synthetic { name: "sigmoid", activation: "sigmoid", layers: 5, clip: None, diverged: None, value: &value }]);
    let m = model(&diagnose(&dir), "sigmoid").clone();
    assert_eq!(kinds(&m), [Kind::Saturation], "{m:#?}");
    assert_eq!(finding(&m, Kind::Saturation).layer_numbers, [1, 2]);
    assert_eq!(finding(&m, Kind::Saturation).severity, runfolder::Severity::Warning);
}

#[test]
fn a_learning_rate_so_small_that_nothing_moves_is_found_in_every_layer() {
    let value = |m: &str, s: &str, _e: usize, step: usize, l: usize| match m {
        metric::UPDATE_RATIO => Some(1e-8),
        _ => healthy(m, s, step, l),
    };
    let dir = write_run("tiny-lr", &[Synthetic { name: "relu", activation: "relu", layers: 4, clip: None, diverged: None, value: &value }]);
    let m = model(&diagnose(&dir), "relu").clone();
    assert_eq!(kinds(&m), [Kind::UpdateTooSmall], "{m:#?}");
    let f = finding(&m, Kind::UpdateTooSmall);
    assert_eq!((f.layer_numbers.as_slice(), f.first_step, f.persists), ([1, 2, 3, 4].as_slice(), Some(1), true));
    assert!(f.remedy.apply.iter().any(|a| a.contains("optimizer.lr")));
    assert!(f.remedy.apply.iter().any(|a| a.contains("optimizer.kind = \"adam\"")), "{:?}", f.remedy);
    // The same run under Adam: a higher learning rate, not the optimizer it has.
    let path = dir.join(runfolder::MANIFEST);
    let mut manifest: Manifest = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    manifest.optimizer = Some("adam".to_string());
    std::fs::write(&path, serde_json::to_string(&manifest).unwrap()).unwrap();
    let m = model(&diagnose(&dir), "relu").clone();
    let r = &finding(&m, Kind::UpdateTooSmall).remedy;
    assert!(r.action.starts_with("Besides its Adam optimizer, raise the learning rate"), "{}", r.action);
    assert_eq!(r.apply, ["optimizer.lr (ten times it)"]);
}

#[test]
fn one_noisy_step_alone_raises_nothing() {
    // Step 8 alone has a huge update and a gradient spike; the steps around it are healthy.
    let value = |m: &str, s: &str, _e: usize, step: usize, l: usize| match (m, step) {
        (metric::UPDATE_RATIO, 8) => Some(0.5),
        ("global", 8) => Some(1e4),
        _ => healthy(m, s, step, l),
    };
    let dir = write_run("noisy", &[Synthetic { name: "relu", activation: "relu", layers: 4, clip: None, diverged: None, value: &value }]);
    let m = model(&diagnose(&dir), "relu").clone();
    assert!(m.healthy && m.findings.is_empty(), "{m:#?}");
}

#[test]
fn exploding_gradients_are_found_unclipped_and_only_noted_clipped() {
    let value = |m: &str, s: &str, _e: usize, step: usize, l: usize| match m {
        metric::GRAD_NORM_WEIGHT => Some(2.0f64.powi(10 - l as i32)),
        _ => healthy(m, s, step, l),
    };
    let dir = write_run(
        "exploding",
        &[
            Synthetic { name: "tanh", activation: "tanh", layers: 10, clip: None, diverged: None, value: &value },
            Synthetic { name: "tanh-clipped", activation: "tanh", layers: 10, clip: Some(1.0), diverged: None, value: &value },
        ],
    );
    let d = diagnose(&dir);
    let m = model(&d, "tanh");
    assert_eq!(kinds(m), [Kind::Exploding], "{m:#?}");
    // 2^(10-l) > 100 for l <= 3.
    assert_eq!(finding(m, Kind::Exploding).layer_numbers, [1, 2, 3]);
    let clipped = model(&d, "tanh-clipped");
    assert!(clipped.healthy && clipped.findings.is_empty(), "{clipped:#?}");
    assert!(clipped.notes.iter().any(|n| n.contains("is 512 times layer 10's") && n.contains("clipping the global norm at 1 holds")), "{:?}", clipped.notes);
}

#[test]
fn a_divergence_is_explained_with_its_parameter_and_its_remedy() {
    let value = |m: &str, s: &str, _e: usize, step: usize, l: usize| match m {
        "global" => Some(10f64.powi(step as i32 / 4)),
        _ => healthy(m, s, step, l),
    };
    let diverged = Divergence { epoch: 1, step: 20, reason: "loss is NaN; the first non-finite parameter is layers.1.weight".into() };
    let dir = write_run("diverged", &[Synthetic { name: "relu", activation: "relu", layers: 4, clip: None, diverged: Some(diverged), value: &value }]);
    let m = model(&diagnose(&dir), "relu").clone();
    let f = finding(&m, Kind::Diverged);
    assert_eq!((f.layers.as_slice(), f.first_step, f.persists), (["layers.1".to_string()].as_slice(), Some(20), true));
    assert!(f.summary.contains("at step 20 in layers.1.weight") && f.summary.contains("step 16"), "{}", f.summary);
    assert!(f.remedy.apply.iter().any(|a| a.contains("clip_grad_norm")) && f.remedy.apply.iter().any(|a| a.contains("optimizer.lr")));
    assert!(!m.healthy);
}

/// Writes the histograms of a synthetic model: `bins(layer)` gives each layer's counts.
fn add_histograms(dir: &Path, model: &str, bins: &dyn Fn(usize) -> Vec<(Bin, u64)>, layers: usize) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().append(true).open(dir.join(runfolder::HISTOGRAMS)).unwrap();
    let moments = PROBES.iter().map(|&(e, s)| ("probe", e, s)).chain(TRAIN_STEPS.iter().map(|&(e, s)| ("train", e, s)));
    for (source, epoch, step) in moments {
        for layer in 1..=layers {
            for (bin, count) in bins(layer) {
                let r = HistogramRow { model, epoch, step, source, layer, bin, count };
                writeln!(f, "{},{},{},{},{},{},{}", r.model, r.epoch, r.step, r.source, r.layer, r.bin.label(), r.count).unwrap();
            }
        }
    }
}

#[test]
fn underflow_is_told_from_zeros_that_the_structure_explains() {
    // Layers 1-3 all zero and layer 4 down at 1e-35: the gradient crossed float32's floor.
    let vanishing = |m: &str, s: &str, _e: usize, step: usize, l: usize| match m {
        metric::GRAD_NORM_WEIGHT => Some([0.0, 0.0, 0.0, 1e-33, 1e-3, 0.3][l - 1]),
        metric::UPDATE_RATIO => Some([0.0, 0.0, 0.0, 1e-30, 1e-4, 1e-3][l - 1]),
        metric::DEAD_FRACTION => None,
        _ => healthy(m, s, step, l),
    };
    // A healthy net whose layer 1 has 38% exact zeros: weights on always-black pixels.
    let structural = |m: &str, s: &str, _e: usize, step: usize, l: usize| healthy(m, s, step, l);
    let dir = write_run(
        "underflow",
        &[
            Synthetic { name: "sigmoid", activation: "sigmoid", layers: 6, clip: None, diverged: None, value: &vanishing },
            Synthetic { name: "relu", activation: "relu", layers: 6, clip: None, diverged: None, value: &structural },
        ],
    );
    add_histograms(
        &dir,
        "sigmoid",
        &|l| match l {
            1..=3 => vec![(Bin::Zero, 4096)],
            4 => vec![(Bin::Zero, 96), (Bin::Subnormal, 1000), (Bin::Decade(-35), 3000)],
            5 => vec![(Bin::Decade(-5), 4096)],
            _ => vec![(Bin::Decade(-3), 4096)],
        },
        6,
    );
    add_histograms(
        &dir,
        "relu",
        &|l| if l == 1 { vec![(Bin::Zero, 380), (Bin::Decade(-6), 300), (Bin::Decade(-4), 320)] } else { vec![(Bin::Decade(-3), 1000)] },
        6,
    );
    let d = diagnose(&dir);
    let sigmoid = model(&d, "sigmoid");
    let f = finding(sigmoid, Kind::Underflow);
    assert_eq!(f.layer_numbers, [1, 2, 3, 4]);
    assert_eq!(f.severity, runfolder::Severity::Severe, "layers 1-3 lost every entry");
    assert!(f.summary.contains("flushed subnormal floats to zero"), "{}", f.summary);
    assert!(sigmoid.notes.iter().any(|n| n.contains("In float16")), "{:?}", sigmoid.notes);
    assert_eq!(kinds(sigmoid), [Kind::Vanishing, Kind::Underflow], "{sigmoid:#?}");
    let relu = model(&d, "relu");
    assert!(relu.healthy && relu.findings.is_empty(), "{relu:#?}");
}

#[test]
fn a_poor_initialization_is_found_with_chi_1_beside_it() {
    // A 12-layer ReLU net at Xavier's scale: sigma_w^2 = 1 (a weight norm of 8 over 64 outputs),
    // whose activation variance halves at each layer.
    let value = |m: &str, s: &str, _e: usize, step: usize, l: usize| match m {
        metric::ACT_STD if l < 12 => Some(0.5f64.powi(l as i32).sqrt()),
        metric::ACT_STD => None,
        _ => healthy(m, s, step, l),
    };
    let dir = write_run("poor-init", &[Synthetic { name: "xavier", activation: "relu", layers: 12, clip: None, diverged: None, value: &value }]);
    let m = model(&diagnose(&dir), "xavier").clone();
    let f = finding(&m, Kind::PoorInit);
    assert_eq!((f.first_step, f.persists), (Some(0), false));
    let chi = f.evidence.iter().find(|e| e.quantity.contains("χ₁")).expect("chi_1 beside it");
    assert!((chi.value - 0.5).abs() < 1e-9, "ReLU's chi_1 = sigma_w^2 / 2: {chi:?}");
    let factor = &f.evidence[0];
    assert!((factor.value - 0.5).abs() < 1e-9, "{factor:?}");
    assert!(f.remedy.action.contains("σ_w² = 2"), "{}", f.remedy.action);
    assert!(f.remedy.apply.iter().any(|a| a.contains("kaiming-normal")));
    // At initialization only: the model is healthy at the end.
    assert_eq!(kinds(&m), [Kind::PoorInit]);
    assert!(m.healthy);
}

/// A recurrent model's time profile: layer 1 with `profile(step, t)` at T = 20.
fn recurrent(name: &str, profile: &dyn Fn(usize, usize) -> f64) -> PathBuf {
    let value = |m: &str, s: &str, _e: usize, step: usize, l: usize| match m {
        metric::DEAD_FRACTION => None,
        _ => healthy(m, s, step, l),
    };
    let dir = write_run(name, &[Synthetic { name: "rnn", activation: "tanh", layers: 2, clip: None, diverged: None, value: &value }]);
    let mut w_manifest: Manifest = serde_json::from_str(&std::fs::read_to_string(dir.join(runfolder::MANIFEST)).unwrap()).unwrap();
    w_manifest.models[0].kind = Some("rnn".to_string());
    std::fs::write(dir.join(runfolder::MANIFEST), serde_json::to_string(&w_manifest).unwrap()).unwrap();
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().append(true).open(dir.join(runfolder::TIME_STEPS)).unwrap();
    let moments = PROBES.iter().map(|&(e, s)| ("probe", e, s)).chain(TRAIN_STEPS.iter().map(|&(e, s)| ("train", e, s)));
    for (source, epoch, step) in moments {
        for t in 1..=20 {
            let r = TimeStepRow { model: "rnn", epoch, step, source, layer: 1, t, metric: metric::HIDDEN_DELTA_NORM, value: profile(step, t) };
            writeln!(f, "{},{},{},{},{},{},{},{}", r.model, r.epoch, r.step, r.source, r.layer, r.t, r.metric, runfolder::num(r.value)).unwrap();
        }
    }
    dir
}

#[test]
fn vanishing_through_time_is_found_and_a_recovery_is_told_apart() {
    let rnn = recurrent("rnn", &|_, t| 0.5f64.powi(20 - t as i32));
    let m = model(&diagnose(&rnn), "rnn").clone();
    assert_eq!(kinds(&m), [Kind::VanishingThroughTime], "{m:#?}");
    let f = finding(&m, Kind::VanishingThroughTime);
    assert!(f.persists && f.severity == runfolder::Severity::Severe, "0.5^19 = 1.9e-6");
    assert!(f.remedy.apply.iter().any(|a| a.contains("lstm")));
    // An LSTM-like model: vanishing at first, flat from step 16 on.
    let lstm = recurrent("lstm", &|step, t| if step < 16 { 0.5f64.powi(20 - t as i32) } else { 0.9 });
    let m = model(&diagnose(&lstm), "rnn").clone();
    let f = finding(&m, Kind::VanishingThroughTime);
    assert!(!f.persists && m.healthy, "{m:#?}");
    // The probe at initialization and the first step (both before any update) show it.
    assert_eq!(f.first_step, Some(0));
}

#[test]
fn bad_input_says_what_could_not_be_judged_and_never_panics() {
    // One layer: no ratio to take.
    let value = |m: &str, s: &str, _e: usize, step: usize, l: usize| healthy(m, s, step, l);
    let dir = write_run("one-layer", &[Synthetic { name: "linear", activation: "relu", layers: 1, clip: None, diverged: None, value: &value }]);
    let m = model(&diagnose(&dir), "linear").clone();
    assert!(m.not_judged.iter().any(|n| n.starts_with("vanishing and exploding")), "{:?}", m.not_judged);

    // Frozen layers 1-2 have no gradient metrics and an update of 0: neither vanishing nor
    // too small an update.
    let frozen = |m: &str, s: &str, _e: usize, step: usize, l: usize| match (m, l) {
        (metric::GRAD_NORM_WEIGHT | metric::DELTA_NORM, 1 | 2) => None,
        (metric::UPDATE_RATIO, 1 | 2) => Some(0.0),
        _ => healthy(m, s, step, l),
    };
    let dir = write_run("frozen", &[Synthetic { name: "relu", activation: "relu", layers: 5, clip: None, diverged: None, value: &frozen }]);
    let m = model(&diagnose(&dir), "relu").clone();
    assert!(m.healthy && m.findings.is_empty(), "{m:#?}");
    assert!(m.not_judged.iter().any(|n| n.starts_with("layers 1-2 have no weight gradient")), "{:?}", m.not_judged);
    assert!(m.not_judged.iter().any(|n| n.starts_with("underflow:")), "no histograms: {:?}", m.not_judged);

    // A killed run: status running, the last line cut short; what was written is judged.
    let value = |m: &str, s: &str, _e: usize, step: usize, l: usize| match m {
        metric::UPDATE_RATIO => Some(1e-8),
        _ => healthy(m, s, step, l),
    };
    let dir = write_run("killed", &[Synthetic { name: "relu", activation: "relu", layers: 3, clip: None, diverged: None, value: &value }]);
    let mut manifest: Manifest = serde_json::from_str(&std::fs::read_to_string(dir.join(runfolder::MANIFEST)).unwrap()).unwrap();
    manifest.status = Status::Running;
    std::fs::write(dir.join(runfolder::MANIFEST), serde_json::to_string(&manifest).unwrap()).unwrap();
    let layers = std::fs::read_to_string(dir.join(runfolder::LAYERS)).unwrap();
    std::fs::write(dir.join(runfolder::LAYERS), &layers[..layers.len() - 9]).unwrap();
    let m = model(&diagnose(&dir), "relu").clone();
    assert_eq!(kinds(&m), [Kind::UpdateTooSmall]);
    assert!(m.notes.iter().any(|n| n.starts_with("The run's status is “") && n.contains("up to step 100")), "{:?}", m.notes);

    // A missing file is one line naming it; a folder that is no run says so.
    std::fs::remove_file(dir.join(runfolder::STEPS)).unwrap();
    let e = diagnosis::diagnose_folder(&dir).unwrap_err().to_string();
    assert!(e.contains("steps.csv") && !e.contains('\n'), "{e}");
    let e = diagnosis::diagnose_folder(&scratch("empty")).unwrap_err().to_string();
    assert!(e.contains("not a run folder"), "{e}");

    // Telemetry off: nothing to judge, and the model is not called healthy.
    let none = |_: &str, _: &str, _: usize, _: usize, _: usize| None;
    let dir = write_run("no-telemetry", &[Synthetic { name: "relu", activation: "relu", layers: 3, clip: None, diverged: None, value: &none }]);
    let m = model(&diagnose(&dir), "relu").clone();
    assert!(!m.healthy && m.findings.is_empty(), "{m:#?}");
    assert!(m.not_judged.iter().any(|n| n.contains("has no rows for this model")), "{:?}", m.not_judged);
}

#[test]
fn xtask_diagnose_writes_diagnosis_json_and_the_report_shows_it_first() {
    let value = |m: &str, s: &str, _e: usize, step: usize, l: usize| match m {
        metric::GRAD_NORM_WEIGHT => Some(0.3 * 0.15f64.powi(8 - l as i32)),
        metric::DEAD_FRACTION => None,
        _ => healthy(m, s, step, l),
    };
    let dir = write_run("xtask", &[Synthetic { name: "sigmoid", activation: "sigmoid", layers: 8, clip: None, diverged: None, value: &value }]);
    let s = xtask::diagnosis::run(&dir, true).unwrap();
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join(runfolder::DIAGNOSIS)).unwrap()).unwrap();
    let f = &json["models"][0]["findings"][0];
    assert_eq!(f["kind"], "vanishing");
    for key in ["layers", "first_step", "first_epoch", "persists", "severity", "evidence", "remedy"] {
        assert!(!f[key].is_null(), "{key} in {f}");
    }
    assert_eq!(json["models"][0]["healthy"], false);
    let text = std::fs::read_to_string(dir.join(runfolder::DIAGNOSIS)).unwrap();
    assert_eq!(text, serde_json::to_string_pretty(&s.diagnosis).unwrap() + "\n");

    let out = scratch("xtask-report");
    xtask::write_report(&dir, Some(&out), xtask::Format::Svg).unwrap();
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    let diagnosis = html.find("<h2 id=\"diagnosis\">Diagnosis</h2>").expect("a Diagnosis section");
    assert!(diagnosis < html.find("<h2>Figures</h2>").unwrap() && diagnosis < html.find("<h2>Headline</h2>").unwrap());
    assert!(html.contains("<a href=\"#fig2-grad-heatmap\">(figure 2)</a>"), "the finding links to its figure");
    assert!(html.contains("<figure id=\"fig2-grad-heatmap\">"));
    for t in thresholds::TABLE {
        assert!(html.contains(t.name), "the page lists {}", t.name);
    }
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("## Diagnosis") && md.contains(&thresholds::markdown_table()));

    // A folder without a manifest is no run folder, and the command says so.
    let e = xtask::diagnosis::run(&scratch("x"), false).map(|_| ()).unwrap_err().to_string();
    assert!(e.contains("not a run folder"), "{e}");
}

#[test]
fn the_readme_lists_every_threshold_as_the_code_has_it() {
    let readme = std::fs::read_to_string(crate::common::root().join("README.md")).unwrap();
    assert!(readme.contains(&thresholds::markdown_table()), "README.md's table of thresholds differs from diagnosis::thresholds::markdown_table():\n{}", thresholds::markdown_table());
}

// The integration tests' quick digits experiment (two 6-layer nets, two epochs), shared with train.rs.
use crate::train::DIGITS;

#[test]
fn a_trained_run_ends_with_its_diagnosis_sigmoid_vanishing_and_relu_healthy() {
    let out = scratch("trained").join("run");
    let summary = run_in(&experiment(DIGITS, &[]), &out, Backend::Flex).unwrap();
    let d = summary.diagnosis.clone().expect("a diagnosis");
    // The text, not numbers parsed back (serde_json's parsing may differ in the last bit).
    let written = std::fs::read_to_string(out.join(runfolder::DIAGNOSIS)).unwrap();
    let manifest: Manifest = serde_json::from_str(&std::fs::read_to_string(out.join(runfolder::MANIFEST)).unwrap()).unwrap();
    assert_eq!(manifest.optimizer.as_deref(), Some("sgd"), "the manifest names the optimizer the remedies compare with");
    assert_eq!(written, serde_json::to_string_pretty(&d).unwrap() + "\n", "diagnosis.json is what the run printed");
    let sigmoid = model(&d, "sigmoid");
    let f = finding(sigmoid, Kind::Vanishing);
    assert!(f.persists && f.layer_numbers.contains(&1), "{f:#?}");
    let relu = model(&d, "relu");
    assert!(relu.healthy, "{relu:#?}");
    let text = train::cli::render_summary(&summary);
    assert!(text.contains("diagnosis:") && text.contains("sigmoid: vanishing") && text.contains("relu: healthy"), "{text}");
}

/// A view that keeps the lines it is given.
struct Notes(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl gradflow::view::View for Notes {
    fn note(&mut self, line: &str) {
        self.0.lock().unwrap().push(line.to_string());
    }
}

#[test]
fn the_live_view_flags_a_finding_once_when_it_first_appears() {
    let exp = experiment(DIGITS, &["train.epochs=3"]);
    let dataset = data::load(&exp.data, exp.seed).unwrap();
    let out = scratch("live").join("run");
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let stop = std::sync::atomic::AtomicBool::new(false);
    let opts = train::trainer::RunOptions { backend: Backend::Flex, out, stop: &stop };
    train::trainer::run(&exp, &dataset, opts, Box::new(Notes(lines.clone()))).unwrap();
    let lines = lines.lock().unwrap().clone();
    let flagged: Vec<&String> = lines.iter().filter(|l| l.starts_with("diagnosis: sigmoid: vanishing:")).collect();
    assert_eq!(flagged.len(), 1, "flagged once, not every epoch: {lines:?}");
    assert!(!lines.iter().any(|l| l.starts_with("diagnosis: relu:")), "the healthy net is not flagged: {lines:?}");
}

/// The manifest entries `train` writes for the `[models.*]` tables in `models`, on the digits'
/// 8x8 images (so that a CNN's entry is one too): the settings spelled as `train` spells them.
fn infos_of(data: &str, models: &str) -> Vec<ModelInfo> {
    let head = format!("name = \"remedies\"\nseed = 1\n[data]\nsource = \"digits\"\n{data}[train]\nepochs = 1\nbatch_size = 32\n[optimizer]\nkind = \"sgd\"\nlr = 0.1\n");
    let exp = experiment(&format!("{head}{models}"), &[]);
    let dataset = data::load(&exp.data, exp.seed).unwrap();
    exp.nets_for(&dataset).unwrap().iter().map(|(name, net)| net.info(name)).collect()
}

/// Puts each entry's settings into the run's manifest, keeping the synthetic layers.
fn with_settings(dir: &Path, infos: &[ModelInfo]) {
    let path = dir.join(runfolder::MANIFEST);
    let mut manifest: Manifest = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    for m in &mut manifest.models {
        if let Some(info) = infos.iter().find(|i| i.name == m.name) {
            *m = ModelInfo {
                layers: std::mem::take(&mut m.layers),
                widths: std::mem::take(&mut m.widths),
                clip_grad_norm: m.clip_grad_norm,
                diverged: m.diverged.take(),
                ..info.clone()
            };
        }
    }
    std::fs::write(&path, serde_json::to_string(&manifest).unwrap()).unwrap();
}

/// The model kinds a shipped config trains (`mlp` where a table gives none).
fn config_kinds(path: &str) -> Vec<String> {
    let text = std::fs::read_to_string(crate::common::root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    let table: toml::Table = text.parse().unwrap();
    let models = table["models"].as_table().unwrap();
    models.values().map(|m| m.get("kind").and_then(|k| k.as_str()).unwrap_or("mlp").to_string()).collect()
}

/// Every remedy of a model names no change its manifest shows on, is never empty, and points
/// at shipped configs that exist and train a model of the same kind.
fn assert_remedies_agree(info: &ModelInfo, m: &ModelDiagnosis) {
    let he = info.init.as_deref().is_some_and(|i| i.starts_with("kaiming-normal(gain 1.4142)"));
    for f in &m.findings {
        let r = &f.remedy;
        assert!(!r.apply.is_empty() && !r.action.is_empty(), "{}: an empty remedy: {r:#?}", m.model);
        let on: Vec<String> = [
            (info.residual == Some(true)).then(|| "residual = true".to_string()),
            info.norm.as_ref().map(|n| format!("norm = \"{n}\"")),
            info.activation.as_ref().map(|a| format!("activation = \"{a}\"")),
            info.kind.as_ref().map(|k| format!("kind = \"{k}\"")),
            info.bias_init.as_ref().map(|b| format!("bias_init = \"{b}\"")),
            info.clip_grad_norm.filter(|c| *c <= 1.0).map(|_| "clip_grad_norm".to_string()),
            he.then(|| "init = \"kaiming-normal\"".to_string()),
        ]
        .into_iter()
        .flatten()
        .collect();
        for setting in &on {
            assert!(!r.apply.iter().any(|a| a.contains(setting.as_str())), "{}'s {:?} remedy names {setting}, which it has: {r:#?}", m.model, f.kind);
        }
        let family = |k: &str| if matches!(k, "rnn" | "lstm" | "gru") { "recurrent".to_string() } else { k.to_string() };
        for config in &r.demonstrated_by {
            let kinds = config_kinds(config);
            if let Some(kind) = &info.kind {
                assert!(kinds.iter().any(|k| family(k) == family(kind)), "{config} trains {kinds:?}, not a {kind} like {}", m.model);
            }
        }
    }
}

#[test]
fn remedies_name_only_what_the_model_does_not_already_have() {
    // Every model's first layers get 0.15^(8-l) of the last one's gradient: vanishing.
    let value = |m: &str, s: &str, _e: usize, step: usize, l: usize| match m {
        metric::GRAD_NORM_WEIGHT => Some(0.3 * 0.15f64.powi(8 - l as i32)),
        metric::DEAD_FRACTION | metric::SATURATION => None,
        _ => healthy(m, s, step, l),
    };
    // A clipped model that diverged anyway, its norm growing tenfold every four steps.
    let blowing = |m: &str, s: &str, _e: usize, step: usize, l: usize| match m {
        "global" => Some(10f64.powi(step as i32 / 4)),
        _ => healthy(m, s, step, l),
    };
    let diverged = Divergence { epoch: 1, step: 20, reason: "loss is NaN; the first non-finite parameter is layers.1.weight".into() };
    let synthetic = |name: &'static str, activation: &'static str| Synthetic { name, activation, layers: 8, clip: None, diverged: None, value: &value };
    let dir = write_run(
        "remedies-on",
        &[
            synthetic("residual", "sigmoid"),
            synthetic("batch", "relu"),
            synthetic("everything", "relu"),
            synthetic("cnn", "relu"),
            synthetic("own", "relu"),
            Synthetic { name: "clipped", activation: "relu", layers: 4, clip: Some(1.0), diverged: Some(diverged), value: &blowing },
        ],
    );
    let mut infos = infos_of(
        "",
        r#"
[models.residual]
activation = "sigmoid"
init = "legacy"
depth = 7
width = 64
residual = true
[models.batch]
activation = "relu"
init = "he-normal"
depth = 7
width = 64
norm = "batch"
[models.everything]
activation = "relu"
depth = 7
width = 64
norm = "batch"
residual = true
[models.cnn]
kind = "cnn"
channels = [4, 8]
depth = 3
activation = "relu"
norm = "batch"
[models.clipped]
activation = "relu"
depth = 3
width = 64
"#,
    );
    // A model of one's own: the manifest says nothing of its settings.
    infos.push(ModelInfo { name: "own".to_string(), ..ModelInfo::default() });
    with_settings(&dir, &infos);
    let d = diagnose(&dir);
    let manifest: Manifest = serde_json::from_str(&std::fs::read_to_string(dir.join(runfolder::MANIFEST)).unwrap()).unwrap();
    for info in &manifest.models {
        assert_remedies_agree(info, model(&d, &info.name));
    }

    let remedy = |name: &str, kind: Kind| finding(model(&d, name), kind).remedy.clone();
    let r = remedy("residual", Kind::Vanishing);
    assert!(r.action.starts_with("Besides its residual connections, ReLU with He initialization"), "{}", r.action);
    assert_eq!(r.apply, ["models.residual.activation = \"relu\" with models.residual.init = \"kaiming-normal\"", "models.residual.norm = \"batch\""]);
    let r = remedy("batch", Kind::Vanishing);
    assert!(r.action.starts_with("Besides its He initialization and BatchNorm, residual connections"), "{}", r.action);
    assert_eq!(r.apply, ["models.batch.residual = true"]);
    // Every remedy of vanishing already on: it says so and what is left to try.
    let r = remedy("everything", Kind::Vanishing);
    assert!(r.action.starts_with("Its He initialization, BatchNorm and residual connections are already in place: next, a tenth of the learning rate"), "{}", r.action);
    assert!(r.apply.iter().any(|a| a.contains("optimizer.lr")) && r.apply.iter().any(|a| a.contains("everything.depth")), "{r:?}");
    // A CNN gets the CNN's words and configs.
    let r = remedy("cnn", Kind::Vanishing);
    assert_eq!(r.apply, ["models.cnn.residual = true"]);
    assert_eq!(r.demonstrated_by, ["configs/cnn-depth.toml", "configs/cnn-depth-no-norm.toml"]);
    // Clipped at 1 and still diverged: the learning rate, not clipping.
    let r = remedy("clipped", Kind::Diverged);
    assert!(r.action.starts_with("Besides its gradient clipping at 1, a tenth of the learning rate"), "{}", r.action);
    assert_eq!(r.apply, ["optimizer.lr (a tenth of it)"]);
    // A model of one's own: every change, with the library's call where there is one.
    let r = remedy("own", Kind::Vanishing);
    assert!(r.apply.iter().any(|a| a.contains("norm = \"batch\"")) && r.apply.iter().any(|a| a.contains("residual = true")), "{r:?}");
    assert_eq!(r.demonstrated_by, ["configs/init-comparison.toml", "configs/remedies.toml"]);
    // The line train and the report print reads as one sentence.
    let line = diagnosis::finding_line(finding(model(&d, "batch"), Kind::Vanishing));
    assert!(line.ends_with("Try: Besides its He initialization and BatchNorm, residual connections (models.batch.residual = true), shown in configs/init-comparison.toml and configs/remedies.toml."), "{line}");
}

#[test]
fn a_recurrent_model_is_not_told_to_open_a_gate_or_drop_layers_it_already_has() {
    // One LSTM layer with its forget gate opened by a bias of 1, as train writes its entry.
    let infos = infos_of("sequence_length = 8\n", "[models.rnn]\nkind = \"lstm\"\nhidden = 16\nforget_bias = 1.0\n");
    assert_eq!((infos[0].kind.as_deref(), infos[0].forget_bias), (Some("lstm"), Some(1.0)), "the manifest records the forget bias");
    let as_trained = |dir: &Path| {
        with_settings(dir, &infos);
        let path = dir.join(runfolder::MANIFEST);
        let mut manifest: Manifest = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for (layer, name) in manifest.models[0].layers.iter_mut().zip(["lstm.0", "readout"]) {
            layer.name = name.to_string();
        }
        std::fs::write(&path, serde_json::to_string(&manifest).unwrap()).unwrap();
        manifest.models[0].clone()
    };
    // The remedy for `kind` of the folder's model diagnosed as the LSTM that trained it, after
    // checking that no remedy of the diagnosis names a setting the model has.
    let remedy = |dir: &Path, kind: Kind| {
        let info = as_trained(dir);
        let m = model(&diagnose(dir), "rnn").clone();
        assert_remedies_agree(&info, &m);
        finding(&m, kind).remedy.clone()
    };

    // Its error still vanishes through time: the forget gate is already open.
    let r = remedy(&recurrent("lstm-open", &|_, t| 0.5f64.powi(20 - t as i32)), Kind::VanishingThroughTime);
    assert!(r.action.starts_with("Its forget-gate bias of 1 is already in place: next, fewer time steps"), "{}", r.action);
    assert!(!r.apply.iter().any(|a| a.contains("forget_bias")), "{r:?}");

    // Its read-out gets 1e4 times the gradient of its one recurrent layer: not fewer layers.
    let value = |m: &str, s: &str, _e: usize, step: usize, l: usize| match (m, l) {
        (metric::GRAD_NORM_WEIGHT, 1) => Some(1e-5),
        (metric::GRAD_NORM_WEIGHT, _) => Some(0.1),
        (metric::DEAD_FRACTION, _) => None,
        _ => healthy(m, s, step, l),
    };
    let dir = write_run("lstm-one-layer", &[Synthetic { name: "rnn", activation: "tanh", layers: 2, clip: None, diverged: None, value: &value }]);
    let r = remedy(&dir, Kind::Vanishing);
    assert!(r.action.starts_with("Its single layer and LSTM cells are already in place: next, a tenth of the learning rate"), "{}", r.action);
    assert!(!r.apply.iter().any(|a| a.contains("depth")), "{r:?}");
}
