//! Reading one CSV file of a run folder with the `csv` crate: the header is checked by
//! name and every field is parsed with an error that names the file, the line and the
//! column.
//!
//! Line numbers are counted from each record's byte offset (the `csv-lines` crate, shared
//! with the data crate's tables): the `csv` crate's own count is off after blank lines and
//! with CRLF line ends.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use csv::StringRecord;

use crate::run::RunError;

/// A CSV file read whole, with its columns found by name (extra columns are ignored, so a
/// newer `train` that adds one does not break older reports).
pub struct Table {
    path: PathBuf,
    columns: HashMap<String, usize>,
    rows: Vec<(u64, StringRecord)>,
    /// True when the file does not end with a newline: its last row may have been cut
    /// short by a run that was stopped while writing it.
    pub open_last_line: bool,
}

/// One data row of a [`Table`], for typed access to its fields.
pub struct Row<'a> {
    table: &'a Table,
    /// The 1-based line number in the file (the header is line 1).
    pub line: u64,
    record: &'a StringRecord,
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
        Table::parse(path, &bytes, required)
    }

    /// Parses the bytes of the CSV file at `path` (named in errors).
    pub fn parse(path: &Path, bytes: &[u8], required: &[&str]) -> Result<Table, RunError> {
        let csv_error = |line: u64, message: String| RunError::Csv { path: path.to_path_buf(), line, message };
        let open_last_line = !bytes.is_empty() && !bytes.ends_with(b"\n");
        // Checked whole first, so that the message names the line of the first bad byte.
        if let Err(e) = std::str::from_utf8(bytes) {
            let line = 1 + bytes[..e.valid_up_to()].iter().filter(|&&b| b == b'\n').count() as u64;
            return Err(csv_error(line, "the line is not valid UTF-8 text".to_string()));
        }
        let mut reader =
            csv::ReaderBuilder::new().has_headers(false).flexible(true).trim(csv::Trim::All).from_reader(bytes);
        let mut lines = csv_lines::LineCounter::default();
        let mut records = Vec::new();
        let mut record = StringRecord::new();
        loop {
            let read = reader.read_record(&mut record);
            let line = lines.line_at(bytes, record.position().map_or(0, |p| p.byte() as usize)) as u64;
            match read {
                Err(e) => return Err(csv_error(line, e.to_string())),
                Ok(false) => break,
                // A line of spaces is a record of one empty field: as blank as an empty line.
                Ok(true) if record.len() == 1 && record[0].is_empty() => {}
                Ok(true) => records.push((line, std::mem::take(&mut record))),
            }
        }
        let mut records = records.into_iter();
        let Some((header_line, header)) = records.next() else {
            return Err(csv_error(1, format!("the file is empty; expected the header `{}`", required.join(","))));
        };
        let names: Vec<&str> = header.iter().collect();
        let columns: HashMap<String, usize> = names.iter().enumerate().map(|(i, name)| (name.to_string(), i)).collect();
        let missing: Vec<&str> = required.iter().copied().filter(|c| !columns.contains_key(*c)).collect();
        if !missing.is_empty() {
            return Err(csv_error(
                header_line,
                format!(
                    "the header lacks column{} `{}` (expected `{}`, found `{}`)",
                    if missing.len() == 1 { "" } else { "s" },
                    missing.join("`, `"),
                    required.join(","),
                    // Escaped, so that a header cell holding a line break keeps the message on one line.
                    names.iter().map(|n| n.escape_debug().to_string()).collect::<Vec<_>>().join(",")
                ),
            ));
        }
        let rows: Vec<(u64, StringRecord)> = records.collect();
        // A row with the wrong number of fields is an error, except a last row cut short
        // by a stopped run, which the caller may drop (see `Run::load`).
        let width = header.len();
        for (i, (line, rec)) in rows.iter().enumerate() {
            let last = i + 1 == rows.len();
            if rec.len() != width && !(last && open_last_line) {
                return Err(csv_error(*line, format!("expected {width} fields as in the header, found {}", rec.len())));
            }
        }
        Ok(Table { path: path.to_path_buf(), columns, rows, open_last_line })
    }

    /// The file this table was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The data rows, in file order.
    pub fn rows(&self) -> impl Iterator<Item = Row<'_>> {
        self.rows.iter().map(move |(line, record)| Row { table: self, line: *line, record })
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
        self.table.columns.get(column).and_then(|&i| self.record.get(i)).unwrap_or("")
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Table, String> {
        Table::parse(Path::new("t.csv"), text.as_bytes(), &["a", "b"]).map_err(|e| e.to_string())
    }

    #[test]
    fn rows_keep_their_line_numbers_across_blank_lines_and_crlf() {
        for text in ["a,b\n1,2\n\n  \n3,4\n", "a,b\r\n1,2\r\n\r\n  \r\n3,4\r\n"] {
            let t = parse(text).expect("reads");
            let rows: Vec<(u64, String)> = t.rows().map(|r| (r.line, r.str("b").to_string())).collect();
            assert_eq!(rows, [(2, "2".to_string()), (5, "4".to_string())], "{text:?}");
            assert!(!t.open_last_line);
        }
        let t = parse("\u{feff}a,b\r\r1,2\r").expect("a byte-order mark and CR line ends");
        assert_eq!(t.rows().map(|r| (r.line, r.u64("a").unwrap())).collect::<Vec<_>>(), [(3, 1)]);
        let t = parse("b,x,a\n1,,2\n").expect("columns by name, extra ones ignored");
        assert_eq!(t.rows().map(|r| r.u64("a").unwrap()).collect::<Vec<_>>(), [2]);
    }

    #[test]
    fn errors_name_the_file_the_line_and_the_column() {
        let e = parse("a,b\n1,2\n\n3\n").err().expect("a short row");
        assert_eq!(e, "t.csv:4: expected 2 fields as in the header, found 1");
        assert!(parse("a,b\n1,2\n3").expect("a last row cut short is kept").open_last_line);
        let e = parse("a,c\n").err().expect("a missing column");
        assert!(e.starts_with("t.csv:1: the header lacks column `b`"), "{e}");
        assert!(parse("\n\n").err().expect("empty").contains("the file is empty"));
        let e = Table::parse(Path::new("t.csv"), b"a,b\n1,2\n\xff,3\n", &["a"]).err().expect("not UTF-8").to_string();
        assert_eq!(e, "t.csv:3: the line is not valid UTF-8 text");
        let t = parse("a,b\n1,x\n").expect("reads");
        let row = t.rows().next().expect("a row");
        assert_eq!(row.f64("b").err().expect("not a number").to_string(), "t.csv:2: column `b`: cannot read \"x\" as a number");
    }
}
