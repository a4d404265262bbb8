//! The janitor: deletes expired credentials, ended sessions, revocation
//! records nothing refers to any more, and audit events past their
//! retention, in small batches. Several replicas may run it at once.

use crate::{Engine, EngineError};

/// How much one sweep removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    pub grants: usize,
    pub sessions: usize,
    pub families: usize,
    pub audit_events: usize,
    /// Expired reset, confirmation and invitation links.
    pub user_tokens: usize,
    /// Expired plugin values (remembered nonces).
    pub plugin_values: usize,
}

impl Swept {
    /// Everything removed.
    pub fn total(&self) -> usize {
        self.grants + self.sessions + self.families + self.audit_events + self.user_tokens + self.plugin_values
    }
}

/// Sessions stay an hour after they end (the account page may still
/// show "ended"); credentials go once expired (a spent refresh token is
/// kept until then, for reuse detection).
const SESSION_GRACE: i64 = 3600;

impl Engine {
    /// One sweep: for each kind of row, batches of at most `batch` rows
    /// until nothing is left or `max_batches` batches ran (the rest waits
    /// for the next sweep, so a backlog never holds the database long).
    pub fn sweep(&self, batch: i64, max_batches: usize) -> Result<Swept, EngineError> {
        let now = self.now();
        let batch = batch.clamp(1, 10_000);
        let drain = |f: &dyn Fn() -> Result<usize, gatehouse_store::StoreError>| -> Result<usize, EngineError> {
            let mut total = 0;
            for _ in 0..max_batches.max(1) {
                let n = f()?;
                total += n;
                if (n as i64) < batch {
                    break;
                }
            }
            Ok(total)
        };
        let swept = Swept {
            grants: drain(&|| self.store.delete_expired_grants(now, batch))?,
            sessions: drain(&|| self.store.delete_ended_sessions(now - SESSION_GRACE, batch))?,
            families: drain(&|| self.store.delete_spent_families(now, batch))?,
            audit_events: drain(&|| {
                self.store.delete_audit_before(now - self.config.audit_retention_secs.max(0), batch)
            })?,
            user_tokens: drain(&|| self.store.purge_user_tokens(now, batch))?,
            plugin_values: drain(&|| self.store.purge_expired_kv(now, batch))?,
        };
        for (table, n) in [
            ("grants", swept.grants),
            ("sessions", swept.sessions),
            ("revoked_families", swept.families),
            ("audit_events", swept.audit_events),
            ("user_tokens", swept.user_tokens),
            ("plugin_kv", swept.plugin_values),
        ] {
            metrics::counter!("gatehouse_janitor_deleted_total", "table" => table).increment(n as u64);
        }
        if swept.total() > 0 {
            tracing::info!(
                target: "gatehouse::janitor",
                grants = swept.grants,
                sessions = swept.sessions,
                families = swept.families,
                audit_events = swept.audit_events,
                user_tokens = swept.user_tokens,
                plugin_values = swept.plugin_values,
                "janitor removed expired rows"
            );
        }
        Ok(swept)
    }
}
