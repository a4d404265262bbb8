//! Opening a plugin file: dlopen, find the declaration, check the ABI and the
//! compatibility record before calling anything, then `describe`/`init`.
//! Every failure is one line naming the file.

use std::path::{Path, PathBuf};

use gatehouse_plugin_api::abi::{
    self, DeclarationHeader, HostVtable, PluginDeclaration, RBuffer, RSlice, ABI_VERSION, MAGIC, SCHEMA_VERSION,
};
use gatehouse_plugin_api::messages::{InitRequest, Manifest, Reply};
use serde::de::DeserializeOwned;

/// Why a plugin cannot be loaded. Each message names the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    #[error("{path}: cannot load it as a shared library: {reason}")]
    NotALibrary { path: String, reason: String },
    #[error("{path}: not a Gatehouse plugin: it does not export the {symbol} symbol (plugins are built with gatehouse_plugin_api::export_plugin!)", symbol = abi::DECLARATION_SYMBOL)]
    NotAPlugin { path: String },
    #[error("{path}: not a Gatehouse plugin: its {symbol} symbol is not a plugin declaration", symbol = abi::DECLARATION_SYMBOL)]
    BadMagic { path: String },
    #[error("{path}: plugin ABI version {plugin} does not match this host's ABI version {host}; rebuild the plugin against a gatehouse-plugin-api with ABI {host}")]
    AbiMismatch { path: String, plugin: u32, host: u32 },
    #[error("{path}: incompatible build: {reason}")]
    Incompatible { path: String, reason: String },
    #[error("{path}: the plugin declaration lacks the `{function}` function (null pointer): it was not built with export_plugin!")]
    MissingFunction { path: String, function: &'static str },
    #[error("{path}: plugin describe failed: {reason}")]
    Describe { path: String, reason: String },
    #[error("{path}: plugin {name} failed to initialise: {reason}")]
    Init { path: String, name: String, reason: String },
    /// `init` said the plugin lacks configuration it needs: not an error
    /// of the start, the plugin is listed as not enabled.
    #[error("plugin {name} is not enabled: {reason} ({path})")]
    NotConfigured { path: String, name: String, reason: String },
    #[error("{path}: plugin {name} has an invalid manifest: {reason}")]
    BadManifest { path: String, name: String, reason: String },
    #[error("{path}: plugin {name}: redirect_targets: {reason}")]
    RedirectTargets { path: String, name: String, reason: String },
    #[error("{path}: plugin {name} claims {route}, which {other} already serves")]
    Conflict { path: String, name: String, route: String, other: String },
    #[error("cannot read the plugins directory {path}: {reason}")]
    Directory { path: String, reason: String },
}

/// A plugin file whose declaration passed every check. The library is
/// leaked: plugins are never unloaded.
#[derive(Clone, Copy)]
pub struct Opened {
    pub decl: &'static PluginDeclaration,
    pub describe: abi::DescribeFn,
    pub init: abi::InitFn,
    pub call: abi::CallFn,
    pub free: abi::FreeFn,
}

/// What `plugin check` shows besides the manifest.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BuildInfo {
    pub name: String,
    pub version: String,
    pub abi_version: u32,
    pub schema_version: u32,
    pub sdk_version: String,
    pub rustc_version: String,
}

impl Opened {
    pub fn build_info(&self) -> BuildInfo {
        let d = self.decl;
        // SAFETY: the declaration passed the header checks; its strings point
        // into the (never unloaded) library.
        unsafe {
            BuildInfo {
                name: d.name.to_string_lossy(),
                version: d.version.to_string_lossy(),
                abi_version: d.header.abi_version,
                schema_version: d.compat.schema_version,
                sdk_version: d.compat.sdk_version.to_string_lossy(),
                rustc_version: d.compat.rustc_version.to_string_lossy(),
            }
        }
    }

    /// Calls `describe` (callable before `init`).
    pub fn describe(&self, path: &Path) -> Result<Manifest, LoadError> {
        // SAFETY: a checked declaration's function; it takes no arguments.
        let buf = unsafe { (self.describe)() };
        self.take::<Reply<Manifest>>(buf)
            .and_then(|r| r.into_result().map_err(|e| e.message))
            .map_err(|reason| LoadError::Describe { path: show(path), reason })
    }

