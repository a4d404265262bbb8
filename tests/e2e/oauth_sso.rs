//! Single sign-on, the documented flow, and Closed users refused
//! everywhere, with the exact audit lines of docs/protocols/whmcs.md §8.

use serde_json::Value;

use crate::common::*;
use crate::oauth_support::*;

const CB: &str = "https://app.example/cb";
const AREA: &str = "https://billing.example";

fn sso_server(backend: Backend) -> Server {
    Server::start_with(
        backend,
        ServerOptions { config: format!("client_area_url = \"{AREA}\"\n"), ..Default::default() },
    )
}

/// A user with an account and an SSO client bound to it.
fn sso_setup(server: &Server, email: &str) -> (i64, TestClient) {
    let user = add_user(server, email);
    let uid = user["id"].as_i64().unwrap();
    let acc = server.cli_json(&["account", "add", "--owner", email, "--name", "Acme"]);
    let acc_id = acc["id"].as_i64().unwrap().to_string();
    let client = add_client(
        server,
        CB,
        &[
            "--grant",
            "single_sign_on",
            "--scope",
            "clientarea:sso clientarea:invoices clientarea:product_details",
            "--account",
            &acc_id,
        ],
    );
    (uid, client)
}

fn sso_token(server: &Server, client: &TestClient, form: &[(&str, &str)]) -> Value {
    let mut f = vec![("grant_type", "single_sign_on")];
    f.extend_from_slice(form);
    let (s, t) = token(server, client, &f);
    assert_eq!(s, 200, "{t}");
    t
}

fn redeem(b: &reqwest::blocking::Client, server: &Server, token: &str) -> reqwest::blocking::Response {
    b.get(server.url(&format!("/oauth2/sso?access_token={token}"))).send().unwrap()
}

#[test]
fn sso_token_redeems_once_into_a_session_and_the_destination() {
    for backend in backends() {
        let server = sso_server(backend);
        let (uid, client) = sso_setup(&server, "sso@example.com");
        let t = sso_token(&server, &client, &[("scope", "clientarea:sso clientarea:invoices")]);
        assert_eq!(t["scope"], "clientarea:sso clientarea:invoices");
        assert!(t["expires_in"].as_i64().unwrap() <= 60);
        let sso_tok = t["access_token"].as_str().unwrap();
        let redirect_url = t["redirect_url"].as_str().unwrap();
        assert!(redirect_url.starts_with(&server.url("/oauth2/sso?access_token=")), "{redirect_url}");

        let b = browser();
        let r = b.get(redirect_url).send().unwrap();
        assert_eq!(r.status(), 302, "{backend:?}");
        assert_eq!(location(&r), format!("{AREA}/clientarea.php?action=invoices"));
        let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
        assert!(cookie.starts_with("gatehouse_session="), "{cookie}");
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
        assert!(!cookie.contains("Secure"), "http issuer: no Secure flag");
        // The browser is signed in.
        let page = b.get(server.url("/account")).send().unwrap().text().unwrap();
        assert!(page.contains("sso@example.com"), "{page}");

        // Used again: refused with the documented line and no cookie.
        let b2 = browser();
        let r = redeem(&b2, &server, sso_tok);
        assert_eq!(r.status(), 403);
        assert!(r.headers().get("set-cookie").is_none());
        assert!(r.text().unwrap().contains("Single sign-on failed"));
        let line = format!("Unable to authenticate with Single Sign-On token for User ID: {uid}");
        assert!(audit_messages(&server).contains(&line), "{:?}", audit_messages(&server));

        // Destination parameters come from the token, never the request.
        let t = sso_token(
            &server,
            &client,
            &[("scope", "clientarea:sso clientarea:product_details"), ("service_id", "42")],
        );
        let r = b2
            .get(format!("{}&service_id=666&redirect=https://evil.example", t["redirect_url"].as_str().unwrap()))
            .send()
            .unwrap();
        assert_eq!(location(&r), format!("{AREA}/clientarea.php?action=productdetails&id=42"));
        // No destination: the client-area home.
        let t = sso_token(&server, &client, &[("scope", "clientarea:sso")]);
        let r = redeem(&browser(), &server, t["access_token"].as_str().unwrap());
        assert_eq!(location(&r), format!("{AREA}/clientarea.php"));
        // Scopes the client was not registered for, or two destinations: invalid_scope.
        let (_, e) = token(
            &server,
            &client,
            &[("grant_type", "single_sign_on"), ("scope", "clientarea:sso clientarea:tickets")],
        );
        assert_eq!(e["error"], "invalid_scope");
        let (_, e) = token(
            &server,
            &client,
            &[
                ("grant_type", "single_sign_on"),
                ("scope", "clientarea:sso clientarea:invoices clientarea:product_details"),
            ],
        );
        assert_eq!(e["error"], "invalid_scope");
        // A garbage token.
        let r = redeem(&browser(), &server, "garbage");
        assert_eq!(r.status(), 403);

        // 20 concurrent redemptions of one token: exactly one session.
        let t = sso_token(&server, &client, &[("scope", "clientarea:sso clientarea:invoices")]);
        let url = t["redirect_url"].as_str().unwrap().to_string();
        let handles: Vec<_> = (0..20)
            .map(|_| {
                let url = url.clone();
                std::thread::spawn(move || browser().get(url).send().unwrap().status().as_u16())
            })
            .collect();
        let statuses: Vec<u16> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(statuses.iter().filter(|s| **s == 302).count(), 1, "{backend:?}: {statuses:?}");
        assert!(statuses.iter().all(|s| *s == 302 || *s == 403), "{statuses:?}");
    }
}

