"""A load balancer that follows health: the example XDP forwarder
(tools/lb_forwarder/lb_forwarder.bpf.c) owns the probing interface, forwards
flows to a VIP over the pool's up backends from xdphc's pinned maps, keeps
each flow on its backend in a flow table, and tail-calls xdphc's reply
program for everything else (this kernel refuses libxdp's dispatcher)."""
import os
import struct
import time

import pytest

from lab import bpf, make_ip_tcp, send_raw_ip
from lab.engine import pool
from lb_forwarder import Forwarder
from lb_forwarder.flows import CLIENT, Flows

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


def send_tcp(lab, fwd, segments: dict[int, str]) -> dict:
    """One TCP segment from CLIENT to the VIP per source port, its flags "S"
    (a SYN: a new connection) or "A"; waits until the forwarder has handled
    them all; the change of its counters."""
    before = fwd.counters()
    for p, flags in segments.items():
        send_raw_ip(lab.backend_ns, make_ip_tcp(CLIENT, p, VIP, VIP_PORT, 1000,
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
