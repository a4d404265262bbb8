//! The host services plugins call through `host_call`: thin translations
//! between the plugin messages and the engine. The engine keeps every rule
//! (validation, audit, secrets shown once); this module only maps types.

use std::str::FromStr;

use gatehouse_core::client::GrantType;
use gatehouse_core::{ScopeSet, UserStatus};
use gatehouse_engine::audit::AuditRecord;
use gatehouse_engine::directory::{api_credential_allows, Actor, ClientInput, UserInput};
use gatehouse_engine::sessions::LoginError;
use gatehouse_engine::{Engine, EngineError};
use gatehouse_plugin_api::messages::{self as msg, host_methods as m, Error, ErrorKind, Reply};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{HostCtx, SESSION_COOKIE};

/// Runs one host method and encodes its [`Reply`].
pub fn dispatch(ctx: &HostCtx, method: &str, payload: &[u8]) -> Vec<u8> {
    match run(ctx, method, payload) {
        Ok(bytes) => bytes,
        Err(e) => serde_json::to_vec(&Reply::<()>::Error(e)).unwrap_or_default(),
    }
}

fn arg<T: DeserializeOwned>(payload: &[u8], method: &str) -> Result<T, Error> {
    let bytes = if payload.is_empty() { b"null".as_slice() } else { payload };
    serde_json::from_slice(bytes).map_err(|e| Error::invalid(format!("{method}: malformed arguments: {e}")))
}

fn ok<T: Serialize>(v: T) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(&Reply::Ok(v)).map_err(|e| Error::internal(e.to_string()))
}

fn engine_error(e: EngineError) -> Error {
    match e {
        EngineError::Invalid(s) => Error::invalid(s),
        EngineError::NotFound(_) => Error::new(ErrorKind::NotFound, e.to_string()),
        EngineError::Conflict(_) => Error::new(ErrorKind::Conflict, e.to_string()),
        EngineError::Unavailable(err) => {
            tracing::warn!(error = %err, "host service: database unavailable");
            Error::internal("the host's database is unavailable; try again shortly")
        }
        EngineError::Store(err) => {
            tracing::error!(error = %err, "host service: database error");
            Error::internal("the host's database failed")
        }
        EngineError::Internal(err) => {
            tracing::error!(error = %err, "host service failed");
            Error::internal("the host failed")
        }
    }
}

