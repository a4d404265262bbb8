//! `/setup`: the first administrator's page. On a hub without any
//! administrator, `gatehouse serve` prints a one-time link to it (valid an
//! hour, single use, only in the server's own output); the page asks for
//! the administrator's e-mail, name and password, makes them, and signs
//! them in.

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use gatehouse_engine::admin::SetupError;
use gatehouse_engine::oauth::Params;
use gatehouse_engine::sessions::BrowserContext;
use html_escape::{encode_double_quoted_attribute as attr, encode_text as text};

use super::browser::{csrf_ok, csrf_token, is_form, peer_ip, session_cookie, user_agent, CSRF_FIELD};
use super::pages::{error_page, layout};
use super::{blocking, State};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/setup", web::get().to(form)).route("/setup", web::post().to(submit));
}

fn invalid_link() -> HttpResponse {
    error_page(
        StatusCode::NOT_FOUND,
        "Setup link not valid",
        "This setup link was used, has expired, or an administrator already exists. Restart the server to print \
         a new link, or sign in as an administrator at /login.",
    )
}

fn page(
    req: &HttpRequest,
    state: &State,
    status: StatusCode,
    token: &str,
    error: Option<&str>,
    email: &str,
) -> HttpResponse {
    let (csrf, new_cookie) = csrf_token(req, state);
    let err = error.map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", text(e))).unwrap_or_default();
    let body = format!(
        "<p>No administrator exists yet. The person who can read this server's output sets one up here. \
         This link works once.</p>{err}\
         <form method=\"post\" action=\"/setup\">\
         <input type=\"hidden\" name=\"{CSRF_FIELD}\" value=\"{csrf}\">\
         <input type=\"hidden\" name=\"token\" value=\"{token}\">\
         <label>E-mail address <input type=\"email\" name=\"email\" value=\"{email}\" autocomplete=\"username\" required autofocus></label>\
         <label>Name <input type=\"text\" name=\"name\" autocomplete=\"name\"></label>\
         <label>Password (at least 10 characters) <input type=\"password\" name=\"password\" minlength=\"10\" autocomplete=\"new-password\" required></label>\
         <label>Password again <input type=\"password\" name=\"password2\" minlength=\"10\" autocomplete=\"new-password\" required></label>\
         <p><button type=\"submit\">Create the administrator</button></p></form>",
        csrf = attr(&csrf),
        token = attr(token),
        email = attr(email),
    );
    let mut r = HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .body(layout("Set up Gatehouse", &body));
    if let Some(c) = new_cookie {
        let _ = r.add_cookie(&c);
    }
    r
}

async fn form(req: HttpRequest, state: State) -> HttpResponse {
    let q = Params::parse(&[req.query_string().as_bytes()]);
    let token = q.get("token").unwrap_or("").to_string();
    let engine = state.engine.clone();
    let t = token.clone();
    match blocking(move || engine.setup_token_valid(&t)).await {
        Ok(Ok(true)) => page(&req, &state, StatusCode::OK, &token, None, ""),
        Ok(Ok(false)) => invalid_link(),
        Ok(Err(e)) => super::internal_error(e),
        Err(e) => super::internal_error(e),
    }
}

async fn submit(req: HttpRequest, body: Bytes, state: State) -> HttpResponse {
    if !is_form(&req) {
        return error_page(StatusCode::BAD_REQUEST, "Set up Gatehouse", "The form could not be read.");
    }
    let f = Params::parse(&[&body]);
    let token = f.get("token").unwrap_or("").to_string();
    let email = f.get("email").unwrap_or("").to_string();
    if !csrf_ok(&req, f.get(CSRF_FIELD)) {
        return page(
            &req,
            &state,
            StatusCode::FORBIDDEN,
            &token,
            Some("The form has expired. Please try again."),
            &email,
        );
    }
    let password = f.get("password").unwrap_or("").to_string();
    if f.get("password2") != Some(password.as_str()) {
        return page(&req, &state, StatusCode::BAD_REQUEST, &token, Some("The two passwords differ."), &email);
    }
    let name = f.get("name").unwrap_or("").to_string();
    let (ip, ua) = (peer_ip(&req), user_agent(&req));
    let engine = state.engine.clone();
    let e2 = email.clone();
    let result = blocking(move || {
        let admin = engine.complete_setup(&token, &e2, &name, &password)?;
        let ctx = BrowserContext { ip: &ip, user_agent: &ua, previous: None };
        Ok::<_, SetupError>(engine.sign_in(admin.id, "password", &ctx)?)
    })
    .await;
    let token = f.get("token").unwrap_or("");
    match result {
        Ok(Ok(signed_in)) => {
            let mut r = HttpResponse::SeeOther()
                .insert_header(("Location", "/account"))
                .insert_header(("Cache-Control", "no-store"))
                .finish();
            let _ = r.add_cookie(&session_cookie(&state, signed_in.cookie));
            r
        }
        Ok(Err(SetupError::InvalidToken)) => invalid_link(),
        Ok(Err(SetupError::Engine(gatehouse_engine::EngineError::Invalid(m)))) => {
            page(&req, &state, StatusCode::BAD_REQUEST, token, Some(&m), &email)
        }
        Ok(Err(SetupError::Engine(e))) => super::internal_error(e),
        Err(e) => super::internal_error(e),
    }
}
