//! Rules of `sso`.
