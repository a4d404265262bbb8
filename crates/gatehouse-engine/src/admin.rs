//! Administration: the admin role, the first administrator, who may use
//! the admin API, and the operations the admin API and console offer
//! beyond the directory's. Every change is audited; when an administrator
//! makes it, the audit event names them (`details.actor`, from the
//! [`Caller`](crate::caller::Caller)).

use gatehouse_core::scope::ADMIN_SCOPE;
use gatehouse_core::secret::{digest, generate_token};
use gatehouse_core::user::{normalize_email, split_name};
use gatehouse_core::{UserEvent, UserStatus};
use gatehouse_store::{Client, Consent, RefreshFamily, User, UserChanges};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use crate::audit::AuditRecord;
use crate::directory::UserInput;
use crate::{Engine, EngineError};

/// The audit kind of an administrator's unlock; failed sign-ins before it
/// no longer count toward the account's limit.
pub const LOGIN_UNLOCKED: &str = "login.unlocked";

/// How long the first-administrator setup link works (seconds).
pub const SETUP_TOKEN_SECS: i64 = 3600;

/// Where the setup token's digest is kept (a namespace no plugin name can
/// take: plugin names are `[a-z0-9_-]+`).
const SETUP_NS: &str = "gatehouse:setup";
const SETUP_KEY: &str = "token";

/// Who is acting through the admin API or console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminPrincipal {
    /// A signed-in administrator (the console, or the API with a session).
    User { id: i64, email: String },
    /// An automation client holding an `admin`-scoped client_credentials token.
    Client { client_id: String },
}

impl AdminPrincipal {
    /// How audit events name this principal.
    pub fn actor(&self) -> String {
        match self {
            AdminPrincipal::User { id, .. } => format!("admin:user:{id}"),
            AdminPrincipal::Client { client_id } => format!("admin:client:{client_id}"),
        }
    }
}

/// Why a bearer token does not open the admin API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminTokenRefusal {
    /// Unknown, expired or revoked.
    InvalidToken,
    /// A live token without the `admin` scope, or one issued to a user
    /// rather than to an operator's automation client.
    InsufficientScope,
}

/// A change to a user; `None` keeps the current value.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct UserPatch {
    pub email: Option<String>,
    pub name: Option<String>,
    pub locale: Option<String>,
    pub status: Option<UserStatus>,
    pub allow_sso: Option<bool>,
    pub email_verified: Option<bool>,
    pub is_admin: Option<bool>,
}

/// Why the first-administrator setup did not complete.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// Unknown, used or expired link (or an administrator exists already).
    #[error("this setup link is not valid: it was used, it expired, or an administrator already exists")]
    InvalidToken,
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// The dashboard's figures.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Dashboard {
    pub users: i64,
    pub clients: i64,
    pub sign_ins_24h: i64,
    pub failed_sign_ins_24h: i64,
    pub refusals_24h: i64,
}

#[derive(Serialize, Deserialize)]
struct StoredSetupToken {
    digest: String,
    expires_at: i64,
}

impl Engine {
    /// Whether at least one administrator exists.
    pub fn admin_exists(&self) -> Result<bool, EngineError> {
        Ok(self.store.count_admins()? > 0)
    }

    /// Gives or takes a user's admin role. The last administrator cannot
    /// be demoted (nobody could manage the hub afterwards).
    pub fn set_admin(&self, user_id: i64, admin: bool) -> Result<User, EngineError> {
        let user = self.user_by_id(user_id)?;
        if user.is_admin && !admin && self.store.count_admins()? <= 1 {
            return Err(EngineError::Invalid("the last administrator cannot lose the admin role".into()));
        }
        self.store.set_user_admin(user_id, admin, self.now())?;
        self.audit(AuditRecord {
            kind: if admin { "user.admin_granted" } else { "user.admin_revoked" },
            message: format!("User ID: {user_id} {} the admin role", if admin { "was given" } else { "lost" }),
            user_id: Some(user_id),
            ..Default::default()
        })?;
        self.user_by_id(user_id)
    }

