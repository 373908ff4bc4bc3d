/* log.c — timestamped, levelled, one-line log output. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
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

/* One event, one line: a newline inside a message (an error text from a peer, a file
 * name) would forge or split lines for whoever reads the log, so control characters
 * become spaces. */
static void put_line(FILE *f, const char *msg)
{
    for (const char *p = msg; *p; p++)
        fputc((unsigned char)*p < 0x20 || *p == 0x7f ? ' ' : *p, f);
    fputc('\n', f);
}

void tby_log(enum tby_log_level level, const char *component, const char *fmt, ...)
{
    FILE *f = out_stream ? out_stream : stderr;
    struct timespec ts;
    struct tm tm;
    char stamp[32], buf[1024], *msg = buf;
    va_list ap;
    int n;

    if (level > threshold)
        return;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    va_start(ap, fmt);
    n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n >= (int)sizeof(buf)) {
        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
            msg = buf; /* the truncated text, rather than nothing */
        va_end(ap);
    }
    flockfile(f);
    fprintf(f, "%s.%03ldZ %-7s %s: ", stamp, ts.tv_nsec / 1000000, level_names[level],
            component);
    put_line(f, n < 0 ? fmt : msg);
    funlockfile(f);
    fflush(f);
    if (msg != buf)
        free(msg);
}
