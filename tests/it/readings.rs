//! Feature tests of the report's sentences against what the run folder holds: folders
//! written with the `runfolder` crate's writer (no burn), with a frozen first layer, an
//! output layer without a tap, no epochs, no probe, epochs that start at 1 without a test
//! set, and missing files; every reading must describe what the files hold.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use runfolder::{
    Bin, EpochRecord, HistogramRow, LayerEpochRow, LayerInfo, LayerRow, Manifest, ModelInfo, ParamInfo, RunWriter,
    SOURCE_PROBE, SOURCE_TRAIN, Status, StepRow, metric,
};
use xtask::numfmt::{sig, sig_n};
use xtask::{Format, ReportSummary};

/// How a folder differs from a model whose every layer has every metric.
#[derive(Clone)]
struct Spec {
    /// The layers' names (layer i + 1 is `names[i]`).
    names: &'static [&'static str],
    /// Layers (1-based) whose weights get no gradient: `weight_norm` rows, no
    /// `grad_norm_weight`, no histogram.
    frozen: &'static [u32],
    /// Layers (1-based) without a tap: no `delta_norm`, no activation rows.
    untapped: &'static [u32],
    /// The epochs with a row in `epochs.csv` (and, with `probe`, probe rows).
    epochs: &'static [u32],
    /// Whether the folder has probe rows (at each epoch of `epochs`).
    probe: bool,
    /// Whether `epochs.csv` has test values.
    test: bool,
    /// Whether `epochs.csv` has validation values (as burn-train's Learner's runs have).
    valid: bool,
    /// Whether `grad_histograms.csv` has rows.
    histograms: bool,
}

/// A model of four named layers, trained two epochs with a probe at each, every layer
/// tapped and trained.
const FULL: Spec = Spec {
    names: &["embed", "block1", "block2", "out"],
    frozen: &[],
    untapped: &[],
    epochs: &[0, 1, 2],
    probe: true,
    test: true,
    valid: false,
    histograms: true,
};

/// Logged steps per epoch; every step is logged, and the folder has two epochs of steps.
const STEPS_PER_EPOCH: usize = 8;
const EPOCHS_OF_STEPS: usize = 2;

/// The weight-gradient norm of a layer of `layers`: a decade less per layer toward the input
/// (10^(layer - L - 1)), so that the ratio of layer f over layer g is 10^(f - g).
fn grad(layer: usize, layers: usize) -> f64 {
    10f64.powi(layer as i32 - layers as i32 - 1)
}

/// The histogram bin of a layer's every gradient entry: the decade of its norm, so that its
/// median is there.
fn bin(layer: usize, layers: usize) -> Bin {
    Bin::Decade(layer as i32 - layers as i32 - 1)
}

fn manifest(spec: &Spec) -> Manifest {
    let layers = spec
        .names
        .iter()
        .map(|n| LayerInfo {
            name: n.to_string(),
            params: vec![
                ParamInfo { path: format!("{n}.weight"), shape: vec![4, 4] },
                ParamInfo { path: format!("{n}.bias"), shape: vec![4] },
            ],
            activation: None,
        })
        .collect();
    Manifest {
        name: "readings".into(),
        status: Status::Completed,
        task: Some("regression".into()),
        loss: Some("mse".into()),
        models: vec![ModelInfo { name: "net".into(), layers, ..ModelInfo::default() }],
        ..Manifest::default()
    }
}

/// The layer rows of one layer at one moment.
fn layer_rows(spec: &Spec, layer: usize, train: bool) -> Vec<(&'static str, f64)> {
    let l = spec.names.len();
    let n = u32::try_from(layer).expect("few layers");
    let mut rows = vec![(metric::WEIGHT_NORM, 2.0)];
    if !spec.frozen.contains(&n) {
        rows.push((metric::GRAD_NORM_WEIGHT, grad(layer, l)));
    }
    if train {
        rows.push((metric::UPDATE_RATIO, if spec.frozen.contains(&n) { 0.0 } else { grad(layer, l) * 0.01 }));
    }
    if !spec.untapped.contains(&n) {
        rows.push((metric::DELTA_NORM, grad(layer, l) * 0.1));
        if layer < l {
            rows.push((metric::SATURATION, 0.1 * layer as f64));
        }
    }
    rows
}

