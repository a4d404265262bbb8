//! Second factors: TOTP codes are good once and only near their time,
//! recovery codes once, secrets never stored in the clear, and the policy.

use gatehouse_engine::mfa::{FactorUsed, MfaPolicy, SecondFactorError};
use totp_rs::{Algorithm, Secret, TOTP};

use crate::harness::*;

fn code_at(secret_b32: &str, at: i64) -> String {
    let secret = Secret::Encoded(secret_b32.into()).to_bytes().unwrap();
    TOTP::new_unchecked(Algorithm::SHA1, 6, 1, 30, secret, None, String::new()).generate(at as u64)
}

#[test]
fn a_totp_code_confirms_once_and_signs_in_once_near_its_time() {
    let hub = Hub::new();
    let u = hub.user("ada@example.com");
    let e = hub.engine.begin_totp(&u, "Phone").unwrap();
    assert!(e.otpauth_url.starts_with("otpauth://totp/"), "{}", e.otpauth_url);
    assert!(!hub.engine.has_second_factor(u.id).unwrap(), "not before the first code");
    let now = hub.engine.now();
    assert!(matches!(hub.engine.confirm_totp(&u, e.factor_id, "000000"), Err(SecondFactorError::Invalid)));
    let codes = hub.engine.confirm_totp(&u, e.factor_id, &code_at(&e.secret_base32, now)).unwrap();
    assert_eq!(codes.len(), 10);
    assert!(hub.engine.has_second_factor(u.id).unwrap());

    // The confirming code is spent; the next step's code works once.
    let same = code_at(&e.secret_base32, now);
    assert!(matches!(hub.engine.verify_second_factor(&u, &same, IP), Err(SecondFactorError::Replayed)));
    hub.clock.advance(30);
    let next = code_at(&e.secret_base32, now + 30);
    assert_eq!(hub.engine.verify_second_factor(&u, &next, IP).unwrap(), FactorUsed::Totp);
    assert!(matches!(hub.engine.verify_second_factor(&u, &next, IP), Err(SecondFactorError::Replayed)));
    // A code from five minutes ago is not accepted.
    hub.clock.advance(300);
    let stale = code_at(&e.secret_base32, now + 60);
    assert!(matches!(hub.engine.verify_second_factor(&u, &stale, IP), Err(SecondFactorError::Invalid)));
    // Recovery codes: once each, any case, with or without the dash.
    let rc = codes[0].to_uppercase().replace('-', " ");
    assert_eq!(hub.engine.verify_second_factor(&u, &rc, IP).unwrap(), FactorUsed::RecoveryCode);
    assert!(hub.engine.verify_second_factor(&u, &codes[0], IP).is_err());
    assert_eq!(hub.engine.second_factors(u.id).unwrap().recovery_codes_left, 9);
}

#[test]
fn the_pending_step_signs_in_with_the_factor_in_amr_and_works_once() {
    let hub = Hub::new();
    let u = hub.user("ada@example.com");
    let e = hub.engine.begin_totp(&u, "").unwrap();
    let now = hub.engine.now();
    hub.engine.confirm_totp(&u, e.factor_id, &code_at(&e.secret_base32, now)).unwrap();
    let token = match hub.engine.login_with_password("ada@example.com", PASSWORD, &ctx()).unwrap() {
        gatehouse_engine::sessions::PasswordSignIn::SecondFactor { token, .. } => token,
        other => panic!("expected the code step, got {other:?}"),
    };
    assert!(hub.engine.sessions_of_user(u.id).unwrap().is_empty(), "no session before the code");
    hub.clock.advance(30);
    let (signed, _) = hub.engine.complete_second_factor(&token, &code_at(&e.secret_base32, now + 30), &ctx()).unwrap();
    assert_eq!(signed.session.amr, "pwd otp mfa");
    assert!(matches!(
        hub.engine.complete_second_factor(&token, &code_at(&e.secret_base32, now + 60), &ctx()),
        Err(SecondFactorError::Expired)
    ));
}

#[test]
fn secrets_are_sealed_and_an_administrator_reset_removes_every_factor() {
    let hub = Hub::new();
    let u = hub.user("ada@example.com");
    let e = hub.engine.begin_totp(&u, "Phone").unwrap();
    hub.engine.confirm_totp(&u, e.factor_id, &code_at(&e.secret_base32, hub.engine.now())).unwrap();
    let store = gatehouse_store::Store::open(&hub.engine.database()).unwrap();
    let row = &store.factors_of_user(u.id).unwrap()[0];
    assert!(row.secret_enc.starts_with("v1:") && !row.secret_enc.contains(&e.secret_base32));
    assert_eq!(hub.engine.reset_second_factors(u.id).unwrap(), 1);
    assert!(!hub.engine.has_second_factor(u.id).unwrap());
    assert_eq!(hub.engine.second_factors(u.id).unwrap().recovery_codes_left, 0);
    assert!(hub.engine.audit_events(Some("mfa.reset"), 5).unwrap().len() == 1);
}

#[test]
fn policy_covers_admins_everyone_or_a_client() {
    let hub = Hub::with(|c| c.mfa_policy = MfaPolicy::Admins);
    let u = hub.user("ada@example.com");
    assert!(!hub.engine.second_factor_required(&u, None));
    let admin = hub.engine.set_admin(u.id, true).unwrap();
    assert!(hub.engine.second_factor_required(&admin, None));
    let (strict, _) = hub.client(gatehouse_engine::directory::ClientInput { require_2fa: true, ..web_client_input() });
    assert!(hub.engine.second_factor_required(&u, Some(&strict)));
    let hub = Hub::with(|c| {
        c.mfa_policy = MfaPolicy::Everyone;
        c.mfa_grace_secs = 100;
    });
    let u = hub.user("bob@example.com");
    assert!(hub.engine.second_factor_required(&u, None));
    assert_eq!(hub.engine.enrolment_grace_left(&u).unwrap(), Some(100));
    hub.clock.advance(60);
    assert_eq!(hub.engine.enrolment_grace_left(&u).unwrap(), Some(40), "counted from the first time asked");
    hub.clock.advance(60);
    assert_eq!(hub.engine.enrolment_grace_left(&u).unwrap(), None);
}
