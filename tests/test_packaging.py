"""Packaging test: every header the build reads comes from a Debian package
that `make deps` installs (DEB_PACKAGES and what they Depend on, or the base
system), and no BPF object reads a glibc header.

The compiler lists each source's headers (-M; -MG because skeletons are
generated), `dpkg -S` names their packages, and the dpkg status database
gives the Depends/Pre-Depends closure of DEB_PACKAGES.  Recommends do not
count: `make deps` installs with --no-install-recommends.  The compilers and
flags are read from the Makefile, so the test follows it.

Runs without root and without a lab: `make check` runs it with --noconftest.
"""
import glob
import os
import re
import shlex
import subprocess
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DPKG_STATUS = "/var/lib/dpkg/status"

# glibc's headers by path, for names -MG could not resolve (e.g. the
# gnu/stubs-32.h that only libc6-dev-i386 has) and as a second check.
GLIBC_PATH = re.compile(
    r"^(/usr/include/([^/]+-linux-gnu[^/]*/)?)?"
    r"(bits|gnu|sys|net|netinet|netpacket|arpa|rpc)/"
    r"|^/usr/include/(assert|ctype|endian|errno|fcntl|features|inttypes|limits|signal|"
    r"stdc-predef|stdint|stdio|stdlib|string|strings|time|unistd)\.h$")
GLIBC_PACKAGES = re.compile(r"^libc6-dev(-.*)?$")


@lru_cache(maxsize=None)
def make_var(name: str) -> str:
    """The value of a Makefile variable, as make expands it."""
    r = subprocess.run(
        ["make", "-s", "--no-print-directory", "-f", "Makefile", "-f", "-", f"print-{name}"],
        input="print-%:\n\t@:$(info $($*))\n", cwd=ROOT, capture_output=True, text=True,
        check=True)
    return r.stdout.strip()


def make_words(name: str) -> list:
    return shlex.split(make_var(name))


def sources() -> list:
    """(kind, path relative to ROOT) of every source the packaging covers."""
    def rel(pattern):
        return sorted(str(Path(p).relative_to(ROOT))
                      for p in glob.glob(str(ROOT / pattern), recursive=True))
    out = [("bpf", p) for p in sorted(set(rel("bpf/**/*.bpf.c") + rel("tools/**/*.bpf.c")))]
    out += [("user", p) for p in rel("user/*.c") + rel("tests/unit/*.c")]
    out += [("fuzz", p) for p in rel("tests/fuzz/*.c")]
    return out


def compile_cmd(kind: str, src: str) -> list:
    if kind == "bpf":
        cmd = make_words("CLANG") + make_words("BPF_CFLAGS")
    elif kind == "fuzz":
        cmd = make_words("CLANG") + make_words("CFLAGS") + make_words("FUZZ_FLAGS")
    else:
        cmd = make_words("CC") + make_words("CFLAGS")
    return cmd + ["-M", "-MG", src]


