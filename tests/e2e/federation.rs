//! Federated sign-in end to end, on SQLite and PostgreSQL: Gatehouse loads
//! the `oidc` plugin and signs users in through a real upstream OpenID
//! Connect provider (npm `oidc-provider`, `tests/js-op/op.mjs`, installed by
//! the test with `npm ci` when missing), while a downstream client runs the
//! code flow against Gatehouse.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use reqwest::blocking::{Client as Http, Response};
use serde_json::Value;

use crate::common::*;
use crate::oauth_support::*;

const CB: &str = "https://app.example/cb";
const OP_CLIENT: &str = "gatehouse";
const OP_SECRET: &str = "upstream-client-secret-for-tests-only";
const PROVIDER: &str = "Upstream Corp";

/// Installs the upstream provider's modules when they are missing.
fn npm_ready() {
    crate::common::npm_ready("js-op", "oidc-provider");
}

/// A running `node tests/js-op/op.mjs`, killed on drop.
struct Op {
    child: Child,
    base: String,
}

impl Drop for Op {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Op {
    /// `oidc-provider` with one client, Gatehouse's callback `redirect_uri`.
    fn start(port: u16, redirect_uri: &str) -> Op {
        Op::launch(
            "op.mjs",
            port,
            &[("OP_CLIENT_ID", OP_CLIENT), ("OP_CLIENT_SECRET", OP_SECRET), ("OP_REDIRECT_URI", redirect_uri)],
        )
    }

    /// `node tests/js-op/<script>` on `port`, once it says it is ready.
    fn launch(script: &str, port: u16, env: &[(&str, &str)]) -> Op {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js-op").join(script);
        let mut child = Command::new("node")
            .arg(&script)
            .env("OP_PORT", port.to_string())
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start node {}: {e}", script.display()));
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.starts_with("op ready") {
                    let _ = tx.send(());
                }
            }
        });
        let mut op = Op { child, base: format!("http://127.0.0.1:{port}") };
        if rx.recv_timeout(Duration::from_secs(30)).is_err() {
            let status = op.child.try_wait();
            panic!("the upstream {} did not start ({status:?})", script.display());
        }
        op
    }
}

/// Gatehouse with the oidc plugin pointed at an upstream on `op_port`.
fn gatehouse(backend: Backend, op_port: u16, env: &[(&str, &str)]) -> Server {
    let plugin = build_plugin("gatehouse-oidc", "gatehouse_oidc");
    let config = format!(
        "[[plugins]]\npath = \"{}\"\n[plugins.config]\nissuer = \"http://127.0.0.1:{op_port}\"\n\
         client_id = \"{OP_CLIENT}\"\nclient_secret = \"{OP_SECRET}\"\ndisplay_name = \"{PROVIDER}\"\n",
        plugin.display()
    );
    let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    Server::start_with(backend, ServerOptions { config, env, ..Default::default() })
}

/// Gatehouse and its upstream, started together.
fn setup(backend: Backend, env: &[(&str, &str)]) -> (Server, Op) {
    npm_ready();
    let op_port = free_port();
    let server = gatehouse(backend, op_port, env);
    let op = Op::start(op_port, &server.url("/federation/oidc/callback"));
    (server, op)
}

fn location(r: &Response) -> String {
    r.headers().get("location").unwrap_or_else(|| panic!("no Location on {}", r.status())).to_str().unwrap().to_string()
}

/// The form of an upstream page that carries `prompt=<prompt>`, as (action, fields).
fn upstream_form(page: &str, prompt: &str) -> Option<(String, Vec<(String, String)>)> {
    parse_forms(page).into_iter().find_map(|f| {
        let is = f.inputs.iter().any(|(n, v, _)| n == "prompt" && v == prompt);
        is.then(|| (f.action.clone(), f.inputs.iter().map(|(n, v, _)| (n.clone(), v.clone())).collect()))
    })
}

/// Drives the upstream's dev interactions from `url` (signing in as
/// `account`, then consenting) until a redirect leaves the upstream; with
/// `abort`, cancels at the login page instead. Returns that redirect.
fn drive_upstream(b: &Http, op: &Op, url: &str, account: &str, abort: bool) -> String {
    let mut url = url.to_string();
    let mut resp = b.get(&url).send().unwrap();
    for _ in 0..12 {
        if resp.status().is_redirection() {
            let next = absolute(&url, &location(&resp));
            if !next.starts_with(&op.base) {
                return next;
            }
            url = next;
            resp = b.get(&url).send().unwrap();
            continue;
        }
        let status = resp.status();
        let page = resp.text().unwrap();
        assert!(status.is_success(), "upstream {status} at {url}:\n{page}");
        if let Some((action, mut fields)) = upstream_form(&page, "login") {
            if abort {
                url = format!("{}/abort", url.trim_end_matches('/'));
                resp = b.get(&url).send().unwrap();
                continue;
            }
            for (n, v) in fields.iter_mut() {
                match n.as_str() {
                    "login" => *v = account.to_string(),
                    "password" => *v = "any".into(),
                    _ => {}
                }
            }
            let action = absolute(&url, &action);
            resp = b.post(&action).form(&fields).send().unwrap();
            url = action;
        } else if let Some((action, fields)) = upstream_form(&page, "consent") {
            let action = absolute(&url, &action);
            resp = b.post(&action).form(&fields).send().unwrap();
            url = action;
        } else {
            panic!("unexpected upstream page at {url}:\n{page}");
        }
    }
    panic!("the upstream did not send the browser back (last page {url})");
}

/// The "Sign in with …" link of a Gatehouse login page.
fn upstream_link(page: &str) -> String {
    let marker = "<a class=\"upstream\" href=\"";
    let start = page.find(marker).unwrap_or_else(|| panic!("no upstream link in:\n{page}")) + marker.len();
    let end = page[start..].find('"').unwrap() + start;
    html_escape::decode_html_entities(&page[start..end]).to_string()
}

