#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""make demo: a ~30 s xdphc demo on 10,000 real kernel TCP backends.

Builds a lab (tools/lab: prober and backend network namespaces; every address
of 198.18.0.0/16 is a backend in the backend namespace), writes a config with
three pools into a temp dir, runs build/xdphc in the prober namespace for
~20 s and prints per-pool counts every 2 s.  Halfway through, 200 up backends
start dropping SYNs.  At the end: the status table, `xdphc show`, excerpts of
the pinned maps (bpftool), of /metrics and of the event log, and a check of
every backend's state against connect() from the prober namespace.  Exits
non-zero if the engine disagrees with the lab.  Everything it made is removed
on exit, Ctrl-C or SIGTERM.

Needs root, bpftool, nftables, iproute2, util-linux (nsenter), promtool,
python3-yaml.  Environment: XDPHC (binary, default build/xdphc), DEMO_SECONDS
(engine run time, default 20, 10..120), DEMO_PER_BLOCK (backends per /24,
default 250 = 10,000 in all; smaller values scale every group down alike).
"""
from __future__ import annotations

import collections
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lab import Lab, PinDir, ensure_bpffs                      # noqa: E402
from lab.engine import XDPHC, Engine, EngineError, pool        # noqa: E402
from lab.names import DEMO_PIN_PREFIX, NS_PREFIX_B, NS_PREFIX_P, state_path  # noqa: E402

STEP = 2                                # seconds between progress lines
METRICS = "127.0.0.1:9469"              # /metrics inside the prober namespace
DROP_START = "198.18.40.0/22"
UP_EXAMPLE, DOWN_EXAMPLE = "198.18.0.1:80", "198.18.5.1:80"
# Backend layout: P backends per /24 (hosts .1-.P), all in 198.18.0.0/16,
# (first /24, last /24, port) per pool; health port 81 for legacy.
#   web     198.18.0-23.x:80    6,000  listener on :80          -> up
#           198.18.32-33.x:81     500  no listener on :81 (RST)  -> down/refused
#   api     198.18.24-31.x:80   2,000  listener on :80          -> up
#           198.18.40-43.x:80   1,000  SYNs dropped (nftables)  -> down/timeout
#   legacy  198.18.34-35.x:80     500  health port 81 (RST)      -> down/refused, fail-open
# Halfway: 198.18.5.1-198.18.5.200 (200 web backends) join the drop set.
POOLS = {"web": [(0, 23, 80), (32, 33, 81)], "api": [(24, 31, 80), (40, 43, 80)],
         "legacy": [(34, 35, 80)]}
HEALTH_PORT = {"legacy": 81}
T0 = time.monotonic()


class Failed(Exception):
    """The demo cannot go on (the message says why)."""


def hdr(text: str) -> None:
    print(f"\n=== {text} ===", flush=True)


def say(text: str = "") -> None:
    print(text, flush=True)


def show(argv: list[str], head: int | None = None) -> str:
    """Run ARGV, print (the first HEAD lines of) its output, return it all."""
    out = subprocess.run(argv, capture_output=True, text=True).stdout
    lines = out.splitlines()
    say("\n".join(lines[:head] if head else lines))
    return out


def settings() -> tuple[int, int]:
    run_secs, per_block = os.environ.get("DEMO_SECONDS", "20"), os.environ.get("DEMO_PER_BLOCK", "250")
    if not (run_secs.isdigit() and per_block.isdigit()):
        raise Failed("DEMO_SECONDS and DEMO_PER_BLOCK must be numbers")
    if not 10 <= int(run_secs) <= 120:
        raise Failed("DEMO_SECONDS must be 10..120")
    if not 1 <= int(per_block) <= 250:
        raise Failed("DEMO_PER_BLOCK must be 1..250")
    return int(run_secs), int(per_block)


def preflight(xdphc: str, sfx: str) -> None:
    if os.geteuid() != 0:
        raise Failed("must run as root (namespaces, XDP, bpffs)")
    if not os.access(xdphc, os.X_OK):
        raise Failed(f"{xdphc} not found: run make first")
    for c in ("bpftool", "nft", "nsenter", "ip", "promtool"):
        if not shutil.which(c):
            raise Failed(f"{c} not installed (make deps)")
    for f in (f"/run/netns/{NS_PREFIX_P}{sfx}", f"/run/netns/{NS_PREFIX_B}{sfx}", state_path(sfx)):
        if os.path.exists(f):
            raise Failed(f"{f} already exists (a lab named {sfx}; not ours to touch)")


def backends(pool_name: str, per_block: int) -> list[str]:
    return [f"198.18.{b}.{h}:{port}" for first, last, port in POOLS[pool_name]
            for b in range(first, last + 1) for h in range(1, per_block + 1)]


def progress(d: dict, t: float, flip_ns: int, flipped: set[str]) -> str:
    """A line of per-pool up/down/unknown from `xdphc status --json`; after
    the flip, how many of the flipped backends are down."""
    cols = "  ".join(f"{p['name']} {p['up']:>5}/{p['down']:>5}/{p['unknown']:>5}"
                     for p in d["pools"])
    line = f"t={t:5.1f}s  {cols}"
    if flip_ns:
        down = [b for b in d["backends"]
                if f"{b['address']}:{b['port']}" in flipped and b["state"] == "down"]
        line += f"  | flipped: {len(down)}/{len(flipped)} down"
        if flipped and len(down) == len(flipped):
            lat = max(b["last_change_ns"] for b in down) - flip_ns
            line += f" (last one {lat / 1e9:.1f}s after the flip)"
    return line


def run_engine(lab: Lab, eng: Engine, run_secs: int, per_block: int) -> int:
    """The engine for RUN_SECS, a progress line every STEP s; the flip halfway.
    Returns how many backends were flipped."""
    flip_n = max(1, per_block * 4 // 5)             # 200 of the 250 in 198.18.5.x
    flip_range = f"198.18.5.1-198.18.5.{flip_n}"
    flip_at = run_secs // 2 // STEP * STEP
    hdr(f"engine: xdphc run in {lab.prober_ns} for {run_secs}s "
        f"(log: {eng.log_path.name}, shown at the end)")
    try:
        eng.start()
    except EngineError as e:
        raise Failed(f"the engine exited during start-up:\n{e}") from None
    P = per_block
    say(f"engine pid {eng.proc.pid}, pins in {eng.pin_dir}")
    say(f"per pool: up/down/unknown (expected at the end: web {24 * P - flip_n}/{2 * P + flip_n}/0,"
        f" api {8 * P}/{4 * P}/0, legacy 0/{2 * P}/0)")
    flip_ns, flipped = 0, set()
    e0 = time.monotonic()
    for tick in range(0, run_secs + 1, STEP):
        # to e0 + tick s: progress stays on a 2 s grid whatever the reads cost
        time.sleep(max(0.0, e0 + tick - time.monotonic()))
        if not eng.running():
            raise Failed(f"the engine died; log tail:\n{eng.log()[-2000:]}")
        et = time.monotonic() - e0
        say(progress(eng.status(), et, flip_ns, flipped))
        if tick == flip_at:
            lab.drop_add(flip_range)
            flip_ns = time.time_ns()
            flipped = {f"198.18.5.{h}:80" for h in range(1, flip_n + 1)}
            say(f">>> t={et:.1f}s: lab now DROPS SYNs to {flip_range} ({flip_n} web backends "
                f"that were up);")
            say(">>> with interval 1s and unhealthy_threshold 2 they should go down within ~3 s")
    return flip_n


def results(lab: Lab, eng: Engine, tmp: str, per_block: int, flip_n: int) -> None:
    pin = eng.pin_dir
    hdr(f"xdphc status --pin-path {pin} (trimmed)")
    lines = eng.run_once("status", "--pin-path", pin).stdout.splitlines()
    at = next((i for i, ln in enumerate(lines) if ln.startswith("BACKEND ")), len(lines))
    say("\n".join(lines[:at + 16]))
    d = eng.status()
    c = collections.Counter(b["reason"] for b in d["backends"] if b["state"] != "up")
    say(f"... {sum(c.values())} backends are not up in all; by reason: "
        + "  ".join(f"{r} {n}" for r, n in sorted(c.items())))

    hdr(f"xdphc show {UP_EXAMPLE} (up)")
    show(eng.cmd("show", UP_EXAMPLE, "--pin-path", pin))
    hdr(f"xdphc show {DOWN_EXAMPLE} (one of the {flip_n} flipped)")
    show(eng.cmd("show", DOWN_EXAMPLE, "--pin-path", pin))

    hdr(f"bpftool map dump pinned {pin}/status (first 25 lines)")
    show(["bpftool", "map", "dump", "pinned", f"{pin}/status"], head=25)
    say(f"... ({40 * per_block} entries, one per backend id; key.port and key.addr are in "
        "network byte order as in include/xdphc/abi.h: port 20480 is htons(80))")
    hdr(f"bpftool map lookup pinned {pin}/pools key 0 0 0 0 (pool id 0: web)")
    show(["bpftool", "map", "lookup", "pinned", f"{pin}/pools", "key", "0", "0", "0", "0"])
    hdr(f"bpftool map dump pinned {pin}/stats")
    show(["bpftool", "map", "dump", "pinned", f"{pin}/stats"])

    get = ("import urllib.request; print(urllib.request.urlopen("
           f"'http://{METRICS}/metrics').read().decode(), end='')")
    metrics = lab.prober_exec(["/usr/bin/python3", "-c", get], check=False).stdout
    ok = bool(metrics) and subprocess.run(["promtool", "check", "metrics"], input=metrics,
                                          capture_output=True, text=True).returncode == 0
    hdr(f"GET http://{METRICS}/metrics in {lab.prober_ns} (excerpt; promtool check metrics: "
        f"{'ok' if ok else 'FAILED'})")
    want = re.compile(r'^xdphc_(backends|pool_fail_open|transitions_total)\{|'
                      r'^xdphc_(probes_sent_total|rtt_seconds_count|rtt_seconds_sum)\{pool="web"')
    say("\n".join([ln for ln in metrics.splitlines() if want.match(ln)][:24]))
    say(f"... {sum(1 for ln in metrics.splitlines() if not ln.startswith('#'))} series in all, "
        "per pool, none per backend")

    events = os.path.join(tmp, "events.jsonl")
    hdr(f"event log {events} (one JSON line per state change; the last 3)")
    with open(events) as f:
        ev = f.read().splitlines()
    say("\n".join(ev[-3:]))
    say(f"... {len(ev)} lines")


def stop(eng: Engine) -> tuple[dict, dict, int]:
    """Stop the engine; (status before, status after, exit status)."""
    hdr("stopping the engine (SIGTERM)")
    running = eng.status()
    rc = stop_engine(eng)
    say(f"engine exit status {rc}; the pinned maps stay for consumers:")
    say(eng.run_once("status", "--pin-path", eng.pin_dir).stdout.split("\n", 1)[0])
    after = eng.status()
    log = eng.log().splitlines()
    say(f"{eng.log_path.name}: {len(log)} lines (past 50 state changes a second the log counts the rest "
        "instead of listing them); last 12 lines:")
    say("\n".join(log[-12:]))
    return running, after, rc


def stop_engine(eng: Engine) -> int:
    """SIGTERM, and SIGKILL after 5 s; the exit status."""
    try:
        return eng.stop(signal.SIGTERM, timeout=5)
    except EngineError:
        say(f"demo: engine pid {eng.proc.pid} ignored SIGTERM for 5 s: SIGKILL")
        return eng.proc.returncode


def truth(lab: Lab, per_block: int, running: dict, after: dict) -> bool:
    """Every backend's state in the pins against connect() to its health port.

    Measured after the stop: while the engine runs, its XDP_TX frames share
    the veth's 256-frame ring with the prober namespace's own kernel packets,
    and a burst of 1,024 parallel connect()s then loses SYNs (seen here: ~20 %
    of them)."""
    hdr(f"lab truth: connect() from {lab.prober_ns} to every backend's health port")
    eng = {(b["address"], b["port"]): b for b in after["backends"]}
    before = {(b["address"], b["port"]): b["state"] for b in running["backends"]}
    changed = sum(before.get(k) != b["state"] for k, b in eng.items())
    say(f"pins after the stop: {len(eng)} backends, {changed} states differ from the last"
        f" snapshot of the running engine")
    targets = {}
    for name in POOLS:
        for b in backends(name, per_block):
            a, p = b.rsplit(":", 1)
            targets[(a, int(p))] = (name, (a, HEALTH_PORT.get(name, int(p))))
    res = lab.connect_check_many({t for _, t in targets.values()}, timeout=0.5, parallel=1024)
    say("connect(): " + ", ".join(f"{n} {k}" for k, n in
                                  sorted(collections.Counter(res.values()).items())))
    bad, per_pool = [], collections.defaultdict(lambda: [0, 0, 0, 0])
    for key, (name, probe) in sorted(targets.items()):
        want = "up" if res[probe] == "open" else "down"
        got = eng.get(key, {}).get("state", "missing")
        pp = per_pool[name]
        pp[0 if want == "up" else 1] += 1
        pp[2 if got == "up" else 3] += got in ("up", "down")
        if want != got:
            bad.append(f"  {key[0]}:{key[1]} ({name}): lab {res[probe]} -> {want}, engine {got}")
    summ = {p["name"]: p for p in after["pools"]}
    for name, (wu, wd, gu, gd) in per_pool.items():
        s = summ[name]
        ok = (wu, wd) == (gu, gd) == (s["up"], s["down"]) and s["unknown"] == 0
        say(f"  {name:<7} lab {wu:>5} up / {wd:>5} down   engine backends {gu:>5}/{gd:>5}"
            f"   pools map {s['up']:>5}/{s['down']:>5}/{s['unknown']} unknown"
            f"   {'ok' if ok else 'MISMATCH'}")
        if not ok and not bad:
            bad.append(f"  pool {name}: pools-map summary disagrees with the backends")
    up = sum(v[0] for v in per_pool.values())
    down = sum(v[1] for v in per_pool.values())
    if bad:
        say(f"lab truth: {up} up / {down} down — ENGINE DISAGREES on {len(bad)}:")
        say("\n".join(bad[:15] + ([f"  ... {len(bad) - 15} more"] if len(bad) > 15 else [])))
        return False
    say(f"lab truth: {up} up / {down} down — engine agrees (all {len(targets)} backends)")
    return True


def demo(lab: Lab, eng: Engine, tmp: str, run_secs: int, per_block: int) -> bool:
    """The demo proper; True if the engine agrees with the lab and exited 0."""
    P = per_block
    hdr(f"lab: {40 * P} kernel TCP backends in 198.18.0.0/16")
    say(f"namespaces {lab.prober_ns} (prober, {lab.prober_if} {lab.prober_ip}) and "
        f"{lab.backend_ns}")
    say(f"backend ns: 198.18.0.0/16 local, listener on :80 only, SYNs to {DROP_START} dropped")

    for name in POOLS:
        with open(os.path.join(tmp, f"{name}.txt"), "w") as f:
            f.write("".join(b + "\n" for b in backends(name, P)))
    check = {"interval": "1s", "timeout": "500ms", "healthy_threshold": 3,
             "unhealthy_threshold": 2}
    eng.configure([pool(name, backends_file=f"{name}.txt", **check,
                        **({"port": HEALTH_PORT[name]} if name in HEALTH_PORT else {}))
                   for name in POOLS],
                  metrics_listen=METRICS, event_log=os.path.join(tmp, "events.jsonl"))
    say(f"config {eng.config_path}:")
    say(f"  {'web':<7} {24 * P:5d} x :80 listening + {2 * P:4d} x :81 closed    "
        "(198.18.0-23.x, 198.18.32-33.x)")
    say(f"  {'api':<7} {8 * P:5d} x :80 listening + {4 * P:4d} x :80 dropped   "
        "(198.18.24-31.x, 198.18.40-43.x)")
    say(f"  {'legacy':<7} {2 * P:5d} x :80, health-checked on closed :81   (198.18.34-35.x)")
    say(f"  {40 * P} backends; every pool: interval 1s, timeout 500ms, healthy_threshold 3, "
        "unhealthy_threshold 2")

    flip_n = run_engine(lab, eng, run_secs, P)
    results(lab, eng, tmp, P, flip_n)
    running, after, rc = stop(eng)
    agrees = truth(lab, P, running, after)
    if rc != 0:
        print(f"demo: the engine exited with status {rc}", file=sys.stderr)
    return agrees and rc == 0


class Run:
    """What this run made, for the cleanup: the lab, its engine, the pin
    directory and the temp dir, each removed only if this run made it."""

    def __init__(self):
        self.lab: Lab | None = None
        self.eng: Engine | None = None
        self.pin: PinDir | None = None
        self.tmp: str | None = None
        self.done = False                       # the demo ran to its end

    def start(self, xdphc: str, sfx: str) -> None:
        preflight(xdphc, sfx)
        ensure_bpffs()
        pin = PinDir(sfx, prefix=DEMO_PIN_PREFIX)
        if os.path.exists(pin.path):
            raise Failed(f"{pin.path} already exists (left by another run?)")
        self.pin = pin
        self.tmp = tempfile.mkdtemp(prefix="xhc-demo.")
        self.lab = Lab(listen=[80], name=sfx, drop=[DROP_START])
        self.eng = Engine(self.lab, pin.path, self.tmp, binary=xdphc, close_grace=5)

    def cleanup(self) -> None:
        hdr("cleanup")
        eng, lab = self.eng, self.lab
        if eng is not None and eng.proc is not None and (eng.running() or not self.done):
            # running, or stopped by the lab on a signal
            say(f"engine stopped (exit status {stop_engine(eng)})")
        if lab is not None:
            try:
                lab.close()
                say(f"lab {lab.sfx} torn down ({lab.prober_ns}, {lab.backend_ns})")
            except Exception as e:                      # noqa: BLE001
                say(f"demo: tearing down lab {lab.sfx} failed ({e}); run: "
                    f"python3 tools/xhclab.py down {lab.sfx}")
        if self.pin is not None and os.path.isdir(self.pin.path):
            self.pin.remove()
            say(f"removed pin dir {self.pin.path}")
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)


def main() -> int:
    # SIGTERM ends the demo like Ctrl-C, through the cleanup.  The lab, made
    # later, first closes itself (and its engine) on either signal.
    def terminated(signum, frame):
        raise SystemExit(143)
    signal.signal(signal.SIGTERM, terminated)
    run = Run()
    rc = 1
    try:
        run_secs, per_block = settings()
        run.start(os.environ.get("XDPHC", XDPHC), f"dm{os.getpid():x}")
        ok = demo(run.lab, run.eng, run.tmp, run_secs, per_block)
        run.done = True
        say("RESULT: ok" if ok else
            "RESULT: FAILED (the engine's view differs from the lab, or it exited badly)")
        rc = 0 if ok else 1
    except Failed as e:
        print(f"demo: {e}", file=sys.stderr)
    except KeyboardInterrupt:
        print("\ndemo: interrupted, cleaning up", file=sys.stderr)
        rc = 130
    except SystemExit as e:
        print("\ndemo: terminated, cleaning up", file=sys.stderr)
        rc = e.code if isinstance(e.code, int) else 1
    finally:
        # a second Ctrl-C must not cut the cleanup short
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        run.cleanup()
        say(f"done in {time.monotonic() - T0:.1f} s")
    return rc


if __name__ == "__main__":
    sys.exit(main())
