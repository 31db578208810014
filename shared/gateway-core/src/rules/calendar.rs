//! Business calendars: weekly opening hours in a time zone, with split shifts, holidays and
//! exceptional days.
//!
//! Semantics, all in the calendar's wall-clock time (daylight saving time included):
//! - A day's hours are a list of ranges `HH:MM-HH:MM`, start included, end excluded. `24:00`
//!   is allowed as an end (`18:00-24:00` is open until midnight). Several ranges make a split
//!   shift (`["09:00-12:00", "13:30-18:00"]` is closed over lunch).
//! - A range never crosses midnight: `22:00-06:00` is refused with a hint to write
//!   `22:00-24:00` on one day and `00:00-06:00` on the next. Each day is then self-contained,
//!   so a holiday or exception on a date decides that whole date and nothing else.
//! - For a date, the first that applies wins: an exception (its own hours; `[]` is closed), a
//!   holiday (closed all day), the weekly hours of that weekday (a missing day is closed).

use chrono::{DateTime, Datelike, Days, NaiveDate, NaiveDateTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// How far ahead [`Calendar::next_opening`] looks, in days.
pub const NEXT_OPENING_LOOKAHEAD_DAYS: u64 = 400;

const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// Opening hours within one day: from `start` (included) to `end` (excluded), in minutes
/// after local midnight; `end` may be 1440 (`24:00`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimeRange {
    start: u16,
    end: u16,
}

impl TimeRange {
    /// A range from `start_minute` to `end_minute` (minutes after midnight, end ≤ 1440).
    pub fn new(start_minute: u16, end_minute: u16) -> Result<Self, String> {
        if end_minute > 24 * 60 {
            return Err(format!("end {end_minute} is after 24:00"));
        }
        if end_minute <= start_minute {
            return Err(format!(
                "{}-{} ends before it starts",
                hm(start_minute),
                hm(end_minute)
            ));
        }
        Ok(TimeRange {
            start: start_minute,
            end: end_minute,
        })
    }

    /// Parses `HH:MM-HH:MM` (hours may have one digit; `24:00` only as the end).
    pub fn parse(s: &str) -> Result<Self, String> {
        let Some((a, b)) = s.split_once('-') else {
            return Err(format!(
                "invalid time range {s:?}: expected HH:MM-HH:MM, e.g. 09:00-18:00"
            ));
        };
        let start = parse_hm(a.trim(), false)
            .map_err(|e| format!("invalid time range {s:?}: start {e}"))?;
        let end =
            parse_hm(b.trim(), true).map_err(|e| format!("invalid time range {s:?}: end {e}"))?;
        if end < start {
            return Err(format!(
                "time range {s:?} crosses midnight, which is not supported: write {}-24:00 on \
                 this day and 00:00-{} on the next",
                hm(start),
                hm(end)
            ));
        }
        if end == start {
            return Err(format!("time range {s:?} is empty"));
        }
        Ok(TimeRange { start, end })
    }

    /// Start, minutes after midnight.
    pub fn start_minute(&self) -> u16 {
        self.start
    }

    /// End (excluded), minutes after midnight; 1440 is midnight at the end of the day.
    pub fn end_minute(&self) -> u16 {
        self.end
    }

    /// True when the second of the day `secs` (0–86399) is inside the range.
    pub fn contains_second(&self, secs: u32) -> bool {
        secs >= u32::from(self.start) * 60 && secs < u32::from(self.end) * 60
    }

    fn overlaps(&self, other: &TimeRange) -> bool {
        self.start < other.end && other.start < self.end
    }
}

impl fmt::Display for TimeRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", hm(self.start), hm(self.end))
    }
}

impl Serialize for TimeRange {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

fn hm(minutes: u16) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

fn parse_hm(s: &str, allow_24: bool) -> Result<u16, String> {
    let bad = || format!("{s:?} is not a time HH:MM");
    let (h, m) = s.split_once(':').ok_or_else(bad)?;
    let digits = |x: &str| !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit());
    if !digits(h) || h.len() > 2 || !digits(m) || m.len() != 2 {
        return Err(bad());
    }
    let h: u16 = h.parse().map_err(|_| bad())?;
    let m: u16 = m.parse().map_err(|_| bad())?;
    if m > 59 {
        return Err(format!("{s:?} has minutes over 59"));
    }
    if h == 24 && m == 0 && allow_24 {
        return Ok(24 * 60);
    }
    if h > 23 {
        return Err(if allow_24 {
            format!("{s:?} is after 24:00")
        } else {
            format!("{s:?} is not a time of day (00:00 to 23:59)")
        });
    }
    Ok(h * 60 + m)
}

