//! serde decoding of a subtree, with errors located at the offending key.

use serde::de::DeserializeOwned;

use super::{Validator, key};
use crate::plan::source::{Node, NodeValue, Seg};

impl Validator<'_> {
    /// serde-decodes the node at `path`, reporting errors at the offending key.
    pub(super) fn decode<T: DeserializeOwned>(
        &mut self,
        root: &Node,
        path: &[Seg],
        value: serde_json::Value,
    ) -> Option<T> {
        match serde_path_to_error::deserialize::<_, T>(value) {
            Ok(v) => Some(v),
            Err(e) => {
                let mut full = path.to_vec();
                for seg in e.path().iter() {
                    match seg {
                        serde_path_to_error::Segment::Map { key } => {
                            full.push(Seg::Key(key.clone()))
                        }
                        serde_path_to_error::Segment::Seq { index } => {
                            full.push(Seg::Index(*index))
                        }
                        _ => {}
                    }
                }
                let msg = e.into_inner().to_string();
                if msg.starts_with("invalid type: null")
                    && root.locate_node(path).is_some_and(Node::has_invalid)
                {
                    return None; // the out-of-range number is reported on its own
                }
                if full.len() == path.len() {
                    // Inside internally tagged enums serde loses the path: find the
                    // key an unknown field names, or the value the message quotes.
                    let found = match msg.strip_prefix("unknown field `") {
                        Some(rest) => find_key(root.locate_node(path), rest.split('`').next()),
                        None => find_quoted(root.locate_node(path), &msg),
                    };
                    if let Some(found) = found {
                        full.extend(found);
                    }
                }
                let (msg, on_key) = if let Some(rest) = msg.strip_prefix("unknown field `") {
                    let field = rest.split('`').next().unwrap_or("").to_string();
                    if full.last() != Some(&Seg::Key(field.clone())) {
                        full.push(Seg::Key(field.clone()));
                    }
                    (
                        format!("unknown key `{field}`{}", expected_suffix(rest)),
                        true,
                    )
                } else if let Some(rest) = msg.strip_prefix("missing field `") {
                    let field = rest.split('`').next().unwrap_or("");
                    let m = format!("missing required key `{field}`");
                    if full.last() != Some(&Seg::Key(field.to_string())) {
                        full.push(Seg::Key(field.to_string()));
                    }
                    (m, true)
                } else {
                    (msg, false)
                };
                self.err(root, &full, on_key, msg);
                None
            }
        }
    }
}

/// The path (below `node`, three levels deep, shallowest first) of the key
/// called `name`: where an unknown field stands when serde lost the path.
fn find_key(node: Option<&Node>, name: Option<&str>) -> Option<Vec<Seg>> {
    let name = name?;
    let mut level: Vec<(Vec<Seg>, &Node)> = vec![(Vec::new(), node?)];
    for _ in 0..3 {
        let mut next = Vec::new();
        for (path, n) in level {
            match &n.value {
                NodeValue::Table(entries) => {
                    for e in entries {
                        let mut p = path.clone();
                        p.push(key(&e.key));
                        if e.key == name {
                            return Some(p);
                        }
                        next.push((p, &e.node));
                    }
                }
                NodeValue::Array(items) => {
                    for (i, item) in items.iter().enumerate() {
                        let mut p = path.clone();
                        p.push(Seg::Index(i));
                        next.push((p, item));
                    }
                }
                _ => {}
            }
        }
        level = next;
    }
    None
}

/// The path (below `node`) of a value that serde's `msg` quotes, three levels
/// deep: a string (`` `v` `` or `"v"`) or a number (``integer `7` ``,
/// ``floating point `1.5` ``). Inside internally tagged enums serde loses the
/// path, so this finds where the problem stands.
fn find_quoted(node: Option<&Node>, msg: &str) -> Option<Vec<Seg>> {
    fn quotes(n: &Node, msg: &str) -> bool {
        match &n.value {
            NodeValue::Str(v) => {
                msg.contains(&format!("`{v}`")) || msg.contains(&format!("\"{v}\""))
            }
            NodeValue::Int(i) => msg.contains(&format!("integer `{i}`")),
            NodeValue::Float(f) => {
                msg.contains(&format!("floating point `{f}`"))
                    || msg.contains(&format!("floating point `{f:?}`"))
            }
            _ => false,
        }
    }
    fn walk(n: &Node, msg: &str, depth: usize, path: &mut Vec<Seg>) -> bool {
        if !path.is_empty() && quotes(n, msg) {
            return true;
        }
        if depth == 0 {
            return false;
        }
        match &n.value {
            NodeValue::Table(entries) => {
                for e in entries {
                    path.push(key(&e.key));
                    if walk(&e.node, msg, depth - 1, path) {
                        return true;
                    }
                    path.pop();
                }
            }
            NodeValue::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    path.push(Seg::Index(i));
                    if walk(item, msg, depth - 1, path) {
                        return true;
                    }
                    path.pop();
                }
            }
            _ => {}
        }
        false
    }
    let mut path = Vec::new();
    walk(node?, msg, 3, &mut path).then_some(path)
}

fn expected_suffix(rest: &str) -> String {
    match rest.find("expected ") {
        Some(i) => format!(" ({})", &rest[i..]),
        None => String::new(),
    }
}
