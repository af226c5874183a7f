"""The few bpf(2) map calls the lab tools need, with ctypes (no extra packages)."""
from __future__ import annotations

import ctypes
import struct

from xhclab import _bpf

_BPF_MAP_LOOKUP_ELEM = 1
_BPF_MAP_UPDATE_ELEM = 2
_BPF_MAP_DELETE_ELEM = 3
_BPF_OBJ_GET = 7


def obj_get(path: str) -> int:
    """fd of a pinned BPF object (read-write: mmap refuses read-only map fds)."""
    pbuf = ctypes.create_string_buffer(path.encode())
    attr = ctypes.create_string_buffer(128)
    struct.pack_into("<Q", attr, 0, ctypes.addressof(pbuf))
    return _bpf(_BPF_OBJ_GET, attr)


def _op(cmd: int, fd: int, key: bytes, value: ctypes.Array | None) -> None:
    kbuf = ctypes.create_string_buffer(key, len(key))
    attr = ctypes.create_string_buffer(128)
    struct.pack_into("<IIQQQ", attr, 0, fd, 0, ctypes.addressof(kbuf),
                     ctypes.addressof(value) if value is not None else 0, 0)
    _bpf(cmd, attr)


def update(fd: int, key: bytes, value: bytes) -> None:
    _op(_BPF_MAP_UPDATE_ELEM, fd, key, ctypes.create_string_buffer(value, len(value)))


def delete(fd: int, key: bytes) -> None:
    _op(_BPF_MAP_DELETE_ELEM, fd, key, None)


def lookup(fd: int, key: bytes, size: int) -> bytes:
    buf = ctypes.create_string_buffer(size)
    _op(_BPF_MAP_LOOKUP_ELEM, fd, key, buf)
    return buf.raw


def ncpus_possible() -> int:
    with open("/sys/devices/system/cpu/possible") as f:
        hi = f.read().strip().split(",")[-1].split("-")[-1]
    return int(hi) + 1


def percpu_u64_sum(fd: int, index: int) -> int:
    """A per-CPU array's __u64 counter at index, summed over CPUs."""
    n = ncpus_possible()
    return sum(struct.unpack(f"<{n}Q", lookup(fd, struct.pack("<I", index), 8 * n)))
