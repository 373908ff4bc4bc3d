/* kube_watch.h — reading a Kubernetes watch stream: the bytes of the answer split into
 * consecutive JSON objects, and each object read as a watch event.
 *
 * The API server sends one event object after another ({"type":"ADDED","object":{…}}),
 * usually one per line, but nothing promises that: an object may arrive split across
 * any number of reads, several may arrive in one, with any whitespace between. The
 * splitter keeps the bytes of an unfinished object, finds where each one ends by
 * following braces, brackets and strings (linear in the bytes, however they are cut),
 * and hands each whole object, parsed by jansson, to a callback. Anything between
 * objects but whitespace is an error.
 *
 * Owns: the splitter's buffer (freed by tby_kube_splitter_clear). A decoded event
 * borrows from the JSON value it was read from.
 */
#ifndef TABBY_KUBE_WATCH_H
#define TABBY_KUBE_WATCH_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "tabby/buf.h"
#include "tabby/error.h"

struct tby_kube_splitter {
    struct tby_buf buf; /* bytes not handed out yet; buf.max caps one object */
    size_t scanned;     /* bytes of buf already followed */
    unsigned depth;     /* braces and brackets open; 0 between objects */
    bool in_string;
    bool escaped;
};

/* An object larger than `max_bytes` (0: 64 MiB) is an error. */
void tby_kube_splitter_init(struct tby_kube_splitter *s, size_t max_bytes);
void tby_kube_splitter_clear(struct tby_kube_splitter *s);
/* Forgets a partial object (a new connection starts clean). */
void tby_kube_splitter_reset(struct tby_kube_splitter *s);
/* Whether part of an object is held (the stream ended mid-object). */
bool tby_kube_splitter_pending(const struct tby_kube_splitter *s);

/* Called with each whole object (borrowed: the splitter frees it after); a negative
 * return stops the feed and is returned from it. */
typedef int (*tby_kube_value_fn)(json_t *value, void *ctx, struct tby_error *err);

/* Takes `len` more bytes of the stream, calling `fn` for each object they complete.
 * 0; -EBADMSG for bytes that are not a stream of JSON objects (the message says what
 * and where: "watch stream: expected '{' at byte 17, got 'x'"); -EFBIG past the limit;
 * -ENOMEM; or what fn returned. After an error the splitter must be reset. */
int tby_kube_splitter_feed(struct tby_kube_splitter *s, const char *data, size_t len,
                           tby_kube_value_fn fn, void *ctx, struct tby_error *err);

enum tby_kube_event_type {
    TBY_KUBE_EVENT_ADDED,
    TBY_KUBE_EVENT_MODIFIED,
    TBY_KUBE_EVENT_DELETED,
    TBY_KUBE_EVENT_BOOKMARK, /* only metadata.resourceVersion: where the watch has got to */
    TBY_KUBE_EVENT_ERROR,    /* object is a Status; 410 Expired means: list again */
};

struct tby_kube_event {
    enum tby_kube_event_type type;
    json_t *object;               /* borrowed from the value decoded */
    const char *resource_version; /* the object's; NULL for ERROR */
    const char *ns;               /* metadata.namespace, "" when none (and for BOOKMARK) */
    const char *name;             /* metadata.name; NULL for BOOKMARK and ERROR */
};

/* Reads one watch event. -EINVAL with a message for a value that is not one (unknown
 * type, no object, an object without name or resourceVersion). */
int tby_kube_event_decode(json_t *value, struct tby_kube_event *ev, struct tby_error *err);

#endif