    /// A user by id.
    pub fn user_by_id(&self, user_id: i64) -> Result<User, EngineError> {
        self.store.user_by_id(user_id)?.ok_or_else(|| EngineError::NotFound(format!("user {user_id}")))
    }

    /// Issues the one-time setup token for the first administrator, valid
    /// [`SETUP_TOKEN_SECS`], replacing any earlier one. `None` once an
    /// administrator exists. Only its digest is stored.
    pub fn issue_setup_token(&self) -> Result<Option<String>, EngineError> {
        if self.admin_exists()? {
            return Ok(None);
        }
        let token = generate_token();
        let stored = StoredSetupToken { digest: digest(&token), expires_at: self.now() + SETUP_TOKEN_SECS };
        let value = serde_json::to_string(&stored).map_err(|e| EngineError::Invalid(e.to_string()))?;
        self.store.kv_set(SETUP_NS, SETUP_KEY, &value, self.now())?;
        self.audit(AuditRecord {
            kind: "admin.setup_link_issued",
            message: "A first-administrator setup link was issued (printed by the server)".into(),
            ..Default::default()
        })?;
        Ok(Some(token))
    }

    /// Whether `token` is the live setup token (the page checks before it
    /// shows the form; [`Engine::complete_setup`] checks again).
    pub fn setup_token_valid(&self, token: &str) -> Result<bool, EngineError> {
        Ok(self.stored_setup_token(token)?.is_some())
    }

    fn stored_setup_token(&self, token: &str) -> Result<Option<String>, EngineError> {
        if self.admin_exists()? {
            return Ok(None);
        }
        let Some(raw) = self.store.kv_get(SETUP_NS, SETUP_KEY, self.now())? else { return Ok(None) };
        let Ok(stored) = serde_json::from_str::<StoredSetupToken>(&raw) else { return Ok(None) };
        let matches: bool = stored.digest.as_bytes().ct_eq(digest(token).as_bytes()).into();
        Ok((matches && stored.expires_at > self.now()).then_some(raw))
    }

    /// Redeems the setup token once and makes the first administrator:
    /// a new user with `email` and `password`, or the existing user with
    /// that e-mail (whose password is then set).
    pub fn complete_setup(&self, token: &str, email: &str, name: &str, password: &str) -> Result<User, SetupError> {
        self.check_password_policy(password)?;
        if normalize_email(email).is_none() {
            return Err(EngineError::Invalid(format!("{email:?} is not a valid e-mail address")).into());
        }
        if self.stored_setup_token(token)?.is_none() {
            self.audit_setup_refusal()?;
            return Err(SetupError::InvalidToken);
        }
        // Single use, also against a concurrent redemption: only one
        // caller deletes the row.
        if !self.store.kv_delete(SETUP_NS, SETUP_KEY).map_err(EngineError::from)? {
            self.audit_setup_refusal()?;
            return Err(SetupError::InvalidToken);
        }
        Ok(self.make_admin(email, name, password, "setup link")?)
    }

    fn audit_setup_refusal(&self) -> Result<(), EngineError> {
        self.audit(AuditRecord {
            kind: "admin.setup_refused",
            message: "First-administrator setup refused: invalid, used or expired link".into(),
            details: serde_json::json!({ "reason": "invalid_setup_token" }),
            ..Default::default()
        })
    }

    /// The container path to the first administrator
    /// (`GATEHOUSE_BOOTSTRAP_ADMIN_EMAIL` and `..._PASSWORD_FILE`): does
    /// nothing once an administrator exists. Returns the new admin.
    pub fn bootstrap_admin(&self, email: &str, password: &str) -> Result<Option<User>, EngineError> {
        if self.admin_exists()? {
            return Ok(None);
        }
        self.check_password_policy(password)?;
        self.store.kv_delete(SETUP_NS, SETUP_KEY)?;
        self.make_admin(email, "", password, "bootstrap environment").map(Some)
    }

