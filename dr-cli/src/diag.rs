//! Plan diagnostics rendered with the offending source line and a caret.
//!
//! What is printed is bounded whatever the plan: at most [`MAX_SHOWN`]
//! diagnostics (then how many more), and of each source line a window of at
//! most [`EXCERPT_CHARS`] characters around the column (a 179 KB one-line
//! JSON plan is not echoed once per problem). `--json` lists every diagnostic.

use std::collections::HashMap;

use dr_core::{Diagnostic, Diagnostics};

use crate::render::t;
use crate::terminal::Palette;

/// Most diagnostics printed; the rest are counted.
pub const MAX_SHOWN: usize = 50;
/// Most characters of a source line shown (the `…` marks included).
pub const EXCERPT_CHARS: usize = 120;
/// Characters shown before the column when the line is cut.
const BEFORE: usize = 40;

/// A file's text with where each of its lines starts.
struct Source {
    text: String,
    starts: Vec<usize>,
}

impl Source {
    fn new(text: String) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Source { text, starts }
    }

    /// The 1-based `line` (without its line end) and where it starts.
    fn line(&self, line: usize) -> Option<(&str, usize)> {
        let start = *self.starts.get(line.checked_sub(1)?)?;
        let end = self
            .starts
            .get(line)
            .map(|e| e - 1)
            .unwrap_or(self.text.len());
        let l = &self.text[start..end];
        Some((l.strip_suffix('\r').unwrap_or(l), start))
    }
}

/// Renders the diagnostics (at most [`MAX_SHOWN`]), e.g.
///
/// ```text
/// error: weights must sum to 100 (they sum to 90)
///   --> plan.toml:12:9 (steps[0].split)
///    |
/// 12 | split = { east = 60, west = 30 }
///    |         ^^^^^^^^^^^^^^^^^^^^^^^^
/// ```
///
/// The file is re-read (once) to show the line; `text` is used instead when
/// given (a plan that never was a file, like the demo's).
pub fn render(diags: &Diagnostics, text: Option<&str>, p: Palette) -> String {
    let mut files: HashMap<String, Option<Source>> = HashMap::new();
    let mut out = String::new();
    let label = p.red(&p.bold("error"));
    for d in diags.iter().take(MAX_SHOWN) {
        let source = files
            .entry(d.file.clone())
            .or_insert_with(|| {
                text.map(str::to_string)
                    .or_else(|| std::fs::read_to_string(&d.file).ok())
                    .map(Source::new)
            })
            .as_ref();
        out.push_str(&render_one(d, source, p, &label));
    }
    let n = diags.len();
    if n > MAX_SHOWN {
        out.push_str(&format!(
            "… and {} more (`dr validate --json` lists every one)\n",
            n - MAX_SHOWN
        ));
    }
    out.push_str(&format!(
        "{}: the plan is invalid ({n} problem{}); nothing was run\n",
        p.red(&p.bold("error")),
        if n == 1 { "" } else { "s" }
    ));
    out
}

/// Renders warnings (the plan is valid; something deserves a look), each with
/// its source line, like errors (at most [`MAX_SHOWN`]).
pub fn render_warnings(warnings: &[Diagnostic], p: Palette) -> String {
    let mut files: HashMap<String, Option<Source>> = HashMap::new();
    let mut out = String::new();
    let label = p.yellow(&p.bold("warning"));
    for d in warnings.iter().take(MAX_SHOWN) {
        let source = files
            .entry(d.file.clone())
            .or_insert_with(|| std::fs::read_to_string(&d.file).ok().map(Source::new))
            .as_ref();
        out.push_str(&render_one(d, source, p, &label));
    }
    if warnings.len() > MAX_SHOWN {
        out.push_str(&format!(
            "… and {} more warnings\n",
            warnings.len() - MAX_SHOWN
        ));
    }
    out
}

/// The part of `line` shown and where the caret goes in it: the whole line
/// when it is short, else a window of [`EXCERPT_CHARS`] characters from a
/// little before `column`, with `…` where it was cut. Returns the excerpt,
/// the caret's column in it (0-based, in characters) and how many characters
/// the caret may span.
fn excerpt(line: &str, column: usize) -> (String, usize, usize) {
    let col = column.saturating_sub(1);
    let len = line.chars().count();
    if len <= EXCERPT_CHARS {
        return (line.to_string(), col.min(len), EXCERPT_CHARS);
    }
    let from = col.saturating_sub(BEFORE).min(len - (EXCERPT_CHARS - 2));
    let lead = from > 0;
    let room = EXCERPT_CHARS - usize::from(lead) - 1;
    let to = (from + room).min(len);
    let trail = to < len;
    let mut shown = String::with_capacity(EXCERPT_CHARS * 4);
    if lead {
        shown.push('…');
    }
    shown.extend(line.chars().skip(from).take(to - from));
    if trail {
        shown.push('…');
    }
    let caret = usize::from(lead) + col.clamp(from, to) - from;
    (shown, caret, to.saturating_sub(col.max(from)).max(1))
}

