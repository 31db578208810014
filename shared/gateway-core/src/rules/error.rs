//! Validation errors with their place in the document, and the line finder used for problems
//! the YAML parser cannot place (cross-references, duplicates).

use serde::Serialize;
use std::fmt;

/// One problem in a rules document: where (1-based line and column, when known) and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// 1-based line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// 1-based column.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
    /// A plain sentence: what is wrong and, when possible, how to fix it.
    pub reason: String,
}

impl Problem {
    pub(crate) fn new(at: Option<(usize, usize)>, reason: impl Into<String>) -> Self {
        Problem {
            line: at.map(|a| a.0),
            column: at.map(|a| a.1),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, "line {l}, column {c}: {}", self.reason),
            (Some(l), None) => write!(f, "line {l}: {}", self.reason),
            _ => f.write_str(&self.reason),
        }
    }
}

/// A rules document that must not go live, with every problem found.
///
/// YAML syntax and type errors stop parsing, so there is one of them; the checks after parsing
/// (references, duplicates, empty replies…) report all their problems at once, sorted by line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
pub struct RulesError {
    /// The problems, at least one, sorted by line.
    pub problems: Vec<Problem>,
}

impl RulesError {
    pub(crate) fn one(problem: Problem) -> Self {
        RulesError {
            problems: vec![problem],
        }
    }

    /// Line of the first problem, when known.
    pub fn line(&self) -> Option<usize> {
        self.problems.first().and_then(|p| p.line)
    }

    /// Column of the first problem, when known.
    pub fn column(&self) -> Option<usize> {
        self.problems.first().and_then(|p| p.column)
    }
}

impl fmt::Display for RulesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.problems.as_slice() {
            [] => f.write_str("invalid rules document"),
            [one] => write!(f, "{one}"),
            many => {
                write!(f, "{} problems:", many.len())?;
                for p in many {
                    write!(f, "\n  {p}")?;
                }
                Ok(())
            }
        }
    }
}

/// Finds lines in the source text for problems found after parsing. Heuristic (it reads block
/// YAML as text), so every answer is optional and callers fall back to a coarser place.
pub(crate) struct Locator<'a> {
    lines: Vec<&'a str>,
    /// 0-based first line of each item of the top-level `rules:` block sequence.
    rule_starts: Vec<usize>,
    rules_end: usize,
}

/// A span of 0-based lines, end excluded.
pub(crate) type Span = (usize, usize);

impl<'a> Locator<'a> {
    pub fn new(text: &'a str) -> Self {
        let lines: Vec<&str> = text.lines().collect();
        let mut loc = Locator {
            lines,
            rule_starts: Vec::new(),
            rules_end: 0,
        };
        if let Some((start, end)) = loc.section("rules") {
            loc.rules_end = end;
            let mut indent = None;
            for i in start + 1..end {
                let line = loc.lines[i];
                let trimmed = line.trim_start();
                if trimmed.is_empty() || trimmed.starts_with('#') {
                    continue;
                }
                let this_indent = line.len() - trimmed.len();
                let is_item = trimmed == "-" || trimmed.starts_with("- ");
                match indent {
                    None if is_item => {
                        indent = Some(this_indent);
                        loc.rule_starts.push(i);
                    }
                    None => break, // flow style or something unusual: no spans
                    Some(ind) if is_item && this_indent == ind => loc.rule_starts.push(i),
                    Some(_) => {}
                }
            }
        }
        loc
    }

    /// The whole document.
    pub fn all(&self) -> Span {
        (0, self.lines.len())
    }

    /// The lines of a top-level key's block: from its line to the next top-level key.
    pub fn section(&self, key: &str) -> Option<Span> {
        let start = self
            .lines
            .iter()
            .position(|l| top_level_key(l) == Some(key))?;
        let end = (start + 1..self.lines.len())
            .find(|&i| top_level_key(self.lines[i]).is_some())
            .unwrap_or(self.lines.len());
        Some((start, end))
    }

    /// The lines of the `index`-th rule, when the rules are a block sequence.
    pub fn rule_span(&self, index: usize) -> Option<Span> {
        let start = *self.rule_starts.get(index)?;
        let end = self
            .rule_starts
            .get(index + 1)
            .copied()
            .unwrap_or(self.rules_end);
        Some((start, end))
    }

    /// Position of the `nth` (0-based) occurrence of `key:` as a mapping key within `span`.
    pub fn key_in(&self, span: Span, key: &str, nth: usize) -> Option<(usize, usize)> {
        self.find(span, nth, |line| key_positions(line, key))
    }

    /// Position of the `nth` occurrence of `needle` within `span`.
    pub fn text_in(&self, span: Span, needle: &str, nth: usize) -> Option<(usize, usize)> {
        if needle.is_empty() {
            return None;
        }
        self.find(span, nth, |line| {
            line.match_indices(needle).map(|(i, _)| i).collect()
        })
    }

    /// Position of a top-level key.
    pub fn top_key(&self, key: &str) -> Option<(usize, usize)> {
        self.section(key).map(|(l, _)| (l + 1, 1))
    }

    /// Position of `name:` inside the top-level `section` (`nth` occurrence).
    pub fn entry(&self, section: &str, name: &str, nth: usize) -> Option<(usize, usize)> {
        let span = self.section(section)?;
        self.key_in((span.0 + 1, span.1), name, nth)
            .or_else(|| self.text_in(span, name, nth))
    }

