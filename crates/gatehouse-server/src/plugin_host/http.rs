//! Plugins on the HTTP surface: their routes (raw HTTP in and out, run on
//! the blocking pool, answers validated) and their dialect aliases (engine
//! endpoints under other paths, served by `serve_endpoint`).

use std::sync::Arc;

use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use gatehouse_core::{Dialect, OAuthErrorCode};
use gatehouse_engine::Engine;
use gatehouse_plugin_api::messages::{self as msg, plugin_methods, AliasDecl, DialectTable, EngineEndpoint, RouteDecl};

use super::{CallError, LoadedPlugin, PluginHost, SESSION_COOKIE};
use crate::config::Config;
use crate::http::oauth::{serve_endpoint, Endpoint};
use crate::http::State;

/// One plugin route, as mounted.
pub struct RouteTarget {
    pub plugin: Arc<LoadedPlugin>,
    pub decl: RouteDecl,
}

/// One alias, as mounted.
struct AliasTarget {
    endpoint: Endpoint,
    dialect: Arc<Dialect>,
}

/// Mounts every plugin's routes and aliases.
pub fn mount(cfg: &mut web::ServiceConfig, host: &PluginHost) {
    for p in &host.plugins {
        for r in &p.manifest.routes {
            let target = Arc::new(RouteTarget { plugin: p.clone(), decl: r.clone() });
            let handler =
                move |req: HttpRequest, body: web::Payload, state: State| serve_route(target.clone(), req, body, state);
            let mut res = web::resource(actix_pattern(&r.path));
            if r.methods.is_empty() {
                res = res.route(web::route().to(handler));
            } else {
                for m in &r.methods {
                    let method = Method::from_bytes(m.as_bytes()).unwrap_or(Method::GET);
                    res = res.route(web::method(method).to(handler.clone()));
                }
            }
            cfg.service(res);
        }
        if p.has(msg::Capability::IdentityProvider) {
            super::federation::mount(cfg, p);
        }
        let dialect = Arc::new(dialect_of(p));
        for a in &p.manifest.aliases {
            cfg.service(alias_resource(a, dialect.clone()));
        }
    }
}

fn alias_resource(a: &AliasDecl, dialect: Arc<Dialect>) -> actix_web::Resource {
    let endpoint = endpoint(a.endpoint);
    let target = Arc::new(AliasTarget { endpoint, dialect });
    let handler = move |req: HttpRequest, body: Bytes, state: State| {
        let t = target.clone();
        async move { serve_endpoint(t.endpoint, t.dialect.clone(), req, body, state).await }
    };
    // Bodies up to 1 MiB, as on the standard paths (the engine answers
    // oversized ones in OAuth format).
    let mut res = web::resource(a.path.clone()).app_data(web::PayloadConfig::new(1 << 20));
    if a.methods.is_empty() {
        return res.route(web::route().to(handler));
    }
    for m in &a.methods {
        let method = Method::from_bytes(m.as_bytes()).unwrap_or(Method::GET);
        res = res.route(web::method(method).to(handler.clone()));
    }
    let allowed = a.methods.join(", ");
    res.default_service(web::to(move || {
        let allowed = allowed.clone();
        async move { method_not_allowed(endpoint, &allowed) }
    }))
}

/// 405 in the OAuth error format (the token endpoint's text is the one
/// OAuth server libraries send).
fn method_not_allowed(endpoint: Endpoint, allowed: &str) -> HttpResponse {
    let text = if endpoint == Endpoint::Token {
        "The request method must be POST when requesting an access token".to_string()
    } else {
        format!("The request method must be {allowed}")
    };
    let mut r = crate::http::json_error(StatusCode::METHOD_NOT_ALLOWED, "invalid_request", &text);
    if let Ok(v) = HeaderValue::from_str(allowed) {
        r.headers_mut().insert(actix_web::http::header::ALLOW, v);
    }
    r
}

fn endpoint(e: EngineEndpoint) -> Endpoint {
    match e {
        EngineEndpoint::Discovery => Endpoint::Discovery,
        EngineEndpoint::Jwks => Endpoint::Jwks,
        EngineEndpoint::Authorize => Endpoint::Authorize,
        EngineEndpoint::Token => Endpoint::Token,
        EngineEndpoint::Userinfo => Endpoint::Userinfo,
        EngineEndpoint::Sso => Endpoint::Sso,
        EngineEndpoint::Revoke => Endpoint::Revoke,
        EngineEndpoint::Introspect => Endpoint::Introspect,
        EngineEndpoint::Logout => Endpoint::Logout,
    }
}

