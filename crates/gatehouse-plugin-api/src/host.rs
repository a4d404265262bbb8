//! The host-services client: typed wrappers over the host vtable's
//! `host_call`. Every method blocks (the host talks to its database); that is
//! fine, plugin calls run on the host's blocking pool.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::abi::{HostVtable, RSlice};
use crate::messages::host_methods as m;
use crate::messages::*;

static HOST: OnceLock<HostVtable> = OnceLock::new();

/// A handle on the host's services. Cheap to copy; valid for the process.
///
/// Every service in one place (the same example as `plugins/README.md`):
///
/// ```no_run
/// # use gatehouse_plugin_api::prelude::*;
/// # use gatehouse_plugin_api::messages::*;
/// # fn f(h: Host) -> Result<(), Error> {
/// let me = h.info()?;                                   // me.issuer, me.plugin_name
/// h.log(LogLevel::Info, "forum reachable");
/// let u = h.user("ada@example.com")?;                   // or h.user("42"); u.groups
/// let new = h.create_user(&NewUser { email: "b@example.com".into(), name: "B".into(), ..Default::default() })?;
/// h.set_user_status(new.id, "Inactive")?;
/// if let Some(u) = h.verify_password_from("ada@example.com", "secret", "203.0.113.9")? {
///     // the right password, and the account is not Closed
/// }
/// let acct = h.create_account("Ada's shop", u.id)?;
/// let app = h.create_client(&NewClient {
///     name: "Forum".into(),
///     redirect_uris: vec!["https://forum.example/cb".into()],
///     grant_types: vec!["authorization_code".into(), "single_sign_on".into()],
///     bound_account_id: Some(acct.id),
///     ..Default::default()
/// })?;
/// let token = h.issue_sso_token(&app.client.client_id, u.id, None, Default::default())?;
/// let session = h.start_session(&StartSession { user_id: u.id, via: "myplugin".into(), ..Default::default() })?;
/// h.audit(&AuditLine { kind: "linked".into(), message: "forum account linked".into(), user_id: Some(u.id), ..Default::default() })?;
/// h.kv_set("forum_id:42", "77")?;
/// let seen_before = !h.kv_insert_new("nonce:abc", "1", Some(3600))?;
/// # let _ = (me, token, session, seen_before);
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Host {
    vtable: HostVtable,
}

impl Host {
    /// Keeps the vtable for [`Host::get`] and returns a handle.
    pub(crate) fn install(vtable: HostVtable) -> Host {
        let _ = HOST.set(vtable);
        Host { vtable }
    }

    /// The host handle, once `init` has been called.
    pub fn get() -> Option<Host> {
        HOST.get().map(|vt| Host { vtable: *vt })
    }

    /// Calls a host method with a JSON payload: the escape hatch under every
    /// typed wrapper.
    pub fn call<Req: Serialize + ?Sized, Resp: DeserializeOwned>(
        &self,
        method: &str,
        req: &Req,
    ) -> Result<Resp, Error> {
        let payload = serde_json::to_vec(req).map_err(|e| Error::internal(format!("cannot encode {method}: {e}")))?;
        let vt = self.vtable;
        // SAFETY: the host's vtable contract: `ctx` is the host's, both slices
        // are valid for the call, and the returned buffer is the host's.
        let buf = unsafe { (vt.call)(vt.ctx, RSlice::new(method.as_bytes()), RSlice::new(&payload)) };
        // SAFETY: the host returned an owned buffer of `len` readable bytes.
        let bytes = unsafe { RSlice { ptr: buf.ptr, len: buf.len }.as_bytes() };
        let reply: Result<Reply<Resp>, _> = serde_json::from_slice(bytes);
        // SAFETY: handed back exactly once to the allocator's side; `bytes` is not used after.
        unsafe { (vt.free_buffer)(buf) };
        reply.map_err(|e| Error::internal(format!("malformed reply to {method}: {e}")))?.into_result()
    }

    // --- host and configuration ------------------------------------------

    /// Issuer, client-area URL, this plugin's name.
    pub fn info(&self) -> Result<HostInfo, Error> {
        self.call(m::INFO, &())
    }

    /// The plugin's `[plugins.config]` table.
    pub fn config(&self) -> Result<Value, Error> {
        self.call(m::CONFIG, &())
    }

