//! Links from upstream identities (an `identity_provider` plugin's subject)
//! to local users: federated sign-in resolves users through them.

use diesel::prelude::*;

use crate::db::{with_conn, with_write, Store, StoreError};
use crate::models::IdentityLink;
use crate::schema::identity_links;

impl Store {
    pub fn identity_link(&self, plugin: &str, subject: &str) -> Result<Option<IdentityLink>, StoreError> {
        with_conn!(self, |c| Ok(identity_links::table
            .find((plugin, subject))
            .select(IdentityLink::as_select())
            .get_result(c)
            .optional()?))
    }

    /// Inserts a link; an existing (plugin, subject) is `StoreError::Conflict`.
    pub fn insert_identity_link(&self, link: &IdentityLink) -> Result<(), StoreError> {
        let res: Result<usize, diesel::result::Error> =
            with_write!(self, |c| diesel::insert_into(identity_links::table).values(link).execute(c));
        res.map(|_| ()).map_err(|e| match StoreError::from(e) {
            StoreError::Conflict(_) => {
                StoreError::Conflict(format!("a link for subject {:?} of {}", link.subject, link.plugin))
            }
            other => other,
        })
    }

    /// Records a sign-in through a link (and the e-mail the upstream asserted).
    pub fn touch_identity_link(
        &self,
        plugin: &str,
        subject: &str,
        email: Option<&str>,
        now: i64,
    ) -> Result<bool, StoreError> {
        with_write!(self, |c| Ok(diesel::update(identity_links::table.find((plugin, subject)))
            .set((identity_links::last_login_at.eq(now), identity_links::email.eq(email)))
            .execute(c)?
            == 1))
    }

    pub fn identity_links_of_user(&self, user_id: i64) -> Result<Vec<IdentityLink>, StoreError> {
        with_conn!(self, |c| Ok(identity_links::table
            .filter(identity_links::user_id.eq(user_id))
            .order((identity_links::plugin.asc(), identity_links::subject.asc()))
            .select(IdentityLink::as_select())
            .load(c)?))
    }

    pub fn delete_identity_link(&self, plugin: &str, subject: &str) -> Result<bool, StoreError> {
        with_write!(self, |c| Ok(diesel::delete(identity_links::table.find((plugin, subject))).execute(c)? == 1))
    }

    /// A sign-in through a link is a fresh check, as of `now`; a new
    /// (sealed) upstream refresh token replaces the kept one (`None`: the
    /// upstream gave none this time, the kept one stays).
    pub fn set_link_checked(
        &self,
        plugin: &str,
        subject: &str,
        sealed: Option<&str>,
        now: i64,
    ) -> Result<bool, StoreError> {
        use identity_links::dsl as l;
        with_write!(self, |c| {
            let row = diesel::update(l::identity_links.find((plugin, subject)));
            let n = match sealed {
                Some(t) => row.set((l::refresh_token_enc.eq(t), l::checked_at.eq(now))).execute(c)?,
                None => row.set(l::checked_at.eq(now)).execute(c)?,
            };
            Ok(n == 1)
        })
    }

    /// The user's link through `plugin` that holds an upstream refresh
    /// token, with when it was last checked: `(subject, checked_at)`.
    pub fn revalidatable_link(&self, user_id: i64, plugin: &str) -> Result<Option<(String, i64)>, StoreError> {
        with_conn!(self, |c| Ok(identity_links::table
            .filter(identity_links::user_id.eq(user_id))
            .filter(identity_links::plugin.eq(plugin))
            .filter(identity_links::refresh_token_enc.is_not_null())
            .order(identity_links::last_login_at.desc())
            .select((identity_links::subject, identity_links::checked_at))
            .get_result::<(String, Option<i64>)>(c)
            .optional()?
            .map(|(s, at)| (s, at.unwrap_or(0)))))
    }

    /// Claims the re-check of a link: one conditional UPDATE, so of several
    /// replicas (or threads) only one wins while the lease lasts. Succeeds
    /// when the link was last checked at or before `due_at` and nobody holds
    /// the lease; returns the sealed refresh token to spend.
    pub fn claim_upstream_check(
        &self,
        plugin: &str,
        subject: &str,
        due_at: i64,
        now: i64,
        lease_until: i64,
    ) -> Result<Option<String>, StoreError> {
        use identity_links::dsl as l;
        with_write!(self, |c| {
            let claimed = diesel::update(l::identity_links.find((plugin, subject)))
                .filter(l::refresh_token_enc.is_not_null())
                .filter(l::checked_at.is_null().or(l::checked_at.le(due_at)))
                .filter(l::check_lease_until.is_null().or(l::check_lease_until.lt(now)))
                .set(l::check_lease_until.eq(Some(lease_until)))
                .execute(c)?;
            if claimed != 1 {
                return Ok(None);
            }
            Ok(l::identity_links
                .find((plugin, subject))
                .select(l::refresh_token_enc)
                .get_result::<Option<String>>(c)?)
        })
    }

    /// Ends a claimed re-check: the lease goes; on `Some(token)` the
    /// upstream vouched at `now` and its (possibly rotated) refresh token
    /// replaces the old one (`Some(None)`: the upstream refused, the token
    /// is forgotten); `None` leaves both as they were (the upstream could
    /// not be asked).
    pub fn finish_upstream_check(
        &self,
        plugin: &str,
        subject: &str,
        outcome: Option<Option<&str>>,
        now: i64,
    ) -> Result<(), StoreError> {
        use identity_links::dsl as l;
        with_write!(self, |c| {
            let row = diesel::update(l::identity_links.find((plugin, subject)));
            match outcome {
                Some(Some(token)) => row
                    .set((l::check_lease_until.eq(None::<i64>), l::refresh_token_enc.eq(token), l::checked_at.eq(now)))
                    .execute(c)?,
                Some(None) => row
                    .set((l::check_lease_until.eq(None::<i64>), l::refresh_token_enc.eq(None::<String>)))
                    .execute(c)?,
                None => row.set(l::check_lease_until.eq(None::<i64>)).execute(c)?,
            };
            Ok(())
        })
    }
}
