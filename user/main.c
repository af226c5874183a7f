// SPDX-License-Identifier: MIT
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "config.h"
#include "ctlclient.h"
#include "defaults.h"
#include "engine.h"
#include "log.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: xdphc run -c CONFIG [-v]\n"
		"       xdphc check -c CONFIG\n"
		"       xdphc status [--json] [--pool NAME] [--summary] [--pin-path DIR | -c CONFIG]\n"
		"       xdphc show ADDR:PORT [--json] [--pool NAME] [--pin-path DIR | -c CONFIG]\n"
		"       xdphc backend add|del|drain|undrain|maint|ready POOL ADDR:PORT [TARGET]\n"
		"       xdphc pool list [--json] [TARGET]\n"
		"       xdphc reload [TARGET]\n"
		"       xdphc runtime show|reset [TARGET]\n"
		"       xdphc config-keys\n"
		"       xdphc version\n"
		"\n"
		"run     probe the backends of CONFIG until SIGINT/SIGTERM\n"
		"check   validate CONFIG only (no interface, bpffs or BPF; runs as any user)\n"
		"status  per-pool counts and every backend that is not up, read from the\n"
		"        pinned maps (default pin path " DEFAULT_PIN_PATH ")\n"
		"show    one backend's full record\n"
		"backend change a running engine's backends through its control socket:\n"
		"        add, del (remove now), drain (no new flows, removed after the pool's\n"
		"        deregistration_delay), undrain, maint (out of rotation, not probed),\n"
		"        ready (back from maint)\n"
		"pool list  each pool's counts, capacity and free ids, from the engine\n"
		"reload  re-read the engine's config file and apply the difference, as\n"
		"        SIGHUP does; prints what changed, or why nothing did\n"
		"runtime show: the changes made at runtime (backend add, del, drain, maint),\n"
		"        which reloads and restarts keep on top of the config file;\n"
		"        reset: drop them all (a reload of the config file alone)\n"
		"        TARGET: --socket PATH, --pin-path DIR (its default socket) or\n"
		"        -c CONFIG (its control_socket); default /run/xdphc/xdphc.sock\n"
		"config-keys  every config key: type, valid values, default and help\n");
}

static int bad_args(const char *cmd, const char *what)
{
	fprintf(stderr, "xdphc %s: %s (see xdphc --help)\n", cmd, what);
	return 2;
}

static int bad_extra(const char *cmd, const char *arg)
{
	char what[128];

	snprintf(what, sizeof(what), "unexpected argument '%.64s'", arg);
	return bad_args(cmd, what);
}

/*
 * getopt's own messages are off (opterr = 0): say once, in our words, which
 * option was wrong and how.
 */
static int bad_option(const char *cmd, int c, int argc, char **argv)
{
	const char *arg = optind > 0 && optind <= argc ? argv[optind - 1] : "";
	char name[64], what[128];

	if (!strncmp(arg, "--", 2))
		snprintf(name, sizeof(name), "%.*s", (int)strcspn(arg, "="), arg);
	else
		snprintf(name, sizeof(name), "-%c", optopt);
	if (c == ':')
		snprintf(what, sizeof(what), "option '%s' needs an argument", name);
	else if (optopt && strchr(arg, '=') && !strncmp(arg, "--", 2))
		snprintf(what, sizeof(what), "option '%s' takes no argument", name);
	else
		snprintf(what, sizeof(what), "unknown option '%s'", name);
	return bad_args(cmd, what);
}

static int cmd_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "verbose", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config = NULL;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":c:v", opts, NULL)) != -1) {
		if (c == 'c')
			config = optarg;
		else if (c == 'v')
			log_set_level(LOG_DEBUG);
		else
			return bad_option("run", c, argc, argv);
	}
	if (!config)
		return bad_args("run", "missing -c CONFIG");
	if (optind < argc)
		return bad_extra("run", argv[optind]);
	return engine_run(config);
}

