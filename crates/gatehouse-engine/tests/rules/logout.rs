//! Back-channel and front-channel logout: every way a session ends tells
//! the clients it signed in to, with the `sid` their ID token carried.

use std::sync::{Arc, Mutex};

use base64::Engine as _;
use gatehouse_engine::logout::{BackchannelLogout, LogoutSender, BACKCHANNEL_LOGOUT_EVENT};
use serde_json::Value;

use crate::harness::*;

#[derive(Default)]
struct Sent(Mutex<Vec<BackchannelLogout>>);

impl LogoutSender for Sent {
    fn send(&self, notice: BackchannelLogout) {
        self.0.lock().unwrap().push(notice);
    }
}

fn part(jwt: &str, i: usize) -> Value {
    let seg = jwt.split('.').nth(i).unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(seg).unwrap()).unwrap()
}

fn hub_with_backchannel() -> (Hub, Arc<Sent>, gatehouse_engine::model::Client, String) {
    let mut hub = Hub::new().with_keys();
    let sent = Arc::new(Sent::default());
    hub.engine.set_logout_sender(sent.clone());
    let (client, secret) = hub.client(gatehouse_engine::directory::ClientInput {
        backchannel_logout_uri: Some("https://app.example/backchannel".into()),
        frontchannel_logout_uri: Some("https://app.example/front?x=1".into()),
        ..web_client_input()
    });
    (hub, sent, client, secret)
}

#[test]
fn an_id_token_names_its_session_and_the_logout_token_names_the_same() {
    let (hub, sent, client, secret) = hub_with_backchannel();
    let u = hub.user("ada@example.com");
    let t = hub.tokens(&client, &secret, &u);
    let sid = part(t.id_token.as_deref().unwrap(), 1)["sid"].as_str().unwrap().to_string();
    assert!(sent.0.lock().unwrap().is_empty());

    assert_eq!(hub.engine.end_sessions_of_user(u.id).unwrap(), 1);
    let notices = sent.0.lock().unwrap().clone();
    assert_eq!(notices.len(), 1);
    let n = &notices[0];
    assert_eq!(
        (n.uri.as_str(), n.client_id.as_str(), n.sid.as_str()),
        ("https://app.example/backchannel", client.client_id.as_str(), sid.as_str())
    );
    let (header, claims) = (part(&n.logout_token, 0), part(&n.logout_token, 1));
    assert_eq!(header["typ"], "logout+jwt");
    assert_eq!(claims["sid"], sid.as_str());
    assert_eq!(claims["sub"], u.uuid.as_str());
    assert_eq!(claims["aud"], client.client_id.as_str());
    assert!(claims["events"][BACKCHANNEL_LOGOUT_EVENT].is_object());
    assert!(claims.get("nonce").is_none());
    assert!(claims["jti"].as_str().unwrap().len() >= 20);
}

#[test]
fn sessions_that_never_reached_the_client_send_nothing_and_each_end_sends_once() {
    let (hub, sent, client, secret) = hub_with_backchannel();
    let u = hub.user("ada@example.com");
    let quiet = hub.session(&u); // signs in to no app
    hub.tokens(&client, &secret, &u);
    assert!(hub.engine.end_session(u.id, quiet.id).unwrap());
    assert!(sent.0.lock().unwrap().is_empty(), "that session signed in to no client");
    // Closing the account ends the other; ending it again sends nothing more.
    hub.engine.set_user_status(u.id, gatehouse_core::UserStatus::Closed).unwrap();
    assert_eq!(sent.0.lock().unwrap().len(), 1);
    assert_eq!(hub.engine.end_sessions_of_user(u.id).unwrap(), 0);
    assert_eq!(sent.0.lock().unwrap().len(), 1);
}

#[test]
fn front_channel_urls_carry_the_issuer_and_the_sid() {
    let (hub, _, client, secret) = hub_with_backchannel();
    let u = hub.user("ada@example.com");
    let t = hub.tokens(&client, &secret, &u);
    let sid = part(t.id_token.as_deref().unwrap(), 1)["sid"].as_str().unwrap().to_string();
    let session = hub.engine.sessions_of_user(u.id).unwrap()[0].clone();
    assert_eq!(hub.engine.session_sid(session.id), sid);
    let urls = hub.engine.frontchannel_logout_urls(session.id).unwrap();
    let iss = url::form_urlencoded::byte_serialize(hub.engine.config.issuer.as_bytes()).collect::<String>();
    assert_eq!(urls, vec![format!("https://app.example/front?x=1&iss={iss}&sid={sid}")]);
}

#[test]
fn logout_uris_must_be_https_without_a_fragment() {
    let hub = Hub::new();
    for bad in ["https://app.example/bc#x", "http://app.example/bc", "/relative"] {
        let r = hub.engine.register_client(gatehouse_engine::directory::ClientInput {
            backchannel_logout_uri: Some(bad.into()),
            ..web_client_input()
        });
        assert!(matches!(r, Err(gatehouse_engine::EngineError::Invalid(_))), "{bad}");
    }
    assert!(hub
        .engine
        .register_client(gatehouse_engine::directory::ClientInput {
            backchannel_logout_uri: Some("http://127.0.0.1:9/bc".into()),
            ..web_client_input()
        })
        .is_ok());
}
