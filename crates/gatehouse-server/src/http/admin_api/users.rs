//! `/users`: members and administrators, their sessions, consents,
//! refresh-token families and linked upstream identities.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use gatehouse_core::UserStatus;
use gatehouse_engine::admin::UserPatch;
use gatehouse_engine::directory::UserInput;

use super::wire::*;
use super::{as_admin, authenticate, id_in_path, json_body, ok, p, query, Problem};
use crate::http::State;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(&p("/users"), web::get().to(list))
        .route(&p("/users"), web::post().to(create))
        .route(&p("/users/{id}"), web::get().to(show))
        .route(&p("/users/{id}"), web::patch().to(update))
        .route(&p("/users/{id}"), web::delete().to(delete))
        .route(&p("/users/{id}/password"), web::post().to(set_password))
        .route(&p("/users/{id}/unlock"), web::post().to(unlock))
        .route(&p("/users/{id}/sessions"), web::get().to(sessions))
        .route(&p("/users/{id}/sessions"), web::delete().to(end_sessions))
        .route(&p("/users/{id}/sessions/{session}"), web::delete().to(end_session))
        .route(&p("/users/{id}/consents"), web::get().to(consents))
        .route(&p("/users/{id}/consents/{client_id}"), web::delete().to(revoke_consent))
        .route(&p("/users/{id}/refresh-families"), web::get().to(families))
        .route(&p("/users/{id}/refresh-families/{family}"), web::delete().to(revoke_family))
        .route(&p("/users/{id}/identities"), web::get().to(identities))
        .route(&p("/users/{id}/identities"), web::post().to(pre_link))
        .route(&p("/users/{id}/identities/{plugin}/{subject}"), web::delete().to(remove_identity))
        .route(&p("/users/{id}/second-factors"), web::delete().to(reset_second_factors))
        .route(&p("/users/{id}/groups"), web::get().to(groups))
        .route(&p("/users/{id}/groups"), web::put().to(set_groups))
        .route(&p("/groups"), web::get().to(group_list))
        .route(&p("/invitations"), web::post().to(invite));
}

fn status(s: Option<&str>) -> Result<Option<UserStatus>, Problem> {
    s.map(|s| {
        s.parse::<UserStatus>()
            .map_err(|_| Problem::bad_request(format!("status {s:?}: expected Active, Inactive or Closed")))
    })
    .transpose()
}

/// Lists users, optionally matching a search, a page at a time.
#[utoipa::path(get, path = "/users", tag = "users", params(UserQuery),
    responses((status = 200, body = UserPage), (status = 400, body = ProblemDocument), (status = 401, body = ProblemDocument), (status = 403, body = ProblemDocument)))]
pub async fn list(req: HttpRequest, state: State) -> Result<HttpResponse, Problem> {
    let admin = authenticate(&req, &state).await?;
    let q: UserQuery = query(&req)?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(Problem::bad_request("limit must be between 1 and 500"));
    }
    let engine = state.engine.clone();
    let mut users = as_admin(&admin, move || engine.search_users(q.q.as_deref(), q.after, limit + 1)).await?;
    let next_cursor = (users.len() as i64 > limit).then(|| {
        users.truncate(limit as usize);
        users.last().map(|u| u.id)
    });
    Ok(ok(
        StatusCode::OK,
        &UserPage { items: users.iter().map(UserView::from).collect(), next_cursor: next_cursor.flatten() },
    ))
}

/// Creates a user.
#[utoipa::path(post, path = "/users", tag = "users", request_body = UserCreate,
    responses((status = 201, body = UserView), (status = 400, body = ProblemDocument), (status = 409, body = ProblemDocument)))]
