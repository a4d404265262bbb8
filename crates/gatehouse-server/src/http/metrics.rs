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
/// million requests). Folding them in every second bounds them by one
/// second of traffic: every five seconds, 100k requests a second left
/// each worker's allocator holding several MiB it had once needed.
fn start_upkeep(handle: PrometheusHandle) {
    let spawned = std::thread::Builder::new().name("gatehouse-metrics".into()).spawn(move || loop {
        std::thread::sleep(Duration::from_secs(1));
        handle.run_upkeep();
    });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot start the metrics upkeep thread");
    }
}

/// One finished HTTP request.
pub fn record_request(route: String, method: &actix_web::http::Method, status: u16, elapsed: Duration) {
    // The handles of each (route, method, status) are kept per worker
    // thread: a lookup by the label values, instead of building the labels
    // and hashing them into the registry on every request.
    thread_local! {
        static HANDLES: std::cell::RefCell<std::collections::HashMap<(String, &'static str, u16), RequestHandles>> =
            Default::default();
    }
    let method = method_label(method);
    HANDLES.with(|handles| {
        let mut handles = handles.borrow_mut();
        let h = handles.entry((route, method, status)).or_insert_with_key(|(route, method, status)| RequestHandles {
            count: metrics::counter!(
                "gatehouse_http_requests_total",
                "route" => route.clone(),
                "method" => *method,
                "status" => status.to_string()
            ),
            duration: metrics::histogram!("gatehouse_http_request_duration_seconds", "route" => route.clone()),
        });
        h.count.increment(1);
        h.duration.record(elapsed.as_secs_f64());
    });
}

struct RequestHandles {
    count: metrics::Counter,
    duration: metrics::Histogram,
}

/// The method as a label: the standard ones by name, any other as `other`
/// (a client can send any token as a method; labels must stay bounded).
fn method_label(m: &actix_web::http::Method) -> &'static str {
    use actix_web::http::Method;
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::HEAD => "HEAD",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
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
