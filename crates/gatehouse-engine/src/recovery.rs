//! Passwords members manage themselves: the password policy, "forgot
//! password" (a single-use link by e-mail, valid 30 minutes, the same
//! answer whether or not the address exists, limited per address and per
//! IP), the reset itself (every session ends, every token is revoked), and
//! changing a password on the account page (the current one required).

use gatehouse_core::secret::{digest, generate_token, hash_password};
use gatehouse_core::user::normalize_email;
use gatehouse_store::{TokenPurpose, User, UserChanges};

use crate::audit::AuditRecord;
use crate::mail::{Mail, MailKind};
use crate::{Engine, EngineError};

/// How long a reset link works.
pub const RESET_LINK_MINUTES: i64 = 30;
/// Reset requests per address per hour; more are dropped silently.
pub const RESETS_PER_ADDRESS_PER_HOUR: i64 = 3;
/// Reset requests per client address per hour.
pub const RESETS_PER_IP_PER_HOUR: i64 = 10;

const RESET_REQUESTED: &str = "password.reset_requested";

/// Why a password was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordRejected {
    #[error("Use at least {0} characters.")]
    TooShort(usize),
    #[error("Use at most 1024 bytes.")]
    TooLong,
    #[error("This password is too easy to guess. {0}")]
    TooWeak(String),
    #[error("Do not use your e-mail address or name as your password.")]
    Personal,
}

