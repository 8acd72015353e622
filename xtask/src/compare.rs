//! `cargo xtask compare`: several run folders in one page, each figure with a panel per
//! model of every run (on shared scales) and one table of their headline numbers.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::figures;
use crate::headline::Headline;
use crate::html;
use crate::markdown;
use crate::output::{FigureFile, Format, Page, create_dir, write_figure, write_file};
use crate::report::appendix;
use crate::run::Run;
use crate::subject::Subject;

/// What a comparison wrote.
#[derive(Clone, Debug)]
pub struct CompareSummary {
    pub out_dir: PathBuf,
    pub html: PathBuf,
    pub markdown: PathBuf,
    pub figures: Vec<FigureFile>,
    pub headline: Vec<Headline>,
    /// The label each run is shown under, in the order given.
    pub labels: Vec<String>,
    pub notes: Vec<String>,
}

/// Compares the runs in `run_dirs` (at least two) into `out` (default: a folder beside the
/// first run named after the runs).
pub fn write_compare(run_dirs: &[PathBuf], out: Option<&Path>, format: Format) -> Result<CompareSummary, Error> {
    if run_dirs.len() < 2 {
        return Err(Error::Usage(format!("compare needs at least two run folders, got {}", run_dirs.len())));
    }
    let runs = run_dirs.iter().map(|d| Run::load(d)).collect::<Result<Vec<_>, _>>()?;
    let labels = labels(&runs);
    let out_dir = out.map_or_else(|| default_out(run_dirs), Path::to_path_buf);
    create_dir(&out_dir)?;
    let subjects: Vec<Subject<'_>> =
        runs.iter().zip(&labels).flat_map(|(run, label)| Subject::of_run(run, Some(label.clone()))).collect();
    // One run per row when every run has the same few models.
    let per_run: BTreeSet<usize> = runs.iter().map(|r| r.models().len()).collect();
    let columns = match per_run.first() {
        Some(&n) if per_run.len() == 1 && (1..=3).contains(&n) => Some(n),
        _ => None,
    };
    let figures = figures::all(&subjects, columns)
        .into_iter()
        .map(|m| write_figure(&m.figure, m.reading, &out_dir, format))
        .collect::<Result<Vec<_>, _>>()?;
    let headline: Vec<Headline> = subjects.iter().map(Headline::of).collect();
    let notes: Vec<String> = runs
        .iter()
        .zip(&labels)
        .flat_map(|(run, label)| run.notes.iter().map(move |n| format!("{label}: {n}")))
        .collect();
    let title = format!("Comparison: {}", labels.join(" vs "));
    let facts: Vec<(String, String)> = runs
        .iter()
        .zip(&labels)
        .map(|(run, label)| {
            let seed = run.manifest.seed.map(|s| format!(", seed {s}")).unwrap_or_default();
            (label.clone(), format!("{} ({}{seed})", run.dir.display(), run.status_shown()))
        })
        .collect();
    let page = Page {
        title,
        facts,
        notes: notes.clone(),
        headline: &headline,
        with_run: true,
        figures: &figures,
        diagnosis: None,
        format,
        appendix: runs.iter().zip(&labels).flat_map(|(run, label)| appendix(run, Some(label))).collect(),
    };
    let html_path = out_dir.join("index.html");
    write_file(&html_path, html::render(&page).as_bytes())?;
    let md_path = out_dir.join("report.md");
    write_file(&md_path, markdown::render(&page).as_bytes())?;
    Ok(CompareSummary { out_dir, html: html_path, markdown: md_path, figures, headline, labels, notes })
}

/// A distinct label per run: its name; with the seed where names repeat; with the folder
/// name where that still repeats.
pub fn labels(runs: &[Run]) -> Vec<String> {
    let distinct = |v: &[String]| v.iter().collect::<BTreeSet<_>>().len() == v.len();
    let names: Vec<String> = runs.iter().map(Run::name).collect();
    if distinct(&names) {
        return names;
    }
    let seeded: Vec<String> = runs
        .iter()
        .map(|r| match r.manifest.seed {
            Some(s) => format!("{} (seed {s})", r.name()),
            None => r.name(),
        })
        .collect();
    if distinct(&seeded) {
        return seeded;
    }
    let folders: Vec<String> = runs.iter().map(|r| crate::output::file_name(&r.dir)).collect();
    if distinct(&folders) {
        return folders;
    }
    runs.iter().enumerate().map(|(i, r)| format!("#{} {}", i + 1, r.name())).collect()
}

/// `<parent of the first run>/compare-<a>-vs-<b>…`, or `compare-<n>-runs` when that
/// would be too long for a folder name.
fn default_out(run_dirs: &[PathBuf]) -> PathBuf {
    let parent = run_dirs.first().and_then(|d| d.parent()).map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let names: Vec<String> = run_dirs.iter().map(|d| crate::output::file_name(d)).collect();
    let joined = format!("compare-{}", names.join("-vs-"));
    if joined.len() <= 120 { parent.join(joined) } else { parent.join(format!("compare-{}-runs", run_dirs.len())) }
}
