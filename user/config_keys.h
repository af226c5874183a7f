/* SPDX-License-Identifier: MIT */
/*
 * Every config key, declared once.  The parser, its error messages (unknown
 * key, wrong type, out of range) and `xdphc config-keys` are all driven by
 * these lists; config.c holds the types that read the values.
 *
 * One list per scope: the top level (struct config), each pool (struct
 * pool_cfg), each pool's healthcheck mapping (struct hc_config: the common
 * keys, then those of some protocols only) and its tls mapping (struct
 * hc_config too).
 *
 * X(id, name, type, lo, hi, valid, dflt, member, help)
 *   id      the key is CFG_<id> (enum cfg_key in config.h)
 *   name    the YAML key
 *   type    how the value is read and checked: CFG_T_<type> in config.c
 *   lo, hi  the accepted range of integers, and of durations in ms; of a
 *           CODES key, lo is the fewest codes it takes (0: none and [] too)
 *   valid   what a value may be, in words, where lo..hi does not say it; an
 *           ENUM's choices as "a|b" (ENUM_ICASE: in any case)
 *   dflt    the value when the key is absent, as a user would write it; or
 *           "(...)": computed at load, described in words; NULL: required
 *   member  AT(field) of the scope's struct the value goes to, or NOWHERE
 *   help    one sentence for the documentation
 *
 * Keys are read in list order, so a key may be checked against one listed
 * before it (tail_call_map against xdp_attach), a pool's backends come
 * before its backends_file, whatever the order in the file, a pool's
 * max_down_fraction defaults to the top-level one, and the canaries, after
 * the pools, become the last pool.
 */
#ifndef XDPHC_CONFIG_KEYS_H
#define XDPHC_CONFIG_KEYS_H

#define CFG_MAX_INTERVAL_MS	(24U * 3600 * 1000)	/* deadlines are 32-bit ms */
#define CFG_MAX_THRESHOLD	1000
#define CONFIG_MAX_CANARIES	64	/* a few stable addresses are enough */
#define CFG_MAX_RETRANSMITS	3

