//! The desk's index queries: the filter expression of a list's plan, and the counts of a
//! scope (`GET /conversations/counts`), which read only the attributes a count needs.

use crate::DynamoDbConversationStore;
use crate::dynamodb::attrs::{Item, s, text};
use crate::error::port_error;
use aws_sdk_dynamodb::types::AttributeValue;
use gateway_core::desk::counts::{QueueEntry, Sample};
use gateway_core::desk::list::{Filter, Index, ListPlan};
use gateway_core::ports::PortError;
use std::collections::HashMap;

/// The name of a plan's index.
pub(crate) fn index_name(index: Index) -> &'static str {
    match index {
        Index::Gsi1 => "GSI1",
        Index::Gsi2 => "GSI2",
    }
}

/// A filter expression and its names and values.
#[derive(Default)]
pub(crate) struct Expression {
    pub(crate) parts: Vec<String>,
    pub(crate) names: HashMap<String, String>,
    pub(crate) values: Item,
}

impl Expression {
    pub(crate) fn name(&mut self, attribute: &str) -> String {
        let placeholder = format!("#{attribute}");
        self.names
            .insert(placeholder.clone(), attribute.to_string());
        placeholder
    }

    pub(crate) fn value(&mut self, v: AttributeValue) -> String {
        let placeholder = format!(":f{}", self.values.len());
        self.values.insert(placeholder.clone(), v);
        placeholder
    }

    pub(crate) fn add(&mut self, filter: &Filter) {
        let part = match filter {
            Filter::AccountIn(accounts) => {
                let key = self.name("key");
                let alternatives: Vec<String> = accounts
                    .iter()
                    .map(|a| format!("begins_with({key}, {})", self.value(s(format!("{a}:")))))
                    .collect();
                format!("({})", alternatives.join(" OR "))
            }
            Filter::TeamInOrNone(teams) => {
                let team = self.name("team");
                if teams.is_empty() {
                    format!("attribute_not_exists({team})")
                } else {
                    let values: Vec<String> =
                        teams.iter().map(|t| self.value(s(t.clone()))).collect();
                    format!(
                        "(attribute_not_exists({team}) OR {team} IN ({}))",
                        values.join(", ")
                    )
                }
            }
            Filter::Assignee(a) => {
                let name = self.name("assignee");
                format!("{name} = {}", self.value(s(a.clone())))
            }
            Filter::Unassigned => format!("attribute_not_exists({})", self.name("assignee")),
            Filter::Tag(tag) => {
                let name = self.name("tags");
                format!("contains({name}, {})", self.value(s(tag.clone())))
            }
            Filter::Escalated => {
                let name = self.name("escalated");
                format!("{name} = {}", self.value(AttributeValue::Bool(true)))
            }
            Filter::Breached => format!("attribute_exists({})", self.name("sla_breached_at")),
        };
        self.parts.push(part);
    }
}

/// The attributes a count reads.
const COUNTED: [&str; 6] = [
    "key",
    "team",
    "assignee",
    "escalated",
    "waiting_since",
    "sla_breached_at",
];

/// What a count needs of the conversations of `plan`'s partition: one index query per page,
/// projecting [`COUNTED`] only, each page limited to what is left of `max_read` (the items
/// the query evaluates, before its filters), so that no more than `max_read` are read.
pub(crate) async fn queue_entries(
    store: &DynamoDbConversationStore,
    plan: &ListPlan,
    max_read: u32,
) -> Result<Sample, PortError> {
    if plan.filters.contains(&Filter::AccountIn(Vec::new())) {
        // No account in scope: nothing to read.
        return Ok(Sample::default());
    }
    let index = index_name(plan.index);
    let mut expression = Expression::default();
    for filter in &plan.filters {
        expression.add(filter);
    }
    let filter = (!expression.parts.is_empty()).then(|| expression.parts.join(" AND "));
    let projection: Vec<String> = COUNTED.iter().map(|a| expression.name(a)).collect();
    let mut sample = Sample::default();
    let mut read: u32 = 0;
    let mut start: Option<Item> = None;
    loop {
        let mut query = store
            .client
            .query()
            .table_name(&store.table)
            .index_name(index)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", format!("{index}PK"))
            .expression_attribute_values(":pk", s(&plan.partition))
            .projection_expression(projection.join(", "))
            .set_filter_expression(filter.clone())
            .limit(max_read.saturating_sub(read).max(1) as i32)
            .set_exclusive_start_key(start.take());
        for (k, v) in &expression.names {
            query = query.expression_attribute_names(k, v);
        }
        for (k, v) in &expression.values {
            query = query.expression_attribute_values(k, v.clone());
        }
        let page = query
            .send()
            .await
            .map_err(|e| port_error("dynamodb query (desk counts)", e))?;
        read = read.saturating_add(u32::try_from(page.scanned_count()).unwrap_or(u32::MAX));
        sample.entries.extend(page.items().iter().map(entry));
        match page.last_evaluated_key() {
            Some(k) if !k.is_empty() => {
                if read >= max_read {
                    sample.capped = true;
                    return Ok(sample);
                }
                start = Some(k.clone());
            }
            _ => return Ok(sample),
        }
    }
}

fn entry(item: &Item) -> QueueEntry {
    let present = |name: &str| item.get(name).is_some_and(|v| !v.is_null());
    QueueEntry {
        key: text(item, "key").unwrap_or_default(),
        team: text(item, "team"),
        assignee: text(item, "assignee"),
        escalated: matches!(item.get("escalated"), Some(AttributeValue::Bool(true))),
        unanswered: present("waiting_since"),
        breached: present("sla_breached_at"),
    }
}
