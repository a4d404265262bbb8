//! Browser sessions at Gatehouse: the cookie carries a random value shown
//! once, the table keeps only its digest.

use gatehouse_core::secret::{digest, generate_token, verify_password};
use gatehouse_core::user::normalize_email;
use gatehouse_store::{NewSession, Session, User};

use crate::audit::AuditRecord;
use crate::logout::EndReason;
use crate::{Engine, EngineError};

/// Why a password login failed. The page shows the same words for a wrong
/// e-mail and a wrong password.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("The e-mail address or password is incorrect")]
    BadCredentials,
    #[error("Too many failed sign-in attempts. Please wait a while and try again")]
    RateLimited,
    #[error("This account is closed")]
    Closed,
    #[error(transparent)]
    Engine(#[from] EngineError),
}

impl From<gatehouse_store::StoreError> for LoginError {
    fn from(e: gatehouse_store::StoreError) -> Self {
        LoginError::Engine(e.into())
    }
}

/// The audit kind failed logins are counted by.
pub const LOGIN_FAILED: &str = "login.failed";

/// Argon2 hash of a fixed password, checked when the e-mail is unknown so
/// both failures cost the same time.
fn dummy_hash() -> &'static str {
    static H: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    H.get_or_init(|| gatehouse_core::secret::hash_password("gatehouse-dummy-password").unwrap_or_default())
}

/// Where a browser sign-in comes from: its address, its user agent, and the
/// session it already has (which a new sign-in replaces).
#[derive(Debug, Clone, Copy, Default)]
pub struct BrowserContext<'a> {
    pub ip: &'a str,
    pub user_agent: &'a str,
    /// The browser's current session, if any.
    pub previous: Option<&'a Session>,
}

/// The outcome of a right password.
#[derive(Debug, Clone)]
pub enum PasswordSignIn {
    /// Signed in (no second factor set up).
    SignedIn(SignedIn, User),
    /// The member has a second factor: the code comes next. `token` names
    /// the pending step (a short-lived cookie); no session exists yet.
    SecondFactor { token: String, user: User },
}

/// A new browser session: the cookie value (shown once; only its digest is
/// stored) and the session.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub cookie: String,
    pub session: Session,
}

impl Engine {
    /// Starts a browser session; returns the cookie value (shown once; only
    /// its digest is stored) and the session.
    pub fn start_session(
        &self,
        user_id: i64,
        via: &str,
        ip: &str,
        user_agent: &str,
    ) -> Result<(String, Session), EngineError> {
        self.start_session_with(user_id, via, default_amr(via), ip, user_agent)
    }

    /// [`Engine::start_session`] with the `amr` the sign-in earned.
    pub fn start_session_with(
        &self,
        user_id: i64,
        via: &str,
        amr: &str,
        ip: &str,
        user_agent: &str,
    ) -> Result<(String, Session), EngineError> {
        let value = generate_token();
        let ts = self.now();
        let session = self.store.insert_session(&NewSession {
            digest: digest(&value),
            user_id,
            auth_time: ts,
            created_at: ts,
            last_seen_at: ts,
            expires_at: ts + self.config.session_ttl,
            ip: truncate(ip, 64),
            user_agent: truncate(user_agent, 256),
            via: truncate(via, 32),
            amr: amr.to_string(),
        })?;
        Ok((value, session))
    }

    /// Signs a user in to this browser: a new session, and the browser's
    /// previous one (whoever it belonged to) ends. One browser, one
    /// signed-in user. The one place every sign-in (password, SSO,
    /// upstream provider) goes through.
    pub fn sign_in(&self, user_id: i64, via: &str, ctx: &BrowserContext<'_>) -> Result<SignedIn, EngineError> {
        self.sign_in_with(user_id, via, default_amr(via), ctx)
    }

