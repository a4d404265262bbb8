//! The SDK: implement [`Plugin`] and call [`export_plugin!`](crate::export_plugin).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::abi::{HostVtable, RBuffer, RSlice};
use crate::host::Host;
use crate::messages::*;

/// What `init` gets: the plugin's configuration and the host.
pub struct InitContext {
    /// The `[plugins.config]` table as JSON (`{}` when absent).
    pub config: Value,
    /// The host's services; keep it, or call [`Host::get`] later.
    pub host: Host,
    /// Facts about the host (issuer, client-area URL, this plugin's name);
    /// the same as [`Host::info`].
    pub info: HostInfo,
}

impl InitContext {
    /// The configuration as the plugin's own type; a clear error when it does
    /// not fit (it becomes the start-up failure message).
    pub fn config_as<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_value(self.config.clone()).map_err(|e| Error::invalid(format!("invalid configuration: {e}")))
    }
}

/// A Gatehouse plugin. Implement what your capabilities need; the defaults
/// answer "unsupported" (or pass data through unchanged).
///
/// Every method may be called from several threads at once: keep mutable
/// state behind a `Mutex` or in the host's key-value store. A panic fails
/// only the call it happened in.
pub trait Plugin: Sized + Send + Sync + 'static {
    /// The plugin's short name: `[a-z0-9_-]+` (`whmcs`). Clients whose
    /// `connector` equals it are this plugin's; its kv store is scoped by it.
    const NAME: &'static str;

    /// The static manifest (no configuration yet): `gatehouse plugin check`
    /// shows it. `name` and `version` are filled in when empty.
    fn describe() -> Manifest;

    /// Called once at start-up, before any other method. An error stops the
    /// server's start-up with its message.
    fn init(ctx: InitContext) -> Result<Self, Error>;

    /// The manifest in effect after `init` (routes may depend on config).
    fn manifest(&self) -> Manifest {
        Self::describe()
    }

    /// `routes`: answer a request for one of the declared paths.
    fn route(&self, req: HttpRequest) -> Result<HttpResponse, Error> {
        let _ = req;
        Err(Error::unsupported("this plugin serves no routes"))
    }

    /// `identity_provider`: where to send the browser to log in upstream.
    fn begin_login(&self, req: BeginLogin) -> Result<LoginRedirect, Error> {
        let _ = req;
        Err(Error::unsupported("this plugin is not an identity provider"))
    }

    /// `identity_provider`: verify the callback and return the identity.
    fn complete_login(&self, req: CompleteLogin) -> Result<ExternalIdentity, Error> {
        let _ = req;
        Err(Error::unsupported("this plugin is not an identity provider"))
    }

    /// `identity_provider` (optional): refresh an identity.
    fn refresh_identity(&self, req: RefreshIdentity) -> Result<ExternalIdentity, Error> {
        let _ = req;
        Err(Error::unsupported("this identity provider cannot refresh"))
    }

    /// `client_connector`: the claims (userinfo, ID token) a client attached
    /// to this plugin receives. Default: unchanged.
    fn shape_claims(&self, req: ShapeClaims) -> Result<Value, Error> {
        Ok(req.claims)
    }

    /// `client_connector`: map requested scopes to the hub's. Default: unchanged.
    fn translate_scopes(&self, req: TranslateScopes) -> Result<TranslatedScopes, Error> {
        Ok(TranslatedScopes { scope: req.scope })
    }

    /// `client_connector`: what the app's administrator must enter.
    fn setup_instructions(&self, req: SetupRequest) -> Result<SetupInstructions, Error> {
        let _ = req;
        Err(Error::unsupported("this plugin has no setup instructions"))
    }

    /// `client_connector`: a user was created, updated, closed or deleted.
    fn user_event(&self, event: UserEvent) -> Result<(), Error> {
        let _ = event;
        Ok(())
    }
}

/// Runs `f`, catching panics, and encodes its [`Reply`]. Nothing unwinds
/// past this function.
fn guarded<T: Serialize>(f: impl FnOnce() -> Result<T, Error>) -> RBuffer {
    let encoded = catch_unwind(AssertUnwindSafe(|| {
        let reply: Reply<T> = f().into();
        serde_json::to_vec(&reply).map_err(|e| Error::internal(format!("cannot encode the reply: {e}")))
    }));
    let bytes = match encoded {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(e)) => encode_error(e),
        Err(payload) => {
            let msg = panic_message(payload.as_ref());
            // Dropping a payload can itself panic in pathological cases: leak it.
            std::mem::forget(payload);
            encode_error(Error::new(ErrorKind::Panic, msg))
        }
    };
    RBuffer::from_vec(bytes)
}

fn encode_error(e: Error) -> Vec<u8> {
    serde_json::to_vec(&Reply::<()>::Error(e))
        .unwrap_or_else(|_| br#"{"error":{"kind":"internal","message":"?"}}"#.to_vec())
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    let text = if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a non-string panic payload".to_string()
    };
    format!("the plugin panicked: {text}")
}

fn decode<T: DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, Error> {
    serde_json::from_slice(bytes).map_err(|e| Error::invalid(format!("malformed {what} message: {e}")))
}

fn complete<P: Plugin>(mut m: Manifest, version: &str) -> Manifest {
    if m.name.is_empty() {
        m.name = P::NAME.to_string();
    }
    if m.version.is_empty() {
        m.version = version.to_string();
    }
    m
}

/// The shims [`export_plugin!`](crate::export_plugin) generates call these.
#[doc(hidden)]
pub mod __private {
    use super::*;