#define CFG_TOP_KEYS(X)                                                                    \
	X(INTERFACE, "interface", IFNAME, 0, 0,                                            \
	  "1..15 characters, none of / : or blanks", NULL, AT(interface),                 \
	  "The network interface that probes leave by and replies come back on.")          \
	X(SOURCE_IPV4, "source_ipv4", IPV4, 0, 0,                                          \
	  "a unicast address of the probing interface",                                   \
	  "(the interface's primary IPv4 address)", AT(source_ipv4),                      \
	  "The source address of the probes to IPv4 backends.")                           \
	X(SOURCE_IPV6, "source_ipv6", IPV6, 0, 0,                                          \
	  "a global unicast address of the probing interface",                            \
	  "(the interface's first global IPv6 address)", AT(source_ipv6),                 \
	  "The source address of the probes to IPv6 backends.")                           \
	X(SOURCE_PORTS, "source_ports", PORTS, 0, 0,                                       \
	  "LO-HI with 1 <= LO <= HI <= 65535, at least 16 ports",                         \
	  "(up to 4,096 ports beside net.ipv4.ip_local_port_range)", AT(source_ports),    \
	  "The source ports of the probes; the engine reserves the ones inside "           \
	  "ip_local_port_range.")                                                          \
	X(PIN_PATH, "pin_path", ABSPATH, 0, 0, "an absolute path",                         \
	  DEFAULT_PIN_PATH, AT(pin_path),                                           \
	  "The bpffs directory of the pinned status maps (one engine per directory).")     \
	X(XDP_MODE, "xdp_mode", ENUM, 0, 0, "native|skb", "native", AT(xdp_mode),          \
	  "How probe_rx is attached: in the driver, or generic XDP.")                      \
	X(STATUS_INDEX, "status_index", BOOL, 0, 0, "true or false", "true",               \
	  AT(status_index),                                                                \
	  "Pin the index map from backend address to id (yes/no, on/off work too).")      \
	X(EVENT_LOG, "event_log", LOGFILE, 0, 0, "'stdout' or an absolute file path",      \
	  "(no event log)", AT(event_log),                                                 \
	  "Where state changes are written as JSON lines (reopened on SIGHUP).")           \
	X(XDP_ATTACH, "xdp_attach", ENUM, 0, 0, "interface|tail_call", "interface",        \
	  AT(tail_call),                                                                   \
	  "Attach probe_rx to the interface, or pin it for a load balancer to "            \
	  "tail-call.")                                                                    \
	X(TAIL_CALL_MAP, "tail_call_map", PROG_ARRAY, 0, 0,                                \
	  "the absolute path of a pinned BPF prog array", "(none)", AT(tail_call_map),    \
	  "With xdp_attach: tail_call, the prog array the engine puts probe_rx into.")     \
	X(TAIL_CALL_INDEX, "tail_call_index", UINT, 0, 65535, NULL, "0",                   \
	  AT(tail_call_index), "probe_rx's index in tail_call_map.")                       \
	X(METRICS_LISTEN, "metrics_listen", ADDR, 0, 0,                                    \
	  "a numeric IPv4 or [IPv6] address and a port", "(no exporter)",                 \
	  AT(metrics), "Where Prometheus scrapes /metrics.")                               \
	X(CONTROL_SOCKET, "control_socket", ABSPATH, 0, 0, "an absolute path",              \
	  "(/run/xdphc/NAME.sock, NAME from pin_path: xdphc.sock for the default)",       \
	  AT(control_socket),                                                              \
	  "The Unix socket (mode 0600) that `xdphc backend` and `xdphc pool` commands "    \
	  "talk to.")                                                                      \
	X(STATE_FILE, "state_file", STATE_FILE, 0, 0, "an absolute path, or none",         \
	  "(/var/lib/xdphc/NAME.state, NAME as for control_socket)", AT(state_file),      \
	  "Where the changes made at runtime (backend add, del, drain, maint) are kept, "  \
	  "so that a reload or a restart applies them on top of the file; none: they "    \
	  "last until the engine stops.")                                                  \
	X(SPARE_IDS, "spare_ids", UINT, 0, CONFIG_MAX_IDS, NULL,                           \
	  "(1024, or what is left of the 16,777,214 ids)", AT(spare_ids),                 \
	  "Backend ids kept beyond every pool's max_backends, for pools that a reload "   \
	  "adds without a restart.")                                                       \
	X(MAX_DOWN_FRACTION, "max_down_fraction", FRACTION, 0, 0,                          \
	  "a fraction above 0 and at most 1, e.g. 0.5 (1: no circuit breaker)", "0.5",    \
	  AT(max_down_ppm),                                                                \
	  "The circuit breaker: when more than this fraction of a pool, or of all "        \
	  "backends, fail by timeout at once, the engine checks itself first and holds "   \
	  "the states while it looks like the cause.")                                     \
	X(POOLS, "pools", POOLS, 1, XDPHC_MAX_POOLS, "1..256 pools", NULL, NOWHERE,        \
	  "The pools: backend ids are given pool by pool, in this order.")                 \
	X(CANARIES, "canaries", CANARIES, 1, CONFIG_MAX_CANARIES,                          \
	  "1..64 ADDR:PORT entries, none of them a backend", "(none)", NOWHERE,            \
	  "Addresses known to answer (a gateway, stable VIPs), probed like backends in "   \
	  "the pool @canaries: while they answer, a mass timeout is real; when they fail "\
	  "too, the prober is the suspect.")

#define CFG_POOL_KEYS(X)                                                                   \
	X(POOL_NAME, "name", POOL_NAME, 0, 0, "1..31 characters from A-Z a-z 0-9 _ . -",   \
	  NULL, AT(name), "The pool's name, unique.")                                      \
	X(POOL_HEALTHCHECK, "healthcheck", MAP, 0, 0, NULL, "(every key's default)",       \
	  AT(hc), "How the pool's backends are checked (the keys below).")                 \
	X(POOL_BACKENDS, "backends", BACKENDS, 0, 0,                                       \
	  "ADDR:PORT entries: A.B.C.D:PORT or \"[IPv6]:PORT\" (quoted)", "(none)",         \
	  NOWHERE,                                                                         \
	  "Backends, each ADDR:PORT; a pool needs backends, backends_file or both "        \
	  "(backends: [] for a pool filled at runtime).")                                  \
	X(POOL_BACKENDS_FILE, "backends_file", BACKENDS_FILE, 0, 0,                        \
	  "a file of ADDR:PORT lines, # comments; relative to the config file", "(none)", \
	  NOWHERE, "Backends from a file, after those of backends.")                       \
	X(POOL_MAX_BACKENDS, "max_backends", UINT, 1, CONFIG_MAX_IDS, NULL,                \
	  "(the configured count + max(16, 1/64 of it))", AT(max_backends),                     \
	  "Backends the pool may grow to at runtime; its backend ids are reserved. "      \
	  "At least the configured count; all pools together at most 16,777,214.")       \
	X(POOL_INITIAL_STATE, "initial_state", ENUM, 0, 0, "unknown|up|down", "unknown",   \
	  AT(initial_state),                                                               \
	  "The state of a backend the engine knows nothing of yet (added at runtime, or "  \
	  "new in the config); down: down until its first checks pass.")                   \
	X(POOL_DEREG_DELAY, "deregistration_delay", DURATION, 0, CFG_MAX_INTERVAL_MS, NULL, \
	  "300s", AT(deregistration_delay_ms),                                             \
	  "How long a drained backend stays (probed, out of the up list) before it is "    \
	  "removed.")                                                                      \
	X(POOL_GRACE, "grace_period", DURATION, 0, CFG_MAX_INTERVAL_MS, NULL, "0s",        \
	  AT(grace_period_ms),                                                             \
	  "Failures of a newly added backend do not count for this long; successes "       \
	  "count at once.")                                                                \
	X(POOL_GRACE_ON_START, "grace_on_start", BOOL, 0, 0, "true or false", "false",     \
	  AT(grace_on_start),                                                              \
	  "Give every backend the grace period when the engine starts, too.")              \
	X(POOL_MAX_DOWN_FRACTION, "max_down_fraction", FRACTION, 0, 0,                     \
	  "a fraction above 0 and at most 1, e.g. 0.5 (1: no circuit breaker)",           \
	  "(the top-level max_down_fraction)", AT(max_down_ppm),                           \
	  "The circuit breaker's fraction for this pool alone.")

