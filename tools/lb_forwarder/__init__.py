# SPDX-License-Identifier: MIT
"""lb_forwarder: the example XDP load balancer, a consumer of xdphc's ABI
(README.md in this folder); flows: traffic through it in a lab."""
from .lb_forwarder import COUNTERS, FLOW_ENTRIES, EngineMismatch, Forwarder, read_meta

__all__ = ["COUNTERS", "FLOW_ENTRIES", "EngineMismatch", "Forwarder", "read_meta"]
