//! The repository layer, one suite run against both backends: a SQLite temp
//! file, and a fresh PostgreSQL database when `GATEHOUSE_TEST_POSTGRES_URL`
//! is set (the skip is reported otherwise; CI always sets it).

use std::sync::{Arc, Barrier};

use gatehouse_core::client::GrantType;
use gatehouse_core::ScopeSet;
use gatehouse_store::testing::{create_postgres_database, drop_postgres_database, record_postgres_use};
use gatehouse_store::*;

struct Db {
    store: Store,
    pg: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

impl Drop for Db {
    fn drop(&mut self) {
        if let Some((admin, name)) = &self.pg {
            // The pool still holds connections; FORCE closes them.
            let _ = drop_postgres_database(admin, name);
        }
    }
}

fn databases() -> Vec<Db> {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Store::open_and_migrate(&format!("sqlite://{}", dir.path().join("t.db").display())).unwrap();
    let mut v = vec![Db { store: sqlite, pg: None, _dir: Some(dir) }];
    match std::env::var("GATEHOUSE_TEST_POSTGRES_URL").ok().filter(|s| !s.is_empty()) {
        Some(admin) => {
            let name = format!("gh_repo_{}", gatehouse_core::secret::generate_hex(6));
            let url = create_postgres_database(&admin, &name).expect("create PostgreSQL test database");
            let store = Store::open_and_migrate(&url).unwrap();
            assert_eq!(store.backend(), Backend::Postgres);
            record_postgres_use();
            v.push(Db { store, pg: Some((admin, name)), _dir: None });
        }
        None => eprintln!("SKIPPED: PostgreSQL half of the repository suite (GATEHOUSE_TEST_POSTGRES_URL is unset)"),
    }
    v
}

fn new_user(email: &str) -> NewUser {
    NewUser {
        uuid: gatehouse_core::secret::generate_token(),
        email: email.into(),
        email_verified: false,
        display_name: "Ada Lovelace".into(),
        given_name: "Ada".into(),
        family_name: "Lovelace".into(),
        locale: "en".into(),
        password_hash: Some("$argon2id$x".into()),
        status: gatehouse_core::UserStatus::Active,
        allow_sso: true,
        created_at: 1,
        updated_at: 1,
    }
}

#[test]
fn migrations_are_idempotent() {
    for db in databases() {
        assert!(db.store.migrate().unwrap().is_empty(), "{:?}", db.store.backend());
        db.store.ping().unwrap();
    }
}

#[test]
fn users_round_trip_and_emails_are_unique() {
    for db in databases() {
        let s = &db.store;
        let u = s.insert_user(&new_user("ada@example.com")).unwrap();
        assert!(u.id > 0);
        assert_eq!(s.user_by_email("ada@example.com").unwrap().unwrap(), u);
        assert_eq!(s.user_by_uuid(&u.uuid).unwrap().unwrap().id, u.id);
        assert!(matches!(s.insert_user(&new_user("ada@example.com")), Err(StoreError::Conflict(_))));
        assert!(s.set_user_status(u.id, gatehouse_core::UserStatus::Closed, 2).unwrap());
        assert_eq!(s.user_by_id(u.id).unwrap().unwrap().status(), gatehouse_core::UserStatus::Closed);
        assert!(!s.set_user_status(9999, gatehouse_core::UserStatus::Closed, 2).unwrap());
        assert!(s.set_user_allow_sso(u.id, false, 3).unwrap());
        assert!(!s.user_by_id(u.id).unwrap().unwrap().allow_sso);
        let changed =
            s.update_user(u.id, &UserChanges { display_name: Some("A. L.".into()), ..Default::default() }, 4).unwrap();
        assert_eq!(changed.display_name, "A. L.");
        assert_eq!(changed.email, "ada@example.com");
        let other = s.insert_user(&new_user("b@example.com")).unwrap();
        assert!(matches!(
            s.update_user(other.id, &UserChanges { email: Some("ada@example.com".into()), ..Default::default() }, 5),
            Err(StoreError::Conflict(_))
        ));
        assert_eq!(s.list_users(10, 0).unwrap().len(), 2);
        assert_eq!(s.list_users(10, 1).unwrap().len(), 1);
    }
}

#[test]
fn accounts_have_an_owner_and_members() {
    for db in databases() {
        let s = &db.store;
        let owner = s.insert_user(&new_user("owner@example.com")).unwrap();
        let member = s.insert_user(&new_user("member@example.com")).unwrap();
        let acc = s.insert_account("Acme", owner.id, 1).unwrap();
        assert_eq!(acc.owner_user_id, owner.id);
        assert!(s.is_account_member(acc.id, owner.id).unwrap());
        assert!(!s.is_account_member(acc.id, member.id).unwrap());
        s.add_account_member(acc.id, member.id).unwrap();
        assert!(s.is_account_member(acc.id, member.id).unwrap());
        assert_eq!(s.accounts_of_user(member.id).unwrap()[0].id, acc.id);
        assert!(s.account_by_id(acc.id + 100).unwrap().is_none());
    }
}

#[test]
fn clients_round_trip_update_and_delete() {
    for db in databases() {
        let s = &db.store;
        let new = NewClient {
            client_id: "ACME.abc".into(),
            secret_digest: Some(gatehouse_core::secret::digest("s")),
            name: "Forum".into(),
            grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
            scopes: ScopeSet::parse("openid profile"),
            redirect_uris: vec!["https://f.example/oauth/callback/".into()],
            ..Default::default()
        };
        let c = s.insert_client(&new, 1).unwrap();
        assert_eq!(c.redirect_uris, new.redirect_uris);
        assert_eq!(c.grant_types, new.grant_types);
        assert_eq!(c.id_token_alg, gatehouse_core::SigningAlg::RS256);
        assert!(matches!(s.insert_client(&new, 1), Err(StoreError::Conflict(_))));
        let u =
            s.update_client(c.id, &ClientChanges { name: Some("Forum 2".into()), ..Default::default() }, 2).unwrap();
        assert_eq!(u.name, "Forum 2");
        assert_eq!(u.scopes, c.scopes, "absent fields keep their values");
        assert_eq!(s.client_by_client_id("ACME.abc").unwrap().unwrap().id, c.id);
        assert_eq!(s.list_clients().unwrap().len(), 1);
        assert!(s.delete_client(c.id).unwrap());
        assert!(!s.delete_client(c.id).unwrap());
        assert!(s.client_by_id(c.id).unwrap().is_none());
    }
}

#[test]
fn api_credentials_and_audit_events() {
    for db in databases() {
        let s = &db.store;
        let a = s
            .insert_api_credential(&NewApiCredential {
                identifier: "id1".into(),
                secret_digest: "d".into(),
                description: String::new(),
                role: Some("authentication".into()),
                actions: String::new(),
                allowed_ips: "127.0.0.1 ::1".into(),
                created_at: 1,
            })
            .unwrap();
        assert_eq!(a.ip_list(), vec!["127.0.0.1", "::1"]);
        assert_eq!(s.api_credential_by_identifier("id1").unwrap().unwrap().id, a.id);
        assert_eq!(s.list_api_credentials().unwrap().len(), 1);
        assert!(s.delete_api_credential(a.id).unwrap());

        for at in [10, 20, 30] {
            s.insert_audit(&NewAuditEvent {
                at,
                kind: "login.failed".into(),
                subject: Some("ada@example.com".into()),
                ip: Some("10.0.0.1".into()),
                message: "Login failed".into(),
                details: "{}".into(),
                ..Default::default()
            })
            .unwrap();
        }
        assert_eq!(s.count_audit_for_subject("login.failed", "ada@example.com", 15).unwrap(), 2);
        assert_eq!(s.count_audit_for_ip("login.failed", "10.0.0.1", 0).unwrap(), 3);
        assert_eq!(s.list_audit(Some("login.failed"), 2).unwrap()[0].at, 30);
    }
}

#[test]
fn a_single_use_grant_is_redeemed_exactly_once_under_concurrency() {
    for db in databases() {
        let s = db.store.clone();
        let digest = gatehouse_core::secret::digest("the-code");
        s.insert_grant(&NewGrant {
            digest: digest.clone(),
            client_id: "c".into(),
            scope: "openid".into(),
            data: "{}".into(),
            created_at: 100,
            expires_at: 200,
            ..NewGrant::of(GrantKind::Code)
        })
        .unwrap();
        let n = 20;
        let barrier = Arc::new(Barrier::new(n));
        let handles: Vec<_> = (0..n)
            .map(|_| {
                let (s, d, b) = (s.clone(), digest.clone(), barrier.clone());
                std::thread::spawn(move || {
                    b.wait();
                    s.redeem_once(GrantKind::Code, &d, 150).unwrap()
                })
            })
            .collect();
        let outcomes: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let won = outcomes.iter().filter(|o| matches!(o, RedeemOutcome::Redeemed(_))).count();
        let used = outcomes.iter().filter(|o| matches!(o, RedeemOutcome::AlreadyUsed(_))).count();
        assert_eq!((won, used), (1, n - 1), "{:?}", s.backend());

        // Expiry, wrong kind and unknown digests are told apart.
        let d2 = gatehouse_core::secret::digest("expired");
        s.insert_grant(&NewGrant {
            digest: d2.clone(),
            client_id: "c".into(),
            data: "{}".into(),
            created_at: 100,
            expires_at: 160,
            ..NewGrant::of(GrantKind::Sso)
        })
        .unwrap();
        assert!(matches!(s.redeem_once(GrantKind::Sso, &d2, 161).unwrap(), RedeemOutcome::Expired(_)));
        assert_eq!(s.redeem_once(GrantKind::Code, &d2, 150).unwrap(), RedeemOutcome::Unknown);
        assert_eq!(s.redeem_once(GrantKind::Code, "nope", 150).unwrap(), RedeemOutcome::Unknown);
    }
}

#[test]
fn families_sessions_consents_keys_and_kv() {
    for db in databases() {
        let s = &db.store;
        let u = s.insert_user(&new_user("k@example.com")).unwrap();
        for (i, kind) in [GrantKind::Access, GrantKind::Refresh].into_iter().enumerate() {
            s.insert_grant(&NewGrant {
                digest: format!("d{i}"),
                client_id: "c".into(),
                user_id: Some(u.id),
                family: Some("fam".into()),
                data: "{}".into(),
                created_at: 1,
                expires_at: 1000,
                ..NewGrant::of(kind)
            })
            .unwrap();
        }
        assert_eq!(s.revoke_family("fam", 5).unwrap(), 2);
        assert!(s.grant_by_any_digest("d0").unwrap().unwrap().revoked_at.is_some());

        let sess = s
            .insert_session(&NewSession {
                digest: "sd".into(),
                user_id: u.id,
                auth_time: 1,
                created_at: 1,
                last_seen_at: 1,
                expires_at: 100,
                ip: "127.0.0.1".into(),
                user_agent: "t".into(),
                via: "password".into(),
                amr: "pwd".into(),
            })
            .unwrap();
        assert_eq!(s.live_session_by_digest("sd", 50).unwrap().unwrap().id, sess.id);
        assert!(s.live_session_by_digest("sd", 100).unwrap().is_none(), "expired");
        assert_eq!(s.live_sessions_of_user(u.id, 50).unwrap().len(), 1);
        assert!(!s.revoke_session(sess.id, u.id + 1, 60).unwrap(), "not someone else's");
        assert!(s.revoke_session(sess.id, u.id, 60).unwrap());
        assert!(s.live_session_by_digest("sd", 61).unwrap().is_none());

        assert!(s.consent(u.id, "c").unwrap().is_none());
        s.save_consent(u.id, "c", "openid", 1).unwrap();
        s.save_consent(u.id, "c", "openid email", 2).unwrap();
        assert_eq!(s.consent(u.id, "c").unwrap().as_deref(), Some("openid email"));

        let k1 = s
            .insert_signing_key(&NewSigningKey {
                kid: "k1".into(),
                alg: "RS256".into(),
                public_jwk: "{}".into(),
                private_enc: "x".into(),
                created_at: 1,
            })
            .unwrap();
        s.insert_signing_key(&NewSigningKey {
            kid: "k2".into(),
            alg: "RS256".into(),
            public_jwk: "{}".into(),
            private_enc: "x".into(),
            created_at: 2,
        })
        .unwrap();
        assert_eq!(s.retire_signing_keys("RS256", "k2", 10, 100).unwrap(), 1);
        assert_eq!(s.published_signing_keys(50).unwrap().len(), 2, "old key still published");
        let later = s.published_signing_keys(101).unwrap();
        assert_eq!(later.len(), 1);
        assert_ne!(later[0].kid, k1.kid);

        s.kv_set("whmcs", "k", "v1", 1).unwrap();
        s.kv_set("whmcs", "k", "v2", 2).unwrap();
        assert_eq!(s.kv_get("whmcs", "k", 0).unwrap().as_deref(), Some("v2"));
        assert!(s.kv_get("other", "k", 0).unwrap().is_none(), "scoped per plugin");
        assert!(s.kv_delete("whmcs", "k").unwrap());

        // Insert-if-absent: once per key until it expires; expired values
        // are invisible and purged.
        assert!(s.kv_insert_new("discourse", "nonce:a", "1", Some(100), 10).unwrap());
        assert!(!s.kv_insert_new("discourse", "nonce:a", "1", Some(200), 50).unwrap(), "a replay within its life");
        assert_eq!(s.kv_get("discourse", "nonce:a", 99).unwrap().as_deref(), Some("1"));
        assert!(s.kv_get("discourse", "nonce:a", 100).unwrap().is_none(), "expired");
        assert!(s.kv_insert_new("discourse", "nonce:a", "2", Some(300), 150).unwrap(), "free again once expired");
        assert!(s.kv_insert_new("discourse", "nonce:b", "1", Some(120), 10).unwrap());
        assert_eq!(s.purge_expired_kv(200, 100).unwrap(), 1, "only nonce:b had expired");
        assert_eq!(s.kv_get("discourse", "nonce:a", 200).unwrap().as_deref(), Some("2"));
    }
}

#[test]
fn identity_links_map_upstream_subjects_to_users() {
    for db in databases() {
        let s = &db.store;
        let ada = s.insert_user(&new_user("ada@example.com")).unwrap();
        let bob = s.insert_user(&new_user("bob@example.com")).unwrap();
        assert!(s.identity_link("oidc", "sub-1").unwrap().is_none());
        let link = IdentityLink {
            plugin: "oidc".into(),
            subject: "sub-1".into(),
            user_id: ada.id,
            email: Some("ada@example.com".into()),
            created_at: 1,
            last_login_at: 1,
        };
        s.insert_identity_link(&link).unwrap();
        assert_eq!(s.identity_link("oidc", "sub-1").unwrap().as_ref(), Some(&link));
        assert!(s.identity_link("other", "sub-1").unwrap().is_none(), "scoped per plugin");
        // One subject links to one user only.
        let dup = IdentityLink { user_id: bob.id, ..link.clone() };
        assert!(matches!(s.insert_identity_link(&dup), Err(StoreError::Conflict(_))), "{:?}", s.backend());
        // The same subject at another plugin is another identity.
        s.insert_identity_link(&IdentityLink { plugin: "corp".into(), ..dup }).unwrap();

        assert!(s.touch_identity_link("oidc", "sub-1", Some("ada@new.example"), 9).unwrap());
        let touched = s.identity_link("oidc", "sub-1").unwrap().unwrap();
        assert_eq!((touched.last_login_at, touched.email.as_deref()), (9, Some("ada@new.example")));
        assert_eq!(touched.created_at, 1);
        assert!(!s.touch_identity_link("oidc", "nobody", None, 9).unwrap());

        assert_eq!(s.identity_links_of_user(ada.id).unwrap().len(), 1);
        assert_eq!(s.identity_links_of_user(bob.id).unwrap()[0].plugin, "corp");
        // A link must name an existing user.
        let orphan = IdentityLink { subject: "sub-2".into(), user_id: bob.id + 1000, ..link };
        assert!(s.insert_identity_link(&orphan).is_err(), "{:?}", s.backend());

        assert!(s.delete_identity_link("oidc", "sub-1").unwrap());
        assert!(!s.delete_identity_link("oidc", "sub-1").unwrap());
        assert!(s.identity_link("oidc", "sub-1").unwrap().is_none());
    }
}

/// Hardening #3: a family revoked as a whole stays revoked for tokens
/// inserted into it afterwards (the legitimate refresh that lost the race
/// to a thief's replay), on both backends.
#[test]
fn a_token_inserted_into_a_revoked_family_is_born_revoked() {
    for db in databases() {
        let s = &db.store;
        let grant = |kind, d: &str| NewGrant {
            digest: d.into(),
            client_id: "c".into(),
            family: Some("fam".into()),
            created_at: 1,
            expires_at: 1000,
            ..NewGrant::of(kind)
        };
        s.insert_grant(&grant(GrantKind::Refresh, "old")).unwrap();
        assert_eq!(s.revoke_family("fam", 5).unwrap(), 1);
        // Inserted after the revocation, as a concurrent refresh would.
        s.insert_grant(&grant(GrantKind::Access, "late-access")).unwrap();
        s.insert_grant(&grant(GrantKind::Refresh, "late-refresh")).unwrap();
        let late = s.grant_by_digest(GrantKind::Access, "late-access").unwrap().unwrap();
        assert_eq!(late.revoked_at, Some(5), "{:?}", s.backend());
        assert_eq!(s.grant_by_any_digest("late-access").unwrap().unwrap().revoked_at, Some(5));
        assert!(matches!(
            s.redeem_once(GrantKind::Refresh, "late-refresh", 10).unwrap(),
            RedeemOutcome::AlreadyUsed(_)
        ));
        // Revoking twice is harmless; other families are untouched.
        s.revoke_family("fam", 6).unwrap();
        s.insert_grant(&NewGrant { family: Some("other".into()), ..grant(GrantKind::Refresh, "other") }).unwrap();
        assert!(matches!(s.redeem_once(GrantKind::Refresh, "other", 10).unwrap(), RedeemOutcome::Redeemed(_)));
    }
}

fn signing_key(kid: &str, alg: &str) -> NewSigningKey {
    NewSigningKey { kid: kid.into(), alg: alg.into(), public_jwk: "{}".into(), private_enc: "x".into(), created_at: 1 }
}

/// Hardening #13: a rotation is one transaction. When any part fails (here
/// a kid that already exists), no new key is stored and no old key retires,
/// so nothing signs early.
#[test]
fn a_rotation_that_fails_half_way_changes_nothing() {
    for db in databases() {
        let s = &db.store;
        let first =
            s.install_signing_keys(&[signing_key("r1", "RS256"), signing_key("e1", "ES256")], KeyInstall::Missing);
        assert_eq!(first.unwrap().len(), 2);
        let rotate = KeyInstall::Rotate { retire_at: 300, publish_until: 1000 };
        let r = s.install_signing_keys(&[signing_key("r2", "RS256"), signing_key("e1", "ES256")], rotate);
        assert!(r.is_err(), "{:?}", s.backend());
        let keys = s.published_signing_keys(10).unwrap();
        let kids: Vec<&str> = keys.iter().map(|k| k.kid.as_str()).collect();
        assert_eq!(kids, vec!["r1", "e1"], "{:?}: nothing inserted", s.backend());
        assert!(keys.iter().all(|k| k.retired_at.is_none()), "{:?}: nothing retired", s.backend());
        // The whole rotation, when it succeeds, retires the old keys.
        let done = s.install_signing_keys(&[signing_key("r2", "RS256"), signing_key("e2", "ES256")], rotate).unwrap();
        assert_eq!(done.len(), 2);
        let keys = s.published_signing_keys(10).unwrap();
        assert_eq!(keys.iter().filter(|k| k.retired_at == Some(300)).count(), 2);
        // First-start installation adds nothing where a key is active.
        assert!(s.install_signing_keys(&[signing_key("r3", "RS256")], KeyInstall::Missing).unwrap().is_empty());
    }
}

/// The janitor's deletes on both backends: expired rows go in batches,
/// live rows stay, a revoked family's record goes only with its last
/// credential.
#[test]
fn janitor_deletes_expired_rows_in_batches_and_keeps_live_ones() {
    for db in databases() {
        let s = &db.store;
        let grant = |d: &str, family: &str, expires_at: i64| NewGrant {
            digest: d.into(),
            client_id: "c".into(),
            family: Some(family.into()),
            created_at: 1,
            expires_at,
            ..NewGrant::of(GrantKind::Access)
        };
        for i in 0..5 {
            s.insert_grant(&grant(&format!("old{i}"), "f-old", 100)).unwrap();
        }
        s.insert_grant(&grant("live", "f-live", 1000)).unwrap();
        s.revoke_family("f-old", 50).unwrap();
        s.revoke_family("f-live", 50).unwrap();
        assert_eq!(s.delete_spent_families(500, 10).unwrap(), 0, "families with credentials stay");
        assert_eq!(s.delete_expired_grants(500, 2).unwrap(), 2, "{:?}", s.backend());
        assert_eq!(s.delete_expired_grants(500, 10).unwrap(), 3);
        assert_eq!(s.delete_expired_grants(500, 10).unwrap(), 0);
        assert!(s.grant_by_any_digest("live").unwrap().is_some());
        assert_eq!(s.delete_spent_families(500, 10).unwrap(), 1, "only the emptied family");

        let u = s.insert_user(&new_user("j@example.com")).unwrap();
        for (d, expires) in [("s-old", 100), ("s-live", 1000)] {
            s.insert_session(&NewSession {
                digest: d.into(),
                user_id: u.id,
                auth_time: 1,
                created_at: 1,
                last_seen_at: 1,
                expires_at: expires,
                ip: String::new(),
                user_agent: String::new(),
                via: "password".into(),
                amr: "pwd".into(),
            })
            .unwrap();
        }
        assert_eq!(s.delete_ended_sessions(500, 10).unwrap(), 1);
        assert!(s.live_session_by_digest("s-live", 500).unwrap().is_some());

        for at in [10, 20, 900] {
            s.insert_audit(&NewAuditEvent {
                at,
                kind: "x".into(),
                message: "m".into(),
                details: "{}".into(),
                ..Default::default()
            })
            .unwrap();
        }
        assert_eq!(s.delete_audit_before(500, 1).unwrap(), 1);
        assert_eq!(s.delete_audit_before(500, 10).unwrap(), 1);
        assert_eq!(s.list_audit(Some("x"), 10).unwrap().len(), 1);
    }
}

/// Token traffic and the janitor at once, on both backends: every insert
/// succeeds, every live row survives, every expired row goes.
#[test]
fn janitor_and_token_traffic_run_side_by_side() {
    for db in databases() {
        let s = db.store.clone();
        let mk = |d: String, expires_at: i64| NewGrant {
            digest: d,
            client_id: "c".into(),
            created_at: 1,
            expires_at,
            ..NewGrant::of(GrantKind::Access)
        };
        for i in 0..300 {
            s.insert_grant(&mk(format!("x{i}"), 100)).unwrap();
        }
        let writer = {
            let s = s.clone();
            std::thread::spawn(move || {
                for i in 0..200 {
                    s.insert_grant(&mk(format!("live{i}"), 10_000)).unwrap();
                }
            })
        };
        let mut deleted = 0;
        loop {
            let n = s.delete_expired_grants(500, 25).unwrap();
            deleted += n;
            if n == 0 && writer.is_finished() {
                break;
            }
        }
        writer.join().unwrap();
        assert_eq!(deleted, 300, "{:?}", s.backend());
        assert!((0..200).all(|i| s.grant_by_any_digest(&format!("live{i}")).unwrap().is_some()));
    }
}

/// Group commit: many threads inserting at once all get their rows
/// committed (several per transaction), and a caller whose rows break a
/// uniqueness rule is refused alone: nobody else's rows are lost.
#[test]
fn concurrent_grant_inserts_share_commits_and_a_bad_row_fails_alone() {
    for db in databases() {
        let s = db.store.clone();
        let row = |digest: String| NewGrant {
            digest,
            client_id: "c".into(),
            data: "{}".into(),
            created_at: 1,
            expires_at: 1000,
            ..NewGrant::of(GrantKind::Access)
        };
        s.insert_grant(&row("taken".into())).unwrap();
        let n = 24;
        let barrier = Arc::new(Barrier::new(n));
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let (s, b) = (s.clone(), barrier.clone());
                std::thread::spawn(move || {
                    b.wait();
                    // Every eighth caller reuses a taken digest.
                    let first = if i % 8 == 0 { "taken".to_string() } else { format!("t{i}-a") };
                    (i, s.insert_grants(vec![row(first), row(format!("t{i}-b"))]))
                })
            })
            .collect();
        for h in handles {
            let (i, r) = h.join().unwrap();
            let b = s.grant_by_any_digest(&format!("t{i}-b")).unwrap();
            if i % 8 == 0 {
                assert!(matches!(r, Err(StoreError::Conflict(_))), "{:?}: {r:?}", s.backend());
                assert!(b.is_none(), "all of a caller's rows or none");
            } else {
                r.unwrap();
                assert!(b.is_some(), "{:?}: row {i} committed", s.backend());
            }
        }
    }
}

