#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The start cost of next hops the engine resolves itself (forwarding off):
build/tools/hopstart run in a lab's prober namespace, which does not forward,
for a million backends behind one gateway and for 65,536 on-link addresses,
in both families.  One JSON line per case, then a table.

    /usr/bin/python3 tools/bench/hopstart.py [--repeat N]

Needs root and `make build/tools/hopstart`."""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))

from lab import Lab  # noqa: E402
from lab.names import PROBER_IP, PROBER_IP6, build_path  # noqa: E402
from lab.proc import run  # noqa: E402

HOPSTART = build_path("tools", "hopstart")

# (name, family, first address, backends, ports per address, prober routes)
CASES = [
    ("v6 1,000,000 addresses behind one gateway (2001:2::/108)", 6, "2001:2::1", 1_000_000,
     1, []),
    ("v4 1,000,000 backends behind one gateway (62,500 addresses x 16 ports)", 4,
     "198.18.0.1", 1_000_000, 16, []),
    ("v4 65,536 on-link addresses (198.18.0.0/16)", 4, "198.18.0.0", 65_536, 1,
     ["route replace 198.18.0.0/16 dev {dev}"]),
    ("v6 65,536 on-link addresses (2001:2:0:1::/112)", 6, "2001:2:0:1::", 65_536, 1,
     ["route add 2001:2:0:1::/64 dev {dev}"]),
]


def one(case, repeat: int) -> dict:
    name, fam, first, n, ports, routes = case
    best = None
    for _ in range(repeat):
        # a fresh lab each time: an empty neighbour table, as at a first start
        with Lab(listen=[], forwarding=()) as lab:
            if routes:
                run(["ip", f"-{fam}", "-n", lab.prober_ns, "-batch", "-"],
                    input="\n".join(r.format(dev=lab.prober_if) for r in routes) + "\n")
            src = PROBER_IP6 if fam == 6 else PROBER_IP
            cp = subprocess.run([*lab.nsenter_prefix(), HOPSTART, lab.prober_if, src, first,
                                 str(n), str(ports)], capture_output=True, text=True,
                                timeout=300)
            if cp.returncode:
                raise SystemExit(f"hopstart failed: {cp.stderr}")
            r = json.loads(cp.stdout)
            if best is None or r["start_ms"] < best["start_ms"]:
                best = r
    best["case"] = name
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=3, help="runs per case; the best is kept")
    a = ap.parse_args()
    if not os.access(HOPSTART, os.X_OK):
        raise SystemExit(f"{HOPSTART}: run `make build/tools/hopstart` first")
    rows = []
    for c in CASES:
        r = one(c, a.repeat)
        print(json.dumps(r), flush=True)
        rows.append(r)
    print(f"\n{'case':<72} {'start':>9} {'lookups':>8} {'hops':>8} {'requests':>9} {'memory':>9}")
    for r in rows:
        print(f"{r['case']:<72} {r['start_ms']:>7.0f}ms {r['lookups']:>8} {r['hops']:>8} "
              f"{r['neigh_requests']:>9} {r['rss_growth_kib'] / 1024:>7.1f}MB")


if __name__ == "__main__":
    main()
