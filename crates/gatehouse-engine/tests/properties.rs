//! Property tests (proptest) of the authorization endpoint: the `state`
//! parameter comes back byte for byte, on a code and on an error redirect.
//! One hub (temp-file SQLite, fixed clock, a first-party client, a signed-in
//! user) serves every case; the hub is built as `tests/rules/harness.rs`
//! builds it.

use std::sync::Arc;

use gatehouse_core::client::GrantType;
use gatehouse_core::{Dialect, ScopeCatalog, ScopeSet};
use gatehouse_engine::clock::FixedClock;
use gatehouse_engine::directory::{ClientInput, UserInput};
use gatehouse_engine::model::{Client, Session, User};
use gatehouse_engine::oauth::authorize::{AuthorizeError, AuthorizeOutcome};
use gatehouse_engine::oauth::Params;
use gatehouse_engine::sessions::BrowserContext;
use gatehouse_engine::{Engine, EngineConfig};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

const T0: i64 = 1_800_000_000;
const REDIRECT: &str = "https://app.example.com/cb?tenant=a%2Bb";
const ISSUER: &str = "https://id.example.com";

struct Hub {
    engine: Engine,
    client: Client,
    signed_in: (Session, User),
    _dir: tempfile::TempDir,
}

fn hub() -> Hub {
    let dir = tempfile::tempdir().unwrap();
    let url = dir.path().join("gatehouse.db").display().to_string();
    let clock = Arc::new(FixedClock::at(T0));
    let mut engine =
        Engine::open(&url, EngineConfig::for_issuer(ISSUER), ScopeCatalog::standard()).unwrap().with_clock(clock);
    engine.set_master_key([7u8; 32]);
    let user = engine
        .create_user(UserInput {
            email: "state@example.com".into(),
            password: Some("correct horse battery staple".into()),
            name: "State Tester".into(),
            ..Default::default()
        })
        .unwrap();
    let client = engine
        .register_client(ClientInput {
            name: "Web App".into(),
            redirect_uris: vec![REDIRECT.into()],
            grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
            scopes: ScopeSet::parse("openid profile email"),
            first_party: true,
            ..Default::default()
        })
        .unwrap()
        .client;
    let ctx = BrowserContext { ip: "198.51.100.7", user_agent: "properties", previous: None };
    let session = engine.sign_in(user.id, "password", &ctx).unwrap().session;
    Hub { engine, client, signed_in: (session, user), _dir: dir }
}

/// States a client might send: form and URL delimiters, percent signs,
/// spaces, controls, non-ASCII, and anything else.
fn state_value() -> impl Strategy<Value = String> {
    let special = prop::sample::select(vec![
        '+', '/', '=', '%', '&', '#', '?', ';', ' ', ':', '@', '[', ']', '\'', '"', '<', '>', '\\', '\t', '\n', '\r',
        '\u{0}', '\u{7f}', 'é', '✓', '😀', '\u{FEFF}', 'a', 'Z', '0', '~', '-', '.', '_',
    ]);
    prop::collection::vec(prop_oneof![4 => special, 1 => any::<char>()], 1..48).prop_map(|v| v.into_iter().collect())
}

/// The request, form-encoded as a browser sends it.
fn request(client_id: &str, state: &str, scope: &str) -> Params {
    let q = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("scope", scope)
        .append_pair("state", state)
        .finish();
    Params::parse(&[q.as_bytes()])
}

fn query(url: &str) -> Vec<(String, String)> {
    url::Url::parse(url).unwrap().query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

fn runner() -> TestRunner {
    TestRunner::new(Config { cases: 64, failure_persistence: None, ..Config::default() })
}

#[test]
fn state_comes_back_byte_for_byte_with_the_code() {
    let hub = hub();
    runner()
        .run(&state_value(), |state| {
            let p = request(&hub.client.client_id, &state, "openid profile");
            let req = hub.engine.validate_authorize(&Dialect::standard(), &p).expect("a valid request");
            prop_assert_eq!(req.state.as_deref(), Some(state.as_str()));
            let url = match hub.engine.decide_authorize(&req, Some(&hub.signed_in)).unwrap() {
                AuthorizeOutcome::Redirect(url) => url,
                other => panic!("expected a redirect with a code, got {other:?}"),
            };
            prop_assert!(url.starts_with("https://app.example.com/cb?tenant=a%2Bb&"), "{}", url);
            let q = query(&url);
            prop_assert_eq!(&q[0], &("tenant".to_string(), "a+b".to_string()));
            prop_assert!(q.iter().any(|(k, _)| k == "code"), "no code in {}", url);
            let states: Vec<&str> = q.iter().filter(|(k, _)| k == "state").map(|(_, v)| v.as_str()).collect();
            prop_assert_eq!(states, vec![state.as_str()], "in {}", url);
            Ok(())
        })
        .unwrap();
}

#[test]
fn state_comes_back_byte_for_byte_with_an_error() {
    let hub = hub();
    runner()
        .run(&state_value(), |state| {
            // A scope the client is not registered for: an error redirect.
            let p = request(&hub.client.client_id, &state, "offline_access");
            let url = match hub.engine.validate_authorize(&Dialect::standard(), &p) {
                Err(AuthorizeError::Redirect { url, .. }) => url,
                other => panic!("expected an error redirect, got {other:?}"),
            };
            let q = query(&url);
            prop_assert!(q.iter().any(|(k, v)| k == "error" && v == "invalid_scope"), "{}", url);
            let states: Vec<&str> = q.iter().filter(|(k, _)| k == "state").map(|(_, v)| v.as_str()).collect();
            prop_assert_eq!(states, vec![state.as_str()], "in {}", url);
            Ok(())
        })
        .unwrap();
}
