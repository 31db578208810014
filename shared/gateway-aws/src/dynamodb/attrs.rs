//! The attribute helpers every table adapter uses: building `S`/`N` values, reading them back,
//! and recognising a failed condition.

use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;

/// One DynamoDB item.
pub(crate) type Item = HashMap<String, AttributeValue>;

/// A string attribute.
pub(crate) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

/// A number attribute.
pub(crate) fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// The string attribute `name` of `item`, if it is one.
pub(crate) fn text(item: &Item, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

/// The number attribute `name` of `item`, if it is an integer.
pub(crate) fn number(item: &Item, name: &str) -> Option<i64> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

/// True when a conditional write was refused because its condition did not hold.
pub(crate) fn is_condition_failure<E: aws_sdk_dynamodb::error::ProvideErrorMetadata>(
    e: &E,
) -> bool {
    e.code() == Some("ConditionalCheckFailedException")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_back_as_written_and_wrong_types_read_as_absent() {
        let item: Item = [
            ("a".to_string(), s("x")),
            ("b".to_string(), n(-42)),
            ("c".to_string(), s("7")),
            ("d".to_string(), AttributeValue::N("1.5".into())),
        ]
        .into_iter()
        .collect();
        assert_eq!(text(&item, "a").as_deref(), Some("x"));
        assert_eq!(number(&item, "b"), Some(-42));
        assert_eq!(number(&item, "c"), None, "a string is not a number");
        assert_eq!(text(&item, "b"), None, "a number is not a string");
        assert_eq!(number(&item, "d"), None, "not an integer");
        assert_eq!(text(&item, "missing"), None);
    }
}