/// A plugin's dialect table as the engine's [`Dialect`]: field by field
/// (no `..`), so a field added on either side is a compile error here; an
/// absent field keeps the standard behaviour ([`Dialect::standard`], the one
/// place the defaults live). Checked when the plugin loads.
pub fn dialect_from_table(plugin: &str, t: &DialectTable) -> Result<Dialect, String> {
    let DialectTable {
        name,
        require_state,
        default_scope,
        code_ttl,
        access_ttl,
        consent_denied_error,
        pre_redirect_errors_as_json,
        basic_auth_failure_status,
        refuse_unknown_scopes,
    } = t;
    let std = Dialect::standard();
    let consent_denied_error = match consent_denied_error.as_deref() {
        None => std.consent_denied_error,
        Some(code) => code.parse::<OAuthErrorCode>().map_err(|e| format!("dialect consent_denied_error: {e}"))?,
    };
    for (what, ttl) in [("code_ttl", code_ttl), ("access_ttl", access_ttl)] {
        if ttl.is_some_and(|s| s <= 0) {
            return Err(format!("dialect {what}: must be a positive number of seconds"));
        }
    }
    if basic_auth_failure_status.is_some_and(|s| s != 400 && s != 401) {
        return Err("dialect basic_auth_failure_status: must be 400 or 401".into());
    }
    Ok(Dialect {
        name: name.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| plugin.to_string()),
        require_state: require_state.unwrap_or(std.require_state),
        default_scope: default_scope.clone().or(std.default_scope),
        code_ttl: code_ttl.or(std.code_ttl),
        access_ttl: access_ttl.or(std.access_ttl),
        consent_denied_error,
        pre_redirect_errors_as_json: pre_redirect_errors_as_json.unwrap_or(std.pre_redirect_errors_as_json),
        basic_auth_failure_status: basic_auth_failure_status.unwrap_or(std.basic_auth_failure_status),
        refuse_unknown_scopes: refuse_unknown_scopes.unwrap_or(std.refuse_unknown_scopes),
        endpoint_paths: std.endpoint_paths,
    })
}

/// The plugin's dialect (validated at load) with its aliases' paths.
fn dialect_of(p: &LoadedPlugin) -> Dialect {
    let mut d = match &p.manifest.dialect {
        Some(t) => dialect_from_table(p.name(), t).unwrap_or_else(|_| Dialect::standard()),
        None => Dialect { name: p.name().to_string(), ..Dialect::standard() },
    };
    // The aliases are the dialect's surface: discovery and SSO redirects
    // served under them point at them (the first alias of an endpoint wins).
    for a in &p.manifest.aliases {
        d.endpoint_paths.entry(endpoint(a.endpoint)).or_insert_with(|| a.path.clone());
    }
    d
}

/// `/x/*` → `/x/{tail:.*}`; exact paths as they are.
fn actix_pattern(path: &str) -> String {
    match path.strip_suffix('*') {
        Some(prefix) => format!("{prefix}{{tail:.*}}"),
        None => path.to_string(),
    }
}

/// The request as the plugin sees it.
pub fn to_message(req: &HttpRequest, body: &[u8]) -> msg::HttpRequest {
    let (body, body_base64) = match std::str::from_utf8(body) {
        Ok(s) => (s.to_string(), false),
        Err(_) => (gatehouse_plugin_api::form::base64_encode(body), true),
    };
    msg::HttpRequest {
        method: req.method().to_string(),
        path: req.path().to_string(),
        query: req.query_string().to_string(),
        headers: req
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect(),
        body,
        body_base64,
        // The client's address under the `trusted_proxies` rule, as the core sees it.
        peer_addr: Some(crate::http::browser::peer_ip(req)).filter(|ip| !ip.is_empty()),
        request_id: crate::http::request_id::current(),
        user: None,
    }
}

