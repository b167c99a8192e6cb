//! Plan diagnostics rendered with the offending source line and a caret.

use std::collections::HashMap;

use dr_core::{Diagnostic, Diagnostics};

use crate::terminal::Palette;

/// Renders every diagnostic, e.g.
///
/// ```text
/// error: weights must sum to 100 (they sum to 90)
///   --> plan.toml:12:9 (steps[0].split)
///    |
/// 12 | split = { east = 60, west = 30 }
///    |         ^^^^^^^^^^^^^^^^^^^^^^^^
/// ```
///
/// The file is re-read to show the line; `text` is used instead when given
/// (a plan that never was a file, like the demo's).
pub fn render(diags: &Diagnostics, text: Option<&str>, p: Palette) -> String {
    let mut files: HashMap<String, Option<String>> = HashMap::new();
    let mut out = String::new();
    for d in diags.iter() {
        let source = files
            .entry(d.file.clone())
            .or_insert_with(|| {
                text.map(str::to_string)
                    .or_else(|| std::fs::read_to_string(&d.file).ok())
            })
            .as_deref();
        out.push_str(&render_one(d, source, p, &p.red(&p.bold("error"))));
    }
    let n = diags.len();
    out.push_str(&format!(
        "{}: the plan is invalid ({n} problem{}); nothing was run\n",
        p.red(&p.bold("error")),
        if n == 1 { "" } else { "s" }
    ));
    out
}

/// Renders warnings (the plan is valid; something deserves a look), each with
/// its source line, like errors.
pub fn render_warnings(warnings: &[Diagnostic], p: Palette) -> String {
    let mut out = String::new();
    for d in warnings {
        let source = std::fs::read_to_string(&d.file).ok();
        out.push_str(&render_one(
            d,
            source.as_deref(),
            p,
            &p.yellow(&p.bold("warning")),
        ));
    }
    out
}

fn render_one(d: &Diagnostic, source: Option<&str>, p: Palette, label: &str) -> String {
    let mut out = format!("{label}: {}\n", p.bold(&d.message));
    let key = if d.key.is_empty() {
        String::new()
    } else {
        format!(" ({})", d.key)
    };
    let gutter_width = d.line.to_string().len();
    let pad = " ".repeat(gutter_width);
    out.push_str(&format!(
        "{pad}{} {}:{}:{}{key}\n",
        p.cyan("-->"),
        d.file,
        d.line,
        d.column
    ));
    let Some(text) = source else {
        return out;
    };
    let Some(line) = text.lines().nth(d.line.saturating_sub(1)) else {
        return out;
    };
    // The caret spans the offending text, up to the end of its line.
    let line_start: usize = text
        .split_inclusive('\n')
        .take(d.line.saturating_sub(1))
        .map(str::len)
        .sum();
    let span_text = text
        .get(d.span.start.max(line_start)..d.span.end.min(text.len()))
        .unwrap_or("");
    let width = span_text
        .lines()
        .next()
        .map(|s| s.chars().count())
        .unwrap_or(0)
        .max(1);
    let indent: String = line
        .chars()
        .take(d.column.saturating_sub(1))
        .map(|c| if c == '\t' { '\t' } else { ' ' })
        .collect();
    let bar = p.cyan("|");
    out.push_str(&format!("{pad} {bar}\n"));
    out.push_str(&format!("{} {bar} {line}\n", p.cyan(&d.line.to_string())));
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
}
