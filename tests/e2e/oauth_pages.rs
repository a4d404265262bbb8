//! The login, logout and account pages, RP-initiated logout and login rate
//! limiting, through the HTML forms.

use crate::common::*;
use crate::oauth_support::*;

const CB: &str = "https://app.example/cb";

#[test]
fn account_page_toggles_sso_and_ends_sessions() {
    for backend in backends() {
        let server = Server::start(backend);
        add_user(&server, "acc@example.com");
        // Not signed in: off to the login page.
        let r = browser().get(server.url("/account")).send().unwrap();
        assert_eq!(r.status(), 303);
        assert!(location(&r).starts_with("/login"));

        let a = browser();
        let r = login(&a, &server, "acc@example.com", PASSWORD);
        assert_eq!(r.status(), 303);
        let cookie = r.headers()["set-cookie"].to_str().unwrap();
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"));
        let b = browser();
        login(&b, &server, "acc@example.com", PASSWORD);

        let page = a.get(server.url("/account")).send().unwrap().text().unwrap();
        assert!(page.contains("acc@example.com"));
        assert!(page.contains("<strong id=\"sso-state\">on</strong>"), "{page}");
        assert_eq!(page.matches("(this browser)").count(), 1, "this session is marked");
        assert_eq!(page.matches("name=\"session_id\"").count(), 1, "the other session can be signed out");
        assert!(page.contains("Sign out everywhere else (1)"), "{page}");
        // Switch SSO off (without CSRF: refused).
        let csrf = hidden_field(&page, "csrf_token");
        let r = a.post(server.url("/account/sso")).form(&[("allow", "off")]).send().unwrap();
        assert_eq!(r.status(), 403);
        let r = a.post(server.url("/account/sso")).form(&[("allow", "off"), ("csrf_token", &csrf)]).send().unwrap();
        assert_eq!(r.status(), 303);
        assert_eq!(server.cli_json(&["user", "show", "acc@example.com"])["allow_sso"], false, "{backend:?}");

        // End the other browser's session.
        let page = a.get(server.url("/account")).send().unwrap().text().unwrap();
        let ids: Vec<String> = page
            .match_indices("name=\"session_id\" value=\"")
            .map(|(i, m)| page[i + m.len()..].split('"').next().unwrap().to_string())
            .collect();
        assert_eq!(ids.len(), 1, "only other sessions have a sign-out button");
        assert_eq!(b.get(server.url("/account")).send().unwrap().status(), 200);
        // From browser a, end every session but its own.
        for id in &ids {
            let page = a.get(server.url("/account")).send().unwrap().text().unwrap();
            if !is_current(&page, id) {
                let r = a
                    .post(server.url("/account/sessions/end"))
                    .form(&[("session_id", id.as_str()), ("csrf_token", &csrf)])
                    .send()
                    .unwrap();
                assert_eq!(r.status(), 303);
            }
        }
        let r = b.get(server.url("/account")).send().unwrap();
        assert_eq!(r.status(), 303, "the other browser was signed out");
        assert_eq!(a.get(server.url("/account")).send().unwrap().status(), 200);

        // /logout signs this browser out (CSRF-checked).
        let page = a.get(server.url("/logout")).send().unwrap().text().unwrap();
        let csrf = hidden_field(&page, "csrf_token");
        let r = a.post(server.url("/logout")).form(&[("csrf_token", csrf.as_str())]).send().unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(a.get(server.url("/account")).send().unwrap().status(), 303);
    }
}

/// Whether the session row `id` is marked as this browser's.
fn is_current(page: &str, id: &str) -> bool {
    let at = page.find(&format!("name=\"session_id\" value=\"{id}\"")).unwrap();
    let row_start = page[..at].rfind("<tr>").unwrap();
    page[row_start..at].contains("(this browser)")
}

