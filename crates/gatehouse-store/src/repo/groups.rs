//! The groups a member belongs to.

use diesel::prelude::*;

use crate::db::{with_conn, with_write, Store, StoreError};
use crate::schema::user_groups;

impl Store {
    /// The user's groups, sorted by name.
    pub fn groups_of_user(&self, user_id: i64) -> Result<Vec<String>, StoreError> {
        with_conn!(self, |c| Ok(user_groups::table
            .filter(user_groups::user_id.eq(user_id))
            .order(user_groups::name.asc())
            .select(user_groups::name)
            .load(c)?))
    }

    /// Replaces the user's groups with `names` in one transaction; returns
    /// the groups added and the groups removed.
    pub fn set_user_groups(
        &self,
        user_id: i64,
        names: &[String],
        now: i64,
    ) -> Result<(Vec<String>, Vec<String>), StoreError> {
        with_write!(self, |c| c.transaction(|c| {
            let current: Vec<String> =
                user_groups::table.filter(user_groups::user_id.eq(user_id)).select(user_groups::name).load(c)?;
            let removed: Vec<String> = current.iter().filter(|g| !names.contains(g)).cloned().collect();
            let added: Vec<String> = names.iter().filter(|g| !current.contains(g)).cloned().collect();
            if !removed.is_empty() {
                diesel::delete(
                    user_groups::table
                        .filter(user_groups::user_id.eq(user_id))
                        .filter(user_groups::name.eq_any(&removed)),
                )
                .execute(c)?;
            }
            for name in &added {
                diesel::insert_into(user_groups::table)
                    .values((
                        user_groups::user_id.eq(user_id),
                        user_groups::name.eq(name),
                        user_groups::created_at.eq(now),
                    ))
                    .execute(c)?;
            }
            Ok::<_, StoreError>((added, removed))
        }))
    }

    /// Every group name in use, with its member count.
    pub fn group_names(&self) -> Result<Vec<(String, i64)>, StoreError> {
        with_conn!(self, |c| Ok(user_groups::table
            .group_by(user_groups::name)
            .select((user_groups::name, diesel::dsl::count_star()))
            .order(user_groups::name.asc())
            .load(c)?))
    }
}
