/* store_empty.c — what opening a sqlite datastore file that does not exist gives when the
 * caller asked not to create one (tby_store_options.no_create): a store with nothing in
 * it. Reads find nothing at revision 0, as they would in a fresh file; a change is
 * refused (-EROFS), since making the file is for the commands that add resources. So a
 * command that only looks (`tabbyctl get`) answers as for an empty datastore and leaves
 * no file behind. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store_backend.h"

struct empty_store {
    struct tby_store base;
    char *path; /* for messages */
};

static int em_get(struct tby_store *s, const char *key, struct tby_kv *out,
                  struct tby_error *err)
{
    (void)s;
    (void)out;
    return tby_error_set(err, -ENOENT, "%s: not found", key);
}

static int em_range(struct tby_store *s, const char *prefix, struct tby_kv_list *out,
                    struct tby_error *err)
{
    (void)s;
    (void)prefix;
    (void)out;
    (void)err;
    return 0;
}

static int em_revision(struct tby_store *s, int64_t *rev, struct tby_error *err)
{
    (void)s;
    (void)err;
    *rev = 0;
    return 0;
}

/* Compares hold only for absent keys; anything to write is refused. */
static int em_commit(struct tby_store *s, const struct tby_txn *txn, int64_t *rev,
                     struct tby_error *err)
{
    struct empty_store *st = (struct empty_store *)s;

    for (size_t i = 0; i < txn->n_cmps; i++)
        if (!txn->cmps[i].prefix && txn->cmps[i].mod_rev != 0)
            return tby_error_set(err, -ECANCELED, "%s: changed meanwhile", txn->cmps[i].key);
    if (txn->n_ops)
        return tby_error_set(err, -EROFS, "datastore %s does not exist yet, and this command "
                             "does not create it", st->path);
    *rev = 0;
    return 0;
}

static int em_compact(struct tby_store *s, int64_t rev, struct tby_error *err)
{
    (void)s;
    (void)rev;
    (void)err;
    return 0;
}

static int em_watch(struct tby_store *s, const char *prefix, int64_t from_rev,
                    struct tby_watch **out, struct tby_error *err)
{
    struct empty_store *st = (struct empty_store *)s;

    (void)prefix;
    (void)from_rev;
    (void)out;
    return tby_error_set(err, -EROFS, "datastore %s does not exist yet: nothing to watch",
                         st->path);
}

static void em_close(struct tby_store *s)
{
    struct empty_store *st = (struct empty_store *)s;

    free(st->path);
    free(st);
}

static const struct tby_store_ops empty_ops = {
    .get = em_get,
    .range = em_range,
    .revision = em_revision,
    .commit = em_commit,
    .compact = em_compact,
    .watch = em_watch,
    .close = em_close,
};

bool tby_store_missing(const struct tby_store *store)
{
    return store->ops == &empty_ops;
}

int tby_store_empty_open(const char *path, struct tby_store **out, struct tby_error *err)
{
    struct empty_store *st = calloc(1, sizeof(*st));

    if (!st || !(st->path = strdup(path))) {
        free(st);
        return tby_error_set(err, -ENOMEM, "out of memory");
    }
    st->base.ops = &empty_ops;
    *out = &st->base;
    return 0;
}
