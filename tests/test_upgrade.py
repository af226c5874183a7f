# SPDX-License-Identifier: MIT
"""Upgrading the engine under a running load balancer (docs/ABI.md,
"Upgrading"): the engine and the example forwarder of map ABI version 2, built
from the project's history, forward real traffic; the version 3 engine takes
the pin directory over, and the version 2 forwarder keeps forwarding on the
maps it holds, frozen; then the version 3 forwarder replaces it and follows
the new maps."""
import fcntl
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from lab import bpf
from lab.engine import Engine, pool
from lab.names import LB_PIN_PREFIX
from lb_forwarder import EngineMismatch, Forwarder, read_meta
from lb_forwarder.flows import Flows

ROOT = Path(__file__).resolve().parent.parent
# The last commit of map ABI version 2: the parent of 1af60d1, which began version 3.
V2_COMMIT = "532dfd0b25846bd5b55d6384b0e93756a988aa67"
V2_BUILD = ROOT / "build" / "abi2"       # its xdphc and lb_forwarder.bpf.o, kept for reruns
BACKENDS = [f"198.18.1.{i}" for i in range(1, 5)]
VIP, VIP_PORT = "198.19.253.10", 5000
PPS = 2000                  # packets a second while an engine or forwarder is replaced


def _git(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, **kw)