#[test]
fn sso_refusals_write_the_documented_audit_lines() {
    for backend in backends() {
        let server = sso_server(backend);
        let (uid, client) = sso_setup(&server, "off@example.com");
        // The user switches SSO off after the token was issued.
        let t = sso_token(&server, &client, &[]);
        server.cli_json(&["user", "set-sso", "off@example.com", "off"]);
        let r = redeem(&browser(), &server, t["access_token"].as_str().unwrap());
        assert_eq!(r.status(), 403);
        assert!(r.headers().get("set-cookie").is_none());
        let msgs = audit_messages(&server);
        assert!(
            msgs.contains(&format!("Single Sign-On authentication denied per configuration for User ID: {uid}")),
            "{msgs:?}"
        );
        // While SSO is off, no token is issued at all.
        let (s, e) = token(&server, &client, &[("grant_type", "single_sign_on")]);
        assert_eq!(s, 400, "{e}");
        server.cli_json(&["user", "set-sso", "off@example.com", "on"]);

        // The user is Closed after the token was issued.
        let t = sso_token(&server, &client, &[]);
        server.cli_json(&["user", "set-status", "off@example.com", "Closed"]);
        let r = redeem(&browser(), &server, t["access_token"].as_str().unwrap());
        assert_eq!(r.status(), 403);
        assert!(r.headers().get("set-cookie").is_none());
        let msgs = audit_messages(&server);
        assert!(
            msgs.contains(&format!("Single Sign-On authentication denied for \"Closed\" User ID: {uid}")),
            "{msgs:?}"
        );
        // The log carries the same line.
        assert!(server.logs_within(&format!("denied for \"Closed\" User ID: {uid}")), "{}", server.log());
        assert!(!server.log().contains(t["access_token"].as_str().unwrap()), "tokens never reach the log");
    }
}

#[test]
fn closed_users_are_refused_everywhere() {
    for backend in backends() {
        let server = Server::start(backend);
        let user = add_user(&server, "closed@example.com");
        let uid = user["id"].as_i64().unwrap();
        let client = add_client(&server, CB, &["--scope", "openid profile", "--first-party"]);
        let (b, code) = code_for(&server, &client, "closed@example.com", &[("scope", "openid")]);
        let (_, t) =
            token(&server, &client, &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", CB)]);
        let access = t["access_token"].as_str().unwrap().to_string();
        let refresh = t["refresh_token"].as_str().unwrap().to_string();

        // Closed behind the engine's back (sessions left alive): the next
        // authorization request is refused with the documented line.
        let store = gatehouse_store::Store::open(&server.db.url).unwrap();
        store.set_user_status(uid, gatehouse_core::UserStatus::Closed, 0).unwrap();
        let r = b
            .get(authorize_url(&server, &[("client_id", &client.id), ("response_type", "code"), ("state", "z")]))
            .send()
            .unwrap();
        let loc = location(&r);
        assert_eq!(query_param(&loc, "error").as_deref(), Some("access_denied"), "{loc}");
        assert!(query_param(&loc, "code").is_none());
        let line = format!(
            "OAuth authorization request denied due to unexpected active login session for \"Closed\" User ID: {uid}"
        );
        assert!(audit_messages(&server).contains(&line), "{backend:?}");
        // Tokens die with the account; refresh and userinfo refuse.
        let r = http().get(server.url("/oauth2/userinfo")).bearer_auth(&access).send().unwrap();
        assert_eq!(r.status(), 401);
        let (s, e) = token(&server, &client, &[("grant_type", "refresh_token"), ("refresh_token", &refresh)]);
        assert_eq!((s, e["error"].as_str()), (400, Some("invalid_grant")));
        // And the login form refuses them.
        let r = login(&browser(), &server, "closed@example.com", PASSWORD);
        assert_eq!(r.status(), 403);
        assert!(r.headers().get("location").is_none());
    }
}

#[test]
fn only_an_allowed_unbound_client_may_name_the_user() {
    for backend in backends() {
        let server = sso_server(backend);
        let uid = add_user(&server, "named@example.com")["id"].as_i64().unwrap().to_string();
        let sso = ["--grant", "single_sign_on", "--scope", "clientarea:sso clientarea:invoices"];
        // Unbound and not allowed: it cannot name anyone.
        let plain = add_client(&server, CB, &sso);
        let (s, e) = token(&server, &plain, &[("grant_type", "single_sign_on"), ("user_id", &uid)]);
        assert_eq!((s, e["error"].as_str()), (400, Some("unauthorized_client")), "{e}");
        // The flag is refused where it makes no sense.
        let out = server.cli(&["client", "add", "--name", "X", "--redirect-uri", CB, "--may-name-users"]);
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("--may-name-users"));
        // Allowed by the operator: it names the user, who is signed in.
        let mut args = sso.to_vec();
        args.push("--may-name-users");
        let trusted = add_client(&server, CB, &args);
        let t = sso_token(&server, &trusted, &[("user_id", &uid), ("scope", "clientarea:sso clientarea:invoices")]);
        let r = redeem(&browser(), &server, t["access_token"].as_str().unwrap());
        assert_eq!(location(&r), format!("{AREA}/clientarea.php?action=invoices"));
        let (_, e) = token(&server, &trusted, &[("grant_type", "single_sign_on"), ("user_id", "424242")]);
        assert_eq!(e["error_description"], "Invalid user_id");
        let (_, e) = token(&server, &trusted, &[("grant_type", "single_sign_on")]);
        assert_eq!(e["error"], "invalid_request");
    }
}
