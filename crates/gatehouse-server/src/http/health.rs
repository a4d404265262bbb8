//! `/healthz` (the process is up) and `/readyz` (the database answers).

use actix_web::HttpResponse;

use super::{blocking, State};

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

pub async fn readyz(state: State) -> HttpResponse {
    let engine = state.engine.clone();
    match blocking(move || engine.ping_database()).await {
        Ok(Ok(())) => HttpResponse::Ok().json(serde_json::json!({ "status": "ready", "database": "ok" })),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness check failed");
            HttpResponse::ServiceUnavailable()
                .json(serde_json::json!({ "status": "unavailable", "database": "unreachable" }))
        }
        Err(_) => HttpResponse::ServiceUnavailable().json(serde_json::json!({ "status": "unavailable" })),
    }
}
