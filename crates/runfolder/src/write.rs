//! Writing a run folder: files created whole with their headers, rows appended whole, the
//! manifest replaced atomically, so that every file is valid CSV/JSON at every moment.

use crate::manifest::Manifest;
use crate::names::{self, header};
use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// A file of the run folder that could not be written. The message names the file.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("output folder {} exists and is not empty; choose another output folder or remove it", path.display())]
    NotEmpty { path: PathBuf },
    #[error("cannot write {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("cannot serialize the manifest: {0}")]
    Json(#[from] serde_json::Error),
    #[error("cannot resume the run in {}: {why}", path.display())]
    Resume { path: PathBuf, why: String },
}

/// Where a resumed run goes on: after `epoch` (its last complete one, 0 for none) and
/// `step` (the last optimizer step written in it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ResumeAt {
    pub epoch: usize,
    pub step: usize,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> WriteError + '_ {
    move |source| WriteError::Io { path: path.to_path_buf(), source }
}

/// An append-only CSV file whose rows are written whole; `flush` makes them durable.
struct Csv {
    path: PathBuf,
    out: BufWriter<File>,
}

impl Csv {
    fn create(dir: &Path, name: &str, columns: &[&str]) -> Result<Csv, WriteError> {
        let path = dir.join(name);
        let file = OpenOptions::new().write(true).create_new(true).open(&path).map_err(io(&path))?;
        let mut csv = Csv { path, out: BufWriter::new(file) };
        csv.row(format_args!("{}", header(columns)))?;
        csv.flush()?;
        Ok(csv)
    }

    /// Opens an existing file for appending, after checking its header and dropping the rows
    /// of `model` after epoch `keep` (the second column of every file is the epoch).
    fn reopen(dir: &Path, name: &str, columns: &[&str], model: &str, keep: usize) -> Result<Csv, WriteError> {
        let path = dir.join(name);
        let text = fs::read_to_string(&path).map_err(io(&path))?;
        let mut lines = text.lines();
        if lines.next() != Some(header(columns).as_str()) {
            return Err(WriteError::Resume { path, why: "its header is not this version's".to_string() });
        }
        let mut kept = header(columns);
        kept.push('\n');
        for line in lines {
            let mut fields = line.splitn(3, ',');
            let (m, epoch) = (fields.next().unwrap_or(""), fields.next().and_then(|e| e.parse::<usize>().ok()));
            if m != model || epoch.is_some_and(|e| e <= keep) {
                kept.push_str(line);
                kept.push('\n');
            }
        }
        if kept.len() != text.len() {
            write_atomic(&path, kept.as_bytes())?;
        }
        let file = OpenOptions::new().append(true).open(&path).map_err(io(&path))?;
        Ok(Csv { path, out: BufWriter::new(file) })
    }

    fn row(&mut self, line: std::fmt::Arguments<'_>) -> Result<(), WriteError> {
        writeln!(self.out, "{line}").map_err(io(&self.path))
    }

    fn flush(&mut self) -> Result<(), WriteError> {
        self.out.flush().map_err(io(&self.path))
    }
}

/// A row of `epochs.csv`: the means over the epoch's training batches (at epoch 0, the
/// untrained model on the whole training split) and the evaluation after it.
#[derive(Clone, Copy, Debug)]
pub struct EpochRecord<'a> {
    pub model: &'a str,
    pub epoch: usize,
    /// Loss and, for classification, accuracy.
    pub train: (f64, Option<f64>),
    /// `None` for a model without a test set.
    pub test: Option<(f64, Option<f64>)>,
    pub valid: Option<(f64, Option<f64>)>,
    pub seconds: f64,
}

/// A row of `steps.csv`.
#[derive(Clone, Copy, Debug)]
pub struct StepRow<'a> {
    pub model: &'a str,
    pub epoch: usize,
    pub step: usize,
    pub loss: f64,
    pub grad_norm: f64,
    pub grad_norm_clipped: f64,
    /// The learning rate of the step, when the writer knows it.
    pub lr: Option<f64>,
}

