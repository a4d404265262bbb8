//! The `whmcs` plugin's OAuth 2.0 / OpenID Connect surface (`/oauth/*.php`),
//! end to end: the seed tutorial replayed, an Invision Community forum's
//! login performed exactly as the forum does it (docs/protocols/ipb.md §3), an RP
//! verifying the ID token against `/oauth/certs.php`, and every documented
//! error of docs/protocols/whmcs.md §4–6. SQLite and PostgreSQL.

use base64::Engine as _;
use serde_json::Value;
use sha2::Digest;

use crate::common::whmcs as whmcs_api;
use crate::common::whmcs::TUTORIAL_SCOPES;
use crate::common::*;

const FORUM_CB: &str = "https://forum.example.com/oauth/callback/";
/// A state as Invision Community builds it: `<methodId>-<base64 url>-<csrf>-<base64 ref>`.
const FORUM_STATE: &str = "3-aHR0cHM6Ly9mb3J1bS5leGFtcGxlLmNvbS8/YT0x+Lw==-c2f1e/a9+b==-L2luZGV4LnBocD9hPWI=";

struct Forum {
    w: whmcs_api::Whmcs,
    client_id: String,
    secret: String,
    user_id: i64,
}

/// The tutorial: API credential (done by `start`), then CreateOAuthCredential
/// with username/password and the long scope list, plus a user to log in.
fn forum(backend: Backend) -> Forum {
    forum_with(backend, "")
}

fn forum_with(backend: Backend, plugin_extra: &str) -> Forum {
    let w = whmcs_api::start_with(backend, "", plugin_extra);
    // The tutorial's list plus the OpenID scopes: userinfo requires `openid`
    // (docs/protocols/whmcs.md §6), so a forum that reads userinfo must be allowed it.
    let scope = format!("{TUTORIAL_SCOPES} openid profile email");
    let (_, v) = w.api(
        "CreateOAuthCredential",
        &[
            ("granttype", "authorization_code"),
            ("scope", &scope),
            ("description", "OAuth2.0 credentials for IPB SSO."),
            ("redirectUri", FORUM_CB),
            ("name", "IPB SSO"),
        ],
    );
    assert_eq!(v["result"], "success", "{v}");
    let u = w.server.cli_json(&[
        "user",
        "add",
        "--email",
        "member@example.com",
        "--password",
        "forum-pass-1",
        "--name",
        "Mia Member",
        "--locale",
        "en",
    ]);
    Forum {
        client_id: v["clientIdentifier"].as_str().unwrap().into(),
        secret: v["clientSecret"].as_str().unwrap().into(),
        user_id: u["id"].as_i64().unwrap(),
        w,
    }
}

fn verifier_128_hex() -> String {
    random_hex(64)
}

fn s256(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()))
}

fn query_of(url: &str) -> Vec<(String, String)> {
    url::Url::parse(url).unwrap().query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

fn q<'a>(pairs: &'a [(String, String)], k: &str) -> Option<&'a str> {
    pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

fn authorize_url(f: &Forum, params: &[(&str, &str)]) -> String {
    let mut u = url::Url::parse(&f.w.server.url("/oauth/authorize.php")).unwrap();
    u.query_pairs_mut().extend_pairs(params);
    u.to_string()
}

/// The forum's login: returns the token response.
fn forum_login(f: &Forum, browser: &reqwest::blocking::Client, scope: &str, nonce: Option<&str>) -> (Value, String) {
    let verifier = verifier_128_hex();
    assert_eq!(verifier.len(), 128);
    let challenge = s256(&verifier);
    let mut params = vec![
        ("client_id", f.client_id.as_str()),
        ("response_type", "code"),
        ("redirect_uri", FORUM_CB),
        ("state", FORUM_STATE),
        ("scope", scope),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    if let Some(n) = nonce {
        params.push(("nonce", n));
    }
    let start = authorize_url(f, &params);
    let back = drive_login(browser, &f.w.server.base, &start, "member@example.com", "forum-pass-1", true);
    assert!(back.starts_with(FORUM_CB), "{back}");
    let pairs = query_of(&back);
    assert_eq!(q(&pairs, "state"), Some(FORUM_STATE), "state byte for byte");
    let code = q(&pairs, "code").expect("code").to_string();
    // Token request: HTTP Basic with the secret NOT URL-encoded (it may hold + / =).
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", f.client_id, f.secret));
    let r = http()
        .post(f.w.server.url("/oauth/token.php"))
        .header("Authorization", format!("Basic {basic}"))
        .header("User-Agent", "Invision Community 5")
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", FORUM_CB),
            ("code_verifier", &verifier),
        ])
        .send()
        .unwrap();
    assert_eq!(r.headers()["cache-control"], "no-store");
    let v: Value = r.json().unwrap();
    (v, code)
}

