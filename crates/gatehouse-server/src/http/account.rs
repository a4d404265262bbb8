//! The account page: the user's profile, the "Allow Single Sign-On"
//! switch, their active sessions (each can be ended) and the upstream
//! sign-ins linked to them: each can be unlinked, and another upstream
//! connected, after a recent sign-in (re-authentication).

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use gatehouse_core::time::format_timestamp;
use gatehouse_engine::model::{Session, User};
use gatehouse_engine::oauth::Params;
use html_escape::{encode_double_quoted_attribute as attr, encode_text as text};

use super::browser::{clear_session_cookie, csrf_ok, csrf_token, current_session, is_form, CSRF_FIELD};
use super::pages::error_page;
use super::{blocking, State};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/account", web::get().to(account))
        .route("/account/sso", web::post().to(set_sso))
        .route("/account/sessions/end", web::post().to(end_session))
        .route("/account/links/unlink", web::post().to(unlink))
        .route("/account/links/connect", web::post().to(connect))
        .route("/account/profile", web::post().to(save_profile))
        .route("/account/sessions/end-others", web::post().to(end_other_sessions))
        .route("/account/apps/revoke", web::post().to(revoke_app));
}

fn see_other(to: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header(("Location", to)).insert_header(("Cache-Control", "no-store")).finish()
}

/// The signed-in user, or the response that sends the browser to sign in.
async fn signed_in(req: &HttpRequest, state: &State) -> Result<(Session, User), HttpResponse> {
    signed_in_for(req, state, "/account").await
}

