//! OAuth clients: grant types and client types.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The grant types Gatehouse implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
    SingleSignOn,
}

impl GrantType {
    pub const ALL: [GrantType; 4] =
        [GrantType::AuthorizationCode, GrantType::RefreshToken, GrantType::ClientCredentials, GrantType::SingleSignOn];

    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::RefreshToken => "refresh_token",
            GrantType::ClientCredentials => "client_credentials",
            GrantType::SingleSignOn => "single_sign_on",
        }
    }
}

impl fmt::Display for GrantType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error for an unknown grant type name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown grant type {0:?}: expected authorization_code, refresh_token, client_credentials or single_sign_on")]
pub struct UnknownGrantType(pub String);

impl FromStr for GrantType {
    type Err = UnknownGrantType;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        GrantType::ALL.into_iter().find(|g| g.as_str() == s).ok_or_else(|| UnknownGrantType(s.to_string()))
    }
}

/// Parses a space- or comma-separated list of grant types.
pub fn parse_grant_types(s: &str) -> Result<Vec<GrantType>, UnknownGrantType> {
    let mut out = Vec::new();
    for g in s.split([' ', ',']).filter(|g| !g.is_empty()) {
        let g: GrantType = g.parse()?;
        if !out.contains(&g) {
            out.push(g);
        }
    }
    Ok(out)
}

/// Joins grant types the way they are stored and printed: space separated.
pub fn join_grant_types(g: &[GrantType]) -> String {
    g.iter().map(|g| g.as_str()).collect::<Vec<_>>().join(" ")
}

/// Confidential clients hold a secret; public clients (SPAs, native apps)
/// authenticate with PKCE alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientType {
    Confidential,
    Public,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grant_types_round_trip() {
        let g = parse_grant_types("authorization_code refresh_token,single_sign_on").unwrap();
        assert_eq!(g.len(), 3);
        assert_eq!(join_grant_types(&g), "authorization_code refresh_token single_sign_on");
        assert!(parse_grant_types("password").is_err());
    }
}
