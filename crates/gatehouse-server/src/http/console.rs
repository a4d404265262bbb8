//! The admin console at `/admin`: server-rendered pages (templates in
//! `templates/admin/`) over the same engine services as the admin API.
//! No JavaScript; every change is a POST form with the CSRF token, answered
//! with a redirect (or the one page that shows a new secret once).
//! Signed-out browsers are sent to sign in and back; members who are not
//! administrators get a page that says so.

// Every console function answers with a page, early ones included; a
// page in the `Err` arm is the design, not an accident.
#![allow(clippy::result_large_err)]

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use gatehouse_core::client::GrantType;
use gatehouse_core::time::format_timestamp;
use gatehouse_core::{ScopeSet, UserStatus};
use gatehouse_engine::directory::ClientInput;
use gatehouse_engine::model::AuditFilter;
use gatehouse_engine::oauth::Params;
use gatehouse_engine::EngineError;
use minijinja::context;

use super::admin_api::system::plugin_views;
use super::admin_api::wire::{ApiCredentialView, AuditEventView, ClientView, PluginView, UserView};
use super::admin_api::{as_admin, Admin, Problem};
use super::browser::{csrf_ok, csrf_token, current_session, is_form, CSRF_FIELD};
use super::pages::error_page;
use super::State;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin", get(dashboard))
        .route("/admin/users", get(users))
        .route("/admin/users/{id}", get(user))
        .route("/admin/users/{id}/{action}", post(user_action))
        .route("/admin/users/{id}/sessions/end", post(user_end_sessions))
        .route("/admin/clients", get(clients))
        .route("/admin/clients", post(create_client))
        .route("/admin/clients/{id}", get(client))
        .route("/admin/clients/{id}/secret", post(rotate_client_secret))
        .route("/admin/clients/{id}/delete", post(delete_client))
        .route("/admin/api-credentials", get(api_credentials))
        .route("/admin/api-credentials", post(create_api_credential))
        .route("/admin/api-credentials/{id}/delete", post(delete_api_credential))
        .route("/admin/plugins", get(plugins))
        .route("/admin/keys", get(keys))
        .route("/admin/keys/rotate", post(rotate_keys))
        .route("/admin/audit", get(audit));
}

/// A GET page handler: its early answers (sign in, refusals) are pages too.
fn get<F, Fut>(f: F) -> actix_web::Route
where
    F: Fn(HttpRequest, State) -> Fut + Clone + 'static,
    Fut: std::future::Future<Output = Page> + 'static,
{
    web::get().to(move |req: HttpRequest, state: State| {
        let f = f.clone();
        async move { f(req, state).await.unwrap_or_else(|r| r) }
    })
}

/// A POST form handler.
fn post<F, Fut>(f: F) -> actix_web::Route
where
    F: Fn(HttpRequest, State, Bytes) -> Fut + Clone + 'static,
    Fut: std::future::Future<Output = Page> + 'static,
{
    web::post().to(move |req: HttpRequest, state: State, body: Bytes| {
        let f = f.clone();
        async move { f(req, state, body).await.unwrap_or_else(|r| r) }
    })
}

/// A console answer: a page, or the response that replaces it.
type Page = Result<HttpResponse, HttpResponse>;

fn see_other(to: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header(("Location", to)).insert_header(("Cache-Control", "no-store")).finish()
}

/// The signed-in administrator, or the redirect to sign in, or a refusal page.
async fn admin(req: &HttpRequest, state: &State) -> Result<Admin, HttpResponse> {
    let back = || {
        let target = match req.query_string() {
            "" => req.path().to_string(),
            q => format!("{}?{q}", req.path()),
        };
        see_other(&format!(
            "/login?return_to={}",
            url::form_urlencoded::byte_serialize(target.as_bytes()).collect::<String>()
        ))
    };
    let session = match current_session(req, state).await {
        Ok(Some(s)) => s,
        Ok(None) => return Err(back()),
        Err(e) => return Err(super::internal_error(e)),
    };
    let (_, user) = session;
    if !user.status().may_sign_in() {
        return Err(back());
    }
    if !user.is_admin {
        return Err(error_page(
            StatusCode::FORBIDDEN,
            "Administrators only",
            &format!(
                "You are signed in as {}, who is not an administrator of this Gatehouse. Go to your account page at /account.",
                user.email
            ),
        ));
    }
    Ok(Admin(gatehouse_engine::admin::AdminPrincipal::User { id: user.id, email: user.email }))
}

