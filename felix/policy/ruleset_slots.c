/* ruleset_slots.c — slabs of fixed-size slots for set elements (ruleset_slots.h): a slot
 * is taken from the free list, else cut from the newest slab; a new slab when that one is
 * full. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ruleset_slots.h"

#if defined(__SANITIZE_ADDRESS__)
#define SLOTS_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SLOTS_ASAN 1
#endif
#endif
#ifdef SLOTS_ASAN
#include <sanitizer/asan_interface.h>
#else
#define ASAN_POISON_MEMORY_REGION(a, n) ((void)(a), (void)(n))
#define ASAN_UNPOISON_MEMORY_REGION(a, n) ((void)(a), (void)(n))
#endif

#define SLAB_BYTES 4096
#define SLAB_SLOTS ((SLAB_BYTES - sizeof(struct slab)) / TBY_RS_SLOT_SIZE)

_Static_assert(TBY_RS_SLOT_SIZE % sizeof(void *) == 0, "slots keep pointers aligned");

struct slab {
    struct slab *next;
    size_t used;              /* slots cut from it so far */
    _Alignas(16) unsigned char slots[];
};

struct tby_rs_slots {
    struct slab *slabs;       /* newest first */
    void *free;               /* slots given back, linked through their first bytes */
};

struct tby_rs_slots *tby_rs_slots_new(void)
{
    return calloc(1, sizeof(struct tby_rs_slots));
}

void tby_rs_slots_free(struct tby_rs_slots *s)
{
    if (!s)
        return;
    while (s->slabs) {
        struct slab *next = s->slabs->next;

        free(s->slabs);
        s->slabs = next;
    }
    free(s);
}

static void *cut(struct tby_rs_slots *s)
{
    struct slab *b = s->slabs;

    if (!b || b->used == SLAB_SLOTS) {
        if (!(b = malloc(SLAB_BYTES)))
            return NULL;
        b->next = s->slabs;
        b->used = 0;
        ASAN_POISON_MEMORY_REGION(b->slots, SLAB_SLOTS * TBY_RS_SLOT_SIZE);
        s->slabs = b;
    }
    return b->slots + TBY_RS_SLOT_SIZE * b->used++;
}

void *tby_rs_slot_get(struct tby_rs_slots *s)
{
    void *slot = s->free;

    if (slot) {
        ASAN_UNPOISON_MEMORY_REGION(slot, TBY_RS_SLOT_SIZE);
        memcpy(&s->free, slot, sizeof(void *));
    } else if (!(slot = cut(s))) {
        return NULL;
    }
    ASAN_UNPOISON_MEMORY_REGION(slot, TBY_RS_SLOT_SIZE);
    return memset(slot, 0, TBY_RS_SLOT_SIZE);
}

void tby_rs_slot_put(struct tby_rs_slots *s, void *slot)
{
    if (!slot)
        return;
    memcpy(slot, &s->free, sizeof(void *));
    s->free = slot;
    ASAN_POISON_MEMORY_REGION(slot, TBY_RS_SLOT_SIZE);
}
