//! Rules of `federation`.
