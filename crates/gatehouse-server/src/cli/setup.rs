//! `gatehouse client setup CLIENT [--reset-secret]`: what to enter in the
//! client app, from the client's connector plugin (`setup_instructions`).
//! `client add --connector NAME` prints the same right after registering.

use gatehouse_engine::model::Client;
use gatehouse_engine::Engine;
use gatehouse_plugin_api::messages::SetupInstructions;
use serde_json::{json, Value};

use super::{load_config, Failure, GlobalArgs};
use crate::config::Config;
use crate::plugin_host::PluginHost;
use crate::state::open_engine;

/// Loads the configured plugins (as `serve` and `plugin list` do; a plugin
/// that cannot be loaded is an error naming it) and asks the client's
/// connector for its instructions. Checks the connector before anything
/// else so that a reset secret is never lost to a missing plugin.
fn instructions(
    cfg: &Config,
    engine: &Engine,
    client: &Client,
    reset_secret: bool,
    secret: Option<String>,
) -> Result<(SetupInstructions, Option<String>), Failure> {
    let host = PluginHost::load(cfg, engine, false)?;
    host.connector_of(client)?;
    let secret = if reset_secret {
        if client.is_public {
            return Err(Failure(format!("client {} is public: it has no secret to reset", client.client_id)));
        }
        let (_, s) = engine.update_client(client.id, Default::default(), true)?;
        s
    } else {
        secret
    };
    match host.setup_instructions(client, &cfg.issuer(), secret.clone()) {
        Ok(i) => Ok((i, secret)),
        // The new secret exists nowhere else: show it with the failure.
        Err(e) => match secret.filter(|_| reset_secret) {
            Some(s) => Err(Failure(format!("{e} (the secret was reset; the new client secret is {s})"))),
            None => Err(e.into()),
        },
    }
}

/// `client setup`.
pub fn run(g: &GlobalArgs, client: &str, reset_secret: bool) -> Result<(), Failure> {
    let cfg = load_config(g)?;
    let engine = open_engine(&cfg).map_err(Failure)?;
    let c = engine.find_client(client)?;
    let (i, secret) = instructions(&cfg, &engine, &c, reset_secret, None)?;
    if g.json {
        let mut v = to_json(&i);
        v["client_id"] = json!(c.client_id);
        if let Some(s) = secret {
            v["client_secret"] = json!(s);
        }
        println!("{v}");
    } else {
        print_human(&i);
        if secret.is_some() {
            println!("\n(the new secret is shown only now; Gatehouse keeps only its digest)");
        }
    }
    Ok(())
}

/// After `client add --connector`: the instructions with the fresh secret,
/// or `None` (and a note on stderr) when the connector cannot give them —
/// the client is registered either way.
pub fn for_new_client(
    g: &GlobalArgs,
    engine: &Engine,
    client: &Client,
    secret: Option<String>,
) -> Option<SetupInstructions> {
    match load_config(g).and_then(|cfg| instructions(&cfg, engine, client, false, secret)) {
        Ok((i, _)) => Some(i),
        Err(Failure(e)) => {
            eprintln!("note: no setup instructions: {e}");
            None
        }
    }
}

pub fn to_json(i: &SetupInstructions) -> Value {
    let fields: Vec<Value> = i.fields.iter().map(|(label, value)| json!({ "label": label, "value": value })).collect();
    json!({ "title": i.title, "fields": fields, "notes": i.notes })
}

/// `label: value` lines; a multi-line value continues indented.
pub fn print_human(i: &SetupInstructions) {
    if !i.title.is_empty() {
        println!("{}", i.title);
    }
    for (label, value) in &i.fields {
        println!("{label}: {}", value.replace('\n', "\n    "));
    }
    if !i.notes.trim().is_empty() {
        println!("\n{}", i.notes.trim_end());
    }
}