#define CFG_HC_KEYS(X)                                                                     \
	X(HC_PROTOCOL, "protocol", PROTOCOL, 0, 0, "tcp|http|https|udp", "tcp",            \
	  AT(protocol),                                                                    \
	  "The check: tcp is a half-open SYN probe (a full connection with send or "       \
	  "expect); http and https send a request over a full connection; udp sends a "    \
	  "datagram (payload) and fails on an ICMP port unreachable, or without the "      \
	  "reply that expect asks for.")                                                   \
	X(HC_PORT, "port", UINT, 1, 65535, NULL, "(each backend's own port)", AT(port),    \
	  "The port to check instead of each backend's own.")                              \
	X(HC_INTERVAL, "interval", DURATION, 1, CFG_MAX_INTERVAL_MS, NULL, "1s",           \
	  AT(interval_ms), "Time from one probe of a backend to the next.")                \
	X(HC_UNHEALTHY_INTERVAL, "unhealthy_interval", DURATION, 1, CFG_MAX_INTERVAL_MS,   \
	  NULL, "(the interval)", AT(unhealthy_interval_ms),                               \
	  "Time from one probe of a down backend to the next (HAProxy's downinter).")      \
	X(HC_TRANSITION_INTERVAL, "transition_interval", DURATION, 1, CFG_MAX_INTERVAL_MS, \
	  NULL, "(the interval)", AT(transition_interval_ms),                              \
	  "Time from one probe to the next while a backend's counters move between "       \
	  "states: unknown, up and failing, down and passing (HAProxy's fastinter).")      \
	X(HC_TIMEOUT, "timeout", DURATION, 1, CFG_MAX_INTERVAL_MS, NULL, "500ms",          \
	  AT(timeout_ms),                                                                  \
	  "How long a probe waits for its reply; at most the shortest of the three "       \
	  "intervals (the default shrinks to it).")                                        \
	X(HC_RETRANSMITS, "retransmits", UINT, 0, CFG_MAX_RETRANSMITS, NULL, "1",          \
	  AT(retransmits),                                                                 \
	  "SYNs (or udp datagrams) sent again, same cookie, to a probe still unanswered "  \
	  "after each timeout / (retransmits + 1): one lost packet is then not a failed "  \
	  "check.  Half-open tcp and udp probes only.")                                    \
	X(HC_HEALTHY, "healthy_threshold", UINT, 1, CFG_MAX_THRESHOLD, NULL, "3",          \
	  AT(healthy_threshold), "Successes in a row that make a backend up.")             \
	X(HC_UNHEALTHY, "unhealthy_threshold", UINT, 1, CFG_MAX_THRESHOLD, NULL, "2",      \
	  AT(unhealthy_threshold), "Failures in a row that make a backend down.")          \
	X(HC_JITTER, "jitter", DURATION, 0, CFG_MAX_INTERVAL_MS / 2, NULL,                 \
	  "(1 % of the interval)", AT(jitter_ms),                                          \
	  "Each interval starts up to this much late; at most half the interval.")

/*
 * Keys of some protocols only, one list each, read after the common ones
 * (after protocol): another protocol refuses them, naming the ones they
 * apply to.  method comes before expect_body, which needs GET.  Together
 * with the tls keys they say what a check sends and how it judges the
 * reply (config_request_key()).
 */
