#!/usr/bin/env bash
# How much a login flood slows everything else: N concurrent POST /login (real PBKDF2, 600,000 iterations) through
# nginx while one client keeps asking for /hello; prints /hello's latency before and during the flood and the login
# statuses (303 = signed in, 503 = KDF queue full). Measures only; the tests assert behaviour, never speed.
#   bench/login-flood.sh                 # PORTER_BIN (default .build/release/porter, else .build/debug/porter)
#   LOGINS=64 THREADS=8 bench/login-flood.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${PORTER_BIN:-.build/release/porter}
[ -x "$BIN" ] || BIN=.build/debug/porter
LOGINS=${LOGINS:-64}
THREADS=${THREADS:-8}
T=$(mktemp -d /tmp/porter-flood.XXXXXX)
chmod 755 "$T"   # nginx workers must reach the socket
PORT=${PORT:-18$((RANDOM % 900 + 100))}
KEEP=${KEEP:-}
cleanup() {
  [ -f "$T/nginx.pid" ] && kill "$(cat "$T/nginx.pid")" 2>/dev/null
  [ -n "${PORTER_PID:-}" ] && kill "$PORTER_PID" 2>/dev/null
  wait 2>/dev/null
  if [ -n "$KEEP" ]; then echo "logs kept in $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT

head -c 32 /dev/urandom | xxd -p -c 64 > "$T/auth.keys"
"$BIN" users add demo --password demo -d "$T/users.sqlite" >/dev/null
cat > "$T/porter.toml" <<EOF
listen = "$T/s"
socket_mode = "0666"
threads = $THREADS
log_level = "error"
[[modules]]
name = "authentication"
keys_file = "auth.keys"
users_database = "users.sqlite"
secure = false
[[modules]]
name = "session"
store = "memory"
[[handlers]]
verb = "GET,HEAD,POST"
path = "/login"
handler = "login"
rate_limit_zone = ""
# No backoff: this measures the hashing path (64 logins of one user from one address would otherwise be 429s).
max_failures = 0
max_address_failures = 0
[[handlers]]
verb = "GET,HEAD"
path = "/hello"
handler = "hello"
EOF
"$BIN" nginx-config --config "$T/porter.toml" > "$T/porter-locations.conf"
cp nginx/porter-fastcgi.conf "$T/"
[ -f nginx/porter-identity.conf ] && cp nginx/porter-identity.conf "$T/"
mkdir -p "$T/www" "$T/cache" "$T/temp"
SITE=$("$BIN" nginx-site --template nginx/porter.conf --socket "$T/s" --root "$T/www" --listen "127.0.0.1:$PORT" \
       --include-directory "$T" --cache-directory "$T/cache")
USER_LINE=""; [ "$(id -u)" = 0 ] && USER_LINE="user root;"
cat > "$T/nginx.conf" <<EOF
$USER_LINE
daemon on; worker_processes 1; pid $T/nginx.pid; error_log $T/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $T/temp; fastcgi_temp_path $T/temp; proxy_temp_path $T/temp; uwsgi_temp_path $T/temp; scgi_temp_path $T/temp;
$SITE
}
EOF
"$BIN" serve --config "$T/porter.toml" 2>"$T/porter.log" & PORTER_PID=$!
for _ in $(seq 100); do [ -S "$T/s" ] && break; sleep 0.1; done
[ -S "$T/s" ] || { cat "$T/porter.log"; exit 1; }
nginx -p "$T/" -c "$T/nginx.conf"
sleep 0.3

python3 - "$PORT" "$LOGINS" <<'EOF'
import re, sys, threading, time, http.client, statistics
port, logins = int(sys.argv[1]), int(sys.argv[2])
def req(method, path, body=None, headers={}):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    c.request(method, path, body=body, headers=headers)
    r = c.getresponse(); data = r.read(); c.close()
    return r.status, r.getheader("Set-Cookie") or "", data.decode("utf-8", "replace")
_, cookie, page = req("GET", "/login")
m = re.search(r'name="csrf" value="([^"]+)"', page)
token = m.group(1) if m else ""
jar = cookie.split(";")[0]
def hello_latencies(stop):
    out = []
    while not stop():
        t = time.perf_counter(); req("GET", "/hello"); out.append(time.perf_counter() - t)
    return out
t_end = time.perf_counter() + 1.0
idle = hello_latencies(lambda: time.perf_counter() > t_end)
statuses = []
def login():
    s, _, _ = req("POST", "/login", body=f"user=demo&password=demo&csrf={token}",
                  headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": jar})
    statuses.append(s)
threads = [threading.Thread(target=login) for _ in range(logins)]
start = time.perf_counter()
for t in threads: t.start()
during = hello_latencies(lambda: all(not t.is_alive() for t in threads))
for t in threads: t.join()
elapsed = time.perf_counter() - start
def ms(x): return f"{x * 1000:.1f} ms"
print(f"/hello idle:   n={len(idle)} median {ms(statistics.median(idle))} max {ms(max(idle))}")
print(f"/hello flood:  n={len(during)} median {ms(statistics.median(during))} max {ms(max(during))}")
print(f"{logins} logins in {elapsed:.2f} s: " + ", ".join(f"{s}×{statuses.count(s)}" for s in sorted(set(statuses))))
EOF
