//! The admin API's response envelope in its three formats: `json`, `xml`
//! and `nvp` (`key=value;…`, WHMCS's legacy default). Whatever a stored
//! value holds, it cannot change the envelope's structure: NVP keys and
//! values are percent-encoded, XML is written by `quick-xml` with what XML
//! 1.0 cannot carry replaced by U+FFFD (docs/protocols/whmcs.md §9).

use gatehouse_plugin_api::prelude::*;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::Writer;

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
            ResponseType::Xml => match self.to_xml(action) {
                Ok(body) => HttpResponse::text(self.status, "text/xml; charset=utf-8", body),
                // Writing into memory cannot fail; should it, say so plainly.
                Err(_) => Envelope::error(500, "An internal error occurred").render(ResponseType::Json, action),
            },
            ResponseType::Nvp => {
                let mut pairs = Vec::new();
                for (k, v) in &self.fields {
                    flatten_nvp(&nvp_escape(k, true), v, &mut pairs);
                }
                let body: String = pairs.iter().map(|(k, v)| format!("{k}={v};")).collect();
                HttpResponse::text(self.status, "text/plain; charset=utf-8", body)
            }
        }
    }

    /// The XML document, written by `quick-xml` (which escapes `<>&'"` and
    /// CR); characters XML 1.0 cannot carry become U+FFFD first.
    fn to_xml(&self, action: &str) -> std::io::Result<String> {
        let mut w = Writer::new(Vec::new());
        w.write_event(Event::Decl(BytesDecl::new("1.0", Some("utf-8"), None)))?;
        newline(&mut w)?;
        w.write_event(Event::Start(BytesStart::new("whmcsapi").with_attributes([("version", "8.0.0")])))?;
        newline(&mut w)?;
        w.create_element("action").write_text_content(text(&action.to_ascii_lowercase()))?;
        newline(&mut w)?;
        for (k, v) in &self.fields {
            write_xml(&mut w, k, v)?;
            newline(&mut w)?;
        }
        w.write_event(Event::End(BytesEnd::new("whmcsapi")))?;
        newline(&mut w)?;
        String::from_utf8(w.into_inner()).map_err(std::io::Error::other)
    }
}

type XmlWriter = Writer<Vec<u8>>;

fn newline(w: &mut XmlWriter) -> std::io::Result<()> {
    w.write_event(Event::Text(BytesText::new("\n")))
}

/// Whether XML 1.0 can carry `c` (its `Char` production; surrogates cannot
/// occur in a Rust string).
fn xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | ' '..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// A text node: characters XML 1.0 cannot carry (controls other than tab,
/// CR and LF; U+FFFE; U+FFFF) become U+FFFD, so every parser still reads
/// the document; `quick-xml` escapes the rest.
fn text(s: &str) -> BytesText<'static> {
    let clean: String = s.chars().map(|c| if xml_char(c) { c } else { char::REPLACEMENT_CHARACTER }).collect();
    BytesText::new(&clean).into_owned()
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

fn write_xml(w: &mut XmlWriter, key: &str, v: &Value) -> std::io::Result<()> {
    let name = xml_name(key);
    let element = w.create_element(name.as_str());
    match v {
        Value::Object(m) => {
            element.write_inner_content(|w| m.iter().try_for_each(|(k, v)| write_xml(w, k, v)))?;
        }
        Value::Array(items) => {
            // `clients` holds `<client>` elements; other lists hold `<item>`.
            let child = name.strip_suffix('s').filter(|c| !c.is_empty()).unwrap_or("item");
            element.write_inner_content(|w| items.iter().try_for_each(|item| write_xml(w, child, item)))?;
        }
        Value::Null => {
            element.write_text_content(BytesText::new(""))?;
        }
        Value::String(s) => {
            element.write_text_content(text(s))?;
        }
        other => {
            element.write_text_content(text(&other.to_string()))?;
        }
    }
    Ok(())
}

