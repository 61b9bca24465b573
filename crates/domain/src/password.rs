//! Password rules (R-ACC-6) that can be checked without history: length, character classes, not
//! being the account or person's name, and not being easy to guess (zxcvbn's estimate of the
//! guesses needed, scored 0–4). Each refusal names the rule broken.

use crate::DomainError;

/// The rules' settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Fewest characters (a setting, at least 12).
    pub min_length: usize,
    /// Lowest zxcvbn score accepted, 0–4 (a setting; 3 means more than 10^8 guesses).
    pub min_score: u8,
}

/// Checks a new password against the rules.
pub fn check(password: &str, policy: Policy, username: &str, person_name: &str) -> Result<(), DomainError> {
    let min_length = policy.min_length;
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
    // The name parts and the product's own words are what an attacker tries first.
    let score = zxcvbn::zxcvbn(password, &[username, person_name, "nhiguard", "nantou", "南投"]).score() as u8;
    if score < policy.min_score {
        return fail(
            format!(
                "密碼太容易被猜中（強度 {score}/4，至少需 {}）；請改用較長、不含常見字詞或規律的密碼",
                policy.min_score
            ),
            format!(
                "this password is too easy to guess (strength {score}/4, at least {} needed); use a longer one without common words or patterns",
                policy.min_score
            ),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r_acc_6_each_rule_is_named() {
        let msg = |p: &str| match check(p, Policy { min_length: 12, min_score: 3 }, "soc.user", "陳社工") {
            Err(DomainError::Invalid { en, .. }) => en,
            _ => "ok".into(),
        };
        assert!(msg("Short1a").contains("at least 12"));
        assert!(msg("alllowercase123").contains("upper-case"));
        assert!(msg("Xsoc.user12345").contains("username"));
        assert!(msg("X陳社工pass12345").contains("name"));
        assert!(msg("Password1234").contains("too easy to guess"), "{}", msg("Password1234"));
        assert!(msg("Qwertyuiop12").contains("too easy to guess"));
        assert!(msg("Aaaaaaaaaa11").contains("too easy to guess"));
        assert_eq!(msg("Correct-Horse-42"), "ok");
        assert_eq!(msg("Jade-Mountain-3952"), "ok");
    }
}
