//! The report's "Diagnosis" section and `cargo xtask diagnose`: what the diagnosis crate
//! finds in a run folder (`diagnosis.json`), each finding linked to the figure that shows it,
//! and the table of thresholds, made from the crate's constants so that it cannot drift.
//!
//! Not `diagnose.rs`, which reports a `train diagnose` folder (the mean-field fit at
//! initialization, `diagnose.json`).

use std::fmt::Write;
use std::path::{Path, PathBuf};

use diagnosis::thresholds::{TABLE, value_text};
use runfolder::{Diagnosis, Finding, Kind};

use crate::error::Error;
use crate::figures::SLUGS;
use crate::output::FigureFile;
use crate::run::Run;
use crate::svg::escape;

/// The figures that show a kind of finding, best first (by slug; the page links the first
/// one it drew).
pub fn figures_of(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Vanishing => &[SLUGS[1], SLUGS[0], SLUGS[2]],
        Kind::Exploding => &[SLUGS[10], SLUGS[0], SLUGS[1]],
        Kind::Diverged => &[SLUGS[10], SLUGS[0]],
        Kind::Saturation | Kind::DeadUnits => &[SLUGS[4]],
        Kind::UpdateTooSmall | Kind::UpdateTooLarge => &[SLUGS[5]],
        Kind::Underflow => &[SLUGS[7], SLUGS[8]],
        Kind::PoorInit => &[SLUGS[6], SLUGS[2]],
        Kind::VanishingThroughTime => &[SLUGS[12], SLUGS[11]],
        Kind::Unknown => &[],
    }
}

/// The figure of the page that shows a finding: (slug, title).
fn figure_for<'a>(f: &Finding, figures: &'a [FigureFile]) -> Option<&'a FigureFile> {
    figures_of(f.kind).iter().find_map(|slug| figures.iter().find(|fig| fig.slug == *slug))
}

/// The figure's number as its title starts ("2." of "2. Where the gradient vanishes").
fn figure_label(fig: &FigureFile) -> String {
    match fig.title.split_once(". ") {
        Some((n, _)) if n.chars().all(|c| c.is_ascii_digit()) => format!("figure {n}"),
        _ => "the figure".to_string(),
    }
}

/// The section as HTML, before the headline and the figures.
pub fn html_section(d: &Diagnosis, figures: &[FigureFile]) -> String {
    let mut h = String::from("<h2 id=\"diagnosis\">Diagnosis</h2>\n");
    for m in &d.models {
        let lines = diagnosis::model_lines(m);
        let head = lines.first().cloned().unwrap_or_default();
        let class = if m.healthy { "healthy" } else { "finding" };
        let _ = writeln!(h, "<p class=\"{class}\"><b>{}</b></p>", escape(&head));
        if m.findings.is_empty() && m.notes.is_empty() && m.not_judged.is_empty() {
            continue;
        }
        h.push_str("<ul>\n");
        for f in &m.findings {
            let link = figure_for(f, figures)
                .map(|fig| format!(" <a href=\"#{}\">({})</a>", escape(&fig.slug), escape(&figure_label(fig))))
                .unwrap_or_default();
            let text = if f.persists { diagnosis::finding_line(f) } else { format!("(earlier, gone by the end) {}", f.summary) };
            let _ = writeln!(h, "<li>{}{link}</li>", escape(&text));
        }
        for n in &m.notes {
            let _ = writeln!(h, "<li>Note: {}</li>", escape(n));
        }
        for n in &m.not_judged {
            let _ = writeln!(h, "<li>Not judged: {}</li>", escape(n));
        }
        h.push_str("</ul>\n");
    }
    h.push_str("<details>\n<summary>Thresholds</summary>\n<div class=\"table\"><table>\n<thead><tr><th>threshold</th><th>value</th><th>findings</th><th>why</th></tr></thead>\n<tbody>\n");
    for t in TABLE {
        let _ = writeln!(
            h,
            "<tr><td><code>{}</code></td><td>{}</td><td class=\"text\">{}</td><td class=\"text wrap\">{}</td></tr>",
            escape(t.name),
            escape(&value_text(t.value)),
            escape(t.kinds),
            escape(t.why)
        );
    }
    h.push_str("</tbody>\n</table></div>\n</details>\n");
    h
}

/// The section as Markdown.
pub fn markdown_section(d: &Diagnosis, figures: &[FigureFile]) -> String {
    let mut m = String::from("## Diagnosis\n\n");
    for md in &d.models {
        let lines = diagnosis::model_lines(md);
        let _ = writeln!(m, "**{}**\n", lines.first().cloned().unwrap_or_default());
        for f in &md.findings {
            let link = figure_for(f, figures)
                .map(|fig| format!(" ({}: {})", figure_label(fig), fig.title))
                .unwrap_or_default();
            let text = if f.persists { diagnosis::finding_line(f) } else { format!("(earlier, gone by the end) {}", f.summary) };
            let _ = writeln!(m, "- {text}{link}");
        }
        for n in &md.notes {
            let _ = writeln!(m, "- Note: {n}");
        }
        for n in &md.not_judged {
            let _ = writeln!(m, "- Not judged: {n}");
        }
        m.push('\n');
    }
    m.push_str("Thresholds:\n\n");
    m.push_str(&diagnosis::thresholds::markdown_table());
    m.push('\n');
    m
}

/// What `cargo xtask diagnose` did.
pub struct DiagnoseSummary {
    pub diagnosis: Diagnosis,
    /// Where `diagnosis.json` was written (`None` with `--no-write`).
    pub written: Option<PathBuf>,
}

/// Diagnoses the run folder at `dir`, and writes its `diagnosis.json` unless `write` is false.
pub fn run(dir: &Path, write: bool) -> Result<DiagnoseSummary, Error> {
    if crate::diagnose::is_diagnose(dir) {
        return Err(Error::Usage(format!(
            "{} is a `train diagnose` folder (the mean-field fit of nets at initialization), not a run folder: `cargo xtask report {}` draws it",
            dir.display(),
            dir.display()
        )));
    }
    let run = Run::load(dir)?;
    let diagnosis = diagnosis::diagnose(&run);
    let written = if write {
        Some(
            diagnosis::write(dir, &diagnosis)
                .map_err(|e| match e {
                    runfolder::WriteError::Io { path, source } => Error::Write { path, cause: source },
                    other => Error::Usage(other.to_string()),
                })?,
        )
    } else {
        None
    };
    Ok(DiagnoseSummary { diagnosis, written })
}
