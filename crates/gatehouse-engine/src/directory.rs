//! The directory: users, accounts, OAuth clients and API credentials, with
//! the validation rules every surface (CLI, admin API, plugins) shares.

use gatehouse_core::client::GrantType;
use gatehouse_core::redirect::validate_for_registration;
use gatehouse_core::secret::{self, generate_token};
use gatehouse_core::user::{normalize_email, split_name};
use gatehouse_core::{ScopeSet, SigningAlg, UserEvent, UserStatus};
use gatehouse_store::{ApiCredential, Client, ClientChanges, NewApiCredential, NewClient, NewUser, User};

use crate::audit::AuditRecord;
use crate::{Engine, EngineError};

/// What it takes to create a user.
#[derive(Debug, Clone, Default)]
pub struct UserInput {
    pub email: String,
    pub password: Option<String>,
    /// "First Last"; split into given and family name.
    pub name: String,
    pub status: Option<UserStatus>,
    pub allow_sso: Option<bool>,
    pub locale: Option<String>,
    pub email_verified: bool,
}

/// What it takes to register an OAuth client.
#[derive(Debug, Clone, Default)]
pub struct ClientInput {
    pub name: String,
    pub description: String,
    pub logo_uri: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<GrantType>,
    pub scopes: ScopeSet,
    pub is_public: bool,
    pub first_party: bool,
    pub bound_account_id: Option<i64>,
    /// A prefix for the generated client id (`COMPANY-NAME.` for WHMCS).
    pub client_id_prefix: Option<String>,
    /// `RS256` (default), `ES256` or `EdDSA`.
    pub id_token_alg: Option<String>,
    pub connector: Option<String>,
    /// Without a bound account, may this single_sign_on client name any
    /// user in `user_id`? (It can then sign in as anyone.)
    pub may_name_users: bool,
    /// Back-Channel Logout: where logout tokens are posted.
    pub backchannel_logout_uri: Option<String>,
    /// Front-Channel Logout: loaded in an iframe when a member signs out.
    pub frontchannel_logout_uri: Option<String>,
    /// Everyone signing in to this client must use a second factor.
    pub require_2fa: bool,
}

/// Clients read on the token path, kept for at most [`CLIENT_CACHE_SECS`]:
/// a token request then costs no client query. This replica forgets a
/// client the moment it changes it; a change made on another replica (a
/// reset secret, a removed client) applies here within a second.
#[derive(Default)]
pub struct ClientCache(std::sync::Mutex<std::collections::HashMap<String, (i64, Client)>>);

/// How long a cached client is trusted (seconds).
pub const CLIENT_CACHE_SECS: i64 = 1;

/// At most this many clients are kept (only existing clients are cached,
/// so probing with random ids cannot grow it).
const CLIENT_CACHE_MAX: usize = 10_000;

/// Who asks the directory for something: an operator (CLI, later admins)
/// sees every client; a plugin sees and changes only the clients it made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor<'a> {
    /// The operator: every client.
    Operator,
    /// A plugin, by name: only the clients it created through host services.
    Plugin(&'a str),
}

impl Actor<'_> {
    /// Whether this actor may see and change `client`. A plugin never
    /// reaches an operator's client, least of all one that may name users.
    pub fn may_manage(&self, client: &Client) -> bool {
        match self {
            Actor::Operator => true,
            Actor::Plugin(name) => client.managed_by.as_deref() == Some(*name) && !client.may_name_users,
        }
    }
}

/// A freshly registered client and its secret, shown once.
#[derive(Debug, Clone)]
pub struct RegisteredClient {
    pub client: Client,
    pub secret: Option<String>,
}

/// A freshly created API credential and its secret, shown once.
#[derive(Debug, Clone)]
pub struct CreatedApiCredential {
    pub credential: ApiCredential,
    pub secret: String,
}

/// The actions of WHMCS's "Authentication" API role.
pub const AUTHENTICATION_ROLE_ACTIONS: &[&str] = &[
    "CreateOAuthCredential",
    "ListOAuthCredentials",
    "UpdateOAuthCredential",
    "DeleteOAuthCredential",
    "CreateSsoToken",
    "ValidateLogin",
];