/// Where a day's hours came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DaySource {
    /// The weekly hours of that weekday.
    Weekly,
    /// A holiday: closed all day.
    Holiday,
    /// An exception with its own hours.
    Exception,
}

/// A validated business calendar.
#[derive(Debug, Clone, PartialEq)]
pub struct Calendar {
    name: String,
    tz: Tz,
    weekly: [Vec<TimeRange>; 7],
    holidays: BTreeSet<NaiveDate>,
    exceptions: BTreeMap<NaiveDate, Vec<TimeRange>>,
}

impl Calendar {
    /// Builds a calendar, sorting each day's ranges. Errors (plain sentences, all of them):
    /// overlapping ranges on a day, a date both a holiday and an exception.
    pub fn new(
        name: impl Into<String>,
        tz: Tz,
        weekly: [Vec<TimeRange>; 7],
        holidays: impl IntoIterator<Item = NaiveDate>,
        exceptions: BTreeMap<NaiveDate, Vec<TimeRange>>,
    ) -> Result<Self, Vec<String>> {
        let mut errors = Vec::new();
        let mut weekly = weekly;
        for (i, day) in weekly.iter_mut().enumerate() {
            if let Err(e) = sort_and_check(day) {
                errors.push(format!("weekly {}: {e}", WEEKDAYS[i].to_lowercase()));
            }
        }
        let mut exceptions = exceptions;
        for (date, day) in exceptions.iter_mut() {
            if let Err(e) = sort_and_check(day) {
                errors.push(format!("exception {date}: {e}"));
            }
        }
        let holidays: BTreeSet<NaiveDate> = holidays.into_iter().collect();
        for date in exceptions.keys() {
            if holidays.contains(date) {
                errors.push(format!(
                    "{date} is both a holiday and an exception: keep only one (an exception \
                     with [] is closed all day)"
                ));
            }
        }
        if errors.is_empty() {
            Ok(Calendar {
                name: name.into(),
                tz,
                weekly,
                holidays,
                exceptions,
            })
        } else {
            Err(errors)
        }
    }

    /// The calendar's name in the rules document.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The time zone its hours are written in.
    pub fn timezone(&self) -> Tz {
        self.tz
    }

    /// Number of holiday dates (ranges expanded).
    pub fn holiday_count(&self) -> usize {
        self.holidays.len()
    }

    /// Number of exceptional dates.
    pub fn exception_count(&self) -> usize {
        self.exceptions.len()
    }

    /// The hours that apply on a local date, and where they came from.
    pub fn hours_on(&self, date: NaiveDate) -> (DaySource, &[TimeRange]) {
        if let Some(hours) = self.exceptions.get(&date) {
            (DaySource::Exception, hours)
        } else if self.holidays.contains(&date) {
            (DaySource::Holiday, &[])
        } else {
            let i = date.weekday().num_days_from_monday() as usize;
            (DaySource::Weekly, &self.weekly[i])
        }
    }

    /// Whether the calendar is open at `at`, with the details.
    pub fn check(&self, at: DateTime<Utc>) -> HoursCheck {
        let local = at.with_timezone(&self.tz).naive_local();
        let (source, hours) = self.hours_on(local.date());
        let secs = local.num_seconds_from_midnight();
        let open_range = hours.iter().copied().find(|r| r.contains_second(secs));
        HoursCheck {
            calendar: self.name.clone(),
            timezone: self.tz,
            local,
            source,
            hours: hours.to_vec(),
            open_range,
        }
    }

    /// True when open at `at`.
    pub fn is_open(&self, at: DateTime<Utc>) -> bool {
        let local = at.with_timezone(&self.tz).naive_local();
        let secs = local.num_seconds_from_midnight();
        self.hours_on(local.date())
            .1
            .iter()
            .any(|r| r.contains_second(secs))
    }

    /// When the calendar is next open, from `at` (which it returns when open at `at`), looking
    /// at most [`NEXT_OPENING_LOOKAHEAD_DAYS`] ahead.
    pub fn next_opening(&self, at: DateTime<Utc>) -> Option<DateTime<Tz>> {
        let local = at.with_timezone(&self.tz);
        let today = local.date_naive();
        let secs = local.num_seconds_from_midnight();
        for offset in 0..=NEXT_OPENING_LOOKAHEAD_DAYS {
            let date = today.checked_add_days(Days::new(offset))?;
            for r in self.hours_on(date).1 {
                if offset == 0 && r.contains_second(secs) {
                    return Some(local);
                }
                if offset == 0 && u32::from(r.start) * 60 <= secs {
                    continue;
                }
                let naive =
                    date.and_hms_opt(u32::from(r.start / 60), u32::from(r.start % 60), 0)?;
                if let Some(t) = self.resolve_local(naive)
                    && t > local
                {
                    return Some(t);
                }
            }
        }
        None
    }

