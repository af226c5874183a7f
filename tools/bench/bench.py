#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""make bench: xdphc next to the machine's ceiling, masscan, zmap and HAProxy.

Everything runs in one lab (prober and backend namespaces on one veth pair),
in one run, and prints one table.  Backends are emulated by the XDP backend
simulator (tools/sim/backend_sim.bpf.c) unless a row says otherwise.

    python3 tools/bench/bench.py [--backends 1000000] [--seconds 60] [--skip masscan,zmap,...]
                                 [--only reload,loss,...] [--http-backends 10000,15000]

Rows:
  ceiling  a do-nothing XDP program sending 64-byte frames with live-frames
           BPF_PROG_RUN (XDP_TX) into the backend veth, whose XDP drops them
  sim      the simulator's own ceiling for each kind of probe (IPv4 and IPv6
           SYNs, UDP echoes and port unreachables), measured like the ceiling:
           answers/s and its BPF run time per packet
  xdphc    the engine at --backends backends, interval 1 s: probe cycles/s
           (SYN out, SYN-ACK matched, RST out), CPU per probe, detection
           latency after 1 % of the backends die, memory, start-up time
  ipv6, udp, udp6   the same backends as IPv6 TCP, UDP and IPv6 UDP checks
           (udp: payload and expect "ping", which the simulator echoes) at
           1 s: schedule lag (target p99 <= 50 ms), then saturated at 250 ms
           (target >= 80 % of the IPv4 TCP saturated rate of the same run,
           measured alone when the xdphc row is not run).  A row whose config
           the engine refuses fails with the engine's message, and bench.py
           exits 1
  masscan, zmap   SYN packets/s and replies on the same backends, CPU
  haproxy  connect()-based checks/s and CPU per check, 10,000 and 50,000
           servers with `check inter 1s`
  reload   a SIGHUP that changes 1 % of --backends backends at interval 1 s
           (half of them removed, as many added): the reload's time, state
           changes of the backends it left alone (0 expected), schedule lag
  loss     backends that go falsely down in 20 s when 10 % of SYNs are lost,
           10,000 kernel backends at interval 500 ms, fall 3, with single SYNs
           (retransmits: 0) and with one retransmit (retransmits: 1)
  http     HEAD / every 1 s to real nginx backends (tools/bench/httpfix.py)
           at each of --http-backends: xdphc with keep-alive (the default),
           xdphc with a connection per check, HAProxy `option httpchk`;
           checks/s (nginx's count), CPU per check, schedule lag, memory per
           backend, detection after 1 % of the backends die
  https    the same over TLS at each of --https-backends (a connection per
           check, and HAProxy check-ssl, only up to 1,000 backends)
"""
from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import os
import re
import resource
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))

from lab import (Lab, PinDir, in_netns, load_xdp_tx_prog, make_eth_frame, make_ip_tcp,  # noqa: E402
                 make_ip_udp, netns_socket, ns_cmd, run, xdp_live_run)
from lab import bpf, netns                                     # noqa: E402
from lab.bpf import attach_xdp_obj, detach_xdp                 # noqa: E402
from lab.libbpf import BpfObject                               # noqa: E402
from lab.engine import Engine, EngineError, ms, pool           # noqa: E402
from lab.names import build_path, tool_obj                     # noqa: E402
from httpfix import HAProxies, Nginx, dead                    # noqa: E402
from sim import BackendSim                                     # noqa: E402
from statusmap import StatusMap                                # noqa: E402

XDPHC = build_path("xdphc")
XDP_DROP_OBJ = tool_obj("bench/xdp_drop")
XDP_TMPL_OBJ = tool_obj("bench/xdp_tmpl_tx")
RX_TEST = build_path("tests", "rx_test")
LAG_WINDOW_S = 10           # the engine's schedule lag quantiles cover this much
CLK_TCK = os.sysconf("SC_CLK_TCK")
PORTS = 16
PORT0 = 8000
INTERVAL_S = 1.0
TIMEOUT_S = 0.5
FALL = 2
RISE = 2
XDPHC_PROGS = ("probe_rx", "probe_tx", "count_tx_drops")


def say(*a) -> None:
    print(*a, flush=True)


# ---------------------------------------------------------------- measuring

def proc_cpu(pid: int) -> float:
    """CPU time of a process (all threads), seconds, from the scheduler's own
    nanosecond count rather than tick samples."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(FileNotFoundError):
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
    return total / 1e9


def proc_user_sys(pid: int) -> tuple[float, float]:
    """(user, system) seconds of a process: tick samples, fine over seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK


def softirq_s() -> float:
    """CPU-seconds all CPUs spent in softirqs, up to now (tick samples):
    what no process is charged for when it runs on an idle CPU."""
    with open("/proc/stat") as f:
        return int(f.readline().split()[7]) / CLK_TCK


def machine_busy() -> float:
    """CPU-seconds all CPUs spent not idle, up to now.  The idle counters of
    /proc/stat are exact (nohz keeps them in ns); the busy ones are tick
    samples, so busy is taken as elapsed time minus idle."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    return time.monotonic() * os.cpu_count() - (v[3] + v[4]) / CLK_TCK


def bpf_prog_stats(names=XDPHC_PROGS) -> tuple[int, int]:
    """Sums of run_time_ns and run_cnt (kernel.bpf_stats_enabled=1) of the
    named programs."""
    progs = [p for p in json.loads(run(["bpftool", "-j", "prog", "show"]).stdout)
             if p.get("name") in names]
    return sum(p.get("run_time_ns", 0) for p in progs), sum(p.get("run_cnt", 0) for p in progs)


def bpf_runtime_ns(names=XDPHC_PROGS) -> int:
    """Sum of run_time_ns (kernel.bpf_stats_enabled=1) of the named programs."""
    return bpf_prog_stats(names)[0]


@contextlib.contextmanager
def bpf_stats():
    path = "/proc/sys/kernel/bpf_stats_enabled"
    with open(path) as f:
        old = f.read().strip()
    with open(path, "w") as f:
        f.write("1")
    try:
        yield
    finally:
        with open(path, "w") as f:
            f.write(old)


class Sampler:
    """Deltas of the counters a row needs over a window."""

    def __init__(self, sim: BackendSim, pid: int | None = None, stats=None):
        self.sim, self.pid, self.stats = sim, pid, stats

    def take(self) -> dict:
        s = {"t": time.monotonic(), "busy": machine_busy(), "softirq": softirq_s(),
             "bpf_ns": bpf_runtime_ns(),
             **{f"sim_{k}": v for k, v in self.sim.counters().items()}}
        if self.stats:
            s.update(self.stats())
        if self.pid:
            s["cpu"] = proc_cpu(self.pid)
            s["user"], s["sys"] = proc_user_sys(self.pid)
        return s

    @staticmethod
    def delta(a: dict, b: dict) -> dict:
        return {k: b[k] - a[k] for k in a}


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q / 100 * len(values)))]


# ---------------------------------------------------------------- the lab

