//! Rules of `token`: the token endpoint, grant by grant (authorization_code
//! with PKCE, refresh_token rotation, client_credentials, single_sign_on),
//! and the client authentication that comes before any grant.

use gatehouse_core::client::GrantType;
use gatehouse_core::{Dialect, Endpoint, OAuthErrorCode, ScopeSet, UserStatus};
use gatehouse_engine::directory::ClientInput;
use gatehouse_engine::model::{Client, User};
use gatehouse_engine::oauth::authorize::AuthorizeError;
use gatehouse_engine::oauth::tokens::BearerSources;
use gatehouse_engine::oauth::{ClientCredentials, Introspection, OAuthError, TokenResponse, UserInfo};

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use gatehouse_store::{PendingCommit, StoreError};

use crate::harness::*;

/// RFC 7636 appendix B.
pub(crate) const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub(crate) const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// Form-encodes one value.
pub(crate) fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Redeems a code with HTTP Basic, repeating [`REDIRECT`].
pub(crate) fn redeem(hub: &Hub, client: &Client, secret: &str, code: &str) -> Result<TokenResponse, OAuthError> {
    hub.token(client, secret, &format!("grant_type=authorization_code&code={}&redirect_uri={REDIRECT}", enc(code)))
}

/// Code → tokens granting `scope`. Without `openid` in it nothing is signed,
/// so the hub needs no keys.
pub(crate) fn tokens_with(hub: &Hub, client: &Client, secret: &str, user: &User, scope: &str) -> TokenResponse {
    let code = hub.code(client, user, &format!("&scope={}", enc(scope)));
    redeem(hub, client, secret, &code).unwrap()
}

/// A refresh_token grant, with `extra` form parameters.
pub(crate) fn refresh(
    hub: &Hub,
    client: &Client,
    secret: &str,
    token: &str,
    extra: &str,
) -> Result<TokenResponse, OAuthError> {
    hub.token(client, secret, &format!("grant_type=refresh_token&refresh_token={}{extra}", enc(token)))
}

/// Introspection by `client` (HTTP Basic).
pub(crate) fn introspect(hub: &Hub, client: &Client, secret: &str, token: &str) -> Introspection {
    hub.engine.introspect(&params(&format!("token={}", enc(token))), &basic(&client.client_id, secret)).unwrap()
}

/// Userinfo with the token in the `Authorization` header.
pub(crate) fn userinfo(hub: &Hub, token: &str) -> Result<UserInfo, OAuthError> {
    hub.engine.userinfo(&BearerSources { header: Some(token.into()), ..Default::default() })
}

/// Every byte percent-encoded (so decoding always changes the value).
fn pct_all(s: &str) -> String {
    s.bytes().map(|b| format!("%{b:02X}")).collect()
}

/// A client_credentials client granted `scopes`.
fn cc_client(hub: &Hub, scopes: &str) -> (Client, String) {
    hub.client(ClientInput {
        name: "Service".into(),
        grant_types: vec![GrantType::ClientCredentials],
        scopes: ScopeSet::parse(scopes),
        ..Default::default()
    })
}

/// A first-party public client (PKCE, no secret).
fn public_client(hub: &Hub) -> Client {
    hub.client(ClientInput { is_public: true, ..web_client_input() }).0
}

/// A single_sign_on client, bound to `account` or (unbound) maybe naming users.
fn sso_client(hub: &Hub, account: Option<i64>, may_name_users: bool) -> (Client, String) {
    hub.client(ClientInput {
        name: "Billing".into(),
        grant_types: vec![GrantType::SingleSignOn],
        scopes: ScopeSet::parse("clientarea:sso clientarea:homepage clientarea:invoices profile"),
        bound_account_id: account,
        may_name_users,
        ..Default::default()
    })
}

fn sso_grant(hub: &Hub, client: &Client, secret: &str, extra: &str) -> Result<TokenResponse, OAuthError> {
    hub.token(client, secret, &format!("grant_type=single_sign_on{extra}"))
}

/// Whom an SSO token signs in.
fn sso_user_of(hub: &Hub, token: &str) -> i64 {
    hub.engine.redeem_sso_token(token, &ctx()).unwrap().session.user_id
}

// ---- authorization_code -------------------------------------------------

#[test]
fn a_code_with_openid_is_exchanged_for_tokens_and_a_signed_id_token() {
    let hub = Hub::new().with_keys();
    let (client, secret) = hub.web_client();
    let user = hub.user("ann@example.com");
    let t = hub.tokens(&client, &secret, &user);
    assert_eq!(t.token_type, "Bearer");
    assert_eq!(t.scope, "openid profile email");
    assert_eq!(t.expires_in, hub.engine.config.access_ttl);
    assert!(t.refresh_token.is_some());
    let claims = hub.engine.verify_own_jwt(t.id_token.as_deref().expect("an id_token")).expect("our own signature");
    assert_eq!(claims["sub"], user.uuid.as_str());
    assert_eq!(claims["aud"], client.client_id.as_str());
    assert_eq!(claims["iss"], ISSUER);
}

#[test]
fn the_id_token_carries_the_nonce_sent_at_authorize() {
    let hub = Hub::new().with_keys();
    let (client, secret) = hub.web_client();
    let user = hub.user("ann@example.com");
    let code = hub.code(&client, &user, "&scope=openid&nonce=n-0S6_WzA2Mj");
    let id_token = redeem(&hub, &client, &secret, &code).unwrap().id_token.expect("an id_token");
    let claims = hub.engine.verify_own_jwt(&id_token).unwrap();
    assert_eq!(claims["nonce"], "n-0S6_WzA2Mj");
}

