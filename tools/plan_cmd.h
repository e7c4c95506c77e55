/* plan_cmd.h - `barge plan SRC DST`: lists the source and says what a copy
 * would do and cost, without moving anything (docs/utilities.md). */
#ifndef BG_PLAN_CMD_H
#define BG_PLAN_CMD_H

/* argv holds the arguments after "plan".  Returns the exit code: 0
 * planned (every object can be copied), 1 planned but some objects could
 * not be copied (each named), 2 usage, configuration, a price file that
 * does not parse, or a listing that failed.  Expects curl_global_init to
 * have run. */
int cmd_plan(int argc, char **argv);

#endif
