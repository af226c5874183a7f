# SPDX-License-Identifier: MIT
"""Checks of the namespace lab itself (no engine needed)."""
import ipaddress
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lab import (PROBER_IP, PROBER_IP6, SINK_SRC, V6_BLOCK, Lab, bpf_obj_pin, cleanup,
                 host_links, load_xdp_tx_prog, netns_list, new_suffix, remove_pin_dir)

ROOT = Path(__file__).resolve().parent.parent
XHCLAB = str(ROOT / "tools" / "xhclab.py")


def wait_for(pred, timeout=2.0, step=0.01):
    """Poll PRED until true or TIMEOUT (bounded); returns its last value."""
    deadline = time.monotonic() + timeout
    v = pred()
    while not v and time.monotonic() < deadline:
        time.sleep(step)
        v = pred()
    return v


def lab_gone(names) -> bool:
    ns = set(netns_list())
    links = set(host_links())
    return not any(n in ns or n in links or os.path.exists(f"/run/netns/{n}")
                   for n in names)


def test_topology(lab):
    assert lab.prober_ns.startswith("xhc-") and lab.backend_ns.startswith("xhc-")
    assert len(lab.prober_if) <= 15 and len(lab.backend_if) <= 15
    assert Lab.gro_state(lab.prober_ns, lab.prober_if)
    assert Lab.gro_state(lab.backend_ns, lab.backend_if)
    assert lab.prober_neigh() == []           # the engine resolves neighbours itself
    assert lab.nsenter_prefix() == ["nsenter", f"--net=/run/netns/{lab.prober_ns}"]
    routes = lab.prober_exec(["ip", "route"]).stdout
    assert "198.18.0.0/16 via 198.19.255.2" in routes
    sysctl = lab.backend_exec("sysctl -n net.core.somaxconn net.ipv4.tcp_max_syn_backlog "
                              "net.ipv4.conf.all.rp_filter").stdout.split()
    assert sysctl == ["65535", "65535", "0"]
    # nsenter keeps the host's mount namespace (and /sys/fs/bpf)
    out = subprocess.run(lab.nsenter_prefix() + ["readlink", "/proc/self/ns/mnt"],
                         capture_output=True, text=True, check=True).stdout.strip()
    assert out == os.readlink("/proc/self/ns/mnt")
    assert Lab.addr(0) == "198.18.0.1" and Lab.addr(254) == "198.18.1.1"
    assert Lab.addr(3, 7) == "198.18.3.7" and Lab.addr6(0) == "2001:2::1"


def test_open_refused_drop_undrop(lab):
    a = Lab.addr(10)
    assert lab.connect_check(a, 80) == "open"
    assert lab.connect_check(a, 81) == "refused"
    lab.drop_add([a])
    assert lab.connect_check(a, 80, timeout=0.3) == "timeout"
    assert lab.connect_check(Lab.addr(11), 80) == "open"
    lab.drop_del(a)
    assert lab.connect_check(a, 80) == "open"
    # CIDR in, single address out of it, per-port drop
    lab.drop_add("198.18.9.0/24")
    lab.drop_del("198.18.9.77")
    r = lab.connect_check_many([("198.18.9.76", 80), ("198.18.9.77", 80),
                                ("198.18.9.78", 80)], timeout=0.3)
    assert list(r.values()) == ["timeout", "open", "timeout"]
    assert lab.dropped() == ["198.18.9.0-198.18.9.76", "198.18.9.78-198.18.9.255"]
    lab.drop_clear()
    lab.listen(8080)
    lab.drop_add(a, port=8080)
    assert lab.connect_check(a, 8080, timeout=0.3) == "timeout"
    assert lab.connect_check(a, 80) == "open"
    lab.unlisten(8080)
    lab.drop_del(a, port=8080)
    assert lab.connect_check(a, 8080) == "refused"


def test_ipv6_anyip_block(lab):
    """Every address of the IPv6 block is a real kernel TCP backend, as for
    IPv4; the link's own /64 lies outside the block (an overlap would make
    the backend take the prober's address for its own)."""
    link = ipaddress.ip_interface(f"{PROBER_IP6}/64").network
    assert not link.overlaps(ipaddress.ip_network(V6_BLOCK))
    routes = lab.backend_exec(["ip", "-6", "route", "show", "table", "local"]).stdout
    assert f"local {V6_BLOCK} dev lo" in routes, routes
    far = [Lab.addr6(0), Lab.addr6(0xfffe), Lab.addr6(2 ** 40), Lab.addr6(2 ** 63 - 2)]
    r = lab.connect_check_many([(a, 80) for a in far] + [(a, 81) for a in far], timeout=0.5)
    assert list(r.values()) == ["open"] * 4 + ["refused"] * 4, r


