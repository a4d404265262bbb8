//! Mail to members. The engine decides what to send and to whom; a
//! [`Mailer`] (the server's SMTP sender, or a test's recorder) delivers it
//! off the request path. Tokens travel only inside the link, never in an
//! audit event or a log line.

/// One message to a member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    pub to: String,
    /// The member's name for the greeting (may be empty).
    pub name: String,
    pub kind: MailKind,
}

/// What the message says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailKind {
    /// "Reset your password": a single-use link.
    PasswordReset { link: String, valid_minutes: i64 },
    /// "Your password was changed" (so a member who did not do it knows).
    PasswordChanged,
    /// "Confirm your e-mail address": a single-use link.
    VerifyEmail { link: String, valid_hours: i64 },
    /// Someone signed up with an address that has an account already (the
    /// sign-up page must not tell them; the owner learns it here).
    AlreadyRegistered { login: String, forgot: String },
    /// "You are invited": a single-use sign-up link.
    Invitation { link: String, valid_days: i64 },
}

impl MailKind {
    /// A short machine name (audit, metrics, template names).
    pub fn name(&self) -> &'static str {
        match self {
            MailKind::PasswordReset { .. } => "password_reset",
            MailKind::PasswordChanged => "password_changed",
            MailKind::VerifyEmail { .. } => "verify_email",
            MailKind::AlreadyRegistered { .. } => "already_registered",
            MailKind::Invitation { .. } => "invitation",
        }
    }
}

/// Delivers mail. `send` must return quickly: queue, then deliver (with
/// retries) elsewhere.
pub trait Mailer: Send + Sync {
    fn send(&self, mail: Mail);
}
