//! Numeric tables with one label column, read from CSV with the `csv` crate.
//!
//! Tabular datasets come with comma or semicolon separators (detected from the first row),
//! quoted fields with `""` escapes, an optional header row (detected), CRLF line ends, a
//! UTF-8 byte-order mark, blank lines and gzip compression; the `csv` crate parses the
//! fields, and this module turns them into features and classes. A quoted field must close
//! on its own line: these tables hold numbers and short names, and a row that spans lines is
//! far more often an unclosed quote than a label with a line break in it.
//!
//! The line numbers in messages are counted from each record's byte offset (the `csv-lines`
//! crate, shared with the run folder's reader): the `csv` crate's own line count is off after
//! blank lines and with CRLF line ends.

use std::collections::BTreeMap;
use std::path::Path;

use crate::DataError;
use crate::file;

/// A table read from a CSV file: numeric features and class labels.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    /// Header names of the feature columns (`column 1`, `column 2`, ... without a header).
    pub feature_names: Vec<String>,
    /// Header name of the label column.
    pub label_name: String,
    /// Number of data rows.
    pub rows: usize,
    /// Features, row-major: `rows * feature_names.len()` values.
    pub x: Vec<f32>,
    /// The class of every row, an index into `class_names`.
    pub labels: Vec<u32>,
    /// Class index to the label as written in the file. Numeric labels are sorted by value
    /// (and written in their shortest form, so `5.0` becomes `5`), other labels by text.
    pub class_names: Vec<String>,
}

/// Reads a CSV file (raw or gzip). `label` selects the label column by header name or by
/// 0-based index; `None` means the last column.
pub fn read_table(path: impl AsRef<Path>, label: Option<&str>) -> Result<Table, DataError> {
    let path = path.as_ref();
    parse_table(&file::read(path)?, &file::display(path), label)
}

/// Parses the bytes of a CSV file (raw or gzip); `name` is used in error messages.
pub fn parse_table(bytes: &[u8], name: &str, label: Option<&str>) -> Result<Table, DataError> {
    let bytes = file::decompress(bytes, name)?;
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    // Checked whole first, so that the message gives the offset of the first bad byte
    // whichever field it is in.
    let text = std::str::from_utf8(bytes)
        .map_err(|e| DataError::NotUtf8 { path: name.to_owned(), offset: e.valid_up_to() })?;
    let first_line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let reader = ::csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(::csv::Trim::All)
        .delimiter(detect_delimiter(first_line))
        .from_reader(text.as_bytes());
    let records = Records { name, text: text.as_bytes(), reader, lines: csv_lines::LineCounter::default() };
    table(name, records, label)
}

/// The non-blank records of a file, each with the 1-based line it starts on; a record that
/// spans lines is [`DataError::UnterminatedQuote`].
struct Records<'a> {
    name: &'a str,
    text: &'a [u8],
    reader: ::csv::Reader<&'a [u8]>,
    lines: csv_lines::LineCounter,
}

impl Iterator for Records<'_> {
    type Item = Result<(usize, ::csv::StringRecord), DataError>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut record = ::csv::StringRecord::new();
        loop {
            let read = self.reader.read_record(&mut record);
            let start = record.position().map_or(0, |p| p.byte() as usize);
            let line = self.lines.line_at(self.text, start);
            match read {
                Err(e) => return Some(Err(DataError::Csv { path: self.name.to_owned(), line, detail: e.to_string() })),
                Ok(false) => return None,
                // A line of spaces is a record of one empty field: as blank as an empty line.
                Ok(true) if record.len() == 1 && record[0].is_empty() => continue,
                Ok(true) if record.iter().any(|f| f.contains(['\n', '\r'])) => {
                    return Some(Err(DataError::UnterminatedQuote { path: self.name.to_owned(), line }));
                }
                Ok(true) => return Some(Ok((line, record))),
            }
        }
    }
}

