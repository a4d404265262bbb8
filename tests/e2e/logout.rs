//! OpenID Connect Back-Channel and Front-Channel Logout: a relying party
//! built on npm `jose` (`tests/js/backchannel.mjs`) receives the logout
//! tokens and verifies them against the JWKS and the specification's
//! claim rules; the signed-out page frames front-channel URIs.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::Duration;

use serde_json::Value;

use crate::common::*;
use crate::oauth_support::*;

const CB: &str = "https://app.example/cb";

/// `node tests/js/backchannel.mjs`: the RP's back-channel endpoint; its
/// verdicts arrive as JSON lines. Killed on drop.
struct LogoutReceiver {
    child: Child,
    lines: Receiver<Value>,
}

impl LogoutReceiver {
    fn start(server: &Server, client_id: &str, port: u16) -> LogoutReceiver {
        npm_ready("js", "jose");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js/backchannel.mjs");
        let mut child = Command::new("node")
            .arg(script)
            .args([&server.base, client_id, &port.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start node backchannel.mjs");
        let out = child.stdout.take().unwrap();
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    let _ = tx.send(v);
                }
            }
        });
        let r = LogoutReceiver { child, lines: rx };
        let first = r.next();
        assert_eq!(first["listening"], port, "receiver did not start: {first}");
        r
    }

    fn next(&self) -> Value {
        self.lines.recv_timeout(Duration::from_secs(20)).expect("no back-channel logout request arrived")
    }

    fn nothing_more(&self) {
        if let Ok(v) = self.lines.recv_timeout(Duration::from_millis(700)) {
            panic!("unexpected back-channel request: {v}");
        }
    }
}

impl Drop for LogoutReceiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A first-party client whose back-channel logout URI is the receiver's
/// `path` (the receiver is started afterwards, with the client's id).
fn client_with_backchannel(server: &Server, port: u16, path: &str) -> TestClient {
    add_client(
        server,
        CB,
        &[
            "--scope",
            "openid profile",
            "--first-party",
            "--backchannel-logout-uri",
            &format!("http://127.0.0.1:{port}{path}"),
            "--post-logout-redirect-uri",
            "https://app.example/bye",
        ],
    )
}

