/* node_fixture.h — a tabby-node core for unit tests: settings read as the daemon reads
 * them (its own empty config file, no pid file, no HTTP server, node "n1"), a sqlite
 * datastore in a scratch folder, and the parts of the real table the test names, in the
 * table's order. No root: the parts named must need no kernel (registration with an
 * address given, the policy engine in --dump mode). Include after cmocka.h.
 */
#ifndef TABBY_NODE_FIXTURE_H
#define TABBY_NODE_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/log.h"
#include "node.h"
#include "store_fixture.h"

struct node_fixture {
    struct store_fx store;         /* the scratch folder and its datastore file */
    struct node n;
    const struct node_part *table[NODE_PARTS_MAX];
};

/* The part of the real table named `name`. */
static inline const struct node_part *fixture_part(const char *name)
{
    for (size_t i = 0; i < node_n_parts; i++)
        if (strcmp(node_parts[i]->name, name) == 0)
            return node_parts[i];
    fail_msg("no part %s", name);
    return NULL;
}

/* The scratch folder, an empty datastore and config file, and n's settings from the
 * flags (NULL-terminated, after the fixture's own), with no part yet; the node's
 * datastore is `uri` when given (a k8s: one, say), else the scratch folder's sqlite file. */
static inline void fixture_init_on(struct node_fixture *f, const char *uri,
                                   const char *const *flags)
{
    char cfg[128], *argv[32];
    struct tby_error err = { 0 };
    int argc = 0;
    FILE *file;

    tby_log_set_level(TBY_LOG_ERROR);
    /* the datastore file exists: a missing one would have the node wait for it */
    store_fx_open(&f->store, "node", false);
    tby_store_close(f->store.store);
    f->store.store = NULL;
    if (uri)
        snprintf(f->store.uri, sizeof(f->store.uri), "%s", uri);
    snprintf(cfg, sizeof(cfg), "%s/tabby-node.cfg", f->store.dir);
    assert_non_null(file = fopen(cfg, "w"));
    fclose(file);
    for (const char *fixed[] = { "tabby-node", "--config", cfg, "--store", f->store.uri, "--node", "n1",
                                 "--pid-file", "", "--health-port", "0", NULL },
                    **a = fixed;
         *a; a++)
        argv[argc++] = (char *)*a;
    for (; flags && *flags; flags++)
        argv[argc++] = (char *)*flags;
    argv[argc] = NULL;
    node_init(&f->n);
    assert_int_equal(node_config_load(&f->n.cfg, argc, argv, &err), 0);
    f->n.parts = f->table;
    f->n.n_parts = 0;
}

static inline void fixture_init(struct node_fixture *f, const char *const *flags)
{
    fixture_init_on(f, NULL, flags);
}

/* Starts the core with the parts named (NULL-terminated), kept in the real table's order. */
static inline void fixture_start(struct node_fixture *f, const char *const *parts)
{
    struct tby_error err = { 0 };

    for (size_t i = 0; i < node_n_parts; i++)
        for (const char *const *p = parts; p && *p; p++)
            if (strcmp(node_parts[i]->name, *p) == 0)
                f->table[f->n.n_parts++] = node_parts[i];
    if (node_start(&f->n, &err) < 0)
        fail_msg("node_start: %s", tby_error_str(&err));
}

static inline void fixture_stop(struct node_fixture *f)
{
    node_stop(&f->n);
    node_config_clear(&f->n.cfg);
    store_fx_close(&f->store);
}

/* Resources into the datastore, as tabbyctl apply writes them. */
static inline void fixture_apply(struct node_fixture *f, const char *yaml)
{
    store_fx_apply(f->n.store, yaml);
}

#endif
