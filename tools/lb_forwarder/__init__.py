# SPDX-License-Identifier: MIT
"""lb_forwarder: the example XDP load balancer, a consumer of xdphc's ABI
(README.md in this folder)."""
from .lb_forwarder import COUNTERS, Forwarder

__all__ = ["COUNTERS", "Forwarder"]
