//! End-to-end tests: the real `gatehouse` binary, started on a free port
//! against a fresh database (SQLite always, PostgreSQL when
//! `GATEHOUSE_TEST_POSTGRES_URL` is set), driven over HTTP and its CLI.
//!
//! One test binary for all suites (as ripgrep does): the shared harness is
//! compiled once, and `cargo test --test e2e <module>::` runs one suite,
//! e.g. `cargo test --test e2e whmcs_api::`.

mod browser_support;
mod common;
mod oauth_support;

mod admin_api;
mod console;
mod discourse;
mod federation;
mod foundation;
mod hardening;
mod ipb;
mod keys;
mod logout;
mod members;
mod oauth_flow;
mod oauth_pages;
mod oauth_rp;
mod oauth_sso;
mod operators;
mod plugins;
mod scopes;
mod two_step;
mod whmcs_api;
mod whmcs_oauth;
