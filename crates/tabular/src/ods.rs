//! OpenDocument spreadsheets: reading the first sheet of an uploaded ODS, and writing result files and
//! exports as ODS that LibreOffice, Excel and Google Sheets open. Reading must never let a repeat count, an
//! inflated size or a nesting depth grow without bound, and must refuse XLSX, encrypted and non-spreadsheet
//! ZIPs clearly. Writing must never emit a formula (`table:formula`): every cell is typed text.

use crate::builder::TableBuilder;
use crate::xml::{Event, Scanner, attr, escape_into};
use crate::zip::{Archive, ZipWriter};
use crate::{Limits, Table, TabularError};

const MIMETYPE: &str = "application/vnd.oasis.opendocument.spreadsheet";
/// The most `content.xml` may inflate to.
const MAX_CONTENT_XML: usize = 64 * 1024 * 1024;
/// The most the small entries (`mimetype`, the manifest) may inflate to.
const MAX_SMALL_ENTRY: usize = 4 * 1024 * 1024;
const MAX_DEPTH: usize = 256;

/// One sheet of an ODS file to write.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sheet {
    /// The tab name; characters spreadsheets forbid (`[]*?:/\`) become `_`, and it is cut to 31 characters.
    pub name: String,
    /// Written in bold as row 1 (and repeated on every printed page).
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// Column widths in centimetres, first column first; columns beyond the list keep the default width.
    pub column_widths_cm: Option<Vec<f32>>,
}

pub(crate) fn read(bytes: &[u8], limits: &Limits) -> Result<Table, TabularError> {
    let archive = Archive::parse(bytes)?;
    if archive.find("[Content_Types].xml").is_some() {
        return Err(TabularError::Xlsx);
    }
    let Some(mime_entry) = archive.find("mimetype") else {
        return Err(TabularError::NotOds { mimetype: None });
    };
    let mime = archive.read(mime_entry, MAX_SMALL_ENTRY)?;
    let mime = String::from_utf8_lossy(&mime);
    let mime = mime.trim();
    if mime != MIMETYPE {
        let shown: String = mime.chars().filter(|c| c.is_ascii_graphic()).take(80).collect::<String>();
        return Err(TabularError::NotOds { mimetype: (!shown.is_empty()).then_some(shown) });
    }
    if let Some(manifest) = archive.find("META-INF/manifest.xml") {
        let manifest = archive.read(manifest, MAX_SMALL_ENTRY)?;
        if contains(&manifest, b"encryption-data") {
            return Err(TabularError::Encrypted);
        }
    }
    let content = archive.find("content.xml").ok_or(TabularError::CorruptZip { detail: "content.xml is missing" })?;
    let xml = archive.read(content, MAX_CONTENT_XML)?;
    parse_content(&xml, limits)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn repeat_count(attrs: &str, name: &str) -> Result<u64, TabularError> {
    match attr(attrs, name)? {
        None => Ok(1),
        Some(v) => match v.trim().parse::<u64>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(TabularError::BadXml { detail: format!("bad {name}") }),
        },
    }
}

/// The value a cell stores, used only when it shows no text of its own.
fn stored_value(attrs: &str) -> Result<Option<String>, TabularError> {
    let key = match attr(attrs, "office:value-type")?.as_deref() {
        Some("float" | "percentage" | "currency") => "office:value",
        Some("date") => "office:date-value",
        Some("time") => "office:time-value",
        Some("boolean") => "office:boolean-value",
        Some("string") => "office:string-value",
        _ => return Ok(None),
    };
    Ok(attr(attrs, key)?.map(|v| v.into_owned()))
}

/// Text of one cell, with ODF's whitespace rules: runs of white space in the XML count as one space;
/// `text:s`, `text:tab` and `text:line-break` are literal. Stops growing at `budget` bytes.
struct CellText {
    buf: String,
    budget: usize,
    overflow: bool,
    after_space: bool,
    paragraphs: usize,
}