fn render_one(d: &Diagnostic, source: Option<&Source>, p: Palette, label: &str) -> String {
    let mut out = format!("{label}: {}\n", p.bold(&t(&d.message)));
    let key = if d.key.is_empty() {
        String::new()
    } else {
        format!(" ({})", t(&d.key))
    };
    let gutter_width = d.line.to_string().len();
    let pad = " ".repeat(gutter_width);
    out.push_str(&format!(
        "{pad}{} {}:{}:{}{key}\n",
        p.cyan("-->"),
        t(&d.file),
        d.line,
        d.column
    ));
    let Some(src) = source else {
        return out;
    };
    let Some((line, line_start)) = src.line(d.line) else {
        return out;
    };
    let (shown, caret_at, room) = excerpt(line, d.column);
    // The caret spans the offending text, up to the end of its line (and of
    // the excerpt).
    let end = d.span.end.min(line_start + line.len());
    let span_chars = src
        .text
        .get(d.span.start.max(line_start)..end)
        .map(|s| s.chars().take(room).count())
        .unwrap_or(0);
    let width = span_chars.clamp(1, room.max(1));
    // Control characters are shown escaped, so the indent counts what is shown.
    let before: String = shown.chars().take(caret_at).collect();
    let indent: String = dr_core::text::block(&before)
        .chars()
        .map(|c| if c == '\t' { '\t' } else { ' ' })
        .collect();
    let bar = p.cyan("|");
    out.push_str(&format!("{pad} {bar}\n"));
    out.push_str(&format!(
        "{} {bar} {}\n",
        p.cyan(&d.line.to_string()),
        dr_core::text::block(&shown)
    ));
    out.push_str(&format!(
        "{pad} {bar} {indent}{}\n",
        p.red(&"^".repeat(width))
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caret_sits_under_the_column_and_spans_the_value() {
        let text = "[plan]\nname = \"x\"\nrto = \"soon\"\n";
        let start = text.find("\"soon\"").unwrap();
        let d = Diagnostic {
            file: "p.toml".into(),
            line: 3,
            column: 7,
            key: "plan.rto".into(),
            message: "unparsable duration".into(),
            span: start..start + 6,
        };
        let out = render(&Diagnostics(vec![d]), Some(text), Palette::new(false));
        assert!(out.contains(" --> p.toml:3:7 (plan.rto)"), "{out}");
        assert!(out.contains("3 | rto = \"soon\"\n"), "{out}");
        assert!(out.contains("  |       ^^^^^^\n"), "{out}");
    }

    fn diag(line: usize, column: usize, span: std::ops::Range<usize>) -> Diagnostic {
        Diagnostic {
            file: "p.json".into(),
            line,
            column,
            key: "steps[0].id".into(),
            message: "bad".into(),
            span,
        }
    }

    #[test]
    fn a_long_line_is_shown_as_a_window_around_the_column() {
        let text = format!("{}\"bad\"{}", "a".repeat(5000), "b".repeat(5000));
        let d = diag(1, 5001, 5000..5005);
        let out = render(&Diagnostics(vec![d]), Some(&text), Palette::new(false));
        let line = out
            .lines()
            .find(|l| l.starts_with("1 | "))
            .expect("the excerpt");
        let shown = &line["1 | ".len()..];
        assert_eq!(shown.chars().count(), EXCERPT_CHARS, "{shown}");
        assert!(shown.starts_with('…') && shown.ends_with('…'), "{shown}");
        let caret = out.lines().find(|l| l.contains('^')).expect("the caret");
        let at = caret["  | ".len()..]
            .chars()
            .position(|c| c == '^')
            .expect("^");
        assert_eq!(shown.chars().nth(at), Some('"'), "{out}");
        assert_eq!(caret.matches('^').count(), 5, "{out}");
        assert!(out.len() < 1000, "{}", out.len());
    }

    #[test]
    fn at_most_fifty_diagnostics_are_printed_then_how_many_more() {
        let text = "x".repeat(200_000);
        let diags = Diagnostics(
            (0..4000)
                .map(|i| diag(1, i * 40 + 1, i * 40..i * 40 + 5))
                .collect(),
        );
        let out = render(&diags, Some(&text), Palette::new(false));
        assert_eq!(out.matches("error: bad").count(), MAX_SHOWN, "{out}");
        assert!(out.contains("… and 3950 more"), "{out}");
        assert!(out.contains("(4000 problems)"), "{out}");
        assert!(out.len() < 30_000, "{}", out.len());
    }

    #[test]
    fn control_characters_in_the_excerpt_are_escaped() {
        let text = "name = \"\x1b[2J\u{202e}x\"\n";
        let d = diag(1, 8, 7..16);
        let out = render(&Diagnostics(vec![d]), Some(text), Palette::new(false));
        assert!(
            !out.chars()
                .any(|c| c != '\n' && dr_core::text::is_unsafe(c)),
            "{out:?}"
        );
        assert!(out.contains("\\x1b[2J\\u202ex"), "{out}");
    }
}
