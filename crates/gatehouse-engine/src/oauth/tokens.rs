//! Using and retiring tokens: userinfo (RFC 6750 bearer rules), token
//! introspection (RFC 7662), revocation (RFC 7009) and RP-initiated logout.

use gatehouse_core::secret::grant_digest;
use gatehouse_core::OAuthErrorCode;
use gatehouse_core::ScopeSet;
use gatehouse_store::{Client, Grant, GrantKind, User};
use serde_json::Value;

use super::{ClientCredentials, Introspection, OAuthError, Params, UserInfo};
use crate::Engine;

/// Where a bearer token was found in a userinfo request.
#[derive(Debug, Clone, Default)]
pub struct BearerSources {
    pub header: Option<String>,
    pub query: Option<String>,
    pub body: Option<String>,
}

/// A live access token and what it stands for.
pub struct LiveAccess {
    pub grant: Grant,
    pub client: Client,
    pub user: Option<User>,
}

/// The outcome of an RP-initiated logout request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutRequest {
    /// Where to send the browser afterwards (registered URI, with `state`).
    pub redirect: Option<String>,
    /// The user the `id_token_hint` names, if valid.
    pub hinted_sub: Option<String>,
}

impl Engine {
    /// Finds a live access token (not expired, not revoked, user not Closed).
    pub fn live_access_token(&self, token: &str) -> Result<LiveAccess, OAuthError> {
        let invalid = || OAuthError::invalid_token("The access token provided is invalid");
        let g = self.store.grant_by_digest(GrantKind::Access, &grant_digest(token))?.ok_or_else(invalid)?;
        if g.revoked_at.is_some() {
            return Err(invalid());
        }
        if g.expires_at <= self.now() {
            return Err(OAuthError::invalid_token("The access token provided has expired"));
        }
        let client = self.client_by_client_id(&g.client_id)?.ok_or_else(invalid)?;
        let user = match g.user_id {
            Some(id) => Some(self.store.user_by_id(id)?.filter(|u| u.status().may_sign_in()).ok_or_else(invalid)?),
            None => None,
        };
        Ok(LiveAccess { grant: g, client, user })
    }

    /// The userinfo response for a bearer token.
    pub fn userinfo(&self, sources: &BearerSources) -> Result<UserInfo, OAuthError> {
        let given: Vec<&String> =
            [&sources.header, &sources.query, &sources.body].into_iter().filter_map(|s| s.as_ref()).collect();
        let token = match given.as_slice() {
            [] => {
                return Err(
                    OAuthError::new(OAuthErrorCode::InvalidRequest, "The access token was not found").with_status(401)
                )
            }
            [one] => one.as_str(),
            _ => {
                return Err(OAuthError::invalid_request(
                    "Only one method may be used to authenticate at a time (Auth header, GET or POST)",
                ))
            }
        };
        let live = self.live_access_token(token)?;
        let scope = ScopeSet::parse(&live.grant.scope);
        let user = match (&live.user, scope.contains("openid")) {
            (Some(u), true) => u,
            _ => {
                return Err(OAuthError::new(
                    OAuthErrorCode::InsufficientScope,
                    "The request requires higher privileges than provided by the access token",
                ))
            }
        };
        Ok(UserInfo(self.client_claims(&live.client, user, &scope)))
    }

    /// Introspection (RFC 7662): a client learns about its own tokens only.
    pub fn introspect(&self, params: &Params, creds: &ClientCredentials) -> Result<Introspection, OAuthError> {
        let out = self.introspect_unaudited(params, creds);
        if let Err(e) = &out {
            self.audit_refusal("introspect", e, params, creds);
        }
        out
    }