/// What a full federated authorization produced.
struct Flow {
    /// Where the browser ended: the downstream redirect URI with a code.
    done: String,
    /// Where Gatehouse's callback sent the browser.
    after_callback: String,
}

/// Downstream `/oauth2/authorize` → Gatehouse login page → "Sign in with …"
/// → upstream login and consent → Gatehouse callback → back to authorize →
/// consent → the downstream redirect URI.
fn federated_authorize(b: &Http, server: &Server, op: &Op, client: &TestClient, account: &str) -> Flow {
    let auth = authorize_url(
        server,
        &[
            ("client_id", &client.id),
            ("response_type", "code"),
            ("redirect_uri", CB),
            ("scope", "openid profile email"),
            ("state", "downstream-state"),
        ],
    );
    let r = b.get(&auth).send().unwrap();
    assert!(r.status().is_redirection(), "authorize without a session sends to login: {}", r.status());
    let login = absolute(&auth, &location(&r));
    assert!(login.contains("/login?"), "{login}");
    let page = b.get(&login).send().unwrap().text().unwrap();
    assert!(page.contains(&format!("Sign in with {PROVIDER}")), "button on the login page:\n{page}");
    let start = absolute(&login, &upstream_link(&page));
    assert!(start.starts_with(&server.url("/federation/oidc/start?return_to=%2Foauth2%2Fauthorize")), "{start}");
    let r = b.get(&start).send().unwrap();
    assert_eq!(r.status(), 302, "start redirects upstream");
    let upstream = location(&r);
    assert!(upstream.starts_with(&format!("{}/auth?", op.base)), "{upstream}");
    let callback = drive_upstream(b, op, &upstream, account, false);
    assert!(callback.starts_with(&server.url("/federation/oidc/callback?")), "{callback}");
    let r = b.get(&callback).send().unwrap();
    let status = r.status();
    let after_callback = r.headers().get("location").map(|l| l.to_str().unwrap().to_string()).unwrap_or_default();
    assert_eq!(status, 302, "callback signs in: {}", r.text().unwrap_or_default());
    // Back to the pending request, then Gatehouse's own consent.
    let mut url = absolute(&callback, &after_callback);
    let mut r = b.get(&url).send().unwrap();
    for _ in 0..4 {
        if r.status().is_redirection() {
            let next = absolute(&url, &location(&r));
            if !next.starts_with(&server.base) {
                return Flow { done: next, after_callback };
            }
            url = next;
            r = b.get(&url).send().unwrap();
            continue;
        }
        let page = r.text().unwrap();
        assert!(page.contains("gatehouse_consent"), "expected the consent page at {url}:\n{page}");
        r = submit_consent(b, server, &page, "allow");
    }
    panic!("the authorization did not finish");
}

/// Redeems the code and reads userinfo.
fn userinfo(server: &Server, client: &TestClient, done: &str) -> Value {
    assert!(done.starts_with(&format!("{CB}?code=")), "{done}");
    assert_eq!(query_param(done, "state").as_deref(), Some("downstream-state"));
    let code = query_param(done, "code").unwrap();
    let (status, tok) =
        token(server, client, &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", CB)]);
    assert_eq!(status, 200, "{tok}");
    let access = tok["access_token"].as_str().unwrap();
    http().get(server.url("/oauth2/userinfo")).bearer_auth(access).send().unwrap().json().unwrap()
}

/// Whether a response sets a (non-empty) session cookie.
fn sets_session(r: &Response) -> bool {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|c| c.starts_with("gatehouse_session=") && !c.starts_with("gatehouse_session=;"))
}

/// Asserts a readable HTML refusal that sets no session; returns the page.
fn assert_refused(r: Response, status: u16, says: &str) -> String {
    assert_eq!(r.status().as_u16(), status);
    let ct = r.headers().get("content-type").unwrap().to_str().unwrap().to_string();
    assert!(ct.starts_with("text/html"), "{ct}");
    assert!(!sets_session(&r), "a refusal starts no session");
    let page = r.text().unwrap();
    assert!(page.contains(says), "{says:?} in:\n{page}");
    assert!(!page.contains(OP_SECRET), "no secrets on the page");
    page
}

/// `GET /account` with this browser: signed in or not.
fn signed_in(b: &Http, server: &Server) -> bool {
    b.get(server.url("/account")).send().unwrap().status() == 200
}

/// The cookie value a response sets.
fn set_cookie(r: &Response, name: &str) -> String {
    let prefix = format!("{name}=");
    let c = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no {name} cookie"));
    c[prefix.len()..].split(';').next().unwrap().to_string()
}

/// Starts a sign-in without a cookie jar at Gatehouse: returns the state
/// cookie's value and where the upstream sends the browser back.
fn start_by_hand(server: &Server, op: &Op, account: &str, abort: bool) -> (String, String) {
    let r = http().get(server.url("/federation/oidc/start?return_to=/account")).send().unwrap();
    assert_eq!(r.status(), 302);
    let state = set_cookie(&r, "gatehouse_federation");
    let callback = drive_upstream(&browser(), op, &location(&r), account, abort);
    assert!(callback.starts_with(&server.url("/federation/oidc/callback?")), "{callback}");
    (state, callback)
}

/// The state cookie with the plugin's CSRF token inside it replaced.
fn forge_state(cookie: &str) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut outer: Value = serde_json::from_slice(&b64.decode(cookie).unwrap()).unwrap();
    let mut inner: Value = serde_json::from_slice(&b64.decode(outer["s"].as_str().unwrap()).unwrap()).unwrap();
    inner["csrf"] = "forged".into();
    outer["s"] = b64.encode(inner.to_string()).into();
    b64.encode(outer.to_string())
}

