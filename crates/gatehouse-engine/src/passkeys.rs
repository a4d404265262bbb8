//! Passkeys (WebAuthn, through `webauthn-rs`): members register several,
//! by name; a passkey serves as the second factor after a password, and —
//! when the operator allows it — as a sign-in of its own ("Sign in with a
//! passkey": discoverable credentials with user verification).
//!
//! The relying party id is the issuer's host name; an issuer on an IP
//! address cannot use WebAuthn (browsers refuse), and passkeys are then
//! simply not offered. Ceremony state lives for five minutes in the
//! engine's key-value namespace, so any replica can finish what another
//! began.

use std::sync::Arc;

use gatehouse_core::secret::{digest, generate_token};
use gatehouse_store::User;
use sha2::Digest;
use webauthn_rs::prelude::{
    DiscoverableAuthentication, DiscoverableKey, Passkey, PasskeyAuthentication, PasskeyRegistration,
    PublicKeyCredential, RegisterPublicKeyCredential, Uuid,
};
use webauthn_rs::{Webauthn, WebauthnBuilder};

use crate::audit::AuditRecord;
use crate::mfa::{SecondFactorError, NS, PENDING_TTL};
use crate::sessions::{BrowserContext, SignedIn};
use crate::{Engine, EngineError};

/// The WebAuthn relying party for `issuer`, or `None` when the issuer's
/// host cannot be one (an IP address).
pub fn relying_party(issuer: &str, name: &str) -> Option<Arc<Webauthn>> {
    let origin = url::Url::parse(issuer).ok()?;
    let host = origin.domain()?.to_string();
    let built = WebauthnBuilder::new(&host, &origin).ok()?.rp_name(name).build().ok()?;
    Some(Arc::new(built))
}

/// The opaque WebAuthn user handle of a member: derived from their uuid,
/// so it reveals nothing and never changes.
pub fn user_handle(user: &User) -> Uuid {
    let h = sha2::Sha256::digest(format!("gatehouse webauthn user {}", user.uuid).as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&h[..16]);
    Uuid::from_bytes(b)
}

fn internal(e: impl std::fmt::Display) -> EngineError {
    EngineError::Internal(e.to_string())
}

fn refused(e: impl std::fmt::Display) -> SecondFactorError {
    tracing::info!(error = %e, "passkey refused");
    SecondFactorError::Invalid
}

impl Engine {
    fn webauthn(&self) -> Result<&Webauthn, EngineError> {
        self.webauthn.as_deref().ok_or_else(|| EngineError::Invalid("passkeys need the issuer on a host name".into()))
    }

    /// Whether passkeys can be used here (the issuer is on a host name).
    pub fn passkeys_available(&self) -> bool {
        self.webauthn.is_some()
    }

    /// Whether "Sign in with a passkey" (no password) is offered.
    pub fn passwordless_allowed(&self) -> bool {
        self.passkeys_available() && self.config.passwordless
    }

    fn kv_put(&self, key: &str, value: &impl serde::Serialize) -> Result<(), EngineError> {
        let v = serde_json::to_string(value).map_err(internal)?;
        let now = self.now();
        self.store.kv_delete(NS, key)?;
        self.store.kv_insert_new(NS, key, &v, Some(now + PENDING_TTL), now)?;
        Ok(())
    }

    /// Reads and deletes a ceremony's state (each works once).
    fn kv_take<T: serde::de::DeserializeOwned>(&self, key: &str) -> Result<Option<T>, EngineError> {
        let Some(v) = self.store.kv_get(NS, key, self.now())? else { return Ok(None) };
        if !self.store.kv_delete(NS, key)? {
            return Ok(None);
        }
        Ok(serde_json::from_str(&v).ok())
    }

    fn passkeys_of(&self, user_id: i64) -> Result<Vec<(i64, Passkey)>, EngineError> {
        let mut out = Vec::new();
        for f in self.store.factors_of_user(user_id)?.into_iter().filter(|f| f.kind == "passkey") {
            let raw = self.unseal(&format!("factor:{}", f.id), &f.secret_enc).map_err(internal)?;
            out.push((f.id, serde_json::from_slice(&raw).map_err(internal)?));
        }
        Ok(out)
    }