    /// [`Engine::sign_in`] with the `amr` the sign-in earned (`pwd otp mfa`).
    pub fn sign_in_with(
        &self,
        user_id: i64,
        via: &str,
        amr: &str,
        ctx: &BrowserContext<'_>,
    ) -> Result<SignedIn, EngineError> {
        let (cookie, session) = self.start_session_with(user_id, via, amr, ctx.ip, ctx.user_agent)?;
        metrics::counter!("gatehouse_sign_ins_total", "via" => via_label(via)).increment(1);
        if let Some(old) = ctx.previous {
            // The new session stands either way: a failure to end the old
            // one (it expires on its own) must not lose the sign-in.
            if let Err(e) = self.end_session_because(old.user_id, old.id, EndReason::Replaced) {
                tracing::warn!(error = %e, session = old.id, "could not end the previous session");
            }
        }
        Ok(SignedIn { cookie, session })
    }

    /// Checks an e-mail and password: rate-limited per account and per IP,
    /// failures audited as `login.failed` (which the limits count), and an
    /// unknown e-mail costs the same hashing time as a wrong password. The
    /// one password check: the login page, plugins (`user_verify_password`)
    /// and the WHMCS `ValidateLogin` all use it. Closed users are refused
    /// after their password is checked (so the refusal reveals nothing to a
    /// guesser).
    pub fn check_password(&self, email: &str, password: &str, ip: &str) -> Result<User, LoginError> {
        let subject = normalize_email(email).unwrap_or_else(|| truncate(email.trim(), 254).to_ascii_lowercase());
        if self.sign_in_rate_limited(&subject, ip)? {
            return Err(LoginError::RateLimited);
        }
        let user = self.store.user_by_email(&subject)?;
        let ok = match user.as_ref().and_then(|u| u.password_hash.as_deref()) {
            Some(h) => verify_password(password, h),
            None => {
                let _ = verify_password(password, dummy_hash());
                false
            }
        };
        let user = match (ok, user) {
            (true, Some(u)) => u,
            (_, u) => {
                self.audit(AuditRecord {
                    kind: LOGIN_FAILED,
                    message: "Failed sign-in attempt".into(),
                    user_id: u.map(|u| u.id),
                    ip: Some(ip),
                    subject: Some(&subject),
                    ..Default::default()
                })?;
                metrics::counter!("gatehouse_sign_in_failures_total", "reason" => "bad_credentials").increment(1);
                return Err(LoginError::BadCredentials);
            }
        };
        if !user.status().may_sign_in() {
            self.audit(AuditRecord {
                kind: "login.closed",
                message: format!("Sign-in refused for \"Closed\" User ID: {}", user.id),
                user_id: Some(user.id),
                ip: Some(ip),
                ..Default::default()
            })?;
            metrics::counter!("gatehouse_sign_in_failures_total", "reason" => "closed").increment(1);
            return Err(LoginError::Closed);
        }
        Ok(user)
    }

    /// Whether failed sign-ins (wrong passwords and wrong second-factor
    /// codes) for this account or from this address reached the limits; a
    /// refusal is audited (`login.rate_limited`).
    pub fn sign_in_rate_limited(&self, email: &str, ip: &str) -> Result<bool, EngineError> {
        let subject = normalize_email(email).unwrap_or_else(|| truncate(email.trim(), 254).to_ascii_lowercase());
        let since = self.now() - self.config.failure_window_secs;
        // An administrator's unlock (`login.unlocked`) starts the account's count afresh.
        let unlocked = self.store.latest_audit_id_for_subject(crate::admin::LOGIN_UNLOCKED, &subject)?.unwrap_or(0);
        let limited = self.store.count_audit_for_subject_after(LOGIN_FAILED, &subject, since, unlocked)?
            >= self.config.max_failures_per_account
            || self.store.count_audit_for_ip(LOGIN_FAILED, ip, since)? >= self.config.max_failures_per_ip;
        if limited {
            self.audit(AuditRecord {
                kind: "login.rate_limited",
                message: "Sign-in refused: too many failed attempts".into(),
                ip: Some(ip),
                subject: Some(&subject),
                ..Default::default()
            })?;
            metrics::counter!("gatehouse_sign_in_failures_total", "reason" => "rate_limited").increment(1);
        }
        Ok(limited)
    }

