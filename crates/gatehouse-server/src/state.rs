//! The application state handed to every handler, explicitly.

use std::path::Path;

use gatehouse_core::ScopeCatalog;
use gatehouse_engine::{Engine, EngineConfig};

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
        client_area_configured: cfg.client_area_url.is_some(),
        code_ttl: t.code_ttl,
        access_ttl: t.access_ttl,
        refresh_ttl: t.refresh_ttl,
        sso_ttl: t.sso_ttl,
        id_token_ttl: t.id_token_ttl,
        session_ttl: t.session_ttl,
        max_failures_per_account: cfg.login.max_failures_per_account,
        max_failures_per_ip: cfg.login.max_failures_per_ip,
        failure_window_secs: cfg.login.window_secs,
        federation_link_verified_email: cfg.federation.link_verified_email,
        upstream_recheck_secs: cfg.federation.recheck_every_secs.max(0),
        reauth_window_secs: cfg.federation.reauth_window_secs.max(0),
        audit_retention_secs: cfg.janitor.audit_retention_days.saturating_mul(86_400),
        db_max_connections: cfg.database.max_connections,
        password_min_length: cfg.passwords.min_length,
        password_min_strength: cfg.passwords.min_strength.min(4),
        registration: cfg.registration,
        verify_email_before_apps: cfg.verify_email_before_apps,
        mfa_policy: cfg.mfa.required,
        mfa_grace_secs: cfg.mfa.grace_days.max(0).saturating_mul(86_400),
        passwordless: cfg.mfa.passwordless,
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
    let mut engine = Engine::open(&url, engine_config(cfg), catalog(cfg)).map_err(|e| e.to_string())?;
    engine.set_master_key(load_master_key(cfg)?);
    // First start: every algorithm gets a signing key.
    engine.ensure_signing_keys().map_err(|e| e.to_string())?;
    // A replica whose master key opens no signing key would answer every
    // token request with a 500: refuse to start instead.
    engine.check_signing_keys().map_err(|e| {
        format!("{e}: this replica's master key (GATEHOUSE_MASTER_KEY or <data_dir>/master.key) differs from the one the keys were made with")
    })?;
    Ok(engine)
}

/// The master key that encrypts signing keys: `GATEHOUSE_MASTER_KEY`, else
/// `<data_dir>/master.key`, created (mode 0600) on first start.
pub fn load_master_key(cfg: &Config) -> Result<[u8; 32], String> {
    use gatehouse_engine::keys::{master_key_from_secret, new_master_key_file_content};
    if let Ok(v) = std::env::var("GATEHOUSE_MASTER_KEY") {
        if !v.trim().is_empty() {
            return Ok(master_key_from_secret(&v));
        }
    }
    let path = cfg.data_dir.join("master.key");
    if !path.exists() {
        use std::io::Write;
        std::fs::create_dir_all(&cfg.data_dir)
            .map_err(|e| format!("cannot create data directory {}: {e}", cfg.data_dir.display()))?;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        match opts.open(&path) {
            Ok(mut f) => f
                .write_all(new_master_key_file_content().as_bytes())
                .map_err(|e| format!("cannot write master key file {}: {e}", path.display()))?,
            // Another process created it first: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(format!("cannot create master key file {}: {e}", path.display())),
        }
    }
    let content =
        std::fs::read_to_string(&path).map_err(|e| format!("cannot read master key file {}: {e}", path.display()))?;
    if content.trim().is_empty() {
        return Err(format!("master key file {} is empty", path.display()));
    }
    Ok(master_key_from_secret(content.trim()))
}

/// Whether a path is inside the data directory (for messages).
pub fn data_dir_note(cfg: &Config) -> String {
    Path::new(&cfg.data_dir).display().to_string()
}
