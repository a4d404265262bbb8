//! The plugin host: loads plugin shared libraries once at start-up (never
//! unloads them), checks their ABI before calling anything, gives them the
//! host services, mounts their routes and dialect aliases, and implements
//! the engine's [`ConnectorHooks`](gatehouse_engine::ConnectorHooks) with
//! their `client_connector` capability.
//!
//! Every call into a plugin is blocking: callers run it on the blocking pool.
//! A plugin that errors or panics fails only the call (the SDK turns panics
//! into error replies); the host logs it and keeps serving.

pub mod federation;
pub mod hooks;
pub mod http;
#[allow(unsafe_code)] // The one audited place the host crosses the plugin ABI.
pub mod loader;
mod services;

use std::ffi::c_void;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use gatehouse_engine::Engine;
use gatehouse_plugin_api::abi::{self, HostVtable};
use gatehouse_plugin_api::messages::{
    plugin_methods, Capability, Error, ErrorKind, HostInfo, InitRequest, Manifest, Reply, SetupInstructions,
    SetupRequest,
};
use serde::de::DeserializeOwned;
use serde::Serialize;

pub use loader::LoadError;

/// The cookie that carries a browser session at Gatehouse.
pub const SESSION_COOKIE: &str = "gatehouse_session";

/// Paths the core serves: no plugin may claim them. A trailing `/` means
/// the whole subtree. Kept by hand (actix cannot list its routes); the
/// test `every_core_route_is_reserved` fails when `http::configure`
/// registers a path this list does not cover.
pub const CORE_PATHS: &[&str] = &[
    "/healthz",
    "/readyz",
    "/metrics",
    "/jwks.json",
    "/.well-known/",
    "/oauth2/",
    "/login",
    "/login/",
    "/logout",
    "/consent",
    "/account",
    "/account/",
    "/admin",
    "/admin/",
    "/setup",
    "/password/",
    "/signup",
    "/verify-email",
    "/verify-email/",
    "/static/",
    "/federation/",
];

/// What the host knows of one plugin, for its services.
pub struct HostCtx {
    pub name: String,
    pub config: serde_json::Value,
    pub info: HostInfo,
    /// Replaced once the engine has its hooks (see [`PluginHost::set_engine`]).
    engine: RwLock<Option<Engine>>,
}

impl HostCtx {
    fn engine(&self) -> Option<Engine> {
        self.engine.read().ok().and_then(|e| e.clone())
    }
}

/// A loaded, initialised plugin.
pub struct LoadedPlugin {
    pub path: PathBuf,
    pub manifest: Manifest,
    pub build: loader::BuildInfo,
    /// Where the operator lets this plugin's routes send browsers, besides
    /// the registered redirect URIs (`redirect_targets` in its configuration).
    pub redirect_targets: Vec<RedirectTarget>,
    opened: loader::Opened,
    ctx: &'static HostCtx,
}

/// One upstream identity provider a plugin offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    /// `[a-z0-9_-]+`: its paths and its identity links.
    pub id: String,
    /// "Sign in with …".
    pub display_name: String,
    /// Declared in `identity_providers` (the plugin is told which one).
    pub multi: bool,
    /// Its first-sign-in rules.
    pub policy: gatehouse_engine::federation::UpstreamPolicy,
}

/// An upstream's first-sign-in rules as its plugin declared them (checked
/// at load: an unknown rule refuses the plugin).
fn policy_of(i: &gatehouse_plugin_api::messages::IdentityProviderInfo) -> gatehouse_engine::federation::UpstreamPolicy {
    gatehouse_engine::federation::UpstreamPolicy {
        first_sign_in: i.first_sign_in.as_deref().and_then(|r| r.parse().ok()).unwrap_or_default(),
        email_domains: i.email_domains.iter().map(|d| d.trim().trim_start_matches('@').to_ascii_lowercase()).collect(),
        group_map: i.group_map.clone(),
    }
}

impl Upstream {
    /// The `provider` field the plugin gets: empty for a single upstream.
    pub fn provider_field(&self) -> String {
        if self.multi {
            self.id.clone()
        } else {
            String::new()
        }
    }
}

