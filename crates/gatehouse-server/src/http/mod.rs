//! The HTTP surface. Handlers are thin: parse, call the engine on the
//! blocking pool, render. Routes are assembled in [`configure`].

pub mod account;
pub mod admin_api;
pub mod browser;
pub mod console;
pub mod guard;
pub mod health;
pub mod i18n;
pub mod listener;
pub mod login;
pub mod metrics;
pub mod oauth;
pub mod pages;
pub mod passkeys;
pub mod password;
pub mod request_id;
pub mod setup;
pub mod signup;
pub mod templates;
pub mod two_step;

use actix_web::{web, HttpResponse};

use crate::state::AppState;

/// Registers every route of the application.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(health::healthz)).route("/readyz", web::get().to(health::readyz));
    oauth::configure(cfg);
    login::configure(cfg);
    account::configure(cfg);
    admin_api::configure(cfg);
    console::configure(cfg);
    setup::configure(cfg);
    password::configure(cfg);
    signup::configure(cfg);
    two_step::configure(cfg);
    passkeys::configure(cfg);
}

/// Runs blocking engine work off the async executor.
pub async fn blocking<T, F>(f: F) -> Result<T, actix_web::Error>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let caller = request_id::caller();
    web::block(move || in_request(caller, f)).await.map_err(actix_web::error::ErrorServiceUnavailable)
}

/// Runs `f` (on a blocking thread) as part of the request `caller`
/// describes, so the engine audits with its address and id.
pub fn in_request<T>(caller: Option<gatehouse_engine::caller::Caller>, f: impl FnOnce() -> T) -> T {
    match caller {
        Some(c) => c.scope(f),
        None => f(),
    }
}

/// A JSON error response `{"error": …, "error_description": …}`.
pub fn json_error(status: actix_web::http::StatusCode, error: &str, description: &str) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header(("Cache-Control", "no-store"))
        .json(serde_json::json!({ "error": error, "error_description": description }))
}

/// The server's own failure (a bug, a broken database): a 500 that names
/// the request id so an operator can find the log lines. A database that
/// is out of reach is a 503 the client may retry.
pub fn internal_error(err: impl std::fmt::Display) -> HttpResponse {
    let rid = request_id::current();
    let text = err.to_string();
    if text.starts_with(gatehouse_engine::error::UNAVAILABLE) {
        tracing::warn!(error = %text, "database unavailable");
        return HttpResponse::ServiceUnavailable().insert_header(("Retry-After", "5")).json(serde_json::json!({
            "error": "temporarily_unavailable",
            "error_description": "The service is temporarily unavailable; try again shortly",
            "request_id": rid,
        }));
    }
    tracing::error!(error = %text, "internal error");
    HttpResponse::InternalServerError().json(serde_json::json!({
        "error": "server_error",
        "error_description": "The server failed to handle the request",
        "request_id": rid,
    }))
}

/// Shared application data type.
pub type State = web::Data<AppState>;
