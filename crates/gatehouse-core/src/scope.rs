//! The scope catalog: every scope Gatehouse knows, what it means to a user,
//! which claims it releases and, for single sign-on destinations, where it
//! leads.
//!
//! The documented model is WHMCS's (see `docs/protocols/whmcs.md` §7): the OpenID
//! scopes, `clientarea:sso`, the `clientarea:*` destinations and
//! `sso:custom_redirect`. Operators may add scopes of their own.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// OpenID Connect Core §11: asks for a refresh token that outlives the
/// user's presence. For a client registered with it, refresh tokens are
/// issued only when it was requested (and consented).
pub const OFFLINE_ACCESS: &str = "offline_access";
/// The scope of the admin API: only the operator can give it to a client,
/// and only client_credentials tokens carrying it are accepted there.
pub const ADMIN_SCOPE: &str = "admin";
/// Releases the `groups` claim: the member's Gatehouse groups.
pub const GROUPS_SCOPE: &str = "groups";

/// The scope every SSO token carries.
pub const SSO_SCOPE: &str = "clientarea:sso";
/// The destination used when an SSO token names none.
pub const DEFAULT_DESTINATION: &str = "clientarea:homepage";

/// Where a destination scope leads: a path template relative to the client
/// area's base URL, with `{name}` placeholders for required parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Destination {
    pub path: String,
    pub params: Vec<String>,
}

/// One scope of the catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    pub name: String,
    /// What granting it means, in words for a consent screen.
    pub description: String,
    /// Claims it releases at userinfo and in ID tokens.
    #[serde(default)]
    pub claims: Vec<String>,
    #[serde(default)]
    pub destination: Option<Destination>,
}

/// Why a destination could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DestinationError {
    #[error("{0:?} is not a destination scope")]
    NotADestination(String),
    #[error("destination {scope} needs the parameter {param}")]
    MissingParam { scope: String, param: String },
    #[error("parameter {param} has an invalid value")]
    InvalidParam { param: String },
}

/// The catalog of known scopes.
#[derive(Debug, Clone)]
pub struct ScopeCatalog {
    scopes: BTreeMap<String, Scope>,
}

fn s(name: &str, description: &str, claims: &[&str], dest: Option<(&str, &[&str])>) -> Scope {
    Scope {
        name: name.to_string(),
        description: description.to_string(),
        claims: claims.iter().map(|c| c.to_string()).collect(),
        destination: dest.map(|(path, params)| Destination {
            path: path.to_string(),
            params: params.iter().map(|p| p.to_string()).collect(),
        }),
    }
}

impl ScopeCatalog {
    /// The documented scopes.
    pub fn standard() -> ScopeCatalog {
        let list = vec![
            s("openid", "Sign you in and tell the app who you are", &["sub"], None),
            s(
                "profile",
                "See your name and language",
                &["name", "given_name", "family_name", "preferred_username", "locale", "updated_at"],
                None,
            ),
            s("email", "See your e-mail address", &["email", "email_verified"], None),
            s(GROUPS_SCOPE, "See the groups you belong to", &["groups"], None),
            s(OFFLINE_ACCESS, "Stay connected to the app while you are away (refresh tokens)", &[], None),
            s(ADMIN_SCOPE, "Manage this Gatehouse (the admin API)", &[], None),
            s(SSO_SCOPE, "Sign you in to the client area without a password", &[], None),
            s("clientarea:homepage", "Open your client area home", &[], Some(("/clientarea.php", &[]))),
            s("clientarea:profile", "Open My Details", &[], Some(("/clientarea.php?action=details", &[]))),
            s(
                "clientarea:billing_info",
                "Open Manage Billing Information/Credit Card",
                &[],
                Some(("/clientarea.php?action=creditcard", &[])),
            ),
            s("clientarea:emails", "Open My Emails", &[], Some(("/clientarea.php?action=emails", &[]))),
            s("clientarea:announcements", "Open Announcements", &[], Some(("/index.php?rp=/announcements", &[]))),
            s("clientarea:downloads", "Open Downloads", &[], Some(("/index.php?rp=/download", &[]))),
            s("clientarea:knowledgebase", "Open the Knowledgebase", &[], Some(("/knowledgebase.php", &[]))),
            s("clientarea:network_status", "Open Network Status", &[], Some(("/serverstatus.php", &[]))),
            s("clientarea:services", "Open My Products/Services", &[], Some(("/clientarea.php?action=services", &[]))),
            s(
                "clientarea:product_details",
                "Open Product Details/Information",
                &[],
                Some(("/clientarea.php?action=productdetails&id={service_id}", &["service_id"])),
            ),
            s("clientarea:domains", "Open My Domains", &[], Some(("/clientarea.php?action=domains", &[]))),
            s(
                "clientarea:domain_details",
                "Open Domain Details/Information",
                &[],
                Some(("/clientarea.php?action=domaindetails&id={domain_id}", &["domain_id"])),
            ),
            s("clientarea:invoices", "Open My Invoices", &[], Some(("/clientarea.php?action=invoices", &[]))),
            s("clientarea:tickets", "Open My Support Tickets", &[], Some(("/supporttickets.php", &[]))),
            s("clientarea:submit_ticket", "Open a new support ticket", &[], Some(("/submitticket.php", &[]))),
            s("clientarea:shopping_cart", "Open the Shopping Cart", &[], Some(("/cart.php", &[]))),
            s("clientarea:shopping_cart_addons", "Open Shopping Cart Addons", &[], Some(("/cart.php?gid=addons", &[]))),
            s(
                "clientarea:shopping_cart_domain_register",
                "Open Shopping Cart Register Domain",
                &[],
                Some(("/cart.php?a=add&domain=register", &[])),
            ),
            s(
                "clientarea:shopping_cart_domain_transfer",
                "Open Shopping Cart Transfer Domain",
                &[],
                Some(("/cart.php?a=add&domain=transfer", &[])),
            ),
            s(
                "clientarea:upgrade",
                "Open Upgrade/Downgrade",
                &[],
                Some(("/upgrade.php?type=package&id={service_id}", &["service_id"])),
            ),
            s(
                "sso:custom_redirect",
                "Open a page of the client area chosen by the app",
                &[],
                Some(("/{sso_redirect_path}", &["sso_redirect_path"])),
            ),
        ];
        ScopeCatalog { scopes: list.into_iter().map(|s| (s.name.clone(), s)).collect() }
    }

