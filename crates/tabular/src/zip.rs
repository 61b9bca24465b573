//! A minimal ZIP container, only as much as ODS needs: reading stored and deflated entries through the
//! central directory, and writing stored entries. CRC-32 by hand. It must never trust a size, offset or count
//! it reads from the file: every one is bounds-checked, inflation is capped by both the caller's limit and
//! the entry's declared size, and an entry that expands beyond what it declares is refused.

use std::collections::HashSet;

use crate::TabularError;

const LOCAL_SIG: u32 = 0x0403_4b50;
const CENTRAL_SIG: u32 = 0x0201_4b50;
const EOCD_SIG: u32 = 0x0605_4b50;
const EOCD_LEN: usize = 22;
const METHOD_STORED: u16 = 0;
const METHOD_DEFLATE: u16 = 8;
const FLAG_ENCRYPTED: u16 = 1;
const FLAG_UTF8: u16 = 1 << 11;

/// Whether the bytes start like a ZIP archive (a local header, or the end record of an empty archive).
pub(crate) fn looks_like_zip(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06")
}

const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

/// CRC-32 (IEEE 802.3, as ZIP uses it).
pub(crate) fn crc32(data: &[u8]) -> u32 {
    let mut c = 0xFFFF_FFFFu32;
    for &b in data {
        c = CRC_TABLE[((c ^ u32::from(b)) & 0xFF) as usize] ^ (c >> 8);
    }
    !c
}

fn corrupt(detail: &'static str) -> TabularError {
    TabularError::CorruptZip { detail }
}

fn u16_at(data: &[u8], at: usize) -> Option<u16> {
    let b = data.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes([b[0], b[1]]))
}

fn u32_at(data: &[u8], at: usize) -> Option<u32> {
    let b = data.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

#[derive(Debug)]
pub(crate) struct Entry<'a> {
    pub(crate) name: &'a [u8],
    method: u16,
    flags: u16,
    crc: u32,
    compressed_size: u32,
    size: u32,
    local_offset: u32,
}

impl Entry<'_> {
    pub(crate) fn encrypted(&self) -> bool {
        self.flags & FLAG_ENCRYPTED != 0
    }
}

/// The entries of an archive, as its central directory lists them.
#[derive(Debug)]
pub(crate) struct Archive<'a> {
    data: &'a [u8],
    pub(crate) entries: Vec<Entry<'a>>,
}

impl<'a> Archive<'a> {
    pub(crate) fn parse(data: &'a [u8]) -> Result<Self, TabularError> {
        let eocd = find_eocd(data).ok_or_else(|| corrupt("no end-of-archive record; the file is truncated"))?;
        let field = |at: usize| u16_at(data, eocd + at).ok_or_else(|| corrupt("truncated end record"));
        let (disk, cd_disk) = (field(4)?, field(6)?);
        let (on_disk, total) = (field(8)?, field(10)?);
        let cd_size = u32_at(data, eocd + 12).ok_or_else(|| corrupt("truncated end record"))?;
        let cd_offset = u32_at(data, eocd + 16).ok_or_else(|| corrupt("truncated end record"))?;
        if total == 0xFFFF || cd_size == 0xFFFF_FFFF || cd_offset == 0xFFFF_FFFF {
            return Err(TabularError::UnsupportedZip { detail: "ZIP64" });
        }
        if disk != 0 || cd_disk != 0 || on_disk != total {
            return Err(TabularError::UnsupportedZip { detail: "multi-volume archive" });
        }
        let cd_start = cd_offset as usize;
        let cd_end = cd_start.checked_add(cd_size as usize).ok_or_else(|| corrupt("bad directory size"))?;
        if cd_end > eocd {
            return Err(corrupt("the directory lies outside the file"));
        }
        let mut entries = Vec::with_capacity(usize::from(total));
        let mut names = HashSet::new();
        let mut p = cd_start;
        for _ in 0..total {
            let bad = || corrupt("damaged directory entry");
            if u32_at(data, p) != Some(CENTRAL_SIG) {
                return Err(bad());
            }
            let name_len = usize::from(u16_at(data, p + 28).ok_or_else(bad)?);
            let extra_len = usize::from(u16_at(data, p + 30).ok_or_else(bad)?);
            let comment_len = usize::from(u16_at(data, p + 32).ok_or_else(bad)?);
            let name_start = p + 46;
            let next = name_start + name_len + extra_len + comment_len;
            if next > cd_end {
                return Err(bad());
            }
            let name = data.get(name_start..name_start + name_len).ok_or_else(bad)?;
            if !names.insert(name) {
                return Err(corrupt("two entries have the same name"));
            }
            entries.push(Entry {
                name,
                flags: u16_at(data, p + 8).ok_or_else(bad)?,
                method: u16_at(data, p + 10).ok_or_else(bad)?,
                crc: u32_at(data, p + 16).ok_or_else(bad)?,
                compressed_size: u32_at(data, p + 20).ok_or_else(bad)?,
                size: u32_at(data, p + 24).ok_or_else(bad)?,
                local_offset: u32_at(data, p + 42).ok_or_else(bad)?,
            });
            p = next;
        }
        Ok(Self { data, entries })
    }

