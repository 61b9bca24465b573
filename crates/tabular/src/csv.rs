//! CSV per RFC 4180, by hand: reading uploads (UTF-8, `,` or — when the header line clearly uses it — `;` or
//! tab, quoted cells with embedded quotes and line breaks, CRLF or LF) and writing result files that Excel
//! opens correctly (UTF-8 with BOM, CRLF, quoting, formula neutralisation). The reader must never alter a
//! cell beyond trimming it; the writer must never emit a cell a spreadsheet could run as a formula.

use crate::builder::TableBuilder;
use crate::formula::formula_risk;
use crate::{Limits, Table, TabularError};

/// How far into the file the header line is looked at to choose the separator.
const SNIFF_BYTES: usize = 64 * 1024;

pub(crate) fn read(bytes: &[u8], limits: &Limits) -> Result<Table, TabularError> {
    let text = crate::text::decode(bytes)?;
    let sep = detect_separator(text);
    let mut builder = TableBuilder::new(limits);
    parse(text, sep, &mut builder)?;
    builder.finish()
}

/// The separator used most often (outside quotes) on the first line; ties go to the comma.
fn detect_separator(text: &str) -> u8 {
    let (mut comma, mut semicolon, mut tab) = (0usize, 0usize, 0usize);
    let mut quoted = false;
    for &b in text.as_bytes().iter().take(SNIFF_BYTES) {
        match b {
            b'"' => quoted = !quoted,
            b'\r' | b'\n' if !quoted => break,
            b',' if !quoted => comma += 1,
            b';' if !quoted => semicolon += 1,
            b'\t' if !quoted => tab += 1,
            _ => {}
        }
    }
    if comma >= semicolon && comma >= tab {
        b','
    } else if tab >= semicolon {
        b'\t'
    } else {
        b';'
    }
}

fn is_end(b: u8, sep: u8) -> bool {
    b == sep || b == b'\r' || b == b'\n'
}

/// Feeds every record of `text` to `builder`. `sep` is ASCII, so every index the loop stops at is a char
/// boundary of `text`.
fn parse(text: &str, sep: u8, builder: &mut TableBuilder<'_>) -> Result<(), TabularError> {
    let bytes = text.as_bytes();
    let n = bytes.len();
    let slice = |a: usize, b: usize| text.get(a..b).unwrap_or_default();
    let mut field = String::new();
    let mut i = 0;
    while i < n {
        field.clear();
        if bytes[i] == b'"' {
            let (row, column) = (builder.row_number(), builder.column_number());
            i += 1;
            loop {
                let Some(k) = bytes[i..].iter().position(|&b| b == b'"') else {
                    return Err(TabularError::UnterminatedQuote { row, column });
                };
                field.push_str(slice(i, i + k));
                i += k + 1;
                if bytes.get(i) == Some(&b'"') {
                    field.push('"');
                    i += 1;
                } else {
                    break;
                }
            }
            while i < n && (bytes[i] == b' ' || (bytes[i] == b'\t' && sep != b'\t')) {
                i += 1;
            }
            if i < n && !is_end(bytes[i], sep) {
                return Err(TabularError::TextAfterQuote { row, column });
            }
        } else {
            let start = i;
            while i < n && !is_end(bytes[i], sep) {
                i += 1;
            }
            field.push_str(slice(start, i));
        }
        builder.cell(&field, 1)?;
        match bytes.get(i) {
            None => break,
            Some(&b) if b == sep => {
                i += 1;
                if i == n {
                    // A separator at the very end still opens one (empty) last cell.
                    builder.cell("", 1)?;
                }
            }
            Some(&b'\r') => {
                i += 1;
                if bytes.get(i) == Some(&b'\n') {
                    i += 1;
                }
                builder.end_row(1)?;
                continue;
            }
            Some(_) => {
                i += 1;
                builder.end_row(1)?;
                continue;
            }
        }
        if i >= n {
            break;
        }
    }
    builder.end_row(1)
}

/// Writes a CSV that Excel opens correctly: UTF-8 with a byte-order mark, CRLF line ends, RFC 4180 quoting,
/// and a leading `'` before any cell that [`formula_risk`] flags.
pub fn write_csv<H, R, C>(header: &[H], rows: &[R]) -> Vec<u8>
where
    H: AsRef<str>,
    R: AsRef<[C]>,
    C: AsRef<str>,
{
    let mut w = CsvWriter::new(header);
    for row in rows {
        w.row(row.as_ref().iter().map(AsRef::as_ref));
    }
    w.finish()
}

/// [`write_csv`] a row at a time, for files too long to hold as rows first (a batch's result).
#[derive(Debug)]
pub struct CsvWriter {
    out: String,
}

impl CsvWriter {
    pub fn new<H: AsRef<str>>(header: &[H]) -> Self {
        let mut out = String::from("\u{FEFF}");
        write_line(&mut out, header.iter().map(AsRef::as_ref));
        Self { out }
    }

    pub fn row<'a>(&mut self, cells: impl IntoIterator<Item = &'a str>) {
        write_line(&mut self.out, cells.into_iter());
    }

    pub fn finish(self) -> Vec<u8> {
        self.out.into_bytes()
    }
}

fn write_line<'a>(out: &mut String, cells: impl Iterator<Item = &'a str>) {
    for (i, cell) in cells.enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_cell(out, cell);
    }
    out.push_str("\r\n");
}

