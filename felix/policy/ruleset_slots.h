/* ruleset_slots.h — fixed-size slots for a ruleset's set elements (private to ruleset.c).
 *
 * A table of 10,000 policies holds 150,000 to 550,000 elements of 32 bytes (16 and an
 * interface name's 16), which malloc gives 48 bytes each; slots cut from 4 KB slabs take
 * 32. Owns: its slabs, freed whole by tby_rs_slots_free once no slot is in use. A slot
 * given back goes on a free list and is handed out again; slabs go back to malloc only
 * with the ruleset. Under AddressSanitizer a slot given back is poisoned, so a use after
 * it is still caught. Needs nothing.
 */
#ifndef TABBY_RULESET_SLOTS_H
#define TABBY_RULESET_SLOTS_H

#include <stddef.h>

#define TBY_RS_SLOT_SIZE 32

struct tby_rs_slots;

/* NULL on -ENOMEM. */
struct tby_rs_slots *tby_rs_slots_new(void);
void tby_rs_slots_free(struct tby_rs_slots *s);

/* A zeroed slot of TBY_RS_SLOT_SIZE bytes, 8-byte aligned; NULL on -ENOMEM. */
void *tby_rs_slot_get(struct tby_rs_slots *s);
void tby_rs_slot_put(struct tby_rs_slots *s, void *slot);

#endif
