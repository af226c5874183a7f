# SPDX-License-Identifier: MIT
"""What the kernel itself says of a backend: non-blocking connect()s from a
namespace, many at a time, as 'open', 'refused', 'timeout' or 'unreachable'."""
from __future__ import annotations

import errno
import select
import socket
import struct
import time
from typing import Iterable

from .netns import in_netns


def classify(rc: int) -> str:
    if rc == 0:
        return "open"
    if rc == errno.ECONNREFUSED:
        return "refused"
    if rc in (errno.ETIMEDOUT, errno.EINPROGRESS):
        return "timeout"
    if rc in (errno.EHOSTUNREACH, errno.ENETUNREACH):
        return "unreachable"
    return f"error:{errno.errorcode.get(rc, rc)}"


def connect_many(ns: str, targets: Iterable[tuple[str, int]], timeout: float = 1.0,
                 parallel: int = 256) -> dict[tuple[str, int], str]:
    """Non-blocking connect()s from namespace NS, PARALLEL at a time, each
    with TIMEOUT. Open connections are closed with RST (SO_LINGER 0) so the
    backend's accept queue does not fill up."""
    targets = list(dict.fromkeys((str(ip), int(p)) for ip, p in targets))
    res: dict[tuple[str, int], str] = {}
    for i in range(0, len(targets), parallel):
        res.update(_connect_batch(ns, targets[i:i + parallel], timeout))
    return res


def _connect_batch(ns, targets, timeout):
    res = {}
    socks: dict[int, tuple[socket.socket, tuple[str, int]]] = {}
    poller = select.poll()
    try:
        with in_netns(ns):
            for t in targets:
                fam = socket.AF_INET6 if ":" in t[0] else socket.AF_INET
                s = socket.socket(fam, socket.SOCK_STREAM)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                s.setblocking(False)
                socks[s.fileno()] = (s, t)
        for fd, (s, t) in list(socks.items()):
            rc = s.connect_ex(t)
            if rc in (0, errno.EINPROGRESS):
                poller.register(fd, select.POLLOUT)
            else:
                res[t] = classify(rc)
        deadline = time.monotonic() + timeout
        pending = len(targets) - len(res)
        while pending > 0:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            for fd, _ev in poller.poll(int(left * 1000) + 1):
                s, t = socks[fd]
                poller.unregister(fd)
                res[t] = classify(s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR))
                pending -= 1
    finally:
        for s, _ in socks.values():
            s.close()
    return {t: res.get(t, "timeout") for t in targets}      # in target order
