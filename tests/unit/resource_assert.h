/* resource_assert.h — cmocka helpers shared by the resource model tests: load YAML text,
 * expect a refusal whose message holds a fragment (one, or a table of them), and prove a
 * round trip.
 *
 * Header-only (static inline), for tests/unit only; include after <cmocka.h>. Resources
 * load_one returns belong to the caller (tby_resource_free).
 */
#ifndef TABBY_TESTS_RESOURCE_ASSERT_H
#define TABBY_TESTS_RESOURCE_ASSERT_H

#include <string.h>

#include "tabby/cleanup.h"
#include "tabby/resource.h"

/* Loads YAML text; returns 0 or the error, with the message in err. */
static inline int load(const char *yaml, struct tby_resource_list *list,
                       struct tby_error *err)
{
    return tby_resource_load(yaml, strlen(yaml), "test.yaml", list, err);
}

static inline struct tby_resource *load_one(const char *yaml)
{
    struct tby_resource_list list = { 0 };
    struct tby_error err = { 0 };
    struct tby_resource *res;

    if (load(yaml, &list, &err) < 0)
        fail_msg("load failed: %s\n--- document:\n%s", err.msg, yaml);
    assert_int_equal(list.n, 1);
    res = list.items[0];
    list.items[0] = NULL;
    list.n = 0;
    tby_resource_list_clear(&list);
    return res;
}

static inline void expect_error(const char *yaml, const char *fragment)
{
    struct tby_resource_list list = { 0 };
    struct tby_error err = { 0 };

    if (load(yaml, &list, &err) == 0) {
        tby_resource_list_clear(&list);
        fail_msg("accepted, expected \"%s\":\n%s", fragment, yaml);
    }
    if (!strstr(err.msg, fragment))
        fail_msg("message \"%s\" lacks \"%s\"", err.msg, fragment);
    assert_int_equal(list.n, 0);
}

/* A document to refuse, and a fragment of the message it must be refused with. */
struct bad_doc {
    const char *yaml;
    const char *fragment;
};

/* expect_error for each case of an array of struct bad_doc. */
#define expect_errors(cases) expect_errors_n((cases), sizeof(cases) / sizeof((cases)[0]))

static inline void expect_errors_n(const struct bad_doc *cases, size_t n)
{
    for (size_t i = 0; i < n; i++)
        expect_error(cases[i].yaml, cases[i].fragment);
}

/* decode(encode(x)) == x, and encoding twice gives the same document. */
static inline void assert_round_trip(const struct tby_resource *res)
{
    _cleanup_json_ json_t *doc = tby_resource_encode(res);
    _cleanup_json_ json_t *again = NULL;
    _cleanup_(tby_resource_freep) struct tby_resource *back = NULL;
    struct tby_error err = { 0 };

    assert_non_null(doc);
    if (tby_resource_decode(doc, &back, &err) < 0) {
        char *text = json_dumps(doc, JSON_INDENT(2));

        fail_msg("re-decoding the normal form failed: %s\n%s", err.msg, text);
    }
    assert_true(tby_resource_equal(res, back));
    again = tby_resource_encode(back);
    assert_true(json_equal(doc, again));
}

#endif