impl Engine {
    pub fn create_user(&self, input: UserInput) -> Result<User, EngineError> {
        let email = normalize_email(&input.email)
            .ok_or_else(|| EngineError::Invalid(format!("{:?} is not a valid e-mail address", input.email)))?;
        let password_hash = match input.password.as_deref() {
            Some(p) => Some(secret::hash_password(p).map_err(|e| EngineError::Invalid(e.to_string()))?),
            None => None,
        };
        let (given, family) = split_name(&input.name);
        let ts = self.now();
        let user = self.store.insert_user(&NewUser {
            uuid: generate_token(),
            email,
            email_verified: input.email_verified,
            display_name: input.name.trim().to_string(),
            given_name: given,
            family_name: family,
            locale: input.locale.unwrap_or_default(),
            password_hash,
            status: input.status.unwrap_or(UserStatus::Active),
            allow_sso: input.allow_sso.unwrap_or(true),
            created_at: ts,
            updated_at: ts,
        })?;
        self.audit(AuditRecord {
            kind: "user.created",
            message: format!("User created: ID {} ({})", user.id, user.email),
            user_id: Some(user.id),
            ..Default::default()
        })?;
        self.notify_user_event(UserEvent::Created, &user);
        Ok(user)
    }

    /// Tells connector plugins about a change to a user (provisioning).
    pub fn notify_user_event(&self, event: UserEvent, user: &User) {
        if let Some(hooks) = self.hooks() {
            hooks.user_event(event, user);
        }
    }

    /// Users by id, a page at a time.
    pub fn list_users(&self, limit: i64, offset: i64) -> Result<Vec<User>, EngineError> {
        Ok(self.store.list_users(limit.clamp(1, 10_000), offset.max(0))?)
    }

    /// Every API credential (secrets are never kept, only digests).
    pub fn api_credentials(&self) -> Result<Vec<ApiCredential>, EngineError> {
        Ok(self.store.list_api_credentials()?)
    }

    /// Whether `loc` is a redirect or post-logout URI some client
    /// registered, exactly or followed by a query (a plugin route may send
    /// the browser there).
    pub fn is_registered_redirect(&self, loc: &str) -> Result<bool, EngineError> {
        let clients = self.store.list_clients()?;
        Ok(clients
            .iter()
            .flat_map(|c| c.redirect_uris.iter().chain(c.post_logout_redirect_uris.iter()))
            .any(|uri| gatehouse_core::redirect::is_uri_plus_query(loc, uri)))
    }

    /// Finds a user by numeric id or e-mail.
    pub fn find_user(&self, id_or_email: &str) -> Result<User, EngineError> {
        let key = id_or_email.trim();
        let found = if let Ok(id) = key.parse::<i64>() {
            self.store.user_by_id(id)?
        } else if let Some(email) = normalize_email(key) {
            self.store.user_by_email(&email)?
        } else {
            None
        };
        found.ok_or_else(|| EngineError::NotFound(format!("user {key:?}")))
    }

    /// Changes a user's status. Closing a user ends their sessions and
    /// revokes every token they hold.
    pub fn set_user_status(&self, user_id: i64, status: UserStatus) -> Result<User, EngineError> {
        let ts = self.now();
        if !self.store.set_user_status(user_id, status, ts)? {
            return Err(EngineError::NotFound(format!("user {user_id}")));
        }
        if status == UserStatus::Closed {
            let ended = self.store.revoke_sessions_of_user(user_id, ts)?;
            self.store.revoke_grants_of_user(user_id, ts)?;
            self.sessions_ended(user_id, &ended, crate::logout::EndReason::AccountClosed);
        }
        self.audit(AuditRecord {
            kind: "user.status",
            message: format!("User ID: {user_id} status set to {status}"),
            user_id: Some(user_id),
            ..Default::default()
        })?;
        let user = self.store.user_by_id(user_id)?.ok_or_else(|| EngineError::NotFound(format!("user {user_id}")))?;
        self.notify_user_event(UserEvent::StatusChanged, &user);
        Ok(user)
    }

