"""Runs the real xdphc engine inside a lab's prober namespace and reads what
it publishes, the way an operator would: `xdphc status --json` and bpftool."""
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import yaml_lite


class Engine:
    def __init__(self, binary: str, lab, pin_dir: str, workdir: Path):
        self.bin = binary
        self.lab = lab
        self.pin_dir = pin_dir
        self.workdir = Path(workdir)
        self.proc = None
        self.log_path = self.workdir / "engine.log"
        self.config_path = self.workdir / "xdphc.yaml"

    # -- configuration -------------------------------------------------
    def configure(self, pools: list[dict], **top) -> Path:
        """pools: [{"name":..., "healthcheck": {...}, "backends": [...]}]"""
        doc = {"interface": self.lab.prober_if, "pin_path": self.pin_dir}
        doc.update(top)
        doc["pools"] = pools
        self.config_path.write_text(yaml_lite.dump(doc))
        return self.config_path

    # -- process -------------------------------------------------------
    def cmd(self, *args: str) -> list[str]:
        return [*self.lab.nsenter_prefix(), self.bin, *args]

    def start(self, wait_for: str = "probing ", timeout: float = 10.0) -> None:
        self._log = open(self.log_path, "ab")
        self.log_offset = self._log.tell()
        self.proc = subprocess.Popen(self.cmd("run", "-c", str(self.config_path)),
                                     stdout=self._log, stderr=self._log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if wait_for in self.log(this_run=True):
                return
            if self.proc.poll() is not None:
                raise AssertionError(f"xdphc exited with {self.proc.returncode}:\n{self.log()}")
            time.sleep(0.05)
        raise AssertionError(f"xdphc did not start within {timeout}s:\n{self.log()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
        if not self.proc or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"xdphc did not stop within {timeout}s:\n{self.log()}")
        self._log.close()
        return rc

    def log(self, this_run: bool = False) -> str:
        """The engine's stderr: of every start so far, or of the latest one."""
        try:
            data = self.log_path.read_bytes()
            if this_run:
                data = data[getattr(self, "log_offset", 0):]
            return data.decode(errors="replace")
        except FileNotFoundError:
            return ""

    def run_once(self, *args: str, timeout: float = 30.0) -> subprocess.CompletedProcess:
        """Run a short xdphc command (e.g. status) in the prober namespace."""
        return subprocess.run(self.cmd(*args), capture_output=True, text=True,
                              timeout=timeout)

    # -- reading results -----------------------------------------------
    def status(self, pool: str | None = None) -> dict:
        args = ["status", "--json", "--pin-path", self.pin_dir]
        if pool:
            args += ["--pool", pool]
        r = self.run_once(*args)
        assert r.returncode == 0, f"xdphc status failed: {r.stderr}"
        return json.loads(r.stdout)

    def states(self) -> dict[tuple[str, int], dict]:
        return {(b["address"], b["port"]): b for b in self.status()["backends"]}

    def wait_until(self, pred, timeout: float, what: str, poll: float = 0.1):
        """Polls pred(states) until true; returns (elapsed seconds, states)."""
        t0 = time.monotonic()
        while True:
            st = self.states()
            if pred(st):
                return time.monotonic() - t0, st
            if time.monotonic() - t0 > timeout:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}; "
                                     f"engine log tail:\n{self.log()[-3000:]}")
            time.sleep(poll)

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
        assert all("formatted" in e for e in entries), \
            f"bpftool printed raw bytes for {name}: the map has no BTF"
        return [e["formatted"] for e in entries]

    def close(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.stop(signal.SIGKILL if self.proc.poll() is None else signal.SIGTERM)
        # an engine killed hard leaves probe_rx attached: never leak it past a test
        if self.lab and not self.lab_closed():
            self.lab.prober_exec(f"ip link set dev {self.lab.prober_if} xdp off",
                                 check=False)

    def lab_closed(self) -> bool:
        return not os.path.exists(f"/run/netns/{self.lab.prober_ns}")


def pool(name: str, backends: list[str], **hc) -> dict:
    check = {"protocol": "tcp", "interval": "1s", "timeout": "500ms",
             "healthy_threshold": 2, "unhealthy_threshold": 2}
    check.update(hc)
    return {"name": name, "healthcheck": check, "backends": backends}
