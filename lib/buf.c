/* buf.c — the growable byte buffer (buf.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tabby/buf.h"
#include "tabby/cleanup.h"

static int fail(struct tby_buf *b, int error)
{
    if (!b->error)
        b->error = error;
    return b->error;
}

/* Room for `need` bytes in all (the NUL included), whatever max says. */
static int grow(struct tby_buf *b, size_t need)
{
    size_t cap = b->cap ? b->cap : 64;
    char *grown;

    if (need <= b->cap)
        return 0;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    grown = realloc(b->data, cap);
    if (!grown)
        return fail(b, -ENOMEM);
    b->data = grown;
    b->cap = cap;
    return 0;
}

int tby_buf_reserve(struct tby_buf *b, size_t more)
{
    if (b->error)
        return b->error;
    if (more > SIZE_MAX - b->len - 1)
        return fail(b, -ENOMEM);
    if (b->max && b->len + more > b->max)
        return fail(b, -EFBIG);
    return grow(b, b->len + more + 1);
}

int tby_buf_add(struct tby_buf *b, const void *bytes, size_t n)
{
    int r = tby_buf_reserve(b, n);

    if (r < 0)
        return r;
    if (n)
        memcpy(b->data + b->len, bytes, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int tby_buf_adds(struct tby_buf *b, const char *s)
{
    return tby_buf_add(b, s, strlen(s));
}

int tby_buf_addc(struct tby_buf *b, char c)
{
    return tby_buf_add(b, &c, 1);
}

int tby_buf_vprintf(struct tby_buf *b, const char *fmt, va_list ap)
{
    va_list again;
    int n, r;

    if (b->error)
        return b->error;
    va_copy(again, ap);
    n = vsnprintf(NULL, 0, fmt, again);
    va_end(again);
    if (n < 0)
        return fail(b, -EINVAL);
    if ((r = tby_buf_reserve(b, (size_t)n)) < 0)
        return r;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int tby_buf_printf(struct tby_buf *b, const char *fmt, ...)
{
    va_list ap;
    int r;

    va_start(ap, fmt);
    r = tby_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return r;
}

void tby_buf_consume(struct tby_buf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
    } else {
        memmove(b->data, b->data + n, b->len - n);
        b->len -= n;
    }
    if (b->data)
        b->data[b->len] = '\0';
}

void tby_buf_reset(struct tby_buf *b)
{
    b->len = 0;
    b->error = 0;
    if (b->data)
        b->data[0] = '\0';
}

void tby_buf_clear(struct tby_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    b->error = 0;
}

char *tby_buf_steal(struct tby_buf *b, size_t *len)
{
    char *data;

    if (!b->data) {
        if (grow(b, 1) < 0)
            return NULL;
        b->data[0] = '\0';
    }
    data = b->data;
    if (len)
        *len = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    b->error = 0;
    return data;
}

int tby_buf_error(const struct tby_buf *b)
{
    return b->error;
}

/* A read is offered at least this much room. */
#define READ_CHUNK 4096

/* How much one read may take: the room already there, at least a chunk, and never more
 * than one byte past max (to tell input that fills the buffer exactly from input that is
 * too long). Makes the room. */
static int read_room(struct tby_buf *b, size_t *room)
{
    size_t want = READ_CHUNK;

    if (b->error)
        return b->error;
    if (b->cap > b->len + 1 + want)
        want = b->cap - b->len - 1;
    if (b->max && want > b->max - b->len + 1)
        want = b->max - b->len + 1;
    *room = want;
    return grow(b, b->len + want + 1);
}

/* Takes `got` bytes just read; -EFBIG when they go past max (the excess is dropped). */
static int took(struct tby_buf *b, size_t got)
{
    b->len += got;
    if (b->max && b->len > b->max) {
        b->len = b->max;
        b->data[b->len] = '\0';
        return fail(b, -EFBIG);
    }
    b->data[b->len] = '\0';
    return 0;
}

ssize_t tby_buf_read_fd(struct tby_buf *b, int fd)
{
    size_t room = 0;
    ssize_t got;
    int r;

    if ((r = read_room(b, &room)) < 0)
        return r;
    do
        got = read(fd, b->data + b->len, room);
    while (got < 0 && errno == EINTR);
    if (got < 0)
        return -errno;
    if ((r = took(b, (size_t)got)) < 0)
        return r;
    return got;
}

int tby_buf_read_all_fd(struct tby_buf *b, int fd)
{
    ssize_t got;

    while ((got = tby_buf_read_fd(b, fd)) > 0)
        ;
    return got < 0 ? (int)got : 0;
}

int tby_buf_read_stream(struct tby_buf *b, FILE *in)
{
    for (;;) {
        size_t room = 0, got;
        int r = read_room(b, &room);

        if (r < 0)
            return r;
        got = fread(b->data + b->len, 1, room, in);
        if ((r = took(b, got)) < 0)
            return r;
        if (got < room)
            return ferror(in) ? fail(b, errno ? -errno : -EIO) : 0;
    }
}

int tby_read_file(const char *path, size_t max, char **out, size_t *len)
{
    _cleanup_buf_ struct tby_buf b = { .max = max };
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    int r;

    *out = NULL;
    if (fd < 0)
        return -errno;
    if ((r = tby_buf_read_all_fd(&b, fd)) < 0)
        return r;
    if (!(*out = tby_buf_steal(&b, len)))
        return -ENOMEM;
    return 0;
}
