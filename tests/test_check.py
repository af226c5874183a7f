# SPDX-License-Identifier: MIT
"""`xdphc check -c FILE`: config_load() and nothing else.  No lab, no
namespace, no bpffs: the binary runs directly, also as user nobody, and an
interface that does not exist is fine (only `run` resolves it)."""
import os
import re
import shutil
import subprocess
import tempfile
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
XDPHC = ROOT / "build" / "xdphc"
NOBODY = ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups")

# Three pools, 10,000 backends: three inline, 9,997 from a file.
VALID = textwrap.dedent("""\
    interface: does-not-exist0
    pin_path: /sys/fs/bpf/xhc-check-never-made
    pools:
      - name: web
        healthcheck:
          protocol: tcp
          interval: 1s
          timeout: 500ms
          healthy_threshold: 2
          unhealthy_threshold: 2
        backends:
          - 198.18.1.1:80
          - 198.18.1.2:80
      - name: api
        healthcheck:
          protocol: tcp
          interval: 2s
          timeout: 1s
          healthy_threshold: 3
          unhealthy_threshold: 2
        backends_file: api.txt
      - name: legacy
        healthcheck:
          protocol: tcp
          interval: 1s
          timeout: 500ms
          healthy_threshold: 2
          unhealthy_threshold: 2
        backends: [198.18.100.1:25]
    """)


@pytest.fixture
def cfgdir():
    """A world-readable temp dir (pytest's tmp_path is 0700 to root, so
    nobody could not read it) holding api.txt with 9,997 backends."""
    d = Path(tempfile.mkdtemp(prefix="xhc-check-"))
    d.chmod(0o755)
    lines = [f"198.18.{2 + i // 250}.{1 + i % 250}:8080" for i in range(9997)]
    (d / "api.txt").write_text("# api pool\n" + "\n".join(lines) + "\n")
    (d / "api.txt").chmod(0o644)
    try:
        yield d
    finally:
        shutil.rmtree(d)


def write(d: Path, text: str, name: str = "xdphc.yaml") -> str:
    p = d / name
    p.write_text(text)
    p.chmod(0o644)
    return str(p)


def check(path: str, prefix: tuple = ()) -> subprocess.CompletedProcess:
    if not XDPHC.is_file():
        pytest.fail(f"{XDPHC} does not exist: run `make` first")
    return subprocess.run([*prefix, str(XDPHC), "check", "-c", path],
                          capture_output=True, text=True, timeout=30)


def ok_line(r: subprocess.CompletedProcess, path: str, pools: int, backends: str) -> None:
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    assert r.stdout == f"{path}: ok ({pools} pools, {backends} backends)\n"


def one_error(r: subprocess.CompletedProcess, path: str, line: int) -> str:
    """Exit 1 and one message naming path:line."""
    assert r.returncode == 1, f"exit {r.returncode}; stdout {r.stdout!r} stderr {r.stderr!r}"
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert f"{path}:{line}:" in lines[0], lines[0]
    return lines[0]


def line_of(text: str, needle: str) -> int:
    hits = [i for i, ln in enumerate(text.splitlines(), 1) if needle in ln]
    assert len(hits) == 1, hits
    return hits[0]


def test_valid_config_ok_without_the_interface(cfgdir):
    # does-not-exist0 is no interface here: check never looks it up, and
    # the pin path is never created
    path = write(cfgdir, VALID)
    ok_line(check(path), path, 3, "10,000")
    assert not os.path.exists("/sys/fs/bpf/xhc-check-never-made")


@pytest.mark.parametrize("old,new,needle", [
    ("    pin_path:", "    pin_pth:", "pin_pth"),                          # unknown key
    ("- 198.18.1.2:80", "- 198.18.1.300:80", "198.18.1.300"),            # bad address
    ("backends_file: api.txt", "backends_file: gone.txt", "gone.txt"),   # missing file
    ("timeout: 1s", "timeout: 3s", "timeout: 3s"),                       # timeout > interval
])
def test_broken_config_one_message(cfgdir, old, new, needle):
    text = VALID.replace(old.strip(), new.strip(), 1)
    assert text != VALID
    path = write(cfgdir, text)
    msg = one_error(check(path), path, line_of(text, needle))
    assert "xdphc: " in msg