def backend_addrs(n_backends: int) -> list[str]:
    return Lab.addrs((n_backends + PORTS - 1) // PORTS)


def write_backends(path: str, addrs: list[str], n: int) -> None:
    """N backends, PORTS a backend address (IPv6 ones written [ADDR]:PORT)."""
    with open(path, "w") as f:
        k = 0
        for a in addrs:
            host = f"[{a}]" if ":" in a else a
            for p in range(PORT0, PORT0 + PORTS):
                if k == n:
                    return
                f.write(f"{host}:{p}\n")
                k += 1


def initial_rules(addrs: list[str], other: bool = False) -> list:
    """0.4 % closed and 0.4 % dead from the start, near the end of the set
    (and with OTHER 0.4 % answering another payload: a UDP check's mismatch)."""
    actions = ("closed", "dead", "other") if other else ("closed", "dead")
    cut = len(addrs) * (1000 - 4 * len(actions)) // 1000
    span = max(1, len(addrs) * 4 // 1000)
    return [(f"{addrs[cut + k * span]}-{addrs[cut + (k + 1) * span - 1]}", None, act)
            for k, act in enumerate(actions)]


# ---------------------------------------------------------------- ceiling

def run_ceiling(lab: Lab, seconds: float) -> dict:
    """Live-frames XDP_TX of 64-byte frames into a peer that drops them in XDP."""
    attach_xdp_obj(lab.backend_ns, lab.backend_if, XDP_DROP_OBJ)
    fd = load_xdp_tx_prog()
    frame = bytes.fromhex(lab.backend_mac.replace(":", "")) + \
        bytes.fromhex(lab.prober_mac.replace(":", "")) + b"\x08\x00" + bytes(50)
    try:
        rx0 = veth_xdp_packets(lab)
        t0 = time.monotonic()
        sent = 0
        while time.monotonic() - t0 < seconds:
            xdp_live_run(lab.prober_ns, fd, lab.prober_ifindex, frame, repeat=2_000_000,
                         batch_size=64)
            sent += 2_000_000
        dt = time.monotonic() - t0
        rx = veth_xdp_packets(lab) - rx0
    finally:
        os.close(fd)
        detach_xdp(lab.backend_ns, lab.backend_if)
    return {"pps_sent": sent / dt, "pps": rx / dt}


def veth_xdp_packets(lab: Lab) -> int:
    """Frames the backend veth's XDP program saw (ethtool -S)."""
    out = run(ns_cmd(lab.backend_ns, ["ethtool", "-S", lab.backend_if])).stdout
    return sum(int(m.group(1)) for m in re.finditer(r"rx_queue_\d+_xdp_packets:\s+(\d+)", out))


# ---------------------------------------------------------------- the simulator's ceiling

# The kinds of probe the simulator answers, and what its answer is counted as:
# (name, what it answers, family, protocol, its rule's action, the
# simulator's counter of answers).
SIM_KINDS = (
    ("tcp4", "IPv4 SYN -> SYN-ACK", 4, "tcp", "up", "synack"),
    ("tcp6", "IPv6 SYN -> SYN-ACK", 6, "tcp", "up", "synack6"),
    ("udp4", "IPv4 UDP -> echo", 4, "udp", "up", "udp_echo"),
    ("udp6", "IPv6 UDP -> echo", 6, "udp", "up", "udp6_echo"),
    ("udp4 closed", "IPv4 UDP -> ICMP port unreachable", 4, "udp", "closed", "udp_unreach"),
    ("udp6 closed", "IPv6 UDP -> ICMPv6 port unreachable", 6, "udp", "closed", "udp6_unreach"),
)
SIM_PAYLOAD = b"ping"           # the UDP rows' payload too
TMPL_MAX = 128                  # tools/bench/xdp_tmpl_tx.bpf.c


def probe_frame(lab: Lab, family: int, proto: str) -> bytes:
    """A probe as the engine writes it, prober veth -> backend veth: a SYN
    (no options), or a UDP datagram of SIM_PAYLOAD."""
    src, dst = (lab.prober_ip6, Lab.addr6(0)) if family == 6 else (lab.prober_ip, Lab.addr(0))
    if proto == "tcp":
        ip = make_ip_tcp(src, 40000, dst, PORT0, 1, 0, "S", mss=None)
    else:
        ip = make_ip_udp(src, 40000, dst, PORT0, SIM_PAYLOAD)
    return make_eth_frame(lab.prober_mac, lab.backend_mac, ip)


def run_sim_ceiling(lab: Lab, sim: BackendSim, seconds: float = 3.0) -> list[dict]:
    """The simulator's own ceiling for each kind of probe, measured like the
    ceiling row: live-frames BPF_PROG_RUN (batch 64) of xdp_tmpl_tx, which
    writes the probe into every frame, into the backend veth; the simulator
    answers each with XDP_TX into the prober veth, whose XDP program drops
    the answers.  Answers per second from the simulator's counters; its BPF
    run time per packet (the receive cost, as rx_cost gives probe_rx's) in a
    second window with kernel.bpf_stats_enabled."""
    attach_xdp_obj(lab.prober_ns, lab.prober_if, XDP_DROP_OBJ)
    obj = BpfObject(XDP_TMPL_OBJ)
    out = []
    try:
        obj.load()
        prog, tmpl = obj.prog_fd("xdp_tmpl_tx"), obj.map("tmpl").fd
        for name, what, family, proto, action, counter in SIM_KINDS:
            frame = probe_frame(lab, family, proto)
            bpf.update(tmpl, struct.pack("<I", 0),
                       struct.pack("<II", len(frame), 0) + frame.ljust(TMPL_MAX, b"\0"))
            sim.set_rules([(Lab.addr6(0) if family == 6 else Lab.addr(0), PORT0, action, proto)],
                          default="dead")

            def send(window: float) -> tuple[int, float]:
                sent, t0 = 0, time.monotonic()
                while time.monotonic() - t0 < window:
                    xdp_live_run(lab.prober_ns, prog, lab.prober_ifindex, frame,
                                 repeat=1_000_000, batch_size=64)
                    sent += 1_000_000
                return sent, time.monotonic() - t0

            c0 = sim.counters()
            sent, dt = send(seconds)
            c1 = sim.counters()
            with bpf_stats():
                ns0, n0 = bpf_prog_stats(("backend_sim",))
                send(1.0)
                ns1, n1 = bpf_prog_stats(("backend_sim",))
            out.append({"kind": name, "what": what, "frame_bytes": len(frame),
                        "pps_sent": sent / dt,
                        "pps": (c1[counter] - c0[counter]) / dt,
                        "bad": c1["bad"] - c0["bad"],
                        "bpf_ns": (ns1 - ns0) / (n1 - n0) if n1 > n0 else float("nan")})
            say(f"  {what}: {out[-1]['pps'] / 1e6:.2f} Mpps answered, "
                f"{out[-1]['bpf_ns']:.0f} ns of BPF a packet")
    finally:
        obj.close()
        detach_xdp(lab.prober_ns, lab.prober_if)
        sim.set_rules([], default="up")
    return out


# ---------------------------------------------------------------- xdphc

def rx_cost(n_frames: int = 200_000) -> dict:
    """probe_rx's BPF run time per reply at 1,000,000 backends by kind, from
    BPF_PROG_TEST_RUN (build/tests/rx_test --cost): what the slot table adds
    to a packet in the probe port range is lookup_miss - not_ours."""
    out = run([RX_TEST, "--cost", str(n_frames)]).stdout
    return json.loads(out.strip().splitlines()[-1])


def start_engine(lab: Lab, pin: str, tmp: str, name: str, backends_file: str,
                 index: bool = False, interval_s: float = INTERVAL_S, check: dict | None = None,
                 metrics: str | None = None, preflight: bool = False,
                 **pool_keys) -> Engine:
    """xdphc on the bench's backends, one pool (with POOL_KEYS, and CHECK's
    keys in its healthcheck), started (config and log: TMP/NAME.yaml,
    TMP/NAME.log), serving /metrics on METRICS if given; close() stops it
    with SIGTERM.  PREFLIGHT: `xdphc check` the config first; EngineError
    with its message if the engine refuses it."""
    eng = Engine(lab, pin, tmp, binary=XDPHC, name=name, close_grace=30)
    eng.configure([{**pool("bench", backends_file=backends_file, interval=ms(interval_s),
                           timeout=ms(min(TIMEOUT_S, interval_s)), healthy_threshold=RISE,
                           unhealthy_threshold=FALL, **(check or {})), **pool_keys}],
                  # below ip_local_port_range: reserving all of it is refused
                  source_ports="1024-32767", status_index=index,
                  **({"metrics_listen": metrics} if metrics else {}))
    try:
        if preflight:
            r = eng.run_once("check", "-c", str(eng.config_path), timeout=120)
            if r.returncode != 0:
                raise EngineError((r.stderr or r.stdout).strip())
        eng.start(timeout=30)
    except BaseException:
        eng.close()
        raise
    return eng


def stats(eng: Engine) -> dict:
    return eng.status(summary=True)["stats"]


def memory(pid: int) -> dict:
    """Private memory of the process plus every BPF map it holds."""
    maps, bpf_mapped, cur = {}, 0, False
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/{pid}/fd/{fd}") != "anon_inode:bpf-map":
                continue
            info = dict(line.split(":", 1) for line in
                        open(f"/proc/{pid}/fdinfo/{fd}").read().splitlines() if ":" in line)
            maps[int(info["map_id"])] = int(info["memlock"])
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                cur = line.rstrip().endswith("bpf-map")
            elif line.startswith("Rss:") and cur:
                bpf_mapped += int(line.split()[1]) * 1024
    rss = int(re.search(r"VmRSS:\s+(\d+)", open(f"/proc/{pid}/status").read()).group(1))
    process = rss * 1024 - bpf_mapped        # mmap-ed maps are counted once, as maps
    return {"process": process, "maps": sum(maps.values()), "total": process + sum(maps.values())}


def check_states(sm: StatusMap, sim: BackendSim, proto: str = "tcp") -> tuple[int, int]:
    """(backends checked, backends whose state disagrees with the simulator);
    PROTO "udp": checks with an expect that an echo meets."""
    n = wrong = 0
    for _, e in sm.entries():
        n += 1
        wrong += e["state"] != sim.state(e["address"], e["port"], proto)
    return n, wrong


def measure(eng: Engine, sim: BackendSim, seconds: float, extra=None) -> dict:
    """Counters over a window: engine stats (and EXTRA()'s, a dict), simulator,
    CPU (no BPF stats), and the engine's schedule lag sampled every second
    (each sample covers the engine's last 10 s)."""
    smp = Sampler(sim, eng.proc.pid, lambda: {**{f"eng_{k}": v for k, v in stats(eng).items()},
                                              **(extra() if extra else {})})
    a = smp.take()
    lag = []
    end = a["t"] + seconds
    while time.monotonic() < end:
        time.sleep(min(1.0, max(0.0, end - time.monotonic())))
        st = stats(eng)
        # a sample covers the engine's last 10 s: only those inside the window
        if time.monotonic() - a["t"] >= LAG_WINDOW_S:
            lag.append((st["sched_lag_p50_us"], st["sched_lag_p99_us"],
                        st["sched_lag_max_us"]))
    d = Sampler.delta(a, smp.take())
    d["lag"] = lag
    return d


def bpf_cost(eng: Engine, sim: BackendSim, seconds: float = 5) -> tuple[float, float]:
    """BPF run time per probe of xdphc's programs and of the simulator's, in
    a window of its own: kernel.bpf_stats_enabled costs two clock reads per
    program run, which would slow the other figures."""
    with bpf_stats():
        sim0 = bpf_runtime_ns(("backend_sim",))
        d = measure(eng, sim, seconds)
        sim_ns = bpf_runtime_ns(("backend_sim",)) - sim0
    return d["bpf_ns"] / d["eng_probes_sent"] / 1e3, sim_ns / d["eng_probes_sent"] / 1e3


def run_xdphc(lab: Lab, sim: BackendSim, n: int, seconds: float, tmp: str) -> dict:
    addrs = backend_addrs(n)
    bfile = os.path.join(tmp, "backends.txt")
    write_backends(bfile, addrs, n)
    rules = initial_rules(addrs)
    sim.set_rules(rules, default="up")
    res: dict = {"backends": n}
    with PinDir() as pin:
        with start_engine(lab, pin, tmp, "xdphc", bfile) as eng:
            res["ready_s"] = eng.ready_s()
            eng.wait_settled(30)
            time.sleep(2)                       # past the first intervals' catch-up
            res["memory"] = memory(eng.proc.pid)
            say(f"xdphc: {n:,} backends settled; measuring {seconds:.0f} s of steady state ...")
            res.update(steady(measure(eng, sim, seconds), stats(eng)))
            res["cpu_bpf_us"], res["cpu_sim_bpf_us"] = bpf_cost(eng, sim)
            res["cpu_prober_us"] = res["cpu_engine_us"] + res["cpu_bpf_us"]
            res["demand_per_s"] = n / INTERVAL_S
            say("xdphc: 1 % of the backends die ...")
            res.update(detection(sim, rules, addrs, n, pin))
            with StatusMap(pin) as sm:
                res["checked"], res["wrong"] = check_states(sm, sim)
        sim.set_rules(rules, default="up")
        say("xdphc: saturation, the same backends at interval 250ms ...")
        res["saturated"] = saturate(lab, sim, pin, tmp, "xdphc-sat", bfile)
        say("xdphc: memory with the key index on (status_index: true) ...")
        with start_engine(lab, pin, tmp, "xdphc-index", bfile, index=True) as eng:
            res["ready_index_s"] = eng.ready_s()
            time.sleep(2)
            res["memory_index"] = memory(eng.proc.pid)
    return res


# ---------------------------------------------------------------- IPv6 and UDP (issue 12)

# The rows of IPv6 TCP and UDP probes: --backends backends at interval 1 s
# against the simulator, each next to the IPv4 TCP row of the same run.
# --only name: (label, family, protocol).
FAMILY_ROWS = {
    "ipv6": ("IPv6 TCP", 6, "tcp"),
    "udp": ("UDP", 4, "udp"),
    "udp6": ("UDP IPv6", 6, "udp"),
}
NEEDS = {(6, "tcp"): "IPv6 SYN probes", (4, "udp"): "UDP probes",
         (6, "udp"): "IPv6 and UDP probes"}
# UDP pools: the simulator echoes, so the reply holds what expect asks
UDP_CHECK = {"protocol": "udp", "payload": SIM_PAYLOAD.decode(),
             "expect": SIM_PAYLOAD.decode()}
SAT_SHARE_TARGET = 0.80          # of the IPv4 TCP saturated rate, same run


class RowRefused(RuntimeError):
    """The engine refused a row's config: it lacks what the row measures."""


def family_addrs(n: int, family: int) -> list[str]:
    """The backend addresses of N backends, PORTS each: 198.18.0.0/16, or
    2001:2::/64 (the lab's IPv6 block, which the simulator answers for)."""
    k = (n + PORTS - 1) // PORTS
    return Lab.addrs6(k) if family == 6 else Lab.addrs(k)


def udp_replies(lab: Lab) -> dict:
    """The engine's UDP replies that held what expect asks, counted as they
    come (/metrics), as replies_synack counts SYN-ACKs."""
    m = scrape(lab) or {}
    return {"eng_udp_expected": m.get("udp_expected", float("nan"))}


def run_family_row(lab: Lab, sim: BackendSim, key: str, n: int, seconds: float,
                   tmp: str) -> dict:
    """One row of FAMILY_ROWS: the engine at N backends of that kind at 1 s
    for SECONDS of steady state (schedule lag, probes started, cycles),
    every final state checked against the simulator's rules, then the same
    backends saturated at 250 ms.  RowRefused if the engine refuses the
    config (an engine without IPv6 or UDP probes)."""
    label, family, proto = FAMILY_ROWS[key]
    kind = (family, proto)
    addrs = family_addrs(n, family)
    bfile = os.path.join(tmp, f"backends-{key}.txt")
    write_backends(bfile, addrs, n)
    rules = initial_rules(addrs, other=proto == "udp")
    sim.set_rules(rules, default="up")
    check = UDP_CHECK if proto == "udp" else None
    extra = (lambda: udp_replies(lab)) if proto == "udp" else None
    metrics = HTTP_METRICS if proto == "udp" else None
    res: dict = {"row": key, "label": label, "backends": n, "family": family,
                 "protocol": proto, "demand_per_s": n / INTERVAL_S}
    with PinDir() as pin:
        try:
            eng = start_engine(lab, pin, tmp, f"xdphc-{key}", bfile, check=check,
                               metrics=metrics, preflight=True)
        except EngineError as e:
            raise RowRefused(
                f"{label}: the engine refused the row's config "
                f"({os.path.join(tmp, f'xdphc-{key}.yaml')}): "
                f"{str(e).strip().splitlines()[-1][:600]}.  This row needs an engine "
                f"with {NEEDS[kind]} (issue 12); once it has them: "
                f"tools/bench/bench.py --only {key}") from None
        with eng:
            res["ready_s"] = eng.ready_s()
            eng.wait_settled(60)
            time.sleep(2)                       # past the first intervals' catch-up
            settled_as_expected(eng, pin, sim, proto)
            res["memory"] = memory(eng.proc.pid)
            say(f"{label}: {n:,} backends settled; measuring {seconds:.0f} s of steady "
                f"state ...")
            res.update(steady(measure(eng, sim, seconds, extra), stats(eng), kind))
            with StatusMap(pin) as sm:
                res["checked"], res["wrong"] = check_states(sm, sim, proto)
        sim.set_rules(rules, default="up")
        say(f"{label}: saturation, the same backends at interval 250ms ...")
        res["saturated"] = saturate(lab, sim, pin, tmp, f"xdphc-{key}-sat", bfile, kind, check,
                                    extra, metrics)
    return res


def settled_as_expected(eng: Engine, pin: str, sim: BackendSim, proto: str) -> None:
    """EngineError, with the engine's reasons, unless at least 99 % of the
    backends that the simulator answers are up: a row would otherwise
    measure an engine that cannot probe them (no route, no neighbour)."""
    want = got = 0
    reasons: dict[str, int] = {}
    with StatusMap(pin) as sm:
        for _, e in sm.entries():
            if sim.state(e["address"], e["port"], proto) != "up":
                continue
            want += 1
            got += e["state"] == "up"
            if e["state"] != "up":
                reasons[e["reason"]] = reasons.get(e["reason"], 0) + 1
    if got < 0.99 * want:
        tail = eng.log(this_run=True).strip().splitlines()[-5:]
        raise EngineError(f"only {got:,} of the {want:,} backends the simulator answers are up "
                          f"once settled (the others: "
                          f"{', '.join(f'{n:,} {r}' for r, n in sorted(reasons.items()))}); "
                          f"engine log tail:\n" + "\n".join(tail))


def v4_saturated(lab: Lab, sim: BackendSim, n: int, tmp: str) -> dict:
    """The IPv4 TCP saturated rate alone (the xdphc row's "xdphc max"), for
    the IPv6 and UDP rows' comparison when the xdphc row is not run."""
    addrs = backend_addrs(n)
    bfile = os.path.join(tmp, "backends.txt")
    write_backends(bfile, addrs, n)
    sim.set_rules(initial_rules(addrs), default="up")
    say("xdphc: IPv4 TCP saturation (the reference of the IPv6 and UDP rows) ...")
    with PinDir() as pin:
        return saturate(lab, sim, pin, tmp, "xdphc-sat", bfile)


def family_rows(lab: Lab, sim: BackendSim, res: dict, keys: list[str], args, tmp: str) -> None:
    """The IPv6 and UDP rows of KEYS, and the IPv4 TCP saturated rate they
    are compared with (the xdphc row's, or measured here after them)."""
    res["family"], res["family_failed"] = [], []
    for key in keys:
        try:
            res["family"].append(run_family_row(lab, sim, key, args.backends, args.seconds, tmp))
        except (RowRefused, EngineError) as e:
            msg = str(e) if isinstance(e, RowRefused) else \
                f"{FAMILY_ROWS[key][0]}: {str(e).strip()[:1500]}"
            say(f"\n*** FAILED: {msg}\n")
            res["family_failed"].append({"row": key, "label": FAMILY_ROWS[key][0],
                                         "backends": args.backends, "error": msg})
    if res["family"] and "saturated" not in res.get("xdphc", {}):
        res["v4_saturated"] = v4_saturated(lab, sim, args.backends, tmp)


def saturate(lab: Lab, sim: BackendSim, pin: str, tmp: str, name: str, bfile: str,
             kind: tuple[int, str] = (4, "tcp"), check: dict | None = None,
             extra=None, metrics: str | None = None) -> dict:
    """The backends of BFILE at interval 250 ms (more than one core can do):
    the engine's saturated rate, steady() over 10 s, and its CPU per probe."""
    with start_engine(lab, pin, tmp, name, bfile, interval_s=0.25, check=check,
                      metrics=metrics) as eng:
        eng.wait_settled(30)
        time.sleep(2)
        sat = steady(measure(eng, sim, 10, extra), stats(eng), kind)
        sat["cpu_bpf_us"], _ = bpf_cost(eng, sim)
        sat["cpu_prober_us"] = sat["cpu_engine_us"] + sat["cpu_bpf_us"]
    return sat


def control_pipe(path: str, lines: list[str]) -> tuple[float, list[str]]:
    """Send LINES to the control socket at PATH on one connection, pipelined;
    (seconds until the last reply, the first line of each reply)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    data = "".join(line + "\n" for line in lines).encode()
    t0 = time.monotonic()
    sender = threading.Thread(target=s.sendall, args=(data,))
    sender.start()
    buf, replies = b"", []
    while len(replies) < len(lines):
        chunk = s.recv(1 << 16)
        if not chunk:
            break
        buf += chunk
        *blocks, buf = buf.split(b"\n\n")
        replies += [b.decode().split("\n", 1)[0] for b in blocks]
    dt = time.monotonic() - t0
    sender.join()
    s.close()
    return dt, replies


def run_runtime(lab: Lab, sim: BackendSim, n: int, tmp: str, k: int = 10_000) -> dict:
    """K `backend add` then K `backend del` through the control socket of an
    engine probing N backends at 1 s, while the schedule lag is sampled."""
    addrs = backend_addrs(n + k)
    bfile = os.path.join(tmp, "backends.txt")
    write_backends(bfile, addrs, n)
    extra = []
    for a in addrs:
        extra += [f"{a}:{p}" for p in range(PORT0, PORT0 + PORTS)]
    extra = extra[n:n + k]
    sim.set_rules([], default="up")
    res: dict = {"backends": n, "commands": k}
    with PinDir() as pin:
        with start_engine(lab, pin, tmp, "xdphc-runtime", bfile, index=True,
                          max_backends=n + k) as eng:
            eng.wait_settled(30)
            time.sleep(LAG_WINDOW_S)
            before = eng.pools()["bench"]
            name = pin[len("/sys/fs/bpf/"):].replace("/", "-")
            path = f"/run/xdphc/{name}.sock"
            lags, done = [], threading.Event()

            def sample():
                while not done.is_set():
                    lags.append(stats(eng)["sched_lag_p99_us"])
                    done.wait(0.5)
            t = threading.Thread(target=sample)
            t.start()
            for verb in ("add", "del"):
                dt, replies = control_pipe(path, [f"backend {verb} bench {b}" for b in extra])
                bad = [r for r in replies if not r.startswith("ok")]
                res[f"{verb}_per_s"] = len(replies) / dt
                res[f"{verb}_errors"] = len(bad) + k - len(replies)
                if verb == "add":
                    time.sleep(3)
                    res["added_up"] = eng.pools()["bench"]["up"] - before["up"]
            time.sleep(LAG_WINDOW_S)             # the samples cover the commands' window
            done.set()
            t.join()
            res["lag_p99_max_ms"] = max(lags) / 1e3 if lags else float("nan")
            res["total_after"] = eng.pools()["bench"]["total"]
    return res


def lag_figures(samples: list) -> dict:
    """measure()'s lag samples (p50, p99, max in us, each of the engine's
    last 10 s): p50 is the median of the samples, p99 and max the worst."""
    lag = samples or [(float("nan"),) * 3]
    return {"lag_samples": lag,
            "lag_p50_ms": statistics.median(x[0] for x in lag) / 1e3,
            "lag_p99_ms": max(x[1] for x in lag) / 1e3,
            "lag_max_ms": max(x[2] for x in lag) / 1e3}


# What the simulator counts, per kind of probe (family, protocol): the answer
# that ends a probe cycle to an up backend (TCP: the prober's RST after the
# SYN-ACK; UDP: the echo), and the answers to the backends that are not up.
KIND_COUNTERS = {
    (4, "tcp"): ("rst_rx", ("rst_sent", "dead")),
    (6, "tcp"): ("rst_rx6", ("rst_sent6", "dead6")),
    (4, "udp"): ("udp_echo", ("udp_unreach", "udp_dead", "udp_other")),
    (6, "udp"): ("udp6_echo", ("udp6_unreach", "udp6_dead", "udp6_other")),
}


def steady(d: dict, st: dict, kind: tuple[int, str] = (4, "tcp")) -> dict:
    """The figures of a measuring window D of probes of KIND.  matched: the
    engine's replies from up backends (SYN-ACKs; for UDP the replies with
    what expect asks, from /metrics, in D as eng_udp_expected) over the
    probes sent to them."""
    dt = d["t"]
    probes = d["eng_probes_sent"]
    cycle, failing = KIND_COUNTERS[kind]
    up_probes = probes - sum(d[f"sim_{c}"] for c in failing)
    replies = d["eng_replies_synack"] if kind[1] == "tcp" else d.get("eng_udp_expected",
                                                                        float("nan"))
    return {
        **lag_figures(d["lag"]),
        "window_s": dt,
        "probes_per_s": probes / dt,
        # new probes (resends are the same probe again)
        "started_per_s": (probes - d["eng_probes_resent"]) / dt,
        "cycles_per_s": d[f"sim_{cycle}"] / dt,
        "matched_ratio": replies / up_probes if up_probes else float("nan"),
        "transitions": d["eng_transitions"],
        "tx_dropped": d["eng_tx_dropped"], "probes_lost": d["eng_probes_lost"],
        "behind_max": st["sched_behind_max"], "behind_now": st["sched_behind"],
        "cpu_engine_us": d["cpu"] / probes * 1e6,
        "cpu_engine_user_us": d["user"] / probes * 1e6,
        "cpu_engine_sys_us": d["sys"] / probes * 1e6,
        "cpu_machine_us": d["busy"] / probes * 1e6,
    }


def detection(sim: BackendSim, rules: list, addrs: list[str], n: int, pin: str) -> dict:
    """Flip 1 % of the backends to dead; how long until each is down?"""
    n_addr = max(1, n // 100 // PORTS)
    first = len(addrs) // 4
    flipped = addrs[first:first + n_addr]
    ids = range(first * PORTS, (first + n_addr) * PORTS)
    t0 = time.time_ns()
    sim.set_rules([(f"{flipped[0]}-{flipped[-1]}", None, "dead")] + rules)
    bound = TIMEOUT_S + INTERVAL_S * FALL + 0.05
    time.sleep(bound + 2.0)
    lat, missed = [], 0
    with StatusMap(pin) as sm:
        for i in ids:
            e = sm.entry(i)
            if e["state"] == "down" and e["last_change_ns"] >= t0:
                lat.append((e["last_change_ns"] - t0) / 1e9)
            else:
                missed += 1
    return latencies(lat, len(ids), missed, bound)


def latencies(lat: list[float], flipped: int, missed: int, bound: float) -> dict:
    """Detection figures: LAT, the seconds each of FLIPPED backends took to
    go down (MISSED did not), against BOUND."""
    return {"flipped": flipped, "not_down": missed, "p50_s": pct(lat, 50),
            "p99_s": pct(lat, 99), "max_s": max(lat) if lat else float("nan"),
            "bound_s": bound}


# ---------------------------------------------------------------- reload

RELOAD_PORT = PORT0 + PORTS         # the added backends: same addresses, a port not in use


def status_snapshot(pin: str) -> dict:
    """(address, port) -> (id, generation, state, last_change_ns) of every backend."""
    out = {}
    with StatusMap(pin) as sm:
        for i in range(sm.n):
            rec = sm.raw(i)
            if rec[0]:
                out[(rec[3][:4], rec[2])] = (i, rec[13], rec[5], rec[15])
    return out


def reload_window_lag(eng: Engine, after_s: float) -> dict:
    """The engine's schedule lag quantiles over its last 10 s, read AFTER_S
    into them."""
    time.sleep(after_s)
    st = stats(eng)
    return {"lag_p50_ms": st["sched_lag_p50_us"] / 1e3, "lag_p99_ms": st["sched_lag_p99_us"] / 1e3,
            "lag_max_ms": st["sched_lag_max_us"] / 1e3, "transitions": st["transitions"]}


def run_reload(lab: Lab, sim: BackendSim, n: int, tmp: str) -> dict:
    """A SIGHUP that removes n/200 backends and adds as many (1 % changed)."""
    addrs = backend_addrs(n)
    bfile = os.path.join(tmp, "reload-backends.txt")
    write_backends(bfile, addrs, n)
    sim.set_rules(initial_rules(addrs), default="up")
    k = n // 200
    res: dict = {"backends": n, "removed": k, "added": k}
    with PinDir() as pin, start_engine(lab, pin, tmp, "xdphc-reload", bfile, index=True) as eng:
        eng.wait_settled(30)
        time.sleep(LAG_WINDOW_S)                # a lag window of steady state only
        res["steady"] = reload_window_lag(eng, 0)
        res["memory_before"] = memory(eng.proc.pid)
        before = status_snapshot(pin)           # seconds of Python: before the quiet window
        with open(bfile) as f:
            lines = f.readlines()
        gone = lines[n // 2:n // 2 + k]
        with open(bfile, "w") as f:
            f.writelines(lines[:n // 2] + lines[n // 2 + k:])
            f.writelines(f"{a}:{RELOAD_PORT}\n" for a in addrs[:k])
        # the lag window that holds the reload holds nothing of the bench's own work
        time.sleep(LAG_WINDOW_S)
        if reload_window_lag(eng, 0)["transitions"] != res["steady"]["transitions"]:
            raise RuntimeError("reload: states changed before the reload")
        say(f"reload: SIGHUP, {k:,} backends removed and {k:,} added ...")
        t_sent = time.monotonic()
        res["line"] = eng.reload(timeout=60)
        m = re.search(r"\+(\d+) -(\d+) backends.* in ([0-9.]+) s \(read ([0-9.]+) s, compare "
                      r"([0-9.]+) s, apply ([0-9.]+) s\)", res["line"])
        if not m:
            raise RuntimeError(f"reload: {res['line']}")
        res.update(zip(("plus", "minus", "reload_s", "read_s", "compare_s", "apply_s"),
                       (int(m[1]), int(m[2]), *map(float, m.groups()[2:]))))
        eng.wait_settled(30)
        res["settled_s"] = time.monotonic() - t_sent
        # the 10 s window now holds the reload and what followed it
        res["window"] = reload_window_lag(eng, max(0.0, 6 - res["settled_s"]))
        res["memory_after"] = memory(eng.proc.pid)
        after = status_snapshot(pin)
    gone_keys = {(ipaddress.IPv4Address(a).packed, socket.htons(int(p)))
                 for a, p in (ln.strip().rsplit(":", 1) for ln in gone)}
    kept = [key for key in before if key not in gone_keys]
    res["unchanged_checked"] = len(kept)
    res["unchanged_changed"] = sum(after.get(key) != before[key] for key in kept)
    res["in_after"] = len(after)
    res["new_transitions"] = res["window"]["transitions"] - res["steady"]["transitions"]
    return res


# ---------------------------------------------------------------- SYN loss

LOSS_BACKENDS = 10_000
LOSS_PERCENT = 10
LOSS_SECONDS = 20
LOSS_FALL = 3


def false_downs(lab: Lab, tmp: str, bfile: str, retransmits: int) -> dict:
    """Backends going up -> down (the event log) in LOSS_SECONDS once none
    is unknown, and the probes and their timeouts, at LOSS_PERCENT SYN loss."""
    events = os.path.join(tmp, f"loss-{retransmits}.jsonl")
    with PinDir() as pin, Engine(lab, pin, tmp, binary=XDPHC, name=f"loss-{retransmits}",
                                 close_grace=10) as eng:
        eng.configure([pool("loss", backends_file=bfile, interval="500ms", timeout="500ms",
                            unhealthy_threshold=LOSS_FALL, healthy_threshold=RISE,
                            retransmits=retransmits)], event_log=events)
        eng.start(timeout=30)
        # not "all up": with single SYNs some are always down
        eng.wait_settled(30)
        time.sleep(2)
        a = stats(eng)
        seen = len(open(events).readlines())
        time.sleep(LOSS_SECONDS)
        b = stats(eng)
        eng.stop()
    downs = sum(json.loads(ln)["to"] == "down" for ln in open(events).readlines()[seen:])
    return {"retransmits": retransmits, "false_downs": downs,
            "timeouts": b["timeouts"] - a["timeouts"], "syns": b["probes_sent"] - a["probes_sent"]}


def run_loss(tmp: str) -> dict:
    """The same backends and loss, single SYNs against one retransmit.
    Kernel listeners answer (20,000 SYN/s is well within what they do);
    the simulator cannot lose SYNs."""
    addrs = Lab.addrs(LOSS_BACKENDS)
    bfile = os.path.join(tmp, "loss-backends.txt")
    with open(bfile, "w") as f:
        f.writelines(f"{a}:80\n" for a in addrs)
    res = {"backends": LOSS_BACKENDS, "loss_percent": LOSS_PERCENT, "seconds": LOSS_SECONDS,
           "fall": LOSS_FALL, "runs": []}
    with Lab(listen=[80]) as lab:
        lab.set_syn_loss(LOSS_PERCENT)
        for n in (0, 1):
            say(f"loss: {LOSS_BACKENDS:,} backends, {LOSS_PERCENT} % of SYNs lost, "
                f"retransmits {n}, {LOSS_SECONDS} s ...")
            res["runs"].append(false_downs(lab, tmp, bfile, n))
    # a probe of single SYNs fails at p, a backend falls after FALL in a row
    p = LOSS_PERCENT / 100
    probes = LOSS_BACKENDS * LOSS_SECONDS / 0.5
    res["expected"] = [probes * p ** LOSS_FALL * (1 - p),
                       probes * (p * p) ** LOSS_FALL * (1 - p * p)]
    return res


# ---------------------------------------------------------------- scanners

def send_rate(sim: BackendSim, argv: list[str], timeout: float) -> dict:
    """Run a scanner until it has sent everything: the SYN rate over the time
    the simulator saw its SYNs, and the scanner's CPU time.

    masscan 1.3.2 never exits by itself here ("waiting -N secs" forever), so
    once the SYNs have stopped for 3 s the scanner gets SIGINT (twice: the
    second ends masscan's wait), as a user would press Ctrl-C."""
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    samples = [(time.monotonic(), sim.counters()["syn"])]
    t_end = samples[0][0] + timeout
    while p.poll() is None and time.monotonic() < t_end:
        time.sleep(0.05)
        samples.append((time.monotonic(), sim.counters()["syn"]))
        if samples[-1][1] > samples[0][1] and \
                all(c == samples[-1][1] for t, c in samples if t > samples[-1][0] - 3):
            break
    for _ in range(2):
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(timeout=3)
    if p.poll() is None:
        p.kill()
    out, err = p.communicate()
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)      # p is reaped: counted
    cpu = ru1.ru_utime - ru0.ru_utime + ru1.ru_stime - ru0.ru_stime
    syn = samples[-1][1] - samples[0][1]
    moving = [t for (t, c), (_, c0) in zip(samples[1:], samples) if c > c0]
    dt = moving[-1] - moving[0] + 0.05 if moving else float("nan")
    return {"syn": syn, "syn_per_s": syn / dt if dt > 0 else float("nan"), "cpu_s": cpu,
            "cpu_us_per_syn": cpu / syn * 1e6 if syn else float("nan"),
            "stdout": out, "stderr": err}


