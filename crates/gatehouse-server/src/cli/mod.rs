//! The `gatehouse` command line. Every command works on the database the
//! configuration names (the same one the server uses) and prints JSON with
//! `--json`. Failures print one line to stderr and exit non-zero.

mod admin;
mod keys;
mod plugin;
mod serve;
mod setup;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::config::Config;

#[derive(Debug, Parser)]
#[command(
    name = "gatehouse",
    version,
    about = "Gatehouse: one login for all your apps (OAuth 2.0 / OpenID Connect hub)"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command accepts; each overrides the file and environment.
#[derive(Debug, Args, Clone, Default)]
pub struct GlobalArgs {
    /// Configuration file (default: none; `GATEHOUSE_CONFIG`).
    #[arg(long, global = true, env = "GATEHOUSE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Database URL: postgres://…, sqlite://PATH or a file path.
    #[arg(long, global = true)]
    pub database_url: Option<String>,
    /// Data directory (embedded database, master key).
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
    /// Log format: human or json.
    #[arg(long, global = true)]
    pub log_format: Option<String>,
    /// Print machine-readable JSON.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Migrate the database and serve HTTP.
    Serve(serve::ServeArgs),
    /// Apply pending database migrations.
    Migrate,
    /// Manage users.
    #[command(subcommand)]
    User(admin::UserCommand),
    /// Manage OAuth clients.
    #[command(subcommand)]
    Client(admin::ClientCommand),
    /// Manage admin API credentials.
    #[command(subcommand, name = "api-credential")]
    ApiCredential(admin::ApiCredentialCommand),
    /// Inspect plugins: list the configured ones, check a file.
    #[command(subcommand)]
    Plugin(plugin::PluginCommand),
    /// Manage accounts (billable entities with an owner and members).
    #[command(subcommand)]
    Account(admin::AccountCommand),
    /// Read the audit log.
    #[command(subcommand)]
    Audit(admin::AuditCommand),
    /// Manage ID token signing keys.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
}

/// A command's failure: one line for stderr.
pub struct Failure(pub String);

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure(e.to_string())
    }
}

pub fn run() -> ExitCode {
    let cli = Cli::parse();
    let result = dispatch(cli);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(msg)) => {
            eprintln!("error: {msg}");
            ExitCode::FAILURE
        }
    }
}

/// Loads the configuration and applies the global flags.
pub fn load_config(g: &GlobalArgs) -> Result<Config, Failure> {
    let mut cfg = Config::load(g.config.as_deref(), std::env::vars())?;
    if let Some(u) = &g.database_url {
        cfg.database_url = Some(u.clone());
    }
    if let Some(d) = &g.data_dir {
        cfg.data_dir = d.clone();
    }
    if let Some(f) = &g.log_format {
        if !matches!(f.as_str(), "human" | "json") {
            return Err(Failure(format!("--log-format {f:?}: expected human or json")));
        }
        cfg.log_format = f.clone();
    }
    Ok(cfg)
}

fn dispatch(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Serve(args) => serve::run(&cli.global, args),
        Command::Migrate => {
            let cfg = load_config(&cli.global)?;
            let url = cfg.database_url();
            let m = gatehouse_engine::migrate_database(&url)?;
            if cli.global.json {
                println!("{}", serde_json::json!({ "database": m.database, "applied": m.applied }));
            } else if m.applied.is_empty() {
                println!("{}: up to date", m.database);
            } else {
                println!("{}: applied {}", m.database, m.applied.join(", "));
            }
            Ok(())
        }
        Command::User(c) => admin::user(&cli.global, c),
        Command::Client(c) => admin::client(&cli.global, c),
        Command::ApiCredential(c) => admin::api_credential(&cli.global, c),
        Command::Plugin(c) => plugin::run(&cli.global, c),
        Command::Account(c) => admin::account(&cli.global, c),
        Command::Audit(c) => admin::audit(&cli.global, c),
        Command::Keys(c) => keys::run(&cli.global, c),
    }
}
