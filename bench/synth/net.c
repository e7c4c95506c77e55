/* net.c - barge-synth's event loop: one thread, epoll (edge-triggered),
 * HTTP/1.1 keep-alive, Expect: 100-continue, and the wide-area emulation
 * (a latency before each response's first byte, a token bucket per
 * connection and direction), all with timerfds so nothing blocks.
 *
 * A connection is a small state machine driven by drive(): read a request
 * head, hand it to s3.c (syn_s3_begin), stream the body through s3.c
 * (verify, buffer or discard), then write the answer; generated bodies are
 * produced chunk by chunk into one shared scratch buffer, only as much as
 * the socket takes, so a connection holds no body memory.
 *
 * Lifetime: a connection that closes is put on a list and freed after the
 * current batch of epoll events, so a later event of the batch never sees
 * freed memory. */
#include "synth.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#define IN_CAP (64 * 1024)   /* request head limit, and the read buffer */
#define CHUNK (256 * 1024)   /* body bytes per read or write */
#define OUT_CAP (64u << 20)  /* small answers (listings) */

enum { EV_LISTEN, EV_SOCK, EV_TIMER };
typedef struct ev {
	int kind;
	syn_conn *c;
} ev;

enum { ST_HEAD, ST_BODY, ST_DELAY, ST_WRITE };

typedef struct bucket {
	double tokens;
	uint64_t t;
} bucket;

struct syn_conn {
	ev sev, tev;
	int fd, tfd;
	SSL *ssl;       /* --tls-cert: TLS on this connection */
	size_t tls_wlen; /* an SSL_write to repeat with this length (0: none) */
	int state, after_write; /* after_write: ST_BODY after a 100 Continue */
	bool can_read, can_write, dead, close_after, keepalive, replied;
	bool timer_armed, is_head;
	char *in;
	size_t inlen, inoff;
	uint64_t body_left;
	bool expect;
	syn_body_kind body_kind;
	bg_buf body;
	bg_buf out;
	size_t out_off;
	uint64_t gen_seed, gen_off, gen_left;
	uint64_t wake_ns;
	bucket rx, tx;
	void *ctx;
	syn_conn *next_dead;
};

static int ep = -1;
static SSL_CTX *tls;
static char *scratch;
static syn_conn *dead_list;

void *syn_conn_ctx(syn_conn *c) { return c->ctx; }
bg_buf *syn_body_buf(syn_conn *c) { return &c->body; }

/* ---- token buckets and timers ---- */

static double burst(void)
{
	double b = (double)syn_cfg.rate_bps / 50.0; /* 20 ms worth */
	return b < 16384 ? 16384 : b;
}

/* Bytes this direction may move now, at most want: 0 until the bucket holds
 * min(want, MIN_GRANT), so a throttled connection moves chunks, not a byte
 * per loop turn (and never monopolises the loop). */
#define MIN_GRANT 16384
static size_t allowance(bucket *b, uint64_t now, size_t want)
{
	if (!syn_cfg.rate_bps)
		return want;
	double add = (double)(now - b->t) * (double)syn_cfg.rate_bps / 1e9;
	b->t = now;
	b->tokens += add;
	if (b->tokens > burst())
		b->tokens = burst();
	size_t need = want < MIN_GRANT ? want : MIN_GRANT;
	if (b->tokens < (double)need)
		return 0;
	return (double)want < b->tokens ? want : (size_t)b->tokens;
}

static size_t grant_min(size_t want)
{
	return want < MIN_GRANT ? want : MIN_GRANT;
}

static void spend(bucket *b, size_t n)
{
	if (syn_cfg.rate_bps)
		b->tokens -= (double)n;
}

/* Nanoseconds until b holds want bytes. */
static uint64_t refill_ns(const bucket *b, size_t want)
{
	double need = (double)want - b->tokens;
	if (need < 1)
		need = 1;
	return (uint64_t)(need * 1e9 / (double)syn_cfg.rate_bps) + 1;
}

static void close_conn(syn_conn *c);

