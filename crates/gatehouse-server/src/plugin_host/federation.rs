//! Sign-in through an `identity_provider` plugin:
//! - `GET /federation/{plugin}/start?return_to=…` asks the plugin where to
//!   send the browser and keeps its opaque state, with the local page to
//!   return to, in an HttpOnly cookie scoped to `/federation/{plugin}/`;
//! - `GET /federation/{plugin}/callback` hands the callback to the plugin,
//!   which verifies it; the host resolves the upstream identity to a local
//!   user through `identity_links` (see [`resolve_user`]), starts a session
//!   and sends the browser back to where the sign-in started.
//!
//! Every refusal is a readable HTML page and an audit event.

use std::collections::BTreeMap;
use std::sync::Arc;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use base64::Engine as _;
use gatehouse_engine::federation::{FederationRefusal, UpstreamIdentity};
use gatehouse_engine::sessions::BrowserContext;
use gatehouse_plugin_api::messages::{
    plugin_methods, BeginLogin, CompleteLogin, ErrorKind, ExternalIdentity, LoginRedirect,
};
use html_escape::{encode_double_quoted_attribute as attr, encode_text as text};
use serde::{Deserialize, Serialize};

use super::{CallError, LoadedPlugin, Upstream};
use crate::http::browser::{current_session, peer_ip, safe_return_to, session_cookie, user_agent};
use crate::http::State;

const STATE_COOKIE: &str = "gatehouse_federation";
/// Longer pages to return to are dropped (a cookie holds about 4 KiB).
const MAX_RETURN_TO: usize = 2048;

/// Mounts `/federation/<id>/start` and `/callback` for each of the
/// plugin's upstreams.
pub fn mount(cfg: &mut web::ServiceConfig, p: &Arc<LoadedPlugin>) {
    for u in p.upstreams() {
        let name = u.id.clone();
        let (p1, p2) = (p.clone(), p.clone());
        let (u1, u2) = (Arc::new(u.clone()), Arc::new(u));
        cfg.route(
            &format!("/federation/{name}/start"),
            web::get().to(move |req: HttpRequest, state: State| start(p1.clone(), u1.clone(), req, state)),
        )
        .route(
            &format!("/federation/{name}/callback"),
            web::get().to(move |req: HttpRequest, state: State| callback(p2.clone(), u2.clone(), req, state)),
        );
    }
}

fn callback_url(state: &State, name: &str) -> String {
    format!("{}/federation/{name}/callback", state.config.issuer())
}

fn query(req: &HttpRequest) -> BTreeMap<String, String> {
    gatehouse_plugin_api::form::parse(req.query_string()).into_iter().collect()
}

/// What the state cookie carries between start and callback.
#[derive(Serialize, Deserialize)]
struct Pending {
    /// The plugin's opaque state.
    s: String,
    /// The local page to return to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    r: Option<String>,
    /// Linking, not signing in: the member's session (started from the
    /// account page; the callback links to whoever holds that session).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    l: Option<i64>,
}

impl Pending {
    fn encode(&self) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    fn decode(v: &str) -> Option<Pending> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(v).ok()?;
        let p: Pending = serde_json::from_slice(&bytes).ok()?;
        (!p.s.is_empty()).then_some(p)
    }
}

fn state_cookie(state: &State, name: &str, value: String) -> Cookie<'static> {
    Cookie::build(STATE_COOKIE, value)
        .path(format!("/federation/{name}/"))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.config.issuer().starts_with("https://"))
        .max_age(actix_web::cookie::time::Duration::minutes(10))
        .finish()
}

fn clear_state_cookie(state: &State, name: &str) -> Cookie<'static> {
    let mut c = state_cookie(state, name, String::new());
    c.make_removal();
    c
}

/// `/login`, keeping the page to return to.
fn login_link(return_to: Option<&str>) -> String {
    match return_to {
        Some(r) => {
            format!("/login?return_to={}", url::form_urlencoded::byte_serialize(r.as_bytes()).collect::<String>())
        }
        None => "/login".into(),
    }
}

