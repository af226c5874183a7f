# SPDX-License-Identifier: MIT
"""The host side of the source port range (user/ports.c).

While the engine runs, the part of source_ports inside ip_local_port_range
is in net.ipv4.ip_local_reserved_ports of its network namespace (so the
kernel does not pick those ports for its own connections); on stop exactly
what the engine added is taken out again, whatever else the operator has put
there; after a SIGKILL the next start takes out what the dead engine had
added.  A local socket already using a port of the range stops the start
with one message naming the port, the protocol and the owning process.
"""
import glob
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from lab import in_netns, proc_starttime
from lab.engine import pool
from test_errors import assert_nothing_left, assert_where, line_of, one_message, run_engine

SYSCTL = "net.ipv4.ip_local_reserved_ports"
STATE_DIR = "/run/xdphc/reserved-ports"
# A fresh namespace has ip_local_port_range 32768-60999: these overlap it.
RANGE = "40000-41023"
PORT = 40500                        # inside RANGE
OPERATOR = "40010,50000"            # one port inside RANGE, one outside
BACKENDS = ["198.18.1.1:80", "198.18.1.2:80"]


# ---- helpers ----------------------------------------------------------------

RESERVED_FILE = "/proc/sys/net/ipv4/ip_local_reserved_ports"


def reserved(lab) -> str:
    """The prober namespace's list, read whole: the kernel prints it only to
    the first read() (procps' sysctl cuts lists longer than a page)."""
    with in_netns(lab.prober_ns):
        fd = os.open(RESERVED_FILE, os.O_RDONLY)
    try:
        return os.read(fd, 1 << 20).decode().strip()
    finally:
        os.close(fd)


def set_reserved(lab, value: str) -> None:
    """Written in a loop: the kernel takes at most a page per write()."""
    with in_netns(lab.prober_ns):
        fd = os.open(RESERVED_FILE, os.O_WRONLY)
    try:
        data = (value + "\n").encode()
        while data:
            data = data[os.write(fd, data):]
    finally:
        os.close(fd)
    assert reserved(lab) == value


def host_reserved() -> str:
    with open(f"/proc/sys/net/ipv4/ip_local_reserved_ports") as f:
        return f.read().strip()


