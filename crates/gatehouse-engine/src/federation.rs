//! Sign-in through an upstream identity provider: who an upstream identity
//! is here. Identity links (plugin, upstream subject) → user decide, never
//! the e-mail alone:
//! - a known link signs in its user (the upstream's address may change);
//! - no link and no local user with the upstream-verified e-mail: a new
//!   user and a link;
//! - no link but a local user with that e-mail: linked only when the
//!   operator opted in (`[federation] link_verified_email`, the upstream is
//!   trusted to prove address ownership), refused otherwise (the user signs
//!   in with their password).
//!
//! Closed users are refused in every case, before any link is made. Every
//! outcome is audited (`login.federated`, `login.federated.failed`,
//! `federation.linked`).

use gatehouse_store::{IdentityLink, StoreError, User};

use crate::audit::AuditRecord;
use crate::directory::UserInput;
use crate::sessions::{BrowserContext, SignedIn};
use crate::{Engine, EngineError};

/// What an upstream provider asserted about the person signing in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpstreamIdentity {
    /// The upstream's stable subject (required).
    pub subject: String,
    pub email: Option<String>,
    /// Whether the upstream vouches for the e-mail.
    pub email_verified: bool,
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub locale: Option<String>,
}

/// What happens when an upstream identity signs in for the first time
/// (no identity link yet), per upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FirstSignIn {
    /// A new user, unless a local user has the e-mail (then refused, or
    /// linked when `[federation] link_verified_email` is on).
    #[default]
    Create,
    /// Link to the local user with the same upstream-verified e-mail, or
    /// create one (only for upstreams whose e-mails are trusted).
    LinkVerifiedEmail,
    /// Refuse unless an administrator linked the identity beforehand.
    Refuse,
}

impl std::str::FromStr for FirstSignIn {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "create" => Ok(FirstSignIn::Create),
            "link" | "link_verified_email" => Ok(FirstSignIn::LinkVerifiedEmail),
            "refuse" => Ok(FirstSignIn::Refuse),
            other => Err(format!("first_sign_in {other:?}: expected create, link or refuse")),
        }
    }
}

/// An upstream's first-sign-in rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpstreamPolicy {
    pub first_sign_in: FirstSignIn,
    /// When set, a first sign-in needs an e-mail address in one of these
    /// domains (lower case, no `@`).
    pub email_domains: Vec<String>,
    /// Upstream group → Gatehouse group (see [`Engine::apply_upstream_groups`]).
    pub group_map: std::collections::BTreeMap<String, String>,
}

/// What an upstream said when asked again about an identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamCheck {
    /// Still welcome; the refresh token to keep (rotated, or the same one).
    Vouched { refresh_token: String },
    /// The upstream refused (account disabled or deleted, grant revoked):
    /// its error.
    Refused(String),
    /// The upstream could not be asked (unreachable, misconfigured): why.
    Unavailable(String),
}

/// How long one replica may hold a re-check: longer than any upstream call
/// may take (the plugins time out after 10 s).
const RECHECK_LEASE_SECS: i64 = 60;

/// The associated data that binds a sealed upstream token to its link.
fn link_aad(upstream: &str, subject: &str) -> String {
    format!("link:{upstream}:{subject}")
}

/// How the upstream identity was resolved to a local user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FederatedOutcome {
    /// Through an existing link.
    Linked,
    /// A new user (and link) was created.
    Created,
    /// Linked to the local user with the same verified e-mail (opt-in).
    LinkedByEmail,
}

impl FederatedOutcome {
    /// The outcome's name in audit details.
    pub fn as_str(self) -> &'static str {
        match self {
            FederatedOutcome::Linked => "linked",
            FederatedOutcome::Created => "created",
            FederatedOutcome::LinkedByEmail => "linked_by_email",
        }
    }
}