pub async fn create(req: HttpRequest, state: State, body: web::Bytes) -> Result<HttpResponse, Problem> {
    let admin = authenticate(&req, &state).await?;
    let input: UserCreate = json_body(&body)?;
    let status = status(input.status.as_deref())?;
    let engine = state.engine.clone();
    let user = as_admin(&admin, move || {
        if let Some(p) = &input.password {
            engine.check_password_policy(p)?;
        }
        let user = engine.create_user(UserInput {
            email: input.email,
            password: input.password,
            name: input.name,
            status,
            allow_sso: input.allow_sso,
            locale: input.locale,
            email_verified: input.email_verified,
        })?;
        if input.is_admin {
            return engine.set_admin(user.id, true);
        }
        Ok(user)
    })
    .await?;
    Ok(ok(StatusCode::CREATED, &UserView::from(&user)))
}

/// Shows one user.
#[utoipa::path(get, path = "/users/{id}", tag = "users", params(("id" = i64, Path)),
    responses((status = 200, body = UserView), (status = 404, body = ProblemDocument)))]
pub async fn show(req: HttpRequest, state: State) -> Result<HttpResponse, Problem> {
    let admin = authenticate(&req, &state).await?;
    let id = id_in_path(&req, "id")?;
    let engine = state.engine.clone();
    let user = as_admin(&admin, move || engine.user_by_id(id)).await?;
    Ok(ok(StatusCode::OK, &UserView::from(&user)))
}

/// Changes a user's e-mail, name, locale, status, SSO switch or role.
#[utoipa::path(patch, path = "/users/{id}", tag = "users", params(("id" = i64, Path)), request_body = UserUpdate,
    responses((status = 200, body = UserView), (status = 400, body = ProblemDocument), (status = 404, body = ProblemDocument), (status = 409, body = ProblemDocument)))]
pub async fn update(req: HttpRequest, state: State, body: web::Bytes) -> Result<HttpResponse, Problem> {
    let admin = authenticate(&req, &state).await?;
    let id = id_in_path(&req, "id")?;
    let u: UserUpdate = json_body(&body)?;
    let patch = UserPatch {
        email: u.email,
        name: u.name,
        locale: u.locale,
        status: status(u.status.as_deref())?,
        allow_sso: u.allow_sso,
        email_verified: u.email_verified,
        is_admin: u.is_admin,
    };
    let engine = state.engine.clone();
    let user = as_admin(&admin, move || engine.update_user(id, patch)).await?;
    Ok(ok(StatusCode::OK, &UserView::from(&user)))
}

/// Deletes a user (sessions end, tokens are revoked).
#[utoipa::path(delete, path = "/users/{id}", tag = "users", params(("id" = i64, Path)),
    responses((status = 204), (status = 400, body = ProblemDocument), (status = 404, body = ProblemDocument)))]
