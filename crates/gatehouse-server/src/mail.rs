//! Outgoing mail over SMTP (lettre), off the request path: the engine's
//! [`Mailer::send`] queues the message; one worker thread renders it (text
//! and HTML templates in `templates/mail/`), delivers it with up to three
//! attempts, and audits each outcome (`mail.sent`, `mail.failed`) without
//! the link or token it carries.

use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Mutex;
use std::time::Duration;

use gatehouse_engine::audit::AuditRecord;
use gatehouse_engine::mail::{Mail, MailKind, Mailer};
use gatehouse_engine::Engine;
use lettre::message::{header::ContentType, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{Message, SmtpTransport, Transport};

use crate::config::SmtpConfig;
use crate::http::templates;

/// Waits between attempts.
const BACKOFF: [Duration; 2] = [Duration::from_secs(1), Duration::from_secs(5)];

/// The engine's side: a queue.
pub struct SmtpMailer {
    queue: Mutex<Sender<Mail>>,
}

impl Mailer for SmtpMailer {
    fn send(&self, mail: Mail) {
        if let Ok(q) = self.queue.lock() {
            if q.send(mail).is_err() {
                tracing::error!("the mail worker has stopped; a message was dropped");
            }
        }
    }
}

/// The worker's side, started once the engine exists.
pub struct MailWorker {
    rx: Receiver<Mail>,
    transport: SmtpTransport,
    from: Mailbox,
    issuer: String,
}

/// Builds the queue and the worker from `[smtp]`; `None` when no host is set.
pub fn from_config(cfg: &SmtpConfig, issuer: &str) -> Result<Option<(SmtpMailer, MailWorker)>, String> {
    let Some(host) = cfg.host.as_deref() else { return Ok(None) };
    let from: Mailbox = cfg.from.parse().map_err(|e| format!("smtp.from {:?}: {e}", cfg.from))?;
    let builder = match cfg.security.as_str() {
        "tls" => SmtpTransport::relay(host).map_err(|e| format!("smtp: {e}"))?.port(cfg.port.unwrap_or(465)),
        "none" => SmtpTransport::builder_dangerous(host).port(cfg.port.unwrap_or(25)),
        _ => SmtpTransport::starttls_relay(host).map_err(|e| format!("smtp: {e}"))?.port(cfg.port.unwrap_or(587)),
    };
    let mut builder = builder.timeout(Some(Duration::from_secs(cfg.timeout_secs.max(1))));
    if let (Some(u), Some(p)) = (&cfg.username, &cfg.password) {
        builder = builder.credentials(Credentials::new(u.clone(), p.clone()));
    }
    let (tx, rx) = channel();
    Ok(Some((
        SmtpMailer { queue: Mutex::new(tx) },
        MailWorker { rx, transport: builder.build(), from, issuer: issuer.trim_end_matches('/').to_string() },
    )))
}

impl MailWorker {
    /// Starts delivering on its own thread.
    pub fn start(self, engine: Engine) {
        let spawned = std::thread::Builder::new().name("gatehouse-mail".into()).spawn(move || {
            while let Ok(mail) = self.rx.recv() {
                self.deliver(&engine, mail);
            }
        });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "could not start the mail worker");
        }
    }

    fn deliver(&self, engine: &Engine, mail: Mail) {
        let kind = mail.kind.name();
        let message = match self.build(&mail) {
            Ok(m) => m,
            Err(e) => return self.audit(engine, &mail, false, &e, 0),
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.transport.send(&message) {
                Ok(_) => {
                    metrics::counter!("gatehouse_mail_total", "kind" => kind, "outcome" => "sent").increment(1);
                    return self.audit(engine, &mail, true, "", attempt);
                }
                Err(e) if attempt <= BACKOFF.len() => {
                    tracing::warn!(target: "gatehouse::mail", kind, attempt, error = %e, "mail delivery failed; retrying");
                    std::thread::sleep(BACKOFF[attempt - 1]);
                }
                Err(e) => {
                    metrics::counter!("gatehouse_mail_total", "kind" => kind, "outcome" => "failed").increment(1);
                    return self.audit(engine, &mail, false, &e.to_string(), attempt);
                }
            }
        }
    }

    fn audit(&self, engine: &Engine, mail: &Mail, sent: bool, error: &str, attempts: usize) {
        let to = mail.to.as_str();
        let user_id = engine.find_user(to).ok().map(|u| u.id);
        let result = engine.audit(AuditRecord {
            kind: if sent { "mail.sent" } else { "mail.failed" },
            message: if sent {
                format!("{} mail sent to {to}", mail.kind.name())
            } else {
                format!("{} mail to {to} failed after {attempts} attempt(s): {error}", mail.kind.name())
            },
            user_id,
            subject: Some(to),
            details: serde_json::json!({ "mail": mail.kind.name(), "attempts": attempts }),
            ..Default::default()
        });
        if let Err(e) = result {
            tracing::error!(error = %e, "could not audit a mail delivery");
        }
    }

    fn build(&self, mail: &Mail) -> Result<Message, String> {
        let to: Mailbox = match mail.name.trim() {
            "" => mail.to.parse(),
            n => format!("{} <{}>", n.replace(['<', '>', '"', '\r', '\n'], ""), mail.to).parse(),
        }
        .map_err(|e| format!("recipient {}: {e}", mail.to))?;
        let (subject, ctx) = match &mail.kind {
            MailKind::PasswordReset { link, valid_minutes } => (
                format!("Reset your {} password", templates::brand()),
                minijinja::context! { link => link, valid_minutes => valid_minutes },
            ),
            MailKind::PasswordChanged => {
                (format!("Your {} password was changed", templates::brand()), minijinja::context! {})
            }
            MailKind::VerifyEmail { link, valid_hours } => (
                format!("Confirm your e-mail address for {}", templates::brand()),
                minijinja::context! { link => link, valid_hours => valid_hours },
            ),
            MailKind::AlreadyRegistered { login, forgot } => (
                format!("You already have a {} account", templates::brand()),
                minijinja::context! { login => login, forgot => forgot },
            ),
            MailKind::Invitation { link, valid_days } => (
                format!("You are invited to {}", templates::brand()),
                minijinja::context! { link => link, valid_days => valid_days },
            ),
        };
        let ctx = minijinja::value::merge_maps([
            minijinja::context! { brand => templates::brand(), name => mail.name, to => mail.to, issuer => self.issuer },
            ctx,
        ]);
        let name = mail.kind.name();
        let text = templates::render_plain(&format!("mail/{name}.txt"), ctx.clone()).map_err(|e| e.to_string())?;
        let html = templates::render_plain(&format!("mail/{name}.html"), ctx).map_err(|e| e.to_string())?;
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .multipart(
                MultiPart::alternative()
                    .singlepart(SinglePart::builder().header(ContentType::TEXT_PLAIN).body(text))
                    .singlepart(SinglePart::builder().header(ContentType::TEXT_HTML).body(html)),
            )
            .map_err(|e| e.to_string())
    }
}