/// Writes a run folder of model "net" per `spec` with the writer `gradflow` uses.
fn write(dir: &Path, spec: &Spec) {
    let mut w = RunWriter::create(dir, None).expect("create the run folder");
    w.write_manifest(&manifest(spec)).expect("manifest");
    let l = spec.names.len();
    let moment = |w: &mut RunWriter, epoch: usize, step: usize, source: &str| {
        for layer in 1..=l {
            for (metric, value) in layer_rows(spec, layer, source == SOURCE_TRAIN) {
                let row = LayerRow { model: "net", epoch, step, source, layer, metric, value };
                w.layer(&row).expect("layer row");
            }
            let frozen = spec.frozen.contains(&u32::try_from(layer).expect("few layers"));
            if spec.histograms && !frozen {
                let row = HistogramRow { model: "net", epoch, step, source, layer, bin: bin(layer, l), count: 16 };
                w.histogram(&row).expect("histogram row");
            }
        }
    };
    let epoch_row = |w: &mut RunWriter, epoch: usize| {
        if !spec.epochs.contains(&u32::try_from(epoch).expect("few epochs")) {
            return;
        }
        let test = spec.test.then_some((0.5 / (epoch + 1) as f64, None));
        let r = EpochRecord {
            model: "net",
            epoch,
            train: (0.4 / (epoch + 1) as f64, None),
            test,
            valid: spec.valid.then_some((0.6 / (epoch + 1) as f64, None)),
            seconds: 1.0,
        };
        w.epoch(&r).expect("epoch row");
        if spec.probe {
            moment(w, epoch, epoch * STEPS_PER_EPOCH, SOURCE_PROBE);
        }
    };
    epoch_row(&mut w, 0);
    for epoch in 1..=EPOCHS_OF_STEPS {
        for step in (epoch - 1) * STEPS_PER_EPOCH + 1..=epoch * STEPS_PER_EPOCH {
            let row = StepRow { model: "net", epoch, step, loss: 0.3, grad_norm: 0.1, grad_norm_clipped: 0.1, lr: Some(0.1) };
            w.step(&row).expect("step row");
            moment(&mut w, epoch, step, SOURCE_TRAIN);
        }
        if spec.epochs.contains(&u32::try_from(epoch).expect("few epochs")) {
            // The per-epoch means, as the recorder writes them when an epoch closes (every
            // step of the epoch has the same values here).
            for layer in 1..=l {
                for (metric, v) in layer_rows(spec, layer, true) {
                    let row = LayerEpochRow { model: "net", epoch, layer, metric, mean: v, min: v, max: v, count: 8 };
                    w.layer_epoch(&row).expect("layer epoch row");
                }
            }
        }
        epoch_row(&mut w, epoch);
    }
    w.flush().expect("flush");
}

/// A scratch folder, unique per call, removed when dropped.
struct Temp(PathBuf);

impl Drop for Temp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Writes the folder of `spec` and reports it.
fn report(spec: &Spec) -> (Temp, ReportSummary) {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let tmp = Temp(std::env::temp_dir().join(format!("gradflow-readings-{}-{n}", std::process::id())));
    let _ = std::fs::remove_dir_all(&tmp.0);
    let dir = tmp.0.join("run");
    write(&dir, spec);
    let summary = xtask::write_report(&dir, Some(&tmp.0.join("report")), Format::Svg).expect("report");
    (tmp, summary)
}

/// The reading of the figure whose file stem starts with `prefix` (`fig1-`).
fn reading<'a>(s: &'a ReportSummary, prefix: &str) -> &'a str {
    let f = s.figures.iter().find(|f| f.slug.starts_with(prefix)).unwrap_or_else(|| panic!("no figure {prefix}"));
    &f.reading
}

/// The SVG text of the figure whose file stem starts with `prefix`.
fn svg<'a>(s: &'a ReportSummary, prefix: &str) -> &'a str {
    let f = s.figures.iter().find(|f| f.slug.starts_with(prefix)).unwrap_or_else(|| panic!("no figure {prefix}"));
    &f.svg_text
}

