//! Feature tests of `cargo xtask report`, `compare` and `tutorial-figures`: synthetic but
//! realistic run folders, written here per the contract in ARCHITECTURE.md, go through the
//! xtask library, and the figures, page and errors that come out are checked.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use xtask::{Error, Format, RunError};

/// The seven figure stems, in page order.
const FIGURES: [&str; 7] = [
    "fig1-grad-norms",
    "fig2-grad-heatmap",
    "fig3-grad-bars",
    "fig4-loss-accuracy",
    "fig5-saturation",
    "fig6-update-ratio",
    "fig7-delta-norms",
];

/// How a synthetic run differs from a healthy completed one.
#[derive(Clone)]
struct Spec {
    seed: u64,
    status: &'static str,
    reason: Option<&'static str>,
    epochs: u32,
    regression: bool,
}

impl Default for Spec {
    fn default() -> Spec {
        Spec { seed: 42, status: "completed", reason: None, epochs: 3, regression: false }
    }
}

const LAYERS: u32 = 4;
const STEPS_PER_EPOCH: u64 = 8;
const EVERY: u64 = 4;

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
        ("grad_norm_weight", g),
        ("grad_norm_bias", g * 0.3),
        ("delta_norm", g * 0.05),
        ("weight_norm", 2.0 + 0.01 * t),
        ("dist_from_init", 0.001 * t),
        ("act_mean", 0.5),
        ("act_std", 0.2),
        ("grad_underflow", if g == 0.0 { 1.0 } else { 0.0 }),
    ];
    if train {
        m.push(("update_ratio", g * 0.01 + 1e-7));
    }
    if hidden && model == "sigmoid" {
        m.push(("saturation", 0.1 * f64::from(layer) + 0.01 * t));
    }
    if hidden && model == "relu" {
        m.push(("dead_fraction", 0.02 * f64::from(layer)));
    }
    m
}

