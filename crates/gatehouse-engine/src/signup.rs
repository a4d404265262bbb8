//! Members who make their own accounts: sign-up (open, or by an
//! administrator's invitation, or not at all), confirming the e-mail
//! address by a link, and the rule that a self-registered member confirms
//! it before signing in to apps.
//!
//! Sign-up never tells whether an address has an account: the page always
//! says "check your e-mail", and the owner of an existing address gets a
//! note instead of a second account.

use gatehouse_core::secret::{digest, generate_token};
use gatehouse_core::user::normalize_email;
use gatehouse_store::{TokenPurpose, User, UserChanges};
use serde::{Deserialize, Serialize};

use crate::audit::AuditRecord;
use crate::directory::UserInput;
use crate::mail::{Mail, MailKind};
use crate::recovery::PasswordRejected;
use crate::{Engine, EngineError};

/// How long a confirmation link works.
pub const VERIFY_LINK_HOURS: i64 = 48;
/// How long an invitation works.
pub const INVITATION_DAYS: i64 = 7;
/// Sign-ups per client address per hour.
pub const SIGNUPS_PER_IP_PER_HOUR: i64 = 10;

/// Who may create an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Registration {
    /// Only operators and administrators make accounts.
    #[default]
    Closed,
    /// Anyone, from "Create an account" on the sign-in page.
    Open,
    /// Only holders of an administrator's single-use invitation.
    Invite,
}

/// What a sign-up form carries.
#[derive(Debug, Clone, Default)]
pub struct SignUp {
    pub email: String,
    pub name: String,
    pub password: String,
    /// The invitation token (required when registration is by invitation).
    pub invitation: Option<String>,
}

