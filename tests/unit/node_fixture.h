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

#include "tabby/catalog.h"
#include "tabby/log.h"
#include "tabby/resource.h"
#include "node.h"

struct node_fixture {
    char dir[64];
    char uri[160];
    char db[128];
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
 * flags (NULL-terminated, after the fixture's own), with no part yet. */
static inline void fixture_init(struct node_fixture *f, const char *const *flags)
{
    char cfg[128], *argv[32];
    struct tby_store *store = NULL;
    struct tby_error err = { 0 };
    int argc = 0;
    FILE *file;

    tby_log_set_level(TBY_LOG_ERROR);
    strcpy(f->dir, "/tmp/tby-node-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->db, sizeof(f->db), "%s/tabby.db", f->dir);
    snprintf(f->uri, sizeof(f->uri), "sqlite:%s", f->db);
    snprintf(cfg, sizeof(cfg), "%s/tabby-node.cfg", f->dir);
    assert_non_null(file = fopen(cfg, "w"));
    fclose(file);
    /* the file exists: a missing one would have the node wait for it */
    assert_int_equal(tby_store_open(f->uri, &store, &err), 0);
    tby_store_close(store);
    for (const char *fixed[] = { "tabby-node", "--config", cfg, "--store", f->uri, "--node", "n1",
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
    char cmd[128];

    node_stop(&f->n);
    node_config_clear(&f->n.cfg);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
}

/* Resources into the datastore, as tabbyctl apply writes them. */
static inline void fixture_apply(struct node_fixture *f, const char *yaml)
{
    struct tby_resource_list list = { 0 };
    struct tby_error err = { 0 };

    if (tby_resource_load(yaml, strlen(yaml), "test", &list, &err) < 0 ||
        tby_catalog_write(f->n.store, &list, TBY_WRITE_APPLY, NULL, &err) < 0)
        fail_msg("apply: %s", tby_error_str(&err));
    tby_resource_list_clear(&list);
}

#endif
