//! The diagnosis in plain words: numbers as a reader wants them, when a finding was first
//! seen, and the few lines per model that `train` prints and the report shows.

use runfolder::run::Source;
use runfolder::{Finding, ModelDiagnosis};

/// "a", "a or b", "a, b, or c".
pub fn or_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [a, b] => format!("{a} or {b}"),
        [rest @ .., last] => format!("{}, or {last}", rest.join(", ")),
    }
}

/// "a", "a and b", "a, b and c".
pub fn and_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// A number in three significant digits: 0.25, 12.5, 6.05e-7, 3.5e4.
pub fn number(v: f64) -> String {
    if v == 0.0 {
        return "0".to_string();
    }
    let a = v.abs();
    if (1e-3..1e4).contains(&a) {
        let s = format!("{v:.3}");
        let digits = if a >= 100.0 { 0 } else if a >= 10.0 { 1 } else if a >= 1.0 { 2 } else { (2.0 - a.log10().floor()) as usize };
        let s = if digits == 3 { s } else { format!("{v:.digits$}") };
        trim_zeros(&s)
    } else {
        let s = format!("{v:.2e}");
        match s.split_once('e') {
            Some((mantissa, exp)) => format!("{}e{exp}", trim_zeros(mantissa)),
            None => s,
        }
    }
}

fn trim_zeros(s: &str) -> String {
    if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s.to_string() }
}

/// A share as a percentage: 38%, 0.5%.
pub fn percent(share: f64) -> String {
    let p = 100.0 * share;
    if p >= 10.0 || p == 0.0 { format!("{p:.0}%") } else { format!("{}%", number(p)) }
}

/// Where a measurement was: "at initialization (probe)", "at step 8 (epoch 1, train)",
/// "after epoch 3 (probe)".
pub fn place_phrase((source, epoch, step): (Source, u32, u64)) -> String {
    match source {
        Source::Probe if epoch == 0 => "at initialization, on the probe set".to_string(),
        Source::Probe => format!("after epoch {epoch}, on the probe set"),
        Source::Train if step <= 1 => "at the first step".to_string(),
        Source::Train => format!("at step {step} (epoch {epoch})"),
    }
}

/// "since initialization", "since step 8 (epoch 1)", "since epoch 3".
pub fn since_phrase((source, epoch, step): (Source, u32, u64)) -> String {
    match source {
        Source::Probe if epoch == 0 => "since initialization".to_string(),
        Source::Probe => format!("first seen after epoch {epoch}"),
        Source::Train if step <= 1 => "since the first step".to_string(),
        Source::Train => format!("since step {step} (epoch {epoch})"),
    }
}

/// One finding in a line: its sentence, severity and the first remedy.
pub fn finding_line(f: &Finding) -> String {
    let remedy = if f.remedy.apply.is_empty() {
        f.remedy.action.clone()
    } else {
        format!("{} ({})", f.remedy.action, f.remedy.apply.join("; "))
    };
    let shown = if f.remedy.demonstrated_by.is_empty() {
        String::new()
    } else {
        format!(", shown in {}", f.remedy.demonstrated_by.join(" and "))
    };
    format!("[{}] {} Try: {remedy}{shown}.", f.severity.as_str(), f.summary)
}

/// A model's diagnosis in a few lines: healthy (with its vitals) or its findings, and what
/// could not be judged.
pub fn model_lines(d: &ModelDiagnosis) -> Vec<String> {
    let mut out = Vec::new();
    let persisting: Vec<&Finding> = d.findings.iter().filter(|f| f.persists).collect();
    let gone: Vec<&Finding> = d.findings.iter().filter(|f| !f.persists).collect();
    if d.healthy {
        let vitals: Vec<String> = d.vitals.iter().map(|v| format!("{} = {}", v.quantity, number(v.value))).collect();
        let vitals = if vitals.is_empty() { String::new() } else { format!(": {}", vitals.join("; ")) };
        out.push(format!("{}: healthy at the end{vitals}.", d.model));
    } else if persisting.is_empty() {
        out.push(format!("{}: not judged.", d.model));
    } else {
        let kinds: Vec<&str> = persisting.iter().map(|f| f.kind.as_str()).collect();
        out.push(format!("{}: {}.", d.model, kinds.join(", ")));
    }
    for f in persisting {
        out.push(format!("  {}", finding_line(f)));
    }
    for f in gone {
        out.push(format!("  (earlier) {}", f.summary));
    }
    for n in &d.notes {
        out.push(format!("  note: {n}"));
    }
    for n in &d.not_judged {
        out.push(format!("  not judged: {n}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_as_a_person_writes_them() {
        assert_eq!(number(0.25), "0.25");
        assert_eq!(number(12.5), "12.5");
        assert_eq!(number(6.05e-7), "6.05e-7");
        assert_eq!(number(1e-2), "0.01");
        assert_eq!(number(1e-4), "1e-4");
        assert_eq!(number(35000.0), "3.5e4");
        assert_eq!(number(0.0), "0");
        assert_eq!(number(0.00123), "0.00123");
        assert_eq!(number(2.0), "2");
        assert_eq!(percent(0.38), "38%");
        assert_eq!(percent(0.005), "0.5%");
    }
}
