#!/usr/bin/env bash
# Idle footprint: RSS and PSS (sum over Porter's process and its children, /proc/PID/smaps_rollup) 3 s after the
# socket appears, for the hello-only config (bench/porter-bench.toml) and the full demo (`serve --demo`); then again
# idle after serving 300 requests (FastCGI straight to the socket with cgi-fcgi: hello; the demo also a feed, a
# preset image and a 404) and 3 s idle: start-up's pages are released once the server runs (serving faults back its
# own), and the heap requests freed is returned 2 s after the last request.
# PORTER_BIN: the binary (default /tmp/porter-bench, a release build).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source bench/lib.sh
REPO=$(pwd)
BIN=${PORTER_BIN:-/tmp/porter-bench}
W=/tmp/porter-idle-bench
rm -rf "$W"; mkdir -p "$W"
report() {  # label pid
    local label=$1 pid=$2 rss=0 pss=0 n=0 libs p
    for p in $(tree $pid); do
        rss=$((rss + $(awk '/^Rss:/{print $2}' /proc/$p/smaps_rollup))); pss=$((pss + $(awk '/^Pss:/{print $2}' /proc/$p/smaps_rollup))); n=$((n + 1))
    done
    libs=$(awk '$6 ~ /\.so/ {print $6}' /proc/$pid/maps | sort -u | wc -l)
    local vips; vips=$(grep -c 'libvips' /proc/$pid/maps || true)
    printf '%-28s processes %d  RSS %6.1f MiB  PSS %6.1f MiB  threads %s  shared objects %d  libvips mapped: %s\n' \
        "$label" "$n" "$(bc -l <<<"$rss/1024")" "$(bc -l <<<"$pss/1024")" "$(awk '/^Threads/{print $2}' /proc/$pid/status)" "$libs" \
        "$([[ $vips -gt 0 ]] && echo yes || echo no)"
}
measure() {  # label cmd...
    local label=$1; shift
    rm -f "$W/p.sock"
    "$@" --socket "$W/p.sock" --socket-mode 0666 >"$W/$label.log" 2>&1 & local pid=$!
    for _ in $(seq 300); do [[ -S $W/p.sock ]] && break; sleep 0.1; done
    [[ -S $W/p.sock ]] || { echo "$label: no socket (see $W/$label.log)"; kill $pid 2>/dev/null; return; }
    sleep 3
    report "$label" $pid
    local uri i
    for i in $(seq "$ROUNDS"); do for uri in "${PATHS[@]}"; do
        REQUEST_METHOD=GET SCRIPT_NAME="${uri%%\?*}" REQUEST_URI="$uri" QUERY_STRING="$([[ $uri == *\?* ]] && echo "${uri#*\?}")" \
            SERVER_PROTOCOL=HTTP/1.1 REMOTE_ADDR=127.0.0.1 cgi-fcgi -bind -connect "$W/p.sock" >/dev/null 2>&1 || true
    done; done
    sleep 3 # idle: Porter returns the heap its requests freed 2 s after the last one
    report "$label, after $((ROUNDS * ${#PATHS[@]}))" $pid
    kill $pid 2>/dev/null; wait $pid 2>/dev/null || true
}
ROUNDS=300 PATHS=(/porter.fcgi)
measure hello-only "$BIN" serve --config "$REPO/bench/porter-bench.toml"
ROUNDS=75 PATHS=(/hello /news.rss "/images/sunset.jpg?p=thumb" /missing)
measure full-demo "$BIN" serve --demo --demo-directory "$W/demo"
