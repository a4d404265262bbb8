//! Federated sign-in: identity links decide who someone is, e-mail linking
//! only by the operator's choice, Closed users never.

use gatehouse_core::UserStatus;
use gatehouse_engine::federation::{FederatedOutcome, FederationRefusal, UpstreamIdentity};

use crate::harness::*;

fn identity(subject: &str, email: &str, verified: bool) -> UpstreamIdentity {
    UpstreamIdentity {
        subject: subject.into(),
        email: Some(email.into()),
        email_verified: verified,
        name: Some("Up Stream".into()),
        ..Default::default()
    }
}

#[test]
fn a_new_identity_with_a_verified_e_mail_becomes_a_user_and_a_link() {
    let hub = Hub::new();
    let (user, outcome) =
        hub.engine.resolve_upstream_identity("corp", &identity("s1", "new@example.com", true)).unwrap();
    assert_eq!(outcome, FederatedOutcome::Created);
    assert!(user.email_verified);
    assert_eq!(user.display_name, "Up Stream");
    let links = hub.engine.identity_links(user.id).unwrap();
    assert_eq!((links.len(), links[0].plugin.as_str(), links[0].subject.as_str()), (1, "corp", "s1"));
}

#[test]
fn a_known_link_names_the_user_even_when_the_upstream_e_mail_changed() {
    let hub = Hub::new();
    let (first, _) = hub.engine.resolve_upstream_identity("corp", &identity("s1", "a@example.com", true)).unwrap();
    let (again, outcome) =
        hub.engine.resolve_upstream_identity("corp", &identity("s1", "renamed@example.com", true)).unwrap();
    assert_eq!((again.id, outcome), (first.id, FederatedOutcome::Linked));
}

#[test]
fn without_a_link_an_unverified_e_mail_is_refused() {
    let hub = Hub::new();
    let r = hub.engine.resolve_upstream_identity("corp", &identity("s1", "a@example.com", false));
    assert!(matches!(r, Err(FederationRefusal::NoVerifiedEmail)), "{r:?}");
}

#[test]
fn an_identity_without_a_subject_is_refused() {
    let hub = Hub::new();
    let r = hub.engine.resolve_upstream_identity("corp", &identity("", "a@example.com", true));
    assert!(matches!(r, Err(FederationRefusal::NoSubject)));
}

#[test]
fn a_local_users_e_mail_is_not_linked_unless_the_operator_allows_it() {
    let hub = Hub::new();
    let local = hub.user("a@example.com");
    let r = hub.engine.resolve_upstream_identity("corp", &identity("s1", "a@example.com", true));
    assert!(matches!(r, Err(FederationRefusal::EmailTaken(ref e)) if e == "a@example.com"), "{r:?}");
    assert!(hub.engine.identity_links(local.id).unwrap().is_empty());
}

#[test]
fn with_e_mail_linking_on_the_local_user_is_linked() {
    let hub = Hub::with(|c| c.federation_link_verified_email = true);
    let local = hub.user("a@example.com");
    let (user, outcome) = hub.engine.resolve_upstream_identity("corp", &identity("s1", "A@example.com", true)).unwrap();
    assert_eq!((user.id, outcome), (local.id, FederatedOutcome::LinkedByEmail));
    assert_eq!(hub.engine.audit_events(Some("federation.linked"), 10).unwrap().len(), 1);
}

#[test]
fn a_closed_linked_user_is_refused() {
    let hub = Hub::new();
    let (user, _) = hub.engine.resolve_upstream_identity("corp", &identity("s1", "a@example.com", true)).unwrap();
    hub.engine.set_user_status(user.id, UserStatus::Closed).unwrap();
    let r = hub.engine.resolve_upstream_identity("corp", &identity("s1", "a@example.com", true));
    assert!(matches!(r, Err(FederationRefusal::Closed(id)) if id == user.id));
}

#[test]
fn a_closed_user_is_never_linked_by_e_mail() {
    let hub = Hub::with(|c| c.federation_link_verified_email = true);
    let local = hub.user("a@example.com");
    hub.engine.set_user_status(local.id, UserStatus::Closed).unwrap();
    let r = hub.engine.resolve_upstream_identity("corp", &identity("s1", "a@example.com", true));
    assert!(matches!(r, Err(FederationRefusal::Closed(_))));
    assert!(hub.engine.identity_links(local.id).unwrap().is_empty(), "no link was made");
}