    pub(crate) fn find(&self, name: &str) -> Option<&Entry<'a>> {
        self.entries.iter().find(|e| e.name == name.as_bytes())
    }

    /// The entry's content, refused if it is (or declares itself) larger than `cap` bytes.
    pub(crate) fn read(&self, entry: &Entry<'_>, cap: usize) -> Result<Vec<u8>, TabularError> {
        if entry.encrypted() {
            return Err(TabularError::Encrypted);
        }
        if entry.size == 0xFFFF_FFFF || entry.compressed_size == 0xFFFF_FFFF || entry.local_offset == 0xFFFF_FFFF {
            return Err(TabularError::UnsupportedZip { detail: "ZIP64" });
        }
        let size = entry.size as usize;
        if size > cap {
            return Err(TabularError::ZipBomb { max: cap });
        }
        let at = entry.local_offset as usize;
        let bad = || corrupt("damaged entry header");
        if u32_at(self.data, at) != Some(LOCAL_SIG) {
            return Err(bad());
        }
        let name_len = usize::from(u16_at(self.data, at + 26).ok_or_else(bad)?);
        let extra_len = usize::from(u16_at(self.data, at + 28).ok_or_else(bad)?);
        if self.data.get(at + 30..at + 30 + name_len) != Some(entry.name) {
            return Err(corrupt("entry names disagree"));
        }
        let start = at + 30 + name_len + extra_len;
        let raw = self
            .data
            .get(start..start + entry.compressed_size as usize)
            .ok_or_else(|| corrupt("an entry is cut short; the file is truncated"))?;
        let content = match entry.method {
            METHOD_STORED => {
                if raw.len() != size {
                    return Err(corrupt("stored entry size mismatch"));
                }
                raw.to_vec()
            }
            METHOD_DEFLATE => {
                // One byte of slack distinguishes "exactly the declared size" from "more than declared".
                match miniz_oxide::inflate::decompress_to_vec_with_limit(raw, size.saturating_add(1)) {
                    Ok(out) if out.len() == size => out,
                    Ok(out) if out.len() > size => return Err(TabularError::ZipBomb { max: cap }),
                    Ok(_) => return Err(corrupt("entry shorter than declared")),
                    Err(e) if e.status == miniz_oxide::inflate::TINFLStatus::HasMoreOutput => {
                        return Err(TabularError::ZipBomb { max: cap });
                    }
                    Err(_) => return Err(corrupt("compressed data is damaged")),
                }
            }
            _ => return Err(TabularError::UnsupportedZip { detail: "compression method" }),
        };
        if crc32(&content) != entry.crc {
            return Err(corrupt("checksum mismatch"));
        }
        Ok(content)
    }
}

fn find_eocd(data: &[u8]) -> Option<usize> {
    let last = data.len().checked_sub(EOCD_LEN)?;
    let first = last.saturating_sub(usize::from(u16::MAX));
    (first..=last).rev().find(|&at| u32_at(data, at) == Some(EOCD_SIG))
}

