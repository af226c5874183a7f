# SPDX-License-Identifier: MIT
"""The lab's application backends (tools/lab/services.py) seen from the
prober namespace with real connections, no engine: nginx (HTTP/1.1, h2c,
HTTPS with good, wrong-name and self-signed certificates), redis-server,
the small TCP services and the UDP ones (echo, another answer, a closed
port, a dropped port; IPv4 and IPv6); their logs, steering, and their
cleanup; the lab's ICMP rate limits."""
import os
import re
import ssl
import time

import pytest

from lab import Lab, LabError, netns_list, teardown_by_name
from lab import clients
from lab.proc import proc_cmdline
from lab.services import (BANNER, HEALTH_BODY, MISMATCH_REPLY, PATHS, ROOT_BODY, SWITCH_BODY,
                          TLS_NAME, UDP_CLOSED, UDP_DROPPED, UDP_ECHO, UDP_OTHER,
                          UDP_OTHER_REPLY, Services)

A, B = Lab.addr(0), Lab.addr(300)
A6 = Lab.addr6(0)
SLOW_S = 0.6


@pytest.fixture(scope="module")
def mlab():
    with Lab(listen=[]) as lab:
        yield lab


@pytest.fixture(scope="module")
def msvc(mlab, tmp_path_factory):
    """One set of services for the read-only tests of this module."""
    with Services(mlab, tmp_path_factory.mktemp("svc"), slow_s=SLOW_S).start() as s:
        yield s


def test_http_paths_methods_and_access_log(mlab, msvc):
    P = mlab.prober_ns
    mark = msvc.access_mark()
    for addr, port in ((A, 80), (B, 8080), (A6, 80)):
        for path, (code, body) in PATHS.items():
            for method in ("GET", "HEAD"):
                r = clients.http_request(P, addr, port, path, method)
                assert r.status == code, (addr, port, path, method)
                if method == "HEAD":
                    assert r.body == b""
                elif body is not None:
                    assert r.body == body.encode()
    assert clients.http_request(P, A, 80, "/status/302").headers["location"].endswith("/health")
    assert clients.http_request(P, A, 80, "/no/such/path").status == 404
    log = msvc.wait_log(mark, 3 * 2 * len(PATHS) + 2)
    assert len(log) == 3 * 2 * len(PATHS) + 2
    assert {e["method"] for e in log} == {"GET", "HEAD"}
    assert {e["addr"] for e in log} == {A, B, A6}
    assert all(e["proto"] == "HTTP/1.1" and e["tls"] == "" and e["reqs"] == 1 for e in log)
    assert len({e["conn"] for e in log}) == len(log)          # a connection each
    h = msvc.access_log(mark, addr=B, uri="/health")
    assert [(e["method"], e["port"], e["status"]) for e in h] == [("GET", 8080, 200),
                                                                  ("HEAD", 8080, 200)]


def test_headers_reach_the_log(mlab, msvc):
    mark = msvc.access_mark()
    clients.http_request(mlab.prober_ns, A, 80, "/", headers={"X-Lab": "one", "Host": "h.xhc.test",
                                                             "User-Agent": "xhc-ua"})
    (e,) = msvc.wait_log(mark, 1)
    assert (e["x_lab"], e["host"], e["ua"]) == ("one", "h.xhc.test", "xhc-ua")


def test_one_connection_many_requests(mlab, msvc):
    P = mlab.prober_ns
    mark = msvc.access_mark()
    assert msvc.connections(80, A) == []
    with clients.HttpConn(P, A, 80) as c:
        for _ in range(5):
            assert c.request("/health", "HEAD").status == 200
        assert len(msvc.connections(80, A)) == 1
        assert msvc.connections(80, B) == []
    with clients.HttpConn(P, A, 80) as c:
        c.request("/")
    log = msvc.wait_log(mark, 6)
    assert [e["reqs"] for e in log] == [1, 2, 3, 4, 5, 1]
    assert len({e["conn"] for e in log[:5]}) == 1 and log[5]["conn"] != log[0]["conn"]
    assert "Active connections:" in clients.http_request(P, A, 80, "/stub_status").body.decode()


