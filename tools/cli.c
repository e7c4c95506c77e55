/* cli.c - the one command-line parser of every barge command (see cli.h). */
#include "cli.h"

#include <stdarg.h>
#include <string.h>

#include "esc.h"
#include "util.h"

#define HELP_COL 25 /* where an option's help starts: "  " + 23 */

int cli_usage(const char *cmd, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	bg_text_line(stderr, "barge: %s (see 'barge %s --help')", msg, cmd);
	return 2;
}

int cli_choice_value(const cli_choice *c, const char *s, int *value)
{
	for (; c->name; c++) {
		if (strcmp(c->name, s) == 0) {
			*value = c->value;
			return 0;
		}
	}
	return -1;
}

/* "auto, bar, json or none" */
static void choices_text(const cli_choice *c, char *out, size_t cap)
{
	size_t n = 0, used = 0;

	while (c[n].name)
		n++;
	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		const char *sep = i == 0 ? "" : i + 1 == n ? " or " : ", ";
		int w = snprintf(out + used, cap - used, "%s%s", sep, c[i].name);

		if (w < 0 || (size_t)w >= cap - used)
			return;
		used += (size_t)w;
	}
}

/* Takes val for o into base: 0, or -1 with err. */
static int take(const cli_opt *o, void *base, const char *val, char *err, size_t cap)
{
	void *dst = (char *)base + o->off;
	uint64_t v;
	int choice;
	char list[256];

	switch (o->kind) {
	case CLI_FLAG:
		*(bool *)dst = true;
		return 0;
	case CLI_STR:
		*(const char **)dst = val;
		return 0;
	case CLI_UINT:
	case CLI_U64:
		if (bg_parse_u64(val, o->min, o->max, &v) < 0) {
			snprintf(err, cap, "%s '%s' must be %s from %llu to %llu", o->name, val,
				 o->what ? o->what : "a number", (unsigned long long)o->min,
				 (unsigned long long)o->max);
			return -1;
		}
		if (o->kind == CLI_UINT)
			*(unsigned *)dst = (unsigned)v;
		else
			*(uint64_t *)dst = v;
		return 0;
	case CLI_SIZE:
		if (bg_parse_size(val, &v) < 0 || v < o->min || v > o->max) {
			snprintf(err, cap, "%s '%s' is not a size between %llu and %llu bytes "
				 "(use forms like 64K, 16M, 1G)", o->name, val,
				 (unsigned long long)o->min, (unsigned long long)o->max);
			return -1;
		}
		*(uint64_t *)dst = v;
		return 0;
	case CLI_CHOICE:
		if (cli_choice_value(o->choices, val, &choice) < 0) {
			choices_text(o->choices, list, sizeof(list));
			snprintf(err, cap, "%s '%s' must be %s", o->name, val, list);
			return -1;
		}
		*(int *)dst = choice;
		return 0;
	case CLI_FN:
		return o->fn(dst, o->name, val, err, cap);
	case CLI_END:
	case CLI_REFUSE:
		break;
	}
	BG_ASSERT(!"an option of no kind");
	return -1;
}

/* The option that argument a names (the part before any '='), or NULL. */
static const cli_opt *find(const cli_opt *t, const char *a, size_t n)
{
	for (; t->kind != CLI_END; t++) {
		if (a[1] != '-' ? n == 2 && t->alias == a[1]
				: strlen(t->name) == n && memcmp(t->name, a, n) == 0)
			return t;
	}
	return NULL;
}

/* One option at argv[*i] (moving *i past a separate value): 0, 1 after
 * --help, -1 after a mistake (said). */
static int option(const cli_cmd *c, void *base, int argc, char **argv, int *i)
{
	const char *a = argv[*i], *eq = a[1] == '-' ? strchr(a, '=') : NULL;
	size_t n = eq ? (size_t)(eq - a) : strlen(a);
	const cli_opt *o = find(c->opts, a, n);
	const char *val = NULL;
	char err[768];

	if (!o && (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)) {
		cli_help(c, stdout);
		return 1;
	}
	if (!o)
		return cli_usage(c->name, "unknown option '%.*s'", (int)n, a), -1;
	if (o->kind == CLI_REFUSE)
		return cli_usage(c->name, "unknown option '%s': %s", o->name, o->help), -1;
	if (!o->arg && eq)
		return cli_usage(c->name, "%s takes no value", o->name), -1;
	if (o->arg) {
		if (eq)
			val = eq + 1;
		else if (*i + 1 < argc)
			val = argv[++*i];
		else
			return cli_usage(c->name, "%s needs a value", o->name), -1;
	}
	if (take(o, base, val, err, sizeof(err)) < 0)
		return cli_usage(c->name, "%s", err), -1;
	if (c->on_opt)
		c->on_opt(base, o, val);
	return 0;
}

int cli_parse(const cli_cmd *c, void *base, int argc, char **argv, cli_args *out)
{
	bool options = true;

	BG_ASSERT(c->pos_max <= CLI_POS_MAX);
	memset(out, 0, sizeof(*out));
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];

		if (options && strcmp(a, "--") == 0) {
			options = false;
		} else if (options && a[0] == '-' && a[1]) {
			int r = option(c, base, argc, argv, &i);
			if (r)
				return r;
		} else if (out->npos == c->pos_max) {
			return cli_usage(c->name, "too many arguments: %s takes %s, not also '%s'",
					 c->name, c->pos_takes, a), -1;
		} else {
			out->pos[out->npos++] = a;
			if (c->stop_at_last_pos && out->npos == c->pos_max) {
				out->next = i + 1;
				return 0;
			}
		}
	}
	out->next = argc;
	if (out->npos < c->pos_min)
		return cli_usage(c->name, "%s needs %s", c->name, c->pos_need), -1;
	return 0;
}

/* One option's lines: "  -a, --name ARG" then its help from HELP_COL on. */
static void help_option(const cli_opt *o, FILE *f)
{
	char label[64] = "";
	int w = o->alias ? snprintf(label, sizeof(label), "-%c, ", o->alias) : 0;
	const char *h = o->help;

	snprintf(label + w, sizeof(label) - (size_t)w, "%s%s%s", o->name, o->arg ? " " : "",
		 o->arg ? o->arg : "");
	w = (int)strlen(label);
	if (w + 2 <= HELP_COL - 2)
		fprintf(f, "  %-*s", HELP_COL - 2, label);
	else
		fprintf(f, "  %s  ", label);
	for (;;) {
		const char *nl = strchr(h, '\n');
		int len = nl ? (int)(nl - h) : (int)strlen(h);

		fprintf(f, "%.*s\n", len, h);
		if (!nl)
			return;
		h = nl + 1;
		fprintf(f, "%*s", HELP_COL, "");
	}
}

void cli_help(const cli_cmd *c, FILE *f)
{
	bool any = false;

	fputs(c->usage, f);
	for (const cli_opt *o = c->opts; o->kind != CLI_END; o++) {
		if (!o->help || o->kind == CLI_REFUSE)
			continue;
		if (!any)
			fputc('\n', f);
		any = true;
		help_option(o, f);
	}
	if (c->tail) {
		fputc('\n', f);
		fputs(c->tail, f);
	}
}
