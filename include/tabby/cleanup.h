/* cleanup.h — scope-bound ownership for locals, after systemd's style.
 *
 * `_cleanup_free_ char *s = ...;` frees s when it leaves scope; `_cleanup_(fn)` calls
 * fn(&var). Hand ownership out with TBY_STEAL(p), which returns p and NULLs the local.
 * A module's header makes the helper for its own type with one line,
 * `TBY_DEFINE_FREEP(struct tby_x, tby_x_free)`, which defines tby_x_freep.
 * Header-only: nothing here allocates.
 */
#ifndef TABBY_CLEANUP_H
#define TABBY_CLEANUP_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <jansson.h>

#define _cleanup_(fn) __attribute__((cleanup(fn)))
#define _cleanup_free_ _cleanup_(tby_freep)
#define _cleanup_close_ _cleanup_(tby_closep)
#define _cleanup_fclose_ _cleanup_(tby_fclosep)
#define _cleanup_json_ _cleanup_(tby_json_decrefp)

/* Returns *pp and sets *pp to NULL: ownership moves to the caller. */
#define TBY_STEAL(p) ({ __typeof__(p) tby_steal_tmp_ = (p); (p) = NULL; tby_steal_tmp_; })
#define TBY_STEAL_FD(fd) ({ int tby_steal_fd_ = (fd); (fd) = -1; tby_steal_fd_; })

/* Defines fn##p(type **p), for _cleanup_(fn##p): unless *p is NULL, calls fn(*p) and
 * sets *p to NULL (so an explicit call leaves nothing dangling). */
#define TBY_DEFINE_FREEP(type, fn)        \
    static inline void fn##p(type **p)    \
    {                                     \
        if (*p) {                         \
            fn(*p);                       \
            *p = NULL;                    \
        }                                 \
    }

#define TBY_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static inline void tby_freep(void *p)
{
    free(*(void **)p);
}

static inline void tby_closep(int *fd)
{
    if (*fd >= 0)
        close(*fd);
}

static inline void tby_fclosep(FILE **f)
{
    if (*f)
        fclose(*f);
}

static inline void tby_json_decrefp(json_t **j)
{
    json_decref(*j);
}

#endif
