/* test_cli - the command-line parser every barge command uses
 * (tools/cli.c): both value forms, '--', flags and aliases, the last of a
 * repeated option winning, each kind of value and its message, unknown
 * options, missing values, refused options, positional counts, the help
 * written from the table, and that every mistake is one line naming the
 * command and its --help. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../../tools/cli.c"
#include "check.h"

typedef struct targs {
	bool flag;
	const char *name, *hidden;
	unsigned n;
	uint64_t big, size;
	int mode, pair;
	char fnval[32];
	char seen[256]; /* "--name=value;" for each option taken, in order */
} targs;

static const cli_choice modes[] = { { "fast", 1 }, { "slow", 2 }, { "safe", 3 }, { NULL, 0 } };
static const cli_choice pairs[] = { { "on", 1 }, { "off", 0 }, { NULL, 0 } };

static int fn_opt(void *dst, const char *name, const char *val, char *err, size_t cap)
{
	if (strcmp(val, "bad") == 0) {
		snprintf(err, cap, "%s refused '%s'", name, val);
		return -1;
	}
	snprintf(dst, 32, "<%s>", val);
	return 0;
}

static void seen(void *base, const cli_opt *o, const char *val)
{
	targs *a = base;
	size_t n = strlen(a->seen);

	snprintf(a->seen + n, sizeof(a->seen) - n, "%s%s%s;", o->name, val ? "=" : "",
		 val ? val : "");
}

static const cli_opt topts[] = {
	{ .name = "--flag", .alias = 'f', .kind = CLI_FLAG, .off = CLI_AT(bool, targs, flag),
	  .help = "a flag" },
	CLI_OPT_STR("--name", "NAME", targs, name, "a name,\nsaid on two lines"),
	CLI_OPT_UINT("--n", "N", targs, n, 1, 10, NULL, "a small number"),
	CLI_OPT_U64("--big", "BYTES", targs, big, 0, 1000000000000ull, "a number of bytes",
		    "a big one"),
	CLI_OPT_SIZE("--size", "SIZE", targs, size, 1 << 20, 1 << 30, "a size"),
	CLI_OPT_CHOICE("--mode", "MODE", targs, mode, modes, "fast, slow or safe"),
	CLI_OPT_CHOICE("--pair", "X", targs, pair, pairs, "on or off"),
	CLI_OPT_FN("--fn", "V", char, targs, fnval[0], fn_opt, "taken by a function"),
	CLI_OPT_STR("--a-very-long-option", "VALUE", targs, hidden, "help on the same line"),
	CLI_OPT_STR("--label-of-22-chars", "XY", targs, hidden, "two spaces after 22"),
	CLI_OPT_STR("--label-of-21-chars", "X", targs, hidden, "the column after 21"),
	CLI_OPT_STR("--hidden", "H", targs, hidden, NULL),
	CLI_OPT_REFUSE("--profile", "use --src-profile P"),
	CLI_OPT_END,
};

static const cli_cmd tcmd = {
	.name = "t",
	.usage = "usage: barge t A B [options]\n",
	.tail = "The end.\n",
	.opts = topts,
	.pos_min = 2, .pos_max = 2, .pos_need = "A and B", .pos_takes = "A and B",
	.on_opt = seen,
};

static const cli_cmd rcmd = {
	.name = "r",
	.usage = "usage: barge r J [options]\n",
	.opts = topts,
	.pos_min = 1, .pos_max = 1, .pos_need = "a J", .pos_takes = "one J",
	.stop_at_last_pos = true,
};

static char out[4096], err[4096];
static targs a;
static cli_args pos;

static void slurp(FILE *f, char *buf, size_t cap)
{
	size_t n;

	rewind(f);
	n = fread(buf, 1, cap - 1, f);
	buf[n] = '\0';
	fclose(f);
}

/* cli_parse of the NULL-terminated arguments, stdout and stderr caught in
 * out and err; a starts zeroed. */
static int parse_as(const cli_cmd *c, const char *const *args)
{
	char *argv[32];
	int argc = 0;
	FILE *o = tmpfile(), *e = tmpfile();
	int so = dup(1), se = dup(2), r;

	while (args[argc])
		argv[argc] = (char *)args[argc], argc++;
	memset(&a, 0, sizeof(a));
	fflush(stdout);
	fflush(stderr);
	dup2(fileno(o), 1);
	dup2(fileno(e), 2);
	r = cli_parse(c, &a, argc, argv, &pos);
	fflush(stdout);
	fflush(stderr);
	dup2(so, 1);
	dup2(se, 2);
	close(so);
	close(se);
	slurp(o, out, sizeof(out));
	slurp(e, err, sizeof(err));
	return r;
}

