//! Rules of `directory`.
