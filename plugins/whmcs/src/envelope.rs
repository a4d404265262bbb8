//! The admin API's response envelope in its three formats: `json`, `xml`
//! and `nvp` (`key=value;…`, WHMCS's legacy default).

use gatehouse_plugin_api::prelude::*;

/// A `responsetype`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseType {
    Json,
    Xml,
    Nvp,
}

impl ResponseType {
    /// Parses `responsetype`; absent means WHMCS's legacy default, `nvp`.
    pub fn parse(value: Option<&str>) -> Result<ResponseType, String> {
        match value.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
            None | Some("") | Some("nvp") => Ok(ResponseType::Nvp),
            Some("json") => Ok(ResponseType::Json),
            Some("xml") => Ok(ResponseType::Xml),
            Some(_) => Err(format!(
                "Unsupported API response type format \"{}\". Supported formats include: json, xml, nvp",
                value.unwrap_or_default()
            )),
        }
    }
}

/// An API answer: `result` plus the action's fields, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    pub status: u16,
    pub fields: Vec<(String, Value)>,
}

impl Envelope {
    pub fn success(fields: Vec<(&str, Value)>) -> Envelope {
        let mut f = vec![("result".to_string(), json!("success"))];
        f.extend(fields.into_iter().map(|(k, v)| (k.to_string(), v)));
        Envelope { status: 200, fields: f }
    }

    pub fn error(status: u16, message: impl Into<String>) -> Envelope {
        Envelope { status, fields: vec![("result".into(), json!("error")), ("message".into(), json!(message.into()))] }
    }

    /// The envelope as one JSON object (field order kept).
    pub fn to_json(&self) -> Value {
        let mut m = serde_json::Map::new();
        for (k, v) in &self.fields {
            m.insert(k.clone(), v.clone());
        }
        Value::Object(m)
    }

    pub fn render(&self, format: ResponseType, action: &str) -> HttpResponse {
        match format {
            ResponseType::Json => HttpResponse::json(self.status, &self.to_json()),
            ResponseType::Xml => {
                let mut out =
                    String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<whmcsapi version=\"8.0.0\">\n");
                out.push_str(&format!("<action>{}</action>\n", xml_escape(&action.to_ascii_lowercase())));
                for (k, v) in &self.fields {
                    write_xml(&mut out, k, v);
                    out.push('\n');
                }
                out.push_str("</whmcsapi>\n");
                HttpResponse::text(self.status, "text/xml; charset=utf-8", out)
            }
            ResponseType::Nvp => {
                let mut pairs = Vec::new();
                for (k, v) in &self.fields {
                    flatten_nvp(k, v, &mut pairs);
                }
                let body: String = pairs.iter().map(|(k, v)| format!("{k}={v};")).collect();
                HttpResponse::text(self.status, "text/plain; charset=utf-8", body)
            }
        }
    }
}

fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 cannot carry at all are dropped.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

/// Element names come from our own field names; anything odd becomes `_`.
fn xml_name(k: &str) -> String {
    let s: String = k.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect();
    if s.chars().next().is_some_and(|c| c.is_ascii_alphabetic()) {
        s
    } else {
        format!("_{s}")
    }
}

fn write_xml(out: &mut String, key: &str, v: &Value) {
    let name = xml_name(key);
    match v {
        Value::Object(m) => {
            out.push_str(&format!("<{name}>"));
            for (k, v) in m {
                write_xml(out, k, v);
            }
            out.push_str(&format!("</{name}>"));
        }
        Value::Array(items) => {
            // `clients` holds `<client>` elements; other lists hold `<item>`.
            let child = name.strip_suffix('s').filter(|c| !c.is_empty()).unwrap_or("item").to_string();
            out.push_str(&format!("<{name}>"));
            for item in items {
                write_xml(out, &child, item);
            }
            out.push_str(&format!("</{name}>"));
        }
        Value::Null => out.push_str(&format!("<{name}></{name}>")),
        Value::String(s) => out.push_str(&format!("<{name}>{}</{name}>", xml_escape(s))),
        other => out.push_str(&format!("<{name}>{}</{name}>", other)),
    }
}

fn flatten_nvp(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                flatten_nvp(&format!("{prefix}[{k}]"), v, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                flatten_nvp(&format!("{prefix}[{i}]"), v, out);
            }
        }
        Value::Null => out.push((prefix.to_string(), String::new())),
        Value::String(s) => out.push((prefix.to_string(), s.clone())),
        other => out.push((prefix.to_string(), other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_types_parse_and_refuse_unknown() {
        assert_eq!(ResponseType::parse(None).unwrap(), ResponseType::Nvp);
        assert_eq!(ResponseType::parse(Some("JSON")).unwrap(), ResponseType::Json);
        assert_eq!(
            ResponseType::parse(Some("yaml")).unwrap_err(),
            "Unsupported API response type format \"yaml\". Supported formats include: json, xml, nvp"
        );
    }

    #[test]
    fn the_three_formats_render_the_same_envelope() {
        let e = Envelope::success(vec![
            ("credentialId", json!(3)),
            ("clients", json!([{"name": "a<b", "redirectUri": ["https://x/cb"]}])),
        ]);
        assert_eq!(e.to_json()["result"], "success");
        let xml = e.render(ResponseType::Xml, "ListOAuthCredentials").body;
        assert!(xml.contains("<result>success</result>"), "{xml}");
        assert!(xml.contains("<clients><client><name>a&lt;b</name><redirectUri><item>https://x/cb</item></redirectUri></client></clients>"), "{xml}");
        assert!(xml.contains("<action>listoauthcredentials</action>"));
        let nvp = e.render(ResponseType::Nvp, "x").body;
        assert_eq!(nvp, "result=success;credentialId=3;clients[0][name]=a<b;clients[0][redirectUri][0]=https://x/cb;");
    }
}