fn wait_for_audit(server: &Server, needle: &str) -> String {
    for _ in 0..100 {
        if let Some(m) = audit_messages(server).into_iter().find(|m| m.contains(needle)) {
            return m;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("no audit event containing {needle:?}: {:?}", audit_messages(server));
}

#[test]
fn a_relying_party_receives_and_verifies_back_channel_logout_tokens() {
    for backend in backends() {
        let server = Server::start(backend);
        let user = add_user(&server, "bye@example.com");
        let port = free_port();
        let client = client_with_backchannel(&server, port, "/backchannel");
        let rp = LogoutReceiver::start(&server, &client.id, port);

        // Discovery says so.
        let meta: Value = http().get(server.url("/.well-known/openid-configuration")).send().unwrap().json().unwrap();
        assert_eq!(meta["backchannel_logout_supported"], true);
        assert_eq!(meta["backchannel_logout_session_supported"], true);
        assert_eq!(meta["frontchannel_logout_supported"], true);

        // Sign in to the app: the ID token carries the session's sid.
        let (b, code) = code_for(&server, &client, "bye@example.com", &[("scope", "openid")]);
        let (status, t) =
            token(&server, &client, &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", CB)]);
        assert_eq!(status, 200, "{t}");
        let id_token = t["id_token"].as_str().unwrap();
        let (_, id_claims) = jwt_claims(id_token);
        let sid = id_claims["sid"].as_str().expect("sid in the ID token").to_string();
        assert!(sid.len() >= 16, "{sid}");

        // RP-initiated logout: the RP hears of it with a token it verifies.
        let r = b
            .get(server.url(&format!(
                "/oauth2/logout?id_token_hint={id_token}&post_logout_redirect_uri=https://app.example/bye"
            )))
            .send()
            .unwrap();
        assert_eq!(r.status(), 302, "{backend:?}");
        let got = rp.next();
        assert_eq!(got["ok"], true, "{got}");
        assert_eq!(got["header"]["typ"], "logout+jwt");
        assert_eq!(got["header"]["alg"], "RS256");
        let c = &got["claims"];
        assert_eq!(c["iss"], server.base.as_str());
        assert_eq!(c["aud"], client.id.as_str());
        assert_eq!(c["sub"], user["sub"]);
        assert_eq!(c["sid"], sid.as_str(), "the logout token names the session the ID token named");
        assert!(c["exp"].as_i64().unwrap() > c["iat"].as_i64().unwrap());
        rp.nothing_more();
        let sent = wait_for_audit(&server, "Back-channel logout delivered to");
        assert!(sent.contains(&client.id), "{sent}");

        // A session that signed in to no app with a back-channel: no token.
        let other = browser();
        login(&other, &server, "bye@example.com", PASSWORD);
        let (_, code) = code_for(&server, &client, "bye@example.com", &[("scope", "openid")]);
        token(&server, &client, &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", CB)]);
        // Closing the account ends both live sessions; only the one that
        // signed in to the app produces a token, with a different sid.
        // (Through the admin API: the test server's issuer comes from its
        // --bind, which a CLI run with the same config file does not know.)
        let admin = admin_token(&server);
        let uid = user["id"].as_i64().unwrap();
        let r = http()
            .patch(server.url(&format!("/admin/api/v1/users/{uid}")))
            .bearer_auth(&admin)
            .json(&serde_json::json!({ "status": "Closed" }))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
        let got = rp.next();
        assert_eq!(got["ok"], true, "{got}");
        assert_ne!(got["claims"]["sid"], sid.as_str());
        assert_eq!(got["claims"]["sub"], user["sub"]);
        rp.nothing_more();
    }
}

#[test]
fn an_administrator_ending_sessions_and_a_refusing_client_are_audited() {
    let server = Server::start(Backend::Sqlite);
    server.cli_json(&["user", "add", "--email", "adm@example.com", "--password", PASSWORD, "--name", "Ada"]);
    let port = free_port();
    let good = client_with_backchannel(&server, port, "/backchannel");
    let refusing = client_with_backchannel(&server, port, "/reject");
    let rp = LogoutReceiver::start(&server, &good.id, port);
    for c in [&good, &refusing] {
        let (_, code) = code_for(&server, c, "adm@example.com", &[("scope", "openid")]);
        let (status, _) =
            token(&server, c, &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", CB)]);
        assert_eq!(status, 200);
    }
    let store = gatehouse_store::Store::open(&server.db.url).unwrap();
    let uid = store.user_by_email("adm@example.com").unwrap().unwrap().id;
    drop(store);
    // An administrator ends every session (the console and the admin API
    // take the same engine path).
    let admin = admin_token(&server);
    let r =
        http().delete(server.url(&format!("/admin/api/v1/users/{uid}/sessions"))).bearer_auth(&admin).send().unwrap();
    assert_eq!(r.status(), 200);
    let mut seen = [rp.next(), rp.next()];
    seen.sort_by_key(|v| v["path"].as_str().unwrap_or("").to_string());
    assert_eq!(seen[0]["path"], "/backchannel");
    assert_eq!(seen[0]["ok"], true, "{}", seen[0]);
    assert_eq!(seen[1]["path"], "/reject");
    let failed = wait_for_audit(&server, "Back-channel logout to");
    assert!(failed.contains(&refusing.id) && failed.contains("HTTP 400") && failed.contains("1 attempt"), "{failed}");
    wait_for_audit(&server, "session(s) ended");
}

#[test]
fn the_signed_out_page_frames_front_channel_logout_uris() {
    let server = Server::start(Backend::Sqlite);
    add_user(&server, "front@example.com");
    let client = add_client(
        &server,
        CB,
        &[
            "--scope",
            "openid",
            "--first-party",
            "--frontchannel-logout-uri",
            "https://app.example/frontchannel?x=1",
            "--post-logout-redirect-uri",
            "https://app.example/bye",
        ],
    );
    let (b, code) = code_for(&server, &client, "front@example.com", &[("scope", "openid")]);
    let (_, t) =
        token(&server, &client, &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", CB)]);
    let id_token = t["id_token"].as_str().unwrap();
    let sid = jwt_claims(id_token).1["sid"].as_str().unwrap().to_string();
    let r = b
        .get(server.url(&format!(
            "/oauth2/logout?id_token_hint={id_token}&post_logout_redirect_uri=https://app.example/bye&state=s1"
        )))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let csp = r.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(csp.contains("frame-src https://app.example") && csp.contains("frame-ancestors 'none'"), "{csp}");
    let refresh = r.headers()["refresh"].to_str().unwrap().to_string();
    assert_eq!(refresh, "3; url=https://app.example/bye?state=s1");
    let page = r.text().unwrap();
    let iss = url::form_urlencoded::byte_serialize(server.base.as_bytes()).collect::<String>();
    let expected = format!("https://app.example/frontchannel?x=1&amp;iss={iss}&amp;sid={sid}");
    assert!(page.contains(&format!("<iframe src=\"{expected}\"")), "{page}");
    assert!(page.contains("href=\"https://app.example/bye?state=s1\""), "{page}");
    // Signed out for real.
    assert_eq!(b.get(server.url("/account")).send().unwrap().status(), 303);
}

#[test]
fn logout_uris_are_validated_like_redirect_uris() {
    let server = Server::start(Backend::Sqlite);
    for bad in ["not a url", "https://app.example/bc#frag", "http://app.example/bc"] {
        let out = server.cli(&["client", "add", "--name", "x", "--redirect-uri", CB, "--backchannel-logout-uri", bad]);
        assert!(!out.status.success(), "{bad} was accepted");
    }
}
