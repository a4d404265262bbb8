//! Signing-key rotation publishes before it signs (docs/architecture.md §9,
//! "Key rotation waits before it signs"): a rotated key is in JWKS at once but signs only after the
//! activation delay, and the old key stays published while its tokens live.
//! SQLite and PostgreSQL.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::common::*;
use crate::oauth_support::*;

const CB: &str = "https://app.example/cb";
const DELAY: i64 = 4;

fn kids(server: &Server) -> Vec<String> {
    let jwks: Value = http().get(server.url("/jwks.json")).send().unwrap().json().unwrap();
    jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_string()).collect()
}

/// JWKS once it lists `n` keys: the server re-reads the keys at most once a
/// second, so a key another process added appears within a second.
fn kids_once(server: &Server, n: usize) -> Vec<String> {
    let until = std::time::Instant::now() + Duration::from_secs(3);
    loop {
        let k = kids(server);
        if k.len() == n || std::time::Instant::now() > until {
            return k;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn id_token_kid(server: &Server, client: &TestClient, code: &str) -> String {
    let (status, t) =
        token(server, client, &[("grant_type", "authorization_code"), ("code", code), ("redirect_uri", CB)]);
    assert_eq!(status, 200, "{t}");
    let (h, _) = jwt_claims(t["id_token"].as_str().unwrap());
    assert_eq!(h["alg"], "RS256");
    h["kid"].as_str().unwrap().to_string()
}

fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

#[test]
fn a_rotated_key_is_published_first_and_signs_after_the_delay() {
    for backend in backends() {
        let opts = ServerOptions {
            config: format!("[tokens]\nkey_activation_delay = {DELAY}\nid_token_ttl = 600\n"),
            ..Default::default()
        };
        let server = Server::start_with(backend, opts);
        add_user(&server, "rot@example.com");
        let c = add_client(&server, CB, &["--scope", "openid", "--first-party"]);

        // First start: the only key signs at once.
        let (_, code) = code_for(&server, &c, "rot@example.com", &[]);
        let old = id_token_kid(&server, &c, &code);
        assert!(kids(&server).contains(&old));

        // A code taken before the rotation is redeemed right after it: the
        // signing happens then, within the delay.
        let (_, code) = code_for(&server, &c, "rot@example.com", &[]);
        let before = unix_now();
        let out = server.cli_json(&["keys", "rotate"]);
        let new_rsa = out["created"].as_array().unwrap().iter().find(|k| k["alg"] == "RS256").unwrap().clone();
        let new = new_rsa["kid"].as_str().unwrap().to_string();
        let signs_from = new_rsa["signs_from"].as_i64().unwrap();
        assert!(signs_from >= before + DELAY && signs_from <= unix_now() + DELAY, "{out}");
        let published = kids_once(&server, 6);
        assert!(published.contains(&old) && published.contains(&new), "{published:?}");
        assert_eq!(published.len(), 6, "{published:?}");
        assert_eq!(id_token_kid(&server, &c, &code), old, "the new key must not sign before the delay");

        // The human output says when the new key signs.
        let text = server.cli(&["keys", "list"]);
        let text = String::from_utf8_lossy(&text.stdout);
        assert!(text.contains(&format!("{old}\tRS256\tsigning until")), "{text}");

        // After the delay the new key signs; the old one stays published
        // while the ID tokens it signed live.
        let wait = signs_from + 1 - unix_now();
        if wait > 0 {
            std::thread::sleep(Duration::from_secs(wait as u64));
        }
        let (_, code) = code_for(&server, &c, "rot@example.com", &[]);
        assert_eq!(id_token_kid(&server, &c, &code), new);
        assert!(kids(&server).contains(&old));
        let list = server.cli_json(&["keys", "list"]);
        let old_row = list.as_array().unwrap().iter().find(|k| k["kid"] == old.as_str()).unwrap();
        assert_eq!(old_row["retired_at"], signs_from);
        assert!(old_row["publish_until"].as_i64().unwrap() >= signs_from + 600, "{old_row}");
    }
}
