//! The authorization endpoint: what is never redirected, what is, and what
//! a valid request needs (login, consent, a code).

use gatehouse_core::client::GrantType;
use gatehouse_core::{Dialect, OAuthErrorCode, ScopeSet, UserStatus};
use gatehouse_engine::directory::ClientInput;
use gatehouse_engine::model::{Client, Session, User};
use gatehouse_engine::oauth::authorize::{AuthorizeError, AuthorizeOutcome, AuthorizeRequest};

use crate::harness::*;

fn validate(hub: &Hub, q: &str) -> Result<AuthorizeRequest, AuthorizeError> {
    hub.engine.validate_authorize(&Dialect::standard(), &params(q))
}

fn request(client: &Client, extra: &str) -> String {
    format!("response_type=code&client_id={}&redirect_uri={REDIRECT}&state=xyz{extra}", client.client_id)
}

fn pre_redirect(r: Result<AuthorizeRequest, AuthorizeError>) -> OAuthErrorCode {
    match r {
        Err(AuthorizeError::PreRedirect(e)) => e.code,
        other => panic!("expected an error shown in place, got {other:?}"),
    }
}

fn redirected(r: Result<AuthorizeRequest, AuthorizeError>) -> (String, OAuthErrorCode) {
    match r {
        Err(AuthorizeError::Redirect { url, error }) => (url, error.code),
        other => panic!("expected a redirected error, got {other:?}"),
    }
}

fn third_party(hub: &Hub) -> (Client, String) {
    hub.client(ClientInput { first_party: false, ..web_client_input() })
}

fn signed_in(hub: &Hub, email: &str) -> (Session, User) {
    let user = hub.user(email);
    (hub.session(&user), user)
}

#[test]
fn an_unknown_client_is_shown_in_place_never_redirected() {
    let hub = Hub::new();
    let r = validate(&hub, &format!("response_type=code&client_id=nope&redirect_uri={REDIRECT}"));
    assert_eq!(pre_redirect(r), OAuthErrorCode::InvalidClient);
}

#[test]
fn a_missing_client_id_is_shown_in_place() {
    let hub = Hub::new();
    assert_eq!(pre_redirect(validate(&hub, "response_type=code")), OAuthErrorCode::InvalidClient);
}

#[test]
fn a_redirect_uri_that_only_starts_like_a_registered_one_is_refused_in_place() {
    let hub = Hub::new();
    let (c, _) = hub.web_client();
    for uri in [
        "https://app.example.com/cb/evil",
        "https://app.example.com/cb?x=1",
        "https://APP.example.com/cb",
        "https://app.example.com/CB",
        "https://app.example.com.evil.test/cb",
    ] {
        let q = format!("response_type=code&client_id={}&redirect_uri={}", c.client_id, urlenc(uri));
        assert_eq!(pre_redirect(validate(&hub, &q)), OAuthErrorCode::RedirectUriMismatch, "{uri}");
    }
}

#[test]
fn a_redirect_uri_with_a_fragment_is_invalid_uri() {
    let hub = Hub::new();
    let (c, _) = hub.web_client();
    let q =
        format!("response_type=code&client_id={}&redirect_uri={}", c.client_id, urlenc("https://app.example.com/cb#x"));
    assert_eq!(pre_redirect(validate(&hub, &q)), OAuthErrorCode::InvalidUri);
}

#[test]
fn without_redirect_uri_the_only_registered_one_is_used_and_must_not_be_repeated() {
    let hub = Hub::new();
    let (c, _) = hub.web_client();
    let req = validate(&hub, &format!("response_type=code&client_id={}", c.client_id)).unwrap();
    assert_eq!(req.redirect_uri, REDIRECT);
    assert!(!req.redirect_uri_sent);
}

#[test]
fn without_redirect_uri_a_client_with_several_is_refused() {
    let hub = Hub::new();
    let (c, _) = hub.client(ClientInput {
        redirect_uris: vec![REDIRECT.into(), "https://app.example.com/other".into()],
        ..web_client_input()
    });
    let r = validate(&hub, &format!("response_type=code&client_id={}", c.client_id));
    assert_eq!(pre_redirect(r), OAuthErrorCode::RedirectUriMismatch);
}