static void arm(syn_conn *c, uint64_t at)
{
	if (c->tfd < 0) {
		c->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
		if (c->tfd < 0) {
			syn_log("timerfd_create: %s", strerror(errno));
			close_conn(c);
			return;
		}
		c->tev = (ev){ EV_TIMER, c };
		struct epoll_event e = { .events = EPOLLIN, .data.ptr = &c->tev };
		BG_ASSERT(epoll_ctl(ep, EPOLL_CTL_ADD, c->tfd, &e) == 0);
	}
	struct itimerspec its = { 0 };
	its.it_value.tv_sec = (time_t)(at / 1000000000ull);
	its.it_value.tv_nsec = (long)(at % 1000000000ull);
	BG_ASSERT(timerfd_settime(c->tfd, TFD_TIMER_ABSTIME, &its, NULL) == 0);
	c->timer_armed = true;
}

/* ---- connections ---- */

static syn_conn *new_conn(int fd)
{
	syn_conn *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->in = malloc(IN_CAP);
	c->ctx = syn_s3_ctx_new();
	if (!c->in || !c->ctx) {
		free(c->in);
		syn_s3_ctx_free(c->ctx);
		free(c);
		return NULL;
	}
	c->fd = fd;
	c->tfd = -1;
	c->sev = (ev){ EV_SOCK, c };
	bg_buf_init(&c->out, OUT_CAP);
	bg_buf_init(&c->body, 0);
	uint64_t now = bg_now_ns();
	c->rx = (bucket){ burst(), now };
	c->tx = (bucket){ burst(), now };
	syn_st.conns_total++;
	syn_st.conns_open++;
	return c;
}

static void close_conn(syn_conn *c)
{
	if (c->dead)
		return;
	c->dead = true;
	close(c->fd);
	if (c->tfd >= 0)
		close(c->tfd);
	c->next_dead = dead_list;
	dead_list = c;
	syn_st.conns_open--;
}

static void free_dead(void)
{
	while (dead_list) {
		syn_conn *c = dead_list;
		dead_list = c->next_dead;
		bg_buf_free(&c->out);
		bg_buf_free(&c->body);
		syn_s3_ctx_free(c->ctx);
		SSL_free(c->ssl);
		free(c->in);
		free(c);
	}
}


/* ---- answers (called by s3.c) ---- */

static const char *reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 204: return "No Content";
	case 206: return "Partial Content";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 411: return "Length Required";
	case 412: return "Precondition Failed";
	case 416: return "Requested Range Not Satisfiable";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	default: return "Unknown";
	}
}

static void head_common(syn_conn *c, int status)
{
	if (c->state == ST_HEAD && c->expect && c->body_left)
		c->close_after = true; /* the client waits for 100 and sends no body */
	bg_buf_reset(&c->out);
	c->out_off = 0;
	bg_buf_addf(&c->out, "HTTP/1.1 %d %s\r\nServer: barge-synth\r\nx-amz-request-id: %llx\r\n",
		    status, reason(status), (unsigned long long)syn_st.requests);
	if (!c->keepalive || c->close_after)
		bg_buf_addf(&c->out, "Connection: close\r\n");
}

void syn_reply(syn_conn *c, int status, const char *extra_headers, const char *body, size_t len)
{
	head_common(c, status);
	bg_buf_addf(&c->out, "%sContent-Length: %zu\r\n\r\n", extra_headers ? extra_headers : "", len);
	if (len && !c->is_head && bg_buf_add(&c->out, body, len) < 0) {
		head_common(c, 500);
		bg_buf_addf(&c->out, "Content-Length: 0\r\n\r\n");
	}
	c->gen_left = 0;
	c->replied = true;
}

void syn_reply_gen(syn_conn *c, int status, const char *headers, uint64_t seed, uint64_t off,
		   uint64_t len, bool head_only)
{
	head_common(c, status);
	bg_buf_addf(&c->out, "%sContent-Length: %llu\r\n\r\n", headers, (unsigned long long)len);
	c->gen_seed = seed;
	c->gen_off = off;
	c->gen_left = head_only ? 0 : len;
	c->replied = true;
}

void syn_set_body(syn_conn *c, syn_body_kind kind, size_t buffer_cap)
{
	c->body_kind = kind;
	if (kind == SYN_BODY_BUFFER) {
		bg_buf_free(&c->body);
		bg_buf_init(&c->body, buffer_cap);
	}
}

/* ---- request heads ---- */

/* Percent-decodes s in place (bg_url_decode); -1 on a bad escape or an
 * embedded NUL. */
int syn_urldecode(char *s, bool plus_is_space)
{
	size_t n = strlen(s);

	return bg_url_decode(s, n, plus_is_space, s, n + 1) < 0 ? -1 : 0;
}