@lru_cache(maxsize=None)
def dependencies(kind: str, src: str) -> tuple:
    """The files the compiler reads for src, as it names them."""
    r = subprocess.run(compile_cmd(kind, src), cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, f"{src}: the compiler failed listing headers:\n{r.stderr}"
    rule = r.stdout.replace("\\\n", " ")
    deps = rule.split(":", 1)[1].split()
    return tuple(d for d in deps if d != src)


def classify(dep: str):
    """('tree', path) for the project's own files, ('generated', name) for a
    skeleton not built yet, ('missing', name) for a header found nowhere,
    ('system', path) for everything else."""
    p = Path(dep) if dep.startswith("/") else ROOT / dep
    if p.exists():
        real = Path(os.path.realpath(p))
        if real == ROOT or ROOT in real.parents:
            return "tree", dep
        return "system", os.path.normpath(str(p))
    if dep.endswith(".skel.h"):
        return "generated", dep
    return "missing", dep


def spellings(path: str) -> list:
    """How dpkg may know a file: as named, through symlinks, and on either
    side of the /usr merge (/lib/x is /usr/lib/x)."""
    out = []
    for p in (os.path.normpath(path), os.path.realpath(path)):
        alt = p[4:] if p.startswith("/usr/") else "/usr" + p
        for q in (p, alt):
            if q not in out:
                out.append(q)
    return out


def dpkg_owners(paths) -> dict:
    """path -> set of packages owning it (any spelling), from `dpkg -S`."""
    found = {}
    r = subprocess.run(["dpkg", "-S"] + list(paths), capture_output=True, text=True)
    for line in r.stdout.splitlines():
        if line.startswith(("diversion by", "local diversion")):
            continue
        pkgs, sep, path = line.partition(": /")
        if not sep:
            continue
        names = {p.strip().split(":")[0] for p in pkgs.split(",")}
        found.setdefault("/" + path, set()).update(names)
    return found


_OWNERS = {}


def prime_owners(paths):
    """One `dpkg -S` for all paths at once; misses are retried one by one."""
    for path, pkgs in dpkg_owners(sorted(set(paths))).items():
        _OWNERS[path] = frozenset(pkgs)


def owners(path: str) -> frozenset:
    if path not in _OWNERS:
        _OWNERS[path] = frozenset(p for pkgs in dpkg_owners(spellings(path)).values()
                                  for p in pkgs)
    return _OWNERS[path]


# ---- the dpkg status database ---------------------------------------------

def parse_status(text: str) -> dict:
    """Installed packages: name -> {priority, essential, depends, provides}."""
    pkgs = {}
    for stanza in text.split("\n\n"):
        fields, last = {}, None
        for line in stanza.splitlines():
            if line[:1] in (" ", "\t") and last:
                fields[last] += " " + line.strip()
            elif ":" in line:
                last, _, value = line.partition(":")
                fields[last] = value.strip()
        if not fields.get("Status", "").endswith(" installed"):
            continue
        p = pkgs.setdefault(fields["Package"], {"priority": "", "essential": False,
                                                "depends": [], "provides": set()})
        p["priority"] = fields.get("Priority", p["priority"])
        p["essential"] |= fields.get("Essential") == "yes"
        for key in ("Pre-Depends", "Depends"):
            p["depends"] += [alt_names(g) for g in split_deps(fields.get(key, ""))]
        p["provides"] |= {n for g in split_deps(fields.get("Provides", ""))
                          for n in alt_names(g)}
    return pkgs


def split_deps(value: str) -> list:
    return [g.strip() for g in value.split(",") if g.strip()]


def alt_names(group: str) -> list:
    """'a (>= 1) | b:any' -> ['a', 'b']"""
    return [re.split(r"[\s(:\[]", alt.strip(), maxsplit=1)[0] for alt in group.split("|")]


@lru_cache(maxsize=None)
def status() -> dict:
    with open(DPKG_STATUS, encoding="utf-8", errors="replace") as f:
        return parse_status(f.read())


def providers(pkgs: dict) -> dict:
    out = {}
    for name, p in pkgs.items():
        for v in p["provides"]:
            out.setdefault(v, set()).add(name)
    return out


def resolve(name: str, pkgs: dict, prov: dict) -> set:
    """The installed package(s) that satisfy name: itself, or its providers."""
    if name in pkgs:
        return {name}
    return set(prov.get(name, ()))


def closure(roots, pkgs: dict) -> set:
    """Depends/Pre-Depends closure; of alternatives, the first installed one."""
    prov = providers(pkgs)
    seen, todo = set(), []
    for r in roots:
        todo += resolve(r, pkgs, prov)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for group in pkgs[name]["depends"]:
            for alt in group:
                chosen = resolve(alt, pkgs, prov)
                if chosen:
                    todo += chosen
                    break
    return seen


def base_system(pkgs: dict) -> set:
    return {n for n, p in pkgs.items()
            if p["essential"] or p["priority"] in ("required", "important")}


@lru_cache(maxsize=None)
def allowed() -> frozenset:
    pkgs = status()
    return frozenset(closure(make_words("DEB_PACKAGES"), pkgs) |
                     closure(base_system(pkgs), pkgs))


# ---- the tests --------------------------------------------------------------

SOURCES = sources()
BPF_SOURCES = [s for k, s in SOURCES if k == "bpf"]


@pytest.fixture(scope="module", autouse=True)
def list_headers_once():
    """Run the compilers side by side and dpkg once: a few seconds, not ten."""
    for name in ("CC", "CLANG", "CFLAGS", "BPF_CFLAGS", "FUZZ_FLAGS"):
        make_var(name)
    def deps_or_none(kind_src):
        try:
            return dependencies(*kind_src)
        except AssertionError:
            return ()  # reported by the source's own test
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        all_deps = list(pool.map(deps_or_none, SOURCES))
    prime_owners(path for deps in all_deps for cls, path in map(classify, deps)
                 if cls == "system")


def test_sources_found():
    kinds = {k for k, _ in SOURCES}
    assert {"bpf", "user"} <= kinds, f"no sources found under {ROOT}"


def test_deb_packages_installed():
    pkgs, prov = status(), providers(status())
    missing = [n for n in make_words("DEB_PACKAGES") if not resolve(n, pkgs, prov)]
    if missing:
        pytest.fail(f"DEB_PACKAGES not installed (run `make deps`): {missing}", pytrace=False)


@pytest.mark.parametrize("kind,src", SOURCES, ids=[s for _, s in SOURCES])
def test_headers_come_from_deb_packages(kind, src):
    ok = allowed()
    problems = []
    for dep in dependencies(kind, src):
        cls, path = classify(dep)
        if cls in ("tree", "generated"):
            continue
        if cls == "missing":
            problems.append(f"{dep}: not found on this system (no package provides it)")
            continue
        own = owners(path)
        if not own:
            problems.append(f"{path}: owned by no Debian package")
        elif not own & ok:
            problems.append(f"{path}: from {', '.join(sorted(own))}, which DEB_PACKAGES "
                            f"does not pull in (Depends/Pre-Depends) nor the base system")
    if problems:
        pytest.fail(f"{src}:\n  " + "\n  ".join(problems), pytrace=False)


@pytest.mark.parametrize("src", BPF_SOURCES)
def test_bpf_objects_use_no_glibc_header(src):
    """BPF objects build from kernel UAPI and libbpf headers alone: glibc's
    headers assume the host ABI, and for -target bpf they want the 32-bit
    stubs (gnu/stubs-32.h) that only libc6-dev-i386 ships."""
    bad = []
    for dep in dependencies("bpf", src):
        cls, path = classify(dep)
        if cls == "tree":
            continue
        own = owners(path) if cls == "system" else frozenset()
        if GLIBC_PATH.search(path) or any(GLIBC_PACKAGES.match(p) for p in own):
            bad.append(f"{path}" + (f" ({', '.join(sorted(own))})" if own else ""))
    if bad:
        pytest.fail(f"{src} reads glibc headers:\n  " + "\n  ".join(bad), pytrace=False)
