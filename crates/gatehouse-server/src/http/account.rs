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
        .route("/account/links/unlink", web::post().to(unlink))
        .route("/account/profile", web::post().to(save_profile))
        .route("/account/sessions/end-others", web::post().to(end_other_sessions))
        .route("/account/apps/revoke", web::post().to(revoke_app));
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
        let apps: Vec<(String, String, String)> = engine
            .consents_of_user(uid)?
            .into_iter()
            .map(|c| {
                let name = engine.client_by_client_id(&c.client_id).ok().flatten().map(|cl| cl.name);
                (c.client_id.clone(), name.unwrap_or(c.client_id), format_timestamp(c.created_at))
            })
            .collect();
        Ok::<_, gatehouse_engine::EngineError>((engine.sessions_of_user(uid)?, engine.identity_links(uid)?, apps))
    })
    .await;
    let (sessions, links, apps) = match found {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return super::internal_error(e),
        Err(e) => return super::internal_error(e),
    };
    let (csrf, new_cookie) = csrf_token(&req, &state);
    let csrf_input = format!("<input type=\"hidden\" name=\"{CSRF_FIELD}\" value=\"{}\">", attr(&csrf));
    let mut rows = String::new();
    for s in &sessions {
        let this = if s.id == current.id { " <strong>(this browser)</strong>" } else { "" };
        let end = if s.id == current.id {
            String::new()
        } else {
            format!(
                "<form method=\"post\" action=\"/account/sessions/end\">{csrf_input}\
                 <input type=\"hidden\" name=\"session_id\" value=\"{}\"><button type=\"submit\" class=\"secondary\">Sign out</button></form>",
                s.id
            )
        };
        rows.push_str(&format!(
            "<tr><td>{}{this}</td><td>{}</td><td>{}</td><td>{}</td><td>{end}</td></tr>",
            text(&device(&s.user_agent)),
            text(&format_timestamp(s.created_at)),
            text(&s.ip),
            text(&s.via),
        ));
    }
    let others = sessions.iter().filter(|s| s.id != current.id).count();
    let everywhere_else = if others > 0 {
        format!(
            "<form method=\"post\" action=\"/account/sessions/end-others\">{csrf_input}\
             <button type=\"submit\" class=\"secondary\">Sign out everywhere else ({others})</button></form>"
        )
    } else {
        String::new()
    };
    let mut app_rows = String::new();
    for (client_id, name, since) in &apps {
        app_rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td><form method=\"post\" action=\"/account/apps/revoke\">{csrf_input}\
             <input type=\"hidden\" name=\"client_id\" value=\"{}\"><button type=\"submit\" class=\"secondary\">Revoke access</button></form></td></tr>",
            text(name),
            text(since),
            attr(client_id)
        ));
    }
    let apps_html = if apps.is_empty() {
        "<p class=\"muted\">You have not allowed any app yet (apps run by this site's operator do not ask).</p>"
            .to_string()
    } else {
        format!(
            "<div class=\"table-wrap\" tabindex=\"0\" role=\"region\" aria-label=\"Table (scrolls sideways)\"><table><thead><tr><th scope=\"col\">App</th><th scope=\"col\">Allowed on (UTC)</th><th scope=\"col\"></th></tr></thead>\
             <tbody>{app_rows}</tbody></table></div>"
        )
    };
    let mut link_rows = String::new();
    for l in &links {
        link_rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td><form method=\"post\" action=\"/account/links/unlink\">{csrf_input}\
             <input type=\"hidden\" name=\"plugin\" value=\"{}\"><input type=\"hidden\" name=\"subject\" value=\"{}\">\
             <button type=\"submit\" class=\"secondary\">Unlink</button></form></td></tr>",
            text(&l.plugin),
            text(l.email.as_deref().unwrap_or("")),
            text(&format_timestamp(l.last_login_at)),
            attr(&l.plugin),
            attr(&l.subject),
        ));
    }
    let links_html = if links.is_empty() {
        "<p class=\"muted\">No sign-in through another provider is linked.</p>".to_string()
    } else {
        format!(
            "<div class=\"table-wrap\" tabindex=\"0\" role=\"region\" aria-label=\"Table (scrolls sideways)\"><table><thead><tr><th scope=\"col\">Through</th><th scope=\"col\">As</th><th scope=\"col\">Last used</th><th scope=\"col\"></th></tr></thead>\
             <tbody>{link_rows}</tbody></table></div>"
        )
    };
    let (sso_state, sso_next, sso_label) =
        if user.allow_sso { ("on", "off", "Switch off") } else { ("off", "on", "Switch on") };
    let q = Params::parse(&[req.query_string().as_bytes()]);
    let notice = match q.get("done") {
        Some("profile") => "<p class=\"notice\" role=\"status\">Your profile was saved.</p>",
        Some("others") => "<p class=\"notice\" role=\"status\">Every other browser was signed out.</p>",
        Some("revoked") => "<p class=\"notice\" role=\"status\">The app no longer has access.</p>",
        _ => "",
    };
    let locale_options: String = [("", "Browser default"), ("en", "English"), ("de", "Deutsch")]
        .iter()
        .map(|(v, label)| {
            format!("<option value=\"{v}\"{}>{label}</option>", if user.locale == *v { " selected" } else { "" })
        })
        .collect();
    let body = format!(
        "{notice}<h2>Profile</h2>\
         <form method=\"post\" action=\"/account/profile\">{csrf_input}\
         <label>Name <input type=\"text\" name=\"name\" value=\"{name}\" autocomplete=\"name\"></label>\
         <label>Language <select name=\"locale\">{locale_options}</select></label>\
         <p>E-mail address: <strong>{email}</strong>{verified}</p>\
         <p><button type=\"submit\">Save profile</button></p></form>\
         <h2 id=\"password\">Password</h2>{password_note}\
         <form method=\"post\" action=\"/account/password\">{csrf_input}\
         <label>Current password <input type=\"password\" name=\"current\" autocomplete=\"current-password\" required></label>\
         <label>New password (at least {min} characters) <input type=\"password\" name=\"password\" autocomplete=\"new-password\" minlength=\"{min}\" required></label>\
         <label>New password again <input type=\"password\" name=\"password2\" autocomplete=\"new-password\" required></label>\
         <p><button type=\"submit\">Change password</button></p></form>\
         <h2 id=\"two-factor\">Two-step sign-in</h2>\
         <p class=\"muted\">A second step (an app code or a passkey) is not available yet on this site.</p>\
         <h2>Allow Single Sign-On</h2>\
         <p>Single sign-on is <strong id=\"sso-state\">{sso_state}</strong>. When it is on, an app that manages your \
         account for you (such as a billing portal) may open a signed-in page for you with a one-time link, without \
         asking for your password. When it is off, those links are refused. It does not change signing in to apps \
         yourself, with your password or a \"Sign in with\" button.</p>\
         <form method=\"post\" action=\"/account/sso\">{csrf_input}\
         <input type=\"hidden\" name=\"allow\" value=\"{sso_next}\"><button type=\"submit\" class=\"secondary\">{sso_label}</button></form>\
         <h2>Where you are signed in</h2>\
         <div class=\"table-wrap\" tabindex=\"0\" role=\"region\" aria-label=\"Table (scrolls sideways)\"><table><thead><tr><th scope=\"col\">Device</th><th scope=\"col\">Since (UTC)</th><th scope=\"col\">IP address</th><th scope=\"col\">How</th><th scope=\"col\"></th></tr></thead>\
         <tbody>{rows}</tbody></table></div>{everywhere_else}\
         <h2>Apps you allowed</h2>{apps_html}\
         <h2>Linked sign-ins</h2>{links_html}\
         <p><a href=\"/logout\">Sign out</a></p>",
        name = attr(&user.display_name),
        email = text(&user.email),
        verified = if user.email_verified { " (confirmed)" } else { " (not confirmed)" },
        min = state.engine.config.password_min_length,
        password_note = q
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

/// "Chrome on Linux" from a user-agent string (woothee), or the string
/// itself, shortened, when it names no known browser.
fn device(ua: &str) -> String {
    match woothee::parser::Parser::new().parse(ua) {
        Some(r) if r.name != "UNKNOWN" => {
            if r.os != "UNKNOWN" {
                format!("{} on {}", r.name, r.os)
            } else {
                r.name.to_string()
            }
        }
        _ => {
            let short: String = ua.chars().take(40).collect();
            if short.is_empty() {
                "Unknown device".into()
            } else {
                short
            }
        }
    }
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

async fn save_profile(req: HttpRequest, body: Bytes, state: State) -> HttpResponse {
    let (f, _, user) = match signed_in_form(&req, &body, &state).await {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let patch = gatehouse_engine::admin::UserPatch {
        name: f.get("name").map(str::to_string),
        locale: f.get("locale").map(str::to_string),
        ..Default::default()
    };
    let engine = state.engine.clone();
    match blocking(move || engine.update_user(user.id, patch)).await {
        Ok(Ok(_)) => see_other("/account?done=profile"),
        Ok(Err(gatehouse_engine::EngineError::Invalid(m))) => error_page(StatusCode::BAD_REQUEST, "Your account", &m),
        Ok(Err(e)) => super::internal_error(e),
        Err(e) => super::internal_error(e),
    }
}

async fn end_other_sessions(req: HttpRequest, body: Bytes, state: State) -> HttpResponse {
    let (_, current, user) = match signed_in_form(&req, &body, &state).await {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let engine = state.engine.clone();
    match blocking(move || engine.end_other_sessions(user.id, current.id)).await {
        Ok(Ok(_)) => see_other("/account?done=others"),
        Ok(Err(e)) => super::internal_error(e),
        Err(e) => super::internal_error(e),
    }
}

async fn revoke_app(req: HttpRequest, body: Bytes, state: State) -> HttpResponse {
    let (f, _, user) = match signed_in_form(&req, &body, &state).await {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let Some(client_id) = f.get("client_id").map(str::to_string) else {
        return error_page(StatusCode::BAD_REQUEST, "Your account", "No app was chosen.");
    };
    let engine = state.engine.clone();
    match blocking(move || engine.revoke_consent(user.id, &client_id)).await {
        Ok(Ok(())) => see_other("/account?done=revoked"),
        Ok(Err(gatehouse_engine::EngineError::NotFound(_))) => {
            error_page(StatusCode::NOT_FOUND, "Your account", "That app has no access to revoke.")
        }
        Ok(Err(e)) => super::internal_error(e),
        Err(e) => super::internal_error(e),
    }
}