    /// Writes a line to the server's log, tagged with the plugin and request.
    pub fn log(&self, level: LogLevel, message: impl Into<String>) {
        let _: Result<(), _> = self.call(m::LOG, &LogLine { level, message: message.into() });
    }

    /// The scope catalog.
    pub fn scopes(&self) -> Result<Vec<ScopeInfo>, Error> {
        self.call(m::SCOPES, &())
    }

    // --- users and accounts ---------------------------------------------

    /// A user by numeric id or e-mail.
    pub fn user(&self, id_or_email: &str) -> Result<User, Error> {
        self.call(m::USER_GET, &Lookup { key: id_or_email.into() })
    }

    /// Creates a user (`conflict` when the e-mail is taken). Every
    /// `client_connector` plugin then gets a `created` [`UserEvent`],
    /// possibly this one, on this thread, before this call returns.
    pub fn create_user(&self, new: &NewUser) -> Result<User, Error> {
        self.call(m::USER_CREATE, new)
    }

    /// Sets a user's status: `Active`, `Inactive` or `Closed` (any case).
    /// Closing ends the user's sessions and revokes their tokens. Sends a
    /// `status_changed` [`UserEvent`] as [`Host::create_user`] does.
    pub fn set_user_status(&self, user_id: i64, status: &str) -> Result<User, Error> {
        self.call(m::USER_SET_STATUS, &SetUserStatus { user_id, status: status.into() })
    }

    /// Switches the user's "Allow Single Sign-On" setting
    /// ([`User::allow_sso`]).
    pub fn set_user_allow_sso(&self, user_id: i64, allow: bool) -> Result<User, Error> {
        self.call(m::USER_SET_ALLOW_SSO, &SetUserAllowSso { user_id, allow })
    }

    /// Checks a user's password with the login page's rules: rate limits
    /// per account and per caller, every failure audited, the same time
    /// for an unknown e-mail. `None`: wrong e-mail or password, or a user
    /// who may not sign in. Too many failures: a `forbidden` error.
    pub fn verify_password(&self, email: &str, password: &str) -> Result<Option<User>, Error> {
        self.verify_password_from(email, password, "")
    }

    /// [`Host::verify_password`] for a caller at `ip` (the rate limit
    /// per address counts by it).
    pub fn verify_password_from(&self, email: &str, password: &str, ip: &str) -> Result<Option<User>, Error> {
        self.call(
            m::USER_VERIFY_PASSWORD,
            &VerifyPassword { email: email.into(), password: password.into(), ip: ip.into() },
        )
    }

    /// An account by numeric id.
    pub fn account(&self, id: i64) -> Result<Account, Error> {
        self.call(m::ACCOUNT_GET, &IdArg { id })
    }

    /// The accounts the user owns or is a member of.
    pub fn accounts_of_user(&self, user_id: i64) -> Result<Vec<Account>, Error> {
        self.call(m::ACCOUNTS_OF_USER, &IdArg { id: user_id })
    }

    /// Creates an account owned by an existing user.
    pub fn create_account(&self, name: &str, owner_user_id: i64) -> Result<Account, Error> {
        self.call(m::ACCOUNT_CREATE, &NewAccount { name: name.into(), owner_user_id })
    }

    /// Adds an existing user to an existing account; `conflict` when the user
    /// already belongs to it (as a member or its owner).
    pub fn add_account_member(&self, account_id: i64, user_id: i64) -> Result<(), Error> {
        self.call(m::ACCOUNT_ADD_MEMBER, &AccountMember { account_id, user_id })
    }

    // --- OAuth clients ----------------------------------------------------

    /// Registers a client; the secret is in the answer, and only there.
    pub fn create_client(&self, new: &NewClient) -> Result<ClientWithSecret, Error> {
        self.call(m::CLIENT_CREATE, new)
    }

    /// The clients this plugin created. A plugin reaches no other client
    /// through the host (they are `not_found`), except in
    /// [`Host::authenticate_client`].
    pub fn clients(&self) -> Result<Vec<Client>, Error> {
        self.call(m::CLIENT_LIST, &())
    }

    /// One of this plugin's clients, by numeric id or `client_id`.
    pub fn client(&self, key: &str) -> Result<Client, Error> {
        self.call(m::CLIENT_GET, &Lookup { key: key.into() })
    }

    /// Updates a client; with `reset_secret` the new secret is in the answer.
    pub fn update_client(&self, update: &ClientUpdate) -> Result<ClientWithSecret, Error> {
        self.call(m::CLIENT_UPDATE, update)
    }

