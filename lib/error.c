/* error.c — fill and prefix struct tby_error messages. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "tabby/error.h"

int tby_error_setv(struct tby_error *err, int code, const char *fmt, va_list ap)
{
    if (!err)
        return code;
    err->code = code;
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    return code;
}

int tby_error_set(struct tby_error *err, int code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    tby_error_setv(err, code, fmt, ap);
    va_end(ap);
    return code;
}

int tby_error_prefix(struct tby_error *err, const char *fmt, ...)
{
    char joined[TBY_ERROR_MAX];
    size_t len;
    va_list ap;

    if (!err)
        return 0;
    if (!err->msg[0] && err->code)
        snprintf(err->msg, sizeof(err->msg), "%s", strerror(-err->code));
    va_start(ap, fmt);
    vsnprintf(joined, sizeof(joined), fmt, ap);
    va_end(ap);
    /* Long messages are cut at the end: the outer context matters most. */
    len = strlen(joined);
    if (len + 2 < sizeof(joined)) {
        memcpy(joined + len, ": ", 3);
        len += 2;
        size_t room = sizeof(joined) - len - 1;
        size_t msg_len = strnlen(err->msg, room);

        memcpy(joined + len, err->msg, msg_len);
        joined[len + msg_len] = '\0';
    }
    memcpy(err->msg, joined, sizeof(joined));
    return err->code;
}

void tby_error_clear(struct tby_error *err)
{
    if (!err)
        return;
    err->code = 0;
    err->msg[0] = '\0';
}

const char *tby_error_str(const struct tby_error *err)
{
    if (!err)
        return "unknown error";
    if (err->msg[0])
        return err->msg;
    if (err->code)
        return strerror(-err->code);
    return "no error";
}
