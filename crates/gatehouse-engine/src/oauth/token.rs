//! The token endpoint's grants: authorization_code (+PKCE), refresh_token
//! (rotation with reuse detection), client_credentials and single_sign_on.
//! Client authentication happens first, then the grant type, then the grant.

use gatehouse_core::OAuthErrorCode;
use std::collections::BTreeMap;

use gatehouse_core::client::GrantType;
use gatehouse_core::pkce::{self, ChallengeMethod};
use gatehouse_core::scope::{OFFLINE_ACCESS, SSO_SCOPE};
use gatehouse_core::secret::{generate_grant_token, grant_digest};
use gatehouse_core::{Dialect, ScopeSet};
use gatehouse_store::{Client, Grant, GrantKind, NewGrant, PendingCommit, RedeemOutcome, User};

use super::claims::IdTokenInput;
use super::{ClientCredentials, OAuthError, Params, TokenResponse};
use crate::audit::AuditRecord;
use crate::Engine;

/// Where the browser redeems SSO tokens on Gatehouse's own paths.
pub const SSO_PATH: &str = "/oauth2/sso";

/// What a new access token carries.
struct AccessGrant<'a> {
    /// The grant that issues (for metrics).
    grant: GrantType,
    client: &'a Client,
    user: Option<&'a User>,
    scope: &'a ScopeSet,
    family: Option<String>,
    session_id: Option<i64>,
    auth_time: Option<i64>,
    nonce: Option<&'a str>,
    /// How the member authenticated (RFC 8176) and through which
    /// upstream, carried from the code along the family.
    data: GrantData,
    with_refresh: bool,
    /// The refresh token's scope when it differs from the access token's
    /// (a narrowed refresh); `None`: the same.
    refresh_scope: Option<&'a ScopeSet>,
    access_ttl: i64,
}

impl Engine {
    /// Handles a token request; a refusal is audited with its reason.
    pub fn token(
        &self,
        dialect: &Dialect,
        params: &Params,
        creds: &ClientCredentials,
    ) -> Result<TokenResponse, OAuthError> {
        let out = self.token_unaudited(dialect, params, creds);
        if let Err(e) = &out {
            self.audit_refusal("token", e, params, creds);
        }
        out
    }

    fn token_unaudited(
        &self,
        dialect: &Dialect,
        params: &Params,
        creds: &ClientCredentials,
    ) -> Result<TokenResponse, OAuthError> {
        let client = self.authenticate_client_for(dialect, params, creds)?;
        params.check()?;
        let grant_type = params
            .get("grant_type")
            .ok_or_else(|| OAuthError::invalid_request("The grant type was not specified in the request"))?;
        let grant: GrantType = grant_type.parse().map_err(|_| {
            OAuthError::new(OAuthErrorCode::UnsupportedGrantType, format!("Grant type \"{grant_type}\" not supported"))
        })?;
        if !client.allows_grant(grant) {
            return Err(OAuthError::unauthorized_client());
        }
        let access_ttl = dialect.access_ttl.unwrap_or(self.config.access_ttl);
        match grant {
            GrantType::AuthorizationCode => self.grant_authorization_code(&client, params, access_ttl),
            GrantType::RefreshToken => self.grant_refresh_token(&client, params, access_ttl),
            GrantType::ClientCredentials => self.grant_client_credentials(&client, params, access_ttl),
            GrantType::SingleSignOn => self.grant_single_sign_on(&client, params, dialect),
        }
    }

