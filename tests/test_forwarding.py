# SPDX-License-Identifier: MIT
"""No forwarding requirement (issue 12): where the probing interface does not
forward a family, the engine resolves next hops itself over netlink (routes
as `ip route get ADDR from SRC` finds them, policy rules included, and the
kernel's neighbour table) and follows route, rule and neighbour changes;
where it forwards, bpf_fib_lookup() stays the path.  Real kernel listeners
behind a gateway and on-link, real routes and rules in the prober's
namespace.

Addresses (all inside the lab's 198.18.0.0/15 and 2001:2::/48):
    198.18.0.0/16        via the backend's link address (the lab's route)
    198.19.128.0/24      on-link (AnyIP on the backend's lo answers ARP)
    198.19.129.0/30      a second link-layer gateway, 198.19.129.2, on the same veth
    2001:2::/64          via the backend's link address (the lab's route)
    2001:2:0:1::/64      on-link (addresses on the backend's veth answer NDP)
    2001:2:0:2::/64      a second IPv6 gateway, 2001:2:0:2::2
"""
import json
import time

import pytest

from lab import Lab
from lab.engine import pool
from lab.proc import run

SPORTS = "40000-40999"
ONLINK = "198.19.128"           # .0/24
GW2 = "198.19.129.2"
ONLINK6 = "2001:2:0:1::"
GW2_6 = "2001:2:0:2::2"
FAST = {"interval": "500ms", "timeout": "200ms", "healthy_threshold": 2,
        "unhealthy_threshold": 2}
# a route change reaches the programs in the engine's settling delay (50 ms)
# plus a pass; the states then need unhealthy_threshold probes
FOLLOW_S = 0.2 + 0.5 * 2 + 1.0


@pytest.fixture
def lab(request):
    """A lab whose prober veth forwards the families in the test's param
    (none by default)."""
    with Lab(listen=[80], forwarding=getattr(request, "param", ())) as lab:
        yield lab


def ip(lab, side: str, cmds: list[str], family: str = "-4") -> None:
    """`ip -batch` in a lab namespace (FAMILY -6 for IPv6 rules)."""
    ns = lab.prober_ns if side == "prober" else lab.backend_ns
    run(["ip", family, "-n", ns, "-batch", "-"], input="\n".join(cmds) + "\n")


def extra_paths(lab) -> None:
    """The on-link block and the second gateway (see the module's docstring)."""
    ip(lab, "backend", [f"route add local {ONLINK}.0/24 dev lo",
                        f"addr add {GW2}/30 dev {lab.backend_if}"])
    ip(lab, "prober", [f"route add {ONLINK}.0/24 dev {lab.prober_if}",
                       f"route add 198.19.129.0/30 dev {lab.prober_if}"])


def hosts(prefix: str, n: int, port: int = 80, first: int = 1) -> list[str]:
    return [f"{prefix}.{i}:{port}" for i in range(first, first + n)]


def split(t: str) -> tuple[str, int]:
    a, p = t.rsplit(":", 1)
    return a.strip("[]"), int(p)


def state(st: dict, targets: list[str]) -> set[tuple[str, str]]:
    return {(st[split(t)]["state"], st[split(t)]["reason"]) for t in targets}


def all_in(targets: list[str], want: tuple[str, str]):
    return lambda st: state(st, targets) == {want}


def neigh(lab, family: str = "-4") -> dict[str, str]:
    """The prober veth's neighbour entries: address -> state."""
    out = run(["ip", "-j", family, "-n", lab.prober_ns, "neigh", "show",
               "dev", lab.prober_if]).stdout
    return {e["dst"]: e.get("state", ["?"])[0] for e in json.loads(out or "[]")}


def forwarding(lab, family: str = "ipv4") -> int:
    return int(lab.prober_exec(
        f"sysctl -n net.{family}.conf.{lab.prober_if}.forwarding").stdout)


def start(engine, pools: list[dict], **top) -> None:
    engine.configure(pools, source_ports=SPORTS, **top)
    engine.start()


# ---- IPv4, forwarding off: the engine's own next hops ------------------------

