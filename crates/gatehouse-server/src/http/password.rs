//! "Forgot password?" (`/password/forgot`), the reset link's page
//! (`/password/reset`), and the account page's password change
//! (`/account/password`). The rules are the engine's (`recovery`): these
//! handlers read the form, call it, and render its answer.

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use gatehouse_engine::oauth::Params;
use gatehouse_engine::recovery::{PasswordRejected, RecoveryError, RESET_LINK_MINUTES};
use html_escape::{encode_double_quoted_attribute as attr, encode_text as text};

use super::browser::{csrf_ok, current_session, is_form, peer_ip, CSRF_FIELD};
use super::i18n;
use super::pages::error_page;
use super::{blocking, State};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/password/forgot", web::get().to(forgot_form))
        .route("/password/forgot", web::post().to(forgot_submit))
        .route("/password/reset", web::get().to(reset_form))
        .route("/password/reset", web::post().to(reset_submit))
        .route("/account/password", web::post().to(change_submit));
}

/// The account page's line for a password change outcome code.
pub fn change_outcome(code: &str, min_length: usize) -> Option<(bool, String)> {
    Some(match code {
        "changed" => (true, "Your password was changed. Every other device was signed out.".into()),
        "differ" => (false, "The two new passwords differ.".into()),
        "wrong" => (false, "The current password is not correct.".into()),
        "short" => (false, format!("Use at least {min_length} characters.")),
        "personal" => (false, "Do not use your e-mail address or name as your password.".into()),
        "weak" => (false, "This password is too easy to guess. Add more words or characters.".into()),
        _ => return None,
    })
}

fn page(req: &HttpRequest, state: &State, status: StatusCode, title: &str, body: &str) -> HttpResponse {
    super::pages::member_page(req, state, status, title, body)
}

fn error_line(e: Option<&str>) -> String {
    e.map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", text(e))).unwrap_or_default()
}

fn forgot_page(req: &HttpRequest, state: &State, status: StatusCode, error: Option<&str>) -> HttpResponse {
    let lang = i18n::pick(req, None, None);
    if !state.engine.can_send_mail() {
        return page(
            req,
            state,
            StatusCode::OK,
            "Forgot your password?",
            &format!(
                "<p>{}</p><p><a href=\"/login\">{}</a></p>",
                text(lang.t("This server cannot send e-mail, so it cannot mail you a reset link. Ask the people who run it to set a new password for you.")),
                text(lang.t("Back to sign-in"))
            ),
        );
    }
    page(
        req,
        state,
        status,
        "Forgot your password?",
        &format!(
            "<p>{intro}</p>{err}\
             <form method=\"post\" action=\"/password/forgot\">{{csrf}}\
             <label>{l_email} <input type=\"email\" name=\"email\" autocomplete=\"username\" required autofocus></label>\
             <p><button type=\"submit\">{l_send}</button></p></form>\
             <p><a href=\"/login\">{l_back}</a></p>",
            intro = text(&lang.t("Enter the e-mail address of your account. We will send a link to choose a new password; it works once, for {minutes} minutes.").replace("{minutes}", &RESET_LINK_MINUTES.to_string())),
            err = error_line(error),
            l_email = text(lang.t("E-mail address")),
            l_send = text(lang.t("Send the link")),
            l_back = text(lang.t("Back to sign-in")),
        ),
    )
}

async fn forgot_form(req: HttpRequest, state: State) -> HttpResponse {
    forgot_page(&req, &state, StatusCode::OK, None)
}

async fn forgot_submit(req: HttpRequest, body: Bytes, state: State) -> HttpResponse {
    let f = Params::parse(&[&body]);
    if !is_form(&req) || !csrf_ok(&req, f.get(CSRF_FIELD)) {
        return forgot_page(&req, &state, StatusCode::FORBIDDEN, Some("The form has expired. Please try again."));
    }
    let email = f.get("email").unwrap_or("").to_string();
    let ip = peer_ip(&req);
    let engine = state.engine.clone();
    match blocking(move || engine.request_password_reset(&email, &ip)).await {
        // The same answer whether or not the address has an account.
        Ok(Ok(())) => {
            let lang = i18n::pick(&req, None, None);
            page(
                &req,
                &state,
                StatusCode::OK,
                "Check your e-mail",
                &format!(
                    "<p role=\"status\">{}</p><p><a href=\"/login\">{}</a></p>",
                    text(&lang.t("If an account uses that address, a link to choose a new password is on its way. It works once, for {minutes} minutes. Nothing arrived? Look in your spam folder, or ask again in a few minutes.").replace("{minutes}", &RESET_LINK_MINUTES.to_string())),
                    text(lang.t("Back to sign-in"))
                ),
            )
        }
        Ok(Err(RecoveryError::NoMail)) => forgot_page(&req, &state, StatusCode::OK, None),
        Ok(Err(e)) => super::internal_error(e),
        Err(e) => super::internal_error(e),
    }
}

