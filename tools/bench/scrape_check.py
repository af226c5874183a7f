#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Does scraping /metrics slow the probe path?  1,000,000 simulated backends,
15 s without scrapes, then 15 s with /metrics fetched back to back from the
prober namespace; prints probe cycles/s, scrapes/s and the scheduler's lag
for both windows.  Run as root after `make`: python3 tools/bench/scrape_check.py
"""
import json
import os
import subprocess
import sys
import threading
import time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))
from lab import Lab, PinDir
from lab.names import build_path
from sim import BackendSim
XDPHC = build_path("xdphc")
BACKENDS, CFG, LOG = "/tmp/xhc-scrape-backends.txt", "/tmp/xhc-scrape.yaml", "/tmp/xhc-scrape.log"

with Lab(listen=[], backend_xdp=False) as lab, BackendSim(lab) as sim:
    with open(BACKENDS, "w") as f:
        for a in Lab.addrs(62500):
            for port in range(8000, 8016):
                f.write(f"{a}:{port}\n")
    with PinDir() as pin:
        open(CFG, "w").write(f"""interface: {lab.prober_if}
pin_path: {pin}
source_ports: 1024-32767
status_index: false
metrics_listen: 127.0.0.1:9469
pools:
  - name: sim
    backends_file: /tmp/sim_backends.txt
    healthcheck:
      interval: 1s
      timeout: 500ms
      healthy_threshold: 2
      unhealthy_threshold: 2
""")
        p = subprocess.Popen(lab.nsenter_prefix() + [XDPHC, "run", "-c", CFG], stderr=open(LOG, "w"))
        time.sleep(12)
        def window(label, secs, scrape):
            stop = threading.Event(); n = [0]; lat = []
            def loop():
                while not stop.is_set():
                    t = time.monotonic()
                    out = subprocess.run(["ip", "netns", "exec", lab.prober_ns, "/usr/bin/python3", "-c",
                        "import urllib.request,time\nfor i in range(20):\n t=time.monotonic(); urllib.request.urlopen('http://127.0.0.1:9469/metrics').read(); print(time.monotonic()-t)"],
                        capture_output=True, text=True).stdout.split()
                    lat.extend(float(x) for x in out); n[0] += len(out)
            c0 = sim.counters()["rst_rx"]; t0 = time.monotonic()
            th = threading.Thread(target=loop)
            if scrape: th.start()
            time.sleep(secs)
            stop.set()
            if scrape: th.join()
            dt = time.monotonic() - t0
            st = json.loads(subprocess.run([XDPHC, "status", "--json", "--summary", "--pin-path", pin], capture_output=True, text=True).stdout)["stats"]
            print(label, "cycles/s", round((sim.counters()["rst_rx"] - c0) / dt), "scrapes", n[0], "scrapes/s", round(n[0]/dt,1),
                  "p50 ms", round(sorted(lat)[len(lat)//2]*1000,2) if lat else None, "behind", st["sched_behind"], "transitions", st["transitions"])
        window("no scrapes  ", 15, False)
        window("scraping    ", 15, True)
        p.terminate(); p.wait()