static char *find_head_end(char *p, size_t n)
{
	for (size_t i = 3; i < n; i++)
		if (p[i] == '\n' && p[i - 1] == '\r' && p[i - 2] == '\n' && p[i - 3] == '\r')
			return p + i + 1;
	return NULL;
}

static void bad_request(syn_conn *c, const char *why)
{
	c->close_after = true;
	syn_reply_error(c, 400, "BadRequest", "%s", why);
}

/* Parses the head in c->in[inoff, end) and calls s3.c. */
static void start_request(syn_conn *c, char *end)
{
	char *p = c->in + c->inoff;
	size_t hlen = (size_t)(end - p);
	c->inoff += hlen;
	end[-2] = '\0'; /* the final CRLF */
	syn_req r = { 0 };
	c->replied = false;
	c->close_after = false;
	c->keepalive = true;
	c->body_left = 0;
	c->body_kind = SYN_BODY_DISCARD;
	c->expect = false;
	syn_st.requests++;

	char *line_end = strstr(p, "\r\n");
	if (line_end)
		*line_end = '\0';
	char *sp1 = strchr(p, ' '), *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
	if (!sp1 || !sp2 || strncmp(sp2 + 1, "HTTP/1.", 7) != 0) {
		bad_request(c, "malformed request line");
		return;
	}
	*sp1 = *sp2 = '\0';
	if (sp2[8] == '0')
		c->keepalive = false;
	r.method = p;
	c->is_head = !strcmp(p, "HEAD");
	r.path = sp1 + 1;
	char *q = strchr(r.path, '?');
	if (q) {
		*q = '\0';
		r.query = q + 1;
	} else {
		r.query = sp2; /* "" */
	}
	if (syn_urldecode(r.path, false) < 0) {
		bad_request(c, "malformed percent-encoding in the path");
		return;
	}
	for (char *h = line_end ? line_end + 2 : NULL; h && *h;) {
		char *e = strstr(h, "\r\n");
		if (e)
			*e = '\0';
		char *colon = strchr(h, ':');
		if (colon) {
			*colon = '\0';
			char *v = colon + 1;
			while (*v == ' ' || *v == '\t')
				v++;
			size_t vl = strlen(v);
			while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
				v[--vl] = '\0';
			if (!strcasecmp(h, "content-length")) {
				if (bg_parse_u64(v, 0, UINT64_MAX, &r.content_length) < 0) {
					bad_request(c, "bad Content-Length");
					return;
				}
				r.has_length = true;
			} else if (!strcasecmp(h, "transfer-encoding")) {
				r.chunked = strcasecmp(v, "identity") != 0;
			} else if (!strcasecmp(h, "content-encoding")) {
				if (strstr(v, "aws-chunked"))
					r.aws_chunked = true;
			} else if (!strcasecmp(h, "x-amz-content-sha256")) {
				if (!strncmp(v, "STREAMING-", 10))
					r.aws_chunked = true;
			} else if (!strcasecmp(h, "expect")) {
				r.expect_continue = !strcasecmp(v, "100-continue");
			} else if (!strcasecmp(h, "connection")) {
				if (!strcasecmp(v, "close"))
					c->keepalive = false;
				else if (!strcasecmp(v, "keep-alive"))
					c->keepalive = true;
			} else if (!strcasecmp(h, "range")) {
				r.range = v;
			} else if (!strcasecmp(h, "if-match")) {
				r.if_match = v;
			} else if (!strcasecmp(h, "content-md5")) {
				r.content_md5 = v;
			} else if (!strcasecmp(h, "x-amz-copy-source")) {
				r.copy_source = v;
			}
		}
		h = e ? e + 2 : NULL;
	}
	if (r.chunked) {
		c->close_after = true;
		syn_reply_error(c, 501, "NotImplemented",
				"chunked request bodies are not supported by barge-synth; send Content-Length");
		return;
	}
	c->body_left = r.content_length;
	c->expect = r.expect_continue && r.content_length > 0;
	syn_s3_begin(c, &r);
}

/* ---- socket I/O, plain or TLS ---- */

/* > 0 bytes read; 0 end of stream; -1 would block (flags cleared) or EINTR;
 * -2 error. */
