//! Deleting what has expired, in small batches: each call finds at most
//! `limit` rows through an index and deletes them by primary key, so it
//! holds locks briefly and never stalls token traffic. Safe when several
//! replicas sweep at once (a row deleted twice is deleted once).

use diesel::prelude::*;

use crate::db::{with_write, Store, StoreError};
use crate::schema::{audit_events, grants, revoked_families, sessions};

impl Store {
    /// Deletes up to `limit` credentials that expired before `before`.
    pub fn delete_expired_grants(&self, before: i64, limit: i64) -> Result<usize, StoreError> {
        with_write!(self, |c| {
            let ids: Vec<i64> =
                grants::table.filter(grants::expires_at.lt(before)).select(grants::id).limit(limit).load(c)?;
            if ids.is_empty() {
                return Ok(0);
            }
            Ok(diesel::delete(grants::table.filter(grants::id.eq_any(&ids))).execute(c)?)
        })
    }

    /// Deletes up to `limit` sessions that expired, or ended, before `before`.
    pub fn delete_ended_sessions(&self, before: i64, limit: i64) -> Result<usize, StoreError> {
        with_write!(self, |c| {
            let ids: Vec<i64> = sessions::table
                .filter(sessions::expires_at.lt(before).or(sessions::revoked_at.lt(before)))
                .select(sessions::id)
                .limit(limit)
                .load(c)?;
            if ids.is_empty() {
                return Ok(0);
            }
            Ok(diesel::delete(sessions::table.filter(sessions::id.eq_any(&ids))).execute(c)?)
        })
    }

    /// Deletes up to `limit` revoked-family records older than `before`
    /// whose family has no credential left (nothing to keep dead).
    pub fn delete_spent_families(&self, before: i64, limit: i64) -> Result<usize, StoreError> {
        with_write!(self, |c| {
            let families: Vec<String> = revoked_families::table
                .filter(revoked_families::revoked_at.lt(before))
                .filter(diesel::dsl::not(diesel::dsl::exists(
                    grants::table.filter(grants::family.eq(revoked_families::family.nullable())),
                )))
                .select(revoked_families::family)
                .limit(limit)
                .load(c)?;
            if families.is_empty() {
                return Ok(0);
            }
            Ok(diesel::delete(revoked_families::table.filter(revoked_families::family.eq_any(&families))).execute(c)?)
        })
    }

    /// Deletes up to `limit` audit events recorded before `before`.
    pub fn delete_audit_before(&self, before: i64, limit: i64) -> Result<usize, StoreError> {
        with_write!(self, |c| {
            let ids: Vec<i64> = audit_events::table
                .filter(audit_events::at.lt(before))
                .select(audit_events::id)
                .limit(limit)
                .load(c)?;
            if ids.is_empty() {
                return Ok(0);
            }
            Ok(diesel::delete(audit_events::table.filter(audit_events::id.eq_any(&ids))).execute(c)?)
        })
    }
}