#[test]
fn a_duplicated_client_id_is_refused_in_place() {
    let hub = Hub::new();
    let (c, _) = hub.web_client();
    let q = format!("{}&client_id=other", request(&c, ""));
    assert_eq!(pre_redirect(validate(&hub, &q)), OAuthErrorCode::InvalidRequest);
}

#[test]
fn a_missing_response_type_is_redirected_with_the_state() {
    let hub = Hub::new();
    let (c, _) = hub.web_client();
    let q = format!("client_id={}&redirect_uri={REDIRECT}&state=abc", c.client_id);
    let (url, code) = redirected(validate(&hub, &q));
    assert_eq!(code, OAuthErrorCode::InvalidRequest);
    assert!(url.starts_with(REDIRECT));
    assert_eq!(query_param(&url, "state").as_deref(), Some("abc"));
}

#[test]
fn only_the_code_response_type_is_supported() {
    let hub = Hub::new();
    let (c, _) = hub.web_client();
    let q = format!("response_type=token&client_id={}&redirect_uri={REDIRECT}", c.client_id);
    assert_eq!(redirected(validate(&hub, &q)).1, OAuthErrorCode::UnsupportedResponseType);
}

#[test]
fn a_dialect_that_requires_state_refuses_a_request_without_one() {
    let hub = Hub::new();
    let (c, _) = hub.web_client();
    let dialect = Dialect { require_state: true, ..Dialect::standard() };
    let q = format!("response_type=code&client_id={}&redirect_uri={REDIRECT}", c.client_id);
    let r = hub.engine.validate_authorize(&dialect, &params(&q));
    assert_eq!(redirected(r).1, OAuthErrorCode::InvalidRequest);
}

#[test]
fn a_scope_the_client_was_not_given_is_invalid_scope() {
    let hub = Hub::new();
    let (c, _) = hub.client(ClientInput { scopes: ScopeSet::parse("openid"), ..web_client_input() });
    assert_eq!(redirected(validate(&hub, &request(&c, "&scope=openid%20email"))).1, OAuthErrorCode::InvalidScope);
}

#[test]
fn a_dialect_default_scope_applies_when_none_is_sent() {
    let hub = Hub::new();
    let (c, _) = hub.web_client();
    let dialect = Dialect { default_scope: Some("profile".into()), ..Dialect::standard() };
    let req = hub.engine.validate_authorize(&dialect, &params(&request(&c, ""))).unwrap();
    assert_eq!(req.scope.to_string(), "profile");
}

#[test]
fn a_client_without_the_code_grant_is_unauthorized() {
    let hub = Hub::new();
    let (c, _) = hub.client(ClientInput {
        grant_types: vec![GrantType::ClientCredentials],
        redirect_uris: vec![REDIRECT.into()],
        scopes: ScopeSet::parse(""),
        ..web_client_input()
    });
    assert_eq!(redirected(validate(&hub, &request(&c, ""))).1, OAuthErrorCode::UnauthorizedClient);
}

#[test]
fn a_public_client_must_send_a_code_challenge() {
    let hub = Hub::new();
    let (c, _) = hub.client(ClientInput {
        is_public: true,
        grant_types: vec![GrantType::AuthorizationCode],
        ..web_client_input()
    });
    assert_eq!(redirected(validate(&hub, &request(&c, ""))).1, OAuthErrorCode::InvalidRequest);
    let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    let ok = validate(&hub, &request(&c, &format!("&code_challenge={challenge}&code_challenge_method=S256")));
    assert!(ok.is_ok(), "{ok:?}");
}

#[test]
fn an_unknown_code_challenge_method_is_refused() {
    let hub = Hub::new();
    let (c, _) = hub.web_client();
    let q = request(&c, "&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S512");
    assert_eq!(redirected(validate(&hub, &q)).1, OAuthErrorCode::InvalidRequest);
}

