"""Negative self-tests of events out (see mutations.py, checks_events.py): the event bus, who
may publish on it, stats-aggregator's grant, variable, stream filter and markers, the
EventsPublishFailed alarm, the bus's outputs; SAM == CDK."""

from __future__ import annotations

from .mutations_async import Row
from .ops import add, allow, drop, drop_stmt, put, stmts

AGG_ROLE, AGG_ENV, AGG_STREAM = "StatsAggregatorRole", "env:StatsAggregatorFunction", "esm:StatsAggregatorFunction:TableStream"
PUBLISH = f"stmt:{AGG_ROLE}:PublishEvents"
BUS_ARN = {"Fn::GetAtt": ["EventBus", "Arn"]}
DEFAULT_BUS = {"Fn::Sub": "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/default"}

EVENTS_MUTATIONS: list[Row] = [
    # --- the bus ----------------------------------------------------------------------------------
    ("event-bus", "no event bus", drop("Resources.EventBus")),
    ("event-bus", "the bus named after nothing (one name for every stack of the account)", put("EventBus.Name", "gateway-events")),
    # --- only stats-aggregator may publish, and only on this bus -----------------------------------------
    ("event-bus iam-least-privilege", "reply-sender may put events on the bus",
     add(stmts("ReplySenderRole"), allow("events:PutEvents", BUS_ARN))),
    ("event-bus iam-least-privilege", "the router may put events on any bus (events:*)",
     add(stmts("MessageRouterRole"), allow("events:*", "*"))),
    ("event-bus iam-least-privilege", "stats-aggregator publishes on the default bus", put(f"{PUBLISH}.Resource", DEFAULT_BUS)),
    ("event-bus iam-least-privilege", "stats-aggregator may publish on every bus", put(f"{PUBLISH}.Resource", "*")),
    ("event-bus iam-grants-needed", "stats-aggregator cannot put events", drop_stmt(AGG_ROLE, "PublishEvents")),
    # --- its variable, filter, markers ---------------------------------------------------------------
    ("functions-env-contract", "stats-aggregator without EVENT_BUS_NAME (its config requires it)", drop(f"{AGG_ENV}.EVENT_BUS_NAME")),
    ("functions-env-contract", "stats-aggregator publishes on the default bus (EVENT_BUS_NAME default)", put(f"{AGG_ENV}.EVENT_BUS_NAME", "default")),
    ("stream-event-sources", "the aggregator's delivery-record filter dropped (no reply.* event)", drop(f"{AGG_STREAM}.FilterCriteria.Filters.2")),
    ("table-leading-keys", "the aggregator cannot read its event markers", drop_stmt(AGG_ROLE, "ReadEventMarkers")),
    ("table-leading-keys", "the aggregator's event markers read in any partition (no LeadingKeys)",
     drop(f"stmt:{AGG_ROLE}:ReadEventMarkers.Condition")),
    # --- alarm, outputs -------------------------------------------------------------------------------
    ("alarms", "no EventsPublishFailed alarm", drop("Resources.EventsPublishFailedAlarm")),
    ("parameters-outputs", "EventBusName output removed", drop("Outputs.EventBusName")),
    ("parameters-outputs", "EventBusArn output gives the name", put("Outputs.EventBusArn.Value", {"Ref": "EventBus"})),
    # --- SAM == CDK: changes to the CDK template alone --------------------------------------------------
    ("equivalence", "stats-aggregator without EVENT_BUS_NAME in one template", drop(f"{AGG_ENV}.EVENT_BUS_NAME")),
    ("equivalence", "no EventsPublishFailed alarm in one template", drop("Resources.EventsPublishFailedAlarm")),
]
