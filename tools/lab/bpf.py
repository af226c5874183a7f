# SPDX-License-Identifier: MIT
"""BPF from the lab: the few bpf(2) calls it needs (ctypes, no extra
packages), bpffs and pin directories, and attaching XDP programs.

- load_xdp_tx_prog() + xdp_live_run(): a minimal XDP_TX program run with
  BPF_PROG_RUN live frames, the same kernel path the engine's probe_tx uses.
- obj_get/obj_pin, lookup/update/delete, percpu_u64_sum, map_info: pinned
  objects and maps.
- PinDir: a unique test pin directory /sys/fs/bpf/xhc-test-<sfx>, removed after.
- XdpTool: a lab tool's XDP program (tools/sim, tools/lb_forwarder) loaded with
  its maps pinned under /sys/fs/bpf/xhc-<tool>-<lab>, attached natively to a veth.
"""
from __future__ import annotations

import contextlib
import ctypes
import os
import re
import struct
from typing import NamedTuple

from .names import (PIN_DIR_PREFIXES, PIN_PREFIX, PIN_ROOT, SFX_RE, TOOL_PIN_PREFIXES,
                    new_suffix, tool_obj)
from .netns import in_netns, netns_exists, nsenter_prefix
from .proc import LabError, run

_libc = ctypes.CDLL(None, use_errno=True)
_SYS_bpf = 321 if os.uname().machine == "x86_64" else 280   # aarch64: 280
_BPF_MAP_LOOKUP_ELEM = 1
_BPF_MAP_UPDATE_ELEM = 2
_BPF_MAP_DELETE_ELEM = 3
_BPF_PROG_LOAD = 5
_BPF_OBJ_PIN = 6
_BPF_OBJ_GET = 7
_BPF_PROG_TEST_RUN = 10
_BPF_OBJ_GET_INFO_BY_FD = 15
_BPF_PROG_TYPE_XDP = 6
_BPF_F_TEST_XDP_LIVE_FRAMES = 1 << 1

XDP_PASS_OBJ = tool_obj("lab/xdp_pass")


def sys_bpf(cmd: int, attr: ctypes.Array) -> int:
    r = _libc.syscall(_SYS_bpf, cmd, ctypes.byref(attr), ctypes.sizeof(attr))
    if r < 0:
        e = ctypes.get_errno()
        raise OSError(e, f"bpf({cmd}): {os.strerror(e)}")
    return r


def _path_attr(path: str, fd: int = 0) -> tuple[ctypes.Array, ctypes.Array]:
    """bpf_attr for BPF_OBJ_PIN/GET, and the buffer it points to (keep it alive)."""
    pbuf = ctypes.create_string_buffer(path.encode())
    attr = ctypes.create_string_buffer(128)
    struct.pack_into("<QII", attr, 0, ctypes.addressof(pbuf), fd, 0)
    return attr, pbuf


# ---- programs ---------------------------------------------------------------

def load_xdp_tx_prog() -> int:
    """Load `r0 = XDP_TX; exit` (named "xhclabtx") and return its fd."""
    insns = struct.pack("<BBhi", 0xB7, 0, 0, 3) + struct.pack("<BBhi", 0x95, 0, 0, 0)
    ibuf = ctypes.create_string_buffer(insns, len(insns))
    lic = ctypes.create_string_buffer(b"GPL")
    attr = ctypes.create_string_buffer(128)
    struct.pack_into("<IIQQ", attr, 0, _BPF_PROG_TYPE_XDP, 2,
                     ctypes.addressof(ibuf), ctypes.addressof(lic))
    attr[48:48 + 8] = b"xhclabtx"
    return sys_bpf(_BPF_PROG_LOAD, attr)


def xdp_live_run(ns: str, prog_fd: int, ifindex: int, frame: bytes,
                 repeat: int = 1, batch_size: int = 0) -> None:
    """BPF_PROG_RUN with BPF_F_TEST_XDP_LIVE_FRAMES on IFINDEX (in NS)."""
    data = ctypes.create_string_buffer(frame, len(frame))
    ctx = ctypes.create_string_buffer(struct.pack("<6I", 0, len(frame), 0,
                                                  ifindex, 0, 0), 24)
    attr = ctypes.create_string_buffer(128)
    struct.pack_into("<IIIIQQII", attr, 0, prog_fd, 0, len(frame), 0,
                     ctypes.addressof(data), 0, max(1, repeat), 0)
    struct.pack_into("<IIQQIII", attr, 40, 24, 0, ctypes.addressof(ctx), 0,
                     _BPF_F_TEST_XDP_LIVE_FRAMES, 0, batch_size)
    with in_netns(ns):                  # ingress_ifindex is looked up there
        sys_bpf(_BPF_PROG_TEST_RUN, attr)


# ---- pinned objects and maps --------------------------------------------------

def bpf_obj_pin(fd: int, path: str) -> None:
    """Pin a BPF object fd at PATH on bpffs."""
    attr, _buf = _path_attr(path, fd)
    sys_bpf(_BPF_OBJ_PIN, attr)