impl CellText {
    fn new(budget: usize) -> Self {
        Self { buf: String::new(), budget, overflow: false, after_space: true, paragraphs: 0 }
    }

    fn push(&mut self, c: char) {
        if self.buf.len() + c.len_utf8() > self.budget {
            self.overflow = true;
        } else {
            self.buf.push(c);
        }
    }

    fn xml_text(&mut self, s: &str) {
        for c in s.chars() {
            if self.overflow {
                return;
            }
            if matches!(c, ' ' | '\t' | '\n' | '\r') {
                if !self.after_space {
                    self.push(' ');
                    self.after_space = true;
                }
            } else {
                self.push(c);
                self.after_space = false;
            }
        }
    }

    fn literal(&mut self, c: char, count: u64) {
        let mut n = 0;
        while n < count && !self.overflow {
            self.push(c);
            n += 1;
        }
        self.after_space = false;
    }

    fn new_paragraph(&mut self) {
        if self.paragraphs > 0 {
            self.literal('\n', 1);
        }
        self.paragraphs += 1;
        self.after_space = true;
    }
}

struct Cell<'a> {
    depth: usize,
    repeat: u64,
    attrs: &'a str,
    text: CellText,
    /// Depth of the open `text:p` / `text:h`, if inside one.
    paragraph: Option<usize>,
}

/// Reads the first `table:table` of `content.xml`.
fn parse_content(xml: &[u8], limits: &Limits) -> Result<Table, TabularError> {
    let xml =
        std::str::from_utf8(xml).map_err(|_| TabularError::BadXml { detail: "content.xml is not UTF-8".into() })?;
    let mut scanner = Scanner::new(xml);
    let mut builder = TableBuilder::new(limits);
    let mut stack: Vec<&str> = Vec::new();
    let mut table: Option<usize> = None;
    let mut row: Option<(usize, u64, bool)> = None;
    let mut cell: Option<Cell<'_>> = None;
    // While set, everything below this depth is ignored (annotations, drawings, nested tables).
    let mut skip: Option<usize> = None;
    let budget = limits.max_cell_chars.saturating_mul(4).saturating_add(1024);
    let too_long = |b: &TableBuilder<'_>| TabularError::CellTooLong {
        row: b.row_number(),
        column: b.column_number(),
        max: limits.max_cell_chars,
    };

    while let Some(event) = scanner.next_event()? {
        match event {
            Event::Start { name, attrs, empty } => {
                let depth = stack.len();
                if !empty {
                    if depth >= MAX_DEPTH {
                        return Err(TabularError::BadXml { detail: "elements nested too deeply".into() });
                    }
                    stack.push(name);
                }
                if skip.is_some() {
                    continue;
                }
                let skip_this = |skip: &mut Option<usize>| {
                    if !empty {
                        *skip = Some(depth);
                    }
                };
                if let Some(c) = cell.as_mut() {
                    match (c.paragraph, name) {
                        (Some(_), "text:s") => c.text.literal(' ', repeat_count(attrs, "text:c")?),
                        (Some(_), "text:tab") => c.text.literal('\t', 1),
                        (Some(_), "text:line-break") => c.text.literal('\n', 1),
                        (None, "text:p" | "text:h") => {
                            c.text.new_paragraph();
                            if !empty {
                                c.paragraph = Some(depth);
                            }
                        }
                        (_, "text:note" | "text:ruby-text") => skip_this(&mut skip),
                        (_, n) if n.starts_with("text:") => {}
                        _ => skip_this(&mut skip),
                    }
                    continue;
                }
                match (table, name) {
                    (None, "table:table") => {
                        if empty {
                            break;
                        }
                        table = Some(depth);
                    }
                    (None, _) => {}
                    (Some(_), "table:table-row") if row.is_none() => {
                        let repeat = repeat_count(attrs, "table:number-rows-repeated")?;
                        // "collapse" (hidden) or "filter" (filtered out); "visible" is the default.
                        let shown = attr(attrs, "table:visibility")?.is_none_or(|v| v == "visible");
                        if empty {
                            builder.end_row_shown(repeat, shown)?;
                        } else {
                            row = Some((depth, repeat, shown));
                        }
                    }
                    (Some(_), "table:table-cell" | "table:covered-table-cell") if row.is_some() => {
                        let repeat = repeat_count(attrs, "table:number-columns-repeated")?;
                        if empty {
                            let value = stored_value(attrs)?.unwrap_or_default();
                            builder.cell(&value, repeat)?;
                        } else {
                            cell = Some(Cell { depth, repeat, attrs, text: CellText::new(budget), paragraph: None });
                        }
                    }
                    (Some(_), "table:table") => skip_this(&mut skip),
                    (Some(_), _) => {}
                }
            }
            Event::End { name } => {
                if stack.pop() != Some(name) {
                    return Err(TabularError::BadXml { detail: format!("unexpected end tag {name}") });
                }
                let depth = stack.len();
                if let Some(d) = skip {
                    if depth == d {
                        skip = None;
                    }
                    continue;
                }
                if let Some(c) = cell.as_mut() {
                    if c.paragraph == Some(depth) {
                        c.paragraph = None;
                    }
                    if c.depth == depth {
                        let Some(c) = cell.take() else { continue };
                        if c.text.overflow {
                            return Err(too_long(&builder));
                        }
                        let value = if c.text.buf.trim().is_empty() {
                            stored_value(c.attrs)?.unwrap_or_default()
                        } else {
                            c.text.buf
                        };
                        builder.cell(&value, c.repeat)?;
                    }
                    continue;
                }
                if let Some((d, repeat, shown)) = row
                    && d == depth
                {
                    builder.end_row_shown(repeat, shown)?;
                    row = None;
                    continue;
                }
                if table == Some(depth) {
                    break;
                }
            }
            Event::Text(text) => {
                if skip.is_none()
                    && let Some(c) = cell.as_mut()
                    && c.paragraph.is_some()
                {
                    c.text.xml_text(&text);
                }
            }
        }
    }
    if table.is_none() {
        return Err(TabularError::NoTable);
    }
    builder.finish()
}