/// A row of `layers.csv`.
#[derive(Clone, Copy, Debug)]
pub struct LayerRow<'a> {
    pub model: &'a str,
    pub epoch: usize,
    pub step: usize,
    pub source: &'a str,
    /// 1-based.
    pub layer: usize,
    pub metric: &'a str,
    pub value: f64,
}

/// A row of `params.csv`.
#[derive(Clone, Copy, Debug)]
pub struct ParamRow<'a> {
    pub model: &'a str,
    pub epoch: usize,
    pub step: usize,
    pub source: &'a str,
    pub layer: usize,
    pub param: &'a str,
    pub metric: &'a str,
    pub value: f64,
}

/// A row of `layer_epochs.csv`.
#[derive(Clone, Copy, Debug)]
pub struct LayerEpochRow<'a> {
    pub model: &'a str,
    pub epoch: usize,
    pub layer: usize,
    pub metric: &'a str,
    pub mean: f64,
    pub min: f64,
    pub max: f64,
    pub count: usize,
}

/// A row of `grad_histograms.csv` (bins with a count of 0 are not written).
#[derive(Clone, Copy, Debug)]
pub struct HistogramRow<'a> {
    pub model: &'a str,
    pub epoch: usize,
    pub step: usize,
    pub source: &'a str,
    pub layer: usize,
    pub bin: crate::Bin,
    pub count: u64,
}

/// A row of `time_steps.csv`.
#[derive(Clone, Copy, Debug)]
pub struct TimeStepRow<'a> {
    pub model: &'a str,
    pub epoch: usize,
    pub step: usize,
    pub source: &'a str,
    /// 1-based, the recurrent layer's layer number (as in `layers.csv`).
    pub layer: usize,
    /// 1-based time step.
    pub t: usize,
    pub metric: &'a str,
    pub value: f64,
}

/// An open run folder.
pub struct RunWriter {
    path: PathBuf,
    epochs: Csv,
    steps: Csv,
    layers: Csv,
    layer_epochs: Csv,
    params: Csv,
    histograms: Csv,
    time_steps: Csv,
}

impl RunWriter {
    /// Creates the folder (which must not exist, or be empty), its CSV files with their
    /// headers, and `config.toml` when there is a config to save.
    pub fn create(path: &Path, config_toml: Option<&str>) -> Result<RunWriter, WriteError> {
        if path.exists() {
            let mut entries = fs::read_dir(path).map_err(io(path))?;
            if entries.next().is_some() {
                return Err(WriteError::NotEmpty { path: path.to_path_buf() });
            }
        }
        fs::create_dir_all(path).map_err(io(path))?;
        if let Some(toml) = config_toml {
            write_atomic(&path.join(names::CONFIG), toml.as_bytes())?;
        }
        Ok(RunWriter {
            path: path.to_path_buf(),
            epochs: Csv::create(path, names::EPOCHS, &names::EPOCHS_COLUMNS)?,
            steps: Csv::create(path, names::STEPS, &names::STEPS_COLUMNS)?,
            layers: Csv::create(path, names::LAYERS, &names::LAYERS_COLUMNS)?,
            layer_epochs: Csv::create(path, names::LAYER_EPOCHS, &names::LAYER_EPOCHS_COLUMNS)?,
            params: Csv::create(path, names::PARAMS, &names::PARAMS_COLUMNS)?,
            histograms: Csv::create(path, names::HISTOGRAMS, &names::HISTOGRAMS_COLUMNS)?,
            time_steps: Csv::create(path, names::TIME_STEPS, &names::TIME_STEPS_COLUMNS)?,
        })
    }

