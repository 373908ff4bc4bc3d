/* store_sqlite.c — the embedded datastore: one sqlite file in WAL mode, shared safely by
 * every tabby process on a machine.
 *
 * Tables: changes (one row per changed key and revision, with the value it got: what
 * watches read), kv (the current keys, each pointing at the change that gave it its value,
 * so that a value is written once), meta (the global revision and the compaction point).
 * Compaction drops changes no key points at any more. A database of the first layout (kv
 * holding the values too, each written twice) is moved to this one when opened; watches
 * from before that resync (its history is compacted). A commit runs inside BEGIN IMMEDIATE,
 * which takes sqlite's write lock up front, so compares and writes see no interleaving
 * writer from any process. Watches wake on inotify events for the database's folder and
 * read the changes table. The -wal writes of a commit wake them too early: the commit
 * becomes visible only when sqlite then updates the WAL index, through shared memory,
 * which inotify does not see; a watcher that read in between would sleep on a commit it
 * missed. So a commit that changed something ends by touching the database file's
 * timestamps (IN_ATTRIB), once it is visible.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "tabby/cleanup.h"
#include "store_backend.h"

/* Changes older than this many revisions are dropped; a watch that far behind resyncs.
 * Each change keeps its whole value (an IPAM block is several KB), so the history is
 * bounded by count: 20,000 revisions is minutes of heavy pod churn, hours of normal use. */
#define RETAIN_REVISIONS 20000
#define COMPACT_EVERY 1000
#define BUSY_TIMEOUT_MS 30000
/* WAL pages between automatic checkpoints. A checkpoint copies the WAL into the database
 * and fsyncs it, inside whichever commit crosses the threshold: with sqlite's default of
 * 1000 pages (4 MB) that was a ~11 ms pause every ~90 IPAM allocations (about ten pages
 * each), enough to put it in the 99th percentile. 4000 pages makes it ~4x rarer. */
#define WAL_AUTOCHECKPOINT_PAGES 4000
/* A watch re-reads at least this often even without an inotify event. */
#define WATCH_SAFETY_POLL_MS 1000

enum stmt_id {
    ST_GET,
    ST_MOD_REV,
    ST_RANGE,
    ST_RANGE_ALL,
    ST_MAX_REV,
    ST_MAX_REV_ALL,
    ST_REV,
    ST_COMPACT_REV,
    ST_SET_REV,
    ST_UPSERT,
    ST_DELETE,
    ST_LOG,
    ST_POINT,
    ST_CHANGES,
    ST_CHANGES_ALL,
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_COUNT
};

/* A key's row with its value, from the change it points at. */
#define KV_SELECT "SELECT kv.key, c.value, kv.create_rev, kv.mod_rev, kv.version " \
                  "FROM kv JOIN changes c ON c.seq = kv.seq "

static const char *const stmt_sql[ST_COUNT] = {
    [ST_GET] = KV_SELECT "WHERE kv.key = ?1",
    [ST_MOD_REV] = "SELECT mod_rev FROM kv WHERE key = ?1",
    [ST_RANGE] = KV_SELECT "WHERE kv.key >= ?1 AND kv.key < ?2 ORDER BY kv.key",
    [ST_RANGE_ALL] = KV_SELECT "WHERE kv.key >= ?1 ORDER BY kv.key",
    [ST_MAX_REV] = "SELECT MAX(mod_rev) FROM kv WHERE key >= ?1 AND key < ?2",
    [ST_MAX_REV_ALL] = "SELECT MAX(mod_rev) FROM kv WHERE key >= ?1",
    [ST_REV] = "SELECT value FROM meta WHERE name = 'rev'",
    [ST_COMPACT_REV] = "SELECT value FROM meta WHERE name = 'compact_rev'",
    [ST_SET_REV] = "UPDATE meta SET value = ?1 WHERE name = 'rev'",
    /* seq is set by ST_POINT once the change is logged. */
    [ST_UPSERT] = "INSERT INTO kv(key, seq, create_rev, mod_rev, version) "
                  "VALUES(?1, 0, ?2, ?2, 1) ON CONFLICT(key) DO UPDATE SET "
                  "mod_rev = excluded.mod_rev, version = version + 1 "
                  "RETURNING create_rev, version",
    [ST_POINT] = "UPDATE kv SET seq = ?2 WHERE key = ?1",
    [ST_DELETE] = "DELETE FROM kv WHERE key = ?1 RETURNING create_rev, version",
    [ST_LOG] = "INSERT INTO changes(rev, key, deleted, value, create_rev, version) "
               "VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
    /* Ordered by rev, seq (the same order, revisions grow with seq) so that sqlite walks
     * the rev index from ?1: by seq alone it scanned the whole history on every poll. */
    [ST_CHANGES] = "SELECT key, value, create_rev, rev, version, deleted FROM changes "
                   "WHERE rev >= ?1 AND key >= ?2 AND key < ?3 ORDER BY rev, seq",
    [ST_CHANGES_ALL] = "SELECT key, value, create_rev, rev, version, deleted FROM changes "
                       "WHERE rev >= ?1 AND key >= ?2 ORDER BY rev, seq",
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
};