#[test]
fn invision_community_logs_in_like_the_forum_does() {
    for backend in backends() {
        let f = forum(backend);
        let s = &f.w.server;
        let b = browser();
        let (tok, code) = forum_login(&f, &b, "openid profile email", None);
        assert!(tok.get("error").is_none(), "{tok}");
        assert!(tok["token_type"].as_str().unwrap().eq_ignore_ascii_case("bearer"));
        assert_eq!(tok["expires_in"], 3600);
        assert!(tok.get("refresh_token").is_none(), "WHMCS-created credentials have no refresh grant");
        let at = tok["access_token"].as_str().unwrap();

        // Userinfo by Bearer header...
        let r = http().get(s.url("/oauth/userinfo.php")).bearer_auth(at).send().unwrap();
        assert_eq!(r.status(), 200);
        let ui: Value = r.json().unwrap();
        let sub = ui["sub"].as_str().unwrap();
        assert!(!sub.is_empty() && sub != "0");
        assert_eq!(ui["email"], "member@example.com");
        assert_eq!(ui["name"], "Mia Member");
        assert_eq!(ui["given_name"], "Mia");
        assert_eq!(ui["family_name"], "Member");
        assert_eq!(ui["preferred_username"], "member@example.com", "WHMCS answers the e-mail");
        assert_eq!(ui["locale"], "en");
        // ...and again by ?access_token= with no header (the forum's retry).
        let r = http().get(format!("{}?access_token={}", s.url("/oauth/userinfo.php"), at)).send().unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.json::<Value>().unwrap()["sub"], sub);

        // The code is single-use.
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", f.client_id, f.secret));
        let r = http()
            .post(s.url("/oauth/token.php"))
            .header("Authorization", format!("Basic {basic}"))
            .form(&[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", FORUM_CB)])
            .send()
            .unwrap();
        let v: Value = r.json().unwrap();
        assert_eq!(v["error"], "invalid_grant", "{v}");

        // A second authorization reuses the session and the remembered consent.
        let (tok2, _) = forum_login(&f, &b, "openid profile", None);
        assert!(tok2.get("access_token").is_some(), "{tok2}");
        let _ = f.user_id;
    }
}

#[test]
fn the_forum_save_time_check_tells_bad_credentials_apart() {
    for backend in backends() {
        let f = forum(backend);
        let s = &f.w.server;
        let post = |id: &str, secret: &str| -> Value {
            let basic = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
            http()
                .post(s.url("/oauth/token.php"))
                .header("Authorization", format!("Basic {basic}"))
                .form(&[("grant_type", "authorization_code"), ("code", "xxx"), ("redirect_uri", FORUM_CB)])
                .send()
                .unwrap()
                .json()
                .unwrap()
        };
        let good = post(&f.client_id, &f.secret);
        assert_ne!(good["error"], "invalid_client", "{good}");
        assert_eq!(good["error"], "invalid_grant");
        assert_eq!(good["error_description"], "Authorization code doesn't exist or is invalid for the client");
        let bad = post(&f.client_id, "wrong");
        assert_eq!(bad["error"], "invalid_client");
        assert_eq!(bad["error_description"], "The client credentials are invalid");
        // Body authentication, same answers.
        let v: Value = token_php(
            s,
            &[
                ("grant_type", "authorization_code"),
                ("code", "xxx"),
                ("client_id", &f.client_id),
                ("client_secret", &f.secret),
            ],
        );
        assert_eq!(v["error"], "invalid_grant", "{v}");
    }
}

#[test]
fn an_rp_verifies_the_id_token_against_certs_php() {
    for backend in backends() {
        let f = forum(backend);
        let s = &f.w.server;
        let nonce = random_hex(12);
        let (tok, _) = forum_login(&f, &browser(), "openid profile email", Some(&nonce));
        let id_token = tok["id_token"].as_str().expect("id_token with openid");
        let disco: Value = http().get(s.url("/oauth/openid-configuration.php")).send().unwrap().json().unwrap();
        assert_eq!(disco["issuer"], s.base.as_str());
        let jwks: Value = http().get(s.url("/oauth/certs.php")).send().unwrap().json().unwrap();
        let header = jsonwebtoken::decode_header(id_token).unwrap();
        assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
        let kid = header.kid.expect("kid");
        let key = jwks["keys"].as_array().unwrap().iter().find(|k| k["kid"] == kid.as_str()).expect("kid in certs.php");
        assert_eq!(key["kty"], "RSA");
        assert_eq!(key["e"], "AQAB");
        let dk = jsonwebtoken::DecodingKey::from_rsa_components(key["n"].as_str().unwrap(), key["e"].as_str().unwrap())
            .unwrap();
        let mut val = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        val.set_issuer(&[s.base.as_str()]);
        val.set_audience(&[f.client_id.as_str()]);
        let claims = jsonwebtoken::decode::<Value>(id_token, &dk, &val).expect("valid ID token").claims;
        assert_eq!(claims["nonce"], nonce.as_str());
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
        assert!((claims["exp"].as_i64().unwrap() - now - 3600).abs() < 30);
        assert!(claims["iat"].as_i64().unwrap() <= now + 5);
        let ui: Value = http()
            .get(s.url("/oauth/userinfo.php"))
            .bearer_auth(tok["access_token"].as_str().unwrap())
            .send()
            .unwrap()
            .json()
            .unwrap();
        assert_eq!(claims["sub"], ui["sub"], "ID token and userinfo agree on sub");
        // A tampered token does not verify.
        let mut parts: Vec<String> = id_token.split('.').map(str::to_string).collect();
        parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b"{\"sub\":\"someone-else\"}");
        assert!(jsonwebtoken::decode::<Value>(&parts.join("."), &dk, &val).is_err());
    }
}

