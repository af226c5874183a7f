#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tools/demo.sh: a ~30 s xdphc demo on 10,000 real kernel TCP backends (`make demo`).
#
# Builds an xhclab lab (prober and backend network namespaces; every address of
# 198.18.0.0/16 is a backend in the backend namespace), writes a config with three
# pools into a temp dir, runs build/xdphc in the prober namespace for ~20 s and prints
# per-pool counts every 2 s.  Halfway through, 200 up backends start dropping SYNs.
# At the end: the status table, `xdphc show`, excerpts of the pinned maps (bpftool)
# and a check of every backend's state against connect() from the prober namespace.
# Exits non-zero if the engine disagrees with the lab.  Everything it made is removed
# on exit, Ctrl-C or SIGTERM.
#
# Needs root, bpftool, nftables, iproute2, util-linux (nsenter), Python >= 3.11.
# Environment: XDPHC (binary, default build/xdphc), PYTHON (default /usr/bin/python3),
# DEMO_SECONDS (engine run time, default 20, 10..120), DEMO_PER_BLOCK (backends per
# /24, default 250 = 10,000 in all; smaller values scale every group down alike).
set -euo pipefail
export LC_ALL=C                         # EPOCHREALTIME with a '.'

cd "$(dirname "$0")/.."
ROOT=$PWD
XDPHC=${XDPHC:-$ROOT/build/xdphc}
PY=${PYTHON:-/usr/bin/python3}
[ -x "$PY" ] || PY=$(command -v python3)
LABPY=("$PY" "$ROOT/tools/xhclab.py")
RUN_SECS=${DEMO_SECONDS:-20}
P=${DEMO_PER_BLOCK:-250}
STEP=2                                  # seconds between progress lines

SFX=dm$(printf %x $$)                   # lab name: [0-9a-z]{1,11}, unique per run
PIN=/sys/fs/bpf/xhc-demo-$SFX           # this run's own pin directory
METRICS_PORT=9469                        # /metrics inside the prober namespace
TMP=""
ENGINE_PID=""
SLEEP_PID=""
LAB_STARTED=0                           # 1: the lab name is ours to tear down
PIN_OURS=0                              # 1: the pin dir is ours to remove
ENGINE_RC=0
[ -n "${EPOCHREALTIME:-}" ] || { echo "demo: needs bash >= 5.0 (EPOCHREALTIME)" >&2; exit 1; }
T0=${EPOCHREALTIME/./}

# Backend layout: P = 250 backends per /24 (hosts .1-.250), all in 198.18.0.0/16.
#   web     198.18.0-23.x:80    6,000  listener on :80          -> up
#           198.18.32-33.x:81     500  no listener on :81 (RST)  -> down/refused
#   api     198.18.24-31.x:80   2,000  listener on :80          -> up
#           198.18.40-43.x:80   1,000  SYNs dropped (nftables)  -> down/timeout
#   legacy  198.18.34-35.x:80     500  health port 81 (RST)      -> down/refused, fail-open
# Halfway: 198.18.5.1-198.18.5.200 (200 web backends) join the drop set.
DROP_START=198.18.40.0/22
UP_EXAMPLE=198.18.0.1:80
DOWN_EXAMPLE=198.18.5.1:80

hdr() { printf '\n=== %s ===\n' "$*"; }
say() { printf '%s\n' "$*"; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }
usecs() { local t=$EPOCHREALTIME; printf '%s' "${t/./}"; }
secs() { printf '%d.%d' $(( $1 / 1000000 )) $(( $1 % 1000000 / 100000 )); }
elapsed() { secs $(( $(usecs) - T0 )); }   # seconds since the start, one decimal
nointr() { ( trap '' INT; exec "$@" ); }   # finishes; our INT trap runs after it
pause() {                               # interruptible sleep (traps run at once)
	sleep "$1" & SLEEP_PID=$!
	wait "$SLEEP_PID" || true
	SLEEP_PID=""
}

stop_engine() {
	local i
	[ -n "$ENGINE_PID" ] || return 0
	if kill -0 "$ENGINE_PID" 2>/dev/null; then
		kill -TERM "$ENGINE_PID" 2>/dev/null || true
		for ((i = 0; i < 50; i++)); do          # up to 5 s, then SIGKILL
			kill -0 "$ENGINE_PID" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$ENGINE_PID" 2>/dev/null; then
			say "demo: engine pid $ENGINE_PID ignored SIGTERM for 5 s: SIGKILL" >&2
			kill -KILL "$ENGINE_PID" 2>/dev/null || true
		fi
	fi
	ENGINE_RC=0
	wait "$ENGINE_PID" 2>/dev/null || ENGINE_RC=$?
	ENGINE_PID=""
}

