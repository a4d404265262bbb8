//! The authorization endpoint's rules: validating a request (errors before
//! the redirect URI is trusted are never redirected), deciding between
//! login, consent and a code, and issuing the code.

use gatehouse_core::client::GrantType;
use gatehouse_core::pkce::{self, ChallengeMethod};
use gatehouse_core::redirect::{matches_registered, with_query};
use gatehouse_core::secret::{generate_grant_token, generate_hex, grant_digest};
use gatehouse_core::OAuthErrorCode;
use gatehouse_core::{Dialect, ScopeSet, UserStatus};
use gatehouse_store::{Client, GrantKind, NewGrant, Session, User};

use super::{OAuthError, Params};
use crate::audit::AuditRecord;
use crate::Engine;

/// A validated authorization request.
#[derive(Debug, Clone)]
pub struct AuthorizeRequest {
    pub client: Client,
    /// The redirect URI in effect (sent, or the only registered one).
    pub redirect_uri: String,
    /// Whether `redirect_uri` was sent (then the token request must repeat it).
    pub redirect_uri_sent: bool,
    pub state: Option<String>,
    pub scope: ScopeSet,
    pub nonce: Option<String>,
    pub code_challenge: Option<(String, ChallengeMethod)>,
    pub prompt: Prompt,
    pub max_age: Option<i64>,
    /// `acr_values`: `mfa` asks for a second factor in this session.
    pub acr_values: Vec<String>,
    pub login_hint: Option<String>,
    pub code_ttl: i64,
    pub consent_denied_error: OAuthErrorCode,
}

/// The `prompt` values Gatehouse honours.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Prompt {
    pub none: bool,
    pub login: bool,
    pub consent: bool,
}

/// Why an authorization request failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizeError {
    /// The client or redirect URI cannot be trusted: show the error, never redirect.
    PreRedirect(OAuthError),
    /// Send the error back to the client's redirect URI.
    Redirect { url: String, error: OAuthError },
}

impl From<gatehouse_store::StoreError> for AuthorizeError {
    fn from(e: gatehouse_store::StoreError) -> Self {
        AuthorizeError::PreRedirect(e.into())
    }
}

impl From<OAuthError> for AuthorizeError {
    fn from(e: OAuthError) -> Self {
        AuthorizeError::PreRedirect(e)
    }
}

/// What to do with a valid request.
#[derive(Debug, Clone)]
pub enum AuthorizeOutcome {
    /// The user must sign in first.
    Login,
    /// The user must approve the scopes.
    Consent,
    /// Redirect the browser (a code, or an error for the client).
    Redirect(String),
    /// A Closed user held a live session: it has been ended; redirect with an error.
    ClosedUser(String),
    /// A self-registered member has not confirmed their e-mail address yet
    /// (the operator requires it before apps): show them how.
    VerifyEmail,
    /// The session must show a second factor first (`acr_values=mfa`, the
    /// client or the operator requires one): the code step, then back.
    SecondFactor,
    /// A second factor is required but the member has none: enrol first.
    EnrolSecondFactor,
}

/// The URL that carries an error back to the client (RFC 6749 §4.1.2.1).
pub fn error_redirect(redirect_uri: &str, state: Option<&str>, e: &OAuthError) -> String {
    let mut q: Vec<(&str, &str)> = vec![("error", e.code.as_str()), ("error_description", &e.description)];
    if let Some(s) = state {
        q.push(("state", s));
    }
    with_query(redirect_uri, &q)
}

fn parse_prompt(v: Option<&str>) -> Result<Prompt, OAuthError> {
    let mut p = Prompt::default();
    for part in v.unwrap_or("").split(' ').filter(|s| !s.is_empty()) {
        match part {
            "none" => p.none = true,
            "login" => p.login = true,
            "consent" => p.consent = true,
            "select_account" => {}
            _ => return Err(OAuthError::invalid_request("The prompt parameter has an unsupported value")),
        }
    }
    if p.none && (p.login || p.consent) {
        return Err(OAuthError::invalid_request("prompt=none cannot be combined with other values"));
    }
    Ok(p)
}

