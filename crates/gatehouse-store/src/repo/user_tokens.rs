//! Single-use links mailed to members: password reset (and, later, e-mail
//! verification and invitations). Stored as digests; redeemed by one
//! conditional `UPDATE`, so a link works once even under concurrency and
//! across replicas.

use diesel::prelude::*;

use crate::db::{with_conn, with_write, Store, StoreError};
use crate::schema::user_tokens;

/// What a link is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenPurpose {
    PasswordReset,
    VerifyEmail,
    Invitation,
}

impl TokenPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenPurpose::PasswordReset => "password_reset",
            TokenPurpose::VerifyEmail => "verify_email",
            TokenPurpose::Invitation => "invitation",
        }
    }
}

/// A redeemed link.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = user_tokens)]
pub struct UserToken {
    pub digest: String,
    pub purpose: String,
    pub user_id: Option<i64>,
    pub email: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

impl Store {
    /// Stores a new link's digest.
    pub fn insert_user_token(
        &self,
        purpose: TokenPurpose,
        digest: &str,
        user_id: Option<i64>,
        email: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        with_write!(self, |c| {
            diesel::insert_into(user_tokens::table)
                .values((
                    user_tokens::digest.eq(digest),
                    user_tokens::purpose.eq(purpose.as_str()),
                    user_tokens::user_id.eq(user_id),
                    user_tokens::email.eq(email),
                    user_tokens::created_at.eq(now),
                    user_tokens::expires_at.eq(expires_at),
                ))
                .execute(c)?;
            Ok(())
        })
    }

    /// Redeems a live, unused link once: the one caller whose `UPDATE`
    /// marks it used gets it; everyone else gets `None`.
    pub fn redeem_user_token(
        &self,
        purpose: TokenPurpose,
        digest: &str,
        now: i64,
    ) -> Result<Option<UserToken>, StoreError> {
        with_write!(self, |c| Ok(diesel::update(
            user_tokens::table
                .filter(user_tokens::digest.eq(digest))
                .filter(user_tokens::purpose.eq(purpose.as_str()))
                .filter(user_tokens::used_at.is_null())
                .filter(user_tokens::expires_at.gt(now))
        )
        .set(user_tokens::used_at.eq(now))
        .returning(UserToken::as_returning())
        .get_result(c)
        .optional()?))
    }

    /// Whether a link is live and unused (the page checks before its form).
    pub fn user_token_live(
        &self,
        purpose: TokenPurpose,
        digest: &str,
        now: i64,
    ) -> Result<Option<UserToken>, StoreError> {
        with_conn!(self, |c| Ok(user_tokens::table
            .filter(user_tokens::digest.eq(digest))
            .filter(user_tokens::purpose.eq(purpose.as_str()))
            .filter(user_tokens::used_at.is_null())
            .filter(user_tokens::expires_at.gt(now))
            .select(UserToken::as_select())
            .get_result(c)
            .optional()?))
    }

    /// Spends every live link of a user for a purpose (a newer one, or a
    /// completed reset, makes the others useless).
    pub fn spend_user_tokens(&self, purpose: TokenPurpose, user_id: i64, now: i64) -> Result<usize, StoreError> {
        with_write!(self, |c| Ok(diesel::update(
            user_tokens::table
                .filter(user_tokens::user_id.eq(user_id))
                .filter(user_tokens::purpose.eq(purpose.as_str()))
                .filter(user_tokens::used_at.is_null())
        )
        .set(user_tokens::used_at.eq(now))
        .execute(c)?))
    }

    /// Deletes expired links (the janitor).
    pub fn purge_user_tokens(&self, before: i64, batch: i64) -> Result<usize, StoreError> {
        with_write!(self, |c| {
            let old: Vec<String> = user_tokens::table
                .filter(user_tokens::expires_at.lt(before))
                .select(user_tokens::digest)
                .limit(batch)
                .load(c)?;
            Ok(diesel::delete(user_tokens::table.filter(user_tokens::digest.eq_any(old))).execute(c)?)
        })
    }
}
