//! Request parameters as OAuth reads them (RFC 6749 §3.1): a parameter sent
//! without a value counts as omitted, none may be sent twice, and none may
//! be absurdly long.

use super::OAuthError;

/// The longest value any single parameter may have.
pub const MAX_PARAM_LEN: usize = 4096;

/// The most parameters a request may carry; no protocol here needs a
/// tenth of it. Beyond it nothing more is kept and the request is refused.
pub const MAX_PARAMS: usize = 256;

/// Parsed `application/x-www-form-urlencoded` parameters.
#[derive(Debug, Clone, Default)]
pub struct Params {
    pairs: Vec<(String, String)>,
    duplicated: Option<String>,
    oversized: Option<String>,
    too_many: bool,
}

impl Params {
    /// Parses one or more encoded sources (query string, form body) as one
    /// set of parameters; a name in two sources counts as duplicated.
    ///
    /// Linear in the input: names seen are kept in a set (hostile requests
    /// with thousands of fields must not cost quadratic time), and parsing
    /// stops after [`MAX_PARAMS`].
    pub fn parse(sources: &[&[u8]]) -> Params {
        let mut p = Params::default();
        let mut seen = std::collections::HashSet::new();
        for src in sources {
            for (k, v) in url::form_urlencoded::parse(src) {
                if v.is_empty() {
                    continue;
                }
                if p.pairs.len() >= MAX_PARAMS {
                    p.too_many = true;
                    return p;
                }
                if !seen.insert(k.clone()) && p.duplicated.is_none() {
                    p.duplicated = Some(k.chars().take(64).collect());
                }
                if p.oversized.is_none() && (v.len() > MAX_PARAM_LEN || k.len() > 128) {
                    p.oversized = Some(k.chars().take(64).collect());
                }
                p.pairs.push((k.into_owned(), v.into_owned()));
            }
        }
        p
    }

    /// The value of a parameter (the first one, if sent twice).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Whether `name` was sent more than once.
    pub fn is_duplicated(&self, name: &str) -> bool {
        self.pairs.iter().filter(|(k, _)| k == name).count() > 1
    }

    /// The first parameter sent twice or too long, as an `invalid_request`.
    pub fn check(&self) -> Result<(), OAuthError> {
        if self.too_many {
            return Err(OAuthError::invalid_request(format!("More than {MAX_PARAMS} parameters were sent")));
        }
        if let Some(d) = &self.duplicated {
            return Err(OAuthError::invalid_request(format!("Parameter \"{d}\" was sent more than once")));
        }
        if let Some(o) = &self.oversized {
            return Err(OAuthError::invalid_request(format!("Parameter \"{o}\" is too long")));
        }
        Ok(())
    }

    /// Every name and value, in the order sent.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_values_are_omitted_and_duplicates_noticed() {
        let p = Params::parse(&[b"a=1&b=&c=x%2By", b"a=2"]);
        assert_eq!(p.get("a"), Some("1"));
        assert_eq!(p.get("b"), None);
        assert_eq!(p.get("c"), Some("x+y"));
        assert!(p.is_duplicated("a"));
        assert!(p.check().is_err());
        let long = format!("s={}", "x".repeat(MAX_PARAM_LEN + 1));
        assert!(Params::parse(&[long.as_bytes()]).check().is_err());
    }
}
