#!/usr/bin/env python3
"""Renders a soak result (the JSON loadgen prints) as the Markdown of docs/reliability.md.

Usage: report.py SOAK.json --started WHEN --commit SHA [--write docs/reliability.md]

With --write, replaces the text between the `<!-- soak:begin -->` and `<!-- soak:end -->`
markers of the given file; otherwise prints the Markdown.
"""

import argparse
import json
import pathlib
import sys

BEGIN, END = "<!-- soak:begin -->", "<!-- soak:end -->"


def render(r, started, commit, command):
    wh, ro, rec = r["webhook"], r["router"], r["reconciliation"]
    rep = r.get("replies") or {}
    rr = rep.get("reconciliation", {})
    f = r.get("faults") or {}
    # The verdict is the reconciliation's: a push the platform stand-in gave up on after its
    # re-sends is a failure only if it was not stored (then it counts as lost).
    passed = rec["ok"] and rr.get("ok", True)
    lines = [
        f"Last soak: {started}, commit `{commit}`, `{command}` "
        f"({'**passed**' if passed else '**FAILED**'}).",
        "",
        "| | |",
        "|---|---|",
        f"| distinct messages sent | {r['messages']:,} in {r['conversations']:,} conversations "
        "(WeChat plaintext, secure, compatible and Weibo JSON, a quarter each) |",
        f"| duplicates injected | {r['retries_sent']:,} re-sends at the platforms' retry pattern "
        f"(every 10th message three more times), plus {wh['refused_then_retried']:,} platform "
        "re-sends of pushes answered 5xx |",
        f"| webhook requests | {wh['requests']:,}: {wh['ok']:,} acknowledged, "
        f"{wh['refused_then_retried']:,} refused (5xx: the emulator frozen, or too slow to answer within the webhook's 2 s) and re-sent, "
        f"{wh['errors']} never acknowledged after all re-sends"
        + (" (yet stored: see *lost* below)" if wh["errors"] and rec["lost"] == 0 else "")
        + f"; p50 {wh['latency_ms']['p50']:.1f} ms, p99 {wh['latency_ms']['p99']:.1f} ms |",
        f"| faults injected | {f.get('emulator_freezes', 0)} freezes of the AWS emulator "
        f"({f.get('emulator_frozen_s', 0):.0f} s frozen in all), "
        f"{f.get('platform_errors_scripted', 0)} bursts of transient platform errors |",
        f"| router | {r['router_instances']} instances; {ro['records_delivered']:,} records "
        f"delivered, {ro['records_failed']:,} reported failed and redelivered, "
        f"{ro['invocation_errors']} failed invocations; {ro['elapsed_s'] / 60:.0f} min |",
        f"| stored | {rec['stored_messages']:,} of {rec['expected_messages']:,} messages; "
        f"lost {rec['lost']}, duplicated {rec['duplicated']}, unexpected {rec['unexpected']}; "
        f"conversations with a wrong count {rec['conversations_with_wrong_inbound_count']} |",
        f"| inbound queue at the end | {rec['left_in_queue']} left, {rec['dead_lettered']} dead-lettered |",
    ]
    if rr:
        states = ", ".join(f"{k} {v:,}" for k, v in sorted(rr["records_by_state"].items()))
        lines += [
            f"| replies | {rr['commands']:,} reply commands; delivery records: {states}; "
            f"{rr['platform_sends_accepted']:,} sends accepted by the platform stand-ins, "
            f"{rr['platform_calls_refused']:,} calls refused (scripted errors) and retried |",
            f"| replies sent twice | {rr['sent_twice']} (delivered but never accepted: "
            f"{rr['delivered_but_never_accepted']}; commands without a record: "
            f"{rr['commands_without_record']}; stuck in flight: {rr['stuck_in_flight']}) |",
            f"| outbound queue at the end | {rr['left_in_queue']} left, {rr['dead_lettered']} dead-lettered |",
        ]
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("result")
    ap.add_argument("--started", required=True)
    ap.add_argument("--commit", required=True)
    ap.add_argument("--command", default="bash tools/soak/run.sh")
    ap.add_argument("--write")
    a = ap.parse_args()
    text = pathlib.Path(a.result).read_text().strip()
    if not text:
        sys.exit("soak produced no result (see its logs)")
    md = render(json.loads(text.splitlines()[-1]), a.started, a.commit, a.command)
    if not a.write:
        print(md)
        return
    doc = pathlib.Path(a.write)
    body = doc.read_text()
    if BEGIN not in body or END not in body:
        sys.exit(f"{doc} has no {BEGIN} ... {END} section")
    head, rest = body.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    doc.write_text(f"{head}{BEGIN}\n{md}\n{END}{tail}")
    print(f"wrote the soak figures into {doc}")


if __name__ == "__main__":
    main()
