/* nft.h — the nftables dataplane: programs a ruleset (ruleset.h) into table `inet tabby`
 * of the current network namespace with libnftnl batches over libmnl.
 *
 * Owns: two netlink sockets (one for batches and dumps, one listening to nftables
 * notifications) and the kernel table `inet tabby`, which nothing else changes. It reads
 * and writes nothing outside that table (notifications about other tables are dropped
 * unread beyond their table name). tby_nft_close closes the sockets and leaves the table
 * in place: a restart reads it back and programs only the difference.
 *
 * Every sync is one netlink batch, one transaction: the kernel applies all of it or none.
 * While the kernel's state is known (after a successful sync, with no foreign change
 * noticed) a sync sends only the ruleset's journal. Otherwise — the first sync, after a
 * failed commit, after someone else touched the table, or after notifications were lost —
 * it reads the table back (tables, sets, elements, chains, rules; rules are recognised by
 * a digest tabby stores in their user data) and sends the difference. When what it reads
 * cannot be patched (a set of the wrong type, a base chain on the wrong hook) it deletes
 * and rebuilds the whole table, still in one transaction.
 *
 * Needs root (CAP_NET_ADMIN) in the namespace. Errors: negative errno from the kernel,
 * with a message naming what was refused.
 */
#ifndef TABBY_NFT_H
#define TABBY_NFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tabby/cleanup.h"
#include "tabby/error.h"
#include "tabby/ruleset.h"
#include "tabby/strv.h"

struct tby_nft;

struct tby_nft_stats {
    bool read_back;           /* the table was read back first */
    bool rebuilt;             /* ... and had to be rebuilt */
    size_t messages;          /* netlink messages in the batch (0: nothing to do) */
    size_t bytes;
    double ms;                /* the whole sync */
    double kernel_ms;         /* sending the batch until the kernel answered */
    double kernel_cpu_ms;     /* ... of it, this thread's CPU time (the kernel's own work
                               * on the batch, without waiting for a CPU) */
};

int tby_nft_open(struct tby_nft **out, struct tby_error *err);
void tby_nft_close(struct tby_nft *nft);
TBY_DEFINE_FREEP(struct tby_nft, tby_nft_close)

/* Calls fn for every rule of table inet tabby that has a counter and a comment: its
 * chain, comment, packets and bytes (strings valid during the call). fn returning
 * non-zero stops the walk and is returned. 0, or a negative errno with err. */
int tby_nft_rule_counters(struct tby_nft *nft,
                          int (*fn)(void *ctx, const char *chain, const char *comment,
                                    uint64_t packets, uint64_t bytes),
                          void *ctx, struct tby_error *err);

/* Programs rs (see above); on success the ruleset's journal is done. stats may be NULL. */
int tby_nft_sync(struct tby_nft *nft, struct tby_rs *rs, struct tby_nft_stats *stats,
                 struct tby_error *err);
/* The next sync reads the table back first. */
void tby_nft_invalidate(struct tby_nft *nft);
bool tby_nft_needs_read_back(const struct tby_nft *nft);

/* The notification socket, for a poll loop; tby_nft_monitor_read drains it and returns 1
 * when table inet tabby was changed by someone else or notifications were lost (the next
 * sync reads back), 0 when not, or a negative errno. */
int tby_nft_monitor_fd(const struct tby_nft *nft);
int tby_nft_monitor_read(struct tby_nft *nft);

/* Stops (false) or resumes (true) listening to notifications: the kernel builds one per
 * object of every commit while anyone listens. A sync pauses it around its own commit;
 * a tool that loads rules itself (the benchmarks' nft -f path) pauses it too. */
void tby_nft_monitor_listen(struct tby_nft *nft, bool on);

/* Whether table inet tabby exists (in this network namespace). */
int tby_nft_table_exists(struct tby_nft *nft, bool *exists, struct tby_error *err);

/* What tby_nft_check found: the table, and how it differs from the ruleset. */
struct tby_nft_check {
    bool present;             /* table inet tabby exists */
    bool rebuild;             /* it holds something a sync can only replace whole */
    struct tby_strv differences; /* one sentence per set or chain that differs; none: equal */
    char *commands;           /* the nft commands a sync would send (NULL after a rebuild) */
    bool commands_cut;        /* ... of which only the first 16 KiB are kept */
};

/* Reads the table back and compares it with rs, changing neither the table nor what rs
 * wants (its kernel marks and journal become the read-back's, as before a sync). A
 * difference makes the next sync read back and repair; equality keeps the journal-only
 * syncs. The caller clears *out with tby_nft_check_clear. */
int tby_nft_check(struct tby_nft *nft, struct tby_rs *rs, struct tby_nft_check *out,
                  struct tby_error *err);
void tby_nft_check_clear(struct tby_nft_check *check);

/* Deletes table inet tabby (absent is fine). */
int tby_nft_delete_table(struct tby_nft *nft, struct tby_error *err);

#endif