    /// The upstream identities linked to a user (sign-in through plugins).
    pub fn identity_links(&self, user_id: i64) -> Result<Vec<gatehouse_store::IdentityLink>, EngineError> {
        Ok(self.store.identity_links_of_user(user_id)?)
    }

    /// Removes one of the user's own identity links; `false` when the user
    /// has no such link (someone else's link is never touched).
    pub fn unlink_identity(&self, user_id: i64, plugin: &str, subject: &str) -> Result<bool, EngineError> {
        match self.store.identity_link(plugin, subject)? {
            Some(link) if link.user_id == user_id => {
                self.store.delete_identity_link(plugin, subject)?;
                self.audit(AuditRecord {
                    kind: "federation.unlinked",
                    message: format!("User ID: {user_id} unlinked their {plugin} sign-in"),
                    user_id: Some(user_id),
                    ..Default::default()
                })?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Sets a user's password (an operator's reset). Every session of the
    /// user ends and every token they hold is revoked: whoever knew the old
    /// password is out. Audited.
    pub fn set_password(&self, user_id: i64, password: &str) -> Result<User, EngineError> {
        if password.chars().count() < 8 {
            return Err(EngineError::Invalid("a password needs at least 8 characters".into()));
        }
        let hash = secret::hash_password(password).map_err(|e| EngineError::Invalid(e.to_string()))?;
        let ts = self.now();
        let changes = gatehouse_store::UserChanges { password_hash: Some(Some(hash)), ..Default::default() };
        let user = self.store.update_user(user_id, &changes, ts)?;
        let ended = self.store.revoke_sessions_of_user(user_id, ts)?;
        self.store.revoke_grants_of_user(user_id, ts)?;
        self.sessions_ended(user_id, &ended, crate::logout::EndReason::PasswordChanged);
        self.audit(AuditRecord {
            kind: "user.password_set",
            message: format!("User ID: {user_id} password set; sessions ended and tokens revoked"),
            user_id: Some(user_id),
            ..Default::default()
        })?;
        Ok(user)
    }

    /// Gives a client to a connector plugin (`None`: no connector).
    pub fn set_client_connector(&self, id: i64, connector: Option<&str>) -> Result<Client, EngineError> {
        if let Some(c) = connector {
            if c.is_empty()
                || !c.chars().all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_' || ch == '-')
            {
                return Err(EngineError::Invalid(format!("connector {c:?}: expected a plugin name ([a-z0-9_-]+)")));
            }
        }
        let client = self.store.set_client_connector(id, connector, self.now())?;
        self.forget_clients();
        self.audit(AuditRecord {
            kind: "client.updated",
            message: format!("OAuth client updated: {} (connector {})", client.client_id, connector.unwrap_or("none")),
            client_id: Some(&client.client_id),
            ..Default::default()
        })?;
        Ok(client)
    }

    /// Switches the user's "Allow Single Sign-On" setting.
    pub fn set_user_allow_sso(&self, user_id: i64, allow: bool) -> Result<User, EngineError> {
        if !self.store.set_user_allow_sso(user_id, allow, self.now())? {
            return Err(EngineError::NotFound(format!("user {user_id}")));
        }
        self.audit(AuditRecord {
            kind: "user.sso",
            message: format!("User ID: {user_id} single sign-on {}", if allow { "allowed" } else { "disallowed" }),
            user_id: Some(user_id),
            ..Default::default()
        })?;
        self.store.user_by_id(user_id)?.ok_or_else(|| EngineError::NotFound(format!("user {user_id}")))
    }

    /// Checks that every scope is in the catalog; returns the first that is not.
    pub fn unknown_scope<'a>(&self, scopes: &'a ScopeSet) -> Option<&'a str> {
        scopes.iter().find(|s| !self.catalog.contains(s))
    }

    /// Validates a client registration.
    fn validate_client(
        &self,
        grant_types: &[GrantType],
        scopes: &ScopeSet,
        redirect_uris: &[String],
    ) -> Result<(), EngineError> {
        for uri in redirect_uris {
            validate_for_registration(uri).map_err(|e| EngineError::Invalid(e.to_string()))?;
        }
        if let Some(s) = self.unknown_scope(scopes) {
            return Err(EngineError::Invalid(format!("unknown scope {s:?}")));
        }
        if grant_types.contains(&GrantType::AuthorizationCode) && redirect_uris.is_empty() {
            return Err(EngineError::Invalid(
                "a client with the authorization_code grant needs at least one redirect URI".into(),
            ));
        }
        Ok(())
    }