/// A POST form from an administrator with a valid CSRF token.
async fn admin_form(req: &HttpRequest, state: &State, body: &Bytes) -> Result<(Admin, Params), HttpResponse> {
    let admin = admin(req, state).await?;
    let form = Params::parse(&[body]);
    if !is_form(req) || !csrf_ok(req, form.get(CSRF_FIELD)) {
        return Err(error_page(
            StatusCode::FORBIDDEN,
            "Form expired",
            "The form has expired or did not come from this console. Go back, reload the page and try again.",
        ));
    }
    Ok((admin, form))
}

fn render(
    req: &HttpRequest,
    state: &State,
    name: &str,
    title: &str,
    current: &str,
    ctx: minijinja::Value,
) -> HttpResponse {
    let (csrf, new_cookie) = csrf_token(req, state);
    let page = context! { title => title, wide => true, admin_nav => true, current => current, csrf => csrf };
    match super::templates::render(name, minijinja::value::merge_maps([page, ctx])) {
        Ok(html) => {
            let mut r = HttpResponse::Ok()
                .content_type("text/html; charset=utf-8")
                .insert_header(("Cache-Control", "no-store"))
                .body(html);
            if let Some(c) = new_cookie {
                let _ = r.add_cookie(&c);
            }
            r
        }
        Err(e) => super::internal_error(format!("template {name}: {e}")),
    }
}

/// An engine refusal as a console page with a way back.
fn problem_page(p: Problem, back: &str) -> HttpResponse {
    error_page(p.status, "That did not work", &format!("{} Go back to {back} and try again.", p.detail))
}

async fn run<T: Send + 'static>(
    admin: &Admin,
    back: &str,
    f: impl FnOnce() -> Result<T, EngineError> + Send + 'static,
) -> Result<T, HttpResponse> {
    as_admin(admin, f).await.map_err(|p| problem_page(p, back))
}

fn event_rows(events: &[gatehouse_engine::model::AuditEvent]) -> Vec<minijinja::Value> {
    events
        .iter()
        .map(|e| {
            let v = AuditEventView::from(e);
            context! {
                when => format_timestamp(v.at), kind => v.kind, reason => v.reason, user_id => v.user_id,
                client_id => v.client_id, ip => v.ip, message => v.message, request_id => v.request_id,
            }
        })
        .collect()
}

async fn dashboard(req: HttpRequest, state: State) -> Page {
    let admin = admin(&req, &state).await?;
    let engine = state.engine.clone();
    let (d, failures) = run(&admin, "/admin", move || {
        let d = engine.dashboard()?;
        let mut failures = Vec::new();
        for kind in ["login.failed", "login.rate_limited", "oauth.", "sso.denied", "admin.api_refused"] {
            failures.extend(engine.search_audit(&AuditFilter {
                kind: Some(kind.into()),
                since: Some(engine.now() - 86_400),
                limit: 10,
                ..Default::default()
            })?);
        }
        failures.retain(|e| e.kind != "oauth.token_issued");
        failures.sort_by_key(|e| std::cmp::Reverse(e.id));
        failures.truncate(10);
        Ok((d, failures))
    })
    .await?;
    // The dashboard lists the loaded plugins only.
    let plugins: Vec<PluginView> = plugin_views(&state.plugins).into_iter().filter(|p| p.state == "loaded").collect();
    Ok(render(
        &req,
        &state,
        "admin/dashboard.html",
        "Dashboard",
        "/admin",
        context! { d => minijinja::Value::from_serialize(&d), plugins => minijinja::Value::from_serialize(&plugins), failures => event_rows(&failures) },
    ))
}