/// A form POST to token.php (no Basic header: body authentication or none).
fn token_php(s: &Server, form: &[(&str, &str)]) -> Value {
    http().post(s.url("/oauth/token.php")).form(form).send().unwrap().json().unwrap()
}

fn json_400(r: reqwest::blocking::Response) -> Value {
    assert_eq!(r.status(), 400);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
    r.json().unwrap()
}

#[test]
fn authorization_endpoint_errors() {
    for backend in backends() {
        let f = forum(backend);
        let c = http();
        let get = |params: &[(&str, &str)]| c.get(authorize_url(&f, params)).send().unwrap();
        // Before the redirect URI is trusted: JSON 400, never a redirect.
        let v = json_400(get(&[("response_type", "code"), ("state", "s")]));
        assert_eq!(
            (v["error"].as_str(), v["error_description"].as_str()),
            (Some("invalid_client"), Some("No client id supplied"))
        );
        let v = json_400(get(&[("client_id", "ACME.nope"), ("response_type", "code"), ("state", "s")]));
        assert_eq!(v["error_description"], "The client id supplied is invalid");
        for bad in [
            "https://forum.example.com/oauth/callback",
            "https://FORUM.example.com/oauth/callback/",
            "https://forum.example.com/oauth/callback/x",
            "https://forum.example.com/oauth/callback/?next=https://evil.example",
            "https://evil.example/oauth/callback/",
        ] {
            let v = json_400(get(&[
                ("client_id", &f.client_id),
                ("redirect_uri", bad),
                ("response_type", "code"),
                ("state", "s"),
            ]));
            assert_eq!(v["error"], "redirect_uri_mismatch", "{bad}");
            assert_eq!(v["error_description"], "The redirect URI provided is missing or does not match");
        }
        let v = json_400(get(&[
            ("client_id", &f.client_id),
            ("redirect_uri", "https://forum.example.com/oauth/callback/#x"),
            ("response_type", "code"),
            ("state", "s"),
        ]));
        assert_eq!(
            (v["error"].as_str(), v["error_description"].as_str()),
            (Some("invalid_uri"), Some("The redirect URI must not contain a fragment"))
        );

        // After: a redirect to the client with error, description and state.
        let redirected = |params: &[(&str, &str)]| {
            let r = get(params);
            assert_eq!(r.status(), 302);
            let loc = r.headers()["location"].to_str().unwrap().to_string();
            assert!(loc.starts_with(FORUM_CB), "{loc}");
            query_of(&loc)
        };
        let p = redirected(&[("client_id", &f.client_id), ("redirect_uri", FORUM_CB), ("response_type", "code")]);
        assert_eq!(
            (q(&p, "error"), q(&p, "error_description")),
            (Some("invalid_request"), Some("The state parameter is required"))
        );
        let p = redirected(&[
            ("client_id", &f.client_id),
            ("redirect_uri", FORUM_CB),
            ("state", "a+b/c="),
            ("scope", "openid"),
        ]);
        assert_eq!(
            (q(&p, "error"), q(&p, "error_description")),
            (Some("invalid_request"), Some("Invalid or missing response type"))
        );
        assert_eq!(q(&p, "state"), Some("a+b/c="));
        let p = redirected(&[
            ("client_id", &f.client_id),
            ("redirect_uri", FORUM_CB),
            ("state", "s"),
            ("response_type", "token"),
        ]);
        assert_eq!(q(&p, "error"), Some("unsupported_response_type"));
        let p = redirected(&[
            ("client_id", &f.client_id),
            ("redirect_uri", FORUM_CB),
            ("state", "s"),
            ("response_type", "code"),
            ("scope", "openid clientarea:nope"),
        ]);
        assert_eq!(
            (q(&p, "error"), q(&p, "error_description")),
            (Some("invalid_scope"), Some("An unsupported scope was requested"))
        );
        // redirect_uri may be omitted when exactly one is registered.
        let r = get(&[("client_id", &f.client_id), ("response_type", "code"), ("state", "s")]);
        assert!(r.status().is_redirection() || r.status().is_success(), "{}", r.status());
        if r.status().is_redirection() {
            assert!(!r.headers()["location"].to_str().unwrap().contains("error="));
        }
    }
}