def obj_get(path: str) -> int:
    """fd of a pinned BPF object (read-write: mmap refuses read-only map fds)."""
    attr, _buf = _path_attr(path)
    return sys_bpf(_BPF_OBJ_GET, attr)


def _map_op(cmd: int, fd: int, key: bytes, value: ctypes.Array | None) -> None:
    kbuf = ctypes.create_string_buffer(key, len(key))
    attr = ctypes.create_string_buffer(128)
    struct.pack_into("<IIQQQ", attr, 0, fd, 0, ctypes.addressof(kbuf),
                     ctypes.addressof(value) if value is not None else 0, 0)
    sys_bpf(cmd, attr)


def update(fd: int, key: bytes, value: bytes) -> None:
    _map_op(_BPF_MAP_UPDATE_ELEM, fd, key, ctypes.create_string_buffer(value, len(value)))


def delete(fd: int, key: bytes) -> None:
    _map_op(_BPF_MAP_DELETE_ELEM, fd, key, None)


def lookup(fd: int, key: bytes, size: int) -> bytes:
    buf = ctypes.create_string_buffer(size)
    _map_op(_BPF_MAP_LOOKUP_ELEM, fd, key, buf)
    return buf.raw


class MapInfo(NamedTuple):
    """The head of struct bpf_map_info."""
    type: int
    id: int
    key_size: int
    value_size: int
    max_entries: int
    map_flags: int


def map_info(fd: int) -> MapInfo:
    """BPF_OBJ_GET_INFO_BY_FD of a map: its id (unique while it lives) and layout."""
    info = ctypes.create_string_buffer(4 * len(MapInfo._fields))
    attr = ctypes.create_string_buffer(128)
    struct.pack_into("<IIQ", attr, 0, fd, len(info), ctypes.addressof(info))
    sys_bpf(_BPF_OBJ_GET_INFO_BY_FD, attr)
    return MapInfo(*struct.unpack_from("<6I", info.raw))


def ncpus_possible() -> int:
    with open("/sys/devices/system/cpu/possible") as f:
        hi = f.read().strip().split(",")[-1].split("-")[-1]
    return int(hi) + 1


def percpu_u64_sum(fd: int, index: int) -> int:
    """A per-CPU array's __u64 counter at index, summed over CPUs."""
    n = ncpus_possible()
    return sum(struct.unpack(f"<{n}Q", lookup(fd, struct.pack("<I", index), 8 * n)))


# ---- bpffs and pin directories ----------------------------------------------

def _mount_fstype(path: str) -> str | None:
    """fstype of the mount containing PATH (longest mount-point prefix)."""
    path = os.path.realpath(path)
    best, fstype = "", None
    with open("/proc/self/mounts") as f:
        for line in f:
            parts = line.split()
            mnt = parts[1].replace("\\040", " ")
            if (path == mnt or path.startswith(mnt.rstrip("/") + "/")) and len(mnt) >= len(best):
                best, fstype = mnt, parts[2]
    return fstype


def bpffs_mounted(root: str = PIN_ROOT) -> bool:
    with open("/proc/self/mounts") as f:
        return any(l.split()[1] == root and l.split()[2] == "bpf" for l in f)


def ensure_bpffs(root: str = PIN_ROOT) -> None:
    """Mount bpffs on /sys/fs/bpf if nothing is mounted there."""
    if not bpffs_mounted(root):
        run(["mount", "-t", "bpf", "bpf", root])


def _own_pin_dir(path: str, prefixes: tuple[str, ...]) -> None:
    """ValueError unless PATH is /sys/fs/bpf/<one of PREFIXES><suffix>: the
    only pin directories the lab removes."""
    pre = "|".join(re.escape(p) for p in prefixes)
    if not re.match(rf"^{re.escape(PIN_ROOT)}/(?:{pre})[0-9a-z]{{1,11}}$", path):
        raise ValueError(f"refusing to remove {path!r}: not a {PIN_ROOT}/{prefixes[0]}* dir")


def pin_dir_path(sfx: str | None = None, prefix: str = PIN_PREFIX) -> str:
    """A unique pin directory name: /sys/fs/bpf/xhc-test-<sfx> (not created)."""
    sfx = sfx or new_suffix()
    if not SFX_RE.match(sfx) or prefix not in PIN_DIR_PREFIXES:
        raise ValueError("bad suffix or prefix")
    return os.path.join(PIN_ROOT, prefix + sfx)


def remove_pin_dir(path: str) -> None:
    """Unlink every pin under PATH, then rmdir it (bottom-up). Only for
    /sys/fs/bpf/xhc-test-* (and xhc-demo-*) directories on a bpf filesystem."""
    _own_pin_dir(path, PIN_DIR_PREFIXES)
    if not os.path.isdir(path):
        return
    if _mount_fstype(path) != "bpf":
        raise ValueError(f"refusing to remove {path!r}: not on a bpf filesystem")
    for dirpath, dirnames, filenames in os.walk(path, topdown=False):
        for fn in filenames:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(dirpath, fn))
        for dn in dirnames:
            p = os.path.join(dirpath, dn)
            if os.path.islink(p):
                os.unlink(p)
            else:
                with contextlib.suppress(FileNotFoundError):
                    os.rmdir(p)
    os.rmdir(path)


