#!/usr/bin/env bash
# Idle footprint per process with `workers = 2` (master + 2 workers), hello-only and hello + an image handler:
# RSS, PSS and anonymous memory from /proc/PID/smaps_rollup 4 s after the socket appears, and whether libvips
# is mapped. PORTER_BIN: the binary (default /tmp/porter-bench, a release build).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
BIN=${PORTER_BIN:-/tmp/porter-bench}
W=/tmp/porter-idle-workers
rm -rf "$W"; mkdir -p "$W"; cd "$W"
"$BIN" sample-images images >/dev/null
hello='[[handlers]]
verb = "GET"
path = "/hello"
handler = "hello"'
image='[[handlers]]
verb = "GET,HEAD"
path = "/images/*"
handler = "image"
root = "images"
allow_unsigned = true'
measure() {  # label handlers
    printf 'listen = "%s/s"\nworkers = 2\nthreads = 8\n%s\n' "$W" "$2" > "$W/$1.toml"
    rm -f "$W/s"
    "$BIN" serve --config "$W/$1.toml" >"$W/$1.log" 2>&1 & local pid=$!
    for _ in $(seq 300); do [[ -S $W/s ]] && break; sleep 0.1; done
    sleep 4
    echo "$1:"
    local p
    for p in $(tree $pid); do
        printf '  %-6s RSS %6.1f MiB  PSS %6.1f MiB  anon %5.1f MiB  threads %3s  libvips mapped: %s\n' \
            "$([[ $p == "$pid" ]] && echo master || echo worker)" \
            "$(awk '/^Rss:/{print $2/1024}' /proc/$p/smaps_rollup)" "$(awk '/^Pss:/{print $2/1024}' /proc/$p/smaps_rollup)" \
            "$(awk '/^Anonymous:/{print $2/1024}' /proc/$p/smaps_rollup)" "$(awk '/^Threads/{print $2}' /proc/$p/status)" \
            "$(grep -q libvips /proc/$p/maps && echo yes || echo no)"
    done
    kill $pid; wait $pid 2>/dev/null || true
}
measure hello-only "$hello"
measure hello+image "$hello
$image"
