//! Discovery and JWKS as prepared bytes: they change with configuration or
//! key rotation, not per request, so requests get the same bytes without a
//! database query or serialisation. Discovery is built once per dialect;
//! JWKS is rebuilt at most once a second, so a key another replica (or the
//! CLI) published appears within a second everywhere.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use gatehouse_core::Dialect;

use crate::{Engine, EngineError};

/// How long a JWKS document is served before the keys are read again.
pub const JWKS_REFRESH_SECS: i64 = 1;

/// The prepared documents of one engine.
#[derive(Default)]
pub struct Documents {
    discovery: Mutex<HashMap<String, Arc<[u8]>>>,
    jwks: Mutex<Option<(i64, Arc<[u8]>)>>,
}

impl Engine {
    /// The provider metadata of `dialect` as JSON bytes (built once).
    pub fn provider_metadata_bytes(&self, dialect: &Dialect) -> Arc<[u8]> {
        let key = format!("{}|{:?}", dialect.name, dialect.endpoint_paths);
        let mut cache = self.docs.discovery.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(b) = cache.get(&key) {
            return b.clone();
        }
        let bytes: Arc<[u8]> = serde_json::to_vec(&self.provider_metadata(dialect)).unwrap_or_default().into();
        cache.insert(key, bytes.clone());
        bytes
    }

    /// The prepared JWKS bytes if they are fresh (no IO: callable on an
    /// async thread).
    pub fn fresh_jwks_bytes(&self) -> Option<Arc<[u8]>> {
        let now = self.now();
        let cached = self.docs.jwks.lock().unwrap_or_else(|e| e.into_inner());
        cached.as_ref().filter(|(at, _)| now - at < JWKS_REFRESH_SECS && now >= *at).map(|(_, b)| b.clone())
    }

    /// The JWKS document as JSON bytes, read from the store at most once
    /// a second (blocks when it reads).
    pub fn jwks_bytes(&self) -> Result<Arc<[u8]>, EngineError> {
        if let Some(b) = self.fresh_jwks_bytes() {
            return Ok(b);
        }
        let now = self.now();
        let bytes: Arc<[u8]> = serde_json::to_vec(&self.jwks()?).unwrap_or_default().into();
        *self.docs.jwks.lock().unwrap_or_else(|e| e.into_inner()) = Some((now, bytes.clone()));
        Ok(bytes)
    }

    /// Forgets the prepared JWKS (after this process changed the keys).
    pub fn forget_jwks(&self) {
        *self.docs.jwks.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}
