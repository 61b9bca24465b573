//! Mail for activation links (R-ACC-4): when `smtp_url` is set, a new account's link goes
//! by e-mail to its owner's address, and the admin never sees it. The message holds the link and
//! nothing else of the account; no NHI data is ever mailed.

use lettre::message::Mailbox;
use lettre::message::SinglePart;
use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::{AppError, Result};

/// Checks an `smtp_url` setting without connecting.
pub fn check_url(url: &str) -> std::result::Result<(), String> {
    AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
        .map(|_| ())
        .map_err(|e| format!("is not a mail server address ({e}); e.g. smtps://user:password@mail.example.gov.tw"))
}

/// Checks an `smtp_from` setting.
pub fn check_from(from: &str) -> std::result::Result<(), String> {
    from.trim()
        .parse::<Mailbox>()
        .map(|_| ())
        .map_err(|e| format!("is not a sender address ({e}); e.g. 健保資料查詢管理系統 <nhiguard@nantou.gov.tw>"))
}

/// A configured mail server.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer").field("from", &self.from.to_string()).finish_non_exhaustive()
    }
}

impl Mailer {
    /// The mailer the settings describe, or `None` when `smtp_url` is empty.
    pub fn from_settings(url: &str, from: &str) -> Result<Option<Mailer>> {
        if url.trim().is_empty() {
            return Ok(None);
        }
        let bad = |e: String| AppError::Internal(format!("mail settings: {e}"));
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.trim())
            .map_err(|e| bad(e.to_string()))?
            .timeout(Some(std::time::Duration::from_secs(20)))
            .build();
        let from = from.trim().parse::<Mailbox>().map_err(|e| bad(e.to_string()))?;
        Ok(Some(Mailer { transport, from }))
    }

    /// Sends one plain-text message. A failure says what failed, never the server's password.
    pub async fn send(&self, to: &str, subject: &str, body: String) -> Result<()> {
        let to: Mailbox = to.parse().map_err(|e| AppError::Internal(format!("mail recipient: {e}")))?;
        // Base64 always: Traditional Chinese text would be chosen so anyway, and it keeps a long
        // link in one piece for the reader's mail program.
        let part =
            SinglePart::builder().header(ContentType::TEXT_PLAIN).header(ContentTransferEncoding::Base64).body(body);
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .singlepart(part)
            .map_err(|e| AppError::Internal(format!("mail message: {e}")))?;
        self.transport.send(message).await.map_err(|e| AppError::Internal(format!("mail delivery failed: {e}")))?;
        Ok(())
    }
}