def test_missing_file_and_bad_args(cfgdir):
    r = check(str(cfgdir / "nope.yaml"))
    assert r.returncode == 1 and len(r.stderr.splitlines()) == 1
    assert "nope.yaml" in r.stderr
    r = subprocess.run([str(XDPHC), "check"], capture_output=True, text=True)
    assert r.returncode == 2 and "missing -c CONFIG" in r.stderr


def test_as_nobody(cfgdir):
    path = write(cfgdir, VALID)
    who = subprocess.run([*NOBODY, "id", "-u"], capture_output=True, text=True, check=True)
    assert who.stdout.strip() == "65534"
    ok_line(check(path, NOBODY), path, 3, "10,000")
    text = VALID.replace("- 198.18.1.2:80", "- 198.18.1.300:80")
    bad = write(cfgdir, text, "bad.yaml")
    one_error(check(bad, NOBODY), bad, line_of(text, "198.18.1.300"))


def test_canaries_are_counted_apart(cfgdir):
    """The canaries' pool is the engine's, not one of the configured ones."""
    text = VALID + "canaries: [198.18.200.1:80, 198.18.200.2:80]\nmax_down_fraction: 0.25\n"
    path = write(cfgdir, text)
    r = check(path)
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"{path}: ok (3 pools, 10,000 backends, 2 canaries)\n"
    text = VALID + "canaries: [198.18.1.2:80]\n"
    path = write(cfgdir, text, "bad.yaml")
    msg = one_error(check(path), path, line_of(text, "canaries:"))
    assert "canary 198.18.1.2:80 is a backend of pool" in msg, msg


# An https pool with a CA file next to the config, and a tcp send/expect pool.
HTTP = textwrap.dedent("""\
    interface: does-not-exist0
    pools:
      - name: web
        healthcheck:
          protocol: https
          method: GET
          path: /healthz?full=1
          success_codes: 200-299
          expect_body: ok
          headers: {X-Check: xdphc}
          tls:
            verify: true
            ca_file: ca.pem
        backends: [198.18.1.1:443]
      - name: redis
        healthcheck:
          port: 6379
          send: "PING\\r\\n"
          expect: +PONG
        backends: [198.18.2.1:6379]
    """)


def write_ca(d: Path, mode: int = 0o644) -> Path:
    ca = d / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n")
    ca.chmod(mode)
    return ca


def test_http_and_send_expect_config_ok(cfgdir):
    write_ca(cfgdir)
    path = write(cfgdir, HTTP)
    ok_line(check(path), path, 2, "2")


@pytest.mark.parametrize("old,new,needle,words", [
    ("success_codes: 200-299", "success_codes: 200,2x", "success_codes",
     "success_codes: '2x' is not a status code (100..599)"),
    ("method: GET", "method: HEAD", "expect_body",
     "expect_body needs method: GET (HEAD has no body)"),
    ("protocol: https", "protocol: http", "tls:", "tls applies to protocol: https"),
    ('send: "PING\\r\\n"', "send: 0x50494g", "send:",
     "send: '0x50494g' is not hex: after 0x come digits 0-9 a-f"),
    ("expect: +PONG", "expect: 0x2b504", "expect:",
     "expect: '0x2b504' has an odd number of hex digits"),
    ("ca_file: ca.pem", "ca_file: gone.pem", "ca_file",
     "ca_file: cannot read '{dir}/gone.pem': No such file or directory"),
])
def test_http_config_errors(cfgdir, old, new, needle, words):
    write_ca(cfgdir)
    text = HTTP.replace(old, new, 1)
    assert text != HTTP
    path = write(cfgdir, text)
    msg = one_error(check(path), path, line_of(text, needle))
    assert words.format(dir=cfgdir) in msg, msg


def test_unreadable_ca_file(cfgdir):
    """The engine reads the CA file at each check: one it cannot read is refused at load."""
    ca = write_ca(cfgdir, 0o600)
    path = write(cfgdir, HTTP)
    msg = one_error(check(path, NOBODY), path, line_of(HTTP, "ca_file"))
    assert f"ca_file: cannot read '{ca}': Permission denied" in msg, msg


def test_example_config_passes():
    """The config `make install` puts in /etc/xdphc as an example."""
    ex = ROOT / "docs" / "xdphc.example.yaml"
    r = check(str(ex))
    assert r.returncode == 0, r.stderr
    assert re.fullmatch(rf"{re.escape(str(ex))}: ok \(\d+ pools?, [\d,]+ backends?\)\n",
                        r.stdout)