/// Why a call into a plugin failed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The plugin answered an error (or panicked: kind `panic`).
    #[error("plugin {plugin} failed: {error}")]
    Plugin { plugin: String, error: Error },
    /// The plugin's reply could not be read.
    #[error("plugin {plugin}: {reason}")]
    Malformed { plugin: String, reason: String },
}

impl LoadedPlugin {
    /// The plugin's capabilities as their wire names (`routes`, `dialect`…).
    pub fn capability_names(&self) -> Vec<String> {
        self.manifest
            .capabilities
            .iter()
            .filter_map(|c| serde_json::to_value(c).ok()?.as_str().map(String::from))
            .collect()
    }

    pub fn name(&self) -> &str {
        &self.manifest.name
    }

    pub fn has(&self, c: Capability) -> bool {
        self.manifest.capabilities.contains(&c)
    }

    /// The upstreams an `identity_provider` plugin signs users in through:
    /// its `identity_providers` (schema 3), or one named after the plugin.
    /// Each is (id, the name users see); the id names its paths
    /// (`/federation/<id>/…`) and its identity links.
    pub fn upstreams(&self) -> Vec<Upstream> {
        if !self.has(Capability::IdentityProvider) {
            return Vec::new();
        }
        if !self.manifest.identity_providers.is_empty() {
            return self
                .manifest
                .identity_providers
                .iter()
                .map(|i| Upstream {
                    id: i.id.clone(),
                    display_name: i.display_name.clone(),
                    multi: true,
                    policy: policy_of(i),
                })
                .collect();
        }
        let display_name = self
            .manifest
            .identity_provider
            .as_ref()
            .map(|i| i.display_name.clone())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| self.name().to_string());
        let policy = self.manifest.identity_provider.as_ref().map(policy_of).unwrap_or_default();
        vec![Upstream { id: self.name().to_string(), display_name, multi: false, policy }]
    }

    /// Calls a plugin method (blocking).
    pub fn call<Req: Serialize + ?Sized, Resp: DeserializeOwned>(
        &self,
        method: &str,
        req: &Req,
    ) -> Result<Resp, CallError> {
        let plugin = self.name().to_string();
        let started = std::time::Instant::now();
        let payload = serde_json::to_vec(req)
            .map_err(|e| CallError::Malformed { plugin: plugin.clone(), reason: e.to_string() })?;
        let out = self
            .opened
            .call::<Reply<Resp>>(method, &payload)
            .map_err(|reason| CallError::Malformed { plugin: plugin.clone(), reason })
            .and_then(|reply| reply.into_result().map_err(|error| CallError::Plugin { plugin: plugin.clone(), error }));
        let outcome = match &out {
            Ok(_) => "ok",
            Err(CallError::Plugin { error, .. }) if error.kind == ErrorKind::Panic => "panic",
            Err(_) => "error",
        };
        metrics::counter!("gatehouse_plugin_calls_total", "plugin" => plugin.clone(), "method" => method.to_string(), "outcome" => outcome)
            .increment(1);
        metrics::histogram!("gatehouse_plugin_call_duration_seconds", "plugin" => plugin)
            .record(started.elapsed().as_secs_f64());
        out
    }
}

/// Why a client's setup instructions could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("client {0} has no connector plugin (register it with --connector NAME)")]
    NoConnector(String),
    #[error("client {client} uses connector plugin {plugin:?}, which the configuration does not load")]
    NotLoaded { client: String, plugin: String },
    #[error("plugin {0} is not a client connector (it lacks the client_connector capability)")]
    NotConnector(String),
    #[error("no plugin named {0:?} is loaded (see `gatehouse plugin list`)")]
    NoPlugin(String),
    #[error(transparent)]
    Call(#[from] CallError),
}

/// Every loaded plugin.
#[derive(Default)]
pub struct PluginHost {
    pub plugins: Vec<Arc<LoadedPlugin>>,
    /// Plugins found but not enabled: they need configuration (name, why).
    pub not_enabled: Vec<NotEnabled>,
}