    /// Registers a client; generates its id and (for confidential clients)
    /// its secret, which is returned once and stored only as a digest.
    pub fn register_client(&self, input: ClientInput) -> Result<RegisteredClient, EngineError> {
        self.register_client_as(Actor::Operator, input)
    }

    /// Registers a client on behalf of `actor`; a plugin's client is
    /// managed by that plugin and can never name users.
    pub fn register_client_as(&self, actor: Actor<'_>, input: ClientInput) -> Result<RegisteredClient, EngineError> {
        let managed_by = match actor {
            Actor::Operator => None,
            Actor::Plugin(name) => {
                if input.may_name_users {
                    return Err(EngineError::Invalid("only the operator may create a client that names users".into()));
                }
                if input.scopes.contains(gatehouse_core::scope::ADMIN_SCOPE) {
                    return Err(EngineError::Invalid("only the operator may give a client the admin scope".into()));
                }
                Some(name.to_string())
            }
        };
        let grant_types = if input.grant_types.is_empty() {
            vec![GrantType::AuthorizationCode, GrantType::RefreshToken]
        } else {
            input.grant_types.clone()
        };
        if input.name.trim().is_empty() {
            return Err(EngineError::Invalid("a client needs a name".into()));
        }
        self.validate_client(&grant_types, &input.scopes, &input.redirect_uris)?;
        validate_logo(&input.logo_uri)?;
        for uri in &input.post_logout_redirect_uris {
            validate_for_registration(uri).map_err(|e| EngineError::Invalid(e.to_string()))?;
        }
        for uri in input.backchannel_logout_uri.iter().chain(input.frontchannel_logout_uri.iter()) {
            validate_logout_uri(uri)?;
        }
        if input.is_public
            && (grant_types.contains(&GrantType::ClientCredentials) || grant_types.contains(&GrantType::SingleSignOn))
        {
            return Err(EngineError::Invalid(
                "a public client cannot use the client_credentials or single_sign_on grant".into(),
            ));
        }
        if let Some(c) = &input.connector {
            if c.is_empty()
                || !c.chars().all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_' || ch == '-')
            {
                return Err(EngineError::Invalid(format!("connector {c:?}: expected a plugin name ([a-z0-9_-]+)")));
            }
        }
        if input.may_name_users && (!grant_types.contains(&GrantType::SingleSignOn) || input.bound_account_id.is_some())
        {
            return Err(EngineError::Invalid(
                "--may-name-users is for single_sign_on clients bound to no account".into(),
            ));
        }
        let alg = match input.id_token_alg.as_deref() {
            None | Some("") => SigningAlg::default(),
            Some(a) => a.parse::<SigningAlg>().map_err(|e| EngineError::Invalid(e.to_string()))?,
        };
        // Client ids stay URL-safe and never contain ':' (HTTP Basic splits on it).
        let client_id = match &input.client_id_prefix {
            Some(p) => format!("{}.{}", sanitize_prefix(p), secret::generate_hex(16)),
            None => secret::generate_hex(16),
        };
        let secret = (!input.is_public).then(secret::generate_base64_secret);
        let client = self.store.insert_client(
            &NewClient {
                client_id,
                secret_digest: secret.as_deref().map(secret::digest),
                name: input.name.trim().to_string(),
                description: input.description,
                logo_uri: input.logo_uri,
                grant_types,
                scopes: input.scopes,
                redirect_uris: input.redirect_uris,
                post_logout_redirect_uris: input.post_logout_redirect_uris,
                is_public: input.is_public,
                first_party: input.first_party,
                bound_account_id: input.bound_account_id,
                id_token_alg: alg,
                connector: input.connector,
                may_name_users: input.may_name_users,
                managed_by,
                backchannel_logout_uri: input.backchannel_logout_uri.filter(|u| !u.is_empty()),
                frontchannel_logout_uri: input.frontchannel_logout_uri.filter(|u| !u.is_empty()),
                require_2fa: input.require_2fa,
            },
            self.now(),
        )?;
        self.audit(AuditRecord {
            kind: "client.created",
            message: format!("OAuth client created: {} ({})", client.client_id, client.name),
            client_id: Some(&client.client_id),
            ..Default::default()
        })?;
        Ok(RegisteredClient { client, secret })
    }

