#!/usr/bin/env bash
# A 50-item RSS feed through nginx vs hello, the 304 path (If-None-Match) and a gzip client's, wrk -c64; the same feed cached by
# nginx (edge_cache = 1, big.xml) and the same bytes as a static file (the physical limit); and the C libfcgi peer
# (bench/peers/backends/hello.c) sending its hello and the same feed bytes, so the feed's cost over hello for a plain C
# responder is measured next to Porter's. PORTER_BIN: the binary.
# ROUNDS rounds (default 3), each running every row in turn, so a ratio compares rows measured seconds apart; the
# summary gives each row's ratio to hello per round (the C rows': to the C peer's hello) and the median of those ratios,
# and each row's p99/p50.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source bench/lib.sh
DURATION=${DURATION:-8s}
ROUNDS=${ROUNDS:-3}
W=/tmp/porter-feed-bench
PORT=18580
PORTER_BIN=$(porter_bin)
rm -rf "$W"; mkdir -p "$W"/{nginx/logs,nginx/tmp}
seed_feed "$PORTER_BIN" "$W/feeds.sqlite"
cat >"$W/porter.toml" <<TOML
$(porter_preamble "$W")
[[handlers]]
verb = "GET,HEAD"
path = "/hello"
handler = "hello"
[[handlers]]
verb = "GET,HEAD"
path = "*.rss"
handler = "feed"
database = "$W/feeds.sqlite"
limit = 50
[[handlers]]
verb = "GET,HEAD"
path = "*.xml"
handler = "feed"
database = "$W/feeds.sqlite"
limit = 50
edge_cache = 1
TOML
start_porter "$PORTER_BIN" "$W"
cat >"$W/nginx/nginx.conf" <<CONF
$(nginx_preamble "$W")
  fastcgi_cache_path $W/nginx/cache levels=1:2 keys_zone=porter_pages:10m max_size=64m inactive=10m use_temp_path=off;
$(sed -n '/^map \$http_accept_encoding \$porter_accept_gzip/,/^}/p' nginx/porter.conf)
  upstream porter { server unix:$W/p.sock; keepalive 32; }
  upstream cpeer { server unix:$W/c.sock; keepalive 32; }
  server { listen 127.0.0.1:$PORT; root $W/www;
    # The physical limit: nginx serving the same bytes as a static file.
    location = /static.rss { default_type application/rss+xml; }
    # The feed routes as \`porter nginx-config\` generates them: nginx reads a feed in one 32 KiB buffer; big.xml has
    # edge_cache = 1 (nginx caches it for a second).
    location ~ "\\.rss\$" { include /etc/nginx/fastcgi_params; fastcgi_param REQUEST_ID \$request_id; fastcgi_keep_conn on; fastcgi_pass porter;
      $FEED_BUFFERS }
    location ~ "\\.xml\$" { include /etc/nginx/fastcgi_params; fastcgi_param REQUEST_ID \$request_id; fastcgi_keep_conn on; fastcgi_pass porter;
      $FEED_BUFFERS $(printf '%s ' "fastcgi_param HTTP_ACCEPT_ENCODING \$porter_accept_gzip;" "fastcgi_ignore_headers Vary;" "fastcgi_cache porter_pages;" "fastcgi_cache_key \"\$request_method|\$scheme|\$server_name|\$uri|\$porter_accept_gzip\";" "fastcgi_cache_valid 200 1s;" "fastcgi_cache_revalidate on;" "fastcgi_cache_lock on;" "fastcgi_cache_lock_timeout 0;") }
    # The C peer: its hello as Porter's is routed, its feed with the feed routes' buffers.
    location = /c/hello { include /etc/nginx/fastcgi_params; fastcgi_keep_conn on; fastcgi_pass cpeer; }
    location = /c/big.rss { include /etc/nginx/fastcgi_params; fastcgi_keep_conn on; fastcgi_pass cpeer; $FEED_BUFFERS }
    location / { include /etc/nginx/fastcgi_params; fastcgi_param REQUEST_ID \$request_id; fastcgi_keep_conn on; fastcgi_pass porter; } } }
