//! The engine's error type.

use gatehouse_store::StoreError;

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
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for EngineError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(what) => EngineError::Conflict(what),
            StoreError::NotFound(what) => EngineError::NotFound(what),
            other => EngineError::Store(other),
        }
    }
}

impl EngineError {
    /// Whether the caller caused it (so it is never a 500).
    pub fn is_client_error(&self) -> bool {
        !matches!(self, EngineError::Store(_))
    }
}
