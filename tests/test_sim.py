# SPDX-License-Identifier: MIT
"""The XDP backend simulator (tools/sim/backend_sim.bpf.c) answers the way the
backend kernels it stands in for would, in both families: TCP SYNs with
SYN-ACK or RST, UDP datagrams with an echo, ICMP / ICMPv6 port unreachable
quoting them, another payload, or nothing.  The prober namespace's own
kernel is the judge: its connect() and its UDP sockets take the answers
(checksums, the ICMP quote) or they do not."""
import socket
import struct
import time

import pytest

from lab import BACKEND_IP, PROBER_IP, PROBER_IP6, Lab, inet_checksum, netns_socket
from sim import BackendSim
from sim.backend_sim import OTHER_PAYLOAD

PORT = 8000
UP4, CLOSED4, DEAD4, OTHER4 = (f"198.18.1.{i}" for i in range(1, 5))
UP6, CLOSED6, DEAD6, OTHER6 = (f"2001:2::1:{i}" for i in range(1, 5))
# UDP closed, TCP up: rules may name a protocol
SPLIT4, SPLIT6 = "198.18.1.9", "2001:2::1:9"


@pytest.fixture(scope="module")
def sim_lab():
    with Lab(listen=[], backend_xdp=False) as lab, BackendSim(lab) as sim:
        # the prober's kernel takes the XDP_TX'ed answers at once
        lab.attach_pass("prober")
        sim.set_rules([(CLOSED4, None, "closed"), (DEAD4, None, "dead"),
                       (OTHER4, None, "other"), (SPLIT4, PORT, "closed", "udp"),
                       (CLOSED6, None, "closed"), (DEAD6, None, "dead"),
                       (OTHER6, None, "other"), (SPLIT6, PORT, "closed", "udp")],
                      default="up")
        yield lab, sim


