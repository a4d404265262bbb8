//! `/metrics` in the Prometheus text format. The engine and the host count
//! through the `metrics` facade (tokens issued, sign-ins and their
//! failures, refusals by reason, SSO, janitor, plugin calls, database
//! unavailability); this module installs the exporter, times every HTTP
//! request by route and status, and renders the registry with the
//! connection pools' state at scrape time.

use std::sync::OnceLock;
use std::time::Duration;

use actix_web::HttpResponse;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use super::State;

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Latency buckets (seconds): a token request takes milliseconds.
const BUCKETS: &[f64] = &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

/// Installs the process-wide recorder (once).
pub fn install() {
    HANDLE.get_or_init(|| {
        let built = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), BUCKETS)
            .and_then(|b| b.install_recorder());
        match built {
            Ok(h) => {
                start_upkeep(h.clone());
                Some(h)
            }
            Err(e) => {
                tracing::warn!(error = %e, "metrics are off: the exporter could not be installed");
                None
            }
        }
    });
}

/// Histogram samples wait in the recorder until they are folded into their
/// buckets, which `render` does at a scrape. Without a scraper every
/// request's samples stayed (about 17 bytes a request: 8 MiB per half a
/// million requests); folding them in every few seconds keeps memory flat.
fn start_upkeep(handle: PrometheusHandle) {
    let spawned = std::thread::Builder::new().name("gatehouse-metrics".into()).spawn(move || loop {
        std::thread::sleep(Duration::from_secs(5));
        handle.run_upkeep();
    });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot start the metrics upkeep thread");
    }
}

/// One finished HTTP request.
pub fn record_request(route: &str, method: &str, status: u16, elapsed: Duration) {
    let status = status.to_string();
    metrics::counter!(
        "gatehouse_http_requests_total",
        "route" => route.to_string(),
        "method" => method.to_string(),
        "status" => status
    )
    .increment(1);
    metrics::histogram!("gatehouse_http_request_duration_seconds", "route" => route.to_string())
        .record(elapsed.as_secs_f64());
}

pub async fn render(state: State) -> HttpResponse {
    let Some(Some(handle)) = HANDLE.get() else {
        return HttpResponse::ServiceUnavailable().content_type("text/plain").body("metrics are not enabled\n");
    };
    for (pool, open, idle) in state.engine.pool_state() {
        metrics::gauge!("gatehouse_db_pool_connections", "pool" => pool).set(f64::from(open));
        metrics::gauge!("gatehouse_db_pool_idle_connections", "pool" => pool).set(f64::from(idle));
    }
    HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(handle.render())
}