/* The layout's number, in PRAGMA user_version: 0 (none) is the first layout's. */
#define LAYOUT 2

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS kv("
    "  key TEXT PRIMARY KEY, seq INTEGER NOT NULL, create_rev INTEGER NOT NULL,"
    "  mod_rev INTEGER NOT NULL, version INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS changes("
    "  seq INTEGER PRIMARY KEY, rev INTEGER NOT NULL, key TEXT NOT NULL,"
    "  deleted INTEGER NOT NULL, value BLOB, create_rev INTEGER, version INTEGER);"
    "CREATE INDEX IF NOT EXISTS changes_by_rev ON changes(rev);"
    "CREATE TABLE IF NOT EXISTS meta(name TEXT PRIMARY KEY, value INTEGER NOT NULL)"
    "  WITHOUT ROWID;"
    "INSERT OR IGNORE INTO meta(name, value) VALUES('rev', 0), ('compact_rev', 0);"
    "PRAGMA user_version = 2;";
/* Kept in step with LAYOUT. */
_Static_assert(LAYOUT == 2, "schema_sql sets user_version 2");

/* From the first layout: each key's value becomes its one change (the history before it
 * is compacted away), and kv points at it. */
static const char migrate_sql[] =
    "ALTER TABLE kv RENAME TO kv_first_layout;"
    "DELETE FROM changes;"
    "INSERT INTO changes(rev, key, deleted, value, create_rev, version)"
    "  SELECT mod_rev, key, 0, value, create_rev, version FROM kv_first_layout"
    "  ORDER BY mod_rev, key;"
    "CREATE TABLE kv("
    "  key TEXT PRIMARY KEY, seq INTEGER NOT NULL, create_rev INTEGER NOT NULL,"
    "  mod_rev INTEGER NOT NULL, version INTEGER NOT NULL) WITHOUT ROWID;"
    "INSERT INTO kv(key, seq, create_rev, mod_rev, version)"
    "  SELECT key, seq, create_rev, rev, version FROM changes;"
    "DROP TABLE kv_first_layout;"
    "UPDATE meta SET value = (SELECT value FROM meta WHERE name = 'rev')"
    "  WHERE name = 'compact_rev';";

struct sqlite_store {
    struct tby_store base;
    sqlite3 *db;
    char *path;
    char *dir;
    sqlite3_stmt *stmts[ST_COUNT];
    struct timespec busy_since;   /* when the current wait for the write lock began */
    unsigned busy_seed;
    dev_t dev;                    /* the file opened, to notice it moved away */
    ino_t ino;
};

struct sqlite_watch {
    struct tby_watch base;
    struct sqlite_store *store;
    char *prefix;
    char *prefix_end; /* "" when the prefix has no upper bound */
    int inotify_fd;
};

static struct sqlite_store *to_sqlite(struct tby_store *s)
{
    return (struct sqlite_store *)s;
}

static int db_error(struct sqlite_store *st, struct tby_error *err, const char *what)
{
    int code = sqlite3_errcode(st->db);
    int r = (code == SQLITE_BUSY || code == SQLITE_LOCKED) ? -EAGAIN : -EIO;

    return tby_error_set(err, r, "datastore %s: %s: %s", st->path, what, sqlite3_errmsg(st->db));
}

/* An open database keeps working when its file is moved or deleted, but nobody else sees
 * what it reads or writes any more: every operation first checks that the path still
 * names the file that was opened, and otherwise fails as "unreachable" (-EAGAIN), so that
 * readers keep their last state (fail-static) and writers retry, until the file is back. */
static int in_place(struct sqlite_store *st, struct tby_error *err)
{
    struct stat sb;

    if (stat(st->path, &sb) == 0 && sb.st_dev == st->dev && sb.st_ino == st->ino)
        return 0;
    return tby_error_set(err, -EAGAIN, "datastore %s: the file was moved or removed "
                         "(waiting for it to come back)", st->path);
}

static sqlite3_stmt *stmt(struct sqlite_store *st, enum stmt_id id)
{
    sqlite3_stmt *s = st->stmts[id];

    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return s;
}

/* Runs a statement prepared with stmt() and bound by the caller, expecting no rows. */
static int exec_bound(struct sqlite_store *st, enum stmt_id id, struct tby_error *err)
{
    int rc = sqlite3_step(st->stmts[id]);

    sqlite3_reset(st->stmts[id]);
    if (rc != SQLITE_DONE)
        return db_error(st, err, stmt_sql[id]);
    return 0;
}

static int exec_simple(struct sqlite_store *st, enum stmt_id id, struct tby_error *err)
{
    stmt(st, id);
    return exec_bound(st, id, err);
}

static void rollback(struct sqlite_store *st)
{
    sqlite3_step(stmt(st, ST_ROLLBACK));
    sqlite3_reset(st->stmts[ST_ROLLBACK]);
}

static int read_meta(struct sqlite_store *st, enum stmt_id id, int64_t *out,
                     struct tby_error *err)
{
    sqlite3_stmt *s = stmt(st, id);
    int rc = sqlite3_step(s);

    if (rc != SQLITE_ROW) {
        sqlite3_reset(s);
        return db_error(st, err, "reading the revision");
    }
    *out = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    return 0;
}

/* Copies the current row (key, value, create_rev, mod_rev, version) into kv. */
static int row_to_kv(sqlite3_stmt *s, struct tby_kv *kv)
{
    const void *value = sqlite3_column_blob(s, 1);
    int value_len = sqlite3_column_bytes(s, 1);

    memset(kv, 0, sizeof(*kv));
    kv->key = strdup((const char *)sqlite3_column_text(s, 0));
    if (!kv->key)
        return -ENOMEM;
    if (sqlite3_column_type(s, 1) != SQLITE_NULL) {
        kv->value = malloc((size_t)value_len + 1);
        if (!kv->value) {
            tby_kv_clear(kv);
            return -ENOMEM;
        }
        if (value_len > 0)
            memcpy(kv->value, value, (size_t)value_len);
        kv->value[value_len] = '\0';
        kv->value_len = (size_t)value_len;
    }
    kv->create_rev = sqlite3_column_int64(s, 2);
    kv->mod_rev = sqlite3_column_int64(s, 3);
    kv->version = sqlite3_column_int64(s, 4);
    return 0;
}

static int sq_get(struct tby_store *s, const char *key, struct tby_kv *out,
                  struct tby_error *err)
{
    struct sqlite_store *st = to_sqlite(s);
    sqlite3_stmt *q = stmt(st, ST_GET);
    int rc, r;

    if (in_place(st, err) < 0)
        return -EAGAIN;
    sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
    rc = sqlite3_step(q);
    if (rc == SQLITE_DONE) {
        sqlite3_reset(q);
        return tby_error_set(err, -ENOENT, "%s: not found", key);
    }
    if (rc != SQLITE_ROW) {
        r = db_error(st, err, "get");
        sqlite3_reset(q);
        return r;
    }
    r = row_to_kv(q, out);
    sqlite3_reset(q);
    return r < 0 ? tby_error_set(err, r, "out of memory") : 0;
}

/* Collects rows of a prepared query into the list. */
static int collect_rows(struct sqlite_store *st, sqlite3_stmt *q, struct tby_kv_list *out,
                        struct tby_error *err)
{
    int rc;

    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        struct tby_kv kv;

        if (row_to_kv(q, &kv) < 0 || tby_kv_list_push(out, &kv) < 0) {
            tby_kv_clear(&kv);
            sqlite3_reset(q);
            return tby_error_set(err, -ENOMEM, "out of memory");
        }
    }
    if (rc != SQLITE_DONE) {
        int r = db_error(st, err, "range");

        sqlite3_reset(q);
        return r;
    }
    sqlite3_reset(q);
    return 0;
}

