//! Passkey ceremonies over JSON (called by `/static/passkeys.js`): adding
//! a passkey on the account's two-step page, using one as the second
//! factor, and "Sign in with a passkey". Each POST carries the CSRF token in
//! `X-CSRF-Token`; each handler calls one engine function.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use gatehouse_engine::mfa::SecondFactorError;
use gatehouse_engine::sessions::BrowserContext;
use serde::Deserialize;

use gatehouse_engine::model::User;
use gatehouse_engine::sessions::SignedIn;
use gatehouse_engine::Engine;

use super::browser::{csrf_ok, current_session, peer_ip, safe_return_to, session_cookie, user_agent};
use super::json_error;
use super::two_step::PENDING_COOKIE;
use super::{blocking, State};

/// The cookie naming a "Sign in with a passkey" ceremony.
const CEREMONY_COOKIE: &str = "gatehouse_passkey";

/// "Sign in with a passkey" on the sign-in page (shown by the script).
pub const PASSWORDLESS_BUTTON: &str = "<p><button type=\"button\" class=\"secondary\" data-passkey=\"sign-in\" hidden>\
     Sign in with a passkey</button></p><p id=\"passkey-status\" role=\"status\"></p>\
     <script src=\"/static/passkeys.js\" defer></script>";

/// The script, served from here so the pages' CSP can stay `script-src 'self'`.
const SCRIPT: &str = include_str!("../../static/passkeys.js");

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/static/passkeys.js", web::get().to(script))
        .route("/account/passkeys/begin", web::post().to(register_begin))
        .route("/account/passkeys/finish", web::post().to(register_finish))
        .route("/login/second-factor/passkey/begin", web::post().to(second_begin))
        .route("/login/second-factor/passkey/finish", web::post().to(second_finish))
        .route("/login/passkey/begin", web::post().to(login_begin))
        .route("/login/passkey/finish", web::post().to(login_finish));
}

async fn script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header(("Cache-Control", "public, max-age=300"))
        .body(SCRIPT)
}

/// Refuses a POST whose page (and CSRF token) has expired.
fn expired() -> HttpResponse {
    json_error(StatusCode::FORBIDDEN, "invalid_request", "The page has expired. Reload it and try again")
}

fn ok(v: serde_json::Value) -> HttpResponse {
    HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(v)
}

/// Refuses a request without this browser's CSRF token in `X-CSRF-Token`.
fn csrf_header_ok(req: &HttpRequest) -> bool {
    csrf_ok(req, req.headers().get("x-csrf-token").and_then(|v| v.to_str().ok()))
}

fn refusal(e: SecondFactorError) -> HttpResponse {
    match e {
        SecondFactorError::Engine(gatehouse_engine::EngineError::Invalid(m)) => {
            json_error(StatusCode::BAD_REQUEST, "invalid_request", &m)
        }
        SecondFactorError::Engine(e) => super::internal_error(e),
        SecondFactorError::RateLimited => json_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited", &e.to_string()),
        other => json_error(StatusCode::UNAUTHORIZED, "access_denied", &other.to_string()),
    }
}

#[derive(Deserialize)]
struct Finish {
    #[serde(default)]
    name: String,
    credential: serde_json::Value,
    #[serde(default)]
    return_to: String,
}

fn finish_body(body: &Bytes) -> Option<Finish> {
    serde_json::from_slice(body).ok()
}

fn unreadable() -> HttpResponse {
    json_error(StatusCode::BAD_REQUEST, "invalid_request", "The request cannot be read")
}

async fn register_begin(req: HttpRequest, state: State) -> HttpResponse {
    if !csrf_header_ok(&req) {
        return expired();
    }
    let Ok(Some((_, user))) = current_session(&req, &state).await else {
        return json_error(StatusCode::UNAUTHORIZED, "login_required", "Sign in first");
    };
    let engine = state.engine.clone();
    match blocking(move || engine.begin_passkey_registration(&user)).await {
        Ok(Ok(options)) => ok(options),
        Ok(Err(e)) => refusal(SecondFactorError::Engine(e)),
        Err(e) => super::internal_error(e),
    }
}

async fn register_finish(req: HttpRequest, body: Bytes, state: State) -> HttpResponse {
    if !csrf_header_ok(&req) {
        return expired();
    }
    let Ok(Some((_, user))) = current_session(&req, &state).await else {
        return json_error(StatusCode::UNAUTHORIZED, "login_required", "Sign in first");
    };
    let Some(f) = finish_body(&body) else { return unreadable() };
    let engine = state.engine.clone();
    let credential = f.credential.to_string();
    match blocking(move || engine.finish_passkey_registration(&user, &f.name, &credential)).await {
        Ok(Ok(codes)) => {
            ok(serde_json::json!({ "redirect": "/account/two-step?done=passkey", "recovery_codes": codes }))
        }
        Ok(Err(e)) => refusal(SecondFactorError::Engine(e)),
        Err(e) => super::internal_error(e),
    }
}

