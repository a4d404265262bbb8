//! Accounts (a WHMCS "client": an owner and its members) and the plugin
//! key-value store. Every surface (CLI, plugins, later the admin API) goes
//! through these, so duplicate checks and audit happen once.

use gatehouse_store::Account;

use crate::audit::AuditRecord;
use crate::{Engine, EngineError};

impl Engine {
    /// Creates an account owned by an existing user.
    pub fn create_account(&self, owner_user_id: i64, name: &str) -> Result<Account, EngineError> {
        let owner = self.find_user(&owner_user_id.to_string())?;
        let account = self.store.insert_account(name.trim(), owner.id, self.now())?;
        self.audit(AuditRecord {
            kind: "account.created",
            message: format!("Account created: ID {} owned by User ID: {}", account.id, owner.id),
            user_id: Some(owner.id),
            details: serde_json::json!({ "account_id": account.id }),
            ..Default::default()
        })?;
        Ok(account)
    }

    /// The account with this id.
    pub fn account(&self, id: i64) -> Result<Account, EngineError> {
        self.store.account_by_id(id)?.ok_or_else(|| EngineError::NotFound(format!("account {id}")))
    }

    /// The accounts a user owns or belongs to.
    pub fn accounts_of_user(&self, user_id: i64) -> Result<Vec<Account>, EngineError> {
        Ok(self.store.accounts_of_user(user_id)?)
    }

    /// Whether the user is a member (or the owner) of the account.
    pub fn is_account_member(&self, account_id: i64, user_id: i64) -> Result<bool, EngineError> {
        Ok(self.store.is_account_member(account_id, user_id)?)
    }

    /// Adds an existing user to an existing account; a second time is a
    /// conflict, not a silent success.
    pub fn add_account_member(&self, account_id: i64, user_id: i64) -> Result<Account, EngineError> {
        let account = self.account(account_id)?;
        let user = self.find_user(&user_id.to_string())?;
        if self.store.is_account_member(account.id, user.id)? {
            return Err(EngineError::Conflict(format!("user {} as a member of account {}", user.id, account.id)));
        }
        self.store.add_account_member(account.id, user.id)?;
        self.audit(AuditRecord {
            kind: "account.member_added",
            message: format!("User ID: {} added to account {}", user.id, account.id),
            user_id: Some(user.id),
            details: serde_json::json!({ "account_id": account.id }),
            ..Default::default()
        })?;
        Ok(account)
    }

    /// A plugin's stored value.
    pub fn plugin_value(&self, plugin: &str, key: &str) -> Result<Option<String>, EngineError> {
        Ok(self.store.kv_get(plugin, key, self.now())?)
    }

    /// Stores a plugin's value only if the key is unset (or expired), for
    /// `ttl` seconds (`None`: until deleted); `false` when it was set.
    /// Atomic across replicas: the way to remember a nonce once.
    pub fn insert_new_plugin_value(
        &self,
        plugin: &str,
        key: &str,
        value: &str,
        ttl: Option<i64>,
    ) -> Result<bool, EngineError> {
        let now = self.now();
        Ok(self.store.kv_insert_new(plugin, key, value, ttl.map(|t| now + t.max(1)), now)?)
    }

    /// Stores a plugin's value.
    pub fn set_plugin_value(&self, plugin: &str, key: &str, value: &str) -> Result<(), EngineError> {
        Ok(self.store.kv_set(plugin, key, value, self.now())?)
    }

    /// Deletes a plugin's value; whether there was one.
    pub fn delete_plugin_value(&self, plugin: &str, key: &str) -> Result<bool, EngineError> {
        Ok(self.store.kv_delete(plugin, key)?)
    }
}
