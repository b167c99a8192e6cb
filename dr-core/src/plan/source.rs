//! A plan document as a tree of values that remember where they stand in the file.
//!
//! TOML and JSON both parse into [`Node`]s; decoding and validation work on the
//! tree and turn any problem into a [`Diagnostic`] with file, line, column and key.

use std::fmt;
use std::ops::Range;

use serde_json::{Map, Value};

/// A value with the byte range of its text in the source.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub span: Range<usize>,
    pub value: NodeValue,
    /// For strings: whether an `${env:..}` reference was substituted into it.
    pub from_env: bool,
}

#[derive(Debug, Clone)]
pub(crate) enum NodeValue {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Array(Vec<Node>),
    Table(Vec<Entry>),
    /// A number no plan can mean: an integer that does not fit in 64 bits, a
    /// NaN or an infinity. Holds what is wrong; validation reports it at the
    /// value, and decoding sees it as `null`.
    Invalid(String),
}

#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub key: String,
    pub key_span: Range<usize>,
    pub node: Node,
}

impl Node {
    pub fn table(&self) -> Option<&[Entry]> {
        match &self.value {
            NodeValue::Table(t) => Some(t),
            _ => None,
        }
    }

    pub fn entry(&self, key: &str) -> Option<&Entry> {
        self.table()?.iter().find(|e| e.key == key)
    }

    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|e| &e.node)
    }

    /// The plain JSON value, for serde decoding (an [`NodeValue::Invalid`] number
    /// is `null`: it is reported on its own, see [`Node::invalid_values`]).
    pub fn to_json(&self) -> Value {
        match &self.value {
            NodeValue::Null | NodeValue::Invalid(_) => Value::Null,
            NodeValue::Bool(b) => Value::Bool(*b),
            NodeValue::Int(i) => Value::from(*i),
            NodeValue::Float(f) => serde_json::Number::from_f64(*f)
                .map(Value::Number)
                .unwrap_or(Value::Null),
            NodeValue::Str(s) => Value::String(s.clone()),
            NodeValue::Array(a) => Value::Array(a.iter().map(Node::to_json).collect()),
            NodeValue::Table(t) => {
                let mut m = Map::new();
                for e in t {
                    m.insert(e.key.clone(), e.node.to_json());
                }
                Value::Object(m)
            }
        }
    }

    /// Every [`NodeValue::Invalid`] value in the tree, with its path, in file order.
    pub fn invalid_values(&self) -> Vec<(Vec<Seg>, &Node, &str)> {
        fn walk<'a>(
            n: &'a Node,
            path: &mut Vec<Seg>,
            out: &mut Vec<(Vec<Seg>, &'a Node, &'a str)>,
        ) {
            match &n.value {
                NodeValue::Invalid(why) => out.push((path.clone(), n, why)),
                NodeValue::Array(items) => {
                    for (i, item) in items.iter().enumerate() {
                        path.push(Seg::Index(i));
                        walk(item, path, out);
                        path.pop();
                    }
                }
                NodeValue::Table(entries) => {
                    for e in entries {
                        path.push(Seg::Key(e.key.clone()));
                        walk(&e.node, path, out);
                        path.pop();
                    }
                }
                _ => {}
            }
        }
        let mut out = Vec::new();
        walk(self, &mut Vec::new(), &mut out);
        out
    }

    /// Whether this value, or one inside it, is [`NodeValue::Invalid`].
    pub fn has_invalid(&self) -> bool {
        match &self.value {
            NodeValue::Invalid(_) => true,
            NodeValue::Array(items) => items.iter().any(Node::has_invalid),
            NodeValue::Table(entries) => entries.iter().any(|e| e.node.has_invalid()),
            _ => false,
        }
    }

    /// The node at `path`, if every segment exists.
    pub fn locate_node(&self, path: &[Seg]) -> Option<&Node> {
        let mut node = self;
        for seg in path {
            node = match (seg, &node.value) {
                (Seg::Key(k), NodeValue::Table(t)) => &t.iter().find(|e| &e.key == k)?.node,
                (Seg::Index(i), NodeValue::Array(a)) => a.get(*i)?,
                _ => return None,
            };
        }
        Some(node)
    }

    /// Follows `path` down the tree; returns the deepest node reached and, when
    /// the last segment named a key, that key's span.
    pub fn locate(&self, path: &[Seg]) -> (Range<usize>, Option<Range<usize>>) {
        let mut node = self;
        let mut key_span = None;
        for seg in path {
            let next = match (seg, &node.value) {
                (Seg::Key(k), NodeValue::Table(t)) => t
                    .iter()
                    .find(|e| &e.key == k)
                    .map(|e| (&e.node, Some(e.key_span.clone()))),
                (Seg::Index(i), NodeValue::Array(a)) => a.get(*i).map(|n| (n, None)),
                _ => None,
            };
            match next {
                Some((n, ks)) => {
                    node = n;
                    key_span = ks;
                }
                None => return (node.span.clone(), None),
            }
        }
        (node.span.clone(), key_span)
    }
}

