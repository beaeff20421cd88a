#!/usr/bin/env python3
"""Appends store buffering to a JSONL history: two new processes each write a key of their own, then read
the other's key and get the initial value (null). Each key is sequential alone, the whole is not; causal
consistency (CC, CM, CCv) still holds. Used to measure the checkers when sequential consistency fails in a
large, otherwise sequential history (README, performance).

    scripts/append-store-buffering.py IN.jsonl OUT.jsonl
"""
import json
import sys

if len(sys.argv) != 3:
    sys.exit(__doc__)
src, dst = sys.argv[1], sys.argv[2]
last = None
with open(src) as f, open(dst, "w") as out:
    for line in f:
        out.write(line)
        if line.strip():
            last = json.loads(line)
    if last is None:
        sys.exit(f"{src}: no events")
    index, time = last["index"] + 1, last.get("time", 0) + 1000
    for kind, process, f_, key, value in [
        ("invoke", 900001, "write", "sb-x", 1),
        ("invoke", 900002, "write", "sb-y", 1),
        ("ok", 900001, "write", "sb-x", 1),
        ("ok", 900002, "write", "sb-y", 1),
        ("invoke", 900001, "read", "sb-y", None),
        ("invoke", 900002, "read", "sb-x", None),
        ("ok", 900001, "read", "sb-y", None),
        ("ok", 900002, "read", "sb-x", None),
    ]:
        event = {"index": index, "time": time, "type": kind, "process": process, "f": f_, "key": key, "value": value}
        out.write(json.dumps(event) + "\n")
        index, time = index + 1, time + 1000