impl Engine {
    /// Validates an authorization request in the order WHMCS does: client,
    /// redirect URI (errors so far are not redirected), then the rest.
    /// A refusal (an unknown client, a redirect URI that does not match, a
    /// bad parameter) is audited with its reason.
    pub fn validate_authorize(&self, dialect: &Dialect, p: &Params) -> Result<AuthorizeRequest, AuthorizeError> {
        let out = self.validate_authorize_unaudited(dialect, p);
        if let Err(AuthorizeError::PreRedirect(e) | AuthorizeError::Redirect { error: e, .. }) = &out {
            self.audit_refusal("authorize", e, p, &super::ClientCredentials::default());
        }
        out
    }

    fn validate_authorize_unaudited(&self, dialect: &Dialect, p: &Params) -> Result<AuthorizeRequest, AuthorizeError> {
        for name in ["client_id", "redirect_uri"] {
            if p.is_duplicated(name) {
                return Err(OAuthError::invalid_request(format!("Parameter \"{name}\" was sent more than once")).into());
            }
        }
        let client_id = p.get("client_id").ok_or_else(|| OAuthError::invalid_client("No client id supplied"))?;
        let client = match self.store.client_by_client_id(client_id)? {
            Some(c) => c,
            None => return Err(OAuthError::invalid_client("The client id supplied is invalid").into()),
        };
        let mismatch = || {
            OAuthError::new(
                OAuthErrorCode::RedirectUriMismatch,
                "The redirect URI provided is missing or does not match",
            )
        };
        let (redirect_uri, sent) = match p.get("redirect_uri") {
            Some(r) if r.contains('#') => {
                return Err(
                    OAuthError::new(OAuthErrorCode::InvalidUri, "The redirect URI must not contain a fragment").into()
                )
            }
            Some(r) => (matches_registered(r, &client.redirect_uris).ok_or_else(mismatch)?.to_string(), true),
            None if client.redirect_uris.len() == 1 => (client.redirect_uris[0].clone(), false),
            None => return Err(mismatch().into()),
        };
        let state = p.get("state").map(str::to_string);
        let fail = |error: OAuthError| AuthorizeError::Redirect {
            url: error_redirect(&redirect_uri, state.as_deref(), &error),
            error,
        };
        p.check().map_err(fail)?;
        match p.get("response_type") {
            None => return Err(fail(OAuthError::invalid_request("Invalid or missing response type"))),
            Some("code") => {}
            Some(_) => {
                return Err(fail(OAuthError::new(
                    OAuthErrorCode::UnsupportedResponseType,
                    "Response type not supported",
                )))
            }
        }
        if dialect.require_state && state.is_none() {
            return Err(fail(OAuthError::invalid_request("The state parameter is required")));
        }
        if !client.allows_grant(GrantType::AuthorizationCode) {
            return Err(fail(OAuthError::unauthorized_client()));
        }
        let scope = match p.get("scope") {
            Some(s) => ScopeSet::parse(s),
            None => match &dialect.default_scope {
                Some(d) => ScopeSet::parse(d),
                None => client.scopes.clone(),
            },
        };
        // A connector may speak its app's own scope names.
        let scope = match (client.connector.as_deref(), self.hooks()) {
            (Some(connector), Some(hooks)) => {
                match hooks.translate_scopes(connector, &client.client_id, &scope.to_string()) {
                    Ok(s) => ScopeSet::parse(&s),
                    Err(e) => {
                        tracing::warn!(connector, error = %e, "connector failed to translate scopes; using them as sent");
                        scope
                    }
                }
            }
            _ => scope,
        };
        if dialect.refuse_unknown_scopes && self.unknown_scope(&scope).is_some() {
            return Err(fail(OAuthError::invalid_scope()));
        }
        // OpenID Connect Core §3.1.2.1: scope values nobody defined are
        // ignored; what is left must be registered for the client.
        let scope = ScopeSet::from_vec(scope.iter().filter(|s| self.catalog.contains(s)).map(str::to_string).collect());
        if scope.is_empty() || !scope.is_subset_of(&client.scopes) {
            return Err(fail(OAuthError::invalid_scope()));
        }
        let code_challenge = match p.get("code_challenge") {
            Some(c) => {
                let method = ChallengeMethod::parse(p.get("code_challenge_method"))
                    .ok_or_else(|| fail(OAuthError::invalid_request("Code challenge method not supported")))?;
                if !pkce::is_well_formed(c) {
                    return Err(fail(OAuthError::invalid_request(
                        "The code_challenge must be between 43 and 128 characters",
                    )));
                }
                Some((c.to_string(), method))
            }
            None if client.is_public => {
                return Err(fail(OAuthError::invalid_request("This client requires a code_challenge (PKCE)")))
            }
            None => None,
        };
        let prompt = parse_prompt(p.get("prompt")).map_err(fail)?;
        let max_age = match p.get("max_age") {
            Some(m) => Some(
                m.parse::<i64>()
                    .ok()
                    .filter(|v| *v >= 0)
                    .ok_or_else(|| fail(OAuthError::invalid_request("max_age must be a number of seconds")))?,
            ),
            None => None,
        };
        Ok(AuthorizeRequest {
            client,
            redirect_uri,
            redirect_uri_sent: sent,
            state,
            scope,
            nonce: p.get("nonce").map(str::to_string),
            code_challenge,
            prompt,
            max_age,
            acr_values: p.get("acr_values").unwrap_or("").split_whitespace().map(str::to_string).collect(),
            login_hint: p.get("login_hint").map(str::to_string),
            code_ttl: dialect.code_ttl.unwrap_or(self.config.code_ttl),
            consent_denied_error: dialect.consent_denied_error,
        })
    }

