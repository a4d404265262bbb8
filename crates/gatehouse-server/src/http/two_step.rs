//! Two-step sign-in pages: the code step after a right password (and the
//! step-up an app asks for with `acr_values=mfa`), and the member's own
//! management page (add an authenticator app with a QR code, recovery
//! codes shown once, remove). Thin: each handler calls one engine function.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use gatehouse_core::time::format_timestamp;
use gatehouse_engine::mfa::SecondFactorError;
use gatehouse_engine::model::{Session, User};
use gatehouse_engine::oauth::Params;
use gatehouse_engine::sessions::BrowserContext;
use html_escape::{encode_double_quoted_attribute as attr, encode_text as text};

use super::browser::{
    csrf_ok, csrf_token, current_session, is_form, peer_ip, safe_return_to, session_cookie, user_agent, CSRF_FIELD,
};
use super::pages::{error_page, layout};
use super::{blocking, State};

/// The cookie naming a pending second-factor step (never a session).
pub const PENDING_COOKIE: &str = "gatehouse_2fa";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/login/second-factor", web::get().to(code_form))
        .route("/login/second-factor", web::post().to(code_submit))
        .route("/account/two-step", web::get().to(manage))
        .route("/account/two-step/add", web::post().to(add))
        .route("/account/two-step/confirm", web::post().to(confirm))
        .route("/account/two-step/remove", web::post().to(remove))
        .route("/account/two-step/recovery-codes", web::post().to(new_codes));
}

fn html(status: StatusCode, title: &str, body: &str) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .body(layout(title, body))
}

fn see_other(to: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header(("Location", to)).insert_header(("Cache-Control", "no-store")).finish()
}

/// The cookie holding a pending step's token, valid for its five minutes.
pub fn pending_cookie(state: &State, token: String) -> Cookie<'static> {
    let mut c = Cookie::build(PENDING_COOKIE, token)
        .path("/login/second-factor")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.engine.config.issuer.starts_with("https://"))
        .finish();
    c.set_max_age(actix_web::cookie::time::Duration::seconds(gatehouse_engine::mfa::PENDING_TTL));
    c
}

/// Removes the pending step's cookie.
pub fn clear_pending(state: &State) -> Cookie<'static> {
    let mut c = pending_cookie(state, String::new());
    c.make_removal();
    c
}

/// Where the code step goes: `/login/second-factor?return_to=…`.
pub fn code_step_url(return_to: Option<&str>) -> String {
    match return_to {
        Some(r) => format!(
            "/login/second-factor?return_to={}",
            url::form_urlencoded::byte_serialize(r.as_bytes()).collect::<String>()
        ),
        None => "/login/second-factor".into(),
    }
}

fn code_page(
    state: &State,
    req: &HttpRequest,
    status: StatusCode,
    error: Option<&str>,
    return_to: Option<&str>,
    passkey: bool,
) -> HttpResponse {
    let (csrf, new_cookie) = csrf_token(req, state);
    let err = error.map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", text(e))).unwrap_or_default();
    let back = return_to
        .map(|r| format!("<input type=\"hidden\" name=\"return_to\" value=\"{}\">", attr(r)))
        .unwrap_or_default();
    let body = format!(
        "<p>Enter the 6-digit code from your authenticator app, or one of your recovery codes.</p>{err}\
         <form method=\"post\" action=\"/login/second-factor\">\
         <input type=\"hidden\" name=\"{CSRF_FIELD}\" value=\"{}\">{back}\
         <label>Code <input name=\"code\" inputmode=\"numeric\" autocomplete=\"one-time-code\" autofocus required maxlength=\"20\"></label>\
         <p><button type=\"submit\">Continue</button></p></form>{passkey}\
         <p><a href=\"/login\">Start again</a> · Lost your phone and your recovery codes? Ask the site's operator to reset your two-step sign-in.</p>",
        attr(&csrf),
        passkey = if passkey {
            "<p><button type=\"button\" class=\"secondary\" data-passkey=\"second-factor\" hidden>Use a passkey instead</button></p>\
             <p id=\"passkey-status\" role=\"status\"></p><script src=\"/static/passkeys.js\" defer></script>"
        } else {
            ""
        },
    );
    let mut r = html(status, "Two-step sign-in", &body);
    if let Some(c) = new_cookie {
        let _ = r.add_cookie(&c);
    }
    r
}

