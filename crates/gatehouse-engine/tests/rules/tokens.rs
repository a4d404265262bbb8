//! Rules of `tokens`: using and retiring tokens — userinfo, introspection,
//! revocation and RP-initiated logout.

use gatehouse_core::{OAuthErrorCode, UserStatus};
use gatehouse_engine::directory::ClientInput;
use gatehouse_engine::model::Client;
use gatehouse_engine::oauth::tokens::BearerSources;
use gatehouse_engine::oauth::OAuthError;

use crate::harness::*;
use crate::token::{enc, introspect, refresh, tokens_with, userinfo};

const BYE: &str = "https://app.example.com/bye";

fn revoke(hub: &Hub, client: &Client, secret: &str, token: &str) -> Result<(), OAuthError> {
    hub.engine.revoke(&params(&format!("token={}", enc(token))), &basic(&client.client_id, secret))
}

/// A web client that may send the browser to [`BYE`] after logout.
fn logout_client(hub: &Hub) -> (Client, String) {
    hub.client(ClientInput { post_logout_redirect_uris: vec![BYE.into()], ..web_client_input() })
}

// ---- userinfo -----------------------------------------------------------

#[test]
fn userinfo_accepts_a_bearer_token_in_the_header() {
    let hub = Hub::new().with_keys();
    let (client, secret) = hub.web_client();
    let user = hub.user("ann@example.com");
    let t = tokens_with(&hub, &client, &secret, &user, "openid profile");
    let info = userinfo(&hub, &t.access_token).unwrap();
    assert_eq!(info.get("name").and_then(|v| v.as_str()), Some("Test User"));
}

#[test]
fn userinfo_refuses_a_token_sent_two_ways_at_once() {
    let hub = Hub::new();
    let sources = BearerSources { header: Some("a".into()), query: None, body: Some("a".into()) };
    let err = hub.engine.userinfo(&sources).unwrap_err();
    assert_eq!(err.code, OAuthErrorCode::InvalidRequest);
    assert_eq!(err.status, 400);
}

#[test]
fn userinfo_without_a_token_is_invalid_request_with_status_401() {
    let hub = Hub::new();
    let err = hub.engine.userinfo(&BearerSources::default()).unwrap_err();
    assert_eq!(err.code, OAuthErrorCode::InvalidRequest);
    assert_eq!(err.status, 401);
}

#[test]
fn userinfo_with_an_unknown_token_is_invalid_token() {
    let hub = Hub::new();
    let err = userinfo(&hub, "no-such-token").unwrap_err();
    assert_eq!(err.code, OAuthErrorCode::InvalidToken);
    assert_eq!(err.status, 401);
}

#[test]
fn userinfo_with_an_expired_token_is_invalid_token() {
    let hub = Hub::new();
    let (client, secret) = hub.web_client();
    let user = hub.user("ann@example.com");
    let t = tokens_with(&hub, &client, &secret, &user, "profile");
    hub.clock.advance(hub.engine.config.access_ttl + 1);
    let err = userinfo(&hub, &t.access_token).unwrap_err();
    assert_eq!(err.code, OAuthErrorCode::InvalidToken);
    assert_eq!(err.status, 401);
    assert!(err.description.contains("has expired"), "{}", err.description);
}

#[test]
fn userinfo_needs_the_openid_scope() {
    let hub = Hub::new();
    let (client, secret) = hub.web_client();
    let user = hub.user("ann@example.com");
    let t = tokens_with(&hub, &client, &secret, &user, "profile email");
    let err = userinfo(&hub, &t.access_token).unwrap_err();
    assert_eq!(err.code, OAuthErrorCode::InsufficientScope);
    assert_eq!(err.status, 403);
}

#[test]
fn userinfo_releases_the_email_only_with_the_email_scope() {
    let hub = Hub::new().with_keys();
    let (client, secret) = hub.web_client();
    let user = hub.user("ann@example.com");
    let without = tokens_with(&hub, &client, &secret, &user, "openid profile");
    let info = userinfo(&hub, &without.access_token).unwrap();
    assert_eq!(info.get("email"), None);
    assert_eq!(info.get("email_verified"), None);
    let with = tokens_with(&hub, &client, &secret, &user, "openid email");
    let info = userinfo(&hub, &with.access_token).unwrap();
    assert_eq!(info.get("email").and_then(|v| v.as_str()), Some("ann@example.com"));
    assert_eq!(info.get("name"), None);
}

#[test]
fn userinfo_sub_is_the_users_uuid() {
    let hub = Hub::new().with_keys();
    let (client, secret) = hub.web_client();
    let user = hub.user("ann@example.com");
    let t = tokens_with(&hub, &client, &secret, &user, "openid");
    let info = userinfo(&hub, &t.access_token).unwrap();
    assert_eq!(info.get("sub").and_then(|v| v.as_str()), Some(user.uuid.as_str()));
    assert_ne!(user.uuid, user.id.to_string());
}

// ---- introspection ------------------------------------------------------

