//! The application state handed to every handler, explicitly.

use std::path::Path;

use gatehouse_core::ScopeCatalog;
use gatehouse_engine::{Engine, EngineConfig};
use gatehouse_store::Store;

use crate::config::Config;

/// Everything a request handler may need. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub engine: Engine,
    pub config: std::sync::Arc<Config>,
    /// Loaded plugins (empty when none are configured).
    pub plugins: std::sync::Arc<crate::plugin_host::PluginHost>,
}

/// Builds the engine's settings from the configuration.
pub fn engine_config(cfg: &Config) -> EngineConfig {
    let t = &cfg.tokens;
    EngineConfig {
        issuer: cfg.issuer(),
        client_area_url: cfg.client_area_url(),
        code_ttl: t.code_ttl,
        access_ttl: t.access_ttl,
        refresh_ttl: t.refresh_ttl,
        sso_ttl: t.sso_ttl,
        id_token_ttl: t.id_token_ttl,
        session_ttl: t.session_ttl,
        max_failures_per_account: cfg.login.max_failures_per_account,
        max_failures_per_ip: cfg.login.max_failures_per_ip,
        failure_window_secs: cfg.login.window_secs,
    }
}

/// The scope catalog: the documented scopes plus the operator's.
pub fn catalog(cfg: &Config) -> ScopeCatalog {
    let mut c = ScopeCatalog::standard();
    for s in &cfg.scopes {
        c.add(s.clone());
    }
    c
}

/// Opens and migrates the database named by the configuration and builds
/// the engine on it.
pub fn open_engine(cfg: &Config) -> Result<Engine, String> {
    let url = cfg.database_url();
    let store = Store::open_and_migrate(&url).map_err(|e| e.to_string())?;
    Ok(Engine::new(store, engine_config(cfg), catalog(cfg)))
}

/// Whether a path is inside the data directory (for messages).
pub fn data_dir_note(cfg: &Config) -> String {
    Path::new(&cfg.data_dir).display().to_string()
}
