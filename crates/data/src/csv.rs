//! A small CSV reader for numeric tables with one label column.
//!
//! It handles what tabular datasets actually look like: comma or semicolon separators
//! (detected from the first row), quoted fields with `""` escapes, an optional header row
//! (detected), CRLF line ends, a UTF-8 byte-order mark, blank lines and gzip compression.
//! A quoted field must close on its own line: these tables hold numbers and short names,
//! and a line-based reader can report every problem with its line number.

use std::borrow::Cow;
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
    let text = std::str::from_utf8(bytes)
        .map_err(|e| DataError::NotUtf8 { path: name.to_owned(), offset: e.valid_up_to() })?;
    Parser { name, text }.table(label)
}

/// The parsing state: the file's name for errors and its text.
struct Parser<'a> {
    name: &'a str,
    text: &'a str,
}

impl<'a> Parser<'a> {
    /// The non-blank lines with their 1-based line numbers, without line ends.
    fn lines(&self) -> impl Iterator<Item = (usize, &'a str)> + use<'a> {
        self.text
            .split('\n')
            .enumerate()
            .map(|(i, line)| (i + 1, line.strip_suffix('\r').unwrap_or(line)))
            .filter(|(_, line)| !line.trim().is_empty())
    }

    fn table(&self, label: Option<&str>) -> Result<Table, DataError> {
        let mut lines = self.lines().peekable();
        let Some(&(first_no, first_line)) = lines.peek() else {
            return Err(self.empty("the file has no rows"));
        };
        let delimiter = detect_delimiter(first_line);
        let mut first = Vec::new();
        self.split(first_no, first_line, delimiter, &mut first)?;
        let columns = first.len();

        let second = match self.lines().nth(1) {
            Some((no, line)) => {
                let mut fields = Vec::new();
                self.split(no, line, delimiter, &mut fields)?;
                Some(fields)
            }
            None => None,
        };
        let has_header = is_header(&first, second.as_deref());
        let names: Vec<String> = if has_header {
            lines.next();
            first.iter().map(|n| n.trim().to_owned()).collect()
        } else {
            (1..=columns).map(|c| format!("column {c}")).collect()
        };
        let label_col = self.label_column(&names, label)?;
        if columns < 2 {
            return Err(self.empty("no feature columns besides the label"));
        }

        let features = columns - 1;
        let mut x = Vec::new();
        let mut label_cells: Vec<Cow<'a, str>> = Vec::new();
        let mut fields = Vec::with_capacity(columns);
        for (no, line) in lines {
            self.split(no, line, delimiter, &mut fields)?;
            if fields.len() != columns {
                return Err(DataError::Ragged {
                    path: self.name.to_owned(),
                    line: no,
                    expected: columns,
                    got: fields.len(),
                });
            }
            for (c, field) in fields.drain(..).enumerate() {
                if c == label_col {
                    if field.is_empty() {
                        return Err(DataError::EmptyLabel {
                            path: self.name.to_owned(),
                            line: no,
                            column: c + 1,
                            name: names[c].clone(),
                        });
                    }
                    label_cells.push(field);
                } else {
                    match field.parse::<f32>() {
                        Ok(v) if v.is_finite() => x.push(v),
                        _ => {
                            return Err(DataError::NotNumeric {
                                path: self.name.to_owned(),
                                line: no,
                                column: c + 1,
                                name: names[c].clone(),
                                value: field.into_owned(),
                            });
                        }
                    }
                }
            }
        }
        let rows = label_cells.len();
        if rows == 0 {
            return Err(self.empty(if has_header { "a header row but no data rows" } else { "the file has no rows" }));
        }
        let (labels, class_names) = classes(&label_cells);
        let mut names = names;
        let label_name = names.remove(label_col);
        debug_assert_eq!(x.len(), rows * features);
        Ok(Table { feature_names: names, label_name, rows, x, labels, class_names })
    }

    /// The index of the label column: a header name first, then a 0-based index.
    fn label_column(&self, names: &[String], label: Option<&str>) -> Result<usize, DataError> {
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
                let more =
                    if names.len() > shown.len() { format!(", ... ({} columns)", names.len()) } else { String::new() };
                format!("no column named {label:?} for the label (columns: {}{more})", shown.join(", "))
            }
        };
        Err(DataError::LabelColumn { path: self.name.to_owned(), detail })
    }

    /// Splits a line into fields, mapping an unclosed quote to its error.
    fn split(&self, no: usize, line: &'a str, delimiter: u8, out: &mut Vec<Cow<'a, str>>) -> Result<(), DataError> {
        split_fields(line, delimiter, out)
            .map_err(|Unclosed| DataError::UnterminatedQuote { path: self.name.to_owned(), line: no })
    }

    fn empty(&self, what: &str) -> DataError {
        DataError::Empty { path: self.name.to_owned(), what: what.to_owned() }
    }
}