#[test]
fn a_code_without_openid_gets_no_id_token() {
    let hub = Hub::new();
    let (client, secret) = hub.web_client();
    let user = hub.user("ann@example.com");
    let t = tokens_with(&hub, &client, &secret, &user, "profile");
    assert_eq!(t.scope, "profile");
    assert_eq!(t.id_token, None);
    assert!(t.refresh_token.is_some());
}

#[test]
fn a_code_is_refused_to_another_client_and_stays_unspent() {
    let hub = Hub::new();
    let (client, secret) = hub.web_client();
    let (other, other_secret) = hub.web_client();
    let user = hub.user("ann@example.com");
    let code = hub.code(&client, &user, "&scope=profile");
    let err = redeem(&hub, &other, &other_secret, &code).unwrap_err();
    assert_eq!(err.code, OAuthErrorCode::InvalidGrant);
    assert!(redeem(&hub, &client, &secret, &code).is_ok());
}

#[test]
fn a_reused_code_is_invalid_grant_and_audited() {
    let hub = Hub::new();
    let (client, secret) = hub.web_client();
    let user = hub.user("ann@example.com");
    let code = hub.code(&client, &user, "&scope=profile");
    redeem(&hub, &client, &secret, &code).unwrap();
    let err = redeem(&hub, &client, &secret, &code).unwrap_err();
    assert_eq!(err.code, OAuthErrorCode::InvalidGrant);
    let events = hub.engine.audit_events(Some("oauth.code_reuse"), 10).unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].user_id, Some(user.id));
    assert_eq!(events[0].client_id.as_deref(), Some(client.client_id.as_str()));
}

#[test]
fn a_reused_code_revokes_what_it_produced() {
    let hub = Hub::new();
    let (client, secret) = hub.web_client();
    let user = hub.user("ann@example.com");
    let code = hub.code(&client, &user, "&scope=profile");
    let first = redeem(&hub, &client, &secret, &code).unwrap();
    assert!(introspect(&hub, &client, &secret, &first.access_token).active);
    redeem(&hub, &client, &secret, &code).unwrap_err();
    assert!(!introspect(&hub, &client, &secret, &first.access_token).active);
    assert_eq!(userinfo(&hub, &first.access_token).unwrap_err().code, OAuthErrorCode::InvalidToken);
    let rt = first.refresh_token.unwrap();
    assert_eq!(refresh(&hub, &client, &secret, &rt, "").unwrap_err().code, OAuthErrorCode::InvalidGrant);
}

#[test]
fn a_closed_users_code_is_invalid_grant() {
    let hub = Hub::new();
    let (client, secret) = hub.web_client();
    let user = hub.user("ann@example.com");
    let code = hub.code(&client, &user, "&scope=profile");
    hub.engine.set_user_status(user.id, UserStatus::Closed).unwrap();
    let err = redeem(&hub, &client, &secret, &code).unwrap_err();
    assert_eq!(err.code, OAuthErrorCode::InvalidGrant);
}

#[test]
fn a_code_revoked_by_closing_its_user_is_not_reported_as_reuse() {
    let hub = Hub::new();
    let (client, secret) = hub.web_client();
    let user = hub.user("ann@example.com");
    let code = hub.code(&client, &user, "&scope=profile");
    hub.engine.set_user_status(user.id, UserStatus::Closed).unwrap();
    redeem(&hub, &client, &secret, &code).unwrap_err();
    assert!(hub.engine.audit_events(Some("oauth.code_reuse"), 10).unwrap().is_empty());
}

#[test]
fn an_expired_code_is_refused() {
    let hub = Hub::new();
    let (client, secret) = hub.web_client();
    let user = hub.user("ann@example.com");
    let code = hub.code(&client, &user, "&scope=profile");
    hub.clock.advance(hub.engine.config.code_ttl + 1);
    let err = redeem(&hub, &client, &secret, &code).unwrap_err();
    assert_eq!(err.code, OAuthErrorCode::InvalidGrant);
    assert_eq!(err.description, "The authorization code has expired");
}

#[test]
fn a_code_is_still_good_just_before_it_expires() {
    let hub = Hub::new();
    let (client, secret) = hub.web_client();
    let user = hub.user("ann@example.com");
    let code = hub.code(&client, &user, "&scope=profile");
    hub.clock.advance(hub.engine.config.code_ttl - 1);
    assert!(redeem(&hub, &client, &secret, &code).is_ok());
}

#[test]
fn the_token_request_must_repeat_the_redirect_uri_sent_at_authorize() {
    let hub = Hub::new();
    let (client, secret) = hub.web_client();
    let user = hub.user("ann@example.com");
    let code = hub.code(&client, &user, "&scope=profile");
    let err = hub.token(&client, &secret, &format!("grant_type=authorization_code&code={}", enc(&code))).unwrap_err();
    assert_eq!(err.code, OAuthErrorCode::RedirectUriMismatch);
}

