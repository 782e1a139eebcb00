#!/usr/bin/env python3
"""1000 concurrent requests that each await 1 s in an async handler, through nginx, with and without
upstream keepalive, after a floor row (nginx answering by itself); reports wall time, status counts, latency
percentiles, Porter's peak OS threads and RSS, and Porter's idle RSS before the load. Everything runs on loopback
with its own nginx prefix."""
import argparse, os, select, socket, shutil, signal, subprocess, sys, tempfile, time, threading

def proc_status(pid):
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                out[k] = v.strip()
    except FileNotFoundError:
        pass
    return out

def burst(port, path, n):
    """Opens n connections at once and sends one request on each, then reads every response on one epoll loop.
    A plain non-blocking loop, not asyncio: asyncio's per-connection cost (~0.3 ms) made the client, not the
    server, most of the wall time above the 1 s await (see the nginx-only floor row)."""
    req = f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
    ep = select.epoll(n + 8)
    conns = {}
    t0 = time.monotonic()
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        conns[s.fileno()] = [s, time.monotonic(), False, bytearray()]
        ep.register(s.fileno(), select.EPOLLOUT)
    results = []
    while conns:
        for fd, ev in ep.poll(5.0):
            c = conns[fd]
            s = c[0]
            if not c[2]:
                if ev & (select.EPOLLERR | select.EPOLLHUP):
                    results.append((-1, time.monotonic() - c[1])); ep.unregister(fd); s.close(); del conns[fd]
                    continue
                s.send(req); c[2] = True
                ep.modify(fd, select.EPOLLIN)
                continue
            try:
                chunk = s.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                chunk = b""; c[3] = bytearray()
            if chunk:
                c[3] += chunk
                continue
            data = bytes(c[3])
            status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") else -1
            results.append((status, time.monotonic() - c[1]))
            ep.unregister(fd); s.close(); del conns[fd]
    ep.close()
    return time.monotonic() - t0, results

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--porter", required=True)
    ap.add_argument("--config", required=True)
    ap.add_argument("-n", type=int, default=1000)
    ap.add_argument("--ms", type=int, default=1000)
    a = ap.parse_args()
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    d = tempfile.mkdtemp(prefix="porter-burst-")
    sock = f"{d}/p.sock"
    porter = subprocess.Popen([a.porter, "serve", "--config", a.config, "--socket", sock, "--socket-mode", "0666"],
                              stdout=subprocess.DEVNULL, stderr=open(f"{d}/porter.log", "w"))
    for _ in range(200):
        if os.path.exists(sock): break
        time.sleep(0.05)
    if not os.path.exists(sock):
        porter.kill()
        sys.exit(f"porter did not start (see {d}/porter.log)")
    time.sleep(0.5)
    idle = proc_status(porter.pid)
    print(f"porter idle: RSS {idle.get('VmRSS')}, threads {idle.get('Threads')}")
    os.makedirs(f"{d}/nginx/logs"); os.makedirs(f"{d}/nginx/tmp")
    port = 18380
    conf = f"""daemon off; worker_processes 1; pid {d}/nginx/nginx.pid; error_log {d}/nginx/logs/error.log warn;
{"user root;" if os.geteuid() == 0 else ""}
worker_rlimit_nofile 16384;
events {{ worker_connections 8192; }}
http {{ access_log off; client_body_temp_path {d}/nginx/tmp;  fastcgi_temp_path {d}/nginx/tmp;
  upstream porter_ka {{ server unix:{sock}; keepalive 32; }}
  server {{ listen 127.0.0.1:{port} backlog=4096;
    location = /nginx-only {{ return 200 "ok"; }}
    location = /porter-slow.fcgi {{ include /etc/nginx/fastcgi_params; fastcgi_pass unix:{sock}; }}
    location = /porter-slow-ka.fcgi {{ include /etc/nginx/fastcgi_params; fastcgi_keep_conn on; fastcgi_pass porter_ka; }}
  }}
}}"""
    open(f"{d}/nginx/nginx.conf", "w").write(conf)
    nginx = subprocess.Popen(["nginx", "-p", f"{d}/nginx/", "-c", f"{d}/nginx/nginx.conf"])
    time.sleep(0.5)
    peak = {"threads": 0, "rss": 0}
    stop = threading.Event()
    def sampler():
        while not stop.is_set():
            s = proc_status(porter.pid)
            peak["threads"] = max(peak["threads"], int(s.get("Threads", "0")))
            peak["rss"] = max(peak["rss"], int(s.get("VmRSS", "0 kB").split()[0]))
            time.sleep(0.02)
    threading.Thread(target=sampler, daemon=True).start()
    try:
        # The first row is the floor: the same client and nginx answering by itself, no Porter, no await.
        for label, loc in (("nginx only, no await", "/nginx-only"), ("no keepalive", "/porter-slow.fcgi"),
                           ("keepalive", "/porter-slow-ka.fcgi")):
            path = f"{loc}?ms={a.ms}"
            wall, results = burst(port, path, a.n)
            lat = sorted(t for _, t in results)
            ok = sum(1 for s, _ in results if s == 200)
            p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
            print(f"{a.n} x {0 if loc == '/nginx-only' else a.ms} ms ({label}): wall {wall:.3f} s, {ok}/{a.n} status 200, "
                  f"p50 {p(0.5):.3f} s, p99 {p(0.99):.3f} s, max {lat[-1]:.3f} s")
            time.sleep(0.5)
    finally:
        stop.set()
        print(f"porter peak during bursts: threads {peak['threads']}, RSS {peak['rss']} kB")
        nginx.send_signal(signal.SIGQUIT); porter.send_signal(signal.SIGTERM)
        nginx.wait(10); porter.wait(30)
        shutil.rmtree(d, ignore_errors=True)

if __name__ == "__main__":
    main()
