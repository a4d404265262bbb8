//! Helpers for the OAuth end-to-end tests: users and clients through the
//! CLI, signing in through the HTML form, walking the authorization flow,
//! calling the token endpoint.

use base64::Engine as _;
use reqwest::blocking::{Client as Http, Response};
use serde_json::Value;
use sha2::Digest;

use crate::common::*;

pub const PASSWORD: &str = "correct horse battery";

pub struct TestClient {
    pub id: String,
    pub secret: Option<String>,
    pub redirect: String,
}

pub fn add_user(server: &Server, email: &str) -> Value {
    server.cli_json(&["user", "add", "--email", email, "--password", PASSWORD, "--name", "Ada Lovelace"])
}

/// Registers a client; `extra` are more `client add` flags.
pub fn add_client(server: &Server, redirect: &str, extra: &[&str]) -> TestClient {
    let mut args = vec!["client", "add", "--name", "Test App", "--redirect-uri", redirect];
    args.extend_from_slice(extra);
    let v = server.cli_json(&args);
    TestClient {
        id: v["client_id"].as_str().unwrap().to_string(),
        secret: v["client_secret"].as_str().map(str::to_string),
        redirect: redirect.to_string(),
    }
}

/// The value of a hidden field in an HTML page.
pub fn hidden_field(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).unwrap_or_else(|| panic!("no field {name} in:\n{html}")) + marker.len();
    let end = html[start..].find('"').unwrap() + start;
    html_unescape(&html[start..end])
}

fn html_unescape(s: &str) -> String {
    s.replace("&quot;", "\"").replace("&#x27;", "'").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
}

/// Signs in through the login form (following `return_to` is up to the caller).
pub fn login(browser: &Http, server: &Server, email: &str, password: &str) -> Response {
    login_at(browser, server, "/login", email, password)
}

/// Signs in through the login page at `login_path` (which may carry `return_to`).
pub fn login_at(browser: &Http, server: &Server, login_path: &str, email: &str, password: &str) -> Response {
    let page = browser.get(server.url(login_path)).send().unwrap().text().unwrap();
    let csrf = hidden_field(&page, "csrf_token");
    let mut form = vec![("csrf_token", csrf), ("email", email.to_string()), ("password", password.to_string())];
    if page.contains("name=\"return_to\"") {
        form.push(("return_to", hidden_field(&page, "return_to")));
    }
    browser.post(server.url("/login")).form(&form).send().unwrap()
}

pub fn location(r: &Response) -> String {
    r.headers().get("location").unwrap_or_else(|| panic!("no Location on {}", r.status())).to_str().unwrap().to_string()
}

/// A query parameter of a URL.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    let u = url::Url::parse(url).unwrap();
    let v = u.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
    v
}

pub fn authorize_url(server: &Server, params: &[(&str, &str)]) -> String {
    let mut u = url::Url::parse(&server.url("/oauth2/authorize")).unwrap();
    u.query_pairs_mut().extend_pairs(params);
    u.to_string()
}

/// Walks the authorization flow in a browser: signs in when asked, allows
/// on the consent screen, and returns the final redirect to the client.
pub fn authorize(browser: &Http, server: &Server, email: &str, params: &[(&str, &str)]) -> String {
    let mut r = browser.get(authorize_url(server, params)).send().unwrap();
    for _ in 0..4 {
        if r.status().is_redirection() {
            let loc = location(&r);
            if loc.starts_with("/login") {
                let back = query_param(&format!("http://x{loc}"), "return_to").unwrap();
                let done = login_at(browser, server, &loc, email, PASSWORD);
                assert_eq!(done.status(), 303, "login failed: {}", done.text().unwrap());
                assert_eq!(location(&done), back);
                r = browser.get(server.url(&back)).send().unwrap();
                continue;
            }
            return loc;
        }
        let status = r.status();
        let page = r.text().unwrap();
        assert_eq!(status, 200, "unexpected page: {page}");
        assert!(page.contains("gatehouse_consent"), "expected the consent page: {page}");
        r = submit_consent(browser, server, &page, "allow");
    }
    panic!("authorization flow did not finish");
}

/// Submits the consent form found in `page`.
pub fn submit_consent(browser: &Http, server: &Server, page: &str, answer: &str) -> Response {
    let mut fields: Vec<(String, String)> = Vec::new();
    let mut rest = page;
    while let Some(i) = rest.find("<input type=\"hidden\" name=\"") {
        rest = &rest[i + 27..];
        let name_end = rest.find('"').unwrap();
        let name = html_unescape(&rest[..name_end]);
        let vstart = rest.find("value=\"").unwrap() + 7;
        let vend = rest[vstart..].find('"').unwrap() + vstart;
        fields.push((name, html_unescape(&rest[vstart..vend])));
        rest = &rest[vend..];
    }
    fields.push(("gatehouse_consent".into(), answer.into()));
    browser.post(server.url("/oauth2/authorize")).form(&fields).send().unwrap()
}

pub fn basic(id: &str, secret: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}")))
}

/// POSTs a form to the token endpoint with HTTP Basic client authentication.
pub fn token(server: &Server, client: &TestClient, form: &[(&str, &str)]) -> (u16, Value) {
    let mut req = http().post(server.url("/oauth2/token")).form(form);
    if let Some(s) = &client.secret {
        req = req.header("Authorization", basic(&client.id, s));
    }
    let r = req.send().unwrap();
    let status = r.status().as_u16();
    if status == 200 {
        assert_eq!(r.headers()["cache-control"], "no-store");
        assert_eq!(r.headers()["pragma"], "no-cache");
    }
    (status, r.json().unwrap())
}

pub fn pkce_pair() -> (String, String) {
    let verifier = format!("{}{}", random_hex(32), "-._~abc");
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

/// The claims of a JWT (not verified: the RP-library tests do that).
pub fn jwt_claims(jwt: &str) -> (Value, Value) {
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3);
    let dec = |p: &str| -> Value {
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap()
    };
    (dec(parts[0]), dec(parts[1]))
}

/// Audit messages, newest first.
pub fn audit_messages(server: &Server) -> Vec<String> {
    let store = gatehouse_store::Store::open(&server.db.url).unwrap();
    store.list_audit(None, 500).unwrap().into_iter().map(|e| e.message).collect()
}

/// A signed-in browser and a code for `client`.
pub fn code_for(server: &Server, client: &TestClient, email: &str, extra: &[(&str, &str)]) -> (Http, String) {
    let b = browser();
    let mut params =
        vec![("client_id", client.id.as_str()), ("response_type", "code"), ("redirect_uri", client.redirect.as_str())];
    params.extend_from_slice(extra);
    let loc = authorize(&b, server, email, &params);
    let code = query_param(&loc, "code").unwrap_or_else(|| panic!("no code in {loc}"));
    (b, code)
}

/// A client_credentials token with the admin scope, for the admin API.
pub fn admin_token(server: &Server) -> String {
    let c = server.cli_json(&[
        "client",
        "add",
        "--name",
        "ops",
        "--grant",
        "client_credentials",
        "--scope",
        "admin",
        "--redirect-uri",
        "https://ops.example/cb",
    ]);
    let tc = TestClient {
        id: c["client_id"].as_str().unwrap().into(),
        secret: c["client_secret"].as_str().map(str::to_string),
        redirect: String::new(),
    };
    let (status, t) = token(server, &tc, &[("grant_type", "client_credentials"), ("scope", "admin")]);
    assert_eq!(status, 200, "{t}");
    t["access_token"].as_str().unwrap().to_string()
}
