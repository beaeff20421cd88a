#!/usr/bin/env bash
# The checker at scale, as a user runs it: the whole `faultline check` process on synthetic histories,
# parsing included. Prints a Markdown table: history, verdict, median wall time of RUNS runs, and the
# largest peak resident memory of those runs (GNU time's %M).
#   scripts/bench-scale.sh [RUNS]        (default 5; needs /usr/bin/time, Debian package `time`)
# SMOKE=1 (CI's smoke run, .ci/smoke-scripts): the small histories only.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
cargo build --release -q
bin=target/release/faultline
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

cases=(
  "1,000,000 ops, 1,000 keys, 20 clients, 0.5% info writes|--ops 1000000 --keys 1000 --clients 20 --info-writes 0.005 --seed 1"
  "1,000,000 ops, 1,000 keys, 20 clients, 0.5% info writes, stale read|--ops 1000000 --keys 1000 --clients 20 --info-writes 0.005 --seed 1 --stale-read"
  "5,000 ops, 1 key, 50 clients|--ops 5000 --keys 1 --clients 50 --seed 2"
  "5,000 ops, 1 key, 50 clients, stale read|--ops 5000 --keys 1 --clients 50 --seed 2 --stale-read"
  "20,000 ops, 1 key, 20 clients, 1% info writes|--ops 20000 --keys 1 --clients 20 --info-writes 0.01 --seed 3"
  "20,000 ops, 1 key, 20 clients, 1% info writes, stale read|--ops 20000 --keys 1 --clients 20 --info-writes 0.01 --seed 3 --stale-read"
)
if [ -n "${SMOKE:-}" ]; then
  cases=("${cases[@]:2:2}")
fi
echo "| history (faultline synth) | file size | verdict | median wall time (s) | peak memory (MiB) |"
echo "|---|---:|---|---:|---:|"
for c in "${cases[@]}"; do
  name=${c%%|*}
  args=${c#*|}
  # shellcheck disable=SC2086
  "$bin" synth $args > "$dir/h.jsonl"
  size=$(du -m "$dir/h.jsonl" | cut -f1)
  times=()
  peak=0
  verdict=
  for _ in $(seq "$runs"); do
    set +e
    start=$(date +%s%N)
    /usr/bin/time -f "%M" -o "$dir/time" "$bin" check "$dir/h.jsonl" > "$dir/out"
    code=$?
    end=$(date +%s%N)
    set -e
    case $code in 0) verdict=valid ;; 1) verdict=invalid ;; 2) verdict=unknown ;; *) cat "$dir/out"; exit 1 ;; esac
    read -r kib < <(tail -n 1 "$dir/time")
    # Nanosecond clocks around the process: GNU time's %e has 10 ms steps, and small histories take less.
    secs=$(awk -v ns=$((end - start)) 'BEGIN { printf "%.3f", ns / 1e9 }')
    times+=("$secs")
    (( kib > peak )) && peak=$kib
  done
  median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  echo "| $name | ${size} MB | $verdict | $median | $((peak / 1024)) |"
done
