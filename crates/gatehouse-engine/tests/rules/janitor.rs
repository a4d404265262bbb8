//! The janitor: expired rows go, live rows stay, token traffic goes on.

use gatehouse_engine::directory::ClientInput;

use crate::harness::*;

fn client_credentials(hub: &Hub, c: &gatehouse_engine::model::Client, secret: &str) -> String {
    hub.token(c, secret, "grant_type=client_credentials").unwrap().access_token
}

fn active(hub: &Hub, c: &gatehouse_engine::model::Client, secret: &str, token: &str) -> bool {
    hub.engine.introspect(&params(&format!("token={token}")), &basic(&c.client_id, secret)).unwrap().active
}

#[test]
fn expired_tokens_go_and_live_ones_stay() {
    let hub = Hub::with(|c| c.access_ttl = 60);
    let (c, secret) = hub.service_client();
    let old: Vec<String> = (0..5).map(|_| client_credentials(&hub, &c, &secret)).collect();
    hub.clock.advance(61);
    let live = client_credentials(&hub, &c, &secret);
    let swept = hub.engine.sweep(2, 100).unwrap();
    assert_eq!(swept.grants, 5, "{swept:?}");
    assert!(active(&hub, &c, &secret, &live));
    assert!(old.iter().all(|t| !active(&hub, &c, &secret, t)));
    assert_eq!(hub.engine.sweep(2, 100).unwrap().grants, 0, "nothing left to do");
}

#[test]
fn a_sweep_stops_after_its_batches_and_the_next_one_continues() {
    let hub = Hub::with(|c| c.access_ttl = 60);
    let (c, secret) = hub.service_client();
    for _ in 0..7 {
        client_credentials(&hub, &c, &secret);
    }
    hub.clock.advance(61);
    assert_eq!(hub.engine.sweep(2, 2).unwrap().grants, 4);
    assert_eq!(hub.engine.sweep(2, 2).unwrap().grants, 3);
}

#[test]
fn a_spent_refresh_token_is_kept_until_it_expires_so_reuse_is_still_caught() {
    let hub = Hub::new();
    let (c, secret) =
        hub.client(ClientInput { scopes: gatehouse_core::ScopeSet::parse("profile"), ..web_client_input() });
    let user = hub.user("a@example.com");
    let code = hub.code(&c, &user, "&scope=profile");
    let first =
        hub.token(&c, &secret, &format!("grant_type=authorization_code&code={code}&redirect_uri={REDIRECT}")).unwrap();
    let spent = first.refresh_token.unwrap();
    let next = hub.token(&c, &secret, &format!("grant_type=refresh_token&refresh_token={spent}")).unwrap();
    hub.clock.advance(3601); // access tokens and the code expired; refresh tokens live on
    hub.engine.sweep(500, 10).unwrap();
    let replay = hub.token(&c, &secret, &format!("grant_type=refresh_token&refresh_token={spent}"));
    assert!(replay.is_err());
    let after =
        hub.token(&c, &secret, &format!("grant_type=refresh_token&refresh_token={}", next.refresh_token.unwrap()));
    assert!(after.is_err(), "the replay still revoked the family");
}

#[test]
fn ended_and_expired_sessions_go_after_an_hour_live_ones_stay() {
    let hub = Hub::with(|c| c.session_ttl = 7200);
    let user = hub.user("a@example.com");
    let ended = hub.engine.sign_in(user.id, "password", &ctx()).unwrap();
    hub.engine.end_session(user.id, ended.session.id).unwrap();
    let expiring = hub.engine.sign_in(user.id, "password", &ctx()).unwrap();
    hub.clock.advance(3601);
    let live = hub.engine.sign_in(user.id, "password", &ctx()).unwrap();
    assert_eq!(hub.engine.sweep(500, 10).unwrap().sessions, 1, "the ended one");
    hub.clock.advance(3600 + 7200 + 1);
    let fresh = hub.engine.sign_in(user.id, "password", &ctx()).unwrap();
    assert_eq!(hub.engine.sweep(500, 10).unwrap().sessions, 2, "both expired ones");
    assert!(hub.engine.session_from_cookie(&fresh.cookie).unwrap().is_some());
    let _ = (expiring, live);
}

#[test]
fn audit_events_are_kept_for_the_retention_period() {
    let hub = Hub::with(|c| c.audit_retention_secs = 86_400);
    hub.user("old@example.com");
    hub.clock.advance(86_401);
    hub.user("new@example.com");
    let swept = hub.engine.sweep(500, 10).unwrap();
    assert_eq!(swept.audit_events, 1);
    let left = hub.engine.audit_events(Some("user.created"), 10).unwrap();
    assert_eq!(left.len(), 1);
    assert!(left[0].message.contains("new@example.com"));
}

#[test]
fn token_traffic_goes_on_while_the_janitor_sweeps() {
    use std::sync::Arc;
    let hub = Arc::new(Hub::with(|c| c.access_ttl = 60));
    let (c, secret) = hub.service_client();
    for _ in 0..300 {
        client_credentials(&hub, &c, &secret);
    }
    hub.clock.advance(61);
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let (hub, c, secret) = (hub.clone(), c.clone(), secret.clone());
            std::thread::spawn(move || (0..100).map(|_| client_credentials(&hub, &c, &secret)).collect::<Vec<_>>())
        })
        .collect();
    let mut swept = 0;
    for _ in 0..20 {
        swept += hub.engine.sweep(20, 1).unwrap().grants;
    }
    let issued: Vec<String> = workers.into_iter().flat_map(|w| w.join().unwrap()).collect();
    swept += hub.engine.sweep(500, 10).unwrap().grants;
    assert_eq!(swept, 300, "exactly the expired ones");
    assert_eq!(issued.len(), 200);
    assert!(issued.iter().all(|t| active(&hub, &c, &secret, t)), "every token issued meanwhile is live");
}

#[test]
fn expired_links_go_and_live_ones_stay() {
    let hub = Hub::new();
    let old = hub.engine.invite("old@example.com").unwrap();
    hub.clock.advance(gatehouse_engine::signup::INVITATION_DAYS * 86_400 + 1);
    let live = hub.engine.invite("new@example.com").unwrap();
    let token = |link: &str| query_param(link, "invitation").unwrap();
    assert_eq!(hub.engine.sweep(100, 10).unwrap().user_tokens, 1);
    assert_eq!(hub.engine.invitation_email(&token(&live)).unwrap().as_deref(), Some("new@example.com"));
    assert_eq!(hub.engine.invitation_email(&token(&old)).unwrap(), None);
}