static int sq_range(struct tby_store *s, const char *prefix, struct tby_kv_list *out,
                    struct tby_error *err)
{
    struct sqlite_store *st = to_sqlite(s);
    _cleanup_free_ char *end = tby_prefix_end(prefix);
    sqlite3_stmt *q;
    int r;

    if (in_place(st, err) < 0)
        return -EAGAIN;
    if (!end)
        return tby_error_set(err, -ENOMEM, "out of memory");
    /* One read transaction, so the rows and the revision are one snapshot. */
    if (sqlite3_exec(st->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
        return db_error(st, err, "begin read");
    q = stmt(st, *end ? ST_RANGE : ST_RANGE_ALL);
    sqlite3_bind_text(q, 1, prefix, -1, SQLITE_STATIC);
    if (*end)
        sqlite3_bind_text(q, 2, end, -1, SQLITE_STATIC);
    r = collect_rows(st, q, out, err);
    if (r == 0)
        r = read_meta(st, ST_REV, &out->rev, err);
    sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL);
    if (r < 0)
        tby_kv_list_clear(out);
    return r;
}

static int sq_revision(struct tby_store *s, int64_t *rev, struct tby_error *err)
{
    if (in_place(to_sqlite(s), err) < 0)
        return -EAGAIN;
    return read_meta(to_sqlite(s), ST_REV, rev, err);
}

/* The largest mod_rev under a prefix (0: no key). */
static int max_mod_rev(struct sqlite_store *st, const char *prefix, int64_t *out,
                       struct tby_error *err)
{
    _cleanup_free_ char *end = tby_prefix_end(prefix);
    sqlite3_stmt *q;
    int rc;

