//! Findings of the outside security review (hardening issue), end to end:
//! HTML pages cannot be framed, `CONNECT` is answered at once, oversized
//! requests are refused in the surface's own format.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::common::*;

fn assert_unframeable(r: &reqwest::blocking::Response, what: &str) {
    let h = r.headers();
    assert_eq!(h.get("x-frame-options").map(|v| v.to_str().unwrap()), Some("DENY"), "{what}");
    let csp = h.get("content-security-policy").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    assert!(csp.contains("frame-ancestors 'none'") && csp.contains("default-src 'none'"), "{what}: {csp}");
    assert_eq!(h.get("referrer-policy").map(|v| v.to_str().unwrap()), Some("no-referrer"), "{what}");
    assert_eq!(h.get("x-content-type-options").map(|v| v.to_str().unwrap()), Some("nosniff"), "{what}");
}

/// Hardening #6: every HTML page, the RP-logout confirmation first of all.
#[test]
fn no_html_page_can_be_framed() {
    let s = Server::start(Backend::Sqlite);
    s.cli_json(&["user", "add", "--email", "f@example.com", "--password", "pw-123456", "--name", "F F"]);
    let c = s.cli_json(&["client", "add", "--name", "App", "--redirect-uri", "https://app.example.com/cb"]);
    let client_id = c["client_id"].as_str().unwrap();
    let b = browser();
    // Signed in, so the account page and the logout confirmation render.
    let r = b.get(s.url("/login")).send().unwrap();
    assert_unframeable(&r, "/login");
    let form = parse_forms(&r.text().unwrap()).into_iter().next().unwrap();
    let mut fields: Vec<(String, String)> = form
        .inputs
        .iter()
        .filter(|(k, _, _)| k != "email" && k != "password")
        .map(|(k, v, _)| (k.clone(), v.clone()))
        .collect();
    fields.push(("email".into(), "f@example.com".into()));
    fields.push(("password".into(), "pw-123456".into()));
    let r = b.post(s.url("/login")).form(&fields).send().unwrap();
    assert!(r.status().is_redirection(), "{}", r.status());
    for path in [
        "/account".to_string(),
        "/logout".to_string(),
        "/oauth2/logout".to_string(),
        format!("/oauth2/authorize?client_id={client_id}&response_type=code&prompt=consent"),
        "/oauth2/authorize?client_id=nope&response_type=code".to_string(),
        "/oauth2/sso?access_token=nope".to_string(),
    ] {
        let r = b.get(s.url(&path)).send().unwrap();
        let ct = r.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
        assert!(ct.starts_with("text/html"), "{path}: {ct}");
        assert_unframeable(&r, &path);
    }
    // JSON answers carry nosniff but no page policy.
    let r = http().get(s.url("/.well-known/openid-configuration")).send().unwrap();
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert!(r.headers().get("x-frame-options").is_none());
}

/// Sends a raw request and returns the status line, or what went wrong.
fn raw_status_line(base: &str, request: &str) -> String {
    let addr = base.trim_start_matches("http://");
    let mut sock = TcpStream::connect(addr).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    sock.write_all(request.as_bytes()).unwrap();
    let mut buf = [0u8; 256];
    match sock.read(&mut buf) {
        Ok(n) => String::from_utf8_lossy(&buf[..n]).lines().next().unwrap_or_default().to_string(),
        Err(e) => format!("no answer: {e}"),
    }
}

/// Hardening #8: `CONNECT` is answered at once, on every route.
#[test]
fn connect_is_answered_405_at_once() {
    let s = Server::start(Backend::Sqlite);
    for path in
        ["/oauth2/token", "/oauth2/authorize", "/.well-known/openid-configuration", "/jwks.json", "/login", "/nope"]
    {
        let line = raw_status_line(&s.base, &format!("CONNECT {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
        assert!(line.starts_with("HTTP/1.1 405"), "{path}: {line}");
    }
    // The server still serves.
    assert_eq!(http().get(s.url("/healthz")).send().unwrap().status(), 200);
}

/// Hardening #17: a body over the limit gets the surface's own format.
#[test]
fn oversized_requests_are_refused_in_the_protocols_format() {
    let s = Server::start(Backend::Sqlite);
    let big = "a".repeat(1_100_000);
    let r = http()
        .post(s.url("/oauth2/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("grant_type=client_credentials&x={big}"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 413);
    let v: serde_json::Value = r.json().unwrap();
    assert_eq!(v["error"], "invalid_request", "{v}");
    let r = browser()
        .post(s.url("/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("email=a%40b.c&password={big}"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 413);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert_unframeable(&r, "413 page");
    assert!(r.text().unwrap().contains("too large"));
}
