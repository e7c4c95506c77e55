/* cli.h - the one command-line parser of every barge command.
 *
 * A command declares its options as a table (cli_opt: name, the value's
 * name or none, help text, where the value goes or what takes it) and its
 * positional arguments (how many, and how to name them in a message);
 * cli_parse walks argv once, in order:
 *   --name value, --name=value   an option that takes a value
 *   --name, -x                   a flag (or an option's one-letter alias)
 *   --                           the end of options: the rest is positional
 *   -h, --help                   the command's help on stdout
 * and every mistake (an unknown option, a missing value, a value a flag
 * does not take, a value out of range, too many or too few arguments) is
 * one line on stderr, "barge: MESSAGE (see 'barge CMD --help')", and exit
 * code 2.  A repeated option is taken each time: the last one wins (a bad
 * one is named, wherever it stands).  The help's option list is written
 * from the same table (cli_help), so the two cannot drift apart. */
#ifndef BG_CLI_H
#define BG_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CLI_POS_MAX 4 /* positional arguments a command can take */


typedef enum cli_kind {
	CLI_END = 0, /* ends a table */
	CLI_FLAG,    /* (bool): true; no value */
	CLI_STR,     /* (const char *): the value (argv's own string) */
	CLI_UINT,    /* (unsigned): a whole number from min to max */
	CLI_U64,     /* (uint64_t): a whole number from min to max */
	CLI_SIZE,    /* (uint64_t): a size (16M, 1G, bytes) from min to max */
	CLI_CHOICE,  /* (int): the value of the choice named (choices) */
	CLI_FN,      /* fn(member, name, value, err, cap) takes it (a flag when arg is NULL) */
	CLI_REFUSE,  /* not an option here: "unknown option 'N': <help>" (never listed) */
} cli_kind;

/* One name a CLI_CHOICE option accepts, and the value it stores. */
typedef struct cli_choice {
	const char *name;
	int value;
} cli_choice;

/* Takes the value of a CLI_FN option (NULL for a flag) into dst, the
 * member of the command's arguments the entry names: 0, or -1 with a
 * message in err (the parser adds "barge: " and the pointer to --help). */
typedef int (*cli_fn)(void *dst, const char *name, const char *val, char *err, size_t cap);

/* One option.  Tables are static and name where a value goes as an
 * offset into the command's own struct of arguments (base, given to
 * cli_parse), so a help can be printed without one. */
typedef struct cli_opt {
	const char *name;  /* "--concurrency" */
	char alias;        /* 'r' for "-r", or 0 */
	const char *arg;   /* the value's name in the help ("N"), NULL: a flag */
	const char *help;  /* '\n' starts another line; NULL: not listed */
	cli_kind kind;
	size_t off;                 /* the destination: base + off */
	uint64_t min, max;          /* CLI_UINT, CLI_U64, CLI_SIZE */
	const char *what;           /* CLI_UINT, CLI_U64: "a number" unless said */
	const cli_choice *choices;  /* CLI_CHOICE: ends with { NULL, 0 } */
	cli_fn fn;                  /* CLI_FN */
} cli_opt;

/* Table entries for member m of struct S, its type checked by the
 * compiler (comparing pointers to different types is an error here). */
#define CLI_AT(T, S, m) (offsetof(S, m) + 0 * sizeof((T *)0 == &((S *)0)->m))
#define CLI_OPT_FLAG(n, S, m, h) \
	{ .name = (n), .help = (h), .kind = CLI_FLAG, .off = CLI_AT(bool, S, m) }
#define CLI_OPT_STR(n, a, S, m, h) \
	{ .name = (n), .arg = (a), .help = (h), .kind = CLI_STR, .off = CLI_AT(const char *, S, m) }
#define CLI_OPT_UINT(n, a, S, m, lo, hi, w, h)                                          \
	{ .name = (n), .arg = (a), .help = (h), .kind = CLI_UINT,                       \
	  .off = CLI_AT(unsigned, S, m), .min = (lo), .max = (hi), .what = (w) }
#define CLI_OPT_U64(n, a, S, m, lo, hi, w, h)                                           \
	{ .name = (n), .arg = (a), .help = (h), .kind = CLI_U64,                        \
	  .off = CLI_AT(uint64_t, S, m), .min = (lo), .max = (hi), .what = (w) }
#define CLI_OPT_SIZE(n, a, S, m, lo, hi, h)                                             \
	{ .name = (n), .arg = (a), .help = (h), .kind = CLI_SIZE,                       \
	  .off = CLI_AT(uint64_t, S, m), .min = (lo), .max = (hi) }
#define CLI_OPT_CHOICE(n, a, S, m, c, h)                                                \
	{ .name = (n), .arg = (a), .help = (h), .kind = CLI_CHOICE,                     \
	  .off = CLI_AT(int, S, m), .choices = (c) }
#define CLI_OPT_FN(n, a, T, S, m, f, h)                                                \
	{ .name = (n), .arg = (a), .help = (h), .kind = CLI_FN, .off = CLI_AT(T, S, m),  \
	  .fn = (f) }
/* A CLI_FN given the whole struct of arguments (one option that sets
 * several members). */
#define CLI_OPT_FN_ALL(n, a, f, h) { .name = (n), .arg = (a), .help = (h), .kind = CLI_FN, .fn = (f) }
#define CLI_OPT_REFUSE(n, why) { .name = (n), .help = (why), .kind = CLI_REFUSE }
#define CLI_OPT_END { .kind = CLI_END }

/* A command: its name, its help around the option list, its options and
 * its positional arguments. */
typedef struct cli_cmd {
	const char *name;     /* "copy" */
	const char *usage;    /* the help before the option list ("usage: ...\n\n...\n") */
	const char *tail;     /* the help after it (or NULL), after a blank line */
	const cli_opt *opts;  /* ends with an entry of kind CLI_END */
	unsigned pos_min, pos_max; /* pos_max <= CLI_POS_MAX */
	const char *pos_need;  /* "copy needs <pos_need>": "SRC and DST", "a JOURNAL" */
	const char *pos_takes; /* "too many arguments: copy takes <pos_takes>, not also 'X'" */
	bool stop_at_last_pos; /* stop after the pos_max-th argument (resume: the
				* rest are copy's options); next says where */
	/* Called after each option taken (flags with val NULL): barge copy
	 * records its options for barge resume here.  May be NULL. */
	void (*on_opt)(void *base, const cli_opt *o, const char *val);
} cli_cmd;

typedef struct cli_args {
	const char *pos[CLI_POS_MAX];
	unsigned npos;
	int next; /* the first argument not parsed: argc, unless stop_at_last_pos */
} cli_args;

/* Parses argv[0..argc) as c says, into the command's arguments at base.
 * 0 when it is well formed (options in their places, positionals in out);
 * 1 after -h or --help (the help printed on stdout); -1 after a mistake
 * (one line on stderr).  So a command starts:
 *     r = cli_parse(&cmd, &args, argc, argv, &pos); if (r) return r < 0 ? 2 : 0; */
int cli_parse(const cli_cmd *c, void *base, int argc, char **argv, cli_args *out);

/* The command's help: usage, the option list from the table, the tail. */
void cli_help(const cli_cmd *c, FILE *f);

/* Prints "barge: MESSAGE (see 'barge CMD --help')", escaped for the
 * terminal, and returns 2 (the usage exit code). */
int cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* *value = the value of the choice named s: 0, or -1 (no such choice). */
int cli_choice_value(const cli_choice *c, const char *s, int *value);

#endif
