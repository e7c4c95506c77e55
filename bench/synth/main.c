/* main.c - barge-synth's command line (see usage()). */
#include "synth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
	fputs("usage: barge-synth [options]            a synthetic S3 endpoint\n"
	      "       barge-synth --relay [options]    the bare relay (barge-synth --relay --help)\n"
	      "\n"
	      "  --bucket NAME:SPEC     a source bucket; SPEC = CLASS=COUNTxSIZE[@PARTSIZE],...\n"
	      "                         keys CLASS/000000.., e.g. src:large=4x1G,small=20000x16K;\n"
	      "                         objects over 16M are multipart with 16M parts unless\n"
	      "                         @PARTSIZE says otherwise (@0: single part)\n"
	      "  --sink NAME=SRC        a sink bucket: every byte PUT there is checked against\n"
	      "                         source bucket SRC (key K maps to the source object whose\n"
	      "                         key is K's longest suffix at a '/')\n"
	      "  --host ADDR            listen address (default 127.0.0.1)\n"
	      "  --port N               port (default 0: any; see --port-file)\n"
	      "  --port-file FILE       write the port there once listening\n"
	      "  --etag-mode fake|md5   fake (default): stable MD5-shaped tags, multipart form\n"
	      "                         for multipart objects; md5: real MD5s (computed at start\n"
	      "                         for sources, ~2 s/GiB; over every received byte in sinks)\n"
	      "  --no-verify-md5        do not check Content-MD5 headers (default: check)\n"
	      "  --latency-ms N         delay before each response's first byte\n"
	      "  --rate-limit-mbps N    per connection and direction (megabits/s)\n"
	      "  --tls-cert PEM --tls-key PEM   serve HTTPS (OpenSSL) instead of HTTP\n"
	      "  --quiet                no log lines (errors still go to /_synth/stats)\n"
	      "\n"
	      "GET /_synth/stats: counters and verification errors as JSON; POST /_synth/reset.\n"
	      "Signatures are not checked: any credentials are accepted.\n",
	      f);
}

static int need(int argc, char **argv, int i)
{
	if (i + 1 >= argc) {
		fprintf(stderr, "barge-synth: %s needs a value\n", argv[i]);
		exit(2);
	}
	return i + 1;
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "--relay"))
		return syn_relay_main(argc - 1, argv + 1);
	const char *host = "127.0.0.1", *port_file = NULL;
	const char *srcs[SYN_MAX_BUCKETS], *sinks[SYN_MAX_BUCKETS];
	unsigned nsrc = 0, nsink = 0;
	uint64_t port = 0;
	char err[512];
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(a, "--bucket") || !strcmp(a, "--sink")) {
			i = need(argc, argv, i);
			bool src = !strcmp(a, "--bucket");
			if ((src ? nsrc : nsink) == SYN_MAX_BUCKETS) {
				fprintf(stderr, "barge-synth: too many buckets\n");
				return 2;
			}
			if (src)
				srcs[nsrc++] = argv[i];
			else
				sinks[nsink++] = argv[i];
		} else if (!strcmp(a, "--host")) {
			host = argv[i = need(argc, argv, i)];
		} else if (!strcmp(a, "--port")) {
			i = need(argc, argv, i);
			if (bg_parse_u64(argv[i], 0, 65535, &port) < 0) {
				fprintf(stderr, "barge-synth: --port %s\n", argv[i]);
				return 2;
			}
		} else if (!strcmp(a, "--port-file")) {
			port_file = argv[i = need(argc, argv, i)];
		} else if (!strcmp(a, "--etag-mode")) {
			i = need(argc, argv, i);
			if (!strcmp(argv[i], "fake"))
				syn_cfg.etag_mode = SYN_ETAG_FAKE;
			else if (!strcmp(argv[i], "md5"))
				syn_cfg.etag_mode = SYN_ETAG_MD5;
			else {
				fprintf(stderr, "barge-synth: --etag-mode fake or md5\n");
				return 2;
			}
		} else if (!strcmp(a, "--no-verify-md5")) {
			syn_cfg.verify_md5 = false;
		} else if (!strcmp(a, "--latency-ms") || !strcmp(a, "--rate-limit-mbps")) {
			i = need(argc, argv, i);
			char *end;
			double v = strtod(argv[i], &end);
			if (*end || v < 0 || v > 1e6) {
				fprintf(stderr, "barge-synth: %s %s\n", a, argv[i]);
				return 2;
			}
			if (!strcmp(a, "--latency-ms"))
				syn_cfg.latency_ns = (uint64_t)(v * 1e6);
			else
				syn_cfg.rate_bps = (uint64_t)(v * 1e6 / 8);
		} else if (!strcmp(a, "--tls-cert")) {
			syn_cfg.tls_cert = argv[i = need(argc, argv, i)];
		} else if (!strcmp(a, "--tls-key")) {
			syn_cfg.tls_key = argv[i = need(argc, argv, i)];
		} else if (!strcmp(a, "--quiet")) {
			syn_cfg.quiet = true;
		} else {
			fprintf(stderr, "barge-synth: unknown option %s (see --help)\n", a);
			return 2;
		}
	}
	if (!syn_cfg.tls_cert != !syn_cfg.tls_key) {
		fprintf(stderr, "barge-synth: --tls-cert and --tls-key go together\n");
		return 2;
	}
	if (!nsrc) {
		fprintf(stderr, "barge-synth: give at least one --bucket NAME:SPEC (see --help)\n");
		return 2;
	}
	for (unsigned i = 0; i < nsrc; i++) {
		char name[SYN_NAME_MAX];
		const char *colon = strchr(srcs[i], ':');
		if (!colon || (size_t)(colon - srcs[i]) >= sizeof(name)) {
			fprintf(stderr, "barge-synth: --bucket %s: want NAME:SPEC\n", srcs[i]);
			return 2;
		}
		memcpy(name, srcs[i], (size_t)(colon - srcs[i]));
		name[colon - srcs[i]] = '\0';
		if (syn_add_source(name, colon + 1, err, sizeof(err)) < 0) {
			fprintf(stderr, "barge-synth: --bucket %s: %s\n", srcs[i], err);
			return 2;
		}
		if (!syn_cfg.default_src)
			syn_cfg.default_src = strdup(name);
	}
	for (unsigned i = 0; i < nsink; i++) {
		char name[SYN_NAME_MAX];
		const char *eq = strchr(sinks[i], '=');
		if (!eq || (size_t)(eq - sinks[i]) >= sizeof(name)) {
			fprintf(stderr, "barge-synth: --sink %s: want NAME=SOURCE\n", sinks[i]);
			return 2;
		}
		memcpy(name, sinks[i], (size_t)(eq - sinks[i]));
		name[eq - sinks[i]] = '\0';
		if (syn_add_sink(name, eq + 1, err, sizeof(err)) < 0) {
			fprintf(stderr, "barge-synth: %s\n", err);
			return 2;
		}
	}
	return syn_serve(host, (int)port, port_file);
}