async fn users(req: HttpRequest, state: State) -> Page {
    let admin = admin(&req, &state).await?;
    let q = Params::parse(&[req.query_string().as_bytes()]);
    let text = q.get("q").unwrap_or("").to_string();
    let after = q.get("after").and_then(|a| a.parse::<i64>().ok());
    let engine = state.engine.clone();
    let t = text.clone();
    let mut list = run(&admin, "/admin/users", move || engine.search_users(Some(&t), after, 51)).await?;
    let next = (list.len() > 50).then(|| {
        list.truncate(50);
        list.last().map(|u| u.id)
    });
    let users: Vec<UserView> = list.iter().map(UserView::from).collect();
    Ok(render(
        &req,
        &state,
        "admin/users.html",
        "Users",
        "/admin/users",
        context! { users => minijinja::Value::from_serialize(&users), q => text, next => next.flatten() },
    ))
}

fn path_id(req: &HttpRequest) -> Result<i64, HttpResponse> {
    req.match_info().get("id").and_then(|v| v.parse().ok()).ok_or_else(|| {
        error_page(StatusCode::NOT_FOUND, "Not found", "There is no such page. Go back to the console at /admin.")
    })
}

async fn user(req: HttpRequest, state: State) -> Page {
    let admin = admin(&req, &state).await?;
    let id = path_id(&req)?;
    let engine = state.engine.clone();
    let (u, sessions) =
        run(&admin, "/admin/users", move || Ok((engine.user_by_id(id)?, engine.sessions_of_user(id)?))).await?;
    let q = Params::parse(&[req.query_string().as_bytes()]);
    let notice = match q.get("done") {
        Some("unlocked") => Some("Unlocked: failed sign-ins no longer count against this user."),
        Some("status") => Some("Status changed."),
        Some("password") => Some("Password set; the user's sessions ended and their tokens were revoked."),
        Some("sessions") => Some("Every session of this user ended."),
        _ => None,
    };
    let sessions: Vec<minijinja::Value> = sessions
        .iter()
        .map(|s| {
            context! { created => format_timestamp(s.created_at), last_seen => format_timestamp(s.last_seen_at),
            ip => s.ip, user_agent => s.user_agent }
        })
        .collect();
    let view = UserView::from(&u);
    let title = format!("User {}", u.email);
    Ok(render(
        &req,
        &state,
        "admin/user.html",
        &title,
        "/admin/users",
        context! {
            u => minijinja::value::merge_maps([
                minijinja::Value::from_serialize(&view),
                context! { created => format_timestamp(u.created_at) },
            ]),
            sessions => sessions, notice => notice, error => None::<String>,
        },
    ))
}

async fn user_action(req: HttpRequest, state: State, body: Bytes) -> Page {
    let (admin, form) = admin_form(&req, &state, &body).await?;
    let id = path_id(&req)?;
    let action = req.match_info().get("action").unwrap_or_default().to_string();
    let back = format!("/admin/users/{id}");
    let engine = state.engine.clone();
    let done = match action.as_str() {
        "unlock" => {
            run(&admin, &back, move || engine.unlock_user(id)).await?;
            "unlocked"
        }
        "status" => {
            let status: UserStatus = form.get("status").unwrap_or("").parse().map_err(|_| {
                error_page(StatusCode::BAD_REQUEST, "That did not work", "Choose Active, Inactive or Closed.")
            })?;
            run(&admin, &back, move || engine.set_user_status(id, status)).await?;
            "status"
        }
        "password" => {
            let pw = form.get("password").unwrap_or("").to_string();
            run(&admin, &back, move || {
                engine.check_password_policy(&pw)?;
                engine.set_password(id, &pw)
            })
            .await?;
            "password"
        }
        _ => {
            return Err(error_page(StatusCode::NOT_FOUND, "Not found", "There is no such action. Go back to /admin."));
        }
    };
    Ok(see_other(&format!("{back}?done={done}")))
}

