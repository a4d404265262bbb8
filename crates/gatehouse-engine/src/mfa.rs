//! Second factors: TOTP authenticators (RFC 6238) and single-use recovery
//! codes; the pending step between a right password and a session; step-up
//! for a session that must show a second factor now; and the operator's
//! policy (who must have one).
//!
//! TOTP secrets are stored encrypted under the master key; a code is good
//! once (the last accepted time step only moves forward, atomically);
//! recovery codes are stored as digests and spent atomically. Every failed
//! code is a `login.failed` event, so the sign-in rate limits count it.

use gatehouse_core::secret::{constant_time_eq, digest, generate_token};
use gatehouse_store::{Session, User};
use serde::{Deserialize, Serialize};
use totp_rs::{Algorithm, TOTP};

use crate::audit::AuditRecord;
use crate::sessions::{BrowserContext, SignedIn, LOGIN_FAILED};
use crate::{Engine, EngineError};

/// The `acr` of a sign-in with a second factor (and what `acr_values`
/// asks for to require one).
pub const ACR_MFA: &str = "mfa";
/// The `acr` of a sign-in with one factor.
pub const ACR_SINGLE: &str = "pwd";
/// The ACR values Gatehouse can satisfy (discovery's `acr_values_supported`).
pub const ACR_VALUES: [&str; 2] = [ACR_SINGLE, ACR_MFA];

/// How many recovery codes a member gets.
pub const RECOVERY_CODES: usize = 10;
/// How long the code step after a right password may take (seconds).
pub const PENDING_TTL: i64 = 300;
/// Wrong codes allowed on one pending sign-in before it must start over.
pub const PENDING_ATTEMPTS: u32 = 5;

const TOTP_STEP: u64 = 30;
const TOTP_DIGITS: usize = 6;
/// The kv namespace of pending second-factor steps and grace starts.
pub(crate) const NS: &str = "gatehouse:mfa";

/// Who must have a second factor (`[mfa] required`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MfaPolicy {
    /// Nobody (members may still add one).
    #[default]
    Off,
    /// Administrators.
    Admins,
    /// Everyone.
    Everyone,
}

/// Why a second-factor code was refused.
#[derive(Debug, thiserror::Error)]
pub enum SecondFactorError {
    #[error("That code is not right. Check your authenticator app and try again")]
    Invalid,
    #[error("That code was used already. Wait for the next one")]
    Replayed,
    #[error("Too many failed attempts. Please wait a while and try again")]
    RateLimited,
    #[error("This sign-in step has expired. Please sign in again")]
    Expired,
    #[error(transparent)]
    Engine(#[from] EngineError),
}

impl From<gatehouse_store::StoreError> for SecondFactorError {
    fn from(e: gatehouse_store::StoreError) -> Self {
        SecondFactorError::Engine(e.into())
    }
}

impl From<crate::keys::KeyError> for SecondFactorError {
    fn from(e: crate::keys::KeyError) -> Self {
        SecondFactorError::Engine(EngineError::Internal(e.to_string()))
    }
}

/// A TOTP enrolment waiting for its first code.
#[derive(Debug, Clone)]
pub struct TotpEnrolment {
    pub factor_id: i64,
    /// Base32, for typing into an app by hand.
    pub secret_base32: String,
    /// `otpauth://totp/…`, the QR code's content.
    pub otpauth_url: String,
}

/// What a member has set up.
#[derive(Debug, Clone, Default)]
pub struct SecondFactors {
    /// Confirmed authenticators: (id, name, created_at, last_used_at).
    pub totp: Vec<(i64, String, i64, Option<i64>)>,
    /// Passkeys: (id, name, created_at, last_used_at).
    pub passkeys: Vec<(i64, String, i64, Option<i64>)>,
    pub recovery_codes_left: i64,
}

impl SecondFactors {
    pub fn any(&self) -> bool {
        !self.totp.is_empty() || !self.passkeys.is_empty()
    }
}

/// A pending sign-in (or step-up) waiting for the second factor.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Pending {
    user_id: i64,
    /// Step-up: the session that gets the second factor added.
    session_id: Option<i64>,
    attempts: u32,
    expires_at: i64,
}