def run_masscan(lab: Lab, sim: BackendSim, addrs: list[str], tmp: str,
                sink: bool = False) -> dict:
    sim.set_rules([], default="dead" if sink else "up")
    out = os.path.join(tmp, "masscan.txt")
    argv = ns_cmd(lab.prober_ns, [
        "masscan", f"{addrs[0]}-{addrs[-1]}", f"-p{PORT0}-{PORT0 + PORTS - 1}",
        "--rate", "100000000", "--interface", lab.prober_if,
        "--router-mac", lab.backend_mac, "--source-ip", lab.prober_ip,
        "--wait", "2", "-oL", out])
    r = send_rate(sim, argv, 300)
    r["replies"] = sum(1 for line in open(out) if line.startswith("open"))
    return r


def run_zmap(lab: Lab, sim: BackendSim, addrs: list[str], tmp: str,
             sink: bool = False) -> dict:
    sim.set_rules([], default="dead" if sink else "up")
    allow = os.path.join(tmp, "zmap-allow.txt")
    block = os.path.join(tmp, "zmap-block.txt")
    out = os.path.join(tmp, "zmap.csv")
    with open(allow, "w") as f:
        f.write("198.18.0.0/16\n")
    open(block, "w").close()
    argv = ns_cmd(lab.prober_ns, [
        "zmap", "-p", str(PORT0), "-i", lab.prober_if, "-G", lab.backend_mac,
        "-S", lab.prober_ip, "-r", "0", "-P", str(PORTS), "-w", allow, "-b", block,
        "-c", "2", "-q", "--disable-syslog", "-o", out])
    r = send_rate(sim, argv, 300)
    r["replies"] = sum(1 for _ in open(out))
    return r