fn callback_with(url: &str, state_cookie: Option<&str>) -> Response {
    let mut req = http().get(url);
    if let Some(v) = state_cookie {
        req = req.header("Cookie", format!("gatehouse_federation={v}"));
    }
    req.send().unwrap()
}

fn replace_param(url: &str, name: &str, value: &str) -> String {
    let mut u = url::Url::parse(url).unwrap();
    let pairs: Vec<(String, String)> = u
        .query_pairs()
        .map(|(k, v)| (k.to_string(), if k == name { value.to_string() } else { v.to_string() }))
        .collect();
    u.query_pairs_mut().clear().extend_pairs(pairs);
    u.to_string()
}

fn store(server: &Server) -> gatehouse_store::Store {
    gatehouse_store::Store::open(&server.db.url).unwrap()
}

#[test]
fn federated_sign_in_through_a_real_upstream_provider() {
    for backend in backends() {
        let (server, op) = setup(backend, &[]);
        let client = add_client(&server, CB, &["--scope", "openid profile email"]);

        // First sign-in: a new user, linked to the upstream subject, and the
        // browser returns to the pending authorization request.
        let b = browser();
        let flow = federated_authorize(&b, &server, &op, &client, "alice");
        assert!(flow.after_callback.starts_with("/oauth2/authorize?"), "{}", flow.after_callback);
        let ui = userinfo(&server, &client, &flow.done);
        assert_eq!(ui["email"], "alice@upstream.test", "{backend:?}");
        assert_eq!(ui["email_verified"], true);
        assert_eq!(ui["name"], "Upstream alice");
        let link = store(&server)
            .identity_link("oidc", "alice")
            .unwrap()
            .unwrap_or_else(|| panic!("a link: {:#?}", audit_messages(&server)));
        let user = server.cli_json(&["user", "show", "alice@upstream.test"]);
        assert_eq!(link.user_id, user["id"].as_i64().unwrap());
        assert_eq!(ui["sub"], user["sub"]);

        // Second sign-in in another browser: the same user, through the link.
        let flow2 = federated_authorize(&browser(), &server, &op, &client, "alice");
        let ui2 = userinfo(&server, &client, &flow2.done);
        assert_eq!(ui2["sub"], ui["sub"], "the link finds the same user");
        let touched = store(&server).identity_link("oidc", "alice").unwrap().unwrap();
        assert!(touched.last_login_at >= link.last_login_at);

        // A local user with the same e-mail and no link: refused without the
        // operator's opt-in; no link is made and password sign-in still works.
        add_user(&server, "dora@upstream.test");
        let b = browser();
        let r = b.get(server.url("/federation/oidc/start?return_to=/account")).send().unwrap();
        let callback = drive_upstream(&b, &op, &location(&r), "dora", false);
        let page = assert_refused(b.get(&callback).send().unwrap(), 409, "Sign in with your password");
        assert!(page.contains("href=\"/login?return_to=%2Faccount\""), "a way back:\n{page}");
        assert!(!signed_in(&b, &server));
        assert!(store(&server).identity_link("oidc", "dora").unwrap().is_none());
        assert_eq!(login(&b, &server, "dora@upstream.test", PASSWORD).status(), 303);

        // An upstream address that is not verified creates nobody.
        let b = browser();
        let r = b.get(server.url("/federation/oidc/start")).send().unwrap();
        let callback = drive_upstream(&b, &op, &location(&r), "unverified-gus", false);
        assert_refused(b.get(&callback).send().unwrap(), 403, "verified e-mail");
        assert!(server.cli(&["user", "show", "unverified-gus@upstream.test"]).status.code() != Some(0));

        // Missing, tampered and wrong state; then the genuine callback still works.
        let (cookie, callback) = start_by_hand(&server, &op, "hank", false);
        assert_refused(callback_with(&callback, None), 400, "expired");
        assert_refused(callback_with(&callback, Some("tampered")), 400, "expired");
        let forged = forge_state(&cookie);
        assert_ne!(forged, cookie);
        assert_refused(callback_with(&callback, Some(&forged)), 403, "could not be verified");
        let wrong = replace_param(&callback, "state", "not-the-state");
        assert_refused(callback_with(&wrong, Some(&cookie)), 403, "could not be verified");
        let other = replace_param(&callback, "iss", "https://evil.example");
        assert_refused(callback_with(&other, Some(&cookie)), 403, "could not be verified");
        let ok = callback_with(&callback, Some(&cookie));
        assert_eq!(ok.status(), 302, "the untampered callback signs in");
        assert!(sets_session(&ok));
        assert_eq!(location(&ok), "/account");

        // The user cancels at the upstream: error=access_denied.
        let (cookie, callback) = start_by_hand(&server, &op, "ivy", true);
        assert_eq!(query_param(&callback, "error").as_deref(), Some("access_denied"), "{callback}");
        assert_refused(callback_with(&callback, Some(&cookie)), 403, "cancelled or refused");
        // The same error with a state not ours is not trusted as the provider's.
        let wrong = replace_param(&callback, "state", "x");
        assert_refused(callback_with(&wrong, Some(&cookie)), 403, "could not be verified");

        // An unsafe return_to is dropped: the callback goes to /account.
        let b = browser();
        let r = b.get(server.url("/federation/oidc/start?return_to=//evil.example/x")).send().unwrap();
        let callback = drive_upstream(&b, &op, &location(&r), "alice", false);
        let r = b.get(&callback).send().unwrap();
        assert_eq!((r.status().as_u16(), location(&r)), (302, "/account".to_string()));

        let audit = audit_messages(&server);
        for needle in ["signed in through oidc", "linked to subject alice", "Sign-in through oidc refused"] {
            assert!(audit.iter().any(|m| m.contains(needle)), "{needle:?} in {audit:#?}");
        }
        assert!(!audit.iter().any(|m| m.contains(OP_SECRET)));
        assert!(!server.log().contains(OP_SECRET), "no secrets in the log");
    }
}

