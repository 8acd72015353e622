//! `cargo xtask bench-compare`: the project's training throughput against PyTorch's on the
//! same machine, run in alternating rounds so that machine noise hits both alike.
//!
//! Each round runs `train bench` and the reference script (same configurations and JSON-lines
//! fields) for one configuration, one after the other: `bench/pytorch_mlp.py` for the MLPs a
//! to e, `bench/pytorch_rnn.py` for the recurrent `rnn`, `lstm` and `gru` (the adding
//! problem at T = 100), `bench/pytorch_cnn.py` for the CNN `cnn`. The ratio reported is
//! project steps/s over PyTorch steps/s: above 1, the
//! project is faster.

use anyhow::{Context, Result, bail};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What to compare.
pub struct BenchCompare {
    /// Configurations a to e (MLPs), rnn, lstm and gru (recurrent), cnn.
    pub configs: Vec<String>,
    /// Alternating rounds per configuration.
    pub rounds: usize,
    /// Timed repeats inside each program's run.
    pub repeats: usize,
    /// The Python interpreter that has torch.
    pub python: PathBuf,
    /// Threads for both.
    pub threads: usize,
    /// Flush subnormal floats to zero in both, or keep IEEE arithmetic in both.
    pub flush_denormals: bool,
    /// The workspace root.
    pub root: PathBuf,
}

/// One measured median: (config, mode) -> steps per second, per round.
#[derive(Debug, Default)]
struct Medians {
    rows: Vec<(String, String, String, f64)>,
}

impl Medians {
    fn add(&mut self, implementation: &str, summary: &Value) {
        let config = summary["config"].as_str().unwrap_or("?").to_string();
        // The reference script calls its telemetry mode `gradnorm`: both log every layer's
        // gradient norm, so they are compared with each other.
        let mode = match summary["mode"].as_str().unwrap_or("?") {
            "gradnorm" => "telemetry".to_string(),
            m => m.to_string(),
        };
        if let Some(v) = summary["steps_per_s_median"].as_f64() {
            self.rows.push((implementation.to_string(), config, mode, v));
        }
    }

    fn median(&self, implementation: &str, config: &str, mode: &str) -> Option<f64> {
        let mut v: Vec<f64> = self
            .rows
            .iter()
            .filter(|r| r.0 == implementation && r.1 == config && r.2 == mode)
            .map(|r| r.3)
            .collect();
        v.sort_by(f64::total_cmp);
        (!v.is_empty()).then(|| if v.len() % 2 == 1 { v[v.len() / 2] } else { (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2.0 })
    }
}

/// The MLP configurations of `train bench` and `bench/pytorch_mlp.py`.
pub const MLP_CONFIGS: [&str; 5] = ["a", "b", "c", "d", "e"];

/// The recurrent configurations of `train bench` and `bench/pytorch_rnn.py`.
pub const RNN_CONFIGS: [&str; 3] = ["rnn", "lstm", "gru"];

/// The CNN configuration of `train bench` and `bench/pytorch_cnn.py`.
pub const CNN_CONFIGS: [&str; 1] = ["cnn"];

/// The reference script of a configuration, relative to the workspace root.
pub fn reference_script(config: &str) -> Result<&'static str> {
    if MLP_CONFIGS.contains(&config) {
        Ok("bench/pytorch_mlp.py")
    } else if RNN_CONFIGS.contains(&config) {
        Ok("bench/pytorch_rnn.py")
    } else if CNN_CONFIGS.contains(&config) {
        Ok("bench/pytorch_cnn.py")
    } else {
        let known: Vec<&str> = MLP_CONFIGS.iter().chain(&RNN_CONFIGS).chain(&CNN_CONFIGS).copied().collect();
        bail!("--config: unknown configuration `{config}` (expected one of {})", known.join(", "))
    }
}