#[test]
fn a_different_redirect_uri_at_the_token_endpoint_is_a_mismatch() {
    let hub = Hub::new();
    let (client, secret) = hub.web_client();
    let user = hub.user("ann@example.com");
    let code = hub.code(&client, &user, "&scope=profile");
    let form = format!(
        "grant_type=authorization_code&code={}&redirect_uri={}",
        enc(&code),
        enc("https://app.example.com/other")
    );
    let err = hub.token(&client, &secret, &form).unwrap_err();
    assert_eq!(err.code, OAuthErrorCode::RedirectUriMismatch);
    // The mistake did not spend the code.
    assert!(redeem(&hub, &client, &secret, &code).is_ok());
}

#[test]
fn a_code_issued_without_a_redirect_uri_needs_none_at_the_token_endpoint() {
    let hub = Hub::new();
    let (client, secret) = hub.web_client();
    let user = hub.user("ann@example.com");
    let session = hub.session(&user);
    let q = format!("response_type=code&client_id={}&scope=profile", client.client_id);
    let req = hub.engine.validate_authorize(&Dialect::standard(), &params(&q)).unwrap();
    let code = match hub.engine.decide_authorize(&req, Some(&(session, user.clone()))).unwrap() {
        gatehouse_engine::oauth::authorize::AuthorizeOutcome::Redirect(url) => query_param(&url, "code").unwrap(),
        other => panic!("expected a code, got {other:?}"),
    };
    let t = hub.token(&client, &secret, &format!("grant_type=authorization_code&code={}", enc(&code))).unwrap();
    assert_eq!(t.scope, "profile");
}

#[test]
fn pkce_s256_with_the_right_verifier_succeeds() {
    let hub = Hub::new();
    let (client, secret) = hub.web_client();
    let user = hub.user("ann@example.com");
    let code =
        hub.code(&client, &user, &format!("&scope=profile&code_challenge={CHALLENGE}&code_challenge_method=S256"));
    let form =
        format!("grant_type=authorization_code&code={}&redirect_uri={REDIRECT}&code_verifier={VERIFIER}", enc(&code));
    assert!(hub.token(&client, &secret, &form).is_ok());
}

#[test]
fn pkce_with_a_wrong_verifier_is_invalid_grant() {
    let hub = Hub::new();
    let (client, secret) = hub.web_client();
    let user = hub.user("ann@example.com");
    let code =
        hub.code(&client, &user, &format!("&scope=profile&code_challenge={CHALLENGE}&code_challenge_method=S256"));
    let wrong = VERIFIER.replace('d', "e");
    let form =
        format!("grant_type=authorization_code&code={}&redirect_uri={REDIRECT}&code_verifier={wrong}", enc(&code));
    let err = hub.token(&client, &secret, &form).unwrap_err();
    assert_eq!(err.code, OAuthErrorCode::InvalidGrant);
    assert_eq!(err.description, "The PKCE code verifier parameter is invalid.");
}

#[test]
fn pkce_without_the_verifier_is_invalid_grant() {
    let hub = Hub::new();
    let (client, secret) = hub.web_client();
    let user = hub.user("ann@example.com");
    let code =
        hub.code(&client, &user, &format!("&scope=profile&code_challenge={CHALLENGE}&code_challenge_method=S256"));
    let err = redeem(&hub, &client, &secret, &code).unwrap_err();
    assert_eq!(err.code, OAuthErrorCode::InvalidGrant);
    assert_eq!(err.description, "The PKCE code verifier parameter is required.");
}

#[test]
fn a_verifier_without_a_challenge_is_refused() {
    let hub = Hub::new();
    let (client, secret) = hub.web_client();
    let user = hub.user("ann@example.com");
    let code = hub.code(&client, &user, "&scope=profile");
    let form =
        format!("grant_type=authorization_code&code={}&redirect_uri={REDIRECT}&code_verifier={VERIFIER}", enc(&code));
    let err = hub.token(&client, &secret, &form).unwrap_err();
    assert_eq!(err.code, OAuthErrorCode::InvalidGrant);
}

#[test]
fn a_wrong_verifier_does_not_spend_the_code() {
    let hub = Hub::new();
    let (client, secret) = hub.web_client();
    let user = hub.user("ann@example.com");
    let code =
        hub.code(&client, &user, &format!("&scope=profile&code_challenge={CHALLENGE}&code_challenge_method=S256"));
    let base = format!("grant_type=authorization_code&code={}&redirect_uri={REDIRECT}", enc(&code));
    let wrong = VERIFIER.replace('d', "e");
    hub.token(&client, &secret, &format!("{base}&code_verifier={wrong}")).unwrap_err();
    assert!(hub.token(&client, &secret, &format!("{base}&code_verifier={VERIFIER}")).is_ok());
}

#[test]
fn a_public_client_must_send_a_code_challenge() {
    let hub = Hub::new();
    let client = public_client(&hub);
    let q = format!("response_type=code&client_id={}&redirect_uri={REDIRECT}&scope=profile", client.client_id);
    match hub.engine.validate_authorize(&Dialect::standard(), &params(&q)) {
        Err(AuthorizeError::Redirect { error, .. }) => assert_eq!(error.code, OAuthErrorCode::InvalidRequest),
        other => panic!("expected a redirected invalid_request, got {other:?}"),
    }
}

