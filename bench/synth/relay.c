/* relay.c - the bare relay: the ceiling a copier is measured against.
 *
 * GETs each object (or each part, with ranged GETs) from the source endpoint
 * and PUTs the bytes to the destination with the least HTTP there is: no
 * signing (barge-synth does not check signatures), no retries, no checksums,
 * blocking sockets, one thread per connection pair, a 1 MiB buffer each.
 * Objects larger than --part-size go as multipart uploads (created and
 * completed by the main thread, parts moved by the workers), so a few large
 * objects still use every connection.  Prints one JSON line. */
#include "synth.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF (1u << 20)

typedef struct endpoint {
	struct sockaddr_in addr;
	char bucket[SYN_NAME_MAX];
} endpoint;

typedef struct item {
	unsigned obj;     /* index into objs */
	unsigned part;    /* 1-based; 0 = whole object by one PUT */
	uint64_t off, len;
} item;

typedef struct robj {
	char key[SYN_NAME_MAX + 32];
	uint64_t size;
	unsigned nparts;
	char upload_id[64];
	char (*etags)[SYN_ETAG_MAX];
} robj;

static endpoint src_ep, dst_ep;
static const char *dst_prefix = "";
static robj *objs;
static item *items;
static size_t nitems;
static atomic_size_t next_item;
static atomic_uint_fast64_t moved;
static atomic_uint failures;

typedef struct hconn {
	int fd;
	char *buf;
	size_t have; /* bytes in buf after the last parsed head */
} hconn;

static int parse_url(const char *url, endpoint *e)
{
	char host[64];
	unsigned port;
	const char *p = url;
	if (strncmp(p, "http://", 7) != 0)
		return -1;
	p += 7;
	const char *colon = strchr(p, ':'), *slash = colon ? strchr(colon, '/') : NULL;
	if (!colon || !slash || (size_t)(colon - p) >= sizeof(host) || sscanf(colon + 1, "%u", &port) != 1)
		return -1;
	memcpy(host, p, (size_t)(colon - p));
	host[colon - p] = '\0';
	if (bg_strlcpy(e->bucket, slash + 1, sizeof(e->bucket)) < 0 || !e->bucket[0])
		return -1;
	e->addr = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	return inet_pton(AF_INET, host, &e->addr.sin_addr) == 1 ? 0 : -1;
}

