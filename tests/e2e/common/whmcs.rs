//! Shared set-up for the `whmcs` plugin's end-to-end tests.

use serde_json::Value;

use super::*;

pub const CLIENT_AREA: &str = "https://billing.example.com";
pub const ACCESS_KEY: &str = "an-access-key-of-some-length";

/// The seed tutorial's scope list.
pub const TUTORIAL_SCOPES: &str = "clientarea:sso clientarea:profile clientarea:billing_info clientarea:emails clientarea:announcements clientarea:downloads clientarea:knowledgebase clientarea:network_status clientarea:product_details clientarea:invoices clientarea:tickets clientarea:submit_ticket clientarea:shopping_cart_domain_register clientarea:shopping_cart_domain_transfer clientarea:upgrade";

pub struct Whmcs {
    pub server: Server,
    pub identifier: String,
    pub secret: String,
}

/// Starts Gatehouse with the whmcs plugin; creates an API credential with
/// the Authentication role allowed from 127.0.0.1 (the tutorial's steps 1–2).
pub fn start(backend: Backend, extra: &str) -> Whmcs {
    start_with(backend, extra, "")
}

/// [`start`] with extra lines for the plugin's `[plugins.config]` table.
pub fn start_with(backend: Backend, extra: &str, plugin_extra: &str) -> Whmcs {
    let lib = build_plugin("gatehouse-whmcs", "gatehouse_whmcs");
    let config = format!(
        "client_area_url = \"{CLIENT_AREA}\"\n{extra}\n[[plugins]]\npath = \"{}\"\n[plugins.config]\ncompany_name = \"ACME Hosting\"\naccess_key = \"{ACCESS_KEY}\"\n{plugin_extra}\n",
        lib.display()
    );
    let server = Server::start_with(backend, ServerOptions { config, ..Default::default() });
    // GetClientsDetails is not in the Authentication group: granted by name.
    let cred = server.cli_json(&[
        "api-credential",
        "add",
        "--role",
        "authentication",
        "--action",
        "GetClientsDetails",
        "--allow-ip",
        "127.0.0.1",
    ]);
    Whmcs {
        identifier: cred["identifier"].as_str().unwrap().into(),
        secret: cred["secret"].as_str().unwrap().into(),
        server,
    }
}

impl Whmcs {
    /// Calls the API with `username`/`password` and `responsetype=json`.
    pub fn api(&self, action: &str, params: &[(&str, &str)]) -> (u16, Value) {
        let mut form: Vec<(&str, &str)> = vec![
            ("action", action),
            ("username", &self.identifier),
            ("password", &self.secret),
            ("responsetype", "json"),
        ];
        form.extend_from_slice(params);
        raw_api(&self.server, &form)
    }
}

pub fn raw_api(server: &Server, form: &[(&str, &str)]) -> (u16, Value) {
    let r = http().post(server.url("/includes/api.php")).form(form).send().unwrap();
    let status = r.status().as_u16();
    let text = r.text().unwrap();
    let v = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    (status, v)
}
