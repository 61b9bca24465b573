//! The one error type of the domain crate: a rule that input broke, naming the field and the
//! reason in words a person can act on (Traditional Chinese first, English second).

/// Which input a [`DomainError::Invalid`] is about; the web layer shows it beside the field.
pub type Field = &'static str;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// Input that does not satisfy a rule; `zh` and `en` say what is wrong and what to do.
    #[error("{field}: {en}")]
    Invalid { field: Field, zh: String, en: String },
    /// The actor may not do this here (role or org branch).
    #[error("forbidden: {en}")]
    Forbidden { zh: String, en: String },
}

impl DomainError {
    pub fn invalid(field: Field, zh: impl Into<String>, en: impl Into<String>) -> Self {
        Self::Invalid { field, zh: zh.into(), en: en.into() }
    }
}
