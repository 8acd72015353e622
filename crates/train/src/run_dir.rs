//! The run folder: the one contract between `train` and the report tooling (see
//! ARCHITECTURE.md). Every file is valid CSV/JSON at every moment of a run.

use anyhow::{Context, Result, bail};
use serde::Serialize;
use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// The header of `epochs.csv`.
pub const EPOCHS_HEADER: &str =
    "model,epoch,train_loss,train_accuracy,test_loss,test_accuracy,seconds,valid_loss,valid_accuracy";
/// The header of `steps.csv`.
pub const STEPS_HEADER: &str = "model,epoch,step,loss,grad_norm,grad_norm_clipped";
/// The header of `layers.csv`.
pub const LAYERS_HEADER: &str = "model,epoch,step,source,layer,metric,value";
/// The header of `layer_epochs.csv`.
pub const LAYER_EPOCHS_HEADER: &str = "model,epoch,layer,metric,mean,min,max,count";

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Running,
    Completed,
    Interrupted,
    Diverged,
    Failed,
}

/// `manifest.json`.
#[derive(Clone, Debug, Serialize)]
pub struct Manifest {
    pub name: String,
    pub status: Status,
    pub reason: Option<String>,
    pub seed: u64,
    pub backend: String,
    pub threads: usize,
    /// Whether subnormal float32 values were flushed to zero on the training threads.
    pub flush_denormals: bool,
    pub version: String,
    pub git_revision: Option<String>,
    pub started_at: String,
    pub ended_at: Option<String>,
    pub dataset: DatasetInfo,
    pub task: String,
    pub loss: String,
    pub models: Vec<ModelInfo>,
    pub telemetry: TelemetryInfo,
}

#[derive(Clone, Debug, Serialize)]
pub struct DatasetInfo {
    pub source: String,
    pub features: usize,
    pub classes: Option<usize>,
    pub outputs: usize,
    pub train: usize,
    pub valid: usize,
    pub test: usize,
    pub probe: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct ModelInfo {
    pub name: String,
    pub activation: String,
    pub output_activation: String,
    pub init: String,
    pub bias_init: String,
    pub layers: Vec<usize>,
    pub parameters: usize,
    pub weights: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct TelemetryInfo {
    pub enabled: bool,
    pub every: usize,
    pub early_steps: Vec<usize>,
    pub probe: usize,
}

/// An append-only CSV file whose rows are written whole; `flush` makes them durable.
struct Csv {
    path: PathBuf,
    out: BufWriter<File>,
}

impl Csv {
    fn create(dir: &Path, name: &str, header: &str) -> Result<Csv> {
        let path = dir.join(name);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        let mut csv = Csv { path, out: BufWriter::new(file) };
        csv.row(header)?;
        csv.flush()?;
        Ok(csv)
    }

    fn row(&mut self, line: &str) -> Result<()> {
        writeln!(self.out, "{line}").with_context(|| format!("cannot write {}", self.path.display()))
    }

    fn flush(&mut self) -> Result<()> {
        self.out.flush().with_context(|| format!("cannot write {}", self.path.display()))
    }
}

/// The open run folder.
pub struct RunDir {
    pub path: PathBuf,
    epochs: Csv,
    steps: Csv,
    layers: Csv,
    layer_epochs: Csv,
}

/// A layer metric row of `layers.csv`.
pub struct LayerRow<'a> {
    pub model: &'a str,
    pub epoch: usize,
    pub step: usize,
    pub source: &'static str,
    pub layer: usize,
    pub metric: &'static str,
    pub value: f64,
}

impl RunDir {
    /// Creates the folder (which must not exist, or be empty) and its CSV files with their
    /// headers, and writes the resolved config.
    pub fn create(path: &Path, config_toml: &str) -> Result<RunDir> {
        if path.exists() {
            let mut entries =
                fs::read_dir(path).with_context(|| format!("output folder {} exists and cannot be read", path.display()))?;
            if entries.next().is_some() {
                bail!("output folder {} exists and is not empty; choose another --out or remove it", path.display());
            }
        }
        fs::create_dir_all(path).with_context(|| format!("cannot create output folder {}", path.display()))?;
        write_atomic(&path.join("config.toml"), config_toml.as_bytes())?;
        Ok(RunDir {
            path: path.to_path_buf(),
            epochs: Csv::create(path, "epochs.csv", EPOCHS_HEADER)?,
            steps: Csv::create(path, "steps.csv", STEPS_HEADER)?,
            layers: Csv::create(path, "layers.csv", LAYERS_HEADER)?,
            layer_epochs: Csv::create(path, "layer_epochs.csv", LAYER_EPOCHS_HEADER)?,
        })
    }