static ssize_t c_read(syn_conn *c, void *p, size_t n)
{
	if (!c->ssl) {
		ssize_t r = read(c->fd, p, n);
		if (r >= 0)
			return r;
		if (errno == EAGAIN)
			c->can_read = false;
		return errno == EAGAIN || errno == EINTR ? -1 : -2;
	}
	ERR_clear_error();
	int r = SSL_read(c->ssl, p, n > (1u << 30) ? (1 << 30) : (int)n);
	if (r > 0)
		return r;
	switch (SSL_get_error(c->ssl, r)) {
	case SSL_ERROR_WANT_READ: c->can_read = false; return -1;
	case SSL_ERROR_WANT_WRITE: c->can_write = false; return -1;
	case SSL_ERROR_ZERO_RETURN: return 0;
	default: return -2;
	}
}

/* Like writev; with TLS one buffer at a time, and a write that has to be
 * repeated is repeated with the same length (the bytes are the same: headers
 * stay in c->out, bodies are regenerated from the same offset). */
static ssize_t c_writev(syn_conn *c, struct iovec *iov, int niov)
{
	if (!c->ssl) {
		ssize_t r = writev(c->fd, iov, niov);
		if (r >= 0)
			return r;
		if (errno == EAGAIN)
			c->can_write = false;
		return errno == EAGAIN || errno == EINTR ? -1 : -2;
	}
	size_t len = iov[0].iov_len;
	if (c->tls_wlen) {
		BG_ASSERT(c->tls_wlen <= len);
		len = c->tls_wlen;
	}
	ERR_clear_error();
	int r = SSL_write(c->ssl, iov[0].iov_base, (int)len);
	if (r > 0) {
		c->tls_wlen = 0;
		return r;
	}
	c->tls_wlen = len;
	switch (SSL_get_error(c->ssl, r)) {
	case SSL_ERROR_WANT_READ: c->can_read = false; return -1;
	case SSL_ERROR_WANT_WRITE: c->can_write = false; return -1;
	default: return -2;
	}
}

/* ---- the state machine ---- */

static void finish_response(syn_conn *c)
{
	if (c->after_write == ST_BODY) {
		c->after_write = -1;
		c->state = ST_BODY;
		return;
	}
	if (c->close_after || !c->keepalive) {
		if (c->ssl)
			SSL_shutdown(c->ssl); /* close_notify, best effort */
		shutdown(c->fd, SHUT_WR);
		close_conn(c);
		return;
	}
	c->state = ST_HEAD;
	bg_buf_reset(&c->out);
	c->out_off = 0;
	if (c->body.alloc > (1u << 20))
		bg_buf_free(&c->body);
}

static void respond(syn_conn *c)
{
	c->state = ST_DELAY;
	c->wake_ns = bg_now_ns() + syn_cfg.latency_ns;
}

/* After begin() or end(): what next. */
static void after_handler(syn_conn *c)
{
	if (c->replied) {
		if (c->body_left) {
			if (c->expect) {
				/* the client waits for us; it will not send the body */
				c->close_after = true;
			} else {
				c->body_kind = SYN_BODY_DISCARD;
				c->state = ST_BODY; /* read the body, then answer */
				return;
			}
		}
		respond(c);
		return;
	}
	c->state = ST_BODY;
	if (c->expect && c->body_left) {
		/* 100 Continue, then the body */
		bg_buf_reset(&c->out);
		c->out_off = 0;
		bg_buf_addf(&c->out, "HTTP/1.1 100 Continue\r\n\r\n");
		c->gen_left = 0;
		c->after_write = ST_BODY;
		respond(c);
	}
}

static void consume_body(syn_conn *c, const char *p, size_t n)
{
	c->body_left -= n;
	if (c->replied)
		return; /* an answer is waiting: this body is discarded */
	switch (c->body_kind) {
	case SYN_BODY_VERIFY:
		syn_s3_verify(c, p, n);
		break;
	case SYN_BODY_BUFFER:
		if (bg_buf_add(&c->body, p, n) < 0 && !c->replied) {
			syn_reply_error(c, 400, "MaxMessageLengthExceeded",
					"request body larger than %zu bytes", c->body.cap);
		}
		break;
	case SYN_BODY_DISCARD:
		break;
	}
}

