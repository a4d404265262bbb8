//! Shared harness for the end-to-end tests: start the real `gatehouse`
//! binary on a free port against a fresh database (a SQLite temp file or a
//! new PostgreSQL database), talk HTTP to it, run its CLI on the same
//! database, build plugin shared libraries.

pub mod whmcs;

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_gatehouse");

/// A database backend under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The backends to run a suite on: SQLite always; PostgreSQL when
/// `GATEHOUSE_TEST_POSTGRES_URL` is set (otherwise the skip is reported).
pub fn backends() -> Vec<Backend> {
    let mut v = vec![Backend::Sqlite];
    if postgres_admin_url().is_some() {
        v.push(Backend::Postgres);
    } else {
        eprintln!("SKIPPED: PostgreSQL half of this test (GATEHOUSE_TEST_POSTGRES_URL is unset)");
    }
    v
}

pub fn postgres_admin_url() -> Option<String> {
    std::env::var("GATEHOUSE_TEST_POSTGRES_URL").ok().filter(|s| !s.is_empty())
}

/// A database that exists for one test and is dropped after it.
pub struct TestDb {
    pub url: String,
    pg_name: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub fn new(backend: Backend) -> TestDb {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}", dir.path().join("gatehouse.db").display());
                TestDb { url, pg_name: None, _dir: Some(dir) }
            }
            Backend::Postgres => {
                let admin = postgres_admin_url().expect("GATEHOUSE_TEST_POSTGRES_URL");
                let name = format!("gh_test_{}", random_hex(8));
                let url = gatehouse_store::testing::create_postgres_database(&admin, &name)
                    .unwrap_or_else(|e| panic!("PostgreSQL test database: {e}"));
                gatehouse_store::testing::record_postgres_use();
                TestDb { url, pg_name: Some(name), _dir: None }
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let (Some(name), Some(admin)) = (&self.pg_name, postgres_admin_url()) {
            let _ = gatehouse_store::testing::drop_postgres_database(&admin, name);
        }
    }
}

