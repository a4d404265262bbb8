//! Rules of `authorize`.
