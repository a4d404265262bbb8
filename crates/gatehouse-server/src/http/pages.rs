//! Server-rendered HTML: a shared layout and the error page browsers get.

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use html_escape::encode_text;

/// Wraps a body in the page layout. `title` is escaped; `body` must already be.
pub fn layout(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{t} · Gatehouse</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem;color:#222}}\
         input,button{{font:inherit;padding:.4rem .6rem;margin:.2rem 0}}label{{display:block;margin-top:.6rem}}\
         .error{{color:#a00}}table{{border-collapse:collapse}}td,th{{padding:.2rem .6rem;border-bottom:1px solid #ddd;text-align:left}}</style>\
         </head><body><main><h1>{t}</h1>\n{body}\n</main></body></html>\n",
        t = encode_text(title),
        body = body
    )
}

/// A readable error page for a browser.
pub fn error_page(status: StatusCode, title: &str, message: &str) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .body(layout(title, &format!("<p class=\"error\">{}</p>", encode_text(message))))
}