/// One step of a key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seg {
    Key(String),
    Index(usize),
}

pub(crate) fn path_string(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                if !k.is_empty()
                    && k.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                {
                    out.push_str(k);
                } else {
                    out.push_str(&format!("\"{k}\""));
                }
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// One problem in a plan, located in its file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    /// The plan file as given.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// The offending key, as a path (`steps[2].depends_on[0]`, `resources.db.url`).
    pub key: String,
    /// What is wrong.
    pub message: String,
    /// Byte range in the file.
    #[serde(skip)]
    pub span: Range<usize>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use crate::text::line;
        write!(f, "{}:{}:{}: ", line(&self.file), self.line, self.column)?;
        if !self.key.is_empty() {
            write!(f, "{}: ", line(&self.key))?;
        }
        f.write_str(&line(&self.message))
    }
}

/// Most characters of a diagnostic's message (and of its key): one that
/// quotes a 5 MB value quotes its start, then `…`.
pub const MAX_MESSAGE_CHARS: usize = 600;

/// `s` cut to `max` characters, with `…` where it was cut.
pub(crate) fn capped(s: String, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s,
    }
}

/// Every problem found in a plan; nothing runs while there is one.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// The problems, in file order.
    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter()
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// The text of a plan and where it came from.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The file name as given (used in diagnostics).
    pub name: String,
    /// The full text.
    pub text: String,
}

impl SourceFile {
    /// 1-based (line, column) of a byte offset; the column counts characters.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
        (line, before[line_start..].chars().count() + 1)
    }

    /// The text of the 1-based `line`, without its newline.
    pub fn line_text(&self, line: usize) -> &str {
        self.text.lines().nth(line.saturating_sub(1)).unwrap_or("")
    }

    pub(crate) fn diagnostic(
        &self,
        span: Range<usize>,
        path: &[Seg],
        message: impl Into<String>,
    ) -> Diagnostic {
        self.diagnostic_at(self.line_col(span.start), span, path, message)
    }

    /// A diagnostic at `(line, column)` (already computed, e.g. by a [`LineIndex`]).
    pub(crate) fn diagnostic_at(
        &self,
        (line, column): (usize, usize),
        span: Range<usize>,
        path: &[Seg],
        message: impl Into<String>,
    ) -> Diagnostic {
        Diagnostic {
            file: self.name.clone(),
            line,
            column,
            key: capped(path_string(path), MAX_MESSAGE_CHARS),
            message: capped(message.into(), MAX_MESSAGE_CHARS),
            span,
        }
    }
}

/// Where each line of a text starts, so that finding the line and column of an
/// offset costs a binary search and a walk along one line, not along the file
/// (validation locates every step; a linear scan each time is quadratic).
#[derive(Debug, Clone)]
pub(crate) struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    pub fn new(text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { starts }
    }

    /// 1-based (line, column) of a byte offset in `text` (the text indexed);
    /// the column counts characters. Same as [`SourceFile::line_col`].
    pub fn line_col(&self, text: &str, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.starts.partition_point(|s| *s <= offset);
        let start = self.starts[line - 1];
        (line, text[start..offset].chars().count() + 1)
    }
}