def test_refuse_unreach_and_ipv6(lab):
    lab.refuse_add(Lab.addr(1))
    lab.unreach_add([Lab.addr(2), Lab.addr6(2)])
    lab.drop_add(Lab.addr6(3))
    r = lab.connect_check_many([(Lab.addr(1), 80), (Lab.addr6(1), 80),
                                (Lab.addr6(1), 81), (Lab.addr6(3), 80)], timeout=0.3)
    assert list(r.values()) == ["refused", "open", "refused", "timeout"]
    # unreach: counted as ICMP errors arriving in the prober (connect() may
    # miss the first one, see Lab.connect_check)
    s0 = lab.prober_snmp()
    lab.send_raw_syn(PROBER_IP, 45000, Lab.addr(2), 80)
    lab.send_raw_tcp("prober", PROBER_IP6, 45001, Lab.addr6(2), 80, 1)
    assert wait_for(lambda: lab.prober_snmp()["Icmp.InDestUnreachs"]
                    - s0["Icmp.InDestUnreachs"] == 1)
    assert wait_for(lambda: lab.prober_snmp()["Icmp6InDestUnreachs"]
                    - s0["Icmp6InDestUnreachs"] == 1)
    with pytest.raises(ValueError):
        lab.drop_add("10.0.0.1")              # outside the lab block: refused


def test_300_backends_and_bulk_drop(lab):
    addrs = Lab.addrs(300, start=1000)
    r = lab.connect_check_many([(a, 80) for a in addrs], timeout=2.0)
    assert len(r) == 300 and set(r.values()) == {"open"}
    assert lab.syn_recv_count() == 0           # handshakes completed, RST on close
    t = time.monotonic()
    lab.drop_add(addrs)                        # one nft call for all 300
    assert time.monotonic() - t < 1.0
    r = lab.connect_check_many([(a, 80) for a in addrs[::15]], timeout=0.3)
    assert set(r.values()) == {"timeout"}
    assert lab.syn_recv_count() == 0           # dropped SYNs leave no half-open state
    lab.drop_del(addrs[:150])
    r = lab.connect_check_many([(a, 80) for a in (addrs[0], addrs[149], addrs[150])],
                               timeout=0.3)
    assert list(r.values()) == ["open", "open", "timeout"]


def test_syn_recv_count(lab):
    assert lab.syn_recv_count() == 0
    # The backend's SYN-ACKs to SINK_SRC go to the prober, which drops them
    # (not its address), so each SYN leaves one SYN-RECV entry.
    for i in range(5):
        lab.send_raw_syn(SINK_SRC, 40000 + i, Lab.addr(20), 80, seq=1000 + i)
    assert wait_for(lambda: lab.syn_recv_count() == 5)
    # SYNs from the prober's own address: the prober kernel RSTs the SYN-ACKs
    before = lab.prober_tcp_out_rsts()
    for i in range(3):
        lab.send_raw_syn(PROBER_IP, 41000 + i, Lab.addr(21), 80)
    assert wait_for(lambda: lab.prober_tcp_out_rsts() - before >= 3)
    assert wait_for(lambda: lab.syn_recv_count() == 5)


def test_forged_synack(lab):
    """A forged SYN-ACK reaches the prober with valid checksums: its kernel
    (no socket, no engine) answers each with a RST."""
    s0 = lab.prober_snmp()
    for i in range(4):
        lab.send_forged_synack(Lab.addr(30), 80, PROBER_IP, 50000 + i,
                               seq=123456 + i, ack=777 + i)
    assert wait_for(lambda: lab.prober_tcp_out_rsts() - s0["Tcp.OutRsts"] == 4)
    s1 = lab.prober_snmp()
    assert s1["Tcp.InSegs"] - s0["Tcp.InSegs"] >= 4
    assert s1["Tcp.InCsumErrors"] == s0["Tcp.InCsumErrors"]
    # IPv6 too
    lab.send_raw_tcp("backend", Lab.addr6(30), 80, PROBER_IP6, 50100, 1, 2, "SA")
    assert wait_for(lambda: lab.prober_tcp_out_rsts() - s0["Tcp.OutRsts"] == 5)


def test_xdp_tx_reaches_backend_only_with_gro():
    """The engine's path: frames XDP_TX'ed (BPF_PROG_RUN live frames) out of
    the prober veth reach a backend veth without an XDP program only while it
    has GRO on; with GRO off they are dropped silently."""
    with Lab(listen=[80], backend_xdp=False) as lab:
        _xdp_tx_needs_gro(lab)


def test_backend_xdp_pass_is_attached(lab):
    out = lab.backend_exec(f"ip -d link show dev {lab.backend_if}").stdout
    assert "xdp" in out and "prog/xdp" in out