async fn code_form(req: HttpRequest, state: State) -> HttpResponse {
    let q = Params::parse(&[req.query_string().as_bytes()]);
    let return_to = safe_return_to(q.get("return_to"));
    let Some(token) = req.cookie(PENDING_COOKIE).map(|c| c.value().to_string()).filter(|v| !v.is_empty()) else {
        return see_other("/login");
    };
    let engine = state.engine.clone();
    let found = blocking(move || {
        let Some(u) = engine.pending_second_factor(&token)? else { return Ok(None) };
        let passkey = engine.passkeys_available() && !engine.second_factors(u.id)?.passkeys.is_empty();
        Ok::<_, gatehouse_engine::EngineError>(Some(passkey))
    })
    .await;
    match found {
        Ok(Ok(Some(passkey))) => code_page(&state, &req, StatusCode::OK, None, return_to.as_deref(), passkey),
        Ok(Ok(None)) => see_other("/login"),
        Ok(Err(e)) => super::internal_error(e),
        Err(e) => super::internal_error(e),
    }
}

async fn code_submit(req: HttpRequest, body: Bytes, state: State) -> HttpResponse {
    if !is_form(&req) {
        return error_page(StatusCode::BAD_REQUEST, "Two-step sign-in", "The form could not be read.");
    }
    let f = Params::parse(&[&body]);
    let return_to = safe_return_to(f.get("return_to"));
    if !csrf_ok(&req, f.get(CSRF_FIELD)) {
        return code_page(
            &state,
            &req,
            StatusCode::FORBIDDEN,
            Some("The form has expired. Please try again."),
            return_to.as_deref(),
            false,
        );
    }
    let Some(token) = req.cookie(PENDING_COOKIE).map(|c| c.value().to_string()).filter(|v| !v.is_empty()) else {
        return see_other("/login");
    };
    let code = f.get("code").unwrap_or("").to_string();
    let previous = current_session(&req, &state).await.ok().flatten().map(|(s, _)| s);
    let (ip, ua) = (peer_ip(&req), user_agent(&req));
    let engine = state.engine.clone();
    let result = blocking(move || {
        let ctx = BrowserContext { ip: &ip, user_agent: &ua, previous: previous.as_ref() };
        engine.complete_second_factor(&token, &code, &ctx)
    })
    .await;
    match result {
        Ok(Ok((signed_in, _))) => {
            let mut r = see_other(return_to.as_deref().unwrap_or("/account"));
            let _ = r.add_cookie(&clear_pending(&state));
            // A step-up keeps the browser's session (and its cookie).
            if !signed_in.cookie.is_empty() {
                let _ = r.add_cookie(&session_cookie(&state, signed_in.cookie));
            }
            r
        }
        Ok(Err(SecondFactorError::Engine(e))) => super::internal_error(e),
        Ok(Err(SecondFactorError::Expired)) => {
            let mut r = see_other("/login");
            let _ = r.add_cookie(&clear_pending(&state));
            r
        }
        Ok(Err(e)) => {
            let status = match e {
                SecondFactorError::RateLimited => StatusCode::TOO_MANY_REQUESTS,
                _ => StatusCode::UNAUTHORIZED,
            };
            code_page(&state, &req, status, Some(&e.to_string()), return_to.as_deref(), false)
        }
        Err(e) => super::internal_error(e),
    }
}

/// The signed-in member, or the response that sends the browser to sign in.
async fn signed_in(req: &HttpRequest, state: &State) -> Result<(Session, User), HttpResponse> {
    super::account::signed_in_for(req, state, "/account/two-step").await
}

/// What every form of the page needs first: a signed-in member and a
/// CSRF-checked body (or the response that refuses it).
async fn signed_in_form(req: &HttpRequest, body: &Bytes, state: &State) -> Result<(User, Params), Box<HttpResponse>> {
    let (_, user) = signed_in(req, state).await.map_err(Box::new)?;
    Ok((user, form_of(req, body)?))
}

/// The QR code of an otpauth URL as inline SVG (no script, no image fetch).
fn qr_svg(content: &str) -> String {
    match qrcode::QrCode::new(content.as_bytes()) {
        Ok(code) => code.render::<qrcode::render::svg::Color<'_>>().min_dimensions(200, 200).quiet_zone(true).build(),
        Err(_) => String::new(),
    }
}

fn codes_list(codes: &[String]) -> String {
    let items: String = codes.iter().map(|c| format!("<li><code>{}</code></li>", text(c))).collect();
    format!(
        "<h2>Your recovery codes</h2><p><strong>Save these now: they are shown only once.</strong> Each works once, \
         instead of a code from your app, if you lose your phone.</p><ul class=\"recovery-codes\">{items}</ul>"
    )
}

