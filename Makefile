# xdphc — kernel-accelerated health probes.  `make help` lists the targets.
BUILD      ?= build
CC         ?= gcc
CLANG      ?= clang
BPFTOOL    ?= bpftool
ARCH_INC   := /usr/include/$(shell $(CC) -dumpmachine)
# Debian's interpreter: the tests use only Debian-packaged Python modules.
PYTEST     ?= /usr/bin/python3 -m pytest
PREFIX     ?= /usr/local

CFLAGS     ?= -O2 -g
CFLAGS     += -DXDPHC_VERSION=\"0.1.0\" -std=gnu11 -Wall -Wextra -Werror -Iinclude -Iuser -I$(BUILD)
LDLIBS     += -lxdp -lbpf -lelf -lz -lyaml -lmicrohttpd -lsystemd -lcurl -lpthread
BPF_CFLAGS := -target bpf -g -O2 -Wall -Werror -Iinclude -I$(ARCH_INC)
# Objects list their headers in .d files next to them (see the -include below).
DEPFLAGS   := -MMD -MP
SAN_FLAGS  := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
FUZZ_FLAGS := -O1 -fsanitize=fuzzer,address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=all

# Every Debian package the build, the demo, the tests and the tools need.
DEB_PACKAGES := build-essential clang llvm pkg-config bpftool libbpf-dev \
	libxdp-dev xdp-tools libelf-dev zlib1g-dev libyaml-dev libmicrohttpd-dev \
	linux-libc-dev libsystemd-dev iproute2 ethtool nftables util-linux procps git \
	python3 python3-pytest python3-yaml prometheus libclang-rt-14-dev \
	libcurl4-openssl-dev nginx-light redis-server openssl
# The peers `make bench` measures xdphc against.
BENCH_PACKAGES := masscan zmap haproxy