fn run(ctx: &HostCtx, method: &str, payload: &[u8]) -> Result<Vec<u8>, Error> {
    // Services that need no engine first.
    match method {
        m::INFO => return ok(&ctx.info),
        m::CONFIG => return ok(&ctx.config),
        m::LOG => {
            let line: msg::LogLine = arg(payload, method)?;
            let p = ctx.name.as_str();
            match line.level {
                msg::LogLevel::Error => tracing::error!(plugin = p, "{}", line.message),
                msg::LogLevel::Warn => tracing::warn!(plugin = p, "{}", line.message),
                msg::LogLevel::Info => tracing::info!(plugin = p, "{}", line.message),
                msg::LogLevel::Debug => tracing::debug!(plugin = p, "{}", line.message),
            }
            return ok(());
        }
        _ => {}
    }
    let engine = ctx.engine().ok_or_else(|| Error::internal("host services are not available here"))?;
    let e = &engine;
    // A plugin sees and changes only the clients it created.
    let me = Actor::Plugin(&ctx.name);
    match method {
        m::SCOPES => ok(e
            .catalog
            .iter()
            .map(|s| msg::ScopeInfo {
                name: s.name.clone(),
                description: s.description.clone(),
                claims: s.claims.clone(),
                destination: s.destination.as_ref().map(|d| d.path.clone()),
                params: s.destination.as_ref().map(|d| d.params.clone()).unwrap_or_default(),
            })
            .collect::<Vec<_>>()),
        m::USER_GET => {
            let a: msg::Lookup = arg(payload, method)?;
            ok(user_in(e, e.find_user(&a.key).map_err(engine_error)?))
        }
        m::USER_CREATE => {
            let a: msg::NewUser = arg(payload, method)?;
            let status =
                a.status.as_deref().map(UserStatus::from_str).transpose().map_err(|x| Error::invalid(x.to_string()))?;
            let u = e
                .create_user(UserInput {
                    email: a.email,
                    password: a.password,
                    name: a.name,
                    status,
                    allow_sso: a.allow_sso,
                    locale: a.locale,
                    email_verified: a.email_verified,
                })
                .map_err(engine_error)?;
            ok(user_in(e, u))
        }
        m::USER_SET_STATUS => {
            let a: msg::SetUserStatus = arg(payload, method)?;
            let s = UserStatus::from_str(&a.status).map_err(|x| Error::invalid(x.to_string()))?;
            ok(user_in(e, e.set_user_status(a.user_id, s).map_err(engine_error)?))
        }
        m::USER_SET_ALLOW_SSO => {
            let a: msg::SetUserAllowSso = arg(payload, method)?;
            ok(user_in(e, e.set_user_allow_sso(a.user_id, a.allow).map_err(engine_error)?))
        }
        m::USER_VERIFY_PASSWORD => {
            let a: msg::VerifyPassword = arg(payload, method)?;
            // Without an address the plugin counts as one caller.
            let ip = if a.ip.is_empty() { format!("plugin:{}", ctx.name) } else { a.ip };
            match e.check_password(&a.email, &a.password, &ip) {
                Ok(u) => ok(Some(user_in(e, u))),
                Err(LoginError::BadCredentials | LoginError::Closed) => ok(None::<msg::User>),
                Err(LoginError::RateLimited) => {
                    Err(Error::new(ErrorKind::Forbidden, "too many failed sign-in attempts; try again later"))
                }
                Err(LoginError::Engine(x)) => Err(engine_error(x)),
            }
        }
        m::ACCOUNT_GET => {
            let a: msg::IdArg = arg(payload, method)?;
            ok(account(e.account(a.id).map_err(engine_error)?))
        }
        m::ACCOUNTS_OF_USER => {
            let a: msg::IdArg = arg(payload, method)?;
            let list = e.accounts_of_user(a.id).map_err(engine_error)?;
            ok(list.into_iter().map(account).collect::<Vec<_>>())
        }
        m::ACCOUNT_CREATE => {
            let a: msg::NewAccount = arg(payload, method)?;
            ok(account(e.create_account(a.owner_user_id, &a.name).map_err(engine_error)?))
        }
        m::ACCOUNT_ADD_MEMBER => {
            let a: msg::AccountMember = arg(payload, method)?;
            e.add_account_member(a.account_id, a.user_id).map_err(engine_error)?;
            ok(())
        }
        m::CLIENT_CREATE => {
            let a: msg::NewClient = arg(payload, method)?;
            let created = e
                .register_client_as(
                    me,
                    ClientInput {
                        name: a.name,
                        description: a.description,
                        logo_uri: a.logo_uri,
                        redirect_uris: a.redirect_uris,
                        post_logout_redirect_uris: a.post_logout_redirect_uris,
                        grant_types: grants(&a.grant_types)?,
                        scopes: ScopeSet::from_vec(a.scopes),
                        is_public: a.is_public,
                        first_party: a.first_party,
                        bound_account_id: a.bound_account_id,
                        client_id_prefix: a.client_id_prefix,
                        id_token_alg: a.id_token_alg,
                        connector: a.connector,
                        // Only the operator may create a client that signs in as anyone.
                        may_name_users: false,
                        backchannel_logout_uri: None,
                        frontchannel_logout_uri: None,
                        require_2fa: false,
                    },
                )
                .map_err(engine_error)?;
            ok(msg::ClientWithSecret { client: client(created.client), secret: created.secret })
        }
        m::CLIENT_LIST => {
            let list = e.clients_as(me).map_err(engine_error)?;
            ok(list.into_iter().map(client).collect::<Vec<_>>())
        }
        m::CLIENT_GET => {
            let a: msg::Lookup = arg(payload, method)?;
            ok(client(e.find_client_as(me, &a.key).map_err(engine_error)?))
        }
        m::CLIENT_UPDATE => {
            let a: msg::ClientUpdate = arg(payload, method)?;
            let changes = gatehouse_engine::model::ClientChanges {
                secret_digest: None,
                name: a.name,
                description: a.description,
                logo_uri: a.logo_uri,
                grant_types: a.grant_types.as_deref().map(grants).transpose()?,
                scopes: a.scopes.map(ScopeSet::from_vec),
                redirect_uris: a.redirect_uris,
                bound_account_id: a.bound_account_id,
                // None is in the plugin API: only the operator changes them.
                post_logout_redirect_uris: None,
                first_party: None,
                backchannel_logout_uri: None,
                frontchannel_logout_uri: None,
                require_2fa: None,
            };
            let (c, secret) = e.update_client_as(me, a.id, changes, a.reset_secret).map_err(engine_error)?;
            ok(msg::ClientWithSecret { client: client(c), secret })
        }
        m::CLIENT_DELETE => {
            let a: msg::IdArg = arg(payload, method)?;
            ok(client(e.remove_client_as(me, a.id).map_err(engine_error)?))
        }
        m::CLIENT_AUTHENTICATE => {
            let a: msg::ClientCredentials = arg(payload, method)?;
            ok(e.authenticate_client(&a.client_id, &a.secret).map_err(engine_error)?.map(client))
        }
        m::API_CREDENTIAL_CHECK => {
            let a: msg::ApiCredentialCheck = arg(payload, method)?;
            let found = e.check_api_credential_secret(&a.identifier, &a.secret).map_err(engine_error)?;
            let identifier_allowed_ips =
                found.as_ref().map(|(c, _)| c.ip_list().iter().map(|s| s.to_string()).collect());
            let cred = found.and_then(|(c, secret_ok)| secret_ok.then_some(c));
            let allowed = cred.as_ref().is_some_and(|c| api_credential_allows(c, &a.action));
            ok(msg::ApiCredentialVerdict {
                allowed,
                identifier_allowed_ips,
                credential: cred.map(|c| msg::ApiCredential {
                    id: c.id,
                    identifier: c.identifier.clone(),
                    description: c.description.clone(),
                    role: c.role.clone(),
                    actions: c.action_list().iter().map(|s| s.to_string()).collect(),
                    allowed_ips: c.ip_list().iter().map(|s| s.to_string()).collect(),
                }),
            })
        }
        m::SSO_TOKEN_ISSUE => {
            let a: msg::IssueSsoToken = arg(payload, method)?;
            let c = e.find_client_as(me, &a.client_id).map_err(engine_error)?;
            let t = e.issue_sso_token(&c, a.user_id, a.destination.as_deref(), a.params).map_err(engine_error)?;
            ok(msg::SsoToken { token: t.token, expires_in: t.expires_in, scope: t.scope })
        }
        m::SESSION_START => {
            let a: msg::StartSession = arg(payload, method)?;
            ok(start_session(e, &a)?)
        }
        m::SESSION_END => {
            let a: msg::EndSession = arg(payload, method)?;
            ok(e.end_session(a.user_id, a.session_id).map_err(engine_error)?)
        }
        m::AUDIT => {
            let a: msg::AuditLine = arg(payload, method)?;
            let kind = audit_kind(&ctx.name, &a.kind);
            e.audit(AuditRecord {
                kind: &kind,
                message: a.message,
                user_id: a.user_id,
                client_id: a.client_id.as_deref(),
                ip: a.ip.as_deref(),
                subject: None,
                details: a.details,
            })
            .map_err(engine_error)?;
            ok(())
        }
        m::KV_GET => {
            let a: msg::KvKey = arg(payload, method)?;
            ok(e.plugin_value(&ctx.name, &a.key).map_err(engine_error)?)
        }
        m::KV_SET => {
            let a: msg::KvEntry = arg(payload, method)?;
            e.set_plugin_value(&ctx.name, &a.key, &a.value).map_err(engine_error)?;
            ok(())
        }
        m::KV_DELETE => {
            let a: msg::KvKey = arg(payload, method)?;
            ok(e.delete_plugin_value(&ctx.name, &a.key).map_err(engine_error)?)
        }
        m::KV_INSERT_NEW => {
            let a: msg::KvNew = arg(payload, method)?;
            ok(e.insert_new_plugin_value(&ctx.name, &a.key, &a.value, a.ttl_secs).map_err(engine_error)?)
        }
        other => Err(Error::unsupported(format!("unknown host method {other:?}"))),
    }
}

