# SPDX-License-Identifier: MIT
"""The real xdphc engine in a lab, read the way an operator would: one
harness for the tests, the benchmark, scrape_check and the demo.

    eng = Engine(lab, pin_dir, workdir)
    eng.configure([pool("web", ["198.18.1.1:80"])], metrics_listen="127.0.0.1:9469")
    eng.start()                     # `xdphc run` via nsenter in the prober namespace
    eng.status()["pools"]           # `xdphc status --json`
    eng.bpftool_dump("pools")       # a pinned map as bpftool formats it
    eng.stop()                      # SIGTERM; its exit status

Configs are written by write_config() alone (python3-yaml's safe_dump)."""
from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path, PurePath

import yaml

from .names import build_path

XDPHC = build_path("xdphc")


class EngineError(RuntimeError):
    """The engine did not start, stop or answer as expected (with its log)."""


class _ConfigDumper(yaml.SafeDumper):
    """safe_dump, with paths written as strings."""


_ConfigDumper.add_multi_representer(
    PurePath, lambda d, p: d.represent_str(str(p)))


def write_config(path, **doc) -> Path:
    """Write the xdphc config DOC (keys in the order given) to PATH as YAML."""
    path = Path(path)
    path.write_text(yaml.dump(doc, Dumper=_ConfigDumper, sort_keys=False,
                              default_flow_style=False, allow_unicode=True))
    return path


def pool(name: str, backends=None, *, backends_file=None, **hc) -> dict:
    """A pool: a TCP health check (interval 1s, timeout 500ms, thresholds 2/2
    unless HC says otherwise) over a list of "addr:port" BACKENDS or a
    BACKENDS_FILE."""
    check = {"protocol": "tcp", "interval": "1s", "timeout": "500ms",
             "healthy_threshold": 2, "unhealthy_threshold": 2}
    check.update(hc)
    p = {"name": name, "healthcheck": check}
    if backends_file is not None:
        p["backends_file"] = backends_file
    if backends is not None or backends_file is None:
        p["backends"] = list(backends or [])
    return p


def ms(seconds: float) -> str:
    """A duration for the config: 0.25 -> "250ms"."""
    return f"{round(seconds * 1000)}ms"


