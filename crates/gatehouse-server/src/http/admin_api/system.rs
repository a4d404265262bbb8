//! Accounts, plugins, signing keys, the audit log and the dashboard.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use gatehouse_engine::keys::KeyError;
use gatehouse_engine::model::{Account, AuditFilter};

use super::wire::*;
use super::{as_admin, authenticate, id_in_path, json_body, ok, p, query, Problem};
use crate::http::State;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(&p("/accounts"), web::get().to(accounts))
        .route(&p("/accounts"), web::post().to(create_account))
        .route(&p("/accounts/{id}"), web::get().to(show_account))
        .route(&p("/accounts/{id}/members"), web::post().to(add_member))
        .route(&p("/plugins"), web::get().to(plugins))
        .route(&p("/keys"), web::get().to(keys))
        .route(&p("/keys/rotate"), web::post().to(rotate_keys))
        .route(&p("/audit"), web::get().to(audit))
        .route(&p("/dashboard"), web::get().to(dashboard));
}

fn account_view(a: &Account) -> AccountView {
    AccountView { id: a.id, name: a.name.clone(), owner_user_id: a.owner_user_id, created_at: a.created_at }
}

/// Lists the accounts a user owns or belongs to.
#[utoipa::path(get, path = "/accounts", tag = "accounts", params(AccountQuery),
    responses((status = 200, body = Vec<AccountView>), (status = 400, body = ProblemDocument), (status = 404, body = ProblemDocument)))]
pub async fn accounts(req: HttpRequest, state: State) -> Result<HttpResponse, Problem> {
    let admin = authenticate(&req, &state).await?;
    let q: AccountQuery = query(&req)?;
    let engine = state.engine.clone();
    let list = as_admin(&admin, move || {
        engine.user_by_id(q.user)?;
        engine.accounts_of_user(q.user)
    })
    .await?;
    Ok(ok(StatusCode::OK, &list.iter().map(account_view).collect::<Vec<_>>()))
}

/// Creates an account owned by a user.
#[utoipa::path(post, path = "/accounts", tag = "accounts", request_body = AccountCreate,
    responses((status = 201, body = AccountView), (status = 400, body = ProblemDocument), (status = 404, body = ProblemDocument)))]
pub async fn create_account(req: HttpRequest, state: State, body: web::Bytes) -> Result<HttpResponse, Problem> {
    let admin = authenticate(&req, &state).await?;
    let a: AccountCreate = json_body(&body)?;
    if a.name.trim().is_empty() {
        return Err(Problem::bad_request("an account needs a name"));
    }
    let engine = state.engine.clone();
    let account = as_admin(&admin, move || engine.create_account(a.owner_user_id, &a.name)).await?;
    Ok(ok(StatusCode::CREATED, &account_view(&account)))
}

/// Shows one account.
#[utoipa::path(get, path = "/accounts/{id}", tag = "accounts", params(("id" = i64, Path)),
    responses((status = 200, body = AccountView), (status = 404, body = ProblemDocument)))]
pub async fn show_account(req: HttpRequest, state: State) -> Result<HttpResponse, Problem> {
    let admin = authenticate(&req, &state).await?;
    let id = id_in_path(&req, "id")?;
    let engine = state.engine.clone();
    let account = as_admin(&admin, move || engine.account(id)).await?;
    Ok(ok(StatusCode::OK, &account_view(&account)))
}

/// Adds a member to an account.
#[utoipa::path(post, path = "/accounts/{id}/members", tag = "accounts", params(("id" = i64, Path)), request_body = MemberAdd,
    responses((status = 200, body = AccountView), (status = 404, body = ProblemDocument), (status = 409, body = ProblemDocument)))]
pub async fn add_member(req: HttpRequest, state: State, body: web::Bytes) -> Result<HttpResponse, Problem> {
    let admin = authenticate(&req, &state).await?;
    let id = id_in_path(&req, "id")?;
    let m: MemberAdd = json_body(&body)?;
    let engine = state.engine.clone();
    let account = as_admin(&admin, move || engine.add_account_member(id, m.user_id)).await?;
    Ok(ok(StatusCode::OK, &account_view(&account)))
}

/// Lists the loaded plugins.
#[utoipa::path(get, path = "/plugins", tag = "system", responses((status = 200, body = Vec<PluginView>)))]
pub async fn plugins(req: HttpRequest, state: State) -> Result<HttpResponse, Problem> {
    authenticate(&req, &state).await?;
    let view = plugin_views(&state.plugins);
    Ok(ok(StatusCode::OK, &view))
}

/// Every plugin the host found: loaded ones, then those not enabled (the
/// admin API and the console show the same list).
pub fn plugin_views(host: &crate::plugin_host::PluginHost) -> Vec<PluginView> {
    host.plugins
        .iter()
        .map(|p| PluginView {
            name: p.manifest.name.clone(),
            version: p.manifest.version.clone(),
            description: p.manifest.description.clone(),
            abi_version: p.build.abi_version,
            sdk_version: p.build.sdk_version.clone(),
            capabilities: p.capability_names(),
            state: "loaded".into(),
        })
        .chain(host.not_enabled.iter().map(|n| PluginView {
            name: n.name.clone(),
            version: String::new(),
            description: String::new(),
            abi_version: 0,
            sdk_version: String::new(),
            capabilities: Vec::new(),
            state: format!("not enabled: {}", n.reason),
        }))
        .collect()
}

fn key_problem(e: KeyError) -> Problem {
    match e {
        KeyError::Engine(e) => e.into(),
        other => {
            tracing::error!(error = %other, "admin API: signing keys");
            Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "server_error", other.to_string())
        }
    }
}

