use diesel::prelude::*;

/// Which audit events to list.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// A kind, or a prefix ending in `.` (`oauth.`).
    pub kind: Option<String>,
    pub user_id: Option<i64>,
    pub client_id: Option<String>,
    pub ip: Option<String>,
    /// At or after (Unix seconds).
    pub since: Option<i64>,
    /// Before (Unix seconds).
    pub until: Option<i64>,
    /// Only events older than this id (the next page of a listing).
    pub before_id: Option<i64>,
    pub limit: i64,
}

use crate::db::{with_conn, with_write, Store, StoreError};
use crate::models::{AuditEvent, NewAuditEvent};
use crate::schema::audit_events;

impl Store {
    pub fn insert_audit(&self, ev: &NewAuditEvent) -> Result<(), StoreError> {
        with_write!(self, |c| {
            diesel::insert_into(audit_events::table).values(ev).execute(c)?;
            Ok(())
        })
    }

    /// The newest audit events, optionally of one kind.
    /// Events matching every filter given, newest first.
    pub fn search_audit(&self, f: &AuditFilter) -> Result<Vec<AuditEvent>, StoreError> {
        with_conn!(self, |c| {
            let mut q = audit_events::table.into_boxed();
            if let Some(k) = &f.kind {
                // `oauth.` matches every oauth event; a full kind matches itself.
                if k.ends_with('.') {
                    q = q.filter(audit_events::kind.like(format!("{}%", k.replace('%', ""))));
                } else {
                    q = q.filter(audit_events::kind.eq(k.clone()));
                }
            }
            if let Some(u) = f.user_id {
                q = q.filter(audit_events::user_id.eq(u));
            }
            if let Some(cid) = &f.client_id {
                q = q.filter(audit_events::client_id.eq(cid.clone()));
            }
            if let Some(ip) = &f.ip {
                q = q.filter(audit_events::ip.eq(ip.clone()));
            }
            if let Some(s) = f.since {
                q = q.filter(audit_events::at.ge(s));
            }
            if let Some(u) = f.until {
                q = q.filter(audit_events::at.lt(u));
            }
            if let Some(b) = f.before_id {
                q = q.filter(audit_events::id.lt(b));
            }
            Ok(q.order(audit_events::id.desc()).limit(f.limit).select(AuditEvent::as_select()).load(c)?)
        })
    }

    pub fn list_audit(&self, kind: Option<&str>, limit: i64) -> Result<Vec<AuditEvent>, StoreError> {
        with_conn!(self, |c| {
            let mut q = audit_events::table.into_boxed();
            if let Some(k) = kind {
                q = q.filter(audit_events::kind.eq(k.to_string()));
            }
            Ok(q.order(audit_events::id.desc()).limit(limit).select(AuditEvent::as_select()).load(c)?)
        })
    }

    /// How many events of `kind` about `subject` happened since `since`.
    pub fn count_audit_for_subject(&self, kind: &str, subject: &str, since: i64) -> Result<i64, StoreError> {
        with_conn!(self, |c| Ok(audit_events::table
            .filter(audit_events::kind.eq(kind))
            .filter(audit_events::subject.eq(subject))
            .filter(audit_events::at.gt(since))
            .count()
            .get_result(c)?))
    }

    /// How many events of `kind` from `ip` happened since `since`.
    pub fn count_audit_for_ip(&self, kind: &str, ip: &str, since: i64) -> Result<i64, StoreError> {
        with_conn!(self, |c| Ok(audit_events::table
            .filter(audit_events::kind.eq(kind))
            .filter(audit_events::ip.eq(ip))
            .filter(audit_events::at.gt(since))
            .count()
            .get_result(c)?))
    }
}