#[test]
fn a_public_client_redeems_its_code_with_pkce_and_no_secret() {
    let hub = Hub::new();
    let client = public_client(&hub);
    let user = hub.user("ann@example.com");
    let code =
        hub.code(&client, &user, &format!("&scope=profile&code_challenge={CHALLENGE}&code_challenge_method=S256"));
    let form = format!(
        "grant_type=authorization_code&client_id={}&code={}&redirect_uri={REDIRECT}&code_verifier={VERIFIER}",
        client.client_id,
        enc(&code)
    );
    let t = hub.engine.token(&Dialect::standard(), &params(&form), &ClientCredentials::default()).unwrap();
    assert_eq!(t.scope, "profile");
}

// ---- refresh_token ------------------------------------------------------

#[test]
fn refresh_rotates_the_refresh_token() {
    let hub = Hub::new();
    let (client, secret) = hub.web_client();
    let user = hub.user("ann@example.com");
    let first = tokens_with(&hub, &client, &secret, &user, "profile");
    let rt1 = first.refresh_token.unwrap();
    let second = refresh(&hub, &client, &secret, &rt1, "").unwrap();
    let rt2 = second.refresh_token.expect("a new refresh token");
    assert_ne!(rt1, rt2);
    assert_ne!(first.access_token, second.access_token);
    assert_eq!(second.scope, "profile");
    assert!(refresh(&hub, &client, &secret, &rt2, "").is_ok());
}

#[test]
fn a_reused_refresh_token_revokes_its_whole_family() {
    let hub = Hub::new();
    let (client, secret) = hub.web_client();
    let user = hub.user("ann@example.com");
    let first = tokens_with(&hub, &client, &secret, &user, "profile");
    let rt1 = first.refresh_token.unwrap();
    let second = refresh(&hub, &client, &secret, &rt1, "").unwrap();
    let err = refresh(&hub, &client, &secret, &rt1, "").unwrap_err();
    assert_eq!(err.code, OAuthErrorCode::InvalidGrant);
    // Every token of the family is gone, the newest included.
    assert!(!introspect(&hub, &client, &secret, &first.access_token).active);
    assert!(!introspect(&hub, &client, &secret, &second.access_token).active);
    let rt2 = second.refresh_token.unwrap();
    assert!(!introspect(&hub, &client, &secret, &rt2).active);
    assert_eq!(refresh(&hub, &client, &secret, &rt2, "").unwrap_err().code, OAuthErrorCode::InvalidGrant);
    assert_eq!(hub.engine.audit_events(Some("oauth.refresh_reuse"), 10).unwrap().len(), 1);
}

#[test]
fn an_expired_refresh_token_is_refused() {
    let hub = Hub::new();
    let (client, secret) = hub.web_client();
    let user = hub.user("ann@example.com");
    let rt = tokens_with(&hub, &client, &secret, &user, "profile").refresh_token.unwrap();
    hub.clock.advance(hub.engine.config.refresh_ttl + 1);
    let err = refresh(&hub, &client, &secret, &rt, "").unwrap_err();
    assert_eq!(err.code, OAuthErrorCode::InvalidGrant);
    assert_eq!(err.description, "Refresh token has expired");
}

#[test]
fn refresh_may_narrow_the_scope() {
    let hub = Hub::new();
    let (client, secret) = hub.web_client();
    let user = hub.user("ann@example.com");
    let rt = tokens_with(&hub, &client, &secret, &user, "profile email").refresh_token.unwrap();
    let t = refresh(&hub, &client, &secret, &rt, "&scope=email").unwrap();
    assert_eq!(t.scope, "email");
    assert_eq!(introspect(&hub, &client, &secret, &t.access_token).scope.as_deref(), Some("email"));
}

#[test]
fn a_narrowed_refresh_keeps_the_original_scope_on_the_new_refresh_token() {
    let hub = Hub::new();
    let (client, secret) = hub.web_client();
    let user = hub.user("ann@example.com");
    let rt = tokens_with(&hub, &client, &secret, &user, "profile email").refresh_token.unwrap();
    let narrowed = refresh(&hub, &client, &secret, &rt, "&scope=email").unwrap();
    let rt2 = narrowed.refresh_token.unwrap();
    assert_eq!(introspect(&hub, &client, &secret, &rt2).scope.as_deref(), Some("profile email"));
    assert_eq!(refresh(&hub, &client, &secret, &rt2, "").unwrap().scope, "profile email");
}

#[test]
fn refresh_may_not_widen_the_scope() {
    let hub = Hub::new();
    let (client, secret) = hub.web_client();
    let user = hub.user("ann@example.com");
    let rt = tokens_with(&hub, &client, &secret, &user, "profile").refresh_token.unwrap();
    let err = refresh(&hub, &client, &secret, &rt, "&scope=profile%20email").unwrap_err();
    assert_eq!(err.code, OAuthErrorCode::InvalidScope);
    // Refused before it was spent.
    assert!(refresh(&hub, &client, &secret, &rt, "").is_ok());
}

#[test]
fn another_clients_refresh_token_is_invalid_grant() {
    let hub = Hub::new();
    let (client, secret) = hub.web_client();
    let (other, other_secret) = hub.web_client();
    let user = hub.user("ann@example.com");
    let rt = tokens_with(&hub, &client, &secret, &user, "profile").refresh_token.unwrap();
    let err = refresh(&hub, &other, &other_secret, &rt, "").unwrap_err();
    assert_eq!(err.code, OAuthErrorCode::InvalidGrant);
    assert!(refresh(&hub, &client, &secret, &rt, "").is_ok());
}

