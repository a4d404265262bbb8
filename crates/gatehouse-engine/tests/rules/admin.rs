//! Administration: the first administrator, the admin role, who may use
//! the admin API, and the admin operations' rules.

use gatehouse_core::client::GrantType;
use gatehouse_core::{ScopeSet, UserStatus};
use gatehouse_engine::admin::{AdminPrincipal, AdminTokenRefusal, SetupError, UserPatch, SETUP_TOKEN_SECS};
use gatehouse_engine::directory::{Actor, ClientInput};
use gatehouse_engine::sessions::LoginError;
use gatehouse_engine::EngineError;

use crate::harness::*;

const ADMIN_PASSWORD: &str = "a long admin password";

fn admin_client(hub: &Hub) -> (gatehouse_engine::model::Client, String) {
    hub.client(ClientInput {
        name: "ops bot".into(),
        grant_types: vec![GrantType::ClientCredentials],
        scopes: ScopeSet::parse("admin"),
        ..Default::default()
    })
}

#[test]
fn the_setup_link_makes_one_first_administrator_once() {
    let hub = Hub::new();
    let token = hub.engine.issue_setup_token().unwrap().expect("no admin yet");
    assert!(hub.engine.setup_token_valid(&token).unwrap());
    assert!(!hub.engine.setup_token_valid("guess").unwrap());
    let admin = hub.engine.complete_setup(&token, "Root@Example.com", "Ro Ot", ADMIN_PASSWORD).unwrap();
    assert!(admin.is_admin && admin.email_verified);
    assert_eq!(admin.email, "root@example.com");
    // Used: a second redemption, and any new link, are refused.
    assert!(matches!(
        hub.engine.complete_setup(&token, "eve@example.com", "", ADMIN_PASSWORD),
        Err(SetupError::InvalidToken)
    ));
    assert_eq!(hub.engine.issue_setup_token().unwrap(), None);
    assert!(hub.engine.check_password("root@example.com", ADMIN_PASSWORD, IP).is_ok());
}

#[test]
fn a_setup_link_expires_after_an_hour() {
    let hub = Hub::new();
    let token = hub.engine.issue_setup_token().unwrap().unwrap();
    hub.clock.advance(SETUP_TOKEN_SECS);
    assert!(matches!(
        hub.engine.complete_setup(&token, "root@example.com", "", ADMIN_PASSWORD),
        Err(SetupError::InvalidToken)
    ));
    assert!(!hub.engine.admin_exists().unwrap());
}

#[test]
fn a_new_setup_link_replaces_the_old_one() {
    let hub = Hub::new();
    let old = hub.engine.issue_setup_token().unwrap().unwrap();
    let new = hub.engine.issue_setup_token().unwrap().unwrap();
    assert!(!hub.engine.setup_token_valid(&old).unwrap());
    assert!(hub.engine.setup_token_valid(&new).unwrap());
}

