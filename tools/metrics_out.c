/* metrics_out.c - the textfile, the /metrics endpoint and the event log
 * (see metrics_out.h).
 *
 * The copy loop renders the text every interval (bg_mout_publish, loop
 * thread) into a fresh buffer and swaps it in under a mutex held only for
 * the swap; the server thread takes a reference the same way.  The server
 * is a blocking accept loop on its own thread serving one request per
 * connection with a 5 s socket timeout, so a slow or stuck scraper never
 * holds the copy loop. */
#include "metrics_out.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "esc.h"
#include "progress.h"

typedef struct snap {
	char *text;
	size_t len;
	unsigned refs;
} snap;

struct bg_mout {
	char *file, *tmp;
	int lfd;
	pthread_t thr;
	bool thr_started;
	atomic_int stop;
	pthread_mutex_t mu;
	snap *cur;
	bg_buf buf;
};

static void snap_put(bg_mout *mo, snap *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&mo->mu);
	bool last = --s->refs == 0;
	pthread_mutex_unlock(&mo->mu);
	if (last) {
		free(s->text);
		free(s);
	}
}

static snap *snap_get(bg_mout *mo)
{
	pthread_mutex_lock(&mo->mu);
	snap *s = mo->cur;
	if (s)
		s->refs++;
	pthread_mutex_unlock(&mo->mu);
	return s;
}

static void write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL); /* a scraper gone: no SIGPIPE */
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

static void serve_one(bg_mout *mo, int fd)
{
	struct timeval tv = { .tv_sec = 5 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	char req[2048];
	size_t got = 0;
	while (got < sizeof(req) - 1) {
		ssize_t r = read(fd, req + got, sizeof(req) - 1 - got);
		if (r <= 0)
			break;
		got += (size_t)r;
		req[got] = '\0';
		if (strstr(req, "\r\n\r\n") || strstr(req, "\n\n"))
			break;
	}
	req[got] = '\0';
	char hdr[256];
	if (strncmp(req, "GET /metrics ", 13) != 0 && strncmp(req, "GET /metrics?", 13) != 0 &&
	    strncmp(req, "GET / ", 6) != 0) {
		static const char nf[] = "HTTP/1.1 404 Not Found\r\nContent-Length: 22\r\n"
					 "Connection: close\r\n\r\nonly GET /metrics here\n";
		write_all(fd, nf, sizeof(nf) - 1);
		return;
	}
	snap *s = snap_get(mo);
	const char *body = s ? s->text : "";
	size_t blen = s ? s->len : 0;
	int h = snprintf(hdr, sizeof(hdr),
			 "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
			 "Content-Length: %zu\r\nConnection: close\r\n\r\n", blen);
	write_all(fd, hdr, (size_t)h);
	write_all(fd, body, blen);
	snap_put(mo, s);
}

static void *server_main(void *arg)
{
	bg_mout *mo = arg;
	while (!atomic_load(&mo->stop)) {
		int fd = accept(mo->lfd, NULL, NULL);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED || errno == EAGAIN)
				continue;
			if (atomic_load(&mo->stop))
				break;
			struct timespec ts = { 0, 50000000 };
			nanosleep(&ts, NULL); /* EMFILE and the like: do not spin */
			continue;
		}
		serve_one(mo, fd);
		close(fd);
	}
	return NULL;
}