CONF
start_nginx "$W"
sleep 1
mkdir -p "$W/www"; curl -s "http://127.0.0.1:$PORT/big.rss" >"$W/www/static.rss"
gcc -O2 -Wall -o "$W/hello-c" bench/peers/backends/hello.c -lfcgi -lpthread
HELLO_FEED="$W/www/static.rss" "$W/hello-c" 256 "$W/c.sock" & CPEER=$!   # 256 threads: one for each kept connection (peers.sh's best C row)
trap 'kill $PORTER $NGINX $CPEER 2>/dev/null; wait 2>/dev/null' EXIT
for _ in $(seq 100); do [[ -S $W/c.sock ]] && break; sleep 0.1; done
cmp -s <(curl -s "http://127.0.0.1:$PORT/c/big.rss") "$W/www/static.rss" || { echo "the C peer's feed differs from Porter's" >&2; exit 1; }
ETAG=$(curl -sI "http://127.0.0.1:$PORT/big.rss" | awk -F': ' 'tolower($1)=="etag"{print $2}' | tr -d '\r')
XML_ETAG=$(curl -sI "http://127.0.0.1:$PORT/big.xml" | awk -F': ' 'tolower($1)=="etag"{print $2}' | tr -d '\r')
echo "feed: $(curl -s "http://127.0.0.1:$PORT/big.rss" | wc -c) bytes ($(curl -s -H 'Accept-Encoding: gzip' "http://127.0.0.1:$PORT/big.rss" | wc -c) gzip), ETag $ETAG, 304 check: $(curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: $ETAG" "http://127.0.0.1:$PORT/big.rss")"
run() {
    local label=$1; shift
    local backend=$PORTER; [[ $label == C* ]] && backend=$CPEER
    local before; before=$(cpu_ticks "$backend"); local ngx_before; ngx_before=$(cpu_ticks $NGINX $(pgrep -P $NGINX))
    local out; out=$(wrk -t2 -c64 -d"$DURATION" --latency "$@")
    local after; after=$(cpu_ticks "$backend"); local ngx_after; ngx_after=$(cpu_ticks $NGINX $(pgrep -P $NGINX))
    local requests; requests=$(awk '/requests in/{print $1}' <<<"$out")
    # Porter's and nginx's CPU time (user + system, from /proc) per request: steadier than req/s on a shared machine.
    local cpu; cpu=$(cpu_us_per_request $((after - before)) "$requests")
    local ngx_cpu; ngx_cpu=$(cpu_us_per_request $((ngx_after - ngx_before)) "$requests")
    local rate p50 p99
    rate=$(awk '/Requests\/sec/{print $2}' <<<"$out"); p50=$(awk '/ 50%/{print $2}' <<<"$out"); p99=$(awk '/ 99%/{print $2}' <<<"$out")
    printf '%-32s %10s req/s  p50 %s  p99 %s  CPU µs/req: backend %s, nginx %s\n' "$label (round $round)" "$rate" "$p50" "$p99" "$cpu" "$ngx_cpu"
    grep -E "Non-2xx|Socket errors" <<<"$out" || true
    printf '%s\t%s\t%s\t%s\t%s\n' "$round" "$label" "$rate" "$(to_ms "$p50")" "$(to_ms "$p99")" >>"$W/rows.tsv"
}
# wrk's latency (1.31ms, 472.00us, 1.02s) in milliseconds
to_ms() { awk -v v="$1" 'BEGIN{ n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /[0-9]s$/ && v !~ /ms$/) n *= 1000; printf "%.3f", n }'; }
for round in $(seq "$ROUNDS"); do
  run "hello" "http://127.0.0.1:$PORT/hello"
  run "50-item RSS" "http://127.0.0.1:$PORT/big.rss"
  run "RSS 304" -H "If-None-Match: $ETAG" "http://127.0.0.1:$PORT/big.rss"
  run "50-item RSS, gzip" -H "Accept-Encoding: gzip" "http://127.0.0.1:$PORT/big.rss"
  run "RSS, nginx cache 1s" "http://127.0.0.1:$PORT/big.xml"
  run "RSS 304, nginx cache" -H "If-None-Match: $XML_ETAG" "http://127.0.0.1:$PORT/big.xml"
  run "static file, same bytes" "http://127.0.0.1:$PORT/static.rss"
  run "C hello" "http://127.0.0.1:$PORT/c/hello"
  run "C 50-item RSS" "http://127.0.0.1:$PORT/c/big.rss"
done
# The summary: each row's req/s over the same round's hello, per round and the median; p99/p50 per round.
echo
awk -F'\t' '
  function median(list,   a, n, i, j, t) {
      n = split(list, a, " "); for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
      return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  { rate[$1, $2] = $3; tail[$1, $2] = ($4 > 0 ? $5 / $4 : 0); if (!($2 in seen)) { seen[$2] = 1; order[++rows] = $2 } ; if ($1 > rounds) rounds = $1 }
  END {
      printf "%-26s %-28s %-8s %s\n", "row", "ratio to (C) hello, per round", "median", "p99/p50 per round"
      for (r = 1; r <= rows; r++) {
          label = order[r]; ratios = ""; tails = ""; base = (label ~ /^C / ? "C hello" : "hello")
          for (k = 1; k <= rounds; k++) { ratios = ratios sprintf("%.2f ", rate[k, label] / rate[k, base]); tails = tails sprintf("%.1f ", tail[k, label]) }
          printf "%-26s %-28s %-8.2f %s\n", label, ratios, median(ratios), tails
      }
  }' "$W/rows.tsv"
