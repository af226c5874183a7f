# SPDX-License-Identifier: MIT
"""Real application backends in a lab's backend namespace: private nginx,
redis-server and small Python TCP and UDP services, each with its own
config, pid and log files in one directory, never the system's (/etc/nginx,
the Debian services).  With the lab's AnyIP route one listener on
0.0.0.0:PORT (and [::]:PORT) answers for every backend address.

    with Lab(listen=[]) as lab:                 # nginx needs port 80 free
        svc = Services(lab).start()             # the lab stops it on close
        clients.http_request(lab.prober_ns, Lab.addr(0), 80, "/health")
        svc.access_log()                        # what nginx saw, one dict a request

Ports (Services.ports, overridable by name):
    http 80, http_alt 8080   nginx, HTTP/1.1
    h2c 8081                 nginx, HTTP/2 with prior knowledge (no TLS)
    https 443                nginx, TLS (h2 and http/1.1 by ALPN), certificate for
                             TLS_NAME signed by the lab CA (Services.ca_file)
    https_wrong 8443         the same, certificate for WRONG_NAME (same CA)
    https_self 9443          the same, a self-signed certificate for TLS_NAME
    redis 6379               redis-server: PING -> +PONG
    mismatch 6380            answers MISMATCH_REPLY to every chunk it reads
    mismatch_close 6384      answers MISMATCH_REPLY once, then closes
    banner 6382              sends BANNER at once on accept (then as mismatch)
    closer 6381              accepts and closes at once
UDP, IPv4 and IPv6, each answering from the address it was sent to
(udpserv.py; constants UDP_ECHO ... UDP_DROPPED below):
    udp_echo 5300            sends every datagram back
    udp_other 5301           answers UDP_OTHER_REPLY ("NOPE") to every datagram
    udp_closed 5302          no socket: the kernel answers ICMP port unreachable
                             (the lab lifts the ICMP rate limits; see Lab)
    udp_dropped 5303         an nftables rule drops every datagram: no answer
Every nginx port serves the same paths (PATHS): / and /health answer 200
with a known body, /status/NNN answers NNN, /switch answers what
set_switch() chose for the backend address, /slow answers 200 after
slow_s seconds and /hang never (both proxied to tcpserv.py on 127.0.0.1),
/stub_status is nginx's counters.  Every request is one JSON line of the
access log (see access_log()), with the method, the connection's serial
number and request count, the protocol, the TLS version, SNI and ALPN.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .names import SERVICE_MARK
from .netns import nsenter_prefix
from .proc import LabError, kill_pids, pdeathsig, proc_alive, proc_starttime, run

TLS_NAME = "backend.xhc.test"           # the name in the good certificates
WRONG_NAME = "wrong.xhc.test"           # the name in the wrong-name certificate
ROOT_BODY = "ok\n"
HEALTH_BODY = "status: healthy\n"
SWITCH_BODY = "switch: up\n"
MISMATCH_REPLY = b"-ERR nope\r\n"
BANNER = b"220 xhc lab ready\r\n"
SWITCH_CODES = (404, 500, 503)          # what set_switch() can make /switch answer
UDP_ECHO, UDP_OTHER, UDP_CLOSED, UDP_DROPPED = 5300, 5301, 5302, 5303
UDP_OTHER_REPLY = b"NOPE"

PORTS = {
    "http": 80, "http_alt": 8080, "h2c": 8081,
    "https": 443, "https_wrong": 8443, "https_self": 9443,
    "redis": 6379, "mismatch": 6380, "closer": 6381, "banner": 6382, "mismatch_close": 6384,
    "slow_upstream": 18080, "hang_upstream": 18081,     # on 127.0.0.1 only
    "udp_echo": UDP_ECHO, "udp_other": UDP_OTHER,       # UDP
    "udp_closed": UDP_CLOSED, "udp_dropped": UDP_DROPPED,
}
UDP_PORT_NAMES = ("udp_echo", "udp_other", "udp_closed", "udp_dropped")
STATUS_CODES = (200, 204, 302, 404, 500, 503)   # /status/NNN
PATHS = {
    "/": (200, ROOT_BODY),
    "/health": (200, HEALTH_BODY),
    **{f"/status/{c}": (c, None) for c in STATUS_CODES},
}
KINDS = ("nginx", "redis", "tcp", "udp")
TCPSERV = Path(__file__).with_name("tcpserv.py")
UDPSERV = Path(__file__).with_name("udpserv.py")

_OPENSSL_CNF = """\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[good]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:{good}
[wrong]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:{wrong}
"""

_LOG_FORMAT = ('{"msec":"$msec","remote":"$remote_addr","rport":"$remote_port",'
               '"addr":"$server_addr","port":"$server_port","method":"$request_method",'
               '"uri":"$request_uri","status":"$status","conn":"$connection",'
               '"reqs":"$connection_requests","proto":"$server_protocol",'
               '"tls":"$ssl_protocol","sni":"$ssl_server_name","alpn":"$ssl_alpn_protocol",'
               '"host":"$http_host","ua":"$http_user_agent","x_lab":"$http_x_lab",'
               '"bytes":"$body_bytes_sent"}')
_INT_FIELDS = ("port", "status", "conn", "reqs", "rport", "bytes")


def service_process(cmdline: list[str], sfx: str) -> bool:
    """A process of lab SFX's services: an argument lies in its directory."""
    mark = f"{SERVICE_MARK}-{sfx}-"
    return any(mark in a for a in cmdline)


