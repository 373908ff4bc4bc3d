/* log.h — the one logger: one line per event, a short message then key=value facts.
 *
 *   tby_log(TBY_LOG_INFO, "felix", "policy programmed endpoints=%d ms=%.1f", n, ms);
 *   → 2026-11-30T01:02:03.456Z info  felix: policy programmed endpoints=120 ms=0.8
 *
 * Owns: the process-wide threshold and output stream (stderr by default). This is the
 * only process-wide state lib/ keeps; programs set it once in main().
 */
#ifndef TABBY_LOG_H
#define TABBY_LOG_H

#include <stdio.h>

enum tby_log_level {
    TBY_LOG_ERROR = 0, /* needs a human */
    TBY_LOG_WARNING,   /* degraded */
    TBY_LOG_INFO,      /* state changes */
    TBY_LOG_DEBUG,
};

void tby_log(enum tby_log_level level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Messages above `level` are dropped. Default: info. */
void tby_log_set_level(enum tby_log_level level);
enum tby_log_level tby_log_get_level(void);

/* Where lines go; NULL means stderr. The caller keeps ownership of the stream. */
void tby_log_set_stream(FILE *stream);

/* Parses "error", "warning" (or "warn"), "info", "debug" (any case). Returns 0 or -EINVAL. */
int tby_log_level_parse(const char *name, enum tby_log_level *out);

#endif
