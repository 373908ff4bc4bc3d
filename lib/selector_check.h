/* selector_check.h — checking selector strings found inside resources (private to lib/). */
#ifndef TABBY_SELECTOR_CHECK_H
#define TABBY_SELECTOR_CHECK_H

#include "tabby/codec.h"

/* Parses `text` (NULL: nothing to check) as a Calico selector; on failure the message
 * names path.field and the parser's position. */
int tby_check_selector(struct tby_dec *d, const char *field, const char *text);

#endif
