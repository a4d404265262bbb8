//! The OAuth 2.0 / OpenID Connect engine end to end, over real HTTP against
//! the started binary, on SQLite and PostgreSQL: every grant, PKCE, state
//! and nonce, refresh rotation and reuse detection, revocation and
//! introspection, userinfo by scope, prompt=none, discovery and JWKS.

use serde_json::Value;

use crate::common::*;
use crate::oauth_support::*;

const CB: &str = "https://app.example/cb";

#[test]
fn authorization_code_flow_with_pkce_state_nonce_userinfo_and_refresh() {
    for backend in backends() {
        let server = Server::start(backend);
        let user = add_user(&server, "ada@example.com");
        let client = add_client(&server, CB, &["--scope", "openid profile email"]);
        let (verifier, challenge) = pkce_pair();
        // IPB-style state with + / = must come back byte for byte.
        let state = "1-aHR0cHM6Ly9mb3J1bS9+/x==-csrf+tok-ref";
        let b = browser();
        let loc = authorize(
            &b,
            &server,
            "ada@example.com",
            &[
                ("client_id", &client.id),
                ("response_type", "code"),
                ("redirect_uri", CB),
                ("scope", "openid profile email"),
                ("state", state),
                ("nonce", "n-0S6_WzA2Mj"),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ],
        );
        assert!(loc.starts_with("https://app.example/cb?code="), "{loc}");
        assert_eq!(query_param(&loc, "state").as_deref(), Some(state), "{backend:?}");
        let code = query_param(&loc, "code").unwrap();

        let (status, tok) = token(
            &server,
            &client,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CB),
                ("code_verifier", &verifier),
            ],
        );
        assert_eq!(status, 200, "{tok}");
        assert_eq!(tok["token_type"], "Bearer");
        assert_eq!(tok["expires_in"], 3600);
        assert_eq!(tok["scope"], "openid profile email");
        let access = tok["access_token"].as_str().unwrap().to_string();
        let refresh = tok["refresh_token"].as_str().unwrap().to_string();
        let (header, claims) = jwt_claims(tok["id_token"].as_str().unwrap());
        assert_eq!(header["alg"], "RS256");
        let kid = header["kid"].as_str().unwrap();
        let jwks: Value = http().get(server.url("/jwks.json")).send().unwrap().json().unwrap();
        assert!(jwks["keys"].as_array().unwrap().iter().any(|k| k["kid"] == kid), "kid {kid} in JWKS");
        assert_eq!(claims["iss"], server.base);
        assert_eq!(claims["aud"], client.id);
        assert_eq!(claims["nonce"], "n-0S6_WzA2Mj");
        assert_eq!(claims["sub"], user["sub"]);
        assert_eq!(claims["email"], "ada@example.com");
        for c in ["exp", "iat", "auth_time", "at_hash"] {
            assert!(claims.get(c).is_some(), "{c} in {claims}");
        }

        // Userinfo: Bearer header, the same sub, claims by scope.
        let ui: Value = http().get(server.url("/oauth2/userinfo")).bearer_auth(&access).send().unwrap().json().unwrap();
        assert_eq!(ui["sub"], claims["sub"]);
        assert_eq!(ui["email"], "ada@example.com");
        assert_eq!(ui["email_verified"], false);
        assert_eq!(ui["given_name"], "Ada");
        assert_eq!(ui["family_name"], "Lovelace");
        assert_eq!(ui["preferred_username"], "ada@example.com");
        // ?access_token= and a form body work too; two at once do not.
        let r = http().get(server.url(&format!("/oauth2/userinfo?access_token={access}"))).send().unwrap();
        assert_eq!(r.status(), 200);
        let r = http().post(server.url("/oauth2/userinfo")).form(&[("access_token", &access)]).send().unwrap();
        assert_eq!(r.status(), 200);
        let r = http()
            .get(server.url(&format!("/oauth2/userinfo?access_token={access}")))
            .bearer_auth(&access)
            .send()
            .unwrap();
        assert_eq!(r.status(), 400);
        let e: Value = r.json().unwrap();
        assert_eq!(
            e["error_description"],
            "Only one method may be used to authenticate at a time (Auth header, GET or POST)"
        );

        // Refresh rotation: a new refresh token each time.
        let (status, t2) = token(&server, &client, &[("grant_type", "refresh_token"), ("refresh_token", &refresh)]);
        assert_eq!(status, 200, "{t2}");
        let refresh2 = t2["refresh_token"].as_str().unwrap().to_string();
        assert_ne!(refresh2, refresh);
        let access2 = t2["access_token"].as_str().unwrap().to_string();
        // Reuse of the old one: refused, and the whole family is revoked.
        let (status, e) = token(&server, &client, &[("grant_type", "refresh_token"), ("refresh_token", &refresh)]);
        assert_eq!((status, e["error"].as_str()), (400, Some("invalid_grant")));
        let (status, _) = token(&server, &client, &[("grant_type", "refresh_token"), ("refresh_token", &refresh2)]);
        assert_eq!(status, 400, "the rotated token died with its family");
        for a in [&access, &access2] {
            let r = http().get(server.url("/oauth2/userinfo")).bearer_auth(a).send().unwrap();
            assert_eq!(r.status(), 401, "{backend:?}");
        }
    }
}