#[test]
fn introspection_of_an_own_live_token_says_who_and_until_when() {
    let hub = Hub::new();
    let (client, secret) = hub.web_client();
    let user = hub.user("ann@example.com");
    let t = tokens_with(&hub, &client, &secret, &user, "profile");
    let i = introspect(&hub, &client, &secret, &t.access_token);
    assert!(i.active);
    assert_eq!(i.token_type.as_deref(), Some("Bearer"));
    assert_eq!(i.sub.as_deref(), Some(user.uuid.as_str()));
    assert_eq!(i.username.as_deref(), Some("ann@example.com"));
    assert_eq!(i.exp, Some(T0 + hub.engine.config.access_ttl));
    assert_eq!(i.client_id.as_deref(), Some(client.client_id.as_str()));
    assert_eq!(i.scope.as_deref(), Some("profile"));
    assert_eq!(i.iss.as_deref(), Some(ISSUER));
}

#[test]
fn introspection_of_another_clients_token_is_inactive() {
    let hub = Hub::new();
    let (client, secret) = hub.web_client();
    let (other, other_secret) = hub.web_client();
    let user = hub.user("ann@example.com");
    let t = tokens_with(&hub, &client, &secret, &user, "profile");
    let i = introspect(&hub, &other, &other_secret, &t.access_token);
    assert_eq!(i, gatehouse_engine::oauth::Introspection::inactive());
}

#[test]
fn introspection_of_a_revoked_token_is_inactive() {
    let hub = Hub::new();
    let (client, secret) = hub.web_client();
    let user = hub.user("ann@example.com");
    let t = tokens_with(&hub, &client, &secret, &user, "profile");
    revoke(&hub, &client, &secret, &t.access_token).unwrap();
    assert!(!introspect(&hub, &client, &secret, &t.access_token).active);
}

#[test]
fn introspection_of_an_expired_token_is_inactive() {
    let hub = Hub::new();
    let (client, secret) = hub.web_client();
    let user = hub.user("ann@example.com");
    let t = tokens_with(&hub, &client, &secret, &user, "profile");
    hub.clock.advance(hub.engine.config.access_ttl + 1);
    assert!(!introspect(&hub, &client, &secret, &t.access_token).active);
}

#[test]
fn introspection_of_a_refresh_token_reports_its_type() {
    let hub = Hub::new();
    let (client, secret) = hub.web_client();
    let user = hub.user("ann@example.com");
    let rt = tokens_with(&hub, &client, &secret, &user, "profile").refresh_token.unwrap();
    let i = introspect(&hub, &client, &secret, &rt);
    assert!(i.active);
    assert_eq!(i.token_type.as_deref(), Some("refresh_token"));
    assert_eq!(i.exp, Some(T0 + hub.engine.config.refresh_ttl));
}

#[test]
fn introspection_of_a_rotated_out_refresh_token_is_inactive() {
    let hub = Hub::new();
    let (client, secret) = hub.web_client();
    let user = hub.user("ann@example.com");
    let rt = tokens_with(&hub, &client, &secret, &user, "profile").refresh_token.unwrap();
    refresh(&hub, &client, &secret, &rt, "").unwrap();
    assert!(!introspect(&hub, &client, &secret, &rt).active);
}

#[test]
fn introspection_of_an_authorization_code_is_inactive() {
    let hub = Hub::new();
    let (client, secret) = hub.web_client();
    let user = hub.user("ann@example.com");
    let code = hub.code(&client, &user, "&scope=profile");
    assert!(!introspect(&hub, &client, &secret, &code).active);
}

#[test]
fn introspection_of_a_closed_users_token_is_inactive() {
    let hub = Hub::new();
    let (client, secret) = hub.web_client();
    let user = hub.user("ann@example.com");
    let t = tokens_with(&hub, &client, &secret, &user, "profile");
    hub.engine.set_user_status(user.id, UserStatus::Closed).unwrap();
    assert!(!introspect(&hub, &client, &secret, &t.access_token).active);
}

#[test]
fn introspection_of_an_unknown_token_is_inactive() {
    let hub = Hub::new();
    let (client, secret) = hub.web_client();
    assert!(!introspect(&hub, &client, &secret, "no-such-token").active);
}

#[test]
fn introspection_needs_client_authentication() {
    let hub = Hub::new();
    let (client, _) = hub.web_client();
    let err = hub.engine.introspect(&params("token=x"), &basic(&client.client_id, "wrong")).unwrap_err();
    assert_eq!(err.code, OAuthErrorCode::InvalidClient);
}

// ---- revocation ---------------------------------------------------------

#[test]
fn a_revoked_access_token_is_refused_at_userinfo() {
    let hub = Hub::new();
    let (client, secret) = hub.web_client();
    let user = hub.user("ann@example.com");
    let t = tokens_with(&hub, &client, &secret, &user, "profile");
    revoke(&hub, &client, &secret, &t.access_token).unwrap();
    let err = userinfo(&hub, &t.access_token).unwrap_err();
    assert_eq!(err.code, OAuthErrorCode::InvalidToken);
}

