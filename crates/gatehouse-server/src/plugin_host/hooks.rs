//! The engine's [`ConnectorHooks`], answered by `client_connector` plugins.
//! The engine calls these on its own (blocking) threads.

use std::sync::Arc;

use gatehouse_engine::federation::UpstreamCheck;
use gatehouse_engine::ConnectorHooks;
use gatehouse_plugin_api::messages::{
    plugin_methods, Capability, ErrorKind, ExternalIdentity, RefreshIdentity, ShapeClaims, TranslateScopes,
    TranslatedScopes, UserEvent,
};

use super::{services, CallError, PluginHost};

/// The hooks the server installs on the engine.
pub struct PluginHooks {
    pub host: Arc<PluginHost>,
}

impl PluginHooks {
    /// The user as plugins see them, with groups when the engine is up.
    fn user(&self, user: &gatehouse_engine::model::User) -> gatehouse_plugin_api::messages::User {
        match self.host.engine() {
            Some(e) => services::user_in(&e, user.clone()),
            None => services::user(user.clone()),
        }
    }
}

impl ConnectorHooks for PluginHooks {
    fn shape_claims(
        &self,
        connector: &str,
        client_id: &str,
        scope: &str,
        user: &gatehouse_engine::model::User,
        claims: serde_json::Value,
    ) -> Result<serde_json::Value, String> {
        let Some(p) = self.host.get(connector).filter(|p| p.has(Capability::ClientConnector)) else {
            // A client attached to a connector that is not loaded keeps the
            // standard claims; say so once per call in the log.
            tracing::warn!(connector, client_id, "client's connector plugin is not loaded; standard claims");
            return Ok(claims);
        };
        let req =
            ShapeClaims { client_id: client_id.to_string(), scope: scope.to_string(), user: self.user(user), claims };
        let shaped: serde_json::Value = p.call(plugin_methods::SHAPE_CLAIMS, &req).map_err(|e| e.to_string())?;
        if !shaped.is_object() {
            return Err(format!("plugin {connector} shaped the claims into a non-object"));
        }
        Ok(shaped)
    }

    fn translate_scopes(&self, connector: &str, client_id: &str, scope: &str) -> Result<String, String> {
        let Some(p) = self.host.get(connector).filter(|p| p.has(Capability::ClientConnector)) else {
            return Ok(scope.to_string());
        };
        let req = TranslateScopes { client_id: client_id.to_string(), scope: scope.to_string() };
        let out: TranslatedScopes = p.call(plugin_methods::TRANSLATE_SCOPES, &req).map_err(|e| e.to_string())?;
        Ok(out.scope)
    }

    fn check_upstream(&self, upstream: &str, subject: &str, refresh_token: &str) -> UpstreamCheck {
        let Some((p, u)) = self.host.upstream(upstream) else {
            return UpstreamCheck::Unavailable(format!("upstream {upstream} is not configured any more"));
        };
        let req = RefreshIdentity {
            subject: subject.to_string(),
            refresh_token: refresh_token.to_string(),
            provider: u.provider_field(),
        };
        match p.call::<_, ExternalIdentity>(plugin_methods::REFRESH, &req) {
            Ok(id) if id.subject != subject => {
                UpstreamCheck::Refused(format!("the upstream answered for another subject ({:?})", id.subject))
            }
            // An upstream that does not rotate refresh tokens keeps the old one.
            Ok(id) => {
                UpstreamCheck::Vouched { refresh_token: id.refresh_token.unwrap_or_else(|| refresh_token.into()) }
            }
            // `forbidden`: the upstream's own refusal (invalid_grant…);
            // anything else is an outage or a fault on this side.
            Err(CallError::Plugin { error, .. }) if error.kind == ErrorKind::Forbidden => {
                UpstreamCheck::Refused(error.message)
            }
            Err(e) => UpstreamCheck::Unavailable(e.to_string()),
        }
    }

    fn user_event(&self, event: gatehouse_core::UserEvent, user: &gatehouse_engine::model::User) {
        let ev = UserEvent { event: event.as_str().to_string(), user: self.user(user) };
        for p in self.host.plugins.iter().filter(|p| p.has(Capability::ClientConnector)) {
            if let Err(e) = p.call::<_, ()>(plugin_methods::USER_EVENT, &ev) {
                tracing::error!(error = %e, event = event.as_str(), user_id = user.id, "plugin user event failed");
            }
        }
    }
}
