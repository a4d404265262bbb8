use diesel::prelude::*;

use crate::db::{with_conn, with_write, Store, StoreError};
use crate::models::{Grant, GrantKind, NewGrant};
use crate::schema::{consents, grants, revoked_families};

/// What an attempt to redeem a single-use credential found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedeemOutcome {
    /// This call redeemed it; nobody else can.
    Redeemed(Grant),
    /// No such credential (of this kind).
    Unknown,
    /// It exists but has expired.
    Expired(Grant),
    /// It was already used (or revoked).
    AlreadyUsed(Grant),
}

impl Store {
    pub fn insert_grant(&self, new: &NewGrant) -> Result<(), StoreError> {
        self.insert_grants(vec![new.clone()])
    }

    /// Inserts grants together (all or none), committed with whatever
    /// else is being inserted at the moment (see `group_commit`); returns
    /// once they are durable.
    pub fn insert_grants(&self, rows: Vec<NewGrant>) -> Result<(), StoreError> {
        self.committer().insert(rows)
    }

    /// [`Store::insert_grants`] without blocking: the rows go to the same
    /// shared commit, and the returned [`crate::PendingCommit`] resolves
    /// once they are durable (or failed). For callers on an event loop.
    pub fn submit_grants(&self, rows: Vec<NewGrant>) -> crate::PendingCommit {
        self.committer().submit(rows)
    }

    fn committer(&self) -> &crate::group_commit::GroupCommit {
        self.group_commit.get_or_init(|| crate::group_commit::GroupCommit::start(self.pools.clone()))
    }

    /// Redeems a single-use credential: one conditional UPDATE that only one
    /// caller can win, on either backend and across replicas.
    pub fn redeem_once(&self, kind: GrantKind, digest: &str, now: i64) -> Result<RedeemOutcome, StoreError> {
        let won: Option<Grant> = with_write!(self, |c| diesel::update(
            grants::table
                .filter(grants::digest.eq(digest))
                .filter(grants::kind.eq(kind.as_str()))
                .filter(grants::used_at.is_null())
                .filter(grants::revoked_at.is_null())
                .filter(grants::expires_at.gt(now))
                // Not of a family revoked as a whole (even after it was inserted).
                .filter(diesel::dsl::not(diesel::dsl::exists(
                    revoked_families::table.filter(revoked_families::family.nullable().eq(grants::family)),
                )))
        )
        .set(grants::used_at.eq(now))
        .returning(Grant::as_returning())
        .get_result(c)
        .optional()?);
        if let Some(g) = won {
            return Ok(RedeemOutcome::Redeemed(g));
        }
        Ok(match self.grant_by_digest(kind, digest)? {
            None => RedeemOutcome::Unknown,
            Some(g) if g.used_at.is_some() || g.revoked_at.is_some() => RedeemOutcome::AlreadyUsed(g),
            Some(g) => RedeemOutcome::Expired(g),
        })
    }

    /// The credential of `kind` with this digest; `revoked_at` is set when
    /// the credential or its whole family was revoked.
    pub fn grant_by_digest(&self, kind: GrantKind, digest: &str) -> Result<Option<Grant>, StoreError> {
        let row: Option<(Grant, Option<i64>)> = with_conn!(self, |c| grants::table
            .left_join(revoked_families::table.on(revoked_families::family.nullable().eq(grants::family)))
            .filter(grants::digest.eq(digest))
            .filter(grants::kind.eq(kind.as_str()))
            .select((Grant::as_select(), revoked_families::revoked_at.nullable()))
            .get_result(c)
            .optional()?);
        Ok(row.map(with_family_revocation))
    }

    /// Any credential with this digest, whatever its kind (`revoked_at` as
    /// in [`Store::grant_by_digest`]).
    pub fn grant_by_any_digest(&self, digest: &str) -> Result<Option<Grant>, StoreError> {
        let row: Option<(Grant, Option<i64>)> = with_conn!(self, |c| grants::table
            .left_join(revoked_families::table.on(revoked_families::family.nullable().eq(grants::family)))
            .filter(grants::digest.eq(digest))
            .select((Grant::as_select(), revoked_families::revoked_at.nullable()))
            .get_result(c)
            .optional()?);
        Ok(row.map(with_family_revocation))
    }

    pub fn revoke_grant(&self, id: i64, now: i64) -> Result<bool, StoreError> {
        with_write!(self, |c| Ok(diesel::update(grants::table.find(id).filter(grants::revoked_at.is_null()))
            .set(grants::revoked_at.eq(now))
            .execute(c)?
            == 1))
    }

    /// Revokes every credential of a family (a code and all the access and
    /// refresh tokens descended from it), including ones inserted into it
    /// later: the family itself is recorded as revoked.
    pub fn revoke_family(&self, family: &str, now: i64) -> Result<usize, StoreError> {
        with_write!(self, |c| c.transaction(|c| {
            diesel::insert_into(revoked_families::table)
                .values((revoked_families::family.eq(family), revoked_families::revoked_at.eq(now)))
                .on_conflict_do_nothing()
                .execute(c)?;
            Ok::<_, StoreError>(
                diesel::update(grants::table.filter(grants::family.eq(family)).filter(grants::revoked_at.is_null()))
                    .set(grants::revoked_at.eq(now))
                    .execute(c)?,
            )
        }))
    }

    /// Revokes every live credential of a user (e.g. when they are Closed).
    pub fn revoke_grants_of_user(&self, user_id: i64, now: i64) -> Result<usize, StoreError> {
        with_write!(self, |c| Ok(diesel::update(
            grants::table.filter(grants::user_id.eq(user_id)).filter(grants::revoked_at.is_null())
        )
        .set(grants::revoked_at.eq(now))
        .execute(c)?))
    }

    /// Deletes credentials that expired before `before`.
    pub fn purge_expired_grants(&self, before: i64) -> Result<usize, StoreError> {
        with_write!(self, |c| Ok(diesel::delete(grants::table.filter(grants::expires_at.lt(before))).execute(c)?))
    }

    /// The scope a user consented to for a client, if any.
    pub fn consent(&self, user_id: i64, client_id: &str) -> Result<Option<String>, StoreError> {
        with_conn!(self, |c| Ok(consents::table
            .filter(consents::user_id.eq(user_id))
            .filter(consents::client_id.eq(client_id))
            .select(consents::scope)
            .get_result::<String>(c)
            .optional()?))
    }

    /// Records (replacing) a user's consent for a client.
    pub fn save_consent(&self, user_id: i64, client_id: &str, scope: &str, now: i64) -> Result<(), StoreError> {
        with_write!(self, |c| c.transaction(|c| {
            diesel::delete(
                consents::table.filter(consents::user_id.eq(user_id)).filter(consents::client_id.eq(client_id)),
            )
            .execute(c)?;
            diesel::insert_into(consents::table)
                .values((
                    consents::user_id.eq(user_id),
                    consents::client_id.eq(client_id),
                    consents::scope.eq(scope),
                    consents::created_at.eq(now),
                ))
                .execute(c)?;
            Ok::<_, StoreError>(())
        }))
    }
}

/// A grant as its family's revocation leaves it.
fn with_family_revocation((mut g, family_revoked): (Grant, Option<i64>)) -> Grant {
    if g.revoked_at.is_none() {
        g.revoked_at = family_revoked;
    }
    g
}
