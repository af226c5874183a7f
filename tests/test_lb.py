"""A load balancer that follows health: the example XDP forwarder
(tools/lb_forwarder/lb_forwarder.bpf.c) owns the probing interface, forwards
flows to a VIP over the pool's up backends from xdphc's pinned maps, keeps
each flow on its backend in a flow table, and tail-calls xdphc's reply
program for everything else (this kernel refuses libxdp's dispatcher).

The IPv6 and mixed-family tests at the end run it over maps that the test
writes itself, as the engine would publish IPv6 and UDP backends (FakeEngine):
they need no probing of the engine's."""
import ipaddress
import os
import socket
import struct
import time

import pytest

from lab import bpf, make_ip_tcp, netns, run, send_raw_ip
from lab.engine import pool
from lb_forwarder import Forwarder
from lb_forwarder.flows import CLIENT, CLIENT6, Flows
from lb_forwarder.lb_forwarder import built_abi

BACKENDS = [f"198.18.1.{i}" for i in range(1, 5)]
SPARE = "198.18.1.5"            # takes the id of a backend that left
VIP, VIP_PORT = "198.19.253.10", 5000


def web(backends=BACKENDS, **top) -> dict:
    """The pool "web" over BACKENDS' port 80; TOP: more keys of the pool."""
    p = pool("web", [f"{a}:80" for a in backends], interval="500ms", timeout="200ms")
    p.update(top)
    return p


@pytest.fixture
def lb(lab, engine):
    lab.backend_exec(["ip", "route", "add", "198.19.253.0/24", "via", lab.prober_ip])
    # A canary that keeps answering: when every backend of the only pool
    # times out, the circuit breaker then knows the failure is real (with
    # nothing answering at all, it would hold the states as its own failure).
    engine.configure([web()], xdp_attach="tail_call", canaries=["198.18.200.1:80"])
    engine.start()
    fwd = Forwarder(lab, engine.pin_dir)        # links probe_rx into its chain
    flows = Flows(lab, BACKENDS + [SPARE], VIP, VIP_PORT)
    try:
        fwd.add_vip(VIP, VIP_PORT, "udp", pool_id=0)
        yield fwd, flows
    finally:
        flows.close()
        fwd.close()


def restart(engine, fwd, pools) -> None:
    """Stop the engine and start it with POOLS; it links its new probe_rx
    into the forwarder's chain itself (tail_call_map)."""
    assert engine.stop() == 0
    engine.configure(pools, xdp_attach="tail_call", tail_call_map=fwd.chain_path)
    engine.start()


def wait_states(engine, want: dict[str, str], timeout: float = 8.0) -> dict:
    """Waits until the backends of WANT (address -> state) are so; every state then."""
    return engine.wait_until(lambda st: all(st.get((a, 80), {}).get("state") == s
                                            for a, s in want.items()),
                             timeout, f"states {want}")[1]


def pool_up_ids(engine) -> tuple[set, dict]:
    pools = engine.bpftool_dump("pools")
    web = [p["value"] for p in pools if p["value"]["in_use"]][0]
    up = engine.bpftool_dump("pool_up")
    ids = {e["value"]["id"] for e in up[web["first"]:web["first"] + web["up"]]}
    return ids, web


def test_flows_follow_health_and_fail_open(lab, engine, lb):
    fwd, flows = lb
    wait_states(engine, {a: "up" for a in BACKENDS})
    assert fwd.counters()["chained"] > 0, "probe replies reach xdphc through the tail call"

    # All up: every backend gets flows, and a flow keeps its backend.
    first = flows.send(200)
    assert set(first.values()) == set(BACKENDS)
    ids, web = pool_up_ids(engine)
    assert ids == {0, 1, 2, 3} and web["up"] == 4 and not web["flags"] & 1

    # One backend fails: once xdphc says down, no new flow goes to it.
    victim = BACKENDS[1]
    lab.drop_add([victim])
    wait_states(engine, {victim: "down"})
    ids, web = pool_up_ids(engine)
    assert ids == {0, 2, 3} and web["up"] == 3
    after = flows.send(300)
    assert victim not in after.values()
    assert set(after.values()) == set(BACKENDS) - {victim}

    # It recovers: it gets new flows again.
    lab.drop_del([victim])
    wait_states(engine, {victim: "up"})
    back = flows.send(300)
    assert set(back.values()) == set(BACKENDS)

    # Every backend down: the pool fails open and flows still go to all of them.
    lab.drop_add(BACKENDS)
    wait_states(engine, {a: "down" for a in BACKENDS})
    ids, web = pool_up_ids(engine)
    assert web["up"] == 0 and web["flags"] & 1, "fail-open flag set"
    open_flows = flows.send(300)
    assert set(open_flows.values()) == set(BACKENDS)
    c = fwd.counters()
    assert c["fail_open"] >= 300 and c["forwarded"] >= 800 and c["no_route"] == 0


