//! The public HTTP listener: actix-web's application over actix-http's
//! HTTP/1 service, on TCP streams whose writes are watched for one thing.
//!
//! actix-http refuses a request it cannot parse before any application
//! code (and so any middleware) runs: a URL over 64 KiB, a request head
//! over 128 KiB, malformed syntax, a client too slow to send its head. It
//! writes those refusals as empty responses (`400`, `431`, `408`), which a
//! browser shows as a blank page. [`ReadableRefusals`] recognises them as
//! they are written (they are the only responses without the request id
//! every application response carries) and writes a small page that says
//! what happened and links back to the start instead. Everything else
//! passes through untouched.

use std::future::ready;
use std::io;
use std::net::TcpListener;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_service::ServiceFactoryExt;
use actix_web::body::MessageBody;
use actix_web::dev::{AppConfig, Server, Service, ServiceFactory};
use actix_web::{Error, HttpResponse};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::guard::HTML_CSP;

/// Threads each worker may run blocking work on (`web::block`).
const BLOCKING_THREADS_PER_WORKER: usize = 8;

/// Serves the application `factory` builds (one per worker) on `listener`
/// with `workers` worker threads.
pub fn serve<F, I, S, B>(listener: TcpListener, workers: usize, factory: F) -> io::Result<Server>
where
    F: Fn() -> I + Send + Clone + 'static,
    I: actix_service::IntoServiceFactory<S, actix_http::Request>,
    S: ServiceFactory<actix_http::Request, Config = AppConfig> + 'static,
    S::Error: Into<Error> + 'static,
    S::InitError: std::fmt::Debug,
    S::Response: Into<actix_http::Response<B>> + 'static,
    <S::Service as Service<actix_http::Request>>::Future: 'static,
    B: MessageBody + 'static,
{
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    Ok(actix_server::Server::build()
        .workers(workers)
        // Blocking work is database calls (8 SQLite readers and one writer,
        // or the PostgreSQL pool, 16 by default) and password hashing on
        // the machine's cores: more threads than that only queue inside the
        // pool, and each one costs a stack and a malloc arena (the default,
        // 512 shared by the workers, let a burst grow the process by tens
        // of MB; 16 per worker still left 50 threads after the bench's
        // flows, 8 per worker leaves 34 and serves the same flows/s on
        // SQLite; 4 per worker cost PostgreSQL's flows a fifth). Beyond the
        // limit work waits in the blocking queue.
        .worker_max_blocking_threads(BLOCKING_THREADS_PER_WORKER)
        .listen(format!("gatehouse-http-{addr}"), listener, move || {
            let app = actix_service::IntoServiceFactory::into_factory(factory())
                .map_err(|err: S::Error| err.into().error_response());
            let http = actix_http::HttpService::build()
                .keep_alive(actix_http::KeepAlive::Timeout(Duration::from_secs(5)))
                .client_request_timeout(Duration::from_secs(5))
                .client_disconnect_timeout(Duration::from_secs(1))
                .local_addr(addr)
                .finish(actix_service::map_config(app, |_| AppConfig::default()));
            actix_service::fn_service(|io: TcpStream| {
                let _ = io.set_nodelay(true);
                let peer = io.peer_addr().ok();
                ready(Ok::<_, actix_http::error::DispatchError>((
                    ReadableRefusals::new(io),
                    actix_http::Protocol::Http1,
                    peer,
                )))
            })
            .and_then(http)
        })?
        .run())
}

/// A stream that rewrites the framework's empty refusals into readable
/// pages (see the module documentation).
pub struct ReadableRefusals<T> {
    inner: T,
    /// A replacement being written, and how much of it is out.
    replacing: Option<(Vec<u8>, usize)>,
}

impl<T> ReadableRefusals<T> {
    pub fn new(inner: T) -> Self {
        Self { inner, replacing: None }
    }
}

