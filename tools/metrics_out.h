/* metrics_out.h - where barge copy's metrics and logs go: the textfile
 * (--metrics-file), the HTTP endpoint (--metrics-listen) and the event log
 * (--log-format, --log-level).  See docs/metrics.md. */
#ifndef BG_METRICS_OUT_H
#define BG_METRICS_OUT_H

#include <stdbool.h>
#include <stdio.h>

#include "copy.h"
#include "metrics.h"

typedef enum bg_log_level { BG_LOG_ERROR, BG_LOG_WARN, BG_LOG_INFO, BG_LOG_DEBUG } bg_log_level;

typedef struct bg_mout bg_mout;

/* file and listen may be NULL.  listen is "PORT", "ADDR:PORT" or
 * "[ADDR6]:PORT"; a port alone binds 127.0.0.1.  NULL with a message in err. */
bg_mout *bg_mout_start(const char *file, const char *listen, char *err, size_t cap);
/* bg_copy_opts.on_metrics with ctx = the bg_mout. */
void bg_mout_publish(bg_mout *mo, const bg_metrics *m);
void bg_mout_stop(bg_mout *mo);

/* Event log on stderr: one line per event at or below the level. */
void bg_log_setup(bool json, bg_log_level level);
void bg_log_retry(const bg_retry_event *e);
void bg_log_object(const bg_obj_event *e);
/* --log-level debug: an object's change of state (part 0), or one of its
 * parts' (part N >= 1), "FROM => TO". */
void bg_log_state(const char *key, unsigned part, const char *from, const char *to);
/* Is level lv logged? */
bool bg_log_wants(bg_log_level lv);
bool bg_log_json(void);

#endif