/// Which factor a code proved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactorUsed {
    Totp,
    RecoveryCode,
}

fn totp(secret: Vec<u8>, issuer: &str, account: &str) -> Result<TOTP, EngineError> {
    let issuer = url::Url::parse(issuer)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_else(|| "Gatehouse".into());
    // otpauth labels may not contain ':'.
    TOTP::new(
        Algorithm::SHA1,
        TOTP_DIGITS,
        1,
        TOTP_STEP,
        secret,
        Some(issuer.replace(':', "")),
        account.replace(':', ""),
    )
    .map_err(|e| EngineError::Internal(format!("TOTP: {e}")))
}

/// A recovery code as typed: lower case, no spaces or dashes.
fn normalize_code(code: &str) -> String {
    code.chars().filter(|c| c.is_ascii_alphanumeric()).collect::<String>().to_ascii_lowercase()
}

fn new_recovery_code() -> String {
    // 10 characters from an alphabet without look-alikes, shown as xxxxx-xxxxx.
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let raw = generate_token();
    let chars: Vec<char> = raw.bytes().take(10).map(|b| ALPHABET[(b as usize) % ALPHABET.len()] as char).collect();
    format!("{}-{}", chars[..5].iter().collect::<String>(), chars[5..].iter().collect::<String>())
}