    fn make_admin(&self, email: &str, name: &str, password: &str, via: &str) -> Result<User, EngineError> {
        let normalized = normalize_email(email)
            .ok_or_else(|| EngineError::Invalid(format!("{email:?} is not a valid e-mail address")))?;
        let user = match self.store.user_by_email(&normalized)? {
            Some(existing) => self.set_password(existing.id, password)?,
            None => self.create_user(UserInput {
                email: normalized,
                password: Some(password.to_string()),
                name: name.to_string(),
                email_verified: true,
                ..Default::default()
            })?,
        };
        self.store.set_user_admin(user.id, true, self.now())?;
        self.audit(AuditRecord {
            kind: "user.admin_granted",
            message: format!("User ID: {} is the first administrator (via the {via})", user.id),
            user_id: Some(user.id),
            ..Default::default()
        })?;
        self.user_by_id(user.id)
    }

    /// The passwords the engine accepts when an administrator (or the
    /// setup) sets one.
    /// (The length rules of [`Engine::check_new_password`]; the strength
    /// check is for members' own choices.)
    pub fn check_password_policy(&self, password: &str) -> Result<(), EngineError> {
        let min = self.config.password_min_length;
        if password.chars().count() < min {
            return Err(EngineError::Invalid(format!("a password needs at least {min} characters")));
        }
        if password.len() > 1024 {
            return Err(EngineError::Invalid("a password may have at most 1024 bytes".into()));
        }
        Ok(())
    }

    /// Who a bearer token on the admin API stands for: only a live
    /// client_credentials token that carries the `admin` scope, issued to
    /// an operator's client (never a plugin's).
    pub fn admin_from_bearer(&self, token: &str) -> Result<AdminPrincipal, AdminTokenRefusal> {
        let live = self.live_access_token(token).map_err(|_| AdminTokenRefusal::InvalidToken)?;
        let scoped = gatehouse_core::ScopeSet::parse(&live.grant.scope).contains(ADMIN_SCOPE);
        if !scoped
            || live.grant.user_id.is_some()
            || live.client.managed_by.is_some()
            || !live.client.scopes.contains(ADMIN_SCOPE)
        {
            return Err(AdminTokenRefusal::InsufficientScope);
        }
        Ok(AdminPrincipal::Client { client_id: live.client.client_id })
    }

    /// Who a signed-in browser session stands for, when its user is an
    /// administrator who may sign in.
    pub fn admin_from_session(&self, cookie: &str) -> Result<Option<AdminPrincipal>, EngineError> {
        Ok(self.session_from_cookie(cookie)?.and_then(|(_, user)| {
            (user.is_admin && user.status().may_sign_in())
                .then_some(AdminPrincipal::User { id: user.id, email: user.email })
        }))
    }