pub async fn delete(req: HttpRequest, state: State) -> Result<HttpResponse, Problem> {
    let admin = authenticate(&req, &state).await?;
    let id = id_in_path(&req, "id")?;
    let engine = state.engine.clone();
    as_admin(&admin, move || engine.delete_user(id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Sets a user's password; their sessions end and their tokens are revoked.
#[utoipa::path(post, path = "/users/{id}/password", tag = "users", params(("id" = i64, Path)), request_body = PasswordSet,
    responses((status = 204), (status = 400, body = ProblemDocument), (status = 404, body = ProblemDocument)))]
pub async fn set_password(req: HttpRequest, state: State, body: web::Bytes) -> Result<HttpResponse, Problem> {
    let admin = authenticate(&req, &state).await?;
    let id = id_in_path(&req, "id")?;
    let p: PasswordSet = json_body(&body)?;
    let engine = state.engine.clone();
    as_admin(&admin, move || {
        engine.user_by_id(id)?;
        engine.check_password_policy(&p.password)?;
        engine.set_password(id, &p.password)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Clears a user's failed sign-in count (a locked-out member may try again).
#[utoipa::path(post, path = "/users/{id}/unlock", tag = "users", params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = ProblemDocument)))]
pub async fn unlock(req: HttpRequest, state: State) -> Result<HttpResponse, Problem> {
    let admin = authenticate(&req, &state).await?;
    let id = id_in_path(&req, "id")?;
    let engine = state.engine.clone();
    as_admin(&admin, move || engine.unlock_user(id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Lists a user's live browser sessions.
#[utoipa::path(get, path = "/users/{id}/sessions", tag = "users", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<SessionView>), (status = 404, body = ProblemDocument)))]
pub async fn sessions(req: HttpRequest, state: State) -> Result<HttpResponse, Problem> {
    let admin = authenticate(&req, &state).await?;
    let id = id_in_path(&req, "id")?;
    let engine = state.engine.clone();
    let list = as_admin(&admin, move || {
        engine.user_by_id(id)?;
        engine.sessions_of_user(id)
    })
    .await?;
    Ok(ok(StatusCode::OK, &list.iter().map(SessionView::from).collect::<Vec<_>>()))
}

/// Ends every session of a user.
#[utoipa::path(delete, path = "/users/{id}/sessions", tag = "users", params(("id" = i64, Path)),
    responses((status = 200, body = Count), (status = 404, body = ProblemDocument)))]
pub async fn end_sessions(req: HttpRequest, state: State) -> Result<HttpResponse, Problem> {
    let admin = authenticate(&req, &state).await?;
    let id = id_in_path(&req, "id")?;
    let engine = state.engine.clone();
    let count = as_admin(&admin, move || engine.end_sessions_of_user(id)).await?;
    Ok(ok(StatusCode::OK, &Count { count }))
}

/// Ends one session of a user.
#[utoipa::path(delete, path = "/users/{id}/sessions/{session}", tag = "users",
    params(("id" = i64, Path), ("session" = i64, Path)),
    responses((status = 204), (status = 404, body = ProblemDocument)))]
pub async fn end_session(req: HttpRequest, state: State) -> Result<HttpResponse, Problem> {
    let admin = authenticate(&req, &state).await?;
    let (id, sid) = (id_in_path(&req, "id")?, id_in_path(&req, "session")?);
    let engine = state.engine.clone();
    let ended = as_admin(&admin, move || {
        engine.end_session_because(id, sid, gatehouse_engine::logout::EndReason::Administrator)
    })
    .await?;
    if !ended {
        return Err(Problem::new(StatusCode::NOT_FOUND, "not_found", format!("user {id} has no live session {sid}")));
    }
    Ok(HttpResponse::NoContent().finish())
}

/// Lists the apps a user consented to.
#[utoipa::path(get, path = "/users/{id}/consents", tag = "users", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<ConsentView>), (status = 404, body = ProblemDocument)))]
pub async fn consents(req: HttpRequest, state: State) -> Result<HttpResponse, Problem> {
    let admin = authenticate(&req, &state).await?;
    let id = id_in_path(&req, "id")?;
    let engine = state.engine.clone();
    let list = as_admin(&admin, move || engine.consents_of_user(id)).await?;
    let view: Vec<ConsentView> = list
        .into_iter()
        .map(|c| ConsentView { client_id: c.client_id, scope: c.scope, created_at: c.created_at })
        .collect();
    Ok(ok(StatusCode::OK, &view))
}

/// Withdraws a consent: the app's tokens for this user are revoked.
#[utoipa::path(delete, path = "/users/{id}/consents/{client_id}", tag = "users",
    params(("id" = i64, Path), ("client_id" = String, Path)),
    responses((status = 204), (status = 404, body = ProblemDocument)))]
pub async fn revoke_consent(req: HttpRequest, state: State) -> Result<HttpResponse, Problem> {
    let admin = authenticate(&req, &state).await?;
    let id = id_in_path(&req, "id")?;
    let client_id = req.match_info().get("client_id").unwrap_or_default().to_string();
    let engine = state.engine.clone();
    as_admin(&admin, move || engine.revoke_consent(id, &client_id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Lists a user's live refresh-token families (one per app sign-in).
#[utoipa::path(get, path = "/users/{id}/refresh-families", tag = "users", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<FamilyView>), (status = 404, body = ProblemDocument)))]
pub async fn families(req: HttpRequest, state: State) -> Result<HttpResponse, Problem> {
    let admin = authenticate(&req, &state).await?;
    let id = id_in_path(&req, "id")?;
    let engine = state.engine.clone();
    let list = as_admin(&admin, move || engine.refresh_families_of_user(id)).await?;
    let view: Vec<FamilyView> = list
        .into_iter()
        .map(|f| FamilyView {
            family: f.family,
            client_id: f.client_id,
            scope: f.scope,
            refreshed_at: f.refreshed_at,
            expires_at: f.expires_at,
        })
        .collect();
    Ok(ok(StatusCode::OK, &view))
}

/// Revokes one refresh-token family of a user.
#[utoipa::path(delete, path = "/users/{id}/refresh-families/{family}", tag = "users",
    params(("id" = i64, Path), ("family" = String, Path)),
    responses((status = 204), (status = 404, body = ProblemDocument)))]
pub async fn revoke_family(req: HttpRequest, state: State) -> Result<HttpResponse, Problem> {
    let admin = authenticate(&req, &state).await?;
    let id = id_in_path(&req, "id")?;
    let family = req.match_info().get("family").unwrap_or_default().to_string();
    let engine = state.engine.clone();
    as_admin(&admin, move || engine.revoke_refresh_family(id, &family)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Lists a user's linked upstream identities.
#[utoipa::path(get, path = "/users/{id}/identities", tag = "users", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<IdentityView>), (status = 404, body = ProblemDocument)))]
pub async fn identities(req: HttpRequest, state: State) -> Result<HttpResponse, Problem> {
    let admin = authenticate(&req, &state).await?;
    let id = id_in_path(&req, "id")?;
    let engine = state.engine.clone();
    let list = as_admin(&admin, move || {
        engine.user_by_id(id)?;
        engine.identity_links(id)
    })
    .await?;
    Ok(ok(StatusCode::OK, &list.iter().map(IdentityView::from).collect::<Vec<_>>()))
}

/// Removes a linked upstream identity.
#[utoipa::path(delete, path = "/users/{id}/identities/{plugin}/{subject}", tag = "users",
    params(("id" = i64, Path), ("plugin" = String, Path), ("subject" = String, Path)),
    responses((status = 204), (status = 404, body = ProblemDocument)))]
pub async fn remove_identity(req: HttpRequest, state: State) -> Result<HttpResponse, Problem> {
    let admin = authenticate(&req, &state).await?;
    let id = id_in_path(&req, "id")?;
    let plugin = req.match_info().get("plugin").unwrap_or_default().to_string();
    let subject = req.match_info().get("subject").unwrap_or_default().to_string();
    let engine = state.engine.clone();
    as_admin(&admin, move || engine.remove_identity_link(id, &plugin, &subject)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Invites someone to sign up (registration `invite`): a single-use link
/// for one address, valid seven days, mailed when the hub can send mail.
#[utoipa::path(post, path = "/invitations", tag = "users", request_body = InvitationCreate,
    responses((status = 201, body = InvitationView), (status = 400, body = ProblemDocument), (status = 409, body = ProblemDocument)))]
pub async fn invite(req: HttpRequest, state: State, body: web::Bytes) -> Result<HttpResponse, Problem> {
    let admin = authenticate(&req, &state).await?;
    let i: InvitationCreate = json_body(&body)?;
    let engine = state.engine.clone();
    let mailed = engine.can_send_mail();
    let email = i.email.clone();
    let link = as_admin(&admin, move || engine.invite(&email)).await?;
    Ok(ok(
        StatusCode::CREATED,
        &InvitationView {
            email: i.email.trim().to_lowercase(),
            link,
            valid_days: gatehouse_engine::signup::INVITATION_DAYS,
            mailed,
        },
    ))
}

/// The groups a user belongs to.
#[utoipa::path(get, path = "/users/{id}/groups", tag = "users", params(("id" = i64, Path)),
    responses((status = 200, body = Groups), (status = 404, body = ProblemDocument)))]