    fn redirect_error(&self, req: &AuthorizeRequest, e: OAuthError) -> String {
        error_redirect(&req.redirect_uri, req.state.as_deref(), &e)
    }

    /// Decides what a valid request needs, given the browser's session.
    pub fn decide_authorize(
        &self,
        req: &AuthorizeRequest,
        session: Option<&(Session, User)>,
    ) -> Result<AuthorizeOutcome, OAuthError> {
        let ts = self.now();
        if let Some((s, user)) = session {
            if user.status() == UserStatus::Closed {
                if self.store.revoke_session(s.id, user.id, ts)? {
                    self.sessions_ended(user.id, &[s.id], crate::logout::EndReason::AccountClosed);
                }
                self.audit(AuditRecord {
                    kind: "oauth.denied",
                    message: format!(
                        "OAuth authorization request denied due to unexpected active login session for \"Closed\" User ID: {}",
                        user.id
                    ),
                    user_id: Some(user.id),
                    client_id: Some(&req.client.client_id),
                    ..Default::default()
                })?;
                return Ok(AuthorizeOutcome::ClosedUser(self.redirect_error(
                    req,
                    OAuthError::new(OAuthErrorCode::AccessDenied, "The user account is closed"),
                )));
            }
        }
        let too_old = |s: &Session| req.max_age.is_some_and(|m| ts - s.auth_time > m);
        let needs_login = match session {
            None => true,
            Some((s, _)) => req.prompt.login || too_old(s),
        };
        if needs_login {
            if req.prompt.none {
                return Ok(AuthorizeOutcome::Redirect(
                    self.redirect_error(req, OAuthError::new(OAuthErrorCode::LoginRequired, "The user must log in")),
                ));
            }
            return Ok(AuthorizeOutcome::Login);
        }
        let (session, user) = session.expect("checked above");
        if self.must_verify_before_apps(user) {
            if req.prompt.none {
                return Ok(AuthorizeOutcome::Redirect(self.redirect_error(
                    req,
                    OAuthError::new(OAuthErrorCode::AccessDenied, "The user has not confirmed their e-mail address"),
                )));
            }
            return Ok(AuthorizeOutcome::VerifyEmail);
        }
        if let Some(outcome) = self.second_factor_step(req, session, user)? {
            return Ok(outcome);
        }
        let consented = match self.store.consent(user.id, &req.client.client_id)? {
            Some(s) => req.scope.is_subset_of(&ScopeSet::parse(&s)),
            None => false,
        };
        let needs_consent = !req.client.first_party && (req.prompt.consent || !consented);
        if needs_consent {
            if req.prompt.none {
                return Ok(AuthorizeOutcome::Redirect(self.redirect_error(
                    req,
                    OAuthError::new(OAuthErrorCode::ConsentRequired, "The user must approve the request"),
                )));
            }
            return Ok(AuthorizeOutcome::Consent);
        }
        Ok(AuthorizeOutcome::Redirect(self.issue_code(req, session, user)?))
    }

