#!/usr/bin/env python3
"""moto's server for the soak and the load run, with two of moto's per-request costs that grow
with the data made independent of it. Both change how long moto takes, never what it answers.

DynamoDB: moto's transaction rollback backup made proportional to the transaction instead of
the table.

moto (5.2.5) deep-copies every table a TransactWriteItems touches before applying it, so that
it can roll back when an operation fails; with the tens of thousands of items a soak stores,
each router commit then costs a copy of the whole table and the run slows quadratically.
This wrapper first evaluates the transaction's conditions against the current items, exactly
as moto does (same key rule, same condition parser, one item per operation). When any would
fail, it calls moto's own method unchanged, so refusals and their reasons are moto's. When
all pass, nothing will be rolled back, and moto's method runs with that table backup skipped;
every DynamoDB write holds one lock, so nothing changes an item between the check and the
writes.

SQS: moto reads a queue's attribute map, whose three ApproximateNumberOfMessages* counts walk
every message in the queue with two datetime conversions per message, up to three times per
SendMessage (to read ContentBasedDeduplication, in `send_message` and its validation) and three more per message received (to read
MessageRetentionPeriod). With the backlog a load run builds, each send then costs a walk of
the whole queue and the run slows quadratically. Those two readers never look at the counts,
so while they run the counts read as 0; everywhere else (GetQueueAttributes) they are counted
as moto counts them. And moto's SQS clock, `unix_time()`, is `time.time()` computed through
two datetime objects; it is replaced by `time.time()`, the same value.

Everything else is the pinned moto, started as `moto_server` is.

Used by tools/soak/run.sh and bench/load.sh; the test suite runs the unmodified `moto_server`.
"""

import copy
import sys
import threading
import time

from moto.dynamodb import models
from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.models.table import Table
from moto.server import main
from moto.sqs import models as sqs_models

_local = threading.local()
_original = models.DynamoDBBackend.transact_write_items


class _Copy:
    """`copy` as seen by moto's DynamoDB models: skips the table backup when told to."""

    @staticmethod
    def deepcopy(obj, memo=None):
        if isinstance(obj, Table) and getattr(_local, "skip_table_backup", False):
            return obj
        return copy.deepcopy(obj, memo)

    def __getattr__(self, name):
        return getattr(copy, name)


models.copy = _Copy()


def _all_conditions_hold(backend, transact_items):
    seen = set()
    for item in transact_items:
        if len(item) != 1:
            return False
        op_type, op = next(iter(item.items()))
        if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
            return False
        table_name = op.get("TableName")
        if table_name not in backend.tables:
            return False
        table = backend.get_table(table_name)
        if op_type == "Put":
            attrs = op["Item"]
            if table.hash_key_attr not in attrs:
                return False
            key = {table.hash_key_attr: attrs[table.hash_key_attr]}
            if table.range_key_attr is not None:
                if table.range_key_attr not in attrs:
                    return False
                key[table.range_key_attr] = attrs[table.range_key_attr]
        else:
            key = op["Key"]
        marker = (str(table_name), str(dict(sorted(key.items()))))
        if marker in seen:
            return False
        seen.add(marker)
        expression = op.get("ConditionExpression")
        if expression is not None:
            current = backend.get_item(table_name, key)
            condition = get_filter_expression(
                expression,
                op.get("ExpressionAttributeNames"),
                op.get("ExpressionAttributeValues"),
            )
            if not condition.expr(current):
                return False
    return True


# Every write holds this lock, so that no other write lands between a transaction's check and
# its writes (re-entrant: the transaction's own writes go through the same methods).
_lock = threading.RLock()


def _locked(method):
    def wrapper(*args, **kwargs):
        with _lock:
            return method(*args, **kwargs)

    return wrapper


for _name in ("put_item", "update_item", "delete_item", "batch_write_item"):
    if hasattr(models.DynamoDBBackend, _name):
        setattr(models.DynamoDBBackend, _name, _locked(getattr(models.DynamoDBBackend, _name)))


def transact_write_items(self, transact_items):
    with _lock:
        try:
            holds = _all_conditions_hold(self, transact_items)
        except Exception:
            holds = False
        _local.skip_table_backup = holds
        try:
            return _original(self, transact_items)
        finally:
            _local.skip_table_backup = False


models.DynamoDBBackend.transact_write_items = transact_write_items



# --- SQS ------------------------------------------------------------------------------------


def _unix_time(dt=None):
    return time.time() if dt is None else _original_unix_time(dt)


def _unix_time_millis(dt=None):
    return time.time() * 1000.0 if dt is None else _original_unix_time_millis(dt)


_original_unix_time = sqs_models.unix_time
_original_unix_time_millis = sqs_models.unix_time_millis
sqs_models.unix_time = _unix_time
sqs_models.unix_time_millis = _unix_time_millis

_COUNTS = (
    "approximate_number_of_messages",
    "approximate_number_of_messages_delayed",
    "approximate_number_of_messages_not_visible",
)


def _count_unless_skipped(prop):
    def getter(self):
        if getattr(_local, "skip_counts", False):
            return 0
        return prop.fget(self)

    return property(getter)


for _name in _COUNTS:
    setattr(sqs_models.Queue, _name, _count_unless_skipped(getattr(sqs_models.Queue, _name)))


def _without_counts(method):
    def wrapper(*args, **kwargs):
        outer = getattr(_local, "skip_counts", False)
        _local.skip_counts = True
        try:
            return method(*args, **kwargs)
        finally:
            _local.skip_counts = outer

    return wrapper


for _name in ("send_message", "is_message_valid_based_on_retention_period"):
    setattr(sqs_models.SQSBackend, _name, _without_counts(getattr(sqs_models.SQSBackend, _name)))

if __name__ == "__main__":
    sys.exit(main())