static int listen_on(const char *spec, char *err, size_t cap)
{
	char host[256] = "127.0.0.1";
	const char *port = spec;
	const char *colon = strrchr(spec, ':');
	if (colon) {
		size_t n = (size_t)(colon - spec);
		if (n >= sizeof(host))
			n = sizeof(host) - 1;
		memcpy(host, spec, n);
		host[n] = '\0';
		port = colon + 1;
		if (host[0] == '[') { /* [::1]:9100 */
			size_t hl = strlen(host);
			if (hl < 2 || host[hl - 1] != ']')
				goto bad;
			memmove(host, host + 1, hl - 2);
			host[hl - 2] = '\0';
		}
		if (!host[0])
			bg_strlcpy(host, "0.0.0.0", sizeof(host));
	}
	uint64_t p;
	if (bg_parse_u64(port, 1, 65535, &p) < 0)
		goto bad;
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	socklen_t sl;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)p);
		sl = sizeof(*s4);
	} else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)p);
		sl = sizeof(*s6);
	} else {
		goto bad;
	}
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		bg_snprintf(err, cap, "--metrics-listen: socket: %s", strerror(errno));
		return -1;
	}
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, 16) < 0) {
		bg_snprintf(err, cap, "--metrics-listen %s: cannot listen: %s", spec, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
bad:
	bg_snprintf(err, cap, "--metrics-listen '%s' must be PORT, ADDR:PORT or [ADDR6]:PORT", spec);
	return -1;
}

bg_mout *bg_mout_start(const char *file, const char *listen, char *err, size_t cap)
{
	bg_mout *mo = calloc(1, sizeof(*mo));
	if (!mo) {
		bg_snprintf(err, cap, "out of memory");
		return NULL;
	}
	mo->lfd = -1;
	pthread_mutex_init(&mo->mu, NULL);
	bg_buf_init(&mo->buf, 16u << 20);
	if (file) {
		size_t n = strlen(file);
		mo->file = strdup(file);
		mo->tmp = malloc(n + 5);
		if (!mo->file || !mo->tmp) {
			bg_snprintf(err, cap, "out of memory");
			goto fail;
		}
		bg_snprintf(mo->tmp, n + 5, "%s.tmp", file);
		FILE *f = fopen(mo->tmp, "w"); /* fail early on a bad directory */
		if (!f) {
			bg_snprintf(err, cap, "--metrics-file %s: cannot write %s: %s", file, mo->tmp,
				    strerror(errno));
			goto fail;
		}
		fclose(f);
		unlink(mo->tmp);
	}
	if (listen) {
		mo->lfd = listen_on(listen, err, cap);
		if (mo->lfd < 0)
			goto fail;
		if (pthread_create(&mo->thr, NULL, server_main, mo) != 0) {
			bg_snprintf(err, cap, "--metrics-listen: cannot start the server thread");
			goto fail;
		}
		mo->thr_started = true;
	}
	return mo;
fail:
	bg_mout_stop(mo);
	return NULL;
}

void bg_mout_publish(bg_mout *mo, const bg_metrics *m)
{
	bg_buf_reset(&mo->buf);
	if (bg_metrics_render(m, &mo->buf) < 0)
		return;
	if (mo->file) {
		FILE *f = fopen(mo->tmp, "w");
		if (f) {
			bool ok = fwrite(mo->buf.data, 1, mo->buf.len, f) == mo->buf.len;
			ok &= fclose(f) == 0;
			if (ok)
				rename(mo->tmp, mo->file);
			else
				unlink(mo->tmp);
		}
	}
	if (mo->thr_started) {
		snap *s = malloc(sizeof(*s));
		char *t = malloc(mo->buf.len + 1);
		if (!s || !t) {
			free(s);
			free(t);
			return;
		}
		memcpy(t, mo->buf.data, mo->buf.len);
		*s = (snap){ .text = t, .len = mo->buf.len, .refs = 1 };
		pthread_mutex_lock(&mo->mu);
		snap *old = mo->cur;
		mo->cur = s;
		pthread_mutex_unlock(&mo->mu);
		snap_put(mo, old);
	}
}

void bg_mout_stop(bg_mout *mo)
{
	if (!mo)
		return;
	if (mo->thr_started) {
		atomic_store(&mo->stop, 1);
		shutdown(mo->lfd, SHUT_RDWR); /* wakes accept() */
		pthread_join(mo->thr, NULL);
	}
	if (mo->lfd >= 0)
		close(mo->lfd);
	snap_put(mo, mo->cur);
	bg_buf_free(&mo->buf);
	free(mo->file);
	free(mo->tmp);
	pthread_mutex_destroy(&mo->mu);
	free(mo);
}

/* ---- event log -------------------------------------------------------- */

static bool log_json;
static bg_log_level log_level = BG_LOG_WARN;

void bg_log_setup(bool json, bg_log_level level)
{
	log_json = json;
	log_level = level;
}

bool bg_log_json(void) { return log_json; }

static void log_time(char *out, size_t cap)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	char d[32];
	strftime(d, sizeof(d), "%Y-%m-%dT%H:%M:%S", &tm);
	bg_snprintf(out, cap, "%s.%03ldZ", d, ts.tv_nsec / 1000000);
}

