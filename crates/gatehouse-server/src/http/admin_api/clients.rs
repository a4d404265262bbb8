//! `/clients` (OAuth clients, with every client the operator and the
//! plugins made) and `/api-credentials` (the WHMCS-compatible API's).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use gatehouse_core::client::parse_grant_types;
use gatehouse_core::ScopeSet;
use gatehouse_engine::directory::ClientInput;
use gatehouse_engine::model::ClientChanges;

use super::wire::*;
use super::{as_admin, authenticate, id_in_path, json_body, ok, p, Problem};
use crate::http::State;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(&p("/clients"), web::get().to(list))
        .route(&p("/clients"), web::post().to(create))
        .route(&p("/clients/{id}"), web::get().to(show))
        .route(&p("/clients/{id}"), web::patch().to(update))
        .route(&p("/clients/{id}"), web::delete().to(delete))
        .route(&p("/clients/{id}/secret"), web::post().to(rotate_secret))
        .route(&p("/api-credentials"), web::get().to(api_credentials))
        .route(&p("/api-credentials"), web::post().to(create_api_credential))
        .route(&p("/api-credentials/{id}"), web::delete().to(delete_api_credential));
}

fn grant_types(list: &[String]) -> Result<Vec<gatehouse_core::client::GrantType>, Problem> {
    parse_grant_types(&list.join(",")).map_err(|e| Problem::bad_request(e.to_string()))
}

/// The client a path names: its numeric id or its client_id.
fn client_key(req: &HttpRequest) -> String {
    req.match_info().get("id").unwrap_or_default().to_string()
}

/// Lists every OAuth client.
#[utoipa::path(get, path = "/clients", tag = "clients",
    responses((status = 200, body = Vec<ClientView>), (status = 401, body = ProblemDocument), (status = 403, body = ProblemDocument)))]
pub async fn list(req: HttpRequest, state: State) -> Result<HttpResponse, Problem> {
    let admin = authenticate(&req, &state).await?;
    let engine = state.engine.clone();
    let clients = as_admin(&admin, move || engine.clients_as(gatehouse_engine::directory::Actor::Operator)).await?;
    Ok(ok(StatusCode::OK, &clients.iter().map(ClientView::from).collect::<Vec<_>>()))
}

/// Registers a client; its secret is in the answer, once.
#[utoipa::path(post, path = "/clients", tag = "clients", request_body = ClientCreate,
    responses((status = 201, body = ClientWithSecret), (status = 400, body = ProblemDocument)))]
pub async fn create(req: HttpRequest, state: State, body: web::Bytes) -> Result<HttpResponse, Problem> {
    let admin = authenticate(&req, &state).await?;
    let c: ClientCreate = json_body(&body)?;
    let grants = match &c.grant_types {
        Some(g) => grant_types(g)?,
        None => grant_types(&["authorization_code".into(), "refresh_token".into()])?,
    };
    let scopes = match &c.scopes {
        Some(s) => ScopeSet::from_vec(s.clone()),
        None => ScopeSet::parse("openid profile email"),
    };
    let input = ClientInput {
        name: c.name,
        description: c.description,
        logo_uri: c.logo_uri,
        redirect_uris: c.redirect_uris,
        post_logout_redirect_uris: c.post_logout_redirect_uris,
        grant_types: grants,
        scopes,
        is_public: c.is_public,
        first_party: c.first_party,
        bound_account_id: c.bound_account_id,
        client_id_prefix: None,
        id_token_alg: c.id_token_alg,
        connector: c.connector.filter(|s| !s.is_empty()),
        may_name_users: c.may_name_users,
        backchannel_logout_uri: c.backchannel_logout_uri.filter(|u| !u.is_empty()),
        frontchannel_logout_uri: c.frontchannel_logout_uri.filter(|u| !u.is_empty()),
        require_2fa: c.require_2fa,
    };
    let engine = state.engine.clone();
    let reg = as_admin(&admin, move || {
        if let Some(a) = input.bound_account_id {
            engine.account(a)?;
        }
        engine.register_client(input)
    })
    .await?;
    Ok(ok(StatusCode::CREATED, &ClientWithSecret { client: ClientView::from(&reg.client), client_secret: reg.secret }))
}

/// Shows one client (by numeric id or client_id).
#[utoipa::path(get, path = "/clients/{id}", tag = "clients", params(("id" = String, Path, description = "Numeric id or client_id")),
    responses((status = 200, body = ClientView), (status = 404, body = ProblemDocument)))]
pub async fn show(req: HttpRequest, state: State) -> Result<HttpResponse, Problem> {
    let admin = authenticate(&req, &state).await?;
    let key = client_key(&req);
    let engine = state.engine.clone();
    let client = as_admin(&admin, move || engine.find_client(&key)).await?;
    Ok(ok(StatusCode::OK, &ClientView::from(&client)))
}

/// Changes a client's name, URIs, grants, scopes or connector.
#[utoipa::path(patch, path = "/clients/{id}", tag = "clients", params(("id" = String, Path, description = "Numeric id or client_id")),
    request_body = ClientUpdate,
    responses((status = 200, body = ClientView), (status = 400, body = ProblemDocument), (status = 404, body = ProblemDocument)))]