    fn introspect_unaudited(&self, params: &Params, creds: &ClientCredentials) -> Result<Introspection, OAuthError> {
        let client = self.authenticate_client_for(&gatehouse_core::Dialect::standard(), params, creds)?;
        params.check()?;
        let token = params
            .get("token")
            .ok_or_else(|| OAuthError::invalid_request("Missing parameter: \"token\" is required"))?;
        let inactive = Introspection::inactive();
        let Some(g) = self.store.grant_by_any_digest(&grant_digest(token))? else { return Ok(inactive) };
        let kind_ok = matches!(g.kind, GrantKind::Access | GrantKind::Refresh);
        let live = g.revoked_at.is_none() && g.used_at.is_none() && g.expires_at > self.now();
        if !kind_ok || !live || g.client_id != client.client_id {
            return Ok(inactive);
        }
        let user = match g.user_id {
            Some(id) => match self.store.user_by_id(id)?.filter(|u| u.status().may_sign_in()) {
                Some(u) => Some(u),
                None => return Ok(inactive),
            },
            None => None,
        };
        let amr = super::token::GrantData::of(&g).amr;
        let (amr, acr) = match &user {
            Some(_) => (
                Some(amr.split_whitespace().map(str::to_string).collect::<Vec<_>>()).filter(|a| !a.is_empty()),
                Some(crate::mfa::acr_of(&amr).to_string()),
            ),
            None => (None, None),
        };
        let (sub, username) = user.map(|u| (u.uuid, u.email)).unzip();
        Ok(Introspection {
            active: true,
            token_type: Some(if g.kind == GrantKind::Access { "Bearer" } else { "refresh_token" }.into()),
            exp: Some(g.expires_at),
            iat: Some(g.created_at),
            iss: Some(self.config.issuer.clone()),
            aud: Some(g.client_id.clone()),
            client_id: Some(g.client_id),
            scope: Some(g.scope),
            sub,
            username,
            amr,
            acr,
        })
    }

    /// Revocation (RFC 7009): unknown tokens and other clients' tokens are
    /// answered like success. Revoking a refresh token ends its family.
    pub fn revoke(&self, params: &Params, creds: &ClientCredentials) -> Result<(), OAuthError> {
        let out = self.revoke_unaudited(params, creds);
        if let Err(e) = &out {
            self.audit_refusal("revoke", e, params, creds);
        }
        out
    }

    fn revoke_unaudited(&self, params: &Params, creds: &ClientCredentials) -> Result<(), OAuthError> {
        let client = self.authenticate_client_for(&gatehouse_core::Dialect::standard(), params, creds)?;
        params.check()?;
        let token = params
            .get("token")
            .ok_or_else(|| OAuthError::invalid_request("Missing parameter: \"token\" is required"))?;
        let Some(g) = self.store.grant_by_any_digest(&grant_digest(token))? else { return Ok(()) };
        if g.client_id != client.client_id {
            return Ok(());
        }
        match (g.kind, &g.family) {
            (GrantKind::Refresh, Some(f)) => {
                self.store.revoke_family(f, self.now())?;
            }
            (GrantKind::Access | GrantKind::Refresh, _) => {
                self.store.revoke_grant(g.id, self.now())?;
            }
            _ => {}
        }
        Ok(())
    }

    /// Validates an RP-initiated logout request: `post_logout_redirect_uri`
    /// must be registered for the client named by `client_id` or the
    /// `id_token_hint`'s audience.
    pub fn validate_logout(&self, p: &Params) -> Result<LogoutRequest, OAuthError> {
        p.check()?;
        let hint = match p.get("id_token_hint") {
            Some(t) => Some(
                self.verify_own_jwt(t).ok_or_else(|| OAuthError::invalid_request("The id_token_hint is invalid"))?,
            ),
            None => None,
        };
        let hinted_aud = hint.as_ref().and_then(|c| c.get("aud")).and_then(|a| match a {
            Value::String(s) => Some(s.clone()),
            Value::Array(v) => v.first().and_then(|x| x.as_str()).map(str::to_string),
            _ => None,
        });
        let client_id = match (p.get("client_id"), hinted_aud.as_deref()) {
            (Some(c), Some(a)) if c != a => {
                return Err(OAuthError::invalid_request("client_id does not match the id_token_hint"))
            }
            (Some(c), _) => Some(c.to_string()),
            (None, a) => a.map(str::to_string),
        };
        let redirect = match p.get("post_logout_redirect_uri") {
            None => None,
            Some(uri) => {
                let client = match &client_id {
                    Some(c) => self.store.client_by_client_id(c)?,
                    None => None,
                }
                .ok_or_else(|| {
                    OAuthError::invalid_request("post_logout_redirect_uri needs a client_id or an id_token_hint")
                })?;
                if !client.post_logout_redirect_uris.iter().any(|r| r == uri) {
                    return Err(OAuthError::invalid_request("The post_logout_redirect_uri is not registered"));
                }
                let mut q: Vec<(&str, &str)> = Vec::new();
                if let Some(s) = p.get("state") {
                    q.push(("state", s));
                }
                Some(gatehouse_core::redirect::with_query(uri, &q))
            }
        };
        let hinted_sub = hint.as_ref().and_then(|c| c.get("sub")).and_then(|s| s.as_str()).map(str::to_string);
        Ok(LogoutRequest { redirect, hinted_sub })
    }
}