    /// Calls `init` with the host vtable and the configuration.
    pub fn init(&self, path: &Path, vtable: &'static HostVtable, req: &InitRequest) -> Result<Manifest, LoadError> {
        let name = self.build_info().name;
        let err = |reason: String| LoadError::Init { path: show(path), name: name.clone(), reason };
        let payload = serde_json::to_vec(req).map_err(|e| err(e.to_string()))?;
        // SAFETY: the vtable is 'static; `payload` outlives the call.
        let buf = unsafe { (self.init)(vtable, RSlice::new(&payload)) };
        self.take::<Reply<Manifest>>(buf).map_err(err)?.into_result().map_err(|e| match e.kind {
            gatehouse_plugin_api::messages::ErrorKind::NotConfigured => {
                LoadError::NotConfigured { path: show(path), name: name.clone(), reason: e.message }
            }
            _ => err(e.message),
        })
    }

    /// Calls the plugin's `call` with a method and a JSON payload and
    /// decodes its reply.
    pub fn call<T: DeserializeOwned>(&self, method: &str, payload: &[u8]) -> Result<T, String> {
        // SAFETY: a checked declaration's `call`; both slices outlive the call.
        let buf = unsafe { (self.call)(RSlice::new(method.as_bytes()), RSlice::new(payload)) };
        self.take(buf)
    }

    /// Decodes a buffer the plugin returned, then hands it back to be freed.
    pub fn take<T: DeserializeOwned>(&self, buf: RBuffer) -> Result<T, String> {
        // SAFETY: the plugin returned an owned buffer of `len` readable bytes.
        let bytes = unsafe { RSlice { ptr: buf.ptr, len: buf.len }.as_bytes() };
        let parsed = serde_json::from_slice(bytes).map_err(|e| format!("malformed reply from the plugin: {e}"));
        // SAFETY: freed exactly once, by the side that allocated it; `bytes`
        // is not used after this.
        unsafe { (self.free)(buf) };
        parsed
    }
}

/// The path as messages show it.
pub fn show(path: &Path) -> String {
    path.display().to_string()
}

/// Opens a plugin file and checks its declaration. Calls nothing in it
/// (beyond the library's own initialisers, which dlopen runs).
pub fn open(path: &Path) -> Result<Opened, LoadError> {
    let p = show(path);
    if !path.is_file() {
        return Err(LoadError::NotALibrary { path: p, reason: "no such file".into() });
    }
    // dlopen searches the library path for a name without a slash
    // (`libx.so`); the operator means the file itself.
    let absolute = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    // RTLD_NOW: unresolved symbols fail here, not on the first request.
    let flags = libloading::os::unix::RTLD_NOW | libloading::os::unix::RTLD_LOCAL;
    // SAFETY: loading a library runs its initialisers; that is what loading
    // a plugin means, and the operator named this file.
    let lib = unsafe { libloading::os::unix::Library::open(Some(&absolute), flags) }
        .map_err(|e| LoadError::NotALibrary { path: p.clone(), reason: one_line(&e.to_string()) })?;
    let lib: &'static libloading::os::unix::Library = Box::leak(Box::new(lib));
    let symbol = format!("{}\0", abi::DECLARATION_SYMBOL);
    // SAFETY: we only take the symbol's address; nothing is read yet.
    let addr = unsafe { lib.get::<*const DeclarationHeader>(symbol.as_bytes()) }
        .map(|s| *s)
        .map_err(|_| LoadError::NotAPlugin { path: p.clone() })?;
    if addr.is_null() {
        return Err(LoadError::NotAPlugin { path: p });
    }
    // SAFETY: the header's layout is the same in every ABI version; reading
    // it (unaligned, to be safe against a foreign symbol) is the first check.
    let header = unsafe { addr.read_unaligned() };
    if header.magic != MAGIC {
        return Err(LoadError::BadMagic { path: p });
    }
    if header.abi_version != ABI_VERSION {
        return Err(LoadError::AbiMismatch { path: p, plugin: header.abi_version, host: ABI_VERSION });
    }
    if (header.declaration_size as usize) < std::mem::size_of::<PluginDeclaration>() {
        return Err(LoadError::Incompatible {
            path: p,
            reason: format!(
                "its declaration is {} bytes, ABI {ABI_VERSION} needs {}",
                header.declaration_size,
                std::mem::size_of::<PluginDeclaration>()
            ),
        });
    }
    // SAFETY: magic, ABI version and size match: this is a PluginDeclaration
    // in a library that is never unloaded.
    let decl: &'static PluginDeclaration = unsafe { &*(addr as *const PluginDeclaration) };
    check_compat(&p, decl)?;
    let missing = |function| LoadError::MissingFunction { path: p.clone(), function };
    Ok(Opened {
        decl,
        describe: decl.describe.ok_or_else(|| missing("describe"))?,
        init: decl.init.ok_or_else(|| missing("init"))?,
        call: decl.call.ok_or_else(|| missing("call"))?,
        free: decl.free_buffer.ok_or_else(|| missing("free_buffer"))?,
    })
}