#[test]
fn token_and_userinfo_errors() {
    for backend in backends() {
        let f = forum(backend);
        let s = &f.w.server;
        let c = http();
        // token.php is POST only, with JSON errors.
        let r = c.get(s.url("/oauth/token.php")).send().unwrap();
        assert_eq!(r.status(), 405);
        assert!(r.json::<Value>().unwrap().get("error").is_some());
        let post = |form: &[(&str, &str)]| -> (u16, Value) {
            let r = c.post(s.url("/oauth/token.php")).form(form).send().unwrap();
            (r.status().as_u16(), r.json().unwrap())
        };
        let creds = [("client_id", f.client_id.as_str()), ("client_secret", f.secret.as_str())];
        let (st, v) = post(&[("grant_type", "authorization_code"), ("code", "x")]);
        assert_eq!(
            (st, v["error"].as_str(), v["error_description"].as_str()),
            (400, Some("invalid_client"), Some("Client credentials were not found in the headers or body"))
        );
        let (_, v) = post(&creds);
        assert_eq!(
            (v["error"].as_str(), v["error_description"].as_str()),
            (Some("invalid_request"), Some("The grant type was not specified in the request"))
        );
        let mut form = creds.to_vec();
        form.push(("grant_type", "foo"));
        let (_, v) = post(&form);
        assert_eq!(
            (v["error"].as_str(), v["error_description"].as_str()),
            (Some("unsupported_grant_type"), Some("Grant type \"foo\" not supported"))
        );
        let mut form = creds.to_vec();
        form.push(("grant_type", "authorization_code"));
        let (_, v) = post(&form);
        assert_eq!(
            (v["error"].as_str(), v["error_description"].as_str()),
            (Some("invalid_request"), Some("Missing parameter: \"code\" is required"))
        );

        // Userinfo.
        let r = c.get(s.url("/oauth/userinfo.php")).send().unwrap();
        assert_eq!(r.status(), 401);
        assert_eq!(r.headers()["www-authenticate"], "Bearer realm=\"Service\"");
        let r = c.get(s.url("/oauth/userinfo.php")).bearer_auth("nope").send().unwrap();
        assert_eq!(r.status(), 401);
        let v: Value = r.json().unwrap();
        assert_eq!(
            (v["error"].as_str(), v["error_description"].as_str()),
            (Some("invalid_token"), Some("The access token provided is invalid"))
        );
        let r = c.get(format!("{}?access_token=a", s.url("/oauth/userinfo.php"))).bearer_auth("b").send().unwrap();
        assert_eq!(r.status(), 400);
        let v: Value = r.json().unwrap();
        assert_eq!(
            v["error_description"],
            "Only one method may be used to authenticate at a time (Auth header, GET or POST)"
        );
        // A token without `openid`: 403 insufficient_scope.
        let (tok, _) = forum_login(&f, &browser(), "profile", None);
        let r = c.get(s.url("/oauth/userinfo.php")).bearer_auth(tok["access_token"].as_str().unwrap()).send().unwrap();
        assert_eq!(r.status(), 403);
        assert_eq!(r.json::<Value>().unwrap()["error"], "insufficient_scope");
    }
}