#[test]
fn links_belong_to_one_provider() {
    let hub = Hub::with(|c| c.federation_link_verified_email = true);
    let (a, _) = hub.engine.resolve_upstream_identity("corp", &identity("same", "a@example.com", true)).unwrap();
    let (b, outcome) = hub.engine.resolve_upstream_identity("other", &identity("same", "b@example.com", true)).unwrap();
    assert_ne!(a.id, b.id, "the same subject at another provider is someone else");
    assert_eq!(outcome, FederatedOutcome::Created);
}

#[test]
fn a_federated_sign_in_starts_a_session_and_is_audited() {
    let hub = Hub::new();
    let done = hub.engine.federated_sign_in("corp", &identity("s1", "a@example.com", true), &ctx()).unwrap();
    let (_, user) = hub.engine.session_from_cookie(&done.signed_in.cookie).unwrap().unwrap();
    assert_eq!(user.id, done.user.id);
    let ev = hub.engine.audit_events(Some("login.federated"), 10).unwrap();
    assert_eq!((ev.len(), ev[0].ip.as_deref()), (1, Some(IP)));
}

#[test]
fn a_refused_federated_sign_in_is_audited_with_its_reason() {
    let hub = Hub::new();
    hub.user("a@example.com");
    let r = hub.engine.federated_sign_in("corp", &identity("s1", "a@example.com", true), &ctx());
    assert!(r.is_err());
    let ev = hub.engine.audit_events(Some("login.federated.failed"), 10).unwrap();
    assert_eq!(ev.len(), 1);
    assert!(ev[0].message.contains("linking by e-mail is off"), "{}", ev[0].message);
}

#[test]
fn a_user_can_unlink_only_their_own_identity() {
    let hub = Hub::new();
    let (a, _) = hub.engine.resolve_upstream_identity("corp", &identity("s1", "a@example.com", true)).unwrap();
    let (b, _) = hub.engine.resolve_upstream_identity("corp", &identity("s2", "b@example.com", true)).unwrap();
    assert!(!hub.engine.unlink_identity(b.id, "corp", "s1").unwrap());
    assert!(hub.engine.unlink_identity(a.id, "corp", "s1").unwrap());
    assert!(hub.engine.identity_links(a.id).unwrap().is_empty());
}

#[test]
fn an_upstream_may_refuse_unlinked_identities_until_an_administrator_links_one() {
    use gatehouse_engine::federation::{FirstSignIn, UpstreamPolicy};
    let hub = Hub::new();
    let policy = UpstreamPolicy { first_sign_in: FirstSignIn::Refuse, ..Default::default() };
    let u = hub.user("carol@example.com");
    let ctx = ctx();
    let id = identity("c1", "carol@elsewhere.example", true);
    assert!(matches!(
        hub.engine.federated_sign_in_with("partners", &policy, &id, &ctx),
        Err(FederationRefusal::NotPreLinked)
    ));
    hub.engine.pre_link_identity(u.id, "partners", "c1").unwrap();
    let done = hub.engine.federated_sign_in_with("partners", &policy, &id, &ctx).unwrap();
    assert_eq!((done.user.id, done.outcome), (u.id, FederatedOutcome::Linked));
}

#[test]
fn an_upstream_may_be_limited_to_domains_and_link_by_verified_e_mail() {
    use gatehouse_engine::federation::{FirstSignIn, UpstreamPolicy};
    let hub = Hub::new();
    let policy = UpstreamPolicy {
        first_sign_in: FirstSignIn::LinkVerifiedEmail,
        email_domains: vec!["corp.example".into()],
        ..Default::default()
    };
    let ctx = ctx();
    assert!(matches!(
        hub.engine.federated_sign_in_with("staff", &policy, &identity("e1", "eve@other.example", true), &ctx),
        Err(FederationRefusal::DomainNotAllowed)
    ));
    let dave = hub.user("dave@corp.example");
    let done =
        hub.engine.federated_sign_in_with("staff", &policy, &identity("d1", "Dave@CORP.example", true), &ctx).unwrap();
    assert_eq!((done.user.id, done.outcome), (dave.id, FederatedOutcome::LinkedByEmail));
    // An unverified address is never linked, whatever the rule.
    assert!(matches!(
        hub.engine.federated_sign_in_with("staff", &policy, &identity("d2", "dave2@corp.example", false), &ctx),
        Err(FederationRefusal::NoVerifiedEmail)
    ));
}

