/* test_jsonpath.c — the JSONPath of -o custom-columns: the steps kubectl's paths use,
 * what a missing value prints, and the paths refused with the position named. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tabby/jsonpath.h"

static const char doc_text[] =
    "{\"kind\": \"IPPool\", \"metadata\": {\"name\": \"p\", \"labels\": {\"app.io/x\": \"web\","
    " \"b\": \"2\"}}, \"spec\": {\"cidr\": \"10.0.0.0/16\", \"blockSize\": 26, \"nat\": true,"
    " \"uses\": [\"Workload\", \"Tunnel\"], \"ports\": [{\"port\": 80}, {\"port\": 81}]}}";

/* The text the path selects in doc_text. */
static char *eval(const char *path_text)
{
    json_t *doc = json_loads(doc_text, 0, NULL), *values = json_array();
    struct tby_jsonpath *path = NULL;
    struct tby_error err = { 0 };
    char *text;

    if (tby_jsonpath_parse(path_text, &path, &err) < 0)
        fail_msg("%s: %s", path_text, err.msg);
    assert_int_equal(tby_jsonpath_eval(path, doc, values), 0);
    text = tby_jsonpath_text(values);
    tby_jsonpath_free(path);
    json_decref(values);
    json_decref(doc);
    return text;
}

static void test_paths_select_as_kubectl_does(void **state)
{
    static const char *const cases[][2] = {
        { ".metadata.name", "p" },
        { "{.metadata.name}", "p" },
        { "metadata.name", "p" },
        { "$.kind", "IPPool" },
        { ".spec.blockSize", "26" },
        { ".spec.nat", "true" },
        { ".spec.uses", "[\"Workload\",\"Tunnel\"]" },
        { ".spec.uses[*]", "Workload,Tunnel" },
        { ".spec.uses[1]", "Tunnel" },
        { ".spec.uses[-1]", "Tunnel" },
        { ".spec.uses[-3]", "<none>" },
        { ".spec.uses[5]", "<none>" },
        { ".spec.ports[*].port", "80,81" },
        { ".metadata.labels.app\\.io/x", "web" },
        { ".metadata.labels['app.io/x']", "web" },
        { ".metadata.labels[\"b\"]", "2" },
        { ".metadata.labels.*", "web,2" },
        { ".metadata.missing", "<none>" },
        { ".metadata.name.deeper", "<none>" },
        { ".", NULL },
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *got = eval(cases[i][0]);

        assert_non_null(got);
        if (cases[i][1] && strcmp(got, cases[i][1]) != 0)
            fail_msg("%s gave \"%s\", expected \"%s\"", cases[i][0], got, cases[i][1]);
        if (!cases[i][1])
            assert_non_null(strstr(got, "\"kind\":\"IPPool\""));
        free(got);
    }
}

static void test_unsupported_paths_are_refused_with_the_position(void **state)
{
    static const char *const cases[][2] = {
        { "", "empty" },
        { "{}", "empty" },
        { ".spec..cidr", "recursive descent (..) is not supported at position 7" },
        { ".spec.uses[?(@.x)]", "filters are not supported" },
        { ".spec.uses[0:1]", "slices and unions are not supported" },
        { ".spec.uses[0", "expected ]" },
        { ".spec.uses[x]", "expected *, a number or a quoted name" },
        { ".metadata.labels['a", "unterminated quoted name" },
        { ".spec.", "expected a field name at position 7" },
        { ".spec cidr", "expected . or [" },
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct tby_jsonpath *path = NULL;
        struct tby_error err = { 0 };

        if (tby_jsonpath_parse(cases[i][0], &path, &err) == 0)
            fail_msg("\"%s\" accepted", cases[i][0]);
        assert_null(path);
        if (!strstr(err.msg, cases[i][1]))
            fail_msg("\"%s\": \"%s\" lacks \"%s\"", cases[i][0], err.msg, cases[i][1]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_paths_select_as_kubectl_does),
        cmocka_unit_test(test_unsupported_paths_are_refused_with_the_position),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
