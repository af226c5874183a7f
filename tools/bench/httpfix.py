# SPDX-License-Identifier: MIT
"""The HTTP rows' fixtures (tools/bench/bench.py --only http,https): a
bench-tuned nginx in a lab's backend namespace, a range of its backends made
dead with nftables, and HAProxy configs with `option httpchk HEAD /`.

nginx listens on 0.0.0.0:80 and :443 (a self-signed ECDSA P-256 certificate
made with openssl at start), so with the lab's AnyIP route every address of
198.18.0.0/16 is a backend.  Tuned for many cheap requests: one worker per
CPU, reuseport (the kernel spreads connections evenly over the workers, each
of which has the sandbox's 20,000 descriptors at most), keep-alive for 300 s
and a million requests, access log off, `return 200` for HEAD /.  Its
stub_status (on 127.0.0.1:8099 of the backend namespace) counts requests and
connections: the checks/s of every prober, measured the same way.
"""
from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import threading
import time

from lab import Lab, netns_socket, ns_cmd, run

STATUS_PORT = 8099
NGINX_FDS = 19_500                  # per worker, under the 20,000 hard limit
NFT_TABLE = "xhcbench"              # the dead range's table in the backend ns

NGINX_CONF = """\
worker_processes auto;
worker_rlimit_nofile {fds};
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
daemon off;
events {{
  worker_connections {conns};
  multi_accept on;
}}
http {{
  access_log off;
  keepalive_timeout 300s;
  keepalive_requests 1000000;
  client_body_temp_path {dir}/body;
  proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fastcgi;
  uwsgi_temp_path {dir}/uwsgi;
  scgi_temp_path {dir}/scgi;
  ssl_certificate {dir}/cert.pem;
  ssl_certificate_key {dir}/key.pem;
  ssl_session_cache shared:xhcbench:32m;
  server {{
    listen 80 reuseport backlog=65535;
    listen 443 ssl reuseport backlog=65535;
    location = / {{ return 200; }}
    location / {{ return 404; }}
  }}
  server {{
    listen 127.0.0.1:{status};
    location = /status {{ stub_status; }}
  }}
}}
"""


