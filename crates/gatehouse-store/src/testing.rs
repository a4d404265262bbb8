//! Helpers for test suites that need a throw-away PostgreSQL database.

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::Connection;

use crate::db::{mask_url, StoreError};

/// Creates database `name` through the server at `admin_url` (a URL to an
/// existing database such as `postgres`) and returns the new database's URL.
pub fn create_postgres_database(admin_url: &str, name: &str) -> Result<String, StoreError> {
    check_name(name)?;
    let mut c = PgConnection::establish(admin_url)
        .map_err(|e| StoreError::Connect { url: mask_url(admin_url), reason: e.to_string() })?;
    c.batch_execute(&format!("CREATE DATABASE \"{name}\""))?;
    let mut url = url::Url::parse(admin_url)
        .map_err(|e| StoreError::BadUrl { url: mask_url(admin_url), reason: e.to_string() })?;
    url.set_path(&format!("/{name}"));
    Ok(url.to_string())
}

/// Drops database `name` (closing its connections first).
pub fn drop_postgres_database(admin_url: &str, name: &str) -> Result<(), StoreError> {
    check_name(name)?;
    let mut c = PgConnection::establish(admin_url)
        .map_err(|e| StoreError::Connect { url: mask_url(admin_url), reason: e.to_string() })?;
    c.batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))?;
    Ok(())
}

fn check_name(name: &str) -> Result<(), StoreError> {
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(StoreError::BadUrl { url: name.into(), reason: "database names in tests are [A-Za-z0-9_]".into() });
    }
    Ok(())
}

/// Notes that a test used PostgreSQL: appends the test's name to the file
/// named by `GATEHOUSE_TEST_PG_LOG`, so CI can show which tests ran there.
pub fn record_postgres_use() {
    let Ok(path) = std::env::var("GATEHOUSE_TEST_PG_LOG") else { return };
    let name = std::thread::current().name().unwrap_or("unnamed").to_string();
    let exe = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().to_string()))
        .unwrap_or_default();
    let exe = exe.rsplit_once('-').map(|(a, _)| a.to_string()).unwrap_or(exe);
    use std::io::Write;
    if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
        let _ = writeln!(f, "{exe}::{name}");
    }
}
