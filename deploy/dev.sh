#!/usr/bin/env bash
# Porter's two entry points on a fresh Debian bookworm machine (run as root, or with sudo for apt):
#
#   deploy/dev.sh demo   build Porter, seed sample data, run Porter + nginx on http://127.0.0.1:8080
#                        (in a fresh mktemp directory; nginx's workers as www-data; Porter's socket 0660 to their group)
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
    say "running the tests"
    set +e
    swift test --skip-build 2>&1 | tee /tmp/porter-test.log
    rc=${PIPESTATUS[0]}
    set -e
    if ((rc != 0)); then say "tests FAILED (exit $rc; full log: /tmp/porter-test.log)"; exit "$rc"; fi
    say "all tests passed"
    ;;
demo)
    [[ ${PORTER_SKIP_PACKAGES:-0} == 1 ]] || ensure_packages "${BUILD_PKGS[@]}"
    PORT=${PORTER_DEMO_LISTEN:-127.0.0.1:8080}
    if [[ -n ${PORTER_BIN:-} ]]; then
        BIN=$PORTER_BIN   # a porter binary built already (the tests use this)
    else
        ensure_swift
        CONFIG=${PORTER_BUILD_CONFIG:-release}
        say "building porter ($CONFIG)"
        swift build -c "$CONFIG" --product porter
        BIN="$REPO/.build/$CONFIG/porter"
    fi
    # A fresh private directory per run (mktemp: new name, mode 0700, ours; nothing in it to follow), opened up
    # to 0711 so nginx's workers can pass through to the socket and www/ without listing anything.
    RUN=$(mktemp -d "${TMPDIR:-/tmp}/porter-demo.XXXXXXXX")
    chmod 0711 "$RUN"
    # nginx workers run unprivileged; Porter's socket is shared with their group only.
    if [[ $(id -u) -eq 0 ]]; then
        WEB_USER=${PORTER_DEMO_WEB_USER:-www-data}
        id -u "$WEB_USER" >/dev/null 2>&1 || { say "user $WEB_USER does not exist (nginx's workers run as it)"; exit 1; }
        WEB_GROUP=$(id -gn "$WEB_USER")
        USER_LINE="user $WEB_USER $WEB_GROUP;"
    else
        WEB_GROUP=$(id -gn)   # nginx's workers run as this user: the socket's group is our own
        USER_LINE=""
    fi
    mkdir -m 0700 "$RUN"/nginx "$RUN"/nginx/logs
    mkdir -m 0711 "$RUN"/nginx/conf
    STATE="$RUN/state"
    cp "$REPO/nginx/porter-locations.conf" "$REPO/nginx/porter-fastcgi.conf" "$RUN/nginx/conf/"
    "$BIN" nginx-site --template "$REPO/nginx/porter.conf" --socket "$RUN/porter.sock" --root "$STATE/www" \
        --listen "$PORT" --include-directory "$RUN/nginx/conf" --cache-directory "$RUN/cache" >"$RUN/nginx/conf/porter.conf"
    # The temp and cache paths do not exist yet: nginx creates them for its workers' user.
    cat >"$RUN/nginx/conf/nginx.conf" <<CONF
daemon off;
worker_processes 1;
pid $RUN/nginx/nginx.pid;
error_log $RUN/nginx/logs/error.log warn;
$USER_LINE
events { worker_connections 1024; }
http {
    include /etc/nginx/mime.types;
    access_log $RUN/nginx/logs/access.log;
    client_body_temp_path $RUN/tmp/body;
    fastcgi_temp_path $RUN/tmp/fastcgi;
    proxy_temp_path $RUN/tmp/proxy;
    scgi_temp_path $RUN/tmp/scgi;
    uwsgi_temp_path $RUN/tmp/uwsgi;
    include $RUN/nginx/conf/porter.conf;
}
CONF
    mkdir -m 0711 "$RUN/tmp"
    PORTER_PID="" NGINX_PID=""
    cleanup() {
        [[ -n $NGINX_PID ]] && kill "$NGINX_PID" 2>/dev/null
        [[ -n $PORTER_PID ]] && kill "$PORTER_PID" 2>/dev/null
        wait 2>/dev/null
        [[ ${PORTER_DEMO_KEEP:-0} == 1 ]] || rm -rf "$RUN"
    }
    trap cleanup EXIT
    trap 'exit 130' INT TERM
    "$BIN" serve --demo --demo-directory "$STATE" --socket "$RUN/porter.sock" --socket-mode 0660 --socket-group "$WEB_GROUP" &
    PORTER_PID=$!
    for _ in $(seq 200); do [[ -S "$RUN/porter.sock" ]] && break; sleep 0.1; done
    [[ -S "$RUN/porter.sock" ]] || { say "porter did not start (see above)"; exit 1; }
    nginx -p "$RUN/nginx/" -c "$RUN/nginx/conf/nginx.conf" -e "$RUN/nginx/logs/error.log" &
    NGINX_PID=$!
    for _ in $(seq 50); do [[ -s "$RUN/nginx/nginx.pid" ]] && break; sleep 0.1; done
    kill -0 "$NGINX_PID" 2>/dev/null || { say "nginx did not start (see above)"; exit 1; }
    say "demo directory: $RUN (removed on exit; PORTER_DEMO_KEEP=1 keeps it)"
    say "demo running: http://$PORT/  (Ctrl-C stops Porter and nginx)"
    wait
    ;;
*)
    echo "usage: $0 demo|test" >&2; exit 2 ;;
esac