#define PARSE(...) parse_as(&tcmd, (const char *const[]){ __VA_ARGS__, NULL })
#define REFUSED(msg) "barge: " msg " (see 'barge t --help')\n"

static void test_forms(void)
{
	CHECK_INT(PARSE("x", "--n", "3", "--name=a=b", "y", "--flag", "-f", "--mode", "slow",
			"--size", "16M", "--big=0", "--pair", "off", "--fn", "v"), 0);
	CHECK_STR(err, "");
	CHECK_INT(pos.npos, 2);
	CHECK_STR(pos.pos[0], "x");
	CHECK_STR(pos.pos[1], "y");
	CHECK_INT(pos.next, 16);
	CHECK_INT(a.n, 3);
	CHECK_STR(a.name, "a=b"); /* the first '=' ends the name */
	CHECK(a.flag);
	CHECK_INT(a.mode, 2);
	CHECK_INT(a.size, 16 << 20);
	CHECK_INT(a.big, 0);
	CHECK_INT(a.pair, 0);
	CHECK_STR(a.fnval, "<v>");
	/* Every option, in order, as the journal records copy's (names
	 * without "=value", values as given). */
	CHECK_STR(a.seen, "--n=3;--name=a=b;--flag;--flag;--mode=slow;--size=16M;--big=0;"
			  "--pair=off;--fn=v;");

	CHECK_INT(PARSE("--name=", "x", "y"), 0); /* an empty value is a value */
	CHECK_STR(a.name, "");
	CHECK_INT(PARSE("--name", "--n", "x", "y"), 0); /* a value may start with '-' */
	CHECK_STR(a.name, "--n");
	CHECK_INT(a.n, 0);
	/* The last of a repeated option wins. */
	CHECK_INT(PARSE("--n", "3", "x", "--n=5", "y", "--mode", "fast", "--mode", "safe"), 0);
	CHECK_INT(a.n, 5);
	CHECK_INT(a.mode, 3);
	/* "--" ends the options; "-" is an argument. */
	CHECK_INT(PARSE("--", "--n", "-f"), 0);
	CHECK_STR(pos.pos[0], "--n");
	CHECK_STR(pos.pos[1], "-f");
	CHECK(!a.flag && a.n == 0);
	CHECK_INT(PARSE("-", "--flag", "--", "--"), 0);
	CHECK_STR(pos.pos[0], "-");
	CHECK_STR(pos.pos[1], "--");
	CHECK(a.flag);
}

static void test_mistakes(void)
{
	CHECK_INT(PARSE("x", "y", "--bogus"), -1);
	CHECK_STR(err, REFUSED("unknown option '--bogus'"));
	CHECK_STR(out, "");
	CHECK_INT(PARSE("x", "y", "--bogus=1"), -1);
	CHECK_STR(err, REFUSED("unknown option '--bogus'"));
	CHECK_INT(PARSE("x", "y", "-z"), -1);
	CHECK_STR(err, REFUSED("unknown option '-z'"));
	CHECK_INT(PARSE("x", "y", "-fz"), -1); /* no bundling of flags */
	CHECK_STR(err, REFUSED("unknown option '-fz'"));
	CHECK_INT(PARSE("x", "y", "--fla"), -1); /* no abbreviations */
	CHECK_STR(err, REFUSED("unknown option '--fla'"));
	CHECK_INT(PARSE("x", "y", "--n"), -1);
	CHECK_STR(err, REFUSED("--n needs a value"));
	CHECK_INT(PARSE("x", "y", "--flag=yes"), -1);
	CHECK_STR(err, REFUSED("--flag takes no value"));
	CHECK_INT(PARSE("x", "y", "--profile", "p"), -1);
	CHECK_STR(err, REFUSED("unknown option '--profile': use --src-profile P"));
	CHECK_INT(PARSE("x", "y", "--profile=p"), -1);
	CHECK_STR(err, REFUSED("unknown option '--profile': use --src-profile P"));
	CHECK_INT(PARSE("x"), -1);
	CHECK_STR(err, REFUSED("t needs A and B"));
	CHECK_INT(PARSE("x", "y", "z"), -1);
	CHECK_STR(err, REFUSED("too many arguments: t takes A and B, not also 'z'"));
	/* The first mistake is the one said, even before a --help. */
	CHECK_INT(PARSE("--bogus", "--help"), -1);
	CHECK_STR(err, REFUSED("unknown option '--bogus'"));
	CHECK_STR(out, "");
	/* A value is one line on the terminal, whatever it holds. */
	CHECK_INT(PARSE("x", "y", "--n", "1\n2\033[31m"), -1);
	CHECK_STR(err, REFUSED("--n '1\\n2\\x1b[31m' must be a number from 1 to 10"));
}

