use diesel::prelude::*;

use crate::db::{with_conn, with_write, Store, StoreError};
use crate::models::{Client, ClientChanges, ClientRow, NewClient};
use crate::schema::clients;
use gatehouse_core::client::join_grant_types;

fn json_list(v: &[String]) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

impl Store {
    pub fn insert_client(&self, new: &NewClient, now: i64) -> Result<Client, StoreError> {
        let res: Result<ClientRow, diesel::result::Error> = with_write!(self, |c| diesel::insert_into(clients::table)
            .values((
                clients::client_id.eq(&new.client_id),
                clients::secret_digest.eq(&new.secret_digest),
                clients::name.eq(&new.name),
                clients::description.eq(&new.description),
                clients::logo_uri.eq(&new.logo_uri),
                clients::grant_types.eq(join_grant_types(&new.grant_types)),
                clients::scopes.eq(new.scopes.to_string()),
                clients::redirect_uris.eq(json_list(&new.redirect_uris)),
                clients::post_logout_redirect_uris.eq(json_list(&new.post_logout_redirect_uris)),
                clients::is_public.eq(new.is_public),
                clients::first_party.eq(new.first_party),
                clients::bound_account_id.eq(new.bound_account_id),
                clients::id_token_alg.eq(new.id_token_alg),
                clients::connector.eq(&new.connector),
                clients::may_name_users.eq(new.may_name_users),
                clients::managed_by.eq(&new.managed_by),
                clients::backchannel_logout_uri.eq(&new.backchannel_logout_uri),
                clients::frontchannel_logout_uri.eq(&new.frontchannel_logout_uri),
                clients::require_2fa.eq(new.require_2fa),
                clients::created_at.eq(now),
                clients::updated_at.eq(now),
            ))
            .returning(ClientRow::as_returning())
            .get_result(c));
        res.map(Client::from).map_err(|e| match StoreError::from(e) {
            StoreError::Conflict(_) => StoreError::Conflict(format!("a client with id {}", new.client_id)),
            other => other,
        })
    }

    pub fn client_by_client_id(&self, client_id: &str) -> Result<Option<Client>, StoreError> {
        let row: Option<ClientRow> = with_conn!(self, |c| clients::table
            .filter(clients::client_id.eq(client_id))
            .select(ClientRow::as_select())
            .get_result(c)
            .optional()?);
        Ok(row.map(Client::from))
    }

    pub fn client_by_id(&self, id: i64) -> Result<Option<Client>, StoreError> {
        let row: Option<ClientRow> =
            with_conn!(self, |c| clients::table.find(id).select(ClientRow::as_select()).get_result(c).optional()?);
        Ok(row.map(Client::from))
    }

    pub fn list_clients(&self) -> Result<Vec<Client>, StoreError> {
        let rows: Vec<ClientRow> =
            with_conn!(self, |c| clients::table.order(clients::id.asc()).select(ClientRow::as_select()).load(c)?);
        Ok(rows.into_iter().map(Client::from).collect())
    }

    pub fn update_client(&self, id: i64, ch: &ClientChanges, now: i64) -> Result<Client, StoreError> {
        let cur = self.client_by_id(id)?.ok_or_else(|| StoreError::NotFound(format!("client {id}")))?;
        let row: ClientRow = with_write!(self, |c| diesel::update(clients::table.find(id))
            .set((
                clients::secret_digest.eq(ch.secret_digest.clone().or(cur.secret_digest.clone())),
                clients::name.eq(ch.name.clone().unwrap_or(cur.name.clone())),
                clients::description.eq(ch.description.clone().unwrap_or(cur.description.clone())),
                clients::logo_uri.eq(ch.logo_uri.clone().unwrap_or(cur.logo_uri.clone())),
                clients::grant_types.eq(join_grant_types(ch.grant_types.as_ref().unwrap_or(&cur.grant_types))),
                clients::scopes.eq(ch.scopes.as_ref().unwrap_or(&cur.scopes).to_string()),
                clients::redirect_uris.eq(json_list(ch.redirect_uris.as_ref().unwrap_or(&cur.redirect_uris))),
                clients::post_logout_redirect_uris
                    .eq(json_list(ch.post_logout_redirect_uris.as_ref().unwrap_or(&cur.post_logout_redirect_uris),)),
                clients::first_party.eq(ch.first_party.unwrap_or(cur.first_party)),
                clients::bound_account_id.eq(ch.bound_account_id.unwrap_or(cur.bound_account_id)),
                clients::backchannel_logout_uri
                    .eq(ch.backchannel_logout_uri.clone().unwrap_or(cur.backchannel_logout_uri.clone())),
                clients::frontchannel_logout_uri
                    .eq(ch.frontchannel_logout_uri.clone().unwrap_or(cur.frontchannel_logout_uri.clone())),
                clients::require_2fa.eq(ch.require_2fa.unwrap_or(cur.require_2fa)),
                clients::updated_at.eq(now),
            ))
            .returning(ClientRow::as_returning())
            .get_result(c)?);
        Ok(row.into())
    }

    /// Sets (or clears) a client's connector plugin.
    pub fn set_client_connector(&self, id: i64, connector: Option<&str>, now: i64) -> Result<Client, StoreError> {
        let row: Option<ClientRow> = with_write!(self, |c| diesel::update(clients::table.find(id))
            .set((clients::connector.eq(connector), clients::updated_at.eq(now)))
            .returning(ClientRow::as_returning())
            .get_result(c)
            .optional()?);
        row.map(Client::from).ok_or_else(|| StoreError::NotFound(format!("client {id}")))
    }

    /// Deletes a client and every credential issued to it.
    pub fn delete_client(&self, id: i64) -> Result<bool, StoreError> {
        use crate::schema::{consents, grants};
        with_write!(self, |c| c.transaction(|c| {
            let Some(cid) = clients::table.find(id).select(clients::client_id).get_result::<String>(c).optional()?
            else {
                return Ok::<_, StoreError>(false);
            };
            diesel::delete(grants::table.filter(grants::client_id.eq(&cid))).execute(c)?;
            diesel::delete(consents::table.filter(consents::client_id.eq(&cid))).execute(c)?;
            Ok(diesel::delete(clients::table.find(id)).execute(c)? == 1)
        }))
    }
}