#define CFG_HTTP_KEYS(X)                                                                   \
	X(HC_METHOD, "method", ENUM_ICASE, 0, 0, "HEAD|GET", "HEAD", AT(method),          \
	  "The request's method; GET reads the body (for expect_body).")                   \
	X(HC_PATH, "path", URL_PATH, 0, 0,                                                 \
	  "a path starting with / (a query is fine) without spaces, control characters, "  \
	  "non-ASCII or #, at most 255 characters", "/", AT(path),                         \
	  "The request's path (and query).")                                               \
	X(HC_HOST, "host", HOST, 0, 0,                                                     \
	  "a name or address with an optional :PORT, without scheme, path, spaces, "       \
	  "control characters or non-ASCII, at most 255 characters",                       \
	  "(the backend's address)", AT(host),                                             \
	  "The request's Host header, and the TLS server name unless tls sets sni.")       \
	X(HC_CODES, "success_codes", CODES, 1, 0,                                          \
	  "codes, ranges and classes, e.g. 200,302 or 200-399 or 2xx, or a list of them",  \
	  "200-399", AT(success_codes), "The status codes that pass the check.")           \
	X(HC_FAIL_FAST_CODES, "fail_fast_codes", CODES, 0, 0,                              \
	  "codes as for success_codes, none of them a success code; none or [] for no "    \
	  "code", "503",                                                                   \
	  AT(fail_fast_codes),                                                             \
	  "Status codes that take a backend down at once, without waiting for "            \
	  "unhealthy_threshold failures in a row.")                                        \
	X(HC_EXPECT_BODY, "expect_body", TEXT, 0, 0, "at most 255 bytes; needs method: GET", \
	  "(none)",                                                                        \
	  AT(expect_body), "Text the response body must contain.")                         \
	X(HC_HEADERS, "headers", HEADERS, 0, 0,                                            \
	  "a mapping of header names to values, Host excepted (see host)", "(none)",       \
	  AT(headers), "Headers added to the request.")                                    \
	X(HC_HTTP_VERSION, "http_version", ENUM, 0, 0, "1.1|2", "1.1", AT(http_version),   \
	  "HTTP/1.1, or HTTP/2 (ALPN over TLS, prior knowledge without).")                 \
	X(HC_REUSE_CONNECTION, "reuse_connection", BOOL, 0, 0, "true or false", "true",    \
	  AT(reuse_connection),                                                            \
	  "Keep the connection to a backend open from one check to the next; false: a "    \
	  "new connection (and TLS handshake) for each check.")

#define CFG_HTTPS_KEYS(X)                                                                  \
	X(HC_TLS, "tls", MAP, 0, 0, NULL, "(every key's default)", NOWHERE,                \
	  "How the TLS connection is checked (the keys below).")

#define CFG_TCP_KEYS(X)                                                                    \
	X(HC_SEND, "send", BYTES, 0, 0,                                                    \
	  "text (YAML escapes like \\r\\n work in double quotes) or hex after 0x, e.g. "   \
	  "0x50494e470d0a; at most 256 bytes", "(none)", AT(send),                         \
	  "Bytes sent once connected.  send or expect makes the tcp check a full "         \
	  "connection (a new one for each check) instead of a half-open SYN probe.")       \

/* Keys of tcp and udp both: what the reply must hold. */
#define CFG_EXPECT_KEYS(X)                                                                 \
	X(HC_EXPECT, "expect", BYTES, 0, 0, "as for send (text or hex after 0x), at most "  \
	  "256 bytes; with udp, needs payload", "(none)", AT(expect),                      \
	  "Bytes the reply must contain.  A udp check with expect fails on silence "       \
	  "(timeout) and on another reply (mismatch); without, silence passes.")

#define CFG_UDP_KEYS(X)                                                                    \
	X(HC_PAYLOAD, "payload", PAYLOAD, 0, 0,                                            \
	  "text (YAML escapes work in double quotes) with at most one {cookie}, or hex "   \
	  "after 0x; at most 1472 bytes, and what fits the interface's MTU with the IP "   \
	  "and UDP headers", "(an empty datagram)", AT(payload),                           \
	  "The datagram a udp check sends.  {cookie} becomes the probe's keyed cookie, 8 " \
	  "hex digits, which a reply must then carry too.")

/* The keys of a healthcheck's tls mapping. */
#define CFG_TLS_KEYS(X)                                                                    \
	X(TLS_VERIFY, "verify", BOOL, 0, 0, "true or false", "false", AT(tls_verify),      \
	  "Verify the backend's certificate chain and name (sni, else host).")             \
	X(TLS_CA_FILE, "ca_file", CA_FILE, 0, 0,                                           \
	  "a readable file of PEM certificates, relative to the config file; needs "       \
	  "verify: true", "(the system's CAs)", AT(ca_file),                               \
	  "The certificate authorities to verify against.")                                \
	X(TLS_SNI, "sni", SNI, 0, 0, "a DNS name of letters, digits, . - and _",          \
	  "(host; none when host is not set)", AT(sni),                                    \
	  "The server name sent in the TLS handshake.")

#endif
