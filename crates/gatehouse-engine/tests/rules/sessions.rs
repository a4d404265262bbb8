//! Browser sessions and the one password check: rate limits, audit,
//! Closed users, one browser one user, expiry.

use gatehouse_core::UserStatus;
use gatehouse_engine::sessions::{BrowserContext, LoginError};

use crate::harness::*;

#[test]
fn the_right_password_signs_in_and_the_cookie_finds_the_session() {
    let hub = Hub::new();
    let user = hub.user("a@example.com");
    let gatehouse_engine::sessions::PasswordSignIn::SignedIn(signed, who) =
        hub.engine.login_with_password("A@Example.com", PASSWORD, &ctx()).unwrap()
    else {
        panic!("no second factor: signed in at once")
    };
    assert_eq!(who.id, user.id);
    let (session, found) = hub.engine.session_from_cookie(&signed.cookie).unwrap().unwrap();
    assert_eq!((session.id, found.id), (signed.session.id, user.id));
    assert_eq!(hub.engine.audit_events(Some("login.succeeded"), 10).unwrap().len(), 1);
}

#[test]
fn a_wrong_password_is_bad_credentials_and_audited_with_the_user() {
    let hub = Hub::new();
    let user = hub.user("a@example.com");
    let e = hub.engine.login_with_password("a@example.com", "wrong", &ctx()).unwrap_err();
    assert!(matches!(e, LoginError::BadCredentials));
    let ev = hub.engine.audit_events(Some("login.failed"), 10).unwrap();
    assert_eq!((ev.len(), ev[0].user_id, ev[0].ip.as_deref()), (1, Some(user.id), Some(IP)));
}

#[test]
fn an_unknown_e_mail_fails_exactly_like_a_wrong_password() {
    let hub = Hub::new();
    let e = hub.engine.login_with_password("nobody@example.com", "x", &ctx()).unwrap_err();
    assert!(matches!(e, LoginError::BadCredentials));
    assert_eq!(e.to_string(), LoginError::BadCredentials.to_string());
    let ev = hub.engine.audit_events(Some("login.failed"), 10).unwrap();
    assert_eq!((ev.len(), ev[0].user_id), (1, None));
}

#[test]
fn too_many_failures_for_an_account_refuse_even_the_right_password() {
    let hub = Hub::with(|c| c.max_failures_per_account = 3);
    hub.user("a@example.com");
    for _ in 0..3 {
        assert!(matches!(hub.engine.check_password("a@example.com", "bad", IP), Err(LoginError::BadCredentials)));
    }
    let other_ip = "203.0.113.9";
    assert!(matches!(hub.engine.check_password("a@example.com", PASSWORD, other_ip), Err(LoginError::RateLimited)));
    assert_eq!(hub.engine.audit_events(Some("login.rate_limited"), 10).unwrap().len(), 1);
}

#[test]
fn too_many_failures_from_one_address_refuse_every_account_from_it() {
    let hub = Hub::with(|c| c.max_failures_per_ip = 2);
    hub.user("b@example.com");
    for who in ["x@example.com", "y@example.com"] {
        let _ = hub.engine.check_password(who, "bad", IP);
    }
    assert!(matches!(hub.engine.check_password("b@example.com", PASSWORD, IP), Err(LoginError::RateLimited)));
    assert!(hub.engine.check_password("b@example.com", PASSWORD, "203.0.113.9").is_ok());
}

#[test]
fn the_limit_lifts_once_the_window_has_passed() {
    let hub = Hub::with(|c| {
        c.max_failures_per_account = 2;
        c.failure_window_secs = 900;
    });
    hub.user("a@example.com");
    for _ in 0..2 {
        let _ = hub.engine.check_password("a@example.com", "bad", IP);
    }
    assert!(matches!(hub.engine.check_password("a@example.com", PASSWORD, IP), Err(LoginError::RateLimited)));
    hub.clock.advance(901);
    assert!(hub.engine.check_password("a@example.com", PASSWORD, IP).is_ok());
}

#[test]
fn a_closed_user_is_refused_after_the_password_is_checked() {
    let hub = Hub::new();
    let user = hub.user("a@example.com");
    hub.engine.set_user_status(user.id, UserStatus::Closed).unwrap();
    assert!(matches!(hub.engine.check_password("a@example.com", PASSWORD, IP), Err(LoginError::Closed)));
    // A wrong password says nothing about the status.
    assert!(matches!(hub.engine.check_password("a@example.com", "bad", IP), Err(LoginError::BadCredentials)));
}

#[test]
fn an_inactive_user_may_still_sign_in() {
    let hub = Hub::new();
    let user = hub.user("a@example.com");
    hub.engine.set_user_status(user.id, UserStatus::Inactive).unwrap();
    assert!(hub.engine.check_password("a@example.com", PASSWORD, IP).is_ok());
}

#[test]
fn checking_a_password_starts_no_session() {
    let hub = Hub::new();
    let user = hub.user("a@example.com");
    hub.engine.check_password("a@example.com", PASSWORD, IP).unwrap();
    assert!(hub.engine.sessions_of_user(user.id).unwrap().is_empty());
}

#[test]
fn a_new_sign_in_ends_the_browsers_previous_session_whoever_it_was() {
    let hub = Hub::new();
    let alice = hub.user("alice@example.com");
    let bob = hub.user("bob@example.com");
    let first = hub.engine.sign_in(alice.id, "password", &ctx()).unwrap();
    let again = BrowserContext { previous: Some(&first.session), ..ctx() };
    let second = hub.engine.sign_in(bob.id, "password", &again).unwrap();
    assert!(hub.engine.session_from_cookie(&first.cookie).unwrap().is_none());
    assert_eq!(hub.engine.session_from_cookie(&second.cookie).unwrap().unwrap().1.id, bob.id);
}

#[test]
fn a_session_ends_when_its_lifetime_is_over() {
    let hub = Hub::with(|c| c.session_ttl = 3600);
    let user = hub.user("a@example.com");
    let signed = hub.engine.sign_in(user.id, "password", &ctx()).unwrap();
    hub.clock.advance(3599);
    assert!(hub.engine.session_from_cookie(&signed.cookie).unwrap().is_some());
    hub.clock.advance(1);
    assert!(hub.engine.session_from_cookie(&signed.cookie).unwrap().is_none());
}

#[test]
fn a_user_can_end_only_their_own_sessions() {
    let hub = Hub::new();
    let alice = hub.user("alice@example.com");
    let bob = hub.user("bob@example.com");
    let s = hub.session(&alice);
    assert!(!hub.engine.end_session(bob.id, s.id).unwrap());
    assert_eq!(hub.engine.sessions_of_user(alice.id).unwrap().len(), 1);
    assert!(hub.engine.end_session(alice.id, s.id).unwrap());
    assert!(hub.engine.sessions_of_user(alice.id).unwrap().is_empty());
    assert_eq!(hub.engine.audit_events(Some("logout"), 10).unwrap().len(), 1);
}

#[test]
fn an_unknown_cookie_finds_nothing() {
    let hub = Hub::new();
    assert!(hub.engine.session_from_cookie("not-a-session").unwrap().is_none());
}

#[test]
fn closing_a_user_ends_their_sessions() {
    let hub = Hub::new();
    let user = hub.user("a@example.com");
    let signed = hub.engine.sign_in(user.id, "password", &ctx()).unwrap();
    hub.engine.set_user_status(user.id, UserStatus::Closed).unwrap();
    assert!(hub.engine.session_from_cookie(&signed.cookie).unwrap().is_none());
}
