//! The `oidc` plugin: users sign in to Gatehouse through an upstream OpenID
//! Connect provider (an `identity_provider`). All protocol work — discovery,
//! the authorization request with PKCE and nonce, the code exchange, ID
//! token verification (signature, `iss`, `aud`, `exp`, `nonce`) — is done by
//! the `openidconnect` crate; this plugin only wires it to the host.
//!
//! The host keeps the opaque state this plugin returns from `begin_login`
//! in an HttpOnly cookie scoped to the callback path and hands it back at
//! the callback: it carries the CSRF token, the nonce and the PKCE verifier.
#![forbid(unsafe_code)]

pub mod oauth2_upstream;

use std::sync::Mutex;

use base64::Engine as _;
use gatehouse_plugin_api::prelude::*;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreUserInfoClaims};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, RefreshToken, RequestTokenError, Scope, TokenResponse, UserInfoError,
};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

/// The plugin's `[plugins.config]` table: one upstream in the table itself
/// (its id is `oidc`), or several in `[[…providers]]` (and nothing else),
/// each with an `id`: its own button, callback path
/// (`/federation/<id>/callback`) and identity links.
pub fn parse_config(v: &Value) -> Result<(Vec<ProviderConfig>, bool), Error> {
    let invalid = |e: serde_json::Error| Error::invalid(format!("invalid configuration: {e}"));
    match v.get("providers") {
        Some(list) => {
            if v.as_object().is_some_and(|o| o.len() > 1) {
                return Err(Error::invalid("with providers, every setting goes inside its provider"));
            }
            Ok((serde_json::from_value(list.clone()).map_err(invalid)?, true))
        }
        None if v.is_null() => Ok((vec![ProviderConfig::default()], false)),
        None => Ok((vec![serde_json::from_value(v.clone()).map_err(invalid)?], false)),
    }
}

/// One upstream OpenID Connect provider.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// `[a-z0-9_-]+`; required in `providers`, ignored in the single form.
    #[serde(default)]
    pub id: String,
    /// The upstream issuer (discovery at `<issuer>/.well-known/openid-configuration`).
    #[serde(default)]
    pub issuer: String,
    #[serde(default)]
    pub client_id: String,
    #[serde(default)]
    pub client_secret: String,
    /// Scopes to ask for besides `openid` (default: email, profile; a
    /// preset's own for presets).
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    /// Shown on Gatehouse's login page: "Sign in with …".
    #[serde(default)]
    pub display_name: Option<String>,
    /// Treat the upstream's e-mail as verified even without
    /// `email_verified: true` (only for providers that verify every address).
    #[serde(default)]
    pub trust_email: bool,
    /// `oidc` (default) or `oauth2` (plain OAuth 2.0: endpoints and a claim map).
    #[serde(default)]
    pub kind: Option<String>,
    /// Fills in endpoints, scopes and the claim map: `github`, `discord`,
    /// `whmcs` (with `base_url`), `gitlab`, `google`, `entra` (with `tenant`).
    #[serde(default)]
    pub preset: Option<String>,
    /// The WHMCS install's base URL (`whmcs` preset).
    #[serde(default)]
    pub base_url: Option<String>,
    /// The Microsoft Entra tenant id or domain (`entra` preset).
    #[serde(default)]
    pub tenant: Option<String>,
    /// `oauth2`: the endpoints.
    #[serde(default)]
    pub authorization_endpoint: Option<String>,
    #[serde(default)]
    pub token_endpoint: Option<String>,
    #[serde(default)]
    pub userinfo_endpoint: Option<String>,
    /// `oauth2`: a separate e-mails endpoint (GitHub `/user/emails`).
    #[serde(default)]
    pub emails_endpoint: Option<String>,
    /// `oauth2`: `basic` (default) or `body` client authentication.
    #[serde(default)]
    pub client_auth: Option<String>,
    /// `oauth2`: send a PKCE challenge (default true).
    #[serde(default)]
    pub pkce: Option<bool>,
    /// `oauth2`: where each field is in the userinfo JSON.
    #[serde(default)]
    pub claims: Option<oauth2_upstream::ClaimMap>,
    /// First sign-in of an unlinked identity: `create` (default), `link`
    /// (to the local user with the same verified e-mail) or `refuse`
    /// (only identities an administrator linked).
    #[serde(default)]
    pub first_sign_in: Option<String>,
    /// Only e-mail addresses in these domains may sign in the first time.
    #[serde(default)]
    pub email_domains: Vec<String>,
    /// Upstream group → Gatehouse group (from the `groups` claim).
    #[serde(default)]
    pub group_map: std::collections::BTreeMap<String, String>,
    /// `oauth2`: where the authorization server's metadata is (RFC 8414);
    /// default with `issuer` set: `<issuer>/.well-known/oauth-authorization-server`.
    /// Endpoints set here win over the metadata's.
    #[serde(default)]
    pub metadata_url: Option<String>,
    /// How long discovered metadata is kept, in seconds (default 3600).
    #[serde(default)]
    pub discovery_ttl_secs: Option<u64>,
}

