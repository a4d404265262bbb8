//! Rules of `sso`: issuing a single-use SSO token and redeeming it once in
//! the browser.

use std::collections::BTreeMap;

use gatehouse_core::client::GrantType;
use gatehouse_core::{ScopeSet, UserStatus};
use gatehouse_engine::directory::ClientInput;
use gatehouse_engine::model::{Client, User};
use gatehouse_engine::sessions::BrowserContext;
use gatehouse_engine::sso::SsoError;
use gatehouse_engine::{EngineError, IssuedSsoToken};

use crate::harness::*;

/// A single_sign_on client that may name any user.
fn sso_client(hub: &Hub) -> Client {
    hub.client(ClientInput {
        name: "Billing".into(),
        grant_types: vec![GrantType::SingleSignOn],
        scopes: ScopeSet::parse("clientarea:sso"),
        may_name_users: true,
        ..Default::default()
    })
    .0
}

fn issue(
    hub: &Hub,
    client: &Client,
    user: &User,
    destination: Option<&str>,
    kv: &[(&str, &str)],
) -> Result<IssuedSsoToken, EngineError> {
    let params: BTreeMap<String, String> = kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    hub.engine.issue_sso_token(client, user.id, destination, params)
}

/// A token to the client area home for a new user.
fn token_for_new_user(hub: &Hub) -> (User, String) {
    let client = sso_client(hub);
    let user = hub.user("ann@example.com");
    let token = issue(hub, &client, &user, None, &[]).unwrap().token;
    (user, token)
}

fn audits(hub: &Hub, kind: &str) -> Vec<gatehouse_engine::model::AuditEvent> {
    hub.engine.audit_events(Some(kind), 10).unwrap()
}

// ---- redeeming ----------------------------------------------------------

#[test]
fn an_sso_token_is_redeemed_once() {
    let hub = Hub::new();
    let (_, token) = token_for_new_user(&hub);
    assert!(hub.engine.redeem_sso_token(&token, &ctx()).is_ok());
    let again = hub.engine.redeem_sso_token(&token, &ctx()).unwrap_err();
    assert!(matches!(again, SsoError::BadToken), "{again:?}");
    assert_eq!(audits(&hub, "sso.failed").len(), 1);
}

#[test]
fn an_sso_token_expires_after_60_seconds() {
    let hub = Hub::new();
    let (_, token) = token_for_new_user(&hub);
    hub.clock.advance(61);
    let err = hub.engine.redeem_sso_token(&token, &ctx()).unwrap_err();
    assert!(matches!(err, SsoError::BadToken), "{err:?}");
}

#[test]
fn an_sso_token_is_still_good_just_before_60_seconds() {
    let hub = Hub::new();
    let (_, token) = token_for_new_user(&hub);
    hub.clock.advance(59);
    assert!(hub.engine.redeem_sso_token(&token, &ctx()).is_ok());
}

#[test]
fn an_sso_token_never_lives_longer_than_60_seconds() {
    let hub = Hub::with(|cfg| cfg.sso_ttl = 3600);
    let client = sso_client(&hub);
    let user = hub.user("ann@example.com");
    let issued = issue(&hub, &client, &user, None, &[]).unwrap();
    assert_eq!(issued.expires_in, 60);
    hub.clock.advance(61);
    assert!(matches!(hub.engine.redeem_sso_token(&issued.token, &ctx()), Err(SsoError::BadToken)));
}

#[test]
fn an_unknown_sso_token_is_a_bad_token() {
    let hub = Hub::new();
    let err = hub.engine.redeem_sso_token("no-such-token", &ctx()).unwrap_err();
    assert!(matches!(err, SsoError::BadToken), "{err:?}");
    assert_eq!(audits(&hub, "sso.failed").len(), 1);
}

#[test]
fn a_closed_users_sso_token_is_refused_as_closed_and_audited() {
    let hub = Hub::new();
    let (user, token) = token_for_new_user(&hub);
    hub.engine.set_user_status(user.id, UserStatus::Closed).unwrap();
    let err = hub.engine.redeem_sso_token(&token, &ctx()).unwrap_err();
    assert!(matches!(err, SsoError::Closed), "{err:?}");
    let denied = audits(&hub, "sso.denied");
    assert_eq!(denied.len(), 1);
    assert_eq!(denied[0].user_id, Some(user.id));
    assert!(denied[0].message.contains("\"Closed\""), "{}", denied[0].message);
}

#[test]
fn sso_switched_off_for_the_user_is_disabled_and_audited() {
    let hub = Hub::new();
    let (user, token) = token_for_new_user(&hub);
    hub.engine.set_user_allow_sso(user.id, false).unwrap();
    let err = hub.engine.redeem_sso_token(&token, &ctx()).unwrap_err();
    assert!(matches!(err, SsoError::Disabled), "{err:?}");
    let denied = audits(&hub, "sso.denied");
    assert_eq!(denied.len(), 1);
    assert!(denied[0].message.contains("per configuration"), "{}", denied[0].message);
}

#[test]
fn a_redeemed_token_signs_in_its_own_user() {
    let hub = Hub::new();
    hub.user("someone-else@example.com");
    let (user, token) = token_for_new_user(&hub);
    let login = hub.engine.redeem_sso_token(&token, &ctx()).unwrap();
    assert_eq!(login.session.user_id, user.id);
    assert_eq!(login.session.via, "sso");
    let (session, who) = hub.engine.session_from_cookie(&login.cookie).unwrap().expect("a live session");
    assert_eq!(session.id, login.session.id);
    assert_eq!(who.id, user.id);
    let ok = audits(&hub, "sso.login");
    assert_eq!(ok.len(), 1);
    assert_eq!(ok[0].user_id, Some(user.id));
}