/// Writes an archive of stored or deflated entries, in the order they are added.
///
/// Sizes above 4 GiB are not representable without ZIP64; nothing this crate writes comes near.
#[derive(Debug, Default)]
pub(crate) struct ZipWriter {
    out: Vec<u8>,
    central: Vec<u8>,
    count: u16,
}

fn u32_len(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl ZipWriter {
    pub(crate) fn add_stored(&mut self, name: &str, data: &[u8]) {
        self.add_raw(name, METHOD_STORED, data, crc32(data), u32_len(data.len()));
    }

    /// Adds an entry compressed with deflate at its fastest level: a sheet's XML is the same few
    /// tags over and over and shrinks about tenfold even so, and the time to compress it is a small
    /// part of the time to build it.
    pub(crate) fn add_deflated(&mut self, name: &str, data: &[u8]) {
        let packed = miniz_oxide::deflate::compress_to_vec(data, 1);
        self.add_raw(name, METHOD_DEFLATE, &packed, crc32(data), u32_len(data.len()));
    }

    /// Adds an entry whose payload is already encoded with `method`; tests use it to build hostile archives.
    pub(crate) fn add_raw(&mut self, name: &str, method: u16, payload: &[u8], crc: u32, size: u32) {
        let offset = u32_len(self.out.len());
        let name_len = u16::try_from(name.len()).unwrap_or(u16::MAX);
        let name = name.as_bytes().get(..usize::from(name_len)).unwrap_or_default();
        // Fixed timestamp (1980-01-01 00:00) so that the same sheets always give the same bytes.
        let (time, date) = (0u16, (1 << 5) | 1);
        let version: u16 = if method == METHOD_STORED { 10 } else { 20 };

        let local = &mut self.out;
        local.extend_from_slice(&LOCAL_SIG.to_le_bytes());
        local.extend_from_slice(&version.to_le_bytes());
        local.extend_from_slice(&FLAG_UTF8.to_le_bytes());
        local.extend_from_slice(&method.to_le_bytes());
        local.extend_from_slice(&time.to_le_bytes());
        local.extend_from_slice(&u16::to_le_bytes(date));
        local.extend_from_slice(&crc.to_le_bytes());
        local.extend_from_slice(&u32_len(payload.len()).to_le_bytes());
        local.extend_from_slice(&size.to_le_bytes());
        local.extend_from_slice(&name_len.to_le_bytes());
        local.extend_from_slice(&0u16.to_le_bytes());
        local.extend_from_slice(name);
        local.extend_from_slice(payload);

        let c = &mut self.central;
        c.extend_from_slice(&CENTRAL_SIG.to_le_bytes());
        c.extend_from_slice(&20u16.to_le_bytes()); // made by: MS-DOS, spec 2.0
        c.extend_from_slice(&version.to_le_bytes());
        c.extend_from_slice(&FLAG_UTF8.to_le_bytes());
        c.extend_from_slice(&method.to_le_bytes());
        c.extend_from_slice(&time.to_le_bytes());
        c.extend_from_slice(&u16::to_le_bytes(date));
        c.extend_from_slice(&crc.to_le_bytes());
        c.extend_from_slice(&u32_len(payload.len()).to_le_bytes());
        c.extend_from_slice(&size.to_le_bytes());
        c.extend_from_slice(&name_len.to_le_bytes());
        c.extend_from_slice(&[0; 4]); // extra and comment lengths
        c.extend_from_slice(&[0; 4]); // disk number, internal attributes
        c.extend_from_slice(&[0; 4]); // external attributes
        c.extend_from_slice(&offset.to_le_bytes());
        c.extend_from_slice(name);
        self.count = self.count.saturating_add(1);
    }

    pub(crate) fn finish(mut self) -> Vec<u8> {
        let cd_offset = u32_len(self.out.len());
        let cd_size = u32_len(self.central.len());
        self.out.append(&mut self.central);
        self.out.extend_from_slice(&EOCD_SIG.to_le_bytes());
        self.out.extend_from_slice(&[0; 4]); // this disk, directory disk
        self.out.extend_from_slice(&self.count.to_le_bytes());
        self.out.extend_from_slice(&self.count.to_le_bytes());
        self.out.extend_from_slice(&cd_size.to_le_bytes());
        self.out.extend_from_slice(&cd_offset.to_le_bytes());
        self.out.extend_from_slice(&0u16.to_le_bytes());
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_known_values() {
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b"The quick brown fox jumps over the lazy dog"), 0x414F_A339);
    }

    #[test]
    fn stored_and_deflated_round_trip() {
        let mut w = ZipWriter::default();
        w.add_stored("mimetype", b"hello");
        let text = "身分證號,姓名\n".repeat(100);
        let deflated = miniz_oxide::deflate::compress_to_vec(text.as_bytes(), 6);
        w.add_raw("content.xml", METHOD_DEFLATE, &deflated, crc32(text.as_bytes()), u32_len(text.len()));
        let bytes = w.finish();
        assert!(looks_like_zip(&bytes));
        let a = Archive::parse(&bytes).unwrap();
        assert_eq!(a.entries.len(), 2);
        assert_eq!(a.read(a.find("mimetype").unwrap(), 100).unwrap(), b"hello");
        assert_eq!(a.read(a.find("content.xml").unwrap(), 1 << 20).unwrap(), text.as_bytes());
        assert!(matches!(a.read(a.find("content.xml").unwrap(), 100), Err(TabularError::ZipBomb { max: 100 })));
    }

    #[test]
    fn lying_sizes_and_checksums_are_refused() {
        let big = vec![0u8; 1 << 20];
        let deflated = miniz_oxide::deflate::compress_to_vec(&big, 6);
        let mut w = ZipWriter::default();
        w.add_raw("small", METHOD_DEFLATE, &deflated, crc32(&big), 1000);
        w.add_raw("short", METHOD_DEFLATE, &deflated, crc32(&big), 2 << 20);
        w.add_raw("crc", METHOD_DEFLATE, &deflated, 42, 1 << 20);
        w.add_raw("stored", METHOD_STORED, b"abc", crc32(b"abc"), 4);
        w.add_raw("bzip", 12, b"abc", crc32(b"abc"), 3);
        let bytes = w.finish();
        let a = Archive::parse(&bytes).unwrap();
        let read = |n: &str| a.read(a.find(n).unwrap(), 64 << 20);
        assert!(matches!(read("small"), Err(TabularError::ZipBomb { .. })));
        assert!(matches!(read("short"), Err(TabularError::CorruptZip { .. })));
        assert!(matches!(read("crc"), Err(TabularError::CorruptZip { detail: "checksum mismatch" })));
        assert!(matches!(read("stored"), Err(TabularError::CorruptZip { .. })));
        assert!(matches!(read("bzip"), Err(TabularError::UnsupportedZip { .. })));
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let mut w = ZipWriter::default();
        w.add_stored("mimetype", b"application/vnd.oasis.opendocument.spreadsheet");
        w.add_stored("content.xml", &[b'x'; 300]);
        let bytes = w.finish();
        for len in 0..bytes.len() {
            let cut = &bytes[..len];
            if let Ok(a) = Archive::parse(cut) {
                for e in &a.entries {
                    let _ = a.read(e, 1 << 20);
                }
            }
        }
        assert!(matches!(Archive::parse(&bytes[..bytes.len() - 1]), Err(TabularError::CorruptZip { .. })));
        // Garbage after a valid signature.
        let mut junk = b"PK\x05\x06".to_vec();
        junk.extend_from_slice(&[0xFF; 18]);
        assert!(Archive::parse(&junk).is_err());
    }

    #[test]
    fn duplicate_names_are_refused() {
        let mut w = ZipWriter::default();
        w.add_stored("content.xml", b"a");
        w.add_stored("content.xml", b"b");
        assert!(matches!(Archive::parse(&w.finish()), Err(TabularError::CorruptZip { .. })));
    }
}
