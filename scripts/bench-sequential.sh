#!/usr/bin/env bash
# Sequential consistency on real runs: the reference cluster's `sequential` mode with pinned clients and
# the default faults and mix (reads, writes, cas), 20 s and 60 s, checked by `faultline check
# --consistency all --json`. Prints a Markdown table: the run, operations checked, failed cas, the verdict
# and method, the median of RUNS checks of the ladder's `sequential` elapsed_ms, and the median wall time
# of the whole check process.
#   scripts/bench-sequential.sh [RUNS] [SEEDS] [KEEP]   (default 3 runs; seeds "7 8")
# Records each run first (20 s + 60 s of cluster time per seed, on loopback); needs python3 for the JSON.
# SMOKE=1 (CI's smoke run, .ci/smoke-scripts): one 3 s run per seed instead.
# A seed does not fix the cluster's timing, so each recording is a new history. With KEEP (a folder), the
# histories are kept there, and a history already there is checked again instead of recorded: the way to
# compare two versions of the checker on the same histories.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
seeds=${2:-7 8}
cargo build --release -q
bin=target/release/faultline
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
keep=${3:-}
if [ -n "$keep" ]; then
  mkdir -p "$keep"
fi

limits="20s 60s"
if [ -n "${SMOKE:-}" ]; then limits=3s; fi

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "| run (faultline test --store-mode sequential --pin-clients ...) | operations checked | cas answered fail | sequential consistency | check ms, median | whole check s, median |"
echo "|---|---:|---:|---|---:|---:|"
for seed in $seeds; do
  for limit in $limits; do
    kept="${keep:+$keep/sequential-$seed-$limit.jsonl}"
    if [ -n "$kept" ] && [ -s "$kept" ]; then
      history=$kept
    else
      store="$dir/store-$seed-$limit"
      "$bin" test --store-mode sequential --pin-clients --time-limit "$limit" --seed "$seed" --store "$store" \
        > "$dir/run.log" 2>&1 || true
      history=$(find "$store" -name history.jsonl | head -n 1)
      if [ -z "$history" ]; then
        cat "$dir/run.log"
        exit 1
      fi
      if [ -n "$kept" ]; then
        cp "$history" "$kept"
        history=$kept
      fi
    fi
    failed=$(grep '"f":"cas"' "$history" | grep -c '"type":"fail"' || true)
    ms=()
    secs=()
    for _ in $(seq "$runs"); do
      start=$(date +%s%N)
      "$bin" check --consistency all --json "$history" > "$dir/out.json" || true
      end=$(date +%s%N)
      secs+=("$(awk -v ns=$((end - start)) 'BEGIN {printf "%.2f", ns / 1e9}')")
      read -r verdict method elapsed ops < <(python3 - "$dir/out.json" <<'EOF'
import json, sys
f = json.load(open(sys.argv[1]))["files"][0]
s = f["ladder"]["sequential"]
print(s.get("verdict"), s.get("method", "-"), round(s.get("elapsed_ms", 0), 1), f.get("operations", "-"))
EOF
      )
      ms+=("$elapsed")
    done
    echo "| --time-limit $limit --seed $seed | $ops | $failed | $verdict ($method) | $(printf '%s\n' "${ms[@]}" | median) | $(printf '%s\n' "${secs[@]}" | median) |"
  done
done