    fn grant_authorization_code(
        &self,
        client: &Client,
        p: &Params,
        access_ttl: i64,
    ) -> Result<TokenResponse, OAuthError> {
        let code =
            p.get("code").ok_or_else(|| OAuthError::invalid_request("Missing parameter: \"code\" is required"))?;
        let code_digest = grant_digest(code);
        let invalid = || OAuthError::invalid_grant("Authorization code doesn't exist or is invalid for the client");
        // Everything is checked before the code is spent, so a mistake
        // (wrong client, redirect URI or verifier) changes nothing.
        let found = self.store.grant_by_digest(GrantKind::Code, &code_digest)?.ok_or_else(invalid)?;
        if found.client_id != client.client_id {
            return Err(invalid());
        }
        if found.used_at.is_none() && found.revoked_at.is_none() && found.expires_at <= self.now() {
            return Err(OAuthError::invalid_grant("The authorization code has expired"));
        }
        if let Some(uri) = &found.redirect_uri {
            if p.get("redirect_uri") != Some(uri.as_str()) {
                return Err(OAuthError::new(
                    OAuthErrorCode::RedirectUriMismatch,
                    "The redirect URI is missing or do not match",
                ));
            }
        }
        match (&found.code_challenge, p.get("code_verifier")) {
            (Some(challenge), Some(verifier)) => {
                let method =
                    ChallengeMethod::parse(found.code_challenge_method.as_deref()).unwrap_or(ChallengeMethod::Plain);
                if !pkce::verify(method, challenge, verifier) {
                    return Err(OAuthError::invalid_grant("The PKCE code verifier parameter is invalid."));
                }
            }
            (Some(_), None) => {
                return Err(OAuthError::invalid_grant("The PKCE code verifier parameter is required."));
            }
            // A verifier without a challenge would let a downgrade pass unnoticed.
            (None, Some(_)) => {
                return Err(OAuthError::invalid_grant(
                    "A code_verifier was sent but the authorization request had no code_challenge",
                ));
            }
            (None, None) => {}
        }
        let g = match self.store.redeem_once(GrantKind::Code, &code_digest, self.now())? {
            RedeemOutcome::Redeemed(g) => g,
            RedeemOutcome::Expired(_) => return Err(OAuthError::invalid_grant("The authorization code has expired")),
            RedeemOutcome::AlreadyUsed(g) => {
                // A code used twice is stolen or replayed: revoke what it
                // produced. A code revoked unused (its user was closed) is
                // no replay and is not reported as one.
                if g.used_at.is_some() {
                    self.revoke_reused_family(
                        &g,
                        "oauth.code_reuse",
                        format!("Authorization code reused; tokens of its grant revoked (client {})", g.client_id),
                    )?;
                }
                return Err(invalid());
            }
            RedeemOutcome::Unknown => return Err(invalid()),
        };
        let user = self.live_user(&g)?;
        let scope = ScopeSet::parse(&g.scope);
        self.issue_tokens(AccessGrant {
            grant: GrantType::AuthorizationCode,
            client,
            user: Some(&user),
            scope: &scope,
            family: g.family.clone(),
            session_id: g.session_id,
            auth_time: g.auth_time,
            nonce: g.nonce.as_deref(),
            data: GrantData::of(&g),
            // A client registered with offline_access gets refresh tokens
            // only when the user granted it (OIDC Core §11).
            with_refresh: client.allows_grant(GrantType::RefreshToken)
                && (!client.scopes.contains(OFFLINE_ACCESS) || scope.contains(OFFLINE_ACCESS)),
            refresh_scope: None,
            access_ttl,
        })
    }

    /// A single-use credential came back: revoke every token of its family
    /// and audit why.
    fn revoke_reused_family(&self, g: &Grant, kind: &str, message: String) -> Result<(), OAuthError> {
        if let Some(f) = &g.family {
            self.store.revoke_family(f, self.now())?;
        }
        self.audit(AuditRecord {
            kind,
            message,
            user_id: g.user_id,
            client_id: Some(&g.client_id),
            ..Default::default()
        })?;
        Ok(())
    }

    /// The grant's user, if they may still sign in.
    fn live_user(&self, g: &Grant) -> Result<User, OAuthError> {
        let user = match g.user_id {
            Some(id) => self.store.user_by_id(id)?,
            None => None,
        };
        user.filter(|u| u.status().may_sign_in())
            .ok_or_else(|| OAuthError::invalid_grant("The user of this grant cannot sign in"))
    }

