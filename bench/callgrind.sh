#!/usr/bin/env bash
# Instructions per request (valgrind callgrind, deterministic on a shared machine) for hello through Porter's whole
# pipeline vs the C libfcgi peer (bench/peers/backends/hello.c), each behind the same nginx with upstream keepalive,
# and Porter's 50-item RSS feed (16.9 KB, served from its render cache) on the same setup.
#
#   bench/callgrind.sh                 PORTER_BIN (default /tmp/porter-bench, a release build), N=2000 requests
#
# Each backend runs twice under callgrind, with N/4 and N requests; (Ir(N) - Ir(N/4)) / (3N/4) removes start-up and
# shutdown, leaving the per-request cost. Callgrind serialises threads, so this counts work, not waiting.
# Valgrind 3.19 (Debian 12) needs two work-arounds for a Swift program, both applied here to copies in $W:
# - its DWARF reader gives up on DWARF 5 forms the Swift compiler emits (strx1, rnglistx): the binary is measured
#   with its debug sections stripped (the symbol table stays, so callgrind_annotate still names functions);
# - it sanitises the mask of rt_sigsuspend in place, and libdispatch's signal thread (the main thread of every async
#   `main`) passes a mask in read-only memory: valgrind dies of its own SIGSEGV. A preloaded sigsuspend
#   (bench/valgrind-sigsuspend.c) passes a copy on the stack; the syscall is the same.
# Output: one line per backend, and bench/results/callgrind.md. Profiles stay in $W for callgrind_annotate.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$(pwd)
PORTER_BIN=${PORTER_BIN:-/tmp/porter-bench}
N=${N:-2000}
W=${W:-/tmp/porter-callgrind}
PORT=${PORT:-18590}
command -v valgrind >/dev/null || { echo "valgrind missing (apt-get install -y valgrind)" >&2; exit 1; }
rm -rf "$W"
source bench/hello-setup.sh
source bench/lib.sh
hello_setup "$W" "$PORT"
# The feed route: bench/feeds.sh's 50-item channel, and the response buffers the generated feed rules use.
seed_feed "$PORTER_BIN" "$W/feeds.sqlite"
printf '[[handlers]]\nverb = "GET,HEAD"\npath = "*.rss"\nhandler = "feed"\ndatabase = "%s"\nlimit = 50\n' "$W/feeds.sqlite" >>"$W/porter.toml"
sed -i "s|location / {|location / { $FEED_BUFFERS|" "$W/nginx/nginx.conf"
cc -shared -fPIC -O2 -o "$W/valgrind-sigsuspend.so" bench/valgrind-sigsuspend.c
cp "$PORTER_BIN" "$W/porter" && strip --strip-debug "$W/porter"
nginx -p "$W/nginx/" -c "$W/nginx/nginx.conf" & NGINX=$!
BACKEND=
trap 'kill $NGINX ${BACKEND:-} 2>/dev/null; wait 2>/dev/null' EXIT

# measure NAME COUNT SERVING CMD... -> instructions (Ir) CMD ran inside SERVING (the function its serving threads
# run) while it served COUNT requests
measure() {
    local name=$1 count=$2 serving=$3; shift 3
    local path=${URL_PATH:-/hello}
    rm -f "$W/backend.sock"
    LD_PRELOAD="$W/valgrind-sigsuspend.so" valgrind --tool=callgrind --toggle-collect="$serving" --callgrind-out-file="$W/$name-$count.out" --trace-children=no "$@" \
        >"$W/$name-$count.log" 2>&1 & BACKEND=$!
    for _ in $(seq 600); do [[ -S $W/backend.sock ]] && break; sleep 0.1; done
    # first answer (start-up under valgrind is slow)
    for _ in $(seq 300); do [[ $(curl -s -o /dev/null -w '%{http_code}' -m 2 "http://127.0.0.1:$PORT$path") == 200 ]] && break; sleep 0.2; done
    [[ $count -gt 1 ]] && curl -s "http://127.0.0.1:$PORT$path?n=[2-$count]" >/dev/null
    kill -TERM $BACKEND; wait $BACKEND 2>/dev/null || true; BACKEND=
    awk '/^(summary|totals):/{print $2; exit}' "$W/$name-$count.out"
}
per_request() {  # NAME SERVING CMD...
    local name=$1 serving=$2; shift 2
    local small=$((N / 4)) a b
    a=$(measure "$name" "$small" "$serving" "$@"); b=$(measure "$name" "$N" "$serving" "$@")
    echo $(( (b - a) / (N - small) ))
}
# Counted: what the serving threads run (the C peer's `worker`, Porter's worker loop), so neither start-up nor a
# timer's periodic work (Porter's housekeeping and memory release run per second, not per request, and callgrind
# slows time 50-fold) enters the figure.
C=$(per_request c worker "$W/hello-c" 8 "$W/backend.sock")
P=$(per_request porter '*CGIServer*workerLoop*' "$W/porter" serve --config "$W/porter.toml")
F=$(URL_PATH=/big.rss per_request porter-feed '*CGIServer*workerLoop*' "$W/porter" serve --config "$W/porter.toml")
RATIO=$(awk -v p="$P" -v c="$C" 'BEGIN{printf "%.2f", p / c}')
FEED_RATIO=$(awk -v f="$F" -v p="$P" 'BEGIN{printf "%.2f", f / p}')
mkdir -p bench/results
{
    echo "# Instructions per request (callgrind), hello behind nginx with upstream keepalive"
    echo
    echo "\`bench/callgrind.sh\` (N=$N, PORTER_BIN=$PORTER_BIN, $(date -u +%F))"
    echo
    echo "| backend | instructions / request |"
    echo "|---|---:|"
    echo "| C libfcgi (8 threads) | $C |"
    echo "| Porter | $P ($RATIO x C) |"
    echo "| Porter, 50-item RSS from its render cache (16.9 KB) | $F ($FEED_RATIO x Porter's hello) |"
} | tee bench/results/callgrind.md
echo "profiles: $W/*.out (callgrind_annotate $W/porter-$N.out | head -60)"
