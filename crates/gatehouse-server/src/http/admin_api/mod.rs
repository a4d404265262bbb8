//! The admin API under `/admin/api/v1`: JSON over the engine's services,
//! described by the OpenAPI 3.1 document at `/admin/api/openapi.json`,
//! which is generated from these handlers and wire types (utoipa), so it
//! cannot drift from them.
//!
//! Who may call it ([`authenticate`]):
//! - automation: `Authorization: Bearer <token>`, a client_credentials
//!   token carrying the `admin` scope, issued to a client the operator gave
//!   that scope (a plugin never can);
//! - a signed-in administrator's browser session; unsafe methods then also
//!   need the `X-CSRF-Token` header equal to the CSRF cookie.
//!
//! Every refusal is an RFC 9457 problem document with the request id, and
//! is audited (`admin.api_refused`). Every change is audited by the engine
//! with who made it (`details.actor`).

mod clients;
pub(crate) mod system;
mod users;
pub mod wire;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use gatehouse_engine::admin::{AdminPrincipal, AdminTokenRefusal};
use gatehouse_engine::EngineError;
use serde::de::DeserializeOwned;
use utoipa::OpenApi;

use super::{browser, request_id, State};

pub const PREFIX: &str = "/admin/api/v1";

/// The OpenAPI document: every path and schema of the admin API.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Gatehouse admin API",
        description = "Manage users, clients, API credentials, plugins, signing keys and the audit log. \
                       Authenticate with a bearer token from a client_credentials client the operator gave \
                       the `admin` scope, or with a signed-in administrator's session (plus `X-CSRF-Token` \
                       on unsafe methods). Errors are RFC 9457 problem documents."
    ),
    servers((url = "/admin/api/v1")),
    paths(
        users::list, users::create, users::show, users::update, users::delete, users::set_password, users::unlock,
        users::sessions, users::end_sessions, users::end_session, users::consents, users::revoke_consent,
        users::families, users::revoke_family, users::identities, users::remove_identity, users::invite,
        users::groups, users::set_groups, users::group_list, users::reset_second_factors, users::pre_link,
        clients::list, clients::create, clients::show, clients::update, clients::delete, clients::rotate_secret,
        clients::api_credentials, clients::create_api_credential, clients::delete_api_credential,
        system::accounts, system::create_account, system::show_account, system::add_member,
        system::plugins, system::keys, system::rotate_keys, system::audit, system::dashboard,
    ),
    components(schemas(wire::ProblemDocument)),
    modifiers(&SecurityAddon),
    security(("bearer" = []), ("session" = []))
)]
pub struct AdminApiDoc;

struct SecurityAddon;

impl utoipa::Modify for SecurityAddon {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("A client_credentials access token with the `admin` scope"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                browser::SESSION_COOKIE,
                "A signed-in administrator's session (unsafe methods also need X-CSRF-Token)",
            ))),
        );
    }
}

/// Registers the admin API's routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/api/openapi.json", web::get().to(openapi_json));
    users::routes(cfg);
    clients::routes(cfg);
    system::routes(cfg);
    // Anything else under the prefix is a problem document too.
    cfg.route(
        &p("/{tail:.*}"),
        web::to(|| async {
            Problem::new(StatusCode::NOT_FOUND, "not_found", "There is no such admin API endpoint").error_response()
        }),
    );
}

/// A path under [`PREFIX`].
pub fn p(path: &str) -> String {
    format!("{PREFIX}{path}")
}

async fn openapi_json() -> HttpResponse {
    static DOC: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let body = DOC.get_or_init(|| AdminApiDoc::openapi().to_pretty_json().unwrap_or_default());
    HttpResponse::Ok().content_type("application/json").body(body.clone())
}

/// An RFC 9457 problem: the one shape of every admin API error.
#[derive(Debug)]
pub struct Problem {
    pub status: StatusCode,
    /// A short machine code (`not_found`, `invalid_request`…), also the
    /// last segment of the problem `type`.
    pub code: &'static str,
    pub detail: String,
}

impl Problem {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Problem {
        Problem { status, code, detail: detail.into() }
    }

    pub fn bad_request(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::BAD_REQUEST, "invalid_request", detail)
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.detail)
    }
}

impl ResponseError for Problem {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let body = wire::ProblemDocument {
            r#type: format!("https://gatehouse.dev/problems/{}", self.code),
            title: self.status.canonical_reason().unwrap_or("Error").to_string(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            code: self.code.to_string(),
            request_id: request_id::current(),
        };
        let mut res = HttpResponse::build(self.status)
            .content_type("application/problem+json")
            .insert_header(("Cache-Control", "no-store"))
            .json(body);
        if self.status == StatusCode::UNAUTHORIZED {
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"gatehouse-admin\""));
        }
        res
    }
}

