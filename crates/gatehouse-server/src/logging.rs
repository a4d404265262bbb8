//! Log output through `tracing`: human-readable by default, JSON on request.
//! The filter comes from `GATEHOUSE_LOG` (or `RUST_LOG`), default `info`.

use tracing_subscriber::EnvFilter;

pub fn init(format: &str) {
    let filter = std::env::var("GATEHOUSE_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .map(EnvFilter::new)
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = if format == "json" {
        builder.json().flatten_event(true).with_current_span(true).try_init()
    } else {
        builder.try_init()
    };
}
