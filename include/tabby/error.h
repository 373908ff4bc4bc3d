/* error.h — the one error value that travels from where a problem is found to the user.
 *
 * Owns: struct tby_error, a fixed-size message buffer (no allocation, so it can be
 * filled on any path, even out of memory). Functions that can fail take a
 * `struct tby_error *err` (may be NULL) and return a negative errno-style code; the
 * message is filled where the problem is found and callers prepend context on the way
 * out, so it reads outermost to innermost:
 *   pool.yaml: document 2 (IPPool default-pool): spec.blockSize: must be between 20 and 32, got 33
 */
#ifndef TABBY_ERROR_H
#define TABBY_ERROR_H

#include <stdarg.h>
#include <stddef.h>

#define TBY_ERROR_MAX 1024

struct tby_error {
    int code;                 /* negative errno-style code, 0 when unset */
    char msg[TBY_ERROR_MAX];  /* human-readable, without trailing newline */
};

/* Sets the message (replacing any earlier one) and returns `code` so a caller can
 * write `return tby_error_set(err, -EINVAL, "...")`. `err` may be NULL. */
int tby_error_set(struct tby_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int tby_error_setv(struct tby_error *err, int code, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* Prepends "<context>: " to the message. Returns err->code. */
int tby_error_prefix(struct tby_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Clears the error. */
void tby_error_clear(struct tby_error *err);

/* The message, or strerror(-code) when no message was set. Never NULL. */
const char *tby_error_str(const struct tby_error *err);

#endif