#[test]
fn linking_a_local_user_by_verified_email_is_opt_in() {
    for backend in backends() {
        let (server, op) = setup(backend, &[("GATEHOUSE_FEDERATION__LINK_VERIFIED_EMAIL", "true")]);
        let client = add_client(&server, CB, &["--scope", "openid profile email"]);
        let erin = add_user(&server, "erin@upstream.test");

        let flow = federated_authorize(&browser(), &server, &op, &client, "erin");
        let ui = userinfo(&server, &client, &flow.done);
        assert_eq!(ui["sub"], erin["sub"], "{backend:?}: signed in as the existing user");
        let link = store(&server).identity_link("oidc", "erin").unwrap().expect("linked");
        assert_eq!(link.user_id, erin["id"].as_i64().unwrap());

        // A closed user is refused and not linked.
        let frank = add_user(&server, "frank@upstream.test");
        server.cli_json(&["user", "set-status", &frank["id"].as_i64().unwrap().to_string(), "Closed"]);
        let b = browser();
        let r = b.get(server.url("/federation/oidc/start")).send().unwrap();
        let callback = drive_upstream(&b, &op, &location(&r), "frank", false);
        assert_refused(b.get(&callback).send().unwrap(), 403, "may not sign in");
        assert!(store(&server).identity_link("oidc", "frank").unwrap().is_none());
        // Closed after linking: refused through the link too.
        server.cli_json(&["user", "set-status", &erin["id"].as_i64().unwrap().to_string(), "Closed"]);
        let b = browser();
        let r = b.get(server.url("/federation/oidc/start")).send().unwrap();
        let callback = drive_upstream(&b, &op, &location(&r), "erin", false);
        assert_refused(b.get(&callback).send().unwrap(), 403, "may not sign in");
        assert!(!signed_in(&b, &server));

        let audit = audit_messages(&server);
        assert!(audit.iter().any(|m| m.contains("linked_by_email")), "{audit:#?}");
        assert!(audit.iter().any(|m| m.contains("may not sign in")), "{audit:#?}");
    }
}

#[test]
fn an_unreachable_upstream_is_a_readable_page_not_a_500() {
    let backend = backends().remove(0);
    // Nothing listens on this port: discovery fails at start.
    let server = gatehouse(backend, free_port(), &[]);
    let r = http().get(server.url("/federation/oidc/start?return_to=/account")).send().unwrap();
    assert_refused(r, 502, "not available right now");
    // Audited with the upstream's error.
    let audits = audit_messages(&server);
    assert!(
        audits
            .iter()
            .any(|m| m.contains("Sign-in through oidc refused: the sign-in could not start")
                && m.contains("discovery at")),
        "{audits:?}"
    );
    // The login page still offers the provider, and its other parts work.
    let page = browser().get(server.url("/login?return_to=/account")).send().unwrap().text().unwrap();
    assert_eq!(upstream_link(&page), "/federation/oidc/start?return_to=%2Faccount");
    assert!(page.contains("name=\"password\""));
}

/// Two upstream providers at once (two `oidc-provider` instances), each
/// with its own id, button, callback path and identity links; `idp_hint`
/// on the authorization request goes straight to one of them.
#[test]
fn two_upstreams_at_once_and_idp_hint() {
    npm_ready();
    for backend in backends() {
        let (corp_port, partner_port) = (free_port(), free_port());
        let plugin = build_plugin("gatehouse-oidc", "gatehouse_oidc");
        let config = format!(
            "[[plugins]]\npath = \"{}\"\n\
             [[plugins.config.providers]]\nid = \"corp\"\nissuer = \"http://127.0.0.1:{corp_port}\"\n\
             client_id = \"{OP_CLIENT}\"\nclient_secret = \"{OP_SECRET}\"\ndisplay_name = \"Corp\"\n\
             [[plugins.config.providers]]\nid = \"partner\"\nissuer = \"http://127.0.0.1:{partner_port}\"\n\
             client_id = \"{OP_CLIENT}\"\nclient_secret = \"{OP_SECRET}\"\ndisplay_name = \"Partner\"\n",
            plugin.display()
        );
        let server = Server::start_with(backend, ServerOptions { config, ..Default::default() });
        let corp = Op::start(corp_port, &server.url("/federation/corp/callback"));
        let partner = Op::start(partner_port, &server.url("/federation/partner/callback"));
        let client = add_client(&server, CB, &["--scope", "openid profile email", "--first-party"]);

        // Both buttons on the sign-in page.
        let page = browser().get(server.url("/login")).send().unwrap().text().unwrap();
        assert!(page.contains("Sign in with Corp") && page.contains("Sign in with Partner"), "{page}");
        assert!(page.contains("/federation/corp/start") && page.contains("/federation/partner/start"));

        // Through Corp from the sign-in page.
        let b = browser();
        let r = b.get(server.url("/federation/corp/start")).send().unwrap();
        let up = location(&r);
        assert!(up.starts_with(&format!("{}/auth?", corp.base)), "{up}");
        let cb = drive_upstream(&b, &corp, &up, "alice@corp.test", false);
        assert!(cb.starts_with(&server.url("/federation/corp/callback?")), "{cb}");
        let r = b.get(&cb).send().unwrap();
        assert_eq!(r.status(), 302, "{backend:?}: {}", r.text().unwrap_or_default());

        // An app's own "Sign in with Partner" button: idp_hint skips the sign-in page.
        let b = browser();
        let auth = authorize_url(
            &server,
            &[
                ("client_id", &client.id),
                ("response_type", "code"),
                ("redirect_uri", CB),
                ("scope", "openid email"),
                ("idp_hint", "partner"),
                ("state", "s"),
            ],
        );
        let r = b.get(&auth).send().unwrap();
        let start = location(&r);
        assert!(start.starts_with("/federation/partner/start?return_to=%2Foauth2%2Fauthorize"), "{start}");
        let r = b.get(server.url(&start)).send().unwrap();
        let up = location(&r);
        assert!(up.starts_with(&format!("{}/auth?", partner.base)), "{up}");
        let cb = drive_upstream(&b, &partner, &up, "bob@partner.test", false);
        assert!(cb.starts_with(&server.url("/federation/partner/callback?")), "{cb}");
        let r = b.get(&cb).send().unwrap();
        let back = location(&r);
        let r = b.get(server.url(&back)).send().unwrap();
        let done = location(&r);
        assert!(done.starts_with(&format!("{CB}?code=")), "{done}");

        // Each upstream keeps its own identity links.
        let store = gatehouse_store::Store::open(&server.db.url).unwrap();
        let alice = store.user_by_email("alice@corp.test").unwrap().expect("alice");
        let bob = store.user_by_email("bob@partner.test").unwrap().expect("bob");
        let links: Vec<(String, String)> = store
            .identity_links_of_user(alice.id)
            .unwrap()
            .into_iter()
            .chain(store.identity_links_of_user(bob.id).unwrap())
            .map(|l| (l.plugin, l.subject))
            .collect();
        assert_eq!(
            links,
            vec![
                ("corp".to_string(), "alice@corp.test".to_string()),
                ("partner".to_string(), "bob@partner.test".to_string())
            ]
        );
        // An unknown hint is ignored: the sign-in page as usual.
        let r = browser()
            .get(authorize_url(
                &server,
                &[("client_id", &client.id), ("response_type", "code"), ("redirect_uri", CB), ("idp_hint", "nobody")],
            ))
            .send()
            .unwrap();
        assert!(location(&r).starts_with("/login?"));
    }
}