const MANIFEST: &str = concat!(
    r#"<?xml version="1.0" encoding="UTF-8"?>"#,
    "\n",
    r#"<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">"#,
    r#"<manifest:file-entry manifest:full-path="/" manifest:version="1.2" manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>"#,
    r#"<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>"#,
    r#"<manifest:file-entry manifest:full-path="styles.xml" manifest:media-type="text/xml"/>"#,
    r#"<manifest:file-entry manifest:full-path="meta.xml" manifest:media-type="text/xml"/>"#,
    "</manifest:manifest>\n"
);

const STYLES: &str = concat!(
    r#"<?xml version="1.0" encoding="UTF-8"?>"#,
    "\n",
    r#"<office:document-styles xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" "#,
    r#"xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0" office:version="1.2">"#,
    r#"<office:styles><style:default-style style:family="table-cell"/></office:styles>"#,
    "</office:document-styles>\n"
);

const META: &str = concat!(
    r#"<?xml version="1.0" encoding="UTF-8"?>"#,
    "\n",
    r#"<office:document-meta xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" "#,
    r#"xmlns:meta="urn:oasis:names:tc:opendocument:xmlns:meta:1.0" office:version="1.2">"#,
    "<office:meta><meta:generator>nhiguard</meta:generator></office:meta>",
    "</office:document-meta>\n"
);

