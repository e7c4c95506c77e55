/* audit_cmd.h - `barge audit`: the command line of the audit (parsing,
 * configuration, terminal output, the JSON report); the work is in
 * engine/audit.c. */
#ifndef BG_AUDIT_CMD_H
#define BG_AUDIT_CMD_H

/* argv holds the arguments after "audit".  Returns the exit code: 0 clean,
 * 1 findings, 2 usage, configuration or an error that prevented the audit.
 * Expects curl_global_init to have run. */
int cmd_audit(int argc, char **argv);

#endif
