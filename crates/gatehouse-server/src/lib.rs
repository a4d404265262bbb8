//! Gatehouse's server: configuration, the actix-web application, the plugin
//! host and the `gatehouse` command line.
//!
//! Start at [`main`]: it parses the command line ([`cli`]), loads the
//! configuration ([`config`]) and runs a command — `serve` builds the HTTP
//! application in [`http`].
#![deny(unsafe_code)] // allowed only in `plugin_host::loader`, where the host crosses the plugin ABI

pub mod cli;
pub mod config;
pub mod http;
pub mod logging;
pub mod logout_sender;
pub mod mail;
pub mod plugin_host;
pub mod state;

use std::process::ExitCode;

/// The `gatehouse` binary's entry point.
pub fn main() -> ExitCode {
    cli::run()
}