fn reset_page(req: &HttpRequest, state: &State, status: StatusCode, token: &str, error: Option<&str>) -> HttpResponse {
    let lang = i18n::pick(req, None, None);
    let min = state.engine.config.password_min_length.to_string();
    page(
        req,
        state,
        status,
        "Choose a new password",
        &format!(
            "{err}<form method=\"post\" action=\"/password/reset\">{{csrf}}\
             <input type=\"hidden\" name=\"token\" value=\"{token}\">\
             <label>{l_new} <input type=\"password\" name=\"password\" \
             autocomplete=\"new-password\" minlength=\"{min}\" required autofocus></label>\
             <label>{l_again} <input type=\"password\" name=\"password2\" autocomplete=\"new-password\" required></label>\
             <p><button type=\"submit\">{l_set}</button></p></form>\
             <p class=\"muted\">{l_note}</p>",
            err = error_line(error),
            token = attr(token),
            l_new = text(&lang.t("New password (at least {min} characters)").replace("{min}", &min)),
            l_again = text(lang.t("New password again")),
            l_set = text(lang.t("Set the new password")),
            l_note = text(lang.t("Every device signed in to your account will be signed out.")),
        ),
    )
}

fn invalid_link() -> HttpResponse {
    error_page(
        StatusCode::NOT_FOUND,
        "This link does not work",
        "This password reset link was used, has expired, or was replaced by a newer one. Ask for a new one at \
         /password/forgot, or sign in at /login.",
    )
}

async fn reset_form(req: HttpRequest, state: State) -> HttpResponse {
    let token = Params::parse(&[req.query_string().as_bytes()]).get("token").unwrap_or("").to_string();
    let engine = state.engine.clone();
    let t = token.clone();
    match blocking(move || engine.reset_link_valid(&t)).await {
        Ok(Ok(true)) => reset_page(&req, &state, StatusCode::OK, &token, None),
        Ok(Ok(false)) => invalid_link(),
        Ok(Err(e)) => super::internal_error(e),
        Err(e) => super::internal_error(e),
    }
}

async fn reset_submit(req: HttpRequest, body: Bytes, state: State) -> HttpResponse {
    let f = Params::parse(&[&body]);
    let token = f.get("token").unwrap_or("").to_string();
    if !is_form(&req) || !csrf_ok(&req, f.get(CSRF_FIELD)) {
        return reset_page(
            &req,
            &state,
            StatusCode::FORBIDDEN,
            &token,
            Some("The form has expired. Please try again."),
        );
    }
    let password = f.get("password").unwrap_or("").to_string();
    if f.get("password2") != Some(password.as_str()) {
        return reset_page(&req, &state, StatusCode::BAD_REQUEST, &token, Some("The two passwords differ."));
    }
    let engine = state.engine.clone();
    let t = token.clone();
    match blocking(move || engine.reset_password(&t, &password)).await {
        Ok(Ok(_)) => page(
            &req,
            &state,
            StatusCode::OK,
            "Password changed",
            "<p role=\"status\">Your new password is set, and every device was signed out.</p>\
             <p><a href=\"/login\">Sign in with the new password</a></p>",
        ),
        Ok(Err(RecoveryError::InvalidLink)) => invalid_link(),
        Ok(Err(RecoveryError::Rejected(r))) => {
            reset_page(&req, &state, StatusCode::BAD_REQUEST, &token, Some(&r.to_string()))
        }
        Ok(Err(e)) => super::internal_error(e),
        Err(e) => super::internal_error(e),
    }
}

async fn change_submit(req: HttpRequest, body: Bytes, state: State) -> HttpResponse {
    let f = Params::parse(&[&body]);
    if !is_form(&req) || !csrf_ok(&req, f.get(CSRF_FIELD)) {
        return error_page(
            StatusCode::FORBIDDEN,
            "Form expired",
            "The form has expired. Go back to /account and try again.",
        );
    }
    let (session, user) = match current_session(&req, &state).await {
        Ok(Some(s)) => s,
        Ok(None) => {
            return HttpResponse::SeeOther().insert_header(("Location", "/login?return_to=%2Faccount")).finish();
        }
        Err(e) => return super::internal_error(e),
    };
    let current = f.get("current").unwrap_or("").to_string();
    let new = f.get("password").unwrap_or("").to_string();
    // The outcome travels as a code, never as free text a link could set.
    let back = |code: &str| {
        HttpResponse::SeeOther()
            .insert_header(("Location", format!("/account?password={code}#password")))
            .insert_header(("Cache-Control", "no-store"))
            .finish()
    };
    if f.get("password2") != Some(new.as_str()) {
        return back("differ");
    }
    let engine = state.engine.clone();
    match blocking(move || engine.change_password(user.id, &current, &new, session.id)).await {
        Ok(Ok(_)) => back("changed"),
        Ok(Err(RecoveryError::WrongPassword)) => back("wrong"),
        Ok(Err(RecoveryError::Rejected(PasswordRejected::TooShort(_)))) => back("short"),
        Ok(Err(RecoveryError::Rejected(PasswordRejected::Personal))) => back("personal"),
        Ok(Err(RecoveryError::Rejected(_))) => back("weak"),
        Ok(Err(e)) => super::internal_error(e),
        Err(e) => super::internal_error(e),
    }
}