fn table(name: &str, records: Records<'_>, label: Option<&str>) -> Result<Table, DataError> {
    let empty = |what: &str| DataError::Empty { path: name.to_owned(), what: what.to_owned() };
    let mut records = records.peekable();
    let (first_line, first) = match records.next() {
        Some(first) => first?,
        None => return Err(empty("the file has no rows")),
    };
    let second = match records.peek() {
        Some(Ok((_, second))) => Some(second),
        // The error is returned when the loop below reaches it.
        Some(Err(_)) | None => None,
    };
    let has_header = is_header(&first, second);
    let columns = first.len();
    let names: Vec<String> = if has_header {
        first.iter().map(str::to_owned).collect()
    } else {
        (1..=columns).map(|c| format!("column {c}")).collect()
    };
    let label_col = label_column(name, &names, label)?;
    if columns < 2 {
        return Err(empty("no feature columns besides the label"));
    }

    let features = columns - 1;
    let mut x = Vec::new();
    let mut label_cells: Vec<String> = Vec::new();
    let data = (!has_header).then_some(Ok((first_line, first))).into_iter().chain(records);
    for record in data {
        let (line, fields) = record?;
        if fields.len() != columns {
            return Err(DataError::Ragged { path: name.to_owned(), line, expected: columns, got: fields.len() });
        }
        for (c, field) in fields.iter().enumerate() {
            if c == label_col {
                if field.is_empty() {
                    return Err(DataError::EmptyLabel {
                        path: name.to_owned(),
                        line,
                        column: c + 1,
                        name: names[c].clone(),
                    });
                }
                label_cells.push(field.to_owned());
                continue;
            }
            match field.parse::<f32>() {
                Ok(v) if v.is_finite() => x.push(v),
                _ => {
                    return Err(DataError::NotNumeric {
                        path: name.to_owned(),
                        line,
                        column: c + 1,
                        name: names[c].clone(),
                        value: field.to_owned(),
                    });
                }
            }
        }
    }
    let rows = label_cells.len();
    if rows == 0 {
        return Err(empty(if has_header { "a header row but no data rows" } else { "the file has no rows" }));
    }
    let (labels, class_names) = classes(&label_cells);
    let mut names = names;
    let label_name = names.remove(label_col);
    debug_assert_eq!(x.len(), rows * features);
    Ok(Table { feature_names: names, label_name, rows, x, labels, class_names })
}

/// The index of the label column: a header name first, then a 0-based index.
fn label_column(name: &str, names: &[String], label: Option<&str>) -> Result<usize, DataError> {
    let Some(label) = label else {
        return Ok(names.len() - 1);
    };
    if let Some(c) = names.iter().position(|n| n == label.trim()) {
        return Ok(c);
    }
    let detail = match label.trim().parse::<usize>() {
        Ok(c) if c < names.len() => return Ok(c),
        Ok(c) => format!(
            "label column index {c} is out of range: the file has {} columns (indices 0 to {})",
            names.len(),
            names.len() - 1
        ),
        Err(_) => {
            let shown: Vec<&str> = names.iter().take(12).map(String::as_str).collect();
            let more = if names.len() > shown.len() { format!(", ... ({} columns)", names.len()) } else { String::new() };
            format!("no column named {label:?} for the label (columns: {}{more})", shown.join(", "))
        }
    };
    Err(DataError::LabelColumn { path: name.to_owned(), detail })
}

/// The separator of a table: a semicolon when the first row holds more semicolons than
/// commas outside quotes (the European convention), otherwise a comma.
fn detect_delimiter(line: &str) -> u8 {
    let (mut commas, mut semicolons, mut quoted) = (0usize, 0usize, false);
    for b in line.bytes() {
        match b {
            b'"' => quoted = !quoted,
            b',' if !quoted => commas += 1,
            b';' if !quoted => semicolons += 1,
            _ => {}
        }
    }
    if semicolons > commas { b';' } else { b',' }
}

/// Whether the first row is a header: one of its cells is not a number although the cell
/// below it is (for a single row: any cell is not a number). A column of string labels in
/// a table without a header is then not mistaken for a header.
fn is_header(first: &::csv::StringRecord, second: Option<&::csv::StringRecord>) -> bool {
    first
        .iter()
        .enumerate()
        .any(|(c, cell)| !is_number(cell) && second.is_none_or(|below| below.get(c).is_some_and(is_number)))
}

/// Whether a cell is a finite number.
fn is_number(cell: &str) -> bool {
    cell.trim().parse::<f64>().is_ok_and(f64::is_finite)
}

