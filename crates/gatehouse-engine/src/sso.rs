//! Single sign-on, the documented WHMCS flow: a trusted client obtains a
//! single-use token for a user; the browser redeems it once at the SSO
//! endpoint and lands on the destination the token carries.

use std::collections::BTreeMap;

use gatehouse_core::client::GrantType;
use gatehouse_core::scope::SSO_SCOPE;
use gatehouse_core::secret::{generate_grant_token, grant_digest};
use gatehouse_store::{Client, GrantKind, NewGrant, RedeemOutcome, Session};

use crate::audit::AuditRecord;
use crate::sessions::{BrowserContext, SignedIn};
use crate::{Engine, EngineError};

/// Why an SSO token was not honoured. Each refusal has been audited with
/// the documented line.
#[derive(Debug, thiserror::Error)]
pub enum SsoError {
    #[error("Single sign-on is not available for this account")]
    Closed,
    #[error("Single sign-on is switched off for this account")]
    Disabled,
    #[error("This sign-in link is invalid, expired or has already been used")]
    BadToken,
    #[error(transparent)]
    Engine(#[from] EngineError),
}

impl From<gatehouse_store::StoreError> for SsoError {
    fn from(e: gatehouse_store::StoreError) -> Self {
        SsoError::Engine(e.into())
    }
}

/// A redeemed SSO token: a new browser session and where to send it.
#[derive(Debug, Clone)]
pub struct SsoLogin {
    pub cookie: String,
    pub session: Session,
    pub redirect: String,
}

/// A freshly issued SSO token (the value is shown once).
#[derive(Debug, Clone)]
pub struct IssuedSsoToken {
    pub token: String,
    pub expires_in: i64,
    pub scope: String,
}

/// Destination parameters an SSO token may carry.
pub const DESTINATION_PARAMS: [&str; 3] = ["service_id", "domain_id", "sso_redirect_path"];

impl Engine {
    /// Issues a single-use SSO token (60 s) for `user_id` on behalf of
    /// `client` (must have the single_sign_on grant) with scope
    /// "clientarea:sso <destination>" and destination params (service_id,
    /// domain_id, sso_redirect_path) stored with it.
    pub fn issue_sso_token(
        &self,
        client: &Client,
        user_id: i64,
        destination: Option<&str>,
        params: BTreeMap<String, String>,
    ) -> Result<IssuedSsoToken, EngineError> {
        if !client.allows_grant(GrantType::SingleSignOn) {
            return Err(EngineError::Invalid("The grant type is unauthorized for this client_id".into()));
        }
        let user = self.store.user_by_id(user_id)?.ok_or_else(|| EngineError::NotFound(format!("user {user_id}")))?;
        if !user.status().may_sign_in() || !user.allow_sso {
            return Err(EngineError::Invalid(format!("SSO authentication blocked for user {user_id}")));
        }
        let params: BTreeMap<String, String> =
            params.into_iter().filter(|(k, _)| DESTINATION_PARAMS.contains(&k.as_str())).collect();
        let scope = match destination.map(str::trim).filter(|d| !d.is_empty()) {
            Some(d) => {
                if !self.catalog.is_destination(d) {
                    return Err(EngineError::Invalid("Invalid destination".into()));
                }
                // Refuse now what could not be resolved at redemption.
                self.catalog.resolve_destination(d, &params).map_err(|e| EngineError::Invalid(e.to_string()))?;
                format!("{SSO_SCOPE} {d}")
            }
            None => SSO_SCOPE.to_string(),
        };
        let token = generate_grant_token();
        let ts = self.now();
        let ttl = self.config.sso_ttl.min(60);
        self.store.insert_grant(&NewGrant {
            kind: GrantKind::Sso,
            digest: grant_digest(&token),
            client_id: client.client_id.clone(),
            user_id: Some(user_id),
            scope: scope.clone(),
            data: serde_json::json!({ "params": params }).to_string(),
            created_at: ts,
            expires_at: ts + ttl,
            ..NewGrant::of(GrantKind::Sso)
        })?;
        Ok(IssuedSsoToken { token, expires_in: ttl, scope })
    }
}

impl Engine {
    /// Redeems an SSO token once: checks the user may sign on, spends the
    /// token with one conditional UPDATE, starts a session and resolves the
    /// destination from the token's scope against the client area URL.
    pub fn redeem_sso_token(&self, token: &str, ctx: &BrowserContext<'_>) -> Result<SsoLogin, SsoError> {
        let ip = ctx.ip;
        let token_digest = grant_digest(token);
        let found = self.store.grant_by_digest(GrantKind::Sso, &token_digest)?;
        let user = match found.as_ref().and_then(|g| g.user_id) {
            Some(id) => self.store.user_by_id(id)?,
            None => None,
        };
        let uid = user.as_ref().map(|u| u.id).unwrap_or(0);
        let deny = |kind: &str, message: String, err: SsoError| -> Result<SsoLogin, SsoError> {
            let reason = match err {
                SsoError::Closed => "closed",
                SsoError::Disabled => "disabled",
                _ => "bad_token",
            };
            metrics::counter!("gatehouse_sso_refusals_total", "reason" => reason).increment(1);
            self.audit(AuditRecord {
                kind,
                message,
                user_id: user.as_ref().map(|u| u.id),
                client_id: found.as_ref().map(|g| g.client_id.as_str()),
                ip: Some(ip),
                ..Default::default()
            })?;
            Err(err)
        };
        let bad = || format!("Unable to authenticate with Single Sign-On token for User ID: {uid}");
        let (Some(grant), Some(user)) = (&found, &user) else {
            return deny("sso.failed", bad(), SsoError::BadToken);
        };
        if !user.status().may_sign_in() {
            return deny(
                "sso.denied",
                format!("Single Sign-On authentication denied for \"Closed\" User ID: {uid}"),
                SsoError::Closed,
            );
        }
        if !user.allow_sso {
            return deny(
                "sso.denied",
                format!("Single Sign-On authentication denied per configuration for User ID: {uid}"),
                SsoError::Disabled,
            );
        }
        let scope = gatehouse_core::ScopeSet::parse(&grant.scope);
        let client_ok =
            self.store.client_by_client_id(&grant.client_id)?.is_some_and(|c| c.allows_grant(GrantType::SingleSignOn));
        if !scope.contains(SSO_SCOPE) || !client_ok {
            return deny("sso.failed", bad(), SsoError::BadToken);
        }
        let destination = scope.iter().find(|s| *s != SSO_SCOPE).unwrap_or(gatehouse_core::scope::DEFAULT_DESTINATION);
        let params: BTreeMap<String, String> = serde_json::from_str::<serde_json::Value>(&grant.data)
            .ok()
            .and_then(|v| serde_json::from_value(v["params"].clone()).ok())
            .unwrap_or_default();
        let Ok(path) = self.catalog.resolve_destination(destination, &params) else {
            return deny("sso.failed", bad(), SsoError::BadToken);
        };
        if !matches!(self.store.redeem_once(GrantKind::Sso, &token_digest, self.now())?, RedeemOutcome::Redeemed(_)) {
            return deny("sso.failed", bad(), SsoError::BadToken);
        }
        let SignedIn { cookie, session } = self.sign_in(user.id, "sso", ctx)?;
        self.audit(AuditRecord {
            kind: "sso.login",
            message: format!("Single Sign-On authentication succeeded for User ID: {uid}"),
            user_id: Some(uid),
            client_id: Some(&grant.client_id),
            ip: Some(ip),
            ..Default::default()
        })?;
        let redirect = if self.config.client_area_configured {
            format!("{}{}", self.config.client_area_url, path)
        } else {
            format!("{}/account", self.config.issuer)
        };
        Ok(SsoLogin { cookie, session, redirect })
    }
}