/// Why the engine refused an upstream identity.
#[derive(Debug, thiserror::Error)]
pub enum FederationRefusal {
    #[error("the identity has no subject")]
    NoSubject,
    #[error("the provider asserted no verified e-mail address")]
    NoVerifiedEmail,
    #[error("no administrator linked this upstream identity to an account")]
    NotPreLinked,
    #[error("the e-mail address is not in a domain this upstream may sign in")]
    DomainNotAllowed,
    #[error("a local user already has e-mail {0} and linking by e-mail is off")]
    EmailTaken(String),
    #[error("user {0} may not sign in")]
    Closed(i64),
    #[error("the upstream identity is linked to another account")]
    LinkedToAnother,
    #[error(transparent)]
    Engine(#[from] EngineError),
}

impl From<StoreError> for FederationRefusal {
    fn from(e: StoreError) -> Self {
        FederationRefusal::Engine(e.into())
    }
}

impl FederationRefusal {
    /// The user the refusal is about, when known.
    pub fn user_id(&self) -> Option<i64> {
        match self {
            FederationRefusal::Closed(id) => Some(*id),
            _ => None,
        }
    }
}

/// A completed federated sign-in.
#[derive(Debug, Clone)]
pub struct FederatedSignIn {
    pub signed_in: SignedIn,
    pub user: User,
    pub outcome: FederatedOutcome,
}

impl Engine {
    /// Resolves the identity to a local user ([module docs](self)), signs
    /// them in to this browser and audits the outcome either way.
    pub fn federated_sign_in(
        &self,
        provider: &str,
        id: &UpstreamIdentity,
        ctx: &BrowserContext<'_>,
    ) -> Result<FederatedSignIn, FederationRefusal> {
        self.federated_sign_in_with(provider, &UpstreamPolicy::default(), id, ctx)
    }

    /// [`Engine::federated_sign_in`] under an upstream's own first-sign-in rules.
    pub fn federated_sign_in_with(
        &self,
        provider: &str,
        policy: &UpstreamPolicy,
        id: &UpstreamIdentity,
        ctx: &BrowserContext<'_>,
    ) -> Result<FederatedSignIn, FederationRefusal> {
        let out = self.resolve_with(provider, policy, id).and_then(|(user, outcome)| {
            let signed_in = self.sign_in(user.id, provider, ctx)?;
            Ok(FederatedSignIn { signed_in, user, outcome })
        });
        match &out {
            Ok(done) => self.audit(AuditRecord {
                kind: "login.federated",
                message: format!(
                    "User ID: {} signed in through {provider} (subject {}, {})",
                    done.user.id,
                    id.subject,
                    done.outcome.as_str()
                ),
                user_id: Some(done.user.id),
                ip: Some(ctx.ip),
                details: serde_json::json!({
                    "plugin": provider, "subject": id.subject, "outcome": done.outcome.as_str()
                }),
                ..Default::default()
            })?,
            Err(r) => self.federation_refused(provider, &r.to_string(), r.user_id(), ctx.ip)?,
        }
        out
    }

    /// Audits a federated sign-in that failed before or inside the engine
    /// (the upstream refused, the callback did not verify…).
    pub fn federation_refused(
        &self,
        provider: &str,
        reason: &str,
        user_id: Option<i64>,
        ip: &str,
    ) -> Result<(), EngineError> {
        tracing::warn!(plugin = provider, reason, "federated sign-in refused");
        self.audit(AuditRecord {
            kind: "login.federated.failed",
            message: format!("Sign-in through {provider} refused: {reason}"),
            user_id,
            ip: Some(ip),
            details: serde_json::json!({ "plugin": provider }),
            ..Default::default()
        })
    }

    /// The local user an upstream identity is, by the policy in the
    /// [module docs](self); makes the user and the link where due.
    pub fn resolve_upstream_identity(
        &self,
        provider: &str,
        id: &UpstreamIdentity,
    ) -> Result<(User, FederatedOutcome), FederationRefusal> {
        self.resolve_with(provider, &UpstreamPolicy::default(), id)
    }