fn check_compat(p: &str, decl: &PluginDeclaration) -> Result<(), LoadError> {
    let c = &decl.compat;
    let refuse = |reason: String| Err(LoadError::Incompatible { path: p.to_string(), reason });
    if c.pointer_width != usize::BITS {
        return refuse(format!("built for {}-bit pointers, this host has {}-bit", c.pointer_width, usize::BITS));
    }
    if c.schema_version > SCHEMA_VERSION {
        return refuse(format!(
            "it speaks message schema {}, this host only up to {SCHEMA_VERSION}; upgrade Gatehouse",
            c.schema_version
        ));
    }
    if c.panic_unwind != 1 {
        return refuse(
            "built with panic = \"abort\": a panic would stop the whole server; build it with panic = \"unwind\""
                .into(),
        );
    }
    Ok(())
}

/// The plugin files configuration names: `[[plugins]]` entries first, then
/// the shared libraries in `plugins_dir` (sorted), each file once.
pub fn candidates(cfg: &crate::config::Config) -> Result<Vec<(PathBuf, toml::Value)>, LoadError> {
    let mut out: Vec<(PathBuf, toml::Value)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for pc in &cfg.plugins {
        let key = std::fs::canonicalize(&pc.path).unwrap_or_else(|_| pc.path.clone());
        if seen.insert(key) {
            out.push((pc.path.clone(), pc.config.clone()));
        }
    }
    let empty = || toml::Value::Table(Default::default());
    if let Some(dir) = &cfg.plugins_dir {
        for f in libraries_in(dir)? {
            let key = std::fs::canonicalize(&f).unwrap_or_else(|_| f.clone());
            if seen.insert(key) {
                out.push((f, empty()));
            }
        }
    } else if cfg.plugins.is_empty() && cfg.default_plugins {
        out.extend(default_plugins().into_iter().map(|f| (f, empty())));
    }
    Ok(out)
}

/// The production plugins' file names, as cargo builds them.
pub const PRODUCTION_PLUGINS: &[&str] = &["whmcs", "ipb", "oidc"];

/// With nothing configured: every library in a `plugins` directory next
/// to the executable (an installed layout), else the production plugins
/// cargo built next to it (`cargo run --release -- serve`).
pub fn default_plugins() -> Vec<PathBuf> {
    let Some(dir) = std::env::current_exe().ok().and_then(|e| e.parent().map(Path::to_path_buf)) else {
        return Vec::new();
    };
    let installed = dir.join("plugins");
    if installed.is_dir() {
        return libraries_in(&installed).unwrap_or_default();
    }
    PRODUCTION_PLUGINS
        .iter()
        .map(|name| {
            dir.join(format!("{}gatehouse_{name}{}", std::env::consts::DLL_PREFIX, std::env::consts::DLL_SUFFIX))
        })
        .filter(|p| p.is_file())
        .collect()
}

/// The shared libraries in `dir`, sorted.
fn libraries_in(dir: &Path) -> Result<Vec<PathBuf>, LoadError> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| LoadError::Directory { path: show(dir), reason: e.to_string() })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "so" || x == "dylib"))
        .collect();
    files.sort();
    Ok(files)
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The host side of the vtable: dispatches to [`super::services`]. Nothing unwinds
/// out of it.
pub(super) unsafe extern "C" fn host_call(
    ctx: *const std::ffi::c_void,
    method: RSlice,
    payload: RSlice,
) -> abi::RBuffer {
    let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: `ctx` is the leaked `HostCtx` we put in this plugin's vtable;
        // the slices are valid for the call (the plugin's side of the contract).
        let (ctx, method, payload) =
            unsafe { (&*(ctx as *const super::HostCtx), method.as_bytes(), payload.as_bytes()) };
        super::services::dispatch(ctx, &String::from_utf8_lossy(method), payload)
    }));
    let bytes = out.unwrap_or_else(|_| {
        tracing::error!("a host service panicked");
        br#"{"error":{"kind":"internal","message":"the host failed"}}"#.to_vec()
    });
    abi::RBuffer::from_vec(bytes)
}
