//! A minimal XML pull scanner for ODS `content.xml`, plus escaping for the XML this crate writes. It reads
//! elements, attributes, text, CDATA and the five predefined entities and character references; comments and
//! processing instructions are skipped. It must never expand a DTD or a custom entity (a document type
//! declaration is refused outright), never recurse, and never index past the input: it only slices at
//! positions of ASCII delimiters it found.

use std::borrow::Cow;

use crate::TabularError;

fn bad(detail: impl Into<String>) -> TabularError {
    TabularError::BadXml { detail: detail.into() }
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Event<'a> {
    /// A start tag; `attrs` is the raw attribute text, read on demand with [`attr`]. `empty` for `<x/>`.
    Start {
        name: &'a str,
        attrs: &'a str,
        empty: bool,
    },
    End {
        name: &'a str,
    },
    Text(Cow<'a, str>),
}

pub(crate) struct Scanner<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Scanner<'a> {
    pub(crate) fn new(s: &'a str) -> Self {
        Self { s, pos: 0 }
    }

    fn rest(&self) -> &'a str {
        self.s.get(self.pos..).unwrap_or_default()
    }

    /// Skips past `end`, returning the text before it.
    fn until(&mut self, start: usize, end: &str, what: &str) -> Result<&'a str, TabularError> {
        let from = self.s.get(start..).unwrap_or_default();
        let k = from.find(end).ok_or_else(|| bad(format!("unterminated {what}")))?;
        self.pos = start + k + end.len();
        Ok(from.get(..k).unwrap_or_default())
    }

    /// The next event, or `None` at the end of the input.
    pub(crate) fn next_event(&mut self) -> Result<Option<Event<'a>>, TabularError> {
        loop {
            let rest = self.rest();
            if rest.is_empty() {
                return Ok(None);
            }
            if !rest.starts_with('<') {
                let k = rest.find('<').unwrap_or(rest.len());
                self.pos += k;
                return Ok(Some(Event::Text(decode(rest.get(..k).unwrap_or_default())?)));
            }
            if rest.starts_with("<!--") {
                self.until(self.pos + 4, "-->", "comment")?;
                continue;
            }
            if rest.starts_with("<![CDATA[") {
                let text = self.until(self.pos + 9, "]]>", "CDATA section")?;
                return Ok(Some(Event::Text(Cow::Borrowed(text))));
            }
            if rest.starts_with("<!") {
                return Err(bad("document type declarations are not allowed"));
            }
            if rest.starts_with("<?") {
                self.until(self.pos + 2, "?>", "processing instruction")?;
                continue;
            }
            if let Some(after) = rest.strip_prefix("</") {
                let k = after.find('>').ok_or_else(|| bad("unterminated end tag"))?;
                let name = after.get(..k).unwrap_or_default().trim_end();
                self.pos += 2 + k + 1;
                if !is_name(name) {
                    return Err(bad("bad end tag"));
                }
                return Ok(Some(Event::End { name }));
            }
            return self.start_tag(rest).map(Some);
        }
    }

    fn start_tag(&mut self, rest: &'a str) -> Result<Event<'a>, TabularError> {
        let body = rest.get(1..).unwrap_or_default();
        let name_len = body.find(|c: char| c.is_whitespace() || c == '/' || c == '>').unwrap_or(body.len());
        let name = body.get(..name_len).unwrap_or_default();
        if !is_name(name) {
            return Err(bad("a '<' that does not open a tag"));
        }
        // Find the closing '>' outside attribute values.
        let mut quote: Option<u8> = None;
        let mut close = None;
        for (i, &b) in body.as_bytes().iter().enumerate().skip(name_len) {
            match (quote, b) {
                (Some(q), _) if b == q => quote = None,
                (Some(_), _) => {}
                (None, b'"' | b'\'') => quote = Some(b),
                (None, b'>') => {
                    close = Some(i);
                    break;
                }
                (None, b'<') => return Err(bad("'<' inside a tag")),
                _ => {}
            }
        }
        let close = close.ok_or_else(|| bad("unterminated start tag"))?;
        let inner = body.get(name_len..close).unwrap_or_default();
        let (attrs, empty) = match inner.strip_suffix('/') {
            Some(a) => (a, true),
            None => (inner, false),
        };
        self.pos += 1 + close + 1;
        Ok(Event::Start { name, attrs, empty })
    }
}

/// Loosely, an XML name: not empty, not starting with a digit or punctuation, no markup characters.
fn is_name(name: &str) -> bool {
    let Some(first) = name.chars().next() else { return false };
    (first.is_alphabetic() || first == '_' || first == ':')
        && !name.contains(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '&' | '"' | '\'' | '=' | '/'))
}

