//! Business calendars: split shifts, weekends, holidays, exceptional days, time-zone edges.

use super::*;

const CALENDARS: &str = r#"version: 1
calendars:
  office:
    timezone: Asia/Shanghai
    weekly:
      mon: &day ["09:00-12:00", "13:30-18:00"]
      tue: *day
      wed: *day
      thu: *day
      fri: *day
      sat: []
    holidays: ["2026-10-01..2026-10-07", "2026-01-01"]
    exceptions:
      "2026-09-27": ["09:00-18:00"]
      "2026-12-24": []
  late:
    timezone: Asia/Shanghai
    weekly: { mon: ["18:00-24:00"], tue: ["00:00-01:00"] }
  ny:
    timezone: America/New_York
    weekly: { mon: &ny ["09:00-17:00"], tue: *ny, wed: *ny, thu: *ny, fri: *ny }
rules:
  - id: r
    when: { any: [ { within_hours: office }, { within_hours: late }, { within_hours: ny } ] }
    then: []
"#;

#[test]
fn opening_hours() {
    let set = rules(CALENDARS);
    let cases: Vec<(&str, &str, DateTime<Utc>, bool)> = vec![
        ("office", "weekday morning", sh(2026, 9, 28, 10, 0), true),
        ("office", "before opening", sh(2026, 9, 28, 8, 59), false),
        (
            "office",
            "opening minute is open",
            sh(2026, 9, 28, 9, 0),
            true,
        ),
        (
            "office",
            "last minute of the morning",
            sh(2026, 9, 28, 11, 59),
            true,
        ),
        (
            "office",
            "split shift: lunch break closed",
            sh(2026, 9, 28, 12, 0),
            false,
        ),
        (
            "office",
            "split shift: still lunch",
            sh(2026, 9, 28, 13, 29),
            false,
        ),
        (
            "office",
            "split shift: afternoon open",
            sh(2026, 9, 28, 13, 30),
            true,
        ),
        (
            "office",
            "closing time is closed",
            sh(2026, 9, 28, 18, 0),
            false,
        ),
        (
            "office",
            "weekend Saturday (explicitly empty)",
            sh(2026, 9, 26, 10, 0),
            false,
        ),
        (
            "office",
            "weekend Sunday (not listed)",
            sh(2026, 9, 20, 10, 0),
            false,
        ),
        (
            "office",
            "holiday on a Thursday",
            sh(2026, 10, 1, 10, 0),
            false,
        ),
        (
            "office",
            "holiday range middle",
            sh(2026, 10, 5, 10, 0),
            false,
        ),
        (
            "office",
            "day after the holiday range",
            sh(2026, 10, 8, 10, 0),
            true,
        ),
        ("office", "single holiday", sh(2026, 1, 1, 10, 0), false),
        (
            "office",
            "exceptional working Sunday",
            sh(2026, 9, 27, 12, 30),
            true,
        ),
        (
            "office",
            "exceptional day ends at 18:00",
            sh(2026, 9, 27, 18, 0),
            false,
        ),
        (
            "office",
            "exception [] closes a weekday",
            sh(2026, 12, 24, 10, 0),
            false,
        ),
        // 23:59 vs 00:00 Asia/Shanghai = 15:59 vs 16:00 UTC, both Monday in UTC.
        (
            "late",
            "Mon 23:59 Shanghai (15:59 UTC) open",
            utc(2026, 9, 28, 15, 59),
            true,
        ),
        (
            "late",
            "Tue 00:00 Shanghai (16:00 UTC Mon) open on Tuesday's hours",
            utc(2026, 9, 28, 16, 0),
            true,
        ),
        (
            "late",
            "Tue 01:00 Shanghai closed",
            utc(2026, 9, 28, 17, 0),
            false,
        ),
        (
            "late",
            "Mon 17:59 Shanghai closed",
            utc(2026, 9, 28, 9, 59),
            false,
        ),
        (
            "office",
            "Mon 00:00 Shanghai is Sunday 16:00 UTC: closed",
            utc(2026, 9, 27, 16, 0),
            false,
        ),
        (
            "office",
            "Mon 09:00 Shanghai is 01:00 UTC: open",
            utc(2026, 9, 28, 1, 0),
            true,
        ),
        // New York with daylight saving time (starts 2026-03-08).
        (
            "ny",
            "Fri before DST: 13:45 UTC is 08:45 EST",
            utc(2026, 3, 6, 13, 45),
            false,
        ),
        (
            "ny",
            "Mon after DST: 13:45 UTC is 09:45 EDT",
            utc(2026, 3, 9, 13, 45),
            true,
        ),
        (
            "ny",
            "Mon after DST: 21:00 UTC is 17:00 EDT",
            utc(2026, 3, 9, 21, 0),
            false,
        ),
    ];
    for (name, desc, at, want) in cases {
        let cal = set.calendar(name).unwrap();
        let check = cal.check(at);
        assert_eq!(cal.is_open(at), want, "{name}: {desc}: {check}");
        assert_eq!(check.is_open(), want, "{name}: {desc}: check agrees");
    }
}

