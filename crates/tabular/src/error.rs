//! The one error type of the tabular crate. Every message says, in Traditional Chinese then English, what is
//! wrong and what the person uploading can do about it, naming the row and column the way a spreadsheet shows
//! them (row 1 is the header row, column A is the first). Messages must never echo cell contents: an upload
//! holds national IDs, and error texts end up in logs.

use std::fmt;

/// What went wrong while reading (or, for JSON Lines, writing) a table.
///
/// `Display` gives `"中文 / English"`; [`TabularError::zh`] and [`TabularError::en`] give each half and
/// [`TabularError::code`] a stable code a help desk can quote.
#[derive(Debug, thiserror::Error)]
pub enum TabularError {
    /// The upload is larger than [`crate::Limits::max_bytes`].
    TooLarge { size: usize, max: usize },
    /// No cells at all.
    Empty,
    /// Row 1 is blank but later rows have content.
    EmptyHeader,
    /// More data rows than [`crate::Limits::max_rows`].
    TooManyRows { max: usize },
    /// A row has content beyond [`crate::Limits::max_cols`].
    TooManyColumns { row: u64, max: usize },
    /// A cell is longer than [`crate::Limits::max_cell_chars`].
    CellTooLong { row: u64, column: usize, max: usize },
    /// Repeated rows and cells of an ODS expand to more text than the reader keeps in memory.
    TableTooLarge { max_bytes: usize },
    /// Not UTF-8, but looks like Big5 / CP950.
    Big5,
    /// UTF-16 or UTF-32 text.
    Utf16,
    /// Neither text nor a spreadsheet this crate reads.
    NotText,
    /// A quoted CSV cell is never closed.
    UnterminatedQuote { row: u64, column: usize },
    /// Text follows the closing quote of a CSV cell.
    TextAfterQuote { row: u64, column: usize },
    /// An Office Open XML workbook (.xlsx).
    Xlsx,
    /// A legacy Excel workbook (.xls) or another OLE2 compound file.
    Xls,
    /// A ZIP that is not an OpenDocument spreadsheet; `mimetype` is what it declares, if anything.
    NotOds { mimetype: Option<String> },
    /// A password-protected spreadsheet.
    Encrypted,
    /// The ZIP container is truncated or damaged.
    CorruptZip { detail: &'static str },
    /// An entry expands beyond `max` bytes or beyond the size it declares.
    ZipBomb { max: usize },
    /// A ZIP feature this reader does not handle (ZIP64, multi-disk, an unusual compression method).
    UnsupportedZip { detail: &'static str },
    /// `content.xml` is not well-formed.
    BadXml { detail: String },
    /// The ODS has no sheet.
    NoTable,
    /// An item could not be serialised to JSON.
    Json(#[source] serde_json::Error),
}

/// Spreadsheet column letters: 1 → A, 26 → Z, 27 → AA.
pub(crate) fn column_letters(column: usize) -> String {
    let mut n = column;
    let mut letters = Vec::new();
    while n > 0 {
        let rem = (n - 1) % 26;
        letters.push(char::from(b'A' + rem as u8));
        n = (n - 1) / 26;
    }
    letters.iter().rev().collect()
}

fn mib(bytes: usize) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

impl TabularError {
    /// A stable code for this kind of error, for the help desk (`TAB-…`).
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => "TAB-001",
            Self::Empty => "TAB-002",
            Self::EmptyHeader => "TAB-003",
            Self::TooManyRows { .. } => "TAB-004",
            Self::TooManyColumns { .. } => "TAB-005",
            Self::CellTooLong { .. } => "TAB-006",
            Self::TableTooLarge { .. } => "TAB-007",
            Self::Big5 => "TAB-010",
            Self::Utf16 => "TAB-011",
            Self::NotText => "TAB-012",
            Self::UnterminatedQuote { .. } => "TAB-013",
            Self::TextAfterQuote { .. } => "TAB-014",
            Self::Xlsx => "TAB-020",
            Self::Xls => "TAB-021",
            Self::NotOds { .. } => "TAB-022",
            Self::Encrypted => "TAB-023",
            Self::CorruptZip { .. } => "TAB-024",
            Self::ZipBomb { .. } => "TAB-025",
            Self::UnsupportedZip { .. } => "TAB-026",
            Self::BadXml { .. } => "TAB-027",
            Self::NoTable => "TAB-028",
            Self::Json(_) => "TAB-030",
        }
    }

    /// The row (1 = header row) the error is about, if any.
    pub fn row(&self) -> Option<u64> {
        match self {
            Self::TooManyColumns { row, .. }
            | Self::CellTooLong { row, .. }
            | Self::UnterminatedQuote { row, .. }
            | Self::TextAfterQuote { row, .. } => Some(*row),
            _ => None,
        }
    }

    /// The message in Traditional Chinese.
    pub fn zh(&self) -> String {
        match self {
            Self::TooLarge { size, max } => {
                format!("檔案太大（{}），上限為 {}，請分成幾個較小的檔案後再上傳", mib(*size), mib(*max))
            }
            Self::Empty => "檔案沒有任何內容，請確認選擇了正確的檔案".into(),
            Self::EmptyHeader => "第 1 列是空的：第 1 列必須是欄位名稱（標題列），請補上後再上傳".into(),
            Self::TooManyRows { max } => format!("資料超過 {max} 列，請分成幾個檔案後再上傳"),
            Self::TooManyColumns { row, max } => {
                format!("第 {row} 列的資料超過 {max} 欄，請刪除多餘的欄位後再上傳")
            }
            Self::CellTooLong { row, column, max } => {
                format!("第 {row} 列第 {} 欄（{column}）的內容超過 {max} 個字，請縮短後再上傳", column_letters(*column))
            }
            Self::TableTooLarge { max_bytes } => {
                format!("試算表展開後的內容超過 {}，請刪除不需要的列與欄，或另存為 CSV 後再上傳", mib(*max_bytes))
            }
            Self::Big5 => "檔案編碼為 Big5，請另存為 UTF-8 CSV（Excel：另存新檔 → CSV UTF-8）後再上傳".into(),
            Self::Utf16 => {
                "檔案編碼為 UTF-16（Unicode 文字），請另存為 UTF-8 CSV（Excel：另存新檔 → CSV UTF-8）後再上傳".into()
            }
            Self::NotText => "檔案不是文字檔（CSV）也不是 ODS 試算表，請確認上傳的是正確的檔案".into(),
            Self::UnterminatedQuote { row, column } => format!(
                "第 {row} 列第 {} 欄的雙引號（\"）沒有結束，請檢查該儲存格，或由試算表軟體重新另存為 CSV",
                column_letters(*column)
            ),
            Self::TextAfterQuote { row, column } => format!(
                "第 {row} 列第 {} 欄在結束的雙引號（\"）之後還有文字，請檢查該儲存格，或由試算表軟體重新另存為 CSV",
                column_letters(*column)
            ),
            Self::Xlsx => "不接受 Excel 活頁簿（.xlsx），請另存為 ODS 試算表或 CSV UTF-8 後再上傳".into(),
            Self::Xls => "不接受舊版 Excel 檔（.xls），請另存為 ODS 試算表或 CSV UTF-8 後再上傳".into(),
            Self::NotOds { mimetype: Some(m) } => {
                format!("這不是 ODS 試算表（檔案類型為 {m}），請另存為 ODS 試算表或 CSV UTF-8 後再上傳")
            }
            Self::NotOds { mimetype: None } => "這不是 ODS 試算表，請另存為 ODS 試算表或 CSV UTF-8 後再上傳".into(),
            Self::Encrypted => "試算表設有密碼保護，請移除密碼後另存再上傳".into(),
            Self::CorruptZip { .. } => "試算表檔案已損毀或不完整（可能是下載或複製時中斷），請重新存檔後再上傳".into(),
            Self::ZipBomb { max } => format!(
                "試算表內容解壓縮後超過 {} 或與宣告的大小不符，已拒絕此檔案；請另存為 CSV UTF-8 後再上傳",
                mib(*max)
            ),
            Self::UnsupportedZip { .. } => {
                "試算表使用了不支援的壓縮格式，請用試算表軟體重新另存為 ODS 或 CSV UTF-8 後再上傳".into()
            }
            Self::BadXml { .. } => "試算表內容格式錯誤，請用試算表軟體重新另存為 ODS 或 CSV UTF-8 後再上傳".into(),
            Self::NoTable => "試算表裡沒有任何工作表，請確認選擇了正確的檔案".into(),
            Self::Json(_) => "無法產生 JSON 資料（系統錯誤），請將錯誤代碼告知系統管理者".into(),
        }
    }

    /// The message in English.
    pub fn en(&self) -> String {
        match self {
            Self::TooLarge { size, max } => {
                format!(
                    "the file is too large ({}; the limit is {}): split it into smaller files",
                    mib(*size),
                    mib(*max)
                )
            }
            Self::Empty => "the file has no content: check that you chose the right file".into(),
            Self::EmptyHeader => {
                "row 1 is empty: it must hold the column names (header row); add them and upload again".into()
            }
            Self::TooManyRows { max } => format!("the file has more than {max} data rows: split it into several files"),
            Self::TooManyColumns { row, max } => {
                format!("row {row} has data beyond column {max}: delete the extra columns and upload again")
            }
            Self::CellTooLong { row, column, max } => format!(
                "row {row}, column {}: the cell is longer than {max} characters; shorten it and upload again",
                column_letters(*column)
            ),
            Self::TableTooLarge { max_bytes } => format!(
                "the spreadsheet expands to more than {} of text: delete unused rows and columns, or save it as CSV",
                mib(*max_bytes)
            ),
            Self::Big5 => "the file is Big5-encoded: save it as CSV UTF-8 and upload again".into(),
            Self::Utf16 => "the file is UTF-16 (Unicode text): save it as CSV UTF-8 and upload again".into(),
            Self::NotText => {
                "the file is neither a CSV text file nor an ODS spreadsheet: check that you chose the right file".into()
            }
            Self::UnterminatedQuote { row, column } => format!(
                "row {row}, column {}: a double quote (\") is never closed; check the cell or save the sheet as CSV again",
                column_letters(*column)
            ),
            Self::TextAfterQuote { row, column } => format!(
                "row {row}, column {}: text follows the closing double quote (\"); check the cell or save the sheet as CSV again",
                column_letters(*column)
            ),
            Self::Xlsx => "Excel workbooks (.xlsx) are not accepted: save it as an ODS spreadsheet or CSV UTF-8".into(),
            Self::Xls => {
                "legacy Excel files (.xls) are not accepted: save it as an ODS spreadsheet or CSV UTF-8".into()
            }
            Self::NotOds { mimetype: Some(m) } => {
                format!("this is not an ODS spreadsheet (it is {m}): save it as an ODS spreadsheet or CSV UTF-8")
            }
            Self::NotOds { mimetype: None } => {
                "this is not an ODS spreadsheet: save it as an ODS spreadsheet or CSV UTF-8".into()
            }
            Self::Encrypted => {
                "the spreadsheet is password-protected: remove the password, save and upload again".into()
            }
            Self::CorruptZip { detail } => {
                format!("the spreadsheet file is damaged or incomplete ({detail}): save it again and upload again")
            }
            Self::ZipBomb { max } => format!(
                "the spreadsheet expands beyond {} or beyond its declared size and was refused; save it as CSV UTF-8",
                mib(*max)
            ),
            Self::UnsupportedZip { detail } => {
                format!("the spreadsheet uses an unsupported ZIP feature ({detail}): save it again as ODS or CSV UTF-8")
            }
            Self::BadXml { detail } => {
                format!("the spreadsheet content is malformed ({detail}): save it again as ODS or CSV UTF-8")
            }
            Self::NoTable => "the spreadsheet has no sheet: check that you chose the right file".into(),
            Self::Json(e) => format!("could not produce JSON ({e}): report the error code to the administrator"),
        }
    }
}

impl fmt::Display for TabularError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} / {}", self.zh(), self.en())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_letters_follow_spreadsheets() {
        assert_eq!(column_letters(1), "A");
        assert_eq!(column_letters(26), "Z");
        assert_eq!(column_letters(27), "AA");
        assert_eq!(column_letters(52), "AZ");
        assert_eq!(column_letters(703), "AAA");
        assert_eq!(column_letters(0), "");
    }

    #[test]
    fn messages_are_chinese_then_english_and_name_the_place() {
        let e = TabularError::CellTooLong { row: 7, column: 2, max: 200 };
        let s = e.to_string();
        assert!(s.starts_with("第 7 列第 B 欄"), "{s}");
        assert!(s.contains(" / row 7, column B"), "{s}");
        assert_eq!(e.code(), "TAB-006");
        assert_eq!(e.row(), Some(7));
        assert!(TabularError::Big5.to_string().contains("另存新檔 → CSV UTF-8"));
    }
}