/// A place the operator lets a plugin's routes redirect browsers to: an
/// exact URL (a query may follow), or every path under a prefix written
/// `https://host/path/*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedirectTarget {
    Exact(String),
    /// The origin and the path prefix (ending in `/`).
    Prefix {
        origin: url::Origin,
        path: String,
    },
}

impl RedirectTarget {
    /// Reads the `redirect_targets` list; every entry must be an https URL
    /// (http only on a loopback host) without a fragment.
    pub fn parse_all(v: &toml::Value) -> Result<Vec<RedirectTarget>, String> {
        let list = v.as_array().ok_or("expected a list of URLs")?;
        list.iter()
            .map(|item| {
                let s = item.as_str().ok_or("expected a list of URLs")?;
                let (base, prefix) = match s.strip_suffix('*') {
                    Some(b) if b.ends_with('/') => (b, true),
                    Some(_) => return Err(format!("{s:?}: `*` may only end a path, after `/`")),
                    None => (s, false),
                };
                gatehouse_core::redirect::validate_web_url(base).map_err(|e| format!("{s:?}: {e}"))?;
                let u = url::Url::parse(base).map_err(|e| format!("{s:?}: {e}"))?;
                if u.fragment().is_some() || (prefix && u.query().is_some()) || base.contains('*') {
                    return Err(format!("{s:?}: no fragment, and no query or other `*` in a prefix"));
                }
                Ok(if prefix {
                    RedirectTarget::Prefix { origin: u.origin(), path: u.path().to_string() }
                } else {
                    RedirectTarget::Exact(s.to_string())
                })
            })
            .collect()
    }

    /// Whether `loc` (an absolute URL a route answered with) is this target.
    /// Prefixes compare the URL as a browser resolves it (dot segments,
    /// percent-encoded ones included), so `…/session/../admin` is outside.
    pub fn admits(&self, loc: &str) -> bool {
        match self {
            RedirectTarget::Exact(t) => gatehouse_core::redirect::is_uri_plus_query(loc, t),
            RedirectTarget::Prefix { origin, path } => url::Url::parse(loc)
                .is_ok_and(|u| u.origin() == *origin && u.path().starts_with(path.as_str()) && u.fragment().is_none()),
        }
    }
}

/// A plugin that was found but lacks the configuration it needs.
#[derive(Debug, Clone)]
pub struct NotEnabled {
    pub name: String,
    pub path: PathBuf,
    /// What to set, in the plugin's words.
    pub reason: String,
}

/// A path a plugin route or alias claims, for conflict checks.
fn claims_overlap(a: &str, b: &str) -> bool {
    let prefix = |p: &str| p.strip_suffix('*').map(str::to_string);
    match (prefix(a), prefix(b)) {
        (None, None) => a == b,
        (Some(pa), None) => b.starts_with(&pa),
        (None, Some(pb)) => a.starts_with(&pb),
        (Some(pa), Some(pb)) => pa.starts_with(&pb) || pb.starts_with(&pa),
    }
}

fn core_conflict(path: &str) -> Option<&'static str> {
    let base = path.strip_suffix('*').unwrap_or(path);
    CORE_PATHS.iter().copied().find(|core| {
        if core.ends_with('/') {
            base.starts_with(core) || core.starts_with(base) && path.ends_with('*')
        } else {
            base == *core || (path.ends_with('*') && core.starts_with(base))
        }
    })
}

/// Checks a declared path: absolute, no query, no pattern characters; `*`
/// only as a trailing `/*`.
fn validate_path(path: &str) -> Result<(), String> {
    let body = path.strip_suffix("/*").unwrap_or(path);
    let ok = path.starts_with('/')
        && !body.contains('*')
        && !path.contains("..")
        && !path.contains("//")
        && path.chars().all(|c| c.is_ascii_graphic() && !matches!(c, '?' | '#' | '{' | '}' | '%' | '\\'));
    if ok {
        Ok(())
    } else {
        Err(format!("invalid path {path:?}: use an absolute path such as /app/endpoint.php or a prefix such as /app/*"))
    }
}