#[test]
fn single_sign_on_grant_at_token_php() {
    for backend in backends() {
        let w = whmcs_api::start(backend, "");
        let s = &w.server;
        let u = s.cli_json(&["user", "add", "--email", "sso@example.com", "--name", "Sol So"]);
        let acc = s.cli_json(&["account", "add", "--owner", &u["id"].to_string()]);
        let (_, v) = w.api(
            "CreateOAuthCredential",
            &[
                ("grantType", "single_sign_on"),
                ("serviceId", &acc["id"].to_string()),
                ("scope", "clientarea:sso clientarea:invoices clientarea:tickets"),
            ],
        );
        let (id, secret) = (v["clientIdentifier"].as_str().unwrap(), v["clientSecret"].as_str().unwrap());
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
        let r = http()
            .post(s.url("/oauth/token.php"))
            .header("Authorization", format!("Basic {basic}"))
            .form(&[("grant_type", "single_sign_on"), ("scope", "clientarea:sso clientarea:tickets")])
            .send()
            .unwrap();
        let v: Value = r.json().unwrap();
        let url = v["redirect_url"].as_str().unwrap_or_else(|| panic!("{v}"));
        let r = browser().get(url).send().unwrap();
        assert_eq!(r.status(), 302);
        assert_eq!(r.headers()["location"], "https://billing.example.com/supporttickets.php");
        // A scope the credential was not given.
        let r = http()
            .post(s.url("/oauth/token.php"))
            .header("Authorization", format!("Basic {basic}"))
            .form(&[("grant_type", "single_sign_on"), ("scope", "clientarea:sso clientarea:domains")])
            .send()
            .unwrap();
        assert_eq!(r.json::<Value>().unwrap()["error"], "invalid_scope");
    }
}

#[test]
fn a_closed_user_with_an_active_session_is_refused_at_authorize() {
    for backend in backends() {
        let f = forum(backend);
        let s = &f.w.server;
        let b = browser();
        let (tok, _) = forum_login(&f, &b, "openid", None);
        assert!(tok.get("access_token").is_some());
        // The status changes behind Gatehouse's back (a replica, a sync job):
        // the session stays, so authorize must refuse it.
        let store = gatehouse_store::Store::open(&s.db.url).unwrap();
        store.set_user_status(f.user_id, gatehouse_core::UserStatus::Closed, 1).unwrap();
        let start = authorize_url(
            &f,
            &[
                ("client_id", &f.client_id),
                ("response_type", "code"),
                ("redirect_uri", FORUM_CB),
                ("state", "s"),
                ("scope", "openid"),
            ],
        );
        let r = b.get(&start).send().unwrap();
        if r.status().is_redirection() {
            let loc = r.headers()["location"].to_str().unwrap();
            assert!(!loc.contains("code="), "no code for a Closed user: {loc}");
        }
        let audit = s.cli_json(&["audit", "list", "--limit", "100"]);
        let line = format!(
            "OAuth authorization request denied due to unexpected active login session for \"Closed\" User ID: {}",
            f.user_id
        );
        assert!(audit.as_array().unwrap().iter().any(|e| e["message"] == line.as_str()), "{audit}");
    }
}

