/* fuzz_jsonpath.c — libFuzzer target for the JSONPath of -o custom-columns: parse, then
 * evaluate against a fixed resource document and against the input itself read as JSON
 * (when it is), and print what was selected. Beyond "no crash, no leak": a failure comes
 * with a message, and every value selected is part of the document.
 *
 * Input: a path, then optionally "\n" and a JSON document. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/jsonpath.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char fixed[] =
    "{\"apiVersion\":\"projectcalico.org/v3\",\"kind\":\"IPPool\",\"metadata\":{\"name\":\"p\","
    "\"labels\":{\"a.b/c\":\"x\"}},\"spec\":{\"cidr\":\"10.0.0.0/16\",\"allowedUses\":"
    "[\"Workload\",\"Tunnel\"],\"ports\":[{\"port\":1},{\"port\":2}],\"n\":null}}";

static void check(bool ok, const char *what)
{
    if (ok)
        return;
    fprintf(stderr, "invariant broken: %s\n", what);
    abort();
}

static void run(const struct tby_jsonpath *path, const json_t *doc)
{
    json_t *values = json_array();
    char *text;

    if (!values)
        return;
    check(tby_jsonpath_eval(path, doc, values) == 0, "evaluation succeeds");
    text = tby_jsonpath_text(values);
    check(text != NULL, "values print");
    check(json_array_size(values) > 0 || strcmp(text, "<none>") == 0, "nothing is <none>");
    free(text);
    json_decref(values);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1), *newline;
    struct tby_jsonpath *path = NULL;
    struct tby_error err = { 0 };
    json_t *doc = NULL, *own = NULL;

    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    newline = strchr(text, '\n');
    if (newline) {
        *newline = '\0';
        own = json_loads(newline + 1, JSON_DECODE_ANY, NULL);
    }
    if (tby_jsonpath_parse(text, &path, &err) == 0) {
        doc = json_loads(fixed, 0, NULL);
        run(path, doc);
        run(path, own);
    } else {
        check(!path && err.msg[0], "failure reported with a message");
    }
    tby_jsonpath_free(path);
    json_decref(doc);
    json_decref(own);
    free(text);
    return 0;
}