def test_gateway_and_onlink_backends_without_forwarding(lab, engine):
    """Forwarding off: backends behind the gateway and on-link come up, closed
    ports are refused, each on-link backend is its own next hop, and the
    engine leaves forwarding off."""
    extra_paths(lab)
    via_gw = hosts("198.18.1", 20)
    onlink = hosts(ONLINK, 20)
    closed = hosts("198.18.2", 5, 81) + hosts(ONLINK, 5, 81, first=100)
    start(engine, [pool("web", via_gw + onlink + closed, **FAST)])
    assert "next hops (IPv4): resolved by the engine over netlink" in engine.log(True)
    engine.wait_until(lambda st: state(st, via_gw + onlink) == {("up", "ok")} and
                      state(st, closed) == {("down", "refused")}, 10,
                      "up behind the gateway and on-link, refused on closed ports")
    nb = neigh(lab)
    assert lab.backend_ip in nb
    assert all(split(t)[0] in nb for t in onlink + closed[5:]), nb
    assert not any(a.startswith("198.18.") for a in nb), "no neighbour entry past the gateway"
    assert forwarding(lab) == 0 and forwarding(lab, "ipv6") == 0
    stats = engine.status()["stats"]
    assert stats["neigh_requests"] >= 1
    assert engine.stop() == 0


def test_policy_rules_are_honored(lab, engine):
    """`ip rule` sends part of the block through other tables: one routes it
    into a blackhole (no_route), one via another gateway (up, through that
    gateway); an IPv4 rule of action blackhole drops a third part."""
    extra_paths(lab)
    ip(lab, "prober", [
        "rule add to 198.18.7.0/24 table 100 pref 1000",
        "route add blackhole 198.18.7.0/24 table 100",
        "rule add to 198.18.8.0/24 table 101 pref 1001",
        f"route add 198.18.8.0/24 via {GW2} dev {lab.prober_if} table 101",
        "rule add to 198.18.6.0/28 blackhole pref 999",
    ])
    plain, black, other = hosts("198.18.1", 10), hosts("198.18.7", 10), hosts("198.18.8", 10)
    rule_black = hosts("198.18.6", 10)          # .1-.10: inside the /28
    start(engine, [pool("web", plain + black + other + rule_black, **FAST)],
          max_down_fraction=1)
    engine.wait_until(lambda st: state(st, plain + other) == {("up", "ok")} and
                      state(st, black + rule_black) == {("down", "no_route")}, 10,
                      "rules honored")
    assert GW2 in neigh(lab), "198.18.8.0/24 went through table 101's gateway"
    assert engine.stop() == 0


def test_route_and_rule_changes_are_followed(lab, engine):
    """Routes and rules changed at runtime reach the probes within a couple of
    seconds: a more specific blackhole inside the resolved /16, its removal, a
    rule added and removed, the gateway replaced."""
    extra_paths(lab)
    a, b = hosts("198.18.1", 10), hosts("198.18.9", 10)
    start(engine, [pool("web", a + b, **FAST)], max_down_fraction=1)
    engine.wait_until(all_in(a + b, ("up", "ok")), 10, "all up")

    steps = [
        ("ip route add blackhole 198.18.9.0/24", b, ("down", "no_route")),
        ("ip route del blackhole 198.18.9.0/24", b, ("up", "ok")),
        ("ip rule add to 198.18.1.0/29 blackhole pref 900", a[:7], ("down", "no_route")),
        ("ip rule del pref 900", a[:7], ("up", "ok")),
    ]
    for cmd, who, want in steps:
        t0 = time.monotonic()
        lab.prober_exec(cmd)
        engine.wait_until(all_in(who, want), 5, f"{cmd}: {want}", poll=0.05)
        took = time.monotonic() - t0
        assert took <= FOLLOW_S + 0.5, (cmd, took)
        st = engine.states()
        others = [t for t in a + b if t not in who]
        assert state(st, others) == {("up", "ok")}, cmd

    lab.prober_exec(f"ip route replace 198.18.0.0/16 via {GW2} dev {lab.prober_if}")
    t0 = time.monotonic()
    while GW2 not in neigh(lab) and time.monotonic() - t0 < 3:
        time.sleep(0.05)
    assert GW2 in neigh(lab), "the new gateway was resolved"
    time.sleep(1.5)
    st = engine.states()
    assert state(st, a + b) == {("up", "ok")}
    assert all(st[split(t)]["consecutive_fail"] == 0 for t in a + b)
    assert "re-resolved" in engine.log(True)
    assert engine.stop() == 0