fn pending_token(req: &HttpRequest) -> Option<String> {
    req.cookie(PENDING_COOKIE).map(|c| c.value().to_string()).filter(|v| !v.is_empty())
}

async fn second_begin(req: HttpRequest, state: State) -> HttpResponse {
    if !csrf_header_ok(&req) {
        return expired();
    }
    let Some(token) = pending_token(&req) else {
        return json_error(StatusCode::UNAUTHORIZED, "login_required", "Sign in again");
    };
    let engine = state.engine.clone();
    match blocking(move || engine.begin_passkey_second_factor(&token)).await {
        Ok(Ok(options)) => ok(options),
        Ok(Err(e)) => refusal(e),
        Err(e) => super::internal_error(e),
    }
}

async fn second_finish(req: HttpRequest, body: Bytes, state: State) -> HttpResponse {
    if !csrf_header_ok(&req) {
        return expired();
    }
    let Some(token) = pending_token(&req) else {
        return json_error(StatusCode::UNAUTHORIZED, "login_required", "Sign in again");
    };
    let clear = super::two_step::clear_pending(&state);
    finish_ceremony(req, body, state, token, clear, |e, token, credential, ctx| {
        e.finish_passkey_second_factor(token, credential, ctx)
    })
    .await
}

/// The engine call that finishes a sign-in ceremony with the browser's
/// assertion: the session (a step-up keeps the browser's own) and its user.
type FinishCeremony = fn(&Engine, &str, &str, &BrowserContext<'_>) -> Result<(SignedIn, User), SecondFactorError>;

/// Finishes a passkey sign-in: runs `finish`, then answers where to go,
/// with the session cookie (when a new session began) and `clear`, which
/// removes the ceremony's own cookie.
async fn finish_ceremony(
    req: HttpRequest,
    body: Bytes,
    state: State,
    token: String,
    clear: Cookie<'static>,
    finish: FinishCeremony,
) -> HttpResponse {
    let Some(f) = finish_body(&body) else { return unreadable() };
    let return_to = safe_return_to(Some(&f.return_to).filter(|s| !s.is_empty()).map(|s| s.as_str()));
    let previous = current_session(&req, &state).await.ok().flatten().map(|(s, _)| s);
    let (ip, ua) = (peer_ip(&req), user_agent(&req));
    let engine = state.engine.clone();
    let credential = f.credential.to_string();
    let result = blocking(move || {
        let ctx = BrowserContext { ip: &ip, user_agent: &ua, previous: previous.as_ref() };
        finish(&engine, &token, &credential, &ctx)
    })
    .await;
    match result {
        Ok(Ok((signed_in, _))) => {
            let mut r = ok(serde_json::json!({ "redirect": return_to.as_deref().unwrap_or("/account") }));
            let _ = r.add_cookie(&clear);
            if !signed_in.cookie.is_empty() {
                let _ = r.add_cookie(&session_cookie(&state, signed_in.cookie));
            }
            r
        }
        Ok(Err(e)) => refusal(e),
        Err(e) => super::internal_error(e),
    }
}

fn ceremony_cookie(state: &State, value: String) -> Cookie<'static> {
    let mut c = Cookie::build(CEREMONY_COOKIE, value)
        .path("/login/passkey")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(state.engine.config.issuer.starts_with("https://"))
        .finish();
    c.set_max_age(actix_web::cookie::time::Duration::seconds(gatehouse_engine::mfa::PENDING_TTL));
    c
}

async fn login_begin(req: HttpRequest, state: State) -> HttpResponse {
    if !csrf_header_ok(&req) {
        return expired();
    }
    let engine = state.engine.clone();
    match blocking(move || engine.begin_passwordless()).await {
        Ok(Ok((token, options))) => {
            let mut r = ok(options);
            let _ = r.add_cookie(&ceremony_cookie(&state, token));
            r
        }
        Ok(Err(e)) => refusal(SecondFactorError::Engine(e)),
        Err(e) => super::internal_error(e),
    }
}

async fn login_finish(req: HttpRequest, body: Bytes, state: State) -> HttpResponse {
    if !csrf_header_ok(&req) {
        return expired();
    }
    let Some(token) = req.cookie(CEREMONY_COOKIE).map(|c| c.value().to_string()).filter(|v| !v.is_empty()) else {
        return json_error(StatusCode::UNAUTHORIZED, "access_denied", "Start again");
    };
    let mut clear = ceremony_cookie(&state, String::new());
    clear.make_removal();
    finish_ceremony(req, body, state, token, clear, |e, token, credential, ctx| {
        e.finish_passwordless(token, credential, ctx)
    })
    .await
}