const CONTENT_HEAD: &str = concat!(
    r#"<?xml version="1.0" encoding="UTF-8"?>"#,
    "\n",
    r#"<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" "#,
    r#"xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0" "#,
    r#"xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" "#,
    r#"xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" "#,
    r#"xmlns:fo="urn:oasis:names:tc:opendocument:xmlns:xsl-fo-compatible:1.0" office:version="1.2">"#,
    "<office:automatic-styles>",
    r#"<style:style style:name="ceH" style:family="table-cell">"#,
    r#"<style:text-properties fo:font-weight="bold" style:font-weight-asian="bold" style:font-weight-complex="bold"/>"#,
    "</style:style>"
);

/// Writes an ODS file with one sheet per entry (an empty `Sheet1` if there are none). Every cell is a
/// string cell; line breaks inside a cell become separate paragraphs, as LibreOffice stores them.
pub fn write_ods(sheets: &[Sheet]) -> Vec<u8> {
    let mut zip = ZipWriter::default();
    // The mimetype entry must come first and be stored, so that `file` and desktops recognise the format.
    zip.add_stored("mimetype", MIMETYPE.as_bytes());
    zip.add_stored("META-INF/manifest.xml", MANIFEST.as_bytes());
    zip.add_stored("meta.xml", META.as_bytes());
    zip.add_stored("styles.xml", STYLES.as_bytes());
    zip.add_deflated("content.xml", content_xml(sheets).as_bytes());
    zip.finish()
}

