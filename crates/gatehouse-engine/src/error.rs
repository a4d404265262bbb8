//! The engine's error type.

use gatehouse_store::StoreError;

/// How an [`EngineError::Unavailable`] starts when displayed: surfaces that
/// only see a message (logs, the HTML fallback) tell an outage by it.
pub const UNAVAILABLE: &str = "the database is unavailable";

/// Why an engine operation did not happen. Variants that are the caller's
/// fault carry a message fit to show them; `Store` is the server's fault.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0} already exists")]
    Conflict(String),
    /// The database cannot be reached right now (the pool found no
    /// connection in time, or the server went away): try again later.
    #[error("{UNAVAILABLE}: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Store(StoreError),
    /// The server's own failure outside the database (a key that cannot
    /// decrypt, a broken library call).
    #[error("{0}")]
    Internal(String),
}

impl From<StoreError> for EngineError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(what) => EngineError::Conflict(what),
            StoreError::NotFound(what) => EngineError::NotFound(what),
            other if other.is_unavailable() => {
                metrics::counter!("gatehouse_db_unavailable_total").increment(1);
                EngineError::Unavailable(other.to_string())
            }
            other @ StoreError::Query(_) => {
                metrics::counter!("gatehouse_db_errors_total").increment(1);
                EngineError::Store(other)
            }
            other => EngineError::Store(other),
        }
    }
}

impl EngineError {
    /// Whether the caller caused it (so it is never a 500).
    pub fn is_client_error(&self) -> bool {
        !matches!(self, EngineError::Store(_) | EngineError::Unavailable(_))
    }

    /// Whether the database is out of reach (a 503, not a 500).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, EngineError::Unavailable(_))
    }
}
