//! The admin API over real HTTP on both backends: the first
//! administrator, both ways in (an admin's session, an `admin`-scoped
//! bearer token), every resource, refusals as RFC 9457 problems, and the
//! OpenAPI document generated from the handlers.

use reqwest::blocking::RequestBuilder;
use serde_json::{json, Value};

use crate::common::*;

const API: &str = "/admin/api/v1";
const ADMIN_PASSWORD: &str = "a long admin password";

/// An HTTP client acting with a bearer token.
struct Api<'a> {
    s: &'a Server,
    token: String,
}

impl Api<'_> {
    fn req(&self, method: reqwest::Method, path: &str) -> RequestBuilder {
        http().request(method, self.s.url(&format!("{API}{path}"))).bearer_auth(&self.token)
    }
    fn get(&self, path: &str) -> (u16, Value) {
        answer(self.req(reqwest::Method::GET, path))
    }
    fn send(&self, method: reqwest::Method, path: &str, body: Value) -> (u16, Value) {
        answer(self.req(method, path).json(&body))
    }
    fn delete(&self, path: &str) -> (u16, Value) {
        answer(self.req(reqwest::Method::DELETE, path))
    }
}

fn answer(rb: RequestBuilder) -> (u16, Value) {
    let r = rb.send().unwrap();
    let status = r.status().as_u16();
    let problem = r.headers().get("content-type").is_some_and(|c| c == "application/problem+json");
    let text = r.text().unwrap();
    let v: Value =
        if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
    if status >= 400 {
        assert!(problem, "an error is a problem document: {status} {v}");
        assert_eq!(v["status"], status, "{v}");
        assert!(!v["request_id"].as_str().unwrap_or("").is_empty(), "{v}");
    }
    (status, v)
}

/// A client_credentials client with the admin scope, and a token from it.
fn admin_token(s: &Server) -> (String, String) {
    let c = s.cli_json(&["client", "add", "--name", "ops bot", "--grant", "client_credentials", "--scope", "admin"]);
    let (id, secret) = (c["client_id"].as_str().unwrap().to_string(), c["client_secret"].as_str().unwrap().to_string());
    let t: Value = http()
        .post(s.url("/oauth2/token"))
        .basic_auth(&id, Some(&secret))
        .form(&[("grant_type", "client_credentials"), ("scope", "admin")])
        .send()
        .unwrap()
        .json()
        .unwrap();
    (id, t["access_token"].as_str().expect("a token").to_string())
}

#[test]
fn the_first_administrator_comes_from_the_printed_setup_link_once() {
    for backend in backends() {
        let s = Server::start(backend);
        let log = s.log();
        let link = log
            .lines()
            .find_map(|l| l.trim().strip_prefix(&s.base).filter(|rest| rest.starts_with("/setup?token=")))
            .unwrap_or_else(|| panic!("no setup link in the server's output:\n{log}"))
            .to_string();
        assert!(!log.contains("\"token\""), "the token is never in a structured log line");
        let b = browser();
        let page = b.get(s.url(&link)).send().unwrap();
        assert_eq!(page.status(), 200);
        let html = page.text().unwrap();
        // A typo keeps the link usable.
        let r = submit_form(
            &b,
            &s,
            &html,
            &[("email", "root@example.com"), ("password", ADMIN_PASSWORD), ("password2", "different")],
        );
        assert_eq!(r.status(), 400);
        let r = submit_form(
            &b,
            &s,
            &html,
            &[
                ("email", "root@example.com"),
                ("name", "Ro Ot"),
                ("password", ADMIN_PASSWORD),
                ("password2", ADMIN_PASSWORD),
            ],
        );
        assert_eq!(r.status(), 303, "{}", r.text().unwrap_or_default());
        // Signed in as the new administrator: the API answers to the session.
        let (status, users) = answer(b.get(s.url(&format!("{API}/users"))));
        assert_eq!(status, 200);
        assert_eq!(users["items"][0]["email"], "root@example.com");
        assert_eq!(users["items"][0]["is_admin"], true);
        // Unsafe methods with a session need the CSRF header.
        let csrf = parse_forms(&html).remove(0).inputs.into_iter().find(|(n, _, _)| n == "csrf_token").unwrap().1;
        let (status, p) = answer(b.post(s.url(&format!("{API}/users"))).json(&json!({"email": "m@example.com"})));
        assert_eq!((status, p["code"].as_str()), (403, Some("csrf")));
        let (status, _) = answer(
            b.post(s.url(&format!("{API}/users")))
                .header("X-CSRF-Token", &csrf)
                .json(&json!({"email": "m@example.com"})),
        );
        assert_eq!(status, 201);
        // The link worked once.
        let again = browser().get(s.url(&link)).send().unwrap();
        assert_eq!(again.status(), 404);
        assert!(again.text().unwrap().contains("/login"));
        // The CLI sees the administrator.
        let u = s.cli_json(&["user", "show", "root@example.com"]);
        assert_eq!(u["is_admin"], true);
    }
}

