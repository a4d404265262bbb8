//! Browser sessions at Gatehouse: the cookie carries a random value shown
//! once, the table keeps only its digest.

use gatehouse_core::secret::{digest, generate_token};
use gatehouse_core::time::now;
use gatehouse_store::{NewSession, Session};

use crate::{Engine, EngineError};

impl Engine {
    /// Starts a browser session; returns the cookie value (shown once; only
    /// its digest is stored) and the session.
    pub fn start_session(
        &self,
        user_id: i64,
        via: &str,
        ip: &str,
        user_agent: &str,
    ) -> Result<(String, Session), EngineError> {
        let value = generate_token();
        let ts = now();
        let session = self.store.insert_session(&NewSession {
            digest: digest(&value),
            user_id,
            auth_time: ts,
            created_at: ts,
            last_seen_at: ts,
            expires_at: ts + self.config.session_ttl,
            ip: truncate(ip, 64),
            user_agent: truncate(user_agent, 256),
            via: truncate(via, 32),
        })?;
        Ok((value, session))
    }
}

/// Cuts a string to at most `max` bytes on a character boundary.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}
