//! CloudWatch Embedded Metric Format: one JSON log line per metric event, turned into metrics
//! by CloudWatch Logs with no API call on the hot path. Namespace `ChannelGateway`.

use serde_json::{Map, Value, json};

/// Namespace of every gateway metric.
pub const NAMESPACE: &str = "ChannelGateway";

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
    }
}