impl Engine {
    /// Starts a TOTP enrolment: a fresh secret (160 bits), stored
    /// encrypted and unconfirmed until [`Engine::confirm_totp`].
    pub fn begin_totp(&self, user: &User, name: &str) -> Result<TotpEnrolment, EngineError> {
        let name = name.trim();
        let name = if name.is_empty() { "Authenticator app" } else { name };
        if name.chars().count() > 60 {
            return Err(EngineError::Invalid("a name of at most 60 characters".into()));
        }
        self.store.delete_unconfirmed_factors(user.id)?;
        let mut secret = vec![0u8; 20];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut secret);
        let t = totp(secret.clone(), &self.config.issuer, &user.email)?;
        let row = self.store.insert_factor(user.id, "totp", name, self.now())?;
        let sealed =
            self.seal(&format!("factor:{}", row.id), &secret).map_err(|e| EngineError::Internal(e.to_string()))?;
        self.store.set_factor_secret(row.id, &sealed)?;
        Ok(TotpEnrolment { factor_id: row.id, secret_base32: t.get_secret_base32(), otpauth_url: t.get_url() })
    }

    /// An enrolment still waiting for its first code, shown again (the
    /// member's app already holds this secret).
    pub fn pending_totp(&self, user: &User, factor_id: i64) -> Result<Option<TotpEnrolment>, EngineError> {
        let factors = self.store.factors_of_user(user.id)?;
        let Some(f) = factors.iter().find(|f| f.id == factor_id && f.confirmed_at.is_none()) else { return Ok(None) };
        let secret = self
            .unseal(&format!("factor:{}", f.id), &f.secret_enc)
            .map_err(|e| EngineError::Internal(e.to_string()))?;
        let t = totp(secret, &self.config.issuer, &user.email)?;
        Ok(Some(TotpEnrolment { factor_id: f.id, secret_base32: t.get_secret_base32(), otpauth_url: t.get_url() }))
    }

    /// Confirms an enrolment with its first code. Returns fresh recovery
    /// codes (shown once) when the member had none.
    pub fn confirm_totp(&self, user: &User, factor_id: i64, code: &str) -> Result<Vec<String>, SecondFactorError> {
        let factors = self.store.factors_of_user(user.id)?;
        let f =
            factors.iter().find(|f| f.id == factor_id && f.confirmed_at.is_none()).ok_or(SecondFactorError::Expired)?;
        let step = self.matching_step(f, user, code)?.ok_or(SecondFactorError::Invalid)?;
        if !self.store.confirm_factor(f.id, step, self.now())? {
            return Err(SecondFactorError::Expired);
        }
        self.audit(AuditRecord {
            kind: "mfa.enrolled",
            message: format!("User ID: {} added an authenticator app ({})", user.id, f.name),
            user_id: Some(user.id),
            details: serde_json::json!({ "factor": "totp", "factor_id": f.id }),
            ..Default::default()
        })?;
        if self.store.recovery_codes_left(user.id)? > 0 {
            return Ok(Vec::new());
        }
        Ok(self.regenerate_recovery_codes(user.id)?)
    }

    /// Ten new recovery codes (the old ones stop working), shown once.
    pub fn regenerate_recovery_codes(&self, user_id: i64) -> Result<Vec<String>, EngineError> {
        let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| new_recovery_code()).collect();
        let digests: Vec<String> = codes.iter().map(|c| digest(&normalize_code(c))).collect();
        self.store.replace_recovery_codes(user_id, &digests, self.now())?;
        self.audit(AuditRecord {
            kind: "mfa.recovery_codes",
            message: format!("User ID: {user_id}: new recovery codes"),
            user_id: Some(user_id),
            ..Default::default()
        })?;
        Ok(codes)
    }

    /// What the member has set up.
    pub fn second_factors(&self, user_id: i64) -> Result<SecondFactors, EngineError> {
        let all = self.store.factors_of_user(user_id)?;
        let pick = |kind: &str| -> Vec<(i64, String, i64, Option<i64>)> {
            all.iter()
                .filter(|f| f.confirmed_at.is_some() && f.kind == kind)
                .map(|f| (f.id, f.name.clone(), f.created_at, f.last_used_at))
                .collect()
        };
        Ok(SecondFactors {
            totp: pick("totp"),
            passkeys: pick("passkey"),
            recovery_codes_left: self.store.recovery_codes_left(user_id)?,
        })
    }

    /// Whether the member has a confirmed second factor.
    pub fn has_second_factor(&self, user_id: i64) -> Result<bool, EngineError> {
        Ok(self.store.factors_of_user(user_id)?.iter().any(|f| f.confirmed_at.is_some()))
    }

    /// Removes one authenticator app or passkey; removing the last factor
    /// also removes the recovery codes (they only stand in for a factor).
    pub fn remove_factor(&self, user_id: i64, factor_id: i64) -> Result<bool, EngineError> {
        let removed = self.store.delete_factor(user_id, factor_id)?;
        if removed {
            if !self.has_second_factor(user_id)? {
                self.store.delete_second_factors(user_id)?;
            }
            self.audit(AuditRecord {
                kind: "mfa.removed",
                message: format!("User ID: {user_id} removed a second factor"),
                user_id: Some(user_id),
                details: serde_json::json!({ "factor_id": factor_id }),
                ..Default::default()
            })?;
        }
        Ok(removed)
    }

    /// An administrator removes every second factor of a member (lost
    /// phone, no recovery codes). Always audited.
    pub fn reset_second_factors(&self, user_id: i64) -> Result<usize, EngineError> {
        self.user_by_id(user_id)?;
        let n = self.store.delete_second_factors(user_id)?;
        self.audit(AuditRecord {
            kind: "mfa.reset",
            message: format!("User ID: {user_id}: second factors reset by an administrator ({n} removed)"),
            user_id: Some(user_id),
            ..Default::default()
        })?;
        Ok(n)
    }

    /// The time step a TOTP code matches (now, or one step either side).
    fn matching_step(
        &self,
        f: &gatehouse_store::UserFactor,
        user: &User,
        code: &str,
    ) -> Result<Option<i64>, SecondFactorError> {
        let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        if code.len() != TOTP_DIGITS || !code.chars().all(|c| c.is_ascii_digit()) {
            return Ok(None);
        }
        let secret = self.unseal(&format!("factor:{}", f.id), &f.secret_enc)?;
        let t = totp(secret, &self.config.issuer, &user.email)?;
        let now_step = self.now().max(0) as u64 / TOTP_STEP;
        for step in [now_step.saturating_sub(1), now_step, now_step + 1] {
            if constant_time_eq(&t.generate(step * TOTP_STEP), &code) {
                return Ok(Some(step as i64));
            }
        }
        Ok(None)
    }

    /// Checks a code against the member's factors: a TOTP code (once), or a
    /// recovery code (once). Failures are audited as `login.failed` and the
    /// sign-in rate limits apply.
    pub fn verify_second_factor(&self, user: &User, code: &str, ip: &str) -> Result<FactorUsed, SecondFactorError> {
        if self.sign_in_rate_limited(&user.email, ip)? {
            return Err(SecondFactorError::RateLimited);
        }
        let now = self.now();
        let factors = self.store.factors_of_user(user.id)?;
        let mut replayed = false;
        for f in factors.iter().filter(|f| f.confirmed_at.is_some() && f.kind == "totp") {
            if let Some(step) = self.matching_step(f, user, code)? {
                if self.store.advance_factor_step(f.id, step, now)? {
                    return Ok(FactorUsed::Totp);
                }
                replayed = true;
            }
        }
        let normalized = normalize_code(code);
        if !replayed && normalized.len() == 10 && self.store.use_recovery_code(user.id, &digest(&normalized), now)? {
            self.audit(AuditRecord {
                kind: "mfa.recovery_code_used",
                message: format!("User ID: {} signed in with a recovery code", user.id),
                user_id: Some(user.id),
                details: serde_json::json!({ "left": self.store.recovery_codes_left(user.id)? }),
                ..Default::default()
            })?;
            return Ok(FactorUsed::RecoveryCode);
        }
        self.audit(AuditRecord {
            kind: LOGIN_FAILED,
            message: if replayed { "Second-factor code replayed".into() } else { "Wrong second-factor code".into() },
            user_id: Some(user.id),
            ip: Some(ip),
            subject: Some(&user.email),
            details: serde_json::json!({ "factor": "totp", "replayed": replayed }),
            ..Default::default()
        })?;
        metrics::counter!("gatehouse_sign_in_failures_total", "reason" => "second_factor").increment(1);
        Err(if replayed { SecondFactorError::Replayed } else { SecondFactorError::Invalid })
    }

    /// Holds a right password (or a session needing step-up) until the
    /// second factor: returns the token for the pending step (a cookie).
    pub fn begin_second_factor(&self, user_id: i64, step_up: Option<&Session>) -> Result<String, EngineError> {
        let token = generate_token();
        let pending =
            Pending { user_id, session_id: step_up.map(|s| s.id), attempts: 0, expires_at: self.now() + PENDING_TTL };
        let value = serde_json::to_string(&pending).map_err(|e| EngineError::Internal(e.to_string()))?;
        self.store.kv_insert_new(
            NS,
            &format!("pending:{}", digest(&token)),
            &value,
            Some(pending.expires_at),
            self.now(),
        )?;
        Ok(token)
    }

    /// The member a pending step is for (to show the page), if it is live.
    pub fn pending_second_factor(&self, token: &str) -> Result<Option<User>, EngineError> {
        let Some(p) = self.pending(token)? else { return Ok(None) };
        Ok(self.store.user_by_id(p.user_id)?)
    }

    fn pending(&self, token: &str) -> Result<Option<Pending>, EngineError> {
        let raw = self.store.kv_get(NS, &format!("pending:{}", digest(token)), self.now())?;
        Ok(raw.and_then(|r| serde_json::from_str::<Pending>(&r).ok()).filter(|p| p.expires_at > self.now()))
    }

    /// Finishes a pending step with a code: a new session (sign-in) or the
    /// step-up session, now with `otp mfa` in its `amr`.
    pub fn complete_second_factor(
        &self,
        token: &str,
        code: &str,
        ctx: &BrowserContext<'_>,
    ) -> Result<(SignedIn, User), SecondFactorError> {
        let (key, mut p, user) = self.take_pending(token)?;
        if let Err(e) = self.verify_second_factor(&user, code, ctx.ip) {
            p.attempts += 1;
            if p.attempts >= PENDING_ATTEMPTS || matches!(e, SecondFactorError::RateLimited) {
                self.store.kv_delete(NS, &key)?;
            } else {
                // Count the attempt; the step keeps its expiry.
                let value = serde_json::to_string(&p).map_err(|e| EngineError::Internal(e.to_string()))?;
                self.store.kv_delete(NS, &key)?;
                self.store.kv_insert_new(NS, &key, &value, Some(p.expires_at), self.now())?;
            }
            return Err(e);
        }
        self.finish_pending(&key, &p, &user, &["otp", "mfa"], ctx)
    }

    /// The pending step for `token` and its member, or why not.
    pub(crate) fn take_pending(&self, token: &str) -> Result<(String, Pending, User), SecondFactorError> {
        let key = format!("pending:{}", digest(token));
        let p = self.pending(token)?.ok_or(SecondFactorError::Expired)?;
        let user = self.store.user_by_id(p.user_id)?.ok_or(SecondFactorError::Expired)?;
        if !user.status().may_sign_in() {
            self.store.kv_delete(NS, &key)?;
            return Err(SecondFactorError::Expired);
        }
        Ok((key, p, user))
    }

    /// A verified second factor finishes the pending step: a new session
    /// (sign-in) or the step-up session, with `factor_amr` added.
    pub(crate) fn finish_pending(
        &self,
        key: &str,
        p: &Pending,
        user: &User,
        factor_amr: &[&str],
        ctx: &BrowserContext<'_>,
    ) -> Result<(SignedIn, User), SecondFactorError> {
        // Spent: a pending step works once.
        if !self.store.kv_delete(NS, key)? {
            return Err(SecondFactorError::Expired);
        }
        let now = self.now();
        let signed_in = match p.session_id {
            Some(sid) => {
                let session = self
                    .store
                    .live_sessions_of_user(user.id, now)?
                    .into_iter()
                    .find(|s| s.id == sid)
                    .ok_or(SecondFactorError::Expired)?;
                let mut amr = session.amr_values();
                for v in factor_amr {
                    if !amr.iter().any(|a| a == v) {
                        amr.push(v.to_string());
                    }
                }
                self.store.set_session_amr(sid, &amr.join(" "), now)?;
                let session = gatehouse_store::Session { amr: amr.join(" "), auth_time: now, ..session };
                SignedIn { cookie: String::new(), session }
            }
            None => {
                let mut amr = vec!["pwd"];
                amr.extend_from_slice(factor_amr);
                self.sign_in_with(user.id, "password", &amr.join(" "), ctx)?
            }
        };
        self.audit(AuditRecord {
            kind: if p.session_id.is_some() { "mfa.step_up" } else { "login.succeeded" },
            message: format!("User ID: {} signed in with a second factor", user.id),
            user_id: Some(user.id),
            ip: Some(ctx.ip),
            details: serde_json::json!({ "amr": signed_in.session.amr_values() }),
            ..Default::default()
        })?;
        Ok((signed_in, user.clone()))
    }

    /// Whether policy makes `user` need a second factor (for `client`).
    pub fn second_factor_required(&self, user: &User, client: Option<&gatehouse_store::Client>) -> bool {
        client.is_some_and(|c| c.require_2fa)
            || match self.config.mfa_policy {
                MfaPolicy::Off => false,
                MfaPolicy::Admins => user.is_admin,
                MfaPolicy::Everyone => true,
            }
    }

    /// Under the operator's policy, whether a member without a factor may
    /// still skip enrolment: the grace period starts the first time they
    /// are asked. `Some(seconds left)` while it lasts.
    pub fn enrolment_grace_left(&self, user: &User) -> Result<Option<i64>, EngineError> {
        let now = self.now();
        let key = format!("grace:{}", user.id);
        // Written once, the first time the member is asked; read after that.
        let started = match self.store.kv_get(NS, &key, now)?.and_then(|v| v.parse::<i64>().ok()) {
            Some(t) => t,
            None => {
                self.store.kv_insert_new(NS, &key, &now.to_string(), None, now)?;
                self.store.kv_get(NS, &key, now)?.and_then(|v| v.parse().ok()).unwrap_or(now)
            }
        };
        let left = started + self.config.mfa_grace_secs - now;
        Ok((left > 0).then_some(left))
    }
}

/// `acr` for a session.
pub fn acr_of(session_amr: &str) -> &'static str {
    if session_amr.split_whitespace().any(|v| v == "mfa") {
        ACR_MFA
    } else {
        ACR_SINGLE
    }
}