    /// Whether this request needs a second factor the session has not
    /// shown: asked by the client (`acr_values=mfa`), required for the
    /// client, or required by the operator's policy (members without a
    /// factor may skip during the grace period, unless the app insists).
    fn second_factor_step(
        &self,
        req: &AuthorizeRequest,
        session: &Session,
        user: &User,
    ) -> Result<Option<AuthorizeOutcome>, OAuthError> {
        if session.used_second_factor() {
            return Ok(None);
        }
        let asked = req.acr_values.iter().any(|v| v == crate::mfa::ACR_MFA);
        let by_client = req.client.require_2fa;
        if !asked && !self.second_factor_required(user, Some(&req.client)) {
            return Ok(None);
        }
        let has = self.has_second_factor(user.id)?;
        if !has && !asked && !by_client && self.enrolment_grace_left(user)?.is_some() {
            return Ok(None);
        }
        if req.prompt.none {
            return Ok(Some(AuthorizeOutcome::Redirect(self.redirect_error(
                req,
                OAuthError::new(
                    OAuthErrorCode::UnmetAuthenticationRequirements,
                    "The session has not used a second factor",
                ),
            ))));
        }
        Ok(Some(if has { AuthorizeOutcome::SecondFactor } else { AuthorizeOutcome::EnrolSecondFactor }))
    }

    /// Applies the user's answer on the consent screen.
    pub fn answer_consent(
        &self,
        req: &AuthorizeRequest,
        session: &Session,
        user: &User,
        allow: bool,
    ) -> Result<String, OAuthError> {
        if !allow {
            self.audit(AuditRecord {
                kind: "oauth.consent_denied",
                message: format!("User ID: {} declined access for client {}", user.id, req.client.client_id),
                user_id: Some(user.id),
                client_id: Some(&req.client.client_id),
                ..Default::default()
            })?;
            let e = OAuthError::new(req.consent_denied_error, "The user denied access to your application");
            return Ok(self.redirect_error(req, e));
        }
        // Remember the union of what was granted before and now.
        let mut scopes: Vec<String> = match self.store.consent(user.id, &req.client.client_id)? {
            Some(s) => ScopeSet::parse(&s).as_vec().to_vec(),
            None => Vec::new(),
        };
        scopes.extend(req.scope.as_vec().iter().cloned());
        self.store.save_consent(user.id, &req.client.client_id, &ScopeSet::from_vec(scopes).to_string(), self.now())?;
        self.issue_code(req, session, user)
    }

    /// Issues a single-use authorization code and returns the redirect.
    fn issue_code(&self, req: &AuthorizeRequest, session: &Session, user: &User) -> Result<String, OAuthError> {
        let code = generate_grant_token();
        let ts = self.now();
        self.store.insert_grant(&NewGrant {
            kind: GrantKind::Code,
            digest: grant_digest(&code),
            client_id: req.client.client_id.clone(),
            user_id: Some(user.id),
            session_id: Some(session.id),
            scope: req.scope.to_string(),
            redirect_uri: req.redirect_uri_sent.then(|| req.redirect_uri.clone()),
            nonce: req.nonce.clone(),
            code_challenge: req.code_challenge.as_ref().map(|(c, _)| c.clone()),
            code_challenge_method: req.code_challenge.as_ref().map(|(_, m)| m.as_str().to_string()),
            auth_time: Some(session.auth_time),
            family: Some(generate_hex(16)),
            data: super::token::GrantData::of_session(session).to_json(),
            created_at: ts,
            expires_at: ts + req.code_ttl,
        })?;
        let mut q: Vec<(&str, &str)> = vec![("code", &code)];
        if let Some(s) = &req.state {
            q.push(("state", s));
        }
        Ok(with_query(&req.redirect_uri, &q))
    }
}
