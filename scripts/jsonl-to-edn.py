#!/usr/bin/env python3
"""Converts a faultline JSONL register history (stdin) to Jepsen EDN (stdout), one op map per line, as
Jepsen writes history.edn. Keyed ops become jepsen.independent tuples: :value [key value]."""
import json
import sys


def edn(v):
    if v is None:
        return "nil"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + " ".join(edn(x) for x in v) + "]"
    raise ValueError(f"no EDN for {v!r}")


out = sys.stdout
for line in sys.stdin:
    if not line.strip():
        continue
    e = json.loads(line)
    value = e.get("value")
    if "key" in e and e["process"] != "nemesis":
        value = [e["key"], value]
    process = ":nemesis" if e["process"] == "nemesis" else str(e["process"])
    fields = [f":type :{e['type']}", f":f :{e['f']}", f":value {edn(value)}", f":process {process}"]
    if "time" in e:
        fields.append(f":time {e['time']}")
    fields.append(f":index {e['index']}")
    if "error" in e:
        fields.append(f":error {edn(e['error'])}")
    out.write("{" + ", ".join(fields) + "}\n")