    if (!end)
        return tby_error_set(err, -ENOMEM, "out of memory");
    q = stmt(st, *end ? ST_MAX_REV : ST_MAX_REV_ALL);
    sqlite3_bind_text(q, 1, prefix, -1, SQLITE_STATIC);
    if (*end)
        sqlite3_bind_text(q, 2, end, -1, SQLITE_STATIC);
    rc = sqlite3_step(q);
    *out = rc == SQLITE_ROW ? sqlite3_column_int64(q, 0) : 0;
    sqlite3_reset(q);
    return rc == SQLITE_ROW ? 0 : db_error(st, err, "compare");
}

static int check_compares(struct sqlite_store *st, const struct tby_txn *txn,
                          struct tby_error *err)
{
    for (size_t i = 0; i < txn->n_cmps; i++) {
        sqlite3_stmt *q = stmt(st, ST_MOD_REV);
        int64_t mod_rev = 0;
        int rc;

        if (txn->cmps[i].prefix) {
            rc = max_mod_rev(st, txn->cmps[i].key, &mod_rev, err);
            if (rc < 0)
                return rc;
            if (mod_rev > txn->cmps[i].mod_rev)
                return tby_error_set(err, -ECANCELED, "%s…: changed concurrently (mod "
                                     "revision %lld, expected at most %lld)",
                                     txn->cmps[i].key, (long long)mod_rev,
                                     (long long)txn->cmps[i].mod_rev);
            continue;
        }
        sqlite3_bind_text(q, 1, txn->cmps[i].key, -1, SQLITE_STATIC);
        rc = sqlite3_step(q);
        if (rc == SQLITE_ROW)
            mod_rev = sqlite3_column_int64(q, 0);
        else if (rc != SQLITE_DONE) {
            int r = db_error(st, err, "compare");

            sqlite3_reset(q);
            return r;
        }
        sqlite3_reset(q);
        if (mod_rev != txn->cmps[i].mod_rev)
            return tby_error_set(err, -ECANCELED,
                                 "%s: changed concurrently (mod revision %lld, expected %lld)",
                                 txn->cmps[i].key, (long long)mod_rev,
                                 (long long)txn->cmps[i].mod_rev);
    }
    return 0;
}

static int log_change(struct sqlite_store *st, int64_t rev, const struct tby_txn_op *op,
                      int64_t create_rev, int64_t version, struct tby_error *err)
{
    sqlite3_stmt *q = stmt(st, ST_LOG);

    sqlite3_bind_int64(q, 1, rev);
    sqlite3_bind_text(q, 2, op->key, -1, SQLITE_STATIC);
    sqlite3_bind_int(q, 3, op->is_delete);
    if (op->is_delete)
        sqlite3_bind_null(q, 4);
    else
        sqlite3_bind_blob(q, 4, op->value, (int)op->value_len, SQLITE_STATIC);
    sqlite3_bind_int64(q, 5, create_rev);
    sqlite3_bind_int64(q, 6, version);
    return exec_bound(st, ST_LOG, err);
}

/* The key's row takes its value from the change just logged. */
static int point_at_change(struct sqlite_store *st, const char *key, struct tby_error *err)
{
    sqlite3_stmt *q = stmt(st, ST_POINT);

    sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, sqlite3_last_insert_rowid(st->db));
    return exec_bound(st, ST_POINT, err);
}