    fn grant_refresh_token(&self, client: &Client, p: &Params, access_ttl: i64) -> Result<TokenResponse, OAuthError> {
        let token = p
            .get("refresh_token")
            .ok_or_else(|| OAuthError::invalid_request("Missing parameter: \"refresh_token\" is required"))?;
        let token_digest = grant_digest(token);
        let invalid = || OAuthError::invalid_grant("Invalid refresh token");
        let found = self.store.grant_by_digest(GrantKind::Refresh, &token_digest)?.ok_or_else(invalid)?;
        if found.client_id != client.client_id {
            return Err(invalid());
        }
        let original = ScopeSet::parse(&found.scope);
        let scope = match p.get("scope") {
            Some(s) => ScopeSet::parse(s),
            None => original.clone(),
        };
        if !scope.is_subset_of(&original) {
            return Err(OAuthError::invalid_scope());
        }
        let g = match self.store.redeem_once(GrantKind::Refresh, &token_digest, self.now())? {
            RedeemOutcome::Redeemed(g) => g,
            RedeemOutcome::Expired(_) => return Err(OAuthError::invalid_grant("Refresh token has expired")),
            RedeemOutcome::AlreadyUsed(g) => {
                // Rotation: an old refresh token coming back means two parties
                // hold it. Revoke the whole family (RFC 9700 §4.14.2).
                if g.used_at.is_some() {
                    self.revoke_reused_family(
                        &g,
                        "oauth.refresh_reuse",
                        format!("Refresh token reused; every token of its family revoked (client {})", g.client_id),
                    )?;
                }
                return Err(invalid());
            }
            RedeemOutcome::Unknown => return Err(invalid()),
        };
        let user = self.live_user(&g)?;
        let data = GrantData::of(&g);
        // A member who came through an upstream is still welcome there.
        if let Some(upstream) = &data.upstream {
            if !self.revalidate_upstream(&user, upstream)? {
                return Err(OAuthError::invalid_grant("The upstream provider no longer vouches for this account"));
            }
        }
        self.issue_tokens(AccessGrant {
            grant: GrantType::RefreshToken,
            client,
            user: Some(&user),
            scope: &scope,
            family: g.family.clone(),
            session_id: g.session_id,
            auth_time: g.auth_time,
            nonce: None,
            data,
            with_refresh: true,
            // RFC 6749 §6: the new refresh token keeps the scope of the one
            // presented, however narrow this access token is.
            refresh_scope: Some(&original),
            access_ttl,
        })
    }

    fn grant_client_credentials(
        &self,
        client: &Client,
        p: &Params,
        access_ttl: i64,
    ) -> Result<TokenResponse, OAuthError> {
        let scope = client_credentials_scope(client, p)?;
        self.issue_tokens(client_credentials_grant(client, &scope, access_ttl))
    }

    /// The token endpoint's hot path, for callers on an event loop: a
    /// `client_credentials` request from a client this replica has cached,
    /// with the right secret and an allowed scope, gets its token without
    /// blocking: the row goes to the shared commit, and the answer may be
    /// sent once the returned [`PendingCommit`] resolves to `Ok`.
    ///
    /// Everything else returns `None`, and the caller runs [`Engine::token`]
    /// on a blocking thread, which answers it (and audits refusals, which
    /// writes) in full. Both paths apply the same rules: this one only
    /// gives up earlier.
    pub fn client_credentials_without_blocking(
        &self,
        dialect: &Dialect,
        params: &Params,
        creds: &ClientCredentials,
    ) -> Option<(TokenResponse, PendingCommit)> {
        if params.get("grant_type") != Some("client_credentials") || params.check().is_err() {
            return None;
        }
        let (id, secret) = match (&creds.basic, params.get("client_id"), params.get("client_secret")) {
            (Some((id, secret)), None, None) => (id.as_str(), secret.as_str()),
            (None, Some(id), Some(secret)) => (id, secret),
            _ => return None,
        };
        let client = self.cached_client_with_secret(id, secret)?;
        if !client.allows_grant(GrantType::ClientCredentials) {
            return None;
        }
        let scope = client_credentials_scope(&client, params).ok()?;
        let access_ttl = dialect.access_ttl.unwrap_or(self.config.access_ttl);
        let (rows, body) = self.mint_tokens(&client_credentials_grant(&client, &scope, access_ttl));
        Some((body, self.store.submit_grants(rows)))
    }

