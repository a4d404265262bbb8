//! Users: the people who sign in.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A user's status, as WHMCS defines it. Only `Closed` blocks sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "sql", derive(diesel::AsExpression, diesel::FromSqlRow))]
#[cfg_attr(feature = "sql", diesel(sql_type = diesel::sql_types::Text))]
pub enum UserStatus {
    Active,
    Inactive,
    Closed,
}

impl UserStatus {
    pub const ALL: [UserStatus; 3] = [UserStatus::Active, UserStatus::Inactive, UserStatus::Closed];

    pub fn as_str(self) -> &'static str {
        match self {
            UserStatus::Active => "Active",
            UserStatus::Inactive => "Inactive",
            UserStatus::Closed => "Closed",
        }
    }

    /// Whether a user in this status may sign in (interactively or by SSO).
    pub fn may_sign_in(self) -> bool {
        !matches!(self, UserStatus::Closed)
    }
}

impl fmt::Display for UserStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error for a status name that is not one of Active, Inactive, Closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown user status {0:?}: expected Active, Inactive or Closed")]
pub struct UnknownStatus(pub String);

impl FromStr for UserStatus {
    type Err = UnknownStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        UserStatus::ALL
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownStatus(s.to_string()))
    }
}

/// Normalises an e-mail address for storage and lookup: trimmed, lower-cased.
/// Returns `None` when it is not plausibly an address.
pub fn normalize_email(email: &str) -> Option<String> {
    let e = email.trim().to_ascii_lowercase();
    let (local, domain) = e.split_once('@')?;
    let ok = !local.is_empty()
        && !domain.is_empty()
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && e.len() <= 254
        && !e.chars().any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>')
        && !domain.contains('@');
    ok.then_some(e)
}

/// Splits "First Last" into given and family name (family is everything
/// after the first word).
pub fn split_name(name: &str) -> (String, String) {
    let name = name.trim();
    match name.split_once(char::is_whitespace) {
        Some((given, family)) => (given.to_string(), family.trim().to_string()),
        None => (name.to_string(), String::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_parses_case_insensitively_and_rejects_others() {
        assert_eq!("closed".parse::<UserStatus>().unwrap(), UserStatus::Closed);
        assert_eq!("Active".parse::<UserStatus>().unwrap(), UserStatus::Active);
        assert!("Banned".parse::<UserStatus>().is_err());
        assert!(!UserStatus::Closed.may_sign_in());
        assert!(UserStatus::Inactive.may_sign_in());
    }

    #[test]
    fn emails_are_normalised_or_refused() {
        assert_eq!(normalize_email(" Ann@Example.COM ").as_deref(), Some("ann@example.com"));
        assert_eq!(normalize_email("nope"), None);
        assert_eq!(normalize_email("a@"), None);
        assert_eq!(normalize_email("a b@c.d"), None);
    }

    #[test]
    fn names_split_on_first_space() {
        assert_eq!(split_name("Ada King Lovelace"), ("Ada".into(), "King Lovelace".into()));
        assert_eq!(split_name("Plato"), ("Plato".into(), String::new()));
    }
}
