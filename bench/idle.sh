#!/usr/bin/env bash
# Idle footprint: RSS and PSS (sum over Porter's process and its children, /proc/PID/smaps_rollup) 3 s after the
# socket appears, for the hello-only config (bench/porter-bench.toml) and the full demo (`serve --demo`).
# PORTER_BIN: the binary (default /tmp/porter-bench, a release build).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$(pwd)
BIN=${PORTER_BIN:-/tmp/porter-bench}
W=/tmp/porter-idle-bench
rm -rf "$W"; mkdir -p "$W"
tree() { local p=$1 c; echo "$p"; for c in $(cat /proc/"$p"/task/*/children 2>/dev/null); do tree "$c"; done; }
measure() {  # label cmd...
    local label=$1; shift
    rm -f "$W/p.sock"
    "$@" --socket "$W/p.sock" --socket-mode 0666 >"$W/$label.log" 2>&1 & local pid=$!
    for _ in $(seq 300); do [[ -S $W/p.sock ]] && break; sleep 0.1; done
    [[ -S $W/p.sock ]] || { echo "$label: no socket (see $W/$label.log)"; kill $pid 2>/dev/null; return; }
    sleep 3
    local rss=0 pss=0 n=0 libs p
    for p in $(tree $pid); do
        rss=$((rss + $(awk '/^Rss:/{print $2}' /proc/$p/smaps_rollup))); pss=$((pss + $(awk '/^Pss:/{print $2}' /proc/$p/smaps_rollup))); n=$((n + 1))
    done
    libs=$(awk '$6 ~ /\.so/ {print $6}' /proc/$pid/maps | sort -u | wc -l)
    local vips; vips=$(grep -c 'libvips' /proc/$pid/maps || true)
    printf '%-22s processes %d  RSS %6.1f MiB  PSS %6.1f MiB  threads %s  shared objects %d  libvips mapped: %s\n' \
        "$label" "$n" "$(bc -l <<<"$rss/1024")" "$(bc -l <<<"$pss/1024")" "$(awk '/^Threads/{print $2}' /proc/$pid/status)" "$libs" \
        "$([[ $vips -gt 0 ]] && echo yes || echo no)"
    kill $pid 2>/dev/null; wait $pid 2>/dev/null || true
}
measure hello-only "$BIN" serve --config "$REPO/bench/porter-bench.toml"
measure full-demo "$BIN" serve --demo --demo-directory "$W/demo"