/// Why a sign-up did not happen.
#[derive(Debug, thiserror::Error)]
pub enum SignUpError {
    #[error("Accounts are not open for sign-up here.")]
    Closed,
    #[error("This invitation is not valid: it was used, it expired, or it is for another address.")]
    InvalidInvitation,
    #[error("{0:?} is not an e-mail address.")]
    BadEmail(String),
    #[error("Too many accounts were created from your network just now. Please try again later.")]
    RateLimited,
    #[error(transparent)]
    Rejected(#[from] PasswordRejected),
    #[error("This server cannot send e-mail, so it cannot confirm your address.")]
    NoMail,
    #[error(transparent)]
    Engine(#[from] EngineError),
}

impl From<gatehouse_store::StoreError> for SignUpError {
    fn from(e: gatehouse_store::StoreError) -> Self {
        SignUpError::Engine(e.into())
    }
}

impl Engine {
    /// Creates a member's own account, when registration allows it, and
    /// mails the confirmation link. An address that has an account gets a
    /// note instead (the same answer either way). Returns the new user, or
    /// `None` when the address was taken.
    pub fn sign_up(&self, form: SignUp, ip: &str) -> Result<Option<User>, SignUpError> {
        let email = normalize_email(&form.email).ok_or_else(|| SignUpError::BadEmail(form.email.clone()))?;
        if form.name.chars().count() > 200 {
            return Err(SignUpError::Engine(EngineError::Invalid("a name may have at most 200 characters".into())));
        }
        match self.config.registration {
            Registration::Closed => return Err(SignUpError::Closed),
            Registration::Invite => {
                let token = form.invitation.as_deref().ok_or(SignUpError::InvalidInvitation)?;
                let live = self.store.user_token_live(TokenPurpose::Invitation, &digest(token), self.now())?;
                if live.is_none_or(|t| t.email != email) {
                    self.refuse_signup(ip, &email, "invalid_invitation")?;
                    return Err(SignUpError::InvalidInvitation);
                }
            }
            Registration::Open => {}
        }
        let Some(mailer) = self.mailer.clone() else { return Err(SignUpError::NoMail) };
        self.check_new_password(&form.password, &email, &form.name)?;
        if self.store.count_audit_for_ip("user.signed_up", ip, self.now() - 3600)? >= SIGNUPS_PER_IP_PER_HOUR {
            self.refuse_signup(ip, &email, "rate_limited")?;
            return Err(SignUpError::RateLimited);
        }
        if let Some(existing) = self.store.user_by_email(&email)? {
            self.audit(AuditRecord {
                kind: "user.signup_existing",
                message: format!("Sign-up with the address of User ID: {}; the owner was told", existing.id),
                user_id: Some(existing.id),
                ip: Some(ip),
                ..Default::default()
            })?;
            mailer.send(Mail {
                to: existing.email.clone(),
                name: existing.display_name.clone(),
                kind: MailKind::AlreadyRegistered {
                    login: format!("{}/login", self.config.issuer),
                    forgot: format!("{}/password/forgot", self.config.issuer),
                },
            });
            return Ok(None);
        }
        if let Some(token) = form.invitation.as_deref().filter(|_| self.config.registration == Registration::Invite) {
            if self.store.redeem_user_token(TokenPurpose::Invitation, &digest(token), self.now())?.is_none() {
                return Err(SignUpError::InvalidInvitation);
            }
        }
        let user = self.create_user(UserInput {
            email: email.clone(),
            password: Some(form.password),
            name: form.name,
            email_verified: false,
            ..Default::default()
        })?;
        self.store.set_user_self_registered(user.id)?;
        self.audit(AuditRecord {
            kind: "user.signed_up",
            message: format!("User ID: {} signed up", user.id),
            user_id: Some(user.id),
            ip: Some(ip),
            details: serde_json::json!({ "invited": self.config.registration == Registration::Invite }),
            ..Default::default()
        })?;
        self.send_verification(&user)?;
        Ok(Some(self.user_by_id(user.id)?))
    }

    fn refuse_signup(&self, ip: &str, email: &str, reason: &str) -> Result<(), EngineError> {
        self.audit(AuditRecord {
            kind: "user.signup_refused",
            message: format!("Sign-up refused: {reason}"),
            ip: Some(ip),
            subject: Some(email),
            details: serde_json::json!({ "reason": reason }),
            ..Default::default()
        })
    }

    /// Mails a (new) confirmation link to a member whose address is not
    /// confirmed yet; older links stop working.
    pub fn send_verification(&self, user: &User) -> Result<(), EngineError> {
        let Some(mailer) = self.mailer.clone() else { return Ok(()) };
        if user.email_verified {
            return Ok(());
        }
        let token = generate_token();
        let now = self.now();
        self.store.spend_user_tokens(TokenPurpose::VerifyEmail, user.id, now)?;
        self.store.insert_user_token(
            TokenPurpose::VerifyEmail,
            &digest(&token),
            Some(user.id),
            &user.email,
            now,
            now + VERIFY_LINK_HOURS * 3600,
        )?;
        mailer.send(Mail {
            to: user.email.clone(),
            name: user.display_name.clone(),
            kind: MailKind::VerifyEmail {
                link: format!("{}/verify-email?token={token}", self.config.issuer),
                valid_hours: VERIFY_LINK_HOURS,
            },
        });
        Ok(())
    }

    /// Confirms an address through its link, once. The link is for the
    /// address it was sent to: a member who changed their address since
    /// needs a new one.
    pub fn verify_email(&self, token: &str) -> Result<Option<User>, EngineError> {
        let Some(t) = self.store.redeem_user_token(TokenPurpose::VerifyEmail, &digest(token), self.now())? else {
            return Ok(None);
        };
        let Some(user) = t.user_id.map(|id| self.store.user_by_id(id)).transpose()?.flatten() else { return Ok(None) };
        if user.email != t.email {
            return Ok(None);
        }
        let user = self.store.update_user(
            user.id,
            &UserChanges { email_verified: Some(true), ..Default::default() },
            self.now(),
        )?;
        self.audit(AuditRecord {
            kind: "user.email_verified",
            message: format!("User ID: {} confirmed their e-mail address", user.id),
            user_id: Some(user.id),
            ..Default::default()
        })?;
        self.notify_user_event(gatehouse_core::UserEvent::Updated, &user);
        Ok(Some(user))
    }

    /// Whether this member must confirm their address before an app may
    /// sign them in.
    pub fn must_verify_before_apps(&self, user: &User) -> bool {
        self.config.verify_email_before_apps && user.self_registered && !user.email_verified
    }

    /// An administrator's single-use invitation for `email`, valid
    /// [`INVITATION_DAYS`]; mailed when the hub can send mail. Returns the
    /// sign-up link (shown to the administrator once).
    pub fn invite(&self, email: &str) -> Result<String, EngineError> {
        let email = normalize_email(email)
            .ok_or_else(|| EngineError::Invalid(format!("{email:?} is not an e-mail address")))?;
        if self.store.user_by_email(&email)?.is_some() {
            return Err(EngineError::Conflict(format!("a user with e-mail {email}")));
        }
        let token = generate_token();
        let now = self.now();
        self.store.insert_user_token(
            TokenPurpose::Invitation,
            &digest(&token),
            None,
            &email,
            now,
            now + INVITATION_DAYS * 86_400,
        )?;
        let link = format!("{}/signup?invitation={token}", self.config.issuer);
        self.audit(AuditRecord {
            kind: "user.invited",
            message: format!("Invitation created for {email}"),
            subject: Some(&email),
            ..Default::default()
        })?;
        if let Some(m) = &self.mailer {
            m.send(Mail {
                to: email.clone(),
                name: String::new(),
                kind: MailKind::Invitation { link: link.clone(), valid_days: INVITATION_DAYS },
            });
        }
        Ok(link)
    }

    /// The address an invitation is for, while it is live.
    pub fn invitation_email(&self, token: &str) -> Result<Option<String>, EngineError> {
        Ok(self.store.user_token_live(TokenPurpose::Invitation, &digest(token), self.now())?.map(|t| t.email))
    }
}