/* Applies one op at `rev`; *changed is set when it changed the store. */
static int apply_op(struct sqlite_store *st, int64_t rev, const struct tby_txn_op *op,
                    bool *changed, struct tby_error *err)
{
    sqlite3_stmt *q = stmt(st, op->is_delete ? ST_DELETE : ST_UPSERT);
    int64_t create_rev, version;
    int rc, r;

    sqlite3_bind_text(q, 1, op->key, -1, SQLITE_STATIC);
    if (!op->is_delete)
        sqlite3_bind_int64(q, 2, rev);
    rc = sqlite3_step(q);
    if (rc == SQLITE_DONE && op->is_delete) {
        sqlite3_reset(q);
        return 0; /* deleting a missing key changes nothing */
    }
    if (rc != SQLITE_ROW) {
        r = db_error(st, err, op->is_delete ? "delete" : "put");
        sqlite3_reset(q);
        return r;
    }
    create_rev = sqlite3_column_int64(q, 0);
    version = sqlite3_column_int64(q, 1);
    /* Drain the RETURNING statement so it finishes before the next write. */
    while (sqlite3_step(q) == SQLITE_ROW)
        ;
    sqlite3_reset(q);
    *changed = true;
    r = log_change(st, rev, op, create_rev, version, err);
    return r < 0 || op->is_delete ? r : point_at_change(st, op->key, err);
}

static int compact_changes(struct sqlite_store *st, int64_t upto, struct tby_error *err)
{
    char sql[256];

    snprintf(sql, sizeof(sql),
             "DELETE FROM changes WHERE rev <= %lld AND seq NOT IN (SELECT seq FROM kv);"
             "UPDATE meta SET value = MAX(value, %lld) WHERE name = 'compact_rev';",
             (long long)upto, (long long)upto);
    if (sqlite3_exec(st->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return db_error(st, err, "compact");
    return 0;
}

static int sq_compact(struct tby_store *s, int64_t rev, struct tby_error *err)
{
    struct sqlite_store *st = to_sqlite(s);
    int r = in_place(st, err);

    if (r == 0)
        r = exec_simple(st, ST_BEGIN, err);
    if (r < 0)
        return r;
    r = compact_changes(st, rev, err);
    if (r < 0) {
        rollback(st);
        return r;
    }
    r = exec_simple(st, ST_COMMIT, err);
    if (r < 0)
        rollback(st);
    return r;
}

/* Wakes the watchers of the folder once a commit is visible (see the top). A failure only
 * costs them latency: they re-read every WATCH_SAFETY_POLL_MS anyway. */
static void announce(struct sqlite_store *st)
{
    (void)utimensat(AT_FDCWD, st->path, NULL, 0);
}

static int commit_locked(struct sqlite_store *st, const struct tby_txn *txn, int64_t *rev,
                         bool *changed, struct tby_error *err)
{
    int64_t current;
    int r;

    r = check_compares(st, txn, err);
    if (r < 0)
        return r;
    r = read_meta(st, ST_REV, &current, err);
    if (r < 0)
        return r;
    for (size_t i = 0; i < txn->n_ops && r == 0; i++)
        r = apply_op(st, current + 1, &txn->ops[i], changed, err);
    if (r < 0)
        return r;
    *rev = current;
    if (!*changed)
        return 0;
    *rev = current + 1;
    sqlite3_bind_int64(stmt(st, ST_SET_REV), 1, *rev);
    r = exec_bound(st, ST_SET_REV, err);
    if (r == 0 && *rev % COMPACT_EVERY == 0 && *rev > RETAIN_REVISIONS)
        r = compact_changes(st, *rev - RETAIN_REVISIONS, err);
    return r;
}

/* Counts how long the write lock was waited for and held (the store's stats). */
static void count_lock(struct sqlite_store *st, int64_t asked, int64_t taken)
{
    uint64_t held = (uint64_t)(tby_monotonic_us() - taken);

    tby_store_add(&st->base.stats.lock_wait_us, (uint64_t)(taken - asked));
    tby_store_add(&st->base.stats.lock_hold_us, held);
    tby_store_max(&st->base.stats.lock_hold_max_us, held);
}

static int sq_commit(struct tby_store *s, const struct tby_txn *txn, int64_t *rev,
                     struct tby_error *err)
{
    struct sqlite_store *st = to_sqlite(s);
    bool changed = false;
    int64_t asked = tby_monotonic_us(), taken;
    int r = in_place(st, err);

    if (r == 0)
        r = exec_simple(st, ST_BEGIN, err);
    if (r < 0)
        return r;
    taken = tby_monotonic_us();
    r = commit_locked(st, txn, rev, &changed, err);
    if (r == 0)
        r = exec_simple(st, ST_COMMIT, err);
    if (r < 0)
        rollback(st);
    count_lock(st, asked, taken);
    if (r == 0 && changed)
        announce(st);
    return r;
}

/* ---- watch ------------------------------------------------------------------ */

static struct sqlite_watch *to_watch(struct tby_watch *w)
{
    return (struct sqlite_watch *)w;
}

static int sw_fd(struct tby_watch *w)
{
    return to_watch(w)->inotify_fd;
}

static void drain_inotify(int fd)
{
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));

    while (read(fd, buf, sizeof(buf)) > 0)
        ;
}

