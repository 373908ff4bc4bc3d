/* store_etcd.h — the etcd backend's parts shared between its files (private to lib/). */
#ifndef TABBY_STORE_ETCD_H
#define TABBY_STORE_ETCD_H

#include "etcd_client.h"
#include "store_backend.h"

/* Starts a watch of keys under `prefix` from revision `from_rev` (> 0), with its own
 * connection, first to endpoint `endpoint` of `cfg`. `cfg` must outlive the watch. */
int etcd_watch_open(const struct etcd_config *cfg, size_t endpoint, const char *prefix,
                    int64_t from_rev, struct tby_watch **out, struct tby_error *err);

/* The key and range_end of a prefix, as etcd wants them: all keys when prefix is "". */
int etcd_prefix_range(const char *prefix, json_t **key, json_t **range_end);

#endif
