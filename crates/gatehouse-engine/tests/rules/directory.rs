//! The directory: users, clients, accounts, API credentials, and who may
//! see and change which client.

use gatehouse_core::client::GrantType;
use gatehouse_core::{ScopeSet, UserStatus};
use gatehouse_engine::directory::{api_credential_allows, Actor, ClientInput, UserInput};
use gatehouse_engine::model::ClientChanges;
use gatehouse_engine::EngineError;

use crate::harness::*;

fn invalid<T: std::fmt::Debug>(r: Result<T, EngineError>) -> String {
    match r {
        Err(EngineError::Invalid(m)) => m,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[test]
fn a_user_needs_a_valid_e_mail() {
    let hub = Hub::new();
    let r =
        hub.engine.create_user(UserInput { email: "not an address".into(), name: "X".into(), ..Default::default() });
    invalid(r);
}

#[test]
fn e_mails_are_unique_whatever_their_case() {
    let hub = Hub::new();
    hub.user("a@example.com");
    let r = hub.engine.create_user(UserInput { email: "A@EXAMPLE.com".into(), name: "X".into(), ..Default::default() });
    assert!(matches!(r, Err(EngineError::Conflict(_))), "{r:?}");
}

#[test]
fn a_new_user_is_active_allows_sso_and_has_an_opaque_uuid() {
    let hub = Hub::new();
    let u = hub.user("a@example.com");
    assert_eq!(u.status(), UserStatus::Active);
    assert!(u.allow_sso);
    assert!(u.uuid.len() >= 32 && !u.uuid.contains('@'));
    assert_ne!(u.password_hash.as_deref(), Some(PASSWORD), "only a hash is kept");
}

#[test]
fn closing_a_user_revokes_every_token_they_hold() {
    let hub = Hub::new().with_keys();
    let (c, secret) = hub.web_client();
    let user = hub.user("a@example.com");
    let t = hub.tokens(&c, &secret, &user);
    hub.engine.set_user_status(user.id, UserStatus::Closed).unwrap();
    let q = format!("token={}", t.access_token);
    assert!(!hub.engine.introspect(&params(&q), &basic(&c.client_id, &secret)).unwrap().active);
    let refresh = format!("grant_type=refresh_token&refresh_token={}", t.refresh_token.unwrap());
    assert!(hub.token(&c, &secret, &refresh).is_err());
}

#[test]
fn a_client_needs_a_name() {
    let hub = Hub::new();
    invalid(hub.engine.register_client(ClientInput { name: " ".into(), ..web_client_input() }));
}

#[test]
fn a_code_flow_client_needs_a_redirect_uri() {
    let hub = Hub::new();
    invalid(hub.engine.register_client(ClientInput { redirect_uris: vec![], ..web_client_input() }));
}

#[test]
fn redirect_uris_must_be_absolute_without_fragment() {
    let hub = Hub::new();
    for bad in ["/relative", "https://app.example.com/cb#frag", "not a uri"] {
        invalid(hub.engine.register_client(ClientInput { redirect_uris: vec![bad.into()], ..web_client_input() }));
    }
}

#[test]
fn a_public_client_cannot_use_client_credentials_or_single_sign_on() {
    let hub = Hub::new();
    for g in [GrantType::ClientCredentials, GrantType::SingleSignOn] {
        invalid(hub.engine.register_client(ClientInput {
            is_public: true,
            grant_types: vec![GrantType::AuthorizationCode, g],
            ..web_client_input()
        }));
    }
}

#[test]
fn a_public_client_has_no_secret() {
    let hub = Hub::new();
    let reg = hub
        .engine
        .register_client(ClientInput {
            is_public: true,
            grant_types: vec![GrantType::AuthorizationCode],
            ..web_client_input()
        })
        .unwrap();
    assert!(reg.secret.is_none() && reg.client.secret_digest.is_none());
}

#[test]
fn may_name_users_is_only_for_unbound_single_sign_on_clients() {
    let hub = Hub::new();
    invalid(hub.engine.register_client(ClientInput { may_name_users: true, ..web_client_input() }));
    let owner = hub.user("o@example.com");
    let acc = hub.engine.create_account(owner.id, "Acme").unwrap();
    invalid(hub.engine.register_client(ClientInput {
        name: "SSO".into(),
        grant_types: vec![GrantType::SingleSignOn],
        scopes: ScopeSet::parse("clientarea:sso"),
        bound_account_id: Some(acc.id),
        may_name_users: true,
        ..Default::default()
    }));
}

#[test]
fn unknown_scopes_and_algorithms_are_refused_at_registration() {
    let hub = Hub::new();
    invalid(hub.engine.register_client(ClientInput { scopes: ScopeSet::parse("openid nope"), ..web_client_input() }));
    invalid(hub.engine.register_client(ClientInput { id_token_alg: Some("HS256".into()), ..web_client_input() }));
}

#[test]
fn client_ids_never_contain_a_colon_and_secrets_are_kept_as_digests() {
    let hub = Hub::new();
    let (c, secret) = hub.client(ClientInput { client_id_prefix: Some("ACME Hosting:x".into()), ..web_client_input() });
    assert!(!c.client_id.contains(':') && c.client_id.starts_with("ACME-HOSTING-X."), "{}", c.client_id);
    assert_ne!(c.secret_digest.as_deref(), Some(secret.as_str()));
    assert!(hub.engine.authenticate_client(&c.client_id, &secret).unwrap().is_some());
    assert!(hub.engine.authenticate_client(&c.client_id, "wrong").unwrap().is_none());
    assert!(hub.engine.authenticate_client("unknown", &secret).unwrap().is_none());
}

#[test]
fn resetting_a_secret_retires_the_old_one() {
    let hub = Hub::new();
    let (c, old) = hub.web_client();
    let (_, new) = hub.engine.update_client(c.id, ClientChanges::default(), true).unwrap();
    let new = new.unwrap();
    assert!(hub.engine.authenticate_client(&c.client_id, &old).unwrap().is_none());
    assert!(hub.engine.authenticate_client(&c.client_id, &new).unwrap().is_some());
}

#[test]
fn an_update_is_validated_like_a_registration() {
    let hub = Hub::new();
    let (c, _) = hub.web_client();
    let r = hub.engine.update_client(
        c.id,
        ClientChanges { redirect_uris: Some(vec!["/relative".into()]), ..Default::default() },
        false,
    );
    invalid(r);
}

#[test]
fn a_plugin_sees_and_changes_only_the_clients_it_created() {
    let hub = Hub::new();
    let (operators, _) = hub.web_client();
    let mine = hub.engine.register_client_as(Actor::Plugin("whmcs"), web_client_input()).unwrap().client;
    let theirs = hub.engine.register_client_as(Actor::Plugin("ipb"), web_client_input()).unwrap().client;
    let me = Actor::Plugin("whmcs");
    let seen: Vec<i64> = hub.engine.clients_as(me).unwrap().iter().map(|c| c.id).collect();
    assert_eq!(seen, vec![mine.id]);
    for other in [&operators, &theirs] {
        assert!(matches!(hub.engine.find_client_as(me, &other.client_id), Err(EngineError::NotFound(_))));
        let r = hub.engine.update_client_as(me, other.id, ClientChanges::default(), true);
        assert!(matches!(r, Err(EngineError::NotFound(_))));
        assert!(matches!(hub.engine.remove_client_as(me, other.id), Err(EngineError::NotFound(_))));
    }
    assert!(hub.engine.update_client_as(me, mine.id, ClientChanges::default(), true).is_ok());
    assert_eq!(hub.engine.clients_as(Actor::Operator).unwrap().len(), 3);
}

#[test]
fn a_plugin_cannot_create_a_client_that_names_users() {
    let hub = Hub::new();
    let r = hub.engine.register_client_as(
        Actor::Plugin("whmcs"),
        ClientInput {
            name: "SSO".into(),
            grant_types: vec![GrantType::SingleSignOn],
            scopes: ScopeSet::parse("clientarea:sso"),
            may_name_users: true,
            ..Default::default()
        },
    );
    invalid(r);
}

#[test]
fn adding_a_member_twice_is_a_conflict() {
    let hub = Hub::new();
    let owner = hub.user("o@example.com");
    let member = hub.user("m@example.com");
    let acc = hub.engine.create_account(owner.id, "Acme").unwrap();
    assert!(hub.engine.is_account_member(acc.id, owner.id).unwrap(), "the owner is a member");
    hub.engine.add_account_member(acc.id, member.id).unwrap();
    assert!(matches!(hub.engine.add_account_member(acc.id, member.id), Err(EngineError::Conflict(_))));
    assert!(matches!(hub.engine.add_account_member(acc.id + 99, member.id), Err(EngineError::NotFound(_))));
    assert_eq!(hub.engine.audit_events(Some("account.member_added"), 10).unwrap().len(), 1);
}

#[test]
fn an_account_needs_an_existing_owner() {
    let hub = Hub::new();
    assert!(matches!(hub.engine.create_account(4242, "Ghost"), Err(EngineError::NotFound(_))));
}

#[test]
fn api_credentials_check_role_addresses_and_actions() {
    let hub = Hub::new();
    invalid(hub.engine.create_api_credential("d", Some("superuser"), &[], &[]));
    invalid(hub.engine.create_api_credential("d", Some("authentication"), &[], &["10.0.0.300".into()]));
    invalid(hub.engine.create_api_credential("d", None, &["Drop;Table".into()], &[]));
    invalid(hub.engine.create_api_credential("d", None, &[], &[]));
    let made =
        hub.engine.create_api_credential("d", Some("authentication"), &["GetClientsDetails".into()], &[]).unwrap();
    let cred = hub.engine.authenticate_api_credential(&made.credential.identifier, &made.secret).unwrap().unwrap();
    assert!(api_credential_allows(&cred, "createssotoken"));
    assert!(api_credential_allows(&cred, "GetClientsDetails"));
    assert!(!api_credential_allows(&cred, "DeleteClient"));
    assert!(hub.engine.authenticate_api_credential(&made.credential.identifier, "wrong").unwrap().is_none());
}

#[test]
fn a_registered_redirect_matches_exactly_or_with_a_query() {
    let hub = Hub::new();
    hub.web_client();
    assert!(hub.engine.is_registered_redirect(REDIRECT).unwrap());
    assert!(hub.engine.is_registered_redirect(&format!("{REDIRECT}?a=1")).unwrap());
    assert!(!hub.engine.is_registered_redirect(&format!("{REDIRECT}/x")).unwrap());
    assert!(!hub.engine.is_registered_redirect("https://app.example.com/c").unwrap());
}

#[test]
fn the_sso_switch_is_stored_and_audited() {
    let hub = Hub::new();
    let u = hub.user("a@example.com");
    assert!(!hub.engine.set_user_allow_sso(u.id, false).unwrap().allow_sso);
    assert_eq!(hub.engine.audit_events(Some("user.sso"), 10).unwrap().len(), 1);
    assert!(matches!(hub.engine.set_user_allow_sso(9999, true), Err(EngineError::NotFound(_))));
}

/// Hardening #9: a logo URL is shown on pages, so only https (http on the
/// loopback host) is stored; `javascript:` never.
#[test]
fn a_logo_must_be_an_https_url() {
    let hub = Hub::new();
    for bad in
        ["javascript:alert(1)", "data:image/png;base64,AAAA", "/logo.png", "http://evil.example/logo.png", "ftp://x/y"]
    {
        invalid(hub.engine.register_client(ClientInput { logo_uri: bad.into(), ..web_client_input() }));
    }
    for good in ["", "https://cdn.example.com/logo.png", "http://127.0.0.1:8080/logo.png"] {
        assert!(
            hub.engine.register_client(ClientInput { logo_uri: good.into(), ..web_client_input() }).is_ok(),
            "{good}"
        );
    }
    let (c, _) = hub.web_client();
    let r = hub.engine.update_client(
        c.id,
        ClientChanges { logo_uri: Some("javascript:alert(1)".into()), ..Default::default() },
        false,
    );
    invalid(r);
}

/// Speed issue: clients are cached for a second on the token path; a
/// secret reset here applies at once, and a new secret always works at once.
#[test]
fn a_cached_client_never_hides_a_reset_secret() {
    let hub = Hub::new();
    let (c, old) = hub.service_client();
    assert!(hub.engine.authenticate_client(&c.client_id, &old).unwrap().is_some(), "now cached");
    let (_, new) = hub.engine.update_client(c.id, ClientChanges::default(), true).unwrap();
    let new = new.unwrap();
    assert!(
        hub.engine.authenticate_client(&c.client_id, &old).unwrap().is_none(),
        "the old secret is dead here at once"
    );
    assert!(hub.engine.authenticate_client(&c.client_id, &new).unwrap().is_some());
    hub.engine.remove_client(c.id).unwrap();
    assert!(hub.engine.authenticate_client(&c.client_id, &new).unwrap().is_none(), "a removed client is gone at once");
}
