//! Text normalization and keyword sets for the text conditions.
//!
//! Keywords and exact texts are compared after folding both sides: lowercase (Unicode), and
//! full-width ASCII forms (`ＰＲＩＣＥ`, `３１５`, the ideographic space) to their ASCII
//! equivalents, as Chinese input methods often produce them.

use super::MAX_MATCH_TEXT_BYTES;

/// At most [`MAX_MATCH_TEXT_BYTES`] of `text`, cut at a character boundary.
pub(crate) fn capped(text: &str) -> &str {
    if text.len() <= MAX_MATCH_TEXT_BYTES {
        return text;
    }
    let mut end = MAX_MATCH_TEXT_BYTES;
    while end > 0 && !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Folds text for comparison: full-width ASCII to ASCII, then lowercase.
pub(crate) fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let c = match c {
            '\u{3000}' => ' ',
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            other => other,
        };
        out.extend(c.to_lowercase());
    }
    out
}

/// One keyword after `@list` expansion.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct KeywordEntry {
    pub folded: String,
    pub original: String,
    /// The list it came from, when it came from a named list.
    pub list: Option<String>,
}

/// The keywords of one condition, with a short label of how they were written.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct KeywordSet {
    pub entries: Vec<KeywordEntry>,
    pub label: String,
}

impl KeywordSet {
    /// Builds a set; `written` is the items as written (for the label).
    pub fn new(entries: Vec<KeywordEntry>, written: &[String]) -> Self {
        let mut unique: Vec<KeywordEntry> = Vec::with_capacity(entries.len());
        for e in entries {
            if !unique.iter().any(|u| u.folded == e.folded) {
                unique.push(e);
            }
        }
        let shown: Vec<String> = written
            .iter()
            .take(5)
            .map(|w| {
                if w.starts_with('@') && !w.starts_with("@@") {
                    w.clone()
                } else {
                    format!("{:?}", crate::reply::short(w, 20))
                }
            })
            .collect();
        let mut label = shown.join(", ");
        if written.len() > 5 {
            label.push_str(&format!(", … ({} items)", written.len()));
        }
        KeywordSet {
            entries: unique,
            label,
        }
    }

    /// The first keyword contained in `folded_text`.
    pub fn find_in(&self, folded_text: &str) -> Option<&KeywordEntry> {
        self.entries
            .iter()
            .find(|e| folded_text.contains(e.folded.as_str()))
    }

    /// The keyword equal to `folded_text` (already trimmed).
    pub fn equal_to(&self, folded_text: &str) -> Option<&KeywordEntry> {
        self.entries.iter().find(|e| e.folded.trim() == folded_text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_case_and_full_width() {
        let cases = [
            ("PRICE", "price"),
            ("ＰＲＩＣＥ", "price"),
            ("３１５", "315"),
            ("退货\u{3000}Return", "退货 return"),
            ("ÉCOLE", "école"),
        ];
        for (input, want) in cases {
            assert_eq!(fold(input), want, "{input}");
        }
    }

    #[test]
    fn caps_at_a_char_boundary() {
        let s = "价".repeat(MAX_MATCH_TEXT_BYTES);
        let c = capped(&s);
        assert!(c.len() <= MAX_MATCH_TEXT_BYTES && c.len() > MAX_MATCH_TEXT_BYTES - 3);
        assert_eq!(capped("short"), "short");
    }
}
