//! Values checked while the document is read (names, keywords, regexes, time zones, dates,
//! one-or-many lists), so that the YAML parser attaches the position of a bad value.

use crate::rules::calendar::TimeRange;
use crate::rules::{MAX_KEYWORD_CHARS, MAX_PATTERN_CHARS, REGEX_SIZE_LIMIT};
use chrono::NaiveDate;
use chrono_tz::Tz;
use regex::{Regex, RegexBuilder};
use serde::Deserialize;
use serde::de::{self, Deserializer, IntoDeserializer, SeqAccess, Visitor};
use std::fmt;
use std::marker::PhantomData;

/// Implements `Deserialize` for a type parsed from a string by `$parse: fn(&str) ->
/// Result<Self, String>`, inside the visitor so the parser attaches the value's position.
macro_rules! from_str_visitor {
    ($ty:ty, $expecting:expr, $parse:expr) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = $ty;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_str<E: de::Error>(self, v: &str) -> Result<$ty, E> {
                        let parse: fn(&str) -> Result<$ty, String> = $parse;
                        parse(v).map_err(E::custom)
                    }
                }
                d.deserialize_str(V)
            }
        }
    };
}

/// A name of a rule, calendar or keyword list: 1–64 of `A-Z a-z 0-9 _ - .`, starting with a
/// letter or digit.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Name(pub String);

impl Name {
    pub fn parse(s: &str) -> Result<Name, String> {
        let ok = !s.is_empty()
            && s.chars().count() <= 64
            && s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if ok {
            Ok(Name(s.to_string()))
        } else {
            Err(format!(
                "invalid name {s:?}: use 1 to 64 letters, digits, `_`, `-` or `.`, starting \
                 with a letter or digit"
            ))
        }
    }
}

from_str_visitor!(Name, "a name (letters, digits, `_`, `-`, `.`)", Name::parse);

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A string that is not blank.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct NonEmpty(pub String);

from_str_visitor!(NonEmpty, "a non-empty string", |s| {
    if s.trim().is_empty() {
        Err("empty value: give a non-blank string".to_string())
    } else {
        Ok(NonEmpty(s.to_string()))
    }
});

impl fmt::Display for NonEmpty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A keyword (or, in conditions, `@list` reference): not blank, at most
/// [`MAX_KEYWORD_CHARS`] characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Keyword(pub String);

from_str_visitor!(Keyword, "a keyword", |s| {
    if s.trim().is_empty() {
        Err("empty keyword: it would match every text".to_string())
    } else if s.chars().count() > MAX_KEYWORD_CHARS {
        Err(format!(
            "keyword is {} characters long: at most {MAX_KEYWORD_CHARS}",
            s.chars().count()
        ))
    } else {
        Ok(Keyword(s.to_string()))
    }
});

/// An IANA time zone name.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TimeZoneName(pub Tz);

from_str_visitor!(
    TimeZoneName,
    "an IANA time zone name such as Asia/Shanghai",
    |s| {
        match s.parse::<Tz>() {
            Ok(tz) => Ok(TimeZoneName(tz)),
            Err(_) => {
                let hint = chrono_tz::TZ_VARIANTS
                    .iter()
                    .find(|tz| tz.name().eq_ignore_ascii_case(s))
                    .map(|tz| format!(" (did you mean {}?)", tz.name()))
                    .unwrap_or_else(|| " (use an IANA name such as Asia/Shanghai or UTC)".into());
                Err(format!("unknown time zone {s:?}{hint}"))
            }
        }
    }
);

/// A calendar date, `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct DateSpec(pub NaiveDate);

pub(crate) fn parse_date(s: &str) -> Result<NaiveDate, String> {
    let t = s.trim();
    let well_formed = t.len() == 10
        && t.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    if !well_formed {
        return Err(format!("invalid date {s:?}: expected YYYY-MM-DD"));
    }
    NaiveDate::parse_from_str(t, "%Y-%m-%d").map_err(|_| format!("invalid date {s:?}: no such day"))
}

from_str_visitor!(DateSpec, "a date YYYY-MM-DD", |s| parse_date(s)
    .map(DateSpec));

impl fmt::Display for DateSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format("%Y-%m-%d"))
    }
}

