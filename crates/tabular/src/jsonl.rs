//! JSON Lines exports: one JSON value per line, `\n` line ends. It must never let a value span lines
//! (serde_json escapes line breaks inside strings, and the compact form has none of its own).

use serde::Serialize;

use crate::TabularError;

/// Serialises each item as one line of compact JSON followed by `\n`.
pub fn write_jsonl<I>(items: I) -> Result<Vec<u8>, TabularError>
where
    I: IntoIterator,
    I::Item: Serialize,
{
    let mut out = Vec::new();
    for item in items {
        serde_json::to_writer(&mut out, &item).map_err(TabularError::Json)?;
        out.push(b'\n');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Serialize;

    use super::*;

    #[derive(Serialize)]
    struct Row<'a> {
        national_id: &'a str,
        note: &'a str,
    }

    #[test]
    fn one_object_per_line() {
        let rows = [Row { national_id: "A123456789", note: "兩行\n備註" }, Row { national_id: "B987654321", note: "" }];
        let out = String::from_utf8(write_jsonl(&rows).unwrap()).unwrap();
        assert_eq!(
            out,
            "{\"national_id\":\"A123456789\",\"note\":\"兩行\\n備註\"}\n{\"national_id\":\"B987654321\",\"note\":\"\"}\n"
        );
        assert!(write_jsonl(Vec::<Row<'_>>::new()).unwrap().is_empty());
    }

    #[test]
    fn unserialisable_items_are_errors() {
        let mut bad = BTreeMap::new();
        bad.insert((1, 2), "tuple keys cannot be JSON object keys");
        let err = write_jsonl([bad]).unwrap_err();
        assert_eq!(err.code(), "TAB-030");
    }
}
