#!/usr/bin/env bash
# The runner's throughput beside wrk: both drive one node of the reference cluster on loopback, with the
# same number of connections, in the same run, taking turns. faultline runs reads (wrk's GET of one key is
# a read) and records every operation to its history as usual; the figure is recorded operations per
# second of the workload phase, with faultline's default HTTP client (hyper) and with reqwest. Prints a
# Markdown table of medians over RUNS rounds.
#   scripts/bench-runner.sh [RUNS] [SECONDS]     (default 5 rounds of 5 s; needs wrk, Debian package `wrk`)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
secs=${2:-5}
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)" >&2; exit 1; }
cargo build --release -q
bin=$PWD/target/release/faultline
dir=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin" node --id 0 --listen "127.0.0.1:$port" --peers "0=127.0.0.1:$port" --data-dir "$dir/data" >"$dir/node.log" 2>&1 &
node=$!
trap 'kill $node 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 50); do curl -sf -o /dev/null -X PUT -H 'content-type: application/json' -d '{"value":1}' "http://127.0.0.1:$port/kv/bench" && break; sleep 0.1; done

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
runner() { # CLIENT CONNECTIONS
  "$bin" test --target "http://127.0.0.1:$port" --mix 1:0:0 --clients "$2" --time-limit "${secs}s" --http-client "$1" \
    --no-final-reads --nemesis none --store "$dir/store" --seed 1 2>&1 | rate
  rm -rf "$dir/store"
}
# Operations per second from the run's closing line, "34,207 workload operations (before the final reads)
# on 171 keys in 10.0 s, ..."; 0 (and so a failed run below) if the line is not there.
rate() {
  awk '/ workload operations / { n = $1; gsub(",", "", n); for (i = 1; i < NF; i++) if ($i == "in" && $(i + 2) ~ /^s,?$/) { r = n / $(i + 1); exit } }
       END { print r + 0 }'
}
# A figure that is missing or zero means the run or its parsing broke: say so, rather than print a table of 0s.
check() { # NAME FILE
  awk -v name="$1" '$1 > 0 { n++ } END { if (n != NR || NR == 0) { print name ": a run gave no figure" > "/dev/stderr"; exit 1 } }' "$2"
}
echo "| connections | wrk (req/s) | faultline runner (ops/s) | ratio | runner with --http-client reqwest (ops/s) | ratio |"
echo "|---:|---:|---:|---:|---:|---:|"
for conns in 4 10 50; do
  : >"$dir/wrk"; : >"$dir/fl"; : >"$dir/rq"
  for _ in $(seq "$runs"); do
    wrk -t2 -c"$conns" -d"${secs}s" "http://127.0.0.1:$port/kv/bench" | awk '/Requests\/sec/ {print $2}' >>"$dir/wrk"
    runner hyper "$conns" >>"$dir/fl"
    runner reqwest "$conns" >>"$dir/rq"
  done
  check wrk "$dir/wrk"; check "faultline (hyper)" "$dir/fl"; check "faultline (reqwest)" "$dir/rq"
  w=$(median <"$dir/wrk"); f=$(median <"$dir/fl"); r=$(median <"$dir/rq")
  awk -v c="$conns" -v w="$w" -v f="$f" -v r="$r" \
    'BEGIN { printf "| %d | %.0f | %.0f | %.2f | %.0f | %.2f |\n", c, w, f, f / w, r, r / w }'
done