/// The content types a route's error body may declare.
pub const ERROR_CONTENT_TYPES: &[&str] = &["text/plain", "text/html", "application/xml", "application/json"];

fn validate_manifest(m: &Manifest, declared_name: &str) -> Result<(), String> {
    if m.name != declared_name {
        return Err(format!("manifest name {:?} differs from the declaration's {declared_name:?}", m.name));
    }
    if m.name.is_empty()
        || !m.name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
    {
        return Err(format!("plugin name {:?} must match [a-z0-9_-]+", m.name));
    }
    for r in &m.routes {
        validate_path(&r.path)?;
        match (&r.error_body, r.error_content_type.as_deref()) {
            (None | Some(serde_json::Value::Object(_)), None) => {}
            (Some(serde_json::Value::String(_)), Some(ct)) if ERROR_CONTENT_TYPES.contains(&ct) => {}
            (_, Some(ct)) if !ERROR_CONTENT_TYPES.contains(&ct) => {
                return Err(format!(
                    "route {}: error_content_type {ct:?} is not one of {ERROR_CONTENT_TYPES:?}",
                    r.path
                ));
            }
            _ => {
                return Err(format!(
                    "route {}: error_body is a JSON object, or a string with error_content_type",
                    r.path
                ))
            }
        }
        for meth in &r.methods {
            actix_web::http::Method::from_bytes(meth.as_bytes())
                .map_err(|_| format!("route {}: invalid method {meth:?}", r.path))?;
        }
    }
    for a in &m.aliases {
        validate_path(&a.path)?;
        if a.path.ends_with('*') {
            return Err(format!("alias {}: aliases are exact paths", a.path));
        }
    }
    if !m.routes.is_empty() && !m.capabilities.contains(&Capability::Routes) {
        return Err("declares routes without the routes capability".into());
    }
    if !m.aliases.is_empty() && !m.capabilities.contains(&Capability::Dialect) {
        return Err("declares aliases without the dialect capability".into());
    }
    if let Some(t) = &m.dialect {
        http::dialect_from_table("plugin", t)?;
    }
    Ok(())
}

impl PluginHost {
    /// No plugins.
    pub fn empty() -> PluginHost {
        PluginHost::default()
    }

    /// Loads every plugin the configuration names. Without `skip_broken`
    /// the first failure is returned; with it, the failure is logged and the
    /// plugin left out.
    pub fn load(cfg: &crate::config::Config, engine: &Engine, skip_broken: bool) -> Result<PluginHost, LoadError> {
        let mut host = PluginHost::empty();
        for (path, config) in loader::candidates(cfg)? {
            match host.load_one(cfg, engine, &path, config) {
                Ok(p) => {
                    tracing::info!(
                        plugin = %p.name(), version = %p.manifest.version, path = %path.display(),
                        routes = p.manifest.routes.len(), aliases = p.manifest.aliases.len(),
                        "plugin loaded"
                    );
                    host.plugins.push(Arc::new(p));
                }
                Err(LoadError::NotConfigured { name, reason, .. }) => {
                    tracing::warn!(plugin = %name, path = %path.display(), "plugin {name} not enabled: {reason}");
                    host.not_enabled.push(NotEnabled { name, path, reason });
                }
                Err(e) if skip_broken => tracing::error!("{e}; serving without it (--skip-broken-plugins)"),
                Err(e) => return Err(e),
            }
        }
        Ok(host)
    }

