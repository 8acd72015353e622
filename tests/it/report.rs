//! Feature tests of `cargo xtask report`, `compare` and `tutorial-figures`: synthetic but
//! realistic run folders, written here per the contract in ARCHITECTURE.md, go through the
//! xtask library, and the figures, page and errors that come out are checked.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use runfolder::{
    Bin, DatasetInfo, Divergence, LayerInfo, Manifest, ModelInfo, ParamInfo, Status, TelemetryInfo, header, metric,
};
use xtask::{Error, Format, RunError};

/// The seven figure stems that every report has, in page order.
const FIGURES: [&str; 7] = [
    "fig1-grad-norms",
    "fig2-grad-heatmap",
    "fig3-grad-bars",
    "fig4-loss-accuracy",
    "fig5-saturation",
    "fig6-update-ratio",
    "fig7-delta-norms",
];

/// The two figure stems that follow them when the run has gradient histograms.
const HISTOGRAM_FIGURES: [&str; 2] = ["fig8-grad-histogram", "fig9-grad-below-1e-8"];

/// The remedies side by side: after those, when two or more models have the first-to-last
/// gradient ratio over training steps (every run here with a training step).
const REMEDIES_FIGURE: &str = "fig10-remedies";

/// The gradient norm and its clipping: last, when a model was clipped or diverged.
const CLIPPING_FIGURE: &str = "fig11-exploding-clipping";

/// The recurrent models' figures through time: last, when `time_steps.csv` has rows (the
/// gates' only when a gated model logged them).
const TIME_FIGURES: [&str; 3] = ["fig12-time-heatmap", "fig13-time-profile", "fig14-gates"];

/// The figures of a healthy run of two models without histograms, in page order.
fn report_figures() -> Vec<&'static str> {
    FIGURES.iter().copied().chain([REMEDIES_FIGURE]).collect()
}