/// The host's own cookies are never a plugin's business (it learns who is
/// signed in from `HttpRequest::user`): they are cut out of `Cookie`.
fn without_host_cookies(mut message: msg::HttpRequest) -> msg::HttpRequest {
    use crate::http::browser::{CSRF_COOKIE, SESSION_COOKIE};
    message.headers = message
        .headers
        .into_iter()
        .filter_map(|(k, v)| {
            if k != "cookie" {
                return Some((k, v));
            }
            let kept: Vec<&str> = v
                .split(';')
                .map(str::trim)
                .filter(|c| {
                    let name = c.split('=').next().unwrap_or("").trim();
                    !c.is_empty() && name != SESSION_COOKIE && name != CSRF_COOKIE
                })
                .collect();
            (!kept.is_empty()).then(|| (k, kept.join("; ")))
        })
        .collect();
    message
}

/// The member signed in to this browser, as a route sees them.
fn route_user(
    session: &gatehouse_engine::model::Session,
    user: &gatehouse_engine::model::User,
    now: i64,
) -> msg::RouteUser {
    msg::RouteUser {
        id: user.id,
        uuid: user.uuid.clone(),
        email: user.email.clone(),
        email_verified: user.email_verified,
        name: user.display_name.clone(),
        status: user.status.to_string(),
        allow_sso: user.allow_sso,
        session_id: session.id,
        session_age: (now - session.auth_time).max(0),
        signed_in_via: session.via.clone(),
        // The RFC 8176 value of the second factor this session used (`otp`
        // for an authenticator app or recovery code, `hwk` for a passkey).
        second_factor: session.used_second_factor().then(|| {
            let amr = session.amr_values();
            if amr.iter().any(|a| a == "hwk") { "hwk" } else { "otp" }.to_string()
        }),
        groups: Vec::new(),
    }
}

/// A plugin answer that passed validation (Send, unlike `HttpResponse`).
#[derive(Debug)]
pub struct Validated {
    pub status: StatusCode,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Vec<u8>,
}

impl Validated {
    pub fn into_response(self) -> HttpResponse {
        let mut r = HttpResponse::build(self.status);
        for (k, v) in self.headers {
            r.append_header((k, v));
        }
        r.body(self.body)
    }
}

/// Why a plugin route failed; every variant fails the one request.
#[derive(Debug, thiserror::Error)]
pub enum RouteFailure {
    #[error(transparent)]
    Call(#[from] CallError),
    #[error("plugin {plugin} returned an invalid response: {reason}")]
    Invalid { plugin: String, reason: String },
    #[error("plugin {plugin} asked for a session the host could not start: {reason}")]
    Session { plugin: String, reason: String },
}

/// Reads a route's body up to [`msg::MAX_ROUTE_BODY`]; `None` when larger.
async fn read_body(mut payload: web::Payload) -> Result<Option<Vec<u8>>, actix_web::Error> {
    use futures_util::StreamExt;
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk?;
        if body.len() + chunk.len() > msg::MAX_ROUTE_BODY {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body))
}

async fn serve_route(t: Arc<RouteTarget>, req: HttpRequest, payload: web::Payload, state: State) -> HttpResponse {
    let body = match read_body(payload).await {
        Ok(Some(b)) => b,
        Ok(None) => return too_large(&t.decl),
        Err(e) => return crate::http::json_error(StatusCode::BAD_REQUEST, "invalid_request", &e.to_string()),
    };
    let mut message = without_host_cookies(to_message(&req, &body));
    let session = match crate::http::browser::current_session(&req, &state).await {
        Ok(s) => s.filter(|(_, u)| u.status().may_sign_in()),
        Err(e) => return crate::http::internal_error(e),
    };
    let now = state.engine.now();
    let fresh = |s: &gatehouse_engine::model::Session| t.decl.max_age.is_none_or(|m| now - s.auth_time <= m);
    match &session {
        Some((s, u)) if fresh(s) => {
            let (engine, uid) = (state.engine.clone(), u.id);
            let groups = match crate::http::blocking(move || engine.groups_of_user(uid)).await {
                Ok(Ok(g)) => g,
                Ok(Err(e)) => return crate::http::internal_error(e),
                Err(e) => return crate::http::internal_error(e),
            };
            message.user = Some(msg::RouteUser { groups, ..route_user(s, u, now) })
        }
        _ if t.decl.requires_sign_in => {
            // Sign in first, then back to this very URL.
            let back = match req.query_string() {
                "" => req.path().to_string(),
                q => format!("{}?{q}", req.path()),
            };
            let login = format!(
                "/login?return_to={}",
                url::form_urlencoded::byte_serialize(back.as_bytes()).collect::<String>()
            );
            return HttpResponse::SeeOther()
                .insert_header(("Location", login))
                .insert_header(("Cache-Control", "no-store"))
                .finish();
        }
        _ => {}
    }
    let span = tracing::Span::current();
    let (t2, st) = (t.clone(), state.clone());
    let result = {
        let caller = crate::http::request_id::caller();
        web::block(move || {
            crate::http::in_request(caller, || {
                let _in_request = span.enter();
                route_blocking(&t2.plugin, &st.engine, &st.config, message)
            })
        })
        .await
    };
    match result {
        Ok(Ok(v)) => v.into_response(),
        Ok(Err(e)) => failure(&t.decl, e),
        Err(e) => crate::http::internal_error(format!("plugin {} route {}: {e}", t.plugin.name(), t.decl.path)),
    }
}