    /// Reopens the run folder of a run that did not complete, to go on with `model` after its
    /// last complete epoch (the last row of `epochs.csv` for it): its rows after that epoch
    /// are dropped from every file (a crash or a stop in mid-epoch left them, and the epoch
    /// is trained again), and new rows are appended. `None` when `path` does not exist or is
    /// empty (a new run). A folder of another kind, or whose run completed, is an error.
    pub fn resume(path: &Path, model: &str) -> Result<Option<(RunWriter, Manifest, ResumeAt)>, WriteError> {
        if !path.exists() || fs::read_dir(path).map_err(io(path))?.next().is_none() {
            return Ok(None);
        }
        let manifest_path = path.join(names::MANIFEST);
        if !manifest_path.exists() {
            return Err(WriteError::NotEmpty { path: path.to_path_buf() });
        }
        let text = fs::read_to_string(&manifest_path).map_err(io(&manifest_path))?;
        let manifest: Manifest = serde_json::from_str(&text)
            .map_err(|e| WriteError::Resume { path: path.to_path_buf(), why: format!("{} is not a manifest: {e}", names::MANIFEST) })?;
        if manifest.status == crate::Status::Completed {
            return Err(WriteError::Resume { path: path.to_path_buf(), why: "its run completed; choose another output folder".to_string() });
        }
        if !manifest.models.iter().any(|m| m.name == model) {
            return Err(WriteError::Resume { path: path.to_path_buf(), why: format!("it has no model `{model}`") });
        }
        // Where the run goes on, read with the run folder's own reader: the model's last
        // epoch row, and its last step row up to that epoch.
        let resume = |why: crate::run::RunError| WriteError::Resume { path: path.to_path_buf(), why: why.to_string() };
        let last = |file: &str, columns: &[&str], value: &dyn Fn(&crate::table::Row<'_>) -> Result<Option<u64>, crate::run::RunError>| {
            let table = crate::table::Table::read(&path.join(file), columns).map_err(resume)?;
            let mut max = 0u64;
            for row in table.rows().filter(|r| r.str("model") == model) {
                max = max.max(value(&row).map_err(resume)?.unwrap_or(0));
            }
            Ok::<usize, WriteError>(usize::try_from(max).unwrap_or(usize::MAX))
        };
        let epoch = last(names::EPOCHS, &["model", "epoch"], &|r| r.u64("epoch").map(Some))?;
        let step = last(names::STEPS, &["model", "epoch", "step"], &|r| {
            Ok((r.u64("epoch")? <= epoch as u64).then_some(r.u64("step")?))
        })?;
        let writer = RunWriter {
            path: path.to_path_buf(),
            epochs: Csv::reopen(path, names::EPOCHS, &names::EPOCHS_COLUMNS, model, epoch)?,
            steps: Csv::reopen(path, names::STEPS, &names::STEPS_COLUMNS, model, epoch)?,
            layers: Csv::reopen(path, names::LAYERS, &names::LAYERS_COLUMNS, model, epoch)?,
            layer_epochs: Csv::reopen(path, names::LAYER_EPOCHS, &names::LAYER_EPOCHS_COLUMNS, model, epoch)?,
            params: Csv::reopen(path, names::PARAMS, &names::PARAMS_COLUMNS, model, epoch)?,
            histograms: Csv::reopen(path, names::HISTOGRAMS, &names::HISTOGRAMS_COLUMNS, model, epoch)?,
            time_steps: Csv::reopen(path, names::TIME_STEPS, &names::TIME_STEPS_COLUMNS, model, epoch)?,
        };
        Ok(Some((writer, manifest, ResumeAt { epoch, step })))
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Rewrites `manifest.json` atomically.
    pub fn write_manifest(&self, manifest: &Manifest) -> Result<(), WriteError> {
        let json = serde_json::to_string_pretty(manifest)?;
        write_atomic(&self.path.join(names::MANIFEST), json.as_bytes())
    }

    /// Appends an `epochs.csv` row and flushes it (epochs are rare and each one matters).
    pub fn epoch(&mut self, r: &EpochRecord<'_>) -> Result<(), WriteError> {
        let opt = |v: Option<f64>| v.map(num).unwrap_or_default();
        let pair = |p: Option<(f64, Option<f64>)>| p.map_or((String::new(), String::new()), |(l, a)| (num(l), opt(a)));
        let ((tl, ta), (vl, va)) = (pair(r.test), pair(r.valid));
        self.epochs.row(format_args!(
            "{},{},{},{},{tl},{ta},{:.3},{vl},{va}",
            r.model,
            r.epoch,
            num(r.train.0),
            opt(r.train.1),
            r.seconds
        ))?;
        self.epochs.flush()
    }

    pub fn step(&mut self, r: &StepRow<'_>) -> Result<(), WriteError> {
        self.steps.row(format_args!(
            "{},{},{},{},{},{},{}",
            r.model,
            r.epoch,
            r.step,
            num(r.loss),
            num(r.grad_norm),
            num(r.grad_norm_clipped),
            r.lr.map(num).unwrap_or_default()
        ))
    }

    pub fn layer(&mut self, r: &LayerRow<'_>) -> Result<(), WriteError> {
        self.layers.row(format_args!(
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

    pub fn param(&mut self, r: &ParamRow<'_>) -> Result<(), WriteError> {
        self.params.row(format_args!(
            "{},{},{},{},{},{},{},{}",
            r.model,
            r.epoch,
            r.step,
            r.source,
            r.layer,
            r.param,
            r.metric,
            num(r.value)
        ))
    }

    pub fn layer_epoch(&mut self, r: &LayerEpochRow<'_>) -> Result<(), WriteError> {
        self.layer_epochs.row(format_args!(
            "{},{},{},{},{},{},{},{}",
            r.model,
            r.epoch,
            r.layer,
            r.metric,
            num(r.mean),
            num(r.min),
            num(r.max),
            r.count
        ))
    }

    pub fn histogram(&mut self, r: &HistogramRow<'_>) -> Result<(), WriteError> {
        self.histograms.row(format_args!(
            "{},{},{},{},{},{},{}",
            r.model,
            r.epoch,
            r.step,
            r.source,
            r.layer,
            r.bin.label(),
            r.count
        ))
    }

    pub fn time_step(&mut self, r: &TimeStepRow<'_>) -> Result<(), WriteError> {
        self.time_steps.row(format_args!(
            "{},{},{},{},{},{},{},{}",
            r.model,
            r.epoch,
            r.step,
            r.source,
            r.layer,
            r.t,
            r.metric,
            num(r.value)
        ))
    }

    /// Makes every row written so far durable: called after each logged step and epoch, so
    /// that a crash loses at most the current step.
    pub fn flush(&mut self) -> Result<(), WriteError> {
        self.steps.flush()?;
        self.layers.flush()?;
        self.params.flush()?;
        self.histograms.flush()?;
        self.time_steps.flush()?;
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
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, bytes).map_err(io(&tmp))?;
    fs::rename(&tmp, path).map_err(io(path))
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

/// Civil date and time of day in UTC, by Howard Hinnant's days-to-civil algorithm (std has
/// no calendar, and a date crate for two timestamps is not worth its build).
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

    #[test]
    fn every_day_from_1970_to_2400_against_a_day_by_day_calendar() {
        // The calendar counted forward one day at a time, with the Gregorian leap rule, as the
        // independent reference: every day of 431 years (leap days and century years included),
        // each at another time of day.
        let leap = |y: i64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        let (mut year, mut month, mut day) = (1970i64, 1u32, 1u32);
        for days in 0..157_420u64 {
            let of_day = (days * 7_919) % 86_400;
            let t = UNIX_EPOCH + std::time::Duration::from_secs(days * 86_400 + of_day);
            let time = ((of_day / 3600) as u32, (of_day % 3600 / 60) as u32, (of_day % 60) as u32);
            assert_eq!(utc_parts(t), ((year, month, day), time), "day {days}");
            let length = match month {
                2 if leap(year) => 29,
                2 => 28,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            };
            day += 1;
            if day > length {
                (day, month) = (1, month + 1);
                if month > 12 {
                    (month, year) = (1, year + 1);
                }
            }
        }
        assert_eq!((year, month, day), (2401, 1, 1));
    }
}