pub async fn groups(req: HttpRequest, state: State) -> Result<HttpResponse, Problem> {
    let admin = authenticate(&req, &state).await?;
    let id = id_in_path(&req, "id")?;
    let engine = state.engine.clone();
    let groups = as_admin(&admin, move || {
        engine.user_by_id(id)?;
        engine.groups_of_user(id)
    })
    .await?;
    Ok(ok(StatusCode::OK, &Groups { groups }))
}

/// Replaces the groups a user belongs to. Clients see them in the `groups`
/// claim; connector plugins get a `groups_changed` event (the `ipb` plugin
/// moves the forum member between forum groups).
#[utoipa::path(put, path = "/users/{id}/groups", tag = "users", params(("id" = i64, Path)), request_body = Groups,
    responses((status = 200, body = GroupsChange), (status = 400, body = ProblemDocument), (status = 404, body = ProblemDocument)))]
pub async fn set_groups(req: HttpRequest, state: State, body: web::Bytes) -> Result<HttpResponse, Problem> {
    let admin = authenticate(&req, &state).await?;
    let id = id_in_path(&req, "id")?;
    let g: Groups = json_body(&body)?;
    let engine = state.engine.clone();
    let changed = as_admin(&admin, move || engine.set_user_groups(id, &g.groups)).await?;
    Ok(ok(StatusCode::OK, &GroupsChange { groups: changed.groups, added: changed.added, removed: changed.removed }))
}

