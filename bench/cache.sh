#!/usr/bin/env bash
# An output-cache hit (/clock, output_cache 60 s: answered at ResolveRequestCache, the handler skipped) vs hello
# (the handler runs), through nginx, wrk -c64 under `nice`. PORTER_BIN picks the binary (default: a release build
# in /tmp/porter-bench, built on first use); the ratio cached/hello is the figure to quote.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source bench/lib.sh
DURATION=${DURATION:-8s}
W=/tmp/porter-cache-bench
PORT=18680
BIN=$(porter_bin)
rm -rf "$W"; mkdir -p "$W"/{nginx/logs,nginx/tmp}
cat >"$W/porter.toml" <<TOML
$(porter_preamble "$W")
[[modules]]
name = "output-cache"
max_bytes = "16m"
[[handlers]]
verb = "GET,HEAD"
path = "/hello"
handler = "hello"
[[handlers]]
verb = "GET,HEAD"
path = "/clock"
handler = "clock"
output_cache = { duration = 60, vary_by_query = ["tz"] }
TOML
start_porter "$BIN" "$W"
cat >"$W/nginx/nginx.conf" <<CONF
$(nginx_preamble "$W")
  upstream porter { server unix:$W/p.sock; keepalive 32; }
  server { listen 127.0.0.1:$PORT;
    location / { include /etc/nginx/fastcgi_params; fastcgi_param REQUEST_ID \$request_id; fastcgi_keep_conn on; fastcgi_pass porter; } } }
CONF
start_nginx "$W"
for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$PORT/hello" && break; sleep 0.1; done
a=$(curl -s "http://127.0.0.1:$PORT/clock?tz=UTC"); b=$(curl -s "http://127.0.0.1:$PORT/clock?tz=UTC")
[[ $a == "$b" ]] || { echo "clock not replayed: $a vs $b" >&2; exit 1; }
echo "clock replayed: $a"
run() {
    local label=$1; shift
    local out; out=$(nice -n 10 wrk -t2 -c64 -d"$DURATION" --latency "$@")
    printf '%-28s %10s req/s  p50 %s  p99 %s\n' "$label" "$(awk '/Requests\/sec/{print $2}' <<<"$out")" \
        "$(awk '/ 50%/{print $2}' <<<"$out")" "$(awk '/ 99%/{print $2}' <<<"$out")"
    grep -E "Non-2xx|Socket errors" <<<"$out" || true
}
for round in 1 2; do
  run "hello (round $round)" "http://127.0.0.1:$PORT/hello"
  run "cached /clock (round $round)" "http://127.0.0.1:$PORT/clock?tz=UTC"
done
