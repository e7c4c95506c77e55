/* gen.c - the content generator, source bucket specs and ETags (see synth.h).
 *
 * Content: the 8-byte little-endian word i of an object (bytes 8i..8i+7) is
 * splitmix64's finaliser of seed + (i + 1) * 0x9E3779B97F4A7C15, where seed is
 * the FNV-1a 64 hash of the object's full key.  Random access by offset, a few
 * GB/s per core, trivially re-implemented elsewhere (tests/system/test_synth.py
 * does, to stay independent of this file). */
#include "synth.h"

#include "bench.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "barge-synth assumes a little-endian host"
#endif

#define DEFAULT_PART (8ull << 20) /* aws-cli's multipart threshold and chunk size */

/* The generator is the engine's (engine/bench.h), so that what `barge
 * bench` uploads and what a barge-synth sink expects cannot drift apart. */
uint64_t syn_seed(const char *key, size_t len)
{
	return bg_bench_seed(key, len);
}

uint8_t syn_byte(uint64_t seed, uint64_t off)
{
	return (uint8_t)(bg_bench_word(seed, off >> 3) >> (8 * (off & 7)));
}

void syn_gen(uint64_t seed, uint64_t off, void *buf, size_t len)
{
	bg_bench_gen(seed, off, buf, len);
}

size_t syn_check(uint64_t seed, uint64_t off, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	size_t i = 0;
	for (; i < len && ((off + i) & 7); i++)
		if (p[i] != syn_byte(seed, off + i))
			return i;
	uint64_t w = (off + i) >> 3;
	/* Blocks of 8 words without a branch per word; locate on a mismatch. */
	while (i + 64 <= len) {
		uint64_t acc = 0, a;
		for (unsigned k = 0; k < 8; k++) {
			memcpy(&a, p + i + 8 * k, 8);
			acc |= a ^ bg_bench_word(seed, w + k);
		}
		if (acc)
			break;
		i += 64;
		w += 8;
	}
	for (; i < len; i++)
		if (p[i] != syn_byte(seed, off + i))
			return i;
	return len;
}

static unsigned digits(uint64_t n)
{
	unsigned d = 1;
	while (n >= 10) {
		n /= 10;
		d++;
	}
	return d;
}

static int class_cmp(const void *a, const void *b)
{
	const syn_class *x = a, *y = b;
	char kx[SYN_NAME_MAX + 2], ky[SYN_NAME_MAX + 2];
	snprintf(kx, sizeof(kx), "%s/", x->name);
	snprintf(ky, sizeof(ky), "%s/", y->name);
	return strcmp(kx, ky);
}

int syn_src_parse(syn_src *s, const char *spec, char *err, size_t errlen)
{
	char buf[1024];
	if (bg_strlcpy(buf, spec, sizeof(buf)) < 0) {
		bg_snprintf(err, errlen, "bucket spec too long");
		return -1;
	}
	for (char *item = buf, *next; item; item = next) {
		next = strchr(item, ',');
		if (next)
			*next++ = '\0';
		if (!*item)
			continue;
		if (s->ncls == SYN_CLASS_MAX) {
			bg_snprintf(err, errlen, "at most %d object classes per bucket", SYN_CLASS_MAX);
			return -1;
		}
		syn_class *c = &s->cls[s->ncls];
		memset(c, 0, sizeof(*c));
		char *eq = strchr(item, '='), *x = eq ? strchr(eq, 'x') : NULL;
		if (!eq || !x || eq == item || (size_t)(eq - item) >= SYN_NAME_MAX) {
			bg_snprintf(err, errlen, "object class %s: want NAME=COUNTxSIZE[@PARTSIZE]",
				    item);
			return -1;
		}
		for (char *q = item; q < eq; q++)
			if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') ||
			      (*q >= '0' && *q <= '9') || *q == '-' || *q == '_' || *q == '.')) {
				bg_snprintf(err, errlen, "object class name %.*s: letters, digits, - _ .",
					    (int)(eq - item), item);
				return -1;
			}
		memcpy(c->name, item, (size_t)(eq - item));
		*x = '\0';
		char *at = strchr(x + 1, '@');
		if (at)
			*at = '\0';
		if (bg_parse_u64(eq + 1, 1, 100000000, &c->count) < 0 ||
		    bg_parse_size(x + 1, &c->size) < 0 ||
		    (at && bg_parse_size(at + 1, &c->part_size) < 0)) {
			bg_snprintf(err, errlen, "object class %s: bad count, size or part size",
				    c->name);
			return -1;
		}
		if (!at)
			c->part_size = c->size > DEFAULT_PART ? DEFAULT_PART : 0;
		if (c->part_size && (c->size == 0 || (c->size + c->part_size - 1) / c->part_size > 10000)) {
			bg_snprintf(err, errlen, "object class %s: more than 10,000 parts of %llu bytes",
				    c->name, (unsigned long long)c->part_size);
			return -1;
		}
		c->width = digits(c->count - 1) > 6 ? digits(c->count - 1) : 6;
		for (unsigned i = 0; i < s->ncls; i++)
			if (strcmp(s->cls[i].name, c->name) == 0) {
				bg_snprintf(err, errlen, "object class %s given twice", c->name);
				return -1;
			}
		s->ncls++;
	}
	if (!s->ncls) {
		bg_snprintf(err, errlen, "bucket %s: no object classes", s->name);
		return -1;
	}
	qsort(s->cls, s->ncls, sizeof(s->cls[0]), class_cmp);
	return 0;
}

