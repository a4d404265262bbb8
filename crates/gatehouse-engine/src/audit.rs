//! The audit log: security events written to the database and to the log.

use gatehouse_store::{AuditEvent, NewAuditEvent};

use crate::{Engine, EngineError};

/// One event to record.
#[derive(Debug, Clone, Default)]
pub struct AuditRecord<'a> {
    /// A short machine name: `login.failed`, `sso.denied`, `client.created`…
    pub kind: &'a str,
    /// The human line; for the documented WHMCS failures, their exact text.
    pub message: String,
    pub user_id: Option<i64>,
    pub client_id: Option<&'a str>,
    pub ip: Option<&'a str>,
    /// What rate limits count by (e.g. the e-mail tried at login).
    pub subject: Option<&'a str>,
    pub details: serde_json::Value,
}

impl Engine {
    /// Writes an audit event to the table and a matching log line.
    pub fn audit(&self, rec: AuditRecord<'_>) -> Result<(), EngineError> {
        tracing::info!(
            target: "gatehouse::audit",
            kind = rec.kind,
            user_id = rec.user_id,
            client_id = rec.client_id,
            ip = rec.ip,
            "{}",
            rec.message
        );
        let details = if rec.details.is_null() { "{}".to_string() } else { rec.details.to_string() };
        self.store.insert_audit(&NewAuditEvent {
            at: self.now(),
            kind: rec.kind.to_string(),
            user_id: rec.user_id,
            client_id: rec.client_id.map(str::to_string),
            ip: rec.ip.map(str::to_string),
            subject: rec.subject.map(str::to_string),
            message: rec.message,
            details,
        })?;
        Ok(())
    }
}

impl Engine {
    /// The newest audit events first, optionally of one kind.
    pub fn audit_events(&self, kind: Option<&str>, limit: i64) -> Result<Vec<AuditEvent>, EngineError> {
        Ok(self.store.list_audit(kind, limit.clamp(1, 10_000))?)
    }
}