/// Parses TOML into a node tree.
pub(crate) fn parse_toml(src: &SourceFile) -> Result<Node, Diagnostic> {
    use toml::de::{DeTable, DeValue};
    let doc = DeTable::parse(&src.text).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        let msg = e.message().trim().to_string();
        src.diagnostic(span, &[], format!("TOML syntax error: {msg}"))
    })?;

    fn conv(v: &toml::Spanned<DeValue<'_>>) -> Node {
        let span = v.span();
        let value = match v.get_ref() {
            DeValue::String(s) => NodeValue::Str(s.to_string()),
            DeValue::Integer(i) => {
                let digits = i.as_str().replace('_', "");
                match i64::from_str_radix(&digits, i.radix()) {
                    Ok(n) => NodeValue::Int(n),
                    Err(_) => NodeValue::Invalid(too_big(i.as_str())),
                }
            }
            DeValue::Float(f) => float(f.as_str(), &f.as_str().replace('_', "")),
            DeValue::Boolean(b) => NodeValue::Bool(*b),
            DeValue::Datetime(d) => NodeValue::Str(d.to_string()),
            DeValue::Array(a) => NodeValue::Array(a.as_ref().iter().map(conv).collect()),
            DeValue::Table(t) => NodeValue::Table(conv_table(t)),
        };
        Node {
            span,
            value,
            from_env: false,
        }
    }
    fn conv_table(t: &DeTable<'_>) -> Vec<Entry> {
        t.iter()
            .map(|(k, v)| Entry {
                key: k.get_ref().to_string(),
                key_span: k.span(),
                node: conv(v),
            })
            .collect()
    }
    let span = doc.span();
    Ok(Node {
        span,
        value: NodeValue::Table(conv_table(doc.get_ref())),
        from_env: false,
    })
}

/// The problem with an integer that does not fit in 64 bits.
fn too_big(text: &str) -> String {
    format!("number `{text}` is out of range (integers must fit in 64 bits)")
}

/// A float value, or what is wrong with it: NaN and the infinities (written
/// `nan`, `inf`, or too large to represent, like `1e400`) mean nothing in a plan.
fn float(text: &str, digits: &str) -> NodeValue {
    match digits.parse::<f64>() {
        Ok(f) if f.is_finite() => NodeValue::Float(f),
        Ok(f) if f.is_nan() => NodeValue::Invalid(format!("`{text}` is not a number")),
        Ok(_) => NodeValue::Invalid(format!("number `{text}` is out of range (infinite)")),
        Err(_) => NodeValue::Invalid(format!("invalid number `{text}`")),
    }
}

/// Parses JSON into a node tree (a small recursive-descent parser that keeps spans).
pub(crate) fn parse_json(src: &SourceFile) -> Result<Node, Diagnostic> {
    let mut p = JsonParser {
        s: src.text.as_bytes(),
        pos: 0,
    };
    let result = p.skip_ws().and_then(|_| p.value(0)).and_then(|n| {
        p.skip_ws()?;
        if p.pos < p.s.len() {
            return Err((p.pos, "trailing characters after the document".to_string()));
        }
        Ok(n)
    });
    result.map_err(|(pos, msg)| src.diagnostic(pos..pos, &[], format!("JSON syntax error: {msg}")))
}

struct JsonParser<'a> {
    s: &'a [u8],
    pos: usize,
}

type JResult<T> = Result<T, (usize, String)>;