# ---------------------------------------------------------------- haproxy

HAPROXY_SERVERS_PER_PROCESS = 12_500


def haproxy_config(path: str, servers: list[tuple[str, int]], port: int) -> None:
    with open(path, "w") as f:
        # HAProxy wants a socket per checked server; the sandbox caps file
        # descriptors at 20,000 (hard limit), hence ulimit-n and the split.
        f.write("global\n  maxconn 2000\n  ulimit-n 19000\n  nbthread 1\n"
                "  log stderr format raw local0 emerg\n"
                "defaults\n  mode tcp\n  timeout connect 1s\n  timeout check 1s\n"
                "  timeout client 5s\n  timeout server 5s\n"
                f"frontend idle\n  bind 127.0.0.1:{port}\n  default_backend bench\n"
                "backend bench\n  default-server check inter 1s\n")
        for k, (a, p) in enumerate(servers):
            f.write(f"  server s{k} {a}:{p}\n")


def run_haproxy(lab: Lab, sim: BackendSim, addrs: list[str], n: int, seconds: float,
                tmp: str) -> dict:
    sim.set_rules([], default="up")
    servers = [(a, p) for a in addrs for p in range(PORT0, PORT0 + PORTS)][:n]
    per = HAPROXY_SERVERS_PER_PROCESS
    procs = []
    for i in range(0, n, per):
        cfg = os.path.join(tmp, f"haproxy-{n}-{i // per}.cfg")
        haproxy_config(cfg, servers[i:i + per], 18080 + i // per)
        procs.append(subprocess.Popen(ns_cmd(lab.prober_ns, ["haproxy", "-db", "-f", cfg]),
                                      stdout=subprocess.DEVNULL,
                                      stderr=open(cfg + ".log", "w")))
    try:
        time.sleep(6)                   # parse, then every server checked at least once
        for p in procs:
            if p.poll() is not None:
                raise RuntimeError(f"haproxy exited: {open(p.args[-1] + '.log').read()[-1500:]}")
        cpu = lambda: sum(proc_cpu(p.pid) for p in procs)   # noqa: E731
        c0, a = cpu(), Sampler(sim).take()
        time.sleep(seconds)
        c1, b = cpu(), Sampler(sim).take()
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)
    d = Sampler.delta(a, b)
    checks = d["sim_syn"]
    return {"servers": n, "processes": len(procs), "checks_per_s": checks / d["t"],
            "cpu_us_per_check": (c1 - c0) / checks * 1e6 if checks else float("nan"),
            "cpu_machine_us": d["busy"] / checks * 1e6 if checks else float("nan"),
            "window_s": d["t"]}


