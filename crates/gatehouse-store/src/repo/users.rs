use diesel::prelude::*;

use crate::db::{with_conn, with_write, Store, StoreError};
use crate::models::{NewUser, User};
use crate::schema::users;

/// Changes to a user's profile; `None` keeps the current value.
#[derive(Debug, Clone, Default)]
pub struct UserChanges {
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub locale: Option<String>,
    pub email_verified: Option<bool>,
    pub password_hash: Option<Option<String>>,
}

impl Store {
    /// Inserts a user; a duplicate e-mail is `StoreError::Conflict`.
    pub fn insert_user(&self, new: &NewUser) -> Result<User, StoreError> {
        let res: Result<User, diesel::result::Error> = with_write!(self, |c| diesel::insert_into(users::table)
            .values(new)
            .returning(User::as_returning())
            .get_result(c));
        res.map_err(|e| match StoreError::from(e) {
            StoreError::Conflict(_) => StoreError::Conflict(format!("a user with e-mail {}", new.email)),
            other => other,
        })
    }

    /// Marks a user as self-registered (sign-up).
    pub fn set_user_self_registered(&self, id: i64) -> Result<(), StoreError> {
        with_write!(self, |c| {
            diesel::update(users::table.find(id)).set(users::self_registered.eq(true)).execute(c)?;
            Ok(())
        })
    }

    pub fn user_by_id(&self, id: i64) -> Result<Option<User>, StoreError> {
        with_conn!(self, |c| Ok(users::table.find(id).select(User::as_select()).get_result(c).optional()?))
    }

    pub fn user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        with_conn!(self, |c| Ok(users::table
            .filter(users::email.eq(email))
            .select(User::as_select())
            .get_result(c)
            .optional()?))
    }

    pub fn user_by_uuid(&self, uuid: &str) -> Result<Option<User>, StoreError> {
        with_conn!(self, |c| Ok(users::table
            .filter(users::uuid.eq(uuid))
            .select(User::as_select())
            .get_result(c)
            .optional()?))
    }

    pub fn list_users(&self, limit: i64, offset: i64) -> Result<Vec<User>, StoreError> {
        with_conn!(self, |c| Ok(users::table
            .order(users::id.asc())
            .limit(limit)
            .offset(offset)
            .select(User::as_select())
            .load(c)?))
    }

    pub fn set_user_status(&self, id: i64, status: gatehouse_core::UserStatus, now: i64) -> Result<bool, StoreError> {
        with_write!(self, |c| Ok(diesel::update(users::table.find(id))
            .set((users::status.eq(status), users::updated_at.eq(now)))
            .execute(c)?
            == 1))
    }

    pub fn set_user_allow_sso(&self, id: i64, allow: bool, now: i64) -> Result<bool, StoreError> {
        with_write!(self, |c| Ok(diesel::update(users::table.find(id))
            .set((users::allow_sso.eq(allow), users::updated_at.eq(now)))
            .execute(c)?
            == 1))
    }

    /// Applies profile changes; returns the updated user.
    pub fn update_user(&self, id: i64, ch: &UserChanges, now: i64) -> Result<User, StoreError> {
        let current = self.user_by_id(id)?.ok_or_else(|| StoreError::NotFound(format!("user {id}")))?;
        let res: Result<User, diesel::result::Error> = with_write!(self, |c| diesel::update(users::table.find(id))
            .set((
                users::email.eq(ch.email.clone().unwrap_or(current.email.clone())),
                users::display_name.eq(ch.display_name.clone().unwrap_or(current.display_name.clone())),
                users::given_name.eq(ch.given_name.clone().unwrap_or(current.given_name.clone())),
                users::family_name.eq(ch.family_name.clone().unwrap_or(current.family_name.clone())),
                users::locale.eq(ch.locale.clone().unwrap_or(current.locale.clone())),
                users::email_verified.eq(ch.email_verified.unwrap_or(current.email_verified)),
                users::password_hash.eq(ch.password_hash.clone().unwrap_or(current.password_hash.clone())),
                users::updated_at.eq(now),
            ))
            .returning(User::as_returning())
            .get_result(c));
        res.map_err(|e| match StoreError::from(e) {
            StoreError::Conflict(_) => {
                StoreError::Conflict(format!("a user with e-mail {}", ch.email.clone().unwrap_or_default()))
            }
            other => other,
        })
    }
}
