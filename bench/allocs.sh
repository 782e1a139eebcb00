#!/usr/bin/env bash
# Heap allocations per request (an LD_PRELOAD malloc counter, bench/allocs/malloc_count.c) for hello through
# Porter's whole pipeline vs the C libfcgi peer (bench/peers/backends/hello.c), each behind the same nginx with
# upstream keepalive (bench/callgrind.sh counts instructions).
#
#   bench/allocs.sh [PORTER_BIN]     default .build/release/porter if present, else .build/debug/porter
#
# Env: N (requests measured, default 10000), WARMUP (default 1000), RUNS (default 3), SAMPLE (e.g. 97: also
# record every 97th allocation's backtrace in Porter's last run and print the top allocation sites).
# Per run: start the backend under the counter, WARMUP requests, counter A (SIGUSR2), N requests over one kept
# connection (curl URL globbing), counter B; (B - A) / N. curl only adds requests, so any start-up or
# idle-time allocation outside the window does not count. Output: bench/results/allocs.md.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$(pwd)
if [[ $# -gt 0 ]]; then PORTER_BIN=$1
elif [[ -x .build/release/porter ]]; then PORTER_BIN=.build/release/porter
else PORTER_BIN=.build/debug/porter; fi
PORTER_BIN=$(realpath "$PORTER_BIN")
N=${N:-10000}
WARMUP=${WARMUP:-1000}
RUNS=${RUNS:-3}
SAMPLE=${SAMPLE:-}
W=${W:-/tmp/porter-allocs}
PORT=${PORT:-18591}
rm -rf "$W"
source bench/hello-setup.sh
hello_setup "$W" "$PORT"
gcc -O2 -Wall -shared -fPIC -o "$W/malloc_count.so" bench/allocs/malloc_count.c
nginx -p "$W/nginx/" -c "$W/nginx/nginx.conf" & NGINX=$!
BACKEND=
trap 'kill $NGINX ${BACKEND:-} 2>/dev/null; wait 2>/dev/null' EXIT

# counter FILE LINES: waits until the counter file has LINES lines, prints the last
counter() {
    for _ in $(seq 100); do [[ $(wc -l <"$1" 2>/dev/null || echo 0) -ge $2 ]] && break; sleep 0.05; done
    tail -n 1 "$1"
}
requests() {  # FROM TO: GET /hello?n=FROM..TO over one connection; fails unless every answer is the hello body
    local got
    got=$(curl -s "http://127.0.0.1:$PORT/hello?n=[$1-$2]" | grep -c '^Hello, world' || true)
    [[ $got -eq $(($2 - $1 + 1)) ]] || { echo "only $got of $(($2 - $1 + 1)) hello answers" >&2; exit 1; }
}
# measure NAME RUN CMD... -> "allocations/request bytes/request"
measure() {
    local name=$1 run=$2; shift 2
    local counts="$W/$name-$run.counts" env=()
    rm -f "$W/backend.sock" "$counts"
    if [[ -n $SAMPLE && $name == porter && $run == "$RUNS" ]]; then
        env=(MALLOC_COUNT_SAMPLE="$SAMPLE" MALLOC_COUNT_TRACE="$W/porter.trace")
    fi
    env MALLOC_COUNT_FILE="$counts" LD_PRELOAD="$W/malloc_count.so" "${env[@]}" "$@" >"$W/$name-$run.log" 2>&1 & BACKEND=$!
    for _ in $(seq 600); do [[ -S $W/backend.sock ]] && break; sleep 0.1; done
    for _ in $(seq 100); do [[ $(curl -s -m 2 "http://127.0.0.1:$PORT/hello") == "Hello, world"* ]] && break; sleep 0.1; done
    # Porter's one-off work after start (the start-up memory release, 0.5 s in, parses /proc/self/smaps) ends first.
    sleep 1.5
    requests 1 "$WARMUP"
    kill -USR2 $BACKEND; local a; a=$(counter "$counts" 1)
    requests 1 "$N"
    kill -USR2 $BACKEND; local b; b=$(counter "$counts" 2)
    kill -TERM $BACKEND; wait $BACKEND 2>/dev/null || true; BACKEND=
    awk -v a="$a" -v b="$b" -v n="$N" 'BEGIN{split(a, x, " "); split(b, y, " "); printf "%.2f %.0f\n", (y[1]-x[1])/n, (y[2]-x[2])/n}'
}
declare -a P C
for run in $(seq "$RUNS"); do
    C[$run]=$(measure c "$run" "$W/hello-c" 8 "$W/backend.sock")
    P[$run]=$(measure porter "$run" "$PORTER_BIN" serve --config "$W/porter.toml")
    echo "run $run: C ${C[$run]}  Porter ${P[$run]}  (allocations/request bytes/request)"
done
row() { local -n r=$1; local s=""; for run in $(seq "$RUNS"); do s+="${r[$run]% *} / ${r[$run]#* } · "; done; echo "${s% · }"; }
mkdir -p bench/results
{
    echo "# Heap allocations per request, hello behind nginx with upstream keepalive"
    echo
    echo "\`bench/allocs.sh $PORTER_BIN\` (N=$N after $WARMUP warm-up requests, $RUNS runs, $(date -u +%F))"
    echo
    echo "| backend | allocations / request · bytes / request (each run) |"
    echo "|---|---|"
    echo "| C libfcgi (8 threads) | $(row C) |"
    echo "| Porter ($(basename "$(dirname "$PORTER_BIN")") build) | $(row P) |"
} | tee bench/results/allocs.md

if [[ -n $SAMPLE && -s $W/porter.trace ]]; then
    echo "Sampled allocation sites (every ${SAMPLE}th allocation in Porter's last run, innermost frame in Porter's binary):"
    python3 bench/allocs/sites.py "$W/porter.trace" "$PORTER_BIN" 40
fi
