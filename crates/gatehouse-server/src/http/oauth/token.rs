//! `POST /oauth2/token`, `/oauth2/revoke`, `/oauth2/introspect`.

use std::sync::Arc;

use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};
use gatehouse_core::Dialect;
use gatehouse_engine::oauth::OAuthError;

use super::{basic_credentials, form_params, no_store_json, oauth_error_response, run};
use crate::http::State;

pub async fn token(dialect: Arc<Dialect>, req: HttpRequest, body: Bytes, state: State) -> HttpResponse {
    let params = match form_params(&req, &body) {
        Ok(p) => p,
        Err(e) => return oauth_error_response(&e),
    };
    let creds = basic_credentials(&req);
    // The hot path parks no thread: the token's commit is awaited here.
    if let Some((body, durable)) = state.engine.client_credentials_without_blocking(&dialect, &params, &creds) {
        return match durable.await {
            Ok(()) => no_store_json(&body),
            Err(e) => oauth_error_response(&OAuthError::from(e)),
        };
    }
    let engine = state.engine.clone();
    match run(move || engine.token(&dialect, &params, &creds)).await {
        Ok(body) => no_store_json(&body),
        Err(e) => oauth_error_response(&e),
    }
}

pub async fn revoke(req: HttpRequest, body: Bytes, state: State) -> HttpResponse {
    let params = match form_params(&req, &body) {
        Ok(p) => p,
        Err(e) => return oauth_error_response(&e),
    };
    let creds = basic_credentials(&req);
    let engine = state.engine.clone();
    match run(move || engine.revoke(&params, &creds)).await {
        Ok(()) => HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).finish(),
        Err(e) => oauth_error_response(&e),
    }
}

pub async fn introspect(req: HttpRequest, body: Bytes, state: State) -> HttpResponse {
    let params = match form_params(&req, &body) {
        Ok(p) => p,
        Err(e) => return oauth_error_response(&e),
    };
    let creds = basic_credentials(&req);
    let engine = state.engine.clone();
    match run(move || engine.introspect(&params, &creds)).await {
        Ok(body) => no_store_json(&body),
        Err(e) => oauth_error_response(&e),
    }
}