#[test]
fn revoking_an_access_token_leaves_its_refresh_token() {
    let hub = Hub::new();
    let (client, secret) = hub.web_client();
    let user = hub.user("ann@example.com");
    let t = tokens_with(&hub, &client, &secret, &user, "profile");
    revoke(&hub, &client, &secret, &t.access_token).unwrap();
    assert!(refresh(&hub, &client, &secret, &t.refresh_token.unwrap(), "").is_ok());
}

#[test]
fn revoking_a_refresh_token_revokes_its_family() {
    let hub = Hub::new();
    let (client, secret) = hub.web_client();
    let user = hub.user("ann@example.com");
    let first = tokens_with(&hub, &client, &secret, &user, "profile");
    let second = refresh(&hub, &client, &secret, first.refresh_token.as_deref().unwrap(), "").unwrap();
    let rt = second.refresh_token.unwrap();
    revoke(&hub, &client, &secret, &rt).unwrap();
    assert!(!introspect(&hub, &client, &secret, &first.access_token).active);
    assert!(!introspect(&hub, &client, &secret, &second.access_token).active);
    assert_eq!(refresh(&hub, &client, &secret, &rt, "").unwrap_err().code, OAuthErrorCode::InvalidGrant);
}

#[test]
fn revoking_an_unknown_token_succeeds() {
    let hub = Hub::new();
    let (client, secret) = hub.web_client();
    assert_eq!(revoke(&hub, &client, &secret, "no-such-token"), Ok(()));
}

#[test]
fn revoking_another_clients_token_leaves_it_untouched() {
    let hub = Hub::new();
    let (client, secret) = hub.web_client();
    let (other, other_secret) = hub.web_client();
    let user = hub.user("ann@example.com");
    let t = tokens_with(&hub, &client, &secret, &user, "profile");
    assert_eq!(revoke(&hub, &other, &other_secret, &t.access_token), Ok(()));
    assert_eq!(revoke(&hub, &other, &other_secret, t.refresh_token.as_deref().unwrap()), Ok(()));
    assert!(introspect(&hub, &client, &secret, &t.access_token).active);
    assert!(introspect(&hub, &client, &secret, t.refresh_token.as_deref().unwrap()).active);
}

// ---- RP-initiated logout ------------------------------------------------

#[test]
fn logout_refuses_an_unregistered_post_logout_redirect_uri() {
    let hub = Hub::new();
    let (client, _) = logout_client(&hub);
    let q = format!("client_id={}&post_logout_redirect_uri={}", client.client_id, enc("https://evil.example/bye"));
    let err = hub.engine.validate_logout(&params(&q)).unwrap_err();
    assert_eq!(err.code, OAuthErrorCode::InvalidRequest);
}

#[test]
fn logout_to_a_registered_uri_carries_the_state_back() {
    let hub = Hub::new();
    let (client, _) = logout_client(&hub);
    let q = format!("client_id={}&post_logout_redirect_uri={}&state=xyz", client.client_id, enc(BYE));
    let out = hub.engine.validate_logout(&params(&q)).unwrap();
    assert_eq!(out.redirect.as_deref(), Some("https://app.example.com/bye?state=xyz"));
    assert_eq!(out.hinted_sub, None);
}

#[test]
fn logout_with_a_redirect_but_no_client_is_refused() {
    let hub = Hub::new();
    logout_client(&hub);
    let err = hub.engine.validate_logout(&params(&format!("post_logout_redirect_uri={}", enc(BYE)))).unwrap_err();
    assert_eq!(err.code, OAuthErrorCode::InvalidRequest);
}

#[test]
fn logout_refuses_a_bad_id_token_hint() {
    let hub = Hub::new();
    let err = hub.engine.validate_logout(&params("id_token_hint=not.a.jwt")).unwrap_err();
    assert_eq!(err.code, OAuthErrorCode::InvalidRequest);
}

#[test]
fn logout_refuses_a_client_id_other_than_the_hints_audience() {
    let hub = Hub::new().with_keys();
    let (client, secret) = logout_client(&hub);
    let (other, _) = logout_client(&hub);
    let user = hub.user("ann@example.com");
    let hint = tokens_with(&hub, &client, &secret, &user, "openid").id_token.unwrap();
    let q = format!("id_token_hint={}&client_id={}", enc(&hint), other.client_id);
    let err = hub.engine.validate_logout(&params(&q)).unwrap_err();
    assert_eq!(err.code, OAuthErrorCode::InvalidRequest);
}

#[test]
fn logout_with_a_valid_hint_names_its_user_and_client() {
    let hub = Hub::new().with_keys();
    let (client, secret) = logout_client(&hub);
    let user = hub.user("ann@example.com");
    let hint = tokens_with(&hub, &client, &secret, &user, "openid").id_token.unwrap();
    let q = format!("id_token_hint={}&post_logout_redirect_uri={}", enc(&hint), enc(BYE));
    let out = hub.engine.validate_logout(&params(&q)).unwrap();
    assert_eq!(out.hinted_sub.as_deref(), Some(user.uuid.as_str()));
    assert_eq!(out.redirect.as_deref(), Some(BYE));
}
