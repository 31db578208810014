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


def mark(ok):
    return "yes" if ok else "**NO**"


def render(r, started, commit, command):
    wh, ro, rec = r["webhook"], r["router"], r["reconciliation"]
    rep = r.get("replies") or {}
    rr = rep.get("reconciliation", {})
    f = r.get("faults") or {}
    # The verdict is loadgen's: the conjunction of the checks listed below (with platform
    # re-sends, a push never acknowledged is a failure only if it was not stored).
    passed = r["ok"]
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
        f"{f.get('platform_error_bursts', 0)} bursts of transient platform errors scripted, "
        f"{f.get('platform_calls_refused_by_scripted_errors', 0)} platform calls refused by them; "
        f"{f.get('triggered_by_time', 0)} triggered by time (mean gap {f.get('mean_interval_s', 0):.0f} s), "
        f"{f.get('triggered_by_count', 0)} by count (every {f.get('per_messages', 0):,} pushes) |",
        f"| router | {r['router_instances']} instances; {ro['records_delivered']:,} records "
        f"delivered, {ro['records_failed']:,} reported failed and redelivered, "
        f"{ro['invocation_errors']} failed invocations; {ro['elapsed_s'] / 60:.0f} min |",
    ]
    if rr:
        states = ", ".join(f"{k} {v:,}" for k, v in sorted(rr["records_by_state"].items()))
        refused = ", ".join(f"{k} {v:,}" for k, v in sorted(rr["platform_calls_refused"].items()))
        lines += [
            f"| replies | {rr['commands']:,} reply commands; delivery records: {states}; "
            f"counted sent {rr['records_sent']:,}, not sent {rr['records_not_sent']:,}, "
            f"uncertain {rr['records_uncertain']:,}; {rr['platform_sends_accepted']:,} sends "
            f"accepted by the platform stand-ins; calls refused: {refused or 'none'} |",
        ]
    lines += [
        "",
        "| check | figures | holds |",
        "|---|---|---|",
        f"| every distinct message stored exactly once | {rec['stored_messages']:,} stored of "
        f"{rec['expected_messages']:,}; lost {rec['lost']}, duplicated {rec['duplicated']}, "
        f"unexpected {rec['unexpected']} | {mark(rec['lost'] == rec['duplicated'] == rec['unexpected'] == 0)} |",
        f"| every conversation's `inbound_count` equals its distinct messages | "
        f"{rec['conversations_with_wrong_inbound_count']} wrong | "
        f"{mark(rec['conversations_with_wrong_inbound_count'] == 0)} |",
        f"| inbound queue and its dead-letter queue empty | {rec['left_in_queue']} left, "
        f"{rec['dead_lettered']} dead-lettered | "
        f"{mark(rec['left_in_queue'] == rec['dead_lettered'] == 0)} |",
    ]
    if rr:
        unrecognised = sum(rr["records_unrecognised"].values())
        lines += [
            f"| per customer, sends accepted = replies recorded delivered (up to +1 per uncertain "
            f"reply) | sent twice {rr['sent_twice']}, delivered but never accepted "
            f"{rr['delivered_but_never_accepted']}, records of unknown state or reason "
            f"{unrecognised} | "
            f"{mark(rr['sent_twice'] == rr['delivered_but_never_accepted'] == unrecognised == 0)} |",
            f"| every reply command has a delivery record, none left in flight | "
            f"{rr['commands_without_record']} without, {rr['stuck_in_flight']} `calling`/`sent` | "
            f"{mark(rr['commands_without_record'] == rr['stuck_in_flight'] == 0)} |",
            f"| outbound queue and its dead-letter queue empty | {rr['left_in_queue']} left, "
            f"{rr['dead_lettered']} dead-lettered | "
            f"{mark(rr['left_in_queue'] == rr['dead_lettered'] == 0)} |",
        ]
    if f.get("required"):
        problems = f.get("problems", [])
        lines.append(
            f"| faults happened (runs of {f.get('required_from_messages', 500):,}+ messages): "
            f"at least one emulator freeze and one platform call refused by a scripted error | "
            f"{f.get('emulator_freezes', 0)} freezes, "
            f"{f.get('platform_calls_refused_by_scripted_errors', 0)} refused calls | "
            f"{mark(not problems)} |"
        )
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