def state_path(engine) -> str:
    """Where the engine records what it reserved: named by the nsfs inode of
    its namespace and the FNV-1a hash of its pin_path."""
    ino = os.stat(f"/run/netns/{engine.lab.prober_ns}").st_ino
    fnv = 0xcbf29ce484222325
    for b in engine.pin_dir.encode():
        fnv = ((fnv ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return f"{STATE_DIR}/{ino}-{fnv:016x}"


def state_files(engine) -> list[str]:
    return glob.glob(state_path(engine))


def netns_cookie(ns: str) -> int:
    with in_netns(ns):
        s = socket.socket()
    with s:
        return int.from_bytes(s.getsockopt(socket.SOL_SOCKET, 71, 8), sys.byteorder)


def dead_pid() -> int:
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


def write_state(path: str, pid: int, ino: int, cookie: int, added: str) -> None:
    for d in (os.path.dirname(STATE_DIR), STATE_DIR):
        os.makedirs(d, mode=0o700, exist_ok=True)
    with open(path, "w") as f:
        f.write(f"pid {pid}\npid_start 1\nnetns_inode {ino}\n"
                f"netns_cookie {cookie}\nadded {added}\n")


def port_range(lab) -> tuple[int, int]:
    lo, hi = lab.prober_exec(["sysctl", "-n", "net.ipv4.ip_local_port_range"]).stdout.split()
    return int(lo), int(hi)


HOLDER_SRC = r"""
import socket, sys
kind, addr, port, v6only = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1"
fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM if kind == "udp" else socket.SOCK_STREAM)
if fam == socket.AF_INET6:
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, int(v6only))
s.bind((addr, port))
if kind == "tcp":
    s.listen()
print("ready", flush=True)
sys.stdin.read()
"""


class Holder:
    """A python3 process in the prober namespace holding one bound socket
    until it is closed (its pid is what the engine must name)."""

    def __init__(self, lab, kind: str, addr: str, port: int, v6only: bool = False):
        self.proc = subprocess.Popen(
            [*lab.nsenter_prefix(), sys.executable, "-c", HOLDER_SRC, kind, addr, str(port),
             "1" if v6only else "0"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if line != "ready\n":
            self.close()
            raise AssertionError(f"socket holder {kind} {addr}:{port} did not start: "
                                 f"{self.proc.stderr.read()}")
        self.pid = self.proc.pid      # nsenter execs python3: the same process
        with open(f"/proc/{self.pid}/comm") as f:
            self.comm = f.read().strip()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            f.close()


def time_wait_on(lab, port: int) -> None:
    """Leave a TIME_WAIT socket on prober_ip:port in the prober namespace: a
    local connection from that port, closed by our side first."""
    with in_netns(lab.prober_ns):
        srv = socket.socket()
        srv.bind((lab.prober_ip, 0))
        srv.listen()
        cli = socket.socket()
        cli.bind((lab.prober_ip, port))
    cli.connect(srv.getsockname())
    conn, _ = srv.accept()
    cli.close()                     # our FIN first: this side ends in TIME_WAIT
    conn.recv(1)
    conn.close()
    srv.close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        out = lab.prober_exec(["ss", "-Htan", "state", "time-wait",
                               f"sport = :{port}"]).stdout
        if out.strip():
            return
        time.sleep(0.05)
    raise AssertionError(f"no TIME_WAIT socket on port {port}")


# ---- (a) reserved while running, the operator's entries survive --------------

def test_overlap_reserved_while_running(engine):
    lab = engine.lab
    lo, hi = port_range(lab)
    assert lo <= 40000 and 41023 <= hi, f"ip_local_port_range {lo}-{hi} of a fresh netns"
    host_before = host_reserved()
    set_reserved(lab, OPERATOR)
    engine.configure([pool("web", BACKENDS)], source_ports=RANGE)
    engine.start()

    # the whole range, merged with the operator's entries; only in this netns
    assert reserved(lab) == "40000-41023,50000"
    assert lab.prober_exec(["sysctl", "-n", SYSCTL]).stdout.strip() == "40000-41023,50000"
    assert host_reserved() == host_before, "the host namespace's sysctl was changed"
    assert "reserved source ports 40000-40009,40011-41023 (1023 ports)" in engine.log()
    files = state_files(engine)
    assert len(files) == 1, files
    text = open(files[0]).read()
    assert f"pid {engine.proc.pid}\n" in text and "added 40000-40009,40011-41023\n" in text
    assert engine.pin_dir in text
    st = os.stat(os.path.dirname(files[0]))
    assert st.st_mode & 0o777 == 0o700 and os.stat(files[0]).st_mode & 0o777 == 0o600

    # the operator changes the sysctl while the engine runs: that stays too
    set_reserved(lab, "40000-41023,50000,55555")
    assert engine.stop() == 0
    assert reserved(lab) == "40010,50000,55555"
    assert state_files(engine) == []
    assert engine.log().count("released source ports 40000-40009,40011-41023") == 1


def test_long_operator_list_survives(engine):
    """An operator list longer than a page: the kernel takes at most a page
    per write() and prints the list only to a single read(), so the engine
    must loop its writes and read it whole, or entries are lost."""
    lab = engine.lab
    many = ",".join(str(p) for p in range(50001, 54000, 2))      # 2000 ports, ~12 kB
    set_reserved(lab, many)
    engine.configure([pool("web", BACKENDS)], source_ports=RANGE)
    engine.start()
    assert reserved(lab) == "40000-41023," + many
    assert engine.stop() == 0
    assert reserved(lab) == many


# ---- (b) after SIGKILL the next start removes the dead engine's ports ------------

def test_sigkill_then_restart(engine):
    lab = engine.lab
    set_reserved(lab, OPERATOR)
    engine.configure([pool("web", BACKENDS)], source_ports=RANGE)
    engine.start()
    dead = engine.proc.pid
    engine.stop(signal.SIGKILL)
    assert reserved(lab) == "40000-41023,50000", "SIGKILL cannot have released anything"
    assert len(state_files(engine)) == 1

    # a different range, so removing the dead engine's ports shows
    engine.configure([pool("web", BACKENDS)], source_ports="40500-41523")
    engine.start()
    log = engine.log(this_run=True)
    assert (f"removed source ports 40000-40009,40011-41023 (1023 ports) from {SYSCTL}: "
            f"reserved by xdphc pid {dead}, which did not stop cleanly") in log
    assert "reserved source ports 40500-41523 (1024 ports)" in log
    assert reserved(lab) == "40010,40500-41523,50000"
    files = state_files(engine)
    assert len(files) == 1 and f"pid {engine.proc.pid}\n" in open(files[0]).read()

    assert engine.stop() == 0
    assert reserved(lab) == OPERATOR
    assert state_files(engine) == []


def test_state_of_a_gone_namespace_is_dropped(engine):
    """State files of this namespace's nsfs inode but another namespace cookie
    were left in a namespace that no longer exists (the inode was reused),
    the engine's own key or another pin_path's: they are dropped, and nothing
    is taken out of this namespace's sysctl for them."""
    lab = engine.lab
    set_reserved(lab, OPERATOR)
    engine.configure([pool("web", ["198.18.1.1:80"])], source_ports="61000-61999")
    ino = os.stat(f"/run/netns/{lab.prober_ns}").st_ino
    cookie = netns_cookie(lab.prober_ns)
    own, other = state_path(engine), f"{STATE_DIR}/{ino}-00000000deadbeef"
    write_state(own, dead_pid(), ino, cookie + 1, "40000-40100")
    write_state(other, dead_pid(), ino, cookie + 2, "40000-40100")
    try:
        engine.start()
        assert not os.path.exists(own) and not os.path.exists(other)
        assert reserved(lab) == OPERATOR
        assert "removed source ports" not in engine.log(this_run=True)
        assert engine.stop() == 0
    finally:
        for p in (own, other):
            if os.path.exists(p):
                os.unlink(p)


def test_state_of_another_pin_path_is_kept(engine):
    """A dead engine of this namespace with another pin_path is that
    pin_path's to clean up: its file and its ports stay."""
    lab = engine.lab
    set_reserved(lab, "40000-40100")
    engine.configure([pool("web", ["198.18.1.1:80"])], source_ports="61000-61999")
    ino = os.stat(f"/run/netns/{lab.prober_ns}").st_ino
    other = f"{STATE_DIR}/{ino}-00000000deadbeef"
    write_state(other, dead_pid(), ino, netns_cookie(lab.prober_ns), "40000-40100")
    try:
        engine.start()
        assert os.path.exists(other)
        assert reserved(lab) == "40000-40100"
        assert engine.stop() == 0
    finally:
        os.unlink(other)


def test_state_of_a_live_process_refused(engine):
    """A state file of this key whose pid is alive (same start time): another
    engine still holds the reservation; the start is refused, nothing is
    taken out of the sysctl and the file stays."""
    lab = engine.lab
    set_reserved(lab, "40000-40100")
    path = str(engine.configure([pool("web", BACKENDS)], source_ports=RANGE))
    ino = os.stat(f"/run/netns/{lab.prober_ns}").st_ino
    own = state_path(engine)
    holder = subprocess.Popen(["sleep", "30"])
    try:
        write_state(own, holder.pid, ino, netns_cookie(lab.prober_ns), "40000-40100")
        with open(own) as f:
            text = f.read()
        with open(own, "w") as f:
            f.write(text.replace("pid_start 1\n",
                                 f"pid_start {proc_starttime(holder.pid)}\n"))
        msg = one_message(run_engine(engine, path))
        assert_where(msg, path, line_of(open(path).read(), "source_ports"),
                     f"another xdphc engine (pid {holder.pid}) holds the port reservation "
                     f"recorded in {own}")
        assert os.path.exists(own)
        assert reserved(lab) == "40000-40100"
        assert_nothing_left(engine)
    finally:
        holder.kill()
        holder.wait()
        if os.path.exists(own):
            os.unlink(own)


def test_unreadable_state_is_dropped_with_a_warning(engine):
    """Nothing can be undone from a file that does not parse: the engine says
    so, drops it and leaves the sysctl alone (here with a range that needs
    no reservation, so the file is not simply overwritten)."""
    lab = engine.lab
    set_reserved(lab, OPERATOR)
    engine.configure([pool("web", BACKENDS)], source_ports="61000-61999")
    own = state_path(engine)
    write_state(own, dead_pid(), 0, 0, "40000-40100")
    with open(own, "w") as f:
        f.write("garbage\n")
    try:
        engine.start()
        log = engine.log(this_run=True)
        assert f"warn: {own}: not a complete state file; removed it" in log
        assert not os.path.exists(own)
        assert reserved(lab) == OPERATOR
        assert engine.stop() == 0
    finally:
        if os.path.exists(own):
            os.unlink(own)


def test_range_taking_most_ephemeral_ports_refused(engine):
    """Reserving all of ip_local_port_range would leave the namespace no port
    for connect() or an unbound UDP send (DNS): refused, sysctl untouched."""
    lab = engine.lab
    lo, hi = port_range(lab)
    set_reserved(lab, OPERATOR)
    path = str(engine.configure([pool("web", BACKENDS)], source_ports=f"{lo}-65535"))
    msg = one_message(run_engine(engine, path))
    assert_where(msg, path, line_of(open(path).read(), "source_ports"),
                 f"takes {hi - lo + 1 - 2} of the ports still free in ip_local_port_range "
                 f"{lo}-{hi}", "leave the kernel only 0 for the node's own connections",
                 f"choose source_ports outside {lo}-{hi}")
    assert reserved(lab) == OPERATOR
    assert state_files(engine) == []
    assert_nothing_left(engine)


# ---- (c) a local socket in the range stops the start -------------------------------

# (id, socket kind, address (None: the prober's), words of the message)
CONFLICTS = [
    ("tcp-listener-any", "tcp", "0.0.0.0", ["TCP port 40500", "0.0.0.0:40500 (LISTEN)"]),
    ("udp-on-source", "udp", None, ["UDP port 40500", "198.19.255.1:40500 (unconnected)"]),
    ("tcp6-listener-dual-stack", "tcp", "::", ["TCP port 40500", "IPv6 [::]:40500 (LISTEN)"]),
]


@pytest.mark.parametrize("kind,addr,words", [c[1:] for c in CONFLICTS],
                         ids=[c[0] for c in CONFLICTS])
def test_socket_in_range_refused(engine, kind, addr, words):
    lab = engine.lab
    set_reserved(lab, OPERATOR)
    path = str(engine.configure([pool("web", BACKENDS)], source_ports=RANGE))
    holder = Holder(lab, kind, addr or lab.prober_ip, PORT)
    try:
        msg = one_message(run_engine(engine, path))
        assert_where(msg, path, line_of(open(path).read(), "source_ports"),
                     f"source_ports {RANGE}", *words,
                     f"owned by pid {holder.pid} ({holder.comm})",
                     "choose source_ports that no local socket uses")
    finally:
        holder.close()
    assert reserved(lab) == OPERATOR
    assert state_files(engine) == []
    assert_nothing_left(engine)


def test_time_wait_in_range_refused(engine):
    """TIME_WAIT has no owner; it still counts (see ports.c for why)."""
    lab = engine.lab
    path = str(engine.configure([pool("web", BACKENDS)], source_ports=RANGE))
    time_wait_on(lab, PORT)
    msg = one_message(run_engine(engine, path))
    assert_where(msg, path, line_of(open(path).read(), "source_ports"),
                 f"TCP port {PORT}", f"198.19.255.1:{PORT} -> 198.19.255.1:", "(TIME_WAIT)",
                 "no owning process (TIME_WAIT")
    assert reserved(lab) == ""
    assert_nothing_left(engine)


def test_socket_in_default_range_refused(engine):
    """Without source_ports the message says the range is the default and
    where it comes from."""
    lab = engine.lab
    lo, hi = port_range(lab)
    path = str(engine.configure([pool("web", BACKENDS)]))
    holder = Holder(lab, "udp", "0.0.0.0", hi + 1)
    try:
        msg = one_message(run_engine(engine, path))
        assert_where(msg, path, None, f"source ports {hi + 1}-",
                     f"the default, derived from ip_local_port_range {lo}-{hi}",
                     f"UDP port {hi + 1}", f"owned by pid {holder.pid} ({holder.comm})",
                     "set source_ports")
    finally:
        holder.close()
    assert_nothing_left(engine)


@pytest.mark.parametrize("addr,v6only,words", [
    ("::", True, ["TCP port 40500", "IPv6 [::]:40500 (LISTEN)"]),
    ("2001:2:0:ffff::1", False, ["TCP port 40500", "IPv6 [2001:2:0:ffff::1]:40500 (LISTEN)"]),
], ids=["ipv6-only-wildcard", "on-ipv6-source"])
def test_ipv6_socket_in_range_refused_when_probing_ipv6(engine, addr, v6only, words):
    """With an IPv6 backend, IPv6 sockets on the source (the interface's
    first global address) or on [::], IPv6-only too, stop the start."""
    lab = engine.lab
    path = str(engine.configure([pool("web", BACKENDS + ["[2001:2::1]:80"])],
                                source_ports=RANGE))
    holder = Holder(lab, "tcp", addr, PORT, v6only=v6only)
    try:
        msg = one_message(run_engine(engine, path))
        assert_where(msg, path, line_of(open(path).read(), "source_ports"), *words,
                     f"owned by pid {holder.pid} ({holder.comm})")
    finally:
        holder.close()
    assert_nothing_left(engine)


def test_sockets_that_cannot_meet_a_probe_are_allowed(engine):
    """Another local address, an IPv6-only wildcard (no IPv6 backend: the
    interface's IPv6 address is not probed from), a port outside the range:
    none of them sees a reply to a probe, so the engine starts."""
    lab = engine.lab
    engine.configure([pool("web", BACKENDS)], source_ports=RANGE)
    holders = [Holder(lab, "tcp", "127.0.0.1", PORT),
               Holder(lab, "tcp", "::", PORT + 1, v6only=True),
               Holder(lab, "udp", lab.prober_ip, 41024)]
    try:
        engine.start()
        assert engine.stop() == 0
    finally:
        for h in holders:
            h.close()


# ---- (d) no overlap: the sysctl is not touched -------------------------------------

@pytest.mark.parametrize("source_ports", [None, "61000-61999"], ids=["default", "explicit"])
def test_no_overlap_leaves_sysctl_alone(engine, source_ports):
    lab = engine.lab
    lo, hi = port_range(lab)
    set_reserved(lab, OPERATOR)
    top = {"source_ports": source_ports} if source_ports else {}
    engine.configure([pool("web", BACKENDS)], **top)
    engine.start()
    assert reserved(lab) == OPERATOR
    assert state_files(engine) == []
    assert "reserved source ports" not in engine.log()
    if source_ports:
        assert hi < 61000, f"ip_local_port_range {lo}-{hi}"
    assert engine.stop() == 0
    assert reserved(lab) == OPERATOR
    assert "released" not in engine.log()
