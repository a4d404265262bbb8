use diesel::prelude::*;

use crate::db::{with_conn, with_write, Store, StoreError};
use crate::schema::plugin_kv;

impl Store {
    pub fn kv_get(&self, plugin: &str, key: &str) -> Result<Option<String>, StoreError> {
        with_conn!(self, |c| Ok(plugin_kv::table
            .filter(plugin_kv::plugin.eq(plugin))
            .filter(plugin_kv::k.eq(key))
            .select(plugin_kv::v)
            .first::<String>(c)
            .optional()?))
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
