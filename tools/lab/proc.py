# SPDX-License-Identifier: MIT
"""Commands and processes: run a command (errors as LabError), and find, check
and stop exactly the processes a lab started (pid plus start time, so that a
recycled pid is never signalled)."""
from __future__ import annotations

import contextlib
import ctypes
import os
import shlex
import signal
import subprocess
import time
from typing import Iterable, Sequence

_libc = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1


class LabError(RuntimeError):
    """A lab operation failed (the message names the command and its error)."""


def run(argv: Sequence[str], *, input: str | None = None, check: bool = True,
        timeout: float = 30.0) -> subprocess.CompletedProcess:
    """Run ARGV (text output captured); LabError if it is missing, times out or,
    with CHECK, exits non-zero."""
    try:
        cp = subprocess.run(list(argv), input=input, capture_output=True,
                            text=True, timeout=timeout)
    except FileNotFoundError as e:
        raise LabError(f"{argv[0]}: not installed ({e})") from None
    except subprocess.TimeoutExpired:
        raise LabError(f"timed out after {timeout}s: {shlex.join(argv)}") from None
    if check and cp.returncode != 0:
        raise LabError(f"command failed ({cp.returncode}): {shlex.join(argv)}: "
                       f"{(cp.stderr or cp.stdout).strip()}")
    return cp


def _stat_fields(pid: int) -> list[bytes] | None:
    """/proc/PID/stat from field 3 (state) on; None if the process is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    # comm may contain spaces and parentheses: split after the last ')'
    return data[data.rindex(b")") + 2:].split()


def proc_starttime(pid: int) -> int | None:
    """Start time (clock ticks since boot) of a process, None if it is gone."""
    rest = _stat_fields(pid)
    return int(rest[19]) if rest else None      # field 22 overall


def is_zombie(pid: int) -> bool:
    rest = _stat_fields(pid)
    return rest is None or rest[0] == b"Z"


def proc_alive(pid: int | None, starttime: int | None) -> bool:
    """PID runs (not a zombie) and, if STARTTIME is given, is the same process."""
    if not pid:
        return False
    st = proc_starttime(pid)
    return (st is not None and (starttime is None or st == starttime)
            and not is_zombie(pid))


def proc_cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


def pdeathsig() -> None:
    """preexec_fn: the child gets SIGKILL when its parent dies."""
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def kill_pids(pids: Iterable[tuple[int, int | None]], grace: float = 2.0) -> None:
    """SIGTERM, then SIGKILL, only processes whose start time still matches."""
    live = [(p, st) for p, st in pids if proc_alive(p, st)]
    for p, _ in live:
        with contextlib.suppress(ProcessLookupError):
            os.kill(p, signal.SIGTERM)
    for sig, wait in ((signal.SIGKILL, grace), (None, 1.0)):
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            for p, _ in live:
                with contextlib.suppress(ChildProcessError, OSError):
                    os.waitpid(p, os.WNOHANG)         # reap our own children
            live = [(p, st) for p, st in live if proc_alive(p, st)]
            if not live:
                return
            time.sleep(0.01)
        if sig is not None:
            for p, _ in live:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(p, sig)
