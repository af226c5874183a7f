# SPDX-License-Identifier: MIT
"""libbpf through ctypes: the calls a C loader makes to open a BPF object,
size its maps or have it reuse existing ones (bpf_map__reuse_fd), and load
it.  libbpf.so.1 comes with libbpf1, which libbpf-dev depends on.

    obj = BpfObject("build/tools/lb_forwarder/lb_forwarder.bpf.o")
    obj.map("flows").set_max_entries(1 << 20)
    obj.map("status").reuse_fd(fd)          # a pinned map of another program
    obj.load()
    obj.prog_fd("lb_forward"), obj.map("flows").fd
    obj.close()                             # closes its fds; pins stay
"""
from __future__ import annotations

import ctypes
import os

_lib = ctypes.CDLL("libbpf.so.1", use_errno=True)
_P = ctypes.c_void_p


def _proto(name: str, restype, *argtypes) -> None:
    fn = getattr(_lib, name)
    fn.restype, fn.argtypes = restype, list(argtypes)


_proto("bpf_object__open", _P, ctypes.c_char_p)
_proto("bpf_object__load", ctypes.c_int, _P)
_proto("bpf_object__close", None, _P)
_proto("bpf_object__find_map_by_name", _P, _P, ctypes.c_char_p)
_proto("bpf_object__find_program_by_name", _P, _P, ctypes.c_char_p)
_proto("bpf_program__fd", ctypes.c_int, _P)
_proto("bpf_map__fd", ctypes.c_int, _P)
_proto("bpf_map__reuse_fd", ctypes.c_int, _P, ctypes.c_int)
_proto("bpf_map__set_max_entries", ctypes.c_int, _P, ctypes.c_uint32)
for _f in ("type", "key_size", "value_size", "max_entries", "map_flags"):
    _proto(f"bpf_map__{_f}", ctypes.c_uint32, _P)


def _check(r: int, what: str) -> int:
    """libbpf returns -errno (and sets errno) on failure."""
    if r < 0:
        raise OSError(-r, f"{what}: {os.strerror(-r)}")
    return r


class BpfMap:
    """A map of an opened object: its definition, before or after load."""

    def __init__(self, ptr: int, name: str):
        self.ptr, self.name = ptr, name

    def definition(self) -> tuple[int, int, int, int, int]:
        """(type, key_size, value_size, max_entries, map_flags)."""
        return tuple(getattr(_lib, f"bpf_map__{f}")(self.ptr)
                     for f in ("type", "key_size", "value_size", "max_entries", "map_flags"))

    def set_max_entries(self, n: int) -> None:
        _check(_lib.bpf_map__set_max_entries(self.ptr, n), f"{self.name}: set_max_entries")

    def reuse_fd(self, fd: int) -> None:
        """Use the map FD (dup'ed by libbpf) instead of creating this one."""
        _check(_lib.bpf_map__reuse_fd(self.ptr, fd), f"{self.name}: reuse_fd")

    @property
    def fd(self) -> int:
        return _check(_lib.bpf_map__fd(self.ptr), f"{self.name}: fd")


class BpfObject:
    """A BPF object file opened with libbpf; close() frees it and its fds."""

    def __init__(self, path: str):
        ptr = _lib.bpf_object__open(os.fsencode(path))
        if not ptr:
            e = ctypes.get_errno()
            raise OSError(e, f"opening {path}: {os.strerror(e)}")
        self.ptr, self.path = ptr, path

    def map(self, name: str) -> BpfMap:
        ptr = _lib.bpf_object__find_map_by_name(self.ptr, name.encode())
        if not ptr:
            raise KeyError(f"{self.path} has no map {name!r}")
        return BpfMap(ptr, name)

    def load(self) -> None:
        """Create the maps not reused and load the programs (the verifier's
        complaints go to stderr, through libbpf's default print)."""
        _check(_lib.bpf_object__load(self.ptr), f"loading {self.path}")

    def prog_fd(self, name: str) -> int:
        ptr = _lib.bpf_object__find_program_by_name(self.ptr, name.encode())
        if not ptr:
            raise KeyError(f"{self.path} has no program {name!r}")
        return _check(_lib.bpf_program__fd(ptr), f"{name}: fd")

    def close(self) -> None:
        if self.ptr:
            _lib.bpf_object__close(self.ptr)
            self.ptr = None

    def __enter__(self) -> "BpfObject":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
