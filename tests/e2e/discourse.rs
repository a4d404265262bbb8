//! The `discourse` plugin as a DiscourseConnect provider, driven by a
//! test-side stand-in for Discourse that does the forum's half of the
//! documented protocol: it signs `nonce` + `return_sso_url` with the shared
//! secret, sends the browser to Gatehouse, and checks the answer's
//! signature and nonce before reading the member's fields. Its admin API
//! (`/u/by-external/…`, `/admin/users/…/log_out`) is a local stand-in too.

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::common::*;
use crate::oauth_support::*;

const SECRET: &str = "a shared secret of the forum";

/// Discourse's side of DiscourseConnect.
struct Forum {
    /// The forum's base URL (its admin API stand-in listens there).
    base: String,
    secret: String,
    /// Nonces issued and not yet returned (Discourse keeps them 10 minutes).
    pending: Mutex<HashSet<String>>,
}

impl Forum {
    fn new(base: &str, secret: &str) -> Forum {
        Forum { base: base.to_string(), secret: secret.to_string(), pending: Mutex::default() }
    }

    fn sign(&self, payload: &str) -> String {
        let mut m = Hmac::<Sha256>::new_from_slice(self.secret.as_bytes()).unwrap();
        m.update(payload.as_bytes());
        hex::encode(m.finalize().into_bytes())
    }

    /// The URL Discourse sends a browser to: `discourse connect url` with
    /// `sso` (Base64 of the query) and `sig` (hex HMAC of the Base64 text).
    fn login_url(&self, gatehouse: &Server, extra: &[(&str, &str)]) -> String {
        let nonce = random_hex(16);
        self.pending.lock().unwrap().insert(nonce.clone());
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        q.append_pair("nonce", &nonce).append_pair("return_sso_url", &format!("{}/session/sso_login", self.base));
        for (k, v) in extra {
            q.append_pair(k, v);
        }
        let sso = base64::engine::general_purpose::STANDARD.encode(q.finish());
        let sig = self.sign(&sso);
        let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        gatehouse.url(&format!("/session/sso_provider?sso={}&sig={sig}", enc(&sso)))
    }

    /// `/session/sso_login?sso=…&sig=…` as Discourse checks it: the
    /// signature, then the nonce (spent), then the fields.
    fn accept(&self, location: &str) -> BTreeMap<String, String> {
        assert!(location.starts_with(&format!("{}/session/sso_login?", self.base)), "{location}");
        let sso = query_param(location, "sso").expect("sso");
        let sig = query_param(location, "sig").expect("sig");
        assert_eq!(self.sign(&sso), sig, "Gatehouse's answer must be signed with the shared secret");
        let raw = base64::engine::general_purpose::STANDARD.decode(&sso).unwrap();
        let fields: BTreeMap<String, String> = url::form_urlencoded::parse(&raw).into_owned().collect();
        assert!(self.pending.lock().unwrap().remove(&fields["nonce"]), "the answer must echo a nonce we issued");
        fields
    }
}

struct Setup {
    server: Server,
    forum: Forum,
    api: StandInHttp,
}