def delta(after: dict, before: dict) -> dict:
    return {k: after[k] - before[k] for k in after}


def test_flows_keep_their_backend_while_new_flows_spread(lab, engine, lb):
    """The flow table: a flow stays on its backend while that one is up, however
    the up list moves (a stateless hash would move most flows each time);
    only the flows of a backend that goes down move, and a backend that comes
    back gets new flows but takes none of the existing ones."""
    fwd, flows = lb
    wait_states(engine, {a: "up" for a in BACKENDS})
    old = flows.send(200)
    assert set(old.values()) == set(BACKENDS)

    victim = BACKENDS[1]
    theirs = {p for p, b in old.items() if b == victim}
    lab.drop_add([victim])
    wait_states(engine, {victim: "down"})
    before = fwd.counters()
    moved = flows.resend(list(old))
    c = delta(fwd.counters(), before)
    assert {p: b for p, b in moved.items() if p not in theirs} == \
        {p: b for p, b in old.items() if p not in theirs}, "flows of up backends stay"
    assert victim not in {moved[p] for p in theirs}
    assert c["flow_moved"] == len(theirs) and c["flow_hit"] == len(old) - len(theirs)

    lab.drop_del([victim])
    wait_states(engine, {victim: "up"})
    assert flows.resend(list(old)) == moved, "a backend that comes back takes no flow"
    assert set(flows.send(300).values()) == set(BACKENDS), "new flows go to all, it too"


def test_an_id_given_to_another_backend_loses_its_flows(lab, engine, lb):
    """A backend leaves and another one gets its id (here across a restart;
    `backend del` and `add` do the same): the id's generation changes, and
    the flows of the one that left are picked again over the pool, not kept
    on whoever holds the id now."""
    fwd, flows = lb
    st = wait_states(engine, {a: "up" for a in BACKENDS})
    old = flows.send(200)
    gone = BACKENDS[2]
    gone_id, gen = st[(gone, 80)]["id"], st[(gone, 80)]["generation"]
    theirs = {p for p, b in old.items() if b == gone}
    stay = {p for p, b in old.items() if b in BACKENDS[:2]}
    assert theirs and all(fwd.flow(CLIENT, p, VIP, VIP_PORT, "udp") == (gone_id, gen)
                          for p in theirs)

    # SPARE takes the id of BACKENDS[2]; BACKENDS[3] leaves, its id is free.
    restart(engine, fwd, [web(BACKENDS[:2] + [SPARE])])
    st = wait_states(engine, {SPARE: "up"})
    assert (st[(SPARE, 80)]["id"], st[(SPARE, 80)]["generation"]) == (gone_id, gen + 1)
    assert not fwd.engine_maps_replaced(), "the status map was reused in place"
    before = fwd.counters()
    after = flows.resend(list(old))
    c = delta(fwd.counters(), before)
    assert {p: after[p] for p in stay} == {p: old[p] for p in stay}
    assert c["flow_moved"] == len(old) - len(stay), "every flow of a backend that left"
    assert {after[p] for p in theirs} - {SPARE}, "spread over the pool, not kept on the id"
    assert set(after.values()) == set(BACKENDS[:2]) | {SPARE}
    for p in theirs:
        fid, fgen = fwd.flow(CLIENT, p, VIP, VIP_PORT, "udp")
        assert fid != gone_id or fgen == gen + 1


def send_tcp(lab, fwd, segments: dict[int, str], client: str = CLIENT, vip: str = VIP) -> dict:
    """One TCP segment from CLIENT to VIP:VIP_PORT per source port, its flags
    "S" (a SYN: a new connection) or "A"; waits until the forwarder has
    handled them all; the change of its counters."""
    before = fwd.counters()
    for p, flags in segments.items():
        send_raw_ip(lab.backend_ns, make_ip_tcp(client, p, vip, VIP_PORT, 1000,
                                                0 if flags == "S" else 1, flags))
    deadline = time.monotonic() + 2
    while True:
        c = delta(fwd.counters(), before)
        if c["flow_hit"] + c["forwarded"] + c["rechecked"] + c["fail_open"] >= \
                len(segments) or time.monotonic() > deadline:
            return c
        time.sleep(0.05)