static void test_values(void)
{
	CHECK_INT(PARSE("x", "y", "--n", "0"), -1);
	CHECK_STR(err, REFUSED("--n '0' must be a number from 1 to 10"));
	CHECK_INT(PARSE("x", "y", "--n", "11"), -1);
	CHECK_INT(PARSE("x", "y", "--n", "1.5"), -1);
	CHECK_INT(PARSE("x", "y", "--n", ""), -1);
	CHECK_STR(err, REFUSED("--n '' must be a number from 1 to 10"));
	/* A good value, then a bad one: the bad one is named. */
	CHECK_INT(PARSE("x", "y", "--n", "4", "--n", "-1"), -1);
	CHECK_STR(err, REFUSED("--n '-1' must be a number from 1 to 10"));
	CHECK_INT(PARSE("x", "y", "--big", "1000000000001"), -1);
	CHECK_STR(err, REFUSED("--big '1000000000001' must be a number of bytes from 0 to "
			       "1000000000000"));
	CHECK_INT(PARSE("x", "y", "--size", "1K"), -1);
	CHECK_STR(err, REFUSED("--size '1K' is not a size between 1048576 and 1073741824 bytes "
			       "(use forms like 64K, 16M, 1G)"));
	CHECK_INT(PARSE("x", "y", "--size", "1G"), 0);
	CHECK_INT(a.size, 1 << 30);
	CHECK_INT(PARSE("x", "y", "--mode", "FAST"), -1);
	CHECK_STR(err, REFUSED("--mode 'FAST' must be fast, slow or safe"));
	CHECK_INT(PARSE("x", "y", "--pair", ""), -1);
	CHECK_STR(err, REFUSED("--pair '' must be on or off"));
	CHECK_INT(PARSE("x", "y", "--fn", "bad"), -1);
	CHECK_STR(err, REFUSED("--fn refused 'bad'"));
	CHECK_INT(a.seen[0], 0); /* a refused option is not recorded */
}

static const char thelp[] =
	"usage: barge t A B [options]\n"
	"\n"
	"  -f, --flag             a flag\n"
	"  --name NAME            a name,\n"
	"                         said on two lines\n"
	"  --n N                  a small number\n"
	"  --big BYTES            a big one\n"
	"  --size SIZE            a size\n"
	"  --mode MODE            fast, slow or safe\n"
	"  --pair X               on or off\n"
	"  --fn V                 taken by a function\n"
	"  --a-very-long-option VALUE  help on the same line\n"
	"  --label-of-22-chars XY  two spaces after 22\n"
	"  --label-of-21-chars X  the column after 21\n"
	"\n"
	"The end.\n";

static void test_help(void)
{
	CHECK_INT(PARSE("--help"), 1);
	CHECK_STR(out, thelp);
	CHECK_STR(err, "");
	CHECK_INT(PARSE("x", "-h", "--bogus"), 1); /* help, before a later mistake */
	CHECK_STR(out, thelp);
	CHECK_STR(err, "");
	CHECK_INT(PARSE("--help=x"), -1);
	CHECK_STR(err, REFUSED("unknown option '--help'"));
}

static void test_stop_at_last_pos(void)
{
	CHECK_INT(parse_as(&rcmd, (const char *const[]){ "--n", "2", "J", "--n", "x", "y", NULL }), 0);
	CHECK_INT(a.n, 2);
	CHECK_INT(pos.npos, 1);
	CHECK_STR(pos.pos[0], "J");
	CHECK_INT(pos.next, 3); /* "--n x y" are left for whoever comes next */
	CHECK_INT(parse_as(&rcmd, (const char *const[]){ "--n", "2", NULL }), -1);
	CHECK_STR(err, "barge: r needs a J (see 'barge r --help')\n");
	CHECK_INT(parse_as(&rcmd, (const char *const[]){ "-h", NULL }), 1);
	CHECK(strncmp(out, "usage: barge r J [options]\n\n  -f, --flag", 40) == 0);
}

int main(void)
{
	test_forms();
	test_mistakes();
	test_values();
	test_help();
	test_stop_at_last_pos();
	CHECK_DONE();
}