#[test]
fn upstream_groups_move_only_the_mapped_gatehouse_groups() {
    use gatehouse_engine::federation::UpstreamPolicy;
    let hub = Hub::new();
    let u = hub.user("g@example.com");
    let policy = UpstreamPolicy {
        group_map: [("up-admins".to_string(), "staff".to_string()), ("up-ops".to_string(), "staff".to_string())]
            .into_iter()
            .collect(),
        ..Default::default()
    };
    hub.engine.set_user_groups(u.id, &["readers".to_string()]).unwrap();
    hub.engine.apply_upstream_groups(u.id, &policy, &["up-ops".into(), "unmapped".into()]).unwrap();
    assert_eq!(hub.engine.groups_of_user(u.id).unwrap(), vec!["readers", "staff"]);
    hub.engine.apply_upstream_groups(u.id, &policy, &[]).unwrap();
    assert_eq!(hub.engine.groups_of_user(u.id).unwrap(), vec!["readers"]);
}

mod revalidation {
    //! Upstream re-validation: a refresh of a member who came through an
    //! upstream asks that upstream again, at most once per interval, one
    //! replica at a time; a refusal fails the refresh and ends the sessions.

    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    use gatehouse_core::Dialect;
    use gatehouse_engine::federation::UpstreamCheck;
    use gatehouse_engine::model::{Client, User};
    use gatehouse_engine::oauth::authorize::AuthorizeOutcome;
    use gatehouse_engine::{ConnectorHooks, Engine};

    use super::identity;
    use crate::harness::*;

    /// An upstream that answers as told, counts the calls and keeps the
    /// tokens it was handed.
    struct FakeUpstream {
        answer: Mutex<UpstreamCheck>,
        spent: Mutex<Vec<String>>,
        calls: AtomicUsize,
        delay_ms: u64,
    }

    impl FakeUpstream {
        fn new(answer: UpstreamCheck, delay_ms: u64) -> Arc<FakeUpstream> {
            Arc::new(FakeUpstream {
                answer: Mutex::new(answer),
                spent: Mutex::default(),
                calls: AtomicUsize::new(0),
                delay_ms,
            })
        }
    }

    impl ConnectorHooks for FakeUpstream {
        fn shape_claims(
            &self,
            _: &str,
            _: &str,
            _: &str,
            _: &User,
            claims: serde_json::Value,
        ) -> Result<serde_json::Value, String> {
            Ok(claims)
        }

        fn check_upstream(&self, upstream: &str, subject: &str, refresh_token: &str) -> UpstreamCheck {
            assert_eq!((upstream, subject), ("corp", "s1"));
            self.calls.fetch_add(1, Ordering::SeqCst);
            self.spent.lock().unwrap().push(refresh_token.to_string());
            std::thread::sleep(std::time::Duration::from_millis(self.delay_ms));
            self.answer.lock().unwrap().clone()
        }

        fn user_event(&self, _: gatehouse_core::UserEvent, _: &User) {}
    }

    /// A member signed in through upstream `corp` (which gave refresh token
    /// `rt-1`), and refresh tokens of a web client for them.
    fn federated(hub: &mut Hub, upstream: Arc<FakeUpstream>, n: usize) -> (Client, String, Vec<String>) {
        hub.engine.set_hooks(upstream);
        let engine = &hub.engine;
        let done = engine.federated_sign_in("corp", &identity("s1", "fed@example.com", true), &ctx()).unwrap();
        engine.remember_upstream_check("corp", "s1", Some("rt-1")).unwrap();
        let (client, secret) = hub.web_client();
        let refreshes = (0..n)
            .map(|_| {
                let q = format!(
                    "response_type=code&client_id={}&redirect_uri={REDIRECT}&state=s&scope=openid",
                    client.client_id
                );
                let req = engine.validate_authorize(&Dialect::standard(), &params(&q)).unwrap();
                let session = (done.signed_in.session.clone(), done.user.clone());
                let code = match engine.decide_authorize(&req, Some(&session)).unwrap() {
                    AuthorizeOutcome::Redirect(url) => query_param(&url, "code").unwrap(),
                    other => panic!("{other:?}"),
                };
                let form = format!("grant_type=authorization_code&code={code}&redirect_uri={REDIRECT}");
                let t = engine.token(&Dialect::standard(), &params(&form), &basic(&client.client_id, &secret)).unwrap();
                t.refresh_token.unwrap()
            })
            .collect();
        (client, secret, refreshes)
    }

    fn refresh(
        engine: &Engine,
        client: &Client,
        secret: &str,
        token: &str,
    ) -> Result<gatehouse_engine::oauth::TokenResponse, gatehouse_engine::oauth::OAuthError> {
        let form = format!("grant_type=refresh_token&refresh_token={token}");
        engine.token(&Dialect::standard(), &params(&form), &basic(&client.client_id, secret))
    }