/// Percent-encodes (RFC 3986 `%XX`, upper-case hex, UTF-8 bytes) what a
/// WHMCS-style NVP reader would misread: one that splits the body on `;`,
/// each pair on its first `=`, then `urldecode`s key and value. That is
/// `%` and `+` (`urldecode` turns `+` into a space), `;`, `=` and `&` (so a
/// `parse_str` reader cannot be fooled either), every control character
/// (CR, LF, tab, …, DEL), and in keys also `[` and `]`, which nest keys.
/// Everything else, spaces and non-ASCII included, is sent as it is.
fn nvp_escape(s: &str, key: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let encode = match c {
            '%' | '+' | ';' | '=' | '&' => true,
            '[' | ']' => key,
            c => c.is_ascii_control(),
        };
        if encode {
            // Only ASCII is encoded: one byte each.
            out.push_str(&format!("%{:02X}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// Flattens `v` under `prefix` (escaped already) into NVP-escaped
/// `(key, value)` pairs.
fn flatten_nvp(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                flatten_nvp(&format!("{prefix}[{}]", nvp_escape(k, true)), v, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                flatten_nvp(&format!("{prefix}[{i}]"), v, out);
            }
        }
        Value::Null => out.push((prefix.to_string(), String::new())),
        Value::String(s) => out.push((prefix.to_string(), nvp_escape(s, false))),
        other => out.push((prefix.to_string(), nvp_escape(&other.to_string(), false))),
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

    /// PHP's `urldecode`: `+` is a space, `%XX` a byte (a malformed escape
    /// stays as it is), the bytes read as UTF-8.
    fn urldecode(s: &str) -> String {
        let b = s.as_bytes();
        let mut out = Vec::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < b.len() && b[i + 1].is_ascii_hexdigit() && b[i + 2].is_ascii_hexdigit() => {
                    out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                    i += 2;
                }
                c => out.push(c),
            }
            i += 1;
        }
        String::from_utf8(out).expect("UTF-8 after decoding")
    }

    /// A WHMCS-style NVP client: split on `;`, then on the first `=`, then
    /// `urldecode` key and value.
    fn nvp_decode(body: &str) -> Vec<(String, String)> {
        body.split(';')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (urldecode(k), urldecode(v))
            })
            .collect()
    }

    fn nvp(e: &Envelope) -> Vec<(String, String)> {
        nvp_decode(&e.render(ResponseType::Nvp, "x").body)
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// Finding 4: a value cannot add keys, and every value round-trips.
    #[test]
    fn nvp_values_cannot_add_keys_and_round_trip() {
        let name = "x;result=success;message=hijacked";
        let e = Envelope::success(vec![("totalresults", json!(1)), ("clients", json!([{ "name": name }]))]);
        assert_eq!(nvp(&e), pairs(&[("result", "success"), ("totalresults", "1"), ("clients[0][name]", name)]));

        let e = Envelope::success(vec![(
            "client",
            json!({ "firstname": "Eve;client[status]=Active", "status": "Closed" }),
        )]);
        assert_eq!(
            nvp(&e),
            pairs(&[
                ("result", "success"),
                ("client[firstname]", "Eve;client[status]=Active"),
                ("client[status]", "Closed")
            ])
        );

        let hard = "100% a+b=c&d;\r\nnext\tline\u{0}\u{7f} é ✓ %41 %";
        let e = Envelope::success(vec![("message", json!(hard)), ("list", json!([hard]))]);
        assert_eq!(nvp(&e), pairs(&[("result", "success"), ("message", hard), ("list[0]", hard)]));
        // Plain values stay readable.
        let body = Envelope::error(403, "Invalid IP 127.0.0.1").render(ResponseType::Nvp, "x").body;
        assert_eq!(body, "result=error;message=Invalid IP 127.0.0.1;");
    }

    /// The text of the first element named `tag`, read by a strict XML 1.0
    /// parser.
    fn xml_text(body: &str, tag: &str) -> String {
        let doc = roxmltree::Document::parse(body).unwrap_or_else(|e| panic!("not XML ({e}): {body:?}"));
        let node = doc.descendants().find(|n| n.has_tag_name(tag)).unwrap_or_else(|| panic!("no <{tag}>: {body}"));
        node.text().unwrap_or_default().to_string()
    }

    /// Finding 5: characters XML 1.0 cannot carry become U+FFFD; markup
    /// characters and line ends survive.
    #[test]
    fn xml_replaces_what_xml_cannot_carry_and_keeps_the_rest() {
        let name = "a\u{1}b\u{FFFE}c\u{FFFF}<>&\"' \t\r\n\r]]>end";
        let e = Envelope::success(vec![("clients", json!([{ "name": name }]))]);
        let body = e.render(ResponseType::Xml, "ListOAuthCredentials\u{0}<x>").body;
        assert_eq!(xml_text(&body, "name"), "a\u{FFFD}b\u{FFFD}c\u{FFFD}<>&\"' \t\r\n\r]]>end");
        assert_eq!(xml_text(&body, "action"), "listoauthcredentials\u{FFFD}<x>");
        assert_eq!(xml_text(&body, "result"), "success");
    }

    /// What XML 1.0 can carry (its `Char` production); the rest is
    /// documented to become U+FFFD.
    fn xml_expected(s: &str) -> String {
        s.chars()
            .map(|c| match c {
                '\t' | '\n' | '\r' | ' '..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'.. => c,
                _ => '\u{FFFD}',
            })
            .collect()
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        /// Arbitrary strings, heavy on what the envelopes must escape.
        fn nasty() -> impl Strategy<Value = String> {
            let special = prop::sample::select(vec![
                ';', '=', '&', '%', '+', '<', '>', '"', '\'', '[', ']', ' ', '\t', '\r', '\n', '\u{0}', '\u{1}',
                '\u{1f}', '\u{7f}', '\u{85}', '\u{FFFE}', '\u{FFFF}', 'é', '✓', '😀', 'A', '0',
            ]);
            prop::collection::vec(prop_oneof![3 => special, 1 => any::<char>()], 0..24)
                .prop_map(|v| v.into_iter().collect())
        }

        fn envelope(s: &str) -> Envelope {
            Envelope::success(vec![("message", json!(s)), ("clients", json!([{ "name": s, "redirectUri": [s] }]))])
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(200))]

            #[test]
            fn nvp_round_trips(s in nasty()) {
                let got = nvp(&envelope(&s));
                let want = vec![
                    ("result".to_string(), "success".to_string()),
                    ("message".into(), s.clone()),
                    ("clients[0][name]".into(), s.clone()),
                    ("clients[0][redirectUri][0]".into(), s.clone()),
                ];
                prop_assert_eq!(got, want);
            }

            #[test]
            fn json_round_trips(s in nasty()) {
                let body = envelope(&s).render(ResponseType::Json, "x").body;
                let v: Value = serde_json::from_str(&body).unwrap();
                prop_assert_eq!(v["message"].as_str(), Some(s.as_str()));
                prop_assert_eq!(v["clients"][0]["name"].as_str(), Some(s.as_str()));
                prop_assert_eq!(v["clients"][0]["redirectUri"][0].as_str(), Some(s.as_str()));
            }

            #[test]
            fn xml_parses_and_yields_the_value(s in nasty(), action in nasty()) {
                let body = envelope(&s).render(ResponseType::Xml, &action).body;
                let want = xml_expected(&s);
                prop_assert_eq!(xml_text(&body, "message"), want.clone());
                prop_assert_eq!(xml_text(&body, "name"), want.clone());
                prop_assert_eq!(xml_text(&body, "item"), want);
                prop_assert_eq!(xml_text(&body, "action"), xml_expected(&action.to_ascii_lowercase()));
            }
        }
    }
}
