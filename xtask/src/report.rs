//! `cargo xtask report`: one run folder to seven figures (nine when it has gradient
//! histograms), `index.html` and `report.md`; a `train diagnose` folder to its two.

use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::figures;
use crate::headline::Headline;
use crate::html;
use crate::markdown;
use crate::output::{FigureFile, Format, Page, create_dir, write_figure, write_file};
use crate::run::Run;
use crate::subject::Subject;

/// What a report wrote.
#[derive(Clone, Debug)]
pub struct ReportSummary {
    pub out_dir: PathBuf,
    pub html: PathBuf,
    pub markdown: PathBuf,
    pub figures: Vec<FigureFile>,
    pub headline: Vec<Headline>,
    /// The notes shown at the top of the page (status, skipped lines, missing files).
    pub notes: Vec<String>,
}

/// Writes the report of the run at `run_dir` into `out` (default `<run_dir>/report`).
/// A `train diagnose` folder gets its own two figures (`diagnose.rs`).
pub fn write_report(run_dir: &Path, out: Option<&Path>, format: Format) -> Result<ReportSummary, Error> {
    if crate::diagnose::is_diagnose(run_dir) {
        return crate::diagnose::write_report(run_dir, out, format);
    }
    let run = Run::load(run_dir)?;
    let out_dir = out.map_or_else(|| run_dir.join("report"), Path::to_path_buf);
    create_dir(&out_dir)?;
    let subjects = Subject::of_run(&run, None);
    let figures = figures::all(&subjects, None)
        .into_iter()
        .map(|m| write_figure(&m.figure, m.reading, &out_dir, format))
        .collect::<Result<Vec<_>, _>>()?;
    let headline: Vec<Headline> = subjects.iter().map(Headline::of).collect();
    // Diagnosed afresh, so that a folder written before `diagnosis.json` existed gets one too.
    let diagnosis = diagnosis::diagnose(&run);
    let title = format!("Run report: {}", run.name());
    let facts = facts(&run);
    let page = Page {
        title,
        facts,
        notes: run.notes.clone(),
        headline: &headline,
        with_run: false,
        figures: &figures,
        diagnosis: Some(&diagnosis),
        format,
        appendix: appendix(&run, None),
    };
    let html_path = out_dir.join("index.html");
    write_file(&html_path, html::render(&page).as_bytes())?;
    let md_path = out_dir.join("report.md");
    write_file(&md_path, markdown::render(&page).as_bytes())?;
    Ok(ReportSummary { out_dir, html: html_path, markdown: md_path, figures, headline, notes: run.notes })
}

/// The facts under a run's title: folder, status, data, seed, machine, times.
pub fn facts(run: &Run) -> Vec<(String, String)> {
    let m = &run.manifest;
    let mut f = vec![
        ("folder".to_string(), run.dir.display().to_string()),
        ("status".to_string(), run.status_shown().to_string()),
    ];
    if let Some(d) = &m.dataset {
        let mut data = d.source.clone().unwrap_or_else(|| "?".into());
        let sizes: Vec<String> = [("train", d.train), ("valid", d.valid), ("test", d.test), ("probe", d.probe)]
            .into_iter()
            .filter_map(|(k, v)| v.filter(|&n| n > 0).map(|n| format!("{k} {n}")))
            .collect();
        if !sizes.is_empty() {
            data = format!("{data} ({})", sizes.join(", "));
        }
        f.push(("data".into(), data));
    }
    if let Some(t) = &m.task {
        let loss = m.loss.as_deref().map(|l| format!(", {l} loss")).unwrap_or_default();
        f.push(("task".into(), format!("{t}{loss}")));
    }
    if let Some(s) = m.seed {
        f.push(("seed".into(), s.to_string()));
    }
    if let Some(b) = &m.backend {
        let threads = m.threads.map(|t| format!(", {t} threads")).unwrap_or_default();
        // A gradient entry below f32's normal range was stored as 0 when flushing: the
        // reader needs that to read `grad_underflow` and a norm of exactly 0.
        let arithmetic = match m.flush_denormals {
            Some(true) => ", subnormals flushed to zero",
            Some(false) => ", IEEE subnormals",
            None => "",
        };
        f.push(("backend".into(), format!("{b}{threads}{arithmetic}")));
    }
    if let Some(s) = &m.started_at {
        let span = match &m.ended_at {
            Some(e) => format!("{s} → {e}"),
            None => format!("{s} → (not ended)"),
        };
        f.push(("time".into(), span));
    }
    if let Some(v) = &m.version {
        let rev = m
            .git_revision
            .as_deref()
            .map(|r| format!(" @ {}", r.chars().take(10).collect::<String>()))
            .unwrap_or_default();
        f.push(("train".into(), format!("{v}{rev}")));
    }
    f
}

/// The config and the manifest, as shown at the end of the page.
pub fn appendix(run: &Run, label: Option<&str>) -> Vec<(String, String)> {
    let prefix = label.map(|l| format!("{l}: ")).unwrap_or_default();
    let config = run.config_toml.clone().unwrap_or_else(|| format!("({} is missing)", runfolder::CONFIG));
    let manifest = serde_json::to_string_pretty(&run.manifest_json).unwrap_or_else(|e| format!("(cannot show: {e})"));
    vec![(format!("{prefix}{}", runfolder::CONFIG), config), (format!("{prefix}{}", runfolder::MANIFEST), manifest)]
}