def test_switch_is_per_backend_address(mlab, msvc):
    P = mlab.prober_ns
    try:
        for code in (503, 500, 404, None):
            msvc.set_switch(A, code)
            r = clients.http_request(P, A, 80, "/switch")
            assert r.status == (code or 200)
            assert clients.http_request(P, B, 80, "/switch").body == SWITCH_BODY.encode()
        msvc.set_switch(A6, 503)
        assert clients.http_request(P, A6, 80, "/switch").status == 503
        assert clients.http_request(P, A, 80, "/switch").status == 200
        with pytest.raises(ValueError):
            msvc.set_switch(A, 302)
    finally:
        msvc.set_switch(A6, None)


def test_tls_certificates(mlab, msvc):
    P, ca = mlab.prober_ns, msvc.ca_file
    t = clients.tls_handshake(P, A, 443, server_hostname=TLS_NAME, verify=True, ca_file=ca)
    assert t.alpn == "h2" and t.version in ("TLSv1.2", "TLSv1.3")
    assert ("DNS", TLS_NAME) in t.cert["subjectAltName"]
    assert clients.tls_handshake(P, A, 443, alpn=("http/1.1",)).alpn == "http/1.1"
    # not trusted without the lab CA
    with pytest.raises(ssl.SSLCertVerificationError) as e:
        clients.tls_handshake(P, A, 443, server_hostname=TLS_NAME, verify=True)
    assert e.value.verify_code == 20               # unable to get local issuer
    # the wrong name: trusted chain, name mismatch; fine unverified
    with pytest.raises(ssl.SSLCertVerificationError) as e:
        clients.tls_handshake(P, A, 8443, server_hostname=TLS_NAME, verify=True, ca_file=ca)
    assert e.value.verify_code == 62               # X509_V_ERR_HOSTNAME_MISMATCH
    assert clients.tls_handshake(P, A, 8443).alpn == "h2"
    # self-signed: refused by the CA, accepted with itself as the anchor
    with pytest.raises(ssl.SSLCertVerificationError) as e:
        clients.tls_handshake(P, A, 9443, server_hostname=TLS_NAME, verify=True, ca_file=ca)
    assert e.value.verify_code == 18               # depth zero self-signed
    clients.tls_handshake(P, A6, 9443, server_hostname=TLS_NAME, verify=True,
                          ca_file=msvc.certs["self"])
    # HTTP/1.1 over TLS; SNI and ALPN in the log
    mark = msvc.access_mark()
    r = clients.http_request(P, A, 443, "/health", tls=True, server_hostname=TLS_NAME,
                             verify=True, ca_file=ca)
    assert (r.status, r.body) == (200, HEALTH_BODY.encode())
    (e,) = msvc.wait_log(mark, 1)
    assert (e["tls"] != "", e["sni"], e["alpn"], e["proto"]) == (True, TLS_NAME, "http/1.1",
                                                                   "HTTP/1.1")


def test_http2_prior_knowledge_and_alpn(mlab, msvc):
    P = mlab.prober_ns
    mark = msvc.access_mark()
    r = clients.h2_request(P, A, 8081, "/health")
    assert r.settings and r.status == 200
    assert clients.h2_request(P, A6, 8081, "/status/404", "HEAD").status == 404
    r = clients.h2_request(P, A, 443, "/", tls=True, server_hostname=TLS_NAME)
    assert (r.alpn, r.status) == ("h2", 200)
    log = sorted(msvc.wait_log(mark, 3), key=lambda e: e["conn"])
    assert [(e["proto"], e["port"], e["method"], e["status"], e["alpn"]) for e in log] == [
        ("HTTP/2.0", 8081, "GET", 200, ""), ("HTTP/2.0", 8081, "HEAD", 404, ""),
        ("HTTP/2.0", 443, "GET", 200, "h2")]
    # the plain HTTP/1.1 port does not speak HTTP/2
    with pytest.raises((ConnectionError, OSError)):
        clients.h2_request(P, A, 80, "/", timeout=0.5)