/// The 413 for a body over the limit: the route's declared format, else
/// the host's JSON.
fn too_large(decl: &RouteDecl) -> HttpResponse {
    let mut r = match &decl.too_large_body {
        Some(serde_json::Value::Object(obj)) => {
            let mut body = obj.clone();
            body.insert("request_id".into(), crate::http::request_id::current().into());
            HttpResponse::PayloadTooLarge().json(body)
        }
        _ => crate::http::json_error(StatusCode::PAYLOAD_TOO_LARGE, "invalid_request", "The request body is too large"),
    };
    r.headers_mut().insert(actix_web::http::header::CONNECTION, HeaderValue::from_static("close"));
    r
}

/// The 500 for a failed plugin route: the route's own error format when it
/// declared one, else the host's; both carry the request id.
fn failure(decl: &RouteDecl, e: RouteFailure) -> HttpResponse {
    match &decl.error_body {
        Some(serde_json::Value::Object(obj)) => {
            let rid = crate::http::request_id::current();
            tracing::error!(error = %e, route = %decl.path, "plugin route failed");
            let mut body = obj.clone();
            body.insert("request_id".into(), rid.into());
            HttpResponse::InternalServerError().insert_header(("Cache-Control", "no-store")).json(body)
        }
        Some(serde_json::Value::String(text)) if decl.error_content_type.is_some() => {
            let rid = crate::http::request_id::current();
            tracing::error!(error = %e, route = %decl.path, "plugin route failed");
            let ct = decl.error_content_type.as_deref().unwrap_or("text/plain");
            HttpResponse::InternalServerError()
                .insert_header(("Cache-Control", "no-store"))
                .content_type(format!("{ct}; charset=utf-8"))
                .body(text.replace("{request_id}", &rid))
        }
        _ => crate::http::internal_error(format!("{e} (route {})", decl.path)),
    }
}

/// Calls the plugin, validates its answer, starts a session if it asked.
/// Blocking: run it on the blocking pool.
pub fn route_blocking(
    plugin: &LoadedPlugin,
    engine: &Engine,
    config: &Config,
    message: msg::HttpRequest,
) -> Result<Validated, RouteFailure> {
    let peer = message.peer_addr.clone().unwrap_or_default();
    let user_agent = message.header("user-agent").unwrap_or_default().to_string();
    let resp: msg::HttpResponse = plugin.call(plugin_methods::ROUTE, &message)?;
    let invalid = |reason: String| RouteFailure::Invalid { plugin: plugin.name().to_string(), reason };
    let mut v = validate(&resp, engine, config, &plugin.redirect_targets).map_err(invalid)?;
    if let Some(s) = &resp.start_session {
        let session = super::services::start_session(
            engine,
            &msg::StartSession { user_id: s.user_id, via: s.via.clone(), ip: peer, user_agent },
        )
        .map_err(|e| RouteFailure::Session { plugin: plugin.name().to_string(), reason: e.message })?;
        let secure = if config.issuer().starts_with("https://") { "; Secure" } else { "" };
        let max_age = (session.expires_at - gatehouse_core::time::now()).max(0);
        let cookie = format!(
            "{}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}",
            session.cookie_name, session.cookie_value
        );
        let value = HeaderValue::from_str(&cookie).map_err(|e| invalid(e.to_string()))?;
        v.headers.push((actix_web::http::header::SET_COOKIE, value));
    }
    Ok(v)
}

/// Headers a plugin may not set: the host frames the response and owns the
/// request id and the session cookie.
const FORBIDDEN_HEADERS: &[&str] = &[
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "upgrade",
    "te",
    "trailer",
    "proxy-connection",
    "x-request-id",
];