pub fn random_hex(bytes: usize) -> String {
    use rand::RngCore;
    let mut b = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// How to start a server.
#[derive(Default, Clone)]
pub struct ServerOptions {
    /// Extra `gatehouse.toml` content.
    pub config: String,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
    /// Extra arguments after `serve`.
    pub args: Vec<String>,
    /// Serve as `http://localhost:<port>` (the issuer, and `base`): WebAuthn
    /// refuses IP addresses as relying parties.
    pub localhost: bool,
    /// Listen on this port (known in advance, e.g. for a redirect URI
    /// registered elsewhere first); default: a free one.
    pub port: Option<u16>,
}

/// A running `gatehouse serve`, killed on drop.
pub struct Server {
    pub base: String,
    pub db: TestDb,
    pub data_dir: tempfile::TempDir,
    pub config_path: PathBuf,
    child: Option<Child>,
    log_path: PathBuf,
    /// How it was started (for a restart).
    opts: ServerOptions,
    port: u16,
}

impl Server {
    pub fn start(backend: Backend) -> Server {
        Server::start_with(backend, ServerOptions::default())
    }

    pub fn start_with(backend: Backend, opts: ServerOptions) -> Server {
        let db = TestDb::new(backend);
        let data_dir = tempfile::tempdir().unwrap();
        let config_path = data_dir.path().join("gatehouse.toml");
        std::fs::write(&config_path, &opts.config).unwrap();
        let mut last_err = String::new();
        // A port picked as free can be taken before we bind it: retry then.
        for _ in 0..5 {
            let port = opts.port.unwrap_or_else(free_port);
            let base =
                if opts.localhost { format!("http://localhost:{port}") } else { format!("http://127.0.0.1:{port}") };
            let log_path = data_dir.path().join(format!("server-{port}.log"));
            let mut child = spawn_serve(port, &base, &config_path, &db.url, data_dir.path(), &opts, &log_path);
            match wait_ready(&mut child, &base) {
                Ok(()) => {
                    return Server { base, db, data_dir, config_path, child: Some(child), log_path, opts, port };
                }
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                    last_err = format!("{e}\n--- server log ---\n{log}");
                    if !log.contains("Address already in use") {
                        break;
                    }
                }
            }
        }
        panic!("gatehouse did not start: {last_err}");
    }

    /// Kills the server with SIGKILL (no shutdown of any kind: nothing is
    /// flushed) and starts it again on the same port, database and data
    /// directory.
    pub fn kill_and_restart(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let mut child = spawn_serve(
            self.port,
            &self.base,
            &self.config_path,
            &self.db.url,
            self.data_dir.path(),
            &self.opts,
            &self.log_path,
        );
        if let Err(e) = wait_ready(&mut child, &self.base) {
            let _ = child.kill();
            panic!("gatehouse did not restart: {e}\n{}", self.log());
        }
        self.child = Some(child);
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log_path) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }

    /// Whether the log shows `needle` within a few seconds: the server's
    /// log writer thread writes lines shortly after the request that
    /// logged them has been answered.
    pub fn logs_within(&self, needle: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if self.log().contains(needle) {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Runs the `gatehouse` CLI on this server's database and data directory.
    pub fn cli(&self, args: &[&str]) -> Output {
        cli_on(&self.db.url, self.data_dir.path(), &self.config_path, args)
    }

    /// Runs the CLI with `stdin` as its input (passwords never go in argv).
    pub fn cli_with_stdin(&self, args: &[&str], stdin: &str) -> Output {
        use std::io::Write;
        let mut child = Command::new(BIN)
            .args(args)
            .env("GATEHOUSE_CONFIG", &self.config_path)
            .env("GATEHOUSE_DATABASE_URL", &self.db.url)
            .env("GATEHOUSE_DATA_DIR", self.data_dir.path())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    }

    /// Runs the CLI with `--json`, asserts success, parses stdout.
    pub fn cli_json(&self, args: &[&str]) -> serde_json::Value {
        let mut a = args.to_vec();
        a.push("--json");
        let out = self.cli(&a);
        assert!(out.status.success(), "gatehouse {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("gatehouse {args:?}: not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// `gatehouse serve` on `port` with the test's settings; its log (appended) at `log_path`.
fn spawn_serve(
    port: u16,
    base: &str,
    config_path: &Path,
    db_url: &str,
    data_dir: &Path,
    opts: &ServerOptions,
    log_path: &Path,
) -> Child {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(log_path).unwrap();
    Command::new(BIN)
        .arg("serve")
        .args(["--bind", &format!("127.0.0.1:{port}")])
        .args(if opts.localhost { vec!["--issuer".to_string(), base.to_string()] } else { Vec::new() })
        .args(&opts.args)
        .env("GATEHOUSE_CONFIG", config_path)
        .env("GATEHOUSE_DATABASE_URL", db_url)
        .env("GATEHOUSE_DATA_DIR", data_dir)
        .env("GATEHOUSE_LOG", "info")
        // The production plugins cargo built next to the binary are
        // loaded only by the tests that ask for them.
        .env("GATEHOUSE_DEFAULT_PLUGINS", "false")
        .envs(opts.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start gatehouse")
}

fn wait_ready(child: &mut Child, base: &str) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(2)).build().unwrap();
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("gatehouse exited early with {status}"));
        }
        if let Ok(r) = client.get(format!("{base}/healthz")).send() {
            if r.status().is_success() {
                return Ok(());
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err("timed out waiting for /healthz".into())
}

/// Runs the CLI against a database.
pub fn cli_on(db_url: &str, data_dir: &Path, config: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("GATEHOUSE_CONFIG", config)
        .env("GATEHOUSE_DATABASE_URL", db_url)
        .env("GATEHOUSE_DATA_DIR", data_dir)
        .env("GATEHOUSE_DEFAULT_PLUGINS", "false")
        .output()
        .expect("run gatehouse")
}

/// An HTTP client that does not follow redirects and keeps cookies.
pub fn browser() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// An HTTP client without cookies that does not follow redirects.
pub fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

static BUILD_LOCK: Mutex<()> = Mutex::new(());

/// Builds a workspace cdylib package and returns the path of its shared
/// library. Uses the same target directory as the running tests.
pub fn build_plugin(package: &str, lib_name: &str) -> PathBuf {
    let _g = BUILD_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let target_dir = target_dir();
    let status = Command::new(env!("CARGO"))
        .args(["build", "--quiet", "-p", package])
        .env("CARGO_TARGET_DIR", &target_dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("run cargo build");
    assert!(status.success(), "cargo build -p {package} failed");
    let path = target_dir.join("debug").join(format!("lib{lib_name}.so"));
    assert!(path.exists(), "{} was not built", path.display());
    path
}

/// The target directory the test binary lives in (…/target/debug/deps/x → …/target).
pub fn target_dir() -> PathBuf {
    if let Ok(d) = std::env::var("CARGO_TARGET_DIR") {
        return PathBuf::from(d);
    }
    let exe = std::env::current_exe().unwrap();
    exe.ancestors().nth(3).map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("target"))
}

/// One HTML form as a browser sees it.
#[derive(Debug, Clone, Default)]
pub struct HtmlForm {
    pub method: String,
    pub action: String,
    /// (name, value, type) of every input, in order.
    pub inputs: Vec<(String, String, String)>,
    /// (name, value) of every submit button.
    pub buttons: Vec<(String, String)>,
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let lower = tag.to_ascii_lowercase();
    let mut from = 0;
    while let Some(pos) = lower[from..].find(&format!("{name}=")) {
        let at = from + pos;
        let before_ok = at == 0 || lower.as_bytes()[at - 1].is_ascii_whitespace();
        let rest = &tag[at + name.len() + 1..];
        if before_ok {
            let value = if let Some(r) = rest.strip_prefix('"') {
                r.split('"').next().unwrap_or_default()
            } else if let Some(r) = rest.strip_prefix('\'') {
                r.split('\'').next().unwrap_or_default()
            } else {
                rest.split(|c: char| c.is_whitespace() || c == '>').next().unwrap_or_default()
            };
            return Some(html_escape::decode_html_entities(value).to_string());
        }
        from = at + 1;
    }
    None
}

/// Every form of a page (a deliberately small parser: enough for our own pages).
pub fn parse_forms(html: &str) -> Vec<HtmlForm> {
    let lower = html.to_ascii_lowercase();
    let mut forms = Vec::new();
    let mut from = 0;
    while let Some(start) = lower[from..].find("<form") {
        let start = from + start;
        let end = lower[start..].find("</form>").map(|e| start + e).unwrap_or(html.len());
        let open_end = lower[start..].find('>').map(|e| start + e).unwrap_or(end);
        let open = &html[start..open_end];
        let mut form = HtmlForm {
            method: attr(open, "method").unwrap_or_else(|| "get".into()).to_ascii_lowercase(),
            action: attr(open, "action").unwrap_or_default(),
            ..Default::default()
        };
        let body = &html[open_end..end];
        let body_lower = &lower[open_end..end];
        let mut i = 0;
        while i < body.len() {
            let next_input = body_lower[i..].find("<input").map(|p| (p, "input"));
            let next_button = body_lower[i..].find("<button").map(|p| (p, "button"));
            let next = match (next_input, next_button) {
                (Some(a), Some(b)) => Some(if a.0 < b.0 { a } else { b }),
                (a, b) => a.or(b),
            };
            let Some((p, kind)) = next else { break };
            let tag_start = i + p;
            let tag_end = body_lower[tag_start..].find('>').map(|e| tag_start + e).unwrap_or(body.len());
            let tag = &body[tag_start..tag_end];
            let name = attr(tag, "name").unwrap_or_default();
            let value = attr(tag, "value").unwrap_or_default();
            let ty =
                attr(tag, "type").unwrap_or_else(|| if kind == "button" { "submit".into() } else { "text".into() });
            if kind == "button" || ty == "submit" {
                form.buttons.push((name, value));
            } else {
                form.inputs.push((name, value, ty.to_ascii_lowercase()));
            }
            i = tag_end;
        }
        forms.push(form);
        from = end.max(start + 1);
    }
    forms
}

/// Resolves a possibly relative URL against the page it came from.
pub fn absolute(base: &str, href: &str) -> String {
    url::Url::parse(base).unwrap().join(href).unwrap().to_string()
}

/// Drives a browser from `start` through Gatehouse's login (filling e-mail
/// and password) and consent (choosing `consent`: allow or deny) pages until
/// a redirect leaves `server` (to the client's redirect URI, say). Returns
/// that final `Location`.
pub fn drive_login(
    browser: &reqwest::blocking::Client,
    server_base: &str,
    start: &str,
    email: &str,
    password: &str,
    allow: bool,
) -> String {
    let mut url = start.to_string();
    let mut resp = browser.get(&url).send().unwrap();
    for _ in 0..12 {
        let status = resp.status();
        if status.is_redirection() {
            let loc = resp.headers()["location"].to_str().unwrap().to_string();
            let next = absolute(&url, &loc);
            if !next.starts_with(server_base) {
                return next;
            }
            url = next;
            resp = browser.get(&url).send().unwrap();
            continue;
        }
        let page = resp.text().unwrap();
        assert!(status.is_success(), "unexpected {status} at {url}:\n{page}");
        let forms = parse_forms(&page);
        let form =
            forms.iter().find(|f| f.method == "post").unwrap_or_else(|| panic!("no form at {url}:\n{page}")).clone();
        let mut fields: Vec<(String, String)> = Vec::new();
        let has_password = form.inputs.iter().any(|(_, _, t)| t == "password");
        for (name, value, ty) in &form.inputs {
            if name.is_empty() || ty == "checkbox" {
                continue;
            }
            let v = if ty == "password" {
                password.to_string()
            } else if has_password && (ty == "email" || name.contains("email") || name == "username") {
                email.to_string()
            } else {
                value.clone()
            };
            fields.push((name.clone(), v));
        }
        if !has_password {
            // Consent: the button whose name or value says allow / deny.
            let words: &[&str] = if allow {
                &["allow", "approve", "accept", "yes", "grant"]
            } else {
                &["deny", "decline", "reject", "no", "cancel"]
            };
            let button = form
                .buttons
                .iter()
                .find(|(n, v)| {
                    words.iter().any(|w| v.to_ascii_lowercase().contains(w) || n.to_ascii_lowercase().contains(w))
                })
                .unwrap_or_else(|| panic!("no consent button in {form:?}"));
            if !button.0.is_empty() {
                fields.push(button.clone());
            }
        } else if let Some(b) = form.buttons.iter().find(|(n, _)| !n.is_empty()) {
            fields.push(b.clone());
        }
        let action = if form.action.is_empty() { url.clone() } else { absolute(&url, &form.action) };
        resp = browser.post(&action).form(&fields).send().unwrap();
        url = action;
    }
    panic!("login did not finish (last page {url})");
}

static NPM_LOCK: Mutex<()> = Mutex::new(());

/// Installs the npm package in `tests/<dir>` (from its lock file) unless
/// `module` is already in its node_modules; fails loudly when npm cannot.
pub fn npm_ready(dir: &str, module: &str) {
    let _g = NPM_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join(dir);
    if dir.join("node_modules").join(module).exists() {
        return;
    }
    let ok = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--prefix"])
        .arg(&dir)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "npm ci --prefix {} failed (is npm installed and the registry reachable?)", dir.display());
}

/// A real SMTP server for mail tests: PyPI's `aiosmtpd`, storing every
/// message in a Maildir the test reads back. `.ci/run` installs it.
pub struct SmtpSink {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Child,
}

impl SmtpSink {
    pub fn start() -> SmtpSink {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let child = Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}"), "-c", "aiosmtpd.handlers.Mailbox"])
            .arg(dir.path().join("maildir"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 -m aiosmtpd (pip install aiosmtpd) must be available: .ci/run installs it");
        let deadline = Instant::now() + Duration::from_secs(15);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "aiosmtpd did not start (is it installed? pip install aiosmtpd)");
            std::thread::sleep(Duration::from_millis(50));
        }
        SmtpSink { port, dir, child }
    }

    /// The `[smtp]` table that sends to this sink.
    pub fn config(&self) -> String {
        format!(
            "[smtp]\nhost = \"127.0.0.1\"\nport = {}\nsecurity = \"none\"\nfrom = \"Gatehouse <login@example.com>\"\n",
            self.port
        )
    }

    /// Every message received so far, raw, decoded from quoted-printable.
    pub fn messages(&self) -> Vec<String> {
        let new = self.dir.path().join("maildir").join("new");
        let mut files: Vec<PathBuf> =
            std::fs::read_dir(&new).map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect()).unwrap_or_default();
        files.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
        files.iter().map(|f| decode_quoted_printable(&std::fs::read_to_string(f).unwrap_or_default())).collect()
    }

    /// Waits for the `n`th message (1-based) to `to`.
    pub fn wait_for(&self, to: &str, n: usize) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let mine: Vec<String> = self
                .messages()
                .into_iter()
                .filter(|m| m.contains(&format!("<{to}>")) || m.contains(&format!("To: {to}")))
                .collect();
            if mine.len() >= n {
                return mine[n - 1].clone();
            }
            assert!(Instant::now() < deadline, "no message {n} to {to} arrived; have {:?}", self.messages().len());
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Undoes quoted-printable soft breaks and `=XX` escapes (enough to read
/// links back out of a message).
pub fn decode_quoted_printable(raw: &str) -> String {
    let joined = raw.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    while i < bytes.len() {
        if bytes[i] == b'=' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Submits the first POST form of `html` with `fields` filled in (the
/// other inputs, CSRF token included, as the page set them).
pub fn submit_form(
    b: &reqwest::blocking::Client,
    s: &Server,
    html: &str,
    fields: &[(&str, &str)],
) -> reqwest::blocking::Response {
    let form = parse_forms(html).into_iter().find(|f| f.method == "post").expect("a form");
    let mut values: Vec<(String, String)> = form.inputs.iter().map(|(n, v, _)| (n.clone(), v.clone())).collect();
    for (k, v) in fields {
        values.retain(|(n, _)| n != k);
        values.push((k.to_string(), v.to_string()));
    }
    b.post(absolute(&s.base, &form.action)).form(&values).send().unwrap()
}

/// One request a [`StandInHttp`] received.
#[derive(Debug, Clone, Default)]
pub struct SeenRequest {
    pub method: String,
    pub target: String,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl SeenRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// A minimal HTTP/1.1 server on 127.0.0.1 standing in for an app's API:
/// `answer(request)` gives the status line and a JSON body; every request
/// is recorded.
pub struct StandInHttp {
    pub base: String,
    pub seen: std::sync::Arc<Mutex<Vec<SeenRequest>>>,
}

impl StandInHttp {
    pub fn start(answer: impl Fn(&SeenRequest) -> (&'static str, String) + Send + 'static) -> StandInHttp {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let seen = std::sync::Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                let mut parts = line.split_whitespace();
                let mut req = SeenRequest {
                    method: parts.next().unwrap_or("").to_string(),
                    target: parts.next().unwrap_or("").to_string(),
                    ..Default::default()
                };
                let mut len = 0usize;
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
                        break;
                    }
                    let (k, v) = h.split_once(':').unwrap_or((&h, ""));
                    let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_string());
                    if k == "content-length" {
                        len = v.parse().unwrap_or(0);
                    }
                    req.headers.push((k, v));
                }
                let mut body = vec![0u8; len];
                let _ = reader.read_exact(&mut body);
                req.body = String::from_utf8_lossy(&body).to_string();
                let (status, answer) = answer(&req);
                log.lock().unwrap().push(req);
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                    answer.len()
                );
            }
        });
        StandInHttp { base, seen }
    }

    pub fn requests(&self) -> Vec<SeenRequest> {
        self.seen.lock().unwrap().clone()
    }
}
