# SPDX-License-Identifier: MIT
"""The lab's command line: `python3 tools/xhclab.py ...` (or, with tools/ on
the path, `python3 -m lab ...`)::

    eval "$(python3 tools/xhclab.py up --name demo --listen 80 --drop 198.18.40.0/22)"
    python3 tools/xhclab.py drop add demo 198.18.7.0/24
    python3 tools/xhclab.py down demo
    python3 tools/xhclab.py cleanup          # leftovers of crashed runs
"""
from __future__ import annotations

import argparse
import shlex
import sys

from .lab import Lab, cleanup, teardown_by_name
from .nft import KINDS
from .proc import LabError


def _split_ports(values: list[str]) -> list[int]:
    return [int(x) for v in values for x in str(v).split(",") if x.strip()]


def _print_env(env: dict[str, str]) -> None:
    for k, v in env.items():
        print(f"{k}={shlex.quote(v)}")


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="xhclab.py", description="xdphc namespace lab")
    sub = ap.add_subparsers(dest="cmd", required=True)

    up = sub.add_parser("up", help="build a lab and leave it up; prints KEY=VALUE lines")
    up.add_argument("--name", help="suffix [0-9a-z]{1,11} (default: random)")
    up.add_argument("--listen", action="append", default=[],
                    help="listener port(s), repeatable or comma separated (default 80)")
    up.add_argument("--drop", action="append", default=[],
                    help="address/CIDR/range whose SYNs are dropped (repeatable)")
    up.add_argument("--refuse", action="append", default=[], help="answered with RST")
    up.add_argument("--unreach", action="append", default=[], help="ICMP host-unreachable")
    up.add_argument("--loss", type=int, default=0, help="drop this %% of SYNs at random")
    up.add_argument("--no-ipv6", action="store_true")
    up.add_argument("--icmp-ratelimit", action="store_true",
                    help="keep the kernel's ICMP error rate limits in the backend namespace")

    dn = sub.add_parser("down", help="tear a lab down by name")
    dn.add_argument("name")

    cl = sub.add_parser("cleanup", help="remove leftover labs of this module")
    cl.add_argument("--force", action="store_true", help="also labs whose owner still runs")
    cl.add_argument("--dry-run", action="store_true")

    stp = sub.add_parser("status", help="print a lab's state (KEY=VALUE)")
    stp.add_argument("name")

    for kind in KINDS:
        kp = sub.add_parser(kind, help=f"change the '{kind}' set of a lab")
        ksub = kp.add_subparsers(dest="op", required=True)
        for op in ("add", "del"):
            o = ksub.add_parser(op)
            o.add_argument("name")
            o.add_argument("targets", nargs="+")
            o.add_argument("--port", type=int)
        o = ksub.add_parser("clear")
        o.add_argument("name")
        o = ksub.add_parser("list")
        o.add_argument("name")
        o.add_argument("--port", type=int)

    lp = sub.add_parser("listen", help="start listener(s) on a running lab")
    lp.add_argument("name")
    lp.add_argument("ports", nargs="+")
    ulp = sub.add_parser("unlisten", help="stop listener(s) of a running lab")
    ulp.add_argument("name")
    ulp.add_argument("ports", nargs="+")
    lo = sub.add_parser("loss", help="set random SYN loss percent")
    lo.add_argument("name")
    lo.add_argument("percent", type=int)
    return ap


def _up(a) -> None:
    lab = Lab(listen=_split_ports(a.listen) or [80], name=a.name, drop=a.drop,
              ipv6=not a.no_ipv6, icmp_ratelimit=a.icmp_ratelimit, detach=True)
    try:
        if a.refuse:
            lab.refuse_add(a.refuse)
        if a.unreach:
            lab.unreach_add(a.unreach)
        if a.loss:
            lab.set_syn_loss(a.loss)
    except BaseException:
        lab.close()
        raise
    _print_env(lab.env())


def _on_lab(a) -> None:
    """The commands that change or show a lab that is up."""
    lab = Lab.attach(a.name)
    if a.cmd == "status":
        _print_env(lab.env())
        _print_env({f"XHC_{kind.upper()}": " ".join(lab.set_list(kind)) for kind in KINDS})
    elif a.cmd in KINDS:
        if a.op == "add":
            lab.set_add(a.cmd, a.targets, a.port)
        elif a.op == "del":
            lab.set_del(a.cmd, a.targets, a.port)
        elif a.op == "clear":
            lab.set_clear(a.cmd)
        else:
            print("\n".join(lab.set_list(a.cmd, a.port)))
    elif a.cmd == "listen":
        for p in _split_ports(a.ports):
            lab.listen(p)
    elif a.cmd == "unlisten":
        for p in _split_ports(a.ports):
            lab.unlisten(p)
    elif a.cmd == "loss":
        lab.set_syn_loss(a.percent)


def main(argv: list[str] | None = None) -> int:
    a = _parser().parse_args(argv)
    try:
        if a.cmd == "up":
            _up(a)
        elif a.cmd == "down":
            for d in teardown_by_name(a.name):
                print(f"removed {d}", file=sys.stderr)
        elif a.cmd == "cleanup":
            for d in cleanup(force=a.force, dry_run=a.dry_run):
                print(d)
        else:
            _on_lab(a)
    except (LabError, ValueError, OSError) as e:
        print(f"xhclab: {e}", file=sys.stderr)
        return 1
    return 0
