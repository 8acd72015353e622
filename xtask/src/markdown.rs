//! The Markdown summary (`report.md`): the headline table, the notes and the figures with
//! their readings, for viewing in a repository or a terminal.

use std::fmt::Write;

use crate::headline::{self, EXPLODE_RULE, Headline, RATIO_RULE, STALL_RULE};
use crate::output::{Page, file_name};


/// The Markdown text.
pub fn render(s: &Page<'_>) -> String {
    let mut m = String::new();
    let _ = writeln!(m, "# {}\n", s.title);
    if !s.facts.is_empty() {
        let facts: Vec<String> = s.facts.iter().map(|(k, v)| format!("{k}: **{}**", cell(v))).collect();
        let _ = writeln!(m, "{}\n", facts.join(" · "));
    }
    for note in &s.notes {
        let _ = writeln!(m, "> **Note.** {note}\n");
    }
    if let Some(d) = s.diagnosis {
        m.push_str(&crate::diagnosis::markdown_section(d, s.figures));
    }
    // A page without models (a diagnose folder's) has no headline to show.
    if !s.headline.is_empty() {
        m.push_str("## Headline\n\n");
        m.push_str(&table(s.headline, s.with_run));
        let _ = writeln!(m, "\n*Stalled.* {STALL_RULE} *Exploding.* {EXPLODE_RULE} *Grad ratio.* {RATIO_RULE}\n");
        if headline::has_time_ratio(s.headline) {
            let _ = writeln!(m, "*Time ratio.* {}\n", headline::TIME_RATIO_RULE);
        }
    }
    m.push_str("## Figures\n\n");
    for f in s.figures {
        let _ = writeln!(m, "### {}\n\n{}\n", f.title, f.reading);
        if let Some(p) = f.svg.as_ref().or(f.png.as_ref()) {
            let _ = writeln!(m, "![{}]({})\n", f.title, file_name(p));
        }
    }
    m
}

/// The headline table in Markdown (also printed by the command).
pub fn table(rows: &[Headline], with_run: bool) -> String {
    let cols = headline::columns(rows, with_run);
    let setup = headline::has_setup(rows);
    let time = headline::has_time_ratio(rows);
    let mut m = format!("| {} |\n", cols.join(" | "));
    let text_columns = if with_run { 3 } else { 2 };
    let aligns: Vec<&str> = cols
        .iter()
        .enumerate()
        .map(|(i, c)| if i < text_columns || *c == headline::SETUP { "---" } else { "---:" })
        .collect();
    let _ = writeln!(m, "|{}|", aligns.join("|"));
    for r in rows {
        let cells: Vec<String> = headline::cells(r, with_run, setup, time).iter().map(|c| cell(c)).collect();
        let _ = writeln!(m, "| {} |", cells.join(" | "));
    }
    m
}

/// A table cell with its pipes escaped.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}
