#!/usr/bin/env bash
# Porter's two entry points on a fresh Debian bookworm machine (run as root, or with sudo for apt):
#
#   deploy/dev.sh demo   build Porter, seed sample data, run Porter + nginx on http://127.0.0.1:8080
#                        (in a fresh mktemp directory; nginx's workers as www-data; Porter's socket 0660 to their group)
#   deploy/dev.sh test   install what the tests need and run every test (pipeline, FastCGI, nginx tiers),
#                        then print how many ran, passed, failed and were skipped (with the reasons)
#
# Both install missing Debian packages (apt-get update first) and PyPI packages the tests use.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$(pwd)

say() { echo "[porter] $*" >&2; }

# ---------------------------------------------------------------- system packages
# libvips is loaded with dlopen on first use: building needs no vips headers, running images needs libvips42;
# the tests need libvips-dev for its headers (VipsHeaderTests checks the shim's constants against them). libpq
# likewise (dlopen by a process with a PostgreSQL store; libpq5 comes with postgresql): LibPQHeaderTests needs libpq-dev.
BUILD_PKGS=(libfcgi-dev libfcgi-bin libvips42 libsqlite3-dev libssl-dev zlib1g-dev pkg-config nginx-light)
TEST_PKGS=(libvips-dev libpq-dev postgresql chromium python3-pip spawn-fcgi nftables)
TEST_PKGS+=(docker-compose python3-yaml)   # DockerComposeTests: `docker-compose config`, parsed with yaml
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

# Swift Testing's JSON event stream (one record per line), when this toolchain's `swift test` can write one.
event_stream_flags() {
    local help
    help=$(swift test --help-hidden 2>&1 || true)
    if grep -q -- '--event-stream-output-path' <<<"$help"; then
        echo "--event-stream-output-path $1 --event-stream-version 0"
    elif grep -q -- '--experimental-event-stream-output' <<<"$help"; then
        echo "--experimental-event-stream-output $1 --experimental-event-stream-version 0"
    fi
}