static int hopen(hconn *h, const endpoint *e)
{
	h->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	setsockopt(h->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	h->have = 0;
	if (connect(h->fd, (const struct sockaddr *)&e->addr, sizeof(e->addr)) < 0) {
		fprintf(stderr, "relay: connect: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

static int send_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Reads a response head; status, content length and ETag out; the body
 * bytes already read stay at the start of h->buf (h->have of them). */
static int read_head(hconn *h, int *status, uint64_t *clen, char *etag, size_t ecap)
{
	for (;;) {
		char *end = NULL;
		for (size_t i = 3; i < h->have; i++)
			if (!memcmp(h->buf + i - 3, "\r\n\r\n", 4)) {
				end = h->buf + i + 1;
				break;
			}
		if (end) {
			size_t hl = (size_t)(end - h->buf);
			end[-1] = '\0';
			*status = 0;
			sscanf(h->buf, "HTTP/1.%*d %d", status);
			*clen = 0;
			if (etag)
				etag[0] = '\0';
			for (char *l = strstr(h->buf, "\r\n"); l && l + 2 < end; l = strstr(l + 2, "\r\n")) {
				char *v = strchr(l + 2, ':');
				if (!v)
					continue;
				if (!strncasecmp(l + 2, "content-length:", 15))
					*clen = strtoull(v + 1, NULL, 10);
				else if (etag && !strncasecmp(l + 2, "etag:", 5)) {
					char *a = strchr(v, '"'), *b = a ? strchr(a + 1, '"') : NULL;
					if (a && b && (size_t)(b - a) < ecap) {
						memcpy(etag, a + 1, (size_t)(b - a - 1));
						etag[b - a - 1] = '\0';
					}
				}
			}
			memmove(h->buf, end, h->have - hl);
			h->have -= hl;
			return 0;
		}
		if (h->have == BUF)
			return -1;
		ssize_t r = recv(h->fd, h->buf + h->have, BUF - h->have, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		h->have += (size_t)r;
	}
}

/* Reads (and drops) a small body of len bytes; the text stays in h->buf. */
static int read_small(hconn *h, uint64_t len)
{
	if (len >= BUF)
		return -1;
	while (h->have < len) {
		ssize_t r = recv(h->fd, h->buf + h->have, BUF - 1 - h->have, 0);
		if (r <= 0)
			return -1;
		h->have += (size_t)r;
	}
	h->buf[len] = '\0';
	if (h->have > len)
		return -1; /* pipelined bytes: not expected */
	h->have = 0;
	return 0;
}

static int move_item(hconn *s, hconn *d, const item *it)
{
	robj *o = &objs[it->obj];
	char req[2048];
	int n;
	if (it->part)
		n = snprintf(req, sizeof(req), "GET /%s/%s HTTP/1.1\r\nHost: src\r\nRange: bytes=%llu-%llu\r\n\r\n",
			     src_ep.bucket, o->key, (unsigned long long)it->off,
			     (unsigned long long)(it->off + it->len - 1));
	else
		n = snprintf(req, sizeof(req), "GET /%s/%s HTTP/1.1\r\nHost: src\r\n\r\n", src_ep.bucket,
			     o->key);
	int st = 0;
	uint64_t clen = 0;
	if (send_all(s->fd, req, (size_t)n) < 0 || read_head(s, &st, &clen, NULL, 0) < 0 ||
	    (st != 200 && st != 206) || clen != it->len) {
		fprintf(stderr, "relay: GET %s: status %d, %llu bytes\n", o->key, st, (unsigned long long)clen);
		return -1;
	}
	if (it->part)
		n = snprintf(req, sizeof(req),
			     "PUT /%s/%s%s?partNumber=%u&uploadId=%s HTTP/1.1\r\nHost: dst\r\n"
			     "Content-Length: %llu\r\n\r\n", dst_ep.bucket, dst_prefix, o->key, it->part,
			     o->upload_id, (unsigned long long)it->len);
	else
		n = snprintf(req, sizeof(req), "PUT /%s/%s%s HTTP/1.1\r\nHost: dst\r\nContent-Length: %llu\r\n\r\n",
			     dst_ep.bucket, dst_prefix, o->key, (unsigned long long)it->len);
	if (send_all(d->fd, req, (size_t)n) < 0)
		return -1;
	uint64_t left = it->len;
	/* body bytes that came with the GET's head first */
	size_t first = s->have < left ? s->have : (size_t)left;
	if (first && send_all(d->fd, s->buf, first) < 0)
		return -1;
	left -= first;
	s->have = 0;
	while (left) {
		ssize_t r = recv(s->fd, s->buf, left < BUF ? (size_t)left : BUF, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0 || send_all(d->fd, s->buf, (size_t)r) < 0)
			return -1;
		left -= (uint64_t)r;
	}
	char etag[SYN_ETAG_MAX];
	if (read_head(d, &st, &clen, etag, sizeof(etag)) < 0 || read_small(d, clen) < 0 || st != 200) {
		fprintf(stderr, "relay: PUT %s part %u: status %d: %s\n", o->key, it->part, st, d->buf);
		return -1;
	}
	if (it->part)
		memcpy(o->etags[it->part - 1], etag, SYN_ETAG_MAX);
	atomic_fetch_add(&moved, it->len);
	return 0;
}

static void *worker(void *arg)
{
	(void)arg;
	hconn s = { .buf = malloc(BUF) }, d = { .buf = malloc(BUF) };
	if (!s.buf || !d.buf || hopen(&s, &src_ep) < 0 || hopen(&d, &dst_ep) < 0) {
		atomic_fetch_add(&failures, 1);
		return NULL;
	}
	for (;;) {
		size_t i = atomic_fetch_add(&next_item, 1);
		if (i >= nitems)
			break;
		if (move_item(&s, &d, &items[i]) < 0) {
			atomic_fetch_add(&failures, 1);
			close(s.fd);
			close(d.fd);
			if (hopen(&s, &src_ep) < 0 || hopen(&d, &dst_ep) < 0)
				break;
		}
	}
	close(s.fd);
	close(d.fd);
	free(s.buf);
	free(d.buf);
	return NULL;
}

/* One control request on h: POST with body; the answer's text in h->buf. */
static int control(hconn *h, const char *target, const char *body, int *st)
{
	size_t bl = body ? strlen(body) : 0;
	char *req = malloc(bl + 1024);
	if (!req)
		return -1;
	int n = snprintf(req, 1024, "POST /%s/%s HTTP/1.1\r\nHost: dst\r\nContent-Length: %zu\r\n\r\n",
			 dst_ep.bucket, target, bl);
	memcpy(req + n, body ? body : "", bl);
	uint64_t clen;
	int rc = send_all(h->fd, req, (size_t)n + bl) < 0 || read_head(h, st, &clen, NULL, 0) < 0 ||
			 read_small(h, clen) < 0 ? -1 : 0;
	free(req);
	return rc;
}

static void relay_usage(void)
{
	fputs("usage: barge-synth --relay --src http://HOST:PORT/BUCKET --dst http://HOST:PORT/BUCKET\n"
	      "                   --objects SPEC [--dst-prefix P] [--concurrency N] [--part-size S]\n"
	      "  SPEC as in --bucket (the source's objects: CLASS=COUNTxSIZE,...); each object\n"
	      "  goes to DST/P<key>.  --concurrency connection pairs (default 32); objects over\n"
	      "  --part-size (default 16M) go as multipart uploads of that part size.\n",
	      stdout);
}

int syn_relay_main(int argc, char **argv)
{
	const char *spec = NULL;
	uint64_t conc = 32, part = 16ull << 20;
	bool have_src = false, have_dst = false;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--help")) {
			relay_usage();
			return 0;
		}
		if (!v) {
			fprintf(stderr, "relay: %s needs a value\n", a);
			return 2;
		}
		i++;
		if (!strcmp(a, "--src"))
			have_src = parse_url(v, &src_ep) == 0;
		else if (!strcmp(a, "--dst"))
			have_dst = parse_url(v, &dst_ep) == 0;
		else if (!strcmp(a, "--objects"))
			spec = v;
		else if (!strcmp(a, "--dst-prefix"))
			dst_prefix = v;
		else if (!strcmp(a, "--concurrency") && bg_parse_u64(v, 1, 4096, &conc) == 0)
			;
		else if (!strcmp(a, "--part-size") && bg_parse_size(v, &part) == 0 && part >= 1)
			;
		else {
			fprintf(stderr, "relay: bad option %s %s\n", a, v);
			return 2;
		}
	}
	syn_src s = { .name = "relay" };
	char err[256];
	if (!have_src || !have_dst || !spec || syn_src_parse(&s, spec, err, sizeof(err)) < 0) {
		fprintf(stderr, "relay: need --src and --dst as http://IPV4:PORT/BUCKET and --objects SPEC%s%s\n",
			spec ? ": " : "", spec ? err : "");
		return 2;
	}
	size_t nobj = 0, cap = 0;
	for (unsigned i = 0; i < s.ncls; i++)
		nobj += s.cls[i].count;
	objs = calloc(nobj, sizeof(*objs));
	BG_ASSERT(objs);
	size_t k = 0;
	for (unsigned i = 0; i < s.ncls; i++)
		for (uint64_t j = 0; j < s.cls[i].count; j++, k++) {
			robj *o = &objs[k];
			syn_key(&s.cls[i], j, o->key, sizeof(o->key));
			o->size = s.cls[i].size;
			o->nparts = o->size > part ? (unsigned)((o->size + part - 1) / part) : 0;
			cap += o->nparts ? o->nparts : 1;
		}
	items = calloc(cap, sizeof(*items));
	BG_ASSERT(items);

	uint64_t t0 = bg_now_ns();
	hconn ctl = { .buf = malloc(BUF) };
	bool ctl_open = false;
	for (size_t i = 0; i < nobj; i++) {
		robj *o = &objs[i];
		if (!o->nparts) {
			items[nitems++] = (item){ (unsigned)i, 0, 0, o->size };
			continue;
		}
		if (!ctl_open && hopen(&ctl, &dst_ep) < 0)
			return 1;
		ctl_open = true;
		char target[256];
		int st;
		snprintf(target, sizeof(target), "%s%s?uploads", dst_prefix, o->key);
		char *id, *e;
		if (control(&ctl, target, NULL, &st) < 0 || st != 200 || !(id = strstr(ctl.buf, "<UploadId>")) ||
		    !(e = strstr(id, "</UploadId>")) || (size_t)(e - id - 10) >= sizeof(o->upload_id)) {
			fprintf(stderr, "relay: CreateMultipartUpload %s: status %d\n", o->key, st);
			return 1;
		}
		memcpy(o->upload_id, id + 10, (size_t)(e - id - 10));
		o->etags = calloc(o->nparts, SYN_ETAG_MAX);
		BG_ASSERT(o->etags);
		for (unsigned p = 0; p < o->nparts; p++) {
			uint64_t off = p * part;
			items[nitems++] = (item){ (unsigned)i, p + 1, off, o->size - off < part ? o->size - off : part };
		}
	}
	/* parts of different objects interleaved would not help: keep order */
	pthread_t *th = calloc(conc, sizeof(*th));
	BG_ASSERT(th);
	for (uint64_t i = 0; i < conc; i++)
		BG_ASSERT(pthread_create(&th[i], NULL, worker, NULL) == 0);
	for (uint64_t i = 0; i < conc; i++)
		pthread_join(th[i], NULL);
	for (size_t i = 0; i < nobj && !failures; i++) {
		robj *o = &objs[i];
		if (!o->nparts)
			continue;
		size_t bl = 64 + (size_t)o->nparts * 100;
		char *body = malloc(bl), target[256];
		BG_ASSERT(body);
		size_t n = (size_t)snprintf(body, bl, "<CompleteMultipartUpload>");
		for (unsigned p = 0; p < o->nparts; p++)
			n += (size_t)snprintf(body + n, bl - n, "<Part><PartNumber>%u</PartNumber><ETag>\"%s\"</ETag></Part>",
					      p + 1, o->etags[p]);
		snprintf(body + n, bl - n, "</CompleteMultipartUpload>");
		snprintf(target, sizeof(target), "%s%s?uploadId=%s", dst_prefix, o->key, o->upload_id);
		int st;
		if (control(&ctl, target, body, &st) < 0 || st != 200) {
			fprintf(stderr, "relay: CompleteMultipartUpload %s: status %d: %s\n", o->key, st, ctl.buf);
			failures++;
		}
		free(body);
	}
	double wall = (double)(bg_now_ns() - t0) / 1e9;
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	uint64_t b = atomic_load(&moved);
	printf("{\"objects\":%zu,\"bytes\":%llu,\"wall_s\":%.3f,\"mb_s\":%.1f,\"objects_s\":%.1f,"
	       "\"cpu_user_s\":%.3f,\"cpu_sys_s\":%.3f,\"concurrency\":%llu,\"part_size\":%llu,"
	       "\"failures\":%u}\n",
	       nobj, (unsigned long long)b, wall, (double)b / wall / 1e6, (double)nobj / wall,
	       (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6,
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6,
	       (unsigned long long)conc, (unsigned long long)part, (unsigned)failures);
	if (ctl_open)
		close(ctl.fd);
	free(ctl.buf);
	return failures ? 1 : 0;
}
