//! What stops a run that cannot fit in memory before it starts, and what tells a run that
//! was killed from one still training.

use crate::common::{root, scratch};
use gradflow::runfolder::{self, Manifest, ProcessInfo, Status};
use gradflow::view::Silent;
use std::sync::atomic::AtomicBool;
use std::time::Instant;
use train::backend::Backend;
use train::trainer::{self, RunOptions};

const SMALL: &str = r#"
name = "guards"
seed = 3
[data]
source = "digits"
limit = 300
[train]
epochs = 1
batch_size = 50
[optimizer]
kind = "adam"
lr = 0.01
[telemetry]
probe = 100
[models.relu]
preset = "deep-relu"
depth = 3
width = 16
"#;

#[test]
fn an_experiment_that_cannot_fit_is_refused_in_one_line_before_anything_is_built() {
    // The issue's command: a first layer of 784 x 10^8 weights alone would need 313 GB.
    let args = train::cli::RunArgs {
        config: root().join("configs/default.toml"),
        sets: vec!["models.sigmoid.width=100000000".to_string()],
        quiet: true,
        ..Default::default()
    };
    let start = Instant::now();
    let outcome = train::cli::run_experiment(&args, &AtomicBool::new(false));
    let elapsed = start.elapsed();
    let msg = format!("{:#}", outcome.expect_err("refused"));
    assert!(!msg.contains('\n'), "one line: {msg}");
    for part in ["configs/default.toml", "the run needs about", "B of memory, more than the", "available", "train.memory_limit_gb", "model `sigmoid` needs", "(parameters "] {
        assert!(msg.contains(part), "{part:?} in {msg}");
    }
    // Loading the config and the data is all it does; a build of the model would take minutes.
    assert!(elapsed.as_secs_f64() < 10.0, "took {elapsed:?}");

    // The limit can be set instead of read from the system, and is checked as a number.
    let exp = train::config::parse(SMALL, &["train.memory_limit_gb=0.0001".to_string()]).expect("parses");
    let dataset = data::load(&exp.data, exp.seed).expect("digits");
    let refused = train::memory::check(&exp, &dataset).expect_err("100 kB is too little").to_string();
    assert!(refused.contains("more than the 100 kB available (train.memory_limit_gb = 0.0001"), "{refused}");
    let e = train::config::parse(SMALL, &["train.memory_limit_gb=-2".to_string()]).expect_err("negative");
    assert_eq!(format!("{e:#}"), "train.memory_limit_gb: must be a positive number of GB, got -2");
}

#[test]
fn the_estimate_counts_each_part_and_goes_into_the_manifest() {
    let exp = train::config::parse(SMALL, &[]).expect("parses");
    let dataset = data::load(&exp.data, exp.seed).expect("digits");
    let estimate = train::memory::estimate(&exp, &dataset);
    let m = &estimate.models[0];
    // 64 -> 16 -> 16 -> 16 -> 10 with biases.
    let p = (64 * 16 + 16 + 2 * (16 * 16 + 16) + 16 * 10 + 10) as f64;
    assert_eq!((m.parameters, m.gradients), (4.0 * p, 4.0 * p));
    // Adam: two moments, and the new buffers burn's optimizer writes.
    assert_eq!(m.optimizer, 3.0 * 4.0 * p);
    // The initial values, the weights a logged step keeps, and the probe's taps on the host.
    let units = (16 * 3 + 10) as f64;
    assert_eq!(m.telemetry, 4.0 * (2.0 * p + 100.0 * 2.0 * units));
    // The largest of a batch (50 examples), the probe (100) and an evaluation chunk (a split,
    // up to 2000 rows, without autodiff): per example of a pass with autodiff its input, four
    // floats per unit and three per output; of an evaluation, its input and two layers.
    let eval = 2000f64.min(dataset.train.len.max(dataset.test.len) as f64);
    assert_eq!(m.activations, 4.0 * (100.0 * (64.0 + 4.0 * units + 30.0)).max(eval * (64.0 + 2.0 * 64.0)));
    let rows = (dataset.train.len + dataset.valid.len + dataset.test.len) as f64;
    assert_eq!(estimate.data, 4.0 * (rows * 65.0 + 100.0 * 64.0));

    let out = scratch("memory").join("run");
    let stop = AtomicBool::new(false);
    trainer::run(&exp, &dataset, RunOptions { backend: Backend::Flex, out: out.clone(), stop: &stop }, Box::new(Silent)).expect("trains");
    let manifest: Manifest = serde_json::from_str(&std::fs::read_to_string(out.join(runfolder::MANIFEST)).expect("manifest")).expect("json");
    // The digits are images, and the manifest says of what shape.
    let image = manifest.dataset.as_ref().and_then(|d| d.image);
    assert_eq!(image, Some(runfolder::ImageInfo { channels: 1, height: 8, width: 8 }));
    let memory = manifest.memory.expect("the estimate is in the manifest");
    assert_eq!(memory.estimate_bytes, estimate.total().round() as u64);
    assert_eq!(memory.parts["optimizer"], (3.0 * 4.0 * p) as u64);
    assert_eq!(memory.models["relu"], m.total().round() as u64);
    assert!(memory.limit_bytes.is_some_and(|l| l > memory.estimate_bytes) || memory.limit_bytes.is_none());
    let _ = std::fs::remove_dir_all(out.parent().expect("the scratch folder"));
}