int syn_key(const syn_class *c, uint64_t idx, char *buf, size_t cap)
{
	return bg_snprintf(buf, cap, "%s/%0*llu", c->name, (int)c->width, (unsigned long long)idx);
}

void syn_obj_of(const syn_class *c, uint64_t idx, syn_obj *o)
{
	char k[SYN_NAME_MAX + 32];
	syn_key(c, idx, k, sizeof(k));
	o->c = c;
	o->idx = idx;
	o->seed = syn_seed(k, strlen(k));
	o->size = c->size;
}

bool syn_src_find(const syn_src *s, const char *key, size_t len, syn_obj *o)
{
	const char *slash = NULL;
	for (size_t i = len; i-- > 0;)
		if (key[i] == '/') {
			slash = key + i;
			break;
		}
	if (!slash)
		return false;
	size_t nlen = (size_t)(slash - key), dlen = len - nlen - 1;
	for (unsigned i = 0; i < s->ncls; i++) {
		const syn_class *c = &s->cls[i];
		if (strlen(c->name) != nlen || memcmp(c->name, key, nlen) != 0 || dlen != c->width)
			continue;
		uint64_t idx = 0;
		for (size_t k = 0; k < dlen; k++) {
			char d = slash[1 + k];
			if (d < '0' || d > '9')
				return false;
			idx = idx * 10 + (uint64_t)(d - '0');
		}
		if (idx >= c->count)
			return false;
		syn_obj_of(c, idx, o);
		return true;
	}
	return false;
}

bool syn_src_seek(const syn_src *s, const char *key, bool strict, unsigned *ci, uint64_t *idx)
{
	char k[SYN_NAME_MAX + 32];
	for (unsigned i = 0; i < s->ncls; i++) {
		const syn_class *c = &s->cls[i];
		/* first index whose key is > key (strict) or >= key */
		uint64_t lo = 0, hi = c->count;
		while (lo < hi) {
			uint64_t mid = lo + (hi - lo) / 2;
			syn_key(c, mid, k, sizeof(k));
			int r = strcmp(k, key);
			if (r > 0 || (!strict && r == 0))
				hi = mid;
			else
				lo = mid + 1;
		}
		if (lo < c->count) {
			*ci = i;
			*idx = lo;
			return true;
		}
	}
	return false;
}


void syn_fake_tag(uint64_t seed, uint64_t off, uint64_t len, unsigned char tag[16])
{
	uint64_t in[2] = { off, len };
	XXH128_canonical_t c;
	XXH128_canonicalFromHash(&c, XXH3_128bits_withSeed(in, sizeof(in), seed));
	memcpy(tag, c.digest, 16);
}

uint64_t syn_obj_parts(const syn_obj *o)
{
	if (!o->c->part_size)
		return 0;
	return (o->size + o->c->part_size - 1) / o->c->part_size;
}

