/* settings.h — which datastore a program uses when it is not told one: $TABBY_STORE, else
 * the `store:` line of the config file ($TABBY_CONFIG, else /etc/tabby/tabbyctl.cfg),
 * else the built-in default (sqlite:/var/lib/tabby/tabby.db).
 *
 * Owns nothing: the URI handed out is the caller's. A missing config file is fine; an
 * unreadable or broken one is an error naming the file.
 */
#ifndef TABBY_SETTINGS_H
#define TABBY_SETTINGS_H

#include "tabby/error.h"

#define TBY_SETTINGS_PATH "/etc/tabby/tabbyctl.cfg"

/* The config file's path: $TABBY_CONFIG or TBY_SETTINGS_PATH. */
const char *tby_settings_path(void);

/* The datastore URI; *out is a new string the caller frees. */
int tby_settings_store_uri(char **out, struct tby_error *err);

#endif