#[test]
fn a_closed_users_refresh_token_is_invalid_grant() {
    let hub = Hub::new();
    let (client, secret) = hub.web_client();
    let user = hub.user("ann@example.com");
    let rt = tokens_with(&hub, &client, &secret, &user, "profile").refresh_token.unwrap();
    hub.engine.set_user_status(user.id, UserStatus::Closed).unwrap();
    let err = refresh(&hub, &client, &secret, &rt, "").unwrap_err();
    assert_eq!(err.code, OAuthErrorCode::InvalidGrant);
}

#[test]
fn a_client_without_the_refresh_grant_gets_no_refresh_token() {
    let hub = Hub::new();
    let (client, secret) =
        hub.client(ClientInput { grant_types: vec![GrantType::AuthorizationCode], ..web_client_input() });
    let user = hub.user("ann@example.com");
    let t = tokens_with(&hub, &client, &secret, &user, "profile");
    assert_eq!(t.refresh_token, None);
}

// ---- client_credentials -------------------------------------------------

#[test]
fn client_credentials_issues_an_access_token_only() {
    let hub = Hub::new();
    let (client, secret) = hub.service_client();
    let t = hub.token(&client, &secret, "grant_type=client_credentials").unwrap();
    assert_eq!(t.token_type, "Bearer");
    assert_eq!(t.refresh_token, None);
    assert_eq!(t.id_token, None);
    let i = introspect(&hub, &client, &secret, &t.access_token);
    assert!(i.active);
    assert_eq!(i.sub, None);
}

#[test]
fn client_credentials_expires_in_is_the_configured_access_ttl() {
    let hub = Hub::with(|cfg| cfg.access_ttl = 900);
    let (client, secret) = hub.service_client();
    let t = hub.token(&client, &secret, "grant_type=client_credentials").unwrap();
    assert_eq!(t.expires_in, 900);
    assert_eq!(introspect(&hub, &client, &secret, &t.access_token).exp, Some(T0 + 900));
}

#[test]
fn a_public_client_cannot_use_client_credentials() {
    let hub = Hub::new();
    let client = public_client(&hub);
    let form = format!("grant_type=client_credentials&client_id={}", client.client_id);
    let err = hub.engine.token(&Dialect::standard(), &params(&form), &ClientCredentials::default()).unwrap_err();
    assert_eq!(err.code, OAuthErrorCode::UnauthorizedClient);
}

#[test]
fn client_credentials_refuses_user_scopes() {
    let hub = Hub::new();
    let (client, secret) = cc_client(&hub, "openid profile email");
    let err = hub.token(&client, &secret, "grant_type=client_credentials&scope=openid").unwrap_err();
    assert_eq!(err.code, OAuthErrorCode::InvalidScope);
}

#[test]
fn client_credentials_without_a_scope_leaves_the_user_scopes_out() {
    let hub = Hub::new();
    let (client, secret) = cc_client(&hub, "openid profile email");
    let t = hub.token(&client, &secret, "grant_type=client_credentials").unwrap();
    assert_eq!(t.scope, "");
    assert_eq!(t.id_token, None);
}

// ---- client_credentials without blocking ---------------------------------

