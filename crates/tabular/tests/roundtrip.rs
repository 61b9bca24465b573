//! Round trips through the public API (what we write, we read back unchanged) and hostile uploads.

use std::time::{Duration, Instant};

use nhiguard_tabular::{
    FileKind, Limits, Sheet, Table, TabularError, document_content, formula_risk, read_table, write_csv, write_jsonl,
    write_ods,
};

fn strings(rows: &[&[&str]]) -> Vec<Vec<String>> {
    rows.iter().map(|r| r.iter().map(|c| (*c).to_owned()).collect()).collect()
}

const HEADER: &[&str] = &["身分證號", "姓名", "備註"];
const ROWS: &[&[&str]] = &[
    &["A123456789", "王小明", "住址: 南投縣南投市, 中興路 1 號"],
    &["B287654321", "李\"阿\"美", "兩行\n備註"],
    &["C100000000", "", "windows\r\nline"],
    &["", "", ""],
    &["D200000000", "-12", "a  b\tc <&> ;"],
];

/// Xorshift, so the "random" bytes are the same on every run.
fn pseudo_random(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

#[test]
fn csv_round_trip_keeps_cells_and_neutralises_formulas() {
    let mut rows = strings(ROWS);
    rows.push(strings(&[&["=SUM(A1:A3)", "+1+cmd|' /C calc'!A0", "@x"]]).remove(0));
    let bytes = write_csv(HEADER, &rows);
    assert!(bytes.starts_with(&[0xEF, 0xBB, 0xBF]));
    let table = read_table(&bytes, FileKind::Csv, &Limits::default()).unwrap();
    assert_eq!(table.header, HEADER);
    let (last, first) = table.rows.split_last().unwrap();
    assert_eq!(first, &rows[..rows.len() - 1]);
    assert_eq!(last, &["'=SUM(A1:A3)", "'+1+cmd|' /C calc'!A0", "'@x"]);
    assert!(!last.iter().any(|c| formula_risk(c)));
}

#[test]
fn ods_round_trip_keeps_cells_and_reads_the_first_sheet() {
    let mut rows = strings(ROWS);
    rows.push(strings(&[&["=SUM(A1:A3)", "x", "'quoted'"]]).remove(0));
    let sheets = [
        Sheet {
            name: "查詢結果/115年3月".into(),
            header: HEADER.iter().map(|h| (*h).to_owned()).collect(),
            rows: rows.clone(),
            column_widths_cm: Some(vec![3.2, 2.5, 8.0]),
        },
        Sheet { name: "second".into(), header: vec!["other".into()], rows: vec![], column_widths_cm: None },
    ];
    let bytes = write_ods(&sheets);
    assert!(bytes.starts_with(b"PK\x03\x04\x0a\x00"));
    assert_eq!(&bytes[30..38], b"mimetype");
    assert_eq!(FileKind::sniff(&bytes, "result.ods").unwrap(), FileKind::Ods);
    let table = read_table(&bytes, FileKind::Ods, &Limits::default()).unwrap();
    assert_eq!(table.header, HEADER);
    // Line breaks come back as `\n` (ODS stores paragraphs); everything else is unchanged, formulas included.
    let mut expected = rows;
    expected[2][2] = "windows\nline".into();
    assert_eq!(table.rows, expected);
}

/// A month's query record sheet runs to a hundred thousand rows of the same few tags: its content is
/// deflated (about tenfold here), and still read back whole.
#[test]
fn a_large_ods_is_compressed_and_reads_back() {
    let rows: Vec<Vec<String>> = (0..20_000)
        .map(|i| vec![format!("113-兒保-{i:06}"), format!("A1{:08}", i * 7919 % 100_000_000), "INS01".into()])
        .collect();
    let sheet = Sheet {
        name: "紀錄".into(),
        header: vec!["案號".into(), "身分".into(), "作業".into()],
        rows,
        ..Sheet::default()
    };
    let bytes = write_ods(std::slice::from_ref(&sheet));
    let xml = document_content(&bytes, 64 << 20).unwrap();
    assert!(xml.contains("113-兒保-019999"));
    assert!(bytes.len() * 5 < xml.len(), "{} bytes for {} of XML", bytes.len(), xml.len());
    let limits = Limits { max_bytes: 64 << 20, max_rows: 50_000, ..Limits::default() };
    let table = read_table(&bytes, FileKind::Ods, &limits).unwrap();
    assert_eq!(table.rows, sheet.rows);
}

#[test]
fn ods_with_no_sheets_still_opens() {
    let bytes = write_ods(&[]);
    assert!(matches!(read_table(&bytes, FileKind::Ods, &Limits::default()), Err(TabularError::Empty)));
}

#[test]
fn big5_csv_is_refused_with_instructions() {
    // "身分證號,姓名\r\nA123456789,王小明\r\n" from `iconv -f UTF-8 -t BIG5`.
    let big5: &[u8] = &[
        0xA8, 0xAD, 0xA4, 0xC0, 0xC3, 0xD2, 0xB8, 0xB9, b',', 0xA9, 0x6D, 0xA6, 0x57, b'\r', b'\n', b'A', b'1', b'2',
        b'3', b'4', b'5', b'6', b'7', b'8', b'9', b',', 0xA4, 0xFD, 0xA4, 0x70, 0xA9, 0xFA, b'\r', b'\n',
    ];
    let err = read_table(big5, FileKind::Csv, &Limits::default()).unwrap_err();
    assert!(matches!(err, TabularError::Big5));
    assert_eq!(
        err.to_string(),
        "檔案編碼為 Big5，請另存為 UTF-8 CSV（Excel：另存新檔 → CSV UTF-8）後再上傳 / \
         the file is Big5-encoded: save it as CSV UTF-8 and upload again"
    );
}

#[test]
fn utf16_csv_is_refused() {
    let mut bytes = vec![0xFF, 0xFE];
    bytes.extend("身分證號,姓名\r\n".encode_utf16().flat_map(u16::to_le_bytes));
    assert!(matches!(read_table(&bytes, FileKind::Csv, &Limits::default()), Err(TabularError::Utf16)));
}

#[test]
fn garbage_is_refused_quickly_and_without_panics() {
    let limits = Limits::default();
    for seed in 1..200u64 {
        let bytes = pseudo_random(seed, (seed as usize * 37) % 5000);
        for kind in [FileKind::Csv, FileKind::Ods] {
            let _ = read_table(&bytes, kind, &limits);
        }
    }
    let random = pseudo_random(7, 100_000);
    assert!(matches!(read_table(&random, FileKind::Csv, &limits), Err(TabularError::NotText)));
    let png = [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0x0D, b'I', b'H', b'D', b'R', 0, 0, 1, 0];
    assert!(matches!(read_table(&png, FileKind::Csv, &limits), Err(TabularError::NotText)));
    // A fake ZIP header followed by junk.
    let mut fake_zip = b"PK\x03\x04".to_vec();
    fake_zip.extend(pseudo_random(3, 1000));
    assert!(matches!(read_table(&fake_zip, FileKind::Csv, &limits), Err(TabularError::CorruptZip { .. })));

    let started = Instant::now();
    let zeros = vec![0u8; 10 * 1024 * 1024];
    assert!(matches!(read_table(&zeros, FileKind::Csv, &limits), Err(TabularError::NotText)));
    let over = vec![0u8; 11 * 1024 * 1024];
    let err = read_table(&over, FileKind::Csv, &limits).unwrap_err();
    assert!(matches!(err, TabularError::TooLarge { .. }));
    assert!(err.to_string().contains("10.0 MiB"), "{err}");
    let text_over = "a,b\n".repeat(3 * 1024 * 1024);
    assert!(matches!(read_table(text_over.as_bytes(), FileKind::Csv, &limits), Err(TabularError::TooLarge { .. })));
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn limits_name_the_row_and_column() {
    let limits = Limits { max_rows: 2, max_cols: 3, max_cell_chars: 10, ..Limits::default() };
    let csv = "a,b\n1,2\n3,4,5,6\n";
    let err = read_table(csv.as_bytes(), FileKind::Csv, &limits).unwrap_err();
    assert!(matches!(err, TabularError::TooManyColumns { row: 3, max: 3 }), "{err:?}");
    let csv = "a,b\n1,2\n3,4\n5,6\n";
    assert!(matches!(read_table(csv.as_bytes(), FileKind::Csv, &limits), Err(TabularError::TooManyRows { max: 2 })));
    let csv = "a,b\n1,A12345678901\n";
    let err = read_table(csv.as_bytes(), FileKind::Csv, &limits).unwrap_err();
    assert_eq!(err.row(), Some(2));
    assert!(err.to_string().starts_with("第 2 列第 B 欄"), "{err}");
    // Trailing empty columns do not count against max_cols.
    let csv = "a,b,,,,,,,,\n1,2,,,,,,,,\n";
    assert_eq!(
        read_table(csv.as_bytes(), FileKind::Csv, &limits).unwrap(),
        Table { header: vec!["a".into(), "b".into()], rows: vec![vec!["1".into(), "2".into()]], hidden: vec![] }
    );
}

#[test]
fn jsonl_lines() {
    let items = [serde_json::json!({"a": 1}), serde_json::json!({"b": "x\ny"})];
    assert_eq!(write_jsonl(&items).unwrap(), b"{\"a\":1}\n{\"b\":\"x\\ny\"}\n");
}
