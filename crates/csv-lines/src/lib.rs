//! The line a record of the `csv` crate starts on, counted from its byte offset, for the error
//! messages of the two CSV readers (`data`'s tables and `runfolder`'s files): the `csv` crate's
//! own line count is off after blank lines and with CRLF line ends.
//!
//! A crate of its own because its two users depend on neither each other (a dataset loader
//! has no business with the run folder's contract, and the run folder's readers should not
//! build image decoders) nor on anything else they share.

/// Line numbers from byte offsets, counted forward from the last offset asked for (records
/// come in file order, so each byte is counted once).
#[derive(Debug, Default)]
pub struct LineCounter {
    offset: usize,
    line: usize,
}

impl LineCounter {
    /// The 1-based line of the first byte at or after `offset` that is not a line end: a
    /// record's offset is where the reader started looking for it, before the blank lines
    /// and the line end it skipped. `\n`, `\r\n` and a lone `\r` each end a line, as they
    /// do for the `csv` crate.
    pub fn line_at(&mut self, text: &[u8], offset: usize) -> usize {
        let end = text.len();
        let mut at = offset.min(end);
        // The reader skips a byte-order mark at the start of its input, and gives the record
        // after it the offset 0.
        if at == 0 && text.starts_with(b"\xEF\xBB\xBF") {
            at = 3;
        }
        while at < end && matches!(text[at], b'\n' | b'\r') {
            at += 1;
        }
        let at = at.max(self.offset);
        for i in self.offset..at {
            if text[i] == b'\n' || (text[i] == b'\r' && text.get(i + 1) != Some(&b'\n')) {
                self.line += 1;
            }
        }
        self.offset = at;
        self.line + 1
    }
}

#[cfg(test)]
mod tests {
    use super::LineCounter;

    #[test]
    fn each_line_end_counts_once_and_blank_lines_are_skipped() {
        // Offsets as the csv crate gives them: where it started looking for each record.
        let text = b"\xEF\xBB\xBFa,b\r\n\r\nc,d\re,f\n\ng,h";
        let mut lines = LineCounter::default();
        assert_eq!(lines.line_at(text, 0), 1, "after the byte-order mark");
        assert_eq!(lines.line_at(text, 6), 3, "CRLF, then a blank CRLF line");
        assert_eq!(lines.line_at(text, 13), 4, "a lone CR ends a line");
        assert_eq!(lines.line_at(text, 17), 6, "LF, then a blank line");
        assert_eq!(lines.line_at(text, text.len()), 6, "the end of the text is on the last line");
    }
}
