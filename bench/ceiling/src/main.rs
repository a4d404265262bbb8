//! The "ceiling" for `bench/run.sh`: the least work an OAuth server can do
//! per request on the same HTTP stack Gatehouse uses (actix-web), so the
//! harness can say how much of the framework's headroom Gatehouse keeps.
//!
//! * `POST /token`: parses the form body, requires
//!   `grant_type=client_credentials`, decodes the HTTP Basic credentials and
//!   compares the SHA-256 of the secret with the configured one, then mints
//!   a random 32-byte token and answers
//!   `{"access_token","token_type":"Bearer","expires_in":3600}`. Nothing is
//!   stored.
//! * `POST /introspect`: the same parsing and client check, then a fixed
//!   `{"active":true,…}` answer (no lookup).
//! * `GET /.well-known/openid-configuration`, `GET /jwks.json`: the bytes of
//!   the files given on the command line (the harness passes copies of
//!   Gatehouse's own documents, so the response size is the same).
//!
//! Usage: `bench-ceiling PORT CLIENT_ID CLIENT_SECRET DISCOVERY_FILE JWKS_FILE`

use std::collections::HashMap;

use actix_web::http::header;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use rand::RngCore;
use sha2::{Digest, Sha256};

struct Ceiling {
    client_id: String,
    secret_digest: [u8; 32],
    discovery: web::Bytes,
    jwks: web::Bytes,
}

type Form = web::Form<HashMap<String, String>>;

/// True when the request carries `Basic base64(client_id:secret)` for the
/// configured client.
fn authenticated(req: &HttpRequest, c: &Ceiling) -> bool {
    let Some(value) = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let Some(b64) = value.strip_prefix("Basic ") else { return false };
    let Ok(raw) = STANDARD.decode(b64.trim()) else { return false };
    let Ok(pair) = std::str::from_utf8(&raw) else { return false };
    let Some((id, secret)) = pair.split_once(':') else { return false };
    let digest: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
    id == c.client_id && digest == c.secret_digest
}

fn unauthorized() -> HttpResponse {
    HttpResponse::Unauthorized()
        .insert_header((header::WWW_AUTHENTICATE, "Basic"))
        .json(serde_json::json!({ "error": "invalid_client" }))
}

async fn token(req: HttpRequest, form: Form, c: web::Data<Ceiling>) -> HttpResponse {
    if !authenticated(&req, &c) {
        return unauthorized();
    }
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return HttpResponse::BadRequest().json(serde_json::json!({ "error": "unsupported_grant_type" }));
    }
    let mut raw = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut raw);
    HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(serde_json::json!({
        "access_token": URL_SAFE_NO_PAD.encode(raw),
        "token_type": "Bearer",
        "expires_in": 3600,
    }))
}

async fn introspect(req: HttpRequest, form: Form, c: web::Data<Ceiling>) -> HttpResponse {
    if !authenticated(&req, &c) {
        return unauthorized();
    }
    if !matches!(form.get("token"), Some(t) if !t.is_empty()) {
        return HttpResponse::BadRequest().json(serde_json::json!({ "error": "invalid_request" }));
    }
    HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(serde_json::json!({
        "active": true,
        "client_id": c.client_id,
        "token_type": "Bearer",
    }))
}

fn static_json(body: web::Bytes) -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(body)
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 6 {
        eprintln!("usage: bench-ceiling PORT CLIENT_ID CLIENT_SECRET DISCOVERY_FILE JWKS_FILE");
        std::process::exit(2);
    }
    let port: u16 = args[1].parse().map_err(|e| std::io::Error::other(format!("port {:?}: {e}", args[1])))?;
    let ceiling = web::Data::new(Ceiling {
        client_id: args[2].clone(),
        secret_digest: Sha256::digest(args[3].as_bytes()).into(),
        discovery: std::fs::read(&args[4])?.into(),
        jwks: std::fs::read(&args[5])?.into(),
    });
    actix_web::rt::System::new().block_on(async move {
        HttpServer::new(move || {
            App::new()
                .app_data(ceiling.clone())
                .route("/token", web::post().to(token))
                .route("/introspect", web::post().to(introspect))
                .route(
                    "/.well-known/openid-configuration",
                    web::get().to(|c: web::Data<Ceiling>| async move { static_json(c.discovery.clone()) }),
                )
                .route("/jwks.json", web::get().to(|c: web::Data<Ceiling>| async move { static_json(c.jwks.clone()) }))
                .route("/readyz", web::get().to(|| async { HttpResponse::Ok().body("ok") }))
        })
        .bind(("127.0.0.1", port))?
        .run()
        .await
    })
}
