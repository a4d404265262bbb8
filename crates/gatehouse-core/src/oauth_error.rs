//! The `error` codes of OAuth 2.0 (RFC 6749 §4.1.2.1, §5.2), bearer tokens
//! (RFC 6750 §3.1), OpenID Connect (Core §3.1.2.6) and the few WHMCS adds.
//! A closed set: a code is a variant, never a free string.

use serde::{Deserialize, Serialize};

/// One protocol error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OAuthErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    UnsupportedResponseType,
    UnsupportedTokenType,
    InvalidScope,
    AccessDenied,
    ServerError,
    TemporarilyUnavailable,
    InvalidToken,
    InsufficientScope,
    LoginRequired,
    ConsentRequired,
    InteractionRequired,
    /// OpenID Connect Unmet Authentication Requirements 1.0: the session
    /// cannot meet the requested `acr_values` without interaction.
    UnmetAuthenticationRequirements,
    /// WHMCS (bshaffer): the redirect URI does not match the code's.
    RedirectUriMismatch,
    /// WHMCS (bshaffer): the redirect URI is not a valid URI.
    InvalidUri,
}

impl OAuthErrorCode {
    /// Every code, for tests and documentation.
    pub const ALL: [OAuthErrorCode; 19] = [
        OAuthErrorCode::InvalidRequest,
        OAuthErrorCode::InvalidClient,
        OAuthErrorCode::InvalidGrant,
        OAuthErrorCode::UnauthorizedClient,
        OAuthErrorCode::UnsupportedGrantType,
        OAuthErrorCode::UnsupportedResponseType,
        OAuthErrorCode::UnsupportedTokenType,
        OAuthErrorCode::InvalidScope,
        OAuthErrorCode::AccessDenied,
        OAuthErrorCode::ServerError,
        OAuthErrorCode::TemporarilyUnavailable,
        OAuthErrorCode::InvalidToken,
        OAuthErrorCode::InsufficientScope,
        OAuthErrorCode::LoginRequired,
        OAuthErrorCode::ConsentRequired,
        OAuthErrorCode::InteractionRequired,
        OAuthErrorCode::UnmetAuthenticationRequirements,
        OAuthErrorCode::RedirectUriMismatch,
        OAuthErrorCode::InvalidUri,
    ];

    /// The code as sent in `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            OAuthErrorCode::InvalidRequest => "invalid_request",
            OAuthErrorCode::InvalidClient => "invalid_client",
            OAuthErrorCode::InvalidGrant => "invalid_grant",
            OAuthErrorCode::UnauthorizedClient => "unauthorized_client",
            OAuthErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            OAuthErrorCode::UnsupportedResponseType => "unsupported_response_type",
            OAuthErrorCode::UnsupportedTokenType => "unsupported_token_type",
            OAuthErrorCode::InvalidScope => "invalid_scope",
            OAuthErrorCode::AccessDenied => "access_denied",
            OAuthErrorCode::ServerError => "server_error",
            OAuthErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
            OAuthErrorCode::InvalidToken => "invalid_token",
            OAuthErrorCode::InsufficientScope => "insufficient_scope",
            OAuthErrorCode::LoginRequired => "login_required",
            OAuthErrorCode::ConsentRequired => "consent_required",
            OAuthErrorCode::InteractionRequired => "interaction_required",
            OAuthErrorCode::UnmetAuthenticationRequirements => "unmet_authentication_requirements",
            OAuthErrorCode::RedirectUriMismatch => "redirect_uri_mismatch",
            OAuthErrorCode::InvalidUri => "invalid_uri",
        }
    }

    /// The HTTP status the code is usually sent with (an endpoint may pick
    /// another, e.g. 401 for a missing bearer token).
    pub fn default_status(self) -> u16 {
        match self {
            OAuthErrorCode::InvalidToken => 401,
            OAuthErrorCode::InsufficientScope => 403,
            OAuthErrorCode::ServerError => 500,
            OAuthErrorCode::TemporarilyUnavailable => 503,
            _ => 400,
        }
    }
}

impl std::fmt::Display for OAuthErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for OAuthErrorCode {
    type Err = UnknownErrorCode;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OAuthErrorCode::ALL.into_iter().find(|c| c.as_str() == s).ok_or_else(|| UnknownErrorCode(s.to_string()))
    }
}

/// A string that names no OAuth error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an OAuth error code")]
pub struct UnknownErrorCode(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_through_its_string_and_serde() {
        for c in OAuthErrorCode::ALL {
            assert_eq!(c.as_str().parse::<OAuthErrorCode>(), Ok(c));
            assert_eq!(serde_json::to_value(c).unwrap(), serde_json::json!(c.as_str()));
        }
        assert!("nope".parse::<OAuthErrorCode>().is_err());
    }
}
