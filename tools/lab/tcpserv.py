# SPDX-License-Identifier: MIT
"""Small TCP services for a lab's backend namespace, one process for all of
them (started by services.py, standard library only):

    python3 -I -S tcpserv.py MARK_DIR ROLE:ADDR:PORT[:ARG] ...

ROLE is one of
    reply   answer ARG (hex bytes) to every chunk the peer sends; stay open
    once    answer ARG (hex bytes) to the first chunk, then close
    banner  send ARG (hex bytes) at once on accept, then as reply
    close   accept and close at once (FIN, nothing sent)
    slow    HTTP: read the request head, wait ARG seconds, answer 200
            "slow" and close (nginx proxies /slow here)
    hang    listen, never accept: a request sent here is never answered
            (nginx proxies /hang here)
ADDR is 0.0.0.0 (also [::] if it exists), or 127.0.0.1 for nginx's upstreams.
MARK_DIR names the lab's service directory, so that a cleanup finds the
process by its command line.  Prints "ready" once every port is bound.
"""
import os
import signal
import socket
import sys
import threading
import time

IDLE_S = 120.0          # a connection nobody closes is dropped after this


def _listener(addr: str, port: int, backlog: int = 1024) -> list:
    fams = [(socket.AF_INET, addr)]
    if addr == "0.0.0.0" and socket.has_ipv6 and os.path.exists("/proc/net/if_inet6"):
        fams.append((socket.AF_INET6, "::"))
    socks = []
    for fam, a in fams:
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if fam == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind((a, port))
        s.listen(backlog)
        socks.append(s)
    return socks


def _serve_reply(c: socket.socket, data: bytes, role: str) -> None:
    if role == "banner":
        c.sendall(data)
    while c.recv(4096):
        c.sendall(data)
        if role == "once":
            return


def _serve_slow(c: socket.socket, delay: float) -> None:
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = c.recv(4096)
        if not chunk:
            return
        head += chunk
    time.sleep(delay)
    body = b"" if head.startswith(b"HEAD ") else b"slow\n"
    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
              b"Content-Length: 5\r\nConnection: close\r\n\r\n" + body)


def _conn(c: socket.socket, role: str, arg: str) -> None:
    try:
        c.settimeout(IDLE_S)
        if role in ("reply", "banner", "once"):
            _serve_reply(c, bytes.fromhex(arg), role)
        elif role == "slow":
            _serve_slow(c, float(arg))
    except OSError:
        pass
    finally:
        c.close()


def _accept_loop(s: socket.socket, role: str, arg: str) -> None:
    while True:
        try:
            c, _ = s.accept()
        except OSError:
            continue
        if role == "close":
            c.close()
            continue
        threading.Thread(target=_conn, args=(c, role, arg), daemon=True).start()


def main(specs: list) -> None:
    held = []
    for spec in specs:
        role, addr, port, *rest = spec.split(":", 3)
        socks = _listener(addr, int(port))
        if role == "hang":
            held += socks
            continue
        for s in socks:
            threading.Thread(target=_accept_loop, args=(s, role, rest[0] if rest else ""),
                             daemon=True).start()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.write(1, b"ready\n")
    while True:
        signal.pause()


if __name__ == "__main__":
    main(sys.argv[2:])