/// Why a reset or change did not happen.
#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    #[error("This link is not valid: it was used, it expired, or it was replaced by a newer one.")]
    InvalidLink,
    #[error("The current password is not correct.")]
    WrongPassword,
    #[error(transparent)]
    Rejected(#[from] PasswordRejected),
    #[error("This server cannot send e-mail.")]
    NoMail,
    #[error(transparent)]
    Engine(#[from] EngineError),
}

impl From<gatehouse_store::StoreError> for RecoveryError {
    fn from(e: gatehouse_store::StoreError) -> Self {
        RecoveryError::Engine(e.into())
    }
}

impl Engine {
    /// The password policy: long enough, not easy to guess (zxcvbn), and
    /// not the member's own e-mail address or name.
    pub fn check_new_password(&self, password: &str, email: &str, name: &str) -> Result<(), PasswordRejected> {
        let min = self.config.password_min_length;
        if password.chars().count() < min {
            return Err(PasswordRejected::TooShort(min));
        }
        if password.len() > 1024 {
            return Err(PasswordRejected::TooLong);
        }
        let lower = password.to_lowercase();
        let local = email.split('@').next().unwrap_or("").to_lowercase();
        let name = name.trim().to_lowercase();
        if lower == email.to_lowercase()
            || (local.len() >= 4 && lower.contains(&local))
            || (!name.is_empty() && lower == name)
        {
            return Err(PasswordRejected::Personal);
        }
        let inputs: Vec<&str> = [email, local.as_str(), name.as_str()].into_iter().filter(|s| !s.is_empty()).collect();
        // zxcvbn's matching cost grows with the length: judge the first 128
        // characters (a longer password is at least as strong as its start).
        let judged: String = password.chars().take(128).collect();
        let estimate = zxcvbn::zxcvbn(&judged, &inputs);
        if (u8::from(estimate.score())) < self.config.password_min_strength {
            let hint = estimate
                .feedback()
                .and_then(|f| f.warning().map(|w| w.to_string()))
                .unwrap_or_else(|| "Add more words or characters.".into());
            return Err(PasswordRejected::TooWeak(hint));
        }
        Ok(())
    }

    /// "Forgot password": mails a reset link when `email` belongs to a
    /// member who may sign in. Answers the same either way (the caller
    /// shows one message); too many requests for one address or from one
    /// IP are dropped, audited, and still answered the same.
    pub fn request_password_reset(&self, email: &str, ip: &str) -> Result<(), RecoveryError> {
        let Some(mailer) = self.mailer.clone() else { return Err(RecoveryError::NoMail) };
        let Some(subject) = normalize_email(email) else { return Ok(()) };
        let hour_ago = self.now() - 3600;
        if self.store.count_audit_for_subject(RESET_REQUESTED, &subject, hour_ago)? >= RESETS_PER_ADDRESS_PER_HOUR
            || self.store.count_audit_for_ip(RESET_REQUESTED, ip, hour_ago)? >= RESETS_PER_IP_PER_HOUR
        {
            self.audit(AuditRecord {
                kind: "password.reset_rate_limited",
                message: "Password reset request dropped: too many requests".into(),
                ip: Some(ip),
                subject: Some(&subject),
                details: serde_json::json!({ "reason": "rate_limited" }),
                ..Default::default()
            })?;
            return Ok(());
        }
        let user = self.store.user_by_email(&subject)?.filter(|u| u.status().may_sign_in());
        // Counted whether or not the address exists, so the limits give nothing away.
        self.audit(AuditRecord {
            kind: RESET_REQUESTED,
            message: match &user {
                Some(u) => format!("Password reset link sent to User ID: {}", u.id),
                None => "Password reset requested for an address with no account that may sign in".into(),
            },
            user_id: user.as_ref().map(|u| u.id),
            ip: Some(ip),
            subject: Some(&subject),
            ..Default::default()
        })?;
        let Some(user) = user else { return Ok(()) };
        let token = generate_token();
        let now = self.now();
        // Only the newest link works.
        self.store.spend_user_tokens(TokenPurpose::PasswordReset, user.id, now)?;
        self.store.insert_user_token(
            TokenPurpose::PasswordReset,
            &digest(&token),
            Some(user.id),
            &user.email,
            now,
            now + RESET_LINK_MINUTES * 60,
        )?;
        let link = format!("{}/password/reset?token={token}", self.config.issuer);
        mailer.send(Mail {
            to: user.email.clone(),
            name: user.display_name.clone(),
            kind: MailKind::PasswordReset { link, valid_minutes: RESET_LINK_MINUTES },
        });
        Ok(())
    }

    /// Whether a reset link is live (the page checks before its form).
    pub fn reset_link_valid(&self, token: &str) -> Result<bool, EngineError> {
        Ok(self.store.user_token_live(TokenPurpose::PasswordReset, &digest(token), self.now())?.is_some())
    }

    /// Sets a new password through a reset link, once. Every session of
    /// the member ends and every token they hold is revoked; a second
    /// factor (when there is one) is never removed by this.
    pub fn reset_password(&self, token: &str, password: &str) -> Result<User, RecoveryError> {
        let live = self.store.user_token_live(TokenPurpose::PasswordReset, &digest(token), self.now())?;
        let Some(user) = live.and_then(|t| t.user_id).map(|id| self.user_by_id(id)).transpose()? else {
            self.audit_reset_refusal()?;
            return Err(RecoveryError::InvalidLink);
        };
        // The policy first: a weak password does not burn the link.
        self.check_new_password(password, &user.email, &user.display_name)?;
        if self.store.redeem_user_token(TokenPurpose::PasswordReset, &digest(token), self.now())?.is_none() {
            self.audit_reset_refusal()?;
            return Err(RecoveryError::InvalidLink);
        }
        let user = self.set_password(user.id, password)?;
        self.audit(AuditRecord {
            kind: "password.reset",
            message: format!("User ID: {} reset their password by e-mail link", user.id),
            user_id: Some(user.id),
            ..Default::default()
        })?;
        self.mail_password_changed(&user);
        Ok(user)
    }

    fn audit_reset_refusal(&self) -> Result<(), EngineError> {
        self.audit(AuditRecord {
            kind: "password.reset_refused",
            message: "Password reset refused: invalid, used or expired link".into(),
            details: serde_json::json!({ "reason": "invalid_link" }),
            ..Default::default()
        })
    }

    /// Changes a signed-in member's password: the current one is required,
    /// the new one must pass the policy. Every other session ends and every
    /// token is revoked; `keep_session` (this browser's) stays.
    pub fn change_password(
        &self,
        user_id: i64,
        current: &str,
        new: &str,
        keep_session: i64,
    ) -> Result<User, RecoveryError> {
        let user = self.user_by_id(user_id)?;
        let ok = user.password_hash.as_deref().is_some_and(|h| gatehouse_core::secret::verify_password(current, h));
        if !ok {
            self.audit(AuditRecord {
                kind: "password.change_refused",
                message: format!("User ID: {user_id} password change refused: wrong current password"),
                user_id: Some(user_id),
                details: serde_json::json!({ "reason": "wrong_password" }),
                ..Default::default()
            })?;
            return Err(RecoveryError::WrongPassword);
        }
        self.check_new_password(new, &user.email, &user.display_name)?;
        let hash = hash_password(new).map_err(|e| EngineError::Invalid(e.to_string()))?;
        let now = self.now();
        let user = self.store.update_user(
            user_id,
            &UserChanges { password_hash: Some(Some(hash)), ..Default::default() },
            now,
        )?;
        let ended_ids = self.store.revoke_other_sessions_of_user(user_id, keep_session, now)?;
        let ended = ended_ids.len();
        self.store.revoke_grants_of_user(user_id, now)?;
        self.sessions_ended(user_id, &ended_ids, crate::logout::EndReason::PasswordChanged);
        self.store.spend_user_tokens(TokenPurpose::PasswordReset, user_id, now)?;
        self.audit(AuditRecord {
            kind: "password.changed",
            message: format!(
                "User ID: {user_id} changed their password; {ended} other session(s) ended, tokens revoked"
            ),
            user_id: Some(user_id),
            ..Default::default()
        })?;
        self.mail_password_changed(&user);
        Ok(user)
    }

    fn mail_password_changed(&self, user: &User) {
        if let Some(m) = &self.mailer {
            m.send(Mail { to: user.email.clone(), name: user.display_name.clone(), kind: MailKind::PasswordChanged });
        }
    }
}
