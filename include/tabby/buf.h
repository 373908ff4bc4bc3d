/* buf.h — a growable byte buffer, the one tabby uses wherever bytes are collected: text
 * being written (canonical selectors, YAML, JSON), answers being read (a socket, a pipe, a
 * file), lines not complete yet.
 *
 * Failure is sticky, as in a FILE: once an append runs out of memory or past `max`, the
 * buffer is marked failed and later appends do nothing, so a writer appends freely and
 * checks once at the end (tby_buf_error). The bytes are always NUL-terminated once any
 * were added, so text can be read in place.
 *
 * Owns: `data`, freed by tby_buf_clear (or handed out by tby_buf_steal). Needs nothing.
 */
#ifndef TABBY_BUF_H
#define TABBY_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

struct tby_buf {
    char *data;         /* NULL until something is added; then NUL-terminated */
    size_t len;         /* bytes held, not counting the terminating NUL */
    size_t cap;         /* bytes allocated */
    size_t max;         /* the most it may hold; 0: no limit */
    int error;          /* 0, or the first failure: -ENOMEM, -EFBIG (past max) */
};

/* Room for `more` bytes past len (and the NUL). 0, or the buffer's error. */
int tby_buf_reserve(struct tby_buf *b, size_t more);
/* Appends; 0, or the buffer's error (and nothing appended). */
int tby_buf_add(struct tby_buf *b, const void *bytes, size_t n);
int tby_buf_adds(struct tby_buf *b, const char *s);
int tby_buf_addc(struct tby_buf *b, char c);
int tby_buf_printf(struct tby_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int tby_buf_vprintf(struct tby_buf *b, const char *fmt, va_list ap);
/* Drops the first n bytes (a consumed line), keeping the rest. */
void tby_buf_consume(struct tby_buf *b, size_t n);
/* Empties it for reuse, keeping the memory (and max); clears the error. */
void tby_buf_reset(struct tby_buf *b);
/* Frees the bytes; the buffer is empty and reusable (max is kept). */
void tby_buf_clear(struct tby_buf *b);
/* The bytes, NUL-terminated ("" when empty: never NULL unless out of memory), now the
 * caller's to free; the buffer is empty. *len (optional) gets their length. */
char *tby_buf_steal(struct tby_buf *b, size_t *len);
/* The buffer's error: 0, -ENOMEM or -EFBIG. */
int tby_buf_error(const struct tby_buf *b);

/* One read(2) appended, into all the room the buffer has (at least 4 KiB: reserve more
 * first for larger reads): > 0 bytes got, 0 end of input, < 0 -errno (-EAGAIN when a
 * non-blocking fd has nothing, -EFBIG past max). EINTR is retried. */
ssize_t tby_buf_read_fd(struct tby_buf *b, int fd);
/* Everything until end of input from a FILE or an fd: 0, -EFBIG past max, -ENOMEM, or
 * -errno of the read. */
int tby_buf_read_stream(struct tby_buf *b, FILE *in);
int tby_buf_read_all_fd(struct tby_buf *b, int fd);
/* A whole file into *out (NUL-terminated, the caller's), at most max bytes (0: no limit):
 * 0, -errno of open/read, -EFBIG, -ENOMEM. */
int tby_read_file(const char *path, size_t max, char **out, size_t *len);

static inline void tby_buf_clearp(struct tby_buf *b)
{
    tby_buf_clear(b);
}
#define _cleanup_buf_ __attribute__((cleanup(tby_buf_clearp)))

#endif