    /// Users whose e-mail or name contains `query`, after `after_id`.
    pub fn search_users(
        &self,
        query: Option<&str>,
        after_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<User>, EngineError> {
        Ok(self.store.search_users(query, after_id, limit.clamp(1, 500))?)
    }

    /// Changes a user's profile, status, SSO switch or role. Status and
    /// role go through their own rules ([`Engine::set_user_status`],
    /// [`Engine::set_admin`]).
    pub fn update_user(&self, user_id: i64, patch: UserPatch) -> Result<User, EngineError> {
        let current = self.user_by_id(user_id)?;
        let mut changes = UserChanges::default();
        if let Some(e) = &patch.email {
            let email = normalize_email(e)
                .ok_or_else(|| EngineError::Invalid(format!("{e:?} is not a valid e-mail address")))?;
            if email != current.email {
                if self.store.user_by_email(&email)?.is_some() {
                    return Err(EngineError::Conflict(format!("a user with e-mail {email}")));
                }
                // A new address is not verified until its owner shows it is.
                changes.email_verified = Some(false);
                changes.email = Some(email);
            }
        }
        if let Some(n) = &patch.name {
            let n = n.trim();
            if n.chars().count() > 200 {
                return Err(EngineError::Invalid("a name may have at most 200 characters".into()));
            }
            let (given, family) = split_name(n);
            changes.display_name = Some(n.to_string());
            changes.given_name = Some(given);
            changes.family_name = Some(family);
        }
        if let Some(l) = &patch.locale {
            let l = l.trim();
            if !l.is_empty() && (l.len() > 35 || !l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
            {
                return Err(EngineError::Invalid(format!("{l:?} is not a language tag (for example en or de-CH)")));
            }
            changes.locale = Some(l.to_string());
        }
        if let Some(v) = patch.email_verified {
            changes.email_verified = Some(v);
        }
        let profile_changed = changes.email.is_some()
            || changes.display_name.is_some()
            || changes.locale.is_some()
            || changes.email_verified.is_some();
        if profile_changed {
            self.store.update_user(user_id, &changes, self.now())?;
            let fields: Vec<&str> = [
                changes.email.as_ref().map(|_| "email"),
                changes.display_name.as_ref().map(|_| "name"),
                changes.locale.as_ref().map(|_| "locale"),
                changes.email_verified.map(|_| "email_verified"),
            ]
            .into_iter()
            .flatten()
            .collect();
            self.audit(AuditRecord {
                kind: "user.updated",
                message: format!("User ID: {user_id} profile updated ({})", fields.join(", ")),
                user_id: Some(user_id),
                details: serde_json::json!({ "fields": fields }),
                ..Default::default()
            })?;
            let user = self.user_by_id(user_id)?;
            self.notify_user_event(UserEvent::Updated, &user);
        }
        if let Some(s) = patch.status.filter(|s| *s != current.status) {
            self.set_user_status(user_id, s)?;
        }
        if let Some(a) = patch.allow_sso.filter(|a| *a != current.allow_sso) {
            self.set_user_allow_sso(user_id, a)?;
        }
        if let Some(a) = patch.is_admin.filter(|a| *a != current.is_admin) {
            self.set_admin(user_id, a)?;
        }
        self.user_by_id(user_id)
    }

    /// Deletes a user: sessions, consents, identity links and memberships
    /// go with them and every token they hold is revoked. Refused for the
    /// owner of an account (move or delete the account first) and for the
    /// last administrator.
    pub fn delete_user(&self, user_id: i64) -> Result<(), EngineError> {
        let user = self.user_by_id(user_id)?;
        let owned: Vec<i64> =
            self.accounts_of_user(user_id)?.into_iter().filter(|a| a.owner_user_id == user_id).map(|a| a.id).collect();
        if !owned.is_empty() {
            return Err(EngineError::Invalid(format!(
                "user {user_id} owns account(s) {owned:?}: move or delete them first"
            )));
        }
        if user.is_admin && self.store.count_admins()? <= 1 {
            return Err(EngineError::Invalid("the last administrator cannot be deleted".into()));
        }
        if !self.store.delete_user(user_id, self.now())? {
            return Err(EngineError::NotFound(format!("user {user_id}")));
        }
        self.audit(AuditRecord {
            kind: "user.deleted",
            message: format!("User ID: {user_id} ({}) deleted; sessions ended and tokens revoked", user.email),
            user_id: Some(user_id),
            ..Default::default()
        })?;
        self.notify_user_event(UserEvent::Deleted, &user);
        Ok(())
    }

    /// Clears a user's failed sign-in count, so a locked-out member can
    /// try again at once (the per-address limit stays: it guards against
    /// one guesser trying many accounts).
    pub fn unlock_user(&self, user_id: i64) -> Result<User, EngineError> {
        let user = self.user_by_id(user_id)?;
        self.audit(AuditRecord {
            kind: LOGIN_UNLOCKED,
            message: format!("User ID: {user_id} unlocked: failed sign-ins no longer count"),
            user_id: Some(user_id),
            subject: Some(&user.email),
            ..Default::default()
        })?;
        Ok(user)
    }

    /// Ends every session of a user; how many were live.
    pub fn end_sessions_of_user(&self, user_id: i64) -> Result<usize, EngineError> {
        self.user_by_id(user_id)?;
        let ended = self.store.revoke_sessions_of_user(user_id, self.now())?;
        let n = ended.len();
        self.sessions_ended(user_id, &ended, crate::logout::EndReason::Administrator);
        self.audit(AuditRecord {
            kind: "session.ended_all",
            message: format!("User ID: {user_id}: {n} session(s) ended"),
            user_id: Some(user_id),
            ..Default::default()
        })?;
        Ok(n)
    }

    /// The apps a user has consented to.
    pub fn consents_of_user(&self, user_id: i64) -> Result<Vec<Consent>, EngineError> {
        self.user_by_id(user_id)?;
        Ok(self.store.consents_of_user(user_id)?)
    }

    /// Withdraws a user's consent for a client and revokes every token the
    /// client holds for the user (the app loses access until asked again).
    pub fn revoke_consent(&self, user_id: i64, client_id: &str) -> Result<(), EngineError> {
        self.user_by_id(user_id)?;
        let had_consent = self.store.delete_consent(user_id, client_id)?;
        let revoked = self.store.revoke_grants_of_user_at_client(user_id, client_id, self.now())?;
        if !had_consent && revoked == 0 {
            return Err(EngineError::NotFound(format!("consent of user {user_id} for client {client_id:?}")));
        }
        self.audit(AuditRecord {
            kind: "consent.revoked",
            message: format!("User ID: {user_id}: access of {client_id} revoked ({revoked} token(s))"),
            user_id: Some(user_id),
            client_id: Some(client_id),
            ..Default::default()
        })
    }

    /// The user's live refresh-token families.
    pub fn refresh_families_of_user(&self, user_id: i64) -> Result<Vec<RefreshFamily>, EngineError> {
        self.user_by_id(user_id)?;
        Ok(self.store.refresh_families_of_user(user_id, self.now())?)
    }

    /// Revokes one of the user's refresh-token families (and every token
    /// born in it, now or by a racing refresh).
    pub fn revoke_refresh_family(&self, user_id: i64, family: &str) -> Result<(), EngineError> {
        let owned = self.refresh_families_of_user(user_id)?.into_iter().find(|f| f.family == family);
        let Some(f) = owned else {
            return Err(EngineError::NotFound(format!("refresh-token family {family:?} of user {user_id}")));
        };
        self.store.revoke_family(family, self.now())?;
        self.audit(AuditRecord {
            kind: "token.family_revoked",
            message: format!("User ID: {user_id}: refresh-token family of {} revoked", f.client_id),
            user_id: Some(user_id),
            client_id: Some(&f.client_id),
            ..Default::default()
        })
    }

    /// Removes a user's linked upstream identity.
    pub fn remove_identity_link(&self, user_id: i64, plugin: &str, subject: &str) -> Result<(), EngineError> {
        self.user_by_id(user_id)?;
        if self.unlink_identity(user_id, plugin, subject)? {
            Ok(())
        } else {
            Err(EngineError::NotFound(format!("{plugin} identity {subject:?} of user {user_id}")))
        }
    }

    /// Gives a client a new secret (returned once, stored as a digest).
    pub fn rotate_client_secret(&self, id: i64) -> Result<(Client, String), EngineError> {
        let current = self.find_client(&id.to_string())?;
        if current.is_public {
            return Err(EngineError::Invalid(format!("client {} is public: it has no secret", current.client_id)));
        }
        let (client, secret) = self.update_client(id, Default::default(), true)?;
        let secret = secret.ok_or_else(|| EngineError::Invalid("the client has no secret".into()))?;
        Ok((client, secret))
    }

    /// The dashboard's figures for the last 24 hours.
    pub fn dashboard(&self) -> Result<Dashboard, EngineError> {
        let since = self.now() - 86_400;
        let (users, clients) = self.store.directory_counts()?;
        let refusals = ["oauth.client_auth_failed", "oauth.token_refused", "oauth.authorize_refused", "sso.denied"]
            .iter()
            .map(|k| self.store.count_audit_since(k, since))
            .sum::<Result<i64, _>>()?;
        Ok(Dashboard {
            users,
            clients,
            sign_ins_24h: self.store.count_audit_since("login.succeeded", since)?,
            failed_sign_ins_24h: self.store.count_audit_since("login.failed", since)?
                + self.store.count_audit_since("login.rate_limited", since)?,
            refusals_24h: refusals,
        })
    }
}
