//! Second factors and recovery codes.

use diesel::prelude::*;

use crate::db::{with_conn, with_write, Store, StoreError};
use crate::models::UserFactor;
use crate::schema::{recovery_codes, sessions, user_factors};

impl Store {
    /// Adds an unconfirmed factor; the secret is encrypted by the caller,
    /// who needs the row id as associated data, so it is set in a second step.
    pub fn insert_factor(&self, user_id: i64, kind: &str, name: &str, now: i64) -> Result<UserFactor, StoreError> {
        with_write!(self, |c| Ok(diesel::insert_into(user_factors::table)
            .values((
                user_factors::user_id.eq(user_id),
                user_factors::kind.eq(kind),
                user_factors::name.eq(name),
                user_factors::secret_enc.eq(""),
                user_factors::created_at.eq(now),
            ))
            .returning(UserFactor::as_returning())
            .get_result(c)?))
    }

    /// Adds a confirmed passkey (its serialised key sealed by the caller
    /// in a second step, like a TOTP secret).
    pub fn insert_passkey(
        &self,
        user_id: i64,
        name: &str,
        credential_id: &str,
        now: i64,
    ) -> Result<UserFactor, StoreError> {
        with_write!(self, |c| Ok(diesel::insert_into(user_factors::table)
            .values((
                user_factors::user_id.eq(user_id),
                user_factors::kind.eq("passkey"),
                user_factors::name.eq(name),
                user_factors::secret_enc.eq(""),
                user_factors::created_at.eq(now),
                user_factors::confirmed_at.eq(now),
                user_factors::credential_id.eq(credential_id),
            ))
            .returning(UserFactor::as_returning())
            .get_result(c)?))
    }

    /// The passkey with this credential id.
    pub fn passkey_by_credential(&self, credential_id: &str) -> Result<Option<UserFactor>, StoreError> {
        with_conn!(self, |c| Ok(user_factors::table
            .filter(user_factors::kind.eq("passkey"))
            .filter(user_factors::credential_id.eq(credential_id))
            .select(UserFactor::as_select())
            .get_result(c)
            .optional()?))
    }

    /// Records a use (and a passkey's updated counter, sealed by the caller).
    pub fn touch_factor(&self, id: i64, secret_enc: Option<&str>, now: i64) -> Result<(), StoreError> {
        with_write!(self, |c| {
            match secret_enc {
                Some(s) => diesel::update(user_factors::table.find(id))
                    .set((user_factors::secret_enc.eq(s), user_factors::last_used_at.eq(now)))
                    .execute(c)?,
                None => {
                    diesel::update(user_factors::table.find(id)).set(user_factors::last_used_at.eq(now)).execute(c)?
                }
            };
            Ok(())
        })
    }

    pub fn set_factor_secret(&self, id: i64, secret_enc: &str) -> Result<(), StoreError> {
        with_write!(self, |c| {
            diesel::update(user_factors::table.find(id)).set(user_factors::secret_enc.eq(secret_enc)).execute(c)?;
            Ok(())
        })
    }

    /// The user's factors, confirmed or not, oldest first.
    pub fn factors_of_user(&self, user_id: i64) -> Result<Vec<UserFactor>, StoreError> {
        with_conn!(self, |c| Ok(user_factors::table
            .filter(user_factors::user_id.eq(user_id))
            .order(user_factors::id.asc())
            .select(UserFactor::as_select())
            .load(c)?))
    }

    /// Marks a factor confirmed (and its first code's step used).
    pub fn confirm_factor(&self, id: i64, step: i64, now: i64) -> Result<bool, StoreError> {
        with_write!(self, |c| Ok(diesel::update(
            user_factors::table.filter(user_factors::id.eq(id)).filter(user_factors::confirmed_at.is_null())
        )
        .set((user_factors::confirmed_at.eq(now), user_factors::last_step.eq(step), user_factors::last_used_at.eq(now)))
        .execute(c)?
            == 1))
    }

    /// Accepts TOTP time step `step` for a factor once: only a step later
    /// than the last accepted one advances it (atomic across replicas).
    pub fn advance_factor_step(&self, id: i64, step: i64, now: i64) -> Result<bool, StoreError> {
        with_write!(self, |c| Ok(diesel::update(
            user_factors::table.filter(user_factors::id.eq(id)).filter(user_factors::last_step.lt(step))
        )
        .set((user_factors::last_step.eq(step), user_factors::last_used_at.eq(now)))
        .execute(c)?
            == 1))
    }

    pub fn delete_factor(&self, user_id: i64, id: i64) -> Result<bool, StoreError> {
        with_write!(self, |c| Ok(diesel::delete(
            user_factors::table.filter(user_factors::id.eq(id)).filter(user_factors::user_id.eq(user_id))
        )
        .execute(c)?
            == 1))
    }

    /// Removes unconfirmed factors (an abandoned enrolment).
    pub fn delete_unconfirmed_factors(&self, user_id: i64) -> Result<usize, StoreError> {
        with_write!(self, |c| Ok(diesel::delete(
            user_factors::table.filter(user_factors::user_id.eq(user_id)).filter(user_factors::confirmed_at.is_null())
        )
        .execute(c)?))
    }

    /// Removes every factor and recovery code of a user; how many factors.
    pub fn delete_second_factors(&self, user_id: i64) -> Result<usize, StoreError> {
        with_write!(self, |c| c.transaction(|c| {
            diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user_id))).execute(c)?;
            Ok::<_, StoreError>(
                diesel::delete(user_factors::table.filter(user_factors::user_id.eq(user_id))).execute(c)?,
            )
        }))
    }

    /// Replaces the user's recovery codes (digests).
    pub fn replace_recovery_codes(&self, user_id: i64, digests: &[String], now: i64) -> Result<(), StoreError> {
        with_write!(self, |c| c.transaction(|c| {
            diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user_id))).execute(c)?;
            for d in digests {
                diesel::insert_into(recovery_codes::table)
                    .values((
                        recovery_codes::user_id.eq(user_id),
                        recovery_codes::digest.eq(d),
                        recovery_codes::created_at.eq(now),
                    ))
                    .execute(c)?;
            }
            Ok::<_, StoreError>(())
        }))
    }

    /// Spends a recovery code once (atomic): whether it was unused.
    pub fn use_recovery_code(&self, user_id: i64, digest: &str, now: i64) -> Result<bool, StoreError> {
        with_write!(self, |c| Ok(diesel::update(
            recovery_codes::table
                .filter(recovery_codes::user_id.eq(user_id))
                .filter(recovery_codes::digest.eq(digest))
                .filter(recovery_codes::used_at.is_null())
        )
        .set(recovery_codes::used_at.eq(now))
        .execute(c)?
            == 1))
    }

    /// How many unused recovery codes the user has.
    pub fn recovery_codes_left(&self, user_id: i64) -> Result<i64, StoreError> {
        with_conn!(self, |c| Ok(recovery_codes::table
            .filter(recovery_codes::user_id.eq(user_id))
            .filter(recovery_codes::used_at.is_null())
            .count()
            .get_result(c)?))
    }

    /// Records that a session now also used a second factor (step-up).
    pub fn set_session_amr(&self, id: i64, amr: &str, auth_time: i64) -> Result<(), StoreError> {
        with_write!(self, |c| {
            diesel::update(sessions::table.find(id))
                .set((sessions::amr.eq(amr), sessions::auth_time.eq(auth_time)))
                .execute(c)?;
            Ok(())
        })
    }
}
