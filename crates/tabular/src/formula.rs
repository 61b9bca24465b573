//! Recognises cells that a spreadsheet program would run as a formula (CSV injection, OWASP). It only
//! answers the question: it must never change a cell; writers and callers decide what to do.

/// Whether `cell` starts with `=`, `+`, `-`, `@`, a tab or a carriage return, so that a spreadsheet program
/// opening a CSV could take it for a formula. A plain signed number (`-12`, `+886912345678`, `-0.5`) is not a
/// risk; a national ID (a letter then digits) never is.
pub fn formula_risk(cell: &str) -> bool {
    let mut chars = cell.chars();
    match chars.next() {
        Some('=' | '@' | '\t' | '\r') => true,
        Some('+' | '-') => !is_plain_number(chars.as_str()),
        _ => false,
    }
}

/// Digits with at most one decimal point and at least one digit.
fn is_plain_number(s: &str) -> bool {
    let mut digits = 0usize;
    let mut points = 0usize;
    for c in s.chars() {
        match c {
            '0'..='9' => digits += 1,
            '.' => points += 1,
            _ => return false,
        }
    }
    digits > 0 && points <= 1
}

#[cfg(test)]
mod tests {
    use super::formula_risk;

    #[test]
    fn formulas_are_risky() {
        for cell in [
            "=1+1",
            "=HYPERLINK(\"http://x\")",
            "+1+cmd|' /C calc'!A0",
            "-2+3",
            "@SUM(A1)",
            "\t=1",
            "\rx",
            "-",
            "+",
            "--1",
            "-1.2.3",
            "-1e5",
        ] {
            assert!(formula_risk(cell), "{cell:?}");
        }
    }

    #[test]
    fn ordinary_cells_are_not() {
        for cell in ["", "A123456789", "王小明", "-12", "+886912345678", "-0.5", "12", "a=b", " =1", "114/03/05", "'=1"]
        {
            assert!(!formula_risk(cell), "{cell:?}");
        }
    }
}