BPF_SRCS   := $(wildcard bpf/*.bpf.c)
BPF_OBJS   := $(patsubst bpf/%.bpf.c,$(BUILD)/%.bpf.o,$(BPF_SRCS))
SKELS      := $(patsubst bpf/%.bpf.c,$(BUILD)/%.skel.h,$(BPF_SRCS))
# The tools' XDP programs, by folder: tools/sim/backend_sim.bpf.c ->
# build/tools/sim/backend_sim.bpf.o (tools/lab/names.py: tool_obj()).
TOOL_BPF   := $(patsubst tools/%.bpf.c,$(BUILD)/tools/%.bpf.o,$(wildcard tools/*/*.bpf.c))
USER_SRCS  := $(wildcard user/*.c)
USER_OBJS  := $(patsubst user/%.c,$(BUILD)/user/%.o,$(USER_SRCS))
HEADERS    := $(wildcard include/xdphc/*.h include/internal/*.h user/*.h bpf/*.h bpf/lib/*.h)

# make check: unit tests link these modules directly (no BPF, no root).
UNIT_SRCS  := $(wildcard tests/unit/*.c)
UNIT_MODS  := addr bpfmap breaker config keyindex lathist log names neigh poolview scheduler \
	      slots state metrics shared statefile overlay reload_plan codes conncheck http httpmulti tcpcheck match \
	      nexthop hoptab routekey rtnl
UNIT_LIBS  := -lyaml -lcurl -lm
unit_objs   = $(patsubst tests/unit/%.c,$(1)/t/%.o,$(UNIT_SRCS)) \
	      $(patsubst %,$(1)/user/%.o,$(UNIT_MODS))
FUZZ_MODS  := addr config keyindex codes
FUZZ_TIME  ?= 20
SAN_OBJS   := $(patsubst user/%.c,$(BUILD)/san/user/%.o,$(USER_SRCS))

.PHONY: all deps bench-deps apt test check unit unit-san fuzz-check packaging-check \
	bpf-check sanitize demo bench install clean help
.DELETE_ON_ERROR:

all: $(BUILD)/xdphc $(TOOL_BPF) $(BUILD)/names.json

help:
	@echo "make deps     install every Debian package needed (apt-get)"
	@echo "make          build BPF objects, skeletons and build/xdphc"
	@echo "make check    fast tests, no lab: unit tests (plain and under ASan+UBSan),"
	@echo "              a $(FUZZ_TIME) s fuzz run of the config parser, the packaging test,"
	@echo "              and bpf-check (root: probe_rx under BPF_PROG_TEST_RUN)"
	@echo "make bpf-check  probe_rx against a reference model and forged replies,"
	@echo "              under BPF_PROG_TEST_RUN (needs root; BPF_TEST_ARGS='--seed N')"
	@echo "make test     deps + build + make check + the pytest lab suite (needs root)"
	@echo "make sanitize build/san/xdphc, the whole binary with ASan+UBSan"
	@echo "make demo     deps + build + a 10,000-backend lab demo (needs root)"
	@echo "make bench    xdphc vs the ceiling, masscan, zmap, HAProxy, and HTTP(S)"
	@echo "              checks against nginx (needs root;"
	@echo "              BENCH_ARGS='--backends 200000 --seconds 20' for a short run)"
	@echo "make install  install xdphc to $(PREFIX)/sbin, xdphc(8), the systemd unit"
	@echo "              and /etc/xdphc/xdphc.yaml.example (DESTDIR=, PREFIX=)"

deps:
	@$(MAKE) --no-print-directory apt PKGS="$(DEB_PACKAGES)"

bench-deps: deps
	@$(MAKE) --no-print-directory apt PKGS="$(BENCH_PACKAGES)"

# policy-rc.d keeps Debian's nginx and redis-server from starting host
# services on install: the lab runs private instances in its namespaces.
apt:
	@if [ "$$(id -u)" != 0 ]; then echo "make deps: must run as root (apt-get)" >&2; exit 1; fi
	@missing=""; for p in $(PKGS); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "make deps: installing$$missing"; \
		guard=; if [ ! -e /usr/sbin/policy-rc.d ]; then \
			printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d; guard=1; \
		fi; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(PKGS); \
		rc=$$?; [ -z "$$guard" ] || rm -f /usr/sbin/policy-rc.d; [ $$rc = 0 ] || exit $$rc; \
	fi

$(BUILD) $(BUILD)/user:
	mkdir -p $@

$(BUILD)/%.bpf.o: bpf/%.bpf.c $(HEADERS) | $(BUILD)
	$(CLANG) $(BPF_CFLAGS) $(DEPFLAGS) -c $< -o $@

$(BUILD)/tools/%.bpf.o: tools/%.bpf.c $(HEADERS)
	@mkdir -p $(@D)
	$(CLANG) $(BPF_CFLAGS) $(DEPFLAGS) -c $< -o $@

# Skeletons are kept: the .d files of the objects that include them name them.
.SECONDARY: $(BPF_OBJS) $(SKELS)

$(BUILD)/%.skel.h: $(BUILD)/%.bpf.o
	$(BPFTOOL) gen skeleton $< name $*_bpf > $@.tmp && mv $@.tmp $@

$(BUILD)/user/%.o: user/%.c $(HEADERS) $(SKELS) | $(BUILD)/user
	$(CC) $(CFLAGS) $(DEPFLAGS) -c $< -o $@

$(BUILD)/xdphc: $(USER_OBJS)
	$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS)

# The names of states, reasons and stats for the Python tools, written by
# user/names.c itself: the same tables the CLI, /metrics and the log read.
$(BUILD)/names-json: user/names.c $(HEADERS) | $(BUILD)
	$(CC) $(CFLAGS) -DNAMES_JSON_MAIN $< -o $@

$(BUILD)/names.json: $(BUILD)/names-json
	$< > $@.tmp && mv $@.tmp $@

# BPF tests: the programs run frame by frame with BPF_PROG_TEST_RUN, no lab.
$(BUILD)/tests:
	mkdir -p $@

RX_TEST_MODS := $(BUILD)/user/slots.o $(BUILD)/user/bpfmap.o
$(BUILD)/tests/rx_test: tests/bpf/rx_test.c $(RX_TEST_MODS) $(BUILD)/probe_rx.skel.h \
		$(HEADERS) | $(BUILD)/tests
	$(CC) $(CFLAGS) $< $(RX_TEST_MODS) -o $@ -lbpf -lelf -lz

BPF_TEST_ARGS ?=
bpf-check: $(BUILD)/tests/rx_test
	$(BUILD)/tests/rx_test $(BPF_TEST_ARGS)

# The start cost of next hops the controller resolves (tools/bench/hopstart.py runs it).
HOPSTART_MODS := nexthop hoptab routekey rtnl neigh bpfmap log netif config addr keyindex codes
$(BUILD)/tools/hopstart: tools/bench/hopstart.c $(patsubst %,$(BUILD)/user/%.o,$(HOPSTART_MODS)) \
		$(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $< $(patsubst %,$(BUILD)/user/%.o,$(HOPSTART_MODS)) -o $@ -lbpf -lyaml


# ---- make sanitize: the whole engine with ASan+UBSan ----------------------
sanitize: $(BUILD)/san/xdphc

$(BUILD)/san/user/%.o: user/%.c $(HEADERS) $(SKELS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(SAN_FLAGS) $(DEPFLAGS) -c $< -o $@

$(BUILD)/san/xdphc: $(SAN_OBJS)
	$(CC) $(CFLAGS) $(SAN_FLAGS) $^ -o $@ $(LDLIBS)

# ---- make check: fast tests, no root, no lab ------------------------------
# The binaries build in parallel; the runs go one after the other, so that
# their reports do not interleave.
check: $(BUILD)/unit/run $(BUILD)/unit-san/run $(BUILD)/fuzz/config_fuzz $(BUILD)/tests/rx_test
	$(run_unit)
	$(run_unit_san)
	$(run_fuzz)
	$(run_packaging)
	$(BUILD)/tests/rx_test $(BPF_TEST_ARGS)

unit: $(BUILD)/unit/run
	$(run_unit)

unit-san: $(BUILD)/unit-san/run
	$(run_unit_san)

fuzz-check: $(BUILD)/fuzz/config_fuzz
	$(run_fuzz)

packaging-check:
	$(run_packaging)

run_unit = $(BUILD)/unit/run
# LeakSanitizer too: config_free() must free what config_load() took.
run_unit_san = ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 $(BUILD)/unit-san/run
# Conftest is for the lab suite (root, namespaces); this test needs neither.
run_packaging = $(PYTEST) -q --noconftest -p no:cacheprovider tests/test_packaging.py

# A bounded run from the committed seeds (new inputs go to build/fuzz/corpus);
# a crash, leak, timeout or sanitizer report fails the check, its input is
# left in build/fuzz/ and the log's tail is shown.
define run_fuzz
@mkdir -p $(BUILD)/fuzz/corpus
@echo "fuzz: config_fuzz for $(FUZZ_TIME) s (log: $(BUILD)/fuzz/fuzz.log)"
@$(BUILD)/fuzz/config_fuzz -max_total_time=$(FUZZ_TIME) -timeout=10 -rss_limit_mb=2048 \
	-dict=tests/fuzz/config.dict -artifact_prefix=$(BUILD)/fuzz/ \
	$(BUILD)/fuzz/corpus tests/fuzz/corpus </dev/null >$(BUILD)/fuzz/fuzz.log 2>&1 || \
	{ tail -n 40 $(BUILD)/fuzz/fuzz.log; echo "fuzz: FAILED" >&2; exit 1; }
@grep -E '^Done [0-9]+ runs' $(BUILD)/fuzz/fuzz.log | sed 's/^/fuzz: /'
endef

$(BUILD)/unit/run: $(call unit_objs,$(BUILD)/unit)
	$(CC) $(CFLAGS) $^ -o $@ $(UNIT_LIBS)

$(BUILD)/unit-san/run: $(call unit_objs,$(BUILD)/unit-san)
	$(CC) $(CFLAGS) $(SAN_FLAGS) $^ -o $@ $(UNIT_LIBS)

$(BUILD)/unit/t/%.o: tests/unit/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(DEPFLAGS) -c $< -o $@

$(BUILD)/unit/user/%.o: user/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(DEPFLAGS) -c $< -o $@

$(BUILD)/unit-san/t/%.o: tests/unit/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(SAN_FLAGS) $(DEPFLAGS) -c $< -o $@

$(BUILD)/unit-san/user/%.o: user/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(SAN_FLAGS) $(DEPFLAGS) -c $< -o $@

$(BUILD)/fuzz/config_fuzz: tests/fuzz/config_fuzz.c $(patsubst %,user/%.c,$(FUZZ_MODS)) $(HEADERS)
	@mkdir -p $(@D)
	$(CLANG) $(CFLAGS) $(FUZZ_FLAGS) $(filter %.c,$^) -o $@ -lyaml

test: deps
	$(MAKE) all
	$(MAKE) check
	$(PYTEST) -ra tests

demo: deps
	$(MAKE) all
	/usr/bin/python3 tools/demo.py

# Benchmarks are not tests: figures side by side with the peers, one run.
BENCH_ARGS ?=
bench: bench-deps
	$(MAKE) all
	$(MAKE) $(BUILD)/tests/rx_test
	/usr/bin/python3 tools/bench/bench.py $(BENCH_ARGS)

# The unit goes to $(PREFIX)/lib/systemd/system (systemd reads
# /usr/local/lib/systemd/system; /etc/systemd/system is the admin's to
# override).  Its ExecStart names $(PREFIX)/sbin/xdphc.  The example config
# never replaces /etc/xdphc/xdphc.yaml: it goes next to it.
UNITDIR    ?= $(PREFIX)/lib/systemd/system
install: $(BUILD)/xdphc $(TOOL_BPF)
	install -D -m 0755 $(BUILD)/xdphc $(DESTDIR)$(PREFIX)/sbin/xdphc
	install -D -m 0644 docs/xdphc.8 $(DESTDIR)$(PREFIX)/share/man/man8/xdphc.8
	install -d -m 0755 $(DESTDIR)$(UNITDIR) $(DESTDIR)/etc/xdphc
	sed 's|/usr/local/sbin/xdphc|$(PREFIX)/sbin/xdphc|' packaging/xdphc.service \
		> $(DESTDIR)$(UNITDIR)/xdphc.service.tmp
	chmod 0644 $(DESTDIR)$(UNITDIR)/xdphc.service.tmp
	mv $(DESTDIR)$(UNITDIR)/xdphc.service.tmp $(DESTDIR)$(UNITDIR)/xdphc.service
	install -m 0644 docs/xdphc.example.yaml $(DESTDIR)/etc/xdphc/xdphc.yaml.example

clean:
	rm -rf $(BUILD)

-include $(wildcard $(BUILD)/*.d $(BUILD)/*/*.d $(BUILD)/*/*/*.d)
