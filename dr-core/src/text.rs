//! Text from outside dr made safe to show: on a terminal ([`line()`],
//! [`block`]), in Markdown ([`markdown`]) and in HTML ([`html`]).
//!
//! A command's stderr or an API's error message may hold control characters:
//! an escape sequence can clear the screen or move the cursor and rewrite
//! "failed" as "succeeded", a carriage return overwrites the line, and a bidi
//! override reorders what is shown. Every human renderer passes such text
//! through here; each unsafe character is shown escaped (`\x1b`, `\u009b`,
//! `\u202e`), so what was there stays visible and nothing acts on the
//! terminal.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Whether `c` is a bidi control: an embedding, override or isolate
/// (U+202A–U+202E, U+2066–U+2069) or a direction mark (U+200E, U+200F, U+061C).
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

/// Whether `c` must not reach a terminal or a report as it is: a C0 control
/// (tab and newline included), DEL, a C1 control, or a bidi control.
pub fn is_unsafe(c: char) -> bool {
    c.is_control() || is_bidi_control(c)
}

/// The first character of `s` that may not be in an id or a name (see
/// [`is_unsafe`]), with its char offset.
pub fn find_unsafe(s: &str) -> Option<(usize, char)> {
    s.chars().enumerate().find(|(_, c)| is_unsafe(*c))
}

/// How `c` is shown: `\x1b` for C0 and DEL, `\u009b` for the rest (every
/// unsafe character is in the BMP; inside a JSON string this is the JSON
/// escape of the same character).
pub fn escaped(c: char) -> String {
    if (c as u32) < 0x80 {
        format!("\\x{:02x}", c as u32)
    } else {
        format!("\\u{:04x}", c as u32)
    }
}

fn clean(s: &str, keep: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !s.chars().any(|c| is_unsafe(c) && !keep(c)) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if !is_unsafe(c) || keep(c) {
            out.push(c);
        } else if c == '\r' && keep('\n') && chars.peek() == Some(&'\n') {
            // CRLF line ends read as line ends where lines are kept.
        } else {
            let _ = write!(out, "{}", escaped(c));
        }
    }
    Cow::Owned(out)
}

/// `s` for one line of terminal output: every control character (tab,
/// newline and carriage return included) and bidi control shown escaped.
pub fn line(s: &str) -> Cow<'_, str> {
    clean(s, |_| false)
}

/// `s` for several lines of terminal output: newlines and tabs stay (a CRLF
/// line end becomes a newline); every other control and bidi character is
/// shown escaped.
pub fn block(s: &str) -> Cow<'_, str> {
    clean(s, |c| c == '\n' || c == '\t')
}

/// Every string in `v` made safe with [`line()`] (keys too).
pub fn line_json(v: &mut serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::String(s) => {
            if let Cow::Owned(o) = line(s) {
                *s = o;
            }
        }
        Value::Array(a) => a.iter_mut().for_each(line_json),
        Value::Object(m) => {
            if m.keys().any(|k| matches!(line(k), Cow::Owned(_))) {
                let old = std::mem::take(m);
                for (k, mut val) in old {
                    line_json(&mut val);
                    m.insert(line(&k).into_owned(), val);
                }
            } else {
                m.values_mut().for_each(line_json);
            }
        }
        _ => {}
    }
}

/// A serializable value with every string in it made safe with [`line()`]:
/// `T` round-trips through JSON. `None` when it does not (then render nothing
/// of it rather than the raw text).
pub fn line_all<T>(v: &T) -> Option<T>
where
    T: serde::Serialize + serde::de::DeserializeOwned,
{
    let mut json = serde_json::to_value(v).ok()?;
    line_json(&mut json);
    serde_json::from_value(json).ok()
}

/// Escaping for HTML text and attribute values.
pub mod html {
    /// `s` with `&`, `<`, `>`, `"` and `'` escaped, and control characters
    /// shown escaped (newlines and tabs stay).
    pub fn escape(s: &str) -> String {
        let s = super::block(s);
        let mut out = String::with_capacity(s.len());
        for c in s.chars() {
            match c {
                '&' => out.push_str("&amp;"),
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                '"' => out.push_str("&quot;"),
                '\'' => out.push_str("&#39;"),
                c => out.push(c),
            }
        }
        out
    }
}