static void drive(syn_conn *c)
{
	while (!c->dead) {
		uint64_t now;
		switch (c->state) {
		case ST_HEAD: {
			char *end = find_head_end(c->in + c->inoff, c->inlen - c->inoff);
			if (end) {
				start_request(c, end);
				after_handler(c);
				break;
			}
			if (c->inoff) { /* compact */
				memmove(c->in, c->in + c->inoff, c->inlen - c->inoff);
				c->inlen -= c->inoff;
				c->inoff = 0;
			}
			if (c->inlen == IN_CAP) {
				c->close_after = true;
				syn_reply_error(c, 431, "RequestHeaderSectionTooLarge",
						"request head larger than %d bytes", IN_CAP);
				respond(c);
				break;
			}
			if (!c->can_read)
				return;
			now = bg_now_ns();
			size_t want = IN_CAP - c->inlen, ok = allowance(&c->rx, now, want);
			if (!ok) {
				arm(c, now + refill_ns(&c->rx, grant_min(want)));
				return;
			}
			ssize_t n = c_read(c, c->in + c->inlen, ok);
			if (n == -1) {
				if (!c->can_read || !c->can_write)
					return;
				break;
			}
			if (n <= 0) {
				close_conn(c);
				return;
			}
			spend(&c->rx, (size_t)n);
			syn_st.bytes_in += (uint64_t)n;
			c->inlen += (size_t)n;
			break;
		}
		case ST_BODY: {
			if (!c->body_left) {
				if (!c->replied)
					syn_s3_end(c);
				BG_ASSERT(c->replied);
				respond(c);
				break;
			}
			size_t have = c->inlen - c->inoff;
			if (have) {
				size_t n = have < c->body_left ? have : (size_t)c->body_left;
				consume_body(c, c->in + c->inoff, n);
				c->inoff += n;
				break;
			}
			c->inoff = c->inlen = 0;
			if (!c->can_read)
				return;
			now = bg_now_ns();
			size_t want = c->body_left < CHUNK ? (size_t)c->body_left : CHUNK;
			size_t ok = allowance(&c->rx, now, want);
			if (!ok) {
				arm(c, now + refill_ns(&c->rx, grant_min(want)));
				return;
			}
			ssize_t n = c_read(c, scratch, ok);
			if (n == -1) {
				if (!c->can_read || !c->can_write)
					return;
				break;
			}
			if (n <= 0) {
				close_conn(c);
				return;
			}
			spend(&c->rx, (size_t)n);
			syn_st.bytes_in += (uint64_t)n;
			consume_body(c, scratch, (size_t)n);
			break;
		}
		case ST_DELAY:
			now = bg_now_ns();
			if (now < c->wake_ns) {
				arm(c, c->wake_ns);
				return;
			}
			c->state = ST_WRITE;
			break;
		case ST_WRITE: {
			size_t hdr = c->out.len - c->out_off;
			if (!hdr && !c->gen_left) {
				finish_response(c);
				break;
			}
			if (!c->can_write)
				return;
			now = bg_now_ns();
			size_t want = hdr + (c->gen_left < CHUNK ? (size_t)c->gen_left : CHUNK);
			size_t ok = allowance(&c->tx, now, want);
			if (!ok) {
				arm(c, now + refill_ns(&c->tx, grant_min(want)));
				return;
			}
			struct iovec iov[2];
			int niov = 0;
			size_t total = 0;
			if (hdr) {
				size_t h = hdr < ok ? hdr : ok;
				iov[niov++] = (struct iovec){ c->out.data + c->out_off, h };
				total += h;
			}
			size_t g = 0;
			if (c->ssl && c->tls_wlen && c->tls_wlen > ok)
				ok = c->tls_wlen; /* a TLS write is repeated whole */
			if (c->gen_left && total < ok && !(c->ssl && hdr)) {
				g = c->gen_left < CHUNK ? (size_t)c->gen_left : CHUNK;
				if (g > ok - total)
					g = ok - total;
				if (c->ssl && c->tls_wlen > g)
					g = c->tls_wlen;
				syn_gen(c->gen_seed, c->gen_off, scratch, g);
				iov[niov++] = (struct iovec){ scratch, g };
				total += g;
			}
			ssize_t n = c_writev(c, iov, niov);
			if (n == -1) {
				if (!c->can_read || !c->can_write)
					return;
				break;
			}
			if (n < 0) {
				close_conn(c);
				return;
			}
			spend(&c->tx, (size_t)n);
			syn_st.bytes_out += (uint64_t)n;
			size_t w = (size_t)n, h = hdr < w ? hdr : w;
			c->out_off += h;
			w -= h;
			c->gen_off += w;
			c->gen_left -= w;
			syn_st.bytes_served += w;
			break;
		}
		}
	}
}