def family(addr: str) -> int:
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def udp_ask(lab, addr: str, payload: bytes, timeout: float = 0.5) -> bytes | str:
    """One datagram from the prober to ADDR:PORT on a connected socket: the
    reply, "refused" (the kernel took an ICMP port unreachable for it) or
    "timeout"."""
    with netns_socket(lab.prober_ns, family(addr), socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.connect((addr, PORT))
        s.send(payload)
        try:
            return s.recv(2048)
        except ConnectionRefusedError:
            return "refused"
        except socket.timeout:
            return "timeout"


def test_tcp_syns_in_both_families(sim_lab):
    lab, sim = sim_lab
    before = sim.counters()
    got = lab.connect_check_many([(a, PORT) for a in (UP4, CLOSED4, DEAD4, OTHER4, SPLIT4,
                                                      UP6, CLOSED6, DEAD6, OTHER6, SPLIT6)],
                                 timeout=1.0)
    want = {"up": "open", "closed": "refused", "dead": "timeout", "other": "open"}
    for (a, p), res in got.items():
        assert res == want[sim.expect(a, p)], (a, res)
        assert sim.state(a, p) == ("up" if res == "open" else "down")
    c = {k: v - before[k] for k, v in sim.counters().items()}
    for v in ("", "6"):
        assert c["syn" + v] >= 5 and c["synack" + v] >= 3, c
        assert c["rst_sent" + v] >= 1 and c["dead" + v] >= 1, c
    assert c["bad"] == 0 and c["udp"] == c["udp6"] == 0


@pytest.mark.parametrize("v6", [False, True], ids=["ipv4", "ipv6"])
def test_udp_echo_unreachable_silence_and_other(sim_lab, v6):
    lab, sim = sim_lab
    up, closed, dead, other, split = (UP6, CLOSED6, DEAD6, OTHER6, SPLIT6) if v6 else \
        (UP4, CLOSED4, DEAD4, OTHER4, SPLIT4)
    k = "udp6" if v6 else "udp"
    before = sim.counters()
    assert udp_ask(lab, up, b"ping") == b"ping"
    # odd lengths and more than one checksum chunk: the receiving kernel
    # checks the UDP checksum of each echo
    for n in (1, 63, 64, 65, 1001, 1400):
        data = bytes((i * 7 + n) & 0xff for i in range(n))
        assert udp_ask(lab, up, data) == data, n
    assert udp_ask(lab, closed, b"ping") == "refused"
    assert udp_ask(lab, split, b"ping") == "refused"
    assert udp_ask(lab, dead, b"ping") == "timeout"
    assert udp_ask(lab, other, b"ping") == OTHER_PAYLOAD
    assert udp_ask(lab, other, b"x" * 1000) == OTHER_PAYLOAD
    c = {key: v - before[key] for key, v in sim.counters().items()}
    assert (c[k], c[k + "_echo"], c[k + "_unreach"], c[k + "_dead"], c[k + "_other"]) == \
        (12, 7, 2, 1, 2), c
    assert c["bad"] == 0
    assert [sim.state(a, PORT, "udp") for a in (up, closed, dead, other)] == \
        ["up", "down", "down", "down"]
    assert [sim.state(a, PORT, "udp", expect=False) for a in (up, closed, dead, other)] == \
        ["up", "down", "up", "up"]


def icmp_reply(lab, v6: bool, dst: str, payload: bytes) -> tuple[bytes, str]:
    """The ICMP(v6) error that a datagram of PAYLOAD to DST:PORT draws, as a
    raw socket in the prober namespace reads it (IPv4: with its IP header;
    IPv6: the ICMPv6 message, which the kernel delivers only with a good
    checksum), and where it came from."""
    fam = socket.AF_INET6 if v6 else socket.AF_INET
    proto = socket.IPPROTO_ICMPV6 if v6 else socket.IPPROTO_ICMP
    with netns_socket(lab.prober_ns, fam, socket.SOCK_RAW, proto) as raw, \
            netns_socket(lab.prober_ns, fam, socket.SOCK_DGRAM) as s:
        raw.settimeout(2)
        s.sendto(payload, (dst, PORT))
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            msg, src = raw.recvfrom(4096)
            icmp = msg if v6 else msg[(msg[0] & 0xf) * 4:]
            if icmp[0] == (1 if v6 else 3):
                return msg, src[0]
    raise AssertionError("no ICMP error")


def test_port_unreachable_quotes_the_datagram_as_a_kernel_does(sim_lab):
    """IPv4: the IP header and as much of the datagram as fits 576 bytes;
    IPv6: as much of the packet as fits 1280 (RFC 1812, RFC 4443)."""
    lab, _ = sim_lab
    payload = bytes(range(256)) * 6                     # 1536 > either limit
    payload = payload[:1400]

    msg, src = icmp_reply(lab, False, CLOSED4, payload)
    assert src == CLOSED4 and len(msg) == 576
    assert struct.unpack("!H", msg[2:4])[0] == 576 and msg[1] == 0xc0 and msg[9] == 1
    assert inet_checksum(msg[:20]) == 0, "IP header checksum"
    icmp = msg[20:]
    assert icmp[:2] == b"\x03\x03" and inet_checksum(icmp) == 0, "ICMP checksum"
    quoted = icmp[8:]
    assert quoted[12:16] == socket.inet_aton(PROBER_IP) and \
        quoted[16:20] == socket.inet_aton(CLOSED4)
    assert struct.unpack("!H", quoted[2:4])[0] == 20 + 8 + len(payload), "the original length"
    assert struct.unpack("!HH", quoted[20:24])[1] == PORT
    assert quoted[28:] == payload[:576 - 28 - 28]

    small, _ = icmp_reply(lab, False, CLOSED4, b"ping")
    assert len(small) == 20 + 8 + 20 + 8 + 4 and small[-4:] == b"ping"

    msg, src = icmp_reply(lab, True, CLOSED6, payload)
    assert src == CLOSED6 and len(msg) == 1280 - 40
    assert msg[:2] == b"\x01\x04"
    quoted = msg[8:]
    assert quoted[6] == socket.IPPROTO_UDP
    assert quoted[8:24] == socket.inet_pton(socket.AF_INET6, PROBER_IP6)
    assert quoted[24:40] == socket.inet_pton(socket.AF_INET6, CLOSED6)
    assert struct.unpack("!HH", quoted[40:44])[1] == PORT
    assert quoted[48:] == payload[:1280 - 48 - 48]


def test_what_is_not_for_a_block_goes_to_the_kernel(sim_lab):
    """The link's own addresses are outside the blocks: the backend's kernel
    answers them (here an ICMP port unreachable of its own), the simulator
    counts nothing.  Neighbour discovery worked, or no v6 test would."""
    lab, sim = sim_lab
    before = sim.counters()
    with netns_socket(lab.prober_ns, socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(1)
        s.connect((BACKEND_IP, 9))
        s.send(b"ping")
        with pytest.raises(ConnectionRefusedError):
            s.recv(64)
    assert sim.counters() == before
