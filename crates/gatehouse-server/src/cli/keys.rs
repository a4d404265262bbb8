//! `gatehouse keys …`: list and rotate the ID token signing keys.

use clap::Subcommand;
use serde_json::json;

use gatehouse_core::time::{format_timestamp, now};

use super::{load_config, Failure, GlobalArgs};
use crate::state::open_engine;

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Add a new signing key per algorithm; the old ones stop signing but
    /// stay published in JWKS until the ID tokens they signed expire.
    Rotate,
    /// List the published signing keys.
    List,
}

pub fn run(g: &GlobalArgs, cmd: KeysCommand) -> Result<(), Failure> {
    let cfg = load_config(g)?;
    let engine = open_engine(&cfg).map_err(Failure)?;
    match cmd {
        KeysCommand::Rotate => {
            let created = engine.rotate_signing_keys()?;
            if g.json {
                let v: Vec<_> = created.iter().map(|k| json!({ "kid": k.kid, "alg": k.alg })).collect();
                println!("{}", json!({ "created": v }));
            } else {
                for k in &created {
                    println!("new {} signing key {}", k.alg, k.kid);
                }
                println!("older keys are retired and stay published until their ID tokens expire");
            }
        }
        KeysCommand::List => {
            let keys = engine.store.published_signing_keys(now())?;
            if g.json {
                let v: Vec<_> = keys
                    .iter()
                    .map(|k| {
                        json!({ "kid": k.kid, "alg": k.alg, "created_at": k.created_at,
                                "retired_at": k.retired_at, "publish_until": k.publish_until })
                    })
                    .collect();
                println!("{}", serde_json::Value::Array(v));
            } else {
                for k in &keys {
                    let status = match k.publish_until {
                        Some(t) => format!("retired, published until {}", format_timestamp(t)),
                        None => "active".into(),
                    };
                    println!("{}\t{}\t{}", k.kid, k.alg, status);
                }
            }
        }
    }
    Ok(())
}