def build_v2() -> Path:
    """V2_BUILD/xdphc and V2_BUILD/lb_forwarder.bpf.o, built once from
    V2_COMMIT with that commit's own Makefile (a git archive of it, not a
    worktree: the repository is only read)."""
    want = [V2_BUILD / "xdphc", V2_BUILD / "lb_forwarder.bpf.o"]
    V2_BUILD.parent.mkdir(exist_ok=True)
    with open(V2_BUILD.parent / "abi2.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)          # parallel runs build it once
        stamp = V2_BUILD / "commit"
        if all(p.exists() for p in want) and stamp.exists() and \
                stamp.read_text().strip() == V2_COMMIT:
            return V2_BUILD
        if _git("cat-file", "-e", f"{V2_COMMIT}^{{commit}}").returncode != 0:
            pytest.fail(f"the ABI 2 engine is built from commit {V2_COMMIT}, which is not in "
                        f"{ROOT}: this test needs the project's git history (a clone "
                        f"without --depth)", pytrace=False)
        with tempfile.TemporaryDirectory(dir=V2_BUILD.parent, prefix="abi2-") as tmp:
            src, out = Path(tmp) / "src", Path(tmp) / "out"
            src.mkdir()
            out.mkdir()
            archive = _git("archive", "--format=tar", V2_COMMIT)
            assert archive.returncode == 0, archive.stderr.decode()
            subprocess.run(["tar", "-x", "-C", str(src)], input=archive.stdout, check=True)
            env = {k: v for k, v in os.environ.items()
                   if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
            r = subprocess.run(["make", "-C", str(src), f"-j{os.cpu_count() or 2}",
                                "build/xdphc", "build/tools/lb_forwarder.bpf.o"],
                               capture_output=True, text=True, env=env, timeout=600)
            if r.returncode != 0:
                pytest.fail(f"building the ABI 2 engine ({V2_COMMIT}) failed:\n"
                            f"{r.stdout[-2000:]}\n{r.stderr[-3000:]}", pytrace=False)
            shutil.copy2(src / "build" / "xdphc", out / "xdphc")
            shutil.copy2(src / "build" / "tools" / "lb_forwarder.bpf.o", out)
            (out / "commit").write_text(V2_COMMIT + "\n")
            shutil.rmtree(V2_BUILD, ignore_errors=True)
            out.rename(V2_BUILD)
    return V2_BUILD


@pytest.fixture(scope="module")
def v2() -> Path:
    return build_v2()


def web() -> dict:
    return pool("web", [f"{a}:80" for a in BACKENDS], interval="500ms", timeout="200ms")


def wait_states(eng, want: dict[str, str], timeout: float = 8.0) -> dict:
    return eng.wait_until(lambda st: all(st.get((a, 80), {}).get("state") == s
                                         for a, s in want.items()),
                          timeout, f"states {want}")[1]


def load_v2_forwarder(lab, pin_dir: str, obj: Path) -> bpf.XdpTool:
    """The ABI 2 forwarder, loaded the way its own loader did (bpftool, the
    engine's pools, pool_up and status reused, every map pinned in the
    forwarder's directory), with the VIP and the engine's probe_rx put in."""
    fwd = bpf.XdpTool(lab.sfx, LB_PIN_PREFIX, str(obj), lab.prober_ns, lab.prober_if,
                      maps=("vips", "xdphc_chain"),
                      reuse={m: f"{pin_dir}/{m}" for m in ("pools", "pool_up", "status")})
    try:
        bpf.update(fwd.fd("vips"), socket.inet_aton(VIP) + struct.pack("!H", VIP_PORT) +
                   bytes([socket.IPPROTO_UDP, 0]), struct.pack("<I", 0))
        prog = bpf.obj_get(f"{pin_dir}/probe_rx")
        try:
            bpf.update(fwd.fd("xdphc_chain"), struct.pack("<I", 0), struct.pack("<I", prog))
        finally:
            os.close(prog)
    except BaseException:
        fwd.close()
        raise
    return fwd


def pinned_id(path: str) -> int:
    fd = bpf.obj_get(path)
    try:
        return bpf.map_info(fd).id
    finally:
        os.close(fd)


def test_a_running_forwarder_survives_the_upgrade_from_abi_2(lab, engine, v2, tmp_path):
    lab.backend_exec(["ip", "route", "add", "198.19.253.0/24", "via", lab.prober_ip])
    pin = engine.pin_dir
    old = Engine(lab, pin, tmp_path, binary=v2 / "xdphc", name="xdphc-v2")
    flows = Flows(lab, BACKENDS, VIP, VIP_PORT)
    old_lb = fwd = None
    try:
        # ABI 2: its engine and its forwarder, forwarding.
        old.configure([web()], xdp_attach="tail_call", state_file=None)
        old.start()
        old_lb = load_v2_forwarder(lab, pin, v2 / "lb_forwarder.bpf.o")
        wait_states(old, {a: "up" for a in BACKENDS})
        first = flows.send(100)
        assert set(first.values()) == set(BACKENDS)
        v2_status = pinned_id(f"{pin}/status")

        # A forwarder of ABI 3 refuses ABI 2 maps, and the running one stays.
        with pytest.raises(EngineMismatch, match="ABI version 2"):
            Forwarder(lab, pin, takeover=True)
        assert flows.resend(list(first)) == first

        # The ABI 3 engine replaces the ABI 2 one on the same pin_path, while
        # packets flow: the old forwarder keeps forwarding on the maps it
        # holds (its flows stay put: those maps no longer change), and the
        # states carry over: no backend goes back to unknown.
        chain = f"{bpf.tool_pin_dir(lab.sfx, LB_PIN_PREFIX)}/xdphc_chain"
        with flows.stream(list(first), pps=PPS) as s:
            time.sleep(0.2)
            assert old.stop() == 0
            engine.configure([web()], xdp_attach="tail_call", tail_call_map=chain)
            engine.start()
            st = engine.states()
            time.sleep(0.2)
        assert not s.lost, f"{len(s.lost)} of {len(s.sent)} packets lost across the upgrade"
        assert all(len(b) == 1 for b in s.backends.values()), "flows kept their backends"
        assert {a: st[(a, 80)]["state"] for a in BACKENDS} == {a: "up" for a in BACKENDS}
        assert "kept the last known state of 4 backends" in engine.log(this_run=True)
        meta = read_meta(pin)
        assert meta["abi_version"] == 3 and meta["running"] == 1
        assert pinned_id(f"{pin}/status") != v2_status, "new maps pinned over the old"

        # Frozen: the new engine sees a backend fail, the old forwarder cannot.
        victim = BACKENDS[0]
        lab.drop_add([victim])
        wait_states(engine, {victim: "down"})
        time.sleep(0.3)         # stats are published every 100 ms
        assert engine.status()["stats"]["transitions"] == 1, "the only change: the victim"
        assert victim in flows.send(100).values(), "the ABI 2 forwarder reads frozen maps"

        # The ABI 3 forwarder takes over from the running one in one step,
        # keeping the VIPs and the chain (it links the engine's probe_rx).
        with flows.stream(list(first), pps=PPS) as s:
            time.sleep(0.2)
            fwd = Forwarder(lab, pin, takeover=True)
            time.sleep(0.2)
        old_lb.release()
        assert not s.lost, f"{len(s.lost)} of {len(s.sent)} packets lost at the takeover"
        assert {"vips", "xdphc_chain"} <= fwd.kept and "flows" not in fwd.kept
        new = flows.send(200)
        assert set(new.values()) == set(BACKENDS) - {victim}, "it follows the new maps"

        # New state changes reach it, and probe replies reach the engine through it.
        lab.drop_del([victim])
        wait_states(engine, {victim: "up"})
        assert set(flows.send(200).values()) == set(BACKENDS)
        assert flows.resend(list(new)) == new, "flows stay on their backends"
        assert fwd.counters()["chained"] > 0
    finally:
        flows.close()
        if fwd:
            fwd.close()
        if old_lb:
            old_lb.close()
        old.close()