class PinDir:
    """``with PinDir() as path:`` a unique pin dir name, removed afterwards."""

    def __init__(self, sfx: str | None = None, create: bool = False,
                 prefix: str = PIN_PREFIX):
        self.path = pin_dir_path(sfx, prefix)
        if create:
            ensure_bpffs()
            os.makedirs(self.path)

    def remove(self) -> None:
        remove_pin_dir(self.path)

    def __enter__(self) -> str:
        return self.path

    def __exit__(self, *exc) -> None:
        self.remove()


def tool_pin_dir(sfx: str, prefix: str) -> str:
    """Where a lab tool (simulator, forwarder) of lab SFX pins its objects."""
    return os.path.join(PIN_ROOT, prefix + sfx)


def remove_tool_pins(sfx: str, prefix: str | None = None) -> bool:
    """Unlink the pins of lab SFX's tools (exact names). True if any."""
    found = False
    for pre in (prefix,) if prefix else TOOL_PIN_PREFIXES:
        path = tool_pin_dir(sfx, pre)
        _own_pin_dir(path, (pre,))
        if not os.path.isdir(path):
            continue
        for fn in os.listdir(path):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(path, fn))
        os.rmdir(path)
        found = True
    return found


# ---- XDP on a veth -------------------------------------------------------------

def _xdpdrv(ns: str, dev: str, *how: str, check: bool = True, force: bool = False) -> None:
    run(nsenter_prefix(ns) + ["ip", *(["-force"] if force else []), "link", "set", "dev", dev,
                              "xdpdrv", *how], check=check)


def attach_xdp_pinned(ns: str, dev: str, path: str, replace: bool = False) -> None:
    """Attach the pinned XDP program PATH to DEV in NS; with REPLACE in place
    of the one attached (one atomic swap: no packet goes without a program),
    else only if none is."""
    _xdpdrv(ns, dev, "pinned", path, force=replace)


def attach_xdp_obj(ns: str, dev: str, obj: str) -> None:
    """Attach the XDP program (section "xdp") of object file OBJ to DEV in NS."""
    if not os.path.exists(obj):
        raise LabError(f"{obj} is missing: run `make` first")
    _xdpdrv(ns, dev, "obj", obj, "sec", "xdp")


def attach_xdp_pass(ns: str, dev: str) -> None:
    """An XDP_PASS program on DEV: frames XDP_TX'ed into its peer then arrive
    at once (with GRO alone they wait in the ring until the next frame)."""
    attach_xdp_obj(ns, dev, XDP_PASS_OBJ)


def detach_xdp(ns: str, dev: str, check: bool = True) -> None:
    _xdpdrv(ns, dev, "off", check=check)


class XdpTool:
    """A lab tool's XDP program: OBJ loaded with its maps pinned under
    /sys/fs/bpf/<PREFIX><lab>, attached natively to DEV in NS; fd(name)
    opens a map of it. close() detaches it and removes the pins."""

    def __init__(self, sfx: str, prefix: str, obj: str, ns: str, dev: str, *,
                 maps: tuple[str, ...], reuse: dict[str, str] | None = None):
        """maps: the tool's maps to open; reuse: map name -> pinned map that
        the program uses instead of making its own (bpftool's `map name`)."""
        if not os.path.exists(obj):
            raise LabError(f"{obj} is missing: run `make` first")
        self.sfx, self.prefix, self.ns, self.dev = sfx, prefix, ns, dev
        self.dir = tool_pin_dir(sfx, prefix)
        self.attached = False
        self.owns_pins = True
        self._fds: dict[str, int] = {}
        remove_tool_pins(sfx, prefix)
        try:
            ensure_bpffs()
            os.makedirs(self.dir)
            args = [a for name, pin in (reuse or {}).items()
                    for a in ("map", "name", name, "pinned", pin)]
            run(["bpftool", "prog", "load", obj, f"{self.dir}/prog", "type", "xdp",
                 *args, "pinmaps", self.dir])
            _xdpdrv(ns, dev, "pinned", f"{self.dir}/prog")
            self.attached = True
            for m in maps:
                self._fds[m] = obj_get(f"{self.dir}/{m}")
        except BaseException:
            self.close()
            raise

    def fd(self, name: str) -> int:
        return self._fds[name]

    def release(self) -> None:
        """Close the fds only: another loader replaced the program on the
        interface and took over the pins (an upgrade), close() must not
        detach or unpin what is now its."""
        self.attached = self.owns_pins = False
        self.close()

    def close(self) -> None:
        for fd in self._fds.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds.clear()
        if self.attached and netns_exists(self.ns):
            detach_xdp(self.ns, self.dev, check=False)
        self.attached = False
        if self.owns_pins:
            remove_tool_pins(self.sfx, self.prefix)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