    fn load_one(
        &self,
        cfg: &crate::config::Config,
        engine: &Engine,
        path: &Path,
        config: toml::Value,
    ) -> Result<LoadedPlugin, LoadError> {
        let opened = loader::open(path)?;
        let build = opened.build_info();
        let p = loader::show(path);
        if let Some(other) = self.plugins.iter().find(|o| o.name() == build.name) {
            return Err(LoadError::Conflict {
                path: p,
                name: build.name.clone(),
                route: format!("the name {:?}", build.name),
                other: format!("plugin {} ({})", other.name(), other.path.display()),
            });
        }
        // A plugin found in plugins_dir or by default takes its table from
        // `[plugin_config.<name>]`.
        let config = match &config {
            toml::Value::Table(t) if t.is_empty() => cfg.plugin_config.get(&build.name).cloned().unwrap_or(config),
            _ => config,
        };
        // `redirect_targets` is the host's key: the plugin never sees it.
        let mut config = config;
        let targets = match config.as_table_mut().and_then(|t| t.remove("redirect_targets")) {
            None => Vec::new(),
            Some(v) => RedirectTarget::parse_all(&v).map_err(|reason| LoadError::RedirectTargets {
                path: loader::show(path),
                name: build.name.clone(),
                reason,
            })?,
        };
        let config = serde_json::to_value(&config).unwrap_or_default();
        let info = HostInfo {
            issuer: cfg.issuer(),
            client_area_url: cfg.client_area_url(),
            plugin_name: build.name.clone(),
            host_version: env!("CARGO_PKG_VERSION").into(),
            abi_version: abi::ABI_VERSION,
            schema_version: abi::SCHEMA_VERSION,
        };
        let ctx: &'static HostCtx = Box::leak(Box::new(HostCtx {
            name: build.name.clone(),
            config: config.clone(),
            info: info.clone(),
            engine: RwLock::new(Some(engine.clone())),
        }));
        let vtable: &'static HostVtable = Box::leak(Box::new(HostVtable {
            abi_version: abi::ABI_VERSION,
            ctx: ctx as *const HostCtx as *const c_void,
            call: loader::host_call,
            free_buffer: abi::free_own_buffer,
        }));
        let manifest = opened.init(path, vtable, &InitRequest { config, host: info })?;
        validate_manifest(&manifest, &build.name).map_err(|reason| LoadError::BadManifest {
            path: p.clone(),
            name: build.name.clone(),
            reason,
        })?;
        self.check_conflicts(&p, &manifest)?;
        self.check_upstreams(&p, &manifest)?;
        Ok(LoadedPlugin { path: path.to_path_buf(), manifest, build, redirect_targets: targets, opened, ctx })
    }

    /// Upstream ids are `[a-z0-9_-]+` and unique across plugins (they name
    /// paths and identity links).
    fn check_upstreams(&self, p: &str, m: &Manifest) -> Result<(), LoadError> {
        for i in m.identity_providers.iter().chain(m.identity_provider.iter()) {
            if let Some(Err(reason)) =
                i.first_sign_in.as_deref().map(|r| r.parse::<gatehouse_engine::federation::FirstSignIn>())
            {
                return Err(LoadError::BadManifest { path: p.to_string(), name: m.name.clone(), reason });
            }
        }
        let ids: Vec<&str> = m.identity_providers.iter().map(|i| i.id.as_str()).collect();
        for (n, id) in ids.iter().enumerate() {
            let ok = !id.is_empty()
                && id.len() <= 40
                && id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
            if !ok || ids[..n].contains(id) {
                return Err(LoadError::BadManifest {
                    path: p.to_string(),
                    name: m.name.clone(),
                    reason: format!("identity provider id {id:?}: expected a unique [a-z0-9_-]+ of at most 40"),
                });
            }
            if let Some(other) = self.plugins.iter().find(|o| o.upstreams().iter().any(|u| u.id == *id)) {
                return Err(LoadError::Conflict {
                    path: p.to_string(),
                    name: m.name.clone(),
                    route: format!("/federation/{id}/"),
                    other: format!("plugin {}", other.name()),
                });
            }
        }
        Ok(())
    }

    /// The plugin and upstream an upstream id names.
    pub fn upstream(&self, id: &str) -> Option<(Arc<LoadedPlugin>, Upstream)> {
        self.plugins.iter().find_map(|p| p.upstreams().into_iter().find(|u| u.id == id).map(|u| (p.clone(), u)))
    }

    fn check_conflicts(&self, p: &str, m: &Manifest) -> Result<(), LoadError> {
        let mine: Vec<&str> =
            m.routes.iter().map(|r| r.path.as_str()).chain(m.aliases.iter().map(|a| a.path.as_str())).collect();
        let conflict = |route: &str, other: String| LoadError::Conflict {
            path: p.to_string(),
            name: m.name.clone(),
            route: route.to_string(),
            other,
        };
        for (i, path) in mine.iter().enumerate() {
            if let Some(core) = core_conflict(path) {
                return Err(conflict(path, format!("the core ({core})")));
            }
            if mine[..i].iter().any(|q| claims_overlap(path, q)) {
                return Err(conflict(path, "the same plugin (declared twice)".into()));
            }
            for other in &self.plugins {
                let theirs =
                    other.manifest.routes.iter().map(|r| &r.path).chain(other.manifest.aliases.iter().map(|a| &a.path));
                for q in theirs {
                    if claims_overlap(path, q) {
                        return Err(conflict(path, format!("plugin {} ({})", other.name(), other.path.display())));
                    }
                }
            }
        }
        Ok(())
    }

    /// Hands the final engine (with hooks installed) to the host services.
    pub fn set_engine(&self, engine: &Engine) {
        for p in &self.plugins {
            if let Ok(mut e) = p.ctx.engine.write() {
                *e = Some(engine.clone());
            }
        }
    }

    /// The engine the plugins' services use (once [`Self::set_engine`] ran).
    pub fn engine(&self) -> Option<Engine> {
        self.plugins.first().and_then(|p| p.ctx.engine())
    }

    /// The plugin with this name.
    pub fn get(&self, name: &str) -> Option<&Arc<LoadedPlugin>> {
        self.plugins.iter().find(|p| p.name() == name)
    }

    /// The client's connector plugin, checked to be loaded and a connector.
    pub fn connector_of(&self, client: &gatehouse_engine::model::Client) -> Result<&Arc<LoadedPlugin>, SetupError> {
        let name = client.connector.as_deref().ok_or_else(|| SetupError::NoConnector(client.client_id.clone()))?;
        let plugin = self
            .get(name)
            .ok_or_else(|| SetupError::NotLoaded { client: client.client_id.clone(), plugin: name.to_string() })?;
        if !plugin.has(Capability::ClientConnector) {
            return Err(SetupError::NotConnector(name.to_string()));
        }
        Ok(plugin)
    }

    /// What to enter in the client app to connect it (its connector's
    /// `setup_instructions`). `secret` only right after creation or a reset:
    /// it is never stored, so it cannot be shown later. Blocking.
    pub fn setup_instructions(
        &self,
        client: &gatehouse_engine::model::Client,
        issuer: &str,
        secret: Option<String>,
    ) -> Result<SetupInstructions, SetupError> {
        let plugin = self.connector_of(client)?;
        let req = SetupRequest {
            client: services::client(client.clone()),
            client_secret: secret,
            issuer: issuer.to_string(),
        };
        Ok(plugin.call(plugin_methods::SETUP_INSTRUCTIONS, &req)?)
    }

    /// A connector's instructions for an app it serves without an OAuth
    /// client (DiscourseConnect): the request's client is empty.
    pub fn plugin_setup_instructions(&self, name: &str, issuer: &str) -> Result<SetupInstructions, SetupError> {
        let plugin = self.get(name).ok_or_else(|| SetupError::NoPlugin(name.to_string()))?;
        if !plugin.has(Capability::ClientConnector) {
            return Err(SetupError::NotConnector(name.to_string()));
        }
        let req = SetupRequest { client: Default::default(), client_secret: None, issuer: issuer.to_string() };
        Ok(plugin.call(plugin_methods::SETUP_INSTRUCTIONS, &req)?)
    }
}

