/* test_json_merge.c — JSON Merge Patch: the examples of RFC 7386's appendix, and the
 * depth limit. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "tabby/json_merge.h"

static void expect(const char *target, const char *patch, const char *result)
{
    json_t *t = json_loads(target, JSON_DECODE_ANY, NULL);
    json_t *p = json_loads(patch, JSON_DECODE_ANY, NULL);
    json_t *want = json_loads(result, JSON_DECODE_ANY, NULL);

    assert_non_null(t);
    assert_non_null(p);
    assert_non_null(want);
    assert_int_equal(tby_json_merge_patch(&t, p), 0);
    if (!json_equal(t, want)) {
        char *got = json_dumps(t, JSON_COMPACT | JSON_ENCODE_ANY);

        fail_msg("%s + %s gave %s, expected %s", target, patch, got, result);
    }
    /* applying it again changes nothing (a merge patch is idempotent) */
    assert_int_equal(tby_json_merge_patch(&t, p), 0);
    assert_true(json_equal(t, want));
    json_decref(t);
    json_decref(p);
    json_decref(want);
}

static void test_rfc_7386_examples(void **state)
{
    (void)state;
    expect("{\"a\":\"b\"}", "{\"a\":\"c\"}", "{\"a\":\"c\"}");
    expect("{\"a\":\"b\"}", "{\"b\":\"c\"}", "{\"a\":\"b\",\"b\":\"c\"}");
    expect("{\"a\":\"b\"}", "{\"a\":null}", "{}");
    expect("{\"a\":\"b\",\"b\":\"c\"}", "{\"a\":null}", "{\"b\":\"c\"}");
    expect("{\"a\":[\"b\"]}", "{\"a\":\"c\"}", "{\"a\":\"c\"}");
    expect("{\"a\":\"c\"}", "{\"a\":[\"b\"]}", "{\"a\":[\"b\"]}");
    expect("{\"a\":{\"b\":\"c\"}}", "{\"a\":{\"b\":\"d\",\"c\":null}}", "{\"a\":{\"b\":\"d\"}}");
    expect("{\"a\":[{\"b\":\"c\"}]}", "{\"a\":[1]}", "{\"a\":[1]}");
    expect("[\"a\",\"b\"]", "[\"c\",\"d\"]", "[\"c\",\"d\"]");
    expect("{\"a\":\"b\"}", "[\"c\"]", "[\"c\"]");
    expect("{\"a\":\"foo\"}", "null", "null");
    expect("{\"a\":\"foo\"}", "\"bar\"", "\"bar\"");
    expect("{\"e\":null}", "{\"a\":1}", "{\"e\":null,\"a\":1}");
    expect("[1,2]", "{\"a\":\"b\",\"c\":null}", "{\"a\":\"b\"}");
    expect("{}", "{\"a\":{\"bb\":{\"ccc\":null}}}", "{\"a\":{\"bb\":{}}}");
}

static void test_too_deep_a_patch_is_refused(void **state)
{
    json_t *target = json_object(), *patch = json_string("x");

    (void)state;
    for (int i = 0; i < TBY_MERGE_PATCH_MAX_DEPTH + 2; i++)
        patch = json_pack("{s:o}", "a", patch);
    assert_int_equal(tby_json_merge_patch(&target, patch), -E2BIG);
    json_decref(target);
    json_decref(patch);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc_7386_examples),
        cmocka_unit_test(test_too_deep_a_patch_is_refused),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