/// The PostgreSQL pool skips its checkout check for connections handed back
/// less than a second ago; one idle longer is checked, so connections cut
/// while idle (a restart, a failover) are replaced and no statement fails.
#[test]
fn postgres_connections_cut_while_idle_are_replaced_before_use() {
    use diesel::connection::SimpleConnection;
    use diesel::Connection;
    for db in databases() {
        let Some((admin, name)) = &db.pg else { continue };
        for _ in 0..3 {
            db.store.client_by_client_id("nobody").unwrap();
        }
        let mut admin_conn = diesel::pg::PgConnection::establish(admin).unwrap();
        admin_conn
            .batch_execute(&format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = '{name}' AND pid <> pg_backend_pid()"
            ))
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1200));
        for _ in 0..5 {
            assert_eq!(db.store.client_by_client_id("nobody").unwrap(), None);
        }
    }
}

/// SQLite's log under steady writes: the checkpointer makes it start over
/// once past 4000 frames (16 MiB), well before the writer's own automatic
/// checkpoint at 16000 would (that one runs inside a commit and holds every
/// token answer waiting on its fsyncs).
#[test]
fn sqlite_log_starts_over_under_steady_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let store = Store::open_and_migrate(&format!("sqlite://{}", path.display())).unwrap();
    let wal = dir.path().join("t.db-wal");
    // The WAL header's checkpoint sequence number counts the restarts
    // (only the 16-byte header is read: the file grows to tens of MiB).
    let restarts = || {
        use std::io::Read;
        let mut head = [0u8; 16];
        match std::fs::File::open(&wal).and_then(|mut f| f.read_exact(&mut head)) {
            Ok(()) => u32::from_be_bytes(head[12..16].try_into().unwrap()),
            Err(_) => 0,
        }
    };
    let frames_in_file = || std::fs::metadata(&wal).map_or(0, |m| m.len().saturating_sub(32) / (4096 + 24));
    let first = restarts();
    let mut written = 0;
    while restarts() < first + 3 {
        let frames = frames_in_file();
        assert!(frames < 10_000, "the log grew to {frames} frames before starting over ({written} commits)");
        assert!(written < 40_000, "the log did not start over three times in {written} commits");
        // One row per commit, as a lone token request makes.
        store
            .insert_grant(&NewGrant {
                digest: format!("{written:08}{}", gatehouse_core::secret::generate_hex(16)),
                client_id: "c".into(),
                created_at: 1,
                expires_at: 10_000,
                ..NewGrant::of(GrantKind::Access)
            })
            .unwrap();
        written += 1;
    }
}

/// One caller's rows past one statement's parameter limit (2500 rows of 15
/// parameters) go in, all of them, on both backends.
#[test]
fn a_large_insert_is_split_into_statements_and_all_rows_land() {
    for db in databases() {
        let rows: Vec<NewGrant> = (0..2500)
            .map(|i| NewGrant {
                digest: format!("bulk{i}"),
                client_id: "c".into(),
                created_at: 1,
                expires_at: 10_000,
                ..NewGrant::of(GrantKind::Access)
            })
            .collect();
        db.store.insert_grants(rows).unwrap();
        for i in [0, 999, 1000, 1999, 2000, 2499] {
            assert!(
                db.store.grant_by_any_digest(&format!("bulk{i}")).unwrap().is_some(),
                "{:?}: row {i}",
                db.store.backend()
            );
        }
    }
}
