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
# The last event first: a malformed history is refused, naming the line, before OUT is written.
last = None
with open(src) as f:
    for number, line in enumerate(f, 1):
        if line.strip():
            try:
                last = json.loads(line)
            except ValueError as e:
                sys.exit(f"{src}:{number}: not a JSON event: {e}")
if not isinstance(last, dict) or not isinstance(last.get("index"), int):
    sys.exit(f"{src}: no events, or the last has no integer index")
with open(src) as f, open(dst, "w") as out:
    out.writelines(f)
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