/// A readable refusal page with a way back: to the sign-in page, or to
/// the account page when the member was linking.
fn refusal_page(status: StatusCode, message: &str, return_to: Option<&str>, linking: bool) -> HttpResponse {
    let (href, label) = if linking {
        ("/account".to_string(), "Back to your account")
    } else {
        (login_link(return_to), "Back to sign in")
    };
    let body = format!("<p class=\"error\">{}</p><p><a href=\"{}\">{label}</a></p>", text(message), attr(&href));
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .insert_header(("X-Frame-Options", "DENY"))
        .body(crate::http::pages::layout("Sign-in refused", &body))
}

async fn start(p: Arc<LoadedPlugin>, u: Arc<Upstream>, req: HttpRequest, state: State) -> HttpResponse {
    let mut params = query(&req);
    let return_to = safe_return_to(params.remove("return_to").as_deref()).filter(|r| r.len() <= MAX_RETURN_TO);
    begin(p, &u, &state, params, return_to, None, peer_ip(&req)).await
}

/// A member links `u` to their account (the account page checked the form
/// and that they signed in recently): the same trip to the upstream, with
/// the member's session in the state cookie.
pub async fn begin_link(
    p: Arc<LoadedPlugin>,
    u: &Upstream,
    state: &State,
    session_id: i64,
    ip: String,
) -> HttpResponse {
    begin(p, u, state, BTreeMap::new(), Some("/account".into()), Some(session_id), ip).await
}

async fn begin(
    p: Arc<LoadedPlugin>,
    u: &Upstream,
    state: &State,
    params: BTreeMap<String, String>,
    return_to: Option<String>,
    link: Option<i64>,
    ip: String,
) -> HttpResponse {
    let begin = BeginLogin { callback_url: callback_url(state, &u.id), params, provider: u.provider_field() };
    let span = tracing::Span::current();
    let (p2, st, id) = (p.clone(), state.clone(), u.id.clone());
    let r = {
        let caller = crate::http::request_id::caller();
        web::block(move || {
            crate::http::in_request(caller, || {
                let _in_request = span.enter();
                let r = p2.call::<_, LoginRedirect>(plugin_methods::BEGIN_LOGIN, &begin);
                if let Err(e) = &r {
                    // Audited with the upstream's error (discovery failed, unreachable…).
                    let reason = format!("the sign-in could not start: {e}");
                    if let Err(err) = st.engine.federation_refused(&id, &reason, None, &ip) {
                        tracing::error!(error = %err, "could not audit a federation failure");
                    }
                }
                r
            })
        })
        .await
    };
    let unavailable = || {
        refusal_page(
            StatusCode::BAD_GATEWAY,
            &format!("Signing in with {} is not available right now. Please try again later.", u.display_name),
            return_to.as_deref(),
            link.is_some(),
        )
    };
    let lr = match r {
        Ok(Ok(lr)) => lr,
        // Typically the upstream is unreachable: a gateway failure, not ours.
        Ok(Err(e)) => {
            tracing::warn!(plugin = p.name(), upstream = %u.id, error = %e, "federated sign-in could not start");
            return unavailable();
        }
        Err(e) => return crate::http::internal_error(e),
    };
    // The upstream is by nature not registered here: accept any absolute http(s) URL.
    if !url::Url::parse(&lr.redirect_url).is_ok_and(|u| matches!(u.scheme(), "http" | "https")) {
        tracing::error!(plugin = p.name(), "plugin returned an invalid login redirect");
        return unavailable();
    }
    let pending = Pending { s: lr.state, r: return_to, l: link };
    // 303 after the account page's POST, 302 for the sign-in links.
    let mut r = if link.is_some() { HttpResponse::SeeOther() } else { HttpResponse::Found() };
    r.insert_header((actix_web::http::header::LOCATION, lr.redirect_url))
        .insert_header(("Cache-Control", "no-store"))
        .cookie(state_cookie(state, &u.id, pending.encode()))
        .finish()
}