#[test]
fn a_container_bootstraps_its_administrator_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("admin-password");
    std::fs::write(&file, format!("{ADMIN_PASSWORD}\n")).unwrap();
    let s = Server::start_with(
        Backend::Sqlite,
        ServerOptions {
            env: vec![
                ("GATEHOUSE_BOOTSTRAP_ADMIN_EMAIL".into(), "ops@example.com".into()),
                ("GATEHOUSE_BOOTSTRAP_ADMIN_PASSWORD_FILE".into(), file.display().to_string()),
            ],
            ..Default::default()
        },
    );
    assert!(!s.log().contains("/setup?token="), "no setup link once an administrator exists");
    assert!(!s.log().contains(ADMIN_PASSWORD));
    let b = browser();
    let page = b.get(s.url("/login")).send().unwrap().text().unwrap();
    let r = submit_form(&b, &s, &page, &[("email", "ops@example.com"), ("password", ADMIN_PASSWORD)]);
    assert_eq!(r.status(), 303);
    let (status, d) = answer(b.get(s.url(&format!("{API}/dashboard"))));
    assert_eq!(status, 200);
    assert_eq!(d["users"], 1);
}

#[test]
fn every_resource_through_a_bearer_token() {
    for backend in backends() {
        let s = Server::start(backend);
        let (bot, token) = admin_token(&s);
        let api = Api { s: &s, token };
        use reqwest::Method as M;

        // Users: create, refuse duplicates and bad input, search and page.
        let (st, ada) = api.send(
            M::POST,
            "/users",
            json!({"email": "Ada@Example.com", "name": "Ada Lovelace", "password": "analytical engine"}),
        );
        assert_eq!(st, 201, "{ada}");
        let ada_id = ada["id"].as_i64().unwrap();
        assert_eq!(ada["email"], "ada@example.com");
        assert_eq!(api.send(M::POST, "/users", json!({"email": "ada@example.com"})).0, 409);
        assert_eq!(api.send(M::POST, "/users", json!({"email": "x@example.com", "password": "short"})).0, 400);
        assert_eq!(api.send(M::POST, "/users", json!({"email": "not an address"})).0, 400);
        assert_eq!(api.send(M::POST, "/users", json!({"email": "x@example.com", "surprise": 1})).0, 400);
        let (st, p) = answer(api.req(M::POST, "/users").header("content-type", "application/json").body("{nope"));
        assert_eq!((st, p["code"].as_str()), (400, Some("invalid_request")));
        for i in 0..3 {
            assert_eq!(api.send(M::POST, "/users", json!({"email": format!("page{i}@example.com")})).0, 201);
        }
        let (_, first) = api.get("/users?q=PAGE&limit=2");
        assert_eq!(first["items"].as_array().unwrap().len(), 2);
        let cursor = first["next_cursor"].as_i64().expect("more pages");
        let (_, second) = api.get(&format!("/users?q=page&limit=2&after={cursor}"));
        assert_eq!(second["items"].as_array().unwrap().len(), 1);
        assert_eq!(second["next_cursor"], Value::Null);
        assert_eq!(api.get("/users?limit=0").0, 400);
        assert_eq!(api.get("/users?after=abc").0, 400);

        // Show, update, password, unlock, sessions.
        assert_eq!(api.get(&format!("/users/{ada_id}")).1["name"], "Ada Lovelace");
        assert_eq!(api.get("/users/999999").0, 404);
        assert_eq!(api.get("/users/abc").0, 404);
        let (st, u) = api.send(
            M::PATCH,
            &format!("/users/{ada_id}"),
            json!({"name": "Ada King", "locale": "en-GB", "allow_sso": false}),
        );
        assert_eq!(st, 200, "{u}");
        assert_eq!(
            (u["name"].as_str(), u["locale"].as_str(), u["allow_sso"].as_bool()),
            (Some("Ada King"), Some("en-GB"), Some(false))
        );
        assert_eq!(api.send(M::PATCH, &format!("/users/{ada_id}"), json!({"status": "Sleeping"})).0, 400);
        assert_eq!(
            api.send(M::POST, &format!("/users/{ada_id}/password"), json!({"password": "new analytical engine"})).0,
            204
        );
        let login = |pw: &str| {
            let b = browser();
            let page = b.get(s.url("/login")).send().unwrap().text().unwrap();
            (submit_form(&b, &s, &page, &[("email", "ada@example.com"), ("password", pw)]).status().as_u16(), b)
        };
        for _ in 0..5 {
            assert_eq!(login("wrong").0, 401);
        }
        assert_eq!(login("new analytical engine").0, 429, "locked out");
        assert_eq!(api.send(M::POST, &format!("/users/{ada_id}/unlock"), json!({})).0, 204);
        let (st, _member) = login("new analytical engine");
        assert_eq!(st, 303, "unlocked");
        let (_, sessions) = api.get(&format!("/users/{ada_id}/sessions"));
        let sid = sessions[0]["id"].as_i64().expect("a session");
        assert_eq!(api.delete(&format!("/users/{ada_id}/sessions/{sid}")).0, 204);
        assert_eq!(api.delete(&format!("/users/{ada_id}/sessions/{sid}")).0, 404);
        assert_eq!(api.delete(&format!("/users/{ada_id}/sessions")).1["count"], 0);
        assert_eq!(api.get(&format!("/users/{ada_id}/consents")).1, json!([]));
        assert_eq!(api.get(&format!("/users/{ada_id}/refresh-families")).1, json!([]));
        assert_eq!(api.get(&format!("/users/{ada_id}/identities")).1, json!([]));
        assert_eq!(api.delete(&format!("/users/{ada_id}/consents/nobody")).0, 404);
        assert_eq!(api.delete(&format!("/users/{ada_id}/identities/oidc/nobody")).0, 404);

        // Accounts.
        let (st, acct) = api.send(M::POST, "/accounts", json!({"name": "Acme", "owner_user_id": ada_id}));
        assert_eq!(st, 201, "{acct}");
        let acct_id = acct["id"].as_i64().unwrap();
        let page0 = api.get("/users?q=page0").1["items"][0]["id"].as_i64().unwrap();
        assert_eq!(api.send(M::POST, &format!("/accounts/{acct_id}/members"), json!({"user_id": page0})).0, 200);
        assert_eq!(api.get(&format!("/accounts?user={page0}")).1[0]["name"], "Acme");
        assert_eq!(api.get(&format!("/accounts/{acct_id}")).1["owner_user_id"], ada_id);
        assert_eq!(api.get("/accounts/999999").0, 404);
        assert_eq!(api.send(M::POST, "/accounts", json!({"name": "", "owner_user_id": ada_id})).0, 400);
        assert_eq!(api.delete(&format!("/users/{ada_id}/refresh-families/nope")).0, 404);
        assert_eq!(api.delete(&format!("/users/{ada_id}")).0, 400, "an account owner is not deleted");
        assert_eq!(api.delete(&format!("/users/{page0}")).0, 204);
        assert_eq!(api.get(&format!("/users/{page0}")).0, 404);

        // Clients: create, show, update, rotate, delete.
        let (st, c) =
            api.send(M::POST, "/clients", json!({"name": "Forum", "redirect_uris": ["https://forum.example.com/cb"]}));
        assert_eq!(st, 201, "{c}");
        let cid = c["client"]["client_id"].as_str().unwrap().to_string();
        let old_secret = c["client_secret"].as_str().unwrap().to_string();
        assert_eq!(
            api.send(M::POST, "/clients", json!({"name": "Bad", "redirect_uris": ["javascript:alert(1)"]})).0,
            400
        );
        assert_eq!(api.get(&format!("/clients/{cid}")).1["name"], "Forum");
        let (st, c2) = api.send(
            M::PATCH,
            &format!("/clients/{cid}"),
            json!({"redirect_uris": ["https://forum.example.com/cb2"], "grant_types": ["client_credentials", "authorization_code"], "connector": "ipb"}),
        );
        assert_eq!(st, 200, "{c2}");
        assert_eq!(c2["redirect_uris"], json!(["https://forum.example.com/cb2"]));
        assert_eq!(c2["connector"], "ipb");
        let (st, c3) = api.send(
            M::PATCH,
            &format!("/clients/{cid}"),
            json!({"first_party": true, "post_logout_redirect_uris": ["https://forum.example.com/bye"]}),
        );
        assert_eq!(st, 200, "{c3}");
        assert_eq!(
            (c3["first_party"].as_bool(), c3["post_logout_redirect_uris"][0].as_str()),
            (Some(true), Some("https://forum.example.com/bye"))
        );
        assert_eq!(
            api.send(M::PATCH, &format!("/clients/{cid}"), json!({"post_logout_redirect_uris": ["javascript:x"]})).0,
            400
        );
        let cc = |secret: &str| {
            http()
                .post(s.url("/oauth2/token"))
                .basic_auth(&cid, Some(secret))
                .form(&[("grant_type", "client_credentials")])
                .send()
                .unwrap()
                .status()
                .as_u16()
        };
        assert_eq!(cc(&old_secret), 200);
        let (st, rotated) = api.send(M::POST, &format!("/clients/{cid}/secret"), json!({}));
        assert_eq!(st, 200);
        let new_secret = rotated["client_secret"].as_str().unwrap();
        assert_eq!(cc(new_secret), 200);
        assert_eq!(cc(&old_secret), 401);
        assert!(api.get("/clients").1.as_array().unwrap().iter().any(|c| c["client_id"] == cid.as_str()));
        assert_eq!(api.delete(&format!("/clients/{cid}")).0, 204);
        assert_eq!(api.get(&format!("/clients/{cid}")).0, 404);

        // API credentials.
        let (st, cred) = api.send(
            M::POST,
            "/api-credentials",
            json!({"description": "forum", "role": "authentication", "allowed_ips": ["127.0.0.1"]}),
        );
        assert_eq!(st, 201, "{cred}");
        assert!(!cred["secret"].as_str().unwrap().is_empty());
        let cred_id = cred["credential"]["id"].as_i64().unwrap();
        assert!(api.get("/api-credentials").1.as_array().unwrap().iter().any(|c| c["id"] == cred_id));
        assert_eq!(api.delete(&format!("/api-credentials/{cred_id}")).0, 204);
        assert_eq!(api.delete(&format!("/api-credentials/{cred_id}")).0, 404);

        // Invitations.
        let (st, inv) = api.send(M::POST, "/invitations", json!({"email": "Newcomer@example.com"}));
        assert_eq!(st, 201, "{inv}");
        assert!(inv["link"].as_str().unwrap().contains("/signup?invitation="));
        assert_eq!((inv["email"].as_str(), inv["mailed"].as_bool()), (Some("newcomer@example.com"), Some(false)));
        assert_eq!(api.send(M::POST, "/invitations", json!({"email": "page1@example.com"})).0, 409);
        assert_eq!(api.send(M::POST, "/invitations", json!({"email": "nope"})).0, 400);

        // Plugins, keys, dashboard.
        assert_eq!(api.get("/plugins"), (200, json!([])));
        let (_, keys) = api.get("/keys");
        assert!(keys.as_array().unwrap().iter().any(|k| k["signing"] == true), "{keys}");
        let (st, rotated) = api.send(M::POST, "/keys/rotate", json!({"activation_delay": 300}));
        assert_eq!(st, 200, "{rotated}");
        assert!(!rotated.as_array().unwrap().is_empty());
        assert_eq!(api.send(M::POST, "/keys/rotate", json!({"activation_delay": -1})).0, 400);
        let (_, d) = api.get("/dashboard");
        assert!(d["users"].as_i64().unwrap() >= 3 && d["failed_sign_ins_24h"].as_i64().unwrap() >= 5, "{d}");

        // The audit log: who did it, filters, pages, CSV.
        let (_, changes) = api.get("/audit?kind=user.&limit=100");
        let actor = format!("admin:client:{bot}");
        assert!(
            changes["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["kind"] == "user.deleted" && e["actor"] == actor.as_str()),
            "{changes}"
        );
        let (_, one) = api.get(&format!("/audit?kind=login.failed&user={ada_id}&limit=1"));
        assert_eq!(one["items"].as_array().unwrap().len(), 1);
        let older = one["next_cursor"].as_i64().expect("more events");
        let (_, next) = api.get(&format!("/audit?kind=login.failed&user={ada_id}&limit=100&before={older}"));
        assert_eq!(next["items"].as_array().unwrap().len(), 4);
        let csv = api.req(M::GET, "/audit?kind=login.&format=csv").send().unwrap();
        assert!(csv.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
        let text = csv.text().unwrap();
        assert!(text.starts_with("id,at,kind,user_id,client_id,ip,reason,actor,request_id,message\r\n"));
        assert!(text.contains("login.failed"));
        assert_eq!(api.get("/audit?format=xml").0, 400);
    }
}

#[test]
fn the_admin_api_refuses_everyone_else_and_says_why() {
    for backend in backends() {
        let s = Server::start(backend);
        // No credentials.
        let r = http().get(s.url(&format!("{API}/users"))).send().unwrap();
        assert_eq!(r.status(), 401);
        assert!(r.headers()["www-authenticate"].to_str().unwrap().starts_with("Bearer"));
        let p: Value = r.json().unwrap();
        assert_eq!(p["code"], "unauthenticated");
        // A bad token, a token without the admin scope.
        let bad = Api { s: &s, token: "nonsense".into() };
        assert_eq!(bad.get("/users").0, 401);
        let c = s.cli_json(&["client", "add", "--name", "svc", "--grant", "client_credentials", "--scope", "openid"]);
        let t: Value = http()
            .post(s.url("/oauth2/token"))
            .basic_auth(c["client_id"].as_str().unwrap(), c["client_secret"].as_str())
            .form(&[("grant_type", "client_credentials")])
            .send()
            .unwrap()
            .json()
            .unwrap();
        let svc = Api { s: &s, token: t["access_token"].as_str().unwrap().into() };
        let (st, p) = svc.get("/users");
        assert_eq!((st, p["code"].as_str()), (403, Some("insufficient_scope")));
        // A member's session.
        let out = s.cli(&[
            "user",
            "add",
            "--email",
            "member@example.com",
            "--name",
            "Member",
            "--password",
            "member password 1",
        ]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let b = browser();
        let page = b.get(s.url("/login")).send().unwrap().text().unwrap();
        assert_eq!(
            submit_form(&b, &s, &page, &[("email", "member@example.com"), ("password", "member password 1")]).status(),
            303
        );
        let (st, p) = answer(b.get(s.url(&format!("{API}/users"))));
        assert_eq!((st, p["code"].as_str()), (403, Some("forbidden")));
        // Each refusal is audited with its reason.
        let out = s.cli(&["audit", "list", "--kind", "admin.api_refused"]);
        let text = String::from_utf8_lossy(&out.stdout);
        for reason in ["no_credentials", "invalid_token", "insufficient_scope", "not_an_admin"] {
            assert!(text.contains(&format!("reason={reason}")), "{reason} missing from:\n{text}");
        }
        // Unknown endpoints are problems too.
        let (_, token) = admin_token(&s);
        let api = Api { s: &s, token };
        assert_eq!(api.get("/nothing-here").0, 404);
    }
}

#[test]
fn the_openapi_document_describes_every_route() {
    let s = Server::start(Backend::Sqlite);
    let doc: Value = http().get(s.url("/admin/api/openapi.json")).send().unwrap().json().unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{}", doc["openapi"]);
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/users",
        "/users/{id}",
        "/users/{id}/password",
        "/users/{id}/unlock",
        "/users/{id}/sessions",
        "/users/{id}/sessions/{session}",
        "/users/{id}/consents/{client_id}",
        "/users/{id}/refresh-families/{family}",
        "/users/{id}/identities/{plugin}/{subject}",
        "/clients",
        "/clients/{id}/secret",
        "/api-credentials/{id}",
        "/accounts/{id}/members",
        "/plugins",
        "/keys/rotate",
        "/audit",
        "/dashboard",
        "/invitations",
    ] {
        assert!(paths.contains_key(p), "{p} missing from the OpenAPI document");
    }
    // Every documented operation answers (without credentials: 401, never 404/405).
    for (path, ops) in paths {
        for method in ops.as_object().unwrap().keys() {
            let concrete = path
                .replace("{id}", "1")
                .replace("{session}", "1")
                .replace("{client_id}", "x")
                .replace("{family}", "x")
                .replace("{plugin}", "x")
                .replace("{subject}", "x");
            let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let r = http().request(m, s.url(&format!("{API}{concrete}"))).send().unwrap();
            assert_eq!(r.status(), 401, "{method} {path}");
        }
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}
