//! The sign-in page (`/login`) and the sign-out page (`/logout`).

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use gatehouse_engine::oauth::Params;
use gatehouse_engine::sessions::{BrowserContext, LoginError, PasswordSignIn};
use html_escape::{encode_double_quoted_attribute as attr, encode_text as text};

use super::browser::{
    clear_session_cookie, csrf_ok, csrf_token, current_session, is_form, peer_ip, safe_return_to, session_cookie,
    user_agent, CSRF_FIELD,
};
use super::i18n;
use super::pages::{error_page, layout, layout_in};
use super::{blocking, State};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/login", web::get().to(login_form))
        .route("/login", web::post().to(login_submit))
        .route("/logout", web::get().to(logout_form))
        .route("/logout", web::post().to(logout_submit));
}

fn html(status: StatusCode, title: &str, body: &str) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .insert_header(("X-Frame-Options", "DENY"))
        .body(layout(title, body))
}

/// The app a sign-in is for, when `return_to` is an authorization request:
/// the page then says "to continue to <app>".
async fn app_asking(state: &State, return_to: Option<&str>) -> Option<String> {
    let url = url::Url::parse(&format!("http://gatehouse.invalid{}", return_to?)).ok()?;
    let client_id = url.query_pairs().find(|(k, _)| k == "client_id")?.1.into_owned();
    let engine = state.engine.clone();
    blocking(move || engine.client_by_client_id(&client_id)).await.ok()?.ok()?.map(|c| c.name)
}

async fn login_page_for(
    req: &HttpRequest,
    state: &State,
    status: StatusCode,
    error: Option<&str>,
    email: &str,
    return_to: Option<&str>,
) -> HttpResponse {
    let app = app_asking(state, return_to).await;
    login_page(req, state, status, error, email, return_to, app.as_deref())
}

fn login_page(
    req: &HttpRequest,
    state: &State,
    status: StatusCode,
    error: Option<&str>,
    email: &str,
    return_to: Option<&str>,
    app: Option<&str>,
) -> HttpResponse {
    let lang = i18n::pick(req, i18n::ui_locales_in(return_to).as_deref(), None);
    let (csrf, new_cookie) = csrf_token(req, state);
    let asking = app
        .map(|a| {
            format!(
                "<p class=\"lead\">{}</p>",
                text(lang.t("Sign in to continue to {app}."))
                    .replace("{app}", &format!("<strong>{}</strong>", text(a)))
            )
        })
        .unwrap_or_default();
    let err = error.map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", text(e))).unwrap_or_default();
    let back = return_to
        .map(|r| format!("<input type=\"hidden\" name=\"return_to\" value=\"{}\">", attr(r)))
        .unwrap_or_default();
    let body = format!(
        "{asking}{err}<form method=\"post\" action=\"/login\">\
         <input type=\"hidden\" name=\"{CSRF_FIELD}\" value=\"{csrf}\">{back}\
         <label>{l_email} <input type=\"email\" name=\"email\" value=\"{email}\" autocomplete=\"username\" required autofocus></label>\
         <label>{l_password} <input type=\"password\" name=\"password\" autocomplete=\"current-password\" required></label>\
         <p><button type=\"submit\">{l_submit}</button></p></form>\
         <p><a href=\"/password/forgot\">{l_forgot}</a></p>{passkey}{signup}{upstream}",
        csrf = attr(&csrf),
        email = attr(email),
        l_email = text(lang.t("E-mail address")),
        l_password = text(lang.t("Password")),
        l_submit = text(lang.t("Sign in")),
        l_forgot = text(lang.t("Forgot your password?")),
        upstream = upstream_links(state, return_to, lang),
        passkey = if state.engine.passwordless_allowed() { super::passkeys::PASSWORDLESS_BUTTON } else { "" },
        signup = if state.engine.config.registration == gatehouse_engine::signup::Registration::Open {
            format!("<p>{} <a href=\"/signup\">{}</a></p>", text(lang.t("New here?")), text(lang.t("Create an account")))
        } else {
            String::new()
        },
    );
    let mut r = HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .body(layout_in(lang, lang.t("Sign in"), &body));
    if let Some(c) = new_cookie {
        let _ = r.add_cookie(&c);
    }
    r
}

/// "Sign in with …" links, one per loaded `identity_provider` plugin, each
/// keeping the page to return to.
fn upstream_links(state: &State, return_to: Option<&str>, lang: i18n::Lang) -> String {
    let back = return_to
        .map(|r| format!("?return_to={}", url::form_urlencoded::byte_serialize(r.as_bytes()).collect::<String>()))
        .unwrap_or_default();
    let links: String = state
        .plugins
        .plugins
        .iter()
        .flat_map(|p| p.upstreams())
        .map(|u| {
            format!(
                "<li><a class=\"upstream\" href=\"{}\">{}</a></li>",
                attr(&format!("/federation/{}/start{back}", u.id)),
                text(lang.t("Sign in with {provider}")).replace("{provider}", &text(&u.display_name))
            )
        })
        .collect();
    if links.is_empty() {
        String::new()
    } else {
        format!("<p>{}</p><ul class=\"upstream\">{links}</ul>", text(lang.t("Or:")))
    }
}