def test_slow_and_hanging_paths(mlab, msvc):
    P = mlab.prober_ns
    mark = msvc.access_mark()
    t0 = time.monotonic()
    r = clients.http_request(P, A, 80, "/slow", timeout=SLOW_S + 2)
    took = time.monotonic() - t0
    assert (r.status, r.body) == (200, b"slow\n")
    assert SLOW_S <= took < SLOW_S + 1.0
    with pytest.raises(TimeoutError):
        clients.http_request(P, A, 80, "/slow", timeout=SLOW_S / 3)
    t0 = time.monotonic()
    with pytest.raises(TimeoutError):
        clients.http_request(P, A, 443, "/hang", tls=True, timeout=0.4)
    assert time.monotonic() - t0 < 1.5
    # nginx logs the aborted ones as it sees the close
    got = [(e["uri"], e["status"]) for e in msvc.wait_log(mark, 3)]
    assert got[0] == ("/slow", 200) and ("/hang", 499) in got


def test_tcp_services(mlab, msvc):
    P = mlab.prober_ns
    r = clients.tcp_exchange(P, A, 6379, b"PING\r\n", expect=b"+PONG")
    assert r.data == b"+PONG\r\n" and not r.closed
    r = clients.tcp_exchange(P, A6, 6379, b"*1\r\n$4\r\nPING\r\n", expect=b"+PONG")
    assert r.data == b"+PONG\r\n"
    r = clients.tcp_exchange(P, B, 6380, b"PING\r\n", timeout=0.3)
    assert r.data == MISMATCH_REPLY and not r.closed          # answers, stays open
    r = clients.tcp_exchange(P, B, 6384, b"PING\r\n", timeout=1.0)
    assert r.data == MISMATCH_REPLY and r.closed and not r.reset   # answers, closes
    r = clients.tcp_exchange(P, B, 6382, timeout=0.3)
    assert r.data == BANNER and not r.closed                  # speaks first
    r = clients.tcp_exchange(P, A, 6381, timeout=1.0)
    assert r.data == b"" and r.closed and not r.reset         # FIN at once
    assert lab_connect(mlab, A, 6383) == "refused"
    assert msvc.listening() >= {6379, 6380, 6381, 6382, 6384}


def lab_connect(lab, addr, port):
    return lab.connect_check(addr, port, timeout=0.5)


def test_private_files_and_processes(mlab, msvc):
    d = str(msvc.dir)
    assert os.path.basename(d).startswith(f"xhclab-svc-{mlab.sfx}-")
    for kind, (p, _) in msvc.procs.items():
        cl = proc_cmdline(p.pid)
        assert any(a.startswith(d) for a in cl), (kind, cl)
        assert not any("/etc/" in a for a in cl)
        assert _same_ns(p.pid, mlab.backend_ns), kind
    conf = (msvc.dir / "nginx" / "nginx.conf").read_text()
    paths = re.findall(r'"(/[^"]*)"', conf)          # every path nginx opens
    assert len(paths) > 10 and all(p.startswith(d) for p in paths)


def _same_ns(pid, ns):
    st1, st2 = os.stat(f"/proc/{pid}/ns/net"), os.stat(f"/run/netns/{ns}")
    return (st1.st_dev, st1.st_ino) == (st2.st_dev, st2.st_ino)


def test_stop_close_and_teardown_by_name(tmp_path):
    lab = Lab(listen=[])
    try:
        svc = Services(lab, tmp_path).start("redis", "tcp")
        assert clients.tcp_exchange(lab.prober_ns, A, 6379, b"PING\r\n",
                                    expect=b"+PONG").data == b"+PONG\r\n"
        svc.stop("redis")
        assert lab_connect(lab, A, 6379) == "refused"
        svc.start("redis")
        pids = [p.pid for p, _ in svc.procs.values()]
        # a crashed owner's leftovers: found by name and marker, killed
        done = teardown_by_name(lab.sfx, quiet=True)
        assert {f"pid {p}" for p in pids} <= set(done)
        assert not any(os.path.exists(f"/proc/{p}/cmdline") and proc_cmdline(p) for p in pids)
        assert lab.backend_ns not in netns_list()
    finally:
        lab.close()
    # services closed with the lab; their directory under tmp_path stays
    assert svc.procs == {} and (svc.dir / "redis" / "redis.conf").is_file()