/// Lists the published signing keys.
#[utoipa::path(get, path = "/keys", tag = "system", responses((status = 200, body = Vec<KeyView>)))]
pub async fn keys(req: HttpRequest, state: State) -> Result<HttpResponse, Problem> {
    let admin = authenticate(&req, &state).await?;
    let engine = state.engine.clone();
    let (keys, now) = as_admin(&admin, move || Ok((engine.published_keys()?, engine.now()))).await?;
    let view: Vec<KeyView> = keys
        .iter()
        .map(|k| KeyView {
            kid: k.kid.clone(),
            alg: k.alg.clone(),
            created_at: k.created_at,
            retired_at: k.retired_at,
            publish_until: k.publish_until,
            signing: gatehouse_engine::keys::signing_key_at(&keys, &k.alg, now).is_some_and(|s| s.kid == k.kid),
        })
        .collect();
    Ok(ok(StatusCode::OK, &view))
}

/// Rotates the signing keys: new keys are published now and sign after the activation delay.
#[utoipa::path(post, path = "/keys/rotate", tag = "system", request_body = KeyRotate,
    responses((status = 200, body = Vec<RotatedKeyView>), (status = 400, body = ProblemDocument)))]
pub async fn rotate_keys(req: HttpRequest, state: State, body: web::Bytes) -> Result<HttpResponse, Problem> {
    let admin = authenticate(&req, &state).await?;
    let r: KeyRotate = if body.is_empty() { KeyRotate { activation_delay: None } } else { json_body(&body)? };
    let delay = r.activation_delay.unwrap_or(state.config.tokens.key_activation_delay);
    if !(0..=30 * 86_400).contains(&delay) {
        return Err(Problem::bad_request("activation_delay must be between 0 and 2592000 seconds"));
    }
    let engine = state.engine.clone();
    let rotated = as_admin(&admin, move || Ok(engine.rotate_signing_keys(delay))).await?.map_err(key_problem)?;
    let view: Vec<RotatedKeyView> = rotated
        .iter()
        .map(|r| RotatedKeyView { kid: r.key.kid.clone(), alg: r.key.alg.clone(), signs_from: r.signs_from })
        .collect();
    Ok(ok(StatusCode::OK, &view))
}

/// Searches the audit log, newest first; `format=csv` exports the page as CSV.
#[utoipa::path(get, path = "/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, body = AuditPage, description = "JSON, or text/csv with format=csv"), (status = 400, body = ProblemDocument)))]
pub async fn audit(req: HttpRequest, state: State) -> Result<HttpResponse, Problem> {
    let admin = authenticate(&req, &state).await?;
    let q: AuditQuery = query(&req)?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(Problem::bad_request("limit must be between 1 and 1000"));
    }
    let csv = match q.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(other) => return Err(Problem::bad_request(format!("format {other:?}: expected json or csv"))),
    };
    let filter = AuditFilter {
        kind: q.kind.filter(|k| !k.is_empty()),
        user_id: q.user,
        client_id: q.client.filter(|c| !c.is_empty()),
        ip: q.ip.filter(|i| !i.is_empty()),
        since: q.since,
        until: q.until,
        before_id: q.before,
        limit: limit + 1,
    };
    let engine = state.engine.clone();
    let mut events = as_admin(&admin, move || engine.search_audit(&filter)).await?;
    let next_cursor = (events.len() as i64 > limit).then(|| {
        events.truncate(limit as usize);
        events.last().map(|e| e.id)
    });
    let items: Vec<AuditEventView> = events.iter().map(AuditEventView::from).collect();
    if csv {
        return Ok(HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .insert_header(("Content-Disposition", "attachment; filename=\"gatehouse-audit.csv\""))
            .insert_header(("Cache-Control", "no-store"))
            .body(to_csv(&items)));
    }
    Ok(ok(StatusCode::OK, &AuditPage { items, next_cursor: next_cursor.flatten() }))
}

/// RFC 4180 CSV; cells a spreadsheet would run as a formula are prefixed
/// with `'` (CSV injection).
fn to_csv(items: &[AuditEventView]) -> String {
    fn cell(v: &str) -> String {
        let v = if v.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{v}") } else { v.to_string() };
        if v.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", v.replace('"', "\"\""))
        } else {
            v
        }
    }
    let mut out = String::from("id,at,kind,user_id,client_id,ip,reason,actor,request_id,message\r\n");
    for e in items {
        let row = [
            e.id.to_string(),
            e.at.to_string(),
            e.kind.clone(),
            e.user_id.map(|u| u.to_string()).unwrap_or_default(),
            e.client_id.clone().unwrap_or_default(),
            e.ip.clone().unwrap_or_default(),
            e.reason.clone().unwrap_or_default(),
            e.actor.clone().unwrap_or_default(),
            e.request_id.clone().unwrap_or_default(),
            e.message.clone(),
        ];
        out.push_str(&row.iter().map(|c| cell(c)).collect::<Vec<_>>().join(","));
        out.push_str("\r\n");
    }
    out
}

/// Counts for the last 24 hours.
#[utoipa::path(get, path = "/dashboard", tag = "system", responses((status = 200, body = DashboardView)))]
pub async fn dashboard(req: HttpRequest, state: State) -> Result<HttpResponse, Problem> {
    let admin = authenticate(&req, &state).await?;
    let engine = state.engine.clone();
    let d = as_admin(&admin, move || engine.dashboard()).await?;
    let plugins = state.plugins.plugins.iter().map(|p| p.manifest.name.clone()).collect();
    Ok(ok(
        StatusCode::OK,
        &DashboardView {
            users: d.users,
            clients: d.clients,
            sign_ins_24h: d.sign_ins_24h,
            failed_sign_ins_24h: d.failed_sign_ins_24h,
            refusals_24h: d.refusals_24h,
            plugins,
        },
    ))
}