/// Writes a run folder with the models "sigmoid" and "relu" (4 layers each).
fn write_run(dir: &Path, spec: &Spec) {
    std::fs::create_dir_all(dir).expect("mkdir");
    let models = ["sigmoid", "relu"];
    let task = if spec.regression { "regression" } else { "classification" };
    let manifest = serde_json::json!({
        "name": "default",
        "status": spec.status,
        "reason": spec.reason,
        "seed": spec.seed,
        "backend": "flex",
        "threads": 2,
        "version": "0.1.0",
        "git_revision": "3f2c1d0abcdef",
        "started_at": "2026-11-29T14:03:11Z",
        "ended_at": if spec.status == "running" { serde_json::Value::Null } else { "2026-11-29T14:05:02Z".into() },
        "dataset": { "source": "spiral", "features": 16, "classes": 10, "outputs": 10, "train": 800, "valid": 0, "test": 200, "probe": 100 },
        "task": task,
        "loss": if spec.regression { "mse" } else { "cross-entropy" },
        "models": models.iter().map(|m| serde_json::json!({
            "name": m, "activation": m, "output_activation": "none", "init": "xavier-uniform", "bias_init": "zeros",
            "layers": [16, 8, 8, 8, 10], "parameters": 450, "weights": format!("{m}.bpk")
        })).collect::<Vec<_>>(),
        "telemetry": { "enabled": true, "every": EVERY, "early_steps": [1, 2], "probe": 100 }
    });
    std::fs::write(dir.join("manifest.json"), serde_json::to_string_pretty(&manifest).expect("json")).expect("write");
    std::fs::write(
        dir.join("config.toml"),
        format!("name = \"default\"\nseed = {}\n\n[train]\nepochs = {}\n", spec.seed, spec.epochs),
    )
    .expect("write");

    let mut epochs = String::from(
        "model,epoch,train_loss,train_accuracy,test_loss,test_accuracy,seconds,valid_loss,valid_accuracy\n",
    );
    let mut steps = String::from("model,epoch,step,loss,grad_norm,grad_norm_clipped\n");
    let mut layers = String::from("model,epoch,step,source,layer,metric,value\n");
    let mut layer_epochs = String::from("model,epoch,layer,metric,mean,min,max,count\n");
    for model in models {
        let learns = if model == "relu" { 1.0 } else { 0.1 };
        for e in 0..=spec.epochs {
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
            let step = u64::from(e) * STEPS_PER_EPOCH;
            for layer in 1..=LAYERS {
                for (metric, v) in metrics(model, layer, step as f64, false) {
                    writeln!(layers, "{model},{e},{step},probe,{layer},{metric},{v:e}").expect("fmt");
                }
            }
        }
        for (e, s) in logged_steps(spec.epochs) {
            writeln!(steps, "{model},{e},{s},{:e},{:e},{:e}", 2.3 - 0.01 * s as f64, 0.5, 0.5).expect("fmt");
            for layer in 1..=LAYERS {
                for (metric, v) in metrics(model, layer, s as f64, true) {
                    writeln!(layers, "{model},{e},{s},train,{layer},{metric},{v:e}").expect("fmt");
                }
            }
        }
        for e in 1..=spec.epochs {
            let in_epoch: Vec<u64> = logged_steps(spec.epochs).into_iter().filter(|p| p.0 == e).map(|p| p.1).collect();
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
    std::fs::write(dir.join("epochs.csv"), epochs).expect("write");
    std::fs::write(dir.join("steps.csv"), steps).expect("write");
    std::fs::write(dir.join("layers.csv"), layers).expect("write");
    std::fs::write(dir.join("layer_epochs.csv"), layer_epochs).expect("write");
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
    assert_eq!(s.figures.len(), FIGURES.len());
    for stem in FIGURES {
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
    // test) × (loss, accuracy); 3 hidden layers with saturation or dead units per model.
    let expected = [8, 8, 4, 8, 6, 8, 8];
    for ((stem, want), fig) in FIGURES.iter().zip(expected).zip(&s.figures) {
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
    assert!(md.lines().any(|l| l.starts_with("| sigmoid |") && l.trim_end().ends_with("| yes |")), "{md}");
    assert!(md.lines().any(|l| l.starts_with("| relu |") && l.trim_end().ends_with("| no |")), "{md}");
    assert!(md.contains("A model is stalled when"));
    for stem in FIGURES {
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
    let expected = [16, 16, 8, 16, 12, 16, 16];
    for (stem, want) in FIGURES.iter().zip(expected) {
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
    let path = run.join("layers.csv");
    let text = std::fs::read_to_string(&path).expect("read");
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines[4] = "sigmoid,0,0,probe,1,grad_norm_weight,abc".to_string();
    std::fs::write(&path, lines.join("\n") + "\n").expect("write");
    let err = xtask::write_report(&run, None, Format::Svg).expect_err("malformed");
    match &err {
        Error::Run(RunError::Csv { path: p, line, .. }) => {
            assert!(p.ends_with("layers.csv"));
            assert_eq!(*line, 5);
        }
        other => panic!("expected a CSV error, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(msg.contains("layers.csv:5:") && msg.contains("value") && msg.contains("abc"), "{msg}");

    // A wrong header is line 1, and says what was expected.
    std::fs::write(run.join("steps.csv"), "model,epoch,step,loss\nsigmoid,1,1,2.3\n").expect("write");
    std::fs::write(&path, text).expect("restore");
    let err = xtask::write_report(&run, None, Format::Svg).expect_err("header");
    let msg = err.to_string();
    assert!(msg.contains("steps.csv:1:") && msg.contains("grad_norm"), "{msg}");

    // A row with a field too few, in the middle of a file.
    let good = {
        let t = temp();
        write_run(t.path(), &Spec::default());
        std::fs::read_to_string(t.path().join("steps.csv")).expect("read")
    };
    let mut rows: Vec<&str> = good.lines().collect();
    rows[2] = "sigmoid,1,2,2.2";
    std::fs::write(run.join("steps.csv"), rows.join("\n") + "\n").expect("write");
    let msg = xtask::write_report(&run, None, Format::Svg).expect_err("short row").to_string();
    assert!(msg.contains("steps.csv:3:") && msg.contains("expected 6 fields"), "{msg}");
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
    std::fs::remove_file(run.join("layers.csv")).expect("rm");
    let err = xtask::write_report(&run, None, Format::Svg).expect_err("missing csv");
    assert!(matches!(err, Error::Run(RunError::MissingFile { .. })), "{err:?}");
    assert!(err.to_string().contains("layers.csv: missing"), "{err}");

    std::fs::write(run.join("manifest.json"), "{ \"name\": \"x\", ").expect("write");
    let err = xtask::write_report(&run, None, Format::Svg).expect_err("bad json");
    assert!(err.to_string().contains("manifest.json") && err.to_string().contains("line"), "{err}");
    assert_eq!(err.to_string().lines().count(), 1, "one line: {err}");
}

#[test]
fn interrupted_and_diverged_runs_are_reported_with_a_note() {
    let tmp = temp();
    let spec = Spec {
        status: "interrupted",
        reason: Some("stopped with Ctrl-C during epoch 2"),
        epochs: 1,
        ..Spec::default()
    };
    let run = run_in(&tmp, "int", &spec);
    // The run was stopped while writing a row: the last line is cut short.
    let layers = run.join("layers.csv");
    let mut text = std::fs::read_to_string(&layers).expect("read");
    text.push_str("relu,2,12,train,3,grad_no");
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
        &Spec { status: "diverged", reason: Some("loss became NaN at step 13"), ..Spec::default() },
    );
    let s = xtask::write_report(&run, None, Format::Svg).expect("report of a diverged run");
    let html = std::fs::read_to_string(&s.html).expect("html");
    assert!(html.contains("This run diverged (loss became NaN at step 13)"), "no diverged note");

    // A run that died right after initialization: only epoch 0, no train rows.
    let run = run_in(&tmp, "early", &Spec { status: "running", epochs: 0, ..Spec::default() });
    let s = xtask::write_report(&run, None, Format::Svg).expect("report of a run with epoch 0 only");
    assert!(s.notes.iter().any(|n| n.contains("still running")));
    assert_eq!(s.figures.len(), FIGURES.len());
}

#[test]
fn regression_runs_plot_loss_only() {
    let tmp = temp();
    let run = run_in(&tmp, "reg", &Spec { regression: true, ..Spec::default() });
    let s = xtask::write_report(&run, None, Format::Svg).expect("report");
    assert_eq!(series_in(&s.out_dir.join("fig4-loss-accuracy.svg")), 4);
    assert!(s.headline.iter().all(|h| h.test_accuracy.is_none() && h.test_loss.is_some()));
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
