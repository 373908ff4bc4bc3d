/* store_fixture.h — the scratch datastore unit tests share: a fresh temporary folder
 * holding a sqlite store (or, where a test allows it, the store TABBY_TEST_STORE names,
 * such as etcd:…), a key prefix unique to the fixture, and resources written from YAML
 * as `tabbyctl apply` writes them. store_fx_close closes the store and removes the
 * folder. Header-only, for the tests' own use. */
#ifndef TABBY_TEST_STORE_FIXTURE_H
#define TABBY_TEST_STORE_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "tabby/catalog.h"
#include "tabby/resource.h"
#include "tabby/store.h"

struct store_fx {
    char dir[64];      /* the scratch folder, for the store's file and the test's own */
    char uri[160];
    char prefix[64];   /* "/t/PID-N/": keys of this fixture alone on a shared store */
    struct tby_store *store;
};

/* Opens a scratch store; `name` tells the folder apart (/tmp/tby-NAME-XXXXXX). With
 * `external_ok`, TABBY_TEST_STORE (when set) is used instead of a sqlite file. */
static inline void store_fx_open(struct store_fx *f, const char *name, bool external_ok)
{
    static int counter;
    const char *external = external_ok ? getenv("TABBY_TEST_STORE") : NULL;
    struct tby_error err = { 0 };

    memset(f, 0, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/tby-%s-XXXXXX", name);
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->prefix, sizeof(f->prefix), "/t/%d-%d/", (int)getpid(), counter++);
    if (external && *external)
        snprintf(f->uri, sizeof(f->uri), "%s", external);
    else
        snprintf(f->uri, sizeof(f->uri), "sqlite:%s/tabby.db", f->dir);
    if (tby_store_open(f->uri, &f->store, &err) < 0)
        fail_msg("%s: %s", f->uri, tby_error_str(&err));
}

/* Whether the store is the fixture's own sqlite file (not an external one). */
static inline bool store_fx_is_sqlite(const struct store_fx *f)
{
    return strncmp(f->uri, "sqlite:", 7) == 0;
}

static inline void store_fx_close(struct store_fx *f)
{
    char cmd[128];

    tby_store_close(f->store);
    f->store = NULL;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
}

/* Writes the YAML documents as `tabbyctl apply` does; fails the test on an error. */
static inline void store_fx_apply(struct tby_store *store, const char *yaml)
{
    struct tby_resource_list list = { 0 };
    struct tby_error err = { 0 };

    if (tby_resource_load(yaml, strlen(yaml), "test", &list, &err) < 0 ||
        tby_catalog_write(store, &list, TBY_WRITE_APPLY, NULL, &err) < 0)
        fail_msg("apply: %s", tby_error_str(&err));
    tby_resource_list_clear(&list);
}

#endif
