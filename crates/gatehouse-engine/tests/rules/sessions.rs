//! Rules of `sessions`.
