//! A minimal OpenDocument text writer, for forms the county files on paper (the admin application
//! form, R-ACC-2): headings, paragraphs and ruled tables on A4, in a font with Traditional Chinese.
//! LibreOffice and Word open it, and a clerk can still type into it before printing.

use crate::ods::write_paragraph;
use crate::zip::ZipWriter;

const MIMETYPE: &str = "application/vnd.oasis.opendocument.text";

/// One block of the document, top to bottom.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    Title(String),
    Heading(String),
    Paragraph(String),
    /// Rows of cells; `widths_cm` per column (missing ones share the rest of the line).
    Table {
        rows: Vec<Vec<String>>,
        widths_cm: Vec<f32>,
    },
}

const MANIFEST: &str = concat!(
    r#"<?xml version="1.0" encoding="UTF-8"?>"#,
    "\n",
    r#"<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">"#,
    r#"<manifest:file-entry manifest:full-path="/" manifest:version="1.2" manifest:media-type="application/vnd.oasis.opendocument.text"/>"#,
    r#"<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>"#,
    r#"<manifest:file-entry manifest:full-path="styles.xml" manifest:media-type="text/xml"/>"#,
    "</manifest:manifest>\n"
);

const STYLES: &str = concat!(
    r#"<?xml version="1.0" encoding="UTF-8"?>"#,
    "\n",
    r#"<office:document-styles xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" "#,
    r#"xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0" "#,
    r#"xmlns:fo="urn:oasis:names:tc:opendocument:xmlns:xsl-fo-compatible:1.0" office:version="1.2">"#,
    r#"<office:font-face-decls><style:font-face style:name="Noto Serif CJK TC" svg:font-family="'Noto Serif CJK TC'" xmlns:svg="urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0"/></office:font-face-decls>"#,
    r#"<office:styles><style:default-style style:family="paragraph"><style:text-properties style:font-name="Noto Serif CJK TC" style:font-name-asian="Noto Serif CJK TC" fo:font-size="11pt" style:font-size-asian="11pt" fo:language="zh" fo:country="TW" style:language-asian="zh" style:country-asian="TW"/></style:default-style></office:styles>"#,
    r#"<office:automatic-styles><style:page-layout style:name="pmA4"><style:page-layout-properties fo:page-width="21cm" fo:page-height="29.7cm" style:print-orientation="portrait" fo:margin-top="1.8cm" fo:margin-bottom="1.8cm" fo:margin-left="2cm" fo:margin-right="2cm"/></style:page-layout></office:automatic-styles>"#,
    r#"<office:master-styles><style:master-page style:name="Standard" style:page-layout-name="pmA4"/></office:master-styles>"#,
    "</office:document-styles>\n"
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
    r#"<style:style style:name="Ttl" style:family="paragraph"><style:paragraph-properties fo:text-align="center" fo:margin-bottom="0.3cm"/><style:text-properties fo:font-size="16pt" style:font-size-asian="16pt" fo:font-weight="bold" style:font-weight-asian="bold"/></style:style>"#,
    r#"<style:style style:name="Hd" style:family="paragraph"><style:paragraph-properties fo:margin-top="0.35cm" fo:margin-bottom="0.15cm"/><style:text-properties fo:font-size="12pt" style:font-size-asian="12pt" fo:font-weight="bold" style:font-weight-asian="bold"/></style:style>"#,
    r#"<style:style style:name="Cell" style:family="table-cell"><style:table-cell-properties fo:border="0.5pt solid #000000" fo:padding="0.1cm"/></style:style>"#
);

/// Writes the document.
pub fn write_odt(blocks: &[Block]) -> Vec<u8> {
    let mut zip = ZipWriter::default();
    zip.add_stored("mimetype", MIMETYPE.as_bytes());
    zip.add_stored("META-INF/manifest.xml", MANIFEST.as_bytes());
    zip.add_stored("styles.xml", STYLES.as_bytes());
    zip.add_deflated("content.xml", content_xml(blocks).as_bytes());
    zip.finish()
}

