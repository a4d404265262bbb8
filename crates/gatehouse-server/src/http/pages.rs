//! Server-rendered HTML: a shared layout and the error page browsers get.

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use html_escape::encode_text;

/// Wraps a body in the page layout (`base.html`). `title` is escaped;
/// `body` must already be.
pub fn layout(title: &str, body: &str) -> String {
    layout_in(super::i18n::Lang::En, title, body)
}

/// [`layout`] in a language (`<html lang>` and the page chrome).
pub fn layout_in(lang: super::i18n::Lang, title: &str, body: &str) -> String {
    let ctx = minijinja::context! {
        title => title, body => body, lang => lang.code(), request_id_label => lang.t("Request id"),
    };
    match super::templates::render("page.html", ctx) {
        Ok(html) => html,
        Err(e) => {
            tracing::error!(error = %e, "page layout failed to render");
            format!("<!doctype html><title>{t}</title><h1>{t}</h1>{body}", t = encode_text(title))
        }
    }
}

/// A readable error page for a browser.
pub fn error_page(status: StatusCode, title: &str, message: &str) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .body(layout(
            title,
            &format!(
                "<p class=\"error\" role=\"alert\">{}</p>\
                 <p><a href=\"/login\">Go to sign-in</a> · <a href=\"/account\">Your account</a></p>\
                 <p class=\"muted\">If you ask for help, quote the request id below.</p>",
                encode_text(message)
            ),
        ))
}

/// A member page in the browser's language, with `{csrf}` in `body`
/// replaced by this browser's CSRF field (and the cookie set when new).
/// `title` is translated when the catalog has it.
pub fn member_page(
    req: &actix_web::HttpRequest,
    state: &super::State,
    status: StatusCode,
    title: &str,
    body: &str,
) -> HttpResponse {
    let lang = super::i18n::pick(req, None, None);
    let (csrf, new_cookie) = super::browser::csrf_token(req, state);
    let field = format!(
        "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
        super::browser::CSRF_FIELD,
        html_escape::encode_double_quoted_attribute(&csrf)
    );
    let mut r = HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .body(layout_in(lang, lang.t_owned(title), &body.replace("{csrf}", &field)));
    if let Some(c) = new_cookie {
        let _ = r.add_cookie(&c);
    }
    r
}
