//! Discovery, JWKS, userinfo, the SSO redemption endpoint and RP-initiated
//! logout.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};
use gatehouse_core::{Dialect, OAuthErrorCode};
use gatehouse_engine::keys::JWKS_MAX_AGE;
use gatehouse_engine::oauth::tokens::BearerSources;
use gatehouse_engine::oauth::{OAuthError, Params};
use gatehouse_engine::sessions::BrowserContext;
use gatehouse_engine::sso::SsoError;
use html_escape::{encode_double_quoted_attribute as attr, encode_text as text};

use super::{oauth_error_response, run};
use crate::http::browser::{
    clear_session_cookie, csrf_ok, csrf_token, current_session, is_form, peer_ip, session_cookie, user_agent,
    CSRF_FIELD,
};
use crate::http::pages::{error_page, layout};
use crate::http::{blocking, State};

/// The discovery document: only what the server really supports. Under a
/// dialect the endpoints a client of that dialect calls are the dialect's
/// own paths; the issuer, and the endpoints a dialect has no alias for,
/// stay standard.
pub fn discovery(dialect: &Dialect, state: &State) -> HttpResponse {
    static_json(state.engine.provider_metadata_bytes(dialect))
}

fn static_json(bytes: std::sync::Arc<[u8]>) -> HttpResponse {
    // Built once: these documents are served at tens of thousands a second.
    static CACHE_CONTROL: std::sync::LazyLock<HeaderValue> = std::sync::LazyLock::new(|| {
        HeaderValue::from_str(&format!("public, max-age={JWKS_MAX_AGE}")).expect("an ASCII header value")
    });
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, HeaderValue::from_static("application/json")))
        .insert_header((header::CACHE_CONTROL, CACHE_CONTROL.clone()))
        .body(actix_web::web::Bytes::from_owner(bytes))
}

pub async fn jwks(state: State) -> HttpResponse {
    // Prepared bytes: no blocking hop unless the document is being rebuilt.
    if let Some(bytes) = state.engine.fresh_jwks_bytes() {
        return static_json(bytes);
    }
    let engine = state.engine.clone();
    match blocking(move || engine.jwks_bytes()).await {
        Ok(Ok(bytes)) => static_json(bytes),
        Ok(Err(e)) => crate::http::internal_error(e),
        Err(e) => crate::http::internal_error(e),
    }
}

/// RFC 6750 §3: the challenge that goes with a bearer error.
fn bearer_error(e: &OAuthError) -> HttpResponse {
    let mut r = oauth_error_response(e);
    if e.status == 401 || e.status == 403 || e.status == 400 {
        let challenge = if e.status == 401 && e.code == OAuthErrorCode::InvalidRequest {
            // No token at all: no error code (RFC 6750 §3.1).
            "Bearer realm=\"Service\"".to_string()
        } else {
            format!("Bearer realm=\"Service\", error=\"{}\", error_description=\"{}\"", e.code, e.description)
        };
        if let Ok(v) = actix_web::http::header::HeaderValue::from_str(&challenge) {
            r.headers_mut().insert(actix_web::http::header::WWW_AUTHENTICATE, v);
        }
    }
    r
}

pub async fn userinfo(req: HttpRequest, body: Bytes, state: State) -> HttpResponse {
    let header = req.headers().get("authorization").and_then(|v| v.to_str().ok()).and_then(|h| {
        let (scheme, rest) = h.trim().split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim().to_string())
    });
    let query = Params::parse(&[req.query_string().as_bytes()]);
    let form = (req.method() == Method::POST && is_form(&req)).then(|| Params::parse(&[&body]));
    let sources = BearerSources {
        header,
        query: query.get("access_token").map(str::to_string),
        body: form.as_ref().and_then(|f| f.get("access_token")).map(str::to_string),
    };
    let engine = state.engine.clone();
    match run(move || engine.userinfo(&sources)).await {
        Ok(claims) => HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(claims),
        Err(e) => bearer_error(&e),
    }
}

pub async fn sso(req: HttpRequest, body: Bytes, state: State) -> HttpResponse {
    let mut sources: Vec<&[u8]> = vec![req.query_string().as_bytes()];
    if req.method() == Method::POST && is_form(&req) {
        sources.push(&body);
    }
    let params = Params::parse(&sources);
    let token = params.get("access_token").unwrap_or("").to_string();
    let previous = match current_session(&req, &state).await {
        Ok(s) => s.map(|(s, _)| s),
        Err(e) => return crate::http::internal_error(e),
    };
    let (ip, ua) = (peer_ip(&req), user_agent(&req));
    let engine = state.engine.clone();
    let result = blocking(move || {
        engine.redeem_sso_token(&token, &BrowserContext { ip: &ip, user_agent: &ua, previous: previous.as_ref() })
    })
    .await;
    match result {
        Ok(Ok(login)) => {
            let mut r = HttpResponse::Found()
                .insert_header(("Location", login.redirect.as_str()))
                .insert_header(("Cache-Control", "no-store"))
                .finish();
            let _ = r.add_cookie(&session_cookie(&state, login.cookie));
            r
        }
        Ok(Err(SsoError::Engine(e))) => crate::http::internal_error(e),
        Ok(Err(e)) => error_page(StatusCode::FORBIDDEN, "Single sign-on failed", &format!("{e}. Please sign in.")),
        Err(e) => crate::http::internal_error(e),
    }
}

/// RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0). With a
/// valid `id_token_hint` for the signed-in user it signs out at once;
/// otherwise the user confirms with a CSRF-protected form.
pub async fn logout(req: HttpRequest, body: Bytes, state: State) -> HttpResponse {
    let is_post = req.method() == Method::POST;
    let params = if is_post && is_form(&req) {
        Params::parse(&[req.query_string().as_bytes(), &body])
    } else {
        Params::parse(&[req.query_string().as_bytes()])
    };
    let session = match current_session(&req, &state).await {
        Ok(s) => s,
        Err(e) => return crate::http::internal_error(e),
    };
    let engine = state.engine.clone();
    let p = params.clone();
    let validated = match run(move || engine.validate_logout(&p)).await {
        Ok(v) => v,
        Err(e) if e.is_server_error() => return crate::http::internal_error(e.description),
        Err(e) => return error_page(StatusCode::BAD_REQUEST, "Sign-out request rejected", &e.description),
    };
    let confirmed = is_post && params.get("confirm") == Some("yes") && csrf_ok(&req, params.get(CSRF_FIELD));
    let hint_matches =
        |u: &gatehouse_engine::model::User| validated.hinted_sub.as_deref().is_some_and(|s| s == u.uuid.as_str());
    let mut frames = Vec::new();
    match &session {
        Some((s, u)) if confirmed || hint_matches(u) => {
            let engine = state.engine.clone();
            let (uid, sid) = (u.id, s.id);
            match blocking(move || {
                engine.end_session(uid, sid)?;
                engine.frontchannel_logout_urls(sid)
            })
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| e.to_string()))
            {
                Ok(urls) => frames = urls,
                Err(e) => return crate::http::internal_error(e),
            }
        }
        Some(_) => return confirm_logout_page(&req, &state, &params),
        None => {}
    }
    let mut r = match (&validated.redirect, frames.is_empty()) {
        (Some(url), true) => HttpResponse::Found().insert_header(("Location", url.as_str())).finish(),
        (redirect, _) => signed_out_page(&frames, redirect.as_deref()),
    };
    r.headers_mut()
        .insert(actix_web::http::header::CACHE_CONTROL, actix_web::http::header::HeaderValue::from_static("no-store"));
    if session.is_some() {
        let _ = r.add_cookie(&clear_session_cookie(&state));
    }
    r
}

fn confirm_logout_page(req: &HttpRequest, state: &State, params: &Params) -> HttpResponse {
    let (csrf, new_cookie) = csrf_token(req, state);
    let mut hidden = String::new();
    for (k, v) in params.pairs() {
        if k == CSRF_FIELD || k == "confirm" {
            continue;
        }
        hidden.push_str(&format!("<input type=\"hidden\" name=\"{}\" value=\"{}\">", attr(k), attr(v)));
    }
    let body = format!(
        "<p>{}</p><form method=\"post\" action=\"{}\">{hidden}\
         <input type=\"hidden\" name=\"{CSRF_FIELD}\" value=\"{}\">\
         <button type=\"submit\" name=\"confirm\" value=\"yes\">Sign out</button></form>",
        text("Do you want to sign out of Gatehouse?"),
        attr(req.path()),
        attr(&csrf)
    );
    let mut r = HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .body(layout("Sign out", &body));
    if let Some(c) = new_cookie {
        let _ = r.add_cookie(&c);
    }
    r
}

/// "You are signed out", loading each front-channel logout URL in a hidden
/// iframe (Front-Channel Logout 1.0 §4). With a post-logout redirect, a
/// `Refresh` header moves on once the frames had time to load, and a link
/// does so at once.
fn signed_out_page(frames: &[String], redirect: Option<&str>) -> HttpResponse {
    let mut body = String::from("<p>You are signed out of Gatehouse.</p>");
    if !frames.is_empty() {
        body.push_str(&format!("<p>Signing you out of {} app(s) as well.</p>", frames.len()));
        for (i, f) in frames.iter().enumerate() {
            body.push_str(&format!(
                "<iframe src=\"{}\" title=\"Sign-out {}\" width=\"0\" height=\"0\" hidden></iframe>",
                attr(f),
                i + 1
            ));
        }
    }
    if let Some(url) = redirect {
        body.push_str(&format!("<p><a href=\"{}\">Continue</a></p>", attr(url)));
    }
    let origins: Vec<String> =
        frames.iter().filter_map(|f| url::Url::parse(f).ok()).map(|u| u.origin().ascii_serialization()).collect();
    let mut r = HttpResponse::Ok();
    r.content_type("text/html; charset=utf-8");
    if !origins.is_empty() {
        r.insert_header((
            "Content-Security-Policy",
            format!("{}; frame-src {}", crate::http::guard::HTML_CSP, origins.join(" ")),
        ));
    }
    if let Some(url) = redirect {
        r.insert_header(("Refresh", format!("3; url={url}")));
    }
    r.body(layout("Signed out", &body))
}