def make_certs(d: Path) -> dict[str, Path]:
    """A lab CA, a leaf for TLS_NAME and one for WRONG_NAME that it signed,
    and a self-signed certificate for TLS_NAME (P-256 keys, 2 days), in D.
    Returns {"ca": crt, "good": crt, "good_key": key, ...}."""
    d.mkdir(parents=True, exist_ok=True)
    cnf = d / "openssl.cnf"
    cnf.write_text(_OPENSSL_CNF.format(good=TLS_NAME, wrong=WRONG_NAME))
    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]

    def ossl(*args: str) -> None:
        run(["openssl", *args], timeout=20)

    out: dict[str, Path] = {}
    for name, cn in (("ca", "xhc lab CA"), ("self", TLS_NAME)):
        ext = "ca" if name == "ca" else "good"
        ossl("req", "-x509", *key, "-config", str(cnf), "-extensions", ext, "-days", "2",
             "-subj", f"/CN={cn}", "-keyout", str(d / f"{name}.key"),
             "-out", str(d / f"{name}.crt"))
    for serial, (name, cn) in enumerate((("good", TLS_NAME), ("wrong", WRONG_NAME)), 2):
        csr = d / f"{name}.csr"
        ossl("req", "-new", *key, "-config", str(cnf), "-subj", f"/CN={cn}",
             "-keyout", str(d / f"{name}.key"), "-out", str(csr))
        ossl("x509", "-req", "-in", str(csr), "-CA", str(d / "ca.crt"),
             "-CAkey", str(d / "ca.key"), "-set_serial", str(serial), "-days", "2",
             "-extfile", str(cnf), "-extensions", name, "-out", str(d / f"{name}.crt"))
    for name in ("ca", "self", "good", "wrong"):
        out[name] = d / f"{name}.crt"
        out[f"{name}_key"] = d / f"{name}.key"
    return out


def _q(p) -> str:
    """A path quoted for nginx's config."""
    s = str(p)
    if any(c in s for c in '"\\;{}$\n'):
        raise LabError(f"path {s!r} cannot go into an nginx config")
    return f'"{s}"'