async fn user_end_sessions(req: HttpRequest, state: State, body: Bytes) -> Page {
    let (admin, _) = admin_form(&req, &state, &body).await?;
    let id = path_id(&req)?;
    let engine = state.engine.clone();
    run(&admin, "/admin/users", move || engine.end_sessions_of_user(id)).await?;
    Ok(see_other(&format!("/admin/users/{id}?done=sessions")))
}

async fn client_list(admin: &Admin, state: &State) -> Result<Vec<ClientView>, HttpResponse> {
    let engine = state.engine.clone();
    let list = run(admin, "/admin", move || engine.clients_as(gatehouse_engine::directory::Actor::Operator)).await?;
    Ok(list.iter().map(ClientView::from).collect())
}

async fn clients(req: HttpRequest, state: State) -> Page {
    let admin = admin(&req, &state).await?;
    let list = client_list(&admin, &state).await?;
    Ok(render(
        &req,
        &state,
        "admin/clients.html",
        "Clients",
        "/admin/clients",
        context! {
            clients => minijinja::Value::from_serialize(&list),
            form => context! { grants => vec!["authorization_code", "refresh_token"] },
            error => None::<String>,
        },
    ))
}

async fn create_client(req: HttpRequest, state: State, body: Bytes) -> Page {
    let (admin, form) = admin_form(&req, &state, &body).await?;
    let name = form.get("name").unwrap_or("").trim().to_string();
    let redirects: Vec<String> = form
        .get("redirect_uris")
        .unwrap_or("")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    let grants: Vec<String> = form.pairs().iter().filter(|(k, _)| k == "grant").map(|(_, v)| v.clone()).collect();
    let scopes = form.get("scopes").unwrap_or("openid profile email").to_string();
    let grant_types: Result<Vec<GrantType>, _> = grants.iter().map(|g| g.parse::<GrantType>()).collect();
    let again = |msg: String, list: Vec<ClientView>| {
        render(
            &req,
            &state,
            "admin/clients.html",
            "Clients",
            "/admin/clients",
            context! {
                clients => minijinja::Value::from_serialize(&list),
                form => context! { name => name, redirect_uris => redirects.join("\n"), grants => grants, scopes => scopes },
                error => msg,
            },
        )
    };
    let Ok(grant_types) = grant_types else {
        let list = client_list(&admin, &state).await?;
        return Ok(again("Choose grants from the list.".into(), list));
    };
    let input = ClientInput {
        name: name.clone(),
        redirect_uris: redirects.clone(),
        grant_types,
        scopes: ScopeSet::parse(&scopes),
        first_party: form.get("first_party") == Some("1"),
        is_public: form.get("public") == Some("1"),
        ..Default::default()
    };
    let engine = state.engine.clone();
    match as_admin(&admin, move || engine.register_client(input)).await {
        Ok(reg) => Ok(secret_page(
            &req,
            &state,
            "Client registered",
            "Client id",
            &reg.client.client_id,
            reg.secret.as_deref(),
            &format!("/admin/clients/{}", reg.client.id),
        )),
        Err(p) => {
            let list = client_list(&admin, &state).await?;
            Ok(again(p.detail, list))
        }
    }
}

fn secret_page(
    req: &HttpRequest,
    state: &State,
    what: &str,
    id_label: &str,
    identifier: &str,
    secret: Option<&str>,
    back: &str,
) -> HttpResponse {
    let Some(secret) = secret else { return see_other(back) };
    render(
        req,
        state,
        "admin/secret.html",
        what,
        "",
        context! { what => what, id_label => id_label, identifier => identifier, secret => secret, back => back },
    )
}

