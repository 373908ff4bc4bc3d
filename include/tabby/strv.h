/* strv.h — a growable, owned list of strings (NULL-free, in insertion order).
 *
 * Owns its strings: tby_strv_push copies, tby_strv_clear frees them all.
 */
#ifndef TABBY_STRV_H
#define TABBY_STRV_H

#include <stdbool.h>
#include <stddef.h>

struct tby_strv {
    char **items;
    size_t n, cap;
};

int tby_strv_push(struct tby_strv *v, const char *s);
/* Takes ownership of s (freed on failure too). */
int tby_strv_push_take(struct tby_strv *v, char *s);
/* Appends the formatted text. -ENOMEM. */
int tby_strv_pushf(struct tby_strv *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool tby_strv_contains(const struct tby_strv *v, const char *s);
/* Copies every string; *dst is cleared first. */
int tby_strv_copy(struct tby_strv *dst, const struct tby_strv *src);
void tby_strv_clear(struct tby_strv *v);
void tby_strv_sort(struct tby_strv *v);

#endif
