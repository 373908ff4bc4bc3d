/* strv.c — owned string lists. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/array.h"
#include "tabby/strv.h"

int tby_strv_push_take(struct tby_strv *v, char *s)
{
    if (!s)
        return -ENOMEM;
    if (TBY_GROW(v->items, v->cap, v->n + 1) < 0) {
        free(s);
        return -ENOMEM;
    }
    v->items[v->n++] = s;
    return 0;
}

int tby_strv_push(struct tby_strv *v, const char *s)
{
    return tby_strv_push_take(v, strdup(s));
}

int tby_strv_pushf(struct tby_strv *v, const char *fmt, ...)
{
    va_list ap;
    char *s;
    int n;

    va_start(ap, fmt);
    n = vasprintf(&s, fmt, ap);
    va_end(ap);
    return n < 0 ? -ENOMEM : tby_strv_push_take(v, s);
}

bool tby_strv_contains(const struct tby_strv *v, const char *s)
{
    for (size_t i = 0; i < v->n; i++)
        if (strcmp(v->items[i], s) == 0)
            return true;
    return false;
}

int tby_strv_copy(struct tby_strv *dst, const struct tby_strv *src)
{
    tby_strv_clear(dst);
    for (size_t i = 0; i < src->n; i++) {
        if (tby_strv_push(dst, src->items[i]) < 0) {
            tby_strv_clear(dst);
            return -ENOMEM;
        }
    }
    return 0;
}

void tby_strv_clear(struct tby_strv *v)
{
    for (size_t i = 0; i < v->n; i++)
        free(v->items[i]);
    free(v->items);
    *v = (struct tby_strv){ 0 };
}

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void tby_strv_sort(struct tby_strv *v)
{
    if (v->n > 1)
        qsort(v->items, v->n, sizeof(*v->items), compare_strings);
}
