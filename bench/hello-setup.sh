# Sourced by bench/callgrind.sh and bench/allocs.sh: the hello-behind-nginx setup both measure.
#   hello_setup DIR PORT
# writes DIR/porter.toml (hello only, one process: workers = 0), DIR/nginx/nginx.conf (one worker, upstream
# keepalive to DIR/backend.sock, listening on 127.0.0.1:PORT) and builds the C libfcgi peer as DIR/hello-c.
hello_setup() {
    local w=$1 port=$2
    mkdir -p "$w"/{nginx/logs,nginx/tmp}
    gcc -O2 -Wall -o "$w/hello-c" bench/peers/backends/hello.c -lfcgi -lpthread
    cat >"$w/porter.toml" <<TOML
listen = "$w/backend.sock"
socket_mode = "0666"
threads = 8
workers = 0
log_level = "warning"
[[handlers]]
verb = "GET,HEAD"
path = "/hello"
handler = "hello"
TOML
    cat >"$w/nginx/nginx.conf" <<CONF
daemon off; worker_processes 1; pid $w/nginx/nginx.pid; error_log $w/nginx/logs/error.log warn;
$([[ $(id -u) -eq 0 ]] && echo "user root;")
events { worker_connections 1024; }
http { access_log off; client_body_temp_path $w/nginx/tmp; fastcgi_temp_path $w/nginx/tmp;
  upstream backend { server unix:$w/backend.sock; keepalive 32; }
  server { listen 127.0.0.1:$port;
    location / { include /etc/nginx/fastcgi_params; fastcgi_keep_conn on; fastcgi_pass backend; } } }
CONF
}
