#!/usr/bin/env python3
"""The WeChat webhook hot path done by the Python wechatpy library, for the ratio in
docs/benchmarks.md.

Reads the exact requests the Rust benches use (`instr fixture wechat_secure` and
`instr fixture wechat_plaintext`, JSON on the command line as files), and times per message:

* secure mode: check_signature + WeChatCrypto.decrypt_message (outer XML, msg_signature,
  AES-256-CBC, framing, app id) + parse_message, then json.dumps of the parsed message (the
  counterpart of serializing for SQS);
* plaintext mode: check_signature + parse_message + json.dumps.

wechatpy does less than the Rust path (no timestamp window, no DTD refusal, no dedupe id,
no normalized message), so the ratio flatters Python a little.

Usage: wechatpy_compare.py SECURE.json PLAINTEXT.json   (prints one JSON object)
Run it with the venv bench/run.sh creates (wechatpy==1.8.18, cryptography pinned there).
"""

import json
import platform
import sys
import timeit

import cryptography
import wechatpy
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.utils import check_signature


def secure_path(f):
    q = f["query"]
    crypto = WeChatCrypto(f["token"], f["encoding_aes_key"], f["app_id"])
    token, body = f["token"], f["body"]
    ts, nonce, sig, msg_sig = q["timestamp"], q["nonce"], q["signature"], q["msg_signature"]

    def once():
        check_signature(token, sig, ts, nonce)
        inner = crypto.decrypt_message(body, msg_sig, ts, nonce)
        msg = parse_message(inner)
        return json.dumps(msg._data, ensure_ascii=False)

    return once


def plaintext_path(f):
    q = f["query"]
    token, body = f["token"], f["body"]
    ts, nonce, sig = q["timestamp"], q["nonce"], q["signature"]

    def once():
        check_signature(token, sig, ts, nonce)
        msg = parse_message(body)
        return json.dumps(msg._data, ensure_ascii=False)

    return once


def per_message_us(fn, repeat=7, min_seconds=0.3):
    """Best of `repeat` runs, each long enough to be timed reliably, in microseconds."""
    timer = timeit.Timer(fn)
    number, _ = timer.autorange()
    number = max(number, int(number * min_seconds / 0.2))
    best = min(timer.repeat(repeat=repeat, number=number)) / number
    return best * 1e6, number


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    with open(sys.argv[1], encoding="utf-8") as fh:
        secure = json.load(fh)
    with open(sys.argv[2], encoding="utf-8") as fh:
        plain = json.load(fh)

    s_fn, p_fn = secure_path(secure), plaintext_path(plain)
    # Same input, same output: the decrypted message must be the Rust fixture's.
    parsed = json.loads(s_fn())
    assert parsed["MsgType"] == "text" and parsed["Content"], parsed
    assert json.loads(p_fn())["MsgId"] == parsed["MsgId"]

    s_us, s_n = per_message_us(s_fn)
    p_us, p_n = per_message_us(p_fn)
    print(json.dumps({
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "wechatpy": wechatpy.__version__,
        "cryptography": cryptography.__version__,
        "wechat_secure_us": s_us,
        "wechat_plaintext_us": p_us,
        "iterations": {"secure": s_n, "plaintext": p_n},
    }))


if __name__ == "__main__":
    main()
