#!/usr/bin/env bash
# The reference node's answer rate under wrk: GET of one key on one node (linearizable mode, one-node
# cluster) on loopback, at 10 connections and 2 wrk threads. Given a second faultline executable (say,
# one built from an older commit), both nodes run side by side and wrk takes turns between them, so the
# two figures come from the same machine state. Prints a Markdown table of medians over RUNS rounds: the
# answer rate, and the node's own CPU time per answer (user + system, from /proc), which other load on the
# machine disturbs far less than the rate.
#   scripts/bench-node.sh [OTHER_FAULTLINE] [RUNS] [SECONDS]   (default 5 rounds of 5 s; needs wrk)
set -euo pipefail
cd "$(dirname "$0")/.."
other=${1:-}
runs=${2:-5}
secs=${3:-5}
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)" >&2; exit 1; }
cargo build --release -q
dir=$(mktemp -d)
# start() runs in a command substitution (a subshell): each node's pid goes to a file, for the trap.
trap 'kill $(cat "$dir"/*.pid 2>/dev/null) 2>/dev/null; rm -rf "$dir"' EXIT
start() { # NAME BINARY -> prints the port
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  "$2" node --id 0 --listen "127.0.0.1:$port" --peers "0=127.0.0.1:$port" --data-dir "$dir/$1" >"$dir/$1.log" 2>&1 &
  echo $! >"$dir/$1.pid"
  for _ in $(seq 50); do
    curl -sf -o /dev/null -X PUT -H 'content-type: application/json' -d '{"value":1}' "http://127.0.0.1:$port/kv/bench" && break
    sleep 0.1
  done
  echo "$port"
}
names=(this)
ports=("$(start this "$PWD/target/release/faultline")")
if [ -n "$other" ]; then names+=(other); ports+=("$(start other "$other")"); fi
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
cpu() { awk '{print $14 + $15}' "/proc/$(cat "$dir/$1.pid")/stat"; } # clock ticks
tick=$(getconf CLK_TCK)
for _ in $(seq "$runs"); do
  for i in "${!names[@]}"; do
    name=${names[$i]}
    before=$(cpu "$name")
    wrk -t2 -c10 -d"${secs}s" "http://127.0.0.1:${ports[$i]}/kv/bench" >"$dir/out"
    after=$(cpu "$name")
    awk '/Requests\/sec/ {print $2}' "$dir/out" >>"$dir/$name.rate"
    awk -v t=$((after - before)) -v hz="$tick" '/requests in/ {printf "%.2f\n", t / hz * 1e6 / $1}' "$dir/out" >>"$dir/$name.cpu"
  done
done
echo "| node | wrk GET, 10 connections (req/s) | node CPU per answer (µs) |"
echo "|---|---:|---:|"
echo "| this build (target/release/faultline) | $(median <"$dir/this.rate") | $(median <"$dir/this.cpu") |"
if [ -n "$other" ]; then echo "| $other | $(median <"$dir/other.rate") | $(median <"$dir/other.cpu") |"; fi
echo
echo "medians of $runs rounds of ${secs} s"