def test_ports_must_be_free():
    with Lab(listen=[80]) as lab:
        with pytest.raises(LabError, match="listen="):
            Services(lab).start()
        svc = Services(lab, ports={"http": 8000})
        d = svc.dir
        svc.start("nginx")
        r = clients.http_request(lab.prober_ns, A, 8000, "/")
        assert r.body == ROOT_BODY.encode()
    assert not d.exists()                   # a temporary directory goes with the lab


# ---- UDP: echo, another answer, a closed port, a dropped port ---------------------

UDP_TARGETS = (A, B, A6, Lab.addr6(300))


def test_udp_services(mlab, msvc):
    """Each UDP service as described, IPv4 and IPv6, answering from the very
    address asked (AnyIP: one socket for the whole block)."""
    P = mlab.prober_ns
    for addr in UDP_TARGETS:
        msg = f"ping {addr}".encode()
        assert clients.udp_exchange(P, addr, UDP_ECHO, msg) == ("reply", msg), addr
        assert clients.udp_exchange(P, addr, UDP_OTHER, msg) == ("reply", UDP_OTHER_REPLY), addr
        assert clients.udp_exchange(P, addr, UDP_CLOSED, msg).outcome == "refused", addr
        assert clients.udp_exchange(P, addr, UDP_DROPPED, msg, timeout=0.3).outcome == \
            "timeout", addr
    # an empty datagram is echoed empty; a large one whole
    assert clients.udp_exchange(P, A6, UDP_ECHO, b"") == ("reply", b"")
    big = bytes(range(256)) * 5
    assert clients.udp_exchange(P, B, UDP_ECHO, big) == ("reply", big)
    assert mlab.udp_dropped() == [UDP_DROPPED]
    assert msvc.listening(udp=True) >= {UDP_ECHO, UDP_OTHER}
    assert not msvc.listening(udp=True) & {UDP_CLOSED, UDP_DROPPED}


def closed_port_answers(lab, addr: str, n: int) -> int:
    """Of N datagrams in a row to a closed port of ADDR, how many got their
    ICMP port unreachable."""
    return sum(clients.udp_exchange(lab.prober_ns, addr, UDP_CLOSED, b"x",
                                    timeout=0.2).outcome == "refused" for _ in range(n))


def test_icmp_rate_limits_lifted_or_kept():
    """By default the lab lifts the backend's ICMP rate limits: every datagram
    to a closed port is refused; with icmp_ratelimit=True the kernel's own
    limits stay, and a burst loses most of its answers."""
    with Lab(listen=[]) as lab:
        assert lab.icmp_limits()["net.ipv4.icmp_ratelimit"] == 0
        assert lab.icmp_limits()["net.ipv6.icmp.ratelimit"] == 0
        assert closed_port_answers(lab, A, 30) == 30
        assert closed_port_answers(lab, A6, 30) == 30
    with Lab(listen=[], icmp_ratelimit=True) as lab:
        limits = lab.icmp_limits()
        assert limits["net.ipv4.icmp_ratelimit"] == 1000, limits
        assert limits["net.ipv4.icmp_msgs_per_sec"] == 1000, limits
        # a token a second per peer, bursts of 6: most of 30 fast ones go unanswered
        assert closed_port_answers(lab, A, 30) < 15
        assert closed_port_answers(lab, A6, 30) < 30


def test_udp_stop_and_dropped_port_goes(tmp_path):
    with Lab(listen=[]) as lab:
        svc = Services(lab, tmp_path).start("udp")
        assert clients.udp_exchange(lab.prober_ns, A, UDP_ECHO, b"a").outcome == "reply"
        svc.stop("udp")
        assert clients.udp_exchange(lab.prober_ns, A, UDP_ECHO, b"a").outcome == "refused"
        assert lab.udp_dropped() == []
        assert clients.udp_exchange(lab.prober_ns, A, UDP_DROPPED, b"a").outcome == "refused"
