# SPDX-License-Identifier: MIT
"""The capabilities packaging/xdphc.service gives the engine are enough:
`xdphc run` under setpriv with exactly that bounding, inheritable and
ambient set (as root, like the unit, and with no_new_privs) starts, probes
and stops in a lab, and reserves ports in its netns.  Without CAP_BPF it
fails with its one message.  With CAP_SYS_PTRACE it names the process that
holds a source port even when that process has more capabilities than the
engine (CAP_DAC_READ_SEARCH would not do)."""
import re
import subprocess
import time
from pathlib import Path

from lab.engine import EngineError, pool

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "packaging" / "xdphc.service"


def unit_caps() -> list[str]:
    text = UNIT.read_text()
    bound = re.search(r"^CapabilityBoundingSet=(.*)$", text, re.M).group(1).split()
    ambient = re.search(r"^AmbientCapabilities=(.*)$", text, re.M).group(1).split()
    assert bound == ambient, (bound, ambient)
    assert "NoNewPrivileges=yes" in text
    return bound


def with_caps(engine, caps: list[str], tmp_path) -> None:
    """Make ENGINE run build/xdphc through setpriv with only CAPS."""
    spec = ",".join(["-all"] + ["+" + c.lower().removeprefix("cap_") for c in caps])
    wrap = tmp_path / "xdphc-caps"
    wrap.write_text("#!/bin/sh\n"
                    f"exec setpriv --no-new-privs --inh-caps={spec} --ambient-caps={spec} "
                    f"--bounding-set={spec} -- {engine.bin} \"$@\"\n")
    wrap.chmod(0o755)
    engine.bin = str(wrap)


def configure(engine):
    # 50000-50100 lies inside ip_local_port_range: the engine must also
    # write ip_local_reserved_ports of its netns
    lab = engine.lab
    engine.configure([pool("web", [f"{lab.addr(i)}:80" for i in range(4)]
                           + ["198.18.200.1:81"])], source_ports="50000-50100")


def test_unit_caps_start_and_probe(engine, tmp_path):
    caps = unit_caps()
    assert "CAP_SYS_ADMIN" not in caps
    with_caps(engine, caps, tmp_path)
    configure(engine)
    engine.start()
    st = open(f"/proc/{engine.proc.pid}/status").read()
    eff = int(re.search(r"^CapEff:\s*([0-9a-f]+)", st, re.M).group(1), 16)
    assert bin(eff).count("1") == len(caps), st
    s = engine.wait_settled(8)
    p = s["pools"][0]
    assert (p["up"], p["down"]) == (4, 1), s
    reserved = subprocess.run([*engine.lab.nsenter_prefix(), "sysctl", "-n",
                               "net.ipv4.ip_local_reserved_ports"],
                              capture_output=True, text=True, check=True).stdout
    assert "50000-50100" in reserved, reserved
    assert engine.stop() == 0


def test_without_cap_bpf_one_message(engine, tmp_path):
    with_caps(engine, [c for c in unit_caps() if c != "CAP_BPF"], tmp_path)
    configure(engine)
    try:
        engine.start()
    except EngineError:
        pass
    else:
        raise AssertionError("started without CAP_BPF")
    errs = [ln for ln in engine.log().splitlines() if " error: " in ln]
    assert len(errs) == 1 and "CAP_BPF" in errs[0], engine.log()


def test_port_owner_named_with_unit_caps(engine, tmp_path):
    with_caps(engine, unit_caps(), tmp_path)
    configure(engine)
    # a full-root process (more capabilities than the engine) holds a source port
    hold = subprocess.Popen([*engine.lab.nsenter_prefix(), "python3", "-c",
                             "import socket, time; s = socket.socket(); "
                             "s.bind(('0.0.0.0', 50050)); s.listen(); time.sleep(30)"])
    try:
        # wait for the bind: under load the interpreter takes a while to start
        deadline = time.monotonic() + 10
        while not engine.lab.prober_exec(["ss", "-Hltn", "sport = :50050"]).stdout.strip():
            assert time.monotonic() < deadline, "the holder never bound port 50050"
            time.sleep(0.1)
        try:
            engine.start()
        except EngineError:
            pass
        log = engine.log()
        assert f"owned by pid {hold.pid} (python3)" in log, log
    finally:
        hold.kill()
        hold.wait()