/// Every sentence of the page (notes and readings) and the Markdown page itself.
fn everything(s: &ReportSummary) -> String {
    let md = std::fs::read_to_string(&s.markdown).expect("report.md");
    let readings: Vec<&str> = s.figures.iter().map(|f| f.reading.as_str()).collect();
    format!("{}\n{}\n{md}", s.notes.join("\n"), readings.join("\n"))
}

/// The claims a page must not make about a folder that holds weight gradients, δ, histograms
/// and steps: the sentences the report wrote before it looked at which layers have them.
const FALSE_WHEN_ROWS_EXIST: [&str; 6] = [
    "No weight-gradient norms were logged",
    "No delta norms were logged",
    "There are no rows in grad_histograms.csv",
    "has no rows yet",
    "There are no grad_norm_weight rows",
    "There are no delta_norm rows",
];

fn assert_no_false_claims(s: &ReportSummary) {
    let all = everything(s);
    for claim in FALSE_WHEN_ROWS_EXIST {
        assert!(!all.contains(claim), "the page says {claim:?} while the files hold those rows:\n{all}");
    }
}

/// "layer 2 (block1)", as a sentence names layer `n` of `spec`.
fn phrase(spec: &Spec, n: usize) -> String {
    format!("layer {n} ({})", spec.names[n - 1])
}

#[test]
fn a_frozen_first_layer_is_read_from_the_first_layer_with_a_gradient_and_named() {
    let spec = Spec { frozen: &[1], ..FULL };
    let (_tmp, s) = report(&spec);
    assert_no_false_claims(&s);
    let (first, last) = (phrase(&spec, 2), phrase(&spec, 4));
    // Figure 1: layer 2 over layer 4, 10^(2 - 4), as the page writes numbers.
    let r = sig(grad(2, 4) / grad(4, 4));
    let fig1 = reading(&s, "fig1-");
    assert!(fig1.contains(&format!("{first} of net receives {r} of {last}'s gradient")), "{fig1}");
    let frozen = format!(
        "{} of net has no weight gradient (weights without a gradient: frozen, or not in the graph)",
        capitalize(&phrase(&spec, 1))
    );
    for fig in ["fig1-", "fig2-", "fig3-", "fig8-", "fig9-"] {
        assert!(reading(&s, fig).contains(&frozen), "{fig}: {}", reading(&s, fig));
    }
    // Figure 3 and the headline compare the same two layers, and say which.
    let fig3 = reading(&s, "fig3-");
    assert!(fig3.contains(&format!("from {r} to {r} for net ({first} over {last})")), "{fig3}");
    assert_eq!(xtask::headline::ratio_cell(s.headline[0].end, 4), format!("{r} (layers 2/4)"));
    let md = std::fs::read_to_string(&s.markdown).expect("report.md");
    assert!(md.contains(&format!("| {r} (layers 2/4) |")), "{md}");
    // Figures 8 and 9: the histograms of layers 2 and 4.
    let fig8 = reading(&s, "fig8-");
    assert!(
        fig8.contains(&format!(
            "the median |dL/dW| entry of {first} of net is in [1e-3, 1e-2) and that of its {last} is in [1e-1, 1e0)"
        )),
        "{fig8}"
    );
    let fig9 = reading(&s, "fig9-");
    assert!(
        fig9.contains(&format!("0% of the entries of {first} of net are below 1e-8, against 0% of its {last}'s")),
        "{fig9}"
    );
    // The legend lists the layers that have a line: not the frozen one.
    assert!(!svg(&s, "fig1-").contains(">embed (input side)<"), "figure 1's legend lists the frozen layer");
    assert!(svg(&s, "fig1-").contains(">out (output)<"));
    assert!(svg(&s, "fig4-").contains(">test<"), "a run with a test set names its test line");
    // Figure 6: a frozen layer has an update ratio (of 0), and is compared as such.
    let fig6 = reading(&s, "fig6-");
    assert!(fig6.contains(&format!("net's {} moves not at all", phrase(&spec, 1))), "{fig6}");
}

