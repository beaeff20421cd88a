#!/usr/bin/env bash
# Jepsen EDN import at scale: the whole `faultline check` process on a 1M-operation register history
# (1,000 keys, 20 clients, 0.5% info writes; `faultline synth`, converted to Jepsen EDN with
# jepsen.independent [key value] tuples by scripts/jsonl-to-edn.py), beside the same history as JSONL and
# Porcupine on the same EDN (../shared/peers/porcupine/bench.sh, kind edn-keyed-register) in the same run.
# Prints a Markdown table: median wall time and median peak resident memory (GNU time) of RUNS runs.
#   scripts/bench-edn.sh [RUNS]        (default 5; needs /usr/bin/time, python3, and Go for Porcupine)
# SMOKE=1 (CI's smoke run, .ci/smoke-scripts): 20,000 operations on 20 keys instead.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
cargo build --release -q
bin=target/release/faultline
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
if [ -n "${SMOKE:-}" ]; then ops=20000 keys=20; else ops=1000000 keys=1000; fi
"$bin" synth --ops "$ops" --keys "$keys" --clients 20 --info-writes 0.005 --seed 1 > "$dir/h.jsonl"
python3 scripts/jsonl-to-edn.py < "$dir/h.jsonl" > "$dir/h.edn"

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "| input | file size | faultline verdict | median wall time (s) | median user+sys CPU (s) | median peak memory (MiB) |"
echo "|---|---:|---|---:|---:|---:|"
for f in h.edn h.jsonl; do
  : > "$dir/times"
  for _ in $(seq "$runs"); do
    set +e
    /usr/bin/time -f "%e %U %S %M" -o "$dir/time" "$bin" check "$dir/$f" > "$dir/out"
    code=$?
    set -e
    case $code in 0) verdict=valid ;; 1) verdict=invalid ;; 2) verdict=unknown ;; *) cat "$dir/out"; exit 1 ;; esac
    tail -n 1 "$dir/time" >> "$dir/times"
  done
  wall=$(awk '{print $1}' "$dir/times" | median)
  cpu=$(awk '{printf "%.2f\n", $2 + $3}' "$dir/times" | median)
  mem=$(awk '{print int($4 / 1024)}' "$dir/times" | median)
  echo "| $f | $(du -m "$dir/$f" | cut -f1) MB | $verdict | $wall | $cpu | $mem |"
done

porcupine=../shared/peers/porcupine/bench.sh
if [ -x "$porcupine" ]; then
  : > "$dir/ptimes"
  for _ in $(seq "$runs"); do
    /usr/bin/time -f "%e %U %S %M" -o "$dir/time" "$porcupine" -n 1 "$dir/h.edn:edn-keyed-register" > "$dir/pout"
    tail -n 1 "$dir/time" >> "$dir/ptimes"
  done
  # ZZ file kind expected verdict events runs parse_ms check_ms total_ms ...
  read -r verdict parse check total < <(awk '$1 == "ZZ" {print $5, $8, $9, $10}' "$dir/pout")
  wall=$(awk '{print $1}' "$dir/ptimes" | median)
  cpu=$(awk '{printf "%.2f\n", $2 + $3}' "$dir/ptimes" | median)
  mem=$(awk '{print int($4 / 1024)}' "$dir/ptimes" | median)
  echo "| h.edn, Porcupine (whole process; last run: parse ${parse} ms + check ${check} ms) | $(du -m "$dir/h.edn" | cut -f1) MB | $verdict | $wall | $cpu | $mem |"
else
  echo "(Porcupine's bench.sh not found at $porcupine: no Porcupine row)" >&2
fi