/// A quoted field that does not close on its line.
struct Unclosed;

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

/// Splits one line into its fields, trimmed, with quotes removed and `""` unescaped.
/// Fields borrow from the line unless an escape forces a copy.
fn split_fields<'a>(line: &'a str, delimiter: u8, out: &mut Vec<Cow<'a, str>>) -> Result<(), Unclosed> {
    out.clear();
    let bytes = line.as_bytes();
    let mut start = 0;
    loop {
        // The delimiter and the quote are ASCII, so every index found here is a char boundary.
        let lead = start + bytes[start..].iter().take_while(|b| matches!(b, b' ' | b'\t')).count();
        let end = if bytes.get(lead) == Some(&b'"') {
            let (field, close) = quoted_field(line, lead + 1)?;
            let end = find(bytes, close + 1, delimiter);
            // Text between the closing quote and the delimiter is not valid CSV; it is kept
            // rather than dropped, so that it shows up if the cell is reported.
            let stray = line[close + 1..end].trim();
            out.push(if stray.is_empty() { field } else { Cow::Owned(format!("{field}{stray}")) });
            end
        } else {
            let end = find(bytes, start, delimiter);
            out.push(Cow::Borrowed(line[start..end].trim()));
            end
        };
        if end >= bytes.len() {
            return Ok(());
        }
        start = end + 1;
    }
}

/// The content of a quoted field whose text starts at `from`, and the index of its
/// closing quote.
fn quoted_field(line: &str, from: usize) -> Result<(Cow<'_, str>, usize), Unclosed> {
    let bytes = line.as_bytes();
    let mut owned: Option<String> = None;
    let mut segment = from;
    loop {
        let quote = segment + bytes[segment..].iter().position(|&b| b == b'"').ok_or(Unclosed)?;
        if bytes.get(quote + 1) == Some(&b'"') {
            owned.get_or_insert_with(String::new).push_str(&line[segment..=quote]);
            segment = quote + 2;
            continue;
        }
        let field = match owned {
            None => Cow::Borrowed(&line[segment..quote]),
            Some(mut s) => {
                s.push_str(&line[segment..quote]);
                Cow::Owned(s)
            }
        };
        return Ok((field, quote));
    }
}

/// The index of the next `delimiter` at or after `from`, or the end.
fn find(bytes: &[u8], from: usize, delimiter: u8) -> usize {
    bytes[from..].iter().position(|&b| b == delimiter).map_or(bytes.len(), |p| from + p)
}

/// Whether the first row is a header: one of its cells is not a number although the cell
/// below it is (for a single row: any cell is not a number). A column of string labels in
/// a table without a header is then not mistaken for a header.
fn is_header(first: &[Cow<'_, str>], second: Option<&[Cow<'_, str>]>) -> bool {
    first
        .iter()
        .enumerate()
        .any(|(c, cell)| !is_number(cell) && second.is_none_or(|below| below.get(c).is_some_and(|b| is_number(b))))
}

/// Whether a cell is a finite number.
fn is_number(cell: &str) -> bool {
    cell.trim().parse::<f64>().is_ok_and(f64::is_finite)
}

/// Maps label cells to classes `0..k`: numerically sorted when every label is a number,
/// sorted by text otherwise. Returns the class of every row and the class names.
fn classes(cells: &[Cow<'_, str>]) -> (Vec<u32>, Vec<String>) {
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
            let mut index: BTreeMap<&str, u32> = cells.iter().map(|c| (c.as_ref(), 0)).collect();
            for (i, class) in index.values_mut().enumerate() {
                *class = i as u32;
            }
            let labels = cells.iter().map(|c| index[c.as_ref()]).collect();
            (labels, index.into_keys().map(str::to_owned).collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(line: &str, delimiter: u8) -> Vec<String> {
        let mut out = Vec::new();
        assert!(split_fields(line, delimiter, &mut out).is_ok());
        out.into_iter().map(Cow::into_owned).collect()
    }

    #[test]
    fn splits_quoted_and_plain_fields() {
        assert_eq!(fields(r#""a b", c ,"d""e";x"#, b','), ["a b", "c", r#"d"e;x"#]);
        assert_eq!(fields("1;2;\"q;r\"", b';'), ["1", "2", "q;r"]);
        assert_eq!(fields("1,", b','), ["1", ""]);
        assert_eq!(fields("", b','), [""]);
        assert!(split_fields("\"open,1", b',', &mut Vec::new()).is_err());
    }

    #[test]
    fn detects_the_delimiter_outside_quotes() {
        assert_eq!(detect_delimiter("a;b;c"), b';');
        assert_eq!(detect_delimiter("\"a;b;c\",d"), b',');
        assert_eq!(detect_delimiter("1.5,2"), b',');
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
