use diesel::prelude::*;

use crate::db::{with_conn, with_write, Store, StoreError};
use crate::models::{NewSession, Session};
use crate::schema::sessions;

impl Store {
    pub fn insert_session(&self, new: &NewSession) -> Result<Session, StoreError> {
        with_write!(self, |c| Ok(diesel::insert_into(sessions::table)
            .values(new)
            .returning(Session::as_returning())
            .get_result(c)?))
    }

    /// The live session with this digest (not revoked, not expired).
    pub fn live_session_by_digest(&self, digest: &str, now: i64) -> Result<Option<Session>, StoreError> {
        with_conn!(self, |c| Ok(sessions::table
            .filter(sessions::digest.eq(digest))
            .filter(sessions::revoked_at.is_null())
            .filter(sessions::expires_at.gt(now))
            .select(Session::as_select())
            .get_result(c)
            .optional()?))
    }

    pub fn live_sessions_of_user(&self, user_id: i64, now: i64) -> Result<Vec<Session>, StoreError> {
        with_conn!(self, |c| Ok(sessions::table
            .filter(sessions::user_id.eq(user_id))
            .filter(sessions::revoked_at.is_null())
            .filter(sessions::expires_at.gt(now))
            .order(sessions::id.desc())
            .select(Session::as_select())
            .load(c)?))
    }

    /// Ends one session; `user_id` guards against ending someone else's.
    pub fn revoke_session(&self, id: i64, user_id: i64, now: i64) -> Result<bool, StoreError> {
        with_write!(self, |c| Ok(diesel::update(
            sessions::table
                .filter(sessions::id.eq(id))
                .filter(sessions::user_id.eq(user_id))
                .filter(sessions::revoked_at.is_null())
        )
        .set(sessions::revoked_at.eq(now))
        .execute(c)?
            == 1))
    }

    /// Ends every session of a user; returns the ids of those it ended.
    pub fn revoke_sessions_of_user(&self, user_id: i64, now: i64) -> Result<Vec<i64>, StoreError> {
        with_write!(self, |c| Ok(diesel::update(
            sessions::table.filter(sessions::user_id.eq(user_id)).filter(sessions::revoked_at.is_null())
        )
        .set(sessions::revoked_at.eq(now))
        .returning(sessions::id)
        .get_results(c)?))
    }

    /// Ends every session of a user but `keep` (this browser's).
    /// Returns the ids of the sessions it ended.
    pub fn revoke_other_sessions_of_user(&self, user_id: i64, keep: i64, now: i64) -> Result<Vec<i64>, StoreError> {
        with_write!(self, |c| Ok(diesel::update(
            sessions::table
                .filter(sessions::user_id.eq(user_id))
                .filter(sessions::id.ne(keep))
                .filter(sessions::revoked_at.is_null())
        )
        .set(sessions::revoked_at.eq(now))
        .returning(sessions::id)
        .get_results(c)?))
    }

    /// The clients each of these sessions signed in to (a code, SSO token
    /// or refresh token issued under the session), as (session, client_id).
    pub fn clients_of_sessions(&self, session_ids: &[i64]) -> Result<Vec<(i64, String)>, StoreError> {
        use crate::schema::grants;
        if session_ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<(Option<i64>, String)> = with_conn!(self, |c| grants::table
            .filter(grants::session_id.eq_any(session_ids))
            .select((grants::session_id, grants::client_id))
            .distinct()
            .load(c)?);
        Ok(rows.into_iter().filter_map(|(s, c)| s.map(|s| (s, c))).collect())
    }

    pub fn touch_session(&self, id: i64, now: i64) -> Result<(), StoreError> {
        with_write!(self, |c| {
            diesel::update(sessions::table.find(id)).set(sessions::last_seen_at.eq(now)).execute(c)?;
            Ok(())
        })
    }
}