pub async fn update(req: HttpRequest, state: State, body: web::Bytes) -> Result<HttpResponse, Problem> {
    let admin = authenticate(&req, &state).await?;
    let key = client_key(&req);
    let u: ClientUpdate = json_body(&body)?;
    let changes = ClientChanges {
        name: u.name,
        description: u.description,
        logo_uri: u.logo_uri,
        grant_types: u.grant_types.as_deref().map(grant_types).transpose()?,
        scopes: u.scopes.map(ScopeSet::from_vec),
        redirect_uris: u.redirect_uris,
        post_logout_redirect_uris: u.post_logout_redirect_uris,
        first_party: u.first_party,
        backchannel_logout_uri: u.backchannel_logout_uri.map(|s| Some(s).filter(|s| !s.is_empty())),
        frontchannel_logout_uri: u.frontchannel_logout_uri.map(|s| Some(s).filter(|s| !s.is_empty())),
        require_2fa: u.require_2fa,
        ..Default::default()
    };
    let connector = u.connector;
    let engine = state.engine.clone();
    let client = as_admin(&admin, move || {
        let current = engine.find_client(&key)?;
        let mut client = engine.update_client(current.id, changes, false)?.0;
        if let Some(c) = connector {
            client = engine.set_client_connector(current.id, Some(c.as_str()).filter(|c| !c.is_empty()))?;
        }
        Ok(client)
    })
    .await?;
    Ok(ok(StatusCode::OK, &ClientView::from(&client)))
}

/// Removes a client (its tokens stop working).
#[utoipa::path(delete, path = "/clients/{id}", tag = "clients", params(("id" = String, Path, description = "Numeric id or client_id")),
    responses((status = 204), (status = 404, body = ProblemDocument)))]
pub async fn delete(req: HttpRequest, state: State) -> Result<HttpResponse, Problem> {
    let admin = authenticate(&req, &state).await?;
    let key = client_key(&req);
    let engine = state.engine.clone();
    as_admin(&admin, move || {
        let current = engine.find_client(&key)?;
        engine.remove_client(current.id)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Gives a confidential client a new secret, shown once; the old one stops working.
#[utoipa::path(post, path = "/clients/{id}/secret", tag = "clients", params(("id" = String, Path, description = "Numeric id or client_id")),
    responses((status = 200, body = ClientWithSecret), (status = 400, body = ProblemDocument), (status = 404, body = ProblemDocument)))]
pub async fn rotate_secret(req: HttpRequest, state: State) -> Result<HttpResponse, Problem> {
    let admin = authenticate(&req, &state).await?;
    let key = client_key(&req);
    let engine = state.engine.clone();
    let (client, secret) = as_admin(&admin, move || {
        let current = engine.find_client(&key)?;
        engine.rotate_client_secret(current.id)
    })
    .await?;
    Ok(ok(StatusCode::OK, &ClientWithSecret { client: ClientView::from(&client), client_secret: Some(secret) }))
}

/// Lists the WHMCS-compatible API's credentials.
#[utoipa::path(get, path = "/api-credentials", tag = "api-credentials",
    responses((status = 200, body = Vec<ApiCredentialView>)))]
pub async fn api_credentials(req: HttpRequest, state: State) -> Result<HttpResponse, Problem> {
    let admin = authenticate(&req, &state).await?;
    let engine = state.engine.clone();
    let list = as_admin(&admin, move || engine.api_credentials()).await?;
    Ok(ok(StatusCode::OK, &list.iter().map(ApiCredentialView::from).collect::<Vec<_>>()))
}

/// Creates an API credential; its secret is in the answer, once.
#[utoipa::path(post, path = "/api-credentials", tag = "api-credentials", request_body = ApiCredentialCreate,
    responses((status = 201, body = ApiCredentialWithSecret), (status = 400, body = ProblemDocument)))]
pub async fn create_api_credential(req: HttpRequest, state: State, body: web::Bytes) -> Result<HttpResponse, Problem> {
    let admin = authenticate(&req, &state).await?;
    let c: ApiCredentialCreate = json_body(&body)?;
    let engine = state.engine.clone();
    let created = as_admin(&admin, move || {
        engine.create_api_credential(&c.description, c.role.as_deref(), &c.actions, &c.allowed_ips)
    })
    .await?;
    Ok(ok(
        StatusCode::CREATED,
        &ApiCredentialWithSecret { credential: ApiCredentialView::from(&created.credential), secret: created.secret },
    ))
}

/// Removes an API credential.
#[utoipa::path(delete, path = "/api-credentials/{id}", tag = "api-credentials", params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = ProblemDocument)))]
pub async fn delete_api_credential(req: HttpRequest, state: State) -> Result<HttpResponse, Problem> {
    let admin = authenticate(&req, &state).await?;
    let id = id_in_path(&req, "id")?;
    let engine = state.engine.clone();
    as_admin(&admin, move || engine.remove_api_credential(id)).await?;
    Ok(HttpResponse::NoContent().finish())
}