def _xdp_tx_needs_gro(lab):
    base = lab.prober_tcp_out_rsts()
    for i in range(5):        # backend answers SYN-ACK, prober kernel RSTs it
        lab.inject_xdp_tx(lab.syn_frame(Lab.addr(40), 80, 42000 + i))
    assert wait_for(lambda: lab.prober_tcp_out_rsts() - base == 5)
    lab.set_gro("backend", False)
    try:
        for i in range(5):
            lab.inject_xdp_tx(lab.syn_frame(Lab.addr(40), 80, 43000 + i))
        time.sleep(0.2)
        assert lab.prober_tcp_out_rsts() - base == 5
    finally:
        lab.set_gro("backend", True)
    lab.inject_xdp_tx(lab.syn_frame(Lab.addr6(40), 80, 44000))
    assert wait_for(lambda: lab.prober_tcp_out_rsts() - base == 6)


def test_teardown_removes_only_its_names():
    lab = Lab(listen=[80, 81])
    names = [lab.prober_ns, lab.backend_ns, lab.prober_if, lab.backend_if]
    pids = [p for p, _ in lab.listeners.values()]
    state = lab.state_file
    assert os.path.exists(state)
    assert lab.connect_check(Lab.addr(0), 81) == "open"
    lab.close()
    lab.close()                                # idempotent
    assert lab_gone(names)
    assert not os.path.exists(state)
    for p in pids:
        assert wait_for(lambda: not os.path.exists(f"/proc/{p}"))


@pytest.mark.parametrize("how", ["sigterm", "sigint", "atexit"])
def test_teardown_on_signal_and_exit(how):
    code = (f"import sys, os, signal, time; sys.path.insert(0, {str(ROOT / 'tools')!r})\n"
            "from lab import Lab\n"
            "lab = Lab(listen=[80])\n"
            "print(lab.prober_ns, lab.backend_ns, *[p for p, _ in lab.listeners.values()],"
            " flush=True)\n"
            f"if {how == 'atexit'}: sys.exit(0)\n"
            "time.sleep(20)\n")
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        names = p.stdout.readline().split()
        assert len(names) == 3, names
        if how != "atexit":
            os.kill(p.pid, signal.SIGTERM if how == "sigterm" else signal.SIGINT)
        p.wait(timeout=10)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert lab_gone(names[:2])
    assert wait_for(lambda: not os.path.exists(f"/proc/{names[2]}"))


def test_cli_up_down():
    sfx = "t" + new_suffix()[:9]
    cp = subprocess.run([sys.executable, XHCLAB, "up", "--name", sfx, "--listen", "80,8081",
                         "--drop", "198.18.5.0/24"], capture_output=True, text=True,
                        timeout=30)
    assert cp.returncode == 0, cp.stderr
    env = dict(line.split("=", 1) for line in cp.stdout.splitlines())
    try:
        assert env["XHC_PROBER_NS"] == f"xhc-p-{sfx}"
        assert env["XHC_BACKEND_NS"] == f"xhc-b-{sfx}"
        with open(f"/run/xhclab/{sfx}.json") as f:
            st = json.load(f)
        assert st["owner_pid"] is None and set(st["listeners"]) == {"80", "8081"}
        lab = Lab.attach(sfx)                 # listeners outlived the CLI process
        assert lab.dropped() == ["198.18.5.0-198.18.5.255"]
        r = lab.connect_check_many([("198.18.4.1", 80), ("198.18.4.1", 8081),
                                    ("198.18.5.9", 80), ("198.18.4.1", 82)], timeout=0.3)
        assert list(r.values()) == ["open", "open", "timeout", "refused"]
        cp = subprocess.run([sys.executable, XHCLAB, "drop", "del", sfx, "198.18.5.9"],
                            capture_output=True, text=True, timeout=30)
        assert cp.returncode == 0, cp.stderr
        assert lab.connect_check("198.18.5.9", 80) == "open"
        assert "would remove lab " + sfx in cleanup(dry_run=True)
    finally:
        cp = subprocess.run([sys.executable, XHCLAB, "down", sfx], capture_output=True,
                            text=True, timeout=30)
    assert cp.returncode == 0, cp.stderr
    assert lab_gone([f"xhc-p-{sfx}", f"xhc-b-{sfx}"])
    assert not os.path.exists(f"/run/xhclab/{sfx}.json")
    for pid, _ in st["listeners"].values():      # reaped by init, not by us
        assert wait_for(lambda: not os.path.exists(f"/proc/{pid}"))


def test_pin_dir(pin_dir):
    assert pin_dir.startswith("/sys/fs/bpf/xhc-test-")
    os.makedirs(os.path.join(pin_dir, "sub"))
    fd = load_xdp_tx_prog()
    try:
        bpf_obj_pin(fd, os.path.join(pin_dir, "prog"))
        bpf_obj_pin(fd, os.path.join(pin_dir, "sub", "prog2"))
    finally:
        os.close(fd)
    remove_pin_dir(pin_dir)
    assert not os.path.exists(pin_dir)
    with pytest.raises(ValueError):
        remove_pin_dir("/sys/fs/bpf/xdphc")   # never a real install's dir