/// A WHMCS client reads discovery at its own path and stays on the `.php`
/// surface: the endpoints it calls and the SSO `redirect_url` are the
/// dialect's paths; the standard discovery is unchanged.
#[test]
fn the_dialect_advertises_its_own_paths() {
    for backend in backends() {
        let w = whmcs_api::start(backend, "");
        let s = &w.server;
        let d: Value = http().get(s.url("/oauth/openid-configuration.php")).send().unwrap().json().unwrap();
        assert_eq!(d["issuer"], s.base);
        for (k, path) in [
            ("authorization_endpoint", "/oauth/authorize.php"),
            ("token_endpoint", "/oauth/token.php"),
            ("userinfo_endpoint", "/oauth/userinfo.php"),
            ("jwks_uri", "/oauth/certs.php"),
            // No alias: the standard endpoints.
            ("revocation_endpoint", "/oauth2/revoke"),
            ("introspection_endpoint", "/oauth2/introspect"),
            ("end_session_endpoint", "/oauth2/logout"),
        ] {
            assert_eq!(d[k], format!("{}{path}", s.base), "{k}");
        }
        let std: Value = http().get(s.url("/.well-known/openid-configuration")).send().unwrap().json().unwrap();
        assert_eq!(std["issuer"], s.base);
        for (k, path) in [
            ("authorization_endpoint", "/oauth2/authorize"),
            ("token_endpoint", "/oauth2/token"),
            ("userinfo_endpoint", "/oauth2/userinfo"),
            ("jwks_uri", "/jwks.json"),
        ] {
            assert_eq!(std[k], format!("{}{path}", s.base), "{k}");
        }

        let u = s.cli_json(&["user", "add", "--email", "paths@example.com", "--name", "Pat Paths"]);
        let acc = s.cli_json(&["account", "add", "--owner", &u["id"].to_string()]);
        let (_, v) = w.api(
            "CreateOAuthCredential",
            &[("grantType", "single_sign_on"), ("serviceId", &acc["id"].to_string()), ("scope", "clientarea:sso")],
        );
        let (id, secret) = (v["clientIdentifier"].as_str().unwrap(), v["clientSecret"].as_str().unwrap());
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
        let sso = |path: &str| -> String {
            let v: Value = http()
                .post(s.url(path))
                .header("Authorization", format!("Basic {basic}"))
                .form(&[("grant_type", "single_sign_on"), ("scope", "clientarea:sso")])
                .send()
                .unwrap()
                .json()
                .unwrap();
            v["redirect_url"].as_str().unwrap_or_else(|| panic!("{v}")).to_string()
        };
        let url = sso("/oauth/token.php");
        let prefix = format!("{}/oauth/singlesignon.php?access_token=", s.base);
        assert!(url.starts_with(&prefix), "{url}");
        // The redirect works where it points.
        assert_eq!(browser().get(&url).send().unwrap().status(), 302);
        // The standard token endpoint keeps the standard SSO path.
        let url = sso("/oauth2/token");
        assert!(url.starts_with(&format!("{}/oauth2/sso?access_token=", s.base)), "{url}");
    }
}