/// Every group in use, with how many members it has.
#[utoipa::path(get, path = "/groups", tag = "users",
    responses((status = 200, body = [GroupCount])))]
pub async fn group_list(req: HttpRequest, state: State) -> Result<HttpResponse, Problem> {
    let admin = authenticate(&req, &state).await?;
    let engine = state.engine.clone();
    let list = as_admin(&admin, move || engine.group_names()).await?;
    Ok(ok(StatusCode::OK, &list.into_iter().map(|(name, members)| GroupCount { name, members }).collect::<Vec<_>>()))
}

/// Removes every second factor of a member (a lost phone, no recovery
/// codes): they sign in with their password alone until they set one up
/// again. Always audited (`mfa.reset`).
#[utoipa::path(delete, path = "/users/{id}/second-factors", tag = "users", params(("id" = i64, Path)),
    responses((status = 200, body = Count), (status = 404, body = ProblemDocument)))]
pub async fn reset_second_factors(req: HttpRequest, state: State) -> Result<HttpResponse, Problem> {
    let admin = authenticate(&req, &state).await?;
    let id = id_in_path(&req, "id")?;
    let engine = state.engine.clone();
    let count = as_admin(&admin, move || engine.reset_second_factors(id)).await?;
    Ok(ok(StatusCode::OK, &Count { count }))
}

/// Links an upstream identity to a user beforehand (an upstream whose
/// `first_sign_in` is `refuse` signs in only identities linked this way).
#[utoipa::path(post, path = "/users/{id}/identities", tag = "users", params(("id" = i64, Path)), request_body = PreLink,
    responses((status = 204), (status = 400, body = ProblemDocument), (status = 404, body = ProblemDocument), (status = 409, body = ProblemDocument)))]
pub async fn pre_link(req: HttpRequest, state: State, body: web::Bytes) -> Result<HttpResponse, Problem> {
    let admin = authenticate(&req, &state).await?;
    let id = id_in_path(&req, "id")?;
    let l: PreLink = json_body(&body)?;
    let engine = state.engine.clone();
    as_admin(&admin, move || engine.pre_link_identity(id, &l.upstream, &l.subject)).await?;
    Ok(HttpResponse::NoContent().finish())
}
