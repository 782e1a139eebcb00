# Shared by the bench scripts (sourced, not run): process trees and CPU time of processes from /proc, per request.

# tree PID -> PID and all its descendants, one per line
tree() { local p=$1 c; echo "$p"; for c in $(cat /proc/"$p"/task/*/children 2>/dev/null); do tree "$c"; done; }

# cpu_ticks PID... -> user + system CPU ticks of those processes (all threads; reaped children's included)
cpu_ticks() { stat_ticks '$12 + $13 + $14 + $15' "$@"; }

# sys_ticks PID... -> the system (kernel) part of cpu_ticks: where the syscalls and the socket work go
sys_ticks() { stat_ticks '$13 + $15' "$@"; }

# stat_ticks AWK-EXPR PID... -> the sum over the processes of EXPR over /proc/PID/stat's fields after the ")" that
# ends comm (12 utime, 13 stime, 14 cutime, 15 cstime)
stat_ticks() {
    local expr=$1 p t=0 v
    shift
    for p in "$@"; do
        v=$(sed -E 's/^.*\) //' "/proc/$p/stat" 2>/dev/null | awk "{print $expr}"); t=$((t + ${v:-0}))
    done
    echo "$t"
}

# cpu_us_per_request TICKS REQUESTS [DECIMALS] -> microseconds of CPU per request (0 when no request ran)
cpu_us_per_request() {
    awk -v t="$1" -v n="$2" -v d="${3:-1}" -v hz="$(getconf CLK_TCK)" 'BEGIN{printf "%.*f", d, (n > 0 ? t * 1e6 / hz / n : 0)}'
}

# The feed both feeds.sh and callgrind.sh measure.
# seed_feed PORTER_BIN DB -> channel "big" in DB with 50 items (16,868 bytes as RSS)
seed_feed() {
    local bin=$1 db=$2 i
    "$bin" feed add-channel big --title "Fifty items" -d "$db" >/dev/null
    for i in $(seq 50); do
        "$bin" feed add big --title "Item $i & more <news>" --link "https://example.org/$i" \
            --description "<p>Body of item $i with some text to make it realistic: lorem ipsum dolor sit amet.</p>" -d "$db" >/dev/null
    done
}
# The response buffers `porter nginx-config` generates for a feed route: nginx reads a feed in one 32 KiB buffer.
FEED_BUFFERS="fastcgi_buffer_size 32k; fastcgi_buffers 4 16k; fastcgi_busy_buffers_size 32k;"

# porter_bin -> the porter binary a bench measures: $PORTER_BIN, or /tmp/porter-bench, built (release) the first time
porter_bin() {
    local bin=${PORTER_BIN:-/tmp/porter-bench}
    if [[ ! -x $bin ]]; then
        [[ $bin == /tmp/porter-bench ]] || { echo "PORTER_BIN=$bin is not an executable" >&2; return 1; }
        swift build -c release --product porter --scratch-path .build-release >&2
        install -m 0755 .build-release/release/porter "$bin"
    fi
    echo "$bin"
}

# porter_preamble W -> the first lines of every bench porter.toml: the socket start_porter waits for, 8 threads, warnings
porter_preamble() {
    cat <<TOML
listen = "$1/p.sock"
socket_mode = "0666"
threads = 8
log_level = "warning"
TOML
}

# start_porter BIN W -> BIN serving $W/porter.toml (log $W/porter.log) in the background as $PORTER, killed with
# $NGINX when the script exits; returns once $W/p.sock exists (or after 10 s)
start_porter() {
    "$1" serve --config "$2/porter.toml" 2>"$2/porter.log" & PORTER=$!
    trap 'kill $PORTER ${NGINX:-} 2>/dev/null; wait 2>/dev/null' EXIT
    local _
    for _ in $(seq 100); do [[ -S $2/p.sock ]] && break; sleep 0.1; done
}

# nginx_preamble W -> the first lines of every bench nginx.conf under $W/nginx, ending inside `http {` after the
# access log and temp paths (the caller writes its upstream and server, then closes http)
nginx_preamble() {
    cat <<CONF
daemon off; worker_processes auto; pid $1/nginx/nginx.pid; error_log $1/nginx/logs/error.log warn;
$([[ $(id -u) -eq 0 ]] && echo "user root;")
events { worker_connections 1024; }
http { access_log off; client_body_temp_path $1/nginx/tmp; fastcgi_temp_path $1/nginx/tmp;
CONF
}

# start_nginx W -> nginx on $W/nginx/nginx.conf in the background as $NGINX
start_nginx() { nginx -p "$1/nginx/" -c "$1/nginx/nginx.conf" & NGINX=$!; }