#[test]
fn declined_consent_is_access_denied_and_body_authentication_works() {
    for backend in backends() {
        let f = forum(backend);
        let s = &f.w.server;
        let verifier = random_hex(64);
        let challenge = s256(&verifier);
        let params = [
            ("client_id", f.client_id.as_str()),
            ("response_type", "code"),
            ("redirect_uri", FORUM_CB),
            ("state", FORUM_STATE),
            ("scope", "openid email"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ];
        // The member declines: the forum gets the quiet-cancel error, with its state.
        let b = browser();
        let back = drive_login(&b, &s.base, &authorize_url(&f, &params), "member@example.com", "forum-pass-1", false);
        let p = query_of(&back);
        assert_eq!(q(&p, "error"), Some("access_denied"), "{back}");
        assert_eq!(q(&p, "state"), Some(FORUM_STATE));
        assert!(q(&p, "code").is_none());
        // Accepting, then "Request Body" client authentication at token.php.
        let back = drive_login(&b, &s.base, &authorize_url(&f, &params), "member@example.com", "forum-pass-1", true);
        let p = query_of(&back);
        let code = q(&p, "code").expect("code");
        let tok: Value = token_php(
            s,
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", FORUM_CB),
                ("code_verifier", &verifier),
                ("client_id", &f.client_id),
                ("client_secret", &f.secret),
            ],
        );
        assert!(tok["access_token"].is_string(), "{tok}");
        // A wrong verifier is refused (PKCE verified when sent).
        let back = drive_login(&b, &s.base, &authorize_url(&f, &params), "member@example.com", "forum-pass-1", true);
        let p = query_of(&back);
        let v: Value = token_php(
            s,
            &[
                ("grant_type", "authorization_code"),
                ("code", q(&p, "code").unwrap()),
                ("redirect_uri", FORUM_CB),
                ("code_verifier", &random_hex(64)),
                ("client_id", &f.client_id),
                ("client_secret", &f.secret),
            ],
        );
        assert_eq!(v["error"], "invalid_grant", "{v}");
    }
}

#[test]
fn expired_codes_and_tokens_get_whmcs_texts() {
    for backend in backends() {
        // The dialect's lifetimes come from the plugin's configuration.
        let f = forum_with(backend, "code_ttl = 1\naccess_ttl = 1");
        let s = &f.w.server;
        let b = browser();
        let verifier = random_hex(64);
        let params = [
            ("client_id", f.client_id.as_str()),
            ("response_type", "code"),
            ("redirect_uri", FORUM_CB),
            ("state", "s"),
            ("scope", "openid"),
            ("code_challenge", &s256(&verifier)),
            ("code_challenge_method", "S256"),
        ];
        let exchange = |code: &str| -> reqwest::blocking::Response {
            http()
                .post(s.url("/oauth/token.php"))
                .basic_auth(&f.client_id, Some(&f.secret))
                .form(&[
                    ("grant_type", "authorization_code"),
                    ("code", code),
                    ("redirect_uri", FORUM_CB),
                    ("code_verifier", &verifier),
                ])
                .send()
                .unwrap()
        };
        let back = drive_login(&b, &s.base, &authorize_url(&f, &params), "member@example.com", "forum-pass-1", true);
        let code = q(&query_of(&back), "code").unwrap().to_string();
        std::thread::sleep(std::time::Duration::from_millis(2100));
        let v: Value = exchange(&code).json().unwrap();
        assert_eq!(
            (v["error"].as_str(), v["error_description"].as_str()),
            (Some("invalid_grant"), Some("The authorization code has expired"))
        );

        let back = drive_login(&b, &s.base, &authorize_url(&f, &params), "member@example.com", "forum-pass-1", true);
        let code = q(&query_of(&back), "code").unwrap().to_string();
        let r = exchange(&code);
        assert_eq!(r.headers()["cache-control"], "no-store");
        assert_eq!(r.headers()["pragma"], "no-cache");
        let tok: Value = r.json().unwrap();
        assert_eq!(tok["expires_in"], 1);
        std::thread::sleep(std::time::Duration::from_millis(2100));
        let r =
            http().get(s.url("/oauth/userinfo.php")).bearer_auth(tok["access_token"].as_str().unwrap()).send().unwrap();
        assert_eq!(r.status(), 401);
        let v: Value = r.json().unwrap();
        assert_eq!(
            (v["error"].as_str(), v["error_description"].as_str()),
            (Some("invalid_token"), Some("The access token provided has expired"))
        );
    }
}
