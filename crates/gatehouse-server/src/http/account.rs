//! The account page: the user's profile, the "Allow Single Sign-On"
//! switch, their active sessions (each can be ended) and the upstream
//! sign-ins linked to them (each can be unlinked).

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use gatehouse_core::time::format_timestamp;
use gatehouse_engine::model::{Session, User};
use gatehouse_engine::oauth::Params;
use html_escape::{encode_double_quoted_attribute as attr, encode_text as text};

use super::browser::{clear_session_cookie, csrf_ok, csrf_token, current_session, is_form, CSRF_FIELD};
use super::pages::{error_page, layout};
use super::{blocking, State};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/account", web::get().to(account))
        .route("/account/sso", web::post().to(set_sso))
        .route("/account/sessions/end", web::post().to(end_session))
        .route("/account/links/unlink", web::post().to(unlink));
}

fn see_other(to: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header(("Location", to)).insert_header(("Cache-Control", "no-store")).finish()
}

/// The signed-in user, or the response that sends the browser to sign in.
async fn signed_in(req: &HttpRequest, state: &State) -> Result<(Session, User), HttpResponse> {
    match current_session(req, state).await {
        Ok(Some(s)) if s.1.status().may_sign_in() => Ok(s),
        Ok(_) => Err(see_other("/login?return_to=%2Faccount")),
        Err(e) => Err(super::internal_error(e)),
    }
}

async fn account(req: HttpRequest, state: State) -> HttpResponse {
    let (current, user) = match signed_in(&req, &state).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let engine = state.engine.clone();
    let uid = user.id;
    let found = blocking(move || {
        Ok::<_, gatehouse_engine::EngineError>((engine.sessions_of_user(uid)?, engine.identity_links(uid)?))
    })
    .await;
    let (sessions, links) = match found {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return super::internal_error(e),
        Err(e) => return super::internal_error(e),
    };
    let (csrf, new_cookie) = csrf_token(&req, &state);
    let csrf_input = format!("<input type=\"hidden\" name=\"{CSRF_FIELD}\" value=\"{}\">", attr(&csrf));
    let mut rows = String::new();
    for s in &sessions {
        let this = if s.id == current.id { " (this browser)" } else { "" };
        rows.push_str(&format!(
            "<tr><td>{}{}</td><td>{}</td><td>{}</td><td>{}</td><td><form method=\"post\" action=\"/account/sessions/end\">\
             {csrf_input}<input type=\"hidden\" name=\"session_id\" value=\"{}\"><button type=\"submit\">End</button></form></td></tr>",
            text(&format_timestamp(s.created_at)),
            this,
            text(&s.via),
            text(&s.ip),
            text(&s.user_agent.chars().take(60).collect::<String>()),
            s.id
        ));
    }
    let mut link_rows = String::new();
    for l in &links {
        link_rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td><form method=\"post\" action=\"/account/links/unlink\">{csrf_input}\
             <input type=\"hidden\" name=\"plugin\" value=\"{}\"><input type=\"hidden\" name=\"subject\" value=\"{}\">\
             <button type=\"submit\">Unlink</button></form></td></tr>",
            text(&l.plugin),
            text(l.email.as_deref().unwrap_or("")),
            text(&format_timestamp(l.last_login_at)),
            attr(&l.plugin),
            attr(&l.subject),
        ));
    }
    let links_html = if links.is_empty() {
        "<p>No upstream sign-ins are linked.</p>".to_string()
    } else {
        format!("<table><tr><th>Through</th><th>As</th><th>Last used</th><th></th></tr>{link_rows}</table>")
    };
    let (sso_state, sso_next, sso_label) =
        if user.allow_sso { ("on", "off", "Switch off") } else { ("off", "on", "Switch on") };
    let body = format!(
        "<h2>Profile</h2><table>\
         <tr><th>Name</th><td>{name}</td></tr><tr><th>E-mail</th><td>{email}</td></tr>\
         <tr><th>Status</th><td>{status}</td></tr></table>\
         <h2>Allow Single Sign-On</h2><p>Single sign-on is <strong id=\"sso-state\">{sso_state}</strong>.</p>\
         <form method=\"post\" action=\"/account/sso\">{csrf_input}\
         <input type=\"hidden\" name=\"allow\" value=\"{sso_next}\"><button type=\"submit\">{sso_label}</button></form>\
         <h2 id=\"password\">Password</h2>{password_note}\
         <form method=\"post\" action=\"/account/password\">{csrf_input}\
         <label>Current password <input type=\"password\" name=\"current\" autocomplete=\"current-password\" required></label>\
         <label>New password (at least {min} characters) <input type=\"password\" name=\"password\" autocomplete=\"new-password\" minlength=\"{min}\" required></label>\
         <label>New password again <input type=\"password\" name=\"password2\" autocomplete=\"new-password\" required></label>\
         <p><button type=\"submit\">Change password</button></p></form>\
         <h2>Active sessions</h2><table><tr><th>Started</th><th>How</th><th>IP</th><th>Browser</th><th></th></tr>{rows}</table>\
         <h2>Linked sign-ins</h2>{links_html}\
         <p><a href=\"/logout\">Sign out</a></p>",
        name = text(&user.display_name),
        email = text(&user.email),
        status = text(user.status.as_str()),
        min = state.engine.config.password_min_length,
        password_note = Params::parse(&[req.query_string().as_bytes()])
            .get("password")
            .and_then(|code| super::password::change_outcome(code, state.engine.config.password_min_length))
            .map(|(ok, m)| format!(
                "<p class=\"{}\" role=\"status\" id=\"password-outcome\">{}</p>",
                if ok { "notice" } else { "error" },
                text(&m)
            ))
            .unwrap_or_default(),
    );
    let mut r = HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .insert_header(("X-Frame-Options", "DENY"))
        .body(layout("Your account", &body));
    if let Some(c) = new_cookie {
        let _ = r.add_cookie(&c);
    }
    r
}

