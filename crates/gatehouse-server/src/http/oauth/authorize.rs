//! `GET|POST /oauth2/authorize` and its consent screen. The consent form
//! posts back to the same path (so a dialect's path keeps its dialect) with
//! the original parameters, a CSRF token and the user's answer.

use std::sync::Arc;

use actix_web::http::{Method, StatusCode};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};
use gatehouse_core::Dialect;
use gatehouse_engine::oauth::authorize::{AuthorizeError, AuthorizeOutcome, AuthorizeRequest};
use gatehouse_engine::oauth::{OAuthError, Params};
use html_escape::{encode_double_quoted_attribute as attr, encode_text as text};

use super::{oauth_error_response, run};
use crate::http::browser::{clear_session_cookie, csrf_ok, csrf_token, current_session, is_form, CSRF_FIELD};
use crate::http::pages::error_page;
use crate::http::State;

/// The consent form's answer field.
const CONSENT_FIELD: &str = "gatehouse_consent";

fn redirect(url: &str) -> HttpResponse {
    HttpResponse::Found().insert_header(("Location", url)).insert_header(("Cache-Control", "no-store")).finish()
}

fn pre_redirect_error(dialect: &Dialect, e: &OAuthError) -> HttpResponse {
    if dialect.pre_redirect_errors_as_json {
        return oauth_error_response(e);
    }
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
    error_page(status, "Sign-in request rejected", &format!("{} ({})", e.description, e.code))
}

/// The request's parameters again, as a query string to come back to after
/// sign-in (without `prompt=login`, which the sign-in just satisfied).
fn return_query(params: &Params) -> String {
    let mut ser = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in params.pairs() {
        if k == CSRF_FIELD || k == CONSENT_FIELD {
            continue;
        }
        if k == "prompt" {
            let rest: Vec<&str> = v.split(' ').filter(|p| !p.is_empty() && *p != "login").collect();
            if !rest.is_empty() {
                ser.append_pair(k, &rest.join(" "));
            }
            continue;
        }
        ser.append_pair(k, v);
    }
    ser.finish()
}

pub async fn authorize(dialect: Arc<Dialect>, req: HttpRequest, body: Bytes, state: State) -> HttpResponse {
    let is_post = req.method() == Method::POST;
    if is_post && !body.is_empty() && !is_form(&req) {
        return pre_redirect_error(
            &dialect,
            &OAuthError::invalid_request(
                "The content type for POST requests must be \"application/x-www-form-urlencoded\"",
            ),
        );
    }
    let params = if is_post {
        Params::parse(&[req.query_string().as_bytes(), &body])
    } else {
        Params::parse(&[req.query_string().as_bytes()])
    };
    let answer = if is_post { params.get(CONSENT_FIELD).map(|a| a == "allow") } else { None };
    if answer.is_some() && !csrf_ok(&req, params.get(CSRF_FIELD)) {
        return error_page(
            StatusCode::FORBIDDEN,
            "Form expired",
            "The form has expired. Please go back and try again.",
        );
    }
    let session = match current_session(&req, &state).await {
        Ok(s) => s,
        Err(e) => return crate::http::internal_error(e),
    };
    let engine = state.engine.clone();
    let d = dialect.clone();
    let p = params.clone();
    let sess = session.clone();
    let result = run(move || {
        let request = match engine.validate_authorize(&d, &p) {
            Ok(r) => r,
            Err(e) => return Ok(Err(e)),
        };
        let outcome = match (answer, &sess) {
            (Some(allow), Some((s, u))) if u.status().may_sign_in() => {
                AuthorizeOutcome::Redirect(engine.answer_consent(&request, s, u, allow)?)
            }
            _ => engine.decide_authorize(&request, sess.as_ref())?,
        };
        Ok(Ok((request, outcome)))
    })
    .await;
    let (request, outcome) = match result {
        Ok(Ok(v)) => v,
        Ok(Err(AuthorizeError::PreRedirect(e))) | Err(e) => return pre_redirect_error(&dialect, &e),
        Ok(Err(AuthorizeError::Redirect { url, .. })) => return redirect(&url),
    };
    match outcome {
        AuthorizeOutcome::Redirect(url) => redirect(&url),
        AuthorizeOutcome::ClosedUser(url) => {
            let mut r = redirect(&url);
            let _ = r.add_cookie(&clear_session_cookie(&state));
            r
        }
        AuthorizeOutcome::Login => {
            let back = format!("{}?{}", req.path(), return_query(&params));
            // `idp_hint` (or Keycloak's `kc_idp_hint`) names an upstream:
            // straight there, skipping Gatehouse's own sign-in page.
            let hint = params.get("idp_hint").or_else(|| params.get("kc_idp_hint"));
            if let Some((_, upstream)) = hint.and_then(|h| state.plugins.upstream(h)) {
                let mut q = url::form_urlencoded::Serializer::new(String::new());
                q.append_pair("return_to", &back);
                if let Some(h) = &request.login_hint {
                    q.append_pair("login_hint", h);
                }
                return redirect(&format!("/federation/{}/start?{}", upstream.id, q.finish()));
            }
            let mut q = url::form_urlencoded::Serializer::new(String::new());
            q.append_pair("return_to", &back);
            if let Some(h) = &request.login_hint {
                q.append_pair("login_hint", h);
            }
            redirect(&format!("/login?{}", q.finish()))
        }
        AuthorizeOutcome::Consent => {
            let (who, locale) = session.as_ref().map(|(_, u)| (u.email.clone(), u.locale.clone())).unwrap_or_default();
            consent_page(&req, &state, &params, &request, &who, &locale)
        }
        AuthorizeOutcome::VerifyEmail => {
            let back = format!("{}?{}", req.path(), return_query(&params));
            crate::http::signup::verify_first_page(&req, &state, &request.client.name, &back)
        }
        AuthorizeOutcome::SecondFactor => {
            // Step-up: the code step for this session, then back here.
            let back = format!("{}?{}", req.path(), return_query(&params));
            let Some((s, u)) = session.clone() else { return crate::http::internal_error("no session") };
            let engine = state.engine.clone();
            match crate::http::blocking(move || engine.begin_second_factor(u.id, Some(&s))).await {
                Ok(Ok(token)) => {
                    let mut r = redirect(&crate::http::two_step::code_step_url(Some(&back)));
                    let _ = r.add_cookie(&crate::http::two_step::pending_cookie(&state, token));
                    r
                }
                Ok(Err(e)) => crate::http::internal_error(e),
                Err(e) => crate::http::internal_error(e),
            }
        }
        AuthorizeOutcome::EnrolSecondFactor => {
            let back = format!("{}?{}", req.path(), return_query(&params));
            redirect(&format!(
                "/account/two-step?return_to={}",
                url::form_urlencoded::byte_serialize(back.as_bytes()).collect::<String>()
            ))
        }
    }
}