/// Runs the comparison and returns a Markdown table of the results.
pub fn run(b: &BenchCompare) -> Result<String> {
    // Every configuration is checked before the first, long, round starts.
    let mut scripts = Vec::new();
    for config in &b.configs {
        let script = b.root.join(reference_script(config)?);
        if !script.is_file() {
            bail!("the reference script {} is missing", script.display());
        }
        scripts.push(script);
    }
    let mut medians = Medians::default();
    for (config, script) in b.configs.iter().zip(&scripts) {
        let script_name = script.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        for round in 0..b.rounds {
            eprintln!("{config}: round {} of {}", round + 1, b.rounds);
            let ours = Command::new("cargo")
                .current_dir(&b.root)
                .env("RAYON_NUM_THREADS", b.threads.to_string())
                .args(["run", "-q", "-p", "train", "--", "bench", "--config", config, "--repeats"])
                .arg(b.repeats.to_string())
                .args(["--flush-denormals", if b.flush_denormals { "true" } else { "false" }])
                .output()
                .context("cannot run `cargo run -p train -- bench`")?;
            collect(&mut medians, "project", &ours, "train bench")?;
            let theirs = Command::new(&b.python)
                .arg(script)
                .args(["--config", config, "--modes", "plain,gradnorm", "--threads"])
                .arg(b.threads.to_string())
                .args(["--repeats", &b.repeats.to_string()])
                .args(b.flush_denormals.then_some("--flush-denormal"))
                .output()
                .with_context(|| format!("cannot run {} {}", b.python.display(), script.display()))?;
            collect(&mut medians, "pytorch", &theirs, &script_name)?;
        }
    }
    let mut table = String::from(
        "| config | mode | project ms/step | PyTorch ms/step | ratio (project/PyTorch throughput) |\n|---|---|---:|---:|---:|\n",
    );
    for config in &b.configs {
        for mode in ["plain", "telemetry"] {
            let (p, t) = (medians.median("project", config, mode), medians.median("pytorch", config, mode));
            let ms = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{:.1}", 1e3 / v));
            let ratio = match (p, t) {
                (Some(p), Some(t)) => format!("{:.2}", p / t),
                _ => "-".to_string(),
            };
            table.push_str(&format!("| {config} | {mode} | {} | {} | {ratio} |\n", ms(p), ms(t)));
        }
    }
    Ok(table)
}

/// The `kind` of the summary lines: `train bench` writes `mlp_summary` for every model, the
/// reference scripts one kind each.
const SUMMARY_KINDS: [&str; 3] = ["mlp_summary", "rnn_summary", "cnn_summary"];

/// Takes the summary lines of one program's output.
fn collect(m: &mut Medians, implementation: &str, out: &std::process::Output, what: &str) -> Result<()> {
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        bail!("{what} failed: {}", err.lines().last().unwrap_or("no message"));
    }
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if let Ok(v) = serde_json::from_str::<Value>(line)
            && v["kind"].as_str().is_some_and(|k| SUMMARY_KINDS.contains(&k))
        {
            m.add(implementation, &v);
        }
    }
    Ok(())
}

/// The workspace root: the folder above xtask's manifest.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_configuration_has_its_reference_script() {
        assert_eq!(reference_script("a").expect("a"), "bench/pytorch_mlp.py");
        assert_eq!(reference_script("e").expect("e"), "bench/pytorch_mlp.py");
        assert_eq!(reference_script("rnn").expect("rnn"), "bench/pytorch_rnn.py");
        assert_eq!(reference_script("lstm").expect("lstm"), "bench/pytorch_rnn.py");
        assert_eq!(reference_script("gru").expect("gru"), "bench/pytorch_rnn.py");
        assert_eq!(reference_script("cnn").expect("cnn"), "bench/pytorch_cnn.py");
        let err = reference_script("f").expect_err("no configuration f").to_string();
        assert!(err.contains("`f`") && err.contains("one of a, b, c, d, e, rnn, lstm, gru, cnn"), "{err}");
        for script in ["bench/pytorch_mlp.py", "bench/pytorch_rnn.py", "bench/pytorch_cnn.py"] {
            assert!(workspace_root().join(script).is_file(), "{script} is missing");
        }
    }

    #[test]
    fn summaries_of_both_scripts_are_collected() {
        let mut m = Medians::default();
        for line in [
            r#"{"kind":"rnn_summary","config":"lstm","mode":"gradnorm","steps_per_s_median":25.0}"#,
            r#"{"kind":"mlp_summary","config":"a","mode":"plain","steps_per_s_median":100.0}"#,
            r#"{"kind":"rnn_repeat","config":"lstm","mode":"plain","steps_per_s_median":1.0}"#,
        ] {
            let v: Value = serde_json::from_str(line).expect("json");
            if v["kind"].as_str().is_some_and(|k| SUMMARY_KINDS.contains(&k)) {
                m.add("pytorch", &v);
            }
        }
        assert_eq!(m.median("pytorch", "lstm", "telemetry"), Some(25.0));
        assert_eq!(m.median("pytorch", "a", "plain"), Some(100.0));
        assert_eq!(m.median("pytorch", "lstm", "plain"), None);
    }
}
