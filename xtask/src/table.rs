//! Reading one CSV file of a run folder: the header is checked by name and every field is
//! parsed with an error that names the file, the line and the column.
//!
//! The run folder's CSV files hold names and numbers only, never quotes or embedded commas
//! (ARCHITECTURE.md), so a line split on commas reads them exactly. A CSV crate is not used:
//! it would switch on serde features that force burn to rebuild for the test binary.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::run::RunError;

/// A CSV file read whole, with its columns found by name (extra columns are ignored, so a
/// newer `train` that adds one does not break older reports).
pub struct Table {
    path: PathBuf,
    columns: HashMap<String, usize>,
    rows: Vec<(u64, Vec<String>)>,
    /// True when the file does not end with a newline: its last row may have been cut
    /// short by a run that was stopped while writing it.
    pub open_last_line: bool,
}

/// One data row of a [`Table`], for typed access to its fields.
pub struct Row<'a> {
    table: &'a Table,
    /// The 1-based line number in the file (the header is line 1).
    pub line: u64,
    record: &'a [String],
}

impl Table {
    /// Reads `path`, requiring every column in `required` to be in the header.
    pub fn read(path: &Path, required: &[&str]) -> Result<Table, RunError> {
        let bytes = std::fs::read(path).map_err(|cause| {
            if cause.kind() == std::io::ErrorKind::NotFound {
                RunError::MissingFile { path: path.to_path_buf() }
            } else {
                RunError::Io { path: path.to_path_buf(), cause }
            }
        })?;
        let open_last_line = !bytes.is_empty() && !bytes.ends_with(b"\n");
        let text = String::from_utf8(bytes).map_err(|e| {
            let line = 1 + e.as_bytes()[..e.utf8_error().valid_up_to()].iter().filter(|&&b| b == b'\n').count() as u64;
            RunError::Csv { path: path.to_path_buf(), line, message: "the line is not valid UTF-8 text".to_string() }
        })?;
        let split = |line: &str| -> Vec<String> { line.trim_end_matches('\r').split(',').map(|f| f.trim().to_string()).collect() };
        let mut lines = text.split_terminator('\n').enumerate().map(|(i, l)| (i as u64 + 1, l));
        let header = lines.next().map(|(_, l)| split(l)).unwrap_or_default();
        if header.is_empty() || (header.len() == 1 && header[0].is_empty()) {
            return Err(RunError::Csv {
                path: path.to_path_buf(),
                line: 1,
                message: format!("the file is empty; expected the header `{}`", required.join(",")),
            });
        }
        let columns: HashMap<String, usize> =
            header.iter().enumerate().map(|(i, name)| (name.to_string(), i)).collect();
        let missing: Vec<&str> = required.iter().copied().filter(|c| !columns.contains_key(*c)).collect();
        if !missing.is_empty() {
            return Err(RunError::Csv {
                path: path.to_path_buf(),
                line: 1,
                message: format!(
                    "the header lacks column{} `{}` (expected `{}`, found `{}`)",
                    if missing.len() == 1 { "" } else { "s" },
                    missing.join("`, `"),
                    required.join(","),
                    header.join(",")
                ),
            });
        }
        // Blank lines carry no row.
        let rows: Vec<(u64, Vec<String>)> =
            lines.filter(|(_, l)| !l.trim().is_empty()).map(|(n, l)| (n, split(l))).collect();
        let width = header.len();
        let table = Table { path: path.to_path_buf(), columns, rows, open_last_line };
        // A row with the wrong number of fields is an error, except a last row cut short
        // by a stopped run, which the caller may drop (see `Run::load`).
        for (i, (line, rec)) in table.rows.iter().enumerate() {
            let last = i + 1 == table.rows.len();
            if rec.len() != width && !(last && open_last_line) {
                return Err(RunError::Csv {
                    path: path.to_path_buf(),
                    line: *line,
                    message: format!("expected {width} fields as in the header, found {}", rec.len()),
                });
            }
        }
        Ok(table)
    }

    /// The file this table was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The data rows, in file order.
    pub fn rows(&self) -> impl Iterator<Item = Row<'_>> {
        self.rows.iter().map(move |(line, record)| Row { table: self, line: *line, record: record.as_slice() })
    }

    /// The number of data rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether the file has no data rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

impl Row<'_> {
    /// An error about this row.
    pub fn error(&self, message: impl Into<String>) -> RunError {
        RunError::Csv { path: self.table.path.clone(), line: self.line, message: message.into() }
    }

    /// The raw text of a column (empty when the row is short).
    pub fn str(&self, column: &str) -> &str {
        self.table.columns.get(column).and_then(|&i| self.record.get(i)).map_or("", String::as_str)
    }

    /// A required text field.
    pub fn text(&self, column: &str) -> Result<String, RunError> {
        let s = self.str(column);
        if s.is_empty() {
            return Err(self.error(format!("column `{column}` is empty")));
        }
        Ok(s.to_string())
    }

    /// A required number.
    pub fn f64(&self, column: &str) -> Result<f64, RunError> {
        self.opt_f64(column)?.ok_or_else(|| self.error(format!("column `{column}` is empty")))
    }

    /// A number that may be empty (accuracies of a regression, validation columns).
    pub fn opt_f64(&self, column: &str) -> Result<Option<f64>, RunError> {
        let s = self.str(column);
        if s.is_empty() {
            return Ok(None);
        }
        s.parse::<f64>().map(Some).map_err(|_| self.error(format!("column `{column}`: cannot read {s:?} as a number")))
    }

    /// A required non-negative integer (epoch, step, layer, count).
    pub fn u64(&self, column: &str) -> Result<u64, RunError> {
        let s = self.str(column);
        if s.is_empty() {
            return Err(self.error(format!("column `{column}` is empty")));
        }
        s.parse::<u64>().map_err(|_| self.error(format!("column `{column}`: cannot read {s:?} as a whole number ≥ 0")))
    }
}