async fn client(req: HttpRequest, state: State) -> Page {
    let admin = admin(&req, &state).await?;
    let id = path_id(&req)?;
    let engine = state.engine.clone();
    let c = run(&admin, "/admin/clients", move || engine.find_client(&id.to_string())).await?;
    let title = format!("Client {}", c.name);
    Ok(render(
        &req,
        &state,
        "admin/client.html",
        &title,
        "/admin/clients",
        context! { c => minijinja::Value::from_serialize(ClientView::from(&c)) },
    ))
}

async fn rotate_client_secret(req: HttpRequest, state: State, body: Bytes) -> Page {
    let (admin, _) = admin_form(&req, &state, &body).await?;
    let id = path_id(&req)?;
    let engine = state.engine.clone();
    let back = format!("/admin/clients/{id}");
    let (c, secret) = run(&admin, &back, move || engine.rotate_client_secret(id)).await?;
    Ok(secret_page(&req, &state, "Secret rotated", "Client id", &c.client_id, Some(&secret), &back))
}

async fn delete_client(req: HttpRequest, state: State, body: Bytes) -> Page {
    let (admin, _) = admin_form(&req, &state, &body).await?;
    let id = path_id(&req)?;
    let engine = state.engine.clone();
    run(&admin, "/admin/clients", move || engine.remove_client(id)).await?;
    Ok(see_other("/admin/clients"))
}

async fn api_credentials(req: HttpRequest, state: State) -> Page {
    let admin = admin(&req, &state).await?;
    let engine = state.engine.clone();
    let list = run(&admin, "/admin", move || engine.api_credentials()).await?;
    let creds: Vec<ApiCredentialView> = list.iter().map(ApiCredentialView::from).collect();
    Ok(render(
        &req,
        &state,
        "admin/api_credentials.html",
        "API credentials",
        "/admin/api-credentials",
        context! { creds => minijinja::Value::from_serialize(&creds), error => None::<String> },
    ))
}

async fn create_api_credential(req: HttpRequest, state: State, body: Bytes) -> Page {
    let (admin, form) = admin_form(&req, &state, &body).await?;
    let description = form.get("description").unwrap_or("").to_string();
    let ips: Vec<String> = form.get("allowed_ips").unwrap_or("").split_whitespace().map(String::from).collect();
    let engine = state.engine.clone();
    let created = run(&admin, "/admin/api-credentials", move || {
        engine.create_api_credential(&description, Some("authentication"), &[], &ips)
    })
    .await?;
    Ok(secret_page(
        &req,
        &state,
        "API credential created",
        "Identifier",
        &created.credential.identifier,
        Some(&created.secret),
        "/admin/api-credentials",
    ))
}

async fn delete_api_credential(req: HttpRequest, state: State, body: Bytes) -> Page {
    let (admin, _) = admin_form(&req, &state, &body).await?;
    let id = path_id(&req)?;
    let engine = state.engine.clone();
    run(&admin, "/admin/api-credentials", move || engine.remove_api_credential(id)).await?;
    Ok(see_other("/admin/api-credentials"))
}

async fn plugins(req: HttpRequest, state: State) -> Page {
    admin(&req, &state).await?;
    let list = minijinja::Value::from_serialize(plugin_views(&state.plugins));
    Ok(render(&req, &state, "admin/plugins.html", "Plugins", "/admin/plugins", context! { plugins => list }))
}

async fn keys(req: HttpRequest, state: State) -> Page {
    let admin = admin(&req, &state).await?;
    let engine = state.engine.clone();
    let (keys, now) = run(&admin, "/admin", move || Ok((engine.published_keys()?, engine.now()))).await?;
    let rows: Vec<minijinja::Value> = keys
        .iter()
        .map(|k| {
            let signing = gatehouse_engine::keys::signing_key_at(&keys, &k.alg, now).is_some_and(|s| s.kid == k.kid);
            let state = match (signing, k.retired_at, k.publish_until) {
                (true, Some(r), _) => format!("signing until {}", format_timestamp(r)),
                (true, None, _) => "signing".to_string(),
                (false, Some(_), Some(t)) => format!("retired; published until {}", format_timestamp(t)),
                _ => "published; signs once the older key retires".to_string(),
            };
            context! { kid => k.kid, alg => k.alg, created => format_timestamp(k.created_at), state => state }
        })
        .collect();
    let notice = (req.query_string() == "done=rotated")
        .then_some("New keys are published now; they sign once the activation delay has passed.");
    Ok(render(
        &req,
        &state,
        "admin/keys.html",
        "Signing keys",
        "/admin/keys",
        context! { keys => rows, notice => notice, delay => state.config.tokens.key_activation_delay },
    ))
}