# ---------------------------------------------------------------- HTTP(S)

# The HTTP rows run on kernel backends: the bench's nginx (tools/bench/
# httpfix.py) in a lab of their own, answering for every address of the
# block on ports 80 and 443.  nginx and the kernel's TCP stack, on the same 2
# CPUs as the prober, are what limits these rows, not the prober.
# --http-backends: the 10,000, and 15,000: the most that any prober
# here kept all up at 1 s (HAProxy; see docs/BENCHMARKS.md).
HTTP_COUNTS = "10000,15000"
# --https-backends: 300 with a connection per check (HAProxy check-ssl holds
# it, 500 not), 2,000 with keep-alive only.
HTTPS_COUNTS = "300,2000"
# A TLS handshake here costs nginx about 0.5 ms of CPU and the client more
# (OpenSSL 3.0): connection-per-check HTTPS runs only at counts up to this.
HTTPS_NEW_MAX = 1_000
HTTP_SETTLE_S = 60                 # until no backend is unknown (30 s at most seen)
HTTP_METRICS = "127.0.0.1:19469"   # the engine's /metrics, in the prober namespace
HAPROXY_WARMUP_S = 8               # parse, then every server checked at least once
LAG_TARGET_MS = 50


def http_check(tls: bool, reuse: bool) -> dict:
    """The healthcheck keys of an HTTP(S) pool: HEAD / (the interval,
    timeout and thresholds are the bench's)."""
    hc = {"protocol": "https" if tls else "http", "method": "HEAD", "path": "/",
          "reuse_connection": reuse}
    if tls:
        hc["tls"] = {"verify": False}
    return hc


def http_backends(n: int, tls: bool) -> list[str]:
    port = 443 if tls else 80
    return [f"{a}:{port}" for a in Lab.addrs(n)]


def tcp_socket_memory(ns: str) -> int:
    """Bytes of TCP buffer memory in namespace NS (/proc/net/sockstat)."""
    with in_netns(ns), open("/proc/thread-self/net/sockstat") as f:
        m = re.search(r"^TCP:.* mem (\d+)", f.read(), re.M)
    return int(m.group(1)) * os.sysconf("SC_PAGESIZE") if m else 0


def scrape(lab: Lab, addr: str = HTTP_METRICS) -> dict | None:
    """The bench pool's probe counters from the engine's /metrics: started
    (xdphc_probes_sent_total) and each result, and when they were read;
    None if the engine did not answer."""
    s = netns_socket(lab.prober_ns, socket.AF_INET, socket.SOCK_STREAM)
    host, port = addr.rsplit(":", 1)
    data = b""
    try:
        s.settimeout(10)
        s.connect((host, int(port)))
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: xdphc\r\nConnection: close\r\n\r\n")
        while chunk := s.recv(1 << 16):
            data += chunk
    except OSError as e:
        say(f"/metrics: {e} ({len(data)} bytes read)")
        return None
    finally:
        s.close()
    text = data.decode(errors="replace")
    out = {"t": time.monotonic()}
    m = re.search(r'^xdphc_probes_sent_total\{pool="bench"\} (\d+)', text, re.M)
    out["started"] = int(m.group(1)) if m else 0
    for k, v in re.findall(r'^xdphc_probe_results_total\{pool="bench",result="(\w+)"\} (\d+)',
                           text, re.M):
        out[k] = out.get(k, 0) + int(v)
    for k, v in re.findall(r"^xdphc_(check_connections_\w+|checks_not_started)_total (\d+)",
                           text, re.M):
        out[k] = int(v)
    for k, v in re.findall(r'^xdphc_udp_replies_total\{result="(\w+)"\} (\d+)', text, re.M):
        out[f"udp_{k}"] = int(v)
    return out


def cpu_of(pids: list[int]) -> float:
    return sum(proc_cpu(p) for p in pids)


