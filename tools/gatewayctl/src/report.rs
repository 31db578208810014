//! `gatewayctl report`: an account's daily statistics over a range of days (the records the
//! stats aggregator keeps, `gateway_core::stats`), summed and printed as a table, CSV or JSON.
//! The figures are defined in `docs/service-levels.md`.

use chrono::NaiveDate;
use gateway_aws::DynamoDbStats;
use gateway_core::Channel;
use gateway_core::ports::PortError;
use gateway_core::stats::{Bucket, Figures, Report};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The longest range a report covers, in days.
pub const MAX_DAYS: i64 = 366;

/// How the report is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned text, for reading.
    Table,
    /// One figure per line: `scope,section,figure,value`.
    Csv,
    /// The whole report as one JSON document.
    Json,
}

/// A channel on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ChannelArg {
    /// WeChat.
    Wechat,
    /// Weibo.
    Weibo,
}

impl From<ChannelArg> for Channel {
    fn from(arg: ChannelArg) -> Self {
        match arg {
            ChannelArg::Wechat => Channel::WeChat,
            ChannelArg::Weibo => Channel::Weibo,
        }
    }
}

/// The arguments of `gatewayctl report`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// The account (its name in the webhook path).
    #[arg(long)]
    pub account: String,
    /// First day, YYYY-MM-DD (a day of the account's time zone).
    #[arg(long, value_parser = parse_day)]
    pub from: NaiveDate,
    /// Last day, YYYY-MM-DD, included.
    #[arg(long, value_parser = parse_day)]
    pub to: NaiveDate,
    /// Only this channel; default: the account's figures on both channels, summed.
    #[arg(long, value_enum)]
    pub channel: Option<ChannelArg>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// The conversations table.
    #[arg(long, env = "TABLE_NAME")]
    pub table: String,
    /// Endpoint override (local emulator); default: the AWS SDK's usual resolution.
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    pub endpoint: Option<String>,
}

fn parse_day(text: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|e| format!("{e}: a day is written YYYY-MM-DD, e.g. 2026-03-02"))
}

impl ReportArgs {
    /// The channels to read, after checking the range (`Err`: what is wrong with the command
    /// line).
    pub fn channels(&self) -> Result<Vec<Channel>, String> {
        if self.from > self.to {
            return Err(format!("--from {} is after --to {}", self.from, self.to));
        }
        let days = (self.to - self.from).num_days() + 1;
        if days > MAX_DAYS {
            return Err(format!(
                "the range covers {days} days; a report covers at most {MAX_DAYS}"
            ));
        }
        Ok(match self.channel {
            Some(channel) => vec![channel.into()],
            None => vec![Channel::WeChat, Channel::Weibo],
        })
    }
}

/// Reads the records of `account`'s days `from..=to` on `channels` and sums them.
pub async fn fetch(
    stats: &DynamoDbStats,
    account: &str,
    channels: &[Channel],
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Report, PortError> {
    let mut records = Vec::new();
    for channel in channels {
        records.extend(stats.days(*channel, account, from, to).await?);
    }
    Ok(Report::build(account, channels, from, to, &records))
}

/// The report in `format`, ending with a newline.
pub fn render(report: &Report, format: Format) -> String {
    match format {
        Format::Table => table(report),
        Format::Csv => csv(report),
        Format::Json => {
            let mut json = serde_json::to_string_pretty(report).unwrap_or_default();
            json.push('\n');
            json
        }
    }
}

/// Width of a figure's label in the table.
const LABEL: usize = 34;

fn table(report: &Report) -> String {
    let channels: Vec<&str> = report.channels.iter().map(|c| c.as_str()).collect();
    let mut out = format!(
        "Report of account {} on {}, {} to {} ({} day{}, the account's local days)\n",
        report.account,
        channels.join(" and "),
        report.from,
        report.to,
        report.days,
        if report.days == 1 { "" } else { "s" },
    );
    out.push_str("\nAccount\n");
    figures_table(&mut out, &report.total);
    for (team, figures) in &report.teams {
        let _ = write!(out, "\nTeam {team}\n");
        figures_table(&mut out, figures);
    }
    out
}

/// Writes the lines of one account's or team's figures: sections two spaces in, figures
/// four, values right-aligned.
struct Lines<'a>(&'a mut String);

impl Lines<'_> {
    fn section(&mut self, title: &str) {
        let _ = writeln!(self.0, "  {title}");
    }

    fn figure(&mut self, label: &str, value: impl std::fmt::Display) {
        let line = format!("    {label:<LABEL$}{value:>8}");
        let _ = writeln!(self.0, "{}", line.trim_end());
    }
}

