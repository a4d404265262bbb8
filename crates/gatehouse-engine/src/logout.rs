//! Telling clients that a member signed out: OpenID Connect Back-Channel
//! Logout 1.0 (a signed logout token posted to each client the ended
//! session signed in to) and Front-Channel Logout 1.0 (URLs the signed-out
//! page loads in iframes). Connector plugins hear a `signed_out` user event.
//!
//! Every way a session ends goes through [`Engine::sessions_ended`]: RP-initiated
//! logout, the account page, an administrator, a password reset or change,
//! closing the account. Delivery is a [`LogoutSender`]'s job, off the
//! request path; a failure never undoes the sign-out.

use gatehouse_core::secret::generate_token;
use serde_json::json;

use crate::audit::AuditRecord;
use crate::Engine;

/// The `events` member of a logout token (Back-Channel Logout §2.4).
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// The `typ` header of a logout token (Back-Channel Logout §2.4).
pub const LOGOUT_TOKEN_TYPE: &str = "logout+jwt";

/// How long a logout token is valid (seconds). Short: it is delivered now.
pub const LOGOUT_TOKEN_TTL: i64 = 120;

/// One logout token for one client, ready to post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackchannelLogout {
    pub client_id: String,
    /// The client's registered `backchannel_logout_uri`.
    pub uri: String,
    /// The signed logout token (the form field `logout_token`).
    pub logout_token: String,
    pub user_id: i64,
    pub sid: String,
}

/// Delivers logout tokens. `send` must return quickly: queue, then post
/// (with retries) elsewhere.
pub trait LogoutSender: Send + Sync {
    fn send(&self, notice: BackchannelLogout);
}

/// Why sessions ended, for the audit trail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// The member signed out (logout endpoint or account page).
    SignedOut,
    /// "Sign out everywhere else".
    OtherSessions,
    /// An administrator ended them.
    Administrator,
    /// The password was reset or changed.
    PasswordChanged,
    /// The account was closed.
    AccountClosed,
    /// A newer sign-in in the same browser replaced the session.
    Replaced,
    /// The upstream the member signed in through no longer vouches for them.
    UpstreamRefused,
}

impl EndReason {
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::SignedOut => "signed_out",
            EndReason::OtherSessions => "other_sessions",
            EndReason::Administrator => "administrator",
            EndReason::PasswordChanged => "password_changed",
            EndReason::AccountClosed => "account_closed",
            EndReason::Replaced => "replaced",
            EndReason::UpstreamRefused => "upstream_refused",
        }
    }
}

impl Engine {
    /// The `sid` claim of a session (in ID tokens and logout tokens).
    pub fn session_sid(&self, session_id: i64) -> String {
        self.keys.session_sid(session_id)
    }

    /// Installs the back-channel delivery (the server's worker).
    pub fn set_logout_sender(&mut self, sender: std::sync::Arc<dyn LogoutSender>) {
        self.logout_sender = Some(sender);
    }

    /// Tells everyone who needs to know that these sessions of `user_id`
    /// ended: a logout token for each client with a back-channel URI that
    /// the session signed in to, and a `signed_out` event for connectors.
    /// Errors are logged, never returned: the sessions have ended already.
    pub fn sessions_ended(&self, user_id: i64, session_ids: &[i64], reason: EndReason) {
        if session_ids.is_empty() {
            return;
        }
        if let Err(e) = self.notify_sessions_ended(user_id, session_ids, reason) {
            tracing::error!(error = %e, user_id, "could not send logout notifications");
        }
    }

    fn notify_sessions_ended(
        &self,
        user_id: i64,
        session_ids: &[i64],
        reason: EndReason,
    ) -> Result<(), crate::EngineError> {
        let Some(user) = self.store.user_by_id(user_id)? else { return Ok(()) };
        if let Some(hooks) = &self.hooks {
            hooks.user_event(gatehouse_core::UserEvent::SignedOut, &user);
        }
        let pairs = self.store.clients_of_sessions(session_ids)?;
        let ts = self.now();
        for (session_id, client_id) in pairs {
            let Some(client) = self.store.client_by_client_id(&client_id)? else { continue };
            let Some(uri) = client.backchannel_logout_uri.clone() else { continue };
            let sid = self.session_sid(session_id);
            let claims = json!({
                "iss": self.config.issuer,
                "aud": client.client_id,
                "iat": ts,
                "exp": ts + LOGOUT_TOKEN_TTL,
                "jti": generate_token(),
                "sub": user.uuid,
                "sid": sid,
                "events": { BACKCHANNEL_LOGOUT_EVENT: {} },
            });
            let token = match self.sign_typed_jwt(client.id_token_alg.as_str(), Some(LOGOUT_TOKEN_TYPE), &claims) {
                Ok(t) => t,
                Err(e) => {
                    self.audit(AuditRecord {
                        kind: "logout.backchannel_failed",
                        message: format!("Logout token for {client_id} could not be signed: {e}"),
                        user_id: Some(user_id),
                        client_id: Some(&client_id),
                        details: json!({ "reason": reason.as_str(), "error": e.to_string() }),
                        ..Default::default()
                    })?;
                    continue;
                }
            };
            match &self.logout_sender {
                Some(sender) => sender.send(BackchannelLogout {
                    client_id: client_id.clone(),
                    uri,
                    logout_token: token,
                    user_id,
                    sid,
                }),
                None => {
                    tracing::warn!(client_id, "no back-channel logout sender is running; a logout token was not sent")
                }
            }
        }
        Ok(())
    }

    /// The front-channel logout URLs of the clients a session signed in to,
    /// with `iss` and `sid` (Front-Channel Logout §2): the signed-out page
    /// loads each in an iframe.
    pub fn frontchannel_logout_urls(&self, session_id: i64) -> Result<Vec<String>, crate::EngineError> {
        let sid = self.session_sid(session_id);
        let mut urls = Vec::new();
        for (_, client_id) in self.store.clients_of_sessions(&[session_id])? {
            let Some(client) = self.store.client_by_client_id(&client_id)? else { continue };
            let Some(uri) = client.frontchannel_logout_uri else { continue };
            let Ok(mut url) = url::Url::parse(&uri) else { continue };
            url.query_pairs_mut().append_pair("iss", &self.config.issuer).append_pair("sid", &sid);
            urls.push(url.to_string());
        }
        Ok(urls)
    }
}
