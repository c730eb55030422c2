#!/usr/bin/env python3
"""The status page as a person sees it: runs the daemon (embedded broker, bundled
sample) for 20 s, puts it behind a reverse proxy that serves it under a path prefix
(/feeder, as an ingress would), and opens http://127.0.0.1:PROXY/feeder in headless
Chromium (Debian's `chromium`): the screenshot goes to target/status-page.png, the
DOM after the page's scripts ran is checked (a non-zero delivered count, a chart
with data, figures refreshed through the relative `status` fetch behind the prefix),
and /status of the 20 s run is kept in target/status-20s.json.

    python3 scripts/check-status-page.py target/debug/kafka-feeder
"""
import http.client
import http.server
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

RUN_S = 20
PREFIX = "/feeder"
OUT = "target"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port, path):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read().decode()
    finally:
        c.close()


def prefix_proxy(port, target, seen):
    """Serves the daemon under PREFIX, stripping it, as a path-based ingress does."""

    class Proxy(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append(self.path)
            if self.path != PREFIX and not self.path.startswith(PREFIX + "/"):
                self.send_error(404)
                return
            path = self.path[len(PREFIX):] or "/"
            c = http.client.HTTPConnection("127.0.0.1", target, timeout=5)
            c.request("GET", path)
            r = c.getresponse()
            body = r.read()
            self.send_response(r.status)
            for k, v in r.getheaders():
                if k.lower() not in ("content-length", "connection", "transfer-encoding"):
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Proxy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def chromium(url, *mode):
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe:
        raise RuntimeError("no chromium on PATH: apt-get install -y chromium")
    profile = tempfile.mkdtemp(prefix="status-page-chromium-")
    try:
        r = subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                            "--disable-background-networking", "--disable-component-update", "--disable-sync",
                            f"--user-data-dir={profile}", "--hide-scrollbars", "--window-size=1280,1180",
                            "--virtual-time-budget=5000", *mode, url],
                           capture_output=True, text=True, timeout=120)
        return r.stdout
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else "target/debug/kafka-feeder"
    os.makedirs(OUT, exist_ok=True)
    port, proxy_port = free_port(), free_port()
    env = {"PATH": os.environ.get("PATH", ""), "KAFKA_BOOTSTRAP_SERVERS": "embedded", "PRESET": "high",
           "RANDOM_SEED": "42", "HTTP_PORT": str(port), "LOG_LEVEL": "warn"}
    proc = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL)
    seen = []
    proxy = prefix_proxy(proxy_port, port, seen)
    failures, checks = [], 0

    def check(ok, what):
        nonlocal checks
        checks += 1
        if not ok:
            failures.append(what)

    try:
        time.sleep(RUN_S)
        code, body = get(port, "/status")
        check(code == 200, f"/status answered {code}")
        status = json.loads(body)
        with open(os.path.join(OUT, "status-20s.json"), "w") as f:
            json.dump(status, f, indent=2)
        check(status["totals"]["delivered"] > 0, "nothing delivered in 20 s")
        url = f"http://127.0.0.1:{proxy_port}{PREFIX}"
        png = os.path.join(OUT, "status-page.png")
        if os.path.exists(png):
            os.remove(png)
        chromium(url, f"--screenshot={png}")
        check(os.path.exists(png) and os.path.getsize(png) > 20_000, f"no screenshot at {png}")
        dom = chromium(url, "--dump-dom")
        delivered = re.search(r'id="delivered">([\d,]+)<', dom)
        check(delivered is not None and int(delivered.group(1).replace(",", "")) > 0,
              f"the page shows no delivered count: {delivered and delivered.group(0)}")
        points = re.search(r'id="chart"[^>]*data-points="(\d+)"[^>]*data-max="([\d.]+)"', dom)
        check(points is not None and int(points.group(1)) >= 10 and float(points.group(2)) > 0,
              f"the chart has no data: {points and points.group(0)}")
        check(re.search(r'<body[^>]*data-source="fetch"', dom) is not None,
              "the page never refreshed itself from status (behind the prefix)")
        check(f"{PREFIX}/status" in seen, f"the page did not fetch {PREFIX}/status: {seen}")
        check(not any(p.startswith("/status") for p in seen), f"the page fetched outside its prefix: {seen}")
        print(f"status page: {status['totals']['delivered']} delivered at {RUN_S} s, "
              f"page shows {delivered and delivered.group(1)}, chart {points and points.group(1)} points; "
              f"screenshot {png} ({os.path.getsize(png) if os.path.exists(png) else 0} bytes); proxy saw {sorted(set(seen))}")
    finally:
        proxy.shutdown()
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=25)
        check(rc == 0, f"exit code {rc} after SIGTERM")
    for f in failures:
        print("FAIL:", f)
    print(f"check-status-page: {checks - len(failures)} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
