/* test_local.c - engine/local.c: which keys may become paths beneath a
 * download directory, the directories made for them (never through a
 * symlink), the tree walk of an upload, names and modification times. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "local.h"

static void key_ok(const char *k)
{
	char why[160] = "";
	int r = bg_local_key_check(k, why, sizeof(why));
	if (r != 0)
		fprintf(stderr, "refused \"%s\": %s\n", k, why);
	CHECK_INT(r, 0);
}

static void key_bad(const char *k, const char *want)
{
	char why[160] = "";
	int r = bg_local_key_check(k, why, sizeof(why));
	CHECK_INT(r, -1);
	if (!strstr(why, want))
		fprintf(stderr, "\"%s\": \"%s\" does not say \"%s\"\n", k, why, want);
	CHECK(strstr(why, want) != NULL);
}

static void test_keys(void)
{
	key_ok("a");
	key_ok("a/b/c.txt");
	key_ok("..a/b..");          /* dots inside a name are a name */
	key_ok(".hidden/.x");
	key_ok("sp ace/é 中文/#%+?&=~");
	key_ok("-leading-dash");
	key_bad("", "directory itself");
	key_bad("/etc/passwd", "starts with '/'");
	key_bad("../x", "'..'");
	key_bad("a/../../b", "'..'");
	key_bad("a/..", "'..'");
	key_bad("./c", "'.'");
	key_bad("a/./c", "'.'");
	key_bad("a//b", "empty path component");
	key_bad("a/", "empty path component");
	key_bad("x/.barge.0123456789abcdef.partial", "temporary files");
	char longc[300];
	memset(longc, 'y', 256);
	longc[256] = '\0';
	key_bad(longc, "longer than 255");
	longc[255] = '\0';
	key_ok(longc);

	char tmp[BG_TEMP_NAME_MAX];
	bg_local_temp_name("a/b/c.txt", tmp);
	CHECK_INT(strlen(tmp), 31);
	CHECK(strncmp(tmp, ".barge.", 7) == 0 && strcmp(tmp + 23, ".partial") == 0);
	char tmp2[BG_TEMP_NAME_MAX];
	bg_local_temp_name("a/b/c.txt", tmp2);
	CHECK_STR(tmp, tmp2); /* a later run finds it again */
	bg_local_temp_name("a/b/d.txt", tmp2);
	CHECK(strcmp(tmp, tmp2) != 0);
	CHECK_STR(bg_local_base("a/b/c.txt"), "c.txt");
	CHECK_STR(bg_local_base("c.txt"), "c.txt");
}

static void test_utf8(void)
{
	CHECK(bg_utf8_valid("plain", 5));
	CHECK(bg_utf8_valid("\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80", 9));
	CHECK(!bg_utf8_valid("\xff", 1));
	CHECK(!bg_utf8_valid("\xc3", 1));             /* cut short */
	CHECK(!bg_utf8_valid("\xc0\xaf", 2));         /* overlong '/' */
	CHECK(!bg_utf8_valid("\xed\xa0\x80", 3));     /* a surrogate */
	CHECK(!bg_utf8_valid("\xf4\x90\x80\x80", 4)); /* past U+10FFFF */
}

