//! Rules of `token`.
