//! Validation: every kind of mistake is refused with its line (and column when known).

use super::*;

/// Joins lines with `\n`, so that line numbers in the cases are indexes + 1.
fn doc(lines: &[&str]) -> String {
    let mut s = lines.join("\n");
    s.push('\n');
    s
}

struct Case {
    desc: &'static str,
    lines: Vec<&'static str>,
    line: Option<usize>,
    column: Option<usize>,
    reason: &'static str,
}

fn case(
    desc: &'static str,
    line: Option<usize>,
    reason: &'static str,
    lines: &[&'static str],
) -> Case {
    Case {
        desc,
        lines: lines.to_vec(),
        line,
        column: None,
        reason,
    }
}

impl Case {
    fn col(mut self, column: usize) -> Self {
        self.column = Some(column);
        self
    }
}

const CAL: [&str; 5] = [
    "calendars:",
    "  office:",
    "    timezone: Asia/Shanghai",
    "    weekly: { mon: ['09:00-18:00'] }",
    "rules:",
];

fn cases() -> Vec<Case> {
    vec![
        // --- YAML and shape (located by the parser) ---
        case(
            "YAML syntax",
            Some(4),
            "mapping values are not allowed in this context",
            &[
                "version: 1",
                "rules:",
                "  - id: a",
                "    when: kind: text",
                "    then: []",
            ],
        ),
        case(
            "unquoted @list",
            Some(4),
            "values starting with @ must be quoted",
            &[
                "version: 1",
                "rules:",
                "  - id: a",
                "    when: { text_contains_any: @crisis }",
                "    then: []",
            ],
        )
        .col(32),
        case(
            "unknown top-level key",
            Some(2),
            "unknown field `rule`, expected one of",
            &["version: 1", "rule: []"],
        ),
        case(
            "unknown condition key",
            Some(4),
            "unknown field `txt`",
            &[
                "version: 1",
                "rules:",
                "  - id: a",
                "    when: { txt: hi }",
                "    then: []",
            ],
        ),
        case(
            "unknown rule key",
            Some(5),
            "unknown field `stpo`",
            &[
                "version: 1",
                "rules:",
                "  - id: a",
                "    then: []",
                "    stpo: false",
            ],
        ),
        case(
            "unknown action",
            Some(4),
            "unknown field `replyy`",
            &[
                "version: 1",
                "rules:",
                "  - id: a",
                "    then: [ { replyy: x } ]",
            ],
        ),
        case(
            "bare word that is not an action",
            Some(4),
            "unknown action `stop`",
            &["version: 1", "rules:", "  - id: a", "    then: [ stop ]"],
        ),
        case(
            "unknown reply field",
            Some(7),
            "unknown field `txt`",
            &[
                "version: 1",
                "rules:",
                "  - id: a",
                "    then:",
                "      - reply:",
                "          type: text",
                "          txt: hi",
            ],
        ),
        case(
            "unknown reply type",
            Some(5),
            "unknown variant `txt`",
            &[
                "version: 1",
                "rules:",
                "  - id: a",
                "    then:",
                "      - reply: { type: txt, text: hi }",
            ],
        ),
        case(
            "invalid regex",
            Some(4),
            "invalid regex \"(\"",
            &[
                "version: 1",
                "rules:",
                "  - id: a",
                "    when: { text_regex: '(' }",
                "    then: []",
            ],
        )
        .col(25),
        case(
            "empty regex",
            Some(4),
            "empty regex",
            &[
                "version: 1",
                "rules:",
                "  - id: a",
                "    when: { event_key_regex: '' }",
                "    then: []",
            ],
        ),
        case(
            "bad time zone",
            Some(3),
            "unknown time zone \"Asia/Shangai\"",
            &[
                "calendars:",
                "  office:",
                "    timezone: Asia/Shangai",
                "    weekly: {}",
                "version: 1",
                "rules: []",
            ],
        )
        .col(15),
        case(
            "time zone in the wrong case",
            Some(3),
            "did you mean Asia/Shanghai?",
            &[
                "calendars:",
                "  office:",
                "    timezone: asia/shanghai",
                "    weekly: {}",
                "version: 1",
                "rules: []",
            ],
        ),
        case(
            "bad time range",
            Some(4),
            "invalid time range \"9-18\"",
            &[
                "calendars:",
                "  office:",
                "    timezone: UTC",
                "    weekly: { mon: ['9-18'] }",
                "version: 1",
                "rules: []",
            ],
        ),
        case(
            "range crossing midnight",
            Some(5),
            "crosses midnight, which is not supported: write 22:00-24:00 on this day and 00:00-06:00 on the next",
            &[
                "calendars:",
                "  office:",
                "    timezone: UTC",
                "    weekly:",
                "      fri: ['22:00-06:00']",
                "version: 1",
                "rules: []",
            ],
        ),
        case(
            "unknown weekday",
            Some(5),
            "unknown field `monday`",
            &[
                "calendars:",
                "  office:",
                "    timezone: UTC",
                "    weekly:",
                "      monday: ['09:00-18:00']",
                "version: 1",
                "rules: []",
            ],
        ),
        case(
            "bad holiday date",
            Some(5),
            "invalid date \"2026-02-30\": no such day",
            &[
                "calendars:",
                "  office:",
                "    timezone: UTC",
                "    weekly: {}",
                "    holidays: ['2026-02-30']",
                "version: 1",
                "rules: []",
            ],
        ),
        case(
            "holiday range backwards",
            Some(5),
            "ends before it starts",
            &[
                "calendars:",
                "  office:",
                "    timezone: UTC",
                "    weekly: {}",
                "    holidays: ['2026-10-07..2026-10-01']",
                "version: 1",
                "rules: []",
            ],
        ),
        case(
            "number where text is expected",
            Some(4),
            "put it in quotes (\"1001\")",
            &[
                "version: 1",
                "rules:",
                "  - id: a",
                "    when: { event_key: 1001 }",
                "    then: []",
            ],
        ),
        case(
            "empty list never matches",
            Some(4),
            "empty list",
            &[
                "version: 1",
                "rules:",
                "  - id: a",
                "    when: { event: [] }",
                "    then: []",
            ],
        ),
        case(
            "unknown channel",
            Some(4),
            "unknown variant `wexin`, expected `wechat` or `weibo`",
            &[
                "version: 1",
                "rules:",
                "  - id: a",
                "    when: { channel: wexin }",
                "    then: []",
            ],
        ),
        case(
            "unknown status",
            Some(4),
            "unknown variant `closed`",
            &[
                "version: 1",
                "rules:",
                "  - id: a",
                "    then: [ { set_status: closed } ]",
            ],
        ),
        case(
            "bad rule id",
            Some(3),
            "invalid name \"hello world\"",
            &[
                "version: 1",
                "rules:",
                "  - id: hello world",
                "    then: []",
            ],
        ),
        case(
            "missing then",
            Some(3),
            "missing field `then`",
            &[
                "version: 1",
                "rules:",
                "  - id: a",
                "    when: { kind: text }",
            ],
        ),
        case(
            "missing rules",
            Some(1),
            "missing field `rules`",
            &["version: 1"],
        ),
        case(
            "empty keyword",
            Some(4),
            "empty keyword",
            &[
                "version: 1",
                "rules:",
                "  - id: a",
                "    when: { text_contains_any: ['', x] }",
                "    then: []",
            ],
        ),
        // --- Checks after parsing (located by the rule or key) ---
        case(
            "unsupported version",
            Some(1),
            "unsupported version 2",
            &["version: 2", "rules: []"],
        ),
        case(
            "duplicate rule id",
            Some(5),
            "duplicate rule id `a` (first at line 3)",
            &[
                "version: 1",
                "rules:",
                "  - id: a",
                "    then: []",
                "  - id: a",
                "    then: []",
            ],
        )
        .col(5),
        case(
            "duplicate rule id, list not indented",
            Some(5),
            "duplicate rule id `a` (first at line 3)",
            &[
                "version: 1",
                "rules:",
                "- id: a",
                "  then: []",
                "- id: a",
                "  then: []",
            ],
        )
        .col(3),
        case(
            "duplicate rule id, flow style",
            Some(4),
            "duplicate rule id `a` (first at line 3)",
            &[
                "version: 1",
                "rules: [",
                "  { id: a, then: [] },",
                "  { id: a, then: [] } ]",
            ],
        )
        .col(5),
        case(
            "duplicate calendar",
            Some(5),
            "calendars: a key is given twice in the same mapping (keep one): \"office\"",
            &[
                "calendars:",
                "  office:",
                "    timezone: UTC",
                "    weekly: {}",
                "  office:",
                "    timezone: UTC",
                "    weekly: {}",
                "version: 1",
                "rules: []",
            ],
        ),
        case(
            "key twice in a flow mapping",
            Some(5),
            "a key is given twice in the same mapping (keep one): \"2026-10-01\"",
            &[
                "calendars:",
                "  office:",
                "    timezone: UTC",
                "    weekly: {}",
                "    exceptions: { '2026-10-01': [], '2026-10-01': ['09:00-10:00'] }",
                "version: 1",
                "rules: []",
            ],
        )
        .col(37),
        case(
            "key twice in a rule",
            Some(5),
            "a key is given twice in the same mapping (keep one): \"then\"",
            &[
                "version: 1",
                "rules:",
                "  - id: a",
                "    then: []",
                "    then: [ close ]",
            ],
        )
        .col(5),
        case(
            "unknown calendar",
            Some(8),
            "unknown calendar `ofice` (defined: office",
            &[
                CAL[0],
                CAL[1],
                CAL[2],
                CAL[3],
                "version: 1",
                "rules:",
                "  - id: a",
                "    when: { not: { within_hours: ofice } }",
                "    then: []",
            ],
        ),
        case(
            "unknown keyword list",
            Some(5),
            "unknown keyword list `@crisis` (none are defined)",
            &[
                "version: 1",
                "rules:",
                "  - id: a",
                "    when:",
                "      text_contains_any: ['@crisis']",
                "    then: []",
            ],
        ),
        case(
            "list inside a list",
            Some(3),
            "lists cannot include other lists",
            &[
                "version: 1",
                "keyword_lists:",
                "  a: ['@b']",
                "  b: [x]",
                "rules: []",
            ],
        ),
        case(
            "empty keyword list",
            Some(3),
            "keyword list `a` is empty",
            &["version: 1", "keyword_lists:", "  a: []", "rules: []"],
        ),
        case(
            "overlapping ranges",
            Some(2),
            "calendar `office`: weekly mon: ranges 09:00-13:00 and 12:00-18:00 overlap",
            &[
                "calendars:",
                "  office:",
                "    timezone: UTC",
                "    weekly: { mon: ['09:00-13:00', '12:00-18:00'] }",
                "version: 1",
                "rules: []",
            ],
        ),
        case(
            "holiday that is also an exception",
            Some(2),
            "2026-10-01 is both a holiday and an exception",
            &[
                "calendars:",
                "  office:",
                "    timezone: UTC",
                "    weekly: {}",
                "    holidays: ['2026-09-30..2026-10-02']",
                "    exceptions: { '2026-10-01': [] }",
                "version: 1",
                "rules: []",
            ],
        ),
        case(
            "reserved calendar name",
            Some(2),
            "the calendar name `account` is reserved",
            &[
                "calendars:",
                "  account:",
                "    timezone: UTC",
                "    weekly: {}",
                "version: 1",
                "rules: []",
            ],
        ),
        case(
            "unknown default calendar",
            Some(2),
            "default_calendar `nope` is not defined",
            &["version: 1", "default_calendar: nope", "rules: []"],
        ),
        case(
            "account with unknown calendar",
            Some(3),
            "account `demo` uses calendar `nope`",
            &[
                "version: 1",
                "accounts:",
                "  demo: { calendar: nope }",
                "rules: []",
            ],
        ),
        case(
            "account calendar without a default",
            Some(8),
            "`within_hours: account` needs `default_calendar`",
            &[
                CAL[0],
                CAL[1],
                CAL[2],
                CAL[3],
                "version: 1",
                "rules:",
                "  - id: a",
                "    when: { within_hours: account }",
                "    then: []",
            ],
        ),
        case(
            "empty reply text",
            Some(6),
            "rule `a`: reply: `text` is empty",
            &[
                "version: 1",
                "rules:",
                "  - id: a",
                "    then:",
                "      - add_tags: [x]",
                "      - reply: { type: text, text: '  ' }",
            ],
        ),
        case(
            "second reply of a rule is the bad one",
            Some(6),
            "article 1 of 1: `url` must be an http",
            &[
                "version: 1",
                "rules:",
                "  - id: a",
                "    then:",
                "      - reply: { type: text, text: ok }",
                "      - reply: { type: articles, articles: [ { title: t, url: 'example.com' } ] }",
            ],
        ),
        case(
            "assign without arguments",
            Some(4),
            "assign needs a team, a priority or both",
            &[
                "version: 1",
                "rules:",
                "  - id: a",
                "    then: [ { assign: {} } ]",
            ],
        ),
        case(
            "two actions in one item",
            Some(6),
            "action 1 has 2 keys (reply, add_tags): write one action per `-` item",
            &[
                "version: 1",
                "rules:",
                "  - id: a",
                "    then:",
                "      - reply: { type: text, text: hi }",
                "        add_tags: [x]",
            ],
        ),
        case(
            "empty action",
            Some(4),
            "action 1 is empty",
            &["version: 1", "rules:", "  - id: a", "    then: [ {} ]"],
        ),
        case(
            "escalate target out of range",
            Some(4),
            "response_target_secs 0 must be between 1 and 86400",
            &[
                "version: 1",
                "rules:",
                "  - id: a",
                "    then: [ { escalate: { response_target_secs: 0 } } ]",
            ],
        ),
        case(
            "empty when",
            Some(4),
            "`when` is empty; remove it to match every message",
            &[
                "version: 1",
                "rules:",
                "  - id: a",
                "    when:",
                "    then: []",
            ],
        ),
        case(
            "when with no condition",
            Some(3),
            "when is an empty condition",
            &[
                "version: 1",
                "rules:",
                "  - id: a",
                "    when: {}",
                "    then: []",
            ],
        ),
        case(
            "empty any",
            Some(4),
            "when.any is an empty list",
            &[
                "version: 1",
                "rules:",
                "  - id: a",
                "    when: { any: [] }",
                "    then: []",
            ],
        ),
        case(
            "uppercase event",
            Some(4),
            "event names are lowercase",
            &[
                "version: 1",
                "rules:",
                "  - id: a",
                "    when: { event: CLICK }",
                "    then: []",
            ],
        ),
    ]
}

#[test]
fn mistakes_are_refused_with_line_and_reason() {
    for c in cases() {
        let text = doc(&c.lines);
        let err = match RuleSet::from_yaml(&text) {
            Ok(_) => panic!("{}: should be refused:\n{text}", c.desc),
            Err(e) => e,
        };
        let first = &err.problems[0];
        assert!(
            first.reason.contains(c.reason),
            "{}: reason {:?} should contain {:?}",
            c.desc,
            first.reason,
            c.reason
        );
        assert_eq!(first.line, c.line, "{}: line of {first}", c.desc);
        if let Some(col) = c.column {
            assert_eq!(first.column, Some(col), "{}: column of {first}", c.desc);
        }
        assert!(
            !first.reason.contains(" column "),
            "{}: the position is not repeated in the reason: {}",
            c.desc,
            first.reason
        );
    }
}

#[test]
fn all_problems_after_parsing_are_reported_sorted_by_line() {
    let text = doc(&[
        "version: 1",
        "rules:",
        "  - id: b",
        "    when: { text_contains_any: '@nope' }",
        "    then: []",
        "  - id: a",
        "    when: { within_hours: nope }",
        "    then: [ { reply: { type: text, text: '' } } ]",
        "  - id: b",
        "    then: []",
    ]);
    let err = RuleSet::from_yaml(&text).expect_err("invalid");
    let got: Vec<(Option<usize>, &str)> = err
        .problems
        .iter()
        .map(|p| (p.line, p.reason.as_str()))
        .collect();
    let want_lines = [Some(4), Some(7), Some(8), Some(9)];
    assert_eq!(
        got.iter().map(|g| g.0).collect::<Vec<_>>(),
        want_lines,
        "{err}"
    );
    assert!(
        err.to_string().starts_with("4 problems:\n  line 4, column"),
        "{err}"
    );
}

#[test]
fn limits() {
    let deep = {
        let mut when = String::from("{ kind: text }");
        for _ in 0..MAX_CONDITION_DEPTH {
            when = format!("{{ not: {when} }}");
        }
        doc(&[
            "version: 1",
            "rules:",
            "  - id: a",
            &format!("    when: {when}"),
            "    then: []",
        ])
    };
    let long_regex = doc(&[
        "version: 1",
        "rules:",
        "  - id: a",
        &format!(
            "    when: {{ text_regex: '{}' }}",
            "a".repeat(MAX_PATTERN_CHARS + 1)
        ),
        "    then: []",
    ]);
    let huge_regex = doc(&[
        "version: 1",
        "rules:",
        "  - id: a",
        "    when: { text_regex: '\\w{1000}\\w{1000}' }",
        "    then: []",
    ]);
    let big = format!(
        "version: 1\nrules: []\n#{}\n",
        "x".repeat(MAX_DOCUMENT_BYTES)
    );
    let cases = [
        ("nesting too deep", deep, "nests deeper than 16 levels"),
        (
            "regex too long",
            long_regex,
            "regex is 1001 characters long",
        ),
        ("regex too big once compiled", huge_regex, "invalid regex"),
        ("document too large", big, "at most 1048576"),
        ("empty document", String::from("  \n"), "document is empty"),
    ];
    for (desc, text, want) in cases {
        let err = RuleSet::from_yaml(&text).expect_err(desc);
        assert!(err.to_string().contains(want), "{desc}: {err}");
    }
}

#[test]
fn warnings_for_valid_but_suspicious_documents() {
    let set = rules(&doc(&[
        "version: 1",
        "keyword_lists:",
        "  unused: [x]",
        "rules:",
        "  - id: position",
        "    then: [ { reply: { type: position, latitude: 31.2, longitude: 121.5 } } ]",
        "    stop: false",
        "  - id: odd-event",
        "    when: { event: kf_create_session }",
        "    then: []",
        "  - id: everything",
        "    then: []",
        "  - id: never",
        "    then: []",
        "  - id: daily",
        "    once_per: day",
        "    then: []",
        "    stop: false",
    ]));
    let warnings: Vec<String> = set.warnings().iter().map(|w| w.to_string()).collect();
    let want = [
        "line 3, column 3: keyword list `unused` is not used by any rule",
        "line 6, column 15: rule `position`: position replies cannot be delivered on wechat; add `channel: weibo`",
        "line 9, column 20: rule `odd-event`: event `kf_create_session` is not one of the normalized events",
        "line 13, column 1: rule `never` can never fire: rule `everything` (line 11) matches every message and stops",
        "line 15, column 1: rule `daily` can never fire",
        "line 15, column 1: rule `daily` has no actions and does not stop: it has no effect",
        "line 15, column 1: rule `daily`: once_per: day counts days in the account's calendar time zone, and in UTC",
    ];
    assert_eq!(warnings.len(), want.len(), "{warnings:#?}");
    for (got, want) in warnings.iter().zip(want) {
        assert!(got.starts_with(want), "got {got:?}\nwant {want:?}");
    }
}

#[test]
fn empty_sections_may_be_left_blank() {
    let set = rules("version: 1\ncalendars:\naccounts:\nkeyword_lists:\nrules: []\n");
    assert!(set.rules().is_empty() && set.calendars().is_empty());
}

#[test]
fn a_valid_document_loads() {
    let set = rules(&doc(&[
        "# comment first",
        "version: 1",
        "default_calendar: office",
        CAL[0],
        CAL[1],
        CAL[2],
        CAL[3],
        "keyword_lists: { k: [a] }",
        "accounts: { demo: { calendar: office } }",
        "rules:",
        "  - id: r.1",
        "    description: everything",
        "    when: { text_contains_any: '@k', within_hours: account }",
        "    then: [ close ]",
    ]));
    assert_eq!(set.version(), 1);
    assert_eq!(set.rules().len(), 1);
    let r = set.rule("r.1").unwrap();
    assert_eq!(r.line(), Some(11));
    assert_eq!(r.description(), Some("everything"));
    assert!(r.stop(), "stop defaults to true");
    assert!(r.enabled());
    assert!(!r.uses_conversation_state());
    assert_eq!(
        r.actions(),
        [Action::SetStatus(crate::conversation::Status::Resolved)]
    );
    assert_eq!(set.timezone_for_account("demo"), chrono_tz::Asia::Shanghai);
    assert_eq!(
        set.timezone_for_account("unknown"),
        chrono_tz::Asia::Shanghai
    );
    assert_eq!(set.default_calendar(), Some("office"));
    assert!(set.warnings().is_empty(), "{:?}", set.warnings());
}