    /// The instant by which `open_secs` seconds of opening hours have passed, counting from
    /// `start` (a business-hours clock: closed time does not count). Looks at most
    /// [`NEXT_OPENING_LOOKAHEAD_DAYS`] ahead; `None` when the hours run out before that.
    pub fn deadline(&self, start: DateTime<Utc>, open_secs: u64) -> Option<DateTime<Utc>> {
        let mut left = chrono::TimeDelta::seconds(i64::try_from(open_secs).ok()?);
        let first_day = start.with_timezone(&self.tz).date_naive();
        for offset in 0..=NEXT_OPENING_LOOKAHEAD_DAYS {
            let date = first_day.checked_add_days(Days::new(offset))?;
            for r in self.hours_on(date).1 {
                let at = |minute: u16| {
                    let naive = date
                        .and_hms_opt(0, 0, 0)?
                        .checked_add_signed(chrono::TimeDelta::minutes(i64::from(minute)))?;
                    self.resolve_local(naive).map(|t| t.with_timezone(&Utc))
                };
                let (Some(open), Some(close)) = (at(r.start), at(r.end)) else {
                    continue;
                };
                let from = open.max(start);
                if close <= from {
                    continue;
                }
                let available = close - from;
                if left <= available {
                    return Some(from + left);
                }
                left -= available;
            }
        }
        None
    }

    /// A local wall-clock time as an instant; a time skipped by a DST change moves forward.
    fn resolve_local(&self, naive: NaiveDateTime) -> Option<DateTime<Tz>> {
        let direct = self.tz.from_local_datetime(&naive).earliest();
        direct.or_else(|| {
            let later = naive.checked_add_signed(chrono::TimeDelta::hours(1))?;
            self.tz.from_local_datetime(&later).earliest()
        })
    }
}

fn sort_and_check(day: &mut [TimeRange]) -> Result<(), String> {
    day.sort();
    for pair in day.windows(2) {
        if let [a, b] = pair
            && a.overlaps(b)
        {
            return Err(format!("ranges {a} and {b} overlap"));
        }
    }
    Ok(())
}

/// The result of [`Calendar::check`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HoursCheck {
    /// Calendar name.
    pub calendar: String,
    /// Calendar time zone.
    #[serde(serialize_with = "serialize_tz")]
    pub timezone: Tz,
    /// The instant checked, in the calendar's local time.
    pub local: NaiveDateTime,
    /// Where that date's hours came from.
    pub source: DaySource,
    /// That date's hours.
    pub hours: Vec<TimeRange>,
    /// The range that contains the time, when open.
    pub open_range: Option<TimeRange>,
}

fn serialize_tz<S: serde::Serializer>(tz: &Tz, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(tz.name())
}

impl HoursCheck {
    /// True when open.
    pub fn is_open(&self) -> bool {
        self.open_range.is_some()
    }
}

impl fmt::Display for HoursCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let weekday = WEEKDAYS[self.local.weekday().num_days_from_monday() as usize];
        let when = format!(
            "{weekday} {} {}",
            self.local.format("%Y-%m-%d %H:%M"),
            self.tz_name()
        );
        let list = || {
            self.hours
                .iter()
                .map(|r| r.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        match (self.open_range, self.source) {
            (Some(r), DaySource::Exception) => write!(
                f,
                "{} is open: {when} is within {r} (special hours that day)",
                self.calendar
            ),
            (Some(r), _) => write!(f, "{} is open: {when} is within {r}", self.calendar),
            (None, DaySource::Holiday) => {
                write!(f, "{} is closed: {when} is a holiday", self.calendar)
            }
            (None, DaySource::Exception) if self.hours.is_empty() => write!(
                f,
                "{} is closed: {when} is an exceptional day with no hours",
                self.calendar
            ),
            (None, DaySource::Exception) => write!(
                f,
                "{} is closed: {when} is outside that day's special hours {}",
                self.calendar,
                list()
            ),
            (None, DaySource::Weekly) if self.hours.is_empty() => write!(
                f,
                "{} is closed: {when}, no hours on {weekday}",
                self.calendar
            ),
            (None, DaySource::Weekly) => write!(
                f,
                "{} is closed: {when} is outside {}",
                self.calendar,
                list()
            ),
        }
    }
}