    /// Position of a rule: its `id:` line, else its first line, else any mention of its id.
    pub fn rule(&self, index: usize, id: &str) -> Option<(usize, usize)> {
        match self.rule_span(index) {
            Some(span) => self.key_in(span, "id", 0).or(Some((span.0 + 1, 1))),
            // Flow style or unusual layout: only rules have an `id` key, so the index-th
            // `id:` of the document is most likely this rule's.
            None => self
                .key_in(self.all(), "id", index)
                .or_else(|| self.text_in(self.all(), id, 0)),
        }
    }

    /// Position of `key:` inside rule `index` (`nth` occurrence), else the rule's position.
    pub fn in_rule(&self, index: usize, id: &str, key: &str, nth: usize) -> Option<(usize, usize)> {
        self.rule_span(index)
            .and_then(|span| self.key_in(span, key, nth))
            .or_else(|| self.rule(index, id))
    }

    /// Position of `needle` inside rule `index`, else the rule's position.
    pub fn text_in_rule(&self, index: usize, id: &str, needle: &str) -> Option<(usize, usize)> {
        self.rule_span(index)
            .and_then(|span| self.text_in(span, needle, 0))
            .or_else(|| self.rule(index, id))
    }

    fn find(
        &self,
        span: Span,
        nth: usize,
        positions: impl Fn(&str) -> Vec<usize>,
    ) -> Option<(usize, usize)> {
        let mut seen = 0;
        for i in span.0..span.1.min(self.lines.len()) {
            let line = self.lines[i];
            if line.trim_start().starts_with('#') {
                continue;
            }
            for byte in positions(line) {
                if seen == nth {
                    let column = line.get(..byte).map_or(1, |p| p.chars().count() + 1);
                    return Some((i + 1, column));
                }
                seen += 1;
            }
        }
        None
    }
}

/// The key of a top-level mapping entry on this line (`rules:` → `rules`).
fn top_level_key(line: &str) -> Option<&str> {
    let first = line.chars().next()?;
    if first.is_whitespace() || matches!(first, '#' | '-' | '{' | '[' | '}' | ']') {
        return None;
    }
    let (key, _) = line.split_once(':')?;
    Some(key.trim().trim_matches(|c| c == '"' || c == '\''))
}

/// Byte offsets where `key` (optionally quoted) appears followed by `:` as a mapping key.
fn key_positions(line: &str, key: &str) -> Vec<usize> {
    let mut out = Vec::new();
    for (i, _) in line.match_indices(key) {
        let before = line[..i].chars().next_back();
        let (start, quote) = match before {
            Some(q @ ('"' | '\'')) => (i - 1, Some(q)),
            _ => (i, None),
        };
        let preceding = line[..start].chars().next_back();
        let key_start_ok =
            preceding.is_none_or(|c| c.is_whitespace() || matches!(c, '{' | ',' | '-'));
        let mut rest = &line[i + key.len()..];
        if let Some(q) = quote {
            match rest.strip_prefix(q) {
                Some(r) => rest = r,
                None => continue,
            }
        }
        let rest = rest.trim_start_matches(' ');
        let colon_ok = rest.starts_with(':')
            && rest[1..]
                .chars()
                .next()
                .is_none_or(|c| c.is_whitespace() || c == '#');
        if key_start_ok && colon_ok {
            out.push(start);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "version: 1\n\
calendars:\n  \
  office:\n    \
    timezone: UTC\n\
rules:\n  \
  - id: a\n    \
    then: []\n  \
  # comment\n  \
  - then: []\n    \
    id: \"b\"\n\
keyword_lists: { x: [y] }\n";

    #[test]
    fn finds_sections_rules_and_keys() {
        let loc = Locator::new(DOC);
        assert_eq!(loc.section("calendars"), Some((1, 4)));
        assert_eq!(loc.rule_span(0), Some((5, 8)));
        assert_eq!(loc.rule_span(1), Some((8, 10)));
        assert_eq!(loc.rule(0, "a"), Some((6, 5)));
        assert_eq!(loc.rule(1, "b"), Some((10, 5)));
        assert_eq!(loc.entry("calendars", "office", 0), Some((3, 3)));
        assert_eq!(loc.entry("keyword_lists", "x", 0), Some((11, 18)));
        assert_eq!(loc.in_rule(1, "b", "then", 0), Some((9, 5)));
        assert_eq!(loc.top_key("version"), Some((1, 1)));
    }

    #[test]
    fn key_positions_need_a_colon_and_a_boundary() {
        assert_eq!(key_positions("  text: x", "text"), vec![2]);
        assert_eq!(
            key_positions("  text_regex: x", "text"),
            Vec::<usize>::new()
        );
        assert_eq!(key_positions("  {a: 1, text: x}", "text"), vec![9]);
        assert_eq!(key_positions("  \"text\": x", "text"), vec![2]);
        assert_eq!(key_positions("  context: x", "text"), Vec::<usize>::new());
        assert_eq!(
            key_positions("  url: http://x", "http"),
            Vec::<usize>::new()
        );
    }

    #[test]
    fn display_lists_every_problem() {
        let e = RulesError {
            problems: vec![
                Problem::new(Some((3, 5)), "bad"),
                Problem::new(None, "worse"),
            ],
        };
        assert_eq!(
            e.to_string(),
            "2 problems:\n  line 3, column 5: bad\n  worse"
        );
        assert_eq!(e.line(), Some(3));
    }
}
