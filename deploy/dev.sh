#!/usr/bin/env bash
# Porter's two entry points on a fresh Debian bookworm machine (run as root, or with sudo for apt):
#
#   deploy/dev.sh demo   build Porter, seed sample data, run Porter + nginx on http://127.0.0.1:8080
#   deploy/dev.sh test   install what the tests need and run every test (pipeline, FastCGI, nginx tiers)
#
# Both install missing Debian packages (apt-get update first) and PyPI packages the tests use.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$(pwd)

say() { echo "[porter] $*" >&2; }

# ---------------------------------------------------------------- system packages
BUILD_PKGS=(libfcgi-dev libfcgi-bin libvips-dev libsqlite3-dev pkg-config nginx-light)
TEST_PKGS=(postgresql chromium python3-pip spawn-fcgi)
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
ensure_packages() {
    local missing=() p
    for p in "$@"; do installed "$p" || missing+=("$p"); done
    ((${#missing[@]})) || return 0
    say "installing: ${missing[*]}"
    local SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO=sudo
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
}
ensure_python() {
    local missing=() m
    for m in "$@"; do python3 -c "import ${m%%=*}" 2>/dev/null || missing+=("${m#*=}"); done
    ((${#missing[@]})) || return 0
    say "pip installing: ${missing[*]}"
    python3 -m pip install -q "${missing[@]}" 2>/dev/null || python3 -m pip install -q --break-system-packages "${missing[@]}"
}
ensure_swift() {
    command -v swift >/dev/null && return 0
    [[ -x /opt/swift/usr/bin/swift ]] && { export PATH=/opt/swift/usr/bin:$PATH; return 0; }
    echo "Swift 6.1 or later is required (https://www.swift.org/install/linux/)" >&2; exit 1
}

case "${1:-}" in
test)
    ensure_packages "${BUILD_PKGS[@]}" "${TEST_PKGS[@]}"
    ensure_python feedparser=feedparser prometheus_client=prometheus-client PIL=pillow
    ensure_swift
    say "building (first build fetches and compiles the Swift dependencies: a few minutes)"
    swift build --build-tests
    say "building the examples (Examples/*, against this checkout; they share .build)"
    for example in Examples/*/; do swift build --package-path "$example" --scratch-path .build; done
    say "running the tests"
    set +e
    swift test --skip-build 2>&1 | tee /tmp/porter-test.log
    rc=${PIPESTATUS[0]}
    set -e
    if ((rc != 0)); then say "tests FAILED (exit $rc; full log: /tmp/porter-test.log)"; exit "$rc"; fi
    say "all tests passed"
    ;;
demo)
    ensure_packages "${BUILD_PKGS[@]}"
    ensure_swift
    RUN=${PORTER_DEMO_DIR:-/tmp/porter-demo}
    PORT=${PORTER_DEMO_LISTEN:-127.0.0.1:8080}
    CONFIG=${PORTER_BUILD_CONFIG:-release}
    say "building porter ($CONFIG)"
    swift build -c "$CONFIG" --product porter
    BIN="$REPO/.build/$CONFIG/porter"
    mkdir -p "$RUN"/{nginx/logs,nginx/tmp,cache}
    STATE="$RUN/state"
    cp "$REPO/nginx/porter-locations.conf" "$REPO/nginx/porter-fastcgi.conf" "$RUN/nginx/"
    "$BIN" nginx-site --template "$REPO/nginx/porter.conf" --socket "$RUN/porter.sock" --root "$STATE/www" \
        --listen "$PORT" --include-directory "$RUN/nginx" --cache-directory "$RUN/cache" >"$RUN/nginx/porter.conf"
    cat >"$RUN/nginx/nginx.conf" <<CONF
daemon off;
worker_processes 1;
pid $RUN/nginx/nginx.pid;
error_log $RUN/nginx/logs/error.log warn;
$([[ $(id -u) -eq 0 ]] && echo "user root;")
events { worker_connections 1024; }
http {
    include /etc/nginx/mime.types;
    access_log $RUN/nginx/logs/access.log;
    client_body_temp_path $RUN/nginx/tmp/body;
    fastcgi_temp_path $RUN/nginx/tmp/fastcgi;
    proxy_temp_path $RUN/nginx/tmp/proxy;
    scgi_temp_path $RUN/nginx/tmp/scgi;
    uwsgi_temp_path $RUN/nginx/tmp/uwsgi;
    include $RUN/nginx/porter.conf;
}
CONF
    rm -f "$RUN/porter.sock"
    "$BIN" serve --demo --demo-directory "$STATE" --socket "$RUN/porter.sock" --socket-mode 0666 &
    PORTER_PID=$!
    trap 'kill $PORTER_PID ${NGINX_PID:-} 2>/dev/null; wait 2>/dev/null' EXIT INT TERM
    for _ in $(seq 100); do [[ -S "$RUN/porter.sock" ]] && break; sleep 0.1; done
    nginx -p "$RUN/nginx/" -c "$RUN/nginx/nginx.conf" &
    NGINX_PID=$!
    sleep 0.5
    kill -0 "$NGINX_PID" 2>/dev/null || { say "nginx did not start (see above)"; exit 1; }
    say "demo running: http://$PORT/  (Ctrl-C stops Porter and nginx)"
    wait
    ;;
*)
    echo "usage: $0 demo|test" >&2; exit 2 ;;
esac
