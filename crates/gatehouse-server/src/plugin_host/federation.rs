//! Sign-in through an `identity_provider` plugin:
//! - `GET /federation/{plugin}/start` asks the plugin where to send the
//!   browser and keeps its opaque state in an HttpOnly cookie;
//! - `GET /federation/{plugin}/callback` hands the callback to the plugin,
//!   which verifies it; the host signs in the user with the same verified
//!   e-mail (creating one if there is none) and sends the browser to
//!   `/account`.

use std::collections::BTreeMap;
use std::sync::Arc;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use gatehouse_engine::audit::AuditRecord;
use gatehouse_engine::directory::UserInput;
use gatehouse_engine::EngineError;
use gatehouse_plugin_api::messages::{plugin_methods, BeginLogin, CompleteLogin, ExternalIdentity, LoginRedirect};

use super::LoadedPlugin;
use crate::http::State;

const STATE_COOKIE: &str = "gatehouse_federation";

pub fn mount(cfg: &mut web::ServiceConfig, p: &Arc<LoadedPlugin>) {
    let name = p.name().to_string();
    let (p1, p2) = (p.clone(), p.clone());
    cfg.route(
        &format!("/federation/{name}/start"),
        web::get().to(move |req: HttpRequest, state: State| start(p1.clone(), req, state)),
    )
    .route(
        &format!("/federation/{name}/callback"),
        web::get().to(move |req: HttpRequest, state: State| callback(p2.clone(), req, state)),
    );
}

fn callback_url(state: &State, name: &str) -> String {
    format!("{}/federation/{name}/callback", state.config.issuer())
}

fn query(req: &HttpRequest) -> BTreeMap<String, String> {
    gatehouse_plugin_api::form::parse(req.query_string()).into_iter().collect()
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

async fn start(p: Arc<LoadedPlugin>, req: HttpRequest, state: State) -> HttpResponse {
    let begin = BeginLogin { callback_url: callback_url(&state, p.name()), params: query(&req) };
    let span = tracing::Span::current();
    let p2 = p.clone();
    let r = web::block(move || {
        let _in_request = span.enter();
        p2.call::<_, LoginRedirect>(plugin_methods::BEGIN_LOGIN, &begin)
    })
    .await;
    let lr = match r {
        Ok(Ok(lr)) => lr,
        Ok(Err(e)) => return crate::http::internal_error(e),
        Err(e) => return crate::http::internal_error(e),
    };
    // The upstream is by nature not registered here: accept any absolute http(s) URL.
    if !url::Url::parse(&lr.redirect_url).is_ok_and(|u| matches!(u.scheme(), "http" | "https")) {
        return crate::http::internal_error(format!(
            "plugin {} returned an invalid login redirect {:?}",
            p.name(),
            lr.redirect_url
        ));
    }
    HttpResponse::Found()
        .insert_header((actix_web::http::header::LOCATION, lr.redirect_url))
        .insert_header(("Cache-Control", "no-store"))
        .cookie(state_cookie(&state, p.name(), lr.state))
        .finish()
}

/// Why a federated sign-in was refused (shown to the browser).
#[derive(Debug, thiserror::Error)]
enum Refused {
    #[error("The identity provider could not verify the sign-in")]
    Plugin(String),
    #[error("The identity provider did not return a verified e-mail address")]
    NoVerifiedEmail,
    #[error("This account may not sign in")]
    Closed,
    #[error("The server failed to complete the sign-in")]
    Engine(EngineError),
}

async fn callback(p: Arc<LoadedPlugin>, req: HttpRequest, state: State) -> HttpResponse {
    let Some(saved) = req.cookie(STATE_COOKIE).map(|c| c.value().to_string()).filter(|v| !v.is_empty()) else {
        return crate::http::json_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "The sign-in expired or was started in another browser; start again",
        );
    };
    let complete = CompleteLogin { callback_url: callback_url(&state, p.name()), params: query(&req), state: saved };
    let (ip, ua) = (crate::http::browser::peer_ip(&req), crate::http::browser::user_agent(&req));
    let (st, p2, span) = (state.clone(), p.clone(), tracing::Span::current());
    let r = web::block(move || {
        let _in_request = span.enter();
        sign_in(&p2, &st, &complete, &ip, &ua)
    })
    .await;
    let mut clear = state_cookie(&state, p.name(), String::new());
    clear.make_removal();
    match r {
        Ok(Ok(value)) => HttpResponse::Found()
            .insert_header((actix_web::http::header::LOCATION, "/account"))
            .cookie(crate::http::browser::session_cookie(&state, value))
            .cookie(clear)
            .finish(),
        Ok(Err(e)) => {
            tracing::warn!(plugin = p.name(), error = ?e, "federated sign-in refused");
            let status =
                if matches!(e, Refused::Engine(_)) { StatusCode::INTERNAL_SERVER_ERROR } else { StatusCode::FORBIDDEN };
            let mut r = crate::http::json_error(status, "access_denied", &e.to_string());
            let _ = r.add_cookie(&clear);
            r
        }
        Err(e) => crate::http::internal_error(e),
    }
}

/// Verifies through the plugin, finds or creates the user, starts a session.
fn sign_in(p: &LoadedPlugin, state: &State, complete: &CompleteLogin, ip: &str, ua: &str) -> Result<String, Refused> {
    let id: ExternalIdentity =
        p.call(plugin_methods::COMPLETE_LOGIN, complete).map_err(|e| Refused::Plugin(e.to_string()))?;
    let email = id.email.clone().filter(|e| id.email_verified && !e.is_empty()).ok_or(Refused::NoVerifiedEmail)?;
    let e = &state.engine;
    let user = match e.find_user(&email) {
        Ok(u) => u,
        Err(EngineError::NotFound(_)) => {
            let name = id.name.clone().unwrap_or_else(|| {
                format!("{} {}", id.given_name.as_deref().unwrap_or(""), id.family_name.as_deref().unwrap_or(""))
                    .trim()
                    .to_string()
            });
            e.create_user(UserInput {
                email,
                name,
                locale: id.locale.clone(),
                email_verified: true,
                ..Default::default()
            })
            .map_err(Refused::Engine)?
        }
        Err(x) => return Err(Refused::Engine(x)),
    };
    if !user.status().may_sign_in() {
        return Err(Refused::Closed);
    }
    let (value, _) = e.start_session(user.id, p.name(), ip, ua).map_err(Refused::Engine)?;
    e.audit(AuditRecord {
        kind: "login.federated",
        message: format!("User ID: {} signed in through {} (subject {})", user.id, p.name(), id.subject),
        user_id: Some(user.id),
        ip: Some(ip),
        ..Default::default()
    })
    .map_err(Refused::Engine)?;
    Ok(value)
}
