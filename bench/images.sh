#!/usr/bin/env bash
# Porter's image handler vs nginx's image_filter (libgd) on the same 2 MP JPEG → 300 px wide JPEG, q 80,
# through one nginx (worker_processes auto), wrk -c8. Porter's own nginx cache is NOT used here: every
# request resizes. Rows: image_filter; Porter with one URL (concurrent identical requests are coalesced);
# Porter with 50 distinct widths 300..349 (little coalescing). Also Porter's RSS idle vs under load.
# PORTER_BIN picks the binary (default: a release build in /tmp/porter-bench, built on first use).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source bench/lib.sh
REPO=$(pwd)
DURATION=${DURATION:-10s}
CONNS=${CONNS:-8}
W=/tmp/porter-img-bench
PORT=18480
for p in libnginx-mod-http-image-filter wrk; do
    dpkg-query -W -f='${Status}' $p 2>/dev/null | grep -q 'ok installed' || { apt-get update -q; DEBIAN_FRONTEND=noninteractive apt-get install -y -q $p; }
done
BIN=$(porter_bin)
rm -rf "$W"; mkdir -p "$W"/{img,nginx/logs,nginx/tmp}
"$BIN" sample-images "$W/img" >/dev/null
cat >"$W/porter.toml" <<TOML
$(porter_preamble "$W")
[[handlers]]
verb = "GET,HEAD"
path = "/images/*"
handler = "image"
root = "$W/img"
allow_unsigned = true   # the benchmark orders arbitrary sizes on purpose (never do this on a public site)
threads = 2
queue_limit = 64
TOML
start_porter "$BIN" "$W"
cat >"$W/nginx/nginx.conf" <<CONF
load_module /usr/lib/nginx/modules/ngx_http_image_filter_module.so;
$(nginx_preamble "$W")
  upstream porter { server unix:$W/p.sock; keepalive 32; }
  server { listen 127.0.0.1:$PORT;
    location /nginx-img/ { alias $W/img/; image_filter resize 300 -; image_filter_jpeg_quality 80; image_filter_buffer 20M; }
    location /images/ { include /etc/nginx/fastcgi_params; fastcgi_keep_conn on; fastcgi_pass porter; }
  }
}
CONF
start_nginx "$W"
sleep 1
cat >"$W/widths.lua" <<'LUA'
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", "/images/sunset.jpg?w=" .. (300 + n % 50) .. "&q=80&fmt=jpeg")
end
LUA
echo "source: $(identify -format '%wx%h' "$W/img/sunset.jpg" 2>/dev/null || echo 1920x1080) JPEG, $(stat -c %s "$W/img/sunset.jpg") bytes"
curl -s -o "$W/a.jpg" -w "image_filter output: %{http_code} %{size_download} bytes\n" "http://127.0.0.1:$PORT/nginx-img/sunset.jpg"
curl -s -o "$W/b.jpg" -w "porter output: %{http_code} %{size_download} bytes\n" "http://127.0.0.1:$PORT/images/sunset.jpg?w=300&q=80&fmt=jpeg"
rss() { awk '/VmRSS/{print $2}' /proc/$PORTER/status; }
echo "porter idle RSS: $(rss) kB"
run() {
    local label=$1; shift
    local out; out=$(wrk -t2 -c"$CONNS" -d"$DURATION" "$@")
    printf '%-45s %10s req/s  p50 %s  p99 %s\n' "$label" "$(awk '/Requests\/sec/{print $2}' <<<"$out")" \
        "$(awk '/ 50%/{print $2}' <<<"$out")" "$(awk '/ 99%/{print $2}' <<<"$out")"
    grep -E "Non-2xx|Socket errors" <<<"$out" || true
}
run "nginx image_filter (libgd), resize 300" --latency "http://127.0.0.1:$PORT/nginx-img/sunset.jpg"
PEAK=0; ( while kill -0 $PORTER 2>/dev/null; do r=$(rss); echo $r; sleep 0.2; done ) >"$W/rss.txt" & SAMPLER=$!
run "porter libvips, one URL (coalesced)" --latency "http://127.0.0.1:$PORT/images/sunset.jpg?w=300&q=80&fmt=jpeg"
run "porter libvips, 50 distinct widths" --latency -s "$W/widths.lua" "http://127.0.0.1:$PORT"
kill $SAMPLER 2>/dev/null || true
echo "porter peak RSS under load: $(sort -n "$W/rss.txt" | tail -1) kB (2 resize threads, $CONNS connections)"