fn write_cell(out: &mut String, cell: &str) {
    let prefix = if formula_risk(cell) { "'" } else { "" };
    // `;` and tab are quoted too, so that a reader guessing the separator from the header is never misled.
    if cell.contains([',', '"', '\r', '\n', ';', '\t']) {
        out.push('"');
        out.push_str(prefix);
        out.push_str(&cell.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(prefix);
        out.push_str(cell);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_str(s: &str) -> Result<Table, TabularError> {
        read(s.as_bytes(), &Limits::default())
    }

    fn strs(rows: &[Vec<String>]) -> Vec<Vec<&str>> {
        rows.iter().map(|r| r.iter().map(String::as_str).collect()).collect()
    }

    #[test]
    fn reads_rfc4180_quotes_and_line_breaks() {
        let t = read_str("a,b,c\r\n\"x, y\",\"say \"\"hi\"\"\",\"two\r\nlines\"\r\n1,,3").unwrap();
        assert_eq!(t.header, vec!["a", "b", "c"]);
        assert_eq!(strs(&t.rows), vec![vec!["x, y", "say \"hi\"", "two\r\nlines"], vec!["1", "", "3"]]);
    }

    #[test]
    fn lf_cr_and_bom_are_accepted_and_cells_trimmed() {
        let t = read_str("\u{FEFF} 身分證號 ,姓名\nA123456789 , 王小明\n").unwrap();
        assert_eq!(t.header, vec!["身分證號", "姓名"]);
        assert_eq!(strs(&t.rows), vec![vec!["A123456789", "王小明"]]);
        let t = read_str("a,b\rc,d\r").unwrap();
        assert_eq!(strs(&t.rows), vec![vec!["c", "d"]]);
    }

    #[test]
    fn separator_follows_the_header_line() {
        assert_eq!(detect_separator("a;b;c\n1,5;2;3"), b';');
        assert_eq!(detect_separator("a\tb\n"), b'\t');
        assert_eq!(detect_separator("a,b;c\n"), b',');
        assert_eq!(detect_separator("\"a;b\",c\n"), b',');
        assert_eq!(detect_separator("single\n"), b',');
        let t = read_str("身分證號;金額\nA123456789;1,5\n").unwrap();
        assert_eq!(strs(&t.rows), vec![vec!["A123456789", "1,5"]]);
        let t = read_str("a\tb\n1\t2\n").unwrap();
        assert_eq!(strs(&t.rows), vec![vec!["1", "2"]]);
    }

    #[test]
    fn trailing_empty_rows_and_columns_are_dropped_middle_rows_kept() {
        let t = read_str("a,b,,\n1,2,,\n,,,\n3,4,,\n\n\n,,\r\n").unwrap();
        assert_eq!(t.header, vec!["a", "b"]);
        assert_eq!(strs(&t.rows), vec![vec!["1", "2"], vec!["", ""], vec!["3", "4"]]);
        let t = read_str("a,b,").unwrap();
        assert_eq!(t.header, vec!["a", "b"]);
    }

    #[test]
    fn quote_errors_name_row_and_column() {
        let err = read_str("a,b\n1,2\n3,\"open\n").unwrap_err();
        assert!(matches!(err, TabularError::UnterminatedQuote { row: 3, column: 2 }), "{err:?}");
        assert!(err.to_string().contains("第 3 列第 B 欄"));
        let err = read_str("a,b\n\"x\"y,2\n").unwrap_err();
        assert!(matches!(err, TabularError::TextAfterQuote { row: 2, column: 1 }), "{err:?}");
        // A quote inside an unquoted cell is kept as it is, as spreadsheet programs do.
        let t = read_str("a\n5\"3\n").unwrap();
        assert_eq!(t.rows[0][0], "5\"3");
        // Spaces after a closing quote are tolerated.
        let t = read_str("a,b\n\"x\"  ,y\n").unwrap();
        assert_eq!(strs(&t.rows), vec![vec!["x", "y"]]);
    }

    #[test]
    fn rows_are_counted_as_records_not_lines() {
        let limits = Limits { max_cell_chars: 3, ..Limits::default() };
        let err = read("a\n\"1\n2\"\n\"long!\"\n".as_bytes(), &limits).unwrap_err();
        assert!(matches!(err, TabularError::CellTooLong { row: 3, column: 1, max: 3 }), "{err:?}");
    }

    #[test]
    fn empty_inputs() {
        assert!(matches!(read_str(""), Err(TabularError::Empty)));
        assert!(matches!(read_str("\u{FEFF}"), Err(TabularError::Empty)));
        assert!(matches!(read_str(" , ,\r\n\r\n"), Err(TabularError::Empty)));
        assert!(matches!(read_str("\na,b\n"), Err(TabularError::EmptyHeader)));
        let t = read_str("only,header\n").unwrap();
        assert!(t.rows.is_empty());
    }

    #[test]
    fn a_file_of_separators_costs_nothing() {
        let s = ",".repeat(5_000_000);
        let t = read_str(&format!("a\n{s}\n1")).unwrap();
        assert_eq!(t.rows, vec![vec![""], vec!["1"]]);
    }

    #[test]
    fn writes_bom_crlf_quotes_and_neutralises_formulas() {
        let out = write_csv(
            &["身分證號", "備註"],
            &[vec!["A123456789", "a,b"], vec!["=1+1", "say \"hi\""], vec!["-12", "@x"]],
        );
        let s = String::from_utf8(out).unwrap();
        assert_eq!(s, "\u{FEFF}身分證號,備註\r\nA123456789,\"a,b\"\r\n'=1+1,\"say \"\"hi\"\"\"\r\n-12,'@x\r\n");
        let s = String::from_utf8(write_csv(&["a"], &[["=x,y"]])).unwrap();
        assert_eq!(s, "\u{FEFF}a\r\n\"'=x,y\"\r\n");
        let empty: &[Vec<String>] = &[];
        assert_eq!(write_csv::<&str, _, String>(&[], empty), "\u{FEFF}\r\n".as_bytes());
    }
}
