# SPDX-License-Identifier: MIT
"""sim: the XDP backend simulator (backend_sim.bpf.c, driven by backend_sim.py):
a million backends in the lab's backend namespace that answer TCP SYNs and
UDP datagrams over IPv4 and IPv6, for the benchmark and the scale test."""
from .backend_sim import ACTIONS, COUNTERS, OTHER_PAYLOAD, BackendSim

__all__ = ["ACTIONS", "COUNTERS", "OTHER_PAYLOAD", "BackendSim"]
