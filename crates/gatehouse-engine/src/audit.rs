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
        // The request's address and id, when a server request is being served.
        let caller = crate::caller::Caller::current();
        let ip = rec.ip.map(str::to_string).or_else(|| caller.as_ref().map(|c| c.ip.clone()).filter(|i| !i.is_empty()));
        let mut details = if rec.details.is_null() { serde_json::json!({}) } else { rec.details.clone() };
        if let (Some(c), Some(obj)) = (&caller, details.as_object_mut()) {
            if !c.request_id.is_empty() && !obj.contains_key("request_id") {
                obj.insert("request_id".into(), c.request_id.clone().into());
            }
            if !c.actor.is_empty() && !obj.contains_key("actor") {
                obj.insert("actor".into(), c.actor.clone().into());
            }
        }
        tracing::info!(
            target: "gatehouse::audit",
            kind = rec.kind,
            user_id = rec.user_id,
            client_id = rec.client_id,
            ip = ip.as_deref(),
            "{}",
            rec.message
        );
        let details = details.to_string();
        self.store.insert_audit(&NewAuditEvent {
            at: self.now(),
            kind: rec.kind.to_string(),
            user_id: rec.user_id,
            client_id: rec.client_id.map(str::to_string),
            ip,
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

    /// The newest audit events matching every filter given.
    pub fn search_audit(&self, filter: &gatehouse_store::AuditFilter) -> Result<Vec<AuditEvent>, EngineError> {
        let f = gatehouse_store::AuditFilter { limit: filter.limit.clamp(1, 10_000), ..filter.clone() };
        Ok(self.store.search_audit(&f)?)
    }
}
