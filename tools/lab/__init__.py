# SPDX-License-Identifier: MIT
"""lab: the xdphc test and demo lab (network namespaces, veth, kernel backends).

Topology of one lab (``sfx`` is a short unique suffix, [0-9a-z]{1,11}):

    prober ns  xhc-p-<sfx>                     backend ns  xhc-b-<sfx>
    xhcp<sfx>  198.19.255.1/30  <-- veth -->  xhcb<sfx>  198.19.255.2/30
               2001:2:0:ffff::1/126                      2001:2:0:ffff::2/126
    route 198.18.0.0/16 via 198.19.255.2      route local 198.18.0.0/16 dev lo
    route 2001:2::/64   via 2001:2:0:ffff::2  route local 2001:2::/64   dev lo
                                              listeners 0.0.0.0:PORT and [::]:PORT
                                              nftables table "inet xhc"

Every address of 198.18.0.0/16 (and 2001:2::/64) is a real kernel TCP backend:
a port with a listener answers SYN-ACK ("open"), a port without one answers RST
("refused"), and addresses put into the nftables sets answer nothing ("drop" ->
timeout), RST ("refuse") or ICMP host-unreachable ("unreach").  A UDP port
without a socket answers ICMP port unreachable: the backend ns's ICMP rate
limits are lifted (Lab(icmp_ratelimit=True) keeps them); UDP ports put into
the "udpdrop" set answer nothing.

GRO is switched on for both veth ends (and checked): a veth that receives
XDP_TX/redirected frames drops them unless it has GRO (NAPI) or an XDP program.
The prober side has no pre-populated neighbour entries.

Only addresses of 198.18.0.0/15 and 2001:2::/48 are used; all namespaces and
links start with "xhc"; teardown deletes only the exact names the lab created.

Modules, one concern each:
    names    the names, addresses and paths a lab uses
    proc     commands (LabError) and the processes a lab starts and stops
    netns    namespaces: in_netns, netns_socket, ns_cmd, sysctl, GRO, counters
    nft      the nftables drop/refuse/unreach sets and SYN loss
    packet   checksums, TCP/IP packets, Ethernet frames, raw sends
    connect  connect() checks from a namespace
    bpf      bpf(2) calls, bpffs and pin directories, XDP on a veth
    libbpf   libbpf's loader calls through ctypes (open, size, reuse, load)
    lab      the Lab class, its state file, teardown and cleanup
    cli      the command line (tools/xhclab.py, python3 -m lab)
    engine   the xdphc engine in a lab, and its config writer
    services private nginx, redis-server, TCP and UDP services in the backend ns
             (tcpserv.py, udpserv.py: the small ones)
    clients  HTTP/1.1, TLS, HTTP/2 and TCP send/expect clients from a ns

Library use (with tools/ on sys.path)::

    from lab import Lab
    with Lab(listen=[80]) as lab:
        lab.connect_check(Lab.addr(0), 80)         # "open"
        lab.drop_add(["198.18.1.0/24"])            # those time out now

Run the engine with lab.engine.Engine, or with ``lab.nsenter_prefix() +
["build/xdphc", ...]`` (nsenter, not ``ip netns exec``: the latter remounts
/sys, so bpffs pins would not be shared).

Python 3.11 standard library only (the engine's config writer: python3-yaml;
lab.libbpf: libbpf.so.1, from libbpf1, which libbpf-dev depends on).
Needs iproute2 (ip, ss), nftables (nft), ethtool and util-linux (nsenter);
must run as root.
"""
from .bpf import (PinDir, bpf_obj_pin, bpffs_mounted, ensure_bpffs, load_xdp_tx_prog,
                  pin_dir_path, remove_pin_dir, xdp_live_run)
from .lab import Lab, cleanup, teardown_by_name
from .names import (BACKEND_IP, BACKEND_IP6, PROBER_IP, PROBER_IP6, SINK_NET, SINK_SRC,
                    V4_BLOCK, V6_BLOCK, new_suffix)
from .netns import host_links, in_netns, netns_list, netns_socket, ns_cmd, read_snmp
from .nft import KINDS
from .packet import inet_checksum, make_eth_frame, make_ip_tcp, make_ip_udp, send_raw_ip
from .proc import LabError, proc_starttime, run

__all__ = [
    "BACKEND_IP", "BACKEND_IP6", "KINDS", "Lab", "LabError", "PROBER_IP", "PROBER_IP6",
    "PinDir", "SINK_NET", "SINK_SRC", "V4_BLOCK", "V6_BLOCK", "bpf_obj_pin",
    "bpffs_mounted", "cleanup", "ensure_bpffs", "host_links", "in_netns", "inet_checksum",
    "load_xdp_tx_prog", "make_eth_frame", "make_ip_tcp", "make_ip_udp", "netns_list",
    "netns_socket", "new_suffix", "ns_cmd", "pin_dir_path", "proc_starttime", "read_snmp",
    "remove_pin_dir", "run", "send_raw_ip", "teardown_by_name", "xdp_live_run",
]
