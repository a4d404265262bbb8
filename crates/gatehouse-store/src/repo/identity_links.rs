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
            .first(c)
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
}