/// Escaping for Markdown (CommonMark with GitHub's tables), where the text may
/// also be rendered as HTML: a `|` must not add a table column, a newline
/// must not end a row, a ```` ``` ```` line must not open a code block that
/// swallows the rest, and `<script>` must not reach a page as a tag.
pub mod markdown {
    use super::line;

    /// ASCII punctuation that means something to Markdown, escaped with a
    /// backslash; `<` and `&` as HTML entities (no tag or entity can start
    /// without them). A `>` is left as it is (`east 100 -> west 100` reads
    /// the same on a terminal and on a page) except first, where it could
    /// open a block quote.
    fn escape_into(out: &mut String, s: &str, pipe: bool) {
        for (i, c) in line(s).chars().enumerate() {
            match c {
                '<' => out.push_str("&lt;"),
                '>' if i == 0 => out.push_str("\\>"),
                '&' => out.push_str("&amp;"),
                '|' if pipe => out.push_str("\\|"),
                '\\' | '`' | '*' | '_' | '[' | ']' | '#' | '~' | '!' | '|' => {
                    out.push('\\');
                    out.push(c);
                }
                c => out.push(c),
            }
        }
    }

    /// `s` as Markdown text on one line (a paragraph, a list item, a heading).
    pub fn text(s: &str) -> String {
        let mut out = String::with_capacity(s.len());
        escape_into(&mut out, s, false);
        out
    }

    /// `s` as the text of a table cell.
    pub fn cell(s: &str) -> String {
        let mut out = String::with_capacity(s.len());
        escape_into(&mut out, s, true);
        out
    }

    /// The longest run of backticks in `s`.
    fn longest_backtick_run(s: &str) -> usize {
        let (mut best, mut run) = (0, 0);
        for c in s.chars() {
            if c == '`' {
                run += 1;
                best = best.max(run);
            } else {
                run = 0;
            }
        }
        best
    }

    fn code_span(s: &str, in_table: bool) -> String {
        let s = line(s);
        let s = if in_table {
            s.replace('|', "\\|")
        } else {
            s.into_owned()
        };
        let fence = "`".repeat(longest_backtick_run(&s) + 1);
        // A space each side keeps a backtick at an end apart from the fence
        // (CommonMark strips one space each side).
        let pad = if s.starts_with('`') || s.ends_with('`') || s.starts_with(' ') {
            " "
        } else {
            ""
        };
        format!("{fence}{pad}{s}{pad}{fence}")
    }

    /// `s` as inline code: fenced by more backticks than any run inside, on
    /// one line. Not in a table: see [`cell_code`].
    pub fn code(s: &str) -> String {
        code_span(s, false)
    }

    /// `s` as inline code in a table cell (`|` escaped, which GitHub's tables
    /// read as a `|` inside code too).
    pub fn cell_code(s: &str) -> String {
        code_span(s, true)
    }

