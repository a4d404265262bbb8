//! A real browser for page tests: Debian's headless Chromium driven through
//! chromedriver (WebDriver, with fantoccini). `.ci/run` installs both; a
//! missing browser fails the test rather than skipping it.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};

use crate::common::{free_port, target_dir};

/// chromedriver and a browser session; both end on drop.
pub struct Browser {
    pub rt: tokio::runtime::Runtime,
    pub client: Client,
    driver: Child,
}

impl Browser {
    pub fn start() -> Browser {
        let port = free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (Debian package chromium-driver) must be installed: .ci/run installs it");
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        let client = loop {
            let mut caps = serde_json::Map::new();
            caps.insert(
                "goog:chromeOptions".into(),
                serde_json::json!({
                    "binary": "/usr/bin/chromium",
                    "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                             "--window-size=1280,900", "--hide-scrollbars"]
                }),
            );
            let attempt = rt.block_on(async {
                ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                    .capabilities(caps)
                    .connect(&format!("http://127.0.0.1:{port}"))
                    .await
            });
            match attempt {
                Ok(c) => break c,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(e) => panic!("cannot start headless Chromium through chromedriver: {e}"),
            }
        };
        Browser { rt, client, driver }
    }

    /// Adds a WebDriver virtual authenticator (W3C WebAuthn §11.3): a
    /// platform authenticator with resident keys and user verification
    /// that always consents, as a phone or laptop with a passkey would.
    pub fn add_virtual_authenticator(&self) -> String {
        let v = self
            .rt
            .block_on(self.client.issue_cmd(AddVirtualAuthenticator))
            .unwrap_or_else(|e| panic!("chromedriver refused a virtual authenticator: {e}"));
        v.as_str().unwrap_or_default().to_string()
    }

    /// Waits until `css` exists and its text contains `needle`.
    pub fn wait_for_text(&self, css: &str, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let text =
                self.rt.block_on(async { self.client.find(Locator::Css(css)).await?.text().await }).unwrap_or_default();
            if text.contains(needle) {
                return text;
            }
            assert!(Instant::now() < deadline, "{css} never said {needle:?}; it says {text:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until the browser is at a URL starting with `prefix`.
    pub fn wait_for_url(&self, prefix: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let url = self.url();
            if url.starts_with(prefix) {
                return url;
            }
            assert!(Instant::now() < deadline, "never reached {prefix}; at {url}: {}", self.text());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Forgets every cookie (a fresh browser, same authenticator).
    pub fn clear_cookies(&self) {
        self.rt.block_on(self.client.delete_all_cookies()).unwrap();
    }

    pub fn goto(&self, url: &str) {
        self.rt.block_on(self.client.goto(url)).unwrap();
    }

    pub fn url(&self) -> String {
        self.rt.block_on(self.client.current_url()).unwrap().to_string()
    }

    /// The page's visible text.
    pub fn text(&self) -> String {
        self.rt.block_on(async { self.client.find(Locator::Css("body")).await?.text().await }).unwrap()
    }

    pub fn fill(&self, css: &str, value: &str) {
        self.rt
            .block_on(async {
                let el = self.client.find(Locator::Css(css)).await?;
                el.clear().await?;
                el.send_keys(value).await
            })
            .unwrap_or_else(|e| panic!("fill {css}: {e}"));
    }

    pub fn click(&self, css: &str) {
        self.rt
            .block_on(async { self.client.find(Locator::Css(css)).await?.click().await })
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// Clicks a link or submit button and waits for the next page to load.
    pub fn follow(&self, css: &str) {
        self.rt
            .block_on(async {
                let old = self.client.find(Locator::Css("html")).await?;
                self.client.find(Locator::Css(css)).await?.click().await?;
                let deadline = Instant::now() + Duration::from_secs(15);
                // The old document's root goes stale once the new page replaces it.
                while old.tag_name().await.is_ok() {
                    assert!(Instant::now() < deadline, "{css}: no new page after 15 s");
                    tokio::time::sleep(Duration::from_millis(25)).await;
                }
                loop {
                    let state = self.client.execute("return document.readyState;", vec![]).await?;
                    if state == "complete" {
                        break;
                    }
                    assert!(Instant::now() < deadline, "{css}: the new page did not finish loading");
                    tokio::time::sleep(Duration::from_millis(25)).await;
                }
                Ok::<_, fantoccini::error::CmdError>(())
            })
            .unwrap_or_else(|e| panic!("follow {css}: {e}"));
    }

    pub fn text_of(&self, css: &str) -> String {
        self.rt
            .block_on(async { self.client.find(Locator::Css(css)).await?.text().await })
            .unwrap_or_else(|e| panic!("text of {css}: {e}"))
    }

    pub fn resize(&self, width: u32, height: u32) {
        self.rt.block_on(self.client.set_window_size(width, height)).unwrap();
    }

    /// How far the page is wider than the window (0: no sideways scrolling).
    pub fn overflow(&self) -> i64 {
        let v =
            self.rt
                .block_on(self.client.execute(
                    "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
                    vec![],
                ))
                .unwrap();
        v.as_i64().unwrap_or(i64::MAX)
    }

    /// Runs axe-core (npm, `tests/js`) on the page; the serious and
    /// critical violations as "rule-id (impact): N nodes".
    pub fn axe_serious(&self) -> Vec<String> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js/node_modules/axe-core/axe.min.js");
        let source = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (npm ci --prefix tests/js installs axe-core)", path.display()));
        self.rt.block_on(self.client.execute(&source, vec![])).expect("inject axe-core");
        let found = self
            .rt
            .block_on(self.client.execute_async(
                "const done = arguments[arguments.length - 1];\
                 axe.run(document).then(r => done(r.violations.map(v => [v.id, v.impact, v.nodes.length, \
                   v.nodes.map(n => n.target.join(' ')).slice(0, 3).join(', ')])));",
                vec![],
            ))
            .expect("run axe-core");
        found
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| matches!(v[1].as_str(), Some("serious" | "critical")))
            .map(|v| format!("{} ({}): {} node(s): {}", v[0], v[1], v[2], v[3]))
            .collect()
    }

    /// Saves a PNG screenshot under `target/test-artifacts/<dir>/<name>`.
    pub fn screenshot(&self, dir: &str, name: &str) -> PathBuf {
        let png = self.rt.block_on(self.client.screenshot()).unwrap();
        let out = target_dir().join("test-artifacts").join(dir);
        std::fs::create_dir_all(&out).unwrap();
        let path = out.join(name);
        std::fs::write(&path, png).unwrap();
        path
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let client = self.client.clone();
        let _ = self.rt.block_on(client.close());
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// `POST /session/{id}/webauthn/authenticator` (WebDriver extension).
#[derive(Debug)]
struct AddVirtualAuthenticator;

impl fantoccini::wd::WebDriverCompatibleCommand for AddVirtualAuthenticator {
    fn endpoint(&self, base: &url::Url, session: Option<&str>) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/webauthn/authenticator", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        let body = serde_json::json!({
            "protocol": "ctap2",
            "transport": "internal",
            "hasResidentKey": true,
            "hasUserVerification": true,
            "isUserVerified": true,
            "automaticPresenceSimulation": true,
        });
        (http::Method::POST, Some(body.to_string()))
    }
}
