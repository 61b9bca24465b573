//! Password rules (R-ACC-6) that can be checked without history: length, character classes, and
//! not being the account or person's name. Each refusal names the rule broken.

use crate::DomainError;

/// Checks a new password against the rules; `min_length` is a setting (≥ 12).
pub fn check(password: &str, min_length: usize, username: &str, person_name: &str) -> Result<(), DomainError> {
    let fail = |zh: String, en: String| Err(DomainError::invalid("password", zh, en));
    let len = password.chars().count();
    if len < min_length {
        return fail(
            format!("密碼至少需 {min_length} 個字元（目前 {len} 個）"),
            format!("a password needs at least {min_length} characters (this one has {len})"),
        );
    }
    if len > 256 {
        return fail("密碼最多 256 個字元".into(), "a password has at most 256 characters".into());
    }
    let has = |f: fn(&char) -> bool| password.chars().any(|c| f(&c));
    if !has(char::is_ascii_uppercase) || !has(char::is_ascii_lowercase) || !has(char::is_ascii_digit) {
        return fail(
            "密碼需同時包含大寫英文字母、小寫英文字母及數字".into(),
            "a password needs upper-case letters, lower-case letters and digits".into(),
        );
    }
    let lower = password.to_lowercase();
    let name_parts = [username.to_lowercase(), person_name.to_lowercase()];
    if name_parts.iter().any(|n| n.chars().count() >= 2 && lower.contains(n.as_str())) {
        return fail(
            "密碼不可包含帳號或姓名".into(),
            "a password must not contain the username or the person's name".into(),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r_acc_6_each_rule_is_named() {
        let msg = |p: &str| match check(p, 12, "soc.user", "陳社工") {
            Err(DomainError::Invalid { en, .. }) => en,
            _ => "ok".into(),
        };
        assert!(msg("Short1a").contains("at least 12"));
        assert!(msg("alllowercase123").contains("upper-case"));
        assert!(msg("Xsoc.user12345").contains("username"));
        assert!(msg("X陳社工pass12345").contains("name"));
        assert_eq!(msg("Correct-Horse-42"), "ok");
    }
}