/* Reads changes with rev >= next_rev under the prefix into out. */
static int read_changes(struct sqlite_watch *w, struct tby_event_list *out,
                        struct tby_error *err)
{
    struct sqlite_store *st = w->store;
    int64_t compact_rev;
    sqlite3_stmt *q;
    int rc, r;

    if (in_place(st, err) < 0)
        return -EAGAIN;
    if (sqlite3_exec(st->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
        return db_error(st, err, "begin read");
    r = read_meta(st, ST_COMPACT_REV, &compact_rev, err);
    if (r == 0 && w->base.next_rev <= compact_rev)
        r = tby_error_set(err, -ESTALE,
                          "watch from revision %lld: compacted (changes up to %lld dropped)",
                          (long long)w->base.next_rev, (long long)compact_rev);
    if (r < 0) {
        sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL);
        return r;
    }
    q = stmt(st, *w->prefix_end ? ST_CHANGES : ST_CHANGES_ALL);
    sqlite3_bind_int64(q, 1, w->base.next_rev);
    sqlite3_bind_text(q, 2, w->prefix, -1, SQLITE_STATIC);
    if (*w->prefix_end)
        sqlite3_bind_text(q, 3, w->prefix_end, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        struct tby_kv kv;
        bool deleted = sqlite3_column_int(q, 5) != 0;

        if (row_to_kv(q, &kv) < 0 ||
            tby_event_list_push(out, deleted ? TBY_EVENT_DELETE : TBY_EVENT_PUT, &kv) < 0) {
            tby_kv_clear(&kv);
            r = tby_error_set(err, -ENOMEM, "out of memory");
            break;
        }
        w->base.next_rev = out->items[out->n - 1].kv.mod_rev + 1;
    }
    if (r == 0 && rc != SQLITE_DONE)
        r = db_error(st, err, "watch");
    sqlite3_reset(q);
    sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL);
    return r;
}

static int sw_next(struct tby_watch *base, struct tby_event_list *out, int timeout_ms,
                   struct tby_error *err)
{
    struct sqlite_watch *w = to_watch(base);
    int64_t deadline = timeout_ms < 0 ? INT64_MAX : tby_monotonic_ms() + timeout_ms;
    size_t before = out->n;

    for (;;) {
        struct pollfd pfd = { .fd = w->inotify_fd, .events = POLLIN };
        int64_t left;
        int r;

        drain_inotify(w->inotify_fd);
        r = read_changes(w, out, err);
        if (r < 0 || out->n > before)
            return r;
        left = deadline - tby_monotonic_ms();
        if (left <= 0)
            return 0;
        if (left > WATCH_SAFETY_POLL_MS)
            left = WATCH_SAFETY_POLL_MS;
        if (poll(&pfd, 1, (int)left) < 0 && errno != EINTR)
            return tby_error_set(err, -errno, "watch: poll: %s", strerror(errno));
    }
}

static void sw_free(struct tby_watch *base)
{
    struct sqlite_watch *w = to_watch(base);

    if (w->inotify_fd >= 0)
        close(w->inotify_fd);
    free(w->prefix);
    free(w->prefix_end);
    free(w);
}

