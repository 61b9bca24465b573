//! Reading and writing the tables county staff exchange with nhiguard: CSV and ODS uploads for batch queries;
//! CSV, ODS and JSON Lines for result files and exports. This crate knows nothing of NHI, HTTP or databases.
//! It must never panic or allocate without bound on any input, however hostile: sizes, row and column counts,
//! repeat counts and inflated sizes are all checked against [`Limits`] (or a fixed cap) before they are used.
//! It must never alter a cell it reads beyond trimming whitespace: deciding what to do with a risky cell
//! ([`formula_risk`]) is the caller's business.

mod builder;
mod csv;
mod error;
mod formula;
mod jsonl;
mod ods;
mod odt;
mod text;
mod xml;
mod zip;

pub use csv::{CsvWriter, write_csv};
pub use error::TabularError;
pub use formula::formula_risk;
pub use jsonl::write_jsonl;
pub use ods::{Sheet, write_ods};
pub use odt::{Block, write_odt};

/// The kinds of file [`read_table`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// Comma- (or semicolon-, or tab-) separated text in UTF-8.
    Csv,
    /// An OpenDocument spreadsheet (LibreOffice Calc; Excel and Google Sheets can save it too).
    Ods,
}

const OLE2_MAGIC: &[u8] = &[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];

impl FileKind {
    /// Decides the kind from the content first (a ZIP is read as ODS, which then refuses XLSX clearly),
    /// then from the file name's extension; anything else is treated as CSV, whose reader refuses what is not
    /// text. Refuses Excel files outright.
    pub fn sniff(bytes: &[u8], filename: &str) -> Result<FileKind, TabularError> {
        if zip::looks_like_zip(bytes) {
            return Ok(FileKind::Ods);
        }
        if bytes.starts_with(OLE2_MAGIC) {
            return Err(TabularError::Xls);
        }
        let ext = filename.rsplit_once('.').map(|(_, e)| e.trim().to_ascii_lowercase()).unwrap_or_default();
        match ext.as_str() {
            "ods" | "fods" => Ok(FileKind::Ods),
            "xlsx" | "xlsm" | "xltx" => Err(TabularError::Xlsx),
            "xls" | "xlt" => Err(TabularError::Xls),
            _ => Ok(FileKind::Csv),
        }
    }
}

/// How much [`read_table`] accepts. The defaults suit a batch query upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Size of the uploaded file (default 10 MiB).
    pub max_bytes: usize,
    /// Data rows, not counting the header row (default 200 000).
    pub max_rows: usize,
    /// Columns holding data (default 20); empty trailing columns do not count.
    pub max_cols: usize,
    /// Characters in one cell after trimming (default 200).
    pub max_cell_chars: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_bytes: 10 * 1024 * 1024, max_rows: 200_000, max_cols: 20, max_cell_chars: 200 }
    }
}

/// A table as read: row 1 of the file is `header`, row `n` of the file is `rows[n - 2]`.
///
/// Cells are trimmed. Empty trailing rows and columns are dropped; empty rows in the middle are kept (as
/// empty cells) so that row numbers still match what a spreadsheet shows. The table is rectangular: the
/// header and every row have the same number of cells (the header is padded with `""` if data reaches
/// further than the column names).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// Indices into `rows` of rows with content that the spreadsheet hides (collapsed, or filtered
    /// out), in order: what the person saw is not all the file holds. Always empty for CSV.
    pub hidden: Vec<usize>,
}

impl Table {
    /// The index of the first column whose header is `name` (compared after trimming).
    pub fn column_index(&self, name: &str) -> Option<usize> {
        let name = name.trim();
        self.header.iter().position(|h| h == name)
    }

    /// The spreadsheet row number (header = 1) of `rows[index]`, for messages.
    pub fn row_number(index: usize) -> u64 {
        (index as u64).saturating_add(2)
    }
}

/// Reads an uploaded table. Content wins over `kind` where it is unambiguous: a ZIP is read as ODS (and an
/// XLSX refused), a legacy Excel file is refused; `kind` decides between CSV and a mislabelled non-ZIP ODS.
pub fn read_table(bytes: &[u8], kind: FileKind, limits: &Limits) -> Result<Table, TabularError> {
    if bytes.len() > limits.max_bytes {
        return Err(TabularError::TooLarge { size: bytes.len(), max: limits.max_bytes });
    }
    if zip::looks_like_zip(bytes) {
        return ods::read(bytes, limits);
    }
    if bytes.starts_with(OLE2_MAGIC) {
        return Err(TabularError::Xls);
    }
    match kind {
        FileKind::Csv => csv::read(bytes, limits),
        FileKind::Ods => Err(TabularError::NotOds { mimetype: None }),
    }
}

/// The XML of an OpenDocument file's `content.xml` — a sheet or a text written here, or any other —
/// inflated to at most `max` bytes: what a check of a written document reads, its entries being
/// compressed.
pub fn document_content(bytes: &[u8], max: usize) -> Result<String, TabularError> {
    let archive = zip::Archive::parse(bytes)?;
    let content = archive.find("content.xml").ok_or(TabularError::CorruptZip { detail: "content.xml is missing" })?;
    Ok(String::from_utf8_lossy(&archive.read(content, max)?).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniff_uses_content_then_extension() {
        assert_eq!(FileKind::sniff(b"PK\x03\x04rest", "a.csv").unwrap(), FileKind::Ods);
        assert_eq!(FileKind::sniff(b"a,b\n", "a.CSV").unwrap(), FileKind::Csv);
        assert_eq!(FileKind::sniff(b"a,b\n", "upload.ods").unwrap(), FileKind::Ods);
        assert_eq!(FileKind::sniff(b"a,b\n", "noext").unwrap(), FileKind::Csv);
        assert!(matches!(FileKind::sniff(OLE2_MAGIC, "a.csv"), Err(TabularError::Xls)));
        assert!(matches!(FileKind::sniff(b"<html>", "export.xls"), Err(TabularError::Xls)));
        assert!(matches!(FileKind::sniff(b"xx", "book.xlsx"), Err(TabularError::Xlsx)));
    }

    #[test]
    fn size_limit_is_checked_first() {
        let limits = Limits { max_bytes: 10, ..Limits::default() };
        let err = read_table(b"a,b,c,d,e,f\n", FileKind::Csv, &limits).unwrap_err();
        assert!(matches!(err, TabularError::TooLarge { size: 12, max: 10 }));
    }

    #[test]
    fn non_zip_ods_and_legacy_excel_are_refused() {
        let limits = Limits::default();
        assert!(matches!(read_table(b"a,b\n", FileKind::Ods, &limits), Err(TabularError::NotOds { mimetype: None })));
        assert!(matches!(read_table(OLE2_MAGIC, FileKind::Csv, &limits), Err(TabularError::Xls)));
    }

    #[test]
    fn row_numbers_count_the_header() {
        assert_eq!(Table::row_number(0), 2);
        let t = Table { header: vec!["a".into(), "身分證號".into()], ..Table::default() };
        assert_eq!(t.column_index(" 身分證號 "), Some(1));
        assert_eq!(t.column_index("x"), None);
    }
}