/// Why a federated sign-in was refused: before the engine (state cookie,
/// the plugin's verification) or by the engine's policy.
#[derive(Debug, thiserror::Error)]
enum Refused {
    #[error("the state cookie is missing or unreadable")]
    NoState,
    #[error("the provider returned an error: {0}")]
    Cancelled(String),
    #[error("the plugin refused the callback: {0}")]
    Plugin(String),
    #[error("the provider could not be used: {0}")]
    Upstream(String),
    #[error("the member's session changed since linking started")]
    NotTheLinkingSession,
    #[error(transparent)]
    Policy(#[from] FederationRefusal),
}

impl Refused {
    fn status(&self) -> StatusCode {
        match self {
            Refused::NoState | Refused::NotTheLinkingSession => StatusCode::BAD_REQUEST,
            Refused::Upstream(_) => StatusCode::BAD_GATEWAY,
            Refused::Policy(FederationRefusal::EmailTaken(_) | FederationRefusal::LinkedToAnother) => {
                StatusCode::CONFLICT
            }
            Refused::Policy(FederationRefusal::Engine(e)) if !e.is_client_error() => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::FORBIDDEN,
        }
    }

    /// The text the browser sees: no internals, no upstream-supplied text.
    fn message(&self, provider: &str) -> String {
        match self {
            Refused::NoState => "This sign-in expired or was started in another browser. Please start again.".into(),
            Refused::NotTheLinkingSession => {
                "You signed in or out since you started connecting the account. Please start again from your account page."
                    .into()
            }
            Refused::Policy(FederationRefusal::LinkedToAnother) => format!(
                "This {provider} account is already connected to another account here. Unlink it there first."
            ),
            Refused::Cancelled(_) => format!("The sign-in was cancelled or refused at {provider}."),
            Refused::Plugin(_) | Refused::Policy(FederationRefusal::NoSubject) => {
                format!("The sign-in with {provider} could not be verified. Please start again.")
            }
            Refused::Upstream(_) => {
                format!("{provider} could not be reached to complete the sign-in. Please try again later.")
            }
            Refused::Policy(FederationRefusal::NoVerifiedEmail) => {
                format!("{provider} did not confirm a verified e-mail address for your account, so you cannot sign in with it.")
            }
            Refused::Policy(FederationRefusal::EmailTaken(_)) => format!(
                "An account with your e-mail address already exists here. Sign in with your password; \
                 signing in with {provider} is not linked to that account."
            ),
            Refused::Policy(FederationRefusal::Closed(_)) => "This account may not sign in.".into(),
            Refused::Policy(FederationRefusal::NotPreLinked) => format!(
                "Your {provider} account is not connected to an account here. Ask the site's operator to connect it, \
                 or sign in with your password."
            ),
            Refused::Policy(FederationRefusal::DomainNotAllowed) => {
                format!("Signing in with {provider} is limited to certain organisations, and your e-mail address is not in one of them.")
            }
            Refused::Policy(FederationRefusal::Engine(e)) if e.is_client_error() => {
                "The sign-in could not be completed. Please start again.".into()
            }
            Refused::Policy(FederationRefusal::Engine(_)) => format!(
                "The server failed to complete the sign-in. Please try again later (request id {}).",
                crate::http::request_id::current()
            ),
        }
    }
}

async fn callback(p: Arc<LoadedPlugin>, u: Arc<Upstream>, req: HttpRequest, state: State) -> HttpResponse {
    let pending = req.cookie(STATE_COOKIE).and_then(|c| Pending::decode(c.value()));
    let return_to = pending.as_ref().and_then(|p| safe_return_to(p.r.as_deref()));
    let params = query(&req);
    let previous = current_session(&req, &state).await.ok().flatten().map(|(s, _)| s);
    if let Some(link_session) = pending.as_ref().and_then(|p| p.l) {
        return link_callback(p, u, &req, state, params, pending.map(|p| p.s), previous, link_session).await;
    }
    let (ip, ua) = (peer_ip(&req), user_agent(&req));
    let (st, p2, u2, span) = (state.clone(), p.clone(), u.clone(), tracing::Span::current());
    let r = {
        let caller = crate::http::request_id::caller();
        web::block(move || {
            crate::http::in_request(caller, || {
                let _in_request = span.enter();
                let ctx = BrowserContext { ip: &ip, user_agent: &ua, previous: previous.as_ref() };
                complete(&p2, &u2, &st, params, pending.map(|p| p.s), &ctx)
            })
        })
        .await
    };
    let clear = clear_state_cookie(&state, &u.id);
    match r {
        Ok(Ok(value)) => HttpResponse::Found()
            .insert_header((actix_web::http::header::LOCATION, return_to.as_deref().unwrap_or("/account")))
            .insert_header(("Cache-Control", "no-store"))
            .cookie(session_cookie(&state, value))
            .cookie(clear)
            .finish(),
        Ok(Err(e)) => {
            let mut r = refusal_page(e.status(), &e.message(&u.display_name), return_to.as_deref(), false);
            let _ = r.add_cookie(&clear);
            r
        }
        Err(e) => crate::http::internal_error(e),
    }
}

/// The callback of a link started from the account page: the browser must
/// still hold the session that started it; the upstream identity is then
/// linked to that member (never signs anyone in).
#[allow(clippy::too_many_arguments)]
async fn link_callback(
    p: Arc<LoadedPlugin>,
    u: Arc<Upstream>,
    req: &HttpRequest,
    state: State,
    params: BTreeMap<String, String>,
    saved: Option<String>,
    current: Option<gatehouse_engine::model::Session>,
    link_session: i64,
) -> HttpResponse {
    let ip = peer_ip(req);
    let (st, u2, span) = (state.clone(), u.clone(), tracing::Span::current());
    let r = {
        let caller = crate::http::request_id::caller();
        web::block(move || {
            crate::http::in_request(caller, || {
                let _in_request = span.enter();
                let e = &st.engine;
                let Some(session) = current.filter(|s| s.id == link_session) else {
                    let r = Refused::NotTheLinkingSession;
                    e.federation_refused(&u2.id, &r.to_string(), None, &ip).map_err(FederationRefusal::from)?;
                    return Err(r);
                };
                let (id, _groups, refresh_token) = match verify_callback(&p, &u2, &st, params, saved) {
                    Ok(v) => v,
                    Err(r) => {
                        e.federation_refused(&u2.id, &r.to_string(), Some(session.user_id), &ip)
                            .map_err(FederationRefusal::from)?;
                        return Err(r);
                    }
                };
                e.link_identity_for_member(session.user_id, &u2.id, &id, &ip)?;
                if let Err(err) = e.remember_upstream_check(&u2.id, &id.subject, refresh_token.as_deref()) {
                    tracing::warn!(upstream = %u2.id, error = %err, "could not keep the upstream's refresh token");
                }
                Ok(())
            })
        })
        .await
    };
    let clear = clear_state_cookie(&state, &u.id);
    match r {
        Ok(Ok(())) => HttpResponse::SeeOther()
            .insert_header((actix_web::http::header::LOCATION, "/account?done=linked#linked"))
            .insert_header(("Cache-Control", "no-store"))
            .cookie(clear)
            .finish(),
        Ok(Err(e)) => {
            let mut r = refusal_page(e.status(), &e.message(&u.display_name), None, true);
            let _ = r.add_cookie(&clear);
            r
        }
        Err(e) => crate::http::internal_error(e),
    }
}

/// Verifies the callback through the plugin, then lets the engine resolve
/// the identity and sign the user in (it audits the outcome; refusals
/// before it are audited here through it). Returns the session cookie.
fn complete(
    p: &LoadedPlugin,
    u: &Upstream,
    state: &State,
    params: BTreeMap<String, String>,
    saved: Option<String>,
    ctx: &BrowserContext<'_>,
) -> Result<String, Refused> {
    let e = &state.engine;
    let id = match verify_callback(p, u, state, params, saved) {
        Ok(id) => id,
        Err(r) => {
            e.federation_refused(&u.id, &r.to_string(), None, ctx.ip).map_err(FederationRefusal::from)?;
            return Err(r);
        }
    };
    // Identity links are per upstream: (upstream id, subject).
    let (id, groups, refresh_token) = id;
    let done = e.federated_sign_in_with(&u.id, &u.policy, &id, ctx)?;
    if let Err(err) = e.remember_upstream_check(&u.id, &id.subject, refresh_token.as_deref()) {
        // The sign-in stands; without the token it is re-checked at the next sign-in only.
        tracing::warn!(upstream = %u.id, error = %err, "could not keep the upstream's refresh token");
    }
    if let Err(err) = e.apply_upstream_groups(done.user.id, &u.policy, &groups) {
        // The sign-in stands; the groups follow at the next one.
        tracing::warn!(upstream = %u.id, error = %err, "could not apply the upstream's groups");
    }
    Ok(done.signed_in.cookie)
}

/// The plugin checks the state and the upstream's answer and says who
/// signed in.
fn verify_callback(
    p: &LoadedPlugin,
    u: &Upstream,
    state: &State,
    params: BTreeMap<String, String>,
    saved: Option<String>,
) -> Result<(UpstreamIdentity, Vec<String>, Option<String>), Refused> {
    let saved = saved.ok_or(Refused::NoState)?;
    let upstream_error = params.get("error").cloned();
    let complete =
        CompleteLogin { callback_url: callback_url(state, &u.id), params, state: saved, provider: u.provider_field() };
    let id: ExternalIdentity = match p.call(plugin_methods::COMPLETE_LOGIN, &complete) {
        Ok(id) => id,
        // `forbidden` after the plugin checked the state: the upstream's own refusal.
        Err(CallError::Plugin { error, .. }) if error.kind == ErrorKind::Forbidden && upstream_error.is_some() => {
            return Err(Refused::Cancelled(upstream_error.unwrap_or_default().chars().take(64).collect()))
        }
        Err(CallError::Plugin { error, .. }) if matches!(error.kind, ErrorKind::Internal | ErrorKind::Panic) => {
            return Err(Refused::Upstream(error.message))
        }
        Err(CallError::Plugin { error, .. }) => return Err(Refused::Plugin(error.message)),
        Err(e @ CallError::Malformed { .. }) => return Err(Refused::Upstream(e.to_string())),
    };
    // Field by field: a field added to either side is a compile error here.
    let ExternalIdentity {
        subject,
        email,
        email_verified,
        name,
        given_name,
        family_name,
        locale,
        claims,
        refresh_token,
    } = id;
    // The upstream's groups: a list of strings (or one string) in `groups`.
    let groups = match &claims["groups"] {
        serde_json::Value::Array(a) => a.iter().filter_map(|g| g.as_str().map(str::to_string)).collect(),
        serde_json::Value::String(g) => vec![g.clone()],
        _ => Vec::new(),
    };
    Ok((
        UpstreamIdentity { subject, email, email_verified, name, given_name, family_name, locale },
        groups,
        refresh_token,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_state_round_trips_and_rejects_garbage() {
        let p = Pending { s: "abc".into(), r: Some("/oauth2/authorize?x=1".into()), l: Some(7) };
        let back = Pending::decode(&p.encode()).unwrap();
        assert_eq!((back.s.as_str(), back.r.as_deref(), back.l), ("abc", Some("/oauth2/authorize?x=1"), Some(7)));
        for bad in ["", "!!", "e30", "not-base64-json"] {
            assert!(Pending::decode(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn refusals_name_no_internals() {
        let r = Refused::Plugin("code exchange: invalid_grant secret-ish detail".into());
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert!(!r.message("Corp").contains("secret-ish"));
        assert_eq!(Refused::NoState.status(), StatusCode::BAD_REQUEST);
        assert_eq!(Refused::Upstream("x".into()).status(), StatusCode::BAD_GATEWAY);
        assert!(Refused::Policy(FederationRefusal::EmailTaken("a@b".into())).message("Corp").contains("password"));
        assert_eq!(
            login_link(Some("/oauth2/authorize?a=1&b=2")),
            "/login?return_to=%2Foauth2%2Fauthorize%3Fa%3D1%26b%3D2"
        );
    }
}