impl HoursCheck {
    fn tz_name(&self) -> &'static str {
        self.timezone.name()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_time_ranges() {
        type Want = Result<(u16, u16), &'static str>;
        let cases: [(&str, Want); 12] = [
            ("09:00-18:00", Ok((540, 1080))),
            ("9:00-12:30", Ok((540, 750))),
            (" 13:30 - 18:00 ", Ok((810, 1080))),
            ("00:00-24:00", Ok((0, 1440))),
            ("18:00-24:00", Ok((1080, 1440))),
            ("22:00-06:00", Err("crosses midnight")),
            ("09:00-09:00", Err("is empty")),
            ("24:00-24:00", Err("start \"24:00\" is not a time of day")),
            ("09:60-10:00", Err("minutes over 59")),
            ("0900-1000", Err("is not a time HH:MM")),
            ("09:00", Err("expected HH:MM-HH:MM")),
            ("09:00-24:30", Err("after 24:00")),
        ];
        for (input, want) in cases {
            let got = TimeRange::parse(input).map(|r| (r.start_minute(), r.end_minute()));
            match (got, want) {
                (Ok(g), Ok(w)) => assert_eq!(g, w, "{input}"),
                (Err(e), Err(w)) => assert!(e.contains(w), "{input}: got {e:?}, want {w:?}"),
                (g, w) => panic!("{input}: got {g:?}, want {w:?}"),
            }
        }
    }

    #[test]
    fn range_display_round_trips() {
        for s in ["09:00-12:00", "00:00-24:00", "13:30-18:05"] {
            assert_eq!(TimeRange::parse(s).expect(s).to_string(), s);
        }
    }

    #[test]
    fn rejects_overlaps_and_holiday_exception_conflicts() {
        let r = |s: &str| TimeRange::parse(s).expect(s);
        let mut weekly: [Vec<TimeRange>; 7] = Default::default();
        weekly[0] = vec![r("13:00-18:00"), r("09:00-13:30")];
        let d = NaiveDate::from_ymd_opt(2026, 10, 1).expect("date");
        let errors = Calendar::new(
            "c",
            Tz::UTC,
            weekly,
            [d],
            BTreeMap::from([(d, vec![r("09:00-12:00")])]),
        )
        .expect_err("invalid");
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].contains("weekly mon: ranges 09:00-13:30 and 13:00-18:00 overlap"));
        assert!(errors[1].contains("both a holiday and an exception"));
    }

    #[test]
    fn a_business_hours_deadline_counts_only_open_time() {
        let day = vec![
            TimeRange::parse("09:00-12:00").expect("range"),
            TimeRange::parse("13:30-18:00").expect("range"),
        ];
        let weekly = [
            day.clone(),
            day.clone(),
            day.clone(),
            day.clone(),
            day,
            Vec::new(),
            Vec::new(),
        ];
        let office = Calendar::new(
            "office",
            chrono_tz::Asia::Shanghai,
            weekly,
            Vec::new(),
            BTreeMap::new(),
        )
        .expect("calendar");
        let sh = |d: u32, h: u32, m: u32| {
            chrono_tz::Asia::Shanghai
                .with_ymd_and_hms(2026, 9, d, h, m, 0)
                .single()
                .expect("a time")
                .with_timezone(&Utc)
        };
        // Mon 2026-09-28 11:50, 30 minutes: 10 before lunch, 20 after (13:30 -> 13:50).
        assert_eq!(office.deadline(sh(28, 11, 50), 1800), Some(sh(28, 13, 50)));
        // Friday 17:30, one hour: 30 minutes Friday, 30 on Monday from 09:00.
        assert_eq!(
            office.deadline(sh(25, 17, 30), 3600),
            Some(sh(28, 9, 30)),
            "the weekend does not count"
        );
        // At night: the clock starts when the office opens.
        assert_eq!(office.deadline(sh(28, 22, 0), 60), Some(sh(29, 9, 1)));
        // Exactly the end of a range: due at closing time, not after the break.
        assert_eq!(office.deadline(sh(28, 11, 0), 3600), Some(sh(28, 12, 0)));
        // A calendar that never opens has no deadline.
        let closed = Calendar::new(
            "closed",
            Tz::UTC,
            Default::default(),
            Vec::new(),
            BTreeMap::new(),
        );
        if let Ok(closed) = closed {
            assert_eq!(closed.deadline(sh(28, 9, 0), 60), None);
        }
    }
}