#[test]
fn a_setup_link_redeemed_concurrently_makes_one_administrator() {
    let hub = Hub::new();
    let token = hub.engine.issue_setup_token().unwrap().unwrap();
    let wins: usize = std::thread::scope(|s| {
        let handles: Vec<_> = (0..6)
            .map(|i| {
                let (engine, token) = (&hub.engine, &token);
                s.spawn(move || {
                    engine.complete_setup(token, &format!("admin{i}@example.com"), "", ADMIN_PASSWORD).is_ok() as usize
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert_eq!(wins, 1);
    assert_eq!(hub.engine.search_users(None, None, 100).unwrap().iter().filter(|u| u.is_admin).count(), 1);
}

#[test]
fn setup_refuses_a_short_password_and_keeps_the_link() {
    let hub = Hub::new();
    let token = hub.engine.issue_setup_token().unwrap().unwrap();
    assert!(matches!(
        hub.engine.complete_setup(&token, "root@example.com", "", "short"),
        Err(SetupError::Engine(EngineError::Invalid(_)))
    ));
    assert!(hub.engine.setup_token_valid(&token).unwrap(), "a typo does not burn the link");
}

#[test]
fn the_bootstrap_environment_works_only_on_a_hub_without_administrators() {
    let hub = Hub::new();
    let existing = hub.user("ops@example.com");
    let admin = hub.engine.bootstrap_admin("ops@example.com", ADMIN_PASSWORD).unwrap().expect("made");
    assert_eq!(admin.id, existing.id, "an existing user is promoted, not duplicated");
    assert!(hub.engine.check_password("ops@example.com", ADMIN_PASSWORD, IP).is_ok());
    assert_eq!(hub.engine.bootstrap_admin("other@example.com", ADMIN_PASSWORD).unwrap(), None);
    assert!(hub.engine.find_user("other@example.com").is_err());
}

#[test]
fn the_last_administrator_can_be_neither_demoted_nor_deleted() {
    let hub = Hub::new();
    let a = hub.engine.bootstrap_admin("a@example.com", ADMIN_PASSWORD).unwrap().unwrap();
    assert!(matches!(hub.engine.set_admin(a.id, false), Err(EngineError::Invalid(_))));
    assert!(matches!(hub.engine.delete_user(a.id), Err(EngineError::Invalid(_))));
    let b = hub.user("b@example.com");
    hub.engine.set_admin(b.id, true).unwrap();
    hub.engine.set_admin(a.id, false).unwrap();
    assert!(!hub.engine.user_by_id(a.id).unwrap().is_admin);
}

#[test]
fn an_unlock_lets_a_locked_out_member_sign_in_at_once() {
    let hub = Hub::new();
    let u = hub.user("ada@example.com");
    for _ in 0..5 {
        assert!(matches!(
            hub.engine.check_password("ada@example.com", "wrong", "203.0.113.1"),
            Err(LoginError::BadCredentials)
        ));
    }
    assert!(matches!(
        hub.engine.check_password("ada@example.com", PASSWORD, "203.0.113.2"),
        Err(LoginError::RateLimited)
    ));
    hub.engine.unlock_user(u.id).unwrap();
    assert!(hub.engine.check_password("ada@example.com", PASSWORD, "203.0.113.2").is_ok());
    // Counting starts again after the unlock.
    for _ in 0..5 {
        let _ = hub.engine.check_password("ada@example.com", "wrong", "203.0.113.3");
    }
    assert!(matches!(
        hub.engine.check_password("ada@example.com", PASSWORD, "203.0.113.4"),
        Err(LoginError::RateLimited)
    ));
}

#[test]
fn only_an_admin_scoped_client_credentials_token_opens_the_admin_api() {
    let hub = Hub::new();
    let (bot, secret) = admin_client(&hub);
    let token = hub.token(&bot, &secret, "grant_type=client_credentials&scope=admin").unwrap().access_token;
    assert_eq!(hub.engine.admin_from_bearer(&token), Ok(AdminPrincipal::Client { client_id: bot.client_id.clone() }));
    // Another client's token.
    let (svc, svc_secret) = hub.service_client();
    let other = hub.token(&svc, &svc_secret, "grant_type=client_credentials").unwrap().access_token;
    assert_eq!(hub.engine.admin_from_bearer(&other), Err(AdminTokenRefusal::InsufficientScope));
    assert_eq!(hub.engine.admin_from_bearer("nonsense"), Err(AdminTokenRefusal::InvalidToken));
    // Taking the scope away from the client closes its live tokens too.
    hub.engine
        .update_client(
            bot.id,
            gatehouse_engine::model::ClientChanges { scopes: Some(ScopeSet::parse("")), ..Default::default() },
            false,
        )
        .unwrap();
    hub.clock.advance(2); // past the client cache
    assert_eq!(hub.engine.admin_from_bearer(&token), Err(AdminTokenRefusal::InsufficientScope));
}

#[test]
fn a_plugin_can_never_give_a_client_the_admin_scope() {
    let hub = Hub::new();
    let input = ClientInput {
        name: "sneaky".into(),
        grant_types: vec![GrantType::ClientCredentials],
        scopes: ScopeSet::parse("admin"),
        ..Default::default()
    };
    assert!(matches!(
        hub.engine.register_client_as(Actor::Plugin("whmcs"), input.clone()),
        Err(EngineError::Invalid(_))
    ));
    let plain = ClientInput { scopes: ScopeSet::parse(""), ..input };
    let reg = hub.engine.register_client_as(Actor::Plugin("whmcs"), plain).unwrap();
    let widen = gatehouse_engine::model::ClientChanges { scopes: Some(ScopeSet::parse("admin")), ..Default::default() };
    assert!(matches!(
        hub.engine.update_client_as(Actor::Plugin("whmcs"), reg.client.id, widen, false),
        Err(EngineError::Invalid(_))
    ));
}

#[test]
fn only_an_administrators_live_session_is_an_admin_principal() {
    let hub = Hub::new();
    let member = hub.user("member@example.com");
    let admin = hub.user("boss@example.com");
    hub.engine.set_admin(admin.id, true).unwrap();
    let member_cookie = hub.engine.sign_in(member.id, "password", &ctx()).unwrap().cookie;
    let admin_cookie = hub.engine.sign_in(admin.id, "password", &ctx()).unwrap().cookie;
    assert_eq!(hub.engine.admin_from_session(&member_cookie).unwrap(), None);
    assert_eq!(
        hub.engine.admin_from_session(&admin_cookie).unwrap(),
        Some(AdminPrincipal::User { id: admin.id, email: admin.email.clone() })
    );
    let other = hub.user("other-admin@example.com");
    hub.engine.set_admin(other.id, true).unwrap();
    hub.engine.set_user_status(admin.id, UserStatus::Closed).unwrap();
    assert_eq!(hub.engine.admin_from_session(&admin_cookie).unwrap(), None);
}

#[test]
fn deleting_a_user_revokes_their_tokens_and_spares_account_owners() {
    let hub = Hub::new().with_keys();
    let (web, secret) = hub.web_client();
    let u = hub.user("gone@example.com");
    let t = hub.tokens(&web, &secret, &u);
    hub.engine.delete_user(u.id).unwrap();
    assert!(hub.engine.live_access_token(&t.access_token).is_err());
    assert!(hub
        .token(&web, &secret, &format!("grant_type=refresh_token&refresh_token={}", t.refresh_token.unwrap()))
        .is_err());
    assert!(matches!(hub.engine.delete_user(u.id), Err(EngineError::NotFound(_))));

    let owner = hub.user("owner@example.com");
    hub.engine.create_account(owner.id, "Acme").unwrap();
    assert!(matches!(hub.engine.delete_user(owner.id), Err(EngineError::Invalid(_))));
}

#[test]
fn a_changed_email_is_unverified_and_must_be_free() {
    let hub = Hub::new();
    let u = hub
        .engine
        .create_user(gatehouse_engine::directory::UserInput {
            email: "ada@example.com".into(),
            email_verified: true,
            ..Default::default()
        })
        .unwrap();
    hub.user("taken@example.com");
    assert!(matches!(
        hub.engine.update_user(u.id, UserPatch { email: Some("taken@example.com".into()), ..Default::default() }),
        Err(EngineError::Conflict(_))
    ));
    let same = hub
        .engine
        .update_user(u.id, UserPatch { email: Some("ADA@example.com".into()), ..Default::default() })
        .unwrap();
    assert!(same.email_verified, "the same address (any case) stays verified");
    let changed = hub
        .engine
        .update_user(u.id, UserPatch { email: Some("lovelace@example.com".into()), ..Default::default() })
        .unwrap();
    assert_eq!(changed.email, "lovelace@example.com");
    assert!(!changed.email_verified);
    assert!(matches!(
        hub.engine.update_user(u.id, UserPatch { locale: Some("<script>".into()), ..Default::default() }),
        Err(EngineError::Invalid(_))
    ));
}

#[test]
fn revoking_consent_revokes_the_apps_tokens() {
    let hub = Hub::new().with_keys();
    let (web, secret) = hub.client(ClientInput { first_party: false, ..web_client_input() });
    let u = hub.user("ada@example.com");
    let session = hub.session(&u);
    let q = format!(
        "response_type=code&client_id={}&redirect_uri={REDIRECT}&state=s&scope=openid%20profile",
        web.client_id
    );
    let req = hub.engine.validate_authorize(&gatehouse_core::Dialect::standard(), &params(&q)).unwrap();
    let url = hub.engine.answer_consent(&req, &session, &u, true).unwrap();
    let code = query_param(&url, "code").unwrap();
    let t = hub
        .token(&web, &secret, &format!("grant_type=authorization_code&code={code}&redirect_uri={REDIRECT}"))
        .unwrap();
    assert_eq!(hub.engine.consents_of_user(u.id).unwrap().len(), 1);
    assert_eq!(hub.engine.refresh_families_of_user(u.id).unwrap().len(), 1);
    hub.engine.revoke_consent(u.id, &web.client_id).unwrap();
    assert!(hub.engine.consents_of_user(u.id).unwrap().is_empty());
    assert!(hub.engine.live_access_token(&t.access_token).is_err());
    assert!(hub.engine.refresh_families_of_user(u.id).unwrap().is_empty());
    assert!(matches!(hub.engine.revoke_consent(u.id, &web.client_id), Err(EngineError::NotFound(_))));
}

#[test]
fn a_refresh_family_is_revoked_only_through_its_own_user() {
    let hub = Hub::new().with_keys();
    let (web, secret) = hub.web_client();
    let ada = hub.user("ada@example.com");
    let bob = hub.user("bob@example.com");
    let t = hub.tokens(&web, &secret, &ada);
    let family = hub.engine.refresh_families_of_user(ada.id).unwrap().remove(0).family;
    assert!(matches!(hub.engine.revoke_refresh_family(bob.id, &family), Err(EngineError::NotFound(_))));
    hub.engine.revoke_refresh_family(ada.id, &family).unwrap();
    assert!(hub
        .token(&web, &secret, &format!("grant_type=refresh_token&refresh_token={}", t.refresh_token.unwrap()))
        .is_err());
}

#[test]
fn a_rotated_secret_works_at_once_and_the_old_one_does_not() {
    let hub = Hub::new();
    let (svc, old) = hub.service_client();
    let (_, new) = hub.engine.rotate_client_secret(svc.id).unwrap();
    assert!(hub.token(&svc, &new, "grant_type=client_credentials").is_ok());
    assert!(hub.token(&svc, &old, "grant_type=client_credentials").is_err());
}

#[test]
fn admin_changes_name_their_actor_in_the_audit() {
    let hub = Hub::new();
    let u = hub.user("ada@example.com");
    let caller = gatehouse_engine::caller::Caller { ip: IP.into(), request_id: "r1".into(), actor: String::new() }
        .acting_as("admin:user:1".into());
    caller.scope(|| hub.engine.unlock_user(u.id).unwrap());
    let ev = hub.engine.audit_events(Some("login.unlocked"), 1).unwrap().remove(0);
    let details: serde_json::Value = serde_json::from_str(&ev.details).unwrap();
    assert_eq!(details["actor"], "admin:user:1");
    assert_eq!(ev.user_id, Some(u.id));
}

#[test]
fn a_plugin_can_never_make_its_client_first_party() {
    let hub = Hub::new();
    let reg = hub.engine.register_client_as(Actor::Plugin("whmcs"), web_client_input_third_party()).unwrap();
    let changes = gatehouse_engine::model::ClientChanges { first_party: Some(true), ..Default::default() };
    assert!(matches!(
        hub.engine.update_client_as(Actor::Plugin("whmcs"), reg.client.id, changes.clone(), false),
        Err(EngineError::Invalid(_))
    ));
    let (c, _) = hub.engine.update_client(reg.client.id, changes, false).unwrap();
    assert!(c.first_party, "the operator may");
}

fn web_client_input_third_party() -> ClientInput {
    ClientInput { first_party: false, ..web_client_input() }
}
