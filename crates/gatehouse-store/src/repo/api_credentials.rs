use diesel::prelude::*;

use crate::db::{with_conn, with_write, Store, StoreError};
use crate::models::{ApiCredential, NewApiCredential};
use crate::schema::api_credentials;

impl Store {
    pub fn insert_api_credential(&self, new: &NewApiCredential) -> Result<ApiCredential, StoreError> {
        with_write!(self, |c| Ok(diesel::insert_into(api_credentials::table)
            .values(new)
            .returning(ApiCredential::as_returning())
            .get_result(c)?))
    }

    pub fn api_credential_by_identifier(&self, identifier: &str) -> Result<Option<ApiCredential>, StoreError> {
        with_conn!(self, |c| Ok(api_credentials::table
            .filter(api_credentials::identifier.eq(identifier))
            .select(ApiCredential::as_select())
            .get_result(c)
            .optional()?))
    }

    pub fn list_api_credentials(&self) -> Result<Vec<ApiCredential>, StoreError> {
        with_conn!(self, |c| Ok(api_credentials::table
            .order(api_credentials::id.asc())
            .select(ApiCredential::as_select())
            .load(c)?))
    }

    pub fn delete_api_credential(&self, id: i64) -> Result<bool, StoreError> {
        with_write!(self, |c| Ok(diesel::delete(api_credentials::table.find(id)).execute(c)? == 1))
    }
}
