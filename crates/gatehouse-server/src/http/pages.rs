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
