//! Password policy, reset by e-mail link, and change on the account page.

use std::sync::Arc;

use gatehouse_engine::mail::MailKind;
use gatehouse_engine::recovery::{PasswordRejected, RecoveryError, RESET_LINK_MINUTES};

use crate::harness::*;

fn hub_with_mail() -> (Hub, Arc<Outbox>) {
    let mut hub = Hub::new().with_keys();
    let outbox = Arc::new(Outbox::default());
    hub.engine.set_mailer(outbox.clone());
    (hub, outbox)
}

/// The token inside the last reset link mailed.
fn last_link_token(outbox: &Outbox) -> String {
    let mails = outbox.0.lock().unwrap();
    let link = mails
        .iter()
        .rev()
        .find_map(|m| match &m.kind {
            MailKind::PasswordReset { link, .. } => Some(link.clone()),
            _ => None,
        })
        .expect("a reset mail");
    query_param(&link, "token").unwrap()
}

fn live(hub: &Hub, user_id: i64, session_id: i64) -> bool {
    hub.engine.sessions_of_user(user_id).unwrap().iter().any(|s| s.id == session_id)
}

const NEW: &str = "quiet harbour lantern 42";

#[test]
fn the_policy_refuses_short_weak_and_personal_passwords() {
    let hub = Hub::new();
    let e = &hub.engine;
    assert_eq!(e.check_new_password("short", "ada@example.com", "Ada"), Err(PasswordRejected::TooShort(10)));
    assert!(matches!(e.check_new_password("password123", "ada@example.com", "Ada"), Err(PasswordRejected::TooWeak(_))));
    assert_eq!(
        e.check_new_password("lovelace-rules-2027", "lovelace@example.com", "Ada"),
        Err(PasswordRejected::Personal)
    );
    assert_eq!(e.check_new_password("ada@example.com", "ada@example.com", "Ada"), Err(PasswordRejected::Personal));
    assert!(e.check_new_password(NEW, "ada@example.com", "Ada").is_ok());
}

#[test]
fn a_reset_link_sets_a_new_password_once_and_ends_every_session() {
    let (hub, outbox) = hub_with_mail();
    let (web, secret) = hub.web_client();
    let u = hub.user("ada@example.com");
    let tokens = hub.tokens(&web, &secret, &u);
    let session = hub.session(&u);
    hub.engine.request_password_reset("ADA@example.com", IP).unwrap();
    let token = last_link_token(&outbox);
    assert!(outbox.0.lock().unwrap()[0].to == "ada@example.com");
    assert!(hub.engine.reset_link_valid(&token).unwrap());
    // A weak password does not burn the link.
    assert!(matches!(hub.engine.reset_password(&token, "password1"), Err(RecoveryError::Rejected(_))));
    hub.engine.reset_password(&token, NEW).unwrap();
    assert!(matches!(hub.engine.reset_password(&token, NEW), Err(RecoveryError::InvalidLink)));
    assert!(hub.engine.check_password("ada@example.com", NEW, IP).is_ok());
    assert!(hub.engine.check_password("ada@example.com", PASSWORD, IP).is_err());
    assert!(!live(&hub, u.id, session.id), "every session ended");
    assert!(hub.engine.live_access_token(&tokens.access_token).is_err(), "every token revoked");
    let kinds: Vec<&str> = outbox.0.lock().unwrap().iter().map(|m| m.kind.name()).collect();
    assert_eq!(kinds, ["password_reset", "password_changed"]);
}

#[test]
fn a_reset_link_expires_after_thirty_minutes() {
    let (hub, outbox) = hub_with_mail();
    hub.user("ada@example.com");
    hub.engine.request_password_reset("ada@example.com", IP).unwrap();
    let token = last_link_token(&outbox);
    hub.clock.advance(RESET_LINK_MINUTES * 60);
    assert!(matches!(hub.engine.reset_password(&token, NEW), Err(RecoveryError::InvalidLink)));
}

#[test]
fn only_the_newest_reset_link_works() {
    let (hub, outbox) = hub_with_mail();
    hub.user("ada@example.com");
    hub.engine.request_password_reset("ada@example.com", IP).unwrap();
    let first = last_link_token(&outbox);
    hub.engine.request_password_reset("ada@example.com", IP).unwrap();
    let second = last_link_token(&outbox);
    assert!(!hub.engine.reset_link_valid(&first).unwrap());
    hub.engine.reset_password(&second, NEW).unwrap();
}

#[test]
fn an_unknown_or_closed_address_gets_no_mail_and_the_same_answer() {
    let (hub, outbox) = hub_with_mail();
    let closed = hub.user("closed@example.com");
    hub.engine.set_user_status(closed.id, gatehouse_core::UserStatus::Closed).unwrap();
    assert!(hub.engine.request_password_reset("nobody@example.com", IP).is_ok());
    assert!(hub.engine.request_password_reset("closed@example.com", IP).is_ok());
    assert!(hub.engine.request_password_reset("not an address", IP).is_ok());
    assert!(outbox.0.lock().unwrap().is_empty());
}

#[test]
fn reset_requests_are_limited_per_address_and_per_ip() {
    let (hub, outbox) = hub_with_mail();
    hub.user("ada@example.com");
    for _ in 0..5 {
        hub.engine.request_password_reset("ada@example.com", IP).unwrap();
    }
    assert_eq!(outbox.0.lock().unwrap().len(), 3, "three per address per hour");
    hub.clock.advance(3601);
    hub.engine.request_password_reset("ada@example.com", IP).unwrap();
    assert_eq!(outbox.0.lock().unwrap().len(), 4, "the next hour allows more");
    // One address trying many accounts.
    let before = outbox.0.lock().unwrap().len();
    for i in 0..12 {
        hub.user(&format!("u{i}@example.com"));
        hub.engine.request_password_reset(&format!("u{i}@example.com"), "203.0.113.99").unwrap();
    }
    assert_eq!(outbox.0.lock().unwrap().len() - before, 10, "ten per IP per hour");
}

#[test]
fn without_a_mailer_reset_says_so() {
    let hub = Hub::new();
    hub.user("ada@example.com");
    assert!(matches!(hub.engine.request_password_reset("ada@example.com", IP), Err(RecoveryError::NoMail)));
}

#[test]
fn changing_a_password_needs_the_current_one_and_keeps_this_session_only() {
    let (hub, outbox) = hub_with_mail();
    let u = hub.user("ada@example.com");
    let here = hub.session(&u);
    let elsewhere = hub.session(&u);
    assert!(matches!(hub.engine.change_password(u.id, "wrong", NEW, here.id), Err(RecoveryError::WrongPassword)));
    assert!(matches!(
        hub.engine.change_password(u.id, PASSWORD, "ada@example.com", here.id),
        Err(RecoveryError::Rejected(PasswordRejected::Personal))
    ));
    hub.engine.change_password(u.id, PASSWORD, NEW, here.id).unwrap();
    assert!(live(&hub, u.id, here.id), "this browser stays signed in");
    assert!(!live(&hub, u.id, elsewhere.id), "every other session ended");
    assert!(hub.engine.check_password("ada@example.com", NEW, IP).is_ok());
    assert_eq!(outbox.0.lock().unwrap().last().unwrap().kind, MailKind::PasswordChanged);
}