/// The readable page for one of the framework's own refusals, or `None`
/// when `head` is any other response.
pub fn readable_refusal(buf: &[u8]) -> Option<Vec<u8>> {
    let (status, title, text) = if buf.starts_with(b"HTTP/1.1 400 ") || buf.starts_with(b"HTTP/1.0 400 ") {
        (
            "400 Bad Request",
            "This request could not be read",
            "The address of the page, or the request sent with it, is malformed or too long \
             (an address may be at most 64 KiB). If a link brought you here, it is broken.",
        )
    } else if buf.starts_with(b"HTTP/1.1 431 ") || buf.starts_with(b"HTTP/1.0 431 ") {
        (
            "431 Request Header Fields Too Large",
            "This request is too large",
            "The address of the page and the request's headers together are larger than this server \
             accepts (128 KiB). Clearing this site's cookies may help.",
        )
    } else if buf.starts_with(b"HTTP/1.1 408 ") || buf.starts_with(b"HTTP/1.0 408 ") {
        ("408 Request Timeout", "The request took too long", "The request did not arrive in time. Please try again.")
    } else {
        return None;
    };
    let head_end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    // The framework's refusals are bare: no body, no content type, no
    // request id. Every response of the application has a request id (the
    // request_id middleware) or at least a typed body.
    let bare = !head.contains("\r\nx-request-id:")
        && !head.contains("\r\ncontent-type:")
        && !head.split("\r\n").any(|h| h.starts_with("content-length:") && h[15..].trim() != "0");
    if !bare {
        return None;
    }
    let page = HttpResponse::Ok().body(super::pages::layout(
        title,
        &format!("<p class=\"error\">{text}</p>\n<p><a href=\"/\">Go to the start page</a></p>"),
    ));
    let body = match page.into_body().try_into_bytes() {
        Ok(b) => b,
        Err(_) => return None,
    };
    let mut out = format!(
        "HTTP/1.1 {status}\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\n\
         connection: close\r\ncache-control: no-store\r\nx-content-type-options: nosniff\r\n\
         x-frame-options: DENY\r\ncontent-security-policy: {HTML_CSP}\r\nreferrer-policy: no-referrer\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(&body);
    Some(out)
}

impl<T: AsyncRead + Unpin> AsyncRead for ReadableRefusals<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for ReadableRefusals<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.replacing.is_none() {
            match readable_refusal(buf) {
                Some(page) => this.replacing = Some((page, 0)),
                None => return Pin::new(&mut this.inner).poll_write(cx, buf),
            }
        }
        // The refusal is the last thing on this connection (the framework
        // closes it after), so the replacement is written whole and the
        // framework is told its own bytes went out.
        if let Some((page, written)) = this.replacing.as_mut() {
            while *written < page.len() {
                match Pin::new(&mut this.inner).poll_write(cx, &page[*written..]) {
                    Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                    Poll::Ready(Ok(n)) => *written += n,
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => return Poll::Pending,
                }
            }
            // Anything the framework writes after its refusal is dropped.
            return Poll::Ready(Ok(buf.len()));
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::readable_refusal;

    #[test]
    fn the_frameworks_empty_refusals_become_pages() {
        let raw = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\ndate: x\r\n\r\n";
        let page = String::from_utf8(readable_refusal(raw).expect("rewritten")).unwrap();
        assert!(page.starts_with("HTTP/1.1 400 Bad Request\r\n"));
        assert!(page.contains("content-type: text/html"));
        assert!(page.contains("<a href=\"/\">"));
        let cl: usize = page.split("content-length: ").nth(1).unwrap().split("\r\n").next().unwrap().parse().unwrap();
        assert_eq!(cl, page.split("\r\n\r\n").nth(1).unwrap().len());
        let raw = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n\r\n";
        assert!(readable_refusal(raw).is_some());
    }

    #[test]
    fn application_responses_pass_untouched() {
        let ours = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 2\r\nx-request-id: abc\r\n\r\n{}";
        assert!(readable_refusal(ours).is_none());
        assert!(readable_refusal(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").is_none());
        assert!(readable_refusal(b"HTTP/1.1 400 Bad Req").is_none());
        let typed = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 5\r\ncontent-type: text/plain\r\n\r\nQuery";
        assert!(readable_refusal(typed).is_none());
    }
}