class Engine:
    """xdphc bound to LAB's prober interface and PIN_DIR; its config and log
    are WORKDIR/NAME.yaml and WORKDIR/NAME.log. The lab closes it first when
    it closes (Lab.adopt), also on SIGINT/SIGTERM; close() kills a running
    engine, after CLOSE_GRACE seconds of SIGTERM if that is not 0."""

    def __init__(self, lab, pin_dir: str, workdir, *, binary: str = XDPHC,
                 name: str = "xdphc", close_grace: float = 0.0):
        self.bin = str(binary)
        self.close_grace = close_grace
        self.lab = lab
        self.pin_dir = pin_dir
        self.workdir = Path(workdir)
        self.config_path = self.workdir / f"{name}.yaml"
        self.log_path = self.workdir / f"{name}.log"
        self.proc: subprocess.Popen | None = None
        self._log = None
        self.log_offset = 0
        lab.adopt(self)

    # -- configuration -------------------------------------------------
    def configure(self, pools: list[dict], **top) -> Path:
        """Write the config: this lab's interface and pin dir, TOP, POOLS, and
        the state file in WORKDIR (last, so that no line above moves) unless
        TOP names one; state_file=None leaves the key out (an older engine
        does not know it)."""
        doc = {"interface": self.lab.prober_if, "pin_path": self.pin_dir, **top,
               "pools": pools}
        doc.setdefault("state_file", self.state_path)
        if doc["state_file"] is None:
            del doc["state_file"]
        return write_config(self.config_path, **doc)

    @property
    def state_path(self) -> Path:
        """Where the engine keeps its runtime changes, unless configured otherwise."""
        return self.workdir / f"{self.config_path.stem}.state"

    # -- process -------------------------------------------------------
    def cmd(self, *args: str) -> list[str]:
        """Argv of `xdphc ARGS` in the prober's network namespace."""
        return [*self.lab.nsenter_prefix(), self.bin, *args]

    def start(self, wait_for: str = "probing ", timeout: float = 10.0,
              env: dict | None = None) -> None:
        """`xdphc run`; returns once WAIT_FOR is in this run's log (the start
        line, by default), EngineError if it exits or takes longer.  ENV is
        added to the inherited environment (e.g. NOTIFY_SOCKET)."""
        self._close_log()
        self._log = open(self.log_path, "ab")
        self.log_offset = self._log.tell()
        self.proc = subprocess.Popen(self.cmd("run", "-c", str(self.config_path)),
                                     stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=self._log,
                                     env={**os.environ, **env} if env else None)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if wait_for in self.log(this_run=True):
                return
            if self.proc.poll() is not None:
                raise EngineError(f"xdphc exited with {self.proc.returncode}:\n{self.log()}")
            time.sleep(0.05)
        raise EngineError(f"xdphc did not start within {timeout}s:\n{self.log()}")

    def ready_s(self) -> float:
        """Start-up time the engine reports in its start line ("ready N s")."""
        m = re.search(r"\(ready ([0-9.]+) s after start\)", self.log(this_run=True))
        if not m:
            raise EngineError(f"no start line in the log:\n{self.log(this_run=True)[-2000:]}")
        return float(m.group(1))

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
        """Signal the engine and wait; its exit status. After TIMEOUT it is
        killed and EngineError says so."""
        if not self.running():
            self._close_log()
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise EngineError(f"xdphc (pid {self.proc.pid}) did not stop within {timeout}s "
                              f"of signal {sig}; killed:\n{self.log()[-3000:]}") from None
        finally:
            self._close_log()

    def _close_log(self) -> None:
        if self._log:
            self._log.close()
            self._log = None

    def log(self, this_run: bool = False) -> str:
        """The engine's stderr: of every start so far, or of the latest one."""
        try:
            data = self.log_path.read_bytes()
        except FileNotFoundError:
            return ""
        return (data[self.log_offset:] if this_run else data).decode(errors="replace")

    def run_once(self, *args: str, timeout: float = 30.0) -> subprocess.CompletedProcess:
        """Run a short xdphc command (e.g. status) in the prober namespace."""
        return subprocess.run(self.cmd(*args), capture_output=True, text=True,
                              timeout=timeout)

    def reload(self, timeout: float = 30.0) -> str:
        """SIGHUP; the engine's line that says how that reload ended: "reload:
        +A -R backends, ..." or "reload refused, ..."."""
        start = len(self.log(this_run=True))
        self.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = re.search(r"^.*(reload: \+|reload refused).*$",
                          self.log(this_run=True)[start:], re.M)
            if m:
                return m.group(0)
            if not self.running():
                raise EngineError(f"xdphc exited during a reload:\n{self.log()[-3000:]}")
            time.sleep(0.05)
        raise EngineError(f"no reload line within {timeout}s:\n{self.log()[-3000:]}")

    def control(self, *args: str) -> subprocess.CompletedProcess:
        """`xdphc ARGS --pin-path PIN_DIR`, e.g. control("backend", "add", "web",
        "10.0.0.1:80"): a command to the running engine's control socket."""
        return self.run_once(*args, "--pin-path", self.pin_dir)

    def pools(self) -> dict[str, dict]:
        """`xdphc pool list --json`, by pool name."""
        r = self.control("pool", "list", "--json")
        if r.returncode != 0:
            raise EngineError(f"xdphc pool list failed: {r.stderr}")
        return {p["name"]: p for p in json.loads(r.stdout.split("\n", 1)[1])["pools"]}

    # -- reading results -----------------------------------------------
    def status(self, pool: str | None = None, summary: bool = False) -> dict:
        """`xdphc status --json` (of one POOL; pools and stats only with SUMMARY)."""
        args = ["status", "--json", "--pin-path", self.pin_dir]
        if pool:
            args += ["--pool", pool]
        if summary:
            args.append("--summary")
        r = self.run_once(*args)
        if r.returncode != 0:
            raise EngineError(f"xdphc status failed: {r.stderr}")
        return json.loads(r.stdout)

    def states(self) -> dict[tuple[str, int], dict]:
        """Every backend's status entry, by (address, port)."""
        return {(b["address"], b["port"]): b for b in self.status()["backends"]}

    def wait_until(self, pred, timeout: float, what: str, poll: float = 0.1):
        """Polls pred(states) until true; returns (elapsed seconds, states)."""
        t0 = time.monotonic()
        while True:
            st = self.states()
            if pred(st):
                return time.monotonic() - t0, st
            if time.monotonic() - t0 > timeout:
                raise EngineError(f"timed out after {timeout}s waiting for {what}; "
                                  f"engine log tail:\n{self.log()[-3000:]}")
            time.sleep(poll)

    def wait_settled(self, timeout: float) -> dict:
        """Waits until no backend of any pool is unknown; the summary then."""
        end = time.monotonic() + timeout
        while True:
            s = self.status(summary=True)
            if all(p["unknown"] == 0 for p in s["pools"]):
                return s
            if time.monotonic() > end:
                raise EngineError(f"backends still unknown after {timeout}s:\n"
                                  f"{self.log()[-2000:]}")
            time.sleep(0.2)

    def xdp_attached(self) -> bool:
        out = self.lab.prober_exec(f"ip -d link show dev {self.lab.prober_if}").stdout
        return " xdp" in out or "prog/xdp" in out

    def bpftool_dump(self, name: str) -> list:
        """bpftool's BTF-formatted view of a pinned map ({"key":..,"value":..}
        with field names); fails if the map carries no BTF."""
        out = subprocess.run(["bpftool", "-j", "map", "dump", "pinned",
                              os.path.join(self.pin_dir, name)],
                             capture_output=True, text=True, check=True).stdout
        entries = json.loads(out)
        if not all("formatted" in e for e in entries):
            raise EngineError(f"bpftool printed raw bytes for {name}: the map has no BTF")
        return [e["formatted"] for e in entries]

    def close(self) -> None:
        """Stop a running engine (SIGTERM for close_grace seconds, then
        SIGKILL) and detach what a hard kill leaves on the interface
        (probe_rx). Idempotent."""
        if self.running() and self.close_grace:
            with contextlib.suppress(EngineError):
                self.stop(signal.SIGTERM, self.close_grace)
        if self.running():
            self.stop(signal.SIGKILL)
        self._close_log()
        # an engine killed hard leaves probe_rx attached: never leak it
        if not self.lab_closed():
            self.lab.prober_exec(f"ip link set dev {self.lab.prober_if} xdp off", check=False)
        self.lab.release(self)

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def lab_closed(self) -> bool:
        return not os.path.exists(f"/run/netns/{self.lab.prober_ns}")
