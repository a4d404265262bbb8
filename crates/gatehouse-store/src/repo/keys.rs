use diesel::prelude::*;

use crate::db::{with_conn, Store, StoreError};
use crate::models::{NewSigningKey, SigningKeyRow};
use crate::schema::signing_keys;

impl Store {
    pub fn insert_signing_key(&self, new: &NewSigningKey) -> Result<SigningKeyRow, StoreError> {
        with_conn!(self, |c| Ok(diesel::insert_into(signing_keys::table)
            .values(new)
            .returning(SigningKeyRow::as_returning())
            .get_result(c)?))
    }

    /// Keys whose public part is still published (not past `publish_until`).
    pub fn published_signing_keys(&self, now: i64) -> Result<Vec<SigningKeyRow>, StoreError> {
        with_conn!(self, |c| Ok(signing_keys::table
            .filter(signing_keys::publish_until.is_null().or(signing_keys::publish_until.gt(now)))
            .order(signing_keys::id.asc())
            .select(SigningKeyRow::as_select())
            .load(c)?))
    }

    /// Retires every active key of `alg` except `keep_kid`, keeping each
    /// published until `publish_until`.
    pub fn retire_signing_keys(
        &self,
        alg: &str,
        keep_kid: &str,
        now: i64,
        publish_until: i64,
    ) -> Result<usize, StoreError> {
        with_conn!(self, |c| Ok(diesel::update(
            signing_keys::table
                .filter(signing_keys::alg.eq(alg))
                .filter(signing_keys::kid.ne(keep_kid))
                .filter(signing_keys::retired_at.is_null())
        )
        .set((signing_keys::retired_at.eq(now), signing_keys::publish_until.eq(publish_until)))
        .execute(c)?))
    }
}
