//! Escaping for everything a report takes from the target: keys, values, errors, node names and fault
//! names are untrusted text, and a report must show them as text, never run them.

/// Escapes text for HTML and XML content and attribute values (quoted with either quote).
pub fn html(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
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

/// Escapes text for XML 1.0: as [`html`], and control characters XML cannot carry at all (even as
/// references) become U+FFFD, so that the document always parses.
pub fn xml(s: &str) -> String {
    let cleaned: String = s
        .chars()
        .map(|c| {
            if (c < ' ' && !matches!(c, '\t' | '\n' | '\r')) || c == '\u{FFFE}' || c == '\u{FFFF}' {
                '\u{FFFD}'
            } else {
                c
            }
        })
        .collect();
    html(&cleaned)
}

/// Makes JSON text safe inside `<script type="application/json">`: `<`, `>` and `&` can only occur inside
/// JSON strings, where `\u003c` and friends mean the same character, so `</script>` cannot close the element.
pub fn json_in_script(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_and_script_breakouts_become_text() {
        let attack = r#"</script><script>alert(1)</script>"#;
        assert_eq!(html(attack), "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;");
        assert_eq!(html(r#"" onclick='x' &"#), "&quot; onclick=&#39;x&#39; &amp;");
        let json = serde_json::to_string(attack).unwrap();
        let safe = json_in_script(&json);
        assert!(!safe.contains('<') && !safe.contains('>'));
        assert_eq!(serde_json::from_str::<String>(&safe).unwrap(), attack);
    }

    #[test]
    fn xml_drops_characters_it_cannot_carry() {
        assert_eq!(xml("a\u{1}b\tc<"), "a\u{FFFD}b\tc&lt;");
    }
}