def test_a_tcp_syn_on_a_known_tuple_picks_again(lab, engine, lb):
    """A SYN starts a new connection (a client reusing a port): it is given a
    backend anew, while the other segments of a known flow keep theirs."""
    fwd, _ = lb
    fwd.add_vip(VIP, VIP_PORT, "tcp", pool_id=0)
    first = wait_states(engine, {a: "up" for a in BACKENDS})[(BACKENDS[0], 80)]
    mine = (first["id"], first["generation"])
    ports = list(range(30000, 30060))
    for p in ports:
        fwd.set_flow(CLIENT, p, VIP, VIP_PORT, "tcp", *mine)
    syns, acks = ports[0::2], ports[1::2]
    c = send_tcp(lab, fwd, {p: "S" if p in syns else "A" for p in ports})
    assert c["flow_hit"] == len(acks) and c["flow_moved"] == 0, c
    assert c["forwarded"] + c["rechecked"] == len(syns), c
    assert all(fwd.flow(CLIENT, p, VIP, VIP_PORT, "tcp") == mine for p in acks)
    repicked = [p for p in syns if fwd.flow(CLIENT, p, VIP, VIP_PORT, "tcp") != mine]
    assert len(repicked) >= len(syns) // 3, "SYNs spread by the hash (3 in 4 elsewhere)"


def test_a_draining_backend_keeps_its_flows_and_gets_no_new_ones(lab, engine, lb):
    """`xdphc backend drain` (ELB deregistration): the backend leaves the up
    list but stays up, so its flows stay on it while new flows, and new
    connections on a known tuple, go elsewhere; after deregistration_delay
    the engine removes it and its flows move."""
    fwd, flows = lb
    fwd.add_vip(VIP, VIP_PORT, "tcp", pool_id=0)
    restart(engine, fwd, [web(deregistration_delay="3s")])
    st = wait_states(engine, {a: "up" for a in BACKENDS})
    old = flows.send(200)
    victim = BACKENDS[1]
    theirs = {p for p, b in old.items() if b == victim}
    held = (st[(victim, 80)]["id"], st[(victim, 80)]["generation"])
    tcp = list(range(30000, 30040))
    for p in tcp:
        fwd.set_flow(CLIENT, p, VIP, VIP_PORT, "tcp", *held)

    r = engine.control("backend", "drain", "web", f"{victim}:80")
    assert r.returncode == 0, r.stderr
    b = engine.states()[(victim, 80)]
    assert b["draining"] and b["state"] == "up"
    before = fwd.counters()
    assert flows.resend(list(old)) == old, "every flow stays, the draining one's too"
    assert delta(fwd.counters(), before)["flow_hit"] == len(old)
    new = flows.send(200)
    assert set(new.values()) == set(BACKENDS) - {victim}, "no new flow to it"
    syns, acks = tcp[0::2], tcp[1::2]
    c = send_tcp(lab, fwd, {p: "S" if p in syns else "A" for p in tcp})
    assert c["flow_hit"] == len(acks) and c["forwarded"] + c["rechecked"] == len(syns), c
    assert all(fwd.flow(CLIENT, p, VIP, VIP_PORT, "tcp") == held for p in acks)
    assert not any(fwd.flow(CLIENT, p, VIP, VIP_PORT, "tcp")[0] == held[0] for p in syns), \
        "a new connection never lands on a draining backend"

    engine.wait_until(lambda s: (victim, 80) not in s, 6, "the drained backend removed")
    before = fwd.counters()
    moved = flows.resend(list(old))
    assert victim not in moved.values()
    assert {p: moved[p] for p in old if p not in theirs} == \
        {p: old[p] for p in old if p not in theirs}
    assert delta(fwd.counters(), before)["flow_moved"] == len(theirs)