fn consent_page(
    req: &HttpRequest,
    state: &State,
    params: &Params,
    request: &AuthorizeRequest,
    signed_in_as: &str,
    locale: &str,
) -> HttpResponse {
    let lang = crate::http::i18n::pick(req, params.get("ui_locales"), Some(locale).filter(|l| !l.is_empty()));
    let (csrf, new_cookie) = csrf_token(req, state);
    let mut hidden = String::new();
    for (k, v) in params.pairs() {
        if k == CSRF_FIELD || k == CONSENT_FIELD {
            continue;
        }
        hidden.push_str(&format!("<input type=\"hidden\" name=\"{}\" value=\"{}\">", attr(k), attr(v)));
    }
    // Scopes in plain words: the catalog's description, the name only when
    // an operator gave none.
    let mut items = String::new();
    for name in request.scope.iter() {
        let said = state.engine.catalog.get(name).map(|s| s.description.as_str()).filter(|d| !d.is_empty());
        let said = said.map(|d| standard_description(lang, d)).unwrap_or_else(|| name.to_string());
        items.push_str(&format!("<li>{}</li>", text(&said)));
    }
    let domain =
        url::Url::parse(&request.redirect_uri).ok().and_then(|u| u.host_str().map(str::to_string)).unwrap_or_default();
    let this_request = format!("{}?{}", req.path(), return_query(params));
    let switch = format!(
        "/login?return_to={}",
        url::form_urlencoded::byte_serialize(this_request.as_bytes()).collect::<String>()
    );
    let strong = |v: &str| format!("<strong>{}</strong>", text(v));
    let body = format!(
        "<p>{signed_in} <a href=\"{switch}\">{not_you}</a></p>\
         <p>{asks}</p><ul>{items}</ul>\
         <form method=\"post\" action=\"{action}\">{hidden}\
         <input type=\"hidden\" name=\"{CSRF_FIELD}\" value=\"{csrf}\">\
         <button type=\"submit\" name=\"{CONSENT_FIELD}\" value=\"allow\">{allow}</button> \
         <button type=\"submit\" class=\"secondary\" name=\"{CONSENT_FIELD}\" value=\"deny\">{deny}</button></form>\
         <p class=\"muted\"><a href=\"/account\">{take_back}</a></p>",
        signed_in = text(lang.t("You are signed in as {who}.")).replace("{who}", &strong(signed_in_as)),
        not_you = text(lang.t("Not you?")),
        asks = text(lang.t("{app} ({domain}) would like to:"))
            .replace("{app}", &strong(&request.client.name))
            .replace("{domain}", &format!("<span class=\"muted\">{}</span>", text(&domain))),
        allow = text(lang.t("Allow")),
        deny = text(lang.t("Deny")),
        take_back = text(lang.t("You can take this back at any time on your account page.")),
        switch = attr(&switch),
        action = attr(req.path()),
        csrf = attr(&csrf),
    );
    let mut r = HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .insert_header(("X-Frame-Options", "DENY"))
        .body(crate::http::pages::layout_in(
            lang,
            &lang.t("Allow {app} access?").replace("{app}", &request.client.name),
            &body,
        ));
    if let Some(c) = new_cookie {
        let _ = r.add_cookie(&c);
    }
    r
}

/// A standard scope's description in `lang` (operators' own descriptions
/// are shown as written).
fn standard_description(lang: crate::http::i18n::Lang, description: &str) -> String {
    const STANDARD: &[&str] = &[
        "Sign you in and tell the app who you are",
        "See your name and language",
        "See your e-mail address",
        "See the groups you belong to",
        "Stay connected to the app while you are away (refresh tokens)",
    ];
    match STANDARD.iter().find(|s| **s == description) {
        Some(s) => lang.t(s).to_string(),
        None => description.to_string(),
    }
}
