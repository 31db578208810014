#!/usr/bin/env python3
"""moto's server for the soak and the load run, with two of moto's per-request costs that grow
with the data made independent of it (both change how long moto takes, never what it answers),
and one race fixed.

DynamoDB: moto (5.2.5) deep-copies every table a TransactWriteItems touches, once per
operation, before applying it, so that it can roll back when an operation fails; with the tens
of thousands of items a soak stores, each router commit then costs copies of the whole table
(hundreds of megabytes at a time, seconds each), and the run slows quadratically. This wrapper
skips those table copies and instead keeps a copy of just the items the transaction names
(one per operation, taken before it runs); when moto refuses the transaction, whatever the
reason, its own rollback becomes a no-op and the wrapper puts those items back as they were.
Every DynamoDB write holds one lock, so nothing else writes while a transaction runs or is
undone. Refusals and their reasons are still moto's own.

SQS: moto reads a queue's attribute map, whose three ApproximateNumberOfMessages* counts walk
every message in the queue with two datetime conversions per message, up to three times per
SendMessage (to read ContentBasedDeduplication, in `send_message` and its validation) and
three more per message received (to read MessageRetentionPeriod). With the backlog a load run
builds, each send then costs a walk of the whole queue and the run slows quadratically. Those
two readers never look at the counts, so while they run the counts read as 0; everywhere else
(GetQueueAttributes) they are counted as moto counts them. And moto's SQS clock, `unix_time()`,
is `time.time()` computed through two datetime objects; it is replaced by `time.time()`, the
same value.

One fix, which changes what moto answers, as AWS would: moto's DeleteMessage rebuilds the
queue's message list without the lock that SendMessage appends under, so a message sent while
another is being deleted can vanish after its send was acknowledged (a lost message under
concurrent producers and consumers; reproduced at 1 in 3,000 with four of each). The wrapper
makes DeleteMessage take that lock.

Everything else is the pinned moto, started as `moto_server` is.

Used by every local stack (tools/stack.sh: `make test`, `make up`, the soak and the load run);
tools/moto_server_check.py compares it with the unmodified `moto_server`.
"""

import copy
import sys
import threading
import time

from moto.dynamodb import models
from moto.dynamodb.models.dynamo_type import DynamoType
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


def _touched_items(backend, transact_items):
    """(table, hash key, range key) of every item the transaction names, where moto could
    write it: an operation whose key cannot be read is refused by moto before any write."""
    touched = []
    for entry in transact_items:
        if not isinstance(entry, dict) or len(entry) != 1:
            continue
        op_type, op = next(iter(entry.items()))
        if not isinstance(op, dict) or op.get("TableName") not in backend.tables:
            continue
        table = backend.tables[op["TableName"]]
        attrs = op.get("Item") if op_type == "Put" else op.get("Key")
        if not isinstance(attrs, dict) or table.hash_key_attr not in attrs:
            continue
        if table.range_key_attr is not None and table.range_key_attr not in attrs:
            continue
        try:
            hash_key = DynamoType(attrs[table.hash_key_attr])
            range_key = (
                DynamoType(attrs[table.range_key_attr])
                if table.range_key_attr is not None
                else None
            )
        except Exception:
            continue
        touched.append((table, hash_key, range_key))
    return touched


def _put_back(table, hash_key, range_key, item):
    """Puts an item back as it was before the transaction (absent when `item` is None)."""
    if range_key is None:
        if item is None:
            table.items.pop(hash_key, None)
        else:
            table.items[hash_key] = item
        return
    if item is None:
        group = table.items.get(hash_key)
        if group is not None:
            group.pop(range_key, None)
            if not group:
                del table.items[hash_key]
    else:
        table.items[hash_key][range_key] = item


# Every write holds this lock, so that nothing else writes while a transaction runs and while
# it is undone (re-entrant: the transaction's own writes go through the same methods).
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
        before = []
        for table, hash_key, range_key in _touched_items(self, transact_items):
            try:
                current = table.get_item(hash_key, range_key)
            except Exception:
                continue
            before.append((table, hash_key, range_key, copy.deepcopy(current)))
        _local.skip_table_backup = True
        try:
            return _original(self, transact_items)
        except BaseException:
            # moto's own rollback restored its (skipped) table copies; restore the items.
            for table, hash_key, range_key, item in reversed(before):
                _put_back(table, hash_key, range_key, item)
            raise
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

_original_delete_message = sqs_models.Queue.delete_message


def _delete_message(self, receipt_handle):
    with self._messages_lock:
        return _original_delete_message(self, receipt_handle)


sqs_models.Queue.delete_message = _delete_message

if __name__ == "__main__":
    sys.exit(main())