def test_neighbour_loss_recovers(lab, engine):
    """Neighbour entries flushed: probes resolve them again without a failure.
    ARP answers blocked: the backends go down for neigh_failed; unblocked,
    they come back."""
    extra_paths(lab)
    a, b = hosts("198.18.1", 10), hosts(ONLINK, 10)
    start(engine, [pool("web", a + b, **FAST)], max_down_fraction=1)
    engine.wait_until(all_in(a + b, ("up", "ok")), 10, "all up")
    for _ in range(3):
        lab.flush_prober_neigh()
        time.sleep(0.7)
    st = engine.states()
    assert state(st, a + b) == {("up", "ok")}
    assert all(st[split(t)]["consecutive_fail"] == 0 for t in a + b), st
    assert lab.backend_ip in neigh(lab)

    # the backend stops answering ARP; the prober's entries go away
    lab.backend_exec(["nft", "add table arp xhcarp; add chain arp xhcarp in "
                      "{ type filter hook input priority 0; policy drop; }"])
    lab.flush_prober_neigh()
    engine.wait_until(all_in(a + b, ("down", "neigh_failed")), 15,
                      "neigh_failed while ARP goes unanswered")
    lab.backend_exec(["nft", "delete table arp xhcarp"])
    engine.wait_until(all_in(a + b, ("up", "ok")), 8, "back up once ARP answers")
    assert engine.stop() == 0


def test_multipath_and_other_interface(lab, engine):
    """A multipath route spreads backends over both gateways (the kernel picks
    the path per flow); a route out of another interface is no_route."""
    extra_paths(lab)
    dummy = f"xhcd{lab.sfx}"        # a veth pair inside the prober namespace
    ip(lab, "prober", [
        f"route add 198.18.11.0/24 nexthop via {lab.backend_ip} dev {lab.prober_if} "
        f"nexthop via {GW2} dev {lab.prober_if}",
        f"link add {dummy} type veth peer name xhce{lab.sfx}",
        f"link set {dummy} up",
        f"link set xhce{lab.sfx} up",
        f"route add 198.18.12.0/24 dev {dummy}",
    ])
    mp, other = hosts("198.18.11", 50), hosts("198.18.12", 5)
    start(engine, [pool("web", mp + other, **FAST)], max_down_fraction=1)
    engine.wait_until(lambda st: state(st, mp) == {("up", "ok")} and
                      state(st, other) == {("down", "no_route")}, 10,
                      "multipath up, another interface no_route")
    nb = neigh(lab)
    assert lab.backend_ip in nb and GW2 in nb, nb
    assert engine.stop() == 0


def test_runtime_backends_get_next_hops(lab, engine):
    """backend add on a running engine resolves the new backend's next hop (a
    new on-link neighbour); backend del gives it back."""
    extra_paths(lab)
    start(engine, [pool("web", hosts("198.18.1", 3), **FAST)])
    engine.wait_until(all_in(hosts("198.18.1", 3), ("up", "ok")), 10, "all up")
    for t in hosts(ONLINK, 3, first=50) + hosts("198.18.3", 3):
        r = engine.control("backend", "add", "web", t)
        assert r.returncode == 0, r.stderr
    new = hosts(ONLINK, 3, first=50) + hosts("198.18.3", 3)
    engine.wait_until(all_in(new, ("up", "ok")), 10, "added backends up")
    assert f"{ONLINK}.50" in neigh(lab)
    for t in new:
        assert engine.control("backend", "del", "web", t).returncode == 0
    r = engine.control("backend", "add", "web", f"{ONLINK}.60:81")
    assert r.returncode == 0, r.stderr
    engine.wait_until(all_in([f"{ONLINK}.60:81"], ("down", "refused")), 10,
                      "a re-used id resolves its own next hop")
    assert engine.stop() == 0


# ---- IPv4, forwarding on: bpf_fib_lookup -----------------------------------

@pytest.mark.parametrize("lab", [("ipv4",)], indirect=True)
def test_forwarding_on_keeps_the_fib_path(lab, engine):
    """Forwarding on: bpf_fib_lookup() next hops, as before; a flushed
    neighbour is asked for again through the same module."""
    up, closed = hosts("198.18.1", 10), hosts("198.18.2", 5, 81)
    start(engine, [pool("web", up + closed, **FAST)])
    log = engine.log(True)
    assert "next hops (IPv4): bpf_fib_lookup" in log
    assert "next hops (IPv6): resolved by the engine" in log
    engine.wait_until(lambda st: state(st, up) == {("up", "ok")} and
                      state(st, closed) == {("down", "refused")}, 10, "states")
    before = engine.status()["stats"]["neigh_requests"]
    lab.flush_prober_neigh()
    time.sleep(1.2)
    st = engine.states()
    assert state(st, up) == {("up", "ok")}
    assert engine.status()["stats"]["neigh_requests"] > before
    assert engine.stop() == 0


# ---- IPv6 (pending the IPv6 SYN path) ----------------------------------------