    /// Starts registering a passkey: the options for
    /// `navigator.credentials.create` (JSON).
    pub fn begin_passkey_registration(&self, user: &User) -> Result<serde_json::Value, EngineError> {
        let w = self.webauthn()?;
        let existing: Vec<_> = self.passkeys_of(user.id)?.into_iter().map(|(_, p)| p.cred_id().clone()).collect();
        let (ccr, state) = w
            .start_passkey_registration(user_handle(user), &user.email, &user.display_name, Some(existing))
            .map_err(internal)?;
        self.kv_put(&format!("passkey-reg:{}", user.id), &state)?;
        let mut options = serde_json::to_value(&ccr).map_err(internal)?;
        // A discoverable credential, so the same passkey can sign in alone.
        options["publicKey"]["authenticatorSelection"]["residentKey"] = "preferred".into();
        Ok(options)
    }

    /// Finishes registering: stores the passkey under `name`. Returns new
    /// recovery codes when the member had none (shown once).
    pub fn finish_passkey_registration(
        &self,
        user: &User,
        name: &str,
        credential: &str,
    ) -> Result<Vec<String>, EngineError> {
        let w = self.webauthn()?;
        let name = name.trim();
        let name = if name.is_empty() { "Passkey" } else { name };
        if name.chars().count() > 60 {
            return Err(EngineError::Invalid("a name of at most 60 characters".into()));
        }
        let state: PasskeyRegistration = self
            .kv_take(&format!("passkey-reg:{}", user.id))?
            .ok_or_else(|| EngineError::Invalid("the registration expired; start again".into()))?;
        let reg: RegisterPublicKeyCredential = serde_json::from_str(credential)
            .map_err(|_| EngineError::Invalid("the browser's answer cannot be read".into()))?;
        let passkey = w
            .finish_passkey_registration(&reg, &state)
            .map_err(|e| EngineError::Invalid(format!("the passkey was not accepted: {e}")))?;
        let cred_id = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, passkey.cred_id());
        let row = self.store.insert_passkey(user.id, name, &cred_id, self.now())?;
        let sealed = self
            .seal(&format!("factor:{}", row.id), &serde_json::to_vec(&passkey).map_err(internal)?)
            .map_err(internal)?;
        self.store.set_factor_secret(row.id, &sealed)?;
        self.audit(AuditRecord {
            kind: "mfa.enrolled",
            message: format!("User ID: {} added a passkey ({name})", user.id),
            user_id: Some(user.id),
            details: serde_json::json!({ "factor": "passkey", "factor_id": row.id }),
            ..Default::default()
        })?;
        if self.store.recovery_codes_left(user.id)? > 0 {
            return Ok(Vec::new());
        }
        self.regenerate_recovery_codes(user.id)
    }

    /// The second-factor step with a passkey: the options for
    /// `navigator.credentials.get`, for the member of pending step `token`.
    pub fn begin_passkey_second_factor(&self, token: &str) -> Result<serde_json::Value, SecondFactorError> {
        let w = self.webauthn()?;
        let user = self.pending_second_factor(token)?.ok_or(SecondFactorError::Expired)?;
        let keys: Vec<Passkey> = self.passkeys_of(user.id)?.into_iter().map(|(_, p)| p).collect();
        if keys.is_empty() {
            return Err(SecondFactorError::Invalid);
        }
        let (rcr, state) = w.start_passkey_authentication(&keys).map_err(internal)?;
        self.kv_put(&format!("passkey-2fa:{}", digest(token)), &state)?;
        Ok(serde_json::to_value(&rcr).map_err(internal)?)
    }

    /// Finishes the second-factor step with the browser's assertion.
    pub fn finish_passkey_second_factor(
        &self,
        token: &str,
        credential: &str,
        ctx: &BrowserContext<'_>,
    ) -> Result<(SignedIn, User), SecondFactorError> {
        let w = self.webauthn()?;
        let state: PasskeyAuthentication =
            self.kv_take(&format!("passkey-2fa:{}", digest(token)))?.ok_or(SecondFactorError::Expired)?;
        let (key, pending, user) = self.take_pending(token)?;
        let answer: PublicKeyCredential = serde_json::from_str(credential).map_err(refused)?;
        let result =
            w.finish_passkey_authentication(&answer, &state).map_err(|e| self.passkey_refused(&user, ctx, e))?;
        self.record_passkey_use(user.id, &result)?;
        self.finish_pending(&key, &pending, &user, &["hwk", "mfa"], ctx)
    }

    /// A refused assertion: a `login.failed` event (the sign-in limits count
    /// it), and the refusal to return.
    fn passkey_refused(&self, user: &User, ctx: &BrowserContext<'_>, e: impl std::fmt::Display) -> SecondFactorError {
        let audited = self.audit(AuditRecord {
            kind: crate::sessions::LOGIN_FAILED,
            message: "Passkey refused".into(),
            user_id: Some(user.id),
            ip: Some(ctx.ip),
            subject: Some(&user.email),
            details: serde_json::json!({ "factor": "passkey", "error": e.to_string() }),
            ..Default::default()
        });
        match audited {
            Ok(()) => SecondFactorError::Invalid,
            Err(x) => SecondFactorError::Engine(x),
        }
    }

    /// Updates the stored key's counter after a use (clone detection).
    fn record_passkey_use(
        &self,
        user_id: i64,
        result: &webauthn_rs::prelude::AuthenticationResult,
    ) -> Result<(), EngineError> {
        for (id, mut p) in self.passkeys_of(user_id)? {
            if p.cred_id() == result.cred_id() {
                let sealed = match p.update_credential(result) {
                    Some(true) => Some(
                        self.seal(&format!("factor:{id}"), &serde_json::to_vec(&p).map_err(internal)?)
                            .map_err(internal)?,
                    ),
                    _ => None,
                };
                self.store.touch_factor(id, sealed.as_deref(), self.now())?;
            }
        }
        Ok(())
    }

    /// "Sign in with a passkey": a ceremony token (kept in a cookie) and the
    /// options for `navigator.credentials.get` (no account named).
    pub fn begin_passwordless(&self) -> Result<(String, serde_json::Value), EngineError> {
        if !self.passwordless_allowed() {
            return Err(EngineError::Invalid("signing in with a passkey alone is not enabled".into()));
        }
        let (rcr, state) = self.webauthn()?.start_discoverable_authentication().map_err(internal)?;
        let token = generate_token();
        self.kv_put(&format!("passkey-login:{}", digest(&token)), &state)?;
        let mut options = serde_json::to_value(&rcr).map_err(internal)?;
        // A button press, not the autofill ("conditional") flow.
        if let Some(o) = options.as_object_mut() {
            o.remove("mediation");
        }
        Ok((token, options))
    }

    /// Finishes "Sign in with a passkey": the member the passkey belongs to
    /// is signed in (`amr` hwk mfa: the authenticator verified the user).
    pub fn finish_passwordless(
        &self,
        token: &str,
        credential: &str,
        ctx: &BrowserContext<'_>,
    ) -> Result<(SignedIn, User), SecondFactorError> {
        let w = self.webauthn()?;
        let state: DiscoverableAuthentication =
            self.kv_take(&format!("passkey-login:{}", digest(token)))?.ok_or(SecondFactorError::Expired)?;
        let answer: PublicKeyCredential = serde_json::from_str(credential).map_err(refused)?;
        let (handle, cred_id) = w.identify_discoverable_authentication(&answer).map_err(refused)?;
        let cred_id = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, cred_id);
        let factor = self.store.passkey_by_credential(&cred_id)?.ok_or(SecondFactorError::Invalid)?;
        let user = self.store.user_by_id(factor.user_id)?.ok_or(SecondFactorError::Invalid)?;
        if user_handle(&user) != handle {
            return Err(SecondFactorError::Invalid);
        }
        if !user.status().may_sign_in() {
            return Err(SecondFactorError::Invalid);
        }
        if self.sign_in_rate_limited(&user.email, ctx.ip)? {
            return Err(SecondFactorError::RateLimited);
        }
        let keys: Vec<DiscoverableKey> = self.passkeys_of(user.id)?.iter().map(|(_, p)| p.into()).collect();
        let result = w
            .finish_discoverable_authentication(&answer, state, &keys)
            .map_err(|e| self.passkey_refused(&user, ctx, e))?;
        self.record_passkey_use(user.id, &result)?;
        let signed_in = self.sign_in_with(user.id, "passkey", "hwk mfa", ctx)?;
        self.audit(AuditRecord {
            kind: "login.succeeded",
            message: format!("User ID: {} signed in with a passkey", user.id),
            user_id: Some(user.id),
            ip: Some(ctx.ip),
            details: serde_json::json!({ "amr": ["hwk", "mfa"] }),
            ..Default::default()
        })?;
        Ok((signed_in, user))
    }
}
