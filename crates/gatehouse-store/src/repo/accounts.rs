use diesel::prelude::*;

use crate::db::{with_conn, with_write, Store, StoreError};
use crate::models::Account;
use crate::schema::{account_members, accounts};

impl Store {
    /// Creates an account owned by `owner` (who also becomes a member).
    pub fn insert_account(&self, name: &str, owner: i64, now: i64) -> Result<Account, StoreError> {
        with_write!(self, |c| c.transaction(|c| {
            let acc: Account = diesel::insert_into(accounts::table)
                .values((
                    accounts::name.eq(name),
                    accounts::owner_user_id.eq(owner),
                    accounts::created_at.eq(now),
                    accounts::updated_at.eq(now),
                ))
                .returning(Account::as_returning())
                .get_result(c)?;
            diesel::insert_into(account_members::table)
                .values((account_members::account_id.eq(acc.id), account_members::user_id.eq(owner)))
                .execute(c)?;
            Ok::<_, StoreError>(acc)
        }))
    }

    pub fn account_by_id(&self, id: i64) -> Result<Option<Account>, StoreError> {
        with_conn!(self, |c| Ok(accounts::table.find(id).select(Account::as_select()).get_result(c).optional()?))
    }

    /// The accounts a user owns or belongs to.
    pub fn accounts_of_user(&self, user_id: i64) -> Result<Vec<Account>, StoreError> {
        with_conn!(self, |c| Ok(accounts::table
            .inner_join(account_members::table.on(account_members::account_id.eq(accounts::id)))
            .filter(account_members::user_id.eq(user_id))
            .select(Account::as_select())
            .order(accounts::id.asc())
            .load(c)?))
    }

    pub fn add_account_member(&self, account_id: i64, user_id: i64) -> Result<(), StoreError> {
        with_write!(self, |c| {
            diesel::insert_into(account_members::table)
                .values((account_members::account_id.eq(account_id), account_members::user_id.eq(user_id)))
                .execute(c)?;
            Ok(())
        })
    }

    pub fn is_account_member(&self, account_id: i64, user_id: i64) -> Result<bool, StoreError> {
        with_conn!(self, |c| {
            let n: i64 = account_members::table
                .filter(account_members::account_id.eq(account_id))
                .filter(account_members::user_id.eq(user_id))
                .count()
                .get_result(c)?;
            Ok(n > 0)
        })
    }
}