    fn grant_single_sign_on(
        &self,
        client: &Client,
        p: &Params,
        dialect: &Dialect,
    ) -> Result<TokenResponse, OAuthError> {
        let requested = ScopeSet::parse(p.get("scope").unwrap_or(SSO_SCOPE));
        if !requested.contains(SSO_SCOPE) || !requested.is_subset_of(&client.scopes) {
            return Err(OAuthError::invalid_scope());
        }
        let destinations: Vec<&str> = requested.iter().filter(|s| *s != SSO_SCOPE).collect();
        if destinations.len() > 1 || destinations.iter().any(|d| !self.catalog.is_destination(d)) {
            return Err(OAuthError::invalid_scope());
        }
        let user_id = self.sso_user(client, p.get("user_id"))?;
        let params: BTreeMap<String, String> = crate::sso::DESTINATION_PARAMS
            .iter()
            .filter_map(|k| p.get(k).map(|v| (k.to_string(), v.to_string())))
            .collect();
        let issued = self.issue_sso_token(client, user_id, destinations.first().copied(), params)?;
        metrics::counter!("gatehouse_tokens_issued_total", "grant" => "single_sign_on", "client_type" => "confidential")
            .increment(1);
        // The browser redeems the token on the dialect's own SSO path.
        let redirect_url = gatehouse_core::redirect::with_query(
            &format!("{}{}", self.config.issuer, gatehouse_core::Endpoint::Sso.path_in(dialect)),
            &[("access_token", &issued.token)],
        );
        Ok(TokenResponse {
            access_token: issued.token,
            token_type: "Bearer".into(),
            expires_in: issued.expires_in,
            scope: issued.scope,
            refresh_token: None,
            id_token: None,
            redirect_url: Some(redirect_url),
        })
    }

    /// The user an SSO token is for: a client bound to an account signs in
    /// its owner or (with `user_id`) one of its members; an unbound client
    /// may name any user only when the operator allowed it
    /// (`client add --may-name-users`).
    fn sso_user(&self, client: &Client, user_id: Option<&str>) -> Result<i64, OAuthError> {
        let named = match user_id {
            Some(v) => Some(v.parse::<i64>().map_err(|_| OAuthError::invalid_request("Invalid user_id"))?),
            None => None,
        };
        match (client.bound_account_id, named) {
            (Some(acc), None) => Ok(self
                .store
                .account_by_id(acc)?
                .ok_or_else(|| OAuthError::invalid_request("The client's account no longer exists"))?
                .owner_user_id),
            (Some(acc), Some(uid)) => {
                if self.store.is_account_member(acc, uid)? {
                    Ok(uid)
                } else {
                    Err(OAuthError::invalid_request("Invalid user_id for client"))
                }
            }
            (None, _) if !client.may_name_users => Err(OAuthError::new(
                OAuthErrorCode::UnauthorizedClient,
                "This client is bound to no account and may not name users",
            )),
            (None, Some(uid)) => match self.store.user_by_id(uid)? {
                Some(u) => Ok(u.id),
                None => Err(OAuthError::invalid_request("Invalid user_id")),
            },
            (None, None) => Err(OAuthError::invalid_request("Missing parameter: \"user_id\" is required")),
        }
    }

    /// Issues an access token (and a refresh token and ID token where due).
    fn issue_tokens(&self, a: AccessGrant<'_>) -> Result<TokenResponse, OAuthError> {
        let (rows, mut body) = self.mint_tokens(&a);
        // Both rows in one commit (shared with other requests' tokens).
        self.store.insert_grants(rows)?;
        if let Some(user) = a.user.filter(|_| a.scope.contains("openid")) {
            body.id_token = Some(self.id_token(IdTokenInput {
                client: a.client,
                user,
                scope: a.scope,
                nonce: a.nonce,
                auth_time: a.auth_time,
                access_token: Some(&body.access_token),
                session_id: a.session_id,
                amr: &a.data.amr,
            })?);
        }
        Ok(body)
    }