def test_the_forwarder_follows_an_engine_that_pins_new_maps(lab, engine, lb):
    """A restart that needs bigger maps (room for more backends) pins new ones
    over the old pins; the running program still reads the old ones, which
    nobody writes any more. The loader sees the pins name other maps and
    swaps in a program on the new ones, keeping its flow table."""
    fwd, flows = lb
    wait_states(engine, {a: "up" for a in BACKENDS})
    old = flows.send(100)
    was = dict(fwd.engine_ids)
    restart(engine, fwd, [web(max_backends=200)])
    assert fwd.engine_maps_replaced()
    deadline = time.monotonic() + 3
    while not fwd.refresh():            # once the new engine says it runs
        assert time.monotonic() < deadline, "the forwarder never reloaded"
        time.sleep(0.05)
    assert fwd.engine_ids["status"] != was["status"] and not fwd.engine_maps_replaced()
    assert {"flows", "vips", "xdphc_chain"} <= fwd.kept
    before = fwd.counters()
    assert flows.resend(list(old)) == old
    assert delta(fwd.counters(), before)["flow_hit"] == len(old), "the flow table was kept"

    # Not the last of the up list: the old program, reading the reused pools
    # (count 3) over the old, frozen pool_up list, would still pick it.
    victim = BACKENDS[0]
    lab.drop_add([victim])
    wait_states(engine, {victim: "down"})
    new = flows.send(200)
    assert victim not in new.values(), "the program reads the maps the engine writes"
    assert set(new.values()) == set(BACKENDS) - {victim}


def test_engine_restart_puts_its_new_program_into_the_chain(lab, engine, lb):
    """With tail_call_map the engine links its new probe_rx itself on every
    start, and unlinks and unpins it when it stops."""
    fwd, flows = lb
    wait_states(engine, {a: "up" for a in BACKENDS})
    assert engine.stop() == 0
    engine.configure([web()], xdp_attach="tail_call", tail_call_map=fwd.chain_path)
    engine.start()
    assert "put into " + fwd.chain_path in engine.log(this_run=True)
    chained = fwd.counters()["chained"]
    victim = BACKENDS[2]
    lab.drop_add([victim])
    wait_states(engine, {victim: "down", BACKENDS[0]: "up"})
    assert fwd.counters()["chained"] > chained
    assert victim not in flows.send(100).values()

    assert engine.stop() == 0
    with pytest.raises(OSError):           # the chain no longer leads to a stopped engine
        bpf.lookup(fwd.fd("xdphc_chain"), struct.pack("<I", 0), 4)
    assert not os.path.exists(f"{engine.pin_dir}/probe_rx")


def test_a_program_that_does_not_chain_is_detected(lab, engine):
    """In tail-call mode the engine sends its SYNs through the interface's own
    program; one that does not hand them on (here: XDP_PASS for everything)
    is noticed and the engine falls back to one SYN per run of probe_tx."""
    engine.configure([web()], xdp_attach="tail_call")
    engine.start()
    lab.attach_pass("prober")
    try:
        deadline = time.monotonic() + 5
        while "did not hand all of a batch" not in engine.log(this_run=True):
            assert time.monotonic() < deadline, engine.log(this_run=True)[-2000:]
            time.sleep(0.1)
        sent = engine.status()["stats"]["probes_sent"]
        time.sleep(1.0)
        assert engine.status()["stats"]["probes_sent"] >= sent + 4, "SYNs still go out"
    finally:
        lab.prober_exec(f"ip link set dev {lab.prober_if} xdpdrv off", check=False)


# ---------------------------------------------------------------------------
# IPv6 and UDP backends, on maps the test publishes itself

VIP6 = "2001:2:0:fd::10"
V6_BACKENDS = [f"2001:2::1:{i}" for i in range(1, 5)]
UP, DOWN = 1, 2                 # enum xdphc_state
CHECK_TCP_SYN, CHECK_UDP = 0, 4  # enum xdphc_check
POOL_F_FAIL_OPEN = 1
STATUS_SIZE, SUMMARY_SIZE, SLOT_SIZE, META_SIZE = 48, 88, 8, 40
SUMMARY = struct.Struct("<32s7IHBB5IB3x")   # struct xdphc_pool_summary
assert SUMMARY.size == SUMMARY_SIZE


