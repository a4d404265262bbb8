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