/* 10000 -> "10,000": the counts of a large config stay readable. */
static const char *thousands(size_t n, char *buf, size_t len)
{
	char digits[32];
	size_t nd, i, o = 0;

	nd = (size_t)snprintf(digits, sizeof(digits), "%zu", n);
	for (i = 0; i < nd && o + 2 < len; i++) {
		if (i && (nd - i) % 3 == 0)
			buf[o++] = ',';
		buf[o++] = digits[i];
	}
	buf[o] = '\0';
	return buf;
}

/*
 * config_load() and nothing else: the interface, bpffs and BPF are only
 * touched by `run`, so an operator (or a packaging hook) can validate a
 * config before a restart, unprivileged and on another machine.
 */
static int cmd_check(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config = NULL;
	char err[CONFIG_ERR_LEN], nb[32];
	size_t pools, backends, canaries;
	struct config cfg;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":c:", opts, NULL)) != -1) {
		if (c == 'c')
			config = optarg;
		else
			return bad_option("check", c, argc, argv);
	}
	if (!config)
		return bad_args("check", "missing -c CONFIG");
	if (optind < argc)
		return bad_extra("check", argv[optind]);
	if (config_load(config, &cfg, err, sizeof(err))) {
		fprintf(stderr, "xdphc: %s\n", err);
		return 1;
	}
	canaries = config_canaries(&cfg) ? config_canaries(&cfg)->n_backends : 0;
	pools = cfg.n_pools - (canaries > 0);
	backends = config_backend_count(&cfg) - canaries;
	printf("%s: ok (%zu pool%s, %s backend%s", config, pools, pools == 1 ? "" : "s",
	       thousands(backends, nb, sizeof(nb)), backends == 1 ? "" : "s");
	if (canaries)
		printf(", %zu canar%s", canaries, canaries == 1 ? "y" : "ies");
	printf(")\n");
	config_free(&cfg);
	return 0;
}

/* --pin-path wins; -c reads pin_path from a config; else the default. */
static int pin_path_from_config(const char *config, char *out, size_t len)
{
	struct config cfg;
	char err[CONFIG_ERR_LEN];

	if (config_load(config, &cfg, err, sizeof(err))) {
		fprintf(stderr, "xdphc: %s\n", err);
		return -1;
	}
	snprintf(out, len, "%s", cfg.pin_path);
	config_free(&cfg);
	return 0;
}

static int cmd_read(int argc, char **argv, bool show)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "pool", required_argument, NULL, 'p' },
		{ "summary", no_argument, NULL, 's' },
		{ "pin-path", required_argument, NULL, 'P' },
		{ "config", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cmd = show ? "show" : "status";
	struct cli_opts o = { .pin_path = DEFAULT_PIN_PATH };
	static char from_cfg[4096];
	const char *config = NULL;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":jp:sP:c:", opts, NULL)) != -1) {
		switch (c) {
		case 'j': o.json = true; break;
		case 'p': o.pool = optarg; break;
		case 's': o.summary = true; break;
		case 'P': o.pin_path = optarg; break;
		case 'c': config = optarg; break;
		default: return bad_option(cmd, c, argc, argv);
		}
	}
	if (config && o.pin_path != (const char *)DEFAULT_PIN_PATH)
		return bad_args(cmd, "give --pin-path or -c, not both");
	if (config) {
		if (pin_path_from_config(config, from_cfg, sizeof(from_cfg)))
			return 1;
		o.pin_path = from_cfg;
	}
	if (!show) {
		if (optind < argc)
			return bad_extra(cmd, argv[optind]);
		return cli_status(&o);
	}
	if (o.summary)
		return bad_args(cmd, "--summary is for status");
	if (optind + 1 != argc)
		return bad_args(cmd, "expects exactly one ADDR:PORT");
	return cli_show(&o, argv[optind]);
}

/*
 * The control socket of the engine meant: --socket; else the one of
 * --pin-path or of -c CONFIG; else the default engine's.
 */