    /// Rewrites `manifest.json` atomically.
    pub fn write_manifest(&self, manifest: &Manifest) -> Result<()> {
        let json = serde_json::to_string_pretty(manifest).context("cannot serialize the manifest")?;
        write_atomic(&self.path.join("manifest.json"), json.as_bytes())
    }

    #[allow(clippy::too_many_arguments)]
    pub fn epoch_row(
        &mut self,
        model: &str,
        epoch: usize,
        train: (f64, Option<f64>),
        test: (f64, Option<f64>),
        seconds: f64,
        valid: Option<(f64, Option<f64>)>,
    ) -> Result<()> {
        let opt = |v: Option<f64>| v.map(num).unwrap_or_default();
        let (vl, va) = valid.map_or((String::new(), String::new()), |(l, a)| (num(l), opt(a)));
        self.epochs.row(&format!(
            "{model},{epoch},{},{},{},{},{seconds:.3},{vl},{va}",
            num(train.0),
            opt(train.1),
            num(test.0),
            opt(test.1)
        ))?;
        self.epochs.flush()
    }

    pub fn step_row(&mut self, model: &str, epoch: usize, step: usize, loss: f64, norm: f64, clipped: f64) -> Result<()> {
        self.steps.row(&format!("{model},{epoch},{step},{},{},{}", num(loss), num(norm), num(clipped)))
    }

    pub fn layer_row(&mut self, r: &LayerRow<'_>) -> Result<()> {
        self.layers.row(&format!(
            "{},{},{},{},{},{},{}",
            r.model,
            r.epoch,
            r.step,
            r.source,
            r.layer,
            r.metric,
            num(r.value)
        ))
    }

    #[allow(clippy::too_many_arguments)]
    pub fn layer_epoch_row(
        &mut self,
        model: &str,
        epoch: usize,
        layer: usize,
        metric: &str,
        mean: f64,
        min: f64,
        max: f64,
        count: usize,
    ) -> Result<()> {
        self.layer_epochs.row(&format!("{model},{epoch},{layer},{metric},{},{},{},{count}", num(mean), num(min), num(max)))
    }

    /// Makes every row written so far durable: called after each logged step and epoch, so
    /// that a crash loses at most the current step.
    pub fn flush(&mut self) -> Result<()> {
        self.steps.flush()?;
        self.layers.flush()?;
        self.layer_epochs.flush()?;
        self.epochs.flush()
    }
}

/// A number as CSV text: the shortest form that reads back to the same f64 (so 1e-30 stays
/// 1e-30), in exponent form for very small and very large magnitudes.
pub fn num(v: f64) -> String {
    let a = v.abs();
    if v == 0.0 {
        "0".to_string()
    } else if (1e-4..1e7).contains(&a) {
        format!("{v}")
    } else {
        format!("{v:e}")
    }
}

/// Writes a file through a temporary sibling and a rename, so that readers never see it
/// half-written.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

/// The time now as an RFC 3339 UTC timestamp.
pub fn now_rfc3339() -> String {
    let (date, time) = utc_parts(SystemTime::now());
    format!("{}-{:02}-{:02}T{:02}:{:02}:{:02}Z", date.0, date.1, date.2, time.0, time.1, time.2)
}

/// The time now as a folder stamp, `YYYYmmdd-HHMMSS` (UTC).
pub fn now_stamp() -> String {
    let (date, time) = utc_parts(SystemTime::now());
    format!("{}{:02}{:02}-{:02}{:02}{:02}", date.0, date.1, date.2, time.0, time.1, time.2)
}

/// Civil date and time of day in UTC, by Howard Hinnant's days-to-civil algorithm.
fn utc_parts(t: SystemTime) -> ((i64, u32, u32), (u32, u32, u32)) {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    ((year, month, day), ((rem / 3600) as u32, (rem % 3600 / 60) as u32, (rem % 60) as u32))
}

/// The git revision of the working directory, when it is a git checkout and git is there.
pub fn git_revision() -> Option<String> {
    let out = std::process::Command::new("git").args(["rev-parse", "HEAD"]).output();
    match out {
        Ok(o) if o.status.success() => {
            let rev = String::from_utf8_lossy(&o.stdout).trim().to_string();
            (!rev.is_empty()).then_some(rev)
        }
        // No git, or not a checkout: the manifest records null, which is the truth.
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_round_trip_at_any_magnitude() {
        for v in [1e-30, -2.5e-45, 0.1, 123.25, 3e12, 0.0] {
            assert_eq!(num(v).parse::<f64>().unwrap(), v);
        }
        assert_eq!(num(1e-30), "1e-30");
    }

    #[test]
    fn civil_date() {
        // 2026-11-29T13:39:24Z is 1795959564 seconds after the epoch.
        let t = UNIX_EPOCH + std::time::Duration::from_secs(1_795_959_564);
        assert_eq!(utc_parts(t), ((2026, 11, 29), (13, 39, 24)));
    }
}