#[test]
fn hours_check_says_why() {
    let set = rules(CALENDARS);
    let office = set.calendar("office").unwrap();
    let cases = [
        (
            sh(2026, 9, 28, 10, 0),
            "office is open: Mon 2026-09-28 10:00 Asia/Shanghai is within 09:00-12:00",
        ),
        (
            sh(2026, 9, 28, 12, 30),
            "office is closed: Mon 2026-09-28 12:30 Asia/Shanghai is outside 09:00-12:00, 13:30-18:00",
        ),
        (
            sh(2026, 10, 1, 10, 0),
            "office is closed: Thu 2026-10-01 10:00 Asia/Shanghai is a holiday",
        ),
        (
            sh(2026, 9, 26, 10, 0),
            "office is closed: Sat 2026-09-26 10:00 Asia/Shanghai, no hours on Sat",
        ),
        (
            sh(2026, 9, 27, 10, 0),
            "office is open: Sun 2026-09-27 10:00 Asia/Shanghai is within 09:00-18:00 (special hours that day)",
        ),
        (
            sh(2026, 12, 24, 10, 0),
            "office is closed: Thu 2026-12-24 10:00 Asia/Shanghai is an exceptional day with no hours",
        ),
    ];
    for (at, want) in cases {
        assert_eq!(office.check(at).to_string(), want);
    }
}

#[test]
fn next_opening() {
    let set = rules(CALENDARS);
    let office = set.calendar("office").unwrap();
    let cases = [
        (
            "open now",
            sh(2026, 9, 28, 10, 0),
            Some(sh(2026, 9, 28, 10, 0)),
        ),
        (
            "lunch",
            sh(2026, 9, 28, 12, 15),
            Some(sh(2026, 9, 28, 13, 30)),
        ),
        (
            "friday evening",
            sh(2026, 9, 25, 19, 0),
            Some(sh(2026, 9, 27, 9, 0)),
        ),
        (
            "holiday week",
            sh(2026, 9, 30, 18, 30),
            Some(sh(2026, 10, 8, 9, 0)),
        ),
    ];
    for (desc, at, want) in cases {
        assert_eq!(
            office.next_opening(at).map(|t| t.with_timezone(&Utc)),
            want,
            "{desc}"
        );
    }
    let never = rules(
        "version: 1\ncalendars:\n  closed:\n    timezone: UTC\n    weekly: {}\nrules:\n  - id: r\n    when: { within_hours: closed }\n    then: []\n",
    );
    assert_eq!(
        never
            .calendar("closed")
            .unwrap()
            .next_opening(utc(2026, 1, 1, 0, 0)),
        None,
        "a calendar with no hours never opens"
    );
}

#[test]
fn evaluation_uses_the_local_date_at_midnight() {
    let doc = "version: 1
calendars:
  late:
    timezone: Asia/Shanghai
    weekly: { mon: ['18:00-24:00'] }
rules:
  - id: open
    when: { within_hours: late }
    then: []
";
    let set = rules(doc);
    let cases = [
        ("Mon 23:59 Shanghai", utc(2026, 9, 28, 15, 59), true),
        (
            "Tue 00:00 Shanghai, still Monday in UTC",
            utc(2026, 9, 28, 16, 0),
            false,
        ),
    ];
    for (desc, at, want) in cases {
        let d = evaluate(&set, &text("x"), None, at);
        assert_eq!(!d.is_empty(), want, "{desc}");
    }
}
