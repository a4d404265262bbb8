//! Discovery and JWKS as prepared bytes: they change with configuration or
//! key rotation, not per request, so requests get the same bytes without a
//! database query or serialisation. Discovery is built once per dialect;
//! JWKS is rebuilt at most once a second, so a key another replica (or the
//! CLI) published appears within a second everywhere.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use gatehouse_core::{Dialect, Endpoint};

use crate::{Engine, EngineError};

/// How long a JWKS document is served before the keys are read again.
pub const JWKS_REFRESH_SECS: i64 = 1;

/// The prepared documents of one engine.
#[derive(Default)]
pub struct Documents {
    /// By dialect name and endpoint paths (what the document depends on):
    /// a handful of entries, compared in place (no key built per request).
    discovery: Mutex<Vec<PreparedDiscovery>>,
    jwks: Mutex<Option<(i64, Arc<[u8]>)>>,
}

/// One dialect's discovery document: its name, its endpoint paths, the bytes.
type PreparedDiscovery = (String, BTreeMap<Endpoint, String>, Arc<[u8]>);

impl Engine {
    /// The provider metadata of `dialect` as JSON bytes (built once).
    pub fn provider_metadata_bytes(&self, dialect: &Dialect) -> Arc<[u8]> {
        let mut cache = self.docs.discovery.lock().unwrap_or_else(|e| e.into_inner());
        let known = cache.iter().find(|(name, paths, _)| *name == dialect.name && *paths == dialect.endpoint_paths);
        if let Some((_, _, bytes)) = known {
            return bytes.clone();
        }
        let bytes: Arc<[u8]> = serde_json::to_vec(&self.provider_metadata(dialect)).unwrap_or_default().into();
        cache.push((dialect.name.clone(), dialect.endpoint_paths.clone(), bytes.clone()));
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