#[test]
fn a_run_whose_process_is_gone_is_reported_as_stopped_without_closing() {
    let exp = train::config::parse(SMALL, &[]).expect("parses");
    let dataset = data::load(&exp.data, exp.seed).expect("digits");
    let out = scratch("killed").join("run");
    let stop = AtomicBool::new(false);
    trainer::run(&exp, &dataset, RunOptions { backend: Backend::Flex, out: out.clone(), stop: &stop }, Box::new(Silent)).expect("trains");
    let path = out.join(runfolder::MANIFEST);
    let mut manifest: Manifest = serde_json::from_str(&std::fs::read_to_string(&path).expect("manifest")).expect("json");
    let Some(me) = manifest.process.clone() else {
        // Without /proc nothing says who wrote the run, and the report cannot tell.
        assert!(ProcessInfo::current().is_none(), "the recorder names this process where the system can");
        return;
    };
    assert_eq!(Some(&me), ProcessInfo::current().as_ref(), "the run was written by this process");

    // Killed while training: the manifest still says running. While the writer lives (this
    // test's process), the report says so; once it is gone, the run stopped without closing.
    manifest.status = Status::Running;
    std::fs::write(&path, serde_json::to_string(&manifest).expect("json")).expect("rewrite the manifest");
    let alive = xtask::write_report(&out, Some(&out.join("alive")), xtask::Format::Svg).expect("a report");
    assert!(alive.notes.iter().any(|n| n.contains("still running")), "{:?}", alive.notes);

    let mut child = std::process::Command::new("true").spawn().expect("run `true`");
    manifest.process = Some(ProcessInfo { pid: child.id(), ..me });
    child.wait().expect("wait for `true`");
    std::fs::write(&path, serde_json::to_string(&manifest).expect("json")).expect("rewrite the manifest");
    let killed = xtask::write_report(&out, Some(&out.join("killed")), xtask::Format::Svg).expect("a report");
    assert!(killed.notes.iter().any(|n| n.contains("stopped without closing (killed?)")), "{:?}", killed.notes);
    let page = std::fs::read_to_string(killed.html).expect("the page");
    assert!(page.contains("stopped without closing (killed?)"), "the page's status says it");
    let _ = std::fs::remove_dir_all(out.parent().expect("the scratch folder"));
}

/// A backend this build lacks: a one-line error naming the feature to build with, and a run
/// folder closed `failed` with that reason (so the folder says why nothing trained).
#[test]
fn a_backend_not_compiled_in_fails_in_one_line_and_closes_its_run_folder() {
    let Some(missing) = [Backend::Cuda, Backend::Wgpu].into_iter().find(|b| !b.is_compiled()) else {
        // A build with both GPU features has no backend to miss; the flex build checks this.
        return;
    };
    let exp = train::config::parse(SMALL, &[]).expect("parses");
    let dataset = data::load(&exp.data, exp.seed).expect("digits");
    let out = scratch("guards-backend").join("run");
    let stop = AtomicBool::new(false);
    let e = trainer::run(&exp, &dataset, RunOptions { backend: missing, out: out.clone(), stop: &stop }, Box::new(Silent))
        .expect_err("the backend is not compiled in");
    let msg = format!("{e:#}");
    assert!(!msg.contains('\n'), "one line: {msg}");
    let feature = format!("--features {}", missing.name());
    assert!(msg.contains("is not compiled into this build") && msg.contains(&feature), "{msg}");
    let manifest: Manifest = serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).expect("a manifest")).expect("parses");
    assert_eq!(manifest.status, Status::Failed);
    assert_eq!(manifest.reason.as_deref(), Some(msg.as_str()));
    assert_eq!(manifest.backend.as_deref(), Some(missing.name()));
}