async fn manage(req: HttpRequest, state: State) -> HttpResponse {
    let (_, user) = match signed_in(&req, &state).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let q = Params::parse(&[req.query_string().as_bytes()]);
    let return_to = safe_return_to(q.get("return_to"));
    let engine = state.engine.clone();
    let u = user.clone();
    let found = blocking(move || {
        let factors = engine.second_factors(u.id)?;
        let required = engine.second_factor_required(&u, None);
        let grace = if required && !factors.any() { engine.enrolment_grace_left(&u)? } else { None };
        Ok::<_, gatehouse_engine::EngineError>((factors, required, grace))
    })
    .await;
    let (factors, required, grace) = match found {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => return super::internal_error(e),
        Err(e) => return super::internal_error(e),
    };
    page(&req, &state, &factors, required, grace, return_to.as_deref(), q.get("done"), None)
}

#[allow(clippy::too_many_arguments)]
fn page(
    req: &HttpRequest,
    state: &State,
    factors: &gatehouse_engine::mfa::SecondFactors,
    required: bool,
    grace: Option<i64>,
    return_to: Option<&str>,
    done: Option<&str>,
    extra: Option<String>,
) -> HttpResponse {
    let (csrf, new_cookie) = csrf_token(req, state);
    let csrf_input = format!("<input type=\"hidden\" name=\"{CSRF_FIELD}\" value=\"{}\">", attr(&csrf));
    let back_input = return_to
        .map(|r| format!("<input type=\"hidden\" name=\"return_to\" value=\"{}\">", attr(r)))
        .unwrap_or_default();
    let mut body = String::new();
    if let Some(note) = match done {
        Some("removed") => Some("The authenticator app was removed."),
        Some("added") => Some("Two-step sign-in is on."),
        Some("passkey") => Some("Your passkey was added."),
        _ => None,
    } {
        body.push_str(&format!("<p class=\"notice\" role=\"status\">{note}</p>"));
    }
    if required && !factors.any() {
        body.push_str("<p><strong>This site asks you to set up two-step sign-in.</strong></p>");
        if let (Some(left), Some(r)) = (grace, return_to) {
            body.push_str(&format!(
                "<p>You can skip it for now ({} day(s) left): <a href=\"{}\">Skip for now</a></p>",
                (left + 86_399) / 86_400,
                attr(r)
            ));
        }
    }
    if let Some(e) = extra {
        body.push_str(&e);
    }
    if factors.any() {
        body.push_str(&format!(
            "<p>Two-step sign-in is <strong id=\"two-step-state\">on</strong>: after your password, you confirm \
             with your authenticator app or a passkey.</p>\
             <p>Recovery codes left: <strong id=\"recovery-left\">{}</strong></p>\
             <h2>Recovery codes</h2><p>Confirm with a current code from your app (or a recovery code).</p>\
             <form method=\"post\" action=\"/account/two-step/recovery-codes\">{csrf_input}\
             <label>Code <input name=\"code\" autocomplete=\"one-time-code\" required maxlength=\"20\"></label>\
             <p><button type=\"submit\" class=\"secondary\">New recovery codes</button></p></form>",
            factors.recovery_codes_left
        ));
    } else {
        body.push_str(
            "<p>Two-step sign-in is <strong id=\"two-step-state\">off</strong>. With it on, signing in asks for a code \
             from an authenticator app on your phone (or a passkey) after your password, so a stolen password alone \
             opens nothing.</p>",
        );
    }
    body.push_str("<h2>Authenticator app</h2>");
    if factors.totp.is_empty() {
        body.push_str(&format!(
            "<form method=\"post\" action=\"/account/two-step/add\">{csrf_input}{back_input}\
             <label>Name of the app or device <input name=\"name\" maxlength=\"60\" placeholder=\"Phone\"></label>\
             <p><button type=\"submit\">Set up an authenticator app</button></p></form>"
        ));
    } else {
        let mut rows = String::new();
        for (_, name, created, used) in &factors.totp {
            rows.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                text(name),
                text(&format_timestamp(*created)),
                used.map(format_timestamp).map(|t| text(&t).into_owned()).unwrap_or_else(|| "never".into()),
            ));
        }
        body.push_str(&format!(
            "<div class=\"table-wrap\" tabindex=\"0\" role=\"region\" aria-label=\"Authenticator apps\"><table><thead><tr>\
             <th scope=\"col\">Authenticator app</th><th scope=\"col\">Added (UTC)</th><th scope=\"col\">Last used (UTC)</th></tr></thead>\
             <tbody>{rows}</tbody></table></div>"
        ));
        for (id, name, _, _) in &factors.totp {
            body.push_str(&format!(
                "<form method=\"post\" action=\"/account/two-step/remove\">{csrf_input}\
                 <input type=\"hidden\" name=\"factor_id\" value=\"{id}\">\
                 <label>Code <input name=\"code\" autocomplete=\"one-time-code\" required maxlength=\"20\"></label>\
                 <p><button type=\"submit\" class=\"secondary\">Remove “{}”</button></p></form>",
                text(name)
            ));
        }
    }
    if state.engine.passkeys_available() {
        body.push_str(
            "<h2>Passkeys</h2><p>A passkey (your phone, computer or security key) proves it is you with a \
             fingerprint, face or PIN. It can stand in for the code after your password.</p>",
        );
        for (id, name, created, used) in &factors.passkeys {
            body.push_str(&format!(
                "<p class=\"passkey\"><strong>{}</strong> · added {} · last used {}</p>\
                 <form method=\"post\" action=\"/account/two-step/remove\">{csrf_input}\
                 <input type=\"hidden\" name=\"factor_id\" value=\"{id}\">\
                 <label>Code (app or recovery) <input name=\"code\" autocomplete=\"one-time-code\" required maxlength=\"20\"></label>\
                 <p><button type=\"submit\" class=\"secondary\">Remove “{}”</button></p></form>",
                text(name),
                text(&format_timestamp(*created)),
                used.map(format_timestamp).map(|t| text(&t).into_owned()).unwrap_or_else(|| "never".into()),
                text(name)
            ));
        }
        body.push_str(
            "<label>Name of the passkey <input name=\"passkey_name\" maxlength=\"60\" placeholder=\"Laptop\"></label>\
             <p><button type=\"button\" data-passkey=\"register\" hidden>Add a passkey</button></p>\
             <p id=\"passkey-status\" role=\"status\"></p><script src=\"/static/passkeys.js\" defer></script>",
        );
        if !body.contains("name=\"csrf_token\"") {
            body.push_str(&csrf_input);
        }
    }
    body.push_str("<p><a href=\"/account\">Back to your account</a></p>");
    let mut r = html(StatusCode::OK, "Two-step sign-in", &body);
    if let Some(c) = new_cookie {
        let _ = r.add_cookie(&c);
    }
    r
}

