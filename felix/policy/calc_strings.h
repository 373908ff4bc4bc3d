/* calc_strings.h — interned strings of the label index (private to felix/policy/): one
 * copy of each label key and value however many label sets hold it (with a policy list
 * per pod, 10,000 endpoints hold 10,000 label sets made of a few hundred strings).
 *
 * Owns: its map and every string in it, reference counted; calc_strs_put lets go of
 * one reference and frees the string with the last. calc_strs_destroy wants none held.
 * Needs hmap.h.
 */
#ifndef TABBY_CALC_STRINGS_H
#define TABBY_CALC_STRINGS_H

#include "tabby/hmap.h"

struct calc_strs {
    struct tby_hmap map;              /* struct istr, by text */
};

void calc_strs_init(struct calc_strs *t);
void calc_strs_destroy(struct calc_strs *t);
/* The interned copy of s, one more reference to it; NULL when out of memory. */
const char *calc_strs_get(struct calc_strs *t, const char *s);
/* Lets go of a string calc_strs_get gave (NULL: nothing). */
void calc_strs_put(struct calc_strs *t, const char *s);

#endif