#[test]
fn an_output_layer_without_a_tap_reads_delta_up_to_the_last_tapped_layer() {
    // The project's own example `own_model` taps its hidden layers and not its output layer.
    let spec = Spec { untapped: &[4], ..FULL };
    let (_tmp, s) = report(&spec);
    assert_no_false_claims(&s);
    let fig7 = reading(&s, "fig7-");
    let (first, last) = (phrase(&spec, 1), phrase(&spec, 3));
    assert!(
        fig7.contains(&format!(
            "the error signal δ reaching {first} of net is {} of {last}'s, so {first} learns about {} slower than {last}",
            sig(grad(1, 4) / grad(3, 4)),
            xtask::numfmt::times(grad(3, 4) / grad(1, 4))
        )),
        "{fig7}"
    );
    assert!(fig7.contains(&format!("{} of net has no δ (no tap: ", capitalize(&phrase(&spec, 4)))), "{fig7}");
    assert!(!svg(&s, "fig7-").contains(">out (output)<"), "figure 7's legend lists the untapped layer");
    // The weight gradient is every layer's: figure 1 compares layer 1 with layer 4 and
    // names no layer as lacking it.
    let fig1 = reading(&s, "fig1-");
    let r = sig(grad(1, 4) / grad(4, 4));
    assert!(fig1.contains(&format!("{first} of net receives {r} of {}'s gradient", phrase(&spec, 4))), "{fig1}");
    assert!(!fig1.contains("has no weight gradient"), "{fig1}");
}

#[test]
fn a_run_with_steps_but_no_epochs_and_no_probe_is_read_from_its_training_batches() {
    // A Learner, or a loop that records steps, before any epoch closes.
    let spec = Spec { epochs: &[], probe: false, ..FULL };
    let (_tmp, s) = report(&spec);
    assert_no_false_claims(&s);
    let steps = STEPS_PER_EPOCH * EPOCHS_OF_STEPS;
    assert!(
        s.notes.iter().any(|n| n.contains("has no rows in epochs.csv (no epoch has closed)")
            && n.contains(&format!("{steps} rows in steps.csv"))),
        "{:?}",
        s.notes
    );
    let fig4 = reading(&s, "fig4-");
    assert!(fig4.contains(&format!("steps.csv holds the training loss of {steps} logged steps")), "{fig4}");
    // The per-epoch figures fall back to the train rows' means per epoch.
    let fig7 = reading(&s, "fig7-");
    assert!(
        fig7.starts_with(&format!("At the last logged epoch ({EPOCHS_OF_STEPS}), the error signal δ reaching")),
        "{fig7}"
    );
    let fig5 = reading(&s, "fig5-");
    assert!(fig5.contains(&format!("net's most saturated layer is {}", phrase(&spec, 3))), "{fig5}");
    // The ratios are those of the first and the last logged training batch, and say so.
    let h = &s.headline[0];
    let r = sig(grad(1, 4) / grad(4, 4));
    assert_eq!(xtask::headline::ratio_cell(h.start, 4), format!("{r} (step 1)"));
    assert_eq!(xtask::headline::ratio_cell(h.end, 4), format!("{r} (step {steps})"));
    let fig3 = reading(&s, "fig3-");
    assert!(
        fig3.contains("From the first to the last logged training batch") && fig3.contains("it has no probe rows"),
        "{fig3}"
    );
}

#[test]
fn epochs_from_1_without_a_test_set_are_read_on_the_train_loss() {
    // As `own_model` records them: no epoch 0, no test set, no probe.
    let spec = Spec { epochs: &[1, 2], probe: false, test: false, ..FULL };
    let (_tmp, s) = report(&spec);
    assert_no_false_claims(&s);
    // The train loss of epoch e is 0.4 / (e + 1) (see `write`), shown to 3 digits.
    let fig4 = reading(&s, "fig4-");
    let (start, end) = (sig_n(0.4 / 2.0, 3), sig_n(0.4 / 3.0, 3));
    assert_eq!(
        fig4,
        format!("At the end, train loss is {end} for net (epoch 2; it has no test values), from {start} at epoch 1.")
    );
    assert!(!everything(&s).contains("has no rows in epochs.csv"), "{:?}", s.notes);
    // No test line is drawn, and the legend names none.
    assert!(!svg(&s, "fig4-").contains(">test<"), "figure 4's legend names a test line");
}

