//! `/healthz` (the process is up) and `/readyz` (this replica can serve:
//! the database answers and the master key opens the signing keys).

use actix_web::HttpResponse;
use serde_json::json;

use super::{blocking, State};

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// Why a replica is not ready.
enum NotReady {
    Database(String),
    Keys(String),
}

pub async fn readyz(state: State) -> HttpResponse {
    let engine = state.engine.clone();
    let checked = blocking(move || {
        engine.ping_database().map_err(|e| NotReady::Database(e.to_string()))?;
        // Decrypted keys are cached: after the first call this is one query.
        engine.check_signing_keys().map_err(|e| NotReady::Keys(e.to_string()))
    })
    .await;
    let unavailable = |body| HttpResponse::ServiceUnavailable().json(body);
    match checked {
        Ok(Ok(())) => HttpResponse::Ok().json(json!({ "status": "ready", "database": "ok", "signing": "ok" })),
        Ok(Err(NotReady::Database(e))) => {
            tracing::warn!(error = %e, "readiness check failed: database");
            unavailable(json!({ "status": "unavailable", "database": "unreachable" }))
        }
        Ok(Err(NotReady::Keys(e))) => {
            tracing::error!(error = %e, "readiness check failed: signing keys");
            unavailable(json!({ "status": "unavailable", "database": "ok", "signing": "unavailable" }))
        }
        Err(_) => unavailable(json!({ "status": "unavailable" })),
    }
}