/// Reads a CSRF-checked form, or the error page.
fn checked_form(req: &HttpRequest, body: &Bytes) -> Result<Params, Box<HttpResponse>> {
    let f = Params::parse(&[body]);
    if !is_form(req) || !csrf_ok(req, f.get(CSRF_FIELD)) {
        return Err(Box::new(error_page(
            StatusCode::FORBIDDEN,
            "Form expired",
            "The form has expired. Please try again.",
        )));
    }
    Ok(f)
}

/// What every account form needs first: a CSRF-checked body from a
/// signed-in user (or the page that refuses it).
async fn signed_in_form(
    req: &HttpRequest,
    body: &Bytes,
    state: &State,
) -> Result<(Params, Session, User), Box<HttpResponse>> {
    let f = checked_form(req, body)?;
    let (session, user) = signed_in(req, state).await.map_err(Box::new)?;
    Ok((f, session, user))
}

async fn set_sso(req: HttpRequest, body: Bytes, state: State) -> HttpResponse {
    let (f, _, user) = match signed_in_form(&req, &body, &state).await {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let allow = match f.get("allow") {
        Some("on") => true,
        Some("off") => false,
        _ => return error_page(StatusCode::BAD_REQUEST, "Your account", "Choose on or off."),
    };
    let engine = state.engine.clone();
    match blocking(move || engine.set_user_allow_sso(user.id, allow)).await {
        Ok(Ok(_)) => see_other("/account"),
        Ok(Err(e)) => super::internal_error(e),
        Err(e) => super::internal_error(e),
    }
}

async fn end_session(req: HttpRequest, body: Bytes, state: State) -> HttpResponse {
    let (f, current, user) = match signed_in_form(&req, &body, &state).await {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let Some(sid) = f.get("session_id").and_then(|v| v.parse::<i64>().ok()) else {
        return error_page(StatusCode::BAD_REQUEST, "Your account", "No session was chosen.");
    };
    let engine = state.engine.clone();
    match blocking(move || engine.end_session(user.id, sid)).await {
        Ok(Ok(_)) if sid == current.id => {
            let mut r = see_other("/login");
            let _ = r.add_cookie(&clear_session_cookie(&state));
            r
        }
        Ok(Ok(_)) => see_other("/account"),
        Ok(Err(e)) => super::internal_error(e),
        Err(e) => super::internal_error(e),
    }
}

async fn unlink(req: HttpRequest, body: Bytes, state: State) -> HttpResponse {
    let (f, _, user) = match signed_in_form(&req, &body, &state).await {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let (Some(plugin), Some(subject)) = (f.get("plugin").map(str::to_string), f.get("subject").map(str::to_string))
    else {
        return error_page(StatusCode::BAD_REQUEST, "Your account", "No linked sign-in was chosen.");
    };
    let engine = state.engine.clone();
    match blocking(move || engine.unlink_identity(user.id, &plugin, &subject)).await {
        Ok(Ok(true)) => see_other("/account"),
        Ok(Ok(false)) => {
            error_page(StatusCode::NOT_FOUND, "Your account", "That sign-in is not linked to your account.")
        }
        Ok(Err(e)) => super::internal_error(e),
        Err(e) => super::internal_error(e),
    }
}