    fn resolve_with(
        &self,
        provider: &str,
        policy: &UpstreamPolicy,
        id: &UpstreamIdentity,
    ) -> Result<(User, FederatedOutcome), FederationRefusal> {
        if id.subject.is_empty() {
            return Err(FederationRefusal::NoSubject);
        }
        let now = self.now();
        let email = id.email.as_deref().map(str::trim).filter(|m| id.email_verified && !m.is_empty());
        if let Some(link) = self.store.identity_link(provider, &id.subject)? {
            let user = self.find_user(&link.user_id.to_string())?;
            ensure_open(&user)?;
            self.store.touch_identity_link(provider, &id.subject, email, now)?;
            return Ok((user, FederatedOutcome::Linked));
        }
        if policy.first_sign_in == FirstSignIn::Refuse {
            return Err(FederationRefusal::NotPreLinked);
        }
        let email = email.ok_or(FederationRefusal::NoVerifiedEmail)?;
        if !policy.email_domains.is_empty() {
            let domain = email.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase()).unwrap_or_default();
            if !policy.email_domains.iter().any(|d| d.eq_ignore_ascii_case(&domain)) {
                return Err(FederationRefusal::DomainNotAllowed);
            }
        }
        let (user, outcome) = match self.find_user(email) {
            Ok(user) => {
                ensure_open(&user)?;
                let may_link = self.config.federation_link_verified_email
                    || policy.first_sign_in == FirstSignIn::LinkVerifiedEmail;
                if !may_link {
                    return Err(FederationRefusal::EmailTaken(user.email));
                }
                (user, FederatedOutcome::LinkedByEmail)
            }
            Err(EngineError::NotFound(_)) => {
                let name = id.name.clone().unwrap_or_else(|| {
                    format!("{} {}", id.given_name.as_deref().unwrap_or(""), id.family_name.as_deref().unwrap_or(""))
                        .trim()
                        .to_string()
                });
                let input = UserInput {
                    email: email.to_string(),
                    name,
                    locale: id.locale.clone(),
                    email_verified: true,
                    ..Default::default()
                };
                match self.create_user(input) {
                    Ok(user) => (user, FederatedOutcome::Created),
                    // A concurrent callback for the same identity won the race.
                    Err(EngineError::Conflict(_)) => return self.linked_after_race(provider, &id.subject),
                    Err(x) => return Err(x.into()),
                }
            }
            Err(x) => return Err(x.into()),
        };
        let link = IdentityLink {
            plugin: provider.to_string(),
            subject: id.subject.clone(),
            user_id: user.id,
            email: Some(email.to_string()),
            created_at: now,
            last_login_at: now,
        };
        match self.store.insert_identity_link(&link) {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => return self.linked_after_race(provider, &id.subject),
            Err(x) => return Err(x.into()),
        }
        self.audit(AuditRecord {
            kind: "federation.linked",
            message: format!(
                "User ID: {} linked to subject {} of {provider} ({})",
                user.id,
                id.subject,
                outcome.as_str()
            ),
            user_id: Some(user.id),
            details: serde_json::json!({ "plugin": provider, "subject": id.subject, "outcome": outcome.as_str() }),
            ..Default::default()
        })?;
        Ok((user, outcome))
    }

    /// Brings the member's mapped Gatehouse groups in line with the groups
    /// the upstream asserted at this sign-in: a mapped group is held when an
    /// upstream group mapping to it is; groups outside the map stay.
    pub fn apply_upstream_groups(
        &self,
        user_id: i64,
        policy: &UpstreamPolicy,
        upstream_groups: &[String],
    ) -> Result<(), EngineError> {
        if policy.group_map.is_empty() {
            return Ok(());
        }
        let mapped: std::collections::BTreeSet<&String> = policy.group_map.values().collect();
        let held: std::collections::BTreeSet<&String> =
            upstream_groups.iter().filter_map(|g| policy.group_map.get(g)).collect();
        let mut groups: Vec<String> =
            self.groups_of_user(user_id)?.into_iter().filter(|g| !mapped.contains(g)).collect();
        groups.extend(held.into_iter().cloned());
        self.set_user_groups(user_id, &groups)?;
        Ok(())
    }

