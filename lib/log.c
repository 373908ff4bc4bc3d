/* log.c — timestamped, levelled, one-line log output. */
#include <errno.h>
#include <stdarg.h>
#include <strings.h>
#include <time.h>

#include "tabby/log.h"

static enum tby_log_level threshold = TBY_LOG_INFO;
static FILE *out_stream;

static const char *const level_names[] = { "error", "warning", "info", "debug" };

void tby_log_set_level(enum tby_log_level level)
{
    threshold = level;
}

enum tby_log_level tby_log_get_level(void)
{
    return threshold;
}

void tby_log_set_stream(FILE *stream)
{
    out_stream = stream;
}

int tby_log_level_parse(const char *name, enum tby_log_level *out)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcasecmp(name, level_names[i]) == 0) {
            *out = (enum tby_log_level)i;
            return 0;
        }
    }
    if (strcasecmp(name, "warn") == 0) {
        *out = TBY_LOG_WARNING;
        return 0;
    }
    return -EINVAL;
}

void tby_log(enum tby_log_level level, const char *component, const char *fmt, ...)
{
    FILE *f = out_stream ? out_stream : stderr;
    struct timespec ts;
    struct tm tm;
    char stamp[32];
    va_list ap;

    if (level > threshold)
        return;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    flockfile(f);
    fprintf(f, "%s.%03ldZ %-7s %s: ", stamp, ts.tv_nsec / 1000000, level_names[level],
            component);
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fputc('\n', f);
    funlockfile(f);
    fflush(f);
}
