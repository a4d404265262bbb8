//! `gatehouse serve`.

use std::path::PathBuf;

use actix_web::{middleware, web, App, HttpServer};
use clap::Args;

use super::{load_config, Failure, GlobalArgs};
use crate::state::{open_engine, AppState};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (default 127.0.0.1:8080).
    #[arg(long)]
    pub bind: Option<String>,
    /// Issuer URL (default http://<bind>).
    #[arg(long)]
    pub issuer: Option<String>,
    /// Directory of plugins to load.
    #[arg(long)]
    pub plugins_dir: Option<PathBuf>,
    /// Start even when a plugin cannot be loaded: log why and serve without it.
    #[arg(long)]
    pub skip_broken_plugins: bool,
}

pub fn run(global: &GlobalArgs, args: ServeArgs) -> Result<(), Failure> {
    let mut cfg = load_config(global)?;
    if let Some(b) = args.bind {
        cfg.bind = b;
    }
    if let Some(i) = args.issuer {
        cfg.issuer = Some(i);
    }
    if let Some(p) = args.plugins_dir {
        cfg.plugins_dir = Some(p);
    }
    let _log = crate::logging::init(&cfg.log_format);
    crate::http::templates::set_branding(crate::http::templates::Branding {
        name: cfg.branding.name.trim().to_string(),
        logo_url: cfg.branding.logo_url.clone(),
        accent_color: cfg.branding.accent_color.clone(),
    });
    let mut engine = open_engine(&cfg).map_err(Failure)?;
    let mail_worker = match crate::mail::from_config(&cfg.smtp, &cfg.issuer()).map_err(Failure)? {
        Some((mailer, worker)) => {
            engine.set_mailer(std::sync::Arc::new(mailer));
            Some(worker)
        }
        None => {
            tracing::info!("no [smtp] host: mail is off (password reset by e-mail is unavailable)");
            None
        }
    };
    let (logout_sender, logout_workers) = crate::logout_sender::new();
    engine.set_logout_sender(std::sync::Arc::new(logout_sender));
    let plugins = std::sync::Arc::new(
        crate::plugin_host::PluginHost::load(&cfg, &engine, args.skip_broken_plugins).map_err(Failure::from)?,
    );
    if !plugins.plugins.is_empty() {
        engine.set_hooks(std::sync::Arc::new(crate::plugin_host::hooks::PluginHooks { host: plugins.clone() }));
        plugins.set_engine(&engine);
    }
    if let Some(w) = mail_worker {
        w.start(engine.clone());
    }
    logout_workers.start(engine.clone());
    first_administrator(&engine, &cfg.issuer()).map_err(Failure)?;
    start_janitor(&engine, &cfg.janitor);
    crate::http::metrics::install();
    let metrics_bind = cfg.metrics_bind.clone();
    let bind = cfg.bind.clone();
    tracing::info!(database = %engine.database(), issuer = %cfg.issuer(), %bind, "gatehouse starting");
    let state = AppState { engine, config: std::sync::Arc::new(cfg), plugins: plugins.clone() };

    let metrics_apart = metrics_bind.is_some();
    actix_web::rt::System::new().block_on(async move {
        let data = web::Data::new(state);
        let metrics_data = data.clone();
        let listener =
            std::net::TcpListener::bind(&bind).map_err(|e| Failure(format!("cannot listen on {bind}: {e}")))?;
        let addr = listener.local_addr().map_err(|e| Failure(format!("cannot listen on {bind}: {e}")))?;
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
        let server = crate::http::listener::serve(listener, workers, move || {
            App::new()
                .configure(|c| {
                    if !metrics_apart {
                        c.route("/metrics", web::get().to(crate::http::metrics::render));
                    }
                })
                .app_data(data.clone())
                .app_data(web::FormConfig::default().limit(64 * 1024))
                .app_data(web::JsonConfig::default().limit(64 * 1024))
                .wrap(middleware::from_fn(crate::http::request_id::middleware))
                .configure(crate::http::configure)
                .configure(|c| crate::plugin_host::http::mount(c, &plugins))
        })
        .map_err(|e| Failure(format!("cannot listen on {bind}: {e}")))?;
        tracing::info!("listening on http://{addr}");
        let Some(mb) = metrics_bind else {
            return server.await.map_err(|e| Failure(format!("server stopped: {e}")));
        };
        // Metrics on their own address (kept off the public one).
        let metrics = HttpServer::new(move || {
            App::new().app_data(metrics_data.clone()).route("/metrics", web::get().to(crate::http::metrics::render))
        })
        .workers(1)
        .bind(&mb)
        .map_err(|e| Failure(format!("cannot listen on {mb} (metrics_bind): {e}")))?;
        tracing::info!("metrics on http://{mb}/metrics");
        let (a, b) = futures_util::future::join(server, metrics.run()).await;
        a.and(b).map_err(|e| Failure(format!("server stopped: {e}")))
    })
}