async fn rotate_keys(req: HttpRequest, state: State, body: Bytes) -> Page {
    let (admin, _) = admin_form(&req, &state, &body).await?;
    let engine = state.engine.clone();
    let delay = state.config.tokens.key_activation_delay;
    let rotated = run(&admin, "/admin/keys", move || Ok(engine.rotate_signing_keys(delay))).await?;
    if let Err(e) = rotated {
        return Err(super::internal_error(e));
    }
    Ok(see_other("/admin/keys?done=rotated"))
}

async fn audit(req: HttpRequest, state: State) -> Page {
    let admin = admin(&req, &state).await?;
    let q = Params::parse(&[req.query_string().as_bytes()]);
    let get = |k: &str| q.get(k).map(str::trim).filter(|v| !v.is_empty()).map(String::from);
    let hours = get("hours").and_then(|h| h.parse::<i64>().ok()).filter(|h| *h > 0);
    let user = get("user");
    let user_id = match &user {
        Some(u) => Some(u.parse::<i64>().map_err(|_| {
            error_page(
                StatusCode::BAD_REQUEST,
                "Audit log",
                "The user filter takes a numeric user id. Go back to /admin/audit.",
            )
        })?),
        None => None,
    };
    let before = get("before").and_then(|b| b.parse::<i64>().ok());
    let engine = state.engine.clone();
    let filter = AuditFilter {
        kind: get("kind"),
        user_id,
        client_id: get("client"),
        ip: get("ip"),
        since: None,
        until: None,
        before_id: before,
        limit: 101,
    };
    let mut events = run(&admin, "/admin/audit", move || {
        let since = hours.map(|h| engine.now() - h * 3600);
        engine.search_audit(&AuditFilter { since, ..filter })
    })
    .await?;
    let more = events.len() > 100;
    events.truncate(100);
    let keep: Vec<(&str, String)> =
        [("kind", get("kind")), ("user", user.clone()), ("client", get("client")), ("ip", get("ip"))]
            .into_iter()
            .filter_map(|(k, v)| Some((k, v?)))
            .chain(hours.map(|h| ("hours", h.to_string())))
            .collect();
    let encode = |pairs: &[(&str, String)]| -> String {
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs.iter().map(|(k, v)| (*k, v.as_str())))
            .finish()
    };
    let next = more.then(|| {
        let mut p = keep.clone();
        p.push(("before", events.last().map(|e| e.id).unwrap_or_default().to_string()));
        format!("/admin/audit?{}", encode(&p))
    });
    let mut csv_pairs: Vec<(&str, String)> = keep.iter().filter(|(k, _)| *k != "hours").cloned().collect();
    if let Some(h) = hours {
        csv_pairs.push(("since", (state.engine.now() - h * 3600).to_string()));
    }
    csv_pairs.push(("format", "csv".into()));
    csv_pairs.push(("limit", "1000".into()));
    let csv = format!("/admin/api/v1/audit?{}", encode(&csv_pairs));
    let f = context! {
        kind => get("kind").unwrap_or_default(), user => user.unwrap_or_default(),
        client => get("client").unwrap_or_default(), ip => get("ip").unwrap_or_default(), hours => hours,
    };
    Ok(render(
        &req,
        &state,
        "admin/audit.html",
        "Audit log",
        "/admin/audit",
        context! { failures => event_rows(&events), f => f, next => next, csv => csv },
    ))
}
