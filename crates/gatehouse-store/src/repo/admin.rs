//! What administrators read and change beyond the other repositories:
//! the admin role, user search and deletion, consents, refresh-token
//! families, and the counts the console's dashboard shows.

use diesel::prelude::*;
use serde::Serialize;

use crate::db::{with_conn, with_write, Store, StoreError};
use crate::models::{GrantKind, User};
use crate::schema::{audit_events, clients, consents, grants, users};

/// A user's standing consent for a client.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Consent {
    pub client_id: String,
    pub scope: String,
    pub created_at: i64,
}

/// A live refresh-token family: one sign-in of a user at a client, however
/// many times its refresh token has rotated since.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RefreshFamily {
    pub family: String,
    pub client_id: String,
    pub scope: String,
    /// When the current refresh token of the family was issued.
    pub refreshed_at: i64,
    pub expires_at: i64,
}

impl Store {
    /// Gives or takes the admin role; `false` when there is no such user.
    pub fn set_user_admin(&self, id: i64, admin: bool, now: i64) -> Result<bool, StoreError> {
        with_write!(self, |c| Ok(diesel::update(users::table.find(id))
            .set((users::is_admin.eq(admin), users::updated_at.eq(now)))
            .execute(c)?
            == 1))
    }

    /// How many administrators exist (setup is offered only while none does).
    pub fn count_admins(&self) -> Result<i64, StoreError> {
        with_conn!(self, |c| Ok(users::table.filter(users::is_admin.eq(true)).count().get_result(c)?))
    }

    /// Users whose e-mail or name contains `query` (any case), by id, after
    /// `after_id` (cursor pagination).
    pub fn search_users(
        &self,
        query: Option<&str>,
        after_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<User>, StoreError> {
        with_conn!(self, |c| {
            let mut q = users::table.into_boxed();
            if let Some(text) = query.map(str::trim).filter(|t| !t.is_empty()) {
                // LIKE wildcards in the query are matched literally.
                let pattern =
                    format!("%{}%", text.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
                q = q.filter(
                    diesel::dsl::sql::<diesel::sql_types::Bool>("(lower(email) LIKE ")
                        .bind::<diesel::sql_types::Text, _>(pattern.clone())
                        .sql(" ESCAPE '\\' OR lower(display_name) LIKE ")
                        .bind::<diesel::sql_types::Text, _>(pattern)
                        .sql(" ESCAPE '\\')"),
                );
            }
            if let Some(a) = after_id {
                q = q.filter(users::id.gt(a));
            }
            Ok(q.order(users::id.asc()).limit(limit).select(User::as_select()).load(c)?)
        })
    }

    /// Deletes a user with their sessions, consents, identity links and
    /// memberships (the database cascades), and revokes every token they
    /// hold first, in one transaction. `false` when there is no such user.
    pub fn delete_user(&self, id: i64, now: i64) -> Result<bool, StoreError> {
        with_write!(self, |c| c.transaction(|c| {
            diesel::update(grants::table.filter(grants::user_id.eq(id)).filter(grants::revoked_at.is_null()))
                .set(grants::revoked_at.eq(now))
                .execute(c)?;
            Ok::<_, StoreError>(diesel::delete(users::table.find(id)).execute(c)? == 1)
        }))
    }

    /// Revokes every live credential a client holds for a user.
    pub fn revoke_grants_of_user_at_client(
        &self,
        user_id: i64,
        client_id: &str,
        now: i64,
    ) -> Result<usize, StoreError> {
        with_write!(self, |c| Ok(diesel::update(
            grants::table
                .filter(grants::user_id.eq(user_id))
                .filter(grants::client_id.eq(client_id))
                .filter(grants::revoked_at.is_null())
        )
        .set(grants::revoked_at.eq(now))
        .execute(c)?))
    }

    /// The user's consents, newest first.
    pub fn consents_of_user(&self, user_id: i64) -> Result<Vec<Consent>, StoreError> {
        with_conn!(self, |c| {
            let rows: Vec<(String, String, i64)> = consents::table
                .filter(consents::user_id.eq(user_id))
                .order(consents::created_at.desc())
                .select((consents::client_id, consents::scope, consents::created_at))
                .load(c)?;
            Ok(rows
                .into_iter()
                .map(|(client_id, scope, created_at)| Consent { client_id, scope, created_at })
                .collect())
        })
    }

    /// Forgets the user's consent for a client; `false` when there was none.
    pub fn delete_consent(&self, user_id: i64, client_id: &str) -> Result<bool, StoreError> {
        with_write!(self, |c| Ok(diesel::delete(
            consents::table.filter(consents::user_id.eq(user_id)).filter(consents::client_id.eq(client_id))
        )
        .execute(c)?
            > 0))
    }

    /// The user's live refresh-token families (unspent, unrevoked, unexpired
    /// current tokens), newest first.
    pub fn refresh_families_of_user(&self, user_id: i64, now: i64) -> Result<Vec<RefreshFamily>, StoreError> {
        with_conn!(self, |c| {
            let rows: Vec<(Option<String>, String, String, i64, i64)> = grants::table
                .filter(grants::user_id.eq(user_id))
                .filter(grants::kind.eq(GrantKind::Refresh))
                .filter(grants::used_at.is_null())
                .filter(grants::revoked_at.is_null())
                .filter(grants::expires_at.gt(now))
                .order(grants::created_at.desc())
                .select((grants::family, grants::client_id, grants::scope, grants::created_at, grants::expires_at))
                .load(c)?;
            Ok(rows
                .into_iter()
                .filter_map(|(family, client_id, scope, refreshed_at, expires_at)| {
                    Some(RefreshFamily { family: family?, client_id, scope, refreshed_at, expires_at })
                })
                .collect())
        })
    }

    /// The id of the newest event of `kind` about `subject`.
    pub fn latest_audit_id_for_subject(&self, kind: &str, subject: &str) -> Result<Option<i64>, StoreError> {
        with_conn!(self, |c| Ok(audit_events::table
            .filter(audit_events::kind.eq(kind))
            .filter(audit_events::subject.eq(subject))
            .select(diesel::dsl::max(audit_events::id))
            .get_result::<Option<i64>>(c)?))
    }

    /// How many events of `kind` about `subject` happened since `since`
    /// and after the event `after_id` (an unlock resets the count).
    pub fn count_audit_for_subject_after(
        &self,
        kind: &str,
        subject: &str,
        since: i64,
        after_id: i64,
    ) -> Result<i64, StoreError> {
        with_conn!(self, |c| Ok(audit_events::table
            .filter(audit_events::kind.eq(kind))
            .filter(audit_events::subject.eq(subject))
            .filter(audit_events::at.gt(since))
            .filter(audit_events::id.gt(after_id))
            .count()
            .get_result(c)?))
    }

    /// Events of a kind (or a kind prefix ending in `.`) since `since`.
    pub fn count_audit_since(&self, kind: &str, since: i64) -> Result<i64, StoreError> {
        with_conn!(self, |c| {
            let mut q = audit_events::table.filter(audit_events::at.ge(since)).into_boxed();
            q = if kind.ends_with('.') {
                q.filter(audit_events::kind.like(format!("{kind}%")))
            } else {
                q.filter(audit_events::kind.eq(kind.to_string()))
            };
            Ok(q.count().get_result(c)?)
        })
    }

    /// How many users and clients exist.
    pub fn directory_counts(&self) -> Result<(i64, i64), StoreError> {
        with_conn!(self, |c| Ok((users::table.count().get_result(c)?, clients::table.count().get_result(c)?)))
    }
}