static const struct tby_watch_ops sqlite_watch_ops = {
    .fd = sw_fd,
    .next = sw_next,
    .free = sw_free,
};

static int sq_watch(struct tby_store *s, const char *prefix, int64_t from_rev,
                    struct tby_watch **out, struct tby_error *err)
{
    struct sqlite_store *st = to_sqlite(s);
    struct sqlite_watch *w = calloc(1, sizeof(*w));
    int64_t current;
    int r;

    if (!w)
        return tby_error_set(err, -ENOMEM, "out of memory");
    if (in_place(st, err) < 0) {
        free(w);
        return -EAGAIN;
    }
    w->base.ops = &sqlite_watch_ops;
    w->store = st;
    w->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    w->prefix = strdup(prefix);
    w->prefix_end = tby_prefix_end(prefix);
    if (w->inotify_fd < 0 || !w->prefix || !w->prefix_end) {
        r = tby_error_set(err, w->inotify_fd < 0 ? -errno : -ENOMEM, "watch: %s",
                          strerror(w->inotify_fd < 0 ? errno : ENOMEM));
        sw_free(&w->base);
        return r;
    }
    if (inotify_add_watch(w->inotify_fd, st->dir,
                          IN_MODIFY | IN_ATTRIB | IN_CREATE | IN_MOVED_TO) < 0) {
        r = tby_error_set(err, -errno, "watch %s: inotify: %s", st->dir, strerror(errno));
        sw_free(&w->base);
        return r;
    }
    r = read_meta(st, ST_REV, &current, err);
    if (r < 0) {
        sw_free(&w->base);
        return r;
    }
    w->base.next_rev = from_rev > 0 ? from_rev : current + 1;
    *out = &w->base;
    return 0;
}

/* ---- open / close ------------------------------------------------------------ */

static void sq_close(struct tby_store *s)
{
    struct sqlite_store *st = to_sqlite(s);

    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(st->stmts[i]);
    sqlite3_close(st->db);
    free(st->path);
    free(st->dir);
    free(st);
}

static void sq_release_memory(struct tby_store *s)
{
    sqlite3_db_release_memory(to_sqlite(s)->db);
}

static const struct tby_store_ops sqlite_ops = {
    .get = sq_get,
    .range = sq_range,
    .revision = sq_revision,
    .commit = sq_commit,
    .compact = sq_compact,
    .watch = sq_watch,
    .close = sq_close,
    .release_memory = sq_release_memory,
};

/* Creates the database's folder (and its parents) when missing. */
static int make_parent_dirs(const char *dir, struct tby_error *err)
{
    char buf[PATH_MAX];
    size_t len = strlen(dir);

    if (len >= sizeof(buf))
        return tby_error_set(err, -ENAMETOOLONG, "datastore folder %s: name too long", dir);
    memcpy(buf, dir, len + 1);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) < 0 && errno != EEXIST)
            return tby_error_set(err, -errno, "datastore folder %s: %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0755) < 0 && errno != EEXIST)
        return tby_error_set(err, -errno, "datastore folder %s: %s", buf, strerror(errno));
    return 0;
}

/* Waiting for another process's write lock. sqlite's own handler sleeps 1, 2, 5, 10 …
 * ms, far longer than a commit holds the lock (a tenth of a millisecond): with four
 * processes allocating addresses that made the 99th percentile ~20 ms. Short randomised
 * naps, growing slowly, keep the wait close to the time the lock is really held. */
static int busy_wait(void *opaque, int count)
{
    struct sqlite_store *st = opaque;
    struct timespec now, nap;
    long waited_ms, us;

    clock_gettime(CLOCK_MONOTONIC, &now);
    if (count == 0)
        st->busy_since = now;
    waited_ms = (now.tv_sec - st->busy_since.tv_sec) * 1000 +
                (now.tv_nsec - st->busy_since.tv_nsec) / 1000000;
    if (waited_ms >= BUSY_TIMEOUT_MS)
        return 0;
    us = 20 + rand_r(&st->busy_seed) % (50L << (count / 8 < 6 ? count / 8 : 6));
    nap = (struct timespec){ .tv_sec = 0, .tv_nsec = us * 1000 };
    nanosleep(&nap, NULL);
    return 1;
}

static int prepare_all(struct sqlite_store *st, struct tby_error *err)
{
    for (int i = 0; i < ST_COUNT; i++) {
        if (sqlite3_prepare_v3(st->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
                               &st->stmts[i], NULL) != SQLITE_OK)
            return db_error(st, err, "preparing statements");
    }
    return 0;
}

