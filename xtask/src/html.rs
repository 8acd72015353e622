//! The HTML page: one self-contained file (inline SVG figures and CSS, no scripts, no web
//! fonts) that opens straight from disk, for a report or a comparison.

use std::fmt::Write;

use crate::headline::{self, EXPLODE_RULE, Headline, STALL_RULE};
use crate::output::{Page, file_name};
use crate::svg::escape;


const CSS: &str = r#"
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       color: #222; background: #fff; margin: 0; line-height: 1.45; }
main { max-width: 1240px; margin: 0 auto; padding: 24px 28px 64px; }
h1 { font-size: 1.7rem; margin: 0 0 4px; }
h2 { font-size: 1.25rem; margin: 36px 0 10px; border-bottom: 1px solid #e4e4e4; padding-bottom: 4px; }
.facts { color: #555; margin: 0 0 16px; font-size: 0.95rem; }
.facts span { margin-right: 18px; white-space: nowrap; }
.facts b { color: #222; font-weight: 600; }
.note { background: #fff8e1; border-left: 4px solid #f9a825; padding: 8px 14px; margin: 10px 0; }
table { border-collapse: collapse; margin: 8px 0 6px; font-size: 0.95rem; }
th, td { padding: 6px 12px; border-bottom: 1px solid #e4e4e4; text-align: right; white-space: nowrap; }
th { background: #f6f6f6; font-weight: 600; white-space: normal; vertical-align: bottom; }
.table { overflow-x: auto; }
td:first-child, th:first-child, td.text { text-align: left; }
td.stalled, td.exploding { color: #c62828; font-weight: 600; }
p.finding b { color: #c62828; }
p.healthy b { color: #2e7d32; }
td.wrap { white-space: normal; min-width: 24rem; }
.rule { color: #555; font-size: 0.92rem; max-width: 60rem; }
figure { margin: 28px 0 8px; }
figure svg, figure img { max-width: 100%; height: auto; display: block; border: 1px solid #eee; }
figcaption { max-width: 62rem; margin-top: 6px; }
figcaption .files { color: #777; font-size: 0.9rem; margin-left: 6px; }
details { margin: 10px 0; }
summary { cursor: pointer; font-weight: 600; }
pre { background: #f6f6f6; padding: 12px 14px; overflow-x: auto; font-size: 0.85rem; line-height: 1.35; }
a { color: #1565c0; }
"#;

/// The page's HTML.
pub fn render(page: &Page<'_>) -> String {
    let mut h = String::with_capacity(256 * 1024);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n",
        escape(&page.title)
    );
    let _ = writeln!(h, "<h1>{}</h1>", escape(&page.title));
    if !page.facts.is_empty() {
        h.push_str("<p class=\"facts\">");
        for (k, v) in &page.facts {
            let _ = write!(h, "<span>{}: <b>{}</b></span> ", escape(k), escape(v));
        }
        h.push_str("</p>\n");
    }
    for note in &page.notes {
        let _ = writeln!(h, "<p class=\"note\">{}</p>", escape(note));
    }

    if let Some(d) = page.diagnosis {
        h.push_str(&crate::diagnosis::html_section(d, page.figures));
    }

    // A page without models (a diagnose folder's) has no headline to show.
    if !page.headline.is_empty() {
        h.push_str("<h2>Headline</h2>\n");
        h.push_str(&headline_table(page.headline, page.with_run));
        let _ = writeln!(
            h,
            "<p class=\"rule\"><b>Stalled.</b> {} <b>Exploding.</b> {} <b>Grad ratio.</b> {}</p>",
            escape(STALL_RULE),
            escape(EXPLODE_RULE),
            escape(headline::RATIO_RULE)
        );
        if headline::has_time_ratio(page.headline) {
            let _ = writeln!(h, "<p class=\"rule\"><b>Time ratio.</b> {}</p>", escape(headline::TIME_RATIO_RULE));
        }
    }

    h.push_str("<h2>Figures</h2>\n");
    for f in page.figures {
        let _ = writeln!(h, "<figure id=\"{}\">", escape(&f.slug));
        if page.format.svg() || f.png.is_none() {
            // The SVG is inlined so that the page works alone; the files sit beside it.
            h.push_str(&f.svg_text);
        } else if let Some(png) = &f.png {
            let _ = writeln!(h, "<img src=\"{}\" alt=\"{}\">", escape(&file_name(png)), escape(&f.title));
        }
        // The title is in the figure itself; the caption is the reading.
        let _ = write!(h, "<figcaption>{}", escape(&f.reading));
        let links: Vec<String> = [f.svg.as_ref(), f.png.as_ref()]
            .into_iter()
            .flatten()
            .map(|p| {
                let name = file_name(p);
                let ext = p.extension().map_or_else(String::new, |e| e.to_string_lossy().to_uppercase());
                format!("<a href=\"{}\">{}</a>", escape(&name), ext)
            })
            .collect();
        if !links.is_empty() {
            let _ = write!(h, " <span class=\"files\">({})</span>", links.join(" · "));
        }
        h.push_str("</figcaption>\n</figure>\n");
    }

    if !page.appendix.is_empty() {
        h.push_str("<h2>Config and manifest</h2>\n");
        for (title, body) in &page.appendix {
            let _ = writeln!(
                h,
                "<details open>\n<summary>{}</summary>\n<pre>{}</pre>\n</details>",
                escape(title),
                escape(body)
            );
        }
    }
    h.push_str("</main>\n</body>\n</html>\n");
    h
}

/// The headline table as HTML.
pub fn headline_table(rows: &[Headline], with_run: bool) -> String {
    let mut h = String::from("<div class=\"table\"><table>\n<thead><tr>");
    let columns = headline::columns(rows, with_run);
    for c in &columns {
        let _ = write!(h, "<th>{}</th>", escape(c));
    }
    h.push_str("</tr></thead>\n<tbody>\n");
    let text_columns = if with_run { 3 } else { 2 };
    let setup = headline::has_setup(rows);
    let time = headline::has_time_ratio(rows);
    let flag = |name: &str| columns.iter().position(|c| *c == name);
    let (stalled, exploding) = (flag(headline::STALLED), flag(headline::EXPLODING));
    for row in rows {
        h.push_str("<tr>");
        let cells = headline::cells(row, with_run, setup, time);
        for (i, c) in cells.iter().enumerate() {
            let class = if Some(i) == stalled && row.stalled == Some(true) {
                " class=\"stalled\""
            } else if Some(i) == exploding && row.exploding == Some(true) {
                " class=\"exploding\""
            } else if i < text_columns || columns.get(i) == Some(&headline::SETUP) {
                " class=\"text\""
            } else {
                ""
            };
            let _ = write!(h, "<td{class}>{}</td>", escape(c));
        }
        h.push_str("</tr>\n");
    }
    if rows.is_empty() {
        let _ = writeln!(h, "<tr><td colspan=\"{}\">no models</td></tr>", columns.len());
    }
    h.push_str("</tbody>\n</table></div>\n");
    h
}