/// The tutorial in reverse: an existing billing install (Gatehouse's own
/// `whmcs` dialect, started as a second instance) becomes the source of
/// users for a new Gatehouse, through the generic OAuth 2.0 upstream and
/// its `whmcs` preset (`/oauth/authorize.php`, `/oauth/token.php`,
/// `/oauth/userinfo.php`).
#[test]
fn a_whmcs_install_is_an_upstream_through_the_whmcs_preset() {
    for backend in backends() {
        let billing = crate::common::whmcs::start(backend, "");
        let member = billing.server.cli_json(&[
            "user",
            "add",
            "--email",
            "ada@billing.test",
            "--password",
            PASSWORD,
            "--name",
            "Ada Billing",
        ]);
        let hub_port = free_port();
        let callback = format!("http://127.0.0.1:{hub_port}/federation/billing/callback");
        let app = billing.server.cli_json(&[
            "client",
            "add",
            "--name",
            "New hub",
            "--redirect-uri",
            &callback,
            "--scope",
            "openid profile email",
            "--first-party",
        ]);
        let plugin = build_plugin("gatehouse-oidc", "gatehouse_oidc");
        let config = format!(
            "[[plugins]]\npath = \"{}\"\n[[plugins.config.providers]]\nid = \"billing\"\npreset = \"whmcs\"\n\
             base_url = \"{}\"\nclient_id = \"{}\"\nclient_secret = \"{}\"\ndisplay_name = \"Billing\"\ntrust_email = true\n",
            plugin.display(),
            billing.server.base,
            app["client_id"].as_str().unwrap(),
            app["client_secret"].as_str().unwrap()
        );
        let hub = Server::start_with(backend, ServerOptions { config, port: Some(hub_port), ..Default::default() });
        let b = browser();
        let r = b.get(hub.url("/federation/billing/start")).send().unwrap();
        let up = location(&r);
        assert!(up.starts_with(&format!("{}/oauth/authorize.php?", billing.server.base)), "{up}");
        // At the billing install: sign in there, then straight back (first party).
        let r = b.get(&up).send().unwrap();
        let login = absolute(&up, &location(&r));
        assert!(login.contains("/login?return_to="), "{login}");
        let path = login.trim_start_matches(&billing.server.base).to_string();
        let r = login_at(&b, &billing.server, &path, "ada@billing.test", PASSWORD);
        let back = absolute(&login, &location(&r));
        let r = b.get(&back).send().unwrap();
        let cb = location(&r);
        assert!(cb.starts_with(&callback), "{cb}");
        let r = b.get(&cb).send().unwrap();
        assert_eq!(r.status(), 302, "{backend:?}: {}", r.text().unwrap_or_default());
        assert_eq!(location(&r), "/account");
        let store = gatehouse_store::Store::open(&hub.db.url).unwrap();
        let user = store.user_by_email("ada@billing.test").unwrap().expect("created at the new hub");
        assert_eq!(user.display_name, "Ada Billing");
        let links = store.identity_links_of_user(user.id).unwrap();
        assert_eq!((links[0].plugin.as_str(), links[0].subject.as_str()), ("billing", member["sub"].as_str().unwrap()));
    }
}