static void log_event(bg_log_level lv, const char *event, const char *key, const char *op,
		      long status, unsigned attempt, const char *message)
{
	if (lv > log_level)
		return;
	static const char *const names[] = { "error", "warn", "info", "debug" };
	char t[48];
	log_time(t, sizeof(t));
	FILE *f = stderr;
	if (log_json) {
		fprintf(f, "{\"time\":\"%s\",\"level\":\"%s\",\"event\":\"%s\",\"key\":", t, names[lv], event);
		bg_json_put(f, key ? key : "");
		fputs(",\"op\":", f);
		bg_json_put(f, op ? op : "");
		fprintf(f, ",\"status\":%ld,\"attempt\":%u,\"message\":", status, attempt);
		bg_json_put(f, message ? message : "");
		fputs("}\n", f);
	} else {
		char st[32] = "", at[32] = "";
		if (status)
			bg_snprintf(st, sizeof(st), " status=%ld", status);
		if (attempt)
			bg_snprintf(at, sizeof(at), " attempt=%u", attempt);
		bg_text_line(f, "%s %s %s %s%s%s%s%s%s%s", t, names[lv], event,
			     key && key[0] ? key : "-", op && op[0] ? " " : "", op ? op : "", st, at,
			     message && message[0] ? ": " : "", message ? message : "");
	}
}

void bg_log_retry(const bg_retry_event *e)
{
	/* Text: retries of objects only.  A bucket-level request (the first
	 * HEAD of the destination, the listing) that keeps failing ends the
	 * copy with one line that says why; its retries are in the metrics,
	 * and in the JSON log. */
	if (!log_json && !e->key[0])
		return;
	char m[BG_MSG_MAX + 32];
	bg_snprintf(m, sizeof(m), "%s (cause %s)", e->message ? e->message : "", e->cause);
	log_event(BG_LOG_WARN, "retry", e->key, e->op, e->status, e->attempt, m);
}

bool bg_log_wants(bg_log_level lv)
{
	return lv <= log_level;
}

void bg_log_state(const char *key, unsigned part, const char *from, const char *to)
{
	char m[80], op[24] = "";
	bg_snprintf(m, sizeof(m), "%s => %s", from, to);
	if (part)
		bg_snprintf(op, sizeof(op), "part %u", part);
	log_event(BG_LOG_DEBUG, "state", key, op, 0, 0, m);
}

void bg_log_object(const bg_obj_event *e)
{
	if (e->kind == BG_EV_FAILED && log_json) /* text: progress.c names it */
		log_event(BG_LOG_ERROR, "object_failed", e->key, "", 0, 0, e->error);
	else if (e->kind == BG_EV_SKIPPED && log_json)
		log_event(BG_LOG_WARN, "object_skipped", e->key, "", 0, 0, e->error);
	else if (e->kind == BG_EV_DONE) {
		char m[128];
		bg_snprintf(m, sizeof(m), "%" PRIu64 " bytes, etag %s", e->size,
			    e->dst_etag ? e->dst_etag : "");
		log_event(BG_LOG_INFO, "object_done", e->key, "", 0, 0, m);
	}
}