/// Waits for a pending commit without an async runtime.
fn durable(mut pending: PendingCommit) -> Result<(), StoreError> {
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..10_000 {
        if let Poll::Ready(r) = Pin::new(&mut pending).poll(&mut cx) {
            return r;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    panic!("the commit did not finish in 10 s");
}

fn without_blocking(hub: &Hub, form: &str, creds: &ClientCredentials) -> Option<(TokenResponse, PendingCommit)> {
    hub.engine.client_credentials_without_blocking(&Dialect::standard(), &params(form), creds)
}

#[test]
fn the_non_blocking_client_credentials_path_issues_durable_tokens_for_cached_clients() {
    let hub = Hub::with(|cfg| cfg.access_ttl = 900);
    let (client, secret) = cc_client(&hub, "openid clientarea:homepage");
    let creds = basic(&client.client_id, &secret);
    let form = "grant_type=client_credentials";
    // Not cached yet: left to the full path (which reads and caches it).
    assert!(without_blocking(&hub, form, &creds).is_none());
    hub.token(&client, &secret, form).unwrap();
    let (t, pending) = without_blocking(&hub, form, &creds).expect("a cached client with the right secret");
    durable(pending).unwrap();
    assert_eq!((t.token_type.as_str(), t.expires_in, t.scope.as_str()), ("Bearer", 900, "clientarea:homepage"));
    assert_eq!((t.refresh_token, t.id_token), (None, None));
    let i = introspect(&hub, &client, &secret, &t.access_token);
    assert!(i.active);
    assert_eq!((i.exp, i.sub), (Some(T0 + 900), None));
    // The secret in the body works too.
    let body = format!("{form}&client_id={}&client_secret={}", client.client_id, enc(&secret));
    let (t, pending) = without_blocking(&hub, &body, &ClientCredentials::default()).unwrap();
    durable(pending).unwrap();
    assert!(introspect(&hub, &client, &secret, &t.access_token).active);
    // A stale cache entry is not trusted.
    hub.clock.advance(2);
    assert!(without_blocking(&hub, form, &creds).is_none());
}

#[test]
fn the_non_blocking_path_leaves_every_refusal_to_the_full_path() {
    let hub = Hub::new();
    let (client, secret) = cc_client(&hub, "openid clientarea:homepage");
    let (web, web_secret) = hub.web_client();
    let form = "grant_type=client_credentials";
    hub.token(&client, &secret, form).unwrap();
    hub.engine.client_by_client_id(&web.client_id).unwrap().unwrap();
    let creds = basic(&client.client_id, &secret);
    let refused: [(&str, ClientCredentials); 6] = [
        (form, basic(&client.client_id, "wrong")),
        ("grant_type=client_credentials&scope=clientarea:profile", creds.clone()),
        ("grant_type=client_credentials&scope=openid", creds.clone()),
        ("grant_type=authorization_code&code=x", creds.clone()),
        // Two ways to authenticate at once.
        (&format!("{form}&client_secret={}", enc(&secret)), creds.clone()),
        // A client without the grant.
        (form, basic(&web.client_id, &web_secret)),
    ];
    for (form, creds) in &refused {
        assert!(without_blocking(&hub, form, creds).is_none(), "{form}");
        // ... which refuses each, as before.
        assert!(hub.engine.token(&Dialect::standard(), &params(form), creds).is_err(), "{form}");
    }
}

// ---- single_sign_on -----------------------------------------------------

#[test]
fn single_sign_on_for_a_bound_client_signs_in_the_accounts_owner() {
    let hub = Hub::new();
    let owner = hub.user("owner@example.com");
    let account = hub.engine.create_account(owner.id, "Acme").unwrap();
    let (client, secret) = sso_client(&hub, Some(account.id), false);
    let t = sso_grant(&hub, &client, &secret, "").unwrap();
    assert_eq!(t.scope, "clientarea:sso");
    assert_eq!(t.refresh_token, None);
    let expected = format!("{ISSUER}{}?access_token={}", Endpoint::Sso.standard_path(), t.access_token);
    assert_eq!(t.redirect_url.as_deref(), Some(expected.as_str()));
    assert_eq!(sso_user_of(&hub, &t.access_token), owner.id);
}

#[test]
fn single_sign_on_signs_in_an_account_member_named_by_user_id() {
    let hub = Hub::new();
    let owner = hub.user("owner@example.com");
    let member = hub.user("member@example.com");
    let account = hub.engine.create_account(owner.id, "Acme").unwrap();
    hub.engine.add_account_member(account.id, member.id).unwrap();
    let (client, secret) = sso_client(&hub, Some(account.id), false);
    let t = sso_grant(&hub, &client, &secret, &format!("&user_id={}", member.id)).unwrap();
    assert_eq!(sso_user_of(&hub, &t.access_token), member.id);
}

#[test]
fn single_sign_on_refuses_a_user_outside_the_account() {
    let hub = Hub::new();
    let owner = hub.user("owner@example.com");
    let stranger = hub.user("stranger@example.com");
    let account = hub.engine.create_account(owner.id, "Acme").unwrap();
    let (client, secret) = sso_client(&hub, Some(account.id), false);
    let err = sso_grant(&hub, &client, &secret, &format!("&user_id={}", stranger.id)).unwrap_err();
    assert_eq!(err.code, OAuthErrorCode::InvalidRequest);
}

#[test]
fn single_sign_on_for_an_unbound_client_that_may_not_name_users_is_unauthorized() {
    let hub = Hub::new();
    let user = hub.user("ann@example.com");
    let (client, secret) = sso_client(&hub, None, false);
    let err = sso_grant(&hub, &client, &secret, &format!("&user_id={}", user.id)).unwrap_err();
    assert_eq!(err.code, OAuthErrorCode::UnauthorizedClient);
}

#[test]
fn single_sign_on_for_a_client_that_may_name_users_names_any_user() {
    let hub = Hub::new();
    let user = hub.user("ann@example.com");
    let (client, secret) = sso_client(&hub, None, true);
    let t = sso_grant(&hub, &client, &secret, &format!("&user_id={}", user.id)).unwrap();
    assert_eq!(sso_user_of(&hub, &t.access_token), user.id);
}

#[test]
fn single_sign_on_scope_must_contain_clientarea_sso() {
    let hub = Hub::new();
    let (client, secret) = bound_sso_client(&hub);
    let err = sso_grant(&hub, &client, &secret, "&scope=clientarea:invoices").unwrap_err();
    assert_eq!(err.code, OAuthErrorCode::InvalidScope);
}

#[test]
fn single_sign_on_to_something_that_is_no_destination_is_invalid_scope() {
    let hub = Hub::new();
    let (client, secret) = bound_sso_client(&hub);
    // `profile` is one of the client's scopes, but leads nowhere.
    let err = sso_grant(&hub, &client, &secret, "&scope=clientarea:sso%20profile").unwrap_err();
    assert_eq!(err.code, OAuthErrorCode::InvalidScope);
    let err = sso_grant(&hub, &client, &secret, "&scope=clientarea:sso%20clientarea:nowhere").unwrap_err();
    assert_eq!(err.code, OAuthErrorCode::InvalidScope);
}

#[test]
fn single_sign_on_with_a_malformed_user_id_is_invalid_request() {
    let hub = Hub::new();
    let (client, secret) = bound_sso_client(&hub);
    let err = sso_grant(&hub, &client, &secret, "&user_id=ann").unwrap_err();
    assert_eq!(err.code, OAuthErrorCode::InvalidRequest);
}

#[test]
fn single_sign_on_carries_its_destination() {
    let hub = Hub::new();
    let (client, secret) = bound_sso_client(&hub);
    let t = sso_grant(&hub, &client, &secret, "&scope=clientarea:sso%20clientarea:invoices").unwrap();
    assert_eq!(t.scope, "clientarea:sso clientarea:invoices");
    let login = hub.engine.redeem_sso_token(&t.access_token, &ctx()).unwrap();
    assert_eq!(login.redirect, format!("{ISSUER}/clientarea.php?action=invoices"));
}

// ---- client authentication and the request itself -----------------------

#[test]
fn an_unknown_client_is_invalid_client() {
    let hub = Hub::new();
    let err = hub
        .engine
        .token(&Dialect::standard(), &params("grant_type=client_credentials"), &basic("nobody", "nothing"))
        .unwrap_err();
    assert_eq!(err.code, OAuthErrorCode::InvalidClient);
}

#[test]
fn a_wrong_secret_is_invalid_client() {
    let hub = Hub::new();
    let (client, _) = hub.service_client();
    let err = hub.token(&client, "not-the-secret", "grant_type=client_credentials").unwrap_err();
    assert_eq!(err.code, OAuthErrorCode::InvalidClient);
}

#[test]
fn a_confidential_client_without_its_secret_is_invalid_client() {
    let hub = Hub::new();
    let (client, _) = hub.service_client();
    let form = format!("grant_type=client_credentials&client_id={}", client.client_id);
    let err = hub.engine.token(&Dialect::standard(), &params(&form), &ClientCredentials::default()).unwrap_err();
    assert_eq!(err.code, OAuthErrorCode::InvalidClient);
}

#[test]
fn a_body_client_id_contradicting_basic_is_invalid_client() {
    let hub = Hub::new();
    let (client, secret) = hub.service_client();
    let (other, _) = hub.service_client();
    let form = format!("grant_type=client_credentials&client_id={}", other.client_id);
    let err = hub.token(&client, &secret, &form).unwrap_err();
    assert_eq!(err.code, OAuthErrorCode::InvalidClient);
}

#[test]
fn basic_and_a_body_secret_together_are_invalid_request() {
    let hub = Hub::new();
    let (client, secret) = hub.service_client();
    let form = format!("grant_type=client_credentials&client_secret={}", enc(&secret));
    let err = hub.token(&client, &secret, &form).unwrap_err();
    assert_eq!(err.code, OAuthErrorCode::InvalidRequest);
}

#[test]
fn url_encoded_basic_halves_are_accepted() {
    let hub = Hub::new();
    let (client, secret) = hub.service_client();
    let creds = basic(&pct_all(&client.client_id), &pct_all(&secret));
    assert!(hub.engine.token(&Dialect::standard(), &params("grant_type=client_credentials"), &creds).is_ok());
}

#[test]
fn the_secret_may_come_in_the_body() {
    let hub = Hub::new();
    let (client, secret) = hub.service_client();
    let form = format!("grant_type=client_credentials&client_id={}&client_secret={}", client.client_id, enc(&secret));
    assert!(hub.engine.token(&Dialect::standard(), &params(&form), &ClientCredentials::default()).is_ok());
}

#[test]
fn a_grant_the_client_was_not_registered_for_is_unauthorized_client() {
    let hub = Hub::new();
    let (client, secret) = hub.web_client();
    let err = hub.token(&client, &secret, "grant_type=client_credentials").unwrap_err();
    assert_eq!(err.code, OAuthErrorCode::UnauthorizedClient);
}

#[test]
fn an_unknown_grant_type_is_unsupported_grant_type() {
    let hub = Hub::new();
    let (client, secret) = hub.web_client();
    let err = hub.token(&client, &secret, "grant_type=password&username=a&password=b").unwrap_err();
    assert_eq!(err.code, OAuthErrorCode::UnsupportedGrantType);
}

#[test]
fn a_missing_grant_type_is_invalid_request() {
    let hub = Hub::new();
    let (client, secret) = hub.service_client();
    let err = hub.token(&client, &secret, "scope=").unwrap_err();
    assert_eq!(err.code, OAuthErrorCode::InvalidRequest);
}

#[test]
fn a_duplicated_parameter_is_invalid_request() {
    let hub = Hub::new();
    let (client, secret) = hub.service_client();
    let err = hub.token(&client, &secret, "grant_type=client_credentials&grant_type=client_credentials").unwrap_err();
    assert_eq!(err.code, OAuthErrorCode::InvalidRequest);
}

/// Hardening #3: a thief replays a spent refresh token at the same moment
/// as the legitimate client refreshes; whoever wins, nothing issued to the
/// family survives the replay.
#[test]
fn a_replay_racing_a_legitimate_refresh_leaves_no_live_token() {
    use std::sync::{Arc, Barrier};
    let hub = Arc::new(Hub::new());
    let (c, secret) = hub.client(ClientInput { scopes: ScopeSet::parse("profile"), ..web_client_input() });
    let user = hub.user("race@example.com");
    for round in 0..20 {
        let code = hub.code(&c, &user, "&scope=profile");
        let first = hub
            .token(&c, &secret, &format!("grant_type=authorization_code&code={code}&redirect_uri={REDIRECT}"))
            .unwrap();
        let spent = first.refresh_token.unwrap();
        let current = hub
            .token(&c, &secret, &format!("grant_type=refresh_token&refresh_token={spent}"))
            .unwrap()
            .refresh_token
            .unwrap();
        let barrier = Arc::new(Barrier::new(2));
        let run = |token: String| {
            let (hub, c, secret, barrier) = (hub.clone(), c.clone(), secret.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                hub.token(&c, &secret, &format!("grant_type=refresh_token&refresh_token={token}"))
            })
        };
        let (legit, thief) = (run(current), run(spent));
        let (legit, thief) = (legit.join().unwrap(), thief.join().unwrap());
        assert!(thief.is_err(), "round {round}: a spent token never works");
        if let Ok(t) = legit {
            let q = format!("token={}", t.access_token);
            let seen = hub.engine.introspect(&params(&q), &basic(&c.client_id, &secret)).unwrap();
            assert!(!seen.active, "round {round}: the access token issued in the race is revoked");
            let again =
                hub.token(&c, &secret, &format!("grant_type=refresh_token&refresh_token={}", t.refresh_token.unwrap()));
            assert_eq!(again.unwrap_err().code, OAuthErrorCode::InvalidGrant, "round {round}");
        }
    }
}

/// Hardening #15: HTTP Basic that fails is 401 (RFC 6749 §5.2) on the
/// standard endpoints; a dialect (WHMCS) may keep 400; body credentials
/// that fail stay 400.
#[test]
fn a_failed_basic_authentication_is_401_unless_the_dialect_says_400() {
    let hub = Hub::new();
    let (c, _) = hub.service_client();
    let e = hub.token(&c, "wrong", "grant_type=client_credentials").unwrap_err();
    assert_eq!((e.code, e.status), (OAuthErrorCode::InvalidClient, 401));
    let whmcs = Dialect { basic_auth_failure_status: 400, ..Dialect::standard() };
    let e =
        hub.engine.token(&whmcs, &params("grant_type=client_credentials"), &basic(&c.client_id, "wrong")).unwrap_err();
    assert_eq!((e.code, e.status), (OAuthErrorCode::InvalidClient, 400));
    let body = format!("grant_type=client_credentials&client_id={}&client_secret=wrong", c.client_id);
    let e = hub.engine.token(&Dialect::standard(), &params(&body), &ClientCredentials::default()).unwrap_err();
    assert_eq!((e.code, e.status), (OAuthErrorCode::InvalidClient, 400));
    let e = hub.engine.introspect(&params("token=x"), &basic(&c.client_id, "wrong")).unwrap_err();
    assert_eq!(e.status, 401);
}

/// Hardening #13: two rotations in a row never hand signing back to an
/// older key: the signer's id only grows as time passes.
#[test]
fn two_rotations_in_a_row_never_hand_signing_back() {
    use gatehouse_engine::keys::signing_key_at;
    let hub = Hub::new().with_keys();
    hub.engine.rotate_signing_keys(300).unwrap();
    hub.clock.advance(100);
    hub.engine.rotate_signing_keys(300).unwrap();
    let keys = hub.engine.published_keys().unwrap();
    let start = hub.engine.now() - 100;
    let mut last = 0;
    for t in (start..start + 900).step_by(10) {
        let signer = signing_key_at(&keys, "RS256", t).expect("a key signs");
        assert!(signer.id >= last, "at {t}: key {} after key {last}", signer.id);
        last = signer.id;
    }
    assert_eq!(
        last,
        keys.iter().filter(|k| k.alg == "RS256").map(|k| k.id).max().unwrap(),
        "the newest signs in the end"
    );
}

/// An SSO client bound to a fresh account (owner `owner@example.com`).
fn bound_sso_client(hub: &Hub) -> (Client, String) {
    let owner = hub.user("owner@example.com");
    let account = hub.engine.create_account(owner.id, "Acme").unwrap();
    sso_client(hub, Some(account.id), false)
}

/// Operators issue: every refusal is audited with the client, the reason,
/// and the caller's address and request id.
#[test]
fn refusals_are_audited_with_reason_address_and_request_id() {
    use gatehouse_engine::caller::Caller;
    let hub = Hub::new();
    let (c, secret) = hub.service_client();
    let caller = Caller { ip: "203.0.113.5".into(), request_id: "req-42".into(), actor: String::new() };
    caller.clone().scope(|| {
        let _ = hub.token(&c, "wrong", "grant_type=client_credentials");
        let _ = hub.engine.token(&Dialect::standard(), &params("grant_type=client_credentials"), &basic("nobody", "x"));
        let _ = hub.token(&c, &secret, "grant_type=authorization_code&code=nope");
    });
    let failed = hub.engine.audit_events(Some("oauth.client_auth_failed"), 10).unwrap();
    let reasons: Vec<String> = failed
        .iter()
        .map(|e| serde_json::from_str::<serde_json::Value>(&e.details).unwrap()["reason"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(reasons, vec!["unknown_client", "wrong_secret"], "newest first");
    assert_eq!(failed[1].client_id.as_deref(), Some(c.client_id.as_str()));
    assert_eq!(failed[1].ip.as_deref(), Some("203.0.113.5"));
    assert!(failed[1].details.contains("req-42"));
    let refused = hub.engine.audit_events(Some("oauth.token_refused"), 10).unwrap();
    assert_eq!(refused.len(), 1);
    assert!(refused[0].details.contains("\"reason\":\"unauthorized_client\""), "{}", refused[0].details);
}