/// Most days one holiday range may span.
pub(crate) const MAX_HOLIDAY_RANGE_DAYS: i64 = 366;

/// A holiday: one date, or an inclusive range `YYYY-MM-DD..YYYY-MM-DD`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HolidaySpec {
    pub first: NaiveDate,
    pub last: NaiveDate,
}

from_str_visitor!(
    HolidaySpec,
    "a date YYYY-MM-DD or a range YYYY-MM-DD..YYYY-MM-DD",
    |s| {
        let (first, last) = match s.split_once("..") {
            Some((a, b)) => (parse_date(a)?, parse_date(b)?),
            None => {
                let d = parse_date(s)?;
                (d, d)
            }
        };
        if last < first {
            return Err(format!("holiday range {s:?} ends before it starts"));
        }
        if (last - first).num_days() >= MAX_HOLIDAY_RANGE_DAYS {
            return Err(format!(
                "holiday range {s:?} is longer than {MAX_HOLIDAY_RANGE_DAYS} days"
            ));
        }
        Ok(HolidaySpec { first, last })
    }
);

from_str_visitor!(TimeRange, "a time range HH:MM-HH:MM", TimeRange::parse);

/// A regex, compiled at load. `CI`: case-insensitive (text conditions).
#[derive(Debug, Clone)]
pub(crate) struct Pattern<const CI: bool> {
    pub regex: Regex,
}

impl<const CI: bool> Pattern<CI> {
    pub fn parse(s: &str) -> Result<Self, String> {
        if s.is_empty() {
            return Err("empty regex: it matches everything; remove the condition instead".into());
        }
        let chars = s.chars().count();
        if chars > MAX_PATTERN_CHARS {
            return Err(format!(
                "regex is {chars} characters long: at most {MAX_PATTERN_CHARS}"
            ));
        }
        let regex = RegexBuilder::new(s)
            .case_insensitive(CI)
            .size_limit(REGEX_SIZE_LIMIT)
            .dfa_size_limit(REGEX_SIZE_LIMIT)
            .nest_limit(64)
            .build()
            .map_err(|e| format!("invalid regex {s:?}: {}", one_line(&e.to_string())))?;
        Ok(Pattern { regex })
    }
}

/// Collapses the multi-line error text of the regex crate.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl<'de, const CI: bool> Deserialize<'de> for Pattern<CI> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<const CI: bool>;
        impl<'de, const CI: bool> Visitor<'de> for V<CI> {
            type Value = Pattern<CI>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a regular expression")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Pattern<CI>, E> {
                Pattern::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_str(V::<CI>)
    }
}

// ---------------------------------------------------------------------------------------------
// Collections.
// ---------------------------------------------------------------------------------------------

/// A single value or a non-empty list of values.
///
/// A single value must be a string (or a word such as `wechat`): a bare number or boolean is
/// refused with a hint to quote it, because YAML would turn `0123` into `123`. In a list every
/// item is read exactly as written.
#[derive(Debug, Clone)]
pub(crate) struct OneOrMany<T>(pub Vec<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for OneOrMany<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = OneOrMany<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a value or a list of values")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<OneOrMany<T>, E> {
                let de: de::value::StrDeserializer<'_, E> = v.into_deserializer();
                T::deserialize(de).map(|t| OneOrMany(vec![t]))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<OneOrMany<T>, E> {
                Err(E::custom(quote_hint(&v.to_string())))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<OneOrMany<T>, E> {
                Err(E::custom(quote_hint(&v.to_string())))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<OneOrMany<T>, E> {
                Err(E::custom(quote_hint(&v.to_string())))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<OneOrMany<T>, E> {
                Err(E::custom(quote_hint(&v.to_string())))
            }
            fn visit_unit<E: de::Error>(self) -> Result<OneOrMany<T>, E> {
                Err(E::custom("missing value: give a value or a list of values"))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<OneOrMany<T>, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                if items.is_empty() {
                    return Err(de::Error::custom(
                        "empty list: it can never match; give at least one value",
                    ));
                }
                Ok(OneOrMany(items))
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

fn quote_hint(v: &str) -> String {
    format!(
        "`{v}` is read as a number or boolean: put it in quotes (\"{v}\") so it is matched as \
         the text you wrote"
    )
}
