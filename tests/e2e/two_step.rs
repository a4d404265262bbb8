//! Two-step sign-in with an authenticator app (TOTP), end to end: the test
//! computes the codes itself (npm-free, with the `totp-rs` crate), as a
//! phone app would.

use reqwest::blocking::Client as Http;
use serde_json::Value;
use totp_rs::{Algorithm, Secret, TOTP};

use crate::common::*;
use crate::oauth_support::*;

const CB: &str = "https://app.example/cb";

fn code_now(secret_b32: &str, offset_steps: i64) -> String {
    let secret = Secret::Encoded(secret_b32.to_string()).to_bytes().unwrap();
    let t = TOTP::new_unchecked(Algorithm::SHA1, 6, 1, 30, secret, None, String::new());
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    t.generate((now + offset_steps * 30) as u64)
}

fn between(page: &str, start: &str, end: &str) -> String {
    let i = page.find(start).unwrap_or_else(|| panic!("no {start:?} in {page}")) + start.len();
    let j = page[i..].find(end).unwrap() + i;
    page[i..j].to_string()
}

/// Signs in (no factor yet), adds an authenticator app; returns its secret
/// and the recovery codes shown once.
fn enrol(server: &Server, email: &str) -> (Http, String, Vec<String>) {
    let b = browser();
    login(&b, server, email, PASSWORD);
    let page = b.get(server.url("/account/two-step")).send().unwrap().text().unwrap();
    assert!(page.contains("id=\"two-step-state\">off"), "{page}");
    let csrf = hidden_field(&page, "csrf_token");
    let r = b
        .post(server.url("/account/two-step/add"))
        .form(&[("csrf_token", csrf.as_str()), ("name", "Phone")])
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let page = r.text().unwrap();
    assert!(page.contains("<svg") && page.contains("QR code"), "a QR code is shown");
    let secret = between(&page, "<code id=\"totp-secret\">", "</code>");
    let factor_id = hidden_field(&page, "factor_id");
    // A wrong first code does not turn it on.
    let r = b
        .post(server.url("/account/two-step/confirm"))
        .form(&[("csrf_token", csrf.as_str()), ("factor_id", factor_id.as_str()), ("code", "000000")])
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);
    let page = r.text().unwrap();
    assert_eq!(between(&page, "<code id=\"totp-secret\">", "</code>"), secret, "the same secret, shown again");
    assert_eq!(hidden_field(&page, "factor_id"), factor_id);
    let code = code_now(&secret, 0);
    let r = b
        .post(server.url("/account/two-step/confirm"))
        .form(&[("csrf_token", csrf.as_str()), ("factor_id", factor_id.as_str()), ("code", code.as_str())])
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let page = r.text().unwrap();
    assert!(page.contains("id=\"two-step-state\">on"), "{page}");
    let codes: Vec<String> =
        page.split("<li><code>").skip(1).map(|s| s.split("</code>").next().unwrap().to_string()).collect();
    assert_eq!(codes.len(), 10, "{page}");
    (b, secret, codes)
}

/// Password, then the code step; the final response.
fn sign_in_with_code(server: &Server, email: &str, code: &str) -> (Http, reqwest::blocking::Response) {
    let b = browser();
    let r = login(&b, server, email, PASSWORD);
    assert_eq!(r.status(), 303);
    let step = location(&r);
    assert!(step.starts_with("/login/second-factor"), "the code comes next: {step}");
    assert!(
        !r.headers().get_all("set-cookie").iter().any(|c| c.to_str().unwrap().starts_with("gatehouse_session=")),
        "no session before the code"
    );
    let page = b.get(server.url(&step)).send().unwrap().text().unwrap();
    let csrf = hidden_field(&page, "csrf_token");
    let r = b
        .post(server.url("/login/second-factor"))
        .form(&[("csrf_token", csrf.as_str()), ("code", code)])
        .send()
        .unwrap();
    (b, r)
}

