//! Who is asking: the client address and the request id of the request
//! the engine is serving on this thread. The server sets it around every
//! blocking call, so every audit event (above all every refusal) carries
//! the address and the request id an operator quotes, without threading
//! them through each service's signature.

use std::cell::RefCell;

/// The request the current thread works for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Caller {
    /// The client's address (under the trusted-proxies rule).
    pub ip: String,
    /// The request id (`X-Request-Id`).
    pub request_id: String,
    /// Who acts, when it is an administrator (`admin:user:7`,
    /// `admin:client:ops-bot`): changes are audited with it.
    pub actor: String,
}

thread_local! {
    static CURRENT: RefCell<Option<Caller>> = const { RefCell::new(None) };
}

impl Caller {
    /// Runs `f` with `self` as the current caller on this thread.
    pub fn scope<T>(self, f: impl FnOnce() -> T) -> T {
        let previous = CURRENT.with(|c| c.replace(Some(self)));
        struct Restore(Option<Caller>);
        impl Drop for Restore {
            fn drop(&mut self) {
                let prev = self.0.take();
                CURRENT.with(|c| *c.borrow_mut() = prev);
            }
        }
        let _restore = Restore(previous);
        f()
    }

    /// This caller acting as `actor`.
    pub fn acting_as(self, actor: String) -> Caller {
        Caller { actor, ..self }
    }

    /// The current caller, if a server request set one.
    pub fn current() -> Option<Caller> {
        CURRENT.with(|c| c.borrow().clone())
    }
}