    /// The rows and the answer (without ID token) for a grant's tokens.
    fn mint_tokens(&self, a: &AccessGrant<'_>) -> (Vec<NewGrant>, TokenResponse) {
        metrics::counter!(
            "gatehouse_tokens_issued_total",
            "grant" => a.grant.as_str(),
            "client_type" => if a.client.is_public { "public" } else { "confidential" }
        )
        .increment(1);
        let ts = self.now();
        let access = generate_grant_token();
        let base = NewGrant {
            client_id: a.client.client_id.clone(),
            user_id: a.user.map(|u| u.id),
            session_id: a.session_id,
            scope: a.scope.to_string(),
            auth_time: a.auth_time,
            family: a.family.clone(),
            data: a.data.to_json(),
            created_at: ts,
            ..NewGrant::of(GrantKind::Access)
        };
        let mut rows = vec![NewGrant {
            kind: GrantKind::Access,
            digest: grant_digest(&access),
            expires_at: ts + a.access_ttl,
            ..base.clone()
        }];
        let mut body = TokenResponse {
            access_token: access,
            token_type: "Bearer".into(),
            expires_in: a.access_ttl,
            scope: a.scope.to_string(),
            refresh_token: None,
            id_token: None,
            redirect_url: None,
        };
        if a.with_refresh && a.user.is_some() {
            let refresh = generate_grant_token();
            rows.push(NewGrant {
                kind: GrantKind::Refresh,
                digest: grant_digest(&refresh),
                expires_at: ts + self.config.refresh_ttl,
                scope: a.refresh_scope.unwrap_or(a.scope).to_string(),
                ..base
            });
            body.refresh_token = Some(refresh);
        }
        (rows, body)
    }
}

/// The scope a `client_credentials` request gets: what it asks for, or
/// everything the client may have that is not about a user.
fn client_credentials_scope(client: &Client, p: &Params) -> Result<ScopeSet, OAuthError> {
    if client.is_public {
        return Err(OAuthError::unauthorized_client());
    }
    // No user is involved: user-facing scopes make no sense here.
    let user_scopes = ["openid", "profile", "email", SSO_SCOPE];
    let scope = match p.get("scope") {
        Some(s) => ScopeSet::parse(s),
        None => {
            ScopeSet::from_vec(client.scopes.iter().filter(|s| !user_scopes.contains(s)).map(str::to_string).collect())
        }
    };
    if !scope.is_subset_of(&client.scopes) || scope.iter().any(|s| user_scopes.contains(&s)) {
        return Err(OAuthError::invalid_scope());
    }
    Ok(scope)
}

fn client_credentials_grant<'a>(client: &'a Client, scope: &'a ScopeSet, access_ttl: i64) -> AccessGrant<'a> {
    AccessGrant {
        grant: GrantType::ClientCredentials,
        client,
        user: None,
        scope,
        // A lone access token: no family to revoke together (and no key in
        // the family index on the hottest insert).
        family: None,
        session_id: None,
        auth_time: None,
        nonce: None,
        data: GrantData::default(),
        with_refresh: false,
        refresh_scope: None,
        access_ttl,
    }
}

/// What a grant row's `data` carries along its family.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct GrantData {
    /// How the member authenticated (RFC 8176 values, space separated).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub amr: String,
    /// The upstream the member signed in through (re-checked on refresh).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<String>,
}

impl GrantData {
    /// What the browser session that granted carries.
    pub fn of_session(s: &gatehouse_store::Session) -> GrantData {
        let federated = s.amr.split_whitespace().any(|v| v == "fed");
        GrantData { amr: s.amr.clone(), upstream: federated.then(|| s.via.clone()) }
    }

    /// What a grant row carries (nothing for rows written before it had data).
    pub fn of(g: &Grant) -> GrantData {
        serde_json::from_str(&g.data).unwrap_or_default()
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }
}
