//! The C ABI between the Gatehouse host and a plugin. Everything here is
//! `#[repr(C)]` and made of C types only: integers, raw pointers and
//! `extern "C"` function pointers. Messages cross as UTF-8 JSON in byte
//! buffers (see [`crate::messages`]).
//!
//! Rules (the plugin author's guide, `plugins/README.md`, explains them):
//! - A plugin exports exactly one symbol, [`DECLARATION_SYMBOL`], a
//!   [`PluginDeclaration`]. Its first field, the [`DeclarationHeader`], has the
//!   same layout in every ABI version, so the host can read the version before
//!   it trusts anything else.
//! - Input buffers ([`RSlice`]) are borrowed for the duration of one call.
//! - An output buffer ([`RBuffer`]) is owned by the side that allocated it and
//!   must be handed back to that side's free function: a plugin's buffers to
//!   the declaration's `free_buffer`, the host's to the vtable's `free_buffer`.
//! - No function may unwind across the boundary.

use std::ffi::c_void;

/// The version of this ABI: the layout of every type in this module and the
/// meaning of every function pointer. Bumped on any incompatible change.
pub const ABI_VERSION: u32 = 1;

/// The version of the JSON message schema ([`crate::messages`]). Additive
/// changes (new optional fields, new methods) bump it; the host accepts
/// plugins built against the same or an older schema.
///
/// - 1: the first schema.
/// - 2: routes carry the signed-in member ([`crate::messages::HttpRequest::user`])
///   and may declare [`crate::messages::RouteDecl::requires_sign_in`]; a
///   plugin relying on them must not load on a host that ignores them.
/// - 3: users carry their groups (`User::groups`, `RouteUser::groups`);
///   `sessions.end`; the `signed_out` and `groups_changed` user events.
pub const SCHEMA_VERSION: u32 = 3;

/// `GHPLUGIN` in little-endian: tells a Gatehouse declaration from random bytes.
pub const MAGIC: u64 = u64::from_le_bytes(*b"GHPLUGIN");

/// The name of the one exported symbol.
pub const DECLARATION_SYMBOL: &str = "GATEHOUSE_PLUGIN_DECLARATION";

/// The version of this SDK crate.
pub const SDK_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The compiler this SDK was built with (informational).
pub const RUSTC_VERSION: &str = env!("GATEHOUSE_RUSTC_VERSION");

/// A borrowed byte slice, valid for the duration of one call.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct RSlice {
    /// The first byte; may be null (or dangling) when `len` is 0.
    pub ptr: *const u8,
    /// The number of bytes.
    pub len: usize,
}

impl RSlice {
    /// Borrows `bytes`; the slice is valid only while `bytes` is.
    pub fn new(bytes: &[u8]) -> RSlice {
        RSlice { ptr: bytes.as_ptr(), len: bytes.len() }
    }

    /// The bytes; empty when `len` is 0 or `ptr` is null.
    ///
    /// # Safety
    /// `ptr` must point to `len` readable bytes that outlive `'a` (the
    /// caller's contract for every `RSlice` argument), or `len` must be 0.
    pub unsafe fn as_bytes<'a>(self) -> &'a [u8] {
        if self.len == 0 || self.ptr.is_null() {
            return &[];
        }
        // SAFETY: non-null, and the caller guarantees `len` readable bytes.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

/// A static UTF-8 string in the declaration (name, version, compiler).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct RStr {
    /// The first byte of the UTF-8 text.
    pub ptr: *const u8,
    /// The length in bytes.
    pub len: usize,
}

impl RStr {
    /// Points at a static string (usable in a `static` initialiser).
    pub const fn new(s: &'static str) -> RStr {
        RStr { ptr: s.as_ptr(), len: s.len() }
    }

    /// Reads the string, replacing invalid UTF-8 (it came from a foreign library).
    ///
    /// # Safety
    /// `ptr` must point to `len` bytes that live as long as the library.
    pub unsafe fn to_string_lossy(self) -> String {
        // SAFETY: forwarded to the caller.
        String::from_utf8_lossy(unsafe { RSlice { ptr: self.ptr, len: self.len }.as_bytes() }).into_owned()
    }
}

/// An owned byte buffer crossing the boundary. Free it with the free
/// function of the side that allocated it, exactly once.
#[repr(C)]
#[derive(Debug)]
pub struct RBuffer {
    /// The start of the allocation (dangling or null when `len` is 0).
    pub ptr: *mut u8,
    /// The number of bytes (the allocation is exactly this long).
    pub len: usize,
}

impl RBuffer {
    /// Hands a vector over (as a boxed slice, so capacity == len).
    pub fn from_vec(v: Vec<u8>) -> RBuffer {
        let boxed = v.into_boxed_slice();
        let len = boxed.len();
        RBuffer { ptr: Box::into_raw(boxed) as *mut u8, len }
    }

    /// Takes back a buffer made by [`RBuffer::from_vec`] in this same binary.
    ///
    /// # Safety
    /// The buffer must come from `from_vec` in this binary and not have been
    /// freed.
    pub unsafe fn into_vec(self) -> Vec<u8> {
        if self.ptr.is_null() {
            return Vec::new();
        }
        // SAFETY: `from_vec` produced `ptr` with `Box::into_raw` of a boxed
        // slice of exactly `len` bytes, allocated by this binary's allocator.
        unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(self.ptr, self.len)) }.into_vec()
    }
}

