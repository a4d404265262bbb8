//! A minimal Gatehouse plugin (walked through in `plugins/README.md`).
//!
//! It serves three routes:
//! - `GET /example/hello` greets with the configured `greeting`;
//! - `POST /example/echo` answers the request body back;
//! - `GET /example/visits` counts its calls in the plugin's key-value store.
#![forbid(unsafe_code)]

use gatehouse_plugin_api::prelude::*;
use serde::Deserialize;

/// The plugin's `[plugins.config]` table.
#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Config {
    greeting: String,
}

impl Default for Config {
    fn default() -> Self {
        Config { greeting: "Hello".into() }
    }
}

struct Example {
    config: Config,
    host: Host,
}

impl Plugin for Example {
    const NAME: &'static str = "example";

    fn describe() -> Manifest {
        Manifest {
            description: "Says hello, echoes, counts visits".into(),
            capabilities: vec![Capability::Routes],
            routes: vec![
                RouteDecl::new(&["GET"], "/example/hello"),
                RouteDecl::new(&["POST"], "/example/echo"),
                RouteDecl::new(&["GET"], "/example/visits"),
            ],
            ..Default::default()
        }
    }

    fn init(ctx: InitContext) -> Result<Self, Error> {
        let config: Config = ctx.config_as()?;
        Ok(Example { config, host: ctx.host })
    }

    fn route(&self, req: HttpRequest) -> Result<HttpResponse, Error> {
        match req.path.as_str() {
            "/example/hello" => {
                let who = req.query_params().into_iter().find(|(k, _)| k == "name").map(|(_, v)| v);
                let text = format!("{}, {}!", self.config.greeting, who.as_deref().unwrap_or("world"));
                Ok(HttpResponse::json(200, &json!({ "message": text })))
            }
            "/example/echo" => {
                let content_type = req.header("content-type").unwrap_or("application/octet-stream").to_string();
                Ok(HttpResponse::text(200, &content_type, req.body))
            }
            "/example/visits" => {
                // State lives in the host's kv store, so it is shared by every
                // replica and survives restarts.
                let n = self.host.kv_get("visits")?.and_then(|v| v.parse::<u64>().ok()).unwrap_or(0) + 1;
                self.host.kv_set("visits", &n.to_string())?;
                Ok(HttpResponse::json(200, &json!({ "visits": n })))
            }
            _ => Ok(HttpResponse::new(404)),
        }
    }
}

export_plugin!(Example);