static void test_mtime(void)
{
	bg_meta m;
	bg_meta_clear(&m);
	struct timespec ts = { .tv_sec = 1700000000, .tv_nsec = 123456789 }, got;
	CHECK_INT(bg_local_meta_mtime(&m, &ts), 0);
	CHECK_STR(m.buf, "x-amz-meta-mtime");
	CHECK_STR(m.buf + 17, "1700000000.123456789");
	CHECK_INT(bg_local_mtime_for(&m, "2020-01-01T00:00:00.000Z", &got), 0);
	CHECK_INT(got.tv_sec, 1700000000);
	CHECK_INT(got.tv_nsec, 123456789);
	bg_meta_clear(&m);
	CHECK_INT(bg_local_mtime_for(&m, "2020-01-02T03:04:05.250Z", &got), 0);
	CHECK_INT(got.tv_sec, 1577934245);
	CHECK_INT(got.tv_nsec, 250000000);
	CHECK_INT(bg_local_mtime_for(&m, "yesterday", &got), -1);
	CHECK_INT(bg_local_mtime_for(&m, NULL, &got), -1);
	CHECK_INT(bg_meta_capture(&m, "x-amz-meta-mtime", 16, "1.5", 3), 0);
	CHECK_INT(bg_local_mtime_for(&m, NULL, &got), 0);
	CHECK_INT(got.tv_sec, 1);
	CHECK_INT(got.tv_nsec, 500000000);
	bg_meta_clear(&m);
	CHECK_INT(bg_meta_capture(&m, "x-amz-meta-mtime", 16, "-3", 2), 0);
	CHECK_INT(bg_local_mtime_for(&m, NULL, &got), -1);

	struct stat st = { 0 };
	st.st_size = 4096;
	st.st_mtim.tv_sec = 16;
	st.st_ctim.tv_sec = 17;
	st.st_ctim.tv_nsec = 5;
	st.st_ino = 255;
	char e[BG_ETAG_MAX];
	bg_local_etag(&st, e, sizeof(e));
	CHECK_STR(e, "10.000000000.1000.11.000000005.ff");
	CHECK(strchr(e, '-') == NULL); /* not read as a multipart ETag */
	/* a file rewritten in place with its size and mtime kept (cp -p):
	 * only its change time tells */
	char e2[BG_ETAG_MAX];
	st.st_ctim.tv_nsec = 6;
	bg_local_etag(&st, e2, sizeof(e2));
	CHECK(strcmp(e, e2) != 0);
	st.st_mtim.tv_sec = st.st_ctim.tv_sec = 0xffffffffffll; /* the year 36812 */
	st.st_mtim.tv_nsec = st.st_ctim.tv_nsec = 999999999;
	st.st_size = (off_t)0x7fffffffffffffffll;
	st.st_ino = ~(ino_t)0;
	bg_local_etag(&st, e2, sizeof(e2));
	CHECK_INT(strlen(e2), 75); /* fits BG_ETAG_MAX with its NUL */
}

