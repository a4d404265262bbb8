//! Sign-up (`/signup`, when `registration` is `open` or `invite`), the
//! e-mail confirmation link (`/verify-email`), and the page a member who
//! has not confirmed their address sees when an app asks to sign them in.

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use gatehouse_engine::oauth::Params;
use gatehouse_engine::signup::{Registration, SignUp, SignUpError};
use html_escape::{encode_double_quoted_attribute as attr, encode_text as text};

use super::browser::{csrf_ok, current_session, is_form, peer_ip, safe_return_to, CSRF_FIELD};
use super::i18n;
use super::pages::error_page;
use super::{blocking, State};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/signup", web::get().to(form))
        .route("/signup", web::post().to(submit))
        .route("/verify-email", web::get().to(verify))
        .route("/verify-email/resend", web::post().to(resend));
}

fn page(req: &HttpRequest, state: &State, status: StatusCode, title: &str, body: &str) -> HttpResponse {
    super::pages::member_page(req, state, status, title, body)
}

fn closed() -> HttpResponse {
    error_page(
        StatusCode::NOT_FOUND,
        "Sign-up is closed",
        "New accounts are made by the people who run this site. Ask them for an account or an invitation, \
         or sign in at /login.",
    )
}

fn invalid_invitation() -> HttpResponse {
    error_page(
        StatusCode::NOT_FOUND,
        "This invitation does not work",
        "This invitation was used, has expired, or was never issued. Ask the person who invited you for a new one, \
         or sign in at /login if you have an account.",
    )
}

fn signup_page(
    req: &HttpRequest,
    state: &State,
    status: StatusCode,
    error: Option<&str>,
    email: &str,
    name: &str,
    invitation: Option<(&str, &str)>,
) -> HttpResponse {
    let err = error.map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", text(e))).unwrap_or_default();
    let (email_field, invitation_field) = match invitation {
        Some((token, invited)) => (
            format!(
                "<p>You were invited as <strong>{}</strong>.</p><input type=\"hidden\" name=\"email\" value=\"{}\">",
                text(invited),
                attr(invited)
            ),
            format!("<input type=\"hidden\" name=\"invitation\" value=\"{}\">", attr(token)),
        ),
        None => (
            format!(
                "<label>{} <input type=\"email\" name=\"email\" value=\"{}\" autocomplete=\"email\" required autofocus></label>",
                text(i18n::pick(req, None, None).t("E-mail address")),
                attr(email)
            ),
            String::new(),
        ),
    };
    let min = state.engine.config.password_min_length;
    let lang = i18n::pick(req, None, None);
    page(
        req,
        state,
        status,
        "Create your account",
        &format!(
            "{err}<form method=\"post\" action=\"/signup\">{{csrf}}{invitation_field}{email_field}\
             <label>{l_name} <input type=\"text\" name=\"name\" value=\"{name}\" autocomplete=\"name\"></label>\
             <label>{l_password} <input type=\"password\" name=\"password\" minlength=\"{min}\" autocomplete=\"new-password\" required></label>\
             <label>{l_again} <input type=\"password\" name=\"password2\" autocomplete=\"new-password\" required></label>\
             <p><button type=\"submit\">{l_create}</button></p></form>\
             <p>{l_confirm}</p>\
             <p>{l_have} <a href=\"/login\">{l_sign_in}</a></p>",
            name = attr(name),
            l_name = text(lang.t("Your name")),
            l_password = text(&lang.t("Password (at least {min} characters)").replace("{min}", &min.to_string())),
            l_again = text(lang.t("Password again")),
            l_create = text(lang.t("Create account")),
            l_confirm = text(lang.t("We will send you a link to confirm your e-mail address.")),
            l_have = text(lang.t("Have an account?")),
            l_sign_in = text(lang.t("Sign in")),
        ),
    )
}

async fn form(req: HttpRequest, state: State) -> HttpResponse {
    let q = Params::parse(&[req.query_string().as_bytes()]);
    match state.engine.config.registration {
        Registration::Closed => closed(),
        Registration::Open => signup_page(&req, &state, StatusCode::OK, None, "", "", None),
        Registration::Invite => {
            let Some(token) = q.get("invitation").map(str::to_string) else { return closed() };
            let engine = state.engine.clone();
            let t = token.clone();
            match blocking(move || engine.invitation_email(&t)).await {
                Ok(Ok(Some(email))) => signup_page(&req, &state, StatusCode::OK, None, "", "", Some((&token, &email))),
                Ok(Ok(None)) => invalid_invitation(),
                Ok(Err(e)) => super::internal_error(e),
                Err(e) => super::internal_error(e),
            }
        }
    }
}