#[test]
fn a_code_challenge_shorter_than_43_characters_is_refused() {
    let hub = Hub::new();
    let (c, _) = hub.web_client();
    let q = request(&c, "&code_challenge=short&code_challenge_method=S256");
    assert_eq!(redirected(validate(&hub, &q)).1, OAuthErrorCode::InvalidRequest);
}

#[test]
fn prompt_none_cannot_be_combined() {
    let hub = Hub::new();
    let (c, _) = hub.web_client();
    assert_eq!(redirected(validate(&hub, &request(&c, "&prompt=none%20login"))).1, OAuthErrorCode::InvalidRequest);
}

#[test]
fn a_negative_max_age_is_refused() {
    let hub = Hub::new();
    let (c, _) = hub.web_client();
    assert_eq!(redirected(validate(&hub, &request(&c, "&max_age=-1"))).1, OAuthErrorCode::InvalidRequest);
}

#[test]
fn without_a_session_the_user_must_sign_in() {
    let hub = Hub::new();
    let (c, _) = hub.web_client();
    let req = validate(&hub, &request(&c, "")).unwrap();
    assert!(matches!(hub.engine.decide_authorize(&req, None).unwrap(), AuthorizeOutcome::Login));
}

#[test]
fn prompt_none_without_a_session_is_login_required() {
    let hub = Hub::new();
    let (c, _) = hub.web_client();
    let req = validate(&hub, &request(&c, "&prompt=none")).unwrap();
    let AuthorizeOutcome::Redirect(url) = hub.engine.decide_authorize(&req, None).unwrap() else { panic!() };
    assert_eq!(query_param(&url, "error").as_deref(), Some("login_required"));
    assert_eq!(query_param(&url, "state").as_deref(), Some("xyz"));
}

#[test]
fn prompt_login_asks_again_despite_a_session() {
    let hub = Hub::new();
    let (c, _) = hub.web_client();
    let s = signed_in(&hub, "a@example.com");
    let req = validate(&hub, &request(&c, "&prompt=login")).unwrap();
    assert!(matches!(hub.engine.decide_authorize(&req, Some(&s)).unwrap(), AuthorizeOutcome::Login));
}

#[test]
fn a_session_older_than_max_age_must_sign_in_again() {
    let hub = Hub::new();
    let (c, _) = hub.web_client();
    let s = signed_in(&hub, "a@example.com");
    hub.clock.advance(301);
    let req = validate(&hub, &request(&c, "&max_age=300")).unwrap();
    assert!(matches!(hub.engine.decide_authorize(&req, Some(&s)).unwrap(), AuthorizeOutcome::Login));
    let req = validate(&hub, &request(&c, "&max_age=400")).unwrap();
    assert!(matches!(hub.engine.decide_authorize(&req, Some(&s)).unwrap(), AuthorizeOutcome::Redirect(_)));
}

#[test]
fn a_first_party_client_gets_a_code_without_consent_and_the_state_byte_for_byte() {
    let hub = Hub::new();
    let (c, _) = hub.web_client();
    let s = signed_in(&hub, "a@example.com");
    let q = format!("response_type=code&client_id={}&redirect_uri={REDIRECT}&state=a%2Bb%2Fc%3D%20d", c.client_id);
    let req = validate(&hub, &q).unwrap();
    let AuthorizeOutcome::Redirect(url) = hub.engine.decide_authorize(&req, Some(&s)).unwrap() else { panic!() };
    assert!(query_param(&url, "code").is_some_and(|c| c.len() >= 43));
    assert_eq!(query_param(&url, "state").as_deref(), Some("a+b/c= d"));
}

#[test]
fn a_third_party_client_needs_consent_first() {
    let hub = Hub::new();
    let (c, _) = third_party(&hub);
    let s = signed_in(&hub, "a@example.com");
    let req = validate(&hub, &request(&c, "")).unwrap();
    assert!(matches!(hub.engine.decide_authorize(&req, Some(&s)).unwrap(), AuthorizeOutcome::Consent));
}

