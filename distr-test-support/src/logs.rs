//! Reading log text: ANSI colours off, `field=<n>` values out.

/// Removes ANSI escape sequences (`ESC [ … letter`) from log text.
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The integer value of `field=<n>` in a log line, if present.
pub fn log_field_i64(line: &str, field: &str) -> Option<i64> {
    let needle = format!("{field}=");
    let mut rest = line;
    while let Some(pos) = rest.find(&needle) {
        // Only a whole field name: preceded by nothing or a non-identifier.
        let before = rest[..pos].chars().next_back();
        let after = &rest[pos + needle.len()..];
        if before.is_none_or(|c| !(c.is_alphanumeric() || c == '_')) {
            let digits: String = after
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '-')
                .collect();
            if let Ok(n) = digits.parse() {
                return Some(n);
            }
        }
        rest = after;
    }
    None
}

/// The last `max` bytes of `text` (cut at a character boundary), for
/// failure messages.
pub fn tail(text: &[u8], max: usize) -> String {
    let start = text.len().saturating_sub(max);
    String::from_utf8_lossy(&text[start..]).into_owned()
}