    /// Checks an e-mail and password ([`Engine::check_password`]) and signs
    /// the user in to this browser, or, when the member has a second
    /// factor, holds the sign-in until the code ([`PasswordSignIn::SecondFactor`]).
    pub fn login_with_password(
        &self,
        email: &str,
        password: &str,
        ctx: &BrowserContext<'_>,
    ) -> Result<PasswordSignIn, LoginError> {
        let user = self.check_password(email, password, ctx.ip)?;
        if self.has_second_factor(user.id)? {
            let token = self.begin_second_factor(user.id, None)?;
            return Ok(PasswordSignIn::SecondFactor { token, user });
        }
        let signed_in = self.sign_in(user.id, "password", ctx)?;
        self.audit(AuditRecord {
            kind: "login.succeeded",
            message: format!("User ID: {} signed in", user.id),
            user_id: Some(user.id),
            ip: Some(ctx.ip),
            ..Default::default()
        })?;
        Ok(PasswordSignIn::SignedIn(signed_in, user))
    }

    /// The live session a cookie value names, with its user.
    pub fn session_from_cookie(&self, cookie: &str) -> Result<Option<(Session, User)>, EngineError> {
        let ts = self.now();
        let Some(session) = self.store.live_session_by_digest(&digest(cookie), ts)? else { return Ok(None) };
        let Some(user) = self.store.user_by_id(session.user_id)? else { return Ok(None) };
        // Touch at most once a minute: one write per page view is wasteful.
        if ts - session.last_seen_at > 60 {
            self.store.touch_session(session.id, ts)?;
        }
        Ok(Some((session, user)))
    }

    /// Ends one of the user's sessions.
    pub fn end_session(&self, user_id: i64, session_id: i64) -> Result<bool, EngineError> {
        self.end_session_because(user_id, session_id, EndReason::SignedOut)
    }

    /// Ends one of the user's sessions, saying why (audit and logout tokens).
    pub fn end_session_because(&self, user_id: i64, session_id: i64, reason: EndReason) -> Result<bool, EngineError> {
        let ended = self.store.revoke_session(session_id, user_id, self.now())?;
        if ended {
            self.audit(AuditRecord {
                kind: "logout",
                message: format!("User ID: {user_id} session {session_id} ended"),
                user_id: Some(user_id),
                details: serde_json::json!({ "reason": reason.as_str() }),
                ..Default::default()
            })?;
            self.sessions_ended(user_id, &[session_id], reason);
        }
        Ok(ended)
    }

    /// Ends every session of the user but `keep` (this browser's).
    pub fn end_other_sessions(&self, user_id: i64, keep: i64) -> Result<usize, EngineError> {
        let ended = self.store.revoke_other_sessions_of_user(user_id, keep, self.now())?;
        let n = ended.len();
        self.sessions_ended(user_id, &ended, EndReason::OtherSessions);
        self.audit(AuditRecord {
            kind: "session.ended_others",
            message: format!("User ID: {user_id} signed out {n} other session(s)"),
            user_id: Some(user_id),
            ..Default::default()
        })?;
        Ok(n)
    }

    /// The user's live sessions, newest first.
    pub fn sessions_of_user(&self, user_id: i64) -> Result<Vec<Session>, EngineError> {
        Ok(self.store.live_sessions_of_user(user_id, self.now())?)
    }
}

/// Cuts a string to at most `max` bytes on a character boundary.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

/// The `amr` of a session started `via`: a password is `pwd`, an upstream
/// provider `fed`; an SSO token says nothing of how the member proved it.
fn default_amr(via: &str) -> &'static str {
    match via {
        "password" => "pwd",
        "sso" => "",
        _ => "fed",
    }
}

/// A bounded metrics label for how a session started (plugin names vary).
fn via_label(via: &str) -> &'static str {
    match via {
        "password" => "password",
        "sso" => "sso",
        _ => "upstream",
    }
}