# Prints how many tests ran, passed, failed and were skipped (each skip with its reason, each failure with
# its first issue), from the event stream; from the console log when there is no stream.
summarize() {
    python3 - "$1" "${2:-}" <<'PY' >&2 || say "(no test summary: could not read $1)"
import json, os, re, sys

events_path, log_path = sys.argv[1], sys.argv[2]
out = lambda line="": print("[porter] " + line)

def from_events(path):
    tests, ended, skipped, issues, partial, run_line = {}, {}, {}, {}, {}, None
    for line in open(path, encoding="utf-8", errors="replace"):
        try:
            record = json.loads(line)
        except ValueError:
            continue
        payload = record.get("payload", {})
        if record.get("kind") == "test":
            if payload.get("kind") == "function":
                tests[payload["id"]] = payload.get("displayName") or payload.get("name") or payload["id"]
            continue
        kind, test_id = payload.get("kind", ""), payload.get("testID")
        texts = [m.get("text", "") for m in payload.get("messages", [])]
        text = texts[0] if texts else ""
        why = "; ".join(payload.get("_comments") or []) or text
        if kind == "runEnded":
            run_line = text
        elif kind == "testSkipped" and test_id:
            skipped[test_id] = text or why or "skipped"
        elif kind == "testCancelled" and test_id:   # Test.cancel("reason") in the test itself
            skipped.setdefault(test_id, why or "cancelled")
        elif kind == "testCaseCancelled" and test_id:   # one argument of a parameterized test
            case = (payload.get("_testCase") or {}).get("displayName")
            partial.setdefault(test_id, []).append((case, why or "cancelled"))
        elif kind == "testEnded" and test_id:
            symbols = [m.get("symbol", "") for m in payload.get("messages", [])]
            if "skip" in symbols:   # a cancelled test ends as skipped; its message carries the reason
                skipped[test_id] = text or skipped.get(test_id, "cancelled")
            ended[test_id] = "fail" if "fail" in symbols else "pass"
        elif kind == "issueRecorded" and test_id:
            issues.setdefault(test_id, []).append(" | ".join(t for t in texts if t))
    passed, failed, skips = [], [], []
    for test_id, name in sorted(tests.items(), key=lambda item: item[0]):
        reason = skipped.get(test_id) or next((why for suite, why in skipped.items()
                                               if test_id.startswith(suite + "/") or test_id.startswith(suite + ".")), None)
        if reason is not None:
            skips.append((name, reason))
        elif ended.get(test_id) == "pass":
            passed.append(name)
        elif test_id in ended:
            failed.append((name, (issues.get(test_id) or ["failed"])[0]))
        else:
            failed.append((name, "did not finish (the test process stopped or hung)"))
    return len(tests), passed, failed, skips, partial, tests, run_line

def from_log(path):
    passed, failed, skips, run_line = [], [], [], None
    for line in open(path, encoding="utf-8", errors="replace"):
        line = line.rstrip("\n")
        if re.match(r"^. Test run with ", line):
            run_line = line[2:]
        elif re.match(r"^\u2714 Test .* passed after [0-9.]+ seconds", line):
            passed.append(line[7:])
        elif re.match(r"^\u2718 Test .* failed after [0-9.]+ seconds", line):
            failed.append((line[7:], "see the log"))
        elif re.match(r"^\u279c Test .* skipped", line):
            skips.append((line[7:].split(" skipped", 1)[0], line[2:]))
    return len(passed) + len(failed) + len(skips), passed, failed, skips, {}, {}, run_line

if os.path.exists(events_path) and os.path.getsize(events_path) > 0:
    total, passed, failed, skips, partial, names, run_line = from_events(events_path)
elif log_path and os.path.exists(log_path):
    total, passed, failed, skips, partial, names, run_line = from_log(log_path)
else:
    raise SystemExit(1)
out("---- test summary ----")
if run_line:
    out(run_line)
out(f"tests: {total}   ran: {len(passed) + len(failed)}   passed: {len(passed)}   failed: {len(failed)}   skipped: {len(skips)}")
for name, why in failed:
    out(f"FAILED  {name}: {why}")
for name, why in skips:
    out(f"skipped {name}: {why}")
skipped_names = {name for name, _ in skips}
for test_id, cases in partial.items():
    if names.get(test_id, test_id) in skipped_names:
        continue   # the whole test was cancelled; already listed
    for case, why in cases:
        out(f"skipped case {case} of {names.get(test_id, test_id)}: {why}")
PY
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
    # The log and Swift Testing's event stream go into this checkout's .build (never a shared /tmp path).
    LOG="$REPO/.build/porter-test.log" EVENTS="$REPO/.build/porter-test-events.jsonl"
    rm -f "$EVENTS"
    set +e
    swift test --skip-build $(event_stream_flags "$EVENTS") 2>&1 | tee "$LOG"
    rc=${PIPESTATUS[0]}
    summarize "$EVENTS" "$LOG"
    set -e
    if ((rc != 0)); then say "tests FAILED (exit $rc; full log: $LOG)"; exit "$rc"; fi
    say "all tests passed (full log: $LOG)"
    ;;
summary)
    # deploy/dev.sh summary EVENTS.jsonl [LOG]: the summary of any earlier run, e.g. of
    # `swift test --skip-build --event-stream-output-path EVENTS.jsonl --event-stream-version 0 | tee LOG`.
    summarize "${2:?usage: $0 summary EVENTS.jsonl [LOG]}" "${3:-}"
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
worker_rlimit_nofile 8192;
pid $RUN/nginx/nginx.pid;
error_log $RUN/nginx/logs/error.log warn;
$USER_LINE
events { worker_connections 4096; }
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
    echo "usage: $0 demo|test|summary EVENTS.jsonl [LOG]" >&2; exit 2 ;;
esac