    pub fn describe<P: Plugin>(version: &str) -> RBuffer {
        guarded(|| Ok(complete::<P>(P::describe(), version)))
    }

    /// # Safety
    /// `host` must be null or point to a valid vtable; `config` must be a
    /// valid slice for the duration of the call (the ABI contract).
    pub unsafe fn init<P: Plugin>(
        slot: &'static OnceLock<P>,
        version: &str,
        host: *const HostVtable,
        config: RSlice,
    ) -> RBuffer {
        // SAFETY: the caller's contract for `config`.
        let config = unsafe { config.as_bytes() };
        // SAFETY: non-null is checked; the host guarantees validity.
        let vtable = if host.is_null() { None } else { Some(unsafe { *host }) };
        guarded(|| {
            let vtable = vtable.ok_or_else(|| Error::invalid("init without a host vtable"))?;
            if slot.get().is_some() {
                return Err(Error::invalid("init called twice"));
            }
            let req: InitRequest = decode(config, "init")?;
            let host = Host::install(vtable);
            let plugin = P::init(InitContext { config: req.config, host, info: req.host })?;
            let manifest = complete::<P>(plugin.manifest(), version);
            slot.set(plugin).map_err(|_| Error::invalid("init called twice"))?;
            Ok(manifest)
        })
    }

    /// # Safety
    /// `method` and `payload` must be valid slices for the duration of the call.
    pub unsafe fn call<P: Plugin>(
        slot: &'static OnceLock<P>,
        version: &str,
        method: RSlice,
        payload: RSlice,
    ) -> RBuffer {
        // SAFETY: the caller's contract.
        let (method, payload) = unsafe { (method.as_bytes(), payload.as_bytes()) };
        let Some(p) = slot.get() else {
            return guarded(|| -> Result<(), Error> { Err(Error::invalid("the plugin is not initialised")) });
        };
        let method = String::from_utf8_lossy(method);
        match method.as_ref() {
            plugin_methods::MANIFEST => guarded(|| Ok(complete::<P>(p.manifest(), version))),
            plugin_methods::ROUTE => guarded(|| p.route(decode(payload, "route")?)),
            plugin_methods::BEGIN_LOGIN => guarded(|| p.begin_login(decode(payload, "begin_login")?)),
            plugin_methods::COMPLETE_LOGIN => guarded(|| p.complete_login(decode(payload, "complete_login")?)),
            plugin_methods::REFRESH => guarded(|| p.refresh_identity(decode(payload, "refresh")?)),
            plugin_methods::SHAPE_CLAIMS => guarded(|| p.shape_claims(decode(payload, "shape_claims")?)),
            plugin_methods::TRANSLATE_SCOPES => guarded(|| p.translate_scopes(decode(payload, "translate_scopes")?)),
            plugin_methods::SETUP_INSTRUCTIONS => {
                guarded(|| p.setup_instructions(decode(payload, "setup_instructions")?))
            }
            plugin_methods::USER_EVENT => guarded(|| p.user_event(decode(payload, "user_event")?)),
            other => {
                let other = other.to_string();
                guarded(move || -> Result<(), Error> { Err(Error::unsupported(format!("unknown method {other:?}"))) })
            }
        }
    }
}

/// Exports a [`Plugin`] implementation: generates the
/// `GATEHOUSE_PLUGIN_DECLARATION` symbol and every `extern "C"` shim (each
/// catches panics). Use it once, in a `cdylib` crate:
///
/// ```
/// # use gatehouse_plugin_api::prelude::*;
/// # struct MyPlugin;
/// # impl Plugin for MyPlugin {
/// #     const NAME: &'static str = "my-plugin";
/// #     fn describe() -> Manifest { Manifest::default() }
/// #     fn init(_ctx: InitContext) -> Result<Self, Error> { Ok(MyPlugin) }
/// # }
/// gatehouse_plugin_api::export_plugin!(MyPlugin);
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        const _: () = {
            use $crate::abi::{HostVtable, PluginDeclaration, RBuffer, RSlice, RStr};

            static INSTANCE: ::std::sync::OnceLock<$plugin> = ::std::sync::OnceLock::new();
            const VERSION: &str = env!("CARGO_PKG_VERSION");

            unsafe extern "C" fn gh_describe() -> RBuffer {
                $crate::sdk::__private::describe::<$plugin>(VERSION)
            }
            unsafe extern "C" fn gh_init(host: *const HostVtable, config: RSlice) -> RBuffer {
                // SAFETY: the host honours the ABI contract for both arguments.
                unsafe { $crate::sdk::__private::init::<$plugin>(&INSTANCE, VERSION, host, config) }
            }
            unsafe extern "C" fn gh_call(method: RSlice, payload: RSlice) -> RBuffer {
                // SAFETY: the host honours the ABI contract for both slices.
                unsafe { $crate::sdk::__private::call::<$plugin>(&INSTANCE, VERSION, method, payload) }
            }

            #[no_mangle]
            pub static GATEHOUSE_PLUGIN_DECLARATION: PluginDeclaration = PluginDeclaration {
                header: PluginDeclaration::HEADER,
                compat: $crate::abi::CompatRecord::CURRENT,
                name: RStr::new(<$plugin as $crate::Plugin>::NAME),
                version: RStr::new(VERSION),
                describe: Some(gh_describe),
                init: Some(gh_init),
                call: Some(gh_call),
                free_buffer: Some($crate::abi::free_own_buffer),
            };
        };
    };
}