/// First-sign-in rules per upstream: one upstream signs in only identities
/// an administrator linked; another only addresses in its domain, linking
/// them to existing local users.
#[test]
fn first_sign_in_rules_per_upstream() {
    npm_ready();
    for backend in backends() {
        let (invited_port, staff_port) = (free_port(), free_port());
        let plugin = build_plugin("gatehouse-oidc", "gatehouse_oidc");
        let config = format!(
            "[[plugins]]\npath = \"{}\"\n\
             [[plugins.config.providers]]\nid = \"invited\"\nissuer = \"http://127.0.0.1:{invited_port}\"\n\
             client_id = \"{OP_CLIENT}\"\nclient_secret = \"{OP_SECRET}\"\ndisplay_name = \"Partners\"\nfirst_sign_in = \"refuse\"\n\
             [[plugins.config.providers]]\nid = \"staff\"\nissuer = \"http://127.0.0.1:{staff_port}\"\n\
             client_id = \"{OP_CLIENT}\"\nclient_secret = \"{OP_SECRET}\"\ndisplay_name = \"Staff\"\n\
             first_sign_in = \"link\"\nemail_domains = [\"corp.test\"]\n",
            plugin.display()
        );
        let server = Server::start_with(backend, ServerOptions { config, ..Default::default() });
        let invited = Op::start(invited_port, &server.url("/federation/invited/callback"));
        let staff = Op::start(staff_port, &server.url("/federation/staff/callback"));
        let sign_in = |op: &Op, id: &str, account: &str| -> Response {
            let b = browser();
            let r = b.get(server.url(&format!("/federation/{id}/start"))).send().unwrap();
            let cb = drive_upstream(&b, op, &location(&r), account, false);
            b.get(&cb).send().unwrap()
        };

        // Not linked by an administrator: refused, with a page that says so.
        let r = sign_in(&invited, "invited", "bob@x.test");
        assert_eq!(r.status(), 403, "{backend:?}");
        assert!(r.text().unwrap().contains("not connected to an account here"));
        // Linked beforehand through the admin API: signs in as that user.
        let carol = add_user(&server, "carol@example.com");
        let admin = admin_token(&server);
        let r = http()
            .post(server.url(&format!("/admin/api/v1/users/{}/identities", carol["id"])))
            .bearer_auth(&admin)
            .json(&serde_json::json!({ "upstream": "invited", "subject": "carol@x.test" }))
            .send()
            .unwrap();
        assert_eq!(r.status(), 204);
        let r = sign_in(&invited, "invited", "carol@x.test");
        assert_eq!(r.status(), 302);
        assert!(audit_messages(&server)
            .iter()
            .any(|m| m.contains(&format!("User ID: {} signed in through invited", carol["id"]))));

        // Staff: other domains refused; a local user with the address is linked.
        let r = sign_in(&staff, "staff", "eve@other.test");
        assert_eq!(r.status(), 403);
        assert!(r.text().unwrap().contains("limited to certain organisations"));
        let dave = add_user(&server, "dave@corp.test");
        let r = sign_in(&staff, "staff", "dave@corp.test");
        assert_eq!(r.status(), 302, "linked by verified e-mail for this upstream");
        let store = gatehouse_store::Store::open(&server.db.url).unwrap();
        let links = store.identity_links_of_user(dave["id"].as_i64().unwrap()).unwrap();
        assert_eq!(links[0].plugin, "staff");
    }
}

/// Upstream groups map to Gatehouse groups at every sign-in, and clients
/// see them in the `groups` claim.
#[test]
fn upstream_groups_become_gatehouse_groups() {
    npm_ready();
    let op_port = free_port();
    let plugin = build_plugin("gatehouse-oidc", "gatehouse_oidc");
    let config = format!(
        "[[plugins]]\npath = \"{}\"\n[plugins.config]\nissuer = \"http://127.0.0.1:{op_port}\"\n\
         client_id = \"{OP_CLIENT}\"\nclient_secret = \"{OP_SECRET}\"\ndisplay_name = \"{PROVIDER}\"\n\
         [plugins.config.group_map]\nupstream-admins = \"staff\"\n",
        plugin.display()
    );
    let server = Server::start_with(Backend::Sqlite, ServerOptions { config, ..Default::default() });
    let op = Op::start(op_port, &server.url("/federation/oidc/callback"));
    let b = browser();
    let r = b.get(server.url("/federation/oidc/start")).send().unwrap();
    let cb = drive_upstream(&b, &op, &location(&r), "admin-ann@corp.test", false);
    assert_eq!(b.get(&cb).send().unwrap().status(), 302);
    let v = server.cli_json(&["user", "groups", "admin-ann@corp.test"]);
    assert_eq!(v["groups"], serde_json::json!(["staff"]), "only mapped groups arrive");
    // Someone not in the upstream's admins: a mapped group given by hand
    // goes at the next sign-in; a group outside the map stays.
    let b = browser();
    let r = b.get(server.url("/federation/oidc/start")).send().unwrap();
    let cb = drive_upstream(&b, &op, &location(&r), "bob@corp.test", false);
    assert_eq!(b.get(&cb).send().unwrap().status(), 302);
    server.cli_json(&["user", "groups", "bob@corp.test", "--set", "staff,readers"]);
    let b = browser();
    let r = b.get(server.url("/federation/oidc/start")).send().unwrap();
    let cb = drive_upstream(&b, &op, &location(&r), "bob@corp.test", false);
    assert_eq!(b.get(&cb).send().unwrap().status(), 302);
    let v = server.cli_json(&["user", "groups", "bob@corp.test"]);
    assert_eq!(v["groups"], serde_json::json!(["readers"]));
}

