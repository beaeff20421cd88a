#!/usr/bin/env bash
# faultline and Porcupine side by side on the Porcupine corpus, in the same run. For every file: faultline's
# whole `faultline check` process (parse, verdict, explanation, report; median wall time of RUNS runs) with
# the default threads and with --threads 1, its CPU time, and Porcupine's parse + check of the same file
# (medians from ../shared/peers/porcupine/bench.sh, Porcupine's own CheckEventsTimeout in one Go process, so
# without a process start). Then all files in one faultline process (median, peak resident memory) against
# the sum of Porcupine's per-file times, and kv/c50-bad.txt with --all-keys (every key decided). Prints
# Markdown tables, and names the files over each limit.
#   scripts/bench-porcupine.sh [RUNS] [CORPUS]   (default 5 and ../shared/corpus/porcupine; needs Go for
#                                                 Porcupine, python3, /usr/bin/time for memory)
# SMOKE=1 (CI's smoke run, .ci/smoke-scripts): the first 3 files of the corpus, and c50-bad.txt.
# On a machine shared with other work, `chrt -f 10 scripts/bench-porcupine.sh 11` (root) runs both tools
# ahead of it, alike: there, a 2 ms process otherwise spends most of its wall time waiting for a core.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
corpus=${2:-../shared/corpus/porcupine}
peer=${PORCUPINE_BENCH:-../shared/peers/porcupine/bench.sh}
cargo build --release -q
bin=target/release/faultline
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

mapfile -t files < <(tail -n +2 "$corpus/EXPECTED.tsv" | cut -f1)
if [ -n "${SMOKE:-}" ]; then
  files=("${files[@]:0:3}")
fi
paths=()
for f in "${files[@]}"; do paths+=("$corpus/$f"); done

# Porcupine: one line per file, "ZZ file kind expected verdict events runs parse_ms check_ms total_ms ...".
"$peer" -n "$runs" "${paths[@]}" > "$dir/porcupine"

median() { tr ' ' '\n' | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

# One run of `faultline check ARGS...`: prints its wall time in ms; its verdict (from the exit code) goes to
# $dir/verdict.
once_ms() {
  local start end code
  start=$EPOCHREALTIME
  set +e
  "$bin" check "$@" > /dev/null
  code=$?
  set -e
  end=$EPOCHREALTIME
  case $code in 0) echo valid ;; 1) echo invalid ;; 2) echo unknown ;; *) echo "faultline failed on $*" >&2; exit 1 ;; esac > "$dir/verdict"
  awk -v a="$start" -v b="$end" 'BEGIN {printf "%.2f", (b - a) * 1000}'
}

# Median wall time in ms of RUNS runs of `faultline check ARGS...`.
wall_ms() {
  local times=()
  for _ in $(seq "$runs"); do times+=("$(once_ms "$@")"); done
  echo "${times[*]}" | median
}

# RUNS runs of the default threads and of --threads 1, taking turns so that the machine's load falls on both
# alike: "verdict, median wall ms, median wall ms with --threads 1, median CPU ms (user + system)". The CPU
# time is the process's own work, which the machine's other load does not lengthen.
measure() {
  python3 - "$runs" "$bin" "$1" <<'PY'
import os, statistics, subprocess, sys, time
runs, bin, path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
verdicts = {0: "valid", 1: "invalid", 2: "unknown"}
walls, walls1, cpus = [], [], []
for run in range(runs):
    # Which goes first alternates too: where in a round a run falls changes its wall time here.
    turns = [([], walls), (["--threads", "1"], walls1)]
    for extra, wall in turns if run % 2 == 0 else turns[::-1]:
        start = time.perf_counter()
        child = subprocess.Popen([bin, "check", *extra, path], stdout=subprocess.DEVNULL)
        _, status, usage = os.wait4(child.pid, 0)
        wall.append((time.perf_counter() - start) * 1e3)
        code = os.waitstatus_to_exitcode(status)
        if code not in verdicts:
            sys.exit(f"faultline failed on {path}")
        if not extra:
            cpus.append((usage.ru_utime + usage.ru_stime) * 1e3)
print(verdicts[code], *(f"{statistics.median(v):.2f}" for v in (walls, walls1, cpus)))
PY
}

echo "| file | expected | faultline | faultline (ms) | --threads 1 (ms) | faultline CPU (ms) | Porcupine parse + check (ms) |"
echo "|---|---|---|---:|---:|---:|---:|"
slower=()
slower_t1=()
for f in "${files[@]}"; do
  expected=$(awk -F'\t' -v f="$f" '$1 == f {print $3}' "$corpus/EXPECTED.tsv")
  p=$(awk -v f="$(realpath "$corpus/$f")" '$2 == f {print $10}' "$dir/porcupine")
  read -r got ms ms1 cpu < <(measure "$corpus/$f")
  # A process start is allowed 5 ms; Porcupine's times are inside one Go process.
  awk -v a="$ms" -v p="$p" 'BEGIN {exit !(a > p + 5)}' && slower+=("$f")
  awk -v a="$ms" -v b="$ms1" 'BEGIN {exit !(a > b + 1)}' && slower_t1+=("$f")
  echo "| $f | $expected | $got | $ms | $ms1 | $cpu | $p |"
done

all=$(wall_ms "${paths[@]}")
/usr/bin/time -f "%M" -o "$dir/mem" "$bin" check "${paths[@]}" > /dev/null || true
peak=$(( $(tail -n 1 "$dir/mem") / 1024 ))
sum=$(awk '$1 == "ZZ" {s += $10} END {printf "%.1f", s}' "$dir/porcupine")
echo
echo "| all ${#files[@]} files | faultline, one process (ms) | peak memory (MiB) | Porcupine, sum of per-file parse + check (ms) | ratio |"
echo "|---|---:|---:|---:|---:|"
echo "| $(basename "$corpus") | $all | $peak | $sum | $(awk -v a="$all" -v s="$sum" 'BEGIN {printf "%.1fx", s / a}') |"

# Every key of c50-bad decided (Porcupine runs out of memory on two of them): the time, and the keys.
bad=$corpus/kv/c50-bad.txt
if [ -f "$bad" ]; then
  keys_ms=$(wall_ms --all-keys "$bad")
  decided=$("$bin" check --all-keys --json "$bad" | python3 -c '
import json, sys
lin = json.load(sys.stdin)["files"][0]["linearizability"]
unknown = sum(p["verdict"] == "unknown" for p in lin["problems"])
print(lin["keys"] - unknown, "of", lin["keys"])' || true)
  echo
  echo "| kv/c50-bad.txt --all-keys | faultline (ms) | keys decided |"
  echo "|---|---:|---:|"
  echo "| every key | $keys_ms | $decided |"
fi

echo
echo "Files where faultline's process took longer than Porcupine's parse + check + 5 ms: ${#slower[@]} of ${#files[@]}${slower[*]:+ (${slower[*]})}."
echo "Files where the default threads took over 1 ms longer than --threads 1: ${#slower_t1[@]} of ${#files[@]}${slower_t1[*]:+ (${slower_t1[*]})}."
