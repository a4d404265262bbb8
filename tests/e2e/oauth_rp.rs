//! Relying-party libraries not written here drive the code flow and verify
//! the ID token: the `openidconnect` crate, and npm `openid-client`
//! (installed by the test with `npm ci` when missing).

use std::path::Path;
use std::process::Command;

use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreUserInfoClaims};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
};
use serde_json::Value;

use crate::common::*;
use crate::oauth_support::*;

const CB: &str = "https://rp.example/callback";

fn query_pairs(url: &str) -> Vec<(String, String)> {
    url::Url::parse(url).unwrap().query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

/// Follows an authorization URL in a browser to the client's callback.
fn browse(server: &Server, url: &str, email: &str) -> String {
    let pairs = query_pairs(url);
    let refs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    authorize(&browser(), server, email, &refs)
}

#[test]
fn openidconnect_crate_completes_the_code_flow_and_verifies_the_id_token() {
    for backend in backends() {
        let server = Server::start(backend);
        let user = add_user(&server, "rp@example.com");
        let c = add_client(&server, CB, &["--scope", "openid profile email"]);
        let http_client = openidconnect::reqwest::blocking::ClientBuilder::new()
            .redirect(openidconnect::reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let metadata = CoreProviderMetadata::discover(&IssuerUrl::new(server.base.clone()).unwrap(), &http_client)
            .expect("discovery");
        let rp = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(c.id.clone()),
            Some(ClientSecret::new(c.secret.clone().unwrap())),
        )
        .set_redirect_uri(RedirectUrl::new(CB.into()).unwrap());
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (auth_url, csrf, nonce) = rp
            .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
            .add_scope(Scope::new("profile".into()))
            .add_scope(Scope::new("email".into()))
            .set_pkce_challenge(challenge)
            .url();
        let callback = browse(&server, auth_url.as_str(), "rp@example.com");
        assert_eq!(query_param(&callback, "state").as_deref(), Some(csrf.secret().as_str()));
        let code = query_param(&callback, "code").unwrap();
        let tokens = rp
            .exchange_code(AuthorizationCode::new(code))
            .unwrap()
            .set_pkce_verifier(verifier)
            .request(&http_client)
            .expect("token exchange");
        let id_token = tokens.id_token().expect("an ID token");
        let verifier = rp.id_token_verifier();
        let claims = id_token.claims(&verifier, &nonce).expect("the ID token verifies");
        let expected_hash = claims.access_token_hash().expect("at_hash");
        let actual = AccessTokenHash::from_token(
            tokens.access_token(),
            id_token.signing_alg().unwrap(),
            id_token.signing_key(&verifier).unwrap(),
        )
        .unwrap();
        assert_eq!(&actual, expected_hash);
        assert_eq!(claims.subject().as_str(), user["sub"].as_str().unwrap(), "{backend:?}");
        let info: CoreUserInfoClaims =
            rp.user_info(tokens.access_token().to_owned(), None).unwrap().request(&http_client).expect("userinfo");
        assert_eq!(info.subject(), claims.subject());
        assert_eq!(info.email().map(|e| e.as_str()), Some("rp@example.com"));
        assert!(tokens.refresh_token().is_some());
    }
}

/// Installs the npm relying party when its modules are missing.
fn npm_ready() -> bool {
    crate::common::npm_ready("js", "openid-client");
    true
}

fn node(args: &[&str]) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js/rp.mjs");
    let out = Command::new("node").arg(script).args(args).output().expect("run node");
    assert!(out.status.success(), "node rp.mjs {}: {}", args[0], String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn npm_openid_client_completes_the_code_flow_and_verifies_the_id_token() {
    assert!(npm_ready());
    for backend in backends() {
        let server = Server::start(backend);
        let user = add_user(&server, "node@example.com");
        let c = add_client(&server, CB, &["--scope", "openid profile email"]);
        let secret = c.secret.clone().unwrap();
        let start = node(&["start", &server.base, &c.id, &secret, CB]);
        let callback = browse(&server, start["url"].as_str().unwrap(), "node@example.com");
        let done = node(&[
            "finish",
            &server.base,
            &c.id,
            &secret,
            CB,
            &callback,
            start["verifier"].as_str().unwrap(),
            start["state"].as_str().unwrap(),
            start["nonce"].as_str().unwrap(),
        ]);
        assert_eq!(done["alg"], "RS256");
        assert_eq!(done["sub"], user["sub"], "{backend:?}");
        assert_eq!(done["nonce"], start["nonce"]);
        assert_eq!(done["userinfo"]["email"], "node@example.com");
    }
}