    /// Updates a client; with `reset_secret` a new secret is generated and
    /// returned once.
    pub fn update_client(
        &self,
        id: i64,
        changes: ClientChanges,
        reset_secret: bool,
    ) -> Result<(Client, Option<String>), EngineError> {
        self.update_client_as(Actor::Operator, id, changes, reset_secret)
    }

    /// Updates a client `actor` may manage (others are "not found").
    pub fn update_client_as(
        &self,
        actor: Actor<'_>,
        id: i64,
        mut changes: ClientChanges,
        reset_secret: bool,
    ) -> Result<(Client, Option<String>), EngineError> {
        let current = self.client_for(actor, id)?;
        let grants = changes.grant_types.clone().unwrap_or(current.grant_types.clone());
        let scopes = changes.scopes.clone().unwrap_or(current.scopes.clone());
        if matches!(actor, Actor::Plugin(_))
            && scopes.contains(gatehouse_core::scope::ADMIN_SCOPE)
            && !current.scopes.contains(gatehouse_core::scope::ADMIN_SCOPE)
        {
            return Err(EngineError::Invalid("only the operator may give a client the admin scope".into()));
        }
        let uris = changes.redirect_uris.clone().unwrap_or(current.redirect_uris.clone());
        self.validate_client(&grants, &scopes, &uris)?;
        if let Some(logo) = &changes.logo_uri {
            validate_logo(logo)?;
        }
        for uri in changes.post_logout_redirect_uris.iter().flatten() {
            validate_for_registration(uri).map_err(|e| EngineError::Invalid(e.to_string()))?;
        }
        for uri in [&changes.backchannel_logout_uri, &changes.frontchannel_logout_uri].into_iter().flatten().flatten() {
            validate_logout_uri(uri)?;
        }
        if matches!(actor, Actor::Plugin(_)) && changes.first_party.is_some_and(|f| f != current.first_party) {
            return Err(EngineError::Invalid("only the operator may make a client first party".into()));
        }
        let new_secret = reset_secret.then(secret::generate_base64_secret);
        if let Some(s) = &new_secret {
            changes.secret_digest = Some(secret::digest(s));
        }
        let client = self.store.update_client(id, &changes, self.now())?;
        self.forget_clients();
        self.audit(AuditRecord {
            kind: "client.updated",
            message: format!(
                "OAuth client updated: {}{}",
                client.client_id,
                if reset_secret { " (secret reset)" } else { "" }
            ),
            client_id: Some(&client.client_id),
            ..Default::default()
        })?;
        Ok((client, new_secret))
    }

    pub fn remove_client(&self, id: i64) -> Result<Client, EngineError> {
        self.remove_client_as(Actor::Operator, id)
    }

    /// Removes a client `actor` may manage.
    pub fn remove_client_as(&self, actor: Actor<'_>, id: i64) -> Result<Client, EngineError> {
        let client = self.client_for(actor, id)?;
        self.store.delete_client(id)?;
        self.forget_clients();
        self.audit(AuditRecord {
            kind: "client.removed",
            message: format!("OAuth client removed: {}", client.client_id),
            client_id: Some(&client.client_id),
            ..Default::default()
        })?;
        Ok(client)
    }

    /// The client with numeric id `id`, if `actor` may manage it; a client
    /// out of the actor's reach is "not found", so its existence leaks not.
    fn client_for(&self, actor: Actor<'_>, id: i64) -> Result<Client, EngineError> {
        self.store
            .client_by_id(id)?
            .filter(|c| actor.may_manage(c))
            .ok_or_else(|| EngineError::NotFound(format!("client {id}")))
    }