    /// `s` as a fenced code block: the fence is longer than any backtick run
    /// inside (at least three), so no line of `s` can close it. Newlines and
    /// tabs stay; other control characters are shown escaped.
    pub fn code_block(s: &str) -> String {
        let s = super::block(s);
        let fence = "`".repeat((longest_backtick_run(&s) + 1).max(3));
        let nl = if s.ends_with('\n') { "" } else { "\n" };
        format!("{fence}\n{s}{nl}{fence}\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn has_control(s: &str, allowed: &[char]) -> bool {
        s.chars().any(|c| is_unsafe(c) && !allowed.contains(&c))
    }

    #[test]
    fn escape_sequences_are_shown_not_sent() {
        assert_eq!(line("a\x1b[2Jb"), "a\\x1b[2Jb");
        assert_eq!(line("ok\rsucceeded"), "ok\\x0dsucceeded");
        assert_eq!(line("x\u{9b}31m"), "x\\u009b31m");
        assert_eq!(line("a\u{202e}b\u{2066}"), "a\\u202eb\\u2066");
        assert_eq!(line("two\nlines\t"), "two\\x0alines\\x09");
        assert_eq!(block("two\r\nlines\tand\x07"), "two\nlines\tand\\x07");
        assert_eq!(block("lone\rcr"), "lone\\x0dcr");
        assert!(matches!(line("plain text ✓"), Cow::Borrowed(_)));
    }

    #[test]
    fn json_strings_and_keys_are_cleaned() {
        let mut v = serde_json::json!({"a\x1b": ["x\x1b[2J", 1], "b": {"c": "\u{202e}"}});
        line_json(&mut v);
        assert_eq!(
            v,
            serde_json::json!({"a\\x1b": ["x\\x1b[2J", 1], "b": {"c": "\\u202e"}})
        );
    }

    #[test]
    fn markdown_cells_stay_one_cell_and_inert() {
        assert_eq!(markdown::cell("a|b\nc"), "a\\|b\\\\x0ac");
        assert_eq!(
            markdown::cell("<script>alert(1)</script>"),
            "&lt;script>alert(1)&lt;/script>"
        );
        assert_eq!(
            markdown::text("<img src=x onerror=alert(1)>"),
            "&lt;img src=x onerror=alert(1)>"
        );
        assert_eq!(
            markdown::text("east 100 -> west 100"),
            "east 100 -> west 100"
        );
        assert_eq!(markdown::text("> quoted"), "\\> quoted");
        assert_eq!(markdown::text("[x](javascript:1)"), "\\[x\\](javascript:1)");
        assert_eq!(markdown::cell("```"), "\\`\\`\\`");
    }

    #[test]
    fn inline_code_is_fenced_past_its_backticks() {
        assert_eq!(markdown::code("step"), "`step`");
        assert_eq!(markdown::code("a`b"), "``a`b``");
        assert_eq!(markdown::code("`x"), "`` `x ``");
        assert_eq!(markdown::cell_code("a|b"), "`a\\|b`");
        assert_eq!(markdown::code("a\nb"), "`a\\x0ab`");
    }

    #[test]
    fn code_blocks_outlast_every_fence_inside() {
        assert_eq!(markdown::code_block("x\n"), "```\nx\n```\n");
        let b = markdown::code_block("a\n````\nrest");
        assert!(b.starts_with("`````\n") && b.ends_with("\n`````\n"), "{b}");
    }

    #[test]
    fn html_escapes_markup_and_controls() {
        assert_eq!(
            html::escape("<a href='x'>\"&\x1b"),
            "&lt;a href=&#39;x&#39;&gt;&quot;&amp;\\x1b"
        );
    }

    proptest! {
        #[test]
        fn no_control_character_survives(s in any::<String>()) {
            prop_assert!(!has_control(&line(&s), &[]));
            prop_assert!(!has_control(&block(&s), &['\n', '\t']));
            prop_assert!(!has_control(&markdown::text(&s), &[]));
            prop_assert!(!has_control(&markdown::cell(&s), &[]));
            prop_assert!(!has_control(&markdown::code(&s), &[]));
            prop_assert!(!has_control(&html::escape(&s), &['\n', '\t']));
            let cell = markdown::cell(&s);
            // Every `|` in a cell is escaped: it cannot add a column.
            let unescaped_pipe = cell
                .char_indices()
                .any(|(i, c)| c == '|' && !cell[..i].ends_with('\\'));
            prop_assert!(!unescaped_pipe, "{}", cell);
        }

        #[test]
        fn clean_text_is_left_alone(s in "[a-zA-Z0-9 .:/-]*") {
            prop_assert_eq!(line(&s), s.as_str());
        }

        #[test]
        fn a_code_block_cannot_be_closed_from_inside(s in "[`a\n]{0,40}") {
            let b = markdown::code_block(&s);
            let fence = b.lines().next().unwrap_or_default().to_string();
            let inner: Vec<&str> = b.lines().skip(1).collect();
            let last = inner.len().saturating_sub(1);
            // Only the last line is a fence as long as the opening one.
            for l in &inner[..last] {
                prop_assert!(!l.trim_start().starts_with(&fence), "{}", b);
            }
        }
    }
}