/// How a synthetic run differs from a healthy completed one.
#[derive(Clone)]
struct Spec {
    seed: u64,
    status: Status,
    reason: Option<&'static str>,
    epochs: u32,
    regression: bool,
    /// The layers' names in the manifest (`None`: an MLP's `layers.0` … `layers.3`).
    layer_names: Option<[&'static str; LAYERS as usize]>,
    /// Whether `grad_histograms.csv` has rows (else it holds its header only).
    histograms: bool,
    /// Whether "relu" has the remedies: LayerNorm, residual connections (with the stream's
    /// gradient logged for its hidden layers) and clipping at 1, its norm before clipping
    /// above 1 on its first steps.
    remedies: bool,
    /// The step at which "sigmoid" diverged (its manifest entry says so, and its rows stop
    /// before it) while "relu" trained on.
    diverge_at: Option<u64>,
    /// Whether the models are recurrent, with rows in `time_steps.csv` (else it holds its
    /// header only, as for any feed-forward run): "sigmoid" a stacked vanilla RNN (layers 1
    /// and 2 recurrent), "relu" an LSTM (layer 1), over [`T`] time steps (see [`error`]).
    recurrent: bool,
}

impl Default for Spec {
    fn default() -> Spec {
        Spec {
            seed: 42,
            status: Status::Completed,
            reason: None,
            epochs: 3,
            regression: false,
            layer_names: None,
            histograms: false,
            remedies: false,
            diverge_at: None,
            recurrent: false,
        }
    }
}

const LAYERS: u32 = 4;
const STEPS_PER_EPOCH: u64 = 8;
const EVERY: u64 = 4;
/// The MLP's widths from input to output: 16 features, three hidden layers of 8, 10 classes.
const WIDTHS: [usize; 5] = [16, 8, 8, 8, 10];

/// The steps `train` logs (powers of two below `EVERY`, then every `EVERY`, plus each
/// epoch's last step).
fn logged_steps(epochs: u32) -> Vec<(u32, u64)> {
    let total = u64::from(epochs) * STEPS_PER_EPOCH;
    (1..=total)
        .filter(|&s| (s < EVERY && s.is_power_of_two()) || s % EVERY == 0 || s % STEPS_PER_EPOCH == 0)
        .map(|s| (u32::try_from((s - 1) / STEPS_PER_EPOCH + 1).expect("few epochs"), s))
        .collect()
}

/// A weight-gradient norm: sigmoid decays from about 1e-1 at the last layer to 1e-6 at the
/// first (and underflows to exactly 0 at the first layer on step 8); ReLU stays near 0.1.
fn grad(model: &str, layer: u32, t: f64) -> f64 {
    match model {
        "sigmoid" if layer == 1 && (t - 8.0).abs() < 1e-9 => 0.0,
        "sigmoid" => {
            10f64.powf(-1.0 - 5.0 * f64::from(LAYERS - layer) / f64::from(LAYERS - 1)) * (1.0 + 0.05 * t.sin())
        }
        _ => 0.1 * (0.8 + 0.05 * f64::from(layer)) * (1.0 + 0.03 * t.cos()),
    }
}

/// Every metric of one layer at one moment, as `train` would log it.
fn metrics(model: &str, layer: u32, t: f64, train: bool) -> Vec<(&'static str, f64)> {
    let g = grad(model, layer, t);
    let hidden = layer < LAYERS;
    let mut m = vec![
        (metric::GRAD_NORM_WEIGHT, g),
        (metric::GRAD_NORM_BIAS, g * 0.3),
        (metric::DELTA_NORM, g * 0.05),
        (metric::WEIGHT_NORM, 2.0 + 0.01 * t),
        (metric::DIST_FROM_INIT, 0.001 * t),
        (metric::ACT_MEAN, 0.5),
        (metric::ACT_STD, 0.2),
        (metric::GRAD_UNDERFLOW, if g == 0.0 { 1.0 } else { 0.0 }),
    ];
    if train {
        m.push((metric::UPDATE_RATIO, g * 0.01 + 1e-7));
    }
    if hidden && model == "sigmoid" {
        m.push((metric::SATURATION, 0.1 * f64::from(layer) + 0.01 * t));
    }
    if hidden && model == "relu" {
        m.push((metric::DEAD_FRACTION, 0.02 * f64::from(layer)));
    }
    m
}

/// The sequence length of the recurrent runs.
const T: u32 = 20;

/// The mean ‖dL/dh_t‖ of a recurrent model at time step t on the probe set after `epoch`
/// (and on the training batches of that epoch): the vanilla RNN's first layer decays by 0.7
/// a step back from t = T at initialization and by 0.6 after training (so that ‖dL/dh₁‖ /
/// ‖dL/dh_T‖ is 0.7^19 = 1.1e-3, then 0.6^19 = 6.1e-5), its second layer by 0.9; the LSTM's
/// by 0.98 (0.98^19 = 0.68) throughout.
fn error(model: &str, layer: u32, epoch: u32, t: u32) -> f64 {
    let base = match (model, layer) {
        ("sigmoid", 1) if epoch == 0 => 0.7,
        ("sigmoid", 1) => 0.6,
        ("sigmoid", _) => 0.9,
        _ => 0.98,
    };
    0.1 * f64::powi(base, (T - t) as i32)
}

/// The LSTM's mean forget gate: 0.5 at initialization, 0.8 after training.
fn gate(epoch: u32) -> f64 {
    if epoch == 0 { 0.5 } else { 0.8 }
}

/// The clipping threshold of "relu" with the remedies.
const CLIP: f64 = 1.0;

/// The global gradient norm of "relu" with the remedies before clipping: 2, 1.41, 1, 0.71,
/// … at steps 1, 2, 4, 8, …, clipped on its first two logged steps.
fn remedied_norm(step: u64) -> f64 {
    2.0 / (step as f64).sqrt()
}

/// The residual stream's ‖dL/dh‖ of a hidden layer of "relu" with the remedies: level from
/// the last hidden layer to the first, as a skip keeps it.
fn stream(layer: u32) -> f64 {
    0.02 * (1.0 + 0.01 * f64::from(LAYERS - layer))
}

/// The counts of a layer's |dL/dW| entries per bin, the same at every moment: sigmoid's
/// layer 1 has one entry of 0, two in [1e-9, 1e-8) and one in [1e-3, 1e-2), so that 75% of
/// them are below 1e-8 and its median is in [1e-9, 1e-8); its other layers and every ReLU
/// layer have none below 1e-8.
fn histogram(model: &str, layer: u32) -> Vec<(Bin, u64)> {
    match (model, layer) {
        ("sigmoid", 1) => vec![(Bin::Zero, 1), (Bin::Decade(-9), 2), (Bin::Decade(-3), 1)],
        ("sigmoid", 2) => vec![(Bin::Decade(-7), 4)],
        ("sigmoid", 3) => vec![(Bin::Decade(-5), 4)],
        ("sigmoid", _) => vec![(Bin::Decade(-2), 3), (Bin::Large, 1)],
        _ => vec![(Bin::Decade(-3), 4)],
    }
}

/// The manifest entry of one model: an MLP's widths and `layers.i` names, or the given
/// names (a model that is not an MLP has no widths), each layer with a weight and a bias.
fn model_info(model: &str, spec: &Spec) -> ModelInfo {
    let layers = (0..LAYERS as usize)
        .map(|i| {
            let name = spec.layer_names.map_or_else(|| format!("layers.{i}"), |n| n[i].to_string());
            LayerInfo {
                params: vec![
                    ParamInfo { path: format!("{name}.weight"), shape: vec![WIDTHS[i], WIDTHS[i + 1]] },
                    ParamInfo { path: format!("{name}.bias"), shape: vec![WIDTHS[i + 1]] },
                ],
                activation: (i + 1 < LAYERS as usize).then(|| model.to_string()),
                name,
            }
        })
        .collect();
    let remedied = spec.remedies && model == "relu";
    let diverged = spec.diverge_at.filter(|_| model == "sigmoid").map(|step| Divergence {
        epoch: usize::try_from((step - 1) / STEPS_PER_EPOCH + 1).expect("small"),
        step: usize::try_from(step).expect("small"),
        reason: "non-finite gradient or value in layers.0.weight".into(),
    });
    ModelInfo {
        name: model.to_string(),
        norm: remedied.then(|| "layer".into()),
        residual: remedied.then_some(true),
        clip_grad_norm: remedied.then_some(CLIP),
        diverged,
        activation: spec.layer_names.is_none().then(|| model.to_string()),
        output_activation: Some("none".into()),
        init: Some("xavier-uniform".into()),
        bias_init: Some("zeros".into()),
        widths: if spec.layer_names.is_none() { WIDTHS.to_vec() } else { Vec::new() },
        parameters: Some(450),
        layers,
        kind: Some(if !spec.recurrent { "mlp" } else if model == "sigmoid" { "rnn" } else { "lstm" }.into()),
        hidden: spec.recurrent.then_some(8),
        // No weights file was saved.
        ..ModelInfo::default()
    }
}

/// Writes a run folder with the models "sigmoid" and "relu" (4 layers each).
fn write_run(dir: &Path, spec: &Spec) {
    std::fs::create_dir_all(dir).expect("mkdir");
    let models = ["sigmoid", "relu"];
    let manifest = Manifest {
        name: "default".into(),
        status: spec.status,
        reason: spec.reason.map(str::to_string),
        seed: Some(spec.seed),
        backend: Some("flex".into()),
        threads: Some(2),
        flush_denormals: Some(true),
        version: Some("0.1.0".into()),
        started_at: Some("2026-11-29T14:03:11Z".into()),
        ended_at: (spec.status != Status::Running).then(|| "2026-11-29T14:05:02Z".into()),
        dataset: Some(DatasetInfo {
            source: Some("spiral".into()),
            features: Some(16),
            classes: (!spec.regression).then_some(10),
            outputs: Some(10),
            train: Some(800),
            valid: Some(0),
            test: Some(200),
            probe: Some(100),
            sequence_length: spec.recurrent.then_some(T as usize),
            image: None,
        }),
        task: Some(if spec.regression { "regression" } else { "classification" }.into()),
        loss: Some(if spec.regression { "mse" } else { "cross-entropy" }.into()),
        models: models.iter().map(|m| model_info(m, spec)).collect(),
        telemetry: Some(TelemetryInfo { enabled: true, every: EVERY as usize, early_steps: vec![1, 2], probe: 100 }),
        // The fields a report does not show keep their defaults (`git_revision`: null, as
        // outside a git checkout).
        ..Manifest::default()
    };
    std::fs::write(dir.join(runfolder::MANIFEST), serde_json::to_string_pretty(&manifest).expect("json"))
        .expect("write");
    std::fs::write(
        dir.join(runfolder::CONFIG),
        format!("name = \"default\"\nseed = {}\n\n[train]\nepochs = {}\n", spec.seed, spec.epochs),
    )
    .expect("write");

    let file = |columns: &[&str]| format!("{}\n", header(columns));
    let mut epochs = file(&runfolder::EPOCHS_COLUMNS);
    let mut steps = file(&runfolder::STEPS_COLUMNS);
    let mut layers = file(&runfolder::LAYERS_COLUMNS);
    let mut layer_epochs = file(&runfolder::LAYER_EPOCHS_COLUMNS);
    let mut params = file(&runfolder::PARAMS_COLUMNS);
    let mut histograms = file(&runfolder::HISTOGRAMS_COLUMNS);
    let mut time_steps = file(&runfolder::TIME_STEPS_COLUMNS);
    // The rows of one moment (a probe measurement or a logged step) of one model.
    let mut moment = |model: &str, e: u32, step: u64, source: &str| {
        let train = source == runfolder::SOURCE_TRAIN;
        let info = model_info(model, spec);
        for layer in 1..=LAYERS {
            for (metric, v) in metrics(model, layer, step as f64, train) {
                writeln!(layers, "{model},{e},{step},{source},{layer},{metric},{v:e}").expect("fmt");
            }
            if spec.remedies && model == "relu" && layer < LAYERS {
                let (m, v) = (metric::STREAM_DELTA_NORM, stream(layer));
                writeln!(layers, "{model},{e},{step},{source},{layer},{m},{v:e}").expect("fmt");
            }
            for (param, v) in info.layers[layer as usize - 1].params.iter().zip([1.0, 0.3]) {
                let g = grad(model, layer, step as f64) * v;
                writeln!(params, "{model},{e},{step},{source},{layer},{},{},{g:e}", param.path, metric::GRAD_NORM)
                    .expect("fmt");
            }
            if spec.histograms {
                for (bin, count) in histogram(model, layer) {
                    writeln!(histograms, "{model},{e},{step},{source},{layer},{},{count}", bin.label()).expect("fmt");
                }
            }
            let recurrent_layers = if model == "sigmoid" { 2 } else { 1 };
            if spec.recurrent && layer <= recurrent_layers {
                for t in 1..=T {
                    let (m, v) = (metric::HIDDEN_DELTA_NORM, error(model, layer, e, t));
                    writeln!(time_steps, "{model},{e},{step},{source},{layer},{t},{m},{v:e}").expect("fmt");
                    if model == "relu" {
                        let (m, v) = (metric::GATE_MEAN, gate(e));
                        writeln!(time_steps, "{model},{e},{step},{source},{layer},{t},{m},{v:e}").expect("fmt");
                    }
                    if t > 1 {
                        let (m, v) = (metric::RECURRENT_GRAD_NORM, error(model, layer, e, t) * 0.5);
                        writeln!(time_steps, "{model},{e},{step},{source},{layer},{t},{m},{v:e}").expect("fmt");
                    }
                }
            }
        }
    };
    for model in models {
        let learns = if model == "relu" { 1.0 } else { 0.1 };
        // A model that diverged has no rows from the step it diverged at: not that step,
        // nor the end of its epoch.
        let stop = spec.diverge_at.filter(|_| model == "sigmoid").unwrap_or(u64::MAX);
        let kept_epochs = (0..=spec.epochs).filter(|&e| u64::from(e) * STEPS_PER_EPOCH < stop);
        let logged: Vec<(u32, u64)> = logged_steps(spec.epochs).into_iter().filter(|p| p.1 < stop).collect();
        for e in kept_epochs.clone() {
            let ef = f64::from(e);
            let loss = 2.3 - learns * 0.6 * ef;
            let acc = 0.1 + learns * 0.27 * ef;
            // Accuracies are empty for a regression; test accuracy trails train by 0.01.
            let (train_acc, test_acc) = if spec.regression {
                (String::new(), String::new())
            } else {
                (format!("{acc:e}"), format!("{:e}", acc - 0.01))
            };
            writeln!(epochs, "{model},{e},{loss:e},{train_acc},{:e},{test_acc},1.5,,", loss + 0.05).expect("fmt");
            // Probe rows: at initialization (step 0) and after each epoch.
            moment(model, e, u64::from(e) * STEPS_PER_EPOCH, runfolder::SOURCE_PROBE);
        }
        for &(e, s) in &logged {
            let norm = if spec.remedies && model == "relu" { remedied_norm(s) } else { 0.5 };
            let clipped = if spec.remedies && model == "relu" { norm.min(CLIP) } else { norm };
            writeln!(steps, "{model},{e},{s},{:e},{norm:e},{clipped:e},0.1", 2.3 - 0.01 * s as f64).expect("fmt");
            moment(model, e, s, runfolder::SOURCE_TRAIN);
        }
        for e in kept_epochs.filter(|&e| e > 0) {
            let in_epoch: Vec<u64> = logged.iter().filter(|p| p.0 == e).map(|p| p.1).collect();
            for layer in 1..=LAYERS {
                for (metric, _) in metrics(model, layer, 1.0, true) {
                    let vals: Vec<f64> = in_epoch
                        .iter()
                        .map(|&s| {
                            metrics(model, layer, s as f64, true)
                                .into_iter()
                                .find(|m| m.0 == metric)
                                .map_or(0.0, |m| m.1)
                        })
                        .collect();
                    let mean = vals.iter().sum::<f64>() / vals.len() as f64;
                    let min = vals.iter().copied().fold(f64::INFINITY, f64::min);
                    let max = vals.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    writeln!(layer_epochs, "{model},{e},{layer},{metric},{mean:e},{min:e},{max:e},{}", vals.len())
                        .expect("fmt");
                }
            }
        }
    }
    for (name, text) in [
        (runfolder::EPOCHS, epochs),
        (runfolder::STEPS, steps),
        (runfolder::LAYERS, layers),
        (runfolder::LAYER_EPOCHS, layer_epochs),
        (runfolder::PARAMS, params),
        (runfolder::HISTOGRAMS, histograms),
        (runfolder::TIME_STEPS, time_steps),
    ] {
        std::fs::write(dir.join(name), text).expect("write");
    }
}

/// Turns a run folder into one that a version before `params.csv`, `grad_histograms.csv`,
/// `time_steps.csv` and layer names wrote: those files removed, each model's widths under
/// `layers`.
fn make_old(dir: &Path) {
    for file in [runfolder::PARAMS, runfolder::HISTOGRAMS, runfolder::TIME_STEPS] {
        std::fs::remove_file(dir.join(file)).expect("rm");
    }
    let path = dir.join(runfolder::MANIFEST);
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json");
    for m in json["models"].as_array_mut().expect("models") {
        let widths = m["widths"].take();
        m["layers"] = widths;
        m.as_object_mut().expect("a model object").remove("widths");
    }
    std::fs::write(&path, json.to_string()).expect("write");
}

/// A scratch folder, unique per call, removed when dropped (this module needs no burn, so
/// it does not lean on `common`, which does).
struct Temp(PathBuf);

impl Temp {
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn temp() -> Temp {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("gradflow-report-{}-{n}", std::process::id()));
    if dir.exists() {
        std::fs::remove_dir_all(&dir).expect("remove an old scratch folder");
    }
    std::fs::create_dir_all(&dir).expect("create a scratch folder");
    Temp(dir)
}

fn run_in(tmp: &Temp, name: &str, spec: &Spec) -> PathBuf {
    let dir = tmp.path().join(name);
    write_run(&dir, spec);
    dir
}

/// The number of `class="series"` groups in a well-formed SVG file.
fn series_in(path: &Path) -> usize {
    let text = std::fs::read_to_string(path).expect("read svg");
    let doc =
        roxmltree::Document::parse(&text).unwrap_or_else(|e| panic!("{} is not well-formed XML: {e}", path.display()));
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    doc.descendants().filter(|n| n.attribute("class") == Some("series")).count()
}

#[test]
fn report_writes_every_figure_and_a_page_that_references_them() {
    let tmp = temp();
    let run = run_in(&tmp, "20261129-140311-default", &Spec::default());
    let s = xtask::write_report(&run, None, Format::Both).expect("report");
    assert_eq!(s.out_dir, run.join("report"));
    let html = std::fs::read_to_string(&s.html).expect("index.html");
    assert_eq!(s.figures.iter().map(|f| f.slug.as_str()).collect::<Vec<_>>(), report_figures());
    for stem in report_figures() {
        for ext in ["svg", "png"] {
            let file = s.out_dir.join(format!("{stem}.{ext}"));
            assert!(file.is_file(), "{} is missing", file.display());
            assert!(html.contains(&format!("href=\"{stem}.{ext}\"")), "index.html does not link {stem}.{ext}");
        }
        let png = std::fs::read(s.out_dir.join(format!("{stem}.png"))).expect("png");
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{stem}.png is not a PNG");
    }
    // The page stands alone: no scripts, nothing fetched from the web.
    for banned in ["<script", "src=\"http", "href=\"http", "url(", "@import", "https://"] {
        assert!(!html.contains(banned), "index.html contains {banned}");
    }
    // Headline first, then figures, then config and manifest.
    let (h, f, c) =
        (html.find("Headline").expect("h"), html.find("Figures").expect("f"), html.find("config.toml").expect("c"));
    assert!(h < f && f < c);
    assert!(html.contains("A model is stalled when"));
    assert!(s.notes.is_empty(), "a completed run has no notes: {:?}", s.notes);
}

#[test]
fn svgs_are_well_formed_with_one_series_per_layer_or_line() {
    let tmp = temp();
    let run = run_in(&tmp, "run", &Spec::default());
    let s = xtask::write_report(&run, Some(&tmp.path().join("out")), Format::Svg).expect("report");
    // 2 models × 4 layers; 2 × 4 heatmap rows; 2 × (init, end) bars; 2 models × (train,
    // test) × (loss, accuracy); 3 hidden layers with saturation or dead units per model;
    // 2 models × 4 layers twice; 2 models × (ratio, test accuracy).
    let expected = [8, 8, 4, 8, 6, 8, 8, 4];
    assert_eq!(s.figures.len(), expected.len());
    for ((stem, want), fig) in report_figures().into_iter().zip(expected).zip(&s.figures) {
        let path = tmp.path().join("out").join(format!("{stem}.svg"));
        assert_eq!(series_in(&path), want, "{stem}");
        assert_eq!(fig.series, want, "{stem} (summary)");
        assert!(!tmp.path().join("out").join(format!("{stem}.png")).exists(), "svg only");
    }
    // The zero at layer 1 of sigmoid is on the marked floor, with a note.
    let fig1 = std::fs::read_to_string(tmp.path().join("out/fig1-grad-norms.svg")).expect("fig1");
    assert!(fig1.contains("exactly 0 (underflow)"), "no floor note in figure 1");
    let heat = std::fs::read_to_string(tmp.path().join("out/fig2-grad-heatmap.svg")).expect("fig2");
    assert!(heat.contains("Black cells (1) are exactly 0"), "no zero note in figure 2");
    // The reference line of the update ratio is there.
    let fig6 = std::fs::read_to_string(tmp.path().join("out/fig6-update-ratio.svg")).expect("fig6");
    assert!(fig6.contains("1e-3 rule of thumb"));
}

#[test]
fn headline_and_readings_come_from_the_data() {
    let tmp = temp();
    let run = run_in(&tmp, "run", &Spec::default());
    let s = xtask::write_report(&run, None, Format::Svg).expect("report");
    let sig = s.headline.iter().find(|h| h.model == "sigmoid").expect("sigmoid");
    let relu = s.headline.iter().find(|h| h.model == "relu").expect("relu");
    assert_eq!(sig.stalled, Some(true));
    assert_eq!(relu.stalled, Some(false));
    let r = sig.ratio_end.expect("ratio");
    assert!((1e-6..1e-4).contains(&r), "{r}");
    assert_eq!(sig.last_epoch, Some(3));
    assert!((relu.test_accuracy.expect("acc") - 0.90).abs() < 1e-9);

    let md = std::fs::read_to_string(&s.markdown).expect("report.md");
    assert!(md.contains("| Model | Activation | Layers | Epochs | Test accuracy |"), "{md}");
    // Stalled, then its twin Exploding: sigmoid's gradient vanishes, and neither explodes.
    assert!(md.lines().any(|l| l.starts_with("| sigmoid |") && l.trim_end().ends_with("| yes | no |")), "{md}");
    assert!(md.lines().any(|l| l.starts_with("| relu |") && l.trim_end().ends_with("| no | no |")), "{md}");
    assert!(md.contains("| Stalled | Exploding |") && !md.contains("| Setup |"), "{md}");
    assert!(md.contains("A model is stalled when") && md.contains("A model is exploding when"));
    assert!(sig.exploding == Some(false) && relu.exploding == Some(false));
    for stem in report_figures() {
        assert!(md.contains(&format!("({stem}.svg)")), "report.md does not show {stem}");
    }
    // Readings name the models and carry numbers.
    let fig1 = &s.figures[0].reading;
    assert!(fig1.contains("layer 1 of sigmoid receives") && fig1.contains("layer 4's gradient"), "{fig1}");
    assert!(s.figures[3].reading.contains("90%"), "{}", s.figures[3].reading);
}

#[test]
fn compare_overlays_two_runs_with_one_table() {
    let tmp = temp();
    let a = run_in(&tmp, "a", &Spec::default());
    let b = run_in(&tmp, "b", &Spec { seed: 7, ..Spec::default() });
    let out = tmp.path().join("cmp");
    let s = xtask::write_compare(&[a.clone(), b], Some(&out), Format::Svg).expect("compare");
    assert_eq!(s.labels, ["default (seed 42)", "default (seed 7)"]);
    assert_eq!(s.headline.len(), 4);
    let expected = [16, 16, 8, 16, 12, 16, 16, 8];
    assert_eq!(s.figures.len(), expected.len());
    for (stem, want) in report_figures().into_iter().zip(expected) {
        assert_eq!(series_in(&out.join(format!("{stem}.svg"))), want, "{stem}");
    }
    let html = std::fs::read_to_string(&s.html).expect("html");
    assert!(html.contains("<th>Run</th>") && html.contains("default (seed 7)"));
    let md = std::fs::read_to_string(&s.markdown).expect("md");
    assert!(md.contains("| Run | Model |"));
    // One run is not a comparison.
    let err = xtask::write_compare(&[a], Some(&out), Format::Svg).expect_err("one run");
    assert!(matches!(err, Error::Usage(_)), "{err}");
}

#[test]
fn malformed_csv_names_the_file_and_line() {
    let tmp = temp();
    let run = run_in(&tmp, "run", &Spec::default());
    let path = run.join(runfolder::LAYERS);
    let text = std::fs::read_to_string(&path).expect("read");
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines[4] = format!("sigmoid,0,0,{},1,{},abc", runfolder::SOURCE_PROBE, metric::GRAD_NORM_WEIGHT);
    std::fs::write(&path, lines.join("\n") + "\n").expect("write");
    let err = xtask::write_report(&run, None, Format::Svg).expect_err("malformed");
    match &err {
        Error::Run(RunError::Csv { path: p, line, .. }) => {
            assert!(p.ends_with(runfolder::LAYERS));
            assert_eq!(*line, 5);
        }
        other => panic!("expected a CSV error, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(msg.contains("layers.csv:5:") && msg.contains("value") && msg.contains("abc"), "{msg}");

    // A wrong header is line 1, and says what was expected.
    // The first four of the columns.
    let short = header(&runfolder::STEPS_COLUMNS[..4]);
    std::fs::write(run.join(runfolder::STEPS), format!("{short}\nsigmoid,1,1,2.3\n")).expect("write");
    std::fs::write(&path, text).expect("restore");
    let err = xtask::write_report(&run, None, Format::Svg).expect_err("header");
    let msg = err.to_string();
    assert!(msg.contains("steps.csv:1:") && msg.contains("grad_norm"), "{msg}");

    // A row with a field too few, in the middle of a file.
    let good = {
        let t = temp();
        write_run(t.path(), &Spec::default());
        std::fs::read_to_string(t.path().join(runfolder::STEPS)).expect("read")
    };
    let mut rows: Vec<&str> = good.lines().collect();
    rows[2] = "sigmoid,1,2,2.2";
    std::fs::write(run.join(runfolder::STEPS), rows.join("\n") + "\n").expect("write");
    let msg = xtask::write_report(&run, None, Format::Svg).expect_err("short row").to_string();
    assert!(msg.contains("steps.csv:3:") && msg.contains("expected 7 fields"), "{msg}");
}

#[test]
fn missing_or_bad_files_give_one_clear_line() {
    let tmp = temp();
    let err = xtask::write_report(tmp.path(), None, Format::Svg).expect_err("not a run");
    assert!(matches!(err, Error::Run(RunError::NotARun { .. })), "{err:?}");
    assert!(err.to_string().contains("is not a run folder"), "{err}");

    let err = xtask::write_report(&tmp.path().join("nope"), None, Format::Svg).expect_err("no folder");
    assert!(err.to_string().contains("no such folder"), "{err}");

    let run = run_in(&tmp, "run", &Spec::default());
    std::fs::remove_file(run.join(runfolder::LAYERS)).expect("rm");
    let err = xtask::write_report(&run, None, Format::Svg).expect_err("missing csv");
    assert!(matches!(err, Error::Run(RunError::MissingFile { .. })), "{err:?}");
    assert!(err.to_string().contains("layers.csv: missing"), "{err}");

    std::fs::write(run.join(runfolder::MANIFEST), "{ \"name\": \"x\", ").expect("write");
    let err = xtask::write_report(&run, None, Format::Svg).expect_err("bad json");
    assert!(err.to_string().contains("manifest.json") && err.to_string().contains("line"), "{err}");
    assert_eq!(err.to_string().lines().count(), 1, "one line: {err}");
}

#[test]
fn interrupted_and_diverged_runs_are_reported_with_a_note() {
    let tmp = temp();
    let spec = Spec {
        status: Status::Interrupted,
        reason: Some("stopped with Ctrl-C during epoch 2"),
        epochs: 1,
        ..Spec::default()
    };
    let run = run_in(&tmp, "int", &spec);
    // The run was stopped while writing a row: the last line is cut short.
    let layers = run.join(runfolder::LAYERS);
    let mut text = std::fs::read_to_string(&layers).expect("read");
    text.push_str(&format!("relu,2,12,{},3,grad_no", runfolder::SOURCE_TRAIN));
    std::fs::write(&layers, text).expect("write");
    let s = xtask::write_report(&run, None, Format::Svg).expect("report of an interrupted run");
    let html = std::fs::read_to_string(&s.html).expect("html");
    assert!(html.contains("This run was interrupted (stopped with Ctrl-C during epoch 2)"), "no status note");
    assert!(html.contains("is incomplete"), "no note on the cut line");
    assert!(std::fs::read_to_string(&s.markdown).expect("md").contains("interrupted"));
    for stem in FIGURES {
        assert!(s.out_dir.join(format!("{stem}.svg")).is_file());
    }

    let run = run_in(
        &tmp,
        "div",
        &Spec { status: Status::Diverged, reason: Some("loss became NaN at step 13"), ..Spec::default() },
    );
    let s = xtask::write_report(&run, None, Format::Svg).expect("report of a diverged run");
    let html = std::fs::read_to_string(&s.html).expect("html");
    assert!(html.contains("This run diverged (loss became NaN at step 13)"), "no diverged note");

    // A run that died right after initialization: only epoch 0, no train rows.
    let run = run_in(&tmp, "early", &Spec { status: Status::Running, epochs: 0, ..Spec::default() });
    let s = xtask::write_report(&run, None, Format::Svg).expect("report of a run with epoch 0 only");
    assert!(s.notes.iter().any(|n| n.contains("still running") && n.contains("killed?")), "{:?}", s.notes);
    // No training step: no ratio over training, so no remedies figure.
    assert_eq!(s.figures.len(), FIGURES.len());
}

/// The line of a Markdown table that starts with `| model |`.
fn row_of<'a>(md: &'a str, model: &str) -> &'a str {
    md.lines().find(|l| l.starts_with(&format!("| {model} |"))).unwrap_or_else(|| panic!("no row for {model}:\n{md}"))
}

#[test]
fn remedies_clipping_and_a_diverged_model_reach_the_page() {
    let tmp = temp();
    let spec = Spec { remedies: true, diverge_at: Some(13), ..Spec::default() };
    let run = run_in(&tmp, "remedies", &spec);
    let s = xtask::write_report(&run, None, Format::Both).expect("report");
    let stems: Vec<&str> = s.figures.iter().map(|f| f.slug.as_str()).collect();
    let expected: Vec<&str> = FIGURES.iter().copied().chain([REMEDIES_FIGURE, CLIPPING_FIGURE]).collect();
    assert_eq!(stems, expected);
    for stem in [REMEDIES_FIGURE, CLIPPING_FIGURE] {
        let png = std::fs::read(s.out_dir.join(format!("{stem}.png"))).expect("png");
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{stem}.png is not a PNG");
    }

    // The headline: sigmoid diverged at step 13, after its first epoch; relu is described
    // by its remedies, in a column that only such runs have.
    let sig = s.headline.iter().find(|h| h.model == "sigmoid").expect("sigmoid");
    let relu = s.headline.iter().find(|h| h.model == "relu").expect("relu");
    assert_eq!((sig.exploding, sig.last_epoch), (Some(true), Some(1)));
    assert_eq!(sig.diverged.as_ref().and_then(|d| d.step), Some(13));
    assert_eq!((relu.exploding, relu.setup.as_deref()), (Some(false), Some("LayerNorm, residual, clipped at 1")));
    let md = std::fs::read_to_string(&s.markdown).expect("md");
    assert!(md.contains("| Model | Activation | Layers | Setup | Epochs |"), "{md}");
    assert!(row_of(&md, "sigmoid").starts_with("| sigmoid | sigmoid | 4 | — | 1 |"), "{md}");
    assert!(row_of(&md, "sigmoid").ends_with("| yes | yes (diverged at step 13) |"), "{md}");
    assert!(row_of(&md, "relu").contains("| LayerNorm, residual, clipped at 1 |"), "{md}");
    assert!(row_of(&md, "relu").ends_with("| no | no |"), "{md}");
    let html = std::fs::read_to_string(&s.html).expect("html");
    assert!(html.contains("<td class=\"exploding\">yes (diverged at step 13)</td>"), "the cell is not flagged");
    assert!(html.contains("<b>Exploding.</b> A model is exploding when"), "the rule is not stated");
    // The run completed; a note says where sigmoid stopped and why.
    assert!(
        s.notes.iter().any(|n| n.starts_with("Model “sigmoid” diverged at step 13 (epoch 2): non-finite gradient")),
        "{:?}",
        s.notes
    );

    // Figure 10: each model's ratio and test accuracy, sigmoid's lines ending where it diverged.
    let fig10 = &s.figures[7];
    assert_eq!(series_in(&s.out_dir.join(format!("{REMEDIES_FIGURE}.svg"))), 4);
    assert!(texts_in(&s.out_dir.join(format!("{REMEDIES_FIGURE}.svg"))).contains("sigmoid (diverged at step 13)"));
    assert!(fig10.reading.contains("sigmoid (step 12)"), "{}", fig10.reading);
    assert!(fig10.reading.contains("Training diverged for sigmoid (at step 13)"), "{}", fig10.reading);

    // Figure 11: the norm of each, relu's also after clipping, and a marker at step 13.
    let fig11 = &s.figures[8];
    let path = s.out_dir.join(format!("{CLIPPING_FIGURE}.svg"));
    assert_eq!(series_in(&path), 3);
    let svg = std::fs::read_to_string(&path).expect("svg");
    assert!(svg.contains("class=\"event\" data-label=\"diverged at step 13\""), "no divergence marker");
    assert!(
        fig11.reading.starts_with("The norm of sigmoid reached 0.50 at step 1 before it diverged at step 13;"),
        "{}",
        fig11.reading
    );
    assert!(
        fig11.reading.contains(
            "the norm of relu was clipped to 1 on 2 of its 8 logged steps (before clipping, up to 2.0 at step 1)"
        ),
        "{}",
        fig11.reading
    );

    // Figure 7: relu's residual stream beside its branches, dashed (its 3 hidden layers).
    assert_eq!(series_in(&s.out_dir.join(format!("{}.svg", FIGURES[6]))), 8 + 3);
    assert!(
        s.figures[6].reading.contains("Along the residual stream (dashed), layer 1 of relu gets"),
        "{}",
        s.figures[6].reading
    );
    // Panel titles describe the remedies.
    assert!(texts_in(&s.out_dir.join(format!("{}.svg", FIGURES[0]))).contains("relu · 4 layers, LayerNorm"));

    // Beside a healthy run: both figures, figure 11 with a panel for every model.
    let b = run_in(&tmp, "b", &Spec { seed: 7, ..Spec::default() });
    let out = tmp.path().join("cmp");
    let c = xtask::write_compare(&[run, b], Some(&out), Format::Svg).expect("compare");
    let stems: Vec<&str> = c.figures.iter().map(|f| f.slug.as_str()).collect();
    assert_eq!(stems, expected);
    assert_eq!(series_in(&out.join(format!("{REMEDIES_FIGURE}.svg"))), 8);
    assert_eq!(series_in(&out.join(format!("{CLIPPING_FIGURE}.svg"))), 3 + 2);
    let md = std::fs::read_to_string(&c.markdown).expect("md");
    assert!(
        md.contains("| Run | Model | Activation | Layers | Setup |") && md.contains("yes (diverged at step 13)"),
        "{md}"
    );
}

#[test]
fn an_older_diverged_run_is_read_for_the_model_and_step() {
    let tmp = temp();
    // Written before models had their own entry: the run stopped whole, and its reason
    // names the step and the model.
    let run = run_in(&tmp, "old-div", &Spec { diverge_at: Some(13), ..Spec::default() });
    let path = run.join(runfolder::MANIFEST);
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json");
    json["status"] = "diverged".into();
    json["reason"] = "step 13 (epoch 2), model sigmoid: non-finite gradient or value in layers.0.weight".into();
    json["models"][0].as_object_mut().expect("a model").remove("diverged");
    std::fs::write(&path, json.to_string()).expect("write");

    let s = xtask::write_report(&run, None, Format::Svg).expect("report");
    let sig = s.headline.iter().find(|h| h.model == "sigmoid").expect("sigmoid");
    let relu = s.headline.iter().find(|h| h.model == "relu").expect("relu");
    assert_eq!(sig.exploding_text(), "yes (diverged at step 13)");
    assert_eq!(relu.exploding_text(), "no");
    assert!(
        s.notes.iter().any(|n| n.starts_with("This run diverged (step 13 (epoch 2), model sigmoid")),
        "{:?}",
        s.notes
    );
    assert!(
        !s.notes.iter().any(|n| n.starts_with("Model “sigmoid” diverged")),
        "the status note says it: {:?}",
        s.notes
    );
    assert_eq!(s.figures.last().map(|f| f.slug.as_str()), Some(CLIPPING_FIGURE));
    let svg = std::fs::read_to_string(s.out_dir.join(format!("{CLIPPING_FIGURE}.svg"))).expect("svg");
    assert!(svg.contains("data-label=\"diverged at step 13\""), "no divergence marker");
}

#[test]
fn regression_runs_plot_loss_only() {
    let tmp = temp();
    let run = run_in(&tmp, "reg", &Spec { regression: true, ..Spec::default() });
    let s = xtask::write_report(&run, None, Format::Svg).expect("report");
    assert_eq!(series_in(&s.out_dir.join(format!("{}.svg", FIGURES[3]))), 4);
    assert!(s.headline.iter().all(|h| h.test_accuracy.is_none() && h.test_loss.is_some()));
}

/// The text of every `<text>` element of an SVG file, one line each.
fn texts_in(path: &Path) -> String {
    let text = std::fs::read_to_string(path).expect("read svg");
    let doc = roxmltree::Document::parse(&text).expect("well-formed");
    let lines: Vec<String> = doc
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .map(|n| n.descendants().filter(|d| d.is_text()).filter_map(|d| d.text()).collect::<String>())
        .collect();
    lines.join("\n")
}

#[test]
fn histograms_and_named_layers_reach_the_page() {
    let tmp = temp();
    let names = ["conv1", "conv2", "fc1", "fc2"];
    let spec = Spec { layer_names: Some(names), histograms: true, ..Spec::default() };
    let run = run_in(&tmp, "cnn", &spec);
    let s = xtask::write_report(&run, None, Format::Both).expect("report");
    let stems: Vec<&str> = s.figures.iter().map(|f| f.slug.as_str()).collect();
    let expected: Vec<&str> = FIGURES.iter().chain(&HISTOGRAM_FIGURES).copied().chain([REMEDIES_FIGURE]).collect();
    assert_eq!(stems, expected);
    let html = std::fs::read_to_string(&s.html).expect("html");
    let md = std::fs::read_to_string(&s.markdown).expect("md");
    for stem in HISTOGRAM_FIGURES {
        assert!(html.contains(&format!("<figure id=\"{stem}\">")), "index.html lacks {stem}");
        assert!(md.contains(&format!("({stem}.svg)")), "report.md lacks {stem}");
        assert!(s.out_dir.join(format!("{stem}.png")).is_file(), "{stem}.png is missing");
    }
    // 2 models × (start, end) × 4 layers of heatmap rows; 2 models × 4 layers of lines.
    assert_eq!(series_in(&s.out_dir.join(format!("{}.svg", HISTOGRAM_FIGURES[0]))), 16);
    assert_eq!(series_in(&s.out_dir.join(format!("{}.svg", HISTOGRAM_FIGURES[1]))), 8);

    // Every figure with a layer axis or a layer legend names the layers in its text.
    for stem in ["fig1-grad-norms", "fig2-grad-heatmap", "fig3-grad-bars", "fig6-update-ratio", "fig7-delta-norms"]
        .into_iter()
        .chain(HISTOGRAM_FIGURES)
    {
        let text = texts_in(&s.out_dir.join(format!("{stem}.svg")));
        for name in ["conv1", "conv2", "fc1"] {
            assert!(text.contains(name), "{stem}.svg does not name {name}:\n{text}");
        }
    }
    // The heatmap rows are the names, the input side at the bottom.
    let heat = texts_in(&s.out_dir.join(format!("{}.svg", HISTOGRAM_FIGURES[0])));
    assert!(heat.lines().any(|l| l == "conv1") && heat.lines().any(|l| l == "fc2"), "{heat}");

    // The readings come from the known counts.
    let hist = &s.figures[7].reading;
    assert!(hist.contains("layer 1 (conv1) of sigmoid is in [1e-9, 1e-8)"), "{hist}");
    let below = &s.figures[8].reading;
    assert!(below.contains("75% of the entries of layer 1 (conv1) of sigmoid are below 1e-8"), "{below}");
    assert!(s.figures[0].reading.contains("layer 1 (conv1) of sigmoid receives"), "{}", s.figures[0].reading);
    // The headline says which layers the ratio compares.
    assert!(md.lines().any(|l| l.starts_with("| sigmoid |") && l.contains("| 4 (conv1 … fc2) |")), "{md}");
    assert!(s.notes.is_empty(), "{:?}", s.notes);
}

#[test]
fn an_older_run_folder_reports_and_compares_with_a_newer_one() {
    let tmp = temp();
    let old = run_in(&tmp, "old", &Spec::default());
    make_old(&old);
    let s = xtask::write_report(&old, None, Format::Svg).expect("report of an older run");
    assert_eq!(s.figures.len(), report_figures().len(), "no histogram figures without histograms");
    assert!(s.headline.iter().all(|h| h.layers == LAYERS), "the widths give the layers");
    assert!(!std::fs::read_to_string(&s.html).expect("html").contains(HISTOGRAM_FIGURES[0]));
    let text = texts_in(&s.out_dir.join("fig2-grad-heatmap.svg"));
    assert!(text.lines().any(|l| l == "1") && !text.contains("layers.0"), "layers by number:\n{text}");

    // A newer run of an MLP: its `layers.i` names are only positions, so layers keep their numbers.
    let mlp = run_in(&tmp, "mlp", &Spec { histograms: true, seed: 7, ..Spec::default() });
    let s = xtask::write_report(&mlp, None, Format::Svg).expect("report of a newer MLP run");
    assert!(!texts_in(&s.out_dir.join("fig3-grad-bars.svg")).contains("layers.0"));
    assert!(s.figures[0].reading.contains("layer 1 of sigmoid receives"), "{}", s.figures[0].reading);

    // Side by side: the histogram figures are there, empty for the older run.
    let out = tmp.path().join("cmp");
    let c = xtask::write_compare(&[old, mlp], Some(&out), Format::Svg).expect("compare");
    assert_eq!(c.figures.len(), report_figures().len() + HISTOGRAM_FIGURES.len());
    assert_eq!(series_in(&out.join(format!("{}.svg", HISTOGRAM_FIGURES[0]))), 16, "only the newer run's rows");
    let text = texts_in(&out.join(format!("{}.svg", HISTOGRAM_FIGURES[0])));
    assert!(text.contains(&format!("no rows in {}", runfolder::HISTOGRAMS)), "{text}");
}

#[test]
fn tutorial_figures_come_from_the_chain_solver() {
    let tmp = temp();
    let s = xtask::write_tutorial_figures(tmp.path(), Format::Both).expect("tutorial figures");
    for stem in ["sigmoid-derivative", "tutorial-gradients"] {
        assert!(tmp.path().join(format!("{stem}.png")).is_file());
        let n = series_in(&tmp.path().join(format!("{stem}.svg")));
        assert_eq!(n, 2, "{stem}");
    }
    assert!(s.figures[0].reading.contains("0.25"), "{}", s.figures[0].reading);
    let svg = std::fs::read_to_string(tmp.path().join("tutorial-gradients.svg")).expect("svg");
    // The tutorial's own numbers, as bar labels.
    for v in ["4.24e−4", "3.87e−3", "3.20e−2", "9.22e−2"] {
        assert!(svg.contains(v), "{v} missing");
    }
}

#[test]
fn recurrent_runs_show_the_error_through_time_and_its_ratio() {
    let tmp = temp();
    let run = run_in(&tmp, "through-time", &Spec { recurrent: true, ..Spec::default() });
    let s = xtask::write_report(&run, None, Format::Svg).expect("report of a recurrent run");
    let expected: Vec<&str> = report_figures().into_iter().chain(TIME_FIGURES).collect();
    assert_eq!(s.figures.iter().map(|f| f.slug.as_str()).collect::<Vec<_>>(), expected);
    let html = std::fs::read_to_string(&s.html).expect("index.html");
    let md = std::fs::read_to_string(&s.markdown).expect("report.md");
    // A row per time step in each model's heatmap (2 × T), init and end per model (2 × 2),
    // and the LSTM's gate at init and end.
    for (stem, want) in TIME_FIGURES.into_iter().zip([2 * T as usize, 4, 2]) {
        assert_eq!(series_in(&s.out_dir.join(format!("{stem}.svg"))), want, "{stem}");
        assert!(html.contains(&format!("href=\"{stem}.svg\"")), "index.html does not link {stem}");
        assert!(md.contains(&format!("({stem}.svg)")), "report.md does not show {stem}");
    }

    // The headline's time ratio ‖dL/dh₁‖ / ‖dL/dh_T‖ of the first recurrent layer at
    // initialization and at the end: 0.7^19 and 0.6^19 for the RNN, 0.98^19 for the LSTM.
    let rnn = s.headline.iter().find(|h| h.model == "sigmoid").expect("the RNN");
    let (start, end) = (rnn.time_ratio_start.expect("start"), rnn.time_ratio_end.expect("end"));
    assert!((start / 0.7f64.powi(19) - 1.0).abs() < 1e-9 && (end / 0.6f64.powi(19) - 1.0).abs() < 1e-9, "{start} {end}");
    assert!(md.contains("| Grad ratio at end | Time ratio at start | Time ratio at end | Stalled |"), "{md}");
    assert!(row_of(&md, "sigmoid").contains("| 1.1e-3 | 6.1e-5 |"), "{}", row_of(&md, "sigmoid"));
    assert!(row_of(&md, "relu").contains("| 0.68 | 0.68 |"), "{}", row_of(&md, "relu"));
    assert!(md.contains("*Time ratio.*") && html.contains("<b>Time ratio.</b>"));

    // The captions read the data, name the stacked model's layer and say what to look for.
    let caption = |stem: &str| &s.figures.iter().find(|f| f.slug == stem).expect(stem).reading;
    let heat = caption(TIME_FIGURES[0]);
    assert!(heat.contains("the error reaching t = 1 of sigmoid is 6.1e-5 of that at t = 20"), "{heat}");
    assert!(heat.contains("layer 1 of sigmoid (2 recurrent layers)") && heat.contains("Look for"), "{heat}");
    let profile = caption(TIME_FIGURES[1]);
    assert!(
        profile.starts_with("At the end (epoch 3), the error reaching t = 1 is 6.1e-5 of that at t = 20 for sigmoid (a factor of 0.60 per step back; 1.1e-3 at initialization (epoch 0))"),
        "{profile}"
    );
    assert!(profile.contains("0.68 of that at t = 20 for relu"), "{profile}");
    let gates = caption(TIME_FIGURES[2]);
    assert!(gates.contains("forget gate of relu averages 0.80 over t at the end (epoch 3), from 0.50"), "{gates}");
    assert!(html.contains("farthest from the loss"), "the caption on the page says which layer is shown");
    // Panel titles name a recurrent model's kind where its name does not, and its hidden size.
    let heat_text = texts_in(&s.out_dir.join(format!("{}.svg", TIME_FIGURES[0])));
    assert!(heat_text.contains("sigmoid · RNN, 4 layers, hidden 8"), "{heat_text}");

    // Without the file (a run from before it, or a lost one), the report still works: no
    // figures through time, and the ratio is not known.
    std::fs::remove_file(run.join(runfolder::TIME_STEPS)).expect("rm");
    let s = xtask::write_report(&run, Some(&tmp.path().join("without")), Format::Svg).expect("report without the file");
    assert_eq!(s.figures.iter().map(|f| f.slug.as_str()).collect::<Vec<_>>(), report_figures());
    let md = std::fs::read_to_string(&s.markdown).expect("report.md");
    assert!(row_of(&md, "sigmoid").contains("| — | — |"), "{md}");
}

#[test]
fn feed_forward_runs_keep_their_table_and_read_as_a_dash_beside_recurrent_ones() {
    let tmp = temp();
    // A feed-forward run of this version: time_steps.csv holds its header only.
    let ff = run_in(&tmp, "mlp", &Spec::default());
    let header = std::fs::read_to_string(ff.join(runfolder::TIME_STEPS)).expect("time_steps.csv");
    assert_eq!(header.trim_end(), runfolder::header(&runfolder::TIME_STEPS_COLUMNS));
    let s = xtask::write_report(&ff, None, Format::Svg).expect("report");
    assert_eq!(s.figures.iter().map(|f| f.slug.as_str()).collect::<Vec<_>>(), report_figures());
    let md = std::fs::read_to_string(&s.markdown).expect("report.md");
    assert!(!md.contains("Time ratio"), "{md}");
    assert!(s.headline.iter().all(|h| !h.recurrent && h.time_ratio_end.is_none()));

    // Beside a recurrent run, the feed-forward models' time ratios are a dash.
    let rec = run_in(&tmp, "rnn", &Spec { recurrent: true, seed: 7, ..Spec::default() });
    let out = tmp.path().join("cmp");
    let c = xtask::write_compare(&[ff, rec], Some(&out), Format::Svg).expect("compare");
    let md = std::fs::read_to_string(&c.markdown).expect("report.md");
    let row = |label: &str, model: &str| {
        md.lines()
            .find(|l| l.starts_with(&format!("| {label} | {model} |")))
            .unwrap_or_else(|| panic!("no row for {label} {model}:\n{md}"))
            .to_string()
    };
    assert!(row("default (seed 42)", "sigmoid").contains("| — | — | yes |"), "{md}");
    assert!(row("default (seed 7)", "sigmoid").contains("| 1.1e-3 | 6.1e-5 |"), "{md}");
    // The heatmap has a panel for each recurrent model only.
    let slugs: Vec<&str> = c.figures.iter().map(|f| f.slug.as_str()).collect();
    assert!(TIME_FIGURES.iter().all(|f| slugs.contains(f)), "{slugs:?}");
    assert_eq!(series_in(&out.join(format!("{}.svg", TIME_FIGURES[0]))), 2 * T as usize);
}