class Services:
    """Private services in LAB's backend namespace, their files in one
    directory (WORKDIR/xhclab-svc-<lab>-XXXX, kept after close; or a
    temporary one, removed).  The lab stops them when it closes (Lab.adopt).
    PORTS overrides ports of the table above by name; SLOW_S is how long
    /slow takes to answer."""

    def __init__(self, lab, workdir=None, *, ports: dict | None = None,
                 slow_s: float = 2.0):
        self.lab = lab
        self.ns = lab.backend_ns
        self.ipv6 = getattr(lab, "ipv6", True)
        self.ports = {**PORTS, **(ports or {})}
        self.slow_s = float(slow_s)
        self._keep = workdir is not None
        base = Path(workdir) if workdir is not None else Path(tempfile.gettempdir())
        base.mkdir(parents=True, exist_ok=True)
        self.dir = Path(tempfile.mkdtemp(prefix=f"{SERVICE_MARK}-{lab.sfx}-", dir=base))
        self.certs: dict[str, Path] = {}
        self.procs: dict[str, tuple[subprocess.Popen, int | None]] = {}
        self._closed = False
        lab.adopt(self)

    # ---- paths ------------------------------------------------------------

    @property
    def ca_file(self) -> Path:
        """The lab CA that signed the TLS_NAME and WRONG_NAME certificates."""
        return self.certs["ca"]

    @property
    def access_log_path(self) -> Path:
        return self.dir / "nginx" / "access.log"

    def log_path(self, kind: str) -> Path:
        """Where a service's own output goes (nginx: also error.log)."""
        return self.dir / f"{kind}.out"

    # ---- start and stop -----------------------------------------------------

    def start(self, *kinds: str) -> "Services":
        """Start KINDS (any of "nginx", "redis", "tcp", "udp"; all by default)
        and wait until each listens.  Returns self."""
        kinds = kinds or KINDS
        for k in kinds:
            if k not in KINDS:
                raise ValueError(f"unknown service {k!r} (one of {', '.join(KINDS)})")
        tcp = {p for k, p in self.ports.items() if k not in UDP_PORT_NAMES}
        taken = set(getattr(self.lab, "listeners", {})) & tcp
        if taken:
            raise LabError(f"ports {sorted(taken)} have the lab's kernel listener: "
                           f"build the lab with listen=[] (or other ports)")
        for k in kinds:
            if k in self.procs and proc_alive(self.procs[k][0].pid, self.procs[k][1]):
                continue
            getattr(self, f"_start_{k}")()
        return self

    def _spawn(self, kind: str, argv: list[str], ports: list[int],
               timeout: float = 10.0, udp: bool = False) -> None:
        with open(self.log_path(kind), "ab") as out:
            p = subprocess.Popen(nsenter_prefix(self.ns) + argv, stdin=subprocess.DEVNULL,
                                 stdout=out, stderr=out, close_fds=True,
                                 start_new_session=True, preexec_fn=pdeathsig)
        self.procs[kind] = (p, proc_starttime(p.pid))
        deadline = time.monotonic() + timeout
        while True:
            if p.poll() is not None:
                self.procs.pop(kind)
                raise LabError(f"{kind} in {self.ns} exited with {p.returncode}:\n"
                               f"{self._log_tail(kind)}")
            if set(ports) <= self.listening(udp):
                return
            if time.monotonic() > deadline:
                self._stop(kind)
                raise LabError(f"{kind} in {self.ns} did not listen on {ports} within "
                               f"{timeout}s:\n{self._log_tail(kind)}")
            time.sleep(0.02)

    def _log_tail(self, kind: str) -> str:
        text = ""
        for p in (self.log_path(kind), self.dir / kind / "error.log"):
            with contextlib.suppress(OSError):
                text += p.read_text(errors="replace")[-2000:]
        return text

    def _start_nginx(self) -> None:
        if not self.certs:
            self.certs = make_certs(self.dir / "certs")
        d = self.dir / "nginx"
        for sub in ("tmp", "switch"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        conf = d / "nginx.conf"
        conf.write_text(self._nginx_conf(d))
        (d / "locations.conf").write_text(self._nginx_locations(d))
        self.access_log_path.touch()
        P = self.ports
        self._spawn("nginx", ["nginx", "-p", str(d), "-c", str(conf),
                              "-e", str(d / "error.log")],
                    [P[k] for k in ("http", "http_alt", "h2c", "https", "https_wrong",
                                    "https_self")])

    def _listen(self, port: int, opts: str = "") -> str:
        lines = f"        listen {port}{opts};\n"
        if self.ipv6:
            lines += f"        listen [::]:{port} ipv6only=on{opts};\n"
        return lines

    def _nginx_conf(self, d: Path) -> str:
        P, c = self.ports, self.certs
        tmp = d / "tmp"
        temps = "".join(f"    {k}_temp_path {_q(tmp / k)};\n"
                        for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))

        def tls_server(port: str, cert: str) -> str:
            return ("    server {\n" + self._listen(P[port], " ssl http2") +
                    f"        ssl_certificate {_q(c[cert])};\n"
                    f"        ssl_certificate_key {_q(c[cert + '_key'])};\n"
                    f"        include {_q(d / 'locations.conf')};\n    }}\n")

        plain = ("    server {\n" + self._listen(P["http"], " default_server") +
                 self._listen(P["http_alt"]) +
                 f"        include {_q(d / 'locations.conf')};\n    }}\n")
        h2c = ("    server {\n" + self._listen(P["h2c"], " http2") +
               f"        include {_q(d / 'locations.conf')};\n    }}\n")
        return (
            "# xhclab private nginx: one process, no master, nothing of /etc/nginx\n"
            "daemon off;\nmaster_process off;\n"
            f"pid {_q(d / 'nginx.pid')};\nlock_file {_q(d / 'nginx.lock')};\n"
            f"error_log {_q(d / 'error.log')} warn;\n"
            "events { worker_connections 4096; }\n"
            "http {\n"
            "    default_type text/plain;\n    server_tokens off;\n" + temps +
            f"    log_format lab escape=json '{_LOG_FORMAT}';\n"
            f"    access_log {_q(self.access_log_path)} lab;\n"
            "    keepalive_timeout 300s;\n    keepalive_requests 1000000;\n"
            "    ssl_protocols TLSv1.2 TLSv1.3;\n"
            "    proxy_http_version 1.1;\n    proxy_read_timeout 300s;\n" +
            plain + h2c + tls_server("https", "good") +
            tls_server("https_wrong", "wrong") + tls_server("https_self", "self") +
            "}\n")

    def _nginx_locations(self, d: Path) -> str:
        out = [f'location = / {{ return 200 "{ROOT_BODY.strip()}\\n"; }}',
               f'location = /health {{ return 200 "{HEALTH_BODY.strip()}\\n"; }}',
               f'location = /status/200 {{ return 200 "200 ok\\n"; }}',
               "location = /status/302 { return 302 /health; }"]
        out += [f"location = /status/{c} {{ return {c}; }}"
                for c in STATUS_CODES if c not in (200, 302)]
        sw_dir = _q(d / "switch")[1:-1]
        sw = [f'if (-f "{sw_dir}/${{server_addr}}.{c}") {{ return {c}; }}'
              for c in SWITCH_CODES]
        out.append("location = /switch { " + " ".join(sw) +
                   f' return 200 "{SWITCH_BODY.strip()}\\n"; }}')
        out.append(f"location = /slow {{ proxy_pass http://127.0.0.1:"
                   f"{self.ports['slow_upstream']}; }}")
        out.append(f"location = /hang {{ proxy_pass http://127.0.0.1:"
                   f"{self.ports['hang_upstream']}; }}")
        out.append("location = /stub_status { stub_status; }")
        out.append('location / { return 404 "not found\\n"; }')
        return "".join(line + "\n" for line in out)

    def _start_redis(self) -> None:
        d = self.dir / "redis"
        d.mkdir(parents=True, exist_ok=True)
        conf = d / "redis.conf"
        conf.write_text(
            f"port {self.ports['redis']}\n"
            f"bind 0.0.0.0{' ::' if self.ipv6 else ''}\n"
            "protected-mode no\ndaemonize no\nsupervised no\nset-proc-title no\n"
            'save ""\nappendonly no\ndatabases 1\n'
            f'dir "{d}"\nlogfile "{d / "redis.log"}"\npidfile "{d / "redis.pid"}"\n')
        self._spawn("redis", ["redis-server", str(conf)], [self.ports["redis"]])

    def _start_tcp(self) -> None:
        P = self.ports
        specs = [f"reply:0.0.0.0:{P['mismatch']}:{MISMATCH_REPLY.hex()}",
                 f"once:0.0.0.0:{P['mismatch_close']}:{MISMATCH_REPLY.hex()}",
                 f"banner:0.0.0.0:{P['banner']}:{BANNER.hex()}",
                 f"close:0.0.0.0:{P['closer']}",
                 f"slow:127.0.0.1:{P['slow_upstream']}:{self.slow_s}",
                 f"hang:127.0.0.1:{P['hang_upstream']}"]
        self._spawn("tcp", [sys.executable, "-I", "-S", str(TCPSERV), str(self.dir), *specs],
                    [P[k] for k in ("mismatch", "mismatch_close", "banner", "closer",
                                    "slow_upstream", "hang_upstream")])

    def _start_udp(self) -> None:
        P = self.ports
        self.lab.udp_drop_add(P["udp_dropped"])
        specs = [f"echo:{P['udp_echo']}", f"reply:{P['udp_other']}:{UDP_OTHER_REPLY.hex()}"]
        self._spawn("udp", [sys.executable, "-I", "-S", str(UDPSERV), str(self.dir), *specs],
                    [P["udp_echo"], P["udp_other"]], udp=True)

    def stop(self, kind: str) -> None:
        """Stop one service (its TCP ports then answer RST: refused; its UDP
        ports ICMP port unreachable)."""
        self._stop(kind)

    def _stop(self, kind: str) -> None:
        if kind == "udp" and not self.lab_closed():
            with contextlib.suppress(Exception):
                self.lab.udp_drop_del(self.ports["udp_dropped"])
        v = self.procs.pop(kind, None)
        if not v:
            return
        p, st = v
        kill_pids([(p.pid, st)])
        with contextlib.suppress(Exception):
            p.kill()
        with contextlib.suppress(Exception):
            p.wait(timeout=2)

    def close(self) -> None:
        """Stop every service; remove the directory unless it was WORKDIR's.
        Idempotent."""
        if self._closed:
            return
        for k in list(self.procs):
            self._stop(k)
        if not self._keep:
            shutil.rmtree(self.dir, ignore_errors=True)
        self._closed = True
        with contextlib.suppress(Exception):
            self.lab.release(self)

    def __enter__(self) -> "Services":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- steering -------------------------------------------------------------

    def set_switch(self, addr: str, code: int | None) -> None:
        """What /switch answers at backend ADDR (as nginx writes it: $server_addr):
        CODE (one of SWITCH_CODES), or 200 with SWITCH_BODY for None."""
        if code is not None and code not in SWITCH_CODES:
            raise ValueError(f"switch code must be one of {SWITCH_CODES}")
        d = self.dir / "nginx" / "switch"
        for c in SWITCH_CODES:
            with contextlib.suppress(FileNotFoundError):
                (d / f"{addr}.{c}").unlink()
        if code is not None:
            (d / f"{addr}.{code}").touch()

    # ---- observation ----------------------------------------------------------

    def access_mark(self) -> int:
        """The access log's size now: access_log(since=mark) shows what came after."""
        try:
            return self.access_log_path.stat().st_size
        except FileNotFoundError:
            return 0

    def access_log(self, since: int = 0, addr: str | None = None,
                   uri: str | None = None) -> list[dict]:
        """nginx's requests from byte offset SINCE on (of backend ADDR, of URI),
        one dict a request: msec, remote, rport, addr, port, method, uri,
        status, conn (nginx's connection serial number), reqs (requests on
        that connection so far), proto ("HTTP/1.1", "HTTP/2.0"), tls
        ("TLSv1.3", "" without TLS), sni, alpn, host, ua, x_lab (the X-Lab
        request header), bytes."""
        try:
            with open(self.access_log_path, "rb") as f:
                f.seek(since)
                data = f.read()
        except FileNotFoundError:
            return []
        out = []
        for line in data.decode(errors="replace").splitlines():
            if not line.strip():
                continue
            e = json.loads(line)
            for k in _INT_FIELDS:
                with contextlib.suppress(ValueError):
                    e[k] = int(e[k])
            if (addr is None or e["addr"] == addr) and (uri is None or e["uri"] == uri):
                out.append(e)
        return out

    def wait_log(self, since: int, count: int, timeout: float = 3.0, **filters) -> list[dict]:
        """access_log(SINCE, **FILTERS) once it has COUNT entries (nginx writes
        a request's line after the reply has gone out, so a client may read
        the log before it is there), or as it is after TIMEOUT."""
        deadline = time.monotonic() + timeout
        while True:
            log = self.access_log(since, **filters)
            if len(log) >= count or time.monotonic() > deadline:
                return log
            time.sleep(0.02)

    def lab_closed(self) -> bool:
        return getattr(self.lab, "_closed", False)

    def listening(self, udp: bool = False) -> set[int]:
        """TCP ports with a listener in the backend namespace (UDP: bound ports)."""
        out = run(nsenter_prefix(self.ns) + ["ss", "-Hlun" if udp else "-Hltn"]).stdout
        return {int(line.split()[3].rsplit(":", 1)[1]) for line in out.splitlines()
                if line.strip()}

    def connections(self, port: int, addr: str | None = None) -> list[tuple[str, str]]:
        """Established TCP connections to local PORT (of backend ADDR) in the
        backend namespace, as (local address, peer "addr:port")."""
        out = run(nsenter_prefix(self.ns) + ["ss", "-Htn", "state", "established"]).stdout
        conns = []
        for line in out.splitlines():
            f = line.split()
            if len(f) < 4:
                continue
            la, lp = f[2].rsplit(":", 1)
            la = la.strip("[]")
            if int(lp) == port and (addr is None or la == addr):
                conns.append((la, f[3]))
        return conns
