//! Member groups: validated names, replace-all semantics, audited changes.

use crate::harness::*;

fn g(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[test]
fn groups_are_replaced_sorted_and_deduplicated_with_what_changed() {
    let hub = Hub::new();
    let u = hub.user("ada@example.com");
    let c = hub.engine.set_user_groups(u.id, &g(&["vip", "staff", "vip"])).unwrap();
    assert_eq!((c.groups, c.added.len(), c.removed.len()), (g(&["staff", "vip"]), 2, 0));
    let c = hub.engine.set_user_groups(u.id, &g(&["staff", "beta"])).unwrap();
    assert_eq!((c.added, c.removed), (g(&["beta"]), g(&["vip"])));
    assert_eq!(hub.engine.groups_of_user(u.id).unwrap(), g(&["beta", "staff"]));
    assert_eq!(hub.engine.group_names().unwrap(), vec![("beta".to_string(), 1), ("staff".to_string(), 1)]);
    let audited = hub.engine.audit_events(None, 50).unwrap();
    assert_eq!(audited.iter().filter(|e| e.kind == "user.groups_changed").count(), 2);
    // The same set again: no change, no audit line.
    hub.engine.set_user_groups(u.id, &g(&["beta", "staff"])).unwrap();
    let audited = hub.engine.audit_events(None, 50).unwrap();
    assert_eq!(audited.iter().filter(|e| e.kind == "user.groups_changed").count(), 2);
}

#[test]
fn bad_group_names_and_unknown_users_are_refused() {
    let hub = Hub::new();
    let u = hub.user("ada@example.com");
    for bad in ["", "has space", "semi;colon", &"x".repeat(65)] {
        assert!(hub.engine.set_user_groups(u.id, &g(&[bad])).is_err(), "{bad:?}");
    }
    assert!(hub.engine.groups_of_user(u.id).unwrap().is_empty(), "nothing stored by a refused change");
    assert!(matches!(
        hub.engine.set_user_groups(9999, &g(&["staff"])),
        Err(gatehouse_engine::EngineError::NotFound(_))
    ));
    let many: Vec<String> = (0..101).map(|i| format!("g{i}")).collect();
    assert!(hub.engine.set_user_groups(u.id, &many).is_err());
}

#[test]
fn the_groups_scope_releases_the_groups_claim() {
    let hub = Hub::new();
    let u = hub.user("ada@example.com");
    hub.engine.set_user_groups(u.id, &g(&["staff"])).unwrap();
    let with = hub.engine.standard_claims(&u, &gatehouse_core::ScopeSet::parse("openid groups"));
    assert_eq!(with["groups"], serde_json::json!(["staff"]));
    let without = hub.engine.standard_claims(&u, &gatehouse_core::ScopeSet::parse("openid profile"));
    assert!(without.get("groups").is_none());
}
