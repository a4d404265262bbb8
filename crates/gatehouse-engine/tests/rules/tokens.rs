//! Rules of `tokens`.