def http_window(d: dict, n: int, cpu_s: float, nginx_cpu_s: float) -> dict:
    """Figures of a measuring window D (Sampler.delta with nginx as the
    simulator): checks are the requests nginx counted, the status request
    that closes the window left out."""
    dt, checks = d["t"], max(1, d["sim_requests"] - 1)
    return {"window_s": dt, "demand_per_s": n / INTERVAL_S, "checks_per_s": checks / dt,
            "conns_per_s": (d["sim_accepts"] - 1) / dt,
            "cpu_us_per_check": cpu_s / checks * 1e6,
            "nginx_us_per_check": nginx_cpu_s / checks * 1e6,
            "machine_us_per_check": d["busy"] / checks * 1e6,
            # CPUs busy with anything but the prober and nginx: softirqs on
            # otherwise idle CPUs (timers: delayed ACKs), other tenants
            "others_cpus": (d["busy"] - cpu_s - nginx_cpu_s) / dt,
            "softirq_cpus": d["softirq"] / dt}


def dying(backends: list[str]) -> list[str]:
    """1 % of BACKENDS (at least one), every 100th: the ones that die.
    Spread over the list, so over the interval: neighbours in a backends
    file are checked at nearly the same time."""
    return backends[min(50, len(backends) // 2)::100]


def addrs_of(backends: list[str]) -> list[str]:
    return [b.rsplit(":", 1)[0] for b in backends]


def http_bound(prober: str) -> float:
    """When the last of the dead backends should be down.  xdphc checks
    every interval from the start of the last check: the first failing
    check starts within an interval, each fails after the timeout.  HAProxy
    starts the next check an interval after the last one ended."""
    if prober == "haproxy":
        return FALL * (INTERVAL_S + TIMEOUT_S) + 0.05
    return TIMEOUT_S + INTERVAL_S * FALL + 0.05


def http_detection_xdphc(lab: Lab, pin: str, backends: list[str]) -> dict:
    died = dying(backends)
    addrs = set(addrs_of(died))
    bound = http_bound("xdphc")
    lat, missed = [], 0
    with dead(lab, sorted(addrs)):
        t0 = time.time_ns()
        time.sleep(bound + 2.0)
        with StatusMap(pin) as sm:
            for _, e in sm.entries():
                if e["address"] not in addrs:
                    continue
                if e["state"] == "down" and e["last_change_ns"] >= t0:
                    lat.append((e["last_change_ns"] - t0) / 1e9)
                else:
                    missed += 1
    return latencies(lat, len(died), missed, bound)


def http_detection_haproxy(lab: Lab, hp: HAProxies, backends: list[str]) -> dict:
    died = dying(backends)
    bound = http_bound("haproxy")
    with dead(lab, addrs_of(died)):
        t0 = time.time()
        time.sleep(bound + 2.0)
    lat = [hp.down_at[b] - t0 for b in died if hp.down_at.get(b, 0) >= t0]
    return latencies(lat, len(died), len(died) - len(lat), bound)


def run_http_xdphc(lab: Lab, ng: Nginx, n: int, tls: bool, reuse: bool, seconds: float,
                   tmp: str, idle: dict) -> dict:
    """xdphc with one HTTP(S) pool of N nginx backends at interval 1 s."""
    backends = http_backends(n, tls)
    bfile = os.path.join(tmp, f"http-{n}-{int(tls)}.txt")
    with open(bfile, "w") as f:
        f.writelines(b + "\n" for b in backends)
    name = f"xdphc-http{'s' if tls else ''}-{'reuse' if reuse else 'conn'}-{n}"
    res: dict = {"prober": "xdphc", "backends": n, "tls": tls, "reuse": reuse}
    with PinDir() as pin, start_engine(lab, pin, tmp, name, bfile, check=http_check(tls, reuse),
                                       metrics=HTTP_METRICS) as eng:
        t0 = time.monotonic()
        eng.wait_settled(HTTP_SETTLE_S)
        res["settled_s"] = time.monotonic() - t0
        time.sleep(2)
        say(f"{name}: settled in {res['settled_s']:.1f} s; measuring {seconds:.0f} s ...")
        g0, m0 = cpu_of(ng.pids()), scrape(lab)
        d = measure(eng, ng, seconds)
        m1 = scrape(lab)
        res.update(http_window(d, n, d["cpu"], cpu_of(ng.pids()) - g0), **lag_figures(d["lag"]))
        # the engine's own count: checks started, and finished by result
        res["metrics_per_s"] = {k: (m1.get(k, 0) - m0.get(k, 0)) / (m1["t"] - m0["t"])
                                for k in m1 if k != "t"} if m0 and m1 else None
        res["cpu_user_us_per_check"] = d["user"] / res["checks_per_s"] / d["t"] * 1e6
        res["cpu_sys_us_per_check"] = d["sys"] / res["checks_per_s"] / d["t"] * 1e6
        res["transitions"] = d.get("eng_transitions", 0)
        res["memory"] = memory(eng.proc.pid)
        res["bytes_per_backend"] = (res["memory"]["total"] - idle["total"]) / n
        res["tcp_bytes_per_backend"] = tcp_socket_memory(lab.prober_ns) / n
        res.update(http_detection_xdphc(lab, pin, backends))
    res["held"] = (res["checks_per_s"] >= 0.99 * res["demand_per_s"] and res["transitions"] == 0
                   and res["lag_p99_ms"] <= LAG_TARGET_MS)
    return res


def idle_engine(lab: Lab, tmp: str, tls: bool, seconds: float = 5) -> dict:
    """memory() of an engine with a one-backend HTTP(S) pool, what the
    per-backend figures are taken over, and its CPU (cpu_s: seconds per
    second), what it spends whatever the number of backends."""
    bfile = os.path.join(tmp, f"http-idle-{int(tls)}.txt")
    with open(bfile, "w") as f:
        f.write(http_backends(1, tls)[0] + "\n")
    with PinDir() as pin, start_engine(lab, pin, tmp, f"xdphc-idle-{int(tls)}", bfile,
                                       check=http_check(tls, True)) as eng:
        eng.wait_settled(30)
        time.sleep(2)
        c0, t0 = proc_cpu(eng.proc.pid), time.monotonic()
        time.sleep(seconds)
        return {**memory(eng.proc.pid),
                "cpu_s": (proc_cpu(eng.proc.pid) - c0) / (time.monotonic() - t0)}


def rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1)) * 1024


def run_http_haproxy(lab: Lab, ng: Nginx, n: int, tls: bool, seconds: float, tmp: str,
                     idle_rss: int) -> dict:
    """HAProxy processes with `option httpchk` (HEAD /, check-ssl for TLS)
    on the same N backends; a connection per check, as HAProxy does."""
    backends = http_backends(n, tls)
    res: dict = {"prober": "haproxy", "backends": n, "tls": tls, "reuse": False}
    with HAProxies(lab, tmp, backends, tls, interval_ms=round(INTERVAL_S * 1e3),
                   timeout_ms=round(TIMEOUT_S * 1e3), rise=RISE, fall=FALL) as hp:
        time.sleep(HAPROXY_WARMUP_S)
        hp.check_running()
        say(f"haproxy http{'s' if tls else ''} {n:,}: measuring {seconds:.0f} s ...")
        downs0 = len(hp.down_at)
        smp = Sampler(ng)
        c0, g0, a = cpu_of(hp.pids()), cpu_of(ng.pids()), smp.take()
        time.sleep(seconds)
        c1, g1, b = cpu_of(hp.pids()), cpu_of(ng.pids()), smp.take()
        res.update(http_window(Sampler.delta(a, b), n, c1 - c0, g1 - g0))
        res["processes"] = len(hp.procs)
        res["downs_before"] = downs0
        res["transitions"] = len(hp.down_at) - downs0
        res["bytes_per_backend"] = (sum(rss(p) for p in hp.pids()) - idle_rss * len(hp.procs)) / n
        res["tcp_bytes_per_backend"] = tcp_socket_memory(lab.prober_ns) / n
        res.update(http_detection_haproxy(lab, hp, backends))
    # HAProxy starts a server's next check an interval after the last one
    # ended, so its rate is N / (interval + check time) by design: held
    # here means no server went down while all were up.
    res["held"] = downs0 == 0 and res["transitions"] == 0
    return res


def idle_haproxy_rss(lab: Lab, tmp: str, tls: bool) -> int:
    """RSS of a HAProxy process checking one backend."""
    with HAProxies(lab, tmp, http_backends(1, tls), tls, interval_ms=1000, timeout_ms=500,
                   rise=RISE, fall=FALL) as hp:
        time.sleep(2)
        hp.check_running()
        return rss(hp.pids()[0])


def counts(arg: str) -> list[int]:
    return [int(x) for x in arg.split(",") if x]


def run_http(args, skip: set, tmp: str) -> dict:
    """The HTTP and HTTPS rows, in one lab with the bench's nginx."""
    out: dict = {}
    with Lab(listen=[]) as lab, Nginx(lab, tmp) as ng:
        for row, tls, arg in (("http", False, args.http_backends),
                              ("https", True, args.https_backends)):
            if row in skip:
                continue
            idle, idle_rss = idle_engine(lab, tmp, tls), idle_haproxy_rss(lab, tmp, tls)
            runs, failed = [], []
            for n in counts(arg):
                say(f"{row}: {n:,} nginx backends, HEAD / every {INTERVAL_S:g} s ...")
                todo = [("xdphc", True)]
                if not tls or n <= HTTPS_NEW_MAX:
                    todo += [("xdphc", False), ("haproxy", False)]
                for prober, reuse in todo:
                    # one run that fails (an engine that never settles) is
                    # reported, and the others still run
                    try:
                        if prober == "xdphc":
                            runs.append(run_http_xdphc(lab, ng, n, tls, reuse, args.http_seconds,
                                                       tmp, idle))
                        else:
                            runs.append(run_http_haproxy(lab, ng, n, tls, args.http_seconds,
                                                         tmp, idle_rss))
                    except RuntimeError as e:           # EngineError, haproxy exited
                        say(f"{row} {prober} {n:,}: failed: {str(e)[:300]}")
                        failed.append({"prober": prober, "backends": n, "tls": tls,
                                       "reuse": reuse, "error": str(e)[-2000:]})
            out[row] = {"runs": runs, "failed": failed, "idle_engine": idle,
                        "idle_haproxy_rss": idle_rss}
        out["nginx_workers"] = len(ng.pids()) - 1
    return out


# ---------------------------------------------------------------- report

def fmt(v: float, unit: str = "") -> str:
    if v != v:
        return "n/a"
    if abs(v) >= 1e6:
        return f"{v / 1e6:.2f} M{unit}"
    if abs(v) >= 1e4:
        return f"{v / 1e3:.0f} k{unit}"
    if abs(v) >= 100:
        return f"{v:.0f}{unit}"
    return f"{v:.3g}{unit}"


