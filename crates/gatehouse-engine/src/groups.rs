//! Groups: named sets of members, kept by administrators (admin API,
//! console, CLI). Clients receive them in the `groups` claim; connector
//! plugins receive them with every user (and a `groups_changed` event) and
//! map them to the app's own groups (forum groups, Discourse groups).

use crate::audit::AuditRecord;
use crate::{Engine, EngineError};

/// The most groups one member may be in.
pub const MAX_GROUPS_PER_USER: usize = 100;

/// A group name: 1–64 characters of letters, digits, `_`, `-`, `.` and `:`
/// (safe in a claim, a URL, a forum's group list).
pub fn validate_group_name(name: &str) -> Result<(), EngineError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'));
    if ok {
        Ok(())
    } else {
        Err(EngineError::Invalid(format!("group {name:?}: expected 1-64 letters, digits, '_', '-', '.' or ':'")))
    }
}

/// What setting a member's groups changed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GroupsChanged {
    /// The member's groups now, sorted.
    pub groups: Vec<String>,
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

impl Engine {
    /// The member's groups, sorted by name.
    pub fn groups_of_user(&self, user_id: i64) -> Result<Vec<String>, EngineError> {
        Ok(self.store.groups_of_user(user_id)?)
    }

    /// Every group in use, with its member count.
    pub fn group_names(&self) -> Result<Vec<(String, i64)>, EngineError> {
        Ok(self.store.group_names()?)
    }

    /// Replaces a member's groups. A change is audited (`user.groups_changed`)
    /// and sent to connectors as a `groups_changed` event; setting the same
    /// groups again changes nothing and tells no one.
    pub fn set_user_groups(&self, user_id: i64, groups: &[String]) -> Result<GroupsChanged, EngineError> {
        let mut wanted: Vec<String> = groups.iter().map(|g| g.trim().to_string()).collect();
        wanted.sort();
        wanted.dedup();
        for g in &wanted {
            validate_group_name(g)?;
        }
        if wanted.len() > MAX_GROUPS_PER_USER {
            return Err(EngineError::Invalid(format!("at most {MAX_GROUPS_PER_USER} groups per member")));
        }
        let user = self.store.user_by_id(user_id)?.ok_or_else(|| EngineError::NotFound(format!("user {user_id}")))?;
        let (added, removed) = self.store.set_user_groups(user_id, &wanted, self.now())?;
        if !added.is_empty() || !removed.is_empty() {
            self.audit(AuditRecord {
                kind: "user.groups_changed",
                message: format!("User ID: {user_id} groups: added {added:?}, removed {removed:?}"),
                user_id: Some(user_id),
                details: serde_json::json!({ "added": added, "removed": removed, "groups": wanted }),
                ..Default::default()
            })?;
            if let Some(hooks) = &self.hooks {
                hooks.user_event(gatehouse_core::UserEvent::GroupsChanged, &user);
            }
        }
        Ok(GroupsChanged { groups: wanted, added, removed })
    }
}