/// Starts a session for a plugin (host service or a route's `start_session`).
pub fn start_session(e: &Engine, a: &msg::StartSession) -> Result<msg::Session, Error> {
    let u = e.find_user(&a.user_id.to_string()).map_err(engine_error)?;
    if !u.status().may_sign_in() {
        return Err(Error::new(ErrorKind::Forbidden, format!("user {} may not sign in", u.id)));
    }
    let (value, session) = e.start_session(a.user_id, &a.via, &a.ip, &a.user_agent).map_err(engine_error)?;
    Ok(msg::Session { cookie_name: SESSION_COOKIE.into(), cookie_value: value, expires_at: session.expires_at })
}

/// Plugin audit kinds are namespaced, except the documented SSO and login
/// kinds, which plugins write with their exact meaning.
fn audit_kind(plugin: &str, kind: &str) -> String {
    let core = ["sso.", "login.", "oauth.", "api."];
    if core.iter().any(|c| kind.starts_with(c)) {
        kind.to_string()
    } else {
        format!("plugin.{plugin}.{}", if kind.is_empty() { "event" } else { kind })
    }
}

fn grants(names: &[String]) -> Result<Vec<GrantType>, Error> {
    names.iter().map(|g| GrantType::from_str(g).map_err(|x| Error::invalid(x.to_string()))).collect()
}