/// A hub needs an administrator. From the environment (containers):
/// `GATEHOUSE_BOOTSTRAP_ADMIN_EMAIL` and `GATEHOUSE_BOOTSTRAP_ADMIN_PASSWORD_FILE`
/// make one when none exists. Otherwise, while none exists, a one-time
/// setup link is printed to this process's standard error only (never to
/// the log, which may be shipped elsewhere). There is never a default
/// password.
fn first_administrator(engine: &gatehouse_engine::Engine, issuer: &str) -> Result<(), String> {
    if let Ok(email) = std::env::var("GATEHOUSE_BOOTSTRAP_ADMIN_EMAIL") {
        let file = std::env::var("GATEHOUSE_BOOTSTRAP_ADMIN_PASSWORD_FILE").map_err(|_| {
            "GATEHOUSE_BOOTSTRAP_ADMIN_EMAIL is set but GATEHOUSE_BOOTSTRAP_ADMIN_PASSWORD_FILE is not: \
             name a file that holds the administrator's password"
                .to_string()
        })?;
        let password = std::fs::read_to_string(&file)
            .map_err(|e| format!("cannot read GATEHOUSE_BOOTSTRAP_ADMIN_PASSWORD_FILE {file}: {e}"))?;
        let password = password.trim_end_matches(['\r', '\n']);
        match engine.bootstrap_admin(&email, password).map_err(|e| format!("bootstrap administrator: {e}"))? {
            Some(u) => tracing::info!(user_id = u.id, "bootstrap administrator created from the environment"),
            None => tracing::info!("an administrator exists; GATEHOUSE_BOOTSTRAP_ADMIN_EMAIL ignored"),
        }
        return Ok(());
    }
    if let Some(token) = engine.issue_setup_token().map_err(|e| format!("first-administrator setup: {e}"))? {
        tracing::warn!("no administrator exists yet: the setup link is printed on standard error");
        eprintln!(
            "\n  No administrator exists yet. Open this link within an hour to create one (it works once):\n\n    \
             {}/setup?token={token}\n",
            issuer.trim_end_matches('/')
        );
    }
    Ok(())
}

/// Sweeps expired rows every `interval_secs` on its own thread (never on
/// the request threads); several replicas may all run it.
fn start_janitor(engine: &gatehouse_engine::Engine, cfg: &crate::config::JanitorConfig) {
    if cfg.interval_secs == 0 {
        tracing::info!("janitor off (janitor.interval_secs = 0)");
        return;
    }
    let (engine, cfg) = (engine.clone(), cfg.clone());
    let spawned = std::thread::Builder::new().name("gatehouse-janitor".into()).spawn(move || loop {
        std::thread::sleep(std::time::Duration::from_secs(cfg.interval_secs));
        if let Err(e) = engine.sweep(cfg.batch_size, cfg.max_batches) {
            tracing::warn!(target: "gatehouse::janitor", error = %e, "janitor sweep failed; retrying next interval");
        }
    });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "could not start the janitor");
    }
}
