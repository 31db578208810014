#!/usr/bin/env python3
"""Checks that tools/moto_server.py answers exactly as the pinned `moto_server` does.

The load run and the soak use the wrapper; their figures are only worth something if it
changes moto's speed and nothing else. This starts both servers on free 127.0.0.1 ports, plays
the same script of DynamoDB transactions (committed, refused by a condition at the first, last
and a middle operation with earlier writes to undo, refused for naming an item twice, refused
on a key of the wrong type) and SQS calls (FIFO sends with duplicates, group ordering,
receives, visibility, deletes, queue attributes with their message counts, refusals) against
each, and compares every answer and the table and queue contents after each step, with the
random parts (message ids, receipt handles, timestamps) normalized. Then it sends messages from
four threads while four others receive and delete them, against the wrapper alone: moto's
DeleteMessage races SendMessage and loses some; the wrapper must lose none. Exits 1 on any
difference or loss.

    python3 tools/moto_server_check.py [WRAPPER]   # WRAPPER: another copy to check
"""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import boto3

HERE = os.path.dirname(os.path.abspath(__file__))
RANDOM_KEYS = {
    "MessageId",
    "ReceiptHandle",
    "SentTimestamp",
    "ApproximateFirstReceiveTimestamp",
    "SequenceNumber",
    "CreatedTimestamp",
    "LastModifiedTimestamp",
    "RequestId",
    "HTTPHeaders",
    "HostId",
    "date",
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(command, port):
    process = subprocess.Popen(
        command + ["-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=1)
            return process
        except Exception:
            if process.poll() is not None:
                sys.exit(f"{command[0]} exited with {process.returncode}")
            time.sleep(0.2)
    process.kill()
    sys.exit(f"{command[0]} did not start")


def normalize(value):
    if isinstance(value, dict):
        return {k: normalize(v) for k, v in sorted(value.items()) if k not in RANDOM_KEYS}
    if isinstance(value, list):
        return [normalize(v) for v in value]
    if isinstance(value, bytes):
        return value.decode()
    return value


def call(fn, **kwargs):
    try:
        answer = fn(**kwargs)
        answer.pop("ResponseMetadata", None)
        return {"ok": normalize(answer)}
    except Exception as e:  # the refusal is part of the answer
        response = getattr(e, "response", None)
        if response is None:
            return {"error": type(e).__name__}
        response.pop("ResponseMetadata", None)
        return {"error": normalize(response)}


def item(pk, sk, **numbers):
    out = {"pk": {"S": pk}, "sk": {"S": sk}}
    out.update({k: {"N": str(v)} for k, v in numbers.items()})
    return out


def key(pk, sk):
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def dynamodb_script(ddb):
    steps = []

    def table():
        items = ddb.scan(TableName="t")["Items"]
        return sorted(json.dumps(i, sort_keys=True) for i in items)

    def tx(*ops):
        steps.append(call(ddb.transact_write_items, TransactItems=list(ops)))
        steps.append(table())

    ddb.create_table(
        TableName="t",
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    inc = {":one": {"N": "1"}}
    # Committed, then refused by its last operation after two writes.
    tx({"Put": {"TableName": "t", "Item": item("a", "1", n=1)}},
       {"Put": {"TableName": "t", "Item": item("b", "1", n=1)}})
    tx({"Put": {"TableName": "t", "Item": item("c", "1", n=1)}},
       {"Update": {"TableName": "t", "Key": key("a", "1"), "UpdateExpression": "SET n = n + :one",
                   "ExpressionAttributeValues": inc}},
       {"Put": {"TableName": "t", "Item": item("b", "1", n=5),
                "ConditionExpression": "attribute_not_exists(pk)",
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}})
    # Refused by its first operation; the later ones are applied by moto, then undone.
    tx({"ConditionCheck": {"TableName": "t", "Key": key("a", "1"), "ConditionExpression": "n = :x",
                           "ExpressionAttributeValues": {":x": {"N": "7"}}}},
       {"Delete": {"TableName": "t", "Key": key("b", "1")}},
       {"Put": {"TableName": "t", "Item": item("a", "2", n=1)}})
    # Refused in the middle, with a new item in a new partition before it.
    tx({"Put": {"TableName": "t", "Item": item("e", "9", n=1)}},
       {"Delete": {"TableName": "t", "Key": key("zz", "1"), "ConditionExpression": "attribute_exists(pk)"}},
       {"Update": {"TableName": "t", "Key": key("b", "1"), "UpdateExpression": "REMOVE n"}})
    # The same item twice.
    tx({"Put": {"TableName": "t", "Item": item("d", "1", n=1)}},
       {"Put": {"TableName": "t", "Item": item("a", "1", n=9)}},
       {"Delete": {"TableName": "t", "Key": key("a", "1")}})
    # A key of the wrong type after a write.
    tx({"Put": {"TableName": "t", "Item": item("f", "1", n=1)}},
       {"Put": {"TableName": "t", "Item": {"pk": {"N": "1"}, "sk": {"S": "1"}}}})
    # Committed with conditions, then plain writes beside the transactions.
    tx({"Update": {"TableName": "t", "Key": key("a", "1"), "UpdateExpression": "SET n = n + :one",
                   "ConditionExpression": "n = :x",
                   "ExpressionAttributeValues": {":one": {"N": "1"}, ":x": {"N": "1"}}}},
       {"Delete": {"TableName": "t", "Key": key("b", "1"), "ConditionExpression": "attribute_exists(pk)"}})
    steps.append(call(ddb.put_item, TableName="t", Item=item("g", "1", n=1),
                      ConditionExpression="attribute_not_exists(pk)"))
    steps.append(call(ddb.put_item, TableName="t", Item=item("g", "1", n=2),
                      ConditionExpression="attribute_not_exists(pk)"))
    steps.append(table())
    return steps


def sqs_script(sqs):
    steps = []
    url = sqs.create_queue(QueueName="q.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    std = sqs.create_queue(QueueName="q")["QueueUrl"]

    def attrs():
        steps.append(call(sqs.get_queue_attributes, QueueUrl=url, AttributeNames=["All"]))
        steps.append(call(sqs.get_queue_attributes, QueueUrl=url,
                          AttributeNames=["ApproximateNumberOfMessages",
                                          "ApproximateNumberOfMessagesNotVisible"]))

    for i, (group, dedupe) in enumerate([("g1", "d1"), ("g1", "d2"), ("g2", "d3"), ("g1", "d1")]):
        steps.append(call(sqs.send_message, QueueUrl=url, MessageBody=f"m{i}",
                          MessageGroupId=group, MessageDeduplicationId=dedupe))
    steps.append(call(sqs.send_message, QueueUrl=url, MessageBody="no group"))
    steps.append(call(sqs.send_message, QueueUrl=url, MessageBody="no dedupe", MessageGroupId="g1"))
    steps.append(call(sqs.send_message, QueueUrl=url, MessageBody="delayed", MessageGroupId="g1",
                      MessageDeduplicationId="d9", DelaySeconds=5))
    steps.append(call(sqs.send_message, QueueUrl=std, MessageBody="x" * 262_145))
    steps.append(call(sqs.send_message, QueueUrl=std, MessageBody="later", DelaySeconds=30))
    steps.append(call(sqs.get_queue_attributes, QueueUrl=std, AttributeNames=["All"]))
    attrs()
    first = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, VisibilityTimeout=30,
                                AttributeNames=["All"])
    steps.append(normalize(first.get("Messages", [])))
    # g1 is in flight: only g2 comes next.
    steps.append(call(sqs.receive_message, QueueUrl=url, MaxNumberOfMessages=10,
                      AttributeNames=["All"]))
    attrs()
    handle = first["Messages"][0]["ReceiptHandle"]
    steps.append(call(sqs.change_message_visibility, QueueUrl=url, ReceiptHandle=handle,
                      VisibilityTimeout=0))
    again = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"])
    steps.append(normalize(again.get("Messages", [])))
    for m in again.get("Messages", []):
        steps.append(call(sqs.delete_message, QueueUrl=url, ReceiptHandle=m["ReceiptHandle"]))
    steps.append(call(sqs.delete_message, QueueUrl=url, ReceiptHandle="not-a-handle"))
    attrs()
    return steps


def concurrent_send_and_delete(port, backlog=5000, messages=1500):
    """Four producers send while four consumers receive and delete: every message sent must be
    received. Unmodified moto loses some (its DeleteMessage races SendMessage); the wrapper must
    lose none. Returns the bodies never received."""
    import threading

    def client():
        return boto3.client("sqs", region_name="us-east-1", aws_access_key_id="check",
                            aws_secret_access_key="check", endpoint_url=f"http://127.0.0.1:{port}")

    sqs = client()
    url = sqs.create_queue(QueueName="race.fifo", Attributes={
        "FifoQueue": "true", "VisibilityTimeout": "120"})["QueueUrl"]
    # A backlog in groups the consumers never get to (one message each, all in flight), so
    # that every delete walks a long list.
    for start in range(0, backlog, 10):
        sqs.send_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "MessageBody": "backlog", "MessageGroupId": "backlog",
             "MessageDeduplicationId": f"b{start + i}"} for i in range(10)])
    sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1)  # holds the backlog's group
    seen, lock, sent_all = set(), threading.Lock(), threading.Event()

    def produce(k):
        c = client()
        for i in range(k, messages, 4):
            c.send_message(QueueUrl=url, MessageBody=f"m{i}", MessageGroupId=f"g{i % 100}",
                           MessageDeduplicationId=f"m{i}")

    def consume():
        c, idle = client(), 0
        while idle < 3:
            batch = c.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            if not batch:
                idle += sent_all.is_set()
                time.sleep(0.2)
                continue
            idle = 0
            with lock:
                seen.update(m["Body"] for m in batch)
            c.delete_message_batch(QueueUrl=url, Entries=[
                {"Id": str(j), "ReceiptHandle": m["ReceiptHandle"]} for j, m in enumerate(batch)])

    producers = [threading.Thread(target=produce, args=(k,)) for k in range(4)]
    consumers = [threading.Thread(target=consume) for _ in range(4)]
    for t in producers + consumers:
        t.start()
    for t in producers:
        t.join()
    sent_all.set()
    for t in consumers:
        t.join()
    return [f"m{i}" for i in range(messages) if f"m{i}" not in seen]


