//! One plugin round trip: a `routes` call with a 1 KiB body through the host
//! into the example plugin and back (encode the request, call across the C
//! ABI, the plugin decodes, answers, the host decodes and validates the
//! answer). No HTTP and no database: that is the plugin system's own cost.
//!
//! `cargo bench -p gatehouse-server --bench plugin_roundtrip` builds the
//! example plugin in release mode first.

use std::path::PathBuf;
use std::process::Command;

use criterion::{criterion_group, criterion_main, Criterion};
use gatehouse_plugin_api::messages::HttpRequest;
use gatehouse_server::config::{Config, PluginConfig};
use gatehouse_server::plugin_host::{http::route_blocking, PluginHost};
use gatehouse_server::state::open_engine;

/// Builds the example plugin (release) next to this benchmark's target dir.
fn example_plugin() -> PathBuf {
    let target = std::env::var("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|_| {
        let exe = std::env::current_exe().unwrap();
        exe.ancestors().nth(3).unwrap().to_path_buf()
    });
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--release", "--quiet", "-p", "gatehouse-plugin-example"])
        .env("CARGO_TARGET_DIR", &target)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("run cargo build");
    assert!(status.success(), "building the example plugin failed");
    target.join("release").join("libgatehouse_plugin_example.so")
}

fn roundtrip(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("gh-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = Config {
        data_dir: dir.clone(),
        database_url: Some(format!("sqlite://{}", dir.join("bench.db").display())),
        plugins: vec![PluginConfig { path: example_plugin(), config: toml::Value::Table(Default::default()) }],
        ..Default::default()
    };
    let engine = open_engine(&cfg).unwrap();
    let host = PluginHost::load(&cfg, &engine, false).unwrap();
    let plugin = host.get("example").unwrap().clone();
    let request = HttpRequest {
        method: "POST".into(),
        path: "/example/echo".into(),
        query: "a=1".into(),
        headers: vec![
            ("content-type".into(), "text/plain".into()),
            ("user-agent".into(), "bench/1.0".into()),
            ("accept".into(), "*/*".into()),
        ],
        body: "x".repeat(1024),
        body_base64: false,
        peer_addr: Some("127.0.0.1".into()),
        request_id: "0123456789abcdef".into(),
        user: None,
    };
    c.bench_function("plugin routes round trip, 1 KiB body", |b| {
        b.iter(|| {
            let v = route_blocking(&plugin, &engine, &cfg, request.clone()).unwrap();
            assert_eq!(v.body.len(), 1024);
            v
        })
    });
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, roundtrip);
criterion_main!(benches);