    /// Adds (or replaces) an operator-defined scope.
    pub fn add(&mut self, scope: Scope) {
        self.scopes.insert(scope.name.clone(), scope);
    }

    pub fn get(&self, name: &str) -> Option<&Scope> {
        self.scopes.get(name)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.scopes.contains_key(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.scopes.keys().map(|k| k.as_str())
    }

    pub fn iter(&self) -> impl Iterator<Item = &Scope> {
        self.scopes.values()
    }

    /// Every claim some scope can release (plus the ID token's own).
    pub fn all_claims(&self) -> Vec<String> {
        let mut claims: Vec<String> =
            ["iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash"].iter().map(|c| c.to_string()).collect();
        for s in self.scopes.values() {
            for c in &s.claims {
                if !claims.contains(c) {
                    claims.push(c.clone());
                }
            }
        }
        claims
    }

    /// Claims released by a set of granted scopes.
    pub fn claims_for(&self, granted: &ScopeSet) -> Vec<String> {
        let mut out = Vec::new();
        for name in granted.iter() {
            if let Some(s) = self.scopes.get(name) {
                for c in &s.claims {
                    if !out.contains(c) {
                        out.push(c.clone());
                    }
                }
            }
        }
        out
    }

    /// Whether a scope is a single sign-on destination.
    pub fn is_destination(&self, name: &str) -> bool {
        self.get(name).is_some_and(|s| s.destination.is_some())
    }

    /// Resolves a destination scope to a path relative to the client area,
    /// filling in its parameters. Parameter values are percent-encoded (so
    /// they cannot add query parameters); `sso_redirect_path` must be a
    /// relative path (no scheme, no `//`, no `..`, no backslash).
    pub fn resolve_destination(
        &self,
        scope: &str,
        params: &BTreeMap<String, String>,
    ) -> Result<String, DestinationError> {
        let dest = self
            .get(scope)
            .and_then(|s| s.destination.as_ref())
            .ok_or_else(|| DestinationError::NotADestination(scope.to_string()))?;
        let mut path = dest.path.clone();
        for p in &dest.params {
            let value = params
                .get(p)
                .map(|v| v.trim())
                .filter(|v| !v.is_empty())
                .ok_or_else(|| DestinationError::MissingParam { scope: scope.to_string(), param: p.clone() })?;
            let rendered = if p == "sso_redirect_path" {
                relative_path(value).ok_or_else(|| DestinationError::InvalidParam { param: p.clone() })?
            } else {
                if !value.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
                    return Err(DestinationError::InvalidParam { param: p.clone() });
                }
                value.to_string()
            };
            path = path.replace(&format!("{{{p}}}"), &rendered);
        }
        Ok(path)
    }
}

/// Accepts a relative path (optionally with a query) and returns it without
/// its leading slash; refuses anything that could leave the client area.
fn relative_path(value: &str) -> Option<String> {
    let v = value.trim_start_matches('/');
    let bad = v.is_empty()
        || value.starts_with("//")
        || v.contains("://")
        || v.contains('\\')
        // A dot segment, also percent-encoded (`%2e%2e`): URL parsers
        // resolve both, which would climb out of the client area's path.
        || v.split(['/', '?', '#']).any(|seg| seg.to_ascii_lowercase().replace("%2e", ".") == "..")
        || v.chars().any(|c| c.is_control() || c.is_whitespace())
        || v.split('/').next().is_some_and(|first| first.contains(':'));
    (!bad).then(|| v.to_string())
}

