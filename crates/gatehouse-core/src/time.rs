//! Time as the store keeps it: whole seconds since the Unix epoch.

/// Seconds since the Unix epoch, now.
pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Formats a Unix timestamp as `YYYY-MM-DD HH:MM:SS` (UTC), the form WHMCS and
/// the CLI print.
pub fn format_timestamp(ts: i64) -> String {
    chrono::DateTime::from_timestamp(ts, 0).map(|d| d.format("%Y-%m-%d %H:%M:%S").to_string()).unwrap_or_default()
}