impl JsonParser<'_> {
    fn skip_ws(&mut self) -> JResult<()> {
        while self.pos < self.s.len() && matches!(self.s[self.pos], b' ' | b'\t' | b'\n' | b'\r') {
            self.pos += 1;
        }
        Ok(())
    }

    fn err<T>(&self, msg: impl Into<String>) -> JResult<T> {
        Err((self.pos, msg.into()))
    }

    fn value(&mut self, depth: usize) -> JResult<Node> {
        if depth > 128 {
            return self.err("nesting too deep");
        }
        let start = self.pos;
        let value = match self.s.get(self.pos) {
            None => return self.err("unexpected end of input"),
            Some(b'{') => self.object(depth)?,
            Some(b'[') => self.array(depth)?,
            Some(b'"') => NodeValue::Str(self.string()?),
            Some(b't') => self.literal("true", NodeValue::Bool(true))?,
            Some(b'f') => self.literal("false", NodeValue::Bool(false))?,
            Some(b'n') => self.literal("null", NodeValue::Null)?,
            Some(c) if *c == b'-' || c.is_ascii_digit() => self.number()?,
            Some(_) => {
                // The whole character, not its first byte (`é`, not `Ã`).
                let rest =
                    String::from_utf8_lossy(&self.s[self.pos..(self.pos + 4).min(self.s.len())]);
                let c = rest.chars().next().unwrap_or('\u{FFFD}');
                return self.err(format!("unexpected character `{}`", c.escape_debug()));
            }
        };
        Ok(Node {
            span: start..self.pos,
            value,
            from_env: false,
        })
    }

    fn literal(&mut self, word: &str, v: NodeValue) -> JResult<NodeValue> {
        if self.s[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            Ok(v)
        } else {
            self.err("invalid literal")
        }
    }

    fn number(&mut self) -> JResult<NodeValue> {
        let start = self.pos;
        while self.pos < self.s.len()
            && matches!(
                self.s[self.pos],
                b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'
            )
        {
            self.pos += 1;
        }
        let text = std::str::from_utf8(&self.s[start..self.pos]).unwrap_or("");
        if let Ok(i) = text.parse::<i64>() {
            return Ok(NodeValue::Int(i));
        }
        let digits = text.strip_prefix('-').unwrap_or(text);
        if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(NodeValue::Invalid(too_big(text)));
        }
        if text.parse::<f64>().is_err() {
            return Err((start, format!("invalid number `{text}`")));
        }
        Ok(float(text, text))
    }

    fn string(&mut self) -> JResult<String> {
        self.pos += 1; // opening quote
        let mut out = String::new();
        loop {
            let Some(&c) = self.s.get(self.pos) else {
                return self.err("unterminated string");
            };
            match c {
                b'"' => {
                    self.pos += 1;
                    return Ok(out);
                }
                b'\\' => {
                    let Some(&e) = self.s.get(self.pos + 1) else {
                        return self.err("unterminated escape");
                    };
                    self.pos += 2;
                    match e {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let hex = |p: &Self, at: usize| -> JResult<u32> {
                                let h =
                                    p.s.get(at..at + 4)
                                        .and_then(|h| std::str::from_utf8(h).ok());
                                h.filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
                                    .and_then(|h| u32::from_str_radix(h, 16).ok())
                                    .ok_or((at, "invalid \\u escape".to_string()))
                            };
                            let mut cp = hex(self, self.pos)?;
                            self.pos += 4;
                            if (0xD800..0xDC00).contains(&cp)
                                && self.s.get(self.pos..self.pos + 2) == Some(b"\\u")
                            {
                                let low = hex(self, self.pos + 2)?;
                                self.pos += 6;
                                cp = 0x10000
                                    + ((cp - 0xD800) << 10)
                                    + (low.wrapping_sub(0xDC00) & 0x3FF);
                            }
                            out.push(char::from_u32(cp).unwrap_or('\u{FFFD}'));
                        }
                        _ => return Err((self.pos - 1, "invalid escape".into())),
                    }
                }
                c if c < 0x20 => return self.err("control character in string"),
                _ => {
                    // copy one UTF-8 sequence
                    let len = match c {
                        0x00..=0x7F => 1,
                        0xC0..=0xDF => 2,
                        0xE0..=0xEF => 3,
                        _ => 4,
                    };
                    let end = (self.pos + len).min(self.s.len());
                    out.push_str(
                        std::str::from_utf8(&self.s[self.pos..end])
                            .map_err(|_| (self.pos, "invalid UTF-8".to_string()))?,
                    );
                    self.pos = end;
                }
            }
        }
    }

    fn array(&mut self, depth: usize) -> JResult<NodeValue> {
        self.pos += 1;
        let mut items = Vec::new();
        self.skip_ws()?;
        if self.s.get(self.pos) == Some(&b']') {
            self.pos += 1;
            return Ok(NodeValue::Array(items));
        }
        loop {
            self.skip_ws()?;
            items.push(self.value(depth + 1)?);
            self.skip_ws()?;
            match self.s.get(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(NodeValue::Array(items));
                }
                _ => return self.err("expected `,` or `]`"),
            }
        }
    }

    fn object(&mut self, depth: usize) -> JResult<NodeValue> {
        self.pos += 1;
        let mut entries: Vec<Entry> = Vec::new();
        let mut keys = std::collections::HashSet::new();
        self.skip_ws()?;
        if self.s.get(self.pos) == Some(&b'}') {
            self.pos += 1;
            return Ok(NodeValue::Table(entries));
        }
        loop {
            self.skip_ws()?;
            if self.s.get(self.pos) != Some(&b'"') {
                return self.err("expected a string key");
            }
            let kstart = self.pos;
            let key = self.string()?;
            let key_span = kstart..self.pos;
            if !keys.insert(key.clone()) {
                return Err((kstart, format!("duplicate key `{key}`")));
            }
            self.skip_ws()?;
            if self.s.get(self.pos) != Some(&b':') {
                return self.err("expected `:`");
            }
            self.pos += 1;
            self.skip_ws()?;
            let node = self.value(depth + 1)?;
            entries.push(Entry {
                key,
                key_span,
                node,
            });
            self.skip_ws()?;
            match self.s.get(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(NodeValue::Table(entries));
                }
                _ => return self.err("expected `,` or `}`"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(text: &str) -> SourceFile {
        SourceFile {
            name: "p".into(),
            text: text.into(),
        }
    }

    #[test]
    fn json_keeps_spans_and_values() {
        let s = src("{\n  \"a\": [1, 2.5, \"x\\u00e9\"],\n  \"b\": {\"c\": true, \"d\": null}\n}");
        let n = parse_json(&s).unwrap();
        let (span, key) = n.locate(&[Seg::Key("a".into()), Seg::Index(2)]);
        assert_eq!(&s.text[span], "\"x\\u00e9\"");
        assert!(key.is_none());
        assert_eq!(n.to_json()["a"][2], "xé");
        let (_, key) = n.locate(&[Seg::Key("b".into()), Seg::Key("c".into())]);
        assert_eq!(s.line_col(key.unwrap().start), (3, 9));
        assert!(parse_json(&src("{\"a\": 1,}")).is_err());
        assert!(parse_json(&src("{\"a\": 1} x")).is_err());
        assert!(
            parse_json(&src("{\"a\": 1, \"a\": 2}"))
                .unwrap_err()
                .message
                .contains("duplicate key")
        );
    }

    #[test]
    fn the_line_index_agrees_with_line_col() {
        let s = src("ab\n\néé x\r\n\nlast");
        let index = LineIndex::new(&s.text);
        for offset in 0..=s.text.len() + 2 {
            assert_eq!(
                index.line_col(&s.text, offset),
                s.line_col(offset),
                "{offset}"
            );
        }
        assert_eq!(index.line_col(&s.text, 8), (3, 3));
    }

    #[test]
    fn toml_spans_point_at_keys_and_values() {
        let s = src("[plan]\nname = \"x\"\n\n[[steps]]\nid = \"a\"\nretries = 3\n");
        let n = parse_toml(&s).unwrap();
        let (span, key) = n.locate(&[
            Seg::Key("steps".into()),
            Seg::Index(0),
            Seg::Key("retries".into()),
        ]);
        assert_eq!(s.line_col(span.start), (6, 11));
        assert_eq!(s.line_col(key.unwrap().start), (6, 1));
        let e = parse_toml(&src("[plan]\nname = \n")).unwrap_err();
        assert_eq!(e.line, 2);
    }
}
