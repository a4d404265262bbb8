//! The OAuth 2.0 / OpenID Connect endpoints. Every endpoint is served by
//! [`serve_endpoint`] with a [`Dialect`]: Gatehouse's own paths use the
//! standard dialect, plugins alias their paths (`/oauth/token.php`) onto the
//! same code with theirs.
//!
//! Handlers are thin: parse the request, run the engine on the blocking
//! pool, render. Protocol rules live in `gatehouse_engine::oauth`.

mod authorize;
mod endpoints;
mod token;

use gatehouse_core::OAuthErrorCode;
use std::sync::Arc;

use actix_web::http::{Method, StatusCode};
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use gatehouse_core::Dialect;
pub use gatehouse_core::Endpoint;
use gatehouse_engine::oauth::{ClientCredentials, OAuthError, Params};

use crate::http::{blocking, State};

/// Which methods an endpoint answers.
fn allows(endpoint: Endpoint, m: &Method) -> bool {
    match endpoint {
        Endpoint::Discovery | Endpoint::Jwks => m == Method::GET || m == Method::HEAD,
        Endpoint::Token | Endpoint::Revoke | Endpoint::Introspect => m == Method::POST,
        Endpoint::Authorize | Endpoint::Userinfo | Endpoint::Sso | Endpoint::Logout => {
            m == Method::GET || m == Method::POST
        }
    }
}

/// The largest request body an endpoint reads.
pub const MAX_BODY: usize = 64 * 1024;

/// Serves a standard endpoint under any path with a dialect's behaviour.
pub async fn serve_endpoint(
    endpoint: Endpoint,
    dialect: Arc<Dialect>,
    req: HttpRequest,
    body: Bytes,
    state: State,
) -> HttpResponse {
    if !allows(endpoint, req.method()) {
        let text = match endpoint {
            Endpoint::Token => "The request method must be POST when requesting an access token",
            _ => "The request method is not allowed for this endpoint",
        };
        let mut r = oauth_error_response(&OAuthError::new(OAuthErrorCode::InvalidRequest, text).with_status(405));
        let allow = if matches!(endpoint, Endpoint::Token | Endpoint::Revoke | Endpoint::Introspect) {
            "POST"
        } else if matches!(endpoint, Endpoint::Discovery | Endpoint::Jwks) {
            "GET, HEAD"
        } else {
            "GET, POST"
        };
        r.headers_mut()
            .insert(actix_web::http::header::ALLOW, actix_web::http::header::HeaderValue::from_static(allow));
        return r;
    }
    if body.len() > MAX_BODY || req.query_string().len() > MAX_BODY {
        // The authorization endpoint speaks HTML to browsers (unless the
        // dialect says JSON); the others speak OAuth JSON.
        if endpoint == Endpoint::Authorize && !dialect.pre_redirect_errors_as_json {
            return crate::http::pages::error_page(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Sign-in request rejected",
                "The sign-in request was too large. Go back to the app and try again.",
            );
        }
        return oauth_error_response(&OAuthError::invalid_request("The request is too large").with_status(413));
    }
    match endpoint {
        Endpoint::Discovery => endpoints::discovery(&dialect, &state),
        Endpoint::Jwks => endpoints::jwks(state).await,
        Endpoint::Authorize => authorize::authorize(dialect, req, body, state).await,
        Endpoint::Token => token::token(dialect, req, body, state).await,
        Endpoint::Revoke => token::revoke(req, body, state).await,
        Endpoint::Introspect => token::introspect(req, body, state).await,
        Endpoint::Userinfo => endpoints::userinfo(req, body, state).await,
        Endpoint::Sso => endpoints::sso(req, body, state).await,
        Endpoint::Logout => endpoints::logout(req, body, state).await,
    }
}

/// Registers every endpoint at its standard path with the standard dialect.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let dialect = Arc::new(Dialect::standard());
    for endpoint in Endpoint::ALL {
        let d = dialect.clone();
        cfg.service(
            web::resource(endpoint.standard_path())
                // Read bodies up to 1 MiB so that oversized ones get a JSON
                // error from us rather than the framework's plain 413.
                .app_data(web::PayloadConfig::new(1 << 20))
                .to(move |req: HttpRequest, body: Bytes, state: State| {
                    serve_endpoint(endpoint, d.clone(), req, body, state)
                }),
        );
    }
}

/// A protocol error as JSON, never cached.
pub fn oauth_error_response(e: &OAuthError) -> HttpResponse {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
    let mut r = crate::http::json_error(status, e.code.as_str(), &e.description);
    r.headers_mut()
        .insert(actix_web::http::header::PRAGMA, actix_web::http::header::HeaderValue::from_static("no-cache"));
    // RFC 6749 §5.2: a 401 for client authentication carries the challenge.
    if status == StatusCode::UNAUTHORIZED && e.code == OAuthErrorCode::InvalidClient {
        r.headers_mut().insert(
            actix_web::http::header::WWW_AUTHENTICATE,
            actix_web::http::header::HeaderValue::from_static("Basic realm=\"gatehouse\", charset=\"UTF-8\""),
        );
    }
    r
}

/// A successful JSON response that must not be cached (tokens).
pub fn no_store_json(body: &impl serde::Serialize) -> HttpResponse {
    HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).insert_header(("Pragma", "no-cache")).json(body)
}

/// Reads `Authorization: Basic` as the client's credentials. A malformed
/// header counts as wrong credentials.
pub fn basic_credentials(req: &HttpRequest) -> ClientCredentials {
    match req.headers().get("authorization").and_then(|v| v.to_str().ok()) {
        Some(h) => ClientCredentials::from_authorization(h),
        None => ClientCredentials::default(),
    }
}

/// Parses a form body (the content type must say so).
pub fn form_params(req: &HttpRequest, body: &Bytes) -> Result<Params, OAuthError> {
    if !crate::http::browser::is_form(req) {
        return Err(OAuthError::invalid_request(
            "The content type for POST requests must be \"application/x-www-form-urlencoded\"",
        ));
    }
    Ok(Params::parse(&[body]))
}

/// Runs engine work on the blocking pool; a pool failure is a 503.
pub async fn run<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, OAuthError> + Send + 'static,
) -> Result<T, OAuthError> {
    match blocking(f).await {
        Ok(r) => r,
        Err(e) => Err(OAuthError::new(OAuthErrorCode::TemporarilyUnavailable, e.to_string())),
    }
}
