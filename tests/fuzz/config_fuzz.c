// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the config loader: each input is written to a config
 * file and loaded through config_load(), the way `xdphc run -c` reads it.
 * A backends file b.txt sits next to it, so that inputs naming
 * "backends_file: b.txt" exercise the file parser and duplicate detection
 * across the list and the file too.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

static char dir[PATH_MAX - 64], cfg_path[PATH_MAX], file_path[PATH_MAX];

static const char backends[] =
	"# a backends file for the fuzzer\n"
	"10.9.0.1:80\n"
	"10.9.0.2:80\r\n"
	"  10.9.0.3:8080  # spare\n"
	"[2001:db8::9]:53\n"
	"10.0.0.1:80\n";

static int write_all(const char *path, const uint8_t *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ssize_t w;

	if (fd < 0)
		return -1;
	while (len) {
		w = write(fd, data, len);
		if (w <= 0) {
			close(fd);
			return -1;
		}
		data += w;
		len -= (size_t)w;
	}
	return close(fd);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void cleanup(void)
{
	unlink(cfg_path);
	unlink(file_path);
	rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");

	(void)argc;
	(void)argv;
	/*
	 * tmpfs by default: rewriting a truncated file on ext4 waits for its
	 * blocks on close, which made every run four times slower.
	 */
	if (!tmp || !*tmp)
		tmp = access("/dev/shm", W_OK) ? "/tmp" : "/dev/shm";
	snprintf(dir, sizeof(dir), "%s/xdphc-fuzz-XXXXXX", tmp);
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		abort();
	}
	snprintf(cfg_path, sizeof(cfg_path), "%s/c.yaml", dir);
	snprintf(file_path, sizeof(file_path), "%s/b.txt", dir);
	atexit(cleanup);
	if (write_all(file_path, (const uint8_t *)backends, sizeof(backends) - 1)) {
		perror(file_path);
		abort();
	}
	return 0;
}

/* A udp pool's datagram is what the XDP program can write: its cookie inside it. */
static void check_pool(const struct config *cfg, const struct pool_cfg *pc)
{
	const struct hc_payload *pl = &pc->hc.payload;

	if (pl->len > HC_PAYLOAD_LEN || pc->hc.expect.len > XDPHC_EXPECT_MAX)
		abort();
	if (pl->cookie_off != XDPHC_NO_COOKIE &&
	    (size_t)pl->cookie_off + XDPHC_COOKIE_DIGITS > pl->len)
		abort();
	if (pc->hc.protocol == HC_PROTO_UDP && pc->hc.expect.len && !pl->len)
		abort();
	/* Every backend's key carries its pool's protocol. */
	for (size_t g = pc->first; g < pc->first + pc->n_backends; g++)
		if (cfg->backends[g].key.protocol != hc_ipproto(&pc->hc))
			abort();
}

/* The start's checks against an interface: 0, or -1 with a message. */
static void check_netif(const struct config *cfg)
{
	static const struct cfg_netif nifs[] = {
		{ .name = "eth0", .src4 = 1, .src6 = { 1 }, .mtu = 1500 },
		{ .name = "eth0", .src4 = 0, .src6 = { 1 }, .mtu = 1280 },
		{ .name = "eth0", .src4 = 1, .mtu = 68 },
	};
	char err[CONFIG_ERR_LEN];

	for (size_t i = 0; i < sizeof(nifs) / sizeof(nifs[0]); i++) {
		err[0] = '\0';
		if (config_check_netif(cfg, &nifs[i], err, sizeof(err)) && !err[0])
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[CONFIG_ERR_LEN];
	struct config cfg;

	if (write_all(cfg_path, data, size))
		abort();
	if (config_load(cfg_path, &cfg, err, sizeof(err))) {
		/* Every failure must come with its message. */
		if (!err[0] || strlen(err) >= sizeof(err))
			abort();
		return 0;
	}
	/*
	 * A loaded config must be usable: walk what the engine would walk.  A
	 * pool may be empty (filled at runtime), never without room for one.
	 */
	if (!cfg.n_pools || !cfg.interface[0] || !cfg.control_socket[0] ||
	    config_id_count(&cfg) < config_backend_count(&cfg))
		abort();
	for (size_t p = 0; p < cfg.n_pools; p++) {
		if (!cfg.pools[p].max_backends || cfg.pools[p].max_backends < cfg.pools[p].n_backends)
			abort();
		check_pool(&cfg, &cfg.pools[p]);
	}
	check_netif(&cfg);
	config_release_backends(&cfg);
	config_free(&cfg);
	return 0;
}