fn figures_table(out: &mut String, f: &Figures) {
    let mut lines = Lines(out);
    let bucket = |b: Option<Bucket>| b.map_or("n/a".to_string(), |b| b.to_string());
    lines.section("Volumes");
    lines.figure("inbound messages", f.inbound);
    lines.figure("conversations opened", f.opened);
    lines.figure("conversations resolved", f.resolved);
    lines.figure("escalations begun", f.escalations);
    lines.figure("SLA breaches", f.sla_breaches);
    lines.section("Service levels");
    lines.figure("first responses met", f.first_responses_met);
    lines.figure("first responses breached", f.first_responses_breached);
    lines.figure(
        "SLA met",
        f.sla_met_percent
            .map_or("n/a".to_string(), |p| format!("{p:.1}%")),
    );
    let (frt, rt) = (&f.first_response_time, &f.resolution_time);
    lines.figure(
        &format!("first response time p50 (of {})", frt.count),
        bucket(frt.p50),
    );
    lines.figure("first response time p90", bucket(frt.p90));
    lines.figure(
        &format!("resolution time p50 (of {})", rt.count),
        bucket(rt.p50),
    );
    lines.figure("resolution time p90", bucket(rt.p90));
    for (title, counts) in [
        ("Complaints by category (tags added)", &f.tags),
        ("Undeliverable replies by reason", &f.undeliverable),
        ("Messages by rule (rule firings)", &f.rules),
    ] {
        lines.section(title);
        if counts.is_empty() {
            lines.figure("(none)", "");
        }
        for (key, n) in counts {
            lines.figure(key, n);
        }
    }
}

fn csv(report: &Report) -> String {
    let mut out = String::from("scope,section,figure,value\n");
    figures_csv(&mut out, "account", &report.total);
    for (team, figures) in &report.teams {
        figures_csv(&mut out, &format!("team:{team}"), figures);
    }
    out
}

fn figures_csv(out: &mut String, scope: &str, f: &Figures) {
    let mut row = |section: &str, figure: &str, value: String| {
        let _ = writeln!(
            out,
            "{},{section},{},{value}",
            csv_field(scope),
            csv_field(figure)
        );
    };
    let bucket = |b: Option<Bucket>| b.map_or(String::new(), |b| b.name().to_string());
    for (figure, n) in [
        ("inbound", f.inbound),
        ("opened", f.opened),
        ("resolved", f.resolved),
        ("escalations", f.escalations),
        ("sla_breaches", f.sla_breaches),
    ] {
        row("volumes", figure, n.to_string());
    }
    row(
        "service_levels",
        "first_responses_met",
        f.first_responses_met.to_string(),
    );
    row(
        "service_levels",
        "first_responses_breached",
        f.first_responses_breached.to_string(),
    );
    row(
        "service_levels",
        "sla_met_percent",
        f.sla_met_percent
            .map_or(String::new(), |p| format!("{p:.1}")),
    );
    let (frt, rt) = (&f.first_response_time, &f.resolution_time);
    row("service_levels", "first_response_p50", bucket(frt.p50));
    row("service_levels", "first_response_p90", bucket(frt.p90));
    row("service_levels", "resolution_p50", bucket(rt.p50));
    row("service_levels", "resolution_p90", bucket(rt.p90));
    for (section, histogram) in [
        ("first_response_time", &frt.buckets),
        ("resolution_time", &rt.buckets),
    ] {
        for (b, n) in histogram.buckets() {
            row(section, b.name(), n.to_string());
        }
    }
    let sections: [(&str, &BTreeMap<String, i64>); 3] = [
        ("tags", &f.tags),
        ("undeliverable", &f.undeliverable),
        ("rules", &f.rules),
    ];
    for (section, counts) in sections {
        for (key, n) in counts {
            row(section, key, n.to_string());
        }
    }
}

/// A CSV field, quoted when it holds a comma, a quote or a line break (RFC 4180).
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gateway_core::stats::{DailyDelta, DailyRecord, RecordKey, counter};

    fn day(d: &str) -> NaiveDate {
        d.parse().expect("a date")
    }

    #[test]
    fn a_period_without_first_responses_or_categories_says_so() {
        let mut counts = DailyDelta::default();
        counts.add(counter::INBOUND, 2);
        let record = DailyRecord {
            key: RecordKey {
                day: day("2026-03-02"),
                team: None,
            },
            counts,
        };
        let report = Report::build(
            "brand",
            &[Channel::WeChat, Channel::Weibo],
            day("2026-03-02"),
            day("2026-03-02"),
            &[record],
        );
        let table = render(&report, Format::Table);
        assert!(
            table.starts_with(
                "Report of account brand on wechat and weibo, 2026-03-02 to 2026-03-02 (1 day,"
            ),
            "{table}"
        );
        for line in [
            "    inbound messages                         2\n",
            "    SLA met                                n/a\n",
            "    first response time p50 (of 0)         n/a\n",
            "    resolution time p90                    n/a\n",
            "  Complaints by category (tags added)\n    (none)\n",
        ] {
            assert!(table.contains(line), "`{line}` in\n{table}");
        }
        assert!(!table.contains("Team "), "no team records: {table}");
        assert!(
            table.lines().all(|l| l == l.trim_end()),
            "no trailing spaces"
        );
        let csv = render(&report, Format::Csv);
        assert!(
            csv.contains("account,service_levels,sla_met_percent,\n"),
            "{csv}"
        );
        assert!(
            csv.contains("account,service_levels,first_response_p50,\n"),
            "{csv}"
        );
        let json: serde_json::Value =
            serde_json::from_str(&render(&report, Format::Json)).expect("JSON");
        assert_eq!(json["total"]["sla_met_percent"], serde_json::Value::Null);
        assert_eq!(json["channels"], serde_json::json!(["wechat", "weibo"]));
    }

    #[test]
    fn csv_fields_are_quoted_when_they_hold_a_separator() {
        assert_eq!(csv_field("crisis"), "crisis");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("两行\n文字"), "\"两行\n文字\"");
    }
}