/* The first row's first column of a query as a number (0: no row). */
static int64_t query_int(struct sqlite_store *st, const char *sql)
{
    sqlite3_stmt *q = NULL;
    int64_t v = 0;

    if (sqlite3_prepare_v2(st->db, sql, -1, &q, NULL) == SQLITE_OK &&
        sqlite3_step(q) == SQLITE_ROW)
        v = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    return v;
}

/* Whether the database is of the first layout: values in kv (see the top). */
static bool first_layout(struct sqlite_store *st)
{
    return query_int(st, "SELECT 1 FROM pragma_table_info('kv') WHERE name = 'value'") == 1;
}

static int setup_db(struct sqlite_store *st, struct tby_error *err)
{
    char *msg = NULL;

    st->busy_seed = (unsigned)getpid() ^ (unsigned)(uintptr_t)st;
    if (sqlite3_busy_handler(st->db, busy_wait, st) != SQLITE_OK ||
        sqlite3_exec(st->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", NULL, NULL,
                     &msg) != SQLITE_OK ||
        sqlite3_wal_autocheckpoint(st->db, WAL_AUTOCHECKPOINT_PAGES) != SQLITE_OK ||
        sqlite3_exec(st->db, "BEGIN IMMEDIATE;", NULL, NULL, &msg) != SQLITE_OK) {
        int r = tby_error_set(err, -EIO, "datastore %s: %s", st->path,
                              msg ? msg : sqlite3_errmsg(st->db));

        sqlite3_free(msg);
        return r;
    }
    /* Made already: nothing to write (every process opening the store comes here). */
    if (query_int(st, "PRAGMA user_version") == LAYOUT) {
        sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL);
        return prepare_all(st, err);
    }
    if (first_layout(st) && sqlite3_exec(st->db, migrate_sql, NULL, NULL, &msg) != SQLITE_OK) {
        int r = tby_error_set(err, -EIO, "datastore %s: moving to layout %d: %s", st->path,
                              LAYOUT, msg);

        sqlite3_free(msg);
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
        return r;
    }
    if (sqlite3_exec(st->db, schema_sql, NULL, NULL, &msg) != SQLITE_OK) {
        int r = tby_error_set(err, -EIO, "datastore %s: creating tables: %s", st->path, msg);

        sqlite3_free(msg);
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
        return r;
    }
    if (sqlite3_exec(st->db, "COMMIT", NULL, NULL, &msg) != SQLITE_OK) {
        int r = tby_error_set(err, -EIO, "datastore %s: %s", st->path, msg);

        sqlite3_free(msg);
        return r;
    }
    return prepare_all(st, err);
}

static int remember_file(struct sqlite_store *st, struct tby_error *err)
{
    struct stat sb;

    if (stat(st->path, &sb) < 0)
        return tby_error_set(err, -errno, "datastore %s: %s", st->path, strerror(errno));
    st->dev = sb.st_dev;
    st->ino = sb.st_ino;
    return 0;
}

int tby_store_sqlite_open(const char *location, struct tby_store **out, struct tby_error *err)
{
    struct sqlite_store *st;
    _cleanup_free_ char *copy = NULL;
    int r;

    if (!*location)
        return tby_error_set(err, -EINVAL, "sqlite datastore: empty path");
    st = calloc(1, sizeof(*st));
    copy = strdup(location);
    if (!st || !copy) {
        free(st);
        return tby_error_set(err, -ENOMEM, "out of memory");
    }
    st->base.ops = &sqlite_ops;
    st->path = strdup(location);
    st->dir = strdup(dirname(copy));
    if (!st->path || !st->dir) {
        sq_close(&st->base);
        return tby_error_set(err, -ENOMEM, "out of memory");
    }
    r = make_parent_dirs(st->dir, err);
    if (r == 0 && sqlite3_open_v2(location, &st->db,
                                  SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                                      SQLITE_OPEN_NOMUTEX,
                                  NULL) != SQLITE_OK)
        r = tby_error_set(err, -EIO, "datastore %s: %s", location,
                          st->db ? sqlite3_errmsg(st->db) : "cannot open");
    if (r == 0)
        r = setup_db(st, err);
    if (r == 0)
        r = remember_file(st, err);
    if (r < 0) {
        sq_close(&st->base);
        return r;
    }
    *out = &st->base;
    return 0;
}
