//! Back-channel logout delivery (OpenID Connect Back-Channel Logout 1.0
//! §2.5), off the request path: the engine's [`LogoutSender::send`] queues a
//! logout token; a few worker threads post it to the client's
//! `backchannel_logout_uri` as `logout_token=…`, with up to three attempts,
//! no redirects followed and short timeouts, and audit each outcome
//! (`logout.backchannel_sent`, `logout.backchannel_failed`) without the token.

use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gatehouse_engine::audit::AuditRecord;
use gatehouse_engine::logout::{BackchannelLogout, LogoutSender};
use gatehouse_engine::Engine;

/// Waits between attempts.
const BACKOFF: [Duration; 2] = [Duration::from_secs(1), Duration::from_secs(4)];
/// Worker threads: one slow client must not hold up the others' tokens.
const WORKERS: usize = 4;
/// Connect and whole-request timeouts.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// The engine's side: a queue.
pub struct QueuedLogoutSender {
    queue: Mutex<Sender<BackchannelLogout>>,
}

impl LogoutSender for QueuedLogoutSender {
    fn send(&self, notice: BackchannelLogout) {
        if let Ok(q) = self.queue.lock() {
            if q.send(notice).is_err() {
                tracing::error!("the back-channel logout workers have stopped; a logout token was dropped");
            }
        }
    }
}

/// The workers' side, started once the engine exists.
pub struct LogoutWorkers {
    rx: Arc<Mutex<Receiver<BackchannelLogout>>>,
}

/// The queue and its workers.
pub fn new() -> (QueuedLogoutSender, LogoutWorkers) {
    let (tx, rx) = channel();
    (QueuedLogoutSender { queue: Mutex::new(tx) }, LogoutWorkers { rx: Arc::new(Mutex::new(rx)) })
}

impl LogoutWorkers {
    /// Starts the worker threads.
    pub fn start(self, engine: Engine) {
        let agent = agent();
        for i in 0..WORKERS {
            let (rx, engine, agent) = (self.rx.clone(), engine.clone(), agent.clone());
            let spawned = std::thread::Builder::new().name(format!("gatehouse-logout-{i}")).spawn(move || loop {
                let next = match rx.lock() {
                    Ok(r) => r.recv(),
                    Err(_) => return,
                };
                match next {
                    Ok(notice) => deliver(&agent, &engine, notice),
                    Err(_) => return,
                }
            });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "could not start a back-channel logout worker");
            }
        }
    }
}

impl LogoutWorkers {
    /// Delivers what is queued now on this thread (a CLI command, which
    /// exits right after).
    pub fn drain(self, engine: &Engine) {
        let agent = agent();
        let Ok(rx) = self.rx.lock() else { return };
        while let Ok(notice) = rx.try_recv() {
            deliver(&agent, engine, notice);
        }
    }
}

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .redirects(0)
        .timeout_connect(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .user_agent(concat!("Gatehouse/", env!("CARGO_PKG_VERSION"), " back-channel logout"))
        .build()
}

/// Posts one logout token, retrying on network errors and 5xx answers.
fn deliver(agent: &ureq::Agent, engine: &Engine, n: BackchannelLogout) {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let outcome = match agent.post(&n.uri).send_form(&[("logout_token", n.logout_token.as_str())]) {
            Ok(r) if (200..300).contains(&r.status()) => Ok(r.status()),
            Ok(r) => Err((format!("HTTP {}", r.status()), false)),
            // 4xx: the client refused this token; trying again will not help.
            Err(ureq::Error::Status(code, _)) => Err((format!("HTTP {code}"), code >= 500)),
            Err(ureq::Error::Transport(t)) => Err((t.to_string(), true)),
        };
        match outcome {
            Ok(status) => return audit(engine, &n, Ok(status), attempt),
            Err((e, retry)) if retry && attempt <= BACKOFF.len() => {
                tracing::warn!(target: "gatehouse::logout", client_id = %n.client_id, attempt, error = %e, "back-channel logout failed; retrying");
                std::thread::sleep(BACKOFF[attempt - 1]);
            }
            Err((e, _)) => return audit(engine, &n, Err(e), attempt),
        }
    }
}

fn audit(engine: &Engine, n: &BackchannelLogout, outcome: Result<u16, String>, attempts: usize) {
    let (kind, message, details) = match &outcome {
        Ok(status) => (
            "logout.backchannel_sent",
            format!("Back-channel logout delivered to {} (HTTP {status})", n.client_id),
            serde_json::json!({ "uri": n.uri, "sid": n.sid, "attempts": attempts, "status": status }),
        ),
        Err(e) => (
            "logout.backchannel_failed",
            format!("Back-channel logout to {} failed after {attempts} attempt(s): {e}", n.client_id),
            serde_json::json!({ "uri": n.uri, "sid": n.sid, "attempts": attempts, "error": e }),
        ),
    };
    let result = engine.audit(AuditRecord {
        kind,
        message,
        user_id: Some(n.user_id),
        client_id: Some(&n.client_id),
        details,
        ..Default::default()
    });
    if let Err(e) = result {
        tracing::error!(error = %e, "could not audit a back-channel logout");
    }
}
