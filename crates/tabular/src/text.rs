//! Decides whether uploaded bytes are UTF-8 text, and if not, says why in terms a person can act on: Big5
//! (the usual "CSV" from a Traditional Chinese Excel), UTF-16, or not text at all. It must never guess an
//! encoding and convert: a silently mis-decoded national ID or name is worse than a refusal.

use crate::TabularError;

const UTF8_BOM: &[u8] = &[0xEF, 0xBB, 0xBF];

/// Returns the text without its UTF-8 byte-order mark, or the reason it is not UTF-8 text.
pub(crate) fn decode(bytes: &[u8]) -> Result<&str, TabularError> {
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) || looks_like_utf16(bytes) {
        return Err(TabularError::Utf16);
    }
    let body = bytes.strip_prefix(UTF8_BOM).unwrap_or(bytes);
    if has_binary_controls(body) {
        return Err(TabularError::NotText);
    }
    match std::str::from_utf8(body) {
        Ok(text) => Ok(text),
        Err(_) if looks_like_big5(body) => Err(TabularError::Big5),
        Err(_) => Err(TabularError::NotText),
    }
}

fn is_text_control(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | b'\r' | 0x0C | 0x1A)
}

/// Any NUL, or more than one C0 control character in a hundred, marks a binary file.
fn has_binary_controls(bytes: &[u8]) -> bool {
    let mut controls = 0usize;
    for &b in bytes {
        if b == 0 {
            return true;
        }
        if b < 0x20 && !is_text_control(b) {
            controls += 1;
        }
    }
    controls > 0 && controls >= bytes.len() / 100
}

/// UTF-16 without a byte-order mark: in mostly-ASCII text, one byte of each pair is NUL.
fn looks_like_utf16(bytes: &[u8]) -> bool {
    let sample = &bytes[..bytes.len().min(4096)];
    let pairs = sample.len() / 2;
    if pairs < 2 {
        return false;
    }
    let (mut even, mut odd) = (0usize, 0usize);
    for (i, &b) in sample.iter().enumerate().take(pairs * 2) {
        if b == 0 {
            if i % 2 == 0 {
                even += 1;
            } else {
                odd += 1;
            }
        }
    }
    let mostly = |n: usize| n * 10 >= pairs * 6;
    let rarely = |n: usize| n * 10 <= pairs;
    (mostly(odd) && rarely(even)) || (mostly(even) && rarely(odd))
}

/// Big5 / CP950: lead bytes 0x81–0xFE, each followed by a trail byte 0x40–0x7E or 0xA1–0xFE. The file looks
/// like Big5 when such pairs make up at least 95% of its non-ASCII bytes.
pub(crate) fn looks_like_big5(bytes: &[u8]) -> bool {
    let (mut non_ascii, mut paired) = (0usize, 0usize);
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b < 0x80 {
            i += 1;
            continue;
        }
        let trail = bytes.get(i + 1).copied();
        let is_trail = |t: u8| (0x40..=0x7E).contains(&t) || (0xA1..=0xFE).contains(&t);
        match trail {
            Some(t) if (0x81..=0xFE).contains(&b) && is_trail(t) => {
                non_ascii += 2;
                paired += 2;
                i += 2;
            }
            _ => {
                non_ascii += 1;
                i += 1;
            }
        }
    }
    paired >= 2 && paired * 100 >= non_ascii * 95
}

#[cfg(test)]
mod tests {
    use super::*;

    /// "身分證號,姓名\r\nA123456789,王小明\r\n" in Big5, from `iconv -f UTF-8 -t BIG5`.
    pub(crate) const BIG5_SAMPLE: &[u8] = &[
        0xA8, 0xAD, 0xA4, 0xC0, 0xC3, 0xD2, 0xB8, 0xB9, b',', 0xA9, 0x6D, 0xA6, 0x57, b'\r', b'\n', b'A', b'1', b'2',
        b'3', b'4', b'5', b'6', b'7', b'8', b'9', b',', 0xA4, 0xFD, 0xA4, 0x70, 0xA9, 0xFA, b'\r', b'\n',
    ];

    #[test]
    fn utf8_with_and_without_bom() {
        assert_eq!(decode("a,身分證\n".as_bytes()).unwrap(), "a,身分證\n");
        let mut bom = UTF8_BOM.to_vec();
        bom.extend_from_slice("姓名".as_bytes());
        assert_eq!(decode(&bom).unwrap(), "姓名");
        assert_eq!(decode(b"").unwrap(), "");
    }

    #[test]
    fn big5_is_recognised() {
        assert!(looks_like_big5(BIG5_SAMPLE));
        assert!(matches!(decode(BIG5_SAMPLE), Err(TabularError::Big5)));
    }

    #[test]
    fn utf16_with_or_without_bom() {
        // "身分證號,姓名\n" from `iconv -t UTF-16` (little-endian with BOM).
        let with_bom = [
            0xFF, 0xFE, 0xAB, 0x8E, 0x06, 0x52, 0x49, 0x8B, 0x5F, 0x86, 0x2C, 0x00, 0xD3, 0x59, 0x0D, 0x54, 0x0A, 0x00,
        ];
        assert!(matches!(decode(&with_bom), Err(TabularError::Utf16)));
        let ascii_le: Vec<u8> = "id,name\r\n".encode_utf16().flat_map(u16::to_le_bytes).collect();
        assert!(matches!(decode(&ascii_le), Err(TabularError::Utf16)));
        let ascii_be: Vec<u8> = "id,name\r\n".encode_utf16().flat_map(u16::to_be_bytes).collect();
        assert!(matches!(decode(&ascii_be), Err(TabularError::Utf16)));
    }

    #[test]
    fn binary_is_not_text() {
        assert!(matches!(decode(&[0u8; 1000]), Err(TabularError::NotText)));
        let png = [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0x0D, b'I', b'H', b'D', b'R'];
        assert!(matches!(decode(&png), Err(TabularError::NotText)));
        // Latin-1 is neither UTF-8 nor Big5.
        assert!(matches!(decode(b"caf\xe9 cr\xe8me\n"), Err(TabularError::NotText)));
        assert!(matches!(decode(b"a\x01b\x02c\x03"), Err(TabularError::NotText)));
    }
}