    /// Records that the upstream vouched for the identity just now (a
    /// sign-in) and keeps the refresh token it gave, sealed under the master
    /// key, for later re-checks.
    pub fn remember_upstream_check(
        &self,
        upstream: &str,
        subject: &str,
        refresh_token: Option<&str>,
    ) -> Result<(), EngineError> {
        let sealed = match refresh_token.filter(|t| !t.is_empty()) {
            Some(t) => Some(
                self.seal(&link_aad(upstream, subject), t.as_bytes())
                    .map_err(|e| EngineError::Internal(e.to_string()))?,
            ),
            None => None,
        };
        self.store.set_link_checked(upstream, subject, sealed.as_deref(), self.now())?;
        Ok(())
    }

    /// Upstream re-validation at a refresh: when the member signed in
    /// through `upstream` and it was last asked longer ago than
    /// `upstream_recheck_secs`, ask it again with its refresh token.
    /// Returns false when it refused: every session of the member has then
    /// ended and every token they hold is revoked (audited with the
    /// upstream's error). When the upstream cannot be asked, the refresh
    /// goes on (audited): an outage upstream does not sign everyone out.
    ///
    /// Only one replica spends an upstream refresh token: the re-check is
    /// claimed with one conditional UPDATE (a lease); whoever loses the
    /// claim goes on as checked, since the winner is asking right now.
    pub fn revalidate_upstream(&self, user: &User, upstream: &str) -> Result<bool, EngineError> {
        let Some((subject, checked_at)) = self.store.revalidatable_link(user.id, upstream)? else {
            // The upstream gave no refresh token: it is asked at sign-in only.
            return Ok(true);
        };
        let now = self.now();
        let due_at = now - self.config.upstream_recheck_secs;
        if checked_at > due_at {
            return Ok(true);
        }
        let Some(sealed) =
            self.store.claim_upstream_check(upstream, &subject, due_at, now, now + RECHECK_LEASE_SECS)?
        else {
            return Ok(true);
        };
        let aad = link_aad(upstream, &subject);
        let check = match self.unseal(&aad, &sealed).map(String::from_utf8) {
            Ok(Ok(token)) => match self.hooks() {
                Some(h) => h.check_upstream(upstream, &subject, &token),
                None => UpstreamCheck::Unavailable("no plugin host".into()),
            },
            _ => UpstreamCheck::Unavailable("the kept upstream token cannot be decrypted".into()),
        };
        let audit = |kind: &'static str, reason: &str| {
            self.audit(AuditRecord {
                kind,
                message: format!("User ID: {} re-checked at {upstream} (subject {subject}): {reason}", user.id),
                user_id: Some(user.id),
                details: serde_json::json!({ "plugin": upstream, "subject": subject, "reason": reason }),
                ..Default::default()
            })
        };
        match check {
            UpstreamCheck::Vouched { refresh_token } => {
                let sealed =
                    self.seal(&aad, refresh_token.as_bytes()).map_err(|e| EngineError::Internal(e.to_string()));
                match sealed {
                    Ok(s) => self.store.finish_upstream_check(upstream, &subject, Some(Some(&s)), now)?,
                    Err(e) => {
                        self.store.finish_upstream_check(upstream, &subject, None, now)?;
                        return Err(e);
                    }
                }
                metrics::counter!("gatehouse_upstream_rechecks_total", "outcome" => "vouched").increment(1);
                Ok(true)
            }
            UpstreamCheck::Refused(reason) => {
                self.store.finish_upstream_check(upstream, &subject, Some(None), now)?;
                metrics::counter!("gatehouse_upstream_rechecks_total", "outcome" => "refused").increment(1);
                tracing::warn!(upstream, user_id = user.id, reason, "the upstream no longer vouches for a member");
                let ended = self.store.revoke_sessions_of_user(user.id, now)?;
                self.store.revoke_grants_of_user(user.id, now)?;
                self.sessions_ended(user.id, &ended, crate::logout::EndReason::UpstreamRefused);
                audit("federation.recheck_refused", &reason)?;
                Ok(false)
            }
            UpstreamCheck::Unavailable(reason) => {
                self.store.finish_upstream_check(upstream, &subject, None, now)?;
                metrics::counter!("gatehouse_upstream_rechecks_total", "outcome" => "unavailable").increment(1);
                tracing::warn!(upstream, user_id = user.id, reason, "the upstream could not re-check a member");
                audit("federation.recheck_failed", &reason)?;
                Ok(true)
            }
        }
    }

    /// Whether the member proved who they are recently enough to change
    /// how they sign in (`reauth_window_secs`).
    pub fn recently_authenticated(&self, session: &gatehouse_store::Session) -> bool {
        self.now() - session.auth_time <= self.config.reauth_window_secs
    }

    /// A signed-in member links an upstream identity to their own account
    /// (from the account page, after re-authenticating). An identity already
    /// linked to someone else stays theirs; linking one's own again is a
    /// no-op. Audited either way.
    pub fn link_identity_for_member(
        &self,
        user_id: i64,
        provider: &str,
        id: &UpstreamIdentity,
        ip: &str,
    ) -> Result<(), FederationRefusal> {
        if id.subject.is_empty() {
            return Err(FederationRefusal::NoSubject);
        }
        let user = self.user_by_id(user_id)?;
        ensure_open(&user)?;
        let now = self.now();
        let email = id.email.as_deref().filter(|_| id.email_verified).map(str::to_string);
        let out = match self.store.identity_link(provider, &id.subject)? {
            Some(l) if l.user_id == user_id => Ok(false),
            Some(_) => Err(FederationRefusal::LinkedToAnother),
            None => {
                let link = IdentityLink {
                    plugin: provider.to_string(),
                    subject: id.subject.clone(),
                    user_id,
                    email,
                    created_at: now,
                    last_login_at: now,
                };
                match self.store.insert_identity_link(&link) {
                    Ok(()) => Ok(true),
                    Err(StoreError::Conflict(_)) => Err(FederationRefusal::LinkedToAnother),
                    Err(e) => Err(e.into()),
                }
            }
        };
        match &out {
            Ok(true) => self.audit(AuditRecord {
                kind: "federation.linked",
                message: format!("User ID: {user_id} linked their {provider} sign-in (subject {})", id.subject),
                user_id: Some(user_id),
                ip: Some(ip),
                details: serde_json::json!({ "plugin": provider, "subject": id.subject, "outcome": "by_member" }),
                ..Default::default()
            })?,
            Ok(false) => {}
            Err(r) => self.federation_refused(provider, &format!("linking refused: {r}"), Some(user_id), ip)?,
        }
        out.map(|_| ())
    }

    /// An administrator links an upstream identity to a user beforehand
    /// (for upstreams that refuse unlinked first sign-ins).
    pub fn pre_link_identity(&self, user_id: i64, provider: &str, subject: &str) -> Result<(), EngineError> {
        if provider.is_empty() || subject.is_empty() {
            return Err(EngineError::Invalid("an upstream id and a subject are required".into()));
        }
        let user = self.user_by_id(user_id)?;
        let now = self.now();
        self.store.insert_identity_link(&IdentityLink {
            plugin: provider.to_string(),
            subject: subject.to_string(),
            user_id: user.id,
            email: None,
            created_at: now,
            last_login_at: now,
        })?;
        self.audit(AuditRecord {
            kind: "federation.linked",
            message: format!("User ID: {user_id} linked to subject {subject} of {provider} by an administrator"),
            user_id: Some(user_id),
            details: serde_json::json!({ "plugin": provider, "subject": subject, "outcome": "pre_linked" }),
            ..Default::default()
        })
    }

    fn linked_after_race(&self, provider: &str, subject: &str) -> Result<(User, FederatedOutcome), FederationRefusal> {
        let link = self
            .store
            .identity_link(provider, subject)?
            .ok_or_else(|| EngineError::Conflict("a concurrent sign-in".into()))?;
        let user = self.find_user(&link.user_id.to_string())?;
        ensure_open(&user)?;
        Ok((user, FederatedOutcome::Linked))
    }
}

fn ensure_open(user: &User) -> Result<(), FederationRefusal> {
    if user.status().may_sign_in() {
        Ok(())
    } else {
        Err(FederationRefusal::Closed(user.id))
    }
}
