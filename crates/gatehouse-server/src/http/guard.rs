//! What every response needs whatever its handler (run by the one
//! middleware, [`super::request_id::middleware`]):
//! - HTML responses get anti-framing and referrer headers and a strict
//!   Content-Security-Policy (clickjacking: a framed "Sign out" or consent
//!   button must not be clickable through someone else's page);
//! - `CONNECT` is answered 405 at once (the framework would otherwise read
//!   the tunnel as a body that never ends, and the connection hangs);
//! - the framework's own plain-text refusals (a body over the limit) are
//!   rewritten in the format of the surface that was asked: OAuth JSON on
//!   the protocol endpoints, an HTML page with a way back elsewhere.

use actix_web::body::{BoxBody, EitherBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::HttpResponse;

/// The policy of every HTML page: no script but Gatehouse's own files (the
/// passkey script; never inline), nothing loaded from elsewhere except
/// images over https, never framed.
pub const HTML_CSP: &str = "default-src 'none'; script-src 'self'; connect-src 'self'; \
                            style-src 'self' 'unsafe-inline'; img-src 'self' https: data:; \
                            frame-ancestors 'none'; base-uri 'none'";

/// The guard's half of the request path, run by the one middleware
/// ([`super::request_id::middleware`]) around every request: `before` may
/// answer at once; otherwise the handler runs and `after` finishes its
/// response. (One layer, not two: each `from_fn` layer costs a boxed future
/// per request.)
pub struct Guard {
    json: bool,
}

/// [`Guard::before`]'s decision.
pub enum Admission {
    /// The answer to send instead of running the handler.
    Refused(ServiceResponse),
    /// Run the handler, then [`Guard::after`] on its response.
    Admitted(Guard, ServiceRequest),
}

impl Guard {
    /// Whether the request goes on to its handler.
    pub fn before(req: ServiceRequest) -> Admission {
        if req.method() == Method::CONNECT {
            let res = HttpResponse::MethodNotAllowed()
                .insert_header((header::CONNECTION, "close"))
                .insert_header(("Cache-Control", "no-store"))
                .json(serde_json::json!({
                    "error": "invalid_request",
                    "error_description": "The CONNECT method is not supported"
                }));
            return Admission::Refused(req.into_response(res));
        }
        Admission::Admitted(Guard { json: speaks_json(req.path()) }, req)
    }

    /// Hardens the handler's response, or replaces a framework refusal.
    pub fn after<B>(self, mut res: ServiceResponse<B>) -> ServiceResponse<EitherBody<B>> {
        if res.status() == StatusCode::PAYLOAD_TOO_LARGE && !is_ours(&res) {
            let (req, _) = res.into_parts();
            let mut res = ServiceResponse::new(req, too_large(self.json)).map_into_right_body();
            harden(&mut res);
            return res;
        }
        harden(&mut res);
        res.map_into_left_body()
    }
}

/// A response we built ourselves carries a content type the framework's
/// plain-text refusals do not.
fn is_ours<B>(res: &ServiceResponse<B>) -> bool {
    res.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json") || ct.starts_with("text/html"))
}

/// Whether `path` is one of the JSON protocol surfaces.
fn speaks_json(path: &str) -> bool {
    path.starts_with("/oauth2/")
        || path.starts_with("/.well-known/")
        || path == "/jwks.json"
        || path.starts_with("/admin/api/")
}

fn too_large(json: bool) -> HttpResponse<BoxBody> {
    if json {
        super::json_error(StatusCode::PAYLOAD_TOO_LARGE, "invalid_request", "The request is too large")
    } else {
        super::pages::error_page(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Request too large",
            "The request was larger than this server accepts. Go back and try again with less.",
        )
    }
}

fn harden<B>(res: &mut ServiceResponse<B>) {
    let is_html = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("text/html"));
    let h = res.headers_mut();
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if is_html {
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        // A page that frames others (front-channel logout) sets its own,
        // stricter-than-default-plus-frame-src policy; every other page gets ours.
        if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
            h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(HTML_CSP));
        }
        h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    }
}
