//! What a stored grant row is: the single-use and bearer credentials the
//! engine issues, all kept only as digests.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The kind of a stored credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "sql", derive(diesel::AsExpression, diesel::FromSqlRow))]
#[cfg_attr(feature = "sql", diesel(sql_type = diesel::sql_types::Text))]
#[serde(rename_all = "snake_case")]
pub enum GrantKind {
    /// An authorization code (single use).
    Code,
    /// An access token.
    Access,
    /// A refresh token (single use, rotated).
    Refresh,
    /// A single sign-on token (single use).
    Sso,
}

impl GrantKind {
    /// Every kind.
    pub const ALL: [GrantKind; 4] = [GrantKind::Code, GrantKind::Access, GrantKind::Refresh, GrantKind::Sso];

    /// The kind as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            GrantKind::Code => "code",
            GrantKind::Access => "access",
            GrantKind::Refresh => "refresh",
            GrantKind::Sso => "sso",
        }
    }
}

impl fmt::Display for GrantKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for GrantKind {
    type Err = UnknownGrantKind;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        GrantKind::ALL.into_iter().find(|k| k.as_str() == s).ok_or_else(|| UnknownGrantKind(s.to_string()))
    }
}

/// A stored value that names no grant kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a grant kind")]
pub struct UnknownGrantKind(pub String);

/// The algorithms ID tokens can be signed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "sql", derive(diesel::AsExpression, diesel::FromSqlRow))]
#[cfg_attr(feature = "sql", diesel(sql_type = diesel::sql_types::Text))]
pub enum SigningAlg {
    /// RSASSA-PKCS1-v1_5 with SHA-256 (the default every RP supports).
    #[default]
    RS256,
    /// ECDSA P-256 with SHA-256.
    ES256,
    /// Ed25519.
    EdDSA,
}

impl SigningAlg {
    /// Every algorithm, in the order discovery lists them.
    pub const ALL: [SigningAlg; 3] = [SigningAlg::RS256, SigningAlg::ES256, SigningAlg::EdDSA];

    /// The JOSE `alg` name.
    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlg::RS256 => "RS256",
            SigningAlg::ES256 => "ES256",
            SigningAlg::EdDSA => "EdDSA",
        }
    }
}

impl fmt::Display for SigningAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SigningAlg {
    type Err = UnknownSigningAlg;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SigningAlg::ALL.into_iter().find(|a| a.as_str() == s).ok_or_else(|| UnknownSigningAlg(s.to_string()))
    }
}

/// A name that is not a supported signing algorithm.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported ID token algorithm {0:?}: use RS256, ES256 or EdDSA")]
pub struct UnknownSigningAlg(pub String);

/// Something that happened to a user, as connector plugins are told.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserEvent {
    Created,
    Updated,
    StatusChanged,
    Deleted,
    /// A browser session of the user ended (sign-out, administrator,
    /// password reset): a connector may end the app's session too.
    SignedOut,
    /// The user's groups changed.
    GroupsChanged,
}

impl UserEvent {
    /// The event's name on the plugin wire.
    pub fn as_str(self) -> &'static str {
        match self {
            UserEvent::Created => "created",
            UserEvent::Updated => "updated",
            UserEvent::StatusChanged => "status_changed",
            UserEvent::Deleted => "deleted",
            UserEvent::SignedOut => "signed_out",
            UserEvent::GroupsChanged => "groups_changed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_algorithms_round_trip_through_their_names() {
        for k in GrantKind::ALL {
            assert_eq!(k.as_str().parse::<GrantKind>(), Ok(k));
        }
        for a in SigningAlg::ALL {
            assert_eq!(a.as_str().parse::<SigningAlg>(), Ok(a));
        }
        assert!("HS256".parse::<SigningAlg>().is_err());
        assert!("token".parse::<GrantKind>().is_err());
    }
}
