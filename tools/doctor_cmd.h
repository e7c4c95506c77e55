/* doctor_cmd.h - `barge doctor URL`: checks, one step at a time, that an
 * endpoint and a set of keys can do what a copy needs (docs/utilities.md). */
#ifndef BG_DOCTOR_CMD_H
#define BG_DOCTOR_CMD_H

/* argv holds the arguments after "doctor".  Returns the exit code: 0
 * every check passed (warnings allowed), 1 a check failed, 2 usage.
 * Expects curl_global_init to have run. */
int cmd_doctor(int argc, char **argv);

#endif