class FakeEngine:
    """xdphc's pinned status, pools, pool_up and meta maps in PIN, written by
    the test the way the engine publishes them: one pool (id 0) of BACKENDS,
    each (address, port, protocol), IPv4 or IPv6; set() changes a backend's
    state and publishes the up list, counts and fail-open flag again."""

    def __init__(self, pin: str, backends: list[tuple[str, int, str]], capacity: int = 16):
        self.pin, self.backends, self.capacity = pin, backends, capacity
        self.states = [UP] * len(backends)
        os.makedirs(pin)
        self.fds: dict[str, int] = {}
        for name, value, entries in (("status", STATUS_SIZE, capacity),
                                     ("pools", SUMMARY_SIZE, 256),
                                     ("pool_up", SLOT_SIZE, capacity), ("meta", META_SIZE, 1)):
            flags = ["flags", "1024"] if name != "meta" else []     # BPF_F_MMAPABLE
            run(["bpftool", "map", "create", f"{pin}/{name}", "type", "array", "key", "4",
                 "value", str(value), "entries", str(entries), "name", name, *flags])
            self.fds[name] = bpf.obj_get(f"{pin}/{name}")
        now = time.time_ns()
        bpf.update(self.fds["meta"], struct.pack("<I", 0),
                   struct.pack("<IIQQIIII", built_abi(), os.getpid(), now, now, 1000, 1, 0, 0))
        self.publish()

    def publish(self) -> None:
        for i, (addr, port, proto) in enumerate(self.backends):
            ip = ipaddress.ip_address(addr)
            udp = proto == "udp"
            key = struct.pack("<BB", socket.AF_INET6 if ip.version == 6 else socket.AF_INET,
                              socket.IPPROTO_UDP if udp else socket.IPPROTO_TCP) + \
                struct.pack("!H", port) + ip.packed.ljust(16, b"\0")
            # seq, state, reason, flags, check, ok, fail, pool, detail, generation, rtt, change
            rec = key + struct.pack("<IBBBBBBHHHIQ", 0, self.states[i], 1, 0,
                                    CHECK_UDP if udp else CHECK_TCP_SYN, 0, 0, 0, 0, 1, 0, 0)
            bpf.update(self.fds["status"], struct.pack("<I", i), rec)
        up = [i for i, st in enumerate(self.states) if st == UP]
        for k, i in enumerate(up):
            bpf.update(self.fds["pool_up"], struct.pack("<I", k), struct.pack("<II", i, 0))
        total = len(self.backends)
        bpf.update(self.fds["pools"], struct.pack("<I", 0), SUMMARY.pack(
            b"fake", total, len(up), total - len(up), 0, 0 if up else POOL_F_FAIL_OPEN, 500, 200,
            0, socket.IPPROTO_TCP, 1, 0, 0, self.capacity, 0, 0, CHECK_TCP_SYN))

    def set(self, i: int, state: int) -> None:
        self.states[i] = state
        self.publish()

    def close(self) -> None:
        for fd in self.fds.values():
            os.close(fd)
        self.fds.clear()


@pytest.fixture
def fake_lb(lab, pin_dir):
    """The forwarder over a FakeEngine: the lab routes both VIPs to the
    prober, whose veth forwards IPv6 too (bpf_fib_lookup answers only then),
    and the backend's link addresses are known next hops (no engine resolves
    them here).  make(backends) builds both."""
    lab.backend_exec(["ip", "route", "add", "198.19.253.0/24", "via", lab.prober_ip])
    lab.backend_exec(["ip", "-6", "route", "add", "2001:2:0:fd::/64", "via", lab.prober_ip6])
    netns.sysctl(lab.prober_ns, {f"net.ipv6.conf.{lab.prober_if}.forwarding": 1})
    for a in (lab.backend_ip, lab.backend_ip6):
        lab.prober_exec(["ip", "neigh", "replace", a, "lladdr", lab.backend_mac, "dev",
                         lab.prober_if, "nud", "permanent"])
    made = []

    def make(backends):
        eng = FakeEngine(pin_dir, backends)
        fwd = Forwarder(lab, pin_dir)
        made.extend([fwd, eng])
        return eng, fwd
    try:
        yield make
    finally:
        for x in made:
            x.close()


