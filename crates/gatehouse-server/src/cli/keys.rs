//! `gatehouse keys …`: list and rotate the ID token signing keys.

use clap::Subcommand;
use serde_json::json;

use gatehouse_core::time::{format_timestamp, now};
use gatehouse_engine::keys::signing_key_at;

use super::{load_config, Failure, GlobalArgs};
use crate::state::open_engine;

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Add a new signing key per algorithm, published in JWKS at once; it
    /// starts signing after `tokens.key_activation_delay` (the JWKS cache
    /// lifetime), and the old keys stay published until the ID tokens they
    /// signed expire.
    Rotate,
    /// List the published signing keys.
    List,
}

pub fn run(g: &GlobalArgs, cmd: KeysCommand) -> Result<(), Failure> {
    let cfg = load_config(g)?;
    let engine = open_engine(&cfg).map_err(Failure)?;
    match cmd {
        KeysCommand::Rotate => {
            let created = engine.rotate_signing_keys(cfg.tokens.key_activation_delay)?;
            if g.json {
                let v: Vec<_> = created
                    .iter()
                    .map(|r| json!({ "kid": r.key.kid, "alg": r.key.alg, "signs_from": r.signs_from }))
                    .collect();
                println!("{}", json!({ "created": v }));
            } else {
                let ts = now();
                for r in &created {
                    let when = if r.signs_from <= ts {
                        "now".to_string()
                    } else {
                        format!("{} (in {} s)", format_timestamp(r.signs_from), r.signs_from - ts)
                    };
                    println!("new {} signing key {}: published now, signs from {when}", r.key.alg, r.key.kid);
                }
                println!("older keys sign until then and stay published until their ID tokens expire");
            }
        }
        KeysCommand::List => {
            let keys = engine.published_keys()?;
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
                    let ts = now();
                    let status = match (k.retired_at, k.publish_until) {
                        (Some(r), Some(t)) if r > ts => {
                            format!("signing until {}, published until {}", format_timestamp(r), format_timestamp(t))
                        }
                        (_, Some(t)) => format!("retired, published until {}", format_timestamp(t)),
                        (_, None) if signing_key_at(&keys, &k.alg, ts).is_some_and(|s| s.kid == k.kid) => {
                            "active, signing".into()
                        }
                        (_, None) => "published, signs once the older key retires".into(),
                    };
                    println!("{}\t{}\t{}", k.kid, k.alg, status);
                }
            }
        }
    }
    Ok(())
}
