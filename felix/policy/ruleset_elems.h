/* ruleset_elems.h — the table of one set's elements (private to the ruleset; ruleset.h
 * declares the struct and how to walk it). Owns only its bucket array, freed by
 * tby_rs_elems_destroy; the elements are the set's. Entries keep no hash: the key gives
 * it again (tby_rs_elem_hash). Needs hmap.h's hash.
 */
#ifndef TABBY_RULESET_ELEMS_H
#define TABBY_RULESET_ELEMS_H

#include "tabby/ruleset.h"

/* The hash of a key; flags are the element's TBY_RS_ELEM_KEY_FLAGS. */
uint64_t tby_rs_elem_hash(const uint8_t *key, uint8_t len, uint8_t flags);

void tby_rs_elems_destroy(struct tby_rs_elems *t);
/* -ENOMEM only when the first bucket array cannot be had. */
int tby_rs_elems_insert(struct tby_rs_elems *t, struct tby_rs_elem *e);
void tby_rs_elems_remove(struct tby_rs_elems *t, struct tby_rs_elem *e);
struct tby_rs_elem *tby_rs_elems_find(const struct tby_rs_elems *t, const uint8_t *key,
                                      uint8_t len, uint8_t flags);

#endif