/* ---- the loop ---- */

static volatile sig_atomic_t stop;
static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void accept_all(int lfd)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				syn_log("accept: %s", strerror(errno));
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		syn_conn *c = new_conn(fd);
		if (!c) {
			close(fd);
			continue;
		}
		c->after_write = -1;
		if (tls) {
			c->ssl = SSL_new(tls);
			if (!c->ssl || SSL_set_fd(c->ssl, fd) != 1) {
				close_conn(c);
				continue;
			}
			SSL_set_accept_state(c->ssl);
		}
		struct epoll_event e = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
					 .data.ptr = &c->sev };
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e) < 0) {
			syn_log("epoll_ctl: %s", strerror(errno));
			close_conn(c);
			continue;
		}
		c->can_read = c->can_write = true;
		drive(c);
	}
}

int syn_serve(const char *host, int port, const char *port_file)
{
	signal(SIGPIPE, SIG_IGN);
	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	scratch = malloc(CHUNK);
	BG_ASSERT(scratch);
	if (syn_cfg.tls_cert) {
		tls = SSL_CTX_new(TLS_server_method());
		if (!tls || SSL_CTX_use_certificate_chain_file(tls, syn_cfg.tls_cert) != 1 ||
		    SSL_CTX_use_PrivateKey_file(tls, syn_cfg.tls_key, SSL_FILETYPE_PEM) != 1 ||
		    SSL_CTX_check_private_key(tls) != 1) {
			char e[256];
			ERR_error_string_n(ERR_get_error(), e, sizeof(e));
			fprintf(stderr, "barge-synth: --tls-cert %s / --tls-key %s: %s\n", syn_cfg.tls_cert,
				syn_cfg.tls_key, e);
			return 2;
		}
		SSL_CTX_set_mode(tls, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	}

	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	if (inet_pton(AF_INET, host, &a.sin_addr) != 1) {
		fprintf(stderr, "barge-synth: --host %s is not an IPv4 address\n", host);
		return 2;
	}
	if (bind(lfd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(lfd, 4096) < 0) {
		fprintf(stderr, "barge-synth: cannot listen on %s:%d: %s\n", host, port, strerror(errno));
		return 2;
	}
	socklen_t al = sizeof(a);
	getsockname(lfd, (struct sockaddr *)&a, &al);
	port = ntohs(a.sin_port);
	if (port_file) {
		char tmp[4096];
		bg_snprintf(tmp, sizeof(tmp), "%s.tmp", port_file);
		FILE *f = fopen(tmp, "w");
		if (!f || fprintf(f, "%d\n", port) < 0 || fclose(f) != 0 || rename(tmp, port_file) < 0) {
			fprintf(stderr, "barge-synth: cannot write %s: %s\n", port_file, strerror(errno));
			return 2;
		}
	}
	syn_log("listening on %s://%s:%d", tls ? "https" : "http", host, port);

	ep = epoll_create1(EPOLL_CLOEXEC);
	BG_ASSERT(ep >= 0);
	ev lev = { EV_LISTEN, NULL };
	struct epoll_event e = { .events = EPOLLIN | EPOLLET, .data.ptr = &lev };
	BG_ASSERT(epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &e) == 0);

	struct epoll_event evs[256];
	while (!stop) {
		int n = epoll_wait(ep, evs, 256, 1000);
		if (n < 0 && errno != EINTR) {
			syn_log("epoll_wait: %s", strerror(errno));
			break;
		}
		for (int i = 0; i < n; i++) {
			ev *v = evs[i].data.ptr;
			if (v->kind == EV_LISTEN) {
				accept_all(lfd);
				continue;
			}
			syn_conn *c = v->c;
			if (c->dead)
				continue;
			if (v->kind == EV_TIMER) {
				uint64_t x;
				if (read(c->tfd, &x, sizeof(x)) < 0 && errno != EAGAIN)
					syn_log("timerfd read: %s", strerror(errno));
				c->timer_armed = false;
			} else {
				uint32_t f = evs[i].events;
				if (f & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
					c->can_read = true;
				if (f & (EPOLLOUT | EPOLLHUP | EPOLLERR))
					c->can_write = true;
			}
			drive(c);
		}
		free_dead();
	}
	syn_log("stopping");
	close(lfd);
	close(ep);
	free(scratch);
	SSL_CTX_free(tls);
	return 0;
}
