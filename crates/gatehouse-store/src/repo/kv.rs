use diesel::prelude::*;

use crate::db::{with_conn, with_write, Store, StoreError};
use crate::schema::plugin_kv;

impl Store {
    /// A value, unless it expired (`now` ≥ its expiry).
    pub fn kv_get(&self, plugin: &str, key: &str, now: i64) -> Result<Option<String>, StoreError> {
        with_conn!(self, |c| Ok(plugin_kv::table
            .filter(plugin_kv::plugin.eq(plugin))
            .filter(plugin_kv::k.eq(key))
            .filter(plugin_kv::expires_at.is_null().or(plugin_kv::expires_at.gt(now)))
            .select(plugin_kv::v)
            .get_result::<String>(c)
            .optional()?))
    }

    /// Stores a value only when the key is unset (or expired), atomically
    /// across replicas (the primary key decides); `false`: it was set.
    pub fn kv_insert_new(
        &self,
        plugin: &str,
        key: &str,
        value: &str,
        expires_at: Option<i64>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let inserted: Result<usize, StoreError> = with_write!(self, |c| c.transaction(|c| {
            diesel::delete(
                plugin_kv::table
                    .filter(plugin_kv::plugin.eq(plugin))
                    .filter(plugin_kv::k.eq(key))
                    .filter(plugin_kv::expires_at.le(now)),
            )
            .execute(c)?;
            Ok::<_, StoreError>(
                diesel::insert_into(plugin_kv::table)
                    .values((
                        plugin_kv::plugin.eq(plugin),
                        plugin_kv::k.eq(key),
                        plugin_kv::v.eq(value),
                        plugin_kv::updated_at.eq(now),
                        plugin_kv::expires_at.eq(expires_at),
                    ))
                    .execute(c)?,
            )
        }));
        match inserted {
            Ok(_) => Ok(true),
            Err(StoreError::Conflict(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Deletes up to `limit` expired values.
    pub fn purge_expired_kv(&self, now: i64, limit: i64) -> Result<usize, StoreError> {
        with_write!(self, |c| {
            let old: Vec<(String, String)> = plugin_kv::table
                .filter(plugin_kv::expires_at.le(now))
                .select((plugin_kv::plugin, plugin_kv::k))
                .limit(limit)
                .load(c)?;
            let mut n = 0;
            for (p, k) in old {
                n += diesel::delete(
                    plugin_kv::table
                        .filter(plugin_kv::plugin.eq(p))
                        .filter(plugin_kv::k.eq(k))
                        .filter(plugin_kv::expires_at.le(now)),
                )
                .execute(c)?;
            }
            Ok(n)
        })
    }

    /// Sets a value (delete then insert in one transaction: portable upsert).
    pub fn kv_set(&self, plugin: &str, key: &str, value: &str, now: i64) -> Result<(), StoreError> {
        with_write!(self, |c| c.transaction(|c| {
            diesel::delete(plugin_kv::table.filter(plugin_kv::plugin.eq(plugin)).filter(plugin_kv::k.eq(key)))
                .execute(c)?;
            diesel::insert_into(plugin_kv::table)
                .values((
                    plugin_kv::plugin.eq(plugin),
                    plugin_kv::k.eq(key),
                    plugin_kv::v.eq(value),
                    plugin_kv::updated_at.eq(now),
                ))
                .execute(c)?;
            Ok::<_, StoreError>(())
        }))
    }

    pub fn kv_delete(&self, plugin: &str, key: &str) -> Result<bool, StoreError> {
        with_write!(self, |c| Ok(diesel::delete(
            plugin_kv::table.filter(plugin_kv::plugin.eq(plugin)).filter(plugin_kv::k.eq(key))
        )
        .execute(c)?
            == 1))
    }
}