class Nginx:
    """nginx in LAB's backend namespace, its files in DIR; a context manager
    that stops (SIGQUIT, then SIGKILL) only the master it started."""

    def __init__(self, lab: Lab, workdir: str):
        self.lab = lab
        self.dir = os.path.join(workdir, "nginx")
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> "Nginx":
        os.makedirs(self.dir, exist_ok=True)
        run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj",
             "/CN=xhc-bench", "-keyout", os.path.join(self.dir, "key.pem"),
             "-out", os.path.join(self.dir, "cert.pem")])
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF.format(dir=self.dir, fds=NGINX_FDS, conns=NGINX_FDS - 500,
                                      status=STATUS_PORT))
        self.proc = subprocess.Popen(
            ns_cmd(self.lab.backend_ns, ["nginx", "-e", os.path.join(self.dir, "error.log"),
                                         "-c", conf]),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError):
                self.counters()
                return self
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError("nginx did not start: " + self.errors())
            time.sleep(0.1)

    def errors(self) -> str:
        with contextlib.suppress(FileNotFoundError):
            return open(os.path.join(self.dir, "error.log")).read()[-2000:]
        return ""

    def pids(self) -> list[int]:
        """The master and its workers."""
        if not self.proc or self.proc.poll() is not None:
            return []
        out = run(["ps", "-o", "pid=", "--ppid", str(self.proc.pid)], check=False).stdout
        return [self.proc.pid, *map(int, out.split())]

    def counters(self) -> dict:
        """stub_status: requests and accepted connections since start (the
        status requests themselves included: one each)."""
        s = netns_socket(self.lab.backend_ns, socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.settimeout(5)
            s.connect(("127.0.0.1", STATUS_PORT))
            s.sendall(b"GET /status HTTP/1.0\r\n\r\n")
            data = b""
            while chunk := s.recv(4096):
                data += chunk
        finally:
            s.close()
        m = re.search(rb"\n\s*(\d+)\s+(\d+)\s+(\d+)\s*\n", data)
        act = re.search(rb"Active connections:\s*(\d+)", data)
        if not m or not act:
            raise OSError(f"stub_status: {data[-300:]!r}")
        return {"accepts": int(m[1]), "requests": int(m[3]), "active": int(act[1])}

    def close(self) -> None:
        """SIGTERM (fast shutdown: a graceful one waits for every keep-alive
        connection); after 10 s SIGKILL to the master and its workers."""
        pids = self.pids()
        if not pids:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            for pid in pids:                    # `ip netns exec` execs nginx
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            self.proc.wait()

    def __exit__(self, *exc) -> None:
        self.close()


@contextlib.contextmanager
def dead(lab: Lab, addrs: list[str]):
    """Every packet to ADDRS (ports 80 and 443) is dropped in the backend
    namespace while the body runs: open keep-alive connections stall and new
    ones time out, as when a host dies.  The table goes away afterwards."""
    table = (f"table inet {NFT_TABLE} {{\n  chain input {{\n"
             "    type filter hook input priority -20; policy accept;\n"
             f"    ip daddr {{ {', '.join(addrs)} }} tcp dport {{ 80, 443 }} drop\n  }}\n}}\n")
    run(ns_cmd(lab.backend_ns, ["nft", "-f", "-"]), input=table)
    try:
        yield
    finally:
        run(ns_cmd(lab.backend_ns, ["nft", "delete", "table", "inet", NFT_TABLE]),
            check=False)


# ---------------------------------------------------------------- HAProxy

# HAProxy 2.6 wants a descriptor per checked server at start; the sandbox caps
# descriptors at 20,000, so servers are split over processes of this many.
HAPROXY_SERVERS_PER_PROCESS = 12_500


def haproxy_http_config(path: str, servers: list[str], port: int, tls: bool,
                        interval_ms: int, timeout_ms: int, rise: int, fall: int) -> None:
    """One HAProxy process checking SERVERS ("addr:port") with HEAD / at
    INTERVAL_MS; its (unused) frontend binds 127.0.0.1:PORT.  Up and down
    changes are logged (notice) to stderr."""
    ssl = " check-ssl verify none" if tls else ""
    with open(path, "w") as f:
        f.write("global\n  maxconn 2000\n  ulimit-n 19000\n  nbthread 1\n"
                "  log stderr format raw local0 notice\n"
                "defaults\n  mode http\n  log global\n"
                f"  timeout connect {timeout_ms}ms\n  timeout check {timeout_ms}ms\n"
                "  timeout client 5s\n  timeout server 5s\n"
                f"frontend idle\n  bind 127.0.0.1:{port}\n  default_backend bench\n"
                "backend bench\n  option httpchk\n  http-check send meth HEAD uri /\n"
                f"  default-server check inter {interval_ms}ms rise {rise} fall {fall}{ssl}\n")
        for k, s in enumerate(servers):
            f.write(f"  server s{k} {s}\n")


class HAProxies:
    """HAProxy processes in LAB's prober namespace checking SERVERS, split
    as HAPROXY_SERVERS_PER_PROCESS; each process's stderr is read by a
    thread that keeps the wall-clock time at which each server went down."""

    def __init__(self, lab: Lab, workdir: str, servers: list[str], tls: bool, **hc):
        self.procs: list[subprocess.Popen] = []
        self.down_at: dict[str, float] = {}        # "addr:port" -> time.time()
        self._threads: list[threading.Thread] = []
        self._logs: list[list[str]] = []
        per = HAPROXY_SERVERS_PER_PROCESS
        for i in range(0, len(servers), per):
            part = servers[i:i + per]
            cfg = os.path.join(workdir, f"haproxy-http{'s' if tls else ''}-{i // per}.cfg")
            haproxy_http_config(cfg, part, 18180 + i // per, tls, **hc)
            p = subprocess.Popen(ns_cmd(lab.prober_ns, ["haproxy", "-db", "-f", cfg]),
                                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE, text=True)
            self.procs.append(p)
            log: list[str] = []
            self._logs.append(log)
            t = threading.Thread(target=self._read, args=(p, part, log), daemon=True)
            t.start()
            self._threads.append(t)

    def _read(self, p: subprocess.Popen, part: list[str], log: list[str]) -> None:
        for line in p.stderr:
            m = re.search(r"Server bench/s(\d+) is DOWN", line)
            if m:
                self.down_at[part[int(m[1])]] = time.time()
            elif len(log) < 50:
                log.append(line)

    def check_running(self) -> None:
        for p, log in zip(self.procs, self._logs):
            if p.poll() is not None:
                raise RuntimeError("haproxy exited: " + "".join(log)[-1500:])

    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def close(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for t in self._threads:
            t.join(timeout=5)

    def __enter__(self) -> "HAProxies":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