def report_reload(x: dict) -> str:
    steady, win = x["steady"], x["window"]
    return (f"reload at {x['backends']:,} backends, interval 1 s: SIGHUP with {x['removed']:,} "
            f"removed and {x['added']:,} added (1 %): +{x['plus']} -{x['minus']} in "
            f"{x['reload_s']:.2f} s (target <= 1 s: read {x['read_s']:.2f} s on a thread, "
            f"compare {x['compare_s']:.2f} s, apply {x['apply_s']:.3f} s in slices), all "
            f"settled {x['settled_s']:.1f} s after the signal; state changes of the "
            f"{x['unchanged_checked']:,} backends it left alone: {x['unchanged_changed']} "
            f"(0 expected; {x['new_transitions'] - x['added']} transitions besides the new "
            f"ones' first); schedule lag over a 10 s window holding the reload: p50 "
            f"{win['lag_p50_ms']:.2f} ms, p99 {win['lag_p99_ms']:.2f} ms (target <= 50; "
            f"steady {steady['lag_p99_ms']:.2f} ms), max {win['lag_max_ms']:.2f} ms; memory "
            f"{x['memory_before']['total'] / x['backends']:.0f} B/backend before, "
            f"{x['memory_after']['total'] / x['backends']:.0f} after")


def http_label(one: dict) -> str:
    kind = "https" if one["tls"] else "http"
    return f"{one['prober']} {kind}{'' if one['reuse'] else '/conn'}"


def http_table_rows(r: dict) -> list[tuple]:
    """The table's rows of the HTTP and HTTPS runs, with HAProxy's CPU per
    check over xdphc's at the same backends and protocol."""
    rows = []
    for row in ("http", "https"):
        runs = r.get(row, {}).get("runs", [])
        for one in runs:
            n = one["backends"]
            how = "keep-alive" if one["reuse"] else "a connection per check"
            if one["prober"] == "haproxy":
                how = f"option httpchk{', check-ssl' if one['tls'] else ''}, {how}, " \
                      f"{one['processes']} process{'es' if one['processes'] > 1 else ''}"
            lag = f", lag p99 {one['lag_p99_ms']:.1f} ms" if "lag_p99_ms" in one else ""
            fig = (f"{fmt(one['checks_per_s'], ' checks/s')} "
                   f"({one['checks_per_s'] / one['demand_per_s'] * 100:.1f} % of N/s, "
                   f"{fmt(one['conns_per_s'], ' conn/s')}), CPU "
                   f"{one['cpu_us_per_check']:.1f} us/check (nginx "
                   f"{one['nginx_us_per_check']:.1f}){lag}; detection p50 "
                   f"{one['p50_s'] * 1e3:.0f} ms, p99 {one['p99_s'] * 1e3:.0f} ms (bound "
                   f"{one['bound_s'] * 1e3:.0f}, {one['flipped'] - one['not_down']}/"
                   f"{one['flipped']} down); {one['bytes_per_backend']:.0f} B/backend"
                   f"{'' if one['held'] else '; NOT HELD'}")
            vs = "-"
            if one["prober"] == "haproxy":
                mine = {x["reuse"]: x["cpu_us_per_check"] for x in runs
                        if x["prober"] == "xdphc" and x["backends"] == n}
                vs = ", ".join(f"{one['cpu_us_per_check'] / mine[k]:.1f}x xdphc's CPU/check "
                               f"{'keep-alive' if k else 'per connection'}"
                               for k in (True, False) if k in mine)
            rows.append((http_label(one), f"{n:,} nginx backends, HEAD / every 1 s, {how}",
                         fig, vs))
    return rows


def http_lines(r: dict) -> list[str]:
    lines = []
    for row in ("http", "https"):
        if row in r:
            idle = r[row]["idle_engine"]
            lines.append(f"{row}: the engine with a one-backend pool (what the per-backend "
                         f"figures are over): {idle['cpu_s'] * 100:.1f} % of a core, "
                         f"{idle['total'] / 2**20:.1f} MiB; HAProxy with one server "
                         f"{r[row]['idle_haproxy_rss'] / 2**20:.1f} MiB RSS")
        for one in r.get(row, {}).get("runs", []):
            line = (f"{http_label(one)} at {one['backends']:,}: machine "
                    f"{one['machine_us_per_check']:.1f} us/check (all; {one['others_cpus']:.2f} "
                    f"CPUs busy outside the prober and nginx, softirqs "
                    f"{one['softirq_cpus']:.2f} CPUs), kernel TCP "
                    f"buffers {one['tcp_bytes_per_backend']:.0f} B/backend, "
                    f"{one['transitions']} state changes in the window")
            if one["prober"] == "xdphc":
                line += (f"; settled {one['settled_s']:.1f} s after start; CPU user "
                         f"{one['cpu_user_us_per_check']:.1f} + system "
                         f"{one['cpu_sys_us_per_check']:.1f} us/check; lag p50 "
                         f"{one['lag_p50_ms']:.2f}, max {one['lag_max_ms']:.2f} ms; /metrics per "
                         "s: " + (", ".join(f"{k} {v:.0f}" for k, v in
                                            one["metrics_per_s"].items() if v)
                                  if one["metrics_per_s"] is not None else "no answer"))
            else:
                line += f"; {one['downs_before']} servers down before the window"
            lines.append(line)
        for one in r.get(row, {}).get("failed", []):
            lines.append(f"{http_label(one)} at {one['backends']:,}: FAILED: "
                         f"{one['error'].strip().splitlines()[0][:200]}")
    return lines


def met(ok: bool) -> str:
    return "met" if ok else "MISSED"


def sim_table_rows(r: dict) -> list[tuple]:
    """The simulator's ceiling, a row for each kind of probe."""
    rows = []
    for k in r.get("sim", []):
        vs = f"{k['pps'] / r['ceiling']['pps'] * 100:.0f} % of ceiling" if "ceiling" in r else "-"
        rows.append((f"sim {k['kind']}",
                     f"{k['what']}: {k['frame_bytes']}-byte probes written by live-frames "
                     f"XDP_TX (batch 64), answers dropped in XDP",
                     f"{fmt(k['pps'], 'pps')} answered ({k['pps'] / k['pps_sent'] * 100:.1f} % "
                     f"of sent), BPF {k['bpf_ns']:.0f} ns/packet", vs))
    return rows


def family_table_rows(r: dict) -> list[tuple]:
    """The IPv6 and UDP rows with the issue's targets: schedule lag p99 <=
    50 ms at 1 s, and saturated >= 80 % of IPv4 TCP's saturated rate."""
    v4 = r.get("xdphc", {}).get("saturated") or r.get("v4_saturated") or {}
    v4_sat = v4.get("cycles_per_s", float("nan"))
    rows = []
    for x in r.get("family", []):
        sat = x["saturated"]["cycles_per_s"]
        check = "SYN" if x["protocol"] == "tcp" else \
            f"udp, payload and expect {SIM_PAYLOAD.decode()!r}"
        rows.append((f"xdphc {x['label']}",
                     f"{x['backends']:,} backends (simulator, IPv{x['family']}), {check}, "
                     f"interval 1 s",
                     f"{fmt(x['cycles_per_s'], ' cycles/s')}; lag p99 {x['lag_p99_ms']:.2f} ms "
                     f"(target <= {LAG_TARGET_MS}: {met(x['lag_p99_ms'] <= LAG_TARGET_MS)}); "
                     f"started {x['started_per_s'] / x['demand_per_s'] * 100:.2f} % of "
                     f"N/interval; matched {x['matched_ratio'] * 100:.3f} %; "
                     f"{x['wrong']} of {x['checked']:,} states wrong; saturated "
                     f"{fmt(sat, ' cycles/s')}",
                     f"saturated = {sat / v4_sat * 100:.0f} % of IPv4 TCP's "
                     f"{fmt(v4_sat, '')} (target >= {SAT_SHARE_TARGET * 100:.0f} %: "
                     f"{met(sat >= SAT_SHARE_TARGET * v4_sat)})"))
    for f in r.get("family_failed", []):
        rows.append((f"xdphc {f['label']}", f"{f['backends']:,} backends (simulator), "
                     f"interval 1 s", f"FAILED: {f['error'][:800]}", "-"))
    return rows