#[test]
fn revocation_then_introspection_and_userinfo_by_scope() {
    for backend in backends() {
        let server = Server::start(backend);
        add_user(&server, "bob@example.com");
        let client = add_client(&server, CB, &["--scope", "openid profile email"]);
        let (_, code) = code_for(&server, &client, "bob@example.com", &[("scope", "openid")]);
        let (_, tok) =
            token(&server, &client, &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", CB)]);
        let access = tok["access_token"].as_str().unwrap().to_string();
        // openid alone: sub and nothing else.
        let ui: Value = http().get(server.url("/oauth2/userinfo")).bearer_auth(&access).send().unwrap().json().unwrap();
        assert!(ui["sub"].as_str().is_some_and(|s| !s.is_empty()));
        assert!(ui.get("email").is_none() && ui.get("name").is_none(), "{ui}");

        let secret = client.secret.clone().unwrap();
        let introspect = |t: &str| -> Value {
            http()
                .post(server.url("/oauth2/introspect"))
                .header("Authorization", basic(&client.id, &secret))
                .form(&[("token", t)])
                .send()
                .unwrap()
                .json()
                .unwrap()
        };
        let i = introspect(&access);
        assert_eq!(i["active"], true, "{i}");
        assert_eq!(i["client_id"], client.id);
        assert_eq!(i["scope"], "openid");
        // Introspection needs client authentication.
        let r = http().post(server.url("/oauth2/introspect")).form(&[("token", access.as_str())]).send().unwrap();
        assert_eq!(r.status(), 400);
        assert_eq!(r.json::<Value>().unwrap()["error"], "invalid_client");

        let r = http()
            .post(server.url("/oauth2/revoke"))
            .header("Authorization", basic(&client.id, &secret))
            .form(&[("token", access.as_str()), ("token_type_hint", "access_token")])
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(introspect(&access)["active"], false, "{backend:?}");
        let r = http().get(server.url("/oauth2/userinfo")).bearer_auth(&access).send().unwrap();
        assert_eq!(r.status(), 401);
        assert!(r.headers()["www-authenticate"].to_str().unwrap().starts_with("Bearer realm=\"Service\""));
        assert_eq!(r.json::<Value>().unwrap()["error_description"], "The access token provided is invalid");
        // Unknown tokens: revocation still answers 200, introspection inactive.
        let r = http()
            .post(server.url("/oauth2/revoke"))
            .header("Authorization", basic(&client.id, &secret))
            .form(&[("token", "nope")])
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(introspect("nope")["active"], false);

        // A token without openid: userinfo says insufficient_scope.
        let cc = add_client(&server, CB, &["--scope", "profile", "--grant", "authorization_code"]);
        let (_, code) = code_for(&server, &cc, "bob@example.com", &[]);
        let (_, tok) =
            token(&server, &cc, &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", CB)]);
        assert!(tok.get("id_token").is_none(), "no openid, no ID token: {tok}");
        assert!(tok.get("refresh_token").is_none(), "no refresh_token grant, no refresh token");
        let r = http()
            .get(server.url("/oauth2/userinfo"))
            .bearer_auth(tok["access_token"].as_str().unwrap())
            .send()
            .unwrap();
        assert_eq!(r.status(), 403);
        assert_eq!(r.json::<Value>().unwrap()["error"], "insufficient_scope");
        // No token at all.
        let r = http().get(server.url("/oauth2/userinfo")).send().unwrap();
        assert_eq!(r.status(), 401);
        assert_eq!(r.headers()["www-authenticate"], "Bearer realm=\"Service\"");
    }
}

#[test]
fn pkce_is_verified_and_required_for_public_clients() {
    for backend in backends() {
        let server = Server::start(backend);
        add_user(&server, "pk@example.com");
        let public = add_client(&server, CB, &["--public", "--scope", "openid"]);
        assert!(public.secret.is_none());
        // Without a challenge a public client is refused (redirected error).
        let b = browser();
        login(&b, &server, "pk@example.com", PASSWORD);
        let r = b
            .get(authorize_url(&server, &[("client_id", &public.id), ("response_type", "code"), ("state", "s1")]))
            .send()
            .unwrap();
        let loc = location(&r);
        assert_eq!(query_param(&loc, "error").as_deref(), Some("invalid_request"), "{loc}");
        assert_eq!(query_param(&loc, "state").as_deref(), Some("s1"));

        let (verifier, challenge) = pkce_pair();
        let (_, code) = code_for(
            &server,
            &public,
            "pk@example.com",
            &[("code_challenge", &challenge), ("code_challenge_method", "S256")],
        );
        let form = |v: &str| {
            let mut f = vec![("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", CB)];
            f.push(("client_id", public.id.as_str()));
            if !v.is_empty() {
                f.push(("code_verifier", v));
            }
            f.into_iter().map(|(a, b)| (a.to_string(), b.to_string())).collect::<Vec<_>>()
        };
        let post = |f: Vec<(String, String)>| -> (u16, Value) {
            let r = http().post(server.url("/oauth2/token")).form(&f).send().unwrap();
            (r.status().as_u16(), r.json().unwrap())
        };
        // Missing and wrong verifiers fail and do not spend the code.
        let (s, e) = post(form(""));
        assert_eq!((s, e["error"].as_str()), (400, Some("invalid_grant")), "{e}");
        let (s, e) = post(form(&"x".repeat(50)));
        assert_eq!((s, e["error"].as_str()), (400, Some("invalid_grant")), "{e}");
        let (s, t) = post(form(&verifier));
        assert_eq!(s, 200, "{backend:?} {t}");
        assert!(t["id_token"].is_string());

        // plain works too, for a confidential client.
        let conf = add_client(&server, CB, &["--scope", "openid"]);
        let plain = format!("{}{}", random_hex(24), "plainverifier");
        let (_, code) = code_for(
            &server,
            &conf,
            "pk@example.com",
            &[("code_challenge", &plain), ("code_challenge_method", "plain")],
        );
        let (s, t) = token(
            &server,
            &conf,
            &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", CB), ("code_verifier", &plain)],
        );
        assert_eq!(s, 200, "{t}");
        // Unknown challenge method.
        let r = b
            .get(authorize_url(
                &server,
                &[
                    ("client_id", &conf.id),
                    ("response_type", "code"),
                    ("code_challenge", &plain),
                    ("code_challenge_method", "S512"),
                ],
            ))
            .send()
            .unwrap();
        assert_eq!(query_param(&location(&r), "error").as_deref(), Some("invalid_request"));
    }
}

#[test]
fn client_credentials_and_token_endpoint_client_authentication() {
    for backend in backends() {
        let server = Server::start(backend);
        let m2m = add_client(
            &server,
            CB,
            &[
                "--grant",
                "client_credentials",
                "--grant",
                "authorization_code",
                "--scope",
                "openid clientarea:billing_info",
            ],
        );
        let secret = m2m.secret.clone().unwrap();
        assert!(secret.contains('+') || secret.contains('/') || secret.contains('=') || secret.len() == 44);
        // Basic with the raw (not URL-encoded) secret.
        let (s, t) = token(&server, &m2m, &[("grant_type", "client_credentials")]);
        assert_eq!(s, 200, "{t}");
        assert_eq!(t["scope"], "clientarea:billing_info");
        assert!(t.get("refresh_token").is_none() && t.get("id_token").is_none());
        // Basic with URL-encoded halves.
        let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let r = http()
            .post(server.url("/oauth2/token"))
            .header("Authorization", basic(&enc(&m2m.id), &enc(&secret)))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
        // client_secret_post.
        let r = http()
            .post(server.url("/oauth2/token"))
            .form(&[("grant_type", "client_credentials"), ("client_id", &m2m.id), ("client_secret", &secret)])
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
        // openid makes no sense without a user.
        let (s, e) = token(&server, &m2m, &[("grant_type", "client_credentials"), ("scope", "openid")]);
        assert_eq!((s, e["error"].as_str()), (400, Some("invalid_scope")));

        // Client authentication comes first: IPB's "test settings" post.
        let (s, e) = token(&server, &m2m, &[("code", "xxx")]);
        assert_eq!((s, e["error"].as_str()), (400, Some("invalid_request")), "{e}");
        assert_eq!(e["error_description"], "The grant type was not specified in the request");
        let (s, e) = token(&server, &m2m, &[("grant_type", "authorization_code"), ("code", "xxx")]);
        assert_eq!((s, e["error"].as_str()), (400, Some("invalid_grant")), "{e}");
        assert_eq!(e["error_description"], "Authorization code doesn't exist or is invalid for the client");
        let bad = TestClient { id: m2m.id.clone(), secret: Some("wrong".into()), redirect: CB.into() };
        // RFC 6749 §5.2: HTTP Basic that fails is a 401 with a challenge.
        let r = http()
            .post(server.url("/oauth2/token"))
            .header("Authorization", basic(&bad.id, "wrong"))
            .form(&[("grant_type", "authorization_code"), ("code", "xxx")])
            .send()
            .unwrap();
        assert_eq!(r.status(), 401);
        assert!(r.headers()["www-authenticate"].to_str().unwrap().starts_with("Basic realm="));
        let e: Value = r.json().unwrap();
        assert_eq!(e["error"], "invalid_client");
        assert_eq!(e["error_description"], "The client credentials are invalid");
        // A wrong secret in the body stays a 400.
        let r = http()
            .post(server.url("/oauth2/token"))
            .form(&[("grant_type", "client_credentials"), ("client_id", &m2m.id), ("client_secret", "wrong")])
            .send()
            .unwrap();
        assert_eq!(r.status(), 400);
        let unknown = TestClient { id: "nobody".into(), secret: Some("x".into()), redirect: CB.into() };
        assert_eq!(token(&server, &unknown, &[("grant_type", "client_credentials")]).1["error"], "invalid_client");
        let r = http().post(server.url("/oauth2/token")).form(&[("grant_type", "client_credentials")]).send().unwrap();
        let e: Value = r.json().unwrap();
        assert_eq!(e["error_description"], "Client credentials were not found in the headers or body");

        // Grant types.
        let (_, e) = token(&server, &m2m, &[("grant_type", "password")]);
        assert_eq!(e["error"], "unsupported_grant_type");
        assert_eq!(e["error_description"], "Grant type \"password\" not supported");
        let (_, e) = token(&server, &m2m, &[("grant_type", "refresh_token"), ("refresh_token", "x")]);
        assert_eq!(e["error"], "unauthorized_client");
        let (_, e) = token(&server, &m2m, &[("grant_type", "authorization_code")]);
        assert_eq!(e["error_description"], "Missing parameter: \"code\" is required");

        // Bad HTTP: wrong method, content type, duplicated and oversized parameters.
        let r = http().get(server.url("/oauth2/token")).send().unwrap();
        assert_eq!(r.status(), 405);
        assert_eq!(r.json::<Value>().unwrap()["error"], "invalid_request");
        let r = http()
            .post(server.url("/oauth2/token"))
            .header("Authorization", basic(&m2m.id, &secret))
            .json(&serde_json::json!({"grant_type": "client_credentials"}))
            .send()
            .unwrap();
        assert_eq!(r.status(), 400);
        assert_eq!(r.json::<Value>().unwrap()["error"], "invalid_request");
        let r = http()
            .post(server.url("/oauth2/token"))
            .header("Authorization", basic(&m2m.id, &secret))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials&grant_type=client_credentials")
            .send()
            .unwrap();
        assert_eq!(r.status(), 400);
        assert_eq!(r.json::<Value>().unwrap()["error"], "invalid_request");
        let huge = "x".repeat(5000);
        let (s, e) = token(&server, &m2m, &[("grant_type", "client_credentials"), ("scope", &huge)]);
        assert_eq!((s, e["error"].as_str()), (400, Some("invalid_request")));
        let body = format!("grant_type=client_credentials&pad={}", "y".repeat(300_000));
        let r = http()
            .post(server.url("/oauth2/token"))
            .header("Authorization", basic(&m2m.id, &secret))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .unwrap();
        // Too large: 413, in OAuth JSON.
        assert_eq!(r.status(), 413, "{backend:?}");
        assert_eq!(r.json::<Value>().unwrap()["error"], "invalid_request");
        let r = http()
            .post(server.url("/oauth2/token"))
            .header("Authorization", "Basic !!!not-base64")
            .form(&[("grant_type", "client_credentials")])
            .send()
            .unwrap();
        assert_eq!(r.json::<Value>().unwrap()["error"], "invalid_client");
    }
}

#[test]
fn authorize_errors_are_never_redirected_to_untrusted_uris() {
    for backend in backends() {
        let server = Server::start(backend);
        add_user(&server, "eve@example.com");
        let client = add_client(&server, CB, &["--scope", "openid profile"]);
        let b = browser();
        // Unknown client, missing client, bad redirect URIs: an HTML page, no redirect.
        for params in [
            vec![("client_id", "nope"), ("response_type", "code")],
            vec![("response_type", "code")],
            vec![("client_id", client.id.as_str()), ("redirect_uri", "https://app.example/cb/extra")],
            vec![("client_id", client.id.as_str()), ("redirect_uri", "https://app.example/c")],
            vec![("client_id", client.id.as_str()), ("redirect_uri", "https://APP.example/cb")],
            vec![("client_id", client.id.as_str()), ("redirect_uri", "https://app.example/CB")],
            vec![("client_id", client.id.as_str()), ("redirect_uri", "https://app.example/cb?x=1")],
            vec![("client_id", client.id.as_str()), ("redirect_uri", "https://app.example/cb#frag")],
            vec![("client_id", client.id.as_str()), ("redirect_uri", "https://evil.example/cb")],
        ] {
            let r = b.get(authorize_url(&server, &params)).send().unwrap();
            assert_eq!(r.status(), 400, "{params:?}");
            assert!(r.headers().get("location").is_none());
            assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
        }
        // Duplicated client_id: also a page.
        let r = b
            .get(server.url(&format!("/oauth2/authorize?client_id={0}&client_id={0}&response_type=code", client.id)))
            .send()
            .unwrap();
        assert_eq!(r.status(), 400);

        // After the redirect URI is trusted, errors go back to it with state.
        let cases = [
            (vec![("state", "a b")], "invalid_request"),
            (vec![("response_type", "token"), ("state", "a b")], "unsupported_response_type"),
            (vec![("response_type", "code"), ("scope", "openid email"), ("state", "a b")], "invalid_scope"),
            (vec![("response_type", "code"), ("prompt", "bogus"), ("state", "a b")], "invalid_request"),
            (vec![("response_type", "code"), ("state", "a b"), ("state", "c")], "invalid_request"),
            // prompt=none without a session.
            (vec![("response_type", "code"), ("prompt", "none"), ("state", "a b")], "login_required"),
        ];
        for (extra, expect) in cases {
            let mut params = vec![("client_id", client.id.as_str())];
            params.extend(extra.iter().cloned());
            let r = b.get(authorize_url(&server, &params)).send().unwrap();
            assert_eq!(r.status(), 302, "{extra:?}");
            let loc = location(&r);
            assert!(loc.starts_with(CB), "{loc}");
            assert_eq!(query_param(&loc, "error").as_deref(), Some(expect), "{extra:?} -> {loc}");
            assert_eq!(query_param(&loc, "state").as_deref(), Some("a b"));
            assert!(query_param(&loc, "code").is_none());
        }

        // Declining consent: access_denied back to the client.
        login(&b, &server, "eve@example.com", PASSWORD);
        let page = b
            .get(authorize_url(&server, &[("client_id", &client.id), ("response_type", "code"), ("state", "s")]))
            .send()
            .unwrap()
            .text()
            .unwrap();
        assert!(page.contains("See your name and language"), "scope descriptions on the consent screen: {page}");
        let r = submit_consent(&b, &server, &page, "deny");
        let loc = location(&r);
        assert_eq!(query_param(&loc, "error").as_deref(), Some("access_denied"), "{loc}");
        // A consent answer without the CSRF token is refused.
        let r = b
            .post(server.url("/oauth2/authorize"))
            .form(&[("client_id", client.id.as_str()), ("response_type", "code"), ("gatehouse_consent", "allow")])
            .send()
            .unwrap();
        assert_eq!(r.status(), 403);
        // prompt=none with a session but no consent yet: consent_required.
        let r = b
            .get(authorize_url(&server, &[("client_id", &client.id), ("response_type", "code"), ("prompt", "none")]))
            .send()
            .unwrap();
        assert_eq!(query_param(&location(&r), "error").as_deref(), Some("consent_required"));
        // Consent is remembered: the second time goes straight to a code.
        let loc = authorize(&b, &server, "eve@example.com", &[("client_id", &client.id), ("response_type", "code")]);
        assert!(query_param(&loc, "code").is_some());
        let r = b
            .get(authorize_url(&server, &[("client_id", &client.id), ("response_type", "code"), ("prompt", "none")]))
            .send()
            .unwrap();
        assert!(query_param(&location(&r), "code").is_some(), "{backend:?}");
        // prompt=login sends the user to sign in again; max_age=0 too.
        for extra in [("prompt", "login"), ("max_age", "0")] {
            std::thread::sleep(std::time::Duration::from_millis(1100));
            let r = b
                .get(authorize_url(&server, &[("client_id", &client.id), ("response_type", "code"), extra]))
                .send()
                .unwrap();
            assert!(location(&r).starts_with("/login?"), "{extra:?}");
        }
    }
}

#[test]
fn codes_are_single_use_bound_to_their_client_and_redeemed_once_under_concurrency() {
    for backend in backends() {
        let server = Server::start(backend);
        add_user(&server, "cc@example.com");
        let a = add_client(&server, CB, &["--scope", "openid", "--first-party"]);
        let other = add_client(&server, CB, &["--scope", "openid"]);
        let (_, code) = code_for(&server, &a, "cc@example.com", &[]);
        // Another client's code: invalid_grant, and the code still works for its owner.
        let (s, e) =
            token(&server, &other, &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", CB)]);
        assert_eq!((s, e["error"].as_str()), (400, Some("invalid_grant")));
        // A wrong redirect URI: mismatch, nothing spent.
        let (_, e) = token(
            &server,
            &a,
            &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", "https://app.example/other")],
        );
        assert_eq!(e["error"], "redirect_uri_mismatch");
        assert_eq!(e["error_description"], "The redirect URI is missing or do not match");
        let (s, t) = token(&server, &a, &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", CB)]);
        assert_eq!(s, 200, "{t}");
        // Twice: refused, and the tokens it produced are revoked.
        let (s, e) = token(&server, &a, &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", CB)]);
        assert_eq!((s, e["error"].as_str()), (400, Some("invalid_grant")));
        let r =
            http().get(server.url("/oauth2/userinfo")).bearer_auth(t["access_token"].as_str().unwrap()).send().unwrap();
        assert_eq!(r.status(), 401);

        // 20 concurrent redemptions of one code: exactly one token.
        let (_, code) = code_for(&server, &a, "cc@example.com", &[]);
        let url = server.url("/oauth2/token");
        let auth = basic(&a.id, a.secret.as_deref().unwrap());
        let handles: Vec<_> = (0..20)
            .map(|_| {
                let (url, auth, code) = (url.clone(), auth.clone(), code.clone());
                std::thread::spawn(move || {
                    let r = http()
                        .post(url)
                        .header("Authorization", auth)
                        .form(&[("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", CB)])
                        .send()
                        .unwrap();
                    let s = r.status().as_u16();
                    let body: Value = r.json().unwrap();
                    (s, body)
                })
            })
            .collect();
        let results: Vec<(u16, Value)> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let ok = results.iter().filter(|(s, _)| *s == 200).count();
        assert_eq!(ok, 1, "{backend:?}: {results:?}");
        assert!(results.iter().all(|(s, b)| *s == 200 || b["error"] == "invalid_grant"), "{results:?}");
    }
}

#[test]
fn discovery_is_truthful_and_keys_rotate() {
    for backend in backends() {
        let server = Server::start(backend);
        let d: Value = http().get(server.url("/.well-known/openid-configuration")).send().unwrap().json().unwrap();
        assert_eq!(d["issuer"], server.base);
        for (k, path) in [
            ("authorization_endpoint", "/oauth2/authorize"),
            ("token_endpoint", "/oauth2/token"),
            ("userinfo_endpoint", "/oauth2/userinfo"),
            ("jwks_uri", "/jwks.json"),
            ("revocation_endpoint", "/oauth2/revoke"),
            ("introspection_endpoint", "/oauth2/introspect"),
            ("end_session_endpoint", "/oauth2/logout"),
        ] {
            assert_eq!(d[k], format!("{}{path}", server.base));
            // Every advertised endpoint exists (no 404).
            let r = http().get(server.url(path)).send().unwrap();
            assert_ne!(r.status(), 404, "{path}");
        }
        assert_eq!(d["code_challenge_methods_supported"], serde_json::json!(["S256", "plain"]));
        assert_eq!(d["id_token_signing_alg_values_supported"], serde_json::json!(["RS256", "ES256", "EdDSA"]));
        assert!(d["scopes_supported"].as_array().unwrap().iter().any(|s| s == "clientarea:sso"));
        let jwks: Value = http().get(server.url("/jwks.json")).send().unwrap().json().unwrap();
        let keys = jwks["keys"].as_array().unwrap().clone();
        assert_eq!(keys.len(), 3, "{jwks}");
        let rsa = keys.iter().find(|k| k["alg"] == "RS256").unwrap();
        assert_eq!(rsa["kty"], "RSA");
        assert_eq!(rsa["e"], "AQAB");
        assert!(rsa.get("d").is_none(), "no private parts");
        // The master key file exists with mode 0600.
        let mk = server.data_dir.path().join("master.key");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&mk).unwrap().permissions().mode() & 0o777, 0o600);

        // ES256 and EdDSA ID tokens, per client.
        add_user(&server, "k@example.com");
        for alg in ["ES256", "EdDSA"] {
            let c = add_client(&server, CB, &["--scope", "openid", "--first-party", "--id-token-alg", alg]);
            let (_, code) = code_for(&server, &c, "k@example.com", &[]);
            let (_, t) =
                token(&server, &c, &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", CB)]);
            let (h, _) = jwt_claims(t["id_token"].as_str().unwrap());
            assert_eq!(h["alg"], alg);
        }

        // Rotation: new keys are published, the old ones stay published.
        let out = server.cli_json(&["keys", "rotate"]);
        assert_eq!(out["created"].as_array().unwrap().len(), 3);
        // The server re-reads the keys at most once a second.
        let mut after: Value = Value::Null;
        for _ in 0..30 {
            after = http().get(server.url("/jwks.json")).send().unwrap().json().unwrap();
            if after["keys"].as_array().is_some_and(|k| k.len() == 6) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let kids: Vec<&str> = after["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap()).collect();
        assert_eq!(kids.len(), 6, "{backend:?}");
        for k in &keys {
            assert!(kids.contains(&k["kid"].as_str().unwrap()));
        }
        // New ID tokens are still signed with the old key: the new one signs
        // only once cached JWKS documents have expired (tests/e2e/keys.rs).
        let c = add_client(&server, CB, &["--scope", "openid", "--first-party"]);
        let (_, code) = code_for(&server, &c, "k@example.com", &[]);
        let (_, t) = token(&server, &c, &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", CB)]);
        let (h, _) = jwt_claims(t["id_token"].as_str().unwrap());
        let old_rsa = keys.iter().find(|k| k["alg"] == "RS256").unwrap();
        assert_eq!(h["kid"], old_rsa["kid"]);
    }
}