/// The signed-in user of a member page, or the response that sends the
/// browser to sign in and back to `page`.
pub(super) async fn signed_in_for(
    req: &HttpRequest,
    state: &State,
    page: &str,
) -> Result<(Session, User), HttpResponse> {
    match current_session(req, state).await {
        Ok(Some(s)) if s.1.status().may_sign_in() => Ok(s),
        Ok(_) => Err(see_other(&format!(
            "/login?return_to={}",
            url::form_urlencoded::byte_serialize(page.as_bytes()).collect::<String>()
        ))),
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
    let lang = super::i18n::pick(&req, None, Some(user.locale.as_str()).filter(|l| !l.is_empty()));
    // Every fixed phrase goes through the catalog, escaped.
    let t = |en: &'static str| text(lang.t(en)).into_owned();
    let (csrf, new_cookie) = csrf_token(&req, &state);
    let csrf_input = format!("<input type=\"hidden\" name=\"{CSRF_FIELD}\" value=\"{}\">", attr(&csrf));
    let table = |headers: &[&'static str], rows: &str| {
        let ths: String = headers.iter().map(|h| format!("<th scope=\"col\">{}</th>", t(h))).collect();
        format!(
            "<div class=\"table-wrap\" tabindex=\"0\" role=\"region\" aria-label=\"{}\"><table><thead><tr>{ths}<th scope=\"col\"></th></tr></thead>\
             <tbody>{rows}</tbody></table></div>",
            t("Table (scrolls sideways)")
        )
    };
    let mut rows = String::new();
    for s in &sessions {
        let this =
            if s.id == current.id { format!(" <strong>{}</strong>", t("(this browser)")) } else { String::new() };
        let end = if s.id == current.id {
            String::new()
        } else {
            format!(
                "<form method=\"post\" action=\"/account/sessions/end\">{csrf_input}\
                 <input type=\"hidden\" name=\"session_id\" value=\"{}\"><button type=\"submit\" class=\"secondary\">{}</button></form>",
                s.id,
                t("Sign out")
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
             <button type=\"submit\" class=\"secondary\">{}</button></form>",
            t("Sign out everywhere else ({n})").replace("{n}", &others.to_string())
        )
    } else {
        String::new()
    };
    let mut app_rows = String::new();
    for (client_id, name, since) in &apps {
        app_rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td><form method=\"post\" action=\"/account/apps/revoke\">{csrf_input}\
             <input type=\"hidden\" name=\"client_id\" value=\"{}\"><button type=\"submit\" class=\"secondary\">{}</button></form></td></tr>",
            text(name),
            text(since),
            attr(client_id),
            t("Revoke access")
        ));
    }
    let apps_html = if apps.is_empty() {
        format!(
            "<p class=\"muted\">{}</p>",
            t("You have not allowed any app yet (apps run by this site's operator do not ask).")
        )
    } else {
        table(&["App", "Allowed on (UTC)"], &app_rows)
    };
    let upstreams: Vec<_> = state.plugins.plugins.iter().flat_map(|p| p.upstreams()).collect();
    let upstream_name = |id: &str| {
        upstreams.iter().find(|u| u.id == id).map(|u| u.display_name.clone()).unwrap_or_else(|| id.to_string())
    };
    let mut link_rows = String::new();
    for l in &links {
        link_rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td><form method=\"post\" action=\"/account/links/unlink\">{csrf_input}\
             <input type=\"hidden\" name=\"plugin\" value=\"{}\"><input type=\"hidden\" name=\"subject\" value=\"{}\">\
             <button type=\"submit\" class=\"secondary\">{}</button></form></td></tr>",
            text(&upstream_name(&l.plugin)),
            text(l.email.as_deref().unwrap_or("")),
            text(&format_timestamp(l.last_login_at)),
            attr(&l.plugin),
            attr(&l.subject),
            t("Unlink")
        ));
    }
    let links_html = if links.is_empty() {
        format!("<p class=\"muted\">{}</p>", t("No sign-in through another provider is linked."))
    } else {
        table(&["Through", "As", "Last used"], &link_rows)
    };
    // Upstreams not linked yet can be connected (one button each).
    let connect_html: String = upstreams
        .iter()
        .filter(|u| !links.iter().any(|l| l.plugin == u.id))
        .map(|u| {
            format!(
                "<form method=\"post\" action=\"/account/links/connect\" class=\"inline\">{csrf_input}\
                 <input type=\"hidden\" name=\"upstream\" value=\"{}\"><button type=\"submit\" class=\"secondary\">{}</button></form>",
                attr(&u.id),
                t("Connect {provider}").replace("{provider}", &text(&u.display_name))
            )
        })
        .collect();
    let links_html = if connect_html.is_empty() {
        links_html
    } else {
        format!(
            "{links_html}<p class=\"muted\">{}</p><div class=\"actions\">{connect_html}</div>",
            t("Connect another way to sign in. You may be asked to sign in again first.")
        )
    };
    let (sso_state, sso_next, sso_label) =
        if user.allow_sso { (t("on"), "off", t("Switch off")) } else { (t("off"), "on", t("Switch on")) };
    let q = Params::parse(&[req.query_string().as_bytes()]);
    let notice = match q.get("done") {
        Some("profile") => Some("Your profile was saved."),
        Some("others") => Some("Every other browser was signed out."),
        Some("revoked") => Some("The app no longer has access."),
        Some("linked") => Some("The sign-in is connected to your account."),
        Some("unlinked") => Some("The sign-in is no longer linked to your account."),
        _ => None,
    }
    .map(|m| format!("<p class=\"notice\" role=\"status\">{}</p>", t(m)))
    .unwrap_or_default();
    let locale_options: String = [("", t("Browser default")), ("en", "English".into()), ("de", "Deutsch".into())]
        .iter()
        .map(|(v, label)| {
            format!("<option value=\"{v}\"{}>{label}</option>", if user.locale == *v { " selected" } else { "" })
        })
        .collect();
    let min = state.engine.config.password_min_length.to_string();
    let body = format!(
        "{notice}<h2>{h_profile}</h2>\
         <form method=\"post\" action=\"/account/profile\">{csrf_input}\
         <label>{l_name} <input type=\"text\" name=\"name\" value=\"{name}\" autocomplete=\"name\"></label>\
         <label>{l_language} <select name=\"locale\">{locale_options}</select></label>\
         <p>{l_email} <strong>{email}</strong> {verified}</p>\
         <p><button type=\"submit\">{b_save}</button></p></form>\
         <h2 id=\"password\">{h_password}</h2>{password_note}\
         <form method=\"post\" action=\"/account/password\">{csrf_input}\
         <label>{l_current} <input type=\"password\" name=\"current\" autocomplete=\"current-password\" required></label>\
         <label>{l_new} <input type=\"password\" name=\"password\" autocomplete=\"new-password\" minlength=\"{min}\" required></label>\
         <label>{l_again} <input type=\"password\" name=\"password2\" autocomplete=\"new-password\" required></label>\
         <p><button type=\"submit\">{b_change}</button></p></form>\
         <h2 id=\"two-factor\">{h_two}</h2>\
         <p>{p_two} <a href=\"/account/two-step\">{a_two}</a></p>\
         <h2>{h_sso}</h2>\
         <p>{p_sso_state} {p_sso}</p>\
         <form method=\"post\" action=\"/account/sso\">{csrf_input}\
         <input type=\"hidden\" name=\"allow\" value=\"{sso_next}\"><button type=\"submit\" class=\"secondary\">{sso_label}</button></form>\
         <h2>{h_where}</h2>{sessions_table}{everywhere_else}\
         <h2>{h_apps}</h2>{apps_html}\
         <h2 id=\"linked\">{h_links}</h2>{links_html}\
         <p><a href=\"/logout\">{a_sign_out}</a></p>",
        h_profile = t("Profile"),
        l_name = t("Name"),
        l_language = t("Language"),
        l_email = t("E-mail address:"),
        b_save = t("Save profile"),
        h_password = t("Password"),
        l_current = t("Current password"),
        l_new = t("New password (at least {min} characters)").replace("{min}", &min),
        l_again = t("New password again"),
        b_change = t("Change password"),
        h_two = t("Two-step sign-in"),
        p_two = t("A code from an authenticator app can be asked for after your password."),
        a_two = t("Manage two-step sign-in"),
        h_sso = t("Allow Single Sign-On"),
        p_sso_state = t("Single sign-on is {state}.")
            .replace("{state}", &format!("<strong id=\"sso-state\">{sso_state}</strong>")),
        p_sso = t("When it is on, an app that manages your account for you (such as a billing portal) may open a signed-in page for you with a one-time link, without asking for your password. When it is off, those links are refused. It does not change signing in to apps yourself, with your password or a \"Sign in with\" button."),
        h_where = t("Where you are signed in"),
        sessions_table = table(&["Device", "Since (UTC)", "IP address", "How"], &rows),
        h_apps = t("Apps you allowed"),
        h_links = t("Linked sign-ins"),
        a_sign_out = t("Sign out"),
        name = attr(&user.display_name),
        email = text(&user.email),
        verified = if user.email_verified { t("(confirmed)") } else { t("(not confirmed)") },
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
        .body(super::pages::layout_in(lang, lang.t("Your account"), &body));
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

/// Changing how the member signs in needs a recent sign-in: otherwise the
/// sign-in page first, then back to this section.
fn reauthenticate_first() -> HttpResponse {
    see_other("/login?reauth=1&return_to=%2Faccount%23linked")
}

async fn unlink(req: HttpRequest, body: Bytes, state: State) -> HttpResponse {
    let (f, session, user) = match signed_in_form(&req, &body, &state).await {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let (Some(plugin), Some(subject)) = (f.get("plugin").map(str::to_string), f.get("subject").map(str::to_string))
    else {
        return error_page(StatusCode::BAD_REQUEST, "Your account", "No linked sign-in was chosen.");
    };
    if !state.engine.recently_authenticated(&session) {
        return reauthenticate_first();
    }
    let engine = state.engine.clone();
    let without_password = user.password_hash.is_none();
    match blocking(move || {
        let links = engine.identity_links(user.id)?;
        let mine = links.iter().any(|l| l.plugin == plugin && l.subject == subject);
        // The last way in of a member without a password stays.
        if mine && without_password && links.len() == 1 {
            return Ok(None);
        }
        engine.unlink_identity(user.id, &plugin, &subject).map(Some)
    })
    .await
    {
        Ok(Ok(Some(true))) => see_other("/account?done=unlinked#linked"),
        Ok(Ok(Some(false))) => {
            error_page(StatusCode::NOT_FOUND, "Your account", "That sign-in is not linked to your account.")
        }
        Ok(Ok(None)) => error_page(
            StatusCode::CONFLICT,
            "Your account",
            "This is your only way to sign in. Set a password (\"Forgot your password?\" on the sign-in page) before you unlink it.",
        ),
        Ok(Err(e)) => super::internal_error(e),
        Err(e) => super::internal_error(e),
    }
}

/// Connects another upstream sign-in: after a recent sign-in, to the
/// upstream and back through its callback, which links it to this member.
async fn connect(req: HttpRequest, body: Bytes, state: State) -> HttpResponse {
    let (f, session, _) = match signed_in_form(&req, &body, &state).await {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let Some((plugin, upstream)) = f.get("upstream").and_then(|id| state.plugins.upstream(id)) else {
        return error_page(StatusCode::NOT_FOUND, "Your account", "There is no such way to sign in here.");
    };
    if !state.engine.recently_authenticated(&session) {
        return reauthenticate_first();
    }
    let ip = super::browser::peer_ip(&req);
    crate::plugin_host::federation::begin_link(plugin, &upstream, &state, session.id, ip).await
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
