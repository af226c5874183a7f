# SPDX-License-Identifier: MIT
"""sim: the XDP backend simulator (backend_sim.bpf.c, driven by backend_sim.py):
a million SYN-answering backends in the lab's backend namespace, for the
benchmark and the scale test."""
from .backend_sim import ACTIONS, COUNTERS, BackendSim

__all__ = ["ACTIONS", "COUNTERS", "BackendSim"]