static void test_dirs(void)
{
	char root[] = "/tmp/test_local.XXXXXX";
	CHECK(mkdtemp(root) != NULL);
	char outside[] = "/tmp/test_local_out.XXXXXX";
	CHECK(mkdtemp(outside) != NULL);
	int rfd = open(root, O_PATH | O_DIRECTORY);
	CHECK(rfd >= 0);
	int d = -1;
	CHECK_INT(bg_local_open_parent(rfd, "a/b/c.txt", false, &d), -ENOENT);
	CHECK_INT(bg_local_open_parent(rfd, "a/b/c.txt", true, &d), 0);
	CHECK(d >= 0);
	struct stat st;
	CHECK_INT(fstatat(rfd, "a/b", &st, 0), 0);
	CHECK(S_ISDIR(st.st_mode));
	close(d);
	CHECK_INT(bg_local_open_parent(rfd, "top.txt", false, &d), 0); /* the root itself */
	close(d);

	/* A symlink inside the target is never gone through. */
	char link[256];
	snprintf(link, sizeof(link), "%s/link", root);
	CHECK_INT(symlink(outside, link), 0);
	CHECK_INT(bg_local_open_parent(rfd, "link/x", true, &d), -ENOTDIR);
	CHECK_INT(bg_local_open_parent(rfd, "link/deeper/x", true, &d), -ENOTDIR);
	char probe[256];
	snprintf(probe, sizeof(probe), "%s/deeper", outside);
	CHECK(stat(probe, &st) < 0 && errno == ENOENT);
	/* A file where a directory should be. */
	int f = openat(rfd, "file", O_CREAT | O_WRONLY, 0644);
	CHECK(f >= 0);
	close(f);
	CHECK_INT(bg_local_open_parent(rfd, "file/x", true, &d), -ENOTDIR);

	/* The walk: files, the symlink skipped, a fifo skipped, our own
	 * temporary files skipped, nested directories entered. */
	CHECK_INT(mkfifoat(rfd, "fifo", 0644), 0);
	f = openat(rfd, "a/b/.barge.0123456789abcdef.partial", O_CREAT | O_WRONLY, 0644);
	CHECK(f >= 0);
	close(f);
	f = openat(rfd, "a/b/c.txt", O_CREAT | O_WRONLY, 0644);
	CHECK(f >= 0 && write(f, "hello", 5) == 5);
	close(f);
	bg_walk w;
	char err[200];
	CHECK_INT(bg_walk_open(&w, open(root, O_RDONLY | O_DIRECTORY), err, sizeof(err)), 0);
	bg_walk_entry e;
	unsigned files = 0, skips = 0, fails = 0;
	bool saw_c = false, saw_file = false;
	while (bg_walk_next(&w, &e)) {
		if (e.kind == BG_WALK_FILE) {
			files++;
			if (strcmp(e.rel, "a/b/c.txt") == 0 && e.st.st_size == 5)
				saw_c = true;
			if (strcmp(e.rel, "file") == 0)
				saw_file = true;
		} else if (e.kind == BG_WALK_SKIP) {
			skips++;
		} else {
			fails++;
		}
	}
	bg_walk_close(&w);
	CHECK_INT(files, 2);
	CHECK_INT(skips, 3); /* link, fifo, the temporary file */
	CHECK_INT(fails, 0);
	CHECK(saw_c && saw_file);
	/* A tree deeper than a key can be: 9 levels of 250-byte names.  The
	 * walk names the directory where it stops, and the files beside it
	 * keep their right paths. */
	char deep[4096] = "", name[251];
	memset(name, 'd', 250);
	name[250] = '\0';
	int dfd = open(root, O_RDONLY | O_DIRECTORY);
	for (int lvl = 0; lvl < 9; lvl++) {
		CHECK_INT(mkdirat(dfd, name, 0755), 0);
		int nfd = openat(dfd, name, O_RDONLY | O_DIRECTORY);
		close(dfd);
		dfd = nfd;
		strcat(deep, name);
		strcat(deep, "/");
		f = openat(dfd, "z", O_CREAT | O_WRONLY, 0644); /* one file per level */
		CHECK(f >= 0);
		close(f);
	}
	close(dfd);
	CHECK_INT(bg_walk_open(&w, open(root, O_RDONLY | O_DIRECTORY), err, sizeof(err)), 0);
	unsigned z_ok = 0, z_files = 0, dir_stop = 0, other = 0;
	while (bg_walk_next(&w, &e)) {
		size_t l = strlen(e.rel);
		if (l > 2 && strcmp(e.rel + l - 2, "/z") == 0) {
			/* every level's z, with the right path, whatever came before */
			z_ok += strncmp(e.rel, deep, l - 1) == 0;
			z_files += e.kind == BG_WALK_FILE;
		} else if (e.kind == BG_WALK_FAIL && strstr(e.why, "an entry here")) {
			dir_stop++;
			CHECK(strncmp(e.rel, deep, l) == 0 && e.rel[l - 1] == '/');
		} else if (e.kind == BG_WALK_FILE && strcmp(e.rel, "a/b/c.txt") != 0 &&
			   strcmp(e.rel, "file") != 0) {
			other++;
		}
	}
	bg_walk_close(&w);
	CHECK_INT(z_ok, 8);    /* levels 1-8 (the 9th directory is not entered) */
	CHECK_INT(z_files, 4); /* levels 5-8 are over 1,024 bytes: failed, not keys */
	CHECK_INT(dir_stop, 1);
	CHECK_INT(other, 0);
	close(rfd);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s %s", root, outside);
	CHECK_INT(system(cmd), 0);
}

int main(void)
{
	test_keys();
	test_utf8();
	test_mtime();
	test_dirs();
	CHECK_DONE();
}