    /// The clients `actor` may see, by id.
    pub fn clients_as(&self, actor: Actor<'_>) -> Result<Vec<Client>, EngineError> {
        let mut all = self.store.list_clients()?;
        all.retain(|c| actor.may_manage(c));
        Ok(all)
    }

    /// [`Engine::find_client`] within what `actor` may see.
    pub fn find_client_as(&self, actor: Actor<'_>, key: &str) -> Result<Client, EngineError> {
        let c = self.find_client(key)?;
        if actor.may_manage(&c) {
            Ok(c)
        } else {
            Err(EngineError::NotFound(format!("client {:?}", key.trim())))
        }
    }

    /// Finds a client by its numeric id or its client id.
    pub fn find_client(&self, key: &str) -> Result<Client, EngineError> {
        let key = key.trim();
        let by_client_id = self.store.client_by_client_id(key)?;
        let found = match (by_client_id, key.parse::<i64>()) {
            (Some(c), _) => Some(c),
            (None, Ok(id)) => self.store.client_by_id(id)?,
            (None, Err(_)) => None,
        };
        found.ok_or_else(|| EngineError::NotFound(format!("client {key:?}")))
    }

    /// The client with this client id, from the cache when it is fresh.
    pub fn client_by_client_id(&self, client_id: &str) -> Result<Option<Client>, EngineError> {
        if let Some(c) = self.cached_client(client_id) {
            return Ok(Some(c));
        }
        let now = self.now();
        let found = self.store.client_by_client_id(client_id)?;
        let mut cache = self.clients.0.lock().unwrap_or_else(|e| e.into_inner());
        match &found {
            Some(c) => {
                if cache.len() >= CLIENT_CACHE_MAX {
                    cache.clear();
                }
                cache.insert(client_id.to_string(), (now, c.clone()));
            }
            None => {
                cache.remove(client_id);
            }
        }
        Ok(found)
    }

    /// The cached client with this id when its entry is fresh.
    fn cached_client(&self, client_id: &str) -> Option<Client> {
        let now = self.now();
        let cache = self.clients.0.lock().unwrap_or_else(|e| e.into_inner());
        let (at, c) = cache.get(client_id)?;
        (now >= *at && now - at < CLIENT_CACHE_SECS).then(|| c.clone())
    }

    /// The cached client with this id when it is fresh and `secret_value`
    /// is its secret (constant-time); never reads the database. `None`
    /// also when it is not cached: ask [`Engine::authenticate_client`].
    pub fn cached_client_with_secret(&self, client_id: &str, secret_value: &str) -> Option<Client> {
        let client = self.cached_client(client_id)?;
        client.secret_digest.as_deref().is_some_and(|d| secret::verify_digest(secret_value, d)).then_some(client)
    }

    /// Forgets every cached client (after this replica changed one).
    fn forget_clients(&self) {
        self.clients.0.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// Authenticates a confidential client by id and secret (constant-time).
    /// Returns `None` for an unknown client or a wrong secret alike.
    pub fn authenticate_client(&self, client_id: &str, secret_value: &str) -> Result<Option<Client>, EngineError> {
        let Some(client) = self.client_by_client_id(client_id)? else {
            // Spend the same digest work for unknown ids.
            let _ = secret::verify_digest(secret_value, "0");
            return Ok(None);
        };
        let verifies = |c: &Client| c.secret_digest.as_deref().is_some_and(|d| secret::verify_digest(secret_value, d));
        if verifies(&client) {
            return Ok(Some(client));
        }
        // The cached row may predate a secret reset made elsewhere (the
        // CLI, another replica): a new secret must work at once.
        self.clients.0.lock().unwrap_or_else(|e| e.into_inner()).remove(client_id);
        Ok(self.store.client_by_client_id(client_id)?.filter(|c| verifies(c)))
    }

    /// Creates an API credential for the admin API.
    pub fn create_api_credential(
        &self,
        description: &str,
        role: Option<&str>,
        actions: &[String],
        allowed_ips: &[String],
    ) -> Result<CreatedApiCredential, EngineError> {
        if let Some(r) = role {
            if !r.eq_ignore_ascii_case("authentication") {
                return Err(EngineError::Invalid(format!(
                    "unknown API role {r:?}: the only role is \"authentication\""
                )));
            }
        }
        for ip in allowed_ips {
            if ip.parse::<std::net::IpAddr>().is_err() {
                return Err(EngineError::Invalid(format!("{ip:?} is not an IP address")));
            }
        }
        for a in actions {
            if a.is_empty() || !a.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(EngineError::Invalid(format!("{a:?} is not an API action name")));
            }
        }
        if role.is_none() && actions.is_empty() {
            return Err(EngineError::Invalid("an API credential needs a role or at least one action".into()));
        }
        let secret = secret::generate_token();
        let credential = self.store.insert_api_credential(&NewApiCredential {
            identifier: secret::generate_token(),
            secret_digest: secret::digest(&secret),
            description: description.to_string(),
            role: role.map(|r| r.to_ascii_lowercase()),
            actions: actions.join(" "),
            allowed_ips: allowed_ips.join(" "),
            created_at: self.now(),
        })?;
        self.audit(AuditRecord {
            kind: "api_credential.created",
            message: format!("API credential created: ID {}", credential.id),
            ..Default::default()
        })?;
        Ok(CreatedApiCredential { credential, secret })
    }

