#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Does scraping /metrics slow the probe path?  1,000,000 simulated backends,
15 s without scrapes, then 15 s with /metrics fetched back to back from the
prober namespace; prints probe cycles/s, scrapes/s and the scheduler's lag
for both windows.  Run as root after `make`: python3 tools/bench/scrape_check.py
"""
import os
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))
from lab import Lab, PinDir                                    # noqa: E402
from lab.engine import Engine, pool                            # noqa: E402
from sim import BackendSim                                     # noqa: E402

METRICS = "127.0.0.1:9469"
# 20 scrapes a process, each one's seconds on a line of its own
SCRAPES = ("import time, urllib.request\n"
           "for i in range(20):\n"
           "    t = time.monotonic()\n"
           f"    urllib.request.urlopen('http://{METRICS}/metrics').read()\n"
           "    print(time.monotonic() - t)\n")


def window(lab: Lab, eng: Engine, sim: BackendSim, label: str, secs: float,
           scrape: bool) -> None:
    stop, lat = threading.Event(), []

    def loop():
        while not stop.is_set():
            out = lab.prober_exec(["/usr/bin/python3", "-c", SCRAPES], check=False).stdout
            lat.extend(float(x) for x in out.split())
    c0, t0 = sim.counters()["rst_rx"], time.monotonic()
    th = threading.Thread(target=loop)
    if scrape:
        th.start()
    time.sleep(secs)
    stop.set()
    if scrape:
        th.join()
    dt = time.monotonic() - t0
    st = eng.status(summary=True)["stats"]
    print(label, "cycles/s", round((sim.counters()["rst_rx"] - c0) / dt), "scrapes", len(lat),
          "scrapes/s", round(len(lat) / dt, 1),
          "p50 ms", round(sorted(lat)[len(lat) // 2] * 1000, 2) if lat else None,
          "behind", st["sched_behind"], "transitions", st["transitions"], flush=True)


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="xhc-scrape-") as tmp, \
            Lab(listen=[], backend_xdp=False) as lab, BackendSim(lab) as sim, \
            PinDir() as pin:
        backends = os.path.join(tmp, "backends.txt")
        with open(backends, "w") as f:
            for a in Lab.addrs(62500):
                for port in range(8000, 8016):
                    f.write(f"{a}:{port}\n")
        with Engine(lab, pin, tmp, close_grace=30) as eng:
            eng.configure([pool("sim", backends_file=backends)],
                          source_ports="1024-32767", status_index=False, metrics_listen=METRICS)
            eng.start(timeout=30)
            eng.wait_settled(30)
            time.sleep(2)                   # past the first intervals' catch-up
            window(lab, eng, sim, "no scrapes  ", 15, False)
            window(lab, eng, sim, "scraping    ", 15, True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
