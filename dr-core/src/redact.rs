//! Keeping secrets out of everything the executor writes.

use std::fmt;
use std::sync::Arc;

/// What replaces a secret.
pub const REDACTED: &str = "******";

/// Replaces every value that came from `${env:..}` with `******`.
///
/// Values shorter than 4 characters are left alone: replacing every `1` or `us`
/// in a journal would destroy it while protecting nothing worth protecting.
#[derive(Clone, Default)]
pub struct Redactor {
    secrets: Arc<Vec<String>>,
}

impl Redactor {
    /// A redactor for these secret values.
    pub fn new<I: IntoIterator<Item = String>>(secrets: I) -> Self {
        let mut v: Vec<String> = secrets
            .into_iter()
            .filter(|s| s.chars().count() >= 4)
            .collect();
        // Longest first, so a secret containing another is replaced whole.
        v.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
        v.dedup();
        Redactor {
            secrets: Arc::new(v),
        }
    }

    /// Whether there is nothing to hide.
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// `text` with every secret replaced.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in self.secrets.iter() {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), REDACTED);
            }
        }
        out
    }

    /// Redacts every string (and object key) inside a JSON value, in place.
    pub fn redact_json(&self, value: &mut serde_json::Value) {
        if self.is_empty() {
            return;
        }
        match value {
            serde_json::Value::String(s) => {
                let r = self.redact(s);
                if r != *s {
                    *s = r;
                }
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(|v| self.redact_json(v)),
            serde_json::Value::Object(m) => {
                let entries: Vec<(String, serde_json::Value)> =
                    std::mem::take(m).into_iter().collect();
                for (k, mut v) in entries {
                    self.redact_json(&mut v);
                    m.insert(self.redact(&k), v);
                }
            }
            _ => {}
        }
    }
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Redactor({} secrets)", self.secrets.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hides_secrets_in_text_and_json() {
        let r = Redactor::new(["hunter22".to_string(), "abc".to_string()]);
        assert_eq!(r.redact("pw=hunter22;abc"), "pw=******;abc");
        let mut v = serde_json::json!({"a": ["x hunter22"], "hunter22": 1});
        r.redact_json(&mut v);
        assert_eq!(v, serde_json::json!({"a": ["x ******"], "******": 1}));
        assert!(!format!("{r:?}").contains("hunter22"));
    }
}