def test_make_install_destdir(tmp_path):
    """make install DESTDIR=: the binary, xdphc(8), the unit (its ExecStart
    naming the installed binary, and systemd-analyze verify happy when it is
    there) and the example config, which never replaces a real config."""
    dest = tmp_path / "inst"
    (dest / "etc/xdphc").mkdir(parents=True)
    (dest / "etc/xdphc/xdphc.yaml").write_text("interface: mine\n")
    subprocess.run(["make", "-s", "install", f"DESTDIR={dest}"], cwd=ROOT, check=True,
                   capture_output=True, timeout=300)
    sbin = dest / "usr/local/sbin/xdphc"
    unit = dest / "usr/local/lib/systemd/system/xdphc.service"
    assert (dest / "usr/local/share/man/man8/xdphc.8").is_file()
    assert (dest / "etc/xdphc/xdphc.yaml").read_text() == "interface: mine\n"
    ex = dest / "etc/xdphc/xdphc.yaml.example"
    r = subprocess.run([str(sbin), "check", "-c", str(ex)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    text = unit.read_text()
    assert "ExecStart=/usr/local/sbin/xdphc run -c /etc/xdphc/xdphc.yaml\n" in text
    assert "Type=notify\n" in text and "WatchdogSec=" in text
    if not shutil.which("systemd-analyze"):
        return
    # verify needs the ExecStart binary and the man page where it says
    local = tmp_path / "xdphc.service"
    local.write_text(text.replace("/usr/local/sbin/xdphc", str(sbin)))
    env = {**os.environ, "MANPATH": f"{dest}/usr/local/share/man:"}
    r = subprocess.run(["systemd-analyze", "verify", str(local)], capture_output=True,
                       text=True, env=env, timeout=60)
    assert r.returncode == 0 and r.stderr == "", r.stderr


# IPv6 backends (list and file) and udp pools: static errors name their line.
UDP = textwrap.dedent("""\
    interface: does-not-exist0
    source_ipv6: 2001:2:0:ffff::1
    pools:
      - name: dns
        healthcheck:
          protocol: udp
          payload: "q {cookie}"
          expect: "0x8180"
        backends: [198.18.3.1:53, "[2001:2::53]:53"]
        backends_file: v6.txt
      - name: web
        backends: ["[2001:2::80]:80", 198.18.3.1:53]
    """)


def test_ipv6_and_udp_config_ok(cfgdir):
    """Checked without the interface: whether it has the addresses and the
    MTU is for `run` to say."""
    (cfgdir / "v6.txt").write_text("[2001:2::54]:53\n198.18.3.2:53\n")
    (cfgdir / "v6.txt").chmod(0o644)
    path = write(cfgdir, UDP)
    ok_line(check(path), path, 2, "6")


@pytest.mark.parametrize("old,new,needle,words", [
    ('expect: "0x8180"', 'expect: "0x818"', "expect:", "has an odd number of hex digits"),
    ('payload: "q {cookie}"', "payload: 0xq1", "payload:", "payload: '0xq1' is not hex"),
    ('payload: "q {cookie}"', "port: 53", "expect:",
     "expect without payload: a udp check with expect must send the request"),
    ('payload: "q {cookie}"', 'payload: "{cookie}{cookie}"', "payload:",
     "payload has more than one {cookie}"),
    ('payload: "q {cookie}"', "payload: " + "x" * 1473, "payload:",
     "payload too large: 1473 bytes, at most 1472"),
    ('payload: "q {cookie}"', 'payload: "q"\n      path: /x', "path:",
     "path applies to protocol: http or https"),
    ("source_ipv6: 2001:2:0:ffff::1", "source_ipv6: fe80::1", "source_ipv6",
     "source_ipv6 fe80::1 is a link-local address"),
    ('"[2001:2::80]:80"', '"[2001:2::80:80"', "2001:2::80",
     "bad backend address '[2001:2::80:80': missing ']' after IPv6 address"),
])
def test_udp_and_ipv6_errors(cfgdir, old, new, needle, words):
    (cfgdir / "v6.txt").write_text("[2001:2::54]:53\n")
    (cfgdir / "v6.txt").chmod(0o644)
    text = UDP.replace(old, new, 1)
    assert text != UDP
    path = write(cfgdir, text)
    msg = one_error(check(path), path, line_of(text, needle))
    assert words in msg, msg