/// The value of attribute `name` in raw attribute text, entities decoded.
pub(crate) fn attr<'a>(attrs: &'a str, name: &str) -> Result<Option<Cow<'a, str>>, TabularError> {
    let mut rest = attrs;
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            return Ok(None);
        }
        let eq = rest.find('=').ok_or_else(|| bad("attribute without a value"))?;
        let key = rest.get(..eq).unwrap_or_default().trim();
        let after = rest.get(eq + 1..).unwrap_or_default().trim_start();
        let quote =
            after.chars().next().filter(|c| *c == '"' || *c == '\'').ok_or_else(|| bad("unquoted attribute"))?;
        let value_and_more = after.get(1..).unwrap_or_default();
        let end = value_and_more.find(quote).ok_or_else(|| bad("unterminated attribute value"))?;
        let raw = value_and_more.get(..end).unwrap_or_default();
        if key == name {
            return decode(raw).map(Some);
        }
        rest = value_and_more.get(end + 1..).unwrap_or_default();
    }
}

/// Decodes the predefined entities and character references.
pub(crate) fn decode(raw: &str) -> Result<Cow<'_, str>, TabularError> {
    if !raw.contains('&') {
        return Ok(Cow::Borrowed(raw));
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(amp) = rest.find('&') {
        out.push_str(rest.get(..amp).unwrap_or_default());
        let after = rest.get(amp + 1..).unwrap_or_default();
        let semi = after.find(';').filter(|&k| k <= 10).ok_or_else(|| bad("a '&' that is not an entity"))?;
        let entity = after.get(..semi).unwrap_or_default();
        let c = match entity {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let code = if let Some(hex) = entity.strip_prefix("#x").or_else(|| entity.strip_prefix("#X")) {
                    u32::from_str_radix(hex, 16).ok()
                } else if let Some(dec) = entity.strip_prefix('#') {
                    dec.parse::<u32>().ok()
                } else {
                    return Err(bad("unknown entity"));
                };
                code.filter(|&c| c != 0).and_then(char::from_u32).ok_or_else(|| bad("bad character reference"))?
            }
        };
        out.push(c);
        rest = after.get(semi + 1..).unwrap_or_default();
    }
    out.push_str(rest);
    Ok(Cow::Owned(out))
}

/// Whether XML 1.0 allows the character at all.
fn xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Appends `s` escaped for element content or a double-quoted attribute; characters XML cannot carry
/// (most control characters) become U+FFFD.
pub(crate) fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if xml_char(c) => out.push(c),
            _ => out.push('\u{FFFD}'),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(s: &str) -> Result<Vec<Event<'_>>, TabularError> {
        let mut sc = Scanner::new(s);
        let mut v = Vec::new();
        while let Some(e) = sc.next_event()? {
            v.push(e);
        }
        Ok(v)
    }

    #[test]
    fn scans_tags_text_and_entities() {
        let v = events(
            "<?xml version=\"1.0\"?><!-- c --><a x='1>2' y=\"&amp;\"><b/>t&lt;&#x4E2D;&#25991;<![CDATA[<raw>]]></a >",
        )
        .unwrap();
        assert_eq!(v.len(), 5);
        let Event::Start { name: "a", attrs, empty: false } = &v[0] else { panic!("{v:?}") };
        assert_eq!(attr(attrs, "x").unwrap().as_deref(), Some("1>2"));
        assert_eq!(attr(attrs, "y").unwrap().as_deref(), Some("&"));
        assert_eq!(attr(attrs, "z").unwrap(), None);
        assert_eq!(v[1], Event::Start { name: "b", attrs: "", empty: true });
        assert_eq!(v[2], Event::Text(Cow::Borrowed("t<中文")));
        assert_eq!(v[3], Event::Text(Cow::Borrowed("<raw>")));
        assert_eq!(v[4], Event::End { name: "a" });
    }

    #[test]
    fn malformed_input_is_an_error() {
        for s in [
            "<a",
            "<a x='1>",
            "</a",
            "<!DOCTYPE x [<!ENTITY e 'x'>]><a>&e;</a>",
            "<a>&bogus;</a>",
            "<a>&#0;</a>",
            "<a>& b</a>",
            "<!-- x",
            "< a>",
            "<a><</a>",
        ] {
            assert!(events(s).is_err(), "{s}");
        }
        assert!(attr("x=1", "x").is_err());
        assert!(attr("x", "x").is_err());
    }

    #[test]
    fn escaping() {
        let mut s = String::new();
        escape_into(&mut s, "a<b>&\"c'\u{1}\u{FFFF}中");
        assert_eq!(s, "a&lt;b&gt;&amp;&quot;c&apos;\u{FFFD}\u{FFFD}中");
    }
}