/// A code for `client` from a browser that is signed in at Gatehouse
/// (first-party client: no consent), redeemed for tokens.
fn tokens_from_session(b: &Http, server: &Server, client: &TestClient) -> Value {
    let auth = authorize_url(
        server,
        &[
            ("client_id", &client.id),
            ("response_type", "code"),
            ("redirect_uri", CB),
            ("scope", "openid email"),
            ("state", "s"),
        ],
    );
    let done = location(&b.get(&auth).send().unwrap());
    assert!(done.starts_with(&format!("{CB}?code=")), "{done}");
    let code = query_param(&done, "code").unwrap();
    let (status, tok) =
        token(server, client, &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", CB)]);
    assert_eq!(status, 200, "{tok}");
    tok
}

/// A downstream refresh: (status, body).
fn refresh(server: &Server, client: &TestClient, refresh_token: &str) -> (u16, Value) {
    token(server, client, &[("grant_type", "refresh_token"), ("refresh_token", refresh_token)])
}

/// Upstream re-validation through a real OpenID provider: while the
/// upstream account lives, downstream refreshes re-check it (spending and
/// rotating the upstream's refresh token); once the upstream disables it,
/// the next downstream refresh fails with `invalid_grant` and the member's
/// Gatehouse sessions end.
#[test]
fn disabling_the_member_upstream_fails_the_downstream_refresh() {
    npm_ready();
    for backend in backends() {
        let op_port = free_port();
        let plugin = build_plugin("gatehouse-oidc", "gatehouse_oidc");
        let config = format!(
            "[federation]\nrecheck_every_secs = 0\n[[plugins]]\npath = \"{}\"\n[plugins.config]\n\
             issuer = \"http://127.0.0.1:{op_port}\"\nclient_id = \"{OP_CLIENT}\"\nclient_secret = \"{OP_SECRET}\"\n\
             display_name = \"{PROVIDER}\"\n",
            plugin.display()
        );
        let server = Server::start_with(backend, ServerOptions { config, ..Default::default() });
        let op = Op::start(op_port, &server.url("/federation/oidc/callback"));
        let client = add_client(&server, CB, &["--scope", "openid profile email", "--first-party"]);
        let b = browser();
        let r = b.get(server.url("/federation/oidc/start")).send().unwrap();
        let cb = drive_upstream(&b, &op, &location(&r), "dana@corp.test", false);
        assert_eq!(b.get(&cb).send().unwrap().status(), 302);
        let tok = tokens_from_session(&b, &server, &client);
        // The upstream still vouches: refreshes go on, each one re-checked.
        let mut rt = tok["refresh_token"].as_str().unwrap().to_string();
        for _ in 0..2 {
            let (status, body) = refresh(&server, &client, &rt);
            assert_eq!(status, 200, "{backend:?}: {body}");
            rt = body["refresh_token"].as_str().unwrap().to_string();
        }
        let store = store(&server);
        let user = store.user_by_email("dana@corp.test").unwrap().unwrap();
        assert!(signed_in(&b, &server));
        // The upstream disables the account.
        let r = http().post(format!("{}/test/disable?login=dana@corp.test", op.base)).send().unwrap();
        assert_eq!(r.status(), 204);
        let (status, body) = refresh(&server, &client, &rt);
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{backend:?}: {body}");
        assert!(!signed_in(&b, &server), "the member's sessions ended");
        let audits = audit_messages(&server);
        assert!(
            audits.iter().any(|m| m.contains(&format!("User ID: {} re-checked at oidc", user.id))
                && m.contains("refresh refused: invalid_grant")),
            "{audits:?}"
        );
    }
}

/// The generic OAuth 2.0 upstream against a real plain OAuth 2.0 server
/// (no OpenID Connect): endpoints from its RFC 8414 metadata, who signed in
/// from a userinfo shape of its own through the claim map (a numeric
/// subject, bracket paths, a 1 for verified, teams as groups), and upstream
/// re-validation through its rotating refresh tokens.
#[test]
fn a_plain_oauth2_upstream_through_its_metadata_and_a_claim_map() {
    npm_ready();
    for backend in backends() {
        let op_port = free_port();
        // npm `oauth2-mock-server`: plain OAuth 2.0 with RFC 8414 metadata.
        let op = Op::launch("oauth2.mjs", op_port, &[]);
        let plugin = build_plugin("gatehouse-oidc", "gatehouse_oidc");
        let config = format!(
            "[federation]\nrecheck_every_secs = 0\n[[plugins]]\npath = \"{}\"\n\
             [[plugins.config.providers]]\nid = \"plain\"\nkind = \"oauth2\"\nissuer = \"http://127.0.0.1:{op_port}\"\n\
             client_id = \"gatehouse\"\nclient_secret = \"plain-secret\"\ndisplay_name = \"Plain\"\nscopes = [\"profile\"]\n\
             [plugins.config.providers.claims]\nsubject = \"/data/account/id\"\nemail = \"data[account][mail]\"\n\
             email_verified = \"/data/account/mail_ok\"\nname = \"data[account][display]\"\ngroups = \"/data/account/teams\"\n\
             [plugins.config.providers.group_map]\nops = \"staff\"\n",
            plugin.display()
        );
        let server = Server::start_with(backend, ServerOptions { config, ..Default::default() });
        let client = add_client(&server, CB, &["--scope", "openid profile email", "--first-party"]);
        let next = |login: &str| {
            let r = http().post(format!("{}/test/next?login={login}", op.base)).send().unwrap();
            assert_eq!(r.status(), 204);
        };
        next("admin-ed@plain.test");
        let b = browser();
        let r = b.get(server.url("/federation/plain/start")).send().unwrap();
        let up = location(&r);
        assert!(up.starts_with(&format!("{}/authorize?", op.base)), "from the metadata: {up}");
        assert!(up.contains("code_challenge="), "PKCE on by default: {up}");
        let cb = location(&b.get(&up).send().unwrap());
        assert!(cb.starts_with(&server.url("/federation/plain/callback?")), "{cb}");
        let r = b.get(&cb).send().unwrap();
        assert_eq!(r.status(), 302, "{backend:?}: {}", r.text().unwrap_or_default());
        let store = store(&server);
        let user = store.user_by_email("admin-ed@plain.test").unwrap().expect("created from the claim map");
        assert_eq!(user.display_name, "Upstream admin-ed");
        assert!(user.email_verified);
        let links = store.identity_links_of_user(user.id).unwrap();
        assert_eq!((links[0].plugin.as_str(), links[0].subject.as_str()), ("plain", "4000"), "numeric subject");
        let v = server.cli_json(&["user", "groups", "admin-ed@plain.test"]);
        assert_eq!(v["groups"], serde_json::json!(["staff"]));

        // Re-validation: each downstream refresh spends (and rotates) the
        // upstream's refresh token exactly once.
        let tok = tokens_from_session(&b, &server, &client);
        let (status, body) = refresh(&server, &client, tok["refresh_token"].as_str().unwrap());
        assert_eq!(status, 200, "{backend:?}: {body}");
        let (status, again) = refresh(&server, &client, body["refresh_token"].as_str().unwrap());
        assert_eq!(status, 200, "the rotated upstream token was kept: {again}");
        let stats: Value = http().get(format!("{}/test/stats", op.base)).send().unwrap().json().unwrap();
        assert_eq!(stats["refreshes"], 2);
        http().post(format!("{}/test/disable?login=admin-ed@plain.test", op.base)).send().unwrap();
        let (status, body) = refresh(&server, &client, again["refresh_token"].as_str().unwrap());
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
        assert!(!signed_in(&b, &server));
    }
}

/// Posts the account page's form for `action` (with the fields it carries,
/// `pick` choosing among several) and returns the response.
fn post_account_form(b: &Http, server: &Server, action: &str, pick: impl Fn(&[(String, String)]) -> bool) -> Response {
    let page = b.get(server.url("/account")).send().unwrap().text().unwrap();
    let fields = parse_forms(&page)
        .into_iter()
        .filter(|f| f.action == action)
        .map(|f| f.inputs.iter().map(|(n, v, _)| (n.clone(), v.clone())).collect::<Vec<_>>())
        .find(|fields| pick(fields))
        .unwrap_or_else(|| panic!("no form {action} on:\n{page}"));
    b.post(server.url(action)).form(&fields).send().unwrap()
}

/// Members connect an upstream sign-in to their account, and unlink it,
/// from the account page; both need a recent sign-in (re-authentication),
/// and an upstream identity already linked to someone else stays theirs.
#[test]
fn members_link_and_unlink_an_upstream_from_the_account_page() {
    npm_ready();
    for backend in backends() {
        let op_port = free_port();
        let plugin = build_plugin("gatehouse-oidc", "gatehouse_oidc");
        let config = format!(
            "[federation]\nreauth_window_secs = 2\n[[plugins]]\npath = \"{}\"\n[plugins.config]\n\
             issuer = \"http://127.0.0.1:{op_port}\"\nclient_id = \"{OP_CLIENT}\"\nclient_secret = \"{OP_SECRET}\"\n\
             display_name = \"{PROVIDER}\"\n",
            plugin.display()
        );
        let server = Server::start_with(backend, ServerOptions { config, ..Default::default() });
        let op = Op::start(op_port, &server.url("/federation/oidc/callback"));
        let lee = add_user(&server, "lee@example.com");
        let b = browser();
        login_at(&b, &server, "/login", "lee@example.com", PASSWORD);
        let page = b.get(server.url("/account")).send().unwrap().text().unwrap();
        assert!(page.contains(&format!("Connect {PROVIDER}")), "{page}");
        let connect = |b: &Http| post_account_form(b, &server, "/account/links/connect", |_| true);

        // A sign-in older than the window: sign in again first.
        std::thread::sleep(Duration::from_millis(3200));
        let r = connect(&b);
        assert_eq!(r.status(), 303);
        let again = location(&r);
        assert_eq!(again, "/login?reauth=1&return_to=%2Faccount%23linked");
        let page = b.get(server.url(&again)).send().unwrap().text().unwrap();
        assert!(page.contains("sign in again"), "{page}");
        login_at(&b, &server, &again, "lee@example.com", PASSWORD);

        // Fresh: to the upstream and back, linked to Lee.
        let r = connect(&b);
        assert_eq!(r.status(), 303);
        let up = location(&r);
        assert!(up.starts_with(&format!("{}/auth?", op.base)), "{up}");
        let cb = drive_upstream(&b, &op, &up, "lee-upstream@corp.test", false);
        let r = b.get(&cb).send().unwrap();
        assert_eq!(r.status(), 303, "{backend:?}: {}", r.text().unwrap_or_default());
        assert_eq!(location(&r), "/account?done=linked#linked");
        let page = b.get(server.url("/account?done=linked")).send().unwrap().text().unwrap();
        assert!(page.contains("The sign-in is connected to your account."));
        assert!(!page.contains(&format!("Connect {PROVIDER}")), "linked: no second button");
        let links = store(&server).identity_links_of_user(lee["id"].as_i64().unwrap()).unwrap();
        assert_eq!((links[0].plugin.as_str(), links[0].subject.as_str()), ("oidc", "lee-upstream@corp.test"));
        assert!(audit_messages(&server).iter().any(|m| m.contains("linked their oidc sign-in")));

        // Signing in through the upstream is now signing in as Lee.
        let other = browser();
        let r = other.get(server.url("/federation/oidc/start")).send().unwrap();
        let cb = drive_upstream(&other, &op, &location(&r), "lee-upstream@corp.test", false);
        assert_eq!(other.get(&cb).send().unwrap().status(), 302);
        let page = other.get(server.url("/account")).send().unwrap().text().unwrap();
        assert!(page.contains("lee@example.com"), "{page}");

        // Kim cannot take Lee's upstream identity.
        add_user(&server, "kim@example.com");
        let kim = browser();
        login_at(&kim, &server, "/login", "kim@example.com", PASSWORD);
        let up = location(&connect(&kim));
        let cb = drive_upstream(&kim, &op, &up, "lee-upstream@corp.test", false);
        let r = kim.get(&cb).send().unwrap();
        let page = assert_refused(r, 409, "already connected to another account");
        assert!(page.contains("href=\"/account\""), "a way back to the account page");

        // Unlinking needs a recent sign-in too.
        std::thread::sleep(Duration::from_millis(3200));
        let unlink = |b: &Http| post_account_form(b, &server, "/account/links/unlink", |_| true);
        assert_eq!(location(&unlink(&b)), "/login?reauth=1&return_to=%2Faccount%23linked");
        login_at(&b, &server, "/login", "lee@example.com", PASSWORD);
        let r = unlink(&b);
        assert_eq!(location(&r), "/account?done=unlinked#linked");
        assert!(store(&server).identity_links_of_user(lee["id"].as_i64().unwrap()).unwrap().is_empty());
    }
}
