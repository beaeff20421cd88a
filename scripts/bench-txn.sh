#!/usr/bin/env bash
# The transactional checker at scale, as a user runs it: the whole `faultline check` process (parsing
# included) on synthetic list-append histories (10 active keys, 32 appends per key, 1% fail, 1% info),
# checked for strict serializability. Prints a Markdown table: transactions, file size, verdict, wall time,
# CPU time (user + system: less sensitive than wall time to a busy machine), peak resident memory (GNU
# time's %M), and the largest strongly connected component. The last rows plant a stale read that makes
# one component of nearly the whole history, which must be decided with a concrete cycle.
#   scripts/bench-txn.sh [SIZES...]      (default 100000 250000 500000 1000000 2000000 4000000)
# SMOKE=1 (CI's smoke run, .ci/smoke-scripts): 50,000 transactions, valid and with a stale read.
# Wall time is taken around the process with nanosecond clocks (GNU time's %e has 10 ms steps); a history
# with no cycle has no strongly connected component of two or more: "none".
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("${@:-100000 250000 500000 1000000 2000000 4000000}")
# shellcheck disable=SC2206
sizes=(${sizes[*]})
cargo build --release -q -p faultline
bin=target/release/faultline
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

row() { # label, synth args...
  local label=$1
  shift
  "$bin" synth --workload list-append --keys 10 --max-writes-per-key 32 --clients 10 --fail 0.01 --info 0.01 "$@" > "$dir/h.jsonl"
  local size code verdict
  size=$(du -m "$dir/h.jsonl" | cut -f1)
  set +e
  local start end
  start=$(date +%s%N)
  /usr/bin/time -f "%U %S %M" -o "$dir/time" "$bin" check --json "$dir/h.jsonl" > "$dir/out"
  code=$?
  end=$(date +%s%N)
  set -e
  case $code in 0) verdict=valid ;; 1) verdict=invalid ;; 2) verdict=unknown ;; *) cat "$dir/out"; exit 1 ;; esac
  read -r user sys kib < <(tail -n 1 "$dir/time")
  local wall
  wall=$(awk -v ns=$((end - start)) 'BEGIN { printf "%.3f", ns / 1e9 }')
  local scc cycle
  scc=$(grep -o '"largest_component":[0-9]*' "$dir/out" | cut -d: -f2)
  [ "${scc:-0}" -gt 1 ] || scc=none
  cycle=$(grep -o '"name":"G[^"]*"' "$dir/out" | head -1 | cut -d'"' -f4 || true)
  printf '| %s | %s | %s%s | %s | %.2f | %d | %s |\n' "$label" "$size" "$verdict" "${cycle:+ ($cycle)}" "$wall" \
    "$(echo "$user + $sys" | bc)" $((kib / 1024)) "$scc"
}

echo "| history (transactions) | file (MB) | verdict | wall (s) | CPU (s) | peak memory (MiB) | largest SCC |"
echo "|---|---:|---|---:|---:|---:|---:|"
stale=(100000 1000000)
if [ -n "${SMOKE:-}" ]; then
  sizes=(50000)
  stale=(50000)
fi
for n in "${sizes[@]}"; do
  row "$(printf "%'d" "$n")" --ops "$n" --seed 1
done
for n in "${stale[@]}"; do
  row "$(printf "%'d" "$n"), stale read" --ops "$n" --seed 1 --stale-read
done
