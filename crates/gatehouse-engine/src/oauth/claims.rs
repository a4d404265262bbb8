//! Claims: what userinfo and the ID token say about a user, by granted
//! scope, reshaped by a connector plugin for clients attached to one.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use gatehouse_core::ScopeSet;
use gatehouse_store::{Client, User};
use serde_json::{json, Map, Value};
use sha2::Digest;

use super::OAuthError;
use crate::Engine;

/// What an ID token is issued for.
pub struct IdTokenInput<'a> {
    pub client: &'a Client,
    pub user: &'a User,
    pub scope: &'a ScopeSet,
    pub nonce: Option<&'a str>,
    pub auth_time: Option<i64>,
    pub access_token: Option<&'a str>,
    /// The browser session the grant came from (its `sid` is included).
    pub session_id: Option<i64>,
    /// How the member authenticated (RFC 8176 values, space separated).
    pub amr: &'a str,
}

/// `at_hash`: the left half of the access token's hash, in the hash of the
/// signing algorithm (SHA-512 for Ed25519, as OpenID clients compute it).
pub fn at_hash(alg: &str, access_token: &str) -> String {
    let digest: Vec<u8> = match alg {
        "EdDSA" => sha2::Sha512::digest(access_token.as_bytes()).to_vec(),
        _ => sha2::Sha256::digest(access_token.as_bytes()).to_vec(),
    };
    URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2])
}

impl Engine {
    /// The claims the granted scopes release, `sub` always.
    pub fn standard_claims(&self, user: &User, scope: &ScopeSet) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("sub".into(), json!(user.uuid));
        for claim in self.catalog.claims_for(scope) {
            let v = match claim.as_str() {
                "name" => json!(user.display_name),
                "given_name" => json!(user.given_name),
                "family_name" => json!(user.family_name),
                // WHMCS uses the e-mail address as the username.
                "preferred_username" => json!(user.email),
                "locale" if !user.locale.is_empty() => json!(user.locale),
                "updated_at" => json!(user.updated_at),
                "email" => json!(user.email),
                "email_verified" => json!(user.email_verified),
                "groups" => match self.store.groups_of_user(user.id) {
                    Ok(g) => json!(g),
                    Err(e) => {
                        tracing::warn!(error = %e, user = user.id, "could not read the user's groups");
                        continue;
                    }
                },
                _ => continue,
            };
            m.insert(claim, v);
        }
        m
    }

    /// The claims a client receives: standard ones, reshaped by the
    /// client's connector plugin when it has one. `sub` is always ours, and
    /// so is `email_verified`: it comes from one place, the user's verified
    /// state, whatever a connector says.
    pub fn client_claims(&self, client: &Client, user: &User, scope: &ScopeSet) -> Map<String, Value> {
        let standard = self.standard_claims(user, scope);
        let (Some(connector), Some(hooks)) = (client.connector.as_deref(), self.hooks()) else {
            return standard;
        };
        match hooks.shape_claims(
            connector,
            &client.client_id,
            &scope.to_string(),
            user,
            Value::Object(standard.clone()),
        ) {
            Ok(Value::Object(mut shaped)) => {
                shaped.insert("sub".into(), json!(user.uuid));
                if shaped.contains_key("email_verified") {
                    shaped.insert("email_verified".into(), json!(user.email_verified));
                }
                shaped
            }
            Ok(_) => {
                tracing::warn!(connector, "connector returned non-object claims; using the standard claims");
                standard
            }
            Err(e) => {
                tracing::warn!(connector, error = %e, "connector failed to shape claims; using the standard claims");
                standard
            }
        }
    }

    /// Builds and signs an ID token with the client's algorithm.
    pub fn id_token(&self, input: IdTokenInput<'_>) -> Result<String, OAuthError> {
        let ts = self.now();
        let alg = input.client.id_token_alg.as_str();
        let mut claims = self.client_claims(input.client, input.user, input.scope);
        claims.insert("iss".into(), json!(self.config.issuer));
        claims.insert("sub".into(), json!(input.user.uuid));
        claims.insert("aud".into(), json!(input.client.client_id));
        claims.insert("azp".into(), json!(input.client.client_id));
        claims.insert("iat".into(), json!(ts));
        claims.insert("exp".into(), json!(ts + self.config.id_token_ttl));
        if let Some(t) = input.auth_time {
            claims.insert("auth_time".into(), json!(t));
        }
        if let Some(n) = input.nonce {
            claims.insert("nonce".into(), json!(n));
        }
        if !input.amr.is_empty() {
            claims.insert("amr".into(), json!(input.amr.split_whitespace().collect::<Vec<_>>()));
        }
        claims.insert("acr".into(), json!(crate::mfa::acr_of(input.amr)));
        if let Some(sid) = input.session_id {
            claims.insert("sid".into(), json!(self.session_sid(sid)));
        }
        if let Some(at) = input.access_token {
            claims.insert("at_hash".into(), json!(at_hash(alg, at)));
        }
        Ok(self.sign_jwt(alg, &Value::Object(claims))?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_hash_matches_the_openid_example() {
        // OpenID Connect Core, appendix A.3: access token and its at_hash.
        assert_eq!(at_hash("RS256", "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"), "77QmUPtjPfzWtF2AnpK9RQ");
    }
}