cleanup() {
	local rc=$? f
	trap - EXIT
	trap '' INT TERM                    # a second Ctrl-C must not cut the cleanup short
	set +e
	exec 1>&3 2>&4                      # a trap may fire inside a `{ ...; } > file`
	[ -n "$SLEEP_PID" ] && kill "$SLEEP_PID" 2>/dev/null
	hdr "cleanup"
	if [ -n "$ENGINE_PID" ]; then
		stop_engine
		say "engine stopped (exit status $ENGINE_RC)"
	fi
	if [ "$LAB_STARTED" = 1 ]; then
		"${LABPY[@]}" down "$SFX" >/dev/null 2>&1 \
			&& say "lab $SFX torn down (xhc-p-$SFX, xhc-b-$SFX)" \
			|| say "demo: tearing down lab $SFX failed; run: ${LABPY[*]} down $SFX" >&2
	fi
	if [ "$PIN_OURS" = 1 ] && [ -d "$PIN" ]; then
		for f in "$PIN"/*; do
			[ -e "$f" ] && rm -f -- "$f"
		done
		rmdir -- "$PIN" && say "removed pin dir $PIN"
	fi
	[ -n "$TMP" ] && rm -rf -- "$TMP"
	say "done in $(elapsed) s"
	exit "$rc"
}
exec 3>&1 4>&2                          # the terminal, for messages from traps
trap cleanup EXIT
trap 'printf "\ndemo: interrupted, cleaning up\n" >&4; exit 130' INT
trap 'printf "\ndemo: terminated, cleaning up\n" >&4; exit 143' TERM

# ---------------------------------------------------------------- checks
[ "$(id -u)" = 0 ] || die "must run as root (namespaces, XDP, bpffs)"
[ -x "$XDPHC" ] || die "$XDPHC not found: run make first"
for c in bpftool nft nsenter ip promtool; do
	command -v "$c" >/dev/null || die "$c not installed (make deps)"
done
case $RUN_SECS$P in *[!0-9]*) die "DEMO_SECONDS and DEMO_PER_BLOCK must be numbers" ;; esac
((RUN_SECS >= 10 && RUN_SECS <= 120)) || die "DEMO_SECONDS must be 10..120"
((P >= 1 && P <= 250)) || die "DEMO_PER_BLOCK must be 1..250"
FLIP_N=$(( P * 4 / 5 > 0 ? P * 4 / 5 : 1 ))       # 200 of the 250 in 198.18.5.x
FLIP=198.18.5.1-198.18.5.$FLIP_N
FLIP_AT=$(( RUN_SECS / 2 / STEP * STEP ))
[ -e "$PIN" ] && die "$PIN already exists (left by another run?)"
for f in "/run/netns/xhc-p-$SFX" "/run/netns/xhc-b-$SFX" "/run/xhclab/$SFX.json"; do
	[ -e "$f" ] && die "$f already exists (a lab named $SFX; not ours to touch)"
done
PIN_OURS=1
grep -qs ' /sys/fs/bpf bpf ' /proc/mounts || mount -t bpf bpf /sys/fs/bpf

# ---------------------------------------------------------------- lab
hdr "lab: $((40 * P)) kernel TCP backends in 198.18.0.0/16"
TMP=$(mktemp -d /tmp/xhc-demo.XXXXXX)
LAB_STARTED=1                           # from here on, cleanup runs `down` (harmless if absent)
nointr "${LABPY[@]}" up --name "$SFX" --listen 80 --drop "$DROP_START" > "$TMP/lab.env"
eval "$(cat "$TMP/lab.env")"
say "namespaces $XHC_PROBER_NS (prober, $XHC_PROBER_IF $XHC_PROBER_IP) and $XHC_BACKEND_NS"
say "backend ns: 198.18.0.0/16 local, listener on :$XHC_PORTS only, SYNs to $DROP_START dropped"

# ---------------------------------------------------------------- config
gen() {                                 # gen FIRST_BLOCK LAST_BLOCK PORT: P a block
	local b h
	for ((b = $1; b <= $2; b++)); do
		for ((h = 1; h <= P; h++)); do
			printf '198.18.%d.%d:%d\n' "$b" "$h" "$3"
		done
	done
}
{ gen 0 23 80; gen 32 33 81; } > "$TMP/web.txt"
{ gen 24 31 80; gen 40 43 80; } > "$TMP/api.txt"
gen 34 35 80 > "$TMP/legacy.txt"
hc() {
	cat <<EOF
    healthcheck:
      protocol: tcp${1:+
      port: $1}
      interval: 1s
      timeout: 500ms
      healthy_threshold: 3
      unhealthy_threshold: 2
EOF
}
{
	printf 'interface: %s\npin_path: %s\n' "$XHC_PROBER_IF" "$PIN"
	printf 'metrics_listen: 127.0.0.1:%s\nevent_log: %s\npools:\n' "$METRICS_PORT" "$TMP/events.jsonl"
	printf '  - name: web\n';    hc;    printf '    backends_file: web.txt\n'
	printf '  - name: api\n';    hc;    printf '    backends_file: api.txt\n'
	printf '  - name: legacy\n'; hc 81; printf '    backends_file: legacy.txt\n'
} > "$TMP/demo.yaml"
say "config $TMP/demo.yaml:"
printf '  %-7s %5d x :80 listening + %4d x :81 closed    (198.18.0-23.x, 198.18.32-33.x)\n' web $((24 * P)) $((2 * P))
printf '  %-7s %5d x :80 listening + %4d x :80 dropped   (198.18.24-31.x, 198.18.40-43.x)\n' api $((8 * P)) $((4 * P))
printf '  %-7s %5d x :80, health-checked on closed :81   (198.18.34-35.x)\n' legacy $((2 * P))
say "  $((40 * P)) backends; every pool: interval 1s, timeout 500ms, healthy_threshold 3, unhealthy_threshold 2"

# ---------------------------------------------------------------- run
# Progress line from `xdphc status --json` on stdin.  argv: elapsed, flip start
# (realtime ns, 0 before the flip), file of flipped ADDR:PORT lines.
PY_PROGRESS=$(cat <<'EOF'
import json, sys
d = json.load(sys.stdin)
t, flip_ns, flip_file = sys.argv[1], int(sys.argv[2]), sys.argv[3]
cols = "  ".join(f"{p['name']} {p['up']:>5}/{p['down']:>5}/{p['unknown']:>5}" for p in d["pools"])
line = f"t={float(t):5.1f}s  {cols}"
if flip_ns:
    want = {l.strip() for l in open(flip_file) if l.strip()}
    st = [b for b in d["backends"] if f"{b['address']}:{b['port']}" in want]
    down = [b for b in st if b["state"] == "down"]
    line += f"  | flipped: {len(down)}/{len(want)} down"
    if want and len(down) == len(want):
        lat = max(b["last_change_ns"] for b in down) - flip_ns
        line += f" (last one {lat / 1e9:.1f}s after the flip)"
print(line)
EOF
)

hdr "engine: xdphc run in $XHC_PROBER_NS for ${RUN_SECS}s (log: engine.log, shown at the end)"
$XHC_NSENTER "$XDPHC" run -c "$TMP/demo.yaml" 2> "$TMP/engine.log" 3>&- 4>&- &
ENGINE_PID=$!
for ((i = 0; i < 100; i++)); do         # wait up to 10 s for the published maps
	kill -0 "$ENGINE_PID" 2>/dev/null || break
	"$XDPHC" status --json --pool legacy --pin-path "$PIN" > "$TMP/status.json" 2>/dev/null \
		&& grep -q '"state":"running"' "$TMP/status.json" && break
	sleep 0.1
done
if ! kill -0 "$ENGINE_PID" 2>/dev/null; then
	wait "$ENGINE_PID" || true
	ENGINE_PID=""
	cat "$TMP/engine.log" >&2
	die "the engine exited during start-up (log above)"
fi
say "engine pid $ENGINE_PID, pins in $PIN"
say "per pool: up/down/unknown (expected at the end: web $((24 * P - FLIP_N))/$((2 * P + FLIP_N))/0," \
    "api $((8 * P))/$((4 * P))/0, legacy 0/$((2 * P))/0)"

FLIP_NS=0
: > "$TMP/flipped.txt"
E0=$(usecs)
for ((tick = 0; tick <= RUN_SECS; tick += STEP)); do
	# sleep to E0 + tick s (progress stays on a 2 s grid whatever the reads cost)
	now=$(usecs)
	wait_us=$(( E0 + tick * 1000000 - now ))
	((wait_us > 0)) && pause "$(printf '%d.%06d' $((wait_us / 1000000)) $((wait_us % 1000000)))"
	kill -0 "$ENGINE_PID" 2>/dev/null || { tail -n 20 "$TMP/engine.log" >&2; die "the engine died (log tail above)"; }
	et=$(secs $(( $(usecs) - E0 )))
	"$XDPHC" status --json --pin-path "$PIN" > "$TMP/status.json"
	nointr "$PY" -c "$PY_PROGRESS" "$et" "$FLIP_NS" "$TMP/flipped.txt" < "$TMP/status.json"
	if ((tick == FLIP_AT)); then
		nointr "${LABPY[@]}" drop add "$SFX" "$FLIP"
		FLIP_NS=$(( $(usecs) * 1000 ))
		for ((h = 1; h <= FLIP_N; h++)); do printf '198.18.5.%d:80\n' "$h"; done > "$TMP/flipped.txt"
		say ">>> t=${et}s: lab now DROPS SYNs to $FLIP ($FLIP_N web backends that were up);"
		say ">>> with interval 1s and unhealthy_threshold 2 they should go down within ~3 s"
	fi
done

# ---------------------------------------------------------------- results
hdr "xdphc status --pin-path $PIN (trimmed)"
"$XDPHC" status --pin-path "$PIN" > "$TMP/status.txt"
awk 'f && ++n > 15 { exit } /^BACKEND / { f = 1 } { print }' "$TMP/status.txt"
"$XDPHC" status --json --pin-path "$PIN" > "$TMP/status_all.json"
say "$("$PY" -c 'import collections, json, sys
d = json.load(open(sys.argv[1]))
c = collections.Counter(b["reason"] for b in d["backends"] if b["state"] != "up")
print(f"... {sum(c.values())} backends are not up in all; by reason: "
      + "  ".join(f"{r} {n}" for r, n in sorted(c.items())))' "$TMP/status_all.json")"

hdr "xdphc show $UP_EXAMPLE (up)"
"$XDPHC" show "$UP_EXAMPLE" --pin-path "$PIN"
hdr "xdphc show $DOWN_EXAMPLE (one of the $FLIP_N flipped)"
"$XDPHC" show "$DOWN_EXAMPLE" --pin-path "$PIN"

hdr "bpftool map dump pinned $PIN/status (first 25 lines)"
{ bpftool map dump pinned "$PIN/status" || true; } | head -n 25
say "... ($(( 40 * P )) entries, one per backend id; key.port and key.addr are in network byte order as in" \
    "include/xdphc/abi.h: port 20480 is htons(80))"
hdr "bpftool map lookup pinned $PIN/pools key 0 0 0 0 (pool id 0: web)"
bpftool map lookup pinned "$PIN/pools" key 0 0 0 0
hdr "bpftool map dump pinned $PIN/stats"
bpftool map dump pinned "$PIN/stats"

hdr "GET http://127.0.0.1:$METRICS_PORT/metrics in $XHC_PROBER_NS (excerpt; promtool check metrics: $(
	ip netns exec "$XHC_PROBER_NS" "$PY" -c "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:$METRICS_PORT/metrics').read().decode(), end='')" \
		> "$TMP/metrics.txt" && promtool check metrics < "$TMP/metrics.txt" > /dev/null 2>&1 && echo ok || echo FAILED))"
grep -E '^xdphc_(backends|pool_fail_open|transitions_total)\{|^xdphc_(probes_sent_total|rtt_seconds_count|rtt_seconds_sum)\{pool="web"' \
	"$TMP/metrics.txt" | head -n 24
say "... $(grep -vc '^#' "$TMP/metrics.txt") series in all, per pool, none per backend"

hdr "event log $TMP/events.jsonl (one JSON line per state change; the last 3)"
tail -n 3 "$TMP/events.jsonl"
say "... $(wc -l < "$TMP/events.jsonl") lines"

# ---------------------------------------------------------------- stop
hdr "stopping the engine (SIGTERM)"
"$XDPHC" status --json --pin-path "$PIN" > "$TMP/status_running.json"
stop_engine
say "engine exit status $ENGINE_RC; the pinned maps stay for consumers:"
"$XDPHC" status --pin-path "$PIN" > "$TMP/status.txt"
head -n 1 "$TMP/status.txt"
"$XDPHC" status --json --pin-path "$PIN" > "$TMP/status.json"
LOG_LINES=$(wc -l < "$TMP/engine.log")
say "engine.log: $LOG_LINES lines (past 50 state changes a second the log counts the rest" \
    "instead of listing them); last 12 lines:"
tail -n 12 "$TMP/engine.log"

# ---------------------------------------------------------------- truth
# Measured after the stop: while the engine runs, its XDP_TX frames share the
# veth's 256-frame ring with the prober namespace's own kernel packets, and a
# burst of 1,024 parallel connect()s then loses SYNs (seen here: ~20 % of them).
hdr "lab truth: connect() from $XHC_PROBER_NS to every backend's health port"
VERDICT=0
nointr "$PY" - "$ROOT/tools" "$SFX" "$TMP" <<'EOF' || VERDICT=$?
import json, sys, collections
sys.path.insert(0, sys.argv[1])
from lab import Lab
sfx, tmp = sys.argv[2], sys.argv[3]
check_port = {"web": None, "api": None, "legacy": 81}      # the config's health ports
d = json.load(open(f"{tmp}/status.json"))                   # pins after the stop
eng = {(b["address"], b["port"]): b for b in d["backends"]}
before = {(b["address"], b["port"]): b["state"]
          for b in json.load(open(f"{tmp}/status_running.json"))["backends"]}
changed = sum(before.get(k) != b["state"] for k, b in eng.items())
print(f"pins after the stop: {len(eng)} backends, {changed} states differ from the last"
      f" snapshot of the running engine")
targets = {}
for pool, hp in check_port.items():
    for line in open(f"{tmp}/{pool}.txt"):
        a, p = line.strip().rsplit(":", 1)
        targets[(a, int(p))] = (pool, (a, hp or int(p)))
lab = Lab.attach(sfx)
res = lab.connect_check_many({t for _, t in targets.values()}, timeout=0.5, parallel=1024)
truth = collections.Counter(res.values())
print("connect(): " + ", ".join(f"{n} {k}" for k, n in sorted(truth.items())))
bad, per_pool = [], collections.defaultdict(lambda: [0, 0, 0, 0])
for key, (pool, probe) in sorted(targets.items()):
    want = "up" if res[probe] == "open" else "down"
    got = eng.get(key, {}).get("state", "missing")
    pp = per_pool[pool]
    pp[0 if want == "up" else 1] += 1
    pp[2 if got == "up" else 3] += got in ("up", "down")
    if want != got:
        bad.append(f"  {key[0]}:{key[1]} ({pool}): lab {res[probe]} -> {want}, engine {got}")
summ = {p["name"]: p for p in d["pools"]}
for pool, (wu, wd, gu, gd) in per_pool.items():
    s = summ[pool]
    ok = (wu, wd) == (gu, gd) == (s["up"], s["down"]) and s["unknown"] == 0
    print(f"  {pool:<7} lab {wu:>5} up / {wd:>5} down   engine backends {gu:>5}/{gd:>5}"
          f"   pools map {s['up']:>5}/{s['down']:>5}/{s['unknown']} unknown"
          f"   {'ok' if ok else 'MISMATCH'}")
    if not ok and not bad:
        bad.append(f"  pool {pool}: pools-map summary disagrees with the backends")
up = sum(v[0] for v in per_pool.values()); down = sum(v[1] for v in per_pool.values())
if bad:
    print(f"lab truth: {up} up / {down} down — ENGINE DISAGREES on {len(bad)}:")
    print("\n".join(bad[:15] + ([f"  ... {len(bad) - 15} more"] if len(bad) > 15 else [])))
    sys.exit(1)
print(f"lab truth: {up} up / {down} down — engine agrees (all {len(targets)} backends)")
EOF

((ENGINE_RC == 0)) || { say "demo: the engine exited with status $ENGINE_RC" >&2; VERDICT=1; }

if ((VERDICT != 0)); then
	say "RESULT: FAILED (the engine's view differs from the lab, or it exited badly)"
	exit 1
fi
say "RESULT: ok"