#[test]
fn rp_initiated_logout_with_id_token_hint_and_registered_uri() {
    for backend in backends() {
        let server = Server::start(backend);
        add_user(&server, "out@example.com");
        let client = add_client(
            &server,
            CB,
            &["--scope", "openid", "--first-party", "--post-logout-redirect-uri", "https://app.example/bye"],
        );
        let (b, code) = code_for(&server, &client, "out@example.com", &[("scope", "openid")]);
        let (_, t) =
            token(&server, &client, &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", CB)]);
        let id_token = t["id_token"].as_str().unwrap();
        // An unregistered post_logout_redirect_uri is refused, nothing ends.
        let r = b
            .get(server.url(&format!(
                "/oauth2/logout?id_token_hint={id_token}&post_logout_redirect_uri=https://evil.example/"
            )))
            .send()
            .unwrap();
        assert_eq!(r.status(), 400);
        assert_eq!(b.get(server.url("/account")).send().unwrap().status(), 200);
        // Without a hint the user must confirm.
        let r = b.get(server.url("/oauth2/logout")).send().unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.text().unwrap().contains("name=\"confirm\""));
        assert_eq!(b.get(server.url("/account")).send().unwrap().status(), 200);
        // With the hint: signed out and sent back with state.
        let r = b
            .get(server.url(&format!(
                "/oauth2/logout?id_token_hint={id_token}&post_logout_redirect_uri=https://app.example/bye&state=xyz"
            )))
            .send()
            .unwrap();
        assert_eq!(r.status(), 302, "{backend:?}");
        assert_eq!(location(&r), "https://app.example/bye?state=xyz");
        assert_eq!(b.get(server.url("/account")).send().unwrap().status(), 303);
        // prompt=none now: login_required.
        let r = b
            .get(authorize_url(&server, &[("client_id", &client.id), ("response_type", "code"), ("prompt", "none")]))
            .send()
            .unwrap();
        assert_eq!(query_param(&location(&r), "error").as_deref(), Some("login_required"));
    }
}

#[test]
fn failed_logins_are_audited_and_rate_limited() {
    for backend in backends() {
        let server = Server::start_with(
            backend,
            ServerOptions {
                config: "[login]\nmax_failures_per_account = 3\nmax_failures_per_ip = 100\n".into(),
                ..Default::default()
            },
        );
        add_user(&server, "rl@example.com");
        let b = browser();
        for _ in 0..3 {
            let r = login(&b, &server, "rl@example.com", "wrong");
            assert_eq!(r.status(), 401);
            assert!(r.text().unwrap().contains("The e-mail address or password is incorrect"));
        }
        // Now even the right password is refused for a while.
        let r = login(&b, &server, "rl@example.com", PASSWORD);
        assert_eq!(r.status(), 429, "{backend:?}");
        let msgs = audit_messages(&server);
        assert_eq!(msgs.iter().filter(|m| *m == "Failed sign-in attempt").count(), 3);
        // A form without the CSRF token is refused.
        let r = browser()
            .post(server.url("/login"))
            .form(&[("email", "rl@example.com"), ("password", PASSWORD)])
            .send()
            .unwrap();
        assert_eq!(r.status(), 403);
        // Another account is not affected.
        add_user(&server, "ok@example.com");
        assert_eq!(login(&browser(), &server, "ok@example.com", PASSWORD).status(), 303);
    }
}

#[test]
fn cookies_are_secure_when_the_issuer_is_https() {
    // The issuer is what the world sees (TLS ends at a proxy); the listener
    // here is plain HTTP, but the cookies must already say Secure.
    let server = Server::start_with(
        Backend::Sqlite,
        ServerOptions {
            env: vec![("GATEHOUSE_ISSUER".into(), "https://login.example.com".into())],
            ..Default::default()
        },
    );
    add_user(&server, "sec@example.com");
    let r = login(&browser(), &server, "sec@example.com", PASSWORD);
    assert_eq!(r.status(), 303);
    let cookies: Vec<String> =
        r.headers().get_all("set-cookie").iter().map(|c| c.to_str().unwrap().to_string()).collect();
    let session = cookies.iter().find(|c| c.starts_with("gatehouse_session=")).expect("session cookie");
    for flag in ["HttpOnly", "SameSite=Lax", "Secure"] {
        assert!(session.contains(flag), "{flag} missing: {session}");
    }
    let discovery: serde_json::Value =
        http().get(server.url("/.well-known/openid-configuration")).send().unwrap().json().unwrap();
    assert_eq!(discovery["issuer"], "https://login.example.com");
}