/// A store user as plugins see it.
/// A user as plugins see them, with their groups.
pub fn user_in(engine: &Engine, u: gatehouse_engine::model::User) -> msg::User {
    let groups = engine.groups_of_user(u.id).unwrap_or_else(|e| {
        tracing::warn!(error = %e, user = u.id, "could not read the user's groups");
        Vec::new()
    });
    let two_factor_enabled = engine.has_second_factor(u.id).unwrap_or(false);
    msg::User { groups, two_factor_enabled, ..user(u) }
}

/// A user as plugins see them, without their groups (see [`user_in`]).
pub fn user(u: gatehouse_engine::model::User) -> msg::User {
    msg::User {
        id: u.id,
        uuid: u.uuid,
        email: u.email,
        email_verified: u.email_verified,
        display_name: u.display_name,
        given_name: u.given_name,
        family_name: u.family_name,
        locale: u.locale,
        status: u.status.to_string(),
        allow_sso: u.allow_sso,
        created_at: u.created_at,
        updated_at: u.updated_at,
        groups: Vec::new(),
        two_factor_enabled: false,
    }
}

fn account(a: gatehouse_engine::model::Account) -> msg::Account {
    msg::Account {
        id: a.id,
        name: a.name,
        owner_user_id: a.owner_user_id,
        created_at: a.created_at,
        updated_at: a.updated_at,
    }
}

/// A store client as plugins see it (never the secret digest).
pub fn client(c: gatehouse_engine::model::Client) -> msg::Client {
    msg::Client {
        id: c.id,
        client_id: c.client_id,
        name: c.name,
        description: c.description,
        logo_uri: c.logo_uri,
        grant_types: c.grant_types.iter().map(|g| g.as_str().to_string()).collect(),
        scopes: c.scopes.as_vec().to_vec(),
        redirect_uris: c.redirect_uris,
        post_logout_redirect_uris: c.post_logout_redirect_uris,
        is_public: c.is_public,
        first_party: c.first_party,
        bound_account_id: c.bound_account_id,
        id_token_alg: c.id_token_alg.to_string(),
        connector: c.connector,
        created_at: c.created_at,
        updated_at: c.updated_at,
    }
}
