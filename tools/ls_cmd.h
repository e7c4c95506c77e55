/* ls_cmd.h - `barge ls URL`: the keys, sizes, dates and ETags under an
 * s3:// or r2:// location, by folder or recursively, as text or JSON
 * lines (docs/utilities.md). */
#ifndef BG_LS_CMD_H
#define BG_LS_CMD_H

/* argv holds the arguments after "ls".  Returns the exit code: 0 listed,
 * 2 usage, configuration or a listing that failed.  Expects
 * curl_global_init to have run. */
int cmd_ls(int argc, char **argv);

#endif