def run(port):
    endpoint = f"http://127.0.0.1:{port}"
    session = dict(region_name="us-east-1", aws_access_key_id="check", aws_secret_access_key="check",
                   endpoint_url=endpoint)
    return {
        "dynamodb": dynamodb_script(boto3.client("dynamodb", **session)),
        "sqs": sqs_script(boto3.client("sqs", **session)),
    }


def main():
    servers = {
        "moto_server": ["moto_server"],
        "tools/moto_server.py": [sys.executable, sys.argv[1] if len(sys.argv) > 1
                                 else os.path.join(HERE, "moto_server.py")],
    }
    answers = {}
    for name, command in servers.items():
        port = free_port()
        process = start(command, port)
        try:
            answers[name] = run(port)
            if name != "moto_server":
                lost = concurrent_send_and_delete(port)
        finally:
            process.terminate()
            process.wait(timeout=10)
    if lost:
        print(f"tools/moto_server.py lost {len(lost)} messages sent during deletes: {lost[:5]}")
        return 1
    print("tools/moto_server.py lost no message sent during deletes (4 producers, 4 consumers)")
    a, b = (json.dumps(v, indent=1, sort_keys=True, default=str).splitlines() for v in answers.values())
    steps = sum(len(v) for v in answers["moto_server"].values())
    if a != b:
        import difflib

        sys.stdout.writelines(line + "\n" for line in difflib.unified_diff(a, b, *servers, lineterm=""))
        print(f"tools/moto_server.py answers differently from moto_server ({steps} steps)")
        return 1
    print(f"tools/moto_server.py answers exactly as moto_server does ({steps} steps compared)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