impl ProviderConfig {
    fn scopes(&self) -> Vec<String> {
        self.scopes.clone().unwrap_or_else(default_scopes)
    }

    fn display_name(&self) -> String {
        self.display_name.clone().unwrap_or_else(default_display_name)
    }
}

fn default_scopes() -> Vec<String> {
    vec!["email".into(), "profile".into()]
}

fn default_display_name() -> String {
    "your organisation's account".into()
}

/// What travels in the host's state cookie between start and callback.
#[derive(Serialize, Deserialize)]
struct PendingLogin {
    csrf: String,
    nonce: String,
    pkce_verifier: String,
}

type HttpClient = openidconnect::reqwest::blocking::Client;

/// A discovered document, kept for a TTL. When rediscovery fails, the
/// stale copy goes on serving (an upstream's brief outage of its discovery
/// document does not stop sign-ins); with no copy at all, the error.
#[derive(Debug)]
pub struct Cached<T> {
    slot: Mutex<Option<(std::time::Instant, T)>>,
    ttl: std::time::Duration,
}

impl<T: Clone> Cached<T> {
    pub fn new(ttl_secs: u64) -> Cached<T> {
        Cached { slot: Mutex::new(None), ttl: std::time::Duration::from_secs(ttl_secs) }
    }

    /// The kept copy while it is fresh, else what `fetch` brings. One
    /// fetch at a time: concurrent callers wait for it instead of all asking.
    pub fn get(&self, fetch: impl FnOnce() -> Result<T, Error>) -> Result<T, Error> {
        let mut slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, v)) = slot.as_ref().filter(|(at, _)| at.elapsed() < self.ttl) {
            let _ = at;
            return Ok(v.clone());
        }
        match fetch() {
            Ok(v) => {
                *slot = Some((std::time::Instant::now(), v.clone()));
                Ok(v)
            }
            Err(e) => slot.as_ref().map(|(_, v)| v.clone()).ok_or(e),
        }
    }

    /// Drops the copy: the next use rediscovers (after a failure that may
    /// come from stale metadata, such as rotated endpoints).
    pub fn forget(&self) {
        *self.slot.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

const DEFAULT_DISCOVERY_TTL_SECS: u64 = 3600;

/// One configured upstream and its discovered metadata.
struct Upstream {
    config: ProviderConfig,
    /// Discovered, then kept for the TTL; rediscovered after a failure.
    metadata: Cached<CoreProviderMetadata>,
    /// A plain OAuth 2.0 upstream (`kind = "oauth2"` or its preset).
    oauth2: Option<oauth2_upstream::OAuth2Upstream>,
}

/// An upstream URL: https, or http on the loopback host only.
pub(crate) fn check_url(what: &str, u: &str) -> Result<(), Error> {
    let parsed = url::Url::parse(u).map_err(|e| err(what, e))?;
    match (parsed.scheme(), parsed.host_str()) {
        ("https", Some(_)) => Ok(()),
        ("http", Some("127.0.0.1" | "localhost" | "[::1]")) => Ok(()),
        _ => Err(Error::invalid(format!("{what} {u:?}: https is required (http only on 127.0.0.1)"))),
    }
}

/// Fills in what a preset knows; the operator's own settings win.
pub fn apply_preset(p: &mut ProviderConfig) -> Result<(), Error> {
    use oauth2_upstream::ClaimMap;
    let set = |slot: &mut Option<String>, v: &str| {
        if slot.is_none() {
            *slot = Some(v.to_string());
        }
    };
    let path = |v: &str| Some(v.to_string());
    match p.preset.as_deref() {
        None => {}
        Some("github") => {
            set(&mut p.kind, "oauth2");
            set(&mut p.authorization_endpoint, "https://github.com/login/oauth/authorize");
            set(&mut p.token_endpoint, "https://github.com/login/oauth/access_token");
            set(&mut p.userinfo_endpoint, "https://api.github.com/user");
            set(&mut p.emails_endpoint, "https://api.github.com/user/emails");
            set(&mut p.display_name, "GitHub");
            p.scopes.get_or_insert_with(|| vec!["read:user".into(), "user:email".into()]);
            p.claims.get_or_insert(ClaimMap {
                subject: path("/id"),
                email: path("/email"),
                name: path("/name"),
                picture: path("/avatar_url"),
                ..Default::default()
            });
        }
        Some("discord") => {
            set(&mut p.kind, "oauth2");
            set(&mut p.authorization_endpoint, "https://discord.com/oauth2/authorize");
            set(&mut p.token_endpoint, "https://discord.com/api/oauth2/token");
            set(&mut p.userinfo_endpoint, "https://discord.com/api/users/@me");
            set(&mut p.display_name, "Discord");
            p.scopes.get_or_insert_with(|| vec!["identify".into(), "email".into()]);
            p.claims.get_or_insert(ClaimMap {
                subject: path("/id"),
                email: path("/email"),
                email_verified: path("/verified"),
                name: path("/global_name"),
                locale: path("/locale"),
                ..Default::default()
            });
        }
        Some("whmcs") => {
            let base = p
                .base_url
                .clone()
                .ok_or_else(|| Error::invalid("the whmcs preset needs base_url (the WHMCS install's URL)"))?;
            let base = base.trim_end_matches('/').to_string();
            set(&mut p.kind, "oauth2");
            set(&mut p.authorization_endpoint, &format!("{base}/oauth/authorize.php"));
            set(&mut p.token_endpoint, &format!("{base}/oauth/token.php"));
            set(&mut p.userinfo_endpoint, &format!("{base}/oauth/userinfo.php"));
            set(&mut p.display_name, "your billing account");
            p.scopes.get_or_insert_with(|| vec!["openid".into(), "profile".into(), "email".into()]);
            p.claims.get_or_insert(ClaimMap {
                subject: path("/sub"),
                email: path("/email"),
                email_verified: path("/email_verified"),
                name: path("/name"),
                given_name: path("/given_name"),
                family_name: path("/family_name"),
                locale: path("/locale"),
                ..Default::default()
            });
        }
        Some("gitlab") => {
            if p.issuer.is_empty() {
                p.issuer = "https://gitlab.com".into();
            }
            set(&mut p.display_name, "GitLab");
        }
        Some("google") => {
            if p.issuer.is_empty() {
                p.issuer = "https://accounts.google.com".into();
            }
            set(&mut p.display_name, "Google");
        }
        Some("entra") => {
            let tenant =
                p.tenant.clone().ok_or_else(|| Error::invalid("the entra preset needs tenant (id or domain)"))?;
            if p.issuer.is_empty() {
                p.issuer = format!("https://login.microsoftonline.com/{tenant}/v2.0");
            }
            set(&mut p.display_name, "Microsoft");
        }
        Some(other) => {
            return Err(Error::invalid(format!(
                "preset {other:?}: expected github, discord, whmcs, gitlab, google or entra"
            )))
        }
    }
    Ok(())
}

/// Builds an upstream from its settings (after the preset).
fn build_upstream(mut config: ProviderConfig) -> Result<Upstream, Error> {
    apply_preset(&mut config)?;
    let ttl = config.discovery_ttl_secs.unwrap_or(DEFAULT_DISCOVERY_TTL_SECS);
    let oauth2 = match config.kind.as_deref() {
        None | Some("oidc") => {
            IssuerUrl::new(config.issuer.clone()).map_err(|e| err("issuer", e))?;
            check_url("issuer", &config.issuer)?;
            None
        }
        Some("oauth2") => {
            let metadata_url = match (&config.metadata_url, config.issuer.is_empty()) {
                (Some(u), _) => Some(u.clone()),
                (None, false) => Some(oauth2_upstream::metadata_url_of(&config.issuer)?),
                (None, true) => None,
            };
            if let Some(u) = &metadata_url {
                check_url("metadata_url", u)?;
            }
            // Without metadata, every endpoint must be configured.
            let endpoint = |v: &Option<String>, what: &str| -> Result<String, Error> {
                match v {
                    Some(u) => {
                        check_url(what, u)?;
                        Ok(u.clone())
                    }
                    None if metadata_url.is_some() => Ok(String::new()),
                    None => Err(Error::invalid(format!(
                        "oauth2 upstream {:?}: set {what} (or issuer / metadata_url for RFC 8414 metadata)",
                        config.id
                    ))),
                }
            };
            let claims = config.claims.clone().unwrap_or_default();
            if claims.subject.is_none() {
                return Err(Error::invalid(format!("oauth2 upstream {:?}: claims.subject is required", config.id)));
            }
            Some(oauth2_upstream::OAuth2Upstream {
                configured: oauth2_upstream::Endpoints {
                    authorization: endpoint(&config.authorization_endpoint, "authorization_endpoint")?,
                    token: endpoint(&config.token_endpoint, "token_endpoint")?,
                    userinfo: endpoint(&config.userinfo_endpoint, "userinfo_endpoint")?,
                },
                metadata_url,
                issuer: Some(config.issuer.clone()).filter(|i| !i.is_empty()),
                metadata: Cached::new(ttl),
                emails_endpoint: match &config.emails_endpoint {
                    Some(u) => {
                        check_url("emails_endpoint", u)?;
                        Some(u.clone())
                    }
                    None => None,
                },
                client_id: config.client_id.clone(),
                client_secret: config.client_secret.clone(),
                body_auth: match config.client_auth.as_deref() {
                    None | Some("basic") => false,
                    Some("body") => true,
                    Some(o) => return Err(Error::invalid(format!("client_auth {o:?}: expected basic or body"))),
                },
                pkce: config.pkce.unwrap_or(true),
                scopes: config.scopes(),
                claims,
                trust_email: config.trust_email,
            })
        }
        Some(o) => return Err(Error::invalid(format!("kind {o:?}: expected oidc or oauth2"))),
    };
    Ok(Upstream { config, metadata: Cached::new(ttl), oauth2 })
}

pub struct Oidc {
    upstreams: Vec<Upstream>,
    /// Whether the upstreams were configured as a list (ids reported to the host).
    listed: bool,
    http: HttpClient,
}

fn err(context: &str, e: impl std::fmt::Display) -> Error {
    Error::invalid(format!("{context}: {e}"))
}

impl Upstream {
    fn metadata(&self, http: &HttpClient) -> Result<CoreProviderMetadata, Error> {
        self.metadata.get(|| {
            let issuer = IssuerUrl::new(self.config.issuer.clone()).map_err(|e| err("issuer", e))?;
            CoreProviderMetadata::discover(&issuer, http)
                .map_err(|e| Error::internal(format!("discovery at {} failed: {e}", self.config.issuer)))
        })
    }

    fn forget_metadata(&self) {
        self.metadata.forget();
    }

    fn client(&self, http: &HttpClient, callback_url: &str) -> Result<OidcClient, Error> {
        Ok(CoreClient::from_provider_metadata(
            self.metadata(http)?,
            ClientId::new(self.config.client_id.clone()),
            Some(ClientSecret::new(self.config.client_secret.clone())),
        )
        .set_redirect_uri(RedirectUrl::new(callback_url.to_string()).map_err(|e| err("callback URL", e))?))
    }
}

/// A client built from discovered metadata (its endpoint types).
type OidcClient = CoreClient<
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

impl Oidc {
    /// The upstream a request names (`provider`; empty: the only one).
    fn upstream(&self, provider: &str) -> Result<&Upstream, Error> {
        if provider.is_empty() {
            return self.upstreams.first().ok_or_else(|| Error::invalid("no upstream is configured"));
        }
        self.upstreams
            .iter()
            .find(|u| u.config.id == provider)
            .ok_or_else(|| Error::invalid(format!("no upstream named {provider:?}")))
    }
}

/// The profile claims Gatehouse uses, from an ID token or a userinfo answer.
struct Profile {
    email: Option<String>,
    email_verified: bool,
    name: Option<String>,
    given_name: Option<String>,
    family_name: Option<String>,
    locale: Option<String>,
}

/// Reads a [`Profile`] from claims of either kind (same accessors, no shared trait).
macro_rules! profile {
    ($c:expr) => {
        Profile {
            email: $c.email().map(|e| e.as_str().to_string()),
            email_verified: $c.email_verified().unwrap_or(false),
            name: $c.name().and_then(|c| c.get(None)).map(|n| n.as_str().to_string()),
            given_name: $c.given_name().and_then(|c| c.get(None)).map(|n| n.as_str().to_string()),
            family_name: $c.family_name().and_then(|c| c.get(None)).map(|n| n.as_str().to_string()),
            locale: $c.locale().map(|l| l.as_str().to_string()),
        }
    };
}

impl Plugin for Oidc {
    const NAME: &'static str = "oidc";

    fn describe() -> Manifest {
        Manifest {
            description: "Sign in through an upstream OpenID Connect provider".into(),
            capabilities: vec![Capability::IdentityProvider],
            identity_provider: Some(IdentityProviderInfo {
                display_name: default_display_name(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn init(ctx: InitContext) -> Result<Self, Error> {
        let (list, listed) = parse_config(&ctx.config)?;
        if listed && list.is_empty() {
            return Err(Error::invalid("providers is empty"));
        }
        if !listed && (list[0].issuer.is_empty() || list[0].client_id.is_empty()) {
            // Found but not set up: the host starts without it and says so.
            return Err(Error::not_configured(
                "set issuer, client_id and client_secret in its configuration ([plugin_config.oidc]), \
                 or list several upstreams in [[plugin_config.oidc.providers]]",
            ));
        }
        for p in &list {
            if listed && p.id.is_empty() {
                return Err(Error::invalid("every entry of providers needs an id"));
            }
            if p.client_id.is_empty() {
                return Err(Error::invalid(format!("provider {:?}: client_id is required", p.id)));
            }
        }
        let http = openidconnect::reqwest::blocking::ClientBuilder::new()
            // Following redirects would open the door to SSRF.
            .redirect(openidconnect::reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| Error::internal(format!("HTTP client: {e}")))?;
        let upstreams = list.into_iter().map(build_upstream).collect::<Result<Vec<_>, _>>()?;
        Ok(Oidc { upstreams, listed, http })
    }

    fn manifest(&self) -> Manifest {
        let first = &self.upstreams[0].config;
        Manifest {
            identity_provider: Some(IdentityProviderInfo {
                display_name: first.display_name(),
                first_sign_in: first.first_sign_in.clone(),
                email_domains: first.email_domains.clone(),
                group_map: first.group_map.clone(),
                ..Default::default()
            }),
            identity_providers: if self.listed {
                self.upstreams
                    .iter()
                    .map(|u| IdentityProviderInfo {
                        id: u.config.id.clone(),
                        display_name: u.config.display_name(),
                        first_sign_in: u.config.first_sign_in.clone(),
                        email_domains: u.config.email_domains.clone(),
                        group_map: u.config.group_map.clone(),
                    })
                    .collect()
            } else {
                Vec::new()
            },
            ..Self::describe()
        }
    }

    fn begin_login(&self, req: BeginLogin) -> Result<LoginRedirect, Error> {
        let up = self.upstream(&req.provider)?;
        if let Some(o) = &up.oauth2 {
            return o.begin(&self.http, &req);
        }
        let client = up.client(&self.http, &req.callback_url)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut auth = client
            .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
            .set_pkce_challenge(challenge);
        for s in &up.config.scopes() {
            auth = auth.add_scope(Scope::new(s.clone()));
        }
        if let Some(hint) = req.params.get("login_hint") {
            auth = auth.add_extra_param("login_hint", hint.clone());
        }
        let (url, csrf, nonce) = auth.url();
        let pending = PendingLogin {
            csrf: csrf.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
        };
        Ok(LoginRedirect { redirect_url: url.to_string(), state: encode_state(&pending)? })
    }

    fn complete_login(&self, req: CompleteLogin) -> Result<ExternalIdentity, Error> {
        let up = self.upstream(&req.provider)?;
        if let Some(o) = &up.oauth2 {
            return o.complete(&self.http, &req);
        }
        let pending: PendingLogin = decode_state(&req.state)?;
        check_callback(&req.params, &pending.csrf)?;
        // RFC 9207: a provider that names itself must name the configured one
        // (mix-up defence).
        if let Some(iss) = req.params.get("iss") {
            if iss.trim_end_matches('/') != up.config.issuer.trim_end_matches('/') {
                return Err(Error::invalid("the callback names another issuer"));
            }
        }
        let code = req.params.get("code").ok_or_else(|| Error::invalid("the provider sent no code"))?;
        let client = up.client(&self.http, &req.callback_url)?;
        let token = client
            .exchange_code(AuthorizationCode::new(code.clone()))
            .map_err(|e| err("token endpoint", e))?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier))
            .request(&self.http)
            .map_err(|e| {
                up.forget_metadata();
                match e {
                    // The provider answered with an OAuth error: the sign-in is refused.
                    RequestTokenError::ServerResponse(r) => {
                        Error::invalid(format!("code exchange refused: {}", r.error().as_ref()))
                    }
                    // Unreachable or unreadable: the provider's failure, not the user's.
                    other => Error::internal(format!("code exchange failed: {}", error_chain(&other))),
                }
            })?;
        let id_token = token.id_token().ok_or_else(|| Error::invalid("the provider returned no ID token"))?;
        let claims =
            id_token.claims(&client.id_token_verifier(), &Nonce::new(pending.nonce)).map_err(|e| err("ID token", e))?;
        let mut profile = profile!(claims);
        let mut raw = serde_json::to_value(claims).unwrap_or(Value::Null);
        // Many providers (oidc-provider by default) put profile claims in the
        // ID token only for implicit flows: ask userinfo for what is missing.
        if profile.email.is_none() && client.user_info_url().is_some() {
            let info: CoreUserInfoClaims = client
                .user_info(token.access_token().clone(), Some(claims.subject().clone()))
                .map_err(|e| err("userinfo", e))?
                .request(&self.http)
                .map_err(|e| match e {
                    UserInfoError::ClaimsVerification(e) => err("userinfo", e),
                    other => Error::internal(format!("userinfo failed: {}", error_chain(&other))),
                })?;
            profile = profile!(info);
            if let (Value::Object(into), Ok(Value::Object(from))) = (&mut raw, serde_json::to_value(&info)) {
                for (k, v) in from {
                    into.entry(k).or_insert(v);
                }
            }
        }
        // Groups are not a standard claim (the typed claims drop them): with
        // a group map, read them from the raw userinfo answer.
        if !up.config.group_map.is_empty() {
            if let Some(url) = client.user_info_url() {
                if let Ok(r) = self.http.get(url.as_str()).bearer_auth(token.access_token().secret()).send() {
                    let groups = r
                        .bytes()
                        .ok()
                        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                        .map(|v| v["groups"].clone())
                        .filter(|g| !g.is_null());
                    if let (Some(g), Value::Object(into)) = (groups, &mut raw) {
                        into.insert("groups".into(), g);
                    }
                }
            }
        }
        Ok(ExternalIdentity {
            subject: claims.subject().as_str().to_string(),
            email_verified: profile.email.is_some() && (up.config.trust_email || profile.email_verified),
            email: profile.email,
            name: profile.name,
            given_name: profile.given_name,
            family_name: profile.family_name,
            locale: profile.locale,
            claims: raw,
            refresh_token: token.refresh_token().map(|t| t.secret().clone()),
        })
    }

    /// Upstream re-validation: spends the refresh token. The upstream's
    /// OAuth error (`invalid_grant`: account disabled or deleted, grant
    /// revoked) is its refusal (`forbidden`); an unreachable upstream is
    /// `internal`. A new ID token is verified; userinfo confirms the subject.
    fn refresh_identity(&self, req: RefreshIdentity) -> Result<ExternalIdentity, Error> {
        let up = self.upstream(&req.provider)?;
        if let Some(o) = &up.oauth2 {
            return o.refresh(&self.http, &req);
        }
        let client = up.client(&self.http, "http://127.0.0.1/unused")?;
        let token = client
            .exchange_refresh_token(&RefreshToken::new(req.refresh_token.clone()))
            .map_err(|e| Error::internal(format!("refresh: {e}")))?
            .request(&self.http)
            .map_err(|e| match e {
                RequestTokenError::ServerResponse(r) => {
                    Error::new(ErrorKind::Forbidden, format!("refresh refused: {}", r.error().as_ref()))
                }
                other => Error::internal(format!("refresh failed: {}", error_chain(&other))),
            })?;
        let mut subject = req.subject.clone();
        if let Some(id_token) = token.id_token() {
            // No nonce on a refreshed ID token (OIDC Core §12.2).
            let claims = id_token
                .claims(&client.id_token_verifier(), |_: Option<&Nonce>| Ok(()))
                .map_err(|e| Error::new(ErrorKind::Forbidden, format!("refreshed ID token: {e}")))?;
            subject = claims.subject().as_str().to_string();
        }
        if client.user_info_url().is_some() {
            let info: CoreUserInfoClaims = client
                .user_info(token.access_token().clone(), None)
                .map_err(|e| err("userinfo", e))?
                .request(&self.http)
                .map_err(|e| match e {
                    UserInfoError::Response(status, ..) if matches!(status.as_u16(), 401 | 403) => {
                        Error::new(ErrorKind::Forbidden, format!("userinfo answered {status}"))
                    }
                    other => Error::internal(format!("userinfo failed: {}", error_chain(&other))),
                })?;
            subject = info.subject().as_str().to_string();
        }
        Ok(ExternalIdentity {
            subject,
            refresh_token: Some(token.refresh_token().map(|t| t.secret().clone()).unwrap_or(req.refresh_token)),
            ..Default::default()
        })
    }
}

/// The opaque state the host keeps in a cookie between start and callback.
pub(crate) fn encode_state<T: Serialize>(v: &T) -> Result<String, Error> {
    let bytes = serde_json::to_vec(v).map_err(|e| Error::internal(e.to_string()))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

pub(crate) fn decode_state<T: serde::de::DeserializeOwned>(state: &str) -> Result<T, Error> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(state)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| Error::invalid("the sign-in state is corrupt"))
}

/// The callback's `state` first (constant time): an `error` answer is only
/// the provider's when it belongs to the sign-in this browser started.
pub(crate) fn check_callback(params: &std::collections::BTreeMap<String, String>, csrf: &str) -> Result<(), Error> {
    let returned = params.get("state").map(String::as_str).unwrap_or_default();
    if !bool::from(returned.as_bytes().ct_eq(csrf.as_bytes())) {
        return Err(Error::invalid("the state returned by the provider does not match"));
    }
    if let Some(e) = params.get("error") {
        return Err(Error::new(ErrorKind::Forbidden, format!("the provider refused the sign-in: {e}")));
    }
    Ok(())
}

/// An error with its sources, for the log (reqwest hides the cause otherwise).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

export_plugin!(Oidc);

#[cfg(test)]
mod tests {
    use super::*;

    fn provider(toml_like: serde_json::Value) -> ProviderConfig {
        serde_json::from_value(toml_like).unwrap()
    }

    /// The OpenID presets map the standard claims: Google's documented
    /// userinfo answer (verified e-mail), GitLab's, and Microsoft Entra's
    /// (an `email` without `email_verified`: not taken as verified unless
    /// the operator sets `trust_email`, since Entra lets tenants set it).
    fn userinfo(v: serde_json::Value) -> CoreUserInfoClaims {
        CoreUserInfoClaims::from_json::<std::io::Error>(v.to_string().as_bytes(), None).unwrap()
    }

    #[test]
    fn hosted_openid_userinfo_shapes_map_to_the_profile() {
        let google = userinfo(serde_json::json!({
            "sub": "110169484474386276334", "name": "Jane Doe", "given_name": "Jane", "family_name": "Doe",
            "picture": "https://lh3.googleusercontent.com/a/photo.jpg", "email": "jane@gmail.com",
            "email_verified": true, "locale": "en"
        }));
        let p = profile!(google);
        assert_eq!((p.email.as_deref(), p.email_verified), (Some("jane@gmail.com"), true));
        assert_eq!((p.given_name.as_deref(), p.locale.as_deref()), (Some("Jane"), Some("en")));
        let gitlab = userinfo(serde_json::json!({
            "sub": "1", "name": "Administrator", "nickname": "root", "preferred_username": "root",
            "email": "admin@example.com", "email_verified": true, "groups": ["gitlab-org"]
        }));
        assert!(profile!(gitlab).email_verified);
        let entra = userinfo(serde_json::json!({
            "sub": "OLu859SGc2Sr9ZsqbkG-QbeLgJlb41KcdiPoLYNpSFA", "name": "Mikah Ollenburg",
            "family_name": "Ollenburg", "given_name": "Mikah", "picture": "https://graph.microsoft.com/v1.0/me/photo/$value",
            "email": "mikoll@contoso.com"
        }));
        let p = profile!(entra);
        assert_eq!((p.email.as_deref(), p.email_verified), (Some("mikoll@contoso.com"), false));
    }

    #[test]
    fn presets_fill_in_what_the_operator_left_out() {
        let up = build_upstream(provider(serde_json::json!({
            "id": "gh", "preset": "github", "client_id": "x", "client_secret": "y"
        })))
        .unwrap();
        let o = up.oauth2.expect("github is plain OAuth 2.0");
        assert_eq!(o.configured.token, "https://github.com/login/oauth/access_token");
        assert_eq!(o.emails_endpoint.as_deref(), Some("https://api.github.com/user/emails"));
        assert_eq!(o.scopes, vec!["read:user", "user:email"]);
        assert_eq!(up.config.display_name(), "GitHub");

        let up = build_upstream(provider(serde_json::json!({
            "id": "bill", "preset": "whmcs", "base_url": "https://billing.example.com/", "client_id": "x",
            "display_name": "Our billing"
        })))
        .unwrap();
        let o = up.oauth2.unwrap();
        assert_eq!(o.configured.authorization, "https://billing.example.com/oauth/authorize.php");
        assert_eq!(o.configured.userinfo, "https://billing.example.com/oauth/userinfo.php");
        assert_eq!(up.config.display_name(), "Our billing", "the operator's own name wins");

        let up = build_upstream(provider(
            serde_json::json!({ "preset": "entra", "tenant": "contoso.onmicrosoft.com", "client_id": "x" }),
        ))
        .unwrap();
        assert!(up.oauth2.is_none());
        assert_eq!(up.config.issuer, "https://login.microsoftonline.com/contoso.onmicrosoft.com/v2.0");
        for (bad, why) in [
            (serde_json::json!({ "preset": "whmcs", "client_id": "x" }), "base_url"),
            (serde_json::json!({ "preset": "entra", "client_id": "x" }), "tenant"),
            (serde_json::json!({ "preset": "myspace", "client_id": "x" }), "preset"),
            (
                serde_json::json!({ "kind": "oauth2", "client_id": "x", "authorization_endpoint": "http://evil.example/a",
                                 "token_endpoint": "https://t.example/t", "userinfo_endpoint": "https://u.example/u",
                                 "claims": { "subject": "/id" } }),
                "https",
            ),
            (
                serde_json::json!({ "kind": "oauth2", "client_id": "x", "authorization_endpoint": "https://a.example/a",
                                 "token_endpoint": "https://t.example/t", "userinfo_endpoint": "https://u.example/u" }),
                "subject",
            ),
        ] {
            let e = build_upstream(provider(bad)).err().expect("refused");
            assert!(e.message.contains(why), "{}", e.message);
        }
    }
}