/// Maps label cells to classes `0..k`: numerically sorted when every label is a number,
/// sorted by text otherwise. Returns the class of every row and the class names.
fn classes(cells: &[String]) -> (Vec<u32>, Vec<String>) {
    // Adding 0.0 turns -0 into 0, so that the two spellings are one class.
    let numbers: Option<Vec<f64>> =
        cells.iter().map(|c| c.parse::<f64>().ok().filter(|v| v.is_finite()).map(|v| v + 0.0)).collect();
    match numbers {
        Some(numbers) => {
            let mut values = numbers.clone();
            values.sort_by(f64::total_cmp);
            values.dedup();
            let labels = numbers
                .iter()
                .map(|v| values.binary_search_by(|probe| probe.total_cmp(v)).unwrap_or_default() as u32)
                .collect();
            (labels, values.iter().map(|v| v.to_string()).collect())
        }
        None => {
            let mut index: BTreeMap<&str, u32> = cells.iter().map(|c| (c.as_str(), 0)).collect();
            for (i, class) in index.values_mut().enumerate() {
                *class = i as u32;
            }
            let labels = cells.iter().map(|c| index[c.as_str()]).collect();
            (labels, index.into_keys().map(str::to_owned).collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_the_delimiter_outside_quotes() {
        assert_eq!(detect_delimiter("a;b;c"), b';');
        assert_eq!(detect_delimiter("\"a;b;c\",d"), b',');
        assert_eq!(detect_delimiter("1.5,2"), b',');
    }

    #[test]
    fn quoted_fields_escapes_and_stray_text() {
        let t = parse_table(b"\"a b\", c ,\"d\"\"e;x\"\n1,2,q\n", "q", Some("0")).unwrap_err().to_string();
        // The header is read (its quotes removed, `""` unescaped); the first column is the
        // label here, so `2` and `q` are the features and `q` is no number.
        assert!(t.contains("column 3 (\"d\\\"e;x\")") && t.contains("\"q\""), "{t}");
        let t = parse_table(b"x;y;k\n1;2;\"q;r\"\n", "s", None).unwrap();
        assert_eq!(t.class_names, ["q;r"]);
    }

    #[test]
    fn header_detection_ignores_a_string_label_column() {
        let t = parse_table(b"5.1,3.5,setosa\n4.9,3.0,setosa\n6.0,2.2,virginica\n", "t", None).unwrap();
        assert_eq!(t.rows, 3);
        assert_eq!(t.feature_names, ["column 1", "column 2"]);
        assert_eq!(t.class_names, ["setosa", "virginica"]);
        assert_eq!(t.labels, [0, 0, 1]);
        let h = parse_table(b"\xEF\xBB\xBF\"w\";\"h\";\"kind\"\r\n1;2;b\r\n\r\n3;4;a\r\n", "h", Some("kind")).unwrap();
        assert_eq!((h.rows, h.label_name.as_str()), (2, "kind"));
        assert_eq!(h.x, [1.0, 2.0, 3.0, 4.0]);
        assert_eq!(h.labels, [1, 0]);
    }

    #[test]
    fn lines_are_counted_across_blank_lines_and_line_ends() {
        // Lines 2 and 4 are blank, line 3 holds only spaces; the bad cell is on line 5.
        for text in ["a,b\n\n  \n\nx,1\n", "a,b\r\n\r\n  \r\n\r\nx,1\r\n", "a,b\r\r  \r\rx,1\r"] {
            let e = parse_table(text.as_bytes(), "l", None).unwrap_err();
            assert!(matches!(e, DataError::NotNumeric { line: 5, column: 1, .. }), "{text:?}: {e}");
        }
        // A second byte-order mark, which the `csv` crate skips as it skips the first.
        let e = parse_table(b"\xEF\xBB\xBF\xEF\xBB\xBF\rx,y\rz,1\r", "b", None).unwrap_err();
        assert!(matches!(e, DataError::NotNumeric { line: 3, column: 1, .. }), "{e}");
        let e = parse_table(b"a,b\n1,2\n\n3\n", "r", None).unwrap_err();
        assert!(matches!(e, DataError::Ragged { line: 4, expected: 2, got: 1, .. }), "{e}");
        let e = parse_table(b"a,b\n1,2\n\"3,4\n5,6\n", "u", None).unwrap_err();
        assert!(matches!(e, DataError::UnterminatedQuote { line: 3, .. }), "{e}");
    }

    #[test]
    fn numeric_labels_sort_by_value() {
        let t = parse_table(b"x,y\n1,10\n2,9\n3,10.0\n4,-0\n5,0\n", "n", None).unwrap();
        assert_eq!(t.class_names, ["0", "9", "10"]);
        assert_eq!(t.labels, [2, 1, 2, 0, 0]);
    }

    #[test]
    fn label_by_index_and_bad_label_columns() {
        let t = parse_table(b"a,b,c\n1,2,3\n", "i", Some("0")).unwrap();
        assert_eq!((t.label_name.as_str(), t.feature_names.clone()), ("a", vec!["b".to_owned(), "c".to_owned()]));
        let e = parse_table(b"a,b\n1,2\n", "i", Some("5")).unwrap_err().to_string();
        assert!(e.contains("out of range"), "{e}");
        let e = parse_table(b"a,b\n1,2\n", "i", Some("zz")).unwrap_err().to_string();
        assert!(e.contains("\"zz\"") && e.contains("a, b"), "{e}");
    }
}