    pub fn remove_api_credential(&self, id: i64) -> Result<(), EngineError> {
        if !self.store.delete_api_credential(id)? {
            return Err(EngineError::NotFound(format!("API credential {id}")));
        }
        self.audit(AuditRecord {
            kind: "api_credential.removed",
            message: format!("API credential removed: ID {id}"),
            ..Default::default()
        })?;
        Ok(())
    }

    /// Authenticates an API credential; `None` when unknown or wrong secret.
    pub fn authenticate_api_credential(
        &self,
        identifier: &str,
        secret_value: &str,
    ) -> Result<Option<ApiCredential>, EngineError> {
        Ok(self.check_api_credential_secret(identifier, secret_value)?.and_then(|(c, ok)| ok.then_some(c)))
    }

    /// The API credential `identifier` names and whether `secret_value` is
    /// its secret; `None` when no credential has that identifier. The
    /// digest is checked either way (no timing difference).
    pub fn check_api_credential_secret(
        &self,
        identifier: &str,
        secret_value: &str,
    ) -> Result<Option<(ApiCredential, bool)>, EngineError> {
        let Some(cred) = self.store.api_credential_by_identifier(identifier)? else {
            let _ = secret::verify_digest(secret_value, "0");
            return Ok(None);
        };
        let ok = secret::verify_digest(secret_value, &cred.secret_digest);
        Ok(Some((cred, ok)))
    }
}

/// Whether an API credential may call `action` (by its role or its list).
pub fn api_credential_allows(cred: &ApiCredential, action: &str) -> bool {
    let by_role = cred.role.as_deref().is_some_and(|r| r.eq_ignore_ascii_case("authentication"))
        && AUTHENTICATION_ROLE_ACTIONS.iter().any(|a| a.eq_ignore_ascii_case(action));
    by_role || cred.action_list().iter().any(|a| a.eq_ignore_ascii_case(action))
}

/// A logo is shown on pages: empty, or an https URL.
fn validate_logo(uri: &str) -> Result<(), EngineError> {
    if uri.trim().is_empty() {
        return Ok(());
    }
    gatehouse_core::redirect::validate_web_url(uri).map_err(|e| EngineError::Invalid(format!("logo URI: {e}")))
}

fn sanitize_prefix(p: &str) -> String {
    let s: String = p
        .trim()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c.to_ascii_uppercase() } else { '-' })
        .collect();
    if s.is_empty() {
        "GATEHOUSE".into()
    } else {
        s
    }
}

/// A back- or front-channel logout URI: absolute, no fragment (Back-Channel
/// Logout §2.2), HTTPS except on loopback, like a redirect URI.
fn validate_logout_uri(uri: &str) -> Result<(), EngineError> {
    validate_for_registration(uri).map_err(|e| EngineError::Invalid(format!("logout URI {uri:?}: {e}")))?;
    gatehouse_core::redirect::validate_web_url(uri).map_err(|e| EngineError::Invalid(format!("logout URI: {e}")))
}