async fn submit(req: HttpRequest, body: Bytes, state: State) -> HttpResponse {
    if state.engine.config.registration == Registration::Closed {
        return closed();
    }
    let f = Params::parse(&[&body]);
    let email = f.get("email").unwrap_or("").to_string();
    let name = f.get("name").unwrap_or("").to_string();
    let invitation = f.get("invitation").map(str::to_string);
    let again = |status: StatusCode, msg: &str| {
        let inv = invitation.as_deref().map(|t| (t, email.as_str()));
        signup_page(&req, &state, status, Some(msg), &email, &name, inv)
    };
    if !is_form(&req) || !csrf_ok(&req, f.get(CSRF_FIELD)) {
        return again(StatusCode::FORBIDDEN, "The form has expired. Please try again.");
    }
    let password = f.get("password").unwrap_or("").to_string();
    if f.get("password2") != Some(password.as_str()) {
        return again(StatusCode::BAD_REQUEST, "The two passwords differ.");
    }
    let ip = peer_ip(&req);
    let engine = state.engine.clone();
    let form = SignUp { email: email.clone(), name: name.clone(), password, invitation: invitation.clone() };
    match blocking(move || engine.sign_up(form, &ip)).await {
        // The same page whether the address was new or taken.
        Ok(Ok(_)) => page(&req, &state, StatusCode::OK, "Check your e-mail", &{
            let lang = i18n::pick(&req, None, None);
            format!(
                    "<p role=\"status\">{}</p><p><a href=\"/login\">{}</a></p>",
                    text(lang.t("We sent a message to {email}. Open the link in it to confirm your address; then you can sign in to every app that uses this account."))
                        .replace("{email}", &format!("<strong>{}</strong>", text(&email))),
                    text(lang.t("Go to sign-in"))
                )
        }),
        Ok(Err(SignUpError::Closed)) => closed(),
        Ok(Err(SignUpError::InvalidInvitation)) => invalid_invitation(),
        Ok(Err(e @ (SignUpError::BadEmail(_) | SignUpError::Rejected(_)))) => {
            again(StatusCode::BAD_REQUEST, &e.to_string())
        }
        Ok(Err(e @ (SignUpError::RateLimited | SignUpError::NoMail))) => {
            again(StatusCode::SERVICE_UNAVAILABLE, &e.to_string())
        }
        Ok(Err(SignUpError::Engine(gatehouse_engine::EngineError::Invalid(m)))) => again(StatusCode::BAD_REQUEST, &m),
        Ok(Err(SignUpError::Engine(e))) => super::internal_error(e),
        Err(e) => super::internal_error(e),
    }
}

async fn verify(req: HttpRequest, state: State) -> HttpResponse {
    let token = Params::parse(&[req.query_string().as_bytes()]).get("token").unwrap_or("").to_string();
    let engine = state.engine.clone();
    match blocking(move || engine.verify_email(&token)).await {
        Ok(Ok(Some(user))) => page(&req, &state, StatusCode::OK, "Address confirmed", &{
            let lang = i18n::pick(&req, None, Some(user.locale.as_str()).filter(|l| !l.is_empty()));
            format!(
                "<p role=\"status\">{}</p><p><a href=\"/account\">{}</a></p>",
                text(
                    lang.t("Thank you: {email} is confirmed. You can now sign in to every app that uses this account.")
                )
                .replace("{email}", &format!("<strong>{}</strong>", text(&user.email))),
                text(lang.t("Your account"))
            )
        }),
        Ok(Ok(None)) => error_page(
            StatusCode::NOT_FOUND,
            "This link does not work",
            "This confirmation link was used, has expired, or was replaced by a newer one. Sign in at /login to \
             ask for a new one.",
        ),
        Ok(Err(e)) => super::internal_error(e),
        Err(e) => super::internal_error(e),
    }
}

/// What a member sees when an app asks to sign them in before they
/// confirmed their address.
pub fn verify_first_page(req: &HttpRequest, state: &State, app: &str, back: &str) -> HttpResponse {
    page(req, state, StatusCode::FORBIDDEN, "Confirm your e-mail address first", &{
        let lang = i18n::pick(req, None, None);
        format!(
                "<p>{}</p>\
                 <form method=\"post\" action=\"/verify-email/resend\">{{csrf}}\
                 <input type=\"hidden\" name=\"return_to\" value=\"{}\">\
                 <button type=\"submit\">{}</button></form>",
                text(lang.t("{app} can sign you in once you have confirmed your e-mail address. Open the link we sent you, then {try_again}."))
                    .replace("{app}", &text(app))
                    .replace("{try_again}", &format!("<a href=\"{}\">{}</a>", attr(back), text(lang.t("try again")))),
                attr(back),
                text(lang.t("Send the link again"))
            )
    })
}

async fn resend(req: HttpRequest, body: Bytes, state: State) -> HttpResponse {
    let f = Params::parse(&[&body]);
    if !is_form(&req) || !csrf_ok(&req, f.get(CSRF_FIELD)) {
        return error_page(StatusCode::FORBIDDEN, "Form expired", "The form has expired. Go back and try again.");
    }
    let Ok(Some((_, user))) = current_session(&req, &state).await else {
        return HttpResponse::SeeOther().insert_header(("Location", "/login")).finish();
    };
    let back = safe_return_to(f.get("return_to")).unwrap_or_else(|| "/account".into());
    let engine = state.engine.clone();
    match blocking(move || engine.send_verification(&user)).await {
        Ok(Ok(())) => page(&req, &state, StatusCode::OK, "Link sent", &{
            let lang = i18n::pick(&req, None, None);
            format!(
                "<p role=\"status\">{}</p>",
                text(lang.t("A new confirmation link is on its way. Open it, then {continue}."))
                    .replace("{continue}", &format!("<a href=\"{}\">{}</a>", attr(&back), text(lang.t("continue"))))
            )
        }),
        Ok(Err(e)) => super::internal_error(e),
        Err(e) => super::internal_error(e),
    }
}