/// Frees a buffer allocated by this binary; the `free_buffer` both sides export.
///
/// # Safety
/// As [`RBuffer::into_vec`].
pub unsafe extern "C" fn free_own_buffer(buf: RBuffer) {
    // SAFETY: forwarded to the caller. A panic cannot happen in a dealloc.
    drop(unsafe { buf.into_vec() });
}

/// The part of the declaration whose layout never changes.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct DeclarationHeader {
    /// Always [`MAGIC`].
    pub magic: u64,
    /// The plugin's [`ABI_VERSION`].
    pub abi_version: u32,
    /// `size_of::<PluginDeclaration>()` as the plugin saw it.
    pub declaration_size: u32,
}

/// What else must agree between host and plugin besides the ABI version.
///
/// Only C types and JSON cross the boundary, so the compiler version does not
/// matter (it is recorded for diagnostics). What does matter: the message
/// schema, the pointer width, and that the plugin unwinds on panic — a
/// plugin built with `panic = "abort"` would take the whole server down.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct CompatRecord {
    /// The plugin's [`SCHEMA_VERSION`]; the host refuses one newer than its own.
    pub schema_version: u32,
    /// `usize::BITS` of the plugin; must equal the host's.
    pub pointer_width: u32,
    /// 1 when built with `panic = "unwind"`.
    pub panic_unwind: u32,
    /// The [`SDK_VERSION`] the plugin was built with (for diagnostics).
    pub sdk_version: RStr,
    /// The [`RUSTC_VERSION`] the plugin was built with (for diagnostics).
    pub rustc_version: RStr,
}

impl CompatRecord {
    /// The record of the binary being compiled.
    pub const CURRENT: CompatRecord = CompatRecord {
        schema_version: SCHEMA_VERSION,
        pointer_width: usize::BITS,
        panic_unwind: cfg!(panic = "unwind") as u32,
        sdk_version: RStr::new(SDK_VERSION),
        rustc_version: RStr::new(RUSTC_VERSION),
    };
}

/// `describe() -> JSON Reply<Manifest>`; callable before `init`.
pub type DescribeFn = unsafe extern "C" fn() -> RBuffer;
/// `init(host, config JSON) -> JSON Reply<Manifest>`; called once.
pub type InitFn = unsafe extern "C" fn(host: *const HostVtable, config: RSlice) -> RBuffer;
/// `call(method, payload JSON) -> JSON Reply<…>`; called from many threads.
pub type CallFn = unsafe extern "C" fn(method: RSlice, payload: RSlice) -> RBuffer;
/// Frees a buffer the plugin returned.
pub type FreeFn = unsafe extern "C" fn(buf: RBuffer);
/// `host_call(ctx, method, payload JSON) -> JSON Reply<…>`.
pub type HostCallFn = unsafe extern "C" fn(ctx: *const c_void, method: RSlice, payload: RSlice) -> RBuffer;

/// The exported declaration. Function pointers are `Option` so that a null
/// pointer is a value the host can check instead of undefined behaviour.
#[repr(C)]
pub struct PluginDeclaration {
    /// Magic, ABI version and size, checked before anything else is read.
    pub header: DeclarationHeader,
    /// Checked after the header; a mismatch refuses the plugin at load.
    pub compat: CompatRecord,
    /// The plugin's short name (`whmcs`): clients' `connector`, kv scope, logs.
    pub name: RStr,
    /// The plugin's version (`export_plugin!` uses its crate's version).
    pub version: RStr,
    /// See [`DescribeFn`]. Null: refused at load.
    pub describe: Option<DescribeFn>,
    /// See [`InitFn`]. Null: refused at load.
    pub init: Option<InitFn>,
    /// See [`CallFn`]. Null: refused at load.
    pub call: Option<CallFn>,
    /// Frees the buffers `describe`, `init` and `call` return. Null: refused
    /// at load.
    pub free_buffer: Option<FreeFn>,
}

// SAFETY: the declaration is immutable static data: pointers to static
// strings and to functions, which are safe to share between threads.
unsafe impl Sync for PluginDeclaration {}

impl PluginDeclaration {
    /// The header of the binary being compiled.
    pub const HEADER: DeclarationHeader = DeclarationHeader {
        magic: MAGIC,
        abi_version: ABI_VERSION,
        declaration_size: std::mem::size_of::<PluginDeclaration>() as u32,
    };
}

/// The host's services, handed to `init`. Valid for the life of the process.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct HostVtable {
    /// The host's [`ABI_VERSION`] (equal to the plugin's, checked at load).
    pub abi_version: u32,
    /// The host's context for this plugin; pass it back on every call.
    pub ctx: *const c_void,
    /// Calls a host service (method names in
    /// [`host_methods`](crate::messages::host_methods)); see [`HostCallFn`].
    pub call: HostCallFn,
    /// Frees a buffer `call` returned.
    pub free_buffer: FreeFn,
}

// SAFETY: `ctx` points to host data that lives for the process and that the
// host's `call` accesses in a thread-safe way; the rest are function pointers.
unsafe impl Send for HostVtable {}
// SAFETY: as above.
unsafe impl Sync for HostVtable {}
