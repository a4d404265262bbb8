use diesel::prelude::*;

use crate::db::{with_conn, with_write, Pools, Store, StoreError};
use crate::models::{NewSigningKey, SigningKeyRow};
use crate::schema::signing_keys;

impl Store {
    pub fn insert_signing_key(&self, new: &NewSigningKey) -> Result<SigningKeyRow, StoreError> {
        with_write!(self, |c| Ok(diesel::insert_into(signing_keys::table)
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
        with_write!(self, |c| Ok(diesel::update(
            signing_keys::table
                .filter(signing_keys::alg.eq(alg))
                .filter(signing_keys::kid.ne(keep_kid))
                .filter(signing_keys::retired_at.is_null())
        )
        .set((signing_keys::retired_at.eq(now), signing_keys::publish_until.eq(publish_until)))
        .execute(c)?))
    }
}

/// How [`Store::install_signing_keys`] treats the keys it is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyInstall {
    /// First start: insert a key only for an algorithm with no active key.
    /// Replicas starting together take turns, so one set is created.
    Missing,
    /// Rotation: insert every key, and retire every other active key of its
    /// algorithm at `retire_at`, published until `publish_until`.
    Rotate { retire_at: i64, publish_until: i64 },
}

/// Serialises key installation across replicas (PostgreSQL advisory lock).
const KEYS_LOCK: i64 = 7_274_284;

/// The body of [`Store::install_signing_keys`], for either connection type.
macro_rules! install_keys {
    ($c:expr, $keys:expr, $mode:expr) => {{
        let c = $c;
        let mut inserted = Vec::new();
        for key in $keys {
            if $mode == KeyInstall::Missing {
                let active: i64 = signing_keys::table
                    .filter(signing_keys::alg.eq(&key.alg))
                    .filter(signing_keys::retired_at.is_null())
                    .count()
                    .get_result(c)?;
                if active > 0 {
                    continue;
                }
            }
            let row: SigningKeyRow = diesel::insert_into(signing_keys::table)
                .values(key)
                .returning(SigningKeyRow::as_returning())
                .get_result(c)?;
            if let KeyInstall::Rotate { retire_at, publish_until } = $mode {
                diesel::update(
                    signing_keys::table
                        .filter(signing_keys::alg.eq(&key.alg))
                        .filter(signing_keys::kid.ne(&row.kid))
                        .filter(signing_keys::retired_at.is_null()),
                )
                .set((signing_keys::retired_at.eq(retire_at), signing_keys::publish_until.eq(publish_until)))
                .execute(c)?;
            }
            inserted.push(row);
        }
        Ok::<_, StoreError>(inserted)
    }};
}

impl Store {
    /// Installs signing keys in one transaction that replicas take in
    /// turns: a crash half-way leaves nothing, and two replicas starting
    /// together create one key per algorithm. Returns the keys inserted.
    pub fn install_signing_keys(
        &self,
        keys: &[NewSigningKey],
        mode: KeyInstall,
    ) -> Result<Vec<SigningKeyRow>, StoreError> {
        match &self.pools {
            Pools::Sqlite { write: pool, .. } => {
                let mut c = pool.get()?;
                // IMMEDIATE takes the write lock first: a second writer waits
                // (busy_timeout) and then sees the first one's keys.
                c.immediate_transaction(|c| install_keys!(c, keys, mode))
            }
            Pools::Postgres(pool) => {
                let mut c = pool.get()?;
                c.transaction(|c| {
                    diesel::sql_query(format!("SELECT pg_advisory_xact_lock({KEYS_LOCK})")).execute(c)?;
                    install_keys!(c, keys, mode)
                })
            }
        }
    }
}
