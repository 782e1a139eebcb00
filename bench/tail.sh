#!/usr/bin/env bash
# Where the keep-alive tail comes from: hello through nginx (upstream keepalive 32, wrk -t2 -c64) next to nginx's own
# `return 200` in the same rounds, and Porter's own pipeline time for the same requests (its request-duration histogram,
# fine buckets, read from /metrics before and after each round). If nginx alone has the same p99/p50 and Porter's
# pipeline p99 is a small part of the client's p99, the tail is the machine's scheduling (wrk, nginx and Porter on the
# same cores), not Porter's code. ROUNDS (3), DURATION (8s); PORTER_BIN: the binary.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source bench/lib.sh
DURATION=${DURATION:-8s}
ROUNDS=${ROUNDS:-3}
W=/tmp/porter-tail-bench
PORT=18581
PORTER_BIN=$(porter_bin)
rm -rf "$W"; mkdir -p "$W"/nginx/{logs,tmp}
cat >"$W/porter.toml" <<TOML
$(porter_preamble "$W")
[[modules]]
name = "metrics"
buckets = [0.000002, 0.000005, 0.00001, 0.00002, 0.00005, 0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1]
[[handlers]]
verb = "GET,HEAD"
path = "/hello"
handler = "hello"
[[handlers]]
verb = "GET,HEAD"
path = "/metrics"
handler = "metrics"
TOML
start_porter "$PORTER_BIN" "$W"
cat >"$W/nginx/nginx.conf" <<CONF
$(nginx_preamble "$W")
  upstream porter { server unix:$W/p.sock; keepalive 32; }
  server { listen 127.0.0.1:$PORT;
    location = /static { return 200 "Hello, world\n"; }
    location / { include /etc/nginx/fastcgi_params; fastcgi_keep_conn on; fastcgi_pass porter; } } }
CONF
start_nginx "$W"
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/hello" >/dev/null && break; sleep 0.1; done
# pipeline QUANTILE BEFORE AFTER -> the upper bound (µs) of the bucket holding that quantile of hello's requests between
# two /metrics scrapes
pipeline() {
    python3 - "$@" <<'PY'
import re, sys
q, before, after = float(sys.argv[1]), open(sys.argv[2]).read(), open(sys.argv[3]).read()
def buckets(text):
    out = {}
    for m in re.finditer(r'^porter_request_duration_seconds_bucket\{([^}]*)\} (\S+)$', text, re.M):
        labels = m.group(1)
        if 'handler="hello"' not in labels: continue
        le = re.search(r'le="([^"]+)"', labels).group(1)
        out[le] = out.get(le, 0) + float(m.group(2))
    return out
b, a = buckets(before), buckets(after)
rows = sorted(((float('inf') if le == '+Inf' else float(le)), a[le] - b.get(le, 0)) for le in a)
total = rows[-1][1] if rows else 0
for le, n in rows:
    if total and n >= q * total:
        print('>100000' if le == float('inf') else '%g' % (le * 1e6)); break
else:
    print('-')
PY
}
ms() { awk -v v="$1" 'BEGIN{ n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /[0-9]s$/ && v !~ /ms$/) n *= 1000; printf "%.3f", n }'; }
printf '%-6s %-28s %10s %9s %9s %8s   %s\n' round row "req/s" "p50 ms" "p99 ms" p99/p50 "Porter pipeline p50 / p99 (µs, bucket bound)"
for round in $(seq "$ROUNDS"); do
    for row in static hello; do
        curl -s "http://127.0.0.1:$PORT/metrics" >"$W/before"
        out=$(wrk -t2 -c64 -d"$DURATION" --latency "http://127.0.0.1:$PORT/$row")
        curl -s "http://127.0.0.1:$PORT/metrics" >"$W/after"
        rate=$(awk '/Requests\/sec/{print $2}' <<<"$out")
        p50=$(ms "$(awk '/ 50%/{print $2}' <<<"$out")"); p99=$(ms "$(awk '/ 99%/{print $2}' <<<"$out")")
        inside="-"
        [[ $row == hello ]] && inside="$(pipeline 0.5 "$W/before" "$W/after") / $(pipeline 0.99 "$W/before" "$W/after")"
        label=$([[ $row == static ]] && echo "nginx return 200" || echo "Porter hello, keepalive 32")
        printf '%-6s %-28s %10s %9s %9s %8.1f   %s\n' "$round" "$label" "$rate" "$p50" "$p99" \
            "$(awk -v a="$p99" -v b="$p50" 'BEGIN{print (b > 0 ? a / b : 0)}')" "$inside"
    done
done
