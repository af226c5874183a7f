# SPDX-License-Identifier: MIT
"""Shared pytest fixtures: a fresh namespace lab per test, the engine binary,
and a unique bpffs pin directory per test."""
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT / "tests"))

from lab import Lab, PinDir, ensure_bpffs  # noqa: E402
from lab.engine import Engine  # noqa: E402


def pytest_configure(config):
    if os.geteuid() != 0:
        pytest.exit("the xdphc tests build network namespaces and load BPF: run them as root",
                    returncode=2)


@pytest.fixture
def lab():
    """A fresh lab (prober ns + backend ns, veth, GRO on) with a kernel
    listener on port 80; torn down after the test."""
    with Lab(listen=[80]) as lab:
        yield lab


@pytest.fixture
def xdphc_bin() -> str:
    """Absolute path of build/xdphc; fails (does not skip) if it was not built."""
    p = ROOT / "build" / "xdphc"
    if not p.is_file() or not os.access(p, os.X_OK):
        pytest.fail(f"{p} does not exist or is not executable: run `make` first")
    return str(p)


@pytest.fixture
def pin_dir():
    """A unique, not yet created pin directory /sys/fs/bpf/xhc-test-<sfx>
    (bpffs is mounted on /sys/fs/bpf if it was not); everything pinned under it
    is unlinked and the directory removed after the test."""
    ensure_bpffs()
    d = PinDir()
    try:
        yield d.path
    finally:
        d.remove()


@pytest.fixture
def engine(lab, xdphc_bin, pin_dir, tmp_path):
    """An xdphc engine bound to this test's lab and pin directory (not started)."""
    e = Engine(lab, pin_dir, tmp_path, binary=xdphc_bin)
    try:
        yield e
    finally:
        e.close()


@pytest.fixture
def svc(lab, tmp_path):
    """Private nginx, redis-server and TCP services (tools/lab/services.py) in
    this test's lab, their files under tmp_path; the lab must leave their
    ports free (a test module overrides `lab`, e.g. Lab(listen=[9000]))."""
    from lab.services import Services
    with Services(lab, tmp_path / "svc").start() as s:
        yield s
