/* alloc_fail.h — counting allocations and failing one on purpose, for the tests linked
 * with ALLOC_WRAP (Makefile.am: --wrap for malloc, calloc, realloc, reallocarray, strdup
 * and strndup). Every allocation tabby's own code makes then passes through here,
 * so a test can count them (matching must make none) and fail the n-th: the code must
 * come back with -ENOMEM and leave nothing behind (the sanitizer build checks for leaks).
 * jansson allocates through alloc_fail_json_malloc once a test hands it over with
 * json_set_alloc_funcs. Include it in one file of a test program only. */
#ifndef TABBY_TEST_ALLOC_FAIL_H
#define TABBY_TEST_ALLOC_FAIL_H

#include <stdbool.h>
#include <stddef.h>

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
void *__real_reallocarray(void *p, size_t n, size_t size);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t size);
void *__wrap_reallocarray(void *p, size_t n, size_t size);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);

static long alloc_calls;        /* allocations made so far */
static long alloc_fail_at = -1; /* the index of the one to fail; -1: none */
static bool alloc_failed;       /* whether it came */

/* Fails the allocation n after this call (0: the next one). */
static inline void alloc_fail_after(long n)
{
    alloc_failed = false;
    alloc_fail_at = alloc_calls + n;
}

static inline void alloc_fail_none(void)
{
    alloc_fail_at = -1;
}

static inline bool alloc_should_fail(void)
{
    if (alloc_calls++ != alloc_fail_at)
        return false;
    alloc_failed = true;
    return true;
}

void *__wrap_malloc(size_t size)
{
    return alloc_should_fail() ? NULL : __real_malloc(size);
}

void *__wrap_calloc(size_t n, size_t size)
{
    return alloc_should_fail() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t size)
{
    return alloc_should_fail() ? NULL : __real_realloc(p, size);
}

void *__wrap_reallocarray(void *p, size_t n, size_t size)
{
    return alloc_should_fail() ? NULL : __real_reallocarray(p, n, size);
}

char *__wrap_strdup(const char *s)
{
    return alloc_should_fail() ? NULL : __real_strdup(s);
}

char *__wrap_strndup(const char *s, size_t n)
{
    return alloc_should_fail() ? NULL : __real_strndup(s, n);
}

static inline void *alloc_fail_json_malloc(size_t size)
{
    return __wrap_malloc(size);
}

#endif
