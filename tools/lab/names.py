# SPDX-License-Identifier: MIT
"""The names and addresses of a lab: the only ones it creates, removes or
sends to (addresses: 198.18.0.0/15 and 2001:2::/48; names: xhc...)."""
from __future__ import annotations

import ipaddress
import os
import random
import re

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), os.pardir, os.pardir))


def build_path(*parts: str) -> str:
    """A path under the tree's build/ directory (where `make` puts its output)."""
    return os.path.join(ROOT, "build", *parts)


def tool_obj(rel: str) -> str:
    """The BPF object `make` builds from tools/REL.bpf.c (REL: "sim/backend_sim")."""
    return build_path("tools", rel + ".bpf.o")


V4_BLOCK = "198.18.0.0/16"          # backends (local on the backend's lo)
V6_BLOCK = "2001:2::/64"            # IPv6 backends
PROBER_IP = "198.19.255.1"
BACKEND_IP = "198.19.255.2"
LINK_PLEN = 30
PROBER_IP6 = "2001:2:0:ffff::1"
BACKEND_IP6 = "2001:2:0:ffff::2"
LINK6_PLEN = 126
# A "sink" source range: the backend routes it via the prober, whose kernel
# drops the SYN-ACKs (not its address, no forwarding), so raw SYNs sent from
# SINK_SRC leave SYN-RECV entries behind in the backend.  (With no route at all
# the listener drops the SYN instead: TcpExtListenDrops, no SYN-RECV.)
SINK_NET = "198.19.254.0/24"
SINK_SRC = "198.19.254.1"
V4_NET = ipaddress.ip_network(V4_BLOCK)
V6_NET = ipaddress.ip_network(V6_BLOCK)

NS_PREFIX_P = "xhc-p-"
NS_PREFIX_B = "xhc-b-"
LINK_PREFIX_P = "xhcp"
LINK_PREFIX_B = "xhcb"
SFX_RE = re.compile(r"^[0-9a-z]{1,11}$")
NS_RE = re.compile(r"^xhc-([pb])-([0-9a-z]{1,11})$")
LINK_RE = re.compile(r"^xhc([pb])([0-9a-z]{1,11})$")
STATE_DIR = "/run/xhclab"
NFT_TABLE = "xhc"                   # "table inet xhc" in the backend ns
LISTENER_MARK = "xhclab-listener"   # argv marker of listener processes
SERVICE_MARK = "xhclab-svc"         # services.py: its directory, in its processes' argv
LISTEN_BACKLOG = 65535

PIN_ROOT = "/sys/fs/bpf"
PIN_PREFIX = "xhc-test-"            # PinDir: tests' and tools' engine pin dirs
DEMO_PIN_PREFIX = "xhc-demo-"       # PinDir(prefix=...): the demo's
PIN_DIR_PREFIXES = (PIN_PREFIX, DEMO_PIN_PREFIX)
SIM_PIN_PREFIX = "xhc-sim-"         # tools/sim pins the simulator's objects there
LB_PIN_PREFIX = "xhc-lb-"           # tools/lb_forwarder pins its objects there
TOOL_PIN_PREFIXES = (SIM_PIN_PREFIX, LB_PIN_PREFIX)


def new_suffix() -> str:
    """A short unique suffix: pid and 16 random bits, in hex (<= 10 chars)."""
    return f"{os.getpid():x}{random.getrandbits(16):04x}"


def state_path(sfx: str) -> str:
    """The state file of lab SFX."""
    return os.path.join(STATE_DIR, f"{sfx}.json")