fn start(backend: Backend) -> Setup {
    // The forum's admin API: user 77 is the member; log_out succeeds.
    let api = StandInHttp::start(|r| match (r.method.as_str(), r.target.as_str()) {
        ("GET", t) if t.starts_with("/u/by-external/") => ("200 OK", r#"{"user":{"id":77,"username":"ada"}}"#.into()),
        ("POST", "/admin/users/77/log_out") => ("200 OK", r#"{"success":"OK"}"#.into()),
        _ => ("404 Not Found", "{}".into()),
    });
    let plugin = build_plugin("gatehouse-discourse", "gatehouse_discourse");
    let config = format!(
        "[[plugins]]\npath = \"{}\"\n[plugins.config]\nforum_url = \"{base}\"\nsecret = \"{SECRET}\"\n\
         redirect_targets = [\"{base}/session/*\"]\nadmin_groups = [\"staff\"]\nmoderator_groups = [\"mods\"]\n\
         avatar_url_template = \"https://avatars.example.com/{{uuid}}.png\"\napi_key = \"KEY\"\napi_username = \"system\"\n\
         [plugins.config.group_map]\nvip = \"patrons\"\nbeta = \"testers\"\n",
        plugin.display(),
        base = api.base
    );
    let server = Server::start_with(backend, ServerOptions { config, ..Default::default() });
    let forum = Forum::new(&api.base, SECRET);
    Setup { server, forum, api }
}

/// The browser goes to Gatehouse from the forum; signs in when asked.
fn round_trip(s: &Setup, b: &reqwest::blocking::Client, url: &str, email: &str) -> reqwest::blocking::Response {
    let r = b.get(url).send().unwrap();
    if r.status() != 303 {
        return r;
    }
    let login = location(&r);
    assert!(login.starts_with("/login?return_to="), "{login}");
    let r = login_at(b, &s.server, &login, email, PASSWORD);
    assert!(r.status().is_redirection(), "sign-in failed: {}", r.text().unwrap());
    let back = location(&r);
    assert!(back.starts_with("/session/sso_provider?"), "back to the same request: {back}");
    b.get(s.server.url(&back)).send().unwrap()
}

#[test]
fn a_forum_signs_members_in_with_discourse_connect() {
    for backend in backends() {
        let s = start(backend);
        let user = add_user(&s.server, "ada@example.com");
        s.server.cli_json(&["user", "groups", "ada@example.com", "--set", "staff,vip"]);
        let b = browser();

        let r = round_trip(&s, &b, &s.forum.login_url(&s.server, &[]), "ada@example.com");
        assert_eq!(r.status(), 302, "{backend:?}");
        let f = s.forum.accept(&location(&r));
        assert_eq!(f["email"], "ada@example.com");
        assert_eq!(f["external_id"], user["sub"].as_str().unwrap(), "the stable uuid");
        assert_eq!(f["name"], "Ada Lovelace");
        assert_eq!(f["username"], "Ada_Lovelace");
        assert_eq!(f["require_activation"], "true", "the address is not verified");
        assert_eq!(f["admin"], "true");
        assert_eq!(f["moderator"], "false");
        assert_eq!(f["add_groups"], "patrons");
        assert_eq!(f["remove_groups"], "testers");
        assert_eq!(f["avatar_url"], format!("https://avatars.example.com/{}.png", user["sub"].as_str().unwrap()));

        // Signed in already: straight back, groups as they are now.
        s.server.cli_json(&["user", "groups", "ada@example.com", "--set", "beta"]);
        let r = b.get(s.forum.login_url(&s.server, &[])).send().unwrap();
        assert_eq!(r.status(), 302);
        let f = s.forum.accept(&location(&r));
        assert_eq!((f["admin"].as_str(), f["add_groups"].as_str()), ("false", "testers"));
        assert_eq!(f["remove_groups"], "patrons");
        assert!(audit_messages(&s.server).iter().any(|m| m.contains("DiscourseConnect sign-in for User ID")));
    }
}

#[test]
fn bad_signatures_foreign_return_urls_and_replays_are_refused() {
    for backend in backends() {
        let s = start(backend);
        add_user(&s.server, "eve@example.com");
        let b = browser();
        login(&b, &s.server, "eve@example.com", PASSWORD);

        // Signed with another secret.
        let impostor = Forum::new(&s.forum.base, "not the shared secret");
        let r = b.get(impostor.login_url(&s.server, &[])).send().unwrap();
        assert_eq!(r.status(), 403, "{backend:?}");
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
        let page = r.text().unwrap();
        assert!(page.contains("signature does not match") && page.contains("Back to the forum"), "{page}");

        // Signed correctly, but the answer would go elsewhere.
        let elsewhere = Forum::new("https://evil.example", SECRET);
        let r = b.get(elsewhere.login_url(&s.server, &[])).send().unwrap();
        assert_eq!(r.status(), 400);
        assert!(r.text().unwrap().contains("return_sso_url is not on the configured forum"));

        // No parameters at all.
        let r = b.get(s.server.url("/session/sso_provider")).send().unwrap();
        assert_eq!(r.status(), 403);

        // The same signed request twice: the second is a replay.
        let url = s.forum.login_url(&s.server, &[]);
        assert_eq!(b.get(&url).send().unwrap().status(), 302);
        let r = b.get(&url).send().unwrap();
        assert_eq!(r.status(), 400);
        assert!(r.text().unwrap().contains("used already"));
        let audit = audit_messages(&s.server);
        assert!(audit.iter().filter(|m| m.contains("DiscourseConnect request refused")).count() >= 4, "{audit:?}");
    }
}

#[test]
fn closed_members_and_members_without_sso_are_refused_with_a_reason() {
    for backend in backends() {
        let s = start(backend);
        add_user(&s.server, "off@example.com");
        add_user(&s.server, "gone@example.com");
        s.server.cli_json(&["user", "set-sso", "off@example.com", "off"]);
        let b = browser();
        let r = round_trip(&s, &b, &s.forum.login_url(&s.server, &[]), "off@example.com");
        assert_eq!(r.status(), 403, "{backend:?}");
        let page = r.text().unwrap();
        assert!(page.contains("single sign-on is switched off") && page.contains("href=\"/account\""), "{page}");

        // A Closed account cannot sign in, so it never reaches the forum.
        let b = browser();
        login(&b, &s.server, "gone@example.com", PASSWORD);
        s.server.cli_json(&["user", "set-status", "gone@example.com", "Closed"]);
        let r = b.get(s.forum.login_url(&s.server, &[])).send().unwrap();
        assert_eq!(r.status(), 303, "the ended session sends the browser to sign in");
        let login_path = location(&r);
        let page = b.get(s.server.url(&login_path)).send().unwrap().text().unwrap();
        let form = vec![
            ("csrf_token", hidden_field(&page, "csrf_token")),
            ("email", "gone@example.com".to_string()),
            ("password", PASSWORD.to_string()),
            ("return_to", hidden_field(&page, "return_to")),
        ];
        let r = b.post(s.server.url("/login")).form(&form).send().unwrap();
        assert!(r.text().unwrap().contains("This account is closed"));
    }
}

#[test]
fn signing_out_ends_both_sessions() {
    let s = start(Backend::Sqlite);
    let user = add_user(&s.server, "bye@example.com");
    let b = browser();
    let r = round_trip(&s, &b, &s.forum.login_url(&s.server, &[]), "bye@example.com");
    s.forum.accept(&location(&r));

    // The forum's logout: a signed `logout=true` request ends the Gatehouse
    // session and returns to the forum.
    let r = b.get(s.forum.login_url(&s.server, &[("logout", "true")])).send().unwrap();
    assert_eq!(r.status(), 302);
    assert_eq!(location(&r), format!("{}/session/sso_login", s.forum.base));
    assert_eq!(b.get(s.server.url("/account")).send().unwrap().status(), 303, "signed out of Gatehouse");

    // Signing out of Gatehouse reaches the forum's admin API: find the
    // forum user by external id, then log_out, with the API headers.
    let uuid = user["sub"].as_str().unwrap();
    let mut seen = Vec::new();
    for _ in 0..50 {
        seen = s.api.requests();
        if seen.iter().any(|r| r.target == "/admin/users/77/log_out") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let lookup = seen.iter().find(|r| r.method == "GET").expect("a lookup");
    assert_eq!(lookup.target, format!("/u/by-external/{uuid}.json"));
    assert_eq!(lookup.header("api-key"), Some("KEY"));
    assert_eq!(lookup.header("api-username"), Some("system"));
    let logout = seen.iter().find(|r| r.method == "POST").expect("a log_out call");
    assert_eq!(logout.target, "/admin/users/77/log_out");
}

#[test]
fn plugin_setup_names_the_forums_settings() {
    let s = start(Backend::Sqlite);
    let v = s.server.cli_json(&["plugin", "setup", "discourse"]);
    let fields: BTreeMap<String, String> = v["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["label"].as_str().unwrap().into(), f["value"].as_str().unwrap().into()))
        .collect();
    assert_eq!(fields["enable discourse connect"], "checked");
    assert!(fields["discourse connect url"].ends_with("/session/sso_provider"), "{fields:?}");
    assert!(fields.contains_key("discourse connect secret"));
}
