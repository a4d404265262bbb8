//! Sign-up: closed, open, by invitation; confirming the address; and the
//! rule that a self-registered member confirms it before apps sign them in.

use std::sync::Arc;

use gatehouse_core::Dialect;
use gatehouse_engine::mail::MailKind;
use gatehouse_engine::oauth::authorize::AuthorizeOutcome;
use gatehouse_engine::signup::{Registration, SignUp, SignUpError, SIGNUPS_PER_IP_PER_HOUR};

use crate::harness::*;

fn hub(registration: Registration) -> (Hub, Arc<Outbox>) {
    let mut hub = Hub::with(|c| c.registration = registration);
    let outbox = Arc::new(Outbox::default());
    hub.engine.set_mailer(outbox.clone());
    (hub, outbox)
}

fn form(email: &str) -> SignUp {
    SignUp {
        email: email.into(),
        name: "Grace Hopper".into(),
        password: "quiet harbour lantern 42".into(),
        invitation: None,
    }
}

fn token_in(outbox: &Outbox, marker: &str) -> String {
    let mails = outbox.0.lock().unwrap();
    let link = mails
        .iter()
        .rev()
        .find_map(|m| match &m.kind {
            MailKind::VerifyEmail { link, .. } | MailKind::Invitation { link, .. } if link.contains(marker) => {
                Some(link.clone())
            }
            _ => None,
        })
        .expect("a link");
    let name = if marker.contains("signup") { "invitation" } else { "token" };
    query_param(&link, name).unwrap()
}

#[test]
fn closed_registration_refuses_every_sign_up() {
    let (hub, outbox) = hub(Registration::Closed);
    assert!(matches!(hub.engine.sign_up(form("grace@example.com"), IP), Err(SignUpError::Closed)));
    assert!(outbox.0.lock().unwrap().is_empty());
}

#[test]
fn an_open_sign_up_makes_an_unconfirmed_member_and_mails_the_link() {
    let (hub, outbox) = hub(Registration::Open);
    let u = hub.engine.sign_up(form("Grace@Example.com"), IP).unwrap().expect("a new user");
    assert!(u.self_registered && !u.email_verified);
    assert_eq!(u.email, "grace@example.com");
    let token = token_in(&outbox, "/verify-email");
    let verified = hub.engine.verify_email(&token).unwrap().expect("confirmed");
    assert!(verified.email_verified);
    assert_eq!(hub.engine.verify_email(&token).unwrap(), None, "the link works once");
}

#[test]
fn a_taken_address_gets_no_second_account_and_its_owner_is_told() {
    let (hub, outbox) = hub(Registration::Open);
    let owner = hub.user("grace@example.com");
    assert_eq!(hub.engine.sign_up(form("grace@example.com"), IP).unwrap(), None);
    let mails = outbox.0.lock().unwrap();
    assert_eq!(mails.len(), 1);
    assert!(matches!(mails[0].kind, MailKind::AlreadyRegistered { .. }));
    assert_eq!(mails[0].to, owner.email);
    assert!(hub.engine.check_password("grace@example.com", PASSWORD, IP).is_ok(), "the owner's password is untouched");
}

#[test]
fn sign_up_follows_the_password_policy() {
    let (hub, _) = hub(Registration::Open);
    let weak = SignUp { password: "password1".into(), ..form("grace@example.com") };
    assert!(matches!(hub.engine.sign_up(weak, IP), Err(SignUpError::Rejected(_))));
    assert!(hub.engine.find_user("grace@example.com").is_err());
}

#[test]
fn an_invitation_admits_one_sign_up_for_its_address_only() {
    let (hub, outbox) = hub(Registration::Invite);
    assert!(matches!(hub.engine.sign_up(form("grace@example.com"), IP), Err(SignUpError::InvalidInvitation)));
    hub.engine.invite("grace@example.com").unwrap();
    let token = token_in(&outbox, "/signup");
    let other = SignUp { invitation: Some(token.clone()), ..form("mallory@example.com") };
    assert!(matches!(hub.engine.sign_up(other, IP), Err(SignUpError::InvalidInvitation)));
    let ok = SignUp { invitation: Some(token.clone()), ..form("grace@example.com") };
    assert!(hub.engine.sign_up(ok.clone(), IP).unwrap().is_some());
    let again = SignUp { email: "grace2@example.com".into(), ..ok };
    assert!(matches!(hub.engine.sign_up(again, IP), Err(SignUpError::InvalidInvitation)), "used");
}

#[test]
fn sign_ups_are_limited_per_address() {
    let (hub, _) = hub(Registration::Open);
    for i in 0..SIGNUPS_PER_IP_PER_HOUR {
        hub.engine.sign_up(form(&format!("u{i}@example.com")), IP).unwrap();
    }
    assert!(matches!(hub.engine.sign_up(form("one-more@example.com"), IP), Err(SignUpError::RateLimited)));
}

#[test]
fn an_unconfirmed_self_registered_member_confirms_before_apps_sign_them_in() {
    let (hub, outbox) = hub(Registration::Open);
    let hub = hub.with_keys();
    let (web, _) = hub.web_client();
    let u = hub.engine.sign_up(form("grace@example.com"), IP).unwrap().unwrap();
    let session = hub.session(&u);
    let q = format!("response_type=code&client_id={}&redirect_uri={REDIRECT}&state=s", web.client_id);
    let req = hub.engine.validate_authorize(&Dialect::standard(), &params(&q)).unwrap();
    let decide = |u: &gatehouse_engine::model::User| {
        hub.engine.decide_authorize(&req, Some(&(session.clone(), u.clone()))).unwrap()
    };
    assert!(matches!(decide(&u), AuthorizeOutcome::VerifyEmail));
    // An operator-made member who never confirmed is not held back.
    let made = hub.user("made@example.com");
    assert!(matches!(decide(&made), AuthorizeOutcome::Redirect(_)));
    let confirmed = hub.engine.verify_email(&token_in(&outbox, "/verify-email")).unwrap().unwrap();
    assert!(matches!(decide(&confirmed), AuthorizeOutcome::Redirect(_)));
}

#[test]
fn an_overlong_name_is_refused_as_the_callers_mistake() {
    let (hub, _) = hub(Registration::Open);
    let long = SignUp { name: "n".repeat(201), ..form("grace@example.com") };
    assert!(matches!(
        hub.engine.sign_up(long, IP),
        Err(SignUpError::Engine(gatehouse_engine::EngineError::Invalid(_)))
    ));
}