void syn_multipart_etag(const unsigned char (*tags)[16], uint64_t n, char out[SYN_ETAG_MAX])
{
	unsigned char md[16];
	unsigned mdlen = 0;
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	BG_ASSERT(m);
	EVP_DigestInit_ex(m, EVP_md5(), NULL);
	EVP_DigestUpdate(m, tags, 16 * n);
	EVP_DigestFinal_ex(m, md, &mdlen);
	EVP_MD_CTX_free(m);
	bg_hex(md, 16, out);
	snprintf(out + 32, SYN_ETAG_MAX - 32, "-%llu", (unsigned long long)n);
}

void syn_obj_etag(const syn_obj *o, syn_etag_mode mode, char out[SYN_ETAG_MAX])
{
	uint64_t n = syn_obj_parts(o);
	if (!n) { /* clients check a single-part ETag against the bytes' MD5 */
		unsigned char md[16];
		syn_obj_md5(o, md);
		bg_hex(md, 16, out);
		return;
	}
	if (mode == SYN_ETAG_MD5 && o->c->md5_etags) {
		memcpy(out, o->c->md5_etags[o->idx], SYN_ETAG_MAX);
		return;
	}
	unsigned char (*tags)[16] = malloc(16 * n);
	BG_ASSERT(tags);
	uint64_t ps = o->c->part_size;
	for (uint64_t i = 0; i < n; i++)
		syn_fake_tag(o->seed, i * ps, i + 1 < n ? ps : o->size - i * ps, tags[i]);
	syn_multipart_etag((const unsigned char (*)[16])tags, n, out);
	free(tags);
}

static void md5_range(EVP_MD_CTX *m, uint64_t seed, uint64_t off, uint64_t len, unsigned char out[16],
		      char *buf, size_t cap)
{
	unsigned l = 0;
	EVP_DigestInit_ex(m, EVP_md5(), NULL);
	while (len) {
		size_t n = len < cap ? (size_t)len : cap;
		syn_gen(seed, off, buf, n);
		EVP_DigestUpdate(m, buf, n);
		off += n;
		len -= n;
	}
	EVP_DigestFinal_ex(m, out, &l);
}

int syn_src_compute_md5(syn_src *s)
{
	size_t cap = 1 << 20;
	char *buf = malloc(cap);
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	if (!buf || !m) {
		free(buf);
		EVP_MD_CTX_free(m);
		return -1;
	}
	int rc = 0;
	for (unsigned i = 0; i < s->ncls && !rc; i++) {
		syn_class *c = &s->cls[i];
		c->md5_etags = calloc(c->count, SYN_ETAG_MAX);
		if (!c->md5_etags) {
			rc = -1;
			break;
		}
		for (uint64_t k = 0; k < c->count; k++) {
			syn_obj o;
			syn_obj_of(c, k, &o);
			uint64_t n = syn_obj_parts(&o);
			unsigned char md[16];
			if (!n) {
				syn_obj_md5(&o, md);
				bg_hex(md, 16, c->md5_etags[k]);
				continue;
			}
			unsigned char (*tags)[16] = malloc(16 * n);
			if (!tags) {
				rc = -1;
				break;
			}
			for (uint64_t p = 0; p < n; p++) {
				uint64_t off = p * c->part_size;
				md5_range(m, o.seed, off, p + 1 < n ? c->part_size : o.size - off, tags[p],
					  buf, cap);
			}
			syn_multipart_etag((const unsigned char (*)[16])tags, n, c->md5_etags[k]);
			free(tags);
		}
	}
	EVP_MD_CTX_free(m);
	free(buf);
	return rc;
}

void syn_obj_md5(const syn_obj *o, unsigned char out[16])
{
	syn_class *c = (syn_class *)o->c;
	if (!c->md5s) {
		c->md5s = calloc(c->count, 16);
		c->md5_have = calloc(c->count, 1);
		BG_ASSERT(c->md5s && c->md5_have);
	}
	if (!c->md5_have[o->idx]) {
		static char *buf;
		static EVP_MD_CTX *m;
		if (!buf) {
			buf = malloc(1 << 20);
			m = EVP_MD_CTX_new();
			BG_ASSERT(buf && m);
		}
		uint64_t t0 = bg_now_ns();
		md5_range(m, o->seed, 0, o->size, c->md5s[o->idx], buf, 1 << 20);
		c->md5_have[o->idx] = 1;
		syn_st.bytes_md5_source += o->size;
		syn_st.md5_source_ns += bg_now_ns() - t0;
	}
	memcpy(out, c->md5s[o->idx], 16);
}