fn form_of(req: &HttpRequest, body: &Bytes) -> Result<Params, Box<HttpResponse>> {
    if !is_form(req) {
        return Err(Box::new(error_page(StatusCode::BAD_REQUEST, "Two-step sign-in", "The form could not be read.")));
    }
    let f = Params::parse(&[body]);
    if !csrf_ok(req, f.get(CSRF_FIELD)) {
        return Err(Box::new(see_other("/account/two-step")));
    }
    Ok(f)
}

async fn add(req: HttpRequest, body: Bytes, state: State) -> HttpResponse {
    let (user, f) = match signed_in_form(&req, &body, &state).await {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let return_to = safe_return_to(f.get("return_to"));
    let name = f.get("name").unwrap_or("").to_string();
    let engine = state.engine.clone();
    let enrolment = match blocking(move || engine.begin_totp(&user, &name)).await {
        Ok(Ok(e)) => e,
        Ok(Err(gatehouse_engine::EngineError::Invalid(m))) => {
            return error_page(StatusCode::BAD_REQUEST, "Two-step sign-in", &m)
        }
        Ok(Err(e)) => return super::internal_error(e),
        Err(e) => return super::internal_error(e),
    };
    confirm_page(&req, &state, &enrolment, None, return_to.as_deref())
}

fn confirm_page(
    req: &HttpRequest,
    state: &State,
    e: &gatehouse_engine::mfa::TotpEnrolment,
    error: Option<&str>,
    return_to: Option<&str>,
) -> HttpResponse {
    let (csrf, new_cookie) = csrf_token(req, state);
    let err = error.map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", text(e))).unwrap_or_default();
    let back = return_to
        .map(|r| format!("<input type=\"hidden\" name=\"return_to\" value=\"{}\">", attr(r)))
        .unwrap_or_default();
    let body = format!(
        "<ol><li>Scan this code with your authenticator app (or enter the key below by hand).</li>\
         <li>Enter the 6-digit code the app shows.</li></ol>\
         <figure class=\"qr\" role=\"img\" aria-label=\"QR code for your authenticator app\">{}</figure>\
         <p>Key: <code id=\"totp-secret\">{}</code></p>{err}\
         <form method=\"post\" action=\"/account/two-step/confirm\">\
         <input type=\"hidden\" name=\"{CSRF_FIELD}\" value=\"{}\">{back}\
         <input type=\"hidden\" name=\"factor_id\" value=\"{}\">\
         <label>Code <input name=\"code\" inputmode=\"numeric\" autocomplete=\"one-time-code\" required maxlength=\"6\"></label>\
         <p><button type=\"submit\">Turn on two-step sign-in</button></p></form>",
        qr_svg(&e.otpauth_url),
        text(&e.secret_base32),
        attr(&csrf),
        e.factor_id,
    );
    let mut r = html(
        if error.is_some() { StatusCode::UNAUTHORIZED } else { StatusCode::OK },
        "Set up your authenticator app",
        &body,
    );
    if let Some(c) = new_cookie {
        let _ = r.add_cookie(&c);
    }
    r
}

async fn confirm(req: HttpRequest, body: Bytes, state: State) -> HttpResponse {
    let (user, f) = match signed_in_form(&req, &body, &state).await {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let return_to = safe_return_to(f.get("return_to"));
    let factor_id: i64 = f.get("factor_id").and_then(|v| v.parse().ok()).unwrap_or(0);
    let code = f.get("code").unwrap_or("").to_string();
    let engine = state.engine.clone();
    let u = user.clone();
    match blocking(move || engine.confirm_totp(&u, factor_id, &code)).await {
        Ok(Ok(codes)) => {
            let engine = state.engine.clone();
            let factors = match blocking(move || engine.second_factors(user.id)).await {
                Ok(Ok(f)) => f,
                Ok(Err(e)) => return super::internal_error(e),
                Err(e) => return super::internal_error(e),
            };
            let mut extra = String::from("<p class=\"notice\" role=\"status\">Two-step sign-in is on.</p>");
            if !codes.is_empty() {
                extra.push_str(&codes_list(&codes));
            }
            if let Some(r) = &return_to {
                extra.push_str(&format!("<p><a href=\"{}\">Continue</a></p>", attr(r)));
            }
            page(&req, &state, &factors, false, None, None, None, Some(extra))
        }
        Ok(Err(SecondFactorError::Engine(e))) => super::internal_error(e),
        Ok(Err(SecondFactorError::Expired)) => see_other("/account/two-step"),
        Ok(Err(_)) => {
            // The same secret again: the member's app already holds it.
            let engine = state.engine.clone();
            let u = user.clone();
            match blocking(move || engine.pending_totp(&u, factor_id)).await {
                Ok(Ok(Some(e))) => confirm_page(
                    &req,
                    &state,
                    &e,
                    Some("That code is not right. Check the time on your phone and try the next code."),
                    return_to.as_deref(),
                ),
                Ok(Ok(None)) => see_other("/account/two-step"),
                Ok(Err(e)) => super::internal_error(e),
                Err(e) => super::internal_error(e),
            }
        }
        Err(e) => super::internal_error(e),
    }
}

async fn remove(req: HttpRequest, body: Bytes, state: State) -> HttpResponse {
    let (user, f) = match signed_in_form(&req, &body, &state).await {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let factor_id: i64 = f.get("factor_id").and_then(|v| v.parse().ok()).unwrap_or(0);
    let code = f.get("code").unwrap_or("").to_string();
    let ip = peer_ip(&req);
    let engine = state.engine.clone();
    let result = blocking(move || {
        engine.verify_second_factor(&user, &code, &ip)?;
        Ok::<_, SecondFactorError>(engine.remove_factor(user.id, factor_id)?)
    })
    .await;
    match result {
        Ok(Ok(_)) => see_other("/account/two-step?done=removed"),
        Ok(Err(SecondFactorError::Engine(e))) => super::internal_error(e),
        Ok(Err(e)) => error_page(StatusCode::UNAUTHORIZED, "Two-step sign-in", &format!("{e}. Nothing was changed.")),
        Err(e) => super::internal_error(e),
    }
}

async fn new_codes(req: HttpRequest, body: Bytes, state: State) -> HttpResponse {
    let (user, f) = match signed_in_form(&req, &body, &state).await {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let code = f.get("code").unwrap_or("").to_string();
    let ip = peer_ip(&req);
    let engine = state.engine.clone();
    let result = blocking(move || {
        engine.verify_second_factor(&user, &code, &ip)?;
        let codes = engine.regenerate_recovery_codes(user.id)?;
        Ok::<_, SecondFactorError>((codes, engine.second_factors(user.id)?))
    })
    .await;
    match result {
        Ok(Ok((codes, factors))) => page(&req, &state, &factors, false, None, None, None, Some(codes_list(&codes))),
        Ok(Err(SecondFactorError::Engine(e))) => super::internal_error(e),
        Ok(Err(e)) => error_page(StatusCode::UNAUTHORIZED, "Two-step sign-in", &format!("{e}. Nothing was changed.")),
        Err(e) => super::internal_error(e),
    }
}
