//! A request id on every request: in a tracing span around the handler (so
//! every log line carries it), in the `X-Request-Id` response header, and
//! one access-log line per request. The log line has the path but never the
//! query string, which may hold tokens.

use std::time::Instant;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use tracing::Instrument;

use super::guard::{Admission, Guard};

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

tokio::task_local! {
    static REQUEST: gatehouse_engine::caller::Caller;
}

/// The current request's id (empty outside a request).
pub fn current() -> String {
    REQUEST.try_with(|r| r.request_id.clone()).unwrap_or_default()
}

/// The current request's id and client address, for the engine's audit.
pub fn caller() -> Option<gatehouse_engine::caller::Caller> {
    REQUEST.try_with(|r| r.clone()).ok()
}

/// A caller-supplied id is kept when it is short and plain; otherwise a new one.
fn choose_id(req: &ServiceRequest) -> String {
    req.headers()
        .get(X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty() && v.len() <= 64 && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
        .map(str::to_string)
        .unwrap_or_else(new_id)
}

/// A new request id: 64 random bits in hex. Unique, not secret: from the
/// thread's CSPRNG, which saves the getrandom system call the OS source
/// costs on every request.
fn new_id() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 8];
    rand::thread_rng().fill_bytes(&mut bytes);
    let mut text = [0u8; 16];
    hex::encode_to_slice(bytes, &mut text).expect("16 hex digits for 8 bytes");
    std::str::from_utf8(&text).expect("hex digits are ASCII").to_owned()
}

/// The one middleware around every request: the request id, the access
/// log and the metrics here, and [`Guard`]'s checks and headers.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let rid = choose_id(&req);
    let method = req.method().clone();
    // Fields are only formatted when the span is enabled (log level info).
    let span = tracing::info_span!("request", request_id = %rid, method = %method, path = %req.path());
    let started = Instant::now();
    let caller = gatehouse_engine::caller::Caller {
        ip: super::browser::peer_ip(req.request()),
        request_id: rid.clone(),
        actor: String::new(),
    };
    let handled = async move {
        match Guard::before(req) {
            Admission::Refused(refusal) => Ok(refusal.map_into_right_body()),
            Admission::Admitted(guard, req) => Ok(guard.after(next.call(req).await?)),
        }
    };
    let result = REQUEST.scope(caller, handled.instrument(span.clone())).await;
    let _enter = span.enter();
    match result {
        Ok(mut res) => {
            let status = res.status().as_u16();
            let elapsed = started.elapsed();
            // Routes by their pattern (bounded labels), never the raw path.
            let route = res.request().match_pattern().unwrap_or_else(|| "unmatched".into());
            super::metrics::record_request(route, &method, status, elapsed);
            if let Ok(v) = HeaderValue::from_str(&rid) {
                res.headers_mut().insert(X_REQUEST_ID, v);
            }
            tracing::info!(status, elapsed_ms = elapsed.as_millis() as u64, "request finished");
            Ok(res)
        }
        Err(e) => {
            tracing::warn!(error = %e, "request failed");
            Err(e)
        }
    }
}