static int control_target(const char *cmd, const char *sock, const char *pin,
			  const char *config, char *out, size_t len)
{
	struct config cfg;
	char err[CONFIG_ERR_LEN];

	if (!!sock + !!pin + !!config > 1)
		return bad_args(cmd, "give one of --socket, --pin-path and -c");
	if (sock) {
		snprintf(out, len, "%s", sock);
	} else if (config) {
		if (config_load(config, &cfg, err, sizeof(err))) {
			fprintf(stderr, "xdphc: %s\n", err);
			return 1;
		}
		snprintf(out, len, "%s", cfg.control_socket);
		config_free(&cfg);
	} else {
		config_default_socket(pin ? pin : DEFAULT_PIN_PATH, out, len);
	}
	return 0;
}

/* The command line for the socket, from the words after the options; NULL: bad usage. */
static const char *control_line(const char *cmd, int argc, char **argv, bool json, char *line,
				size_t len)
{
	int n = argc - optind;
	char **w = argv + optind;

	if (!strcmp(cmd, "backend") && n == 3 && !json)
		snprintf(line, len, "backend %.64s %.64s %.200s", w[0], w[1], w[2]);
	else if (!strcmp(cmd, "pool") && n == 1 && !strcmp(w[0], "list"))
		snprintf(line, len, "pool list%s", json ? " json" : "");
	else if (!strcmp(cmd, "reload") && n == 0 && !json)
		snprintf(line, len, "reload");
	else if (!strcmp(cmd, "runtime") && n == 1 && !json &&
		 (!strcmp(w[0], "show") || !strcmp(w[0], "reset")))
		snprintf(line, len, "runtime %s", w[0]);
	else
		return NULL;
	return line;
}

static const char *control_usage(const char *cmd, bool json)
{
	if (json && strcmp(cmd, "pool"))
		return "--json is for pool list";
	if (!strcmp(cmd, "backend"))
		return "expects ACTION POOL ADDR:PORT";
	if (!strcmp(cmd, "pool"))
		return "expects 'list'";
	if (!strcmp(cmd, "runtime"))
		return "expects 'show' or 'reset'";
	return "takes no arguments";
}

/* `xdphc backend|pool|reload|runtime ...`: one command line to the engine's socket. */
static int cmd_control(int argc, char **argv, const char *cmd)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "pin-path", required_argument, NULL, 'P' },
		{ "config", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	const char *sock = NULL, *pin = NULL, *config = NULL;
	char path[4096], line[1024];
	bool json = false;
	int c, rc;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":s:P:c:j", opts, NULL)) != -1) {
		switch (c) {
		case 's': sock = optarg; break;
		case 'P': pin = optarg; break;
		case 'c': config = optarg; break;
		case 'j': json = true; break;
		default: return bad_option(cmd, c, argc, argv);
		}
	}
	if (!control_line(cmd, argc, argv, json, line, sizeof(line)))
		return bad_args(cmd, control_usage(cmd, json));
	rc = control_target(cmd, sock, pin, config, path, sizeof(path));
	if (rc)
		return rc;
	return ctlclient_run(path, line);
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : NULL;

	if (!cmd || !strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
		usage(cmd ? stdout : stderr);
		return cmd ? 0 : 2;
	}
	if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
		printf("xdphc %s (map ABI %d)\n", XDPHC_VERSION, XDPHC_ABI_VERSION);
		return 0;
	}
	if (!strcmp(cmd, "config-keys")) {
		if (argc > 2)
			return bad_extra(cmd, argv[2]);
		config_print_keys(stdout);
		return 0;
	}
	if (!strcmp(cmd, "run"))
		return cmd_run(argc - 1, argv + 1);
	if (!strcmp(cmd, "check"))
		return cmd_check(argc - 1, argv + 1);
	if (!strcmp(cmd, "status"))
		return cmd_read(argc - 1, argv + 1, false);
	if (!strcmp(cmd, "show"))
		return cmd_read(argc - 1, argv + 1, true);
	if (!strcmp(cmd, "backend") || !strcmp(cmd, "pool") || !strcmp(cmd, "reload") ||
	    !strcmp(cmd, "runtime"))
		return cmd_control(argc - 1, argv + 1, cmd);
	fprintf(stderr, "xdphc: unknown command '%s' (see xdphc --help)\n", cmd);
	return 2;
}