#[test]
fn redeeming_ends_the_browsers_previous_session() {
    let hub = Hub::new();
    let earlier = hub.user("earlier@example.com");
    let old = hub.engine.sign_in(earlier.id, "password", &ctx()).unwrap();
    let (user, token) = token_for_new_user(&hub);
    let browser = BrowserContext { previous: Some(&old.session), ..ctx() };
    let login = hub.engine.redeem_sso_token(&token, &browser).unwrap();
    assert_eq!(login.session.user_id, user.id);
    assert!(hub.engine.session_from_cookie(&old.cookie).unwrap().is_none());
    assert!(hub.engine.session_from_cookie(&login.cookie).unwrap().is_some());
}

// ---- destinations -------------------------------------------------------

#[test]
fn without_a_destination_the_browser_lands_on_the_client_area_home() {
    let hub = Hub::new();
    let (_, token) = token_for_new_user(&hub);
    let login = hub.engine.redeem_sso_token(&token, &ctx()).unwrap();
    assert_eq!(login.redirect, format!("{ISSUER}/clientarea.php"));
}

#[test]
fn a_destination_resolves_against_the_client_area_url() {
    let hub = Hub::with(|cfg| cfg.client_area_url = "https://billing.example.com".into());
    let client = sso_client(&hub);
    let user = hub.user("ann@example.com");
    let issued = issue(&hub, &client, &user, Some("clientarea:product_details"), &[("service_id", "42")]).unwrap();
    assert_eq!(issued.scope, "clientarea:sso clientarea:product_details");
    let login = hub.engine.redeem_sso_token(&issued.token, &ctx()).unwrap();
    assert_eq!(login.redirect, "https://billing.example.com/clientarea.php?action=productdetails&id=42");
}

#[test]
fn a_destination_missing_its_parameter_is_refused_at_issue() {
    let hub = Hub::new();
    let client = sso_client(&hub);
    let user = hub.user("ann@example.com");
    let err = issue(&hub, &client, &user, Some("clientarea:product_details"), &[]).unwrap_err();
    assert!(matches!(err, EngineError::Invalid(_)), "{err:?}");
}

#[test]
fn a_destination_parameter_that_could_add_to_the_query_is_refused_at_issue() {
    let hub = Hub::new();
    let client = sso_client(&hub);
    let user = hub.user("ann@example.com");
    let err = issue(&hub, &client, &user, Some("clientarea:product_details"), &[("service_id", "1&x=2")]).unwrap_err();
    assert!(matches!(err, EngineError::Invalid(_)), "{err:?}");
}

#[test]
fn an_unknown_destination_is_refused_at_issue() {
    let hub = Hub::new();
    let client = sso_client(&hub);
    let user = hub.user("ann@example.com");
    for bad in ["clientarea:nowhere", "openid"] {
        let err = issue(&hub, &client, &user, Some(bad), &[]).unwrap_err();
        assert!(matches!(err, EngineError::Invalid(_)), "{bad}: {err:?}");
    }
}

// ---- who may issue ------------------------------------------------------

#[test]
fn a_client_without_the_single_sign_on_grant_cannot_issue() {
    let hub = Hub::new();
    let (client, _) = hub.web_client();
    let user = hub.user("ann@example.com");
    let err = issue(&hub, &client, &user, None, &[]).unwrap_err();
    assert!(matches!(err, EngineError::Invalid(_)), "{err:?}");
}

#[test]
fn no_token_is_issued_for_a_closed_user() {
    let hub = Hub::new();
    let client = sso_client(&hub);
    let user = hub.user("ann@example.com");
    hub.engine.set_user_status(user.id, UserStatus::Closed).unwrap();
    let err = issue(&hub, &client, &user, None, &[]).unwrap_err();
    assert!(matches!(err, EngineError::Invalid(_)), "{err:?}");
}

#[test]
fn no_token_is_issued_while_sso_is_switched_off() {
    let hub = Hub::new();
    let client = sso_client(&hub);
    let user = hub.user("ann@example.com");
    hub.engine.set_user_allow_sso(user.id, false).unwrap();
    let err = issue(&hub, &client, &user, None, &[]).unwrap_err();
    assert!(matches!(err, EngineError::Invalid(_)), "{err:?}");
}

/// Members issue: with no client area configured, an SSO token lands on
/// the member's account page, not on a client-area path that would 404.
#[test]
fn without_a_client_area_sso_lands_on_the_account_page() {
    let hub = Hub::with(|cfg| cfg.client_area_configured = false);
    let user = hub.user("lands@example.com");
    let reg = hub
        .engine
        .register_client(gatehouse_engine::directory::ClientInput {
            name: "SSO".into(),
            grant_types: vec![gatehouse_core::GrantType::SingleSignOn],
            scopes: gatehouse_core::ScopeSet::parse("clientarea:sso clientarea:invoices"),
            may_name_users: true,
            ..Default::default()
        })
        .unwrap();
    let t = hub.engine.issue_sso_token(&reg.client, user.id, Some("clientarea:invoices"), Default::default()).unwrap();
    let login = hub.engine.redeem_sso_token(&t.token, &ctx()).unwrap();
    assert_eq!(login.redirect, format!("{ISSUER}/account"));
}
