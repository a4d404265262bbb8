//! Single sign-on, the documented WHMCS flow: a trusted client obtains a
//! single-use token for a user; the browser redeems it once at the SSO
//! endpoint and lands on the destination the token carries.

use std::collections::BTreeMap;

use gatehouse_core::client::GrantType;
use gatehouse_core::scope::SSO_SCOPE;
use gatehouse_core::secret::{digest, generate_token};
use gatehouse_core::time::now;
use gatehouse_store::{Client, GrantKind, NewGrant};

use crate::{Engine, EngineError};

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
        let token = generate_token();
        let ts = now();
        let ttl = self.config.sso_ttl.min(60);
        self.store.insert_grant(&NewGrant {
            kind: GrantKind::Sso.as_str().into(),
            digest: digest(&token),
            client_id: client.client_id.clone(),
            user_id: Some(user_id),
            scope: scope.clone(),
            data: serde_json::json!({ "params": params }).to_string(),
            created_at: ts,
            expires_at: ts + ttl,
            ..Default::default()
        })?;
        Ok(IssuedSsoToken { token, expires_in: ttl, scope })
    }
}