fn id_token_claims(server: &Server, b: &Http, client: &TestClient, extra: &[(&str, &str)]) -> Value {
    let mut params =
        vec![("client_id", client.id.as_str()), ("response_type", "code"), ("redirect_uri", CB), ("scope", "openid")];
    params.extend_from_slice(extra);
    let r = b.get(authorize_url(server, &params)).send().unwrap();
    let loc = location(&r);
    let code = query_param(&loc, "code").unwrap_or_else(|| panic!("no code: {loc}"));
    let (status, t) =
        token(server, client, &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", CB)]);
    assert_eq!(status, 200, "{t}");
    let (_, claims) = jwt_claims(t["id_token"].as_str().unwrap());
    // Introspection says the same.
    let access = t["access_token"].as_str().unwrap();
    let intro: Value = http()
        .post(server.url("/oauth2/introspect"))
        .basic_auth(&client.id, client.secret.as_deref())
        .form(&[("token", access)])
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(intro["acr"], claims["acr"], "{intro}");
    assert_eq!(intro.get("amr"), claims.get("amr"), "{intro}");
    claims
}

#[test]
fn an_authenticator_app_guards_sign_in_and_tokens_say_how() {
    for backend in backends() {
        let server = Server::start(backend);
        add_user(&server, "two@example.com");
        let client = add_client(&server, CB, &["--scope", "openid", "--first-party"]);

        // Password only: amr pwd, acr pwd.
        let b = browser();
        login(&b, &server, "two@example.com", PASSWORD);
        let claims = id_token_claims(&server, &b, &client, &[]);
        assert_eq!(claims["amr"], serde_json::json!(["pwd"]), "{backend:?}");
        assert_eq!(claims["acr"], "pwd");
        println!("ID token claims after a password-only sign-in ({backend:?}): {claims}");

        let (_, secret, recovery) = enrol(&server, "two@example.com");

        // A wrong code is refused (and counted); the right one signs in.
        let (b, r) = sign_in_with_code(&server, "two@example.com", "123456");
        assert_eq!(r.status(), 401);
        assert!(r.text().unwrap().contains("not right"));
        let page = b.get(server.url("/login/second-factor")).send().unwrap().text().unwrap();
        let csrf = hidden_field(&page, "csrf_token");
        // The code that confirmed the app (this time step) is spent: the
        // next step's code, which the one-step clock skew admits.
        let code = code_now(&secret, 1);
        let r = b
            .post(server.url("/login/second-factor"))
            .form(&[("csrf_token", csrf.as_str()), ("code", code.as_str())])
            .send()
            .unwrap();
        assert_eq!(r.status(), 303);
        assert_eq!(location(&r), "/account");
        let claims = id_token_claims(&server, &b, &client, &[]);
        assert_eq!(claims["amr"], serde_json::json!(["pwd", "otp", "mfa"]));
        assert_eq!(claims["acr"], "mfa");
        println!("ID token claims after a TOTP sign-in ({backend:?}): {claims}");

        // The same code again (a replay within its window) is refused.
        let (_, r) = sign_in_with_code(&server, "two@example.com", &code);
        assert_eq!(r.status(), 401);
        assert!(r.text().unwrap().contains("used already"), "replay refused");

        // A recovery code works once.
        let (_, r) = sign_in_with_code(&server, "two@example.com", &recovery[0].to_uppercase());
        assert_eq!(r.status(), 303, "a recovery code (any case, with its dash)");
        let (_, r) = sign_in_with_code(&server, "two@example.com", &recovery[0]);
        assert_eq!(r.status(), 401, "but only once");

        let audit = audit_messages(&server);
        assert!(audit.iter().any(|m| m == "Wrong second-factor code"));
        assert!(audit.iter().any(|m| m == "Second-factor code replayed"));
        assert!(audit.iter().any(|m| m.contains("signed in with a recovery code")));

        // The operator resets the factors: the password alone signs in again.
        let out = server.cli_json(&["user", "reset-2fa", "two@example.com"]);
        assert_eq!(out["removed"], 1);
        let b = browser();
        let r = login(&b, &server, "two@example.com", PASSWORD);
        assert_eq!(location(&r), "/account");
        assert!(audit_messages(&server).iter().any(|m| m.contains("second factors reset by an administrator")));
    }
}

#[test]
fn apps_ask_for_a_second_factor_with_acr_values_and_clients_can_require_one() {
    let server = Server::start(Backend::Sqlite);
    add_user(&server, "step@example.com");
    let client = add_client(&server, CB, &["--scope", "openid", "--first-party"]);
    // Signed in with the password, then enrolled: this session has no second factor.
    let (b, secret, _) = enrol(&server, "step@example.com");
    let discovery: Value = http().get(server.url("/.well-known/openid-configuration")).send().unwrap().json().unwrap();
    assert_eq!(discovery["acr_values_supported"], serde_json::json!(["pwd", "mfa"]));

    // prompt=none cannot step up.
    let r = b
        .get(authorize_url(
            &server,
            &[
                ("client_id", &client.id),
                ("response_type", "code"),
                ("redirect_uri", CB),
                ("scope", "openid"),
                ("acr_values", "mfa"),
                ("prompt", "none"),
            ],
        ))
        .send()
        .unwrap();
    assert_eq!(query_param(&location(&r), "error").as_deref(), Some("unmet_authentication_requirements"));

    // acr_values=mfa: the code step for this session, then back to the app.
    let r = b
        .get(authorize_url(
            &server,
            &[
                ("client_id", &client.id),
                ("response_type", "code"),
                ("redirect_uri", CB),
                ("scope", "openid"),
                ("acr_values", "mfa"),
                ("state", "s"),
            ],
        ))
        .send()
        .unwrap();
    let step = location(&r);
    assert!(step.starts_with("/login/second-factor?return_to="), "{step}");
    let page = b.get(server.url(&step)).send().unwrap().text().unwrap();
    let csrf = hidden_field(&page, "csrf_token");
    let back = hidden_field(&page, "return_to");
    let code = code_now(&secret, 1);
    let r = b
        .post(server.url("/login/second-factor"))
        .form(&[("csrf_token", csrf.as_str()), ("code", code.as_str()), ("return_to", back.as_str())])
        .send()
        .unwrap();
    assert_eq!(r.status(), 303);
    assert!(location(&r).starts_with("/oauth2/authorize?"));
    let claims = id_token_claims(&server, &b, &client, &[("acr_values", "mfa")]);
    assert_eq!(claims["acr"], "mfa");
    assert_eq!(claims["amr"], serde_json::json!(["pwd", "otp", "mfa"]), "the step-up added the factor to the session");

    // A client that requires a second factor sends a member without one to enrol.
    add_user(&server, "nofactor@example.com");
    let strict = add_client(&server, CB, &["--scope", "openid", "--first-party", "--require-2fa"]);
    let b = browser();
    login(&b, &server, "nofactor@example.com", PASSWORD);
    let r = b
        .get(authorize_url(
            &server,
            &[("client_id", &strict.id), ("response_type", "code"), ("redirect_uri", CB), ("scope", "openid")],
        ))
        .send()
        .unwrap();
    let loc = location(&r);
    assert!(loc.starts_with("/account/two-step?return_to="), "{loc}");
    let page = b.get(server.url(&loc)).send().unwrap().text().unwrap();
    assert!(
        page.contains("Set up an authenticator app") && !page.contains("Skip for now"),
        "no skipping for this app: {page}"
    );
}

#[test]
fn the_operator_policy_leads_members_to_enrol_with_a_grace_period() {
    let server = Server::start_with(
        Backend::Sqlite,
        ServerOptions { config: "[mfa]\nrequired = \"everyone\"\ngrace_days = 3\n".into(), ..Default::default() },
    );
    add_user(&server, "policy@example.com");
    let client = add_client(&server, CB, &["--scope", "openid", "--first-party"]);
    let b = browser();
    let r = login(&b, &server, "policy@example.com", PASSWORD);
    let loc = location(&r);
    assert!(loc.starts_with("/account/two-step?return_to="), "led to enrol: {loc}");
    let page = b.get(server.url(&loc)).send().unwrap().text().unwrap();
    assert!(page.contains("(3 day(s) left)") && page.contains(">Skip for now</a>"), "{page}");
    // Within the grace period the apps still work.
    let r = b
        .get(authorize_url(
            &server,
            &[("client_id", &client.id), ("response_type", "code"), ("redirect_uri", CB), ("scope", "openid")],
        ))
        .send()
        .unwrap();
    assert!(query_param(&location(&r), "code").is_some());
}

/// Passkeys in a real headless Chromium with the WebDriver virtual
/// authenticator: register, second factor after the password, sign in with
/// the passkey alone, remove. The app's ID token says `hwk`.
#[test]
fn passkeys_register_serve_as_second_factor_and_sign_in_alone() {
    for backend in backends() {
        passkeys_on(backend);
    }
}

fn passkeys_on(backend: Backend) {
    let server = Server::start_with(
        backend,
        ServerOptions { config: "[mfa]\npasswordless = true\n".into(), localhost: true, ..Default::default() },
    );
    add_user(&server, "key@example.com");
    // An app whose redirect URI is on the hub itself, so the browser can land there.
    let cb = server.url("/healthz");
    let client = add_client(&server, &cb, &["--scope", "openid", "--first-party"]);
    let b = crate::browser_support::Browser::start();
    b.add_virtual_authenticator();

    // Sign in with the password and add a passkey.
    b.goto(&server.url("/login"));
    b.fill("input[name=email]", "key@example.com");
    b.fill("input[name=password]", PASSWORD);
    b.follow("button[type=submit]");
    b.goto(&server.url("/account/two-step"));
    b.fill("input[name=passkey_name]", "Laptop");
    b.click("button[data-passkey=register]");
    let status = b.wait_for_text("#passkey-status", "recovery codes");
    let codes: Vec<String> = b.rt.block_on(async {
        let els = b.client.find_all(fantoccini::Locator::Css("#passkey-status li code")).await.unwrap();
        let mut out = Vec::new();
        for e in els {
            out.push(e.text().await.unwrap());
        }
        out
    });
    assert_eq!(codes.len(), 10, "{status}");
    b.goto(&server.url("/account/two-step"));
    assert!(b.text().contains("Laptop"), "{}", b.text());
    look(&b, backend, "two-step");

    // Password, then the passkey as the second factor.
    b.clear_cookies();
    b.goto(&server.url("/login"));
    b.fill("input[name=email]", "key@example.com");
    b.fill("input[name=password]", PASSWORD);
    b.follow("button[type=submit]");
    assert!(b.url().contains("/login/second-factor"), "{}", b.url());
    look(&b, backend, "second-factor");
    b.click("button[data-passkey=second-factor]");
    b.wait_for_url(&server.url("/account"));
    let claims = claims_in_browser(&server, &b, &client, &cb);
    assert_eq!(claims["amr"], serde_json::json!(["pwd", "hwk", "mfa"]));
    assert_eq!(claims["acr"], "mfa");
    println!("ID token claims after a passkey second factor ({backend:?}): {claims}");

    // The passkey alone.
    b.clear_cookies();
    b.goto(&server.url("/login"));
    look(&b, backend, "login-passkey");
    b.click("button[data-passkey=sign-in]");
    b.wait_for_url(&server.url("/account"));
    let claims = claims_in_browser(&server, &b, &client, &cb);
    assert_eq!(claims["amr"], serde_json::json!(["hwk", "mfa"]));
    println!("ID token claims after a passwordless passkey sign-in: {claims}");
    assert!(audit_messages(&server).iter().any(|m| m.contains("signed in with a passkey")));

    // Remove it (confirmed with a recovery code).
    b.goto(&server.url("/account/two-step"));
    b.fill("form[action='/account/two-step/remove'] input[name=code]", &codes[0]);
    b.follow("form[action='/account/two-step/remove'] button");
    assert!(b.text().contains("was removed") || b.url().contains("done=removed"), "{}", b.text());
    b.goto(&server.url("/account/two-step"));
    assert!(!b.text().contains("Laptop"));
}

/// The page as it is now: no serious accessibility finding, no sideways
/// scrolling on a phone, and screenshots at 1280 and 390 px in
/// `target/test-artifacts/two-step/` (SQLite run).
fn look(b: &crate::browser_support::Browser, backend: Backend, name: &str) {
    if backend != Backend::Sqlite {
        return;
    }
    b.resize(1280, 900);
    let serious = b.axe_serious();
    assert!(serious.is_empty(), "{name} ({}): {serious:#?}", b.url());
    b.screenshot("two-step", &format!("{name}-1280.png"));
    b.resize(390, 844);
    assert_eq!(b.overflow(), 0, "{name} scrolls sideways at 390 px ({})", b.url());
    b.screenshot("two-step", &format!("{name}-390.png"));
    b.resize(1280, 900);
}

/// Runs the code flow in the browser (landing on the hub's /healthz) and
/// returns the ID token's claims.
fn claims_in_browser(server: &Server, b: &crate::browser_support::Browser, client: &TestClient, cb: &str) -> Value {
    b.goto(&authorize_url(
        server,
        &[
            ("client_id", &client.id),
            ("response_type", "code"),
            ("redirect_uri", cb),
            ("scope", "openid"),
            ("state", "s"),
        ],
    ));
    let landed = b.wait_for_url(cb);
    let code = query_param(&landed, "code").unwrap_or_else(|| panic!("no code in {landed}"));
    let (status, t) =
        token(server, client, &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", cb)]);
    assert_eq!(status, 200, "{t}");
    jwt_claims(t["id_token"].as_str().unwrap()).1
}

/// WHMCS's `ValidateLogin` tells software written for it whether the
/// member has a second factor (`twoFactorEnabled`).
#[test]
fn whmcs_validate_login_reports_two_factor() {
    let w = crate::common::whmcs::start(Backend::Sqlite, "");
    add_user(&w.server, "wh2fa@example.com");
    let (_, v) = w.api("ValidateLogin", &[("email", "wh2fa@example.com"), ("password2", PASSWORD)]);
    assert_eq!(v["result"], "success", "{v}");
    assert_eq!(v["twoFactorEnabled"], false);
    enrol(&w.server, "wh2fa@example.com");
    let (_, v) = w.api("ValidateLogin", &[("email", "wh2fa@example.com"), ("password2", PASSWORD)]);
    assert_eq!(v["twoFactorEnabled"], true, "{v}");
}

/// Wrong codes count toward the sign-in limits like wrong passwords.
#[test]
fn wrong_codes_count_toward_the_sign_in_limit() {
    let server = Server::start_with(
        Backend::Sqlite,
        ServerOptions { config: "[login]\nmax_failures_per_account = 3\n".into(), ..Default::default() },
    );
    add_user(&server, "limit@example.com");
    enrol(&server, "limit@example.com");
    let (b, r) = sign_in_with_code(&server, "limit@example.com", "111111");
    assert_eq!(r.status(), 401);
    for _ in 0..2 {
        let page = b.get(server.url("/login/second-factor")).send().unwrap().text().unwrap();
        let csrf = hidden_field(&page, "csrf_token");
        b.post(server.url("/login/second-factor"))
            .form(&[("csrf_token", csrf.as_str()), ("code", "222222")])
            .send()
            .unwrap();
    }
    // Three failures: now even the right password is refused for a while.
    let r = login(&browser(), &server, "limit@example.com", PASSWORD);
    assert_eq!(r.status(), 429, "the account is rate-limited after wrong codes");
}

/// Step-up seen from a certified relying party: npm `openid-client` asks
/// for `acr_values=mfa`; the member (signed in with a password only) enters
/// a code; the RP verifies the ID token and reads `acr` and `amr`.
#[test]
fn an_openid_client_relying_party_steps_up_with_acr_values() {
    npm_ready("js", "openid-client");
    let server = Server::start(Backend::Sqlite);
    add_user(&server, "rp2fa@example.com");
    let rp_cb = "https://rp.example/callback";
    let c = add_client(&server, rp_cb, &["--scope", "openid profile email", "--first-party"]);
    let secret = c.secret.clone().unwrap();
    let (b, totp_secret, _) = enrol(&server, "rp2fa@example.com");
    let node = |args: &[&str], acr: Option<&str>| -> Value {
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js/rp.mjs");
        let mut cmd = std::process::Command::new("node");
        cmd.arg(script).args(args);
        if let Some(a) = acr {
            cmd.env("RP_ACR_VALUES", a);
        }
        let out = cmd.output().expect("run node");
        assert!(out.status.success(), "node rp.mjs {}: {}", args[0], String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let start = node(&["start", &server.base, &c.id, &secret, rp_cb], Some("mfa"));
    let url = start["url"].as_str().unwrap();
    assert!(url.contains("acr_values=mfa"), "{url}");
    // The session has no second factor yet: the code step comes first.
    let r = b.get(url).send().unwrap();
    let step = location(&r);
    assert!(step.starts_with("/login/second-factor?return_to="), "{step}");
    let page = b.get(server.url(&step)).send().unwrap().text().unwrap();
    let code = code_now(&totp_secret, 1);
    let r = b
        .post(server.url("/login/second-factor"))
        .form(&[
            ("csrf_token", hidden_field(&page, "csrf_token").as_str()),
            ("code", code.as_str()),
            ("return_to", hidden_field(&page, "return_to").as_str()),
        ])
        .send()
        .unwrap();
    let back = location(&r);
    let r = b.get(server.url(&back)).send().unwrap();
    let callback = location(&r);
    assert!(callback.starts_with(rp_cb), "{callback}");
    let done = node(
        &[
            "finish",
            &server.base,
            &c.id,
            &secret,
            rp_cb,
            &callback,
            start["verifier"].as_str().unwrap(),
            start["state"].as_str().unwrap(),
            start["nonce"].as_str().unwrap(),
        ],
        None,
    );
    assert_eq!(done["acr"], "mfa", "{done}");
    assert_eq!(done["amr"], serde_json::json!(["pwd", "otp", "mfa"]));
}