    #[test]
    fn the_upstream_is_asked_at_most_once_per_interval_and_its_rotated_token_kept() {
        let mut hub = Hub::with(|c| c.upstream_recheck_secs = 300).with_keys();
        let up = FakeUpstream::new(UpstreamCheck::Vouched { refresh_token: "rt-2".into() }, 0);
        let (client, secret, rts) = federated(&mut hub, up.clone(), 1);
        // Signed in just now: a fresh check, the upstream is not asked.
        let t = refresh(&hub.engine, &client, &secret, &rts[0]).unwrap();
        assert_eq!(up.calls.load(Ordering::SeqCst), 0);
        hub.clock.advance(301);
        let t = refresh(&hub.engine, &client, &secret, &t.refresh_token.unwrap()).unwrap();
        hub.clock.advance(100);
        let t = refresh(&hub.engine, &client, &secret, &t.refresh_token.unwrap()).unwrap();
        assert_eq!(up.calls.load(Ordering::SeqCst), 1, "once per interval");
        hub.clock.advance(301);
        refresh(&hub.engine, &client, &secret, &t.refresh_token.unwrap()).unwrap();
        assert_eq!(*up.spent.lock().unwrap(), vec!["rt-1", "rt-2"], "the rotated token is spent next");
    }

    #[test]
    fn an_upstream_refusal_fails_the_refresh_and_ends_every_session() {
        let mut hub = Hub::with(|c| c.upstream_recheck_secs = 0).with_keys();
        let up = FakeUpstream::new(UpstreamCheck::Refused("invalid_grant: account disabled".into()), 0);
        let (client, secret, rts) = federated(&mut hub, up.clone(), 2);
        let e = refresh(&hub.engine, &client, &secret, &rts[0]).unwrap_err();
        assert_eq!(e.code.as_str(), "invalid_grant");
        let user = hub.engine.find_user("fed@example.com").unwrap();
        assert!(hub.engine.sessions_of_user(user.id).unwrap().is_empty(), "sessions ended");
        // The other refresh token is revoked too, and the upstream is not asked again.
        assert_eq!(refresh(&hub.engine, &client, &secret, &rts[1]).unwrap_err().code.as_str(), "invalid_grant");
        assert_eq!(up.calls.load(Ordering::SeqCst), 1);
        let audits = hub.engine.audit_events(Some("federation.recheck_refused"), 5).unwrap();
        assert!(audits[0].message.contains("account disabled"), "{:?}", audits[0].message);
    }

    #[test]
    fn an_unreachable_upstream_does_not_sign_anyone_out_and_is_asked_again() {
        let mut hub = Hub::with(|c| c.upstream_recheck_secs = 0).with_keys();
        let up = FakeUpstream::new(UpstreamCheck::Unavailable("connection refused".into()), 0);
        let (client, secret, rts) = federated(&mut hub, up.clone(), 1);
        let t = refresh(&hub.engine, &client, &secret, &rts[0]).unwrap();
        refresh(&hub.engine, &client, &secret, &t.refresh_token.unwrap()).unwrap();
        assert_eq!(*up.spent.lock().unwrap(), vec!["rt-1", "rt-1"], "the kept token stays");
        assert_eq!(hub.engine.audit_events(Some("federation.recheck_failed"), 5).unwrap().len(), 2);
    }

    /// Two replicas, eight concurrent refreshes of one member: the upstream
    /// refresh token is spent once (Dex's double-spend bug).
    #[test]
    fn concurrent_refreshes_on_two_replicas_spend_the_upstream_token_once() {
        let mut hub = Hub::with(|c| c.upstream_recheck_secs = 0).with_keys();
        let up = FakeUpstream::new(UpstreamCheck::Vouched { refresh_token: "rt-2".into() }, 300);
        let (client, secret, rts) = federated(&mut hub, up.clone(), 8);
        let mut other = hub.replica();
        other.set_hooks(up.clone());
        let engines = [hub.engine.clone(), other];
        std::thread::scope(|s| {
            let handles: Vec<_> = rts
                .iter()
                .enumerate()
                .map(|(i, rt)| {
                    let (e, c, sec) = (&engines[i % 2], &client, &secret);
                    s.spawn(move || refresh(e, c, sec, rt).map(|_| ()))
                })
                .collect();
            for h in handles {
                h.join().unwrap().expect("every refresh succeeds");
            }
        });
        assert_eq!(*up.spent.lock().unwrap(), vec!["rt-1"], "spent once");
    }
}