#[test]
fn a_learners_run_is_read_on_its_validation_loss() {
    // As burn-train's Learner records them through gradflow: a validation split, no test set.
    let spec = Spec { epochs: &[1, 2], probe: false, test: false, valid: true, ..FULL };
    let (_tmp, s) = report(&spec);
    assert_no_false_claims(&s);
    let (start, end, valid) = (sig_n(0.4 / 2.0, 3), sig_n(0.4 / 3.0, 3), sig_n(0.6 / 3.0, 3));
    assert_eq!(
        reading(&s, "fig4-"),
        format!("At the end, train loss is {end} for net (epoch 2; it has no test values, and its validation loss is {valid}), from {start} at epoch 1.")
    );
    // The headline's test loss cell holds the validation loss, and says so.
    let page = everything(&s);
    assert!(page.contains(&format!("{valid} (validation)")), "the headline's loss cell");
}

#[test]
fn a_model_without_taps_is_said_to_have_none_and_why() {
    let spec = Spec { untapped: &[1, 2, 3, 4], ..FULL };
    let (_tmp, s) = report(&spec);
    let fig5 = reading(&s, "fig5-");
    assert!(fig5.contains("net has neither metric (no Taps::activation in its forward pass)"), "{fig5}");
    let fig7 = reading(&s, "fig7-");
    assert!(fig7.starts_with("There are no delta_norm rows in layers.csv for any model"), "{fig7}");
    assert!(fig7.contains("Layers 1 (embed), 2 (block1), 3 (block2) and 4 (out) of net have no δ (no tap: "), "{fig7}");
    // The weight gradients are there all the same.
    let fig1 = reading(&s, "fig1-");
    assert!(fig1.contains(&format!("{} of net receives", phrase(&spec, 1))), "{fig1}");
}

#[test]
fn missing_optional_files_leave_out_their_figures_and_claim_nothing() {
    let spec = FULL;
    let tmp = Temp(std::env::temp_dir().join(format!("gradflow-readings-missing-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&tmp.0);
    let dir = tmp.0.join("run");
    write(&dir, &spec);
    for file in [runfolder::PARAMS, runfolder::HISTOGRAMS, runfolder::TIME_STEPS] {
        std::fs::remove_file(dir.join(file)).expect("remove an optional file");
    }
    let s = xtask::write_report(&dir, Some(&tmp.0.join("report")), Format::Svg).expect("report");
    assert!(!s.figures.iter().any(|f| f.slug.starts_with("fig8-") || f.slug.starts_with("fig9-")));
    assert_no_false_claims(&s);
    // config.toml is missing too (a library user's run has none), and the page says so.
    assert!(s.notes.iter().any(|n| n.contains("no config.toml")), "{:?}", s.notes);
}

#[test]
fn a_model_is_said_to_have_no_rows_only_when_no_file_has_any() {
    let tmp = Temp(std::env::temp_dir().join(format!("gradflow-readings-idle-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&tmp.0);
    let dir = tmp.0.join("run");
    write(&dir, &Spec { epochs: &[], probe: false, ..FULL });
    // A second model in the manifest that has not written a row (as when a run of two
    // models was stopped before the second one's first step).
    let mut m = manifest(&FULL);
    m.models.push(ModelInfo { name: "idle".into(), ..m.models[0].clone() });
    runfolder::write_atomic(&dir.join(runfolder::MANIFEST), serde_json::to_string(&m).expect("json").as_bytes())
        .expect("manifest");
    let s = xtask::write_report(&dir, Some(&tmp.0.join("report")), Format::Svg).expect("report");
    let no_rows: Vec<&String> = s.notes.iter().filter(|n| n.contains("has no rows yet")).collect();
    assert!(no_rows.len() == 1 && no_rows[0].starts_with("Model “idle” has no rows yet"), "{:?}", s.notes);
    assert!(s.notes.iter().any(|n| n.starts_with("Model “net” has no rows in epochs.csv")), "{:?}", s.notes);
}

/// The text with its first letter in upper case (a clause at the start of a sentence).
fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    c.next().map_or_else(String::new, |f| f.to_uppercase().collect::<String>() + c.as_str())
}
