#!/usr/bin/env python3
"""The image handler on its own (FastCGI straight to Porter's socket, no nginx): a 1920x1080 JPEG resized
to 300 px wide as JPEG, WebP and AVIF, sequentially (ms per resize), then 40 distinct widths at once on
the handler's 2 resize threads (resizes per second), with Porter's peak RSS (VmHWM) after each step.

Moved here from the unit tests (it measured speed, which the tests never do).

    bench/resize.py --porter .build-release/release/porter
"""
import argparse, os, socket, struct, subprocess, sys, tempfile, threading, time


def fcgi_get(sock_path, uri, timeout=120):
    """One GET over FastCGI (RESPONDER, no keep-conn); returns (status, body bytes)."""
    path, _, query = uri.partition("?")
    params = {"REQUEST_METHOD": "GET", "REQUEST_URI": uri, "SCRIPT_NAME": path, "DOCUMENT_URI": path,
              "QUERY_STRING": query, "SERVER_PROTOCOL": "HTTP/1.1", "GATEWAY_INTERFACE": "CGI/1.1",
              "REMOTE_ADDR": "127.0.0.1", "SERVER_NAME": "localhost", "SERVER_PORT": "80", "HTTP_HOST": "localhost"}

    def length(n):
        return bytes([n]) if n < 128 else struct.pack(">I", n | 0x80000000)

    def record(kind, content):
        return struct.pack(">BBHHBB", 1, kind, 1, len(content), 0, 0) + content

    pairs = b"".join(length(len(k)) + length(len(v)) + k.encode() + v.encode() for k, v in params.items())
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(sock_path)
    s.sendall(record(1, struct.pack(">HB5x", 1, 0)) + record(4, pairs) + record(4, b"") + record(5, b""))
    data = b""
    out = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
        while len(data) >= 8:
            _, kind, _, clen, plen, _ = struct.unpack(">BBHHBB", data[:8])
            if len(data) < 8 + clen + plen:
                break
            content, data = data[8:8 + clen], data[8 + clen + plen:]
            if kind == 6:
                out += content
            elif kind == 3:
                s.close()
                head, _, body = out.partition(b"\r\n\r\n")
                status = 200
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"status:"):
                        status = int(line.split()[1])
                return status, body
    s.close()
    return -1, b""


def peak_rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) // 1024
    return -1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--porter", required=True, help="the porter binary (a release build)")
    a = ap.parse_args()
    from PIL import Image  # pillow (deploy/dev.sh test installs it)
    d = tempfile.mkdtemp(prefix="porter-resize-")
    os.makedirs(f"{d}/img")
    w, h = 1920, 1080
    img = Image.linear_gradient("L").resize((w, h)).convert("RGB")
    noise = Image.effect_noise((w, h), 64).convert("L")
    r, g, b = img.split()
    Image.merge("RGB", (r, Image.blend(g, noise, 0.5), b)).save(f"{d}/img/bench.jpg", quality=85)
    sock = f"{d}/p.sock"
    with open(f"{d}/porter.toml", "w") as f:
        f.write(f'listen = "{sock}"\nthreads = 8\nlog_level = "warning"\n'
                f'[[handlers]]\nverb = "GET,HEAD"\npath = "/images/*"\nhandler = "image"\nroot = "{d}/img"\n'
                f'threads = 2\nqueue_limit = 64\n')
    porter = subprocess.Popen([a.porter, "serve", "--config", f"{d}/porter.toml"],
                              stdout=subprocess.DEVNULL, stderr=open(f"{d}/porter.log", "w"))
    try:
        for _ in range(600):
            if os.path.exists(sock):
                break
            time.sleep(0.05)
        size = os.path.getsize(f"{d}/img/bench.jpg")
        for fmt, iterations in (("jpeg", 50), ("webp", 50), ("avif", 10)):
            uri = f"/images/bench.jpg?w=300&fmt={fmt}"
            status, body = fcgi_get(sock, uri)  # warm-up
            if status != 200:
                print(f"resize: {fmt}: status {status} (not supported by this libvips?)")
                continue
            t0 = time.monotonic()
            for _ in range(iterations):
                status, body = fcgi_get(sock, uri)
            per = (time.monotonic() - t0) / iterations * 1000
            print(f"resize: {w}x{h} JPEG ({size} bytes) -> w=300 {fmt}: {per:.1f} ms/resize "
                  f"({iterations} sequential), output {len(body)} bytes, peak RSS {peak_rss_mib(porter.pid)} MiB")
        statuses = []
        lock = threading.Lock()

        def one(i):
            s, _ = fcgi_get(sock, f"/images/bench.jpg?w={300 + i}")
            with lock:
                statuses.append(s)

        threads = [threading.Thread(target=one, args=(i,)) for i in range(40)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - t0
        ok = sum(1 for s in statuses if s == 200)
        print(f"resize: 40 concurrent distinct resizes in {elapsed * 1000:.0f} ms ({40 / elapsed:.1f} resizes/s, "
              f"{ok} answered 200), peak RSS {peak_rss_mib(porter.pid)} MiB")
    finally:
        porter.terminate()
        porter.wait()


if __name__ == "__main__":
    sys.exit(main())
