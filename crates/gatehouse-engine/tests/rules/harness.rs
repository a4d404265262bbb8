//! A hub in a temp-file SQLite database with a fixed clock, and shortcuts
//! for the steps rule tests need before the rule they test.

use std::sync::Arc;

use gatehouse_core::client::GrantType;
use gatehouse_core::{Dialect, ScopeCatalog, ScopeSet};
use gatehouse_engine::clock::FixedClock;
use gatehouse_engine::directory::{ClientInput, UserInput};
use gatehouse_engine::model::{Client, Session, User};
use gatehouse_engine::oauth::authorize::AuthorizeOutcome;
use gatehouse_engine::oauth::{ClientCredentials, OAuthError, Params, TokenResponse};
use gatehouse_engine::sessions::BrowserContext;
use gatehouse_engine::{Engine, EngineConfig};

/// The fixed clock's start: 2027-01-15.
pub const T0: i64 = 1_800_000_000;
pub const PASSWORD: &str = "correct horse battery staple";
pub const REDIRECT: &str = "https://app.example.com/cb";
pub const ISSUER: &str = "https://id.example.com";
pub const IP: &str = "198.51.100.7";

pub struct Hub {
    pub engine: Engine,
    pub clock: Arc<FixedClock>,
    /// The database file (a second engine on it is another replica).
    pub url: String,
    _dir: tempfile::TempDir,
}

impl Hub {
    pub fn new() -> Hub {
        Hub::with(|_| {})
    }

    /// A hub whose configuration `tweak` adjusts first.
    pub fn with(tweak: impl FnOnce(&mut EngineConfig)) -> Hub {
        let dir = tempfile::tempdir().unwrap();
        let url = dir.path().join("gatehouse.db").display().to_string();
        let mut cfg = EngineConfig::for_issuer(ISSUER);
        tweak(&mut cfg);
        let clock = Arc::new(FixedClock::at(T0));
        let mut engine = Engine::open(&url, cfg, ScopeCatalog::standard()).unwrap().with_clock(clock.clone());
        engine.set_master_key([7u8; 32]);
        Hub { engine, clock, url, _dir: dir }
    }

    /// Another engine on the same database, clock and master key (a
    /// second replica).
    pub fn replica(&self) -> Engine {
        let cfg = (*self.engine.config).clone();
        let mut engine = Engine::open(&self.url, cfg, ScopeCatalog::standard()).unwrap().with_clock(self.clock.clone());
        engine.set_master_key([7u8; 32]);
        engine
    }

    /// Signing keys (RSA generation is slow: only tests that sign ask).
    pub fn with_keys(self) -> Hub {
        self.engine.ensure_signing_keys().unwrap();
        self
    }

    /// A user with [`PASSWORD`].
    pub fn user(&self, email: &str) -> User {
        self.engine
            .create_user(UserInput {
                email: email.into(),
                password: Some(PASSWORD.into()),
                name: "Test User".into(),
                ..Default::default()
            })
            .unwrap()
    }

    /// Registers a client; returns it and its secret (empty for public clients).
    pub fn client(&self, input: ClientInput) -> (Client, String) {
        let reg = self.engine.register_client(input).unwrap();
        (reg.client, reg.secret.unwrap_or_default())
    }

    /// A confidential first-party web client: code + refresh, [`REDIRECT`],
    /// `openid profile email`.
    pub fn web_client(&self) -> (Client, String) {
        self.client(web_client_input())
    }

    /// A confidential client_credentials client with an operator scope.
    pub fn service_client(&self) -> (Client, String) {
        self.client(ClientInput {
            name: "Service".into(),
            grant_types: vec![GrantType::ClientCredentials],
            scopes: ScopeSet::parse(""),
            ..Default::default()
        })
    }

    /// A browser session for `user`.
    pub fn session(&self, user: &User) -> Session {
        self.engine.sign_in(user.id, "password", &ctx()).unwrap().session
    }

    /// Runs `/authorize` for a signed-in user of a first-party client and
    /// returns the code.
    pub fn code(&self, client: &Client, user: &User, extra: &str) -> String {
        let session = self.session(user);
        let q = format!("response_type=code&client_id={}&redirect_uri={REDIRECT}&state=s1{extra}", client.client_id);
        let req = self.engine.validate_authorize(&Dialect::standard(), &params(&q)).unwrap();
        match self.engine.decide_authorize(&req, Some(&(session, user.clone()))).unwrap() {
            AuthorizeOutcome::Redirect(url) => query_param(&url, "code").expect("a code"),
            other => panic!("expected a code, got {other:?}"),
        }
    }

    /// A token request with HTTP Basic credentials.
    pub fn token(&self, client: &Client, secret: &str, form: &str) -> Result<TokenResponse, OAuthError> {
        self.engine.token(&Dialect::standard(), &params(form), &basic(&client.client_id, secret))
    }

    /// Code → tokens for a fresh session.
    pub fn tokens(&self, client: &Client, secret: &str, user: &User) -> TokenResponse {
        let code = self.code(client, user, "&scope=openid%20profile%20email");
        self.token(client, secret, &format!("grant_type=authorization_code&code={code}&redirect_uri={REDIRECT}"))
            .unwrap()
    }
}

pub fn web_client_input() -> ClientInput {
    ClientInput {
        name: "Web App".into(),
        redirect_uris: vec![REDIRECT.into()],
        grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        scopes: ScopeSet::parse("openid profile email"),
        first_party: true,
        ..Default::default()
    }
}

/// A browser with no session yet.
pub fn ctx() -> BrowserContext<'static> {
    BrowserContext { ip: IP, user_agent: "rule-tests", previous: None }
}

pub fn params(q: &str) -> Params {
    Params::parse(&[q.as_bytes()])
}

pub fn basic(id: &str, secret: &str) -> ClientCredentials {
    ClientCredentials { basic: Some((id.into(), secret.into())) }
}

/// One query parameter of a URL.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url).ok()?.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// A mailer that keeps what it was asked to send.
#[derive(Default)]
pub struct Outbox(pub std::sync::Mutex<Vec<gatehouse_engine::mail::Mail>>);

impl gatehouse_engine::mail::Mailer for Outbox {
    fn send(&self, mail: gatehouse_engine::mail::Mail) {
        self.0.lock().unwrap().push(mail);
    }
}
