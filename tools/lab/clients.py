# SPDX-License-Identifier: MIT
"""Clients from a namespace (normally the prober's), to see what the lab's
services answer without the engine: HTTP/1.1 (plain or TLS), a TLS
handshake alone, an HTTP/2 request (prior knowledge or ALPN), a raw TCP
send/expect exchange, and a UDP datagram and its answer.  Standard library
only."""
from __future__ import annotations

import http.client
import socket
import ssl
import struct
import time
from pathlib import Path
from typing import NamedTuple

from .netns import in_netns


class Reply(NamedTuple):
    status: int
    headers: dict
    body: bytes


class TlsInfo(NamedTuple):
    version: str            # "TLSv1.3"
    alpn: str | None        # the protocol the server chose
    cert: dict              # the peer certificate as ssl decodes it ({} unverified)


def connect(ns: str, addr: str, port: int, timeout: float = 2.0) -> socket.socket:
    """A TCP connection from namespace NS to ADDR:PORT."""
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    with in_netns(ns):
        s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect((addr, port))
    except BaseException:
        s.close()
        raise
    return s


def tls_context(verify: bool = False, ca_file: str | Path | None = None,
                alpn: tuple[str, ...] | None = None) -> ssl.SSLContext:
    """A client context: VERIFY checks the chain (against CA_FILE) and the name."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if verify:
        if ca_file:
            ctx.load_verify_locations(cafile=str(ca_file))
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    return ctx


def tls_connect(ns: str, addr: str, port: int, *, server_hostname: str | None = None,
                verify: bool = False, ca_file=None, alpn=None,
                timeout: float = 2.0) -> ssl.SSLSocket:
    """A TLS connection (handshake done); ssl.SSLCertVerificationError (with
    verify_code) when VERIFY fails.  SERVER_HOSTNAME is the SNI and, with
    VERIFY, the name checked."""
    s = connect(ns, addr, port, timeout)
    try:
        return tls_context(verify, ca_file, alpn).wrap_socket(
            s, server_hostname=server_hostname)
    except BaseException:
        s.close()
        raise


def tls_handshake(ns: str, addr: str, port: int, **kw) -> TlsInfo:
    """Only a TLS handshake (see tls_connect): the version, ALPN and certificate."""
    kw.setdefault("alpn", ("h2", "http/1.1"))
    with tls_connect(ns, addr, port, **kw) as t:
        return TlsInfo(t.version(), t.selected_alpn_protocol(), t.getpeercert() or {})


class HttpConn:
    """One HTTP/1.1 connection (plain, or TLS with TLS=True and tls_connect's
    keywords) that can carry several requests."""

    def __init__(self, ns: str, addr: str, port: int, *, tls: bool = False,
                 timeout: float = 2.0, **tls_kw):
        if tls:
            sock = tls_connect(ns, addr, port, timeout=timeout,
                               alpn=("http/1.1",), **tls_kw)
        else:
            sock = connect(ns, addr, port, timeout)
        host = f"[{addr}]" if ":" in addr else addr
        self.conn = http.client.HTTPConnection(host, port, timeout=timeout)
        self.conn.sock = sock               # http.client uses a socket it is given
        self.sock = sock

    def request(self, path: str = "/", method: str = "GET",
                headers: dict | None = None) -> Reply:
        self.conn.request(method, path, headers=headers or {})
        r = self.conn.getresponse()
        body = r.read()
        return Reply(r.status, {k.lower(): v for k, v in r.getheaders()}, body)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "HttpConn":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def http_request(ns: str, addr: str, port: int = 80, path: str = "/",
                 method: str = "GET", *, headers: dict | None = None, **kw) -> Reply:
    """One HTTP/1.1 request on a new connection (HttpConn's keywords)."""
    with HttpConn(ns, addr, port, **kw) as c:
        return c.request(path, method, headers)


# ---- HTTP/2, just enough to send one request and read its status -------------

H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
_H2_HEADERS, _H2_SETTINGS, _H2_GOAWAY, _H2_RST = 1, 4, 7, 3
# HPACK static table entries 8..14: the status codes sent as one byte
_H2_STATIC_STATUS = {0x88: 200, 0x89: 204, 0x8a: 206, 0x8b: 304, 0x8c: 400, 0x8d: 404,
                     0x8e: 500}


class H2Reply(NamedTuple):
    settings: bool          # the server's SETTINGS frame came first
    status: int | None      # None: the server coded it other than in one byte
    alpn: str | None        # with TLS


def _h2_frame(ftype: int, flags: int, stream: int, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + \
        struct.pack(">I", stream) + payload


def _hpack_literal(index: int, value: str) -> bytes:
    """A literal header field without indexing, name from static entry INDEX
    (< 15), value without Huffman coding (< 127 bytes)."""
    v = value.encode()
    return bytes([index, len(v)]) + v


def _recv_exact(s: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed by the peer")
        buf += chunk
    return buf


def h2_request(ns: str, addr: str, port: int, path: str = "/", method: str = "GET", *,
               tls: bool = False, authority: str | None = None, timeout: float = 2.0,
               **tls_kw) -> H2Reply:
    """One HTTP/2 request: with prior knowledge on a plain port, or over TLS
    with ALPN h2 (TLS=True, tls_connect's keywords)."""
    if tls:
        s = tls_connect(ns, addr, port, alpn=("h2",), timeout=timeout, **tls_kw)
        alpn = s.selected_alpn_protocol()
    else:
        s = connect(ns, addr, port, timeout)
        alpn = None
    with s:
        block = (_hpack_literal(2, method) + bytes([0x87 if tls else 0x86]) +
                 _hpack_literal(4, path) + _hpack_literal(1, authority or addr))
        s.sendall(H2_PREFACE + _h2_frame(_H2_SETTINGS, 0, 0, b"") +
                  _h2_frame(_H2_HEADERS, 0x5, 1, block))     # END_STREAM | END_HEADERS
        first, status = None, None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            head = _recv_exact(s, 9)
            length, ftype, stream = int.from_bytes(head[:3], "big"), head[3], \
                struct.unpack(">I", head[5:9])[0] & 0x7fffffff
            payload = _recv_exact(s, length)
            if first is None:
                first = ftype
            if ftype == _H2_SETTINGS and not head[4] & 1:
                s.sendall(_h2_frame(_H2_SETTINGS, 1, 0, b""))     # ACK
            elif ftype == _H2_HEADERS and stream == 1:
                status = _H2_STATIC_STATUS.get(payload[0]) if payload else None
                break
            elif ftype in (_H2_GOAWAY, _H2_RST):
                raise ConnectionError(f"HTTP/2 frame type {ftype} from the server")
        return H2Reply(first == _H2_SETTINGS, status, alpn)


# ---- raw TCP ----------------------------------------------------------------

class TcpReply(NamedTuple):
    data: bytes             # everything read
    closed: bool            # the peer closed (FIN or RST) before TIMEOUT
    reset: bool             # ... with RST


def tcp_exchange(ns: str, addr: str, port: int, send: bytes = b"", *,
                 expect: bytes | None = None, timeout: float = 1.0) -> TcpReply:
    """Connect, send SEND, read until EXPECT is in the reply, the peer closes,
    or TIMEOUT."""
    s = connect(ns, addr, port, timeout)
    data, closed, reset = b"", False, False
    with s:
        try:
            if send:
                s.sendall(send)
            deadline = time.monotonic() + timeout
            while not (expect and expect in data):
                s.settimeout(max(0.01, deadline - time.monotonic()))
                chunk = s.recv(4096)
                if not chunk:
                    closed = True
                    break
                data += chunk
        except ConnectionResetError:
            closed = reset = True
        except (TimeoutError, socket.timeout):
            pass
    return TcpReply(data, closed, reset)


class UdpReply(NamedTuple):
    outcome: str            # "reply", "refused" (ICMP port unreachable) or "timeout"
    data: bytes             # the reply's bytes ("reply" only)


def udp_exchange(ns: str, addr: str, port: int, send: bytes = b"", *,
                 timeout: float = 1.0) -> UdpReply:
    """One datagram from namespace NS to ADDR:PORT and what came back within
    TIMEOUT.  The socket is connected: the kernel then reports an ICMP port
    unreachable for it as ECONNREFUSED, and takes replies from ADDR:PORT
    only, so a service that answers from another address times out here,
    as it would for a real client (and for xdphc's probes)."""
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    with in_netns(ns):
        s = socket.socket(fam, socket.SOCK_DGRAM)
    with s:
        s.settimeout(timeout)
        s.connect((addr, port))
        try:
            s.send(send)
            return UdpReply("reply", s.recv(65535))
        except ConnectionRefusedError:
            return UdpReply("refused", b"")
        except (TimeoutError, socket.timeout):
            return UdpReply("timeout", b"")