async fn login_form(req: HttpRequest, state: State) -> HttpResponse {
    let q = Params::parse(&[req.query_string().as_bytes()]);
    let return_to = safe_return_to(q.get("return_to"));
    // A member page that needs a recent sign-in sent the member here.
    let lang = i18n::pick(&req, i18n::ui_locales_in(return_to.as_deref()).as_deref(), None);
    let reauth = (q.get("reauth") == Some("1")).then(|| lang.t("For your security, please sign in again to continue."));
    login_page_for(&req, &state, StatusCode::OK, reauth, q.get("login_hint").unwrap_or(""), return_to.as_deref()).await
}

fn see_other(to: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header(("Location", to)).insert_header(("Cache-Control", "no-store")).finish()
}

async fn login_submit(req: HttpRequest, body: Bytes, state: State) -> HttpResponse {
    if !is_form(&req) {
        return error_page(StatusCode::BAD_REQUEST, "Sign in", "The form could not be read.");
    }
    let f = Params::parse(&[&body]);
    let return_to = safe_return_to(f.get("return_to"));
    let email = f.get("email").unwrap_or("").to_string();
    if !csrf_ok(&req, f.get(CSRF_FIELD)) {
        return login_page_for(
            &req,
            &state,
            StatusCode::FORBIDDEN,
            Some(
                i18n::pick(&req, i18n::ui_locales_in(return_to.as_deref()).as_deref(), None)
                    .t("The form has expired. Please try again."),
            ),
            &email,
            return_to.as_deref(),
        )
        .await;
    }
    let password = f.get("password").unwrap_or("").to_string();
    let previous = current_session(&req, &state).await.ok().flatten().map(|(s, _)| s);
    let (ip, ua) = (peer_ip(&req), user_agent(&req));
    let engine = state.engine.clone();
    let e2 = email.clone();
    let result = blocking(move || {
        let ctx = BrowserContext { ip: &ip, user_agent: &ua, previous: previous.as_ref() };
        engine.login_with_password(&e2, &password, &ctx)
    })
    .await;
    match result {
        Ok(Ok(PasswordSignIn::SignedIn(signed_in, user))) => {
            // The operator asks this member for a second factor they lack:
            // the enrolment page first (it offers "skip" during the grace period).
            let engine = state.engine.clone();
            let nudge = blocking(move || engine.second_factor_required(&user, None)).await.unwrap_or(false);
            let next = return_to.as_deref().unwrap_or("/account");
            let mut r = if nudge {
                see_other(&format!(
                    "/account/two-step?return_to={}",
                    url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
                ))
            } else {
                see_other(next)
            };
            let _ = r.add_cookie(&session_cookie(&state, signed_in.cookie));
            r
        }
        Ok(Ok(PasswordSignIn::SecondFactor { token, .. })) => {
            let mut r = see_other(&super::two_step::code_step_url(return_to.as_deref()));
            let _ = r.add_cookie(&super::two_step::pending_cookie(&state, token));
            r
        }
        Ok(Err(LoginError::Engine(e))) => super::internal_error(e),
        Ok(Err(e)) => {
            let status = match e {
                LoginError::RateLimited => StatusCode::TOO_MANY_REQUESTS,
                LoginError::Closed => StatusCode::FORBIDDEN,
                _ => StatusCode::UNAUTHORIZED,
            };
            let lang = i18n::pick(&req, i18n::ui_locales_in(return_to.as_deref()).as_deref(), None);
            let message = match e {
                LoginError::RateLimited => {
                    lang.t("Too many failed sign-in attempts. Please wait a while and try again")
                }
                LoginError::Closed => lang.t("This account is closed"),
                _ => lang.t("The e-mail address or password is incorrect"),
            };
            login_page_for(&req, &state, status, Some(message), &email, return_to.as_deref()).await
        }
        Err(e) => super::internal_error(e),
    }
}

async fn logout_form(req: HttpRequest, state: State) -> HttpResponse {
    let (csrf, new_cookie) = csrf_token(&req, &state);
    let body = format!(
        "<form method=\"post\" action=\"/logout\"><input type=\"hidden\" name=\"{CSRF_FIELD}\" value=\"{}\">\
         <button type=\"submit\">Sign out</button></form>",
        attr(&csrf)
    );
    let mut r = html(StatusCode::OK, "Sign out", &body);
    if let Some(c) = new_cookie {
        let _ = r.add_cookie(&c);
    }
    r
}

async fn logout_submit(req: HttpRequest, body: Bytes, state: State) -> HttpResponse {
    let f = Params::parse(&[&body]);
    if !is_form(&req) || !csrf_ok(&req, f.get(CSRF_FIELD)) {
        return error_page(StatusCode::FORBIDDEN, "Sign out", "The form has expired. Please try again.");
    }
    if let Ok(Some((s, u))) = current_session(&req, &state).await {
        let engine = state.engine.clone();
        match blocking(move || engine.end_session(u.id, s.id)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return super::internal_error(e),
            Err(e) => return super::internal_error(e),
        }
    }
    let mut r = html(StatusCode::OK, "Signed out", "<p>You are signed out. <a href=\"/login\">Sign in again</a></p>");
    let _ = r.add_cookie(&clear_session_cookie(&state));
    r
}
