/* hmap.h — an intrusive hash map: entries embed a struct tby_hnode, so inserting never
 * allocates an entry and one allocation holds an entry and its key.
 *
 * Owns: only its bucket array (freed by tby_hmap_destroy). Entries belong to the caller,
 * who removes and frees them. The map does not know keys: lookups walk the entries with
 * a given hash (tby_hmap_first_with_hash / tby_hmap_next_with_hash) and the caller
 * compares its own key. Needs nothing.
 */
#ifndef TABBY_HMAP_H
#define TABBY_HMAP_H

#include <stddef.h>
#include <stdint.h>

struct tby_hnode {
    struct tby_hnode *next;
    uint64_t hash;
};

struct tby_hmap {
    struct tby_hnode **buckets;
    size_t mask;        /* bucket count - 1; the count is a power of two */
    size_t n;
};

#define TBY_CONTAINER_OF(ptr, type, member) \
    ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

void tby_hmap_init(struct tby_hmap *m);
/* Frees the buckets; the entries are the caller's. */
void tby_hmap_destroy(struct tby_hmap *m);
/* Adds node under hash. -ENOMEM only when the first bucket array cannot be had; later
 * the map stays at its size (slower, still correct) when it cannot grow. */
int tby_hmap_insert(struct tby_hmap *m, struct tby_hnode *node, uint64_t hash);
void tby_hmap_remove(struct tby_hmap *m, struct tby_hnode *node);
size_t tby_hmap_count(const struct tby_hmap *m);

/* The entries whose hash is `hash` (others sharing the bucket are skipped). */
struct tby_hnode *tby_hmap_first_with_hash(const struct tby_hmap *m, uint64_t hash);
struct tby_hnode *tby_hmap_next_with_hash(const struct tby_hnode *node);

/* The entry whose string key (as key_of reads it from an entry) equals key, hashed with
 * tby_hash_str; NULL when none. */
struct tby_hnode *tby_hmap_find_str(const struct tby_hmap *m, const char *key,
                                    const char *(*key_of)(const struct tby_hnode *node));

/* Every entry, in no particular order. Fetch the next entry before removing the current. */
struct tby_hnode *tby_hmap_first(const struct tby_hmap *m);
struct tby_hnode *tby_hmap_next(const struct tby_hmap *m, const struct tby_hnode *node);

/* 64-bit hashes of bytes and strings (FNV-1a with a final mix). */
uint64_t tby_hash_bytes(const void *p, size_t len, uint64_t seed);
uint64_t tby_hash_str(const char *s);

#endif