/// Checks a plugin's answer: status, headers, `Location`, body encoding.
pub fn validate(
    resp: &msg::HttpResponse,
    engine: &Engine,
    config: &Config,
    targets: &[super::RedirectTarget],
) -> Result<Validated, String> {
    if !(200..=599).contains(&resp.status) {
        return Err(format!("status {} is outside 200..=599", resp.status));
    }
    let status = StatusCode::from_u16(resp.status).map_err(|_| format!("status {} is not valid", resp.status))?;
    let mut headers = Vec::with_capacity(resp.headers.len());
    for (k, v) in &resp.headers {
        let name = HeaderName::from_bytes(k.as_bytes()).map_err(|_| format!("header name {k:?} is not well-formed"))?;
        let value = HeaderValue::from_str(v).map_err(|_| format!("header {k}: value {v:?} is not well-formed"))?;
        if FORBIDDEN_HEADERS.contains(&name.as_str()) {
            return Err(format!("header {k} is set by the host, not by plugins"));
        }
        if name == actix_web::http::header::SET_COOKIE && v.trim_start().starts_with(&format!("{SESSION_COOKIE}=")) {
            return Err("the session cookie is set through start_session, not by hand".into());
        }
        if name == actix_web::http::header::LOCATION {
            check_location(v, engine, config, targets)?;
        }
        headers.push((name, value));
    }
    let body = if resp.body_base64 {
        gatehouse_plugin_api::form::base64_decode(&resp.body).ok_or("the body is flagged base64 but is not")?
    } else {
        resp.body.clone().into_bytes()
    };
    Ok(Validated { status, headers, body })
}

/// A redirect target must be relative, or under the issuer or the client
/// area, or one of the plugin's configured `redirect_targets`, or a
/// registered redirect URI (plus a query).
fn check_location(
    loc: &str,
    engine: &Engine,
    config: &Config,
    targets: &[super::RedirectTarget],
) -> Result<(), String> {
    let refuse = || Err(format!("redirect target {loc:?} is neither relative nor registered"));
    if loc.contains('\\') || loc.starts_with("//") {
        return refuse();
    }
    match url::Url::parse(loc) {
        Err(url::ParseError::RelativeUrlWithoutBase) => return Ok(()),
        Err(_) => return refuse(),
        Ok(u) if !matches!(u.scheme(), "http" | "https") => return refuse(),
        Ok(_) => {}
    }
    let under =
        |base: &str| loc == base || loc.starts_with(&format!("{base}/")) || loc.starts_with(&format!("{base}?"));
    if under(&config.issuer()) || under(&config.client_area_url()) || targets.iter().any(|t| t.admits(loc)) {
        return Ok(());
    }
    let registered =
        engine.is_registered_redirect(loc).map_err(|e| format!("cannot check the redirect target: {e}"))?;
    if registered {
        Ok(())
    } else {
        refuse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_targets_admit_exact_urls_and_prefixes_as_browsers_resolve_them() {
        use super::super::RedirectTarget;
        let v: toml::Value = toml::from_str(
            "t = [\"https://forum.example.com/session/sso_login\", \"https://forum.example.com/return/*\"]",
        )
        .unwrap();
        let targets = RedirectTarget::parse_all(&v["t"]).unwrap();
        let ok = |loc: &str| targets.iter().any(|t| t.admits(loc));
        assert!(ok("https://forum.example.com/session/sso_login"));
        assert!(ok("https://forum.example.com/session/sso_login?sso=abc&sig=def"));
        assert!(!ok("https://forum.example.com/session/sso_login/more"));
        assert!(ok("https://forum.example.com/return/t/123"));
        assert!(!ok("https://forum.example.com/return/../admin"));
        assert!(!ok("https://forum.example.com/return/%2e%2e/admin"));
        assert!(!ok("https://forum.example.com.evil.example/return/x"));
        assert!(!ok("http://forum.example.com/return/x"), "another scheme is another origin");
        for bad in ["javascript:alert(1)", "http://forum.example.com/x", "https://a.example/x*", "https://a.example/#f"]
        {
            let v = toml::Value::Array(vec![toml::Value::String(bad.into())]);
            assert!(RedirectTarget::parse_all(&v).is_err(), "{bad}");
        }
    }

    #[test]
    fn prefix_routes_become_tail_patterns() {
        assert_eq!(actix_pattern("/a/*"), "/a/{tail:.*}");
        assert_eq!(actix_pattern("/a/b.php"), "/a/b.php");
    }
}