fn paragraph(out: &mut String, style: Option<&str>, text: &str) {
    for line in text.replace("\r\n", "\n").split('\n') {
        match style {
            Some(s) => out.push_str(&format!(r#"<text:p text:style-name="{s}">"#)),
            None => out.push_str("<text:p>"),
        }
        write_paragraph(out, line);
        out.push_str("</text:p>");
    }
}

fn content_xml(blocks: &[Block]) -> String {
    let mut out = String::from(CONTENT_HEAD);
    for (t, block) in blocks.iter().enumerate() {
        if let Block::Table { widths_cm, .. } = block {
            for (c, w) in widths_cm.iter().enumerate() {
                let w = if w.is_finite() { w.clamp(0.5, 17.0) } else { 3.0 };
                out.push_str(&format!(
                    r#"<style:style style:name="T{t}C{c}" style:family="table-column"><style:table-column-properties style:column-width="{w:.2}cm"/></style:style>"#
                ));
            }
        }
    }
    out.push_str("</office:automatic-styles><office:body><office:text>");
    for (t, block) in blocks.iter().enumerate() {
        match block {
            Block::Title(s) => paragraph(&mut out, Some("Ttl"), s),
            Block::Heading(s) => paragraph(&mut out, Some("Hd"), s),
            Block::Paragraph(s) => paragraph(&mut out, None, s),
            Block::Table { rows, widths_cm } => {
                let columns = rows.iter().map(Vec::len).max().unwrap_or(1).max(1);
                out.push_str(&format!(r#"<table:table table:name="表{}">"#, t + 1));
                for c in 0..columns {
                    if c < widths_cm.len() {
                        out.push_str(&format!(r#"<table:table-column table:style-name="T{t}C{c}"/>"#));
                    } else {
                        out.push_str("<table:table-column/>");
                    }
                }
                for row in rows {
                    out.push_str("<table:table-row>");
                    for c in 0..columns {
                        out.push_str(r#"<table:table-cell table:style-name="Cell" office:value-type="string">"#);
                        paragraph(&mut out, None, row.get(c).map(String::as_str).unwrap_or(""));
                        out.push_str("</table:table-cell>");
                    }
                    out.push_str("</table:table-row>");
                }
                out.push_str("</table:table>");
            }
        }
    }
    out.push_str("</office:text></office:body></office:document-content>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::{Event, Scanner};
    use crate::zip::Archive;

    #[test]
    fn r_acc_2_a_form_is_a_well_formed_text_document_with_its_words_and_table() {
        let bytes = write_odt(&[
            Block::Title("南投縣政府查詢中央健康保險署健保資料機關管理者申請表".into()),
            Block::Heading("一、申請人".into()),
            Block::Paragraph("姓名 <林雅婷> & 其他\n第二行".into()),
            Block::Table {
                rows: vec![vec!["機關".into(), "社會及勞動處".into()], vec!["帳號".into()]],
                widths_cm: vec![4.0, 13.0],
            },
        ]);
        let archive = Archive::parse(&bytes).unwrap();
        let mime = archive.find("mimetype").unwrap();
        assert_eq!(archive.read(mime, 1 << 20).unwrap(), MIMETYPE.as_bytes());
        let content = String::from_utf8(archive.read(archive.find("content.xml").unwrap(), 1 << 20).unwrap()).unwrap();
        assert!(content.contains("姓名 &lt;林雅婷&gt; &amp; 其他") && content.contains("社會及勞動處"));
        // Well formed: our own strict reader walks it to the end.
        let mut reader = Scanner::new(&content);
        let mut cells = 0;
        while let Some(e) = reader.next_event().unwrap() {
            if matches!(e, Event::Start { name: "table:table-cell", .. }) {
                cells += 1;
            }
        }
        assert_eq!(cells, 4, "short rows are padded to the widest");
    }
}
#[cfg(test)]
mod sample {
    /// Writes a sample form to $NHIGUARD_ODT_SAMPLE for a look in an office suite (not run in CI
    /// unless asked).
    #[test]
    fn write_sample_when_asked() {
        if let Ok(path) = std::env::var("NHIGUARD_ODT_SAMPLE") {
            let bytes = super::write_odt(&[
                super::Block::Title("南投縣政府查詢中央健康保險署健保資料機關管理者申請表".into()),
                super::Block::Heading("一、申請人資料".into()),
                super::Block::Table {
                    rows: vec![vec!["姓名".into(), "林雅婷".into()], vec!["帳號".into(), "soc.admin".into()]],
                    widths_cm: vec![4.0, 13.0],
                },
                super::Block::Paragraph("本人保證僅於辦理上列業務所需時查詢健保資料。".into()),
            ]);
            std::fs::write(path, bytes).unwrap();
        }
    }
}