def test_ipv6_udp_flows_follow_health_and_fail_open(lab, fake_lb):
    """An IPv6 VIP over a pool of IPv6 backends with UDP checks (status keys
    of family AF_INET6, protocol 17): new flows go to the up ones, a flow
    stays on its backend (flows6) until that one goes down, every backend
    down fails open.  The receivers' kernel checks each datagram's UDP
    checksum after the forwarder rewrote address and port."""
    eng, fwd = fake_lb([(a, 80, "udp") for a in V6_BACKENDS])
    fwd.add_vip(VIP6, VIP_PORT, "udp", pool_id=0)
    flows = Flows(lab, V6_BACKENDS, VIP6, VIP_PORT)
    try:
        first = flows.send(200)
        assert set(first.values()) == set(V6_BACKENDS)
        assert all(fwd.flow(CLIENT6, p, VIP6, VIP_PORT, "udp") is not None for p in first)
        assert fwd.flow(CLIENT, 20000, VIP, VIP_PORT, "udp") is None, "not in the IPv4 table"

        victim = V6_BACKENDS[1]
        eng.set(1, DOWN)
        before = fwd.counters()
        moved = flows.resend(list(first))
        c = delta(fwd.counters(), before)
        theirs = {p for p, b in first.items() if b == victim}
        assert {p: b for p, b in moved.items() if p not in theirs} == \
            {p: b for p, b in first.items() if p not in theirs}, "flows of up backends stay"
        assert victim not in moved.values()
        assert c["flow_moved"] == len(theirs) and c["flow_hit"] == len(first) - len(theirs)
        assert victim not in flows.send(300).values()

        for i in range(len(V6_BACKENDS)):
            eng.set(i, DOWN)
        open_flows = flows.send(300)
        assert set(open_flows.values()) == set(V6_BACKENDS), "fail-open: all of them"
        c = fwd.counters()
        assert c["fail_open"] >= 300 and c["no_route"] == 0
    finally:
        flows.close()


def test_ipv6_tcp_syn_on_a_known_tuple_picks_again(lab, fake_lb):
    """IPv6 TCP through flows6: a SYN is picked anew, the other segments of
    a known flow keep their backend."""
    eng, fwd = fake_lb([(a, 80, "tcp") for a in V6_BACKENDS])
    fwd.add_vip(VIP6, VIP_PORT, "tcp", pool_id=0)
    mine = (0, 1)                       # V6_BACKENDS[0]'s id and generation
    ports = list(range(30000, 30060))
    for p in ports:
        fwd.set_flow(CLIENT6, p, VIP6, VIP_PORT, "tcp", *mine)
    syns, acks = ports[0::2], ports[1::2]
    c = send_tcp(lab, fwd, {p: "S" if p in syns else "A" for p in ports}, CLIENT6, VIP6)
    assert c["flow_hit"] == len(acks) and c["flow_moved"] == 0, c
    assert c["forwarded"] + c["rechecked"] == len(syns), c
    assert all(fwd.flow(CLIENT6, p, VIP6, VIP_PORT, "tcp") == mine for p in acks)
    repicked = [p for p in syns if fwd.flow(CLIENT6, p, VIP6, VIP_PORT, "tcp") != mine]
    assert len(repicked) >= len(syns) // 3, "SYNs spread by the hash (3 in 4 elsewhere)"
    assert c["no_route"] == 0


def test_a_mixed_pool_gives_each_vip_the_backends_of_its_family(lab, fake_lb):
    """One pool of IPv4 and IPv6 backends with UDP checks, interleaved in its
    ids and up list, behind an IPv4 and an IPv6 VIP: each VIP's flows go to
    the up backends of its own family only (a packet cannot be sent to the
    other family's address).  When no backend of a family is up, while the
    other family's are, that VIP fails open over its own family's."""
    v4 = ["198.18.1.1", "198.18.1.2"]
    v6 = V6_BACKENDS[:2]
    eng, fwd = fake_lb([(v4[0], 80, "udp"), (v6[0], 80, "udp"), (v4[1], 80, "udp"),
                        (v6[1], 80, "udp")])
    fwd.add_vip(VIP, VIP_PORT, "udp", pool_id=0)
    fwd.add_vip(VIP6, VIP_PORT, "udp", pool_id=0)
    flows4, flows6 = Flows(lab, v4, VIP, VIP_PORT), Flows(lab, v6, VIP6, VIP_PORT)
    try:
        assert set(flows4.send(200).values()) == set(v4)
        assert set(flows6.send(200).values()) == set(v6)
        eng.set(3, DOWN)                                 # v6[1]
        assert set(flows6.send(100).values()) == {v6[0]}
        assert set(flows4.send(100).values()) == set(v4)
        before = fwd.counters()
        eng.set(1, DOWN)                                 # no IPv6 backend up now
        assert set(flows6.send(100).values()) == set(v6), "fail open over its own family"
        assert set(flows4.send(100).values()) == set(v4), "IPv4 keeps its up backends"
        c = delta(fwd.counters(), before)
        assert c["fail_open"] >= 100 and c["no_route"] == 0, c
    finally:
        flows4.close()
        flows6.close()
