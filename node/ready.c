/* ready.c — whether tabby-node is ready, and if not, why (/readiness, tabby_ready).
 *
 * Ready means the datastore answers, it has been read whole, and every part is ready (its
 * first complete state programmed). What is not ready is looked for in the order things
 * depend on each other — the datastore first, then the parts in the table's order — so
 * that the reason given is the cause: with the datastore away nothing else can be right,
 * and a node that could not register is named as such even while its routes wait too. A
 * ready node may still work only in part: then it says what is degraded.
 */
#include <stdio.h>

#include "node.h"

static bool datastore_ready(const struct node *n, char *why, size_t size)
{
    const struct tby_syncer_stats *ss;

    if (!n->syncer) {
        snprintf(why, size, "datastore file missing, waiting for it: %s", n->cfg.v[NODE_STORE]);
        return false;
    }
    ss = tby_syncer_stats(n->syncer);
    if (!tby_syncer_online(n->syncer) && ss->last_error[0]) {
        snprintf(why, size, "datastore unreachable: %s", ss->last_error);
        return false;
    }
    if (!tby_syncer_online(n->syncer) || !tby_syncer_in_sync(n->syncer)) {
        snprintf(why, size, "datastore not read yet");
        return false;
    }
    return true;
}

bool node_not_ready(char *why, size_t size, const char *what, const char *error)
{
    if (error && error[0])
        snprintf(why, size, "%s: %s", what, error);
    else
        snprintf(why, size, "%s yet", what);
    return false;
}

bool node_ready(const struct node *n, char *why, size_t size)
{
    char what[512];

    if (!datastore_ready(n, why, size))
        return false;
    for (size_t i = 0; i < n->n_parts; i++)
        if (n->state[i] && n->parts[i]->ready && !n->parts[i]->ready(n->state[i], why, size))
            return false;
    why[0] = '\0';
    for (size_t i = 0; i < n->n_parts; i++) {
        if (n->state[i] && n->parts[i]->degraded &&
            n->parts[i]->degraded(n->state[i], what, sizeof(what))) {
            snprintf(why, size, "degraded: %s", what);
            break;
        }
    }
    return true;
}