/// `plugin check`: opens one file and describes it without initialising.
pub fn check_file(path: &Path) -> Result<(loader::BuildInfo, Manifest), LoadError> {
    let opened = loader::open(path)?;
    let build = opened.build_info();
    let manifest = opened.describe(path)?;
    validate_manifest(&manifest, &build.name).map_err(|reason| LoadError::BadManifest {
        path: loader::show(path),
        name: build.name.clone(),
        reason,
    })?;
    Ok((build, manifest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_claims() {
        assert!(claims_overlap("/a/b", "/a/b"));
        assert!(!claims_overlap("/a/b", "/a/c"));
        assert!(claims_overlap("/a/*", "/a/b"));
        assert!(claims_overlap("/a/b/*", "/a/*"));
        assert!(!claims_overlap("/a/*", "/b/*"));
    }

    #[test]
    fn core_paths_are_reserved() {
        assert!(core_conflict("/healthz").is_some());
        assert!(core_conflict("/oauth2/token").is_some());
        assert!(core_conflict("/oauth2/*").is_some());
        assert!(core_conflict("/*").is_some());
        assert!(core_conflict("/oauth/token.php").is_none());
        assert!(core_conflict("/includes/api.php").is_none());
    }

    /// The route patterns of the app `http::configure` builds. actix has no
    /// public way to list them, so this reads them from the root resource
    /// map's `Debug` form (`Single("/path")` / `List([..])`).
    async fn core_route_patterns() -> Vec<String> {
        use actix_web::{test, web, App, HttpRequest, HttpResponse};
        let app = test::init_service(App::new().configure(crate::http::configure).default_service(web::to(
            |req: HttpRequest| async move { HttpResponse::Ok().body(format!("{:?}", req.resource_map())) },
        )))
        .await;
        let map = test::call_and_read_body(&app, test::TestRequest::get().uri("/__no_such_route__").to_request()).await;
        let map = String::from_utf8(map.to_vec()).unwrap();
        let mut out = Vec::new();
        let mut rest = map.as_str();
        while let Some(i) = rest.find("patterns: ") {
            rest = &rest[i + "patterns: ".len()..];
            let end = rest.find(')').unwrap();
            for quoted in rest[..end].split('"').skip(1).step_by(2) {
                out.push(quoted.to_string());
            }
        }
        out.retain(|p| !p.is_empty());
        out
    }

    #[actix_web::test]
    async fn every_core_route_is_reserved() {
        let patterns = core_route_patterns().await;
        // The reader still works: the standard endpoints are found.
        assert!(patterns.iter().any(|p| p == "/oauth2/token"), "{patterns:?}");
        assert!(patterns.iter().any(|p| p == "/healthz"), "{patterns:?}");
        for p in &patterns {
            assert!(core_conflict(p).is_some(), "core route {p} is missing from CORE_PATHS");
        }
    }

    #[test]
    fn a_text_error_body_needs_an_allowed_content_type() {
        let manifest = |body: serde_json::Value, ct: Option<&str>| Manifest {
            name: "x".into(),
            capabilities: vec![Capability::Routes],
            routes: vec![gatehouse_plugin_api::messages::RouteDecl {
                error_body: Some(body),
                error_content_type: ct.map(String::from),
                ..gatehouse_plugin_api::messages::RouteDecl::new(&["GET"], "/x/y")
            }],
            ..Default::default()
        };
        assert!(validate_manifest(&manifest(serde_json::json!("<p>x</p>"), Some("text/html")), "x").is_ok());
        assert!(validate_manifest(&manifest(serde_json::json!({"e": 1}), None), "x").is_ok());
        assert!(validate_manifest(&manifest(serde_json::json!("<p>x</p>"), None), "x").is_err());
        assert!(validate_manifest(&manifest(serde_json::json!("x"), Some("image/svg+xml")), "x").is_err());
        assert!(validate_manifest(&manifest(serde_json::json!(42), Some("text/plain")), "x").is_err());
    }

    #[test]
    fn declared_paths_are_validated() {
        assert!(validate_path("/oauth/token.php").is_ok());
        assert!(validate_path("/x/*").is_ok());
        assert!(validate_path("x").is_err());
        assert!(validate_path("/x/{id}").is_err());
        assert!(validate_path("/x*/y").is_err());
        assert!(validate_path("/a?b").is_err());
    }
}