/// An ordered, de-duplicated set of scope names, as sent in `scope=`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScopeSet(Vec<String>);

impl ScopeSet {
    /// Parses a space-separated scope string (RFC 6749 §3.3). Empty parts
    /// from repeated spaces are skipped.
    pub fn parse(s: &str) -> ScopeSet {
        let mut v: Vec<String> = Vec::new();
        for part in s.split(' ').filter(|p| !p.is_empty()) {
            if !v.iter().any(|x| x == part) {
                v.push(part.to_string());
            }
        }
        ScopeSet(v)
    }

    pub fn from_vec(v: Vec<String>) -> ScopeSet {
        ScopeSet::parse(&v.join(" "))
    }

    pub fn contains(&self, name: &str) -> bool {
        self.0.iter().any(|s| s == name)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|s| s.as_str())
    }

    /// Whether every scope here is also in `other`.
    pub fn is_subset_of(&self, other: &ScopeSet) -> bool {
        self.0.iter().all(|s| other.contains(s))
    }

    /// The first scope that is not in `other`.
    pub fn first_not_in(&self, other: &ScopeSet) -> Option<&str> {
        self.iter().find(|s| !other.contains(s))
    }

    /// The scopes of this set that are also in `other`, in this set's order.
    pub fn intersect(&self, other: &ScopeSet) -> ScopeSet {
        ScopeSet(self.0.iter().filter(|s| other.contains(s)).cloned().collect())
    }

    pub fn as_vec(&self) -> &[String] {
        &self.0
    }
}

impl std::fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn a_custom_redirect_cannot_climb_out_even_percent_encoded() {
        for bad in ["%2e%2e/evil", "%2E%2e/x", ".%2e/x", "%2e./x", "a/%2e%2e/%2e%2e/x", "..", "a/../b"] {
            assert!(relative_path(bad).is_none(), "{bad}");
        }
        assert_eq!(relative_path("cart.php?a=view").as_deref(), Some("cart.php?a=view"));
        assert_eq!(relative_path("%2e/x").as_deref(), Some("%2e/x"), "a single dot stays where it is");
    }

    #[test]
    fn catalog_has_every_documented_destination() {
        let c = ScopeCatalog::standard();
        for name in [
            "clientarea:profile",
            "clientarea:billing_info",
            "clientarea:emails",
            "clientarea:announcements",
            "clientarea:downloads",
            "clientarea:knowledgebase",
            "clientarea:network_status",
            "clientarea:services",
            "clientarea:product_details",
            "clientarea:domains",
            "clientarea:domain_details",
            "clientarea:invoices",
            "clientarea:tickets",
            "clientarea:submit_ticket",
            "clientarea:shopping_cart",
            "clientarea:shopping_cart_addons",
            "clientarea:shopping_cart_domain_register",
            "clientarea:shopping_cart_domain_transfer",
            "clientarea:upgrade",
            "sso:custom_redirect",
        ] {
            assert!(c.is_destination(name), "{name}");
        }
        assert!(!c.is_destination("openid"));
        assert!(c.contains(SSO_SCOPE));
    }

    #[test]
    fn destinations_fill_parameters() {
        let c = ScopeCatalog::standard();
        assert_eq!(
            c.resolve_destination("clientarea:product_details", &params(&[("service_id", "42")])).unwrap(),
            "/clientarea.php?action=productdetails&id=42"
        );
        assert!(matches!(
            c.resolve_destination("clientarea:upgrade", &params(&[])),
            Err(DestinationError::MissingParam { .. })
        ));
        assert!(c.resolve_destination("clientarea:product_details", &params(&[("service_id", "1&x=2")])).is_err());
        assert_eq!(
            c.resolve_destination("sso:custom_redirect", &params(&[("sso_redirect_path", "cart.php?a=view")])).unwrap(),
            "/cart.php?a=view"
        );
    }

    #[test]
    fn custom_redirect_refuses_to_leave() {
        let c = ScopeCatalog::standard();
        for bad in
            ["//evil.example/x", "https://evil.example", "../etc", "a/../../b", "\\\\evil", "javascript:alert(1)", ""]
        {
            assert!(
                c.resolve_destination("sso:custom_redirect", &params(&[("sso_redirect_path", bad)])).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn scope_sets_keep_order_and_drop_duplicates() {
        let s = ScopeSet::parse("openid  profile openid email");
        assert_eq!(s.to_string(), "openid profile email");
        assert!(ScopeSet::parse("openid").is_subset_of(&s));
        assert_eq!(ScopeSet::parse("openid x").first_not_in(&s), Some("x"));
        let c = ScopeCatalog::standard();
        assert_eq!(c.claims_for(&ScopeSet::parse("email")), vec!["email", "email_verified"]);
    }
}
