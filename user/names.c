// SPDX-License-Identifier: MIT
#include <errno.h>

#include "names.h"

struct state_desc {
	const char *name;
	const char *help;
};

struct reason_desc {
	const char *name;
	const char *result;	/* label of xdphc_probe_results_total; NULL: never a result */
	const char *help;
};

static const struct state_desc states[NAMES_N_STATES] = {
	[XDPHC_STATE_UNKNOWN] = { "unknown", "Not enough probes yet to decide." },
	[XDPHC_STATE_UP] = { "up", "Healthy: send new flows." },
	[XDPHC_STATE_DOWN] = { "down", "Unhealthy: send no new flows." },
	[XDPHC_STATE_MAINT] = { "maint", "Taken out by an operator (backend maint): not probed, no new flows." },
};

static const struct reason_desc reasons[XDPHC_REASON_MAX] = {
	[XDPHC_REASON_NONE] = { "none", NULL, "Never probed." },
	[XDPHC_REASON_OK] = { "ok", "syn_ack", "SYN-ACK received." },
	[XDPHC_REASON_REFUSED] = { "refused", "rst",
				   "RST (udp: ICMP port unreachable): the port is closed." },
	[XDPHC_REASON_TIMEOUT] = { "timeout", "timeout", "No reply within the timeout." },
	[XDPHC_REASON_UNREACHABLE] = { "unreachable", "icmp",
				       "ICMP destination unreachable (type and code kept)." },
	[XDPHC_REASON_NO_ROUTE] = { "no_route", "no_route",
				    "The prober's FIB has no route to the backend." },
	[XDPHC_REASON_NEIGH_FAILED] = { "neigh_failed", "neigh_failed",
					"ARP/ND for the next hop never resolved." },
	[XDPHC_REASON_HTTP_STATUS] = { "http_status", "http_status",
				       "HTTP status not in success_codes (the code is kept)." },
	[XDPHC_REASON_TLS_ERROR] = { "tls_error", "tls_error",
				     "TLS handshake or certificate verification failed." },
	[XDPHC_REASON_MISMATCH] = { "mismatch", "mismatch",
				    "The reply lacks what expect_body or expect asks for." },
	[XDPHC_REASON_BAD_REPLY] = { "bad_reply", "bad_reply",
				     "The connection closed, or the reply was not of the protocol." },
};

#define FIELD(f) #f, offsetof(struct xdphc_engine_stats, f)
#define STAT(f, help) { FIELD(f), help, NULL, NULL, NULL }
#define COUNTER(f, prom, label, help) { FIELD(f), help, prom, "counter", label }
#define GAUGE(f, prom, help) { FIELD(f), help, prom, "gauge", NULL }
#define IGNORED_HELP "Replies that matched no current probe."

/* In the order of the struct: the order of `status --json` and of /metrics. */
const struct stat_desc names_stats[] = {
	STAT(probes_sent, "SYNs the XDP programs wrote, resends included."),
	STAT(replies_synack, "SYN-ACKs that answered a current probe."),
	STAT(replies_rst, "RSTs that answered a current probe."),
	STAT(replies_icmp, "ICMP errors that answered a current probe."),
	STAT(timeouts, "Probes without a reply within their timeout."),
	COUNTER(ignored_forged, "xdphc_replies_ignored_total", "reason=\"forged\"", IGNORED_HELP),
	COUNTER(ignored_stale, "xdphc_replies_ignored_total", "reason=\"stale\"", IGNORED_HELP),
	COUNTER(rst_sent, "xdphc_rst_sent_total", NULL, "SYN-ACKs turned into RSTs."),
	COUNTER(tx_failed, "xdphc_tx_failed_total", NULL,
		"Probes the engine could not send (retried)."),
	STAT(neigh_requests, "Next-hop resolutions asked of the kernel."),
	STAT(transitions, "Backend state changes."),
	COUNTER(tx_dropped, "xdphc_tx_dropped_frames_total", NULL,
		"SYN frames the device dropped."),
	COUNTER(probes_resent, "xdphc_probes_resent_total", NULL,
		"SYNs sent again after device drops."),
	COUNTER(probes_lost, "xdphc_probes_lost_total", NULL,
		"Probes never known delivered, not held against their backends."),
	COUNTER(tx_runs, "xdphc_tx_runs_total", NULL, "BPF_PROG_RUN calls that sent SYNs."),
	GAUGE(sched_behind, "xdphc_sched_behind_probes", "Probes due but not sent yet."),
	STAT(sched_behind_max, "Most probes due but not sent at one tick."),
	STAT(tick_lag_max_us, "Worst lateness of an engine tick since start, microseconds."),
	STAT(sched_lag_p50_us, "Median schedule lag over the last 10 s, microseconds."),
	STAT(sched_lag_p99_us, "99th percentile schedule lag over the last 10 s, microseconds."),
	STAT(sched_lag_max_us, "Largest schedule lag over the last 10 s, microseconds."),
};

