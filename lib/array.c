/* array.c — growing arrays in place (array.h). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "tabby/array.h"

int tby_grow(void **items, size_t *cap, size_t need, size_t size)
{
    size_t want = *cap ? *cap : 1;
    void *grown;

    if (need <= *cap)
        return 0;
    while (want < need) {
        if (want > SIZE_MAX / 2)
            return -ENOMEM;
        want *= 2;
    }
    grown = reallocarray(*items, want, size);
    if (!grown)
        return -ENOMEM;
    *items = grown;
    *cap = want;
    return 0;
}
