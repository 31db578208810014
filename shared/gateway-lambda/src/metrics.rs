//! CloudWatch Embedded Metric Format: one JSON log line per metric event, turned into metrics
//! by CloudWatch Logs with no API call on the hot path. Namespace `ChannelGateway`.
//!
//! Lambda's log-level filtering (JSON log format) treats a line without a valid `level` and an
//! RFC 3339 `timestamp` as INFO, so under `LogLevel=warn` it would drop every metric. Each EMF
//! line therefore carries `"level": "WARN"` and a `timestamp`: metrics survive every log level
//! the templates allow (debug, info, warn). See "Log-level filtering" in the Lambda developer
//! guide.

use serde_json::{Map, Value, json};

/// Namespace of every gateway metric.
pub const NAMESPACE: &str = "ChannelGateway";

/// The log level of metric lines: the least verbose level the templates allow.
pub const EMF_LEVEL: &str = "WARN";

/// One EMF line: `metrics` (name, value, unit) with the dimension values `dims`, aggregated
/// by each of `dimension_sets`.
pub fn emf_line(
    timestamp_ms: i64,
    metrics: &[(&str, f64, &str)],
    dims: &[(&str, &str)],
    dimension_sets: &[&[&str]],
) -> String {
    let mut root = Map::new();
    root.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": dimension_sets,
                "Metrics": metrics
                    .iter()
                    .map(|(name, _, unit)| json!({"Name": name, "Unit": unit}))
                    .collect::<Vec<_>>(),
            }]
        }),
    );
    root.insert("level".into(), Value::String(EMF_LEVEL.into()));
    if let Some(at) = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(timestamp_ms) {
        root.insert(
            "timestamp".into(),
            Value::String(at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
        );
    }
    for (k, v) in dims {
        root.insert((*k).into(), Value::String((*v).into()));
    }
    for (name, value, _) in metrics {
        root.insert((*name).into(), json!(value));
    }
    Value::Object(root).to_string()
}

/// Writes an EMF line to stdout (the function's log stream).
pub fn emit(metrics: &[(&str, f64, &str)], dims: &[(&str, &str)], dimension_sets: &[&[&str]]) {
    println!(
        "{}",
        emf_line(crate::now_ms(), metrics, dims, dimension_sets)
    );
}

/// Emits `AccountsRefreshFailed` and `AccountsUnavailable` (namespace aggregate, no
/// dimensions, which the alarms watch; and by `Function`) when `function`'s accounts secret
/// cannot be had.
pub fn accounts_observer(
    function: &'static str,
) -> std::sync::Arc<dyn gateway_aws::AccountsObserver> {
    std::sync::Arc::new(AccountsMetrics(function))
}

struct AccountsMetrics(&'static str);

impl gateway_aws::AccountsObserver for AccountsMetrics {
    fn refresh_failed(&self) {
        emit(
            &[("AccountsRefreshFailed", 1.0, "Count")],
            &[("Function", self.0)],
            &[&[], &["Function"]],
        );
    }

    fn unavailable(&self) {
        emit(
            &[("AccountsUnavailable", 1.0, "Count")],
            &[("Function", self.0)],
            &[&[], &["Function"]],
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emf_line_declares_every_metric_and_carries_dimensions() {
        let line = emf_line(
            5,
            &[
                ("InboundMessages", 1.0, "Count"),
                ("AutoReplies", 2.0, "Count"),
            ],
            &[("Channel", "wechat"), ("Account", "demo")],
            &[&["Channel"], &["Channel", "Account"]],
        );
        let v: Value = serde_json::from_str(&line).expect("json");
        let decl = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(decl["Namespace"], "ChannelGateway");
        assert_eq!(decl["Dimensions"][1][1], "Account");
        assert_eq!(decl["Metrics"][1]["Name"], "AutoReplies");
        assert_eq!(v["AutoReplies"], 2.0);
        assert_eq!(v["Channel"], "wechat");
        assert_eq!(v["_aws"]["Timestamp"], 5);
        // Survives Lambda's log-level filtering at WARN: a level and an RFC 3339 timestamp.
        assert_eq!(v["level"], "WARN");
        assert_eq!(v["timestamp"], "1970-01-01T00:00:00.005Z");
    }
}