const size_t names_n_stats = sizeof(names_stats) / sizeof(names_stats[0]);

_Static_assert(sizeof(names_stats) / sizeof(names_stats[0]) * sizeof(__u64) ==
	       sizeof(struct xdphc_engine_stats), "names: one row per stats field");

const char *state_name(uint8_t state)
{
	return state < NAMES_N_STATES ? states[state].name : "?";
}

static const char *const checks[] = {
	[XDPHC_CHECK_TCP_SYN] = "tcp_syn",
	[XDPHC_CHECK_TCP] = "tcp",
	[XDPHC_CHECK_HTTP] = "http",
	[XDPHC_CHECK_HTTPS] = "https",
	[XDPHC_CHECK_UDP] = "udp",
};

const char *check_name(uint8_t check)
{
	return check < sizeof(checks) / sizeof(checks[0]) ? checks[check] : "?";
}

unsigned int status_http_code(const struct xdphc_backend_status *st)
{
	if (st->check != XDPHC_CHECK_HTTP && st->check != XDPHC_CHECK_HTTPS)
		return 0;
	if (st->reason != XDPHC_REASON_OK && st->reason != XDPHC_REASON_HTTP_STATUS &&
	    st->reason != XDPHC_REASON_MISMATCH)
		return 0;
	return st->detail;
}

uint16_t status_icmp(const struct xdphc_backend_status *st)
{
	/* A UDP check is refused by an ICMP port unreachable: its detail too. */
	if (st->reason == XDPHC_REASON_REFUSED && st->check == XDPHC_CHECK_UDP)
		return st->detail;
	return st->reason == XDPHC_REASON_UNREACHABLE ? st->detail : 0;
}

const char *reason_name(uint8_t reason)
{
	return reason < XDPHC_REASON_MAX ? reasons[reason].name : "?";
}

const char *reason_result(uint8_t reason)
{
	return reason < XDPHC_REASON_MAX ? reasons[reason].result : NULL;
}

/* A JSON string, or null; the tables hold only printable ASCII. */
static void json_str(FILE *f, const char *s)
{
	if (!s) {
		fputs("null", f);
		return;
	}
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

static void json_named(FILE *f, unsigned int value, const char *name, const char *help)
{
	fprintf(f, "{\"value\": %u, \"name\": ", value);
	json_str(f, name);
	fputs(", \"help\": ", f);
	json_str(f, help);
}

static void json_stat(FILE *f, const struct stat_desc *d)
{
	fputs("{\"name\": ", f);
	json_str(f, d->name);
	fprintf(f, ", \"offset\": %zu, \"help\": ", d->offset);
	json_str(f, d->help);
	fputs(", \"prometheus\": ", f);
	if (!d->prom) {
		fputs("null}", f);
		return;
	}
	fputs("{\"name\": ", f);
	json_str(f, d->prom);
	fputs(", \"type\": ", f);
	json_str(f, d->prom_type);
	fputs(", \"label\": ", f);
	json_str(f, d->prom_label);
	fputs("}}", f);
}

int names_write_json(FILE *f)
{
	fprintf(f, "{\"abi_version\": %d,\n \"states\": [", XDPHC_ABI_VERSION);
	for (unsigned int i = 0; i < NAMES_N_STATES; i++) {
		fputs(i ? ",\n  " : "\n  ", f);
		json_named(f, i, states[i].name, states[i].help);
		fputc('}', f);
	}
	fputs("],\n \"reasons\": [", f);
	for (unsigned int i = 0; i < XDPHC_REASON_MAX; i++) {
		fputs(i ? ",\n  " : "\n  ", f);
		json_named(f, i, reasons[i].name, reasons[i].help);
		fputs(", \"result\": ", f);
		json_str(f, reasons[i].result);
		fputc('}', f);
	}
	fputs("],\n \"stats\": [", f);
	for (size_t i = 0; i < names_n_stats; i++) {
		fputs(i ? ",\n  " : "\n  ", f);
		json_stat(f, &names_stats[i]);
	}
	fputs("]}\n", f);
	return fflush(f) || ferror(f) ? -EIO : 0;
}

#ifdef NAMES_JSON_MAIN
/* The build's names.json writer: `names-json > build/names.json`. */
int main(void)
{
	return names_write_json(stdout) ? 1 : 0;
}
#endif