def report(r: dict) -> str:
    x = r.get("xdphc", {})
    sat = x.get("saturated") or r.get("v4_saturated", {})
    rows = []
    cyc = sat.get("cycles_per_s", float("nan"))
    cpu = x.get("cpu_prober_us", float("nan"))
    if "ceiling" in r:
        c = r["ceiling"]["pps"]
        rows.append(("ceiling", "null XDP_TX live frames -> XDP_DROP peer",
                     f"{fmt(c, 'pps')}", "-" if cyc != cyc else
                     f"xdphc cycles/s = {cyc / (c / 3) * 100:.0f} % of ceiling/3"))
    if x:
        rows.append(("xdphc", f"{x['backends']:,} backends (simulator), interval 1 s",
                     f"{fmt(x['cycles_per_s'], ' cycles/s')}; CPU/probe: prober {cpu:.3f} us "
                     f"(engine {x['cpu_engine_us']:.3f} + BPF {x['cpu_bpf_us']:.3f}), "
                     f"machine {x['cpu_machine_us']:.3f} us; detection p50 "
                     f"{x['p50_s'] * 1e3:.0f} ms, p99 {x['p99_s'] * 1e3:.0f} ms "
                     f"(bound {x['bound_s'] * 1e3:.0f} ms)", "1"))
    if sat:
        rows.append(("xdphc max", f"same backends, interval 250 ms (more than it can do)",
                     f"{fmt(cyc, ' cycles/s')}; CPU/probe: prober {sat['cpu_prober_us']:.3f} us, "
                     f"machine {sat['cpu_machine_us']:.3f} us", "ratios use this row"))
    rows += sim_table_rows(r)
    rows += family_table_rows(r)
    for name in ("masscan", "masscan sink", "zmap", "zmap sink"):
        if name in r:
            m = r[name]
            rows.append((name, "same backends, all dead (a sink)" if "sink" in name else
                         "same backends (simulator), fastest rate",
                         f"{fmt(m['syn_per_s'], ' SYN/s')}, {m['replies']:,} replies, "
                         f"CPU {m['cpu_us_per_syn']:.3f} us/SYN",
                         f"xdphc cycles/s = {cyc / m['syn_per_s']:.1f}x its SYN/s"))
    for h in r.get("haproxy", []):
        rows.append((f"haproxy {h['servers'] // 1000}k",
                     f"{h['servers']:,} servers (simulator), check inter 1s, "
                     f"{h['processes']} process{'es' if h['processes'] > 1 else ''}",
                     f"{fmt(h['checks_per_s'], ' checks/s')}, CPU {h['cpu_us_per_check']:.2f} us/check",
                     f"{h['cpu_us_per_check'] / cpu:.0f}x xdphc's CPU/probe"))
    if "loss" in r:
        lo = r["loss"]
        rows.append(("syn loss", f"{lo['backends']:,} kernel backends, interval 500 ms, fall "
                     f"{lo['fall']}, {lo['loss_percent']} % of SYNs lost, {lo['seconds']} s",
                     "false downs: " + ", ".join(
                         f"retransmits {x['retransmits']}: {x['false_downs']} "
                         f"(expected {e:.1f}; probes failed "
                         f"{x['timeouts'] / (lo['backends'] * lo['seconds'] * 2) * 100:.2f} %)"
                         for x, e in zip(lo["runs"], lo["expected"])), "-"))
    rows += http_table_rows(r)
    w = [max(len(row[i]) for row in rows + [("row", "setup", "figure", "vs xdphc")])
         for i in range(4)]
    lines = ["| " + " | ".join(h.ljust(w[i]) for i, h in
                               enumerate(("row", "setup", "figure", "vs xdphc"))) + " |",
             "|" + "|".join("-" * (w[i] + 2) for i in range(4)) + "|"]
    lines += ["| " + " | ".join(c.ljust(w[i]) for i, c in enumerate(row)) + " |" for row in rows]
    if x:
        mem, memi = x["memory"], x.get("memory_index")
        lines += ["", f"xdphc at {x['backends']:,} backends: ready {x['ready_s']:.2f} s after "
                  f"start; memory {mem['total'] / x['backends']:.0f} B/backend "
                  f"(process {mem['process'] / x['backends']:.0f} + BPF maps "
                  f"{mem['maps'] / x['backends']:.0f})" +
                  (f", {memi['total'] / x['backends']:.0f} B/backend with status_index: true"
                   if memi else ""),
                  f"steady state over {x['window_s']:.0f} s: {fmt(x['probes_per_s'], ' probes/s')},"
                  f" {x['matched_ratio'] * 100:.3f} % of probes to up backends matched, "
                  f"{x['transitions']} transitions (0 expected), device drops "
                  f"{x['tx_dropped']}, probes not counted {x['probes_lost']}, schedule "
                  f"behind {x['behind_now']} now (max {x['behind_max']} since start)",
                  f"engine CPU/probe {x['cpu_engine_us']:.3f} us = user {x['cpu_engine_user_us']:.3f}"
                  f" + system {x['cpu_engine_sys_us']:.3f} (the system part includes the "
                  f"softirq work of both veth ends, the simulator's XDP "
                  f"{x['cpu_sim_bpf_us']:.3f} us and xdphc's BPF {x['cpu_bpf_us']:.3f} us)",
                  f"1 % flipped to dead: {x['flipped'] - x['not_down']}/{x['flipped']} down; "
                  f"final check: {x['wrong']} of {x['checked']:,} backends in a wrong state",
                  f"schedule lag over the window (per-second samples of the last 10 s): "
                  f"p50 {x['lag_p50_ms']:.2f} ms, p99 {x['lag_p99_ms']:.2f} ms (target <= 50), "
                  f"max {x['lag_max_ms']:.2f} ms; probes started "
                  f"{fmt(x['started_per_s'], '/s')} = "
                  f"{x['started_per_s'] / x['demand_per_s'] * 100:.2f} % of N/interval "
                  f"(target within 1 %)"]
    if "runtime" in r:
        t = r["runtime"]
        lines += [f"runtime changes at {t['backends']:,} backends, interval 1 s, one connection "
                  f"to the control socket: {t['commands']:,} backend add at "
                  f"{t['add_per_s']:,.0f}/s ({t['add_errors']} errors, {t['added_up']:,} of "
                  f"the added up 3 s later), {t['commands']:,} backend del at "
                  f"{t['del_per_s']:,.0f}/s ({t['del_errors']} errors); schedule lag p99 at "
                  f"most {t['lag_p99_max_ms']:.2f} ms meanwhile (target <= 50); "
                  f"{t['total_after']:,} backends after"]
    if "reload" in r:
        lines += ["", report_reload(r["reload"])]
    if "http" in r or "https" in r:
        lines += [""] + http_lines(r)
    if "rx_cost" in r:
        c = r["rx_cost"]
        lines += [f"probe_rx per packet at {c['backends']:,} backends (BPF_PROG_TEST_RUN, "
                  f"cold slots): outside the port range {c['not_ours_ns']:.0f} ns, in the range "
                  f"but no probe's tuple {c['lookup_miss_ns']:.0f} ns (the slot table adds "
                  f"{c['lookup_miss_ns'] - c['not_ours_ns']:.0f} ns), forged on a probe's "
                  f"tuple {c['forged_ns']:.0f} ns, a reply {c['reply_ns']:.0f} ns; slot table "
                  f"{c['table_bytes_per_backend']:.2f} B/backend"]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--backends", type=int, default=1_000_000)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--skip", default="", help="comma list of rows to skip")
    ap.add_argument("--keep", metavar="DIR", default="",
                    help="keep the engines' configs and logs in DIR (not a temporary one)")
    ap.add_argument("--only", default="", help="comma list of the only rows to run: "
                    + ",".join(ROWS))
    ap.add_argument("--json", help="also write the raw results here")
    ap.add_argument("--http-backends", default=HTTP_COUNTS,
                    help=f"comma list of nginx backend counts of the http row ({HTTP_COUNTS})")
    ap.add_argument("--https-backends", default=HTTPS_COUNTS,
                    help=f"the same for the https row ({HTTPS_COUNTS}); a connection per "
                    f"check only up to {HTTPS_NEW_MAX:,}")
    ap.add_argument("--http-seconds", type=float, default=20,
                    help="measuring window of each HTTP(S) run (20; the lag needs 10 or more)")
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    only = set(filter(None, args.only.split(",")))
    if only - set(ROWS):
        ap.error(f"--only: no row {', '.join(sorted(only - set(ROWS)))}")
    if only:
        skip |= set(ROWS) - only
    res: dict = {"machine": machine()}
    say(f"machine: {res['machine']}")
    with contextlib.ExitStack() as stack:
        # --keep DIR: the engines' configs and logs stay there, for a look after
        tmp = args.keep or stack.enter_context(tempfile.TemporaryDirectory(prefix="xhc-bench-"))
        os.makedirs(tmp, exist_ok=True)
        if set(ROWS) - {"loss", "http", "https"} - skip:
            sim_rows(res, skip, args, tmp)
        if "loss" not in skip:
            res["loss"] = run_loss(tmp)
        if {"http", "https"} - skip:
            res.update(run_http(args, skip, tmp))
    say("")
    say(report(res))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)
    for f in res.get("family_failed", []):
        say(f"\nFAILED: {f['error']}")
    return 1 if res.get("family_failed") else 0


ROWS = ("ceiling", "rx_cost", "sim", "xdphc", *FAMILY_ROWS, "runtime", "reload", "masscan",
        "zmap", "haproxy", "loss", "http", "https")


def sim_rows(res: dict, skip: set, args, tmp: str) -> None:
    """The rows that share one lab with the backend simulator."""
    with Lab(listen=[], backend_xdp=False) as lab:
        if "ceiling" not in skip:
            say("ceiling: live-frames XDP_TX into an XDP_DROP peer ...")
            res["ceiling"] = run_ceiling(lab, 5)
        if "rx_cost" not in skip:
            say("probe_rx: receive cost per packet at 1,000,000 backends ...")
            res["rx_cost"] = rx_cost()
        addrs = backend_addrs(args.backends)
        with BackendSim(lab) as sim:
            if "sim" not in skip:
                say("simulator: its ceiling for each kind of probe ...")
                res["sim"] = run_sim_ceiling(lab, sim)
            if "xdphc" not in skip:
                res["xdphc"] = run_xdphc(lab, sim, args.backends, args.seconds, tmp)
            family = [k for k in FAMILY_ROWS if k not in skip]
            if family:
                # IPv6 next hops by the same path as IPv4's here: bpf_fib_lookup(),
                # which answers only for an interface that forwards the family
                netns.sysctl(lab.prober_ns, {f"net.ipv6.conf.{lab.prober_if}.forwarding": 1})
                family_rows(lab, sim, res, family, args, tmp)
            if "runtime" not in skip:
                say(f"xdphc: 10,000 backend add and del through the control socket at "
                    f"{args.backends:,} backends ...")
                res["runtime"] = run_runtime(lab, sim, args.backends, tmp)
            if "reload" not in skip:
                res["reload"] = run_reload(lab, sim, args.backends, tmp)
            # The peers have no XDP program of their own: without one, the
            # frames the simulator sends back with XDP_TX wait in the veth's
            # ring until the next frame comes (see tools/lab/xdp_pass.bpf.c).
            lab.attach_pass("prober")
            for name, fn in (("masscan", run_masscan), ("zmap", run_zmap)):
                if name in skip:
                    continue
                for sink in (False, True):
                    key = name + (" sink" if sink else "")
                    say(f"{key}: SYNs to the same {len(addrs) * PORTS:,} backends"
                        f"{' (the simulator drops them all)' if sink else ''} ...")
                    res[key] = fn(lab, sim, addrs, tmp, sink)
                    for k in ("stdout", "stderr"):
                        res[key].pop(k)
            if "haproxy" not in skip:
                res["haproxy"] = []
                for n in (10_000, 50_000):
                    say(f"haproxy: {n:,} servers, check inter 1s ...")
                    res["haproxy"].append(run_haproxy(lab, sim, addrs, n, 10, tmp))



def machine() -> str:
    cpu = re.search(r"model name\s*:\s*(.*)", open("/proc/cpuinfo").read())
    mem = int(re.search(r"MemTotal:\s+(\d+)", open("/proc/meminfo").read()).group(1))
    return (f"{os.cpu_count()} x {cpu.group(1) if cpu else '?'}, {mem / 2**20:.0f} GiB, "
            f"Linux {os.uname().release}")


if __name__ == "__main__":
    sys.exit(main())