impl From<EngineError> for Problem {
    fn from(e: EngineError) -> Problem {
        match e {
            EngineError::Invalid(m) => Problem::new(StatusCode::BAD_REQUEST, "invalid_request", m),
            EngineError::NotFound(what) => {
                Problem::new(StatusCode::NOT_FOUND, "not_found", format!("{what} not found"))
            }
            EngineError::Conflict(what) => {
                Problem::new(StatusCode::CONFLICT, "conflict", format!("{what} already exists"))
            }
            EngineError::Unavailable(_) => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "The database is temporarily unavailable; try again shortly",
            ),
            other => {
                tracing::error!(error = %other, "admin API: internal error");
                Problem::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    "The server failed to handle the request",
                )
            }
        }
    }
}

impl From<actix_web::error::BlockingError> for Problem {
    fn from(_: actix_web::error::BlockingError) -> Problem {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "The server is busy; try again shortly",
        )
    }
}

impl From<actix_web::Error> for Problem {
    fn from(_: actix_web::Error) -> Problem {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "The server is busy; try again shortly",
        )
    }
}

/// The caller, once [`authenticate`] accepted them.
pub struct Admin(pub AdminPrincipal);

/// Decides who is calling, or refuses with 401/403 (audited).
pub async fn authenticate(req: &HttpRequest, state: &State) -> Result<Admin, Problem> {
    let bearer = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| {
        v.split_once(' ').filter(|(s, _)| s.eq_ignore_ascii_case("bearer")).map(|(_, t)| t.trim().to_string())
    });
    let session = browser::session_cookie_value(req);
    let unsafe_method = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let csrf_ok =
        req.headers().get("x-csrf-token").and_then(|v| v.to_str().ok()).is_some_and(|t| browser::csrf_ok(req, Some(t)));
    let engine = state.engine.clone();
    let path = req.path().to_string();
    let verdict = super::blocking(move || -> Result<Result<AdminPrincipal, (Problem, &'static str)>, EngineError> {
        if let Some(token) = bearer {
            return Ok(engine.admin_from_bearer(&token).map_err(|r| match r {
                AdminTokenRefusal::InvalidToken => (
                    Problem::new(
                        StatusCode::UNAUTHORIZED,
                        "invalid_token",
                        "The bearer token is unknown, expired or revoked",
                    ),
                    "invalid_token",
                ),
                AdminTokenRefusal::InsufficientScope => (
                    Problem::new(
                        StatusCode::FORBIDDEN,
                        "insufficient_scope",
                        "This token does not carry the admin scope of an operator's client_credentials client",
                    ),
                    "insufficient_scope",
                ),
            }));
        }
        let Some(cookie) = session else {
            return Ok(Err((
                Problem::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthenticated",
                    "Send a bearer token with the admin scope, or sign in as an administrator",
                ),
                "no_credentials",
            )));
        };
        match engine.admin_from_session(&cookie)? {
            None => Ok(Err((
                Problem::new(StatusCode::FORBIDDEN, "forbidden", "Only administrators may use the admin API"),
                "not_an_admin",
            ))),
            Some(_) if unsafe_method && !csrf_ok => Ok(Err((
                Problem::new(
                    StatusCode::FORBIDDEN,
                    "csrf",
                    "Send the X-CSRF-Token header with the CSRF cookie's value",
                ),
                "csrf",
            ))),
            Some(p) => Ok(Ok(p)),
        }
    })
    .await??;
    match verdict {
        Ok(p) => Ok(Admin(p)),
        Err((problem, reason)) => {
            let engine = state.engine.clone();
            let _ = super::blocking(move || {
                engine.audit(gatehouse_engine::audit::AuditRecord {
                    kind: "admin.api_refused",
                    message: format!("Admin API refused {path}: {reason}"),
                    details: serde_json::json!({ "reason": reason, "path": path }),
                    ..Default::default()
                })
            })
            .await;
            Err(problem)
        }
    }
}

/// Runs engine work for an administrator: off the async threads, with the
/// request's caller acting as them (so the audit names who did it).
pub async fn as_admin<T, F>(admin: &Admin, f: F) -> Result<T, Problem>
where
    F: FnOnce() -> Result<T, EngineError> + Send + 'static,
    T: Send + 'static,
{
    let caller = request_id::caller().map(|c| c.acting_as(admin.0.actor()));
    let result = web::block(move || super::in_request(caller, f)).await.map_err(Problem::from)?;
    Ok(result?)
}

/// Parses a JSON body, refusing anything else with a clear problem.
pub fn json_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, Problem> {
    serde_json::from_slice(body).map_err(|e| Problem::bad_request(format!("The body is not the expected JSON: {e}")))
}

/// Parses the query string.
pub fn query<T: DeserializeOwned>(req: &HttpRequest) -> Result<T, Problem> {
    serde_urlencoded::from_str(req.query_string())
        .map_err(|e| Problem::bad_request(format!("The query string is not valid: {e}")))
}

/// A numeric path segment.
pub fn id_in_path(req: &HttpRequest, name: &str) -> Result<i64, Problem> {
    let raw = req.match_info().get(name).unwrap_or_default();
    raw.parse().map_err(|_| Problem::new(StatusCode::NOT_FOUND, "not_found", format!("{name} {raw:?} is not an id")))
}

/// A JSON answer.
pub fn ok<T: serde::Serialize>(status: StatusCode, value: &T) -> HttpResponse {
    HttpResponse::build(status).insert_header(("Cache-Control", "no-store")).json(value)
}