def v6_supported(engine) -> bool:
    """Whether this engine probes IPv6 backends (config check accepts one)."""
    path = engine.workdir / "v6check.yaml"
    path.write_text(f"interface: {engine.lab.prober_if}\npools:\n  - name: p\n"
                    "    healthcheck: {protocol: tcp, interval: 1s, timeout: 500ms,\n"
                    "                  healthy_threshold: 2, unhealthy_threshold: 2}\n"
                    "    backends: ['[2001:2::1]:80']\n")
    return engine.run_once("check", "-c", str(path)).returncode == 0


def need_v6(engine) -> None:
    if not v6_supported(engine):
        pytest.skip("IPv6 backends are refused by this config parser (IPv6 config pending)")


def hosts6(prefix: str, n: int, port: int = 80, first: int = 1) -> list[str]:
    return [f"[{prefix}{i:x}]:{port}" for i in range(first, first + n)]


def extra_paths6(lab) -> None:
    """IPv6 on-link addresses (on the backend's veth: AnyIP does not answer
    NDP) and a second gateway."""
    cmds = [f"addr add {ONLINK6}{i:x}/128 dev {lab.backend_if} nodad" for i in range(1, 11)]
    cmds.append(f"addr add {GW2_6}/64 dev {lab.backend_if} nodad")
    ip(lab, "backend", cmds, "-6")
    ip(lab, "prober", [f"route add {ONLINK6}/64 dev {lab.prober_if}",
                       f"route add 2001:2:0:2::/64 dev {lab.prober_if}"], "-6")


def test_v6_without_forwarding(lab, engine):
    """IPv6 forwarding off: on-link and gateway backends up, closed port
    refused, a rule into a blackhole table no_route, flushed neighbours
    resolved again without a failure, route changes followed."""
    need_v6(engine)
    extra_paths6(lab)
    ip(lab, "prober", ["rule add to 2001:2::100/120 table 100 pref 1000",
                       "route add blackhole 2001:2::100/120 table 100",
                       # a rule with no route of its own to split the /64
                       "rule add to 2001:2::200/120 unreachable pref 999"], "-6")
    via_gw, onlink = hosts6("2001:2::", 10), hosts6(ONLINK6, 10)
    closed = hosts6("2001:2::", 3, 81, first=0x20)
    black = hosts6("2001:2::", 3, first=0x101) + hosts6("2001:2::", 3, first=0x201)
    start(engine, [pool("web", via_gw + onlink + closed + black, **FAST)],
          max_down_fraction=1)
    assert "next hops (IPv6): resolved by the engine over netlink" in engine.log(True)
    engine.wait_until(lambda st: state(st, via_gw + onlink) == {("up", "ok")} and
                      state(st, closed) == {("down", "refused")} and
                      state(st, black) == {("down", "no_route")}, 10, "v6 states")
    assert forwarding(lab, "ipv6") == 0
    for _ in range(3):
        lab.prober_exec(f"ip -6 neigh flush dev {lab.prober_if}")
        time.sleep(0.7)
    st = engine.states()
    assert state(st, via_gw + onlink) == {("up", "ok")}
    assert all(st[split(t)]["consecutive_fail"] == 0 for t in via_gw + onlink)
    lab.prober_exec("ip -6 route add blackhole 2001:2::8/125")
    engine.wait_until(all_in(via_gw[7:], ("down", "no_route")), 5, "v6 route change")
    lab.prober_exec(f"ip -6 route replace 2001:2::/64 via {GW2_6} dev {lab.prober_if}")
    lab.prober_exec("ip -6 route del blackhole 2001:2::8/125")
    engine.wait_until(all_in(via_gw, ("up", "ok")), 5, "v6 via the new gateway")
    assert GW2_6 in neigh(lab, "-6")
    assert engine.stop() == 0


@pytest.mark.parametrize("lab", [("ipv4", "ipv6")], indirect=True)
def test_v6_forwarding_on_keeps_the_fib_path(lab, engine):
    """IPv6 forwarding on: bpf_fib_lookup() next hops; a flushed neighbour is
    resolved again (t = 0: the engine looks the slot's route up)."""
    need_v6(engine)
    up, closed = hosts6("2001:2::", 10), hosts6("2001:2::", 3, 81, first=0x20)
    start(engine, [pool("web", up + closed, **FAST)])
    assert "next hops (IPv6): bpf_fib_lookup" in engine.log(True)
    engine.wait_until(lambda st: state(st, up) == {("up", "ok")} and
                      state(st, closed) == {("down", "refused")}, 10, "v6 states")
    lab.prober_exec(f"ip -6 neigh flush dev {lab.prober_if}")
    time.sleep(1.2)
    assert state(engine.states(), up) == {("up", "ok")}
    assert engine.stop() == 0