#[test]
fn prompt_none_without_consent_is_consent_required() {
    let hub = Hub::new();
    let (c, _) = third_party(&hub);
    let s = signed_in(&hub, "a@example.com");
    let req = validate(&hub, &request(&c, "&prompt=none")).unwrap();
    let AuthorizeOutcome::Redirect(url) = hub.engine.decide_authorize(&req, Some(&s)).unwrap() else { panic!() };
    assert_eq!(query_param(&url, "error").as_deref(), Some("consent_required"));
}

#[test]
fn consent_given_is_remembered_for_the_same_scopes() {
    let hub = Hub::new();
    let (c, _) = third_party(&hub);
    let (session, user) = signed_in(&hub, "a@example.com");
    let req = validate(&hub, &request(&c, "&scope=openid%20email")).unwrap();
    let url = hub.engine.answer_consent(&req, &session, &user, true).unwrap();
    assert!(query_param(&url, "code").is_some());
    let again = validate(&hub, &request(&c, "&scope=openid")).unwrap();
    let s = (session, user);
    assert!(matches!(hub.engine.decide_authorize(&again, Some(&s)).unwrap(), AuthorizeOutcome::Redirect(_)));
    let wider = validate(&hub, &request(&c, "&scope=openid%20profile")).unwrap();
    assert!(matches!(hub.engine.decide_authorize(&wider, Some(&s)).unwrap(), AuthorizeOutcome::Consent));
}

#[test]
fn declined_consent_is_access_denied_and_audited() {
    let hub = Hub::new();
    let (c, _) = third_party(&hub);
    let (session, user) = signed_in(&hub, "a@example.com");
    let req = validate(&hub, &request(&c, "")).unwrap();
    let url = hub.engine.answer_consent(&req, &session, &user, false).unwrap();
    assert_eq!(query_param(&url, "error").as_deref(), Some("access_denied"));
    assert!(query_param(&url, "code").is_none());
    let ev = hub.engine.audit_events(Some("oauth.consent_denied"), 10).unwrap();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].user_id, Some(user.id));
}

#[test]
fn a_dialect_chooses_the_declined_consent_error() {
    let hub = Hub::new();
    let (c, _) = third_party(&hub);
    let (session, user) = signed_in(&hub, "a@example.com");
    let dialect = Dialect { consent_denied_error: OAuthErrorCode::ConsentRequired, ..Dialect::standard() };
    let req = hub.engine.validate_authorize(&dialect, &params(&request(&c, ""))).unwrap();
    let url = hub.engine.answer_consent(&req, &session, &user, false).unwrap();
    assert_eq!(query_param(&url, "error").as_deref(), Some("consent_required"));
}

#[test]
fn a_closed_user_with_a_live_session_is_refused_and_the_session_ends() {
    let hub = Hub::new();
    let (c, _) = hub.web_client();
    let user = hub.user("a@example.com");
    let signed = hub.engine.sign_in(user.id, "password", &ctx()).unwrap();
    hub.engine.set_user_status(user.id, UserStatus::Closed).unwrap();
    // The session was ended when the user was closed; a stale copy of it
    // in the browser still gets the refusal and the documented audit line.
    let closed = hub.engine.find_user(&user.id.to_string()).unwrap();
    let req = validate(&hub, &request(&c, "")).unwrap();
    let out = hub.engine.decide_authorize(&req, Some(&(signed.session, closed))).unwrap();
    let AuthorizeOutcome::ClosedUser(url) = out else { panic!("{out:?}") };
    assert_eq!(query_param(&url, "error").as_deref(), Some("access_denied"));
    assert!(hub.engine.session_from_cookie(&signed.cookie).unwrap().is_none());
    assert_eq!(hub.engine.audit_events(Some("oauth.denied"), 10).unwrap().len(), 1);
}

