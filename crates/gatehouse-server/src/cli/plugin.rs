//! `gatehouse plugin list` and `gatehouse plugin check FILE`.

use std::path::PathBuf;

use clap::Subcommand;
use gatehouse_plugin_api::messages::Manifest;
use serde_json::json;

use super::{load_config, Failure, GlobalArgs};
use crate::plugin_host::{check_file, loader::BuildInfo};

#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Describe the configured plugins (without initialising them) and
    /// list them: versions, capabilities, routes, aliases.
    List {
        /// Leave out plugins that cannot be loaded (and say why on stderr).
        #[arg(long)]
        skip_broken_plugins: bool,
        /// Directory of plugins to load (added to the configured ones).
        #[arg(long)]
        plugins_dir: Option<PathBuf>,
    },
    /// Load one plugin file and print its manifest, or the reason it cannot
    /// be loaded. Does not initialise it.
    Check { file: PathBuf },
    /// Print what to enter in the app a connector plugin serves without an
    /// OAuth client (e.g. `discourse`: the forum's DiscourseConnect settings).
    /// Loads and initialises the configured plugins.
    Setup { plugin: String },
}

pub fn run(g: &GlobalArgs, cmd: PluginCommand) -> Result<(), Failure> {
    match cmd {
        PluginCommand::Check { file } => {
            let (build, manifest) = check_file(&file)?;
            if g.json {
                println!("{}", describe_json(&file, &build, &manifest));
            } else {
                println!("{}: ok", file.display());
                print_human(&build, &manifest);
            }
            Ok(())
        }
        PluginCommand::Setup { plugin } => {
            let cfg = load_config(g)?;
            let engine = crate::state::open_engine(&cfg).map_err(Failure)?;
            let host = crate::plugin_host::PluginHost::load(&cfg, &engine, false)?;
            let i = host.plugin_setup_instructions(&plugin, &cfg.issuer())?;
            if g.json {
                println!("{}", super::setup::to_json(&i));
            } else {
                super::setup::print_human(&i);
            }
            Ok(())
        }
        PluginCommand::List { skip_broken_plugins, plugins_dir } => {
            let mut cfg = load_config(g)?;
            if plugins_dir.is_some() {
                cfg.plugins_dir = plugins_dir;
            }
            // The skipped plugins' reasons go to stderr through the log.
            let _log = skip_broken_plugins.then(|| crate::logging::init(&cfg.log_format));
            // Listing only reads each plugin's description: no `init`, so
            // nothing a plugin does at start-up (creating clients, calling
            // out) happens because someone looked.
            let mut found = Vec::new();
            for (path, _config) in crate::plugin_host::loader::candidates(&cfg)? {
                match check_file(&path) {
                    Ok((build, manifest)) => found.push((path, build, manifest)),
                    Err(e) if skip_broken_plugins => tracing::warn!(error = %e, "plugin skipped"),
                    Err(e) => return Err(Failure(e.to_string())),
                }
            }
            if g.json {
                let list: Vec<_> = found.iter().map(|(p, b, m)| describe_json(p, b, m)).collect();
                println!("{}", serde_json::Value::Array(list));
            } else if found.is_empty() {
                println!("no plugins configured");
            } else {
                for (path, build, manifest) in &found {
                    println!("{} ({})", build.name, path.display());
                    print_human(build, manifest);
                }
            }
            Ok(())
        }
    }
}

fn describe_json(path: &std::path::Path, build: &BuildInfo, m: &Manifest) -> serde_json::Value {
    json!({
        "path": path.display().to_string(),
        "name": m.name,
        "version": m.version,
        "description": m.description,
        "abi_version": build.abi_version,
        "schema_version": build.schema_version,
        "sdk_version": build.sdk_version,
        "rustc_version": build.rustc_version,
        "capabilities": m.capabilities,
        "routes": m.routes,
        "aliases": m.aliases,
        "dialect": m.dialect,
        "identity_provider": m.identity_provider,
    })
}

fn print_human(build: &BuildInfo, m: &Manifest) {
    println!("  name:         {} {}", m.name, m.version);
    if !m.description.is_empty() {
        println!("  description:  {}", m.description);
    }
    println!(
        "  built with:   ABI {}, message schema {}, gatehouse-plugin-api {}, {}",
        build.abi_version, build.schema_version, build.sdk_version, build.rustc_version
    );
    let caps: Vec<String> = m
        .capabilities
        .iter()
        .map(|c| serde_json::to_value(c).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default())
        .collect();
    println!("  capabilities: {}", if caps.is_empty() { "(none)".into() } else { caps.join(", ") });
    for r in &m.routes {
        let methods = if r.methods.is_empty() { "ANY".to_string() } else { r.methods.join(",") };
        println!("  route:        {methods} {}", r.path);
    }
    for a in &m.aliases {
        let methods = if a.methods.is_empty() { "ANY".to_string() } else { a.methods.join(",") };
        let ep = serde_json::to_value(a.endpoint).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default();
        println!("  alias:        {methods} {} -> {ep}", a.path);
    }
}