fn content_xml(sheets: &[Sheet]) -> String {
    let fallback = [Sheet::default()];
    let sheets = if sheets.is_empty() { &fallback[..] } else { sheets };
    let names = sheet_names(sheets);
    let mut out = String::from(CONTENT_HEAD);
    for (s, sheet) in sheets.iter().enumerate() {
        for (c, width) in sheet.column_widths_cm.iter().flatten().enumerate() {
            let width = if width.is_finite() { width.clamp(0.1, 50.0) } else { 2.5 };
            out.push_str(&format!(
                r#"<style:style style:name="co{s}-{c}" style:family="table-column"><style:table-column-properties style:column-width="{width:.2}cm"/></style:style>"#
            ));
        }
    }
    out.push_str("</office:automatic-styles><office:body><office:spreadsheet>");
    for (s, (sheet, name)) in sheets.iter().zip(&names).enumerate() {
        out.push_str(r#"<table:table table:name=""#);
        escape_into(&mut out, name);
        out.push_str(r#"">"#);
        let widths = sheet.column_widths_cm.as_deref().unwrap_or_default();
        for c in 0..widths.len() {
            out.push_str(&format!(r#"<table:table-column table:style-name="co{s}-{c}"/>"#));
        }
        let used = sheet.rows.iter().map(Vec::len).chain([sheet.header.len()]).max().unwrap_or(0);
        let rest = used.saturating_sub(widths.len());
        if widths.is_empty() || rest > 0 {
            // At least one column element is required.
            out.push_str(&format!(r#"<table:table-column table:number-columns-repeated="{}"/>"#, rest.max(1)));
        }
        out.push_str("<table:table-header-rows>");
        write_row(&mut out, &sheet.header, Some("ceH"));
        out.push_str("</table:table-header-rows>");
        for row in &sheet.rows {
            write_row(&mut out, row, None);
        }
        out.push_str("</table:table>");
    }
    out.push_str("</office:spreadsheet></office:body></office:document-content>\n");
    out
}

fn write_row(out: &mut String, cells: &[String], style: Option<&str>) {
    out.push_str("<table:table-row>");
    if cells.is_empty() {
        out.push_str("<table:table-cell/>");
    }
    for cell in cells {
        if cell.is_empty() {
            out.push_str("<table:table-cell/>");
            continue;
        }
        out.push_str("<table:table-cell");
        if let Some(style) = style {
            out.push_str(&format!(r#" table:style-name="{style}""#));
        }
        out.push_str(r#" office:value-type="string">"#);
        let normalised = cell.replace("\r\n", "\n").replace('\r', "\n");
        for line in normalised.split('\n') {
            out.push_str("<text:p>");
            write_paragraph(out, line);
            out.push_str("</text:p>");
        }
        out.push_str("</table:table-cell>");
    }
    out.push_str("</table:table-row>");
}

/// ODF collapses white space in text, so runs of spaces after the first (and any at the start) are written
/// as `text:s`, and tabs as `text:tab`.
pub(crate) fn write_paragraph(out: &mut String, line: &str) {
    let mut chars = line.chars().peekable();
    let mut at_start = true;
    while let Some(c) = chars.next() {
        match c {
            ' ' => {
                let mut run = 1;
                while chars.peek() == Some(&' ') {
                    chars.next();
                    run += 1;
                }
                let literal = usize::from(!at_start);
                out.push_str(&" ".repeat(literal));
                if run > literal {
                    out.push_str(&format!(r#"<text:s text:c="{}"/>"#, run - literal));
                }
            }
            '\t' => out.push_str("<text:tab/>"),
            c => {
                let mut buf = [0u8; 4];
                escape_into(out, c.encode_utf8(&mut buf));
            }
        }
        at_start = false;
    }
}

/// Sheet names spreadsheets accept: no `[]*?:/\`, not empty, at most 31 characters, no duplicates.
fn sheet_names(sheets: &[Sheet]) -> Vec<String> {
    let mut names: Vec<String> = Vec::with_capacity(sheets.len());
    for (i, sheet) in sheets.iter().enumerate() {
        let cleaned: String = sheet
            .name
            .chars()
            .map(|c| if matches!(c, '[' | ']' | '*' | '?' | ':' | '/' | '\\') || c.is_control() { '_' } else { c })
            .collect();
        let cleaned = cleaned.trim().trim_matches('\'').trim();
        let base: String =
            if cleaned.is_empty() { format!("Sheet{}", i + 1) } else { cleaned.chars().take(31).collect() };
        let mut name = base.clone();
        let mut n = 2;
        while names.iter().any(|other| other.to_lowercase() == name.to_lowercase()) {
            let suffix = format!(" ({n})");
            name = base.chars().take(31usize.saturating_sub(suffix.chars().count())).collect::<String>() + &suffix;
            n += 1;
        }
        names.push(name);
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(table: &str) -> String {
        format!(
            r#"<?xml version="1.0"?><office:document-content><office:body><office:spreadsheet>{table}</office:spreadsheet></office:body></office:document-content>"#
        )
    }

    fn parse(table: &str) -> Result<Table, TabularError> {
        parse_content(doc(table).as_bytes(), &Limits::default())
    }

    #[test]
    fn reads_first_table_with_repeats_and_paragraphs() {
        let t = parse(concat!(
            r#"<table:table table:name="A"><table:table-column table:number-columns-repeated="1024"/>"#,
            r#"<table:table-row><table:table-cell office:value-type="string"><text:p>身分證號</text:p></table:table-cell>"#,
            r#"<table:table-cell table:number-columns-repeated="2"><text:p>x</text:p></table:table-cell>"#,
            r#"<table:table-cell table:number-columns-repeated="16381"/></table:table-row>"#,
            r#"<table:table-row table:number-rows-repeated="2"><table:table-cell office:value-type="float" office:value="3.5"><text:p>3.50</text:p></table:table-cell></table:table-row>"#,
            r#"<table:table-row table:number-rows-repeated="3"><table:table-cell table:number-columns-repeated="1024"/></table:table-row>"#,
            r#"<table:table-row><table:table-cell/><table:table-cell><text:p>a <text:span>  b</text:span><text:s text:c="2"/>c</text:p><text:p>d<text:tab/>e</text:p>"#,
            r#"<office:annotation><text:p>comment</text:p></office:annotation></table:table-cell>"#,
            r#"<table:table-cell office:value-type="date" office:date-value="2025-03-05"/></table:table-row>"#,
            r#"<table:table-row table:number-rows-repeated="1048000"><table:table-cell table:number-columns-repeated="1024"/></table:table-row>"#,
            r#"</table:table><table:table table:name="B"><table:table-row><table:table-cell><text:p>ignored</text:p></table:table-cell></table:table-row></table:table>"#
        ))
        .unwrap();
        assert_eq!(t.header, vec!["身分證號", "x", "x"]);
        assert_eq!(
            t.rows,
            vec![
                vec!["3.50", "", ""],
                vec!["3.50", "", ""],
                vec!["", "", ""],
                vec!["", "", ""],
                vec!["", "", ""],
                vec!["", "a b  c\nd\te", "2025-03-05"],
            ]
        );
    }

    #[test]
    fn hostile_repeats_hit_limits() {
        let cells = r#"<table:table-row><table:table-cell><text:p>h</text:p></table:table-cell></table:table-row>"#;
        let wide = format!(
            r#"<table:table>{cells}<table:table-row><table:table-cell table:number-columns-repeated="4000000000"><text:p>x</text:p></table:table-cell></table:table-row></table:table>"#
        );
        assert!(matches!(parse(&wide), Err(TabularError::TooManyColumns { row: 2, max: 20 })));
        let tall = format!(
            r#"<table:table>{cells}<table:table-row table:number-rows-repeated="18446744073709551615"><table:table-cell><text:p>x</text:p></table:table-cell></table:table-row></table:table>"#
        );
        assert!(matches!(parse(&tall), Err(TabularError::TooManyRows { max: 200_000 })));
        let spaces = format!(
            r#"<table:table>{cells}<table:table-row><table:table-cell><text:p>a<text:s text:c="18446744073709551615"/>b</text:p></table:table-cell></table:table-row></table:table>"#
        );
        assert!(matches!(parse(&spaces), Err(TabularError::CellTooLong { row: 2, column: 1, .. })));
        let bad = format!(r#"<table:table>{cells}<table:table-row table:number-rows-repeated="-1"/></table:table>"#);
        assert!(matches!(parse(&bad), Err(TabularError::BadXml { .. })));
        // 200 000 rows × 20 columns of 200 characters would be 800 MB: refused at 64 MiB.
        let long = "長".repeat(200);
        let heavy = format!(
            r#"<table:table>{cells}<table:table-row table:number-rows-repeated="200000"><table:table-cell table:number-columns-repeated="20"><text:p>{long}</text:p></table:table-cell></table:table-row></table:table>"#
        );
        assert!(matches!(parse(&heavy), Err(TabularError::TableTooLarge { .. })));
    }

    #[test]
    fn rows_hidden_or_filtered_out_are_marked() {
        let row = |attrs: &str, v: &str| {
            format!(
                r#"<table:table-row {attrs}><table:table-cell><text:p>{v}</text:p></table:table-cell></table:table-row>"#
            )
        };
        let t = parse(&format!(
            "<table:table>{}{}{}{}{}{}</table:table>",
            row(r#"table:visibility="collapse""#, "h"),
            row("", "a"),
            row(r#"table:visibility="filter" table:number-rows-repeated="2""#, "b"),
            row(r#"table:visibility="visible""#, "c"),
            r#"<table:table-row table:visibility="collapse"><table:table-cell/></table:table-row>"#,
            row("", "d"),
        ))
        .unwrap();
        assert_eq!(t.rows.len(), 6, "a, b, b, c, the empty row, d");
        assert_eq!(t.hidden, [1, 2], "the filtered rows with content; not the hidden header, not an empty row");
    }

    #[test]
    fn structural_errors() {
        assert!(matches!(parse(""), Err(TabularError::NoTable)));
        assert!(matches!(parse("<table:table/>"), Err(TabularError::NoTable)));
        assert!(matches!(parse("<table:table></table:table>"), Err(TabularError::Empty)));
        assert!(matches!(parse("<table:table><table:table-row></table:table>"), Err(TabularError::BadXml { .. })));
        let deep = "<text:span>".repeat(300);
        assert!(matches!(parse(&deep), Err(TabularError::BadXml { .. })));
        assert!(matches!(parse_content(b"\xff\xfe", &Limits::default()), Err(TabularError::BadXml { .. })));
    }

    fn zip_of(entries: &[(&str, &[u8])], deflate: bool) -> Vec<u8> {
        let mut w = ZipWriter::default();
        for (name, data) in entries {
            if deflate && *name != "mimetype" {
                let packed = miniz_oxide::deflate::compress_to_vec(data, 6);
                let size = u32::try_from(data.len()).unwrap_or(u32::MAX);
                w.add_raw(name, 8, &packed, crate::zip::crc32(data), size);
            } else {
                w.add_stored(name, data);
            }
        }
        w.finish()
    }

    fn ods_with(content: &str, deflate: bool) -> Vec<u8> {
        zip_of(&[("mimetype", MIMETYPE.as_bytes()), ("content.xml", doc(content).as_bytes())], deflate)
    }

    fn read_ods(bytes: &[u8]) -> Result<Table, TabularError> {
        crate::read_table(bytes, crate::FileKind::Ods, &Limits::default())
    }

    #[test]
    fn reads_a_deflated_ods_with_repeated_rows_and_columns() {
        let content = concat!(
            r#"<table:table table:name="名單"><table:table-column table:number-columns-repeated="3"/>"#,
            r#"<table:table-row><table:table-cell table:number-columns-repeated="2"><text:p>欄</text:p></table:table-cell>"#,
            r#"<table:table-cell table:number-columns-repeated="1021"/></table:table-row>"#,
            r#"<table:table-row table:number-rows-repeated="3"><table:table-cell/><table:table-cell><text:p>A123456789</text:p></table:table-cell></table:table-row>"#,
            r#"<table:table-row table:number-rows-repeated="1048572"><table:table-cell table:number-columns-repeated="1024"/></table:table-row>"#,
            "</table:table>"
        );
        let t = read_ods(&ods_with(content, true)).unwrap();
        assert_eq!(t.header, vec!["欄", "欄"]);
        assert_eq!(t.rows, vec![vec!["", "A123456789"]; 3]);
        assert_eq!(read_ods(&ods_with(content, false)).unwrap(), t);
    }

    #[test]
    fn zip_bombs_are_refused() {
        // content.xml declares 70 MiB: refused before inflating anything.
        let mut w = ZipWriter::default();
        w.add_stored("mimetype", MIMETYPE.as_bytes());
        w.add_raw("content.xml", 8, &miniz_oxide::deflate::compress_to_vec(b"<x/>", 6), 0, 70 << 20);
        assert!(matches!(read_ods(&w.finish()), Err(TabularError::ZipBomb { max: MAX_CONTENT_XML })));
        // content.xml declares 1 KiB but inflates to 8 MiB of zeros (8 KiB compressed): refused at 1 KiB + 1.
        let zeros = vec![0u8; 8 << 20];
        let mut w = ZipWriter::default();
        w.add_stored("mimetype", MIMETYPE.as_bytes());
        w.add_raw("content.xml", 8, &miniz_oxide::deflate::compress_to_vec(&zeros, 6), 0, 1024);
        let bomb = w.finish();
        assert!(bomb.len() < 64 * 1024);
        assert!(matches!(read_ods(&bomb), Err(TabularError::ZipBomb { .. })));
    }

    #[test]
    fn truncated_and_mangled_files_are_errors_not_panics() {
        let good = write_ods(&[Sheet {
            name: "a".into(),
            header: vec!["h".into()],
            rows: vec![vec!["v".into()]],
            column_widths_cm: None,
        }]);
        assert!(read_ods(&good).is_ok());
        for len in (0..good.len()).step_by(3) {
            assert!(read_ods(&good[..len]).is_err(), "cut at {len}");
        }
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        for _ in 0..2000 {
            let mut bad = good.clone();
            for _ in 0..4 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let at = (seed % bad.len() as u64) as usize;
                bad[at] = (seed >> 32) as u8;
            }
            let _ = read_ods(&bad);
        }
    }

    #[test]
    fn other_zips_are_refused_clearly() {
        let xlsx = zip_of(&[("[Content_Types].xml", b"<Types/>"), ("xl/workbook.xml", b"<workbook/>")], true);
        assert!(matches!(read_ods(&xlsx), Err(TabularError::Xlsx)));
        let odt = zip_of(&[("mimetype", b"application/vnd.oasis.opendocument.text"), ("content.xml", b"<x/>")], false);
        let err = read_ods(&odt).unwrap_err();
        assert!(err.to_string().contains("opendocument.text"), "{err}");
        let plain = zip_of(&[("readme.txt", b"hi")], false);
        assert!(matches!(read_ods(&plain), Err(TabularError::NotOds { mimetype: None })));
        let empty = b"PK\x05\x06\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";
        assert!(matches!(read_ods(empty), Err(TabularError::NotOds { mimetype: None })));
        let no_content = zip_of(&[("mimetype", MIMETYPE.as_bytes())], false);
        assert!(matches!(read_ods(&no_content), Err(TabularError::CorruptZip { .. })));
    }

    #[test]
    fn encrypted_spreadsheets_are_refused() {
        let manifest = br#"<manifest:manifest><manifest:file-entry manifest:full-path="content.xml"><manifest:encryption-data/></manifest:file-entry></manifest:manifest>"#;
        let ods = zip_of(
            &[("mimetype", MIMETYPE.as_bytes()), ("META-INF/manifest.xml", manifest), ("content.xml", b"\x01\x02")],
            true,
        );
        assert!(matches!(read_ods(&ods), Err(TabularError::Encrypted)));
        // ZIP-level encryption: set bit 0 of content.xml's flags in the central directory.
        let mut ods = ods_with("<table:table/>", false);
        let name = b"content.xml";
        let central = ods.windows(name.len()).rposition(|w| w == name).unwrap();
        ods[central - 46 + 8] |= 1;
        assert!(matches!(read_ods(&ods), Err(TabularError::Encrypted)));
    }

    #[test]
    fn writes_escaped_text_and_whitespace() {
        let mut out = String::new();
        write_paragraph(&mut out, "  a  b\t<c>&");
        assert_eq!(out, r#"<text:s text:c="2"/>a <text:s text:c="1"/>b<text:tab/>&lt;c&gt;&amp;"#);
        let xml = content_xml(&[Sheet {
            name: "結果".into(),
            header: vec!["身分證號".into()],
            rows: vec![vec!["=1+1".into(), String::new(), "x\r\ny".into()]],
            column_widths_cm: Some(vec![3.0, f32::NAN]),
        }]);
        assert!(!xml.contains("table:formula"));
        assert!(
            xml.contains(r#"<table:table-cell office:value-type="string"><text:p>=1+1</text:p></table:table-cell>"#)
        );
        assert!(xml.contains("<text:p>x</text:p><text:p>y</text:p>"));
        assert!(xml.contains(r#"style:column-width="3.00cm""#));
        assert!(xml.contains(r#"style:column-width="2.50cm""#));
        assert!(xml.contains(r#"<table:table-column table:number-columns-repeated="1"/>"#));
    }

    #[test]
    fn sheet_names_are_made_acceptable() {
        let sheet = |name: &str| Sheet { name: name.into(), ..Sheet::default() };
        let names =
            sheet_names(&[sheet("a/b"), sheet(""), sheet("A_B"), sheet(&"長".repeat(40)), sheet(&"長".repeat(31))]);
        assert_eq!(names[0], "a_b");
        assert_eq!(names[1], "Sheet2");
        assert_eq!(names[2], "A_B (2)");
        assert_eq!(names[3].chars().count(), 31);
        assert_eq!(names[4], format!("{} (2)", "長".repeat(27)));
    }
}