#[test]
fn a_dialect_code_lifetime_applies_to_the_code() {
    let hub = Hub::new();
    let (c, secret) = hub.web_client();
    let (session, user) = signed_in(&hub, "a@example.com");
    let dialect = Dialect { code_ttl: Some(30), ..Dialect::standard() };
    let req = hub.engine.validate_authorize(&dialect, &params(&request(&c, ""))).unwrap();
    let AuthorizeOutcome::Redirect(url) = hub.engine.decide_authorize(&req, Some(&(session, user))).unwrap() else {
        panic!()
    };
    let code = query_param(&url, "code").unwrap();
    hub.clock.advance(31);
    let e = hub
        .token(&c, &secret, &format!("grant_type=authorization_code&code={code}&redirect_uri={REDIRECT}"))
        .unwrap_err();
    assert_eq!(e.code, OAuthErrorCode::InvalidGrant);
    assert!(e.description.contains("expired"), "{e:?}");
}

fn urlenc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Hardening #14: scope values nobody defined are ignored (OIDC Core
/// §3.1.2.1); the rest must still be registered for the client.
#[test]
fn unknown_scope_values_are_ignored() {
    let hub = Hub::new();
    let (c, _) = hub.web_client();
    let req = validate(&hub, &request(&c, "&scope=openid%20email%20https%3A%2F%2Funknown%2Fscope%20phone")).unwrap();
    assert_eq!(req.scope.to_string(), "openid email");
    assert_eq!(redirected(validate(&hub, &request(&c, "&scope=nothing%20known"))).1, OAuthErrorCode::InvalidScope);
}

#[test]
fn a_dialect_may_refuse_unknown_scope_values() {
    let hub = Hub::new();
    let (c, _) = hub.web_client();
    let dialect = Dialect { refuse_unknown_scopes: true, ..Dialect::standard() };
    let r = hub.engine.validate_authorize(&dialect, &params(&request(&c, "&scope=openid%20phone")));
    assert_eq!(redirected(r).1, OAuthErrorCode::InvalidScope);
}

/// Hardening #14: a client registered with offline_access gets a refresh
/// token only when the user granted offline_access.
#[test]
fn offline_access_decides_refresh_tokens_for_clients_registered_with_it() {
    let hub = Hub::new();
    let (c, secret) =
        hub.client(ClientInput { scopes: ScopeSet::parse("profile offline_access"), ..web_client_input() });
    let user = hub.user("a@example.com");
    let redeem = |code: String| {
        hub.token(&c, &secret, &format!("grant_type=authorization_code&code={code}&redirect_uri={REDIRECT}")).unwrap()
    };
    let without = redeem(hub.code(&c, &user, "&scope=profile"));
    assert!(without.refresh_token.is_none());
    let with = redeem(hub.code(&c, &user, "&scope=profile%20offline_access"));
    assert!(with.refresh_token.is_some());
    // A client not registered with it keeps getting refresh tokens.
    let (plain, plain_secret) = hub.client(ClientInput { scopes: ScopeSet::parse("profile"), ..web_client_input() });
    let code = hub.code(&plain, &user, "&scope=profile");
    let t = hub
        .token(&plain, &plain_secret, &format!("grant_type=authorization_code&code={code}&redirect_uri={REDIRECT}"))
        .unwrap();
    assert!(t.refresh_token.is_some());
}

/// Operators issue: an unknown client or a redirect URI mismatch at
/// authorize leaves an audit event with its reason.
#[test]
fn authorize_refusals_are_audited_with_their_reason() {
    let hub = Hub::new();
    let (c, _) = hub.web_client();
    let _ = validate(&hub, &format!("response_type=code&client_id=ghost&redirect_uri={REDIRECT}"));
    let _ = validate(
        &hub,
        &format!("response_type=code&client_id={}&redirect_uri=https%3A%2F%2Fevil.example%2F", c.client_id),
    );
    let ev = hub.engine.audit_events(Some("oauth.authorize_refused"), 10).unwrap();
    let reasons: Vec<String> = ev
        .iter()
        .map(|e| serde_json::from_str::<serde_json::Value>(&e.details).unwrap()["reason"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(reasons, vec!["redirect_uri_mismatch", "unknown_client"]);
    assert_eq!(ev[0].client_id.as_deref(), Some(c.client_id.as_str()));
}