    /// Removes a client (and returns it).
    pub fn delete_client(&self, id: i64) -> Result<Client, Error> {
        self.call(m::CLIENT_DELETE, &IdArg { id })
    }

    /// Checks a client's secret (constant time); `None` when wrong or unknown.
    pub fn authenticate_client(&self, client_id: &str, secret: &str) -> Result<Option<Client>, Error> {
        self.call(m::CLIENT_AUTHENTICATE, &ClientCredentials { client_id: client_id.into(), secret: secret.into() })
    }

    /// Checks an admin API credential and whether it may call `action`.
    pub fn check_api_credential(
        &self,
        identifier: &str,
        secret: &str,
        action: &str,
    ) -> Result<ApiCredentialVerdict, Error> {
        self.call(
            m::API_CREDENTIAL_CHECK,
            &ApiCredentialCheck { identifier: identifier.into(), secret: secret.into(), action: action.into() },
        )
    }

    // --- tokens and sessions ----------------------------------------------

    /// Issues a single-use SSO token for a user through a client.
    pub fn issue_sso_token(
        &self,
        client_id: &str,
        user_id: i64,
        destination: Option<&str>,
        params: BTreeMap<String, String>,
    ) -> Result<SsoToken, Error> {
        self.call(
            m::SSO_TOKEN_ISSUE,
            &IssueSsoToken {
                client_id: client_id.into(),
                user_id,
                destination: destination.map(str::to_string),
                params,
            },
        )
    }

    /// Starts a browser session; set the returned cookie on your response (or
    /// use [`HttpResponse::with_session`], which does it for you).
    pub fn start_session(&self, req: &StartSession) -> Result<Session, Error> {
        self.call(m::SESSION_START, req)
    }

    /// Ends the member's browser session at Gatehouse (schema 3): the
    /// session of [`RouteUser`] in a route, for a "sign out here too" flow.
    /// Clients the session signed in to get back-channel logout tokens.
    /// `true` when the session was live.
    ///
    /// ```no_run
    /// # use gatehouse_plugin_api::{Host, messages::*};
    /// # fn f(host: Host, req: HttpRequest) -> Result<(), Error> {
    /// if let Some(u) = &req.user {
    ///     host.end_session(&EndSession { user_id: u.id, session_id: u.session_id })?;
    /// }
    /// # Ok(()) }
    /// ```
    pub fn end_session(&self, req: &EndSession) -> Result<bool, Error> {
        self.call(m::SESSION_END, req)
    }

    // --- audit and storage ------------------------------------------------

    /// Writes an audit event (table and log).
    pub fn audit(&self, line: &AuditLine) -> Result<(), Error> {
        self.call(m::AUDIT, line)
    }

    /// A value from this plugin's key-value store.
    pub fn kv_get(&self, key: &str) -> Result<Option<String>, Error> {
        self.call(m::KV_GET, &KvKey { key: key.into() })
    }

    /// Stores a value in this plugin's key-value store, replacing any
    /// previous one.
    pub fn kv_set(&self, key: &str, value: &str) -> Result<(), Error> {
        self.call(m::KV_SET, &KvEntry { key: key.into(), value: value.into() })
    }

    /// Stores `value` under `key` only if the key is unset or expired, for
    /// `ttl_secs` (`None`: until deleted). `Ok(false)`: it was already set.
    /// Atomic across replicas, so it is the way to accept a nonce once.
    ///
    /// ```no_run
    /// # use gatehouse_plugin_api::{Host, messages::Error};
    /// # fn f(host: Host, nonce: &str) -> Result<(), Error> {
    /// if !host.kv_insert_new(&format!("nonce:{nonce}"), "1", Some(86_400))? {
    ///     return Err(Error::invalid("this request was used already"));
    /// }
    /// # Ok(()) }
    /// ```
    pub fn kv_insert_new(&self, key: &str, value: &str, ttl_secs: Option<i64>) -> Result<bool, Error> {
        self.call(m::KV_INSERT_NEW, &KvNew { key: key.into(), value: value.into(), ttl_secs })
    }

    /// Removes a key; whether it existed.
    pub fn kv_delete(&self, key: &str) -> Result<bool, Error> {
        self.call(m::KV_DELETE, &KvKey { key: key.into() })
    }
}
