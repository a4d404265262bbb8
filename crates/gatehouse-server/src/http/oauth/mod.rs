//! The OAuth 2.0 / OpenID Connect endpoints. Every endpoint is served by
//! [`serve_endpoint`] with a [`Dialect`]: Gatehouse's own paths use the
//! standard dialect, plugins alias their paths (`/oauth/token.php`) onto the
//! same code with theirs.

use std::sync::Arc;

use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};
use gatehouse_core::Dialect;

use crate::http::State;

/// The standard endpoints a dialect may alias.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Endpoint {
    Discovery,
    Jwks,
    Authorize,
    Token,
    Userinfo,
    Sso,
    Revoke,
    Introspect,
    Logout,
}

/// Serves a standard endpoint under any path with a dialect's behaviour.
pub async fn serve_endpoint(
    endpoint: Endpoint,
    dialect: Arc<Dialect>,
    req: HttpRequest,
    body: Bytes,
    state: State,
) -> HttpResponse {
    let _ = (endpoint, dialect, req, body, state);
    crate::http::json_error(actix_web::http::StatusCode::NOT_IMPLEMENTED, "server_error", "Not implemented yet")
}
